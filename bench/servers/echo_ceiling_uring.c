/* bench-echo-ceiling-uring: the benchmark echo server on liburing directly, with no library
   in between: one ring, one thread. Each connection has a recv into its buffer or the send of
   the echo in the kernel (IORING_OP_SEND, or SENDMSG with two iovecs in --gather mode); every
   completion queues the next SQE and one io_uring_submit_and_wait per loop turn submits the
   whole batch and sleeps until the next completion. Connections come from a multishot accept
   on the same ring, and the stop signal from a read of a signalfd. The ring is set up with
   SINGLE_ISSUER | DEFER_TASKRUN where the kernel has them (6.1+): completions are then
   processed only inside io_uring_enter, in batches, which is the cheapest mode for one thread
   that owns its ring.

   Kernel-feature experiments (issue 13), each off by default, each probed at start-up and
   left off silently where the kernel refuses it (the line "features: ..." on stderr says
   which are on):
   --poll-first   a recv asks for IORING_RECVSEND_POLL_FIRST when the previous one did not fill
                  the buffer (the socket was drained): the kernel arms the poll at once instead
                  of first trying a recv that would find nothing.
   --multishot    one multishot recv per connection (IORING_RECV_MULTISHOT) into a ring of
                  provided buffers (1024 x 16 KiB, group 0); each completion's bytes are copied
                  into the connection's buffer and the provided buffer goes back to the ring at
                  once (or is held, in order, while the connection's buffer has no room). The
                  recv is armed again when a completion comes without IORING_CQE_F_MORE.
   --fixed-files  a sparse registered file table; each accepted fd is also installed at index
                  fd, and the connection's operations use IOSQE_FIXED_FILE (the fd stays a
                  normal fd); on close the slot is emptied, then the fd closed.
   --reg-ring     io_uring_register_ring_fd: io_uring_enter gets the registered ring index.
   --send-zc      IORING_OP_SEND_ZC for sends of 16 KiB or more; the buffer is written again
                  (next recv, or the copy of received bytes) only after the notification
                  (IORING_CQE_F_NOTIF) of every zero-copy send from it.
   --bundle       --multishot with receive bundles (IORING_RECVSEND_BUNDLE, 6.10+): one
                  completion can carry several provided buffers, cqe->res bytes filling them
                  in ring order from the buffer id in the CQE; each is copied (or held) as in
                  --multishot. Falls back to --multishot, then to plain recv, if refused.
                  (Send bundles are not tried: the echo would first have to be copied into
                  provided buffers, and asock already sends all queued data in one sendmsg.)
   --multishot-64k  --multishot with 64 KiB provided buffers instead of 16 KiB (whether the
                  cost of multishot on 64 KiB messages comes from the 16 KiB pieces). */
#include <errno.h>
#include <liburing.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_server.h"

#define RING_ENTRIES 2048
#define PROVIDED_COUNT 1024 /* a power of two (buffer ring) */
#define PROVIDED_SIZE_DEFAULT (16 * 1024)
#define PROVIDED_SIZE_LARGE (64 * 1024)
#define PROVIDED_GROUP 0
#define ZC_MIN_BYTES (16 * 1024)
#define FIXED_MAX 65536
/* Not in every liburing's headers (Debian's 2.3 lacks them): the kernel uapi values. */
#ifndef IORING_RECVSEND_BUNDLE
#define IORING_RECVSEND_BUNDLE (1U << 4)
#endif
#ifndef IORING_FEAT_RECVSEND_BUNDLE
#define IORING_FEAT_RECVSEND_BUNDLE (1U << 14)
#endif

/* The kind of a connection's operation, in the low bits of its user_data. */
enum
{
    OP_RECV = 0,
    OP_SEND = 1,
    OP_MASK = 3
};

typedef struct HELD /* a provided buffer not yet copied into its connection's buffer */
{
    unsigned short id;
    unsigned length;
    unsigned offset;
} HELD;

typedef struct CONNECTION
{
    int fd;
    int slot; /* index in the registered file table, or -1 */
    int recv_armed;
    int send_busy;
    int closing;
    int drained;      /* the previous recv did not fill what it was given */
    unsigned notifs;  /* zero-copy sends whose notification has not come */
    size_t sent;      /* buffer[sent, end) is still to send */
    size_t end;
    size_t head;      /* where --gather splits the echo (end when not gathering) */
    HELD* held;       /* --multishot: provided buffers waiting for room, oldest first */
    size_t held_count, held_capacity;
    struct msghdr message;
    struct iovec iovecs[2];
    unsigned char buffer[BENCH_BUFFER_SIZE];
} CONNECTION;

static struct io_uring ring;
static int gather;
/* The features asked for on the command line, then cleared by the probes the kernel fails. */
static int poll_first, multishot, fixed_files, reg_ring, send_zc, bundle, multishot_64k;
static unsigned fixed_size;
static struct io_uring_buf_ring* provided_ring;
static unsigned char* provided_memory;
static size_t provided_size = PROVIDED_SIZE_DEFAULT;
/* The provided-buffer ring as this program filled it: the id at each ring position, the
   position of each id, and the count of entries ever added (the ring's tail). A bundle takes
   consecutive ring positions from the one of the id in its completion. */
static unsigned short ring_ids[PROVIDED_COUNT];
static unsigned ring_position[PROVIDED_COUNT];
static unsigned ring_tail;
/* user_data of the operations that are not a connection's. */
static char accept_tag, signal_tag, probe_tag;

/* An SQE, submitting the batch so far first when the submission queue is full. */
static struct io_uring_sqe* next_sqe(void)
{
    struct io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    while (sqe == NULL)
    {
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
    }
    return sqe;
}

/* The fd (or registered slot) an operation of c names, the SQE marked accordingly. */
static int target(const CONNECTION* c)
{
    return c->slot >= 0 ? c->slot : c->fd;
}

static void finish_sqe(struct io_uring_sqe* sqe, CONNECTION* c, unsigned kind)
{
    if (c->slot >= 0)
        sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | kind);
}

static unsigned char* provided(unsigned short id)
{
    return provided_memory + (size_t)id * provided_size;
}

static void give_back(unsigned short id)
{
    const unsigned position = ring_tail++ & (PROVIDED_COUNT - 1);
    ring_ids[position] = id;
    ring_position[id] = position;
    io_uring_buf_ring_add(provided_ring, provided(id), (unsigned)provided_size, id,
                          io_uring_buf_ring_mask(PROVIDED_COUNT), 0);
    io_uring_buf_ring_advance(provided_ring, 1);
}

static void start_receive(CONNECTION* c)
{
    struct io_uring_sqe* sqe = next_sqe();
    if (multishot)
    {
        io_uring_prep_recv_multishot(sqe, target(c), NULL, 0, 0);
        if (bundle)
            sqe->ioprio |= IORING_RECVSEND_BUNDLE;
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = PROVIDED_GROUP;
    }
    else
    {
        io_uring_prep_recv(sqe, target(c), c->buffer, sizeof(c->buffer), 0);
    }
    if (poll_first && c->drained)
        sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
    finish_sqe(sqe, c, OP_RECV);
    c->recv_armed = 1;
}

static void start_send(CONNECTION* c)
{
    struct io_uring_sqe* sqe = next_sqe();
    if (!gather)
        c->head = c->end;
    else if (c->sent == 0)
        c->head = bench_gather_head(c->end);
    const int count = bench_echo_iovecs(c->buffer, c->sent, c->head, c->end, c->iovecs);
    if (count == 1 && send_zc && c->iovecs[0].iov_len >= ZC_MIN_BYTES)
    {
        io_uring_prep_send_zc(sqe, target(c), c->iovecs[0].iov_base, c->iovecs[0].iov_len, MSG_NOSIGNAL, 0);
    }
    else if (count == 1)
    {
        io_uring_prep_send(sqe, target(c), c->iovecs[0].iov_base, c->iovecs[0].iov_len, MSG_NOSIGNAL);
    }
    else
    {
        c->message.msg_iov = c->iovecs;
        c->message.msg_iovlen = 2;
        io_uring_prep_sendmsg(sqe, target(c), &c->message, MSG_NOSIGNAL);
    }
    finish_sqe(sqe, c, OP_SEND);
    c->send_busy = 1;
}

/* The connection ends: its slot emptied, its fd shut down (which ends an armed multishot recv)
   and closed. The memory goes when no operation of it is left in the kernel (progress). */
static void end_connection(CONNECTION* c)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (c->slot >= 0)
    {
        const int none = -1;
        io_uring_register_files_update(&ring, (unsigned)c->slot, &none, 1);
        c->slot = -1;
    }
    shutdown(c->fd, SHUT_RDWR);
    close(c->fd);
}

/* Copies the held provided buffers that fit into c's buffer and gives them back. Only when
   nothing in the kernel reads the buffer (no send, no pending notification) may its bytes be
   moved; appending after end is always safe. */
static void take_held(CONNECTION* c)
{
    size_t taken = 0;
    while (taken < c->held_count)
    {
        HELD* h = &c->held[taken];
        if (c->end + h->length > sizeof(c->buffer))
            break;
        memcpy(c->buffer + c->end, provided(h->id) + h->offset, h->length);
        c->end += h->length;
        give_back(h->id);
        ++taken;
    }
    memmove(c->held, c->held + taken, (c->held_count - taken) * sizeof(HELD));
    c->held_count -= taken;
}

/* The next step of c after any completion. */
static void progress(CONNECTION* c)
{
    if (c->closing)
    {
        if (!c->recv_armed && !c->send_busy && c->notifs == 0)
        {
            for (size_t i = 0; i < c->held_count; ++i)
                give_back(c->held[i].id);
            free(c->held);
            free(c);
        }
        return;
    }
    if (multishot && !c->recv_armed)
        start_receive(c);
    if (c->send_busy)
        return;
    if (c->sent == c->end && c->notifs == 0)
    {
        c->sent = c->end = 0;
        take_held(c);
    }
    if (c->sent < c->end)
        start_send(c);
    else if (!multishot && !c->recv_armed && c->notifs == 0)
        start_receive(c);
}

/* --multishot: n bytes received into provided buffer id. */
static void on_received(CONNECTION* c, unsigned short id, unsigned n)
{
    if (c->held_count == 0 && c->end + n <= sizeof(c->buffer))
    {
        memcpy(c->buffer + c->end, provided(id), n);
        c->end += n;
        give_back(id);
        return;
    }
    if (c->held_count == c->held_capacity)
    {
        const size_t capacity = c->held_capacity ? 2 * c->held_capacity : 8;
        HELD* held = realloc(c->held, capacity * sizeof(HELD));
        if (held == NULL)
        {
            give_back(id);
            end_connection(c);
            return;
        }
        c->held = held;
        c->held_capacity = capacity;
    }
    c->held[c->held_count++] = (HELD){id, n, 0};
}

static void on_receive_completion(CONNECTION* c, const struct io_uring_cqe* cqe)
{
    const int result = cqe->res;
    if (!multishot || !(cqe->flags & IORING_CQE_F_MORE))
        c->recv_armed = 0;
    if (multishot && (cqe->flags & IORING_CQE_F_BUFFER))
    {
        const unsigned short id = (unsigned short)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        if (bundle && result > 0)
        {
            /* result bytes over consecutive ring entries from id's, each full but the last.
               Their ids are read before any goes back (a give-back can reuse a position). */
            static unsigned short ids[PROVIDED_COUNT];
            const size_t count = ((size_t)result + provided_size - 1) / provided_size;
            for (size_t i = 0; i < count; ++i)
                ids[i] = ring_ids[(ring_position[id] + i) & (PROVIDED_COUNT - 1)];
            for (size_t i = 0; i < count; ++i)
            {
                const unsigned n = i + 1 < count ? (unsigned)provided_size : (unsigned)(result - i * provided_size);
                if (!c->closing)
                    on_received(c, ids[i], n);
                else
                    give_back(ids[i]);
            }
        }
        else if (result > 0 && !c->closing)
            on_received(c, id, (unsigned)result);
        else
            give_back(id);
    }
    if (result == -ENOBUFS && multishot)
        c->drained = 0; /* the bytes wait in the socket: armed again by progress */
    else if (result <= 0) /* error, or the peer closed (a recv of 0) */
        end_connection(c);
    else if (!multishot)
    {
        c->end = (size_t)result;
        c->drained = c->end < sizeof(c->buffer);
    }
    else
        c->drained = (size_t)result % provided_size != 0;
    progress(c);
}

static void on_send_completion(CONNECTION* c, const struct io_uring_cqe* cqe)
{
    if (cqe->flags & IORING_CQE_F_NOTIF)
    {
        --c->notifs;
        progress(c);
        return;
    }
    c->send_busy = 0;
    if (cqe->flags & IORING_CQE_F_MORE) /* a zero-copy send: its notification will follow */
        ++c->notifs;
    if (cqe->res <= 0)
        end_connection(c);
    else
        c->sent += (size_t)cqe->res;
    progress(c);
}

static void start_accept(int listener)
{
    struct io_uring_sqe* sqe = next_sqe();
    io_uring_prep_multishot_accept(sqe, listener, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data(sqe, &accept_tag);
}

static void on_accepted(int listener, const struct io_uring_cqe* cqe)
{
    if (!(cqe->flags & IORING_CQE_F_MORE)) /* the multishot accept ended: arm it again */
        start_accept(listener);
    if (cqe->res < 0)
        return;
    CONNECTION* c = calloc(1, sizeof(*c));
    if (c == NULL)
    {
        close(cqe->res);
        return;
    }
    c->fd = cqe->res;
    c->slot = -1;
    c->drained = 1;
    if (fixed_files && (unsigned)c->fd < fixed_size &&
        io_uring_register_files_update(&ring, (unsigned)c->fd, &c->fd, 1) == 1)
        c->slot = c->fd;
    bench_set_nodelay(c->fd);
    progress(c);
}

/* SIGINT and SIGTERM are blocked and read from a signalfd through the ring: the loop never
   sees EINTR, and stops between two batches. Open connections are left to the exit. */
static int start_signal_read(struct signalfd_siginfo* info)
{
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigprocmask(SIG_BLOCK, &signals, NULL);
    const int fd = signalfd(-1, &signals, SFD_CLOEXEC);
    if (fd < 0)
        return -1;
    struct io_uring_sqe* sqe = next_sqe();
    io_uring_prep_read(sqe, fd, info, sizeof(*info), 0);
    io_uring_sqe_set_data(sqe, &signal_tag);
    return 0;
}

static int setup_ring(void)
{
    const unsigned flag_sets[] = {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, IORING_SETUP_COOP_TASKRUN, 0};
    int result = -EINVAL;
    for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]) && result == -EINVAL; ++i)
        result = io_uring_queue_init(RING_ENTRIES, &ring, flag_sets[i]);
    if (result < 0)
        fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-result));
    return result;
}

/* The next completion of a start-up probe (nothing else is in the ring yet); 0 or -errno. */
static int probe_wait(struct io_uring_cqe* out)
{
    struct io_uring_cqe* cqe = NULL;
    const int result = io_uring_wait_cqe(&ring, &cqe);
    if (result < 0)
        return result;
    *out = *cqe;
    io_uring_cqe_seen(&ring, cqe);
    return 0;
}

/* Whether a recv with these ioprio flags (and a provided buffer if select) works: one byte
   sent over a socketpair and received through the ring. A multishot recv is ended by the
   writer's shutdown; the provided buffers it took go back. */
static int probe_recv(unsigned ioprio, int select)
{
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
        return 0;
    unsigned char byte = 42, got = 0;
    int works = 0;
    if (send(pair[1], &byte, 1, 0) == 1)
    {
        struct io_uring_sqe* sqe = next_sqe();
        io_uring_prep_recv(sqe, pair[0], select ? NULL : &got, select ? 0 : 1, 0);
        sqe->ioprio |= ioprio;
        if (select)
        {
            sqe->flags |= IOSQE_BUFFER_SELECT;
            sqe->buf_group = PROVIDED_GROUP;
        }
        io_uring_sqe_set_data(sqe, &probe_tag);
        io_uring_submit(&ring);
        struct io_uring_cqe cqe;
        int more = 1;
        while (more && probe_wait(&cqe) == 0)
        {
            more = (ioprio & IORING_RECV_MULTISHOT) && (cqe.flags & IORING_CQE_F_MORE);
            if (cqe.flags & IORING_CQE_F_BUFFER)
            {
                const unsigned short id = (unsigned short)(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
                if (cqe.res == 1 && provided(id)[0] == byte)
                    works = 1;
                give_back(id);
            }
            else if (!select && cqe.res == 1 && got == byte)
                works = 1;
            if (ioprio & IORING_RECV_MULTISHOT)
                works = works && (more || cqe.res == 0);
            if (more)
                shutdown(pair[1], SHUT_RDWR);
        }
    }
    close(pair[0]);
    close(pair[1]);
    return works;
}

/* The provided-buffer ring of --multishot; 0, or -1 if the kernel has none. */
static int setup_provided_buffers(void)
{
    void* ring_memory = NULL;
    if (posix_memalign(&ring_memory, 4096, PROVIDED_COUNT * sizeof(struct io_uring_buf)) != 0 ||
        posix_memalign((void**)&provided_memory, 4096, (size_t)PROVIDED_COUNT * provided_size) != 0)
        return -1;
    provided_ring = ring_memory;
    io_uring_buf_ring_init(provided_ring);
    struct io_uring_buf_reg registration;
    memset(&registration, 0, sizeof(registration));
    registration.ring_addr = (uint64_t)(uintptr_t)provided_ring;
    registration.ring_entries = PROVIDED_COUNT;
    registration.bgid = PROVIDED_GROUP;
    if (io_uring_register_buf_ring(&ring, &registration, 0) != 0)
        return -1;
    for (unsigned id = 0; id < PROVIDED_COUNT; ++id)
        give_back((unsigned short)id);
    return 0;
}

/* Each asked-for feature that the kernel refuses is turned off. */
static void probe_features(void)
{
    if (reg_ring && io_uring_register_ring_fd(&ring) != 1)
        reg_ring = 0;
    if (fixed_files)
    {
        struct rlimit limit;
        fixed_size = FIXED_MAX;
        if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < fixed_size)
            fixed_size = (unsigned)limit.rlim_cur;
        if (io_uring_register_files_sparse(&ring, fixed_size) != 0)
            fixed_files = 0;
    }
    if (send_zc)
    {
        struct io_uring_probe* probe = io_uring_get_probe_ring(&ring);
        send_zc = probe != NULL && io_uring_opcode_supported(probe, IORING_OP_SEND_ZC);
        io_uring_free_probe(probe);
    }
    if (poll_first)
        poll_first = probe_recv(IORING_RECVSEND_POLL_FIRST, 0);
    if (multishot_64k)
        provided_size = PROVIDED_SIZE_LARGE;
    if (bundle || multishot_64k)
        multishot = 1;
    if (multishot)
        multishot = setup_provided_buffers() == 0 && probe_recv(IORING_RECV_MULTISHOT, 1);
    if (bundle)
        bundle = multishot && (ring.features & IORING_FEAT_RECVSEND_BUNDLE) &&
                 probe_recv(IORING_RECV_MULTISHOT | IORING_RECVSEND_BUNDLE, 1);
    fprintf(stderr,
            "features: poll-first=%s multishot=%s bundle=%s provided-buffers=%zu KiB fixed-files=%s reg-ring=%s "
            "send-zc=%s\n",
            poll_first ? "on" : "off", multishot ? "on" : "off", bundle ? "on" : "off", provided_size / 1024,
            fixed_files ? "on" : "off", reg_ring ? "on" : "off", send_zc ? "on" : "off");
}

/* Takes this server's own flags out of argv (the rest goes to bench_parse_options). */
static int take_feature_flags(int argc, char** argv)
{
    static const struct
    {
        const char* name;
        int* flag;
    } flags[] = {{"--poll-first", &poll_first}, {"--multishot", &multishot}, {"--fixed-files", &fixed_files},
                 {"--reg-ring", &reg_ring}, {"--send-zc", &send_zc}, {"--bundle", &bundle},
                 {"--multishot-64k", &multishot_64k}};
    int kept = 1;
    for (int i = 1; i < argc; ++i)
    {
        int taken = 0;
        for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); ++f)
            if (strcmp(argv[i], flags[f].name) == 0)
                *flags[f].flag = taken = 1;
        if (strcmp(argv[i], "--all-features") == 0)
            poll_first = multishot = fixed_files = reg_ring = send_zc = taken = 1;
        if (!taken)
            argv[kept++] = argv[i];
    }
    argv[kept] = NULL;
    return kept;
}

int main(int argc, char** argv)
{
    BENCH_OPTIONS options;
    argc = take_feature_flags(argc, argv);
    if (bench_parse_options(argc, argv, 0, &options) != 0)
    {
        fprintf(stderr, "       also [--poll-first] [--multishot] [--fixed-files] [--reg-ring] [--send-zc] [--all-features]\n"
                        "            [--bundle] [--multishot-64k]\n");
        return 1;
    }
    gather = options.gather;
    const int listener = bench_listen(options.port, 0);
    struct signalfd_siginfo signal_info;
    if (listener < 0 || setup_ring() < 0)
        return 1;
    probe_features();
    if (start_signal_read(&signal_info) != 0)
        return 1;
    start_accept(listener);
    bench_announce(listener);

    for (;;)
    {
        io_uring_submit_and_wait(&ring, 1);
        struct io_uring_cqe* cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            ++seen;
            const uint64_t data = io_uring_cqe_get_data64(cqe);
            void* tag = (void*)(uintptr_t)data;
            if (tag == &signal_tag)
                return 0;
            if (tag == &accept_tag)
                on_accepted(listener, cqe);
            else if ((data & OP_MASK) == OP_SEND)
                on_send_completion((CONNECTION*)(uintptr_t)(data & ~(uint64_t)OP_MASK), cqe);
            else
                on_receive_completion((CONNECTION*)(uintptr_t)(data & ~(uint64_t)OP_MASK), cqe);
        }
        io_uring_cq_advance(&ring, seen);
    }
}
