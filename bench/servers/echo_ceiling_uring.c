/* bench-echo-ceiling-uring: the benchmark echo server on liburing directly, with no library
   in between: one ring, one thread. Each connection always has exactly one operation in the
   kernel, a recv into its buffer or the send of the echo (IORING_OP_SEND, or SENDMSG with two
   iovecs in --gather mode); every completion queues the next SQE and one
   io_uring_submit_and_wait per loop turn submits the whole batch and sleeps until the next
   completion. Connections come from a multishot accept on the same ring, and the stop
   signal from a read of a signalfd. The ring is set up with SINGLE_ISSUER | DEFER_TASKRUN
   where the kernel has them (6.1+): completions are then processed only inside
   io_uring_enter, in batches, which is the cheapest mode for one thread that owns its ring. */
#include <errno.h>
#include <liburing.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_server.h"

#define RING_ENTRIES 2048

typedef struct CONNECTION
{
    int fd;
    int sending; /* which of its operations is in the kernel */
    size_t sent; /* the echo in progress: buffer[sent, end) is still to send */
    size_t end;
    size_t head; /* where --gather splits the echo (end when not gathering) */
    struct msghdr message;
    struct iovec iovecs[2];
    unsigned char buffer[BENCH_BUFFER_SIZE];
} CONNECTION;

static struct io_uring ring;
static int gather;
/* user_data of the two operations that are not a connection's. */
static char accept_tag, signal_tag;

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

static void start_receive(CONNECTION* c)
{
    struct io_uring_sqe* sqe = next_sqe();
    io_uring_prep_recv(sqe, c->fd, c->buffer, sizeof(c->buffer), 0);
    io_uring_sqe_set_data(sqe, c);
    c->sending = 0;
}

static void start_send(CONNECTION* c)
{
    struct io_uring_sqe* sqe = next_sqe();
    const int count = bench_echo_iovecs(c->buffer, c->sent, c->head, c->end, c->iovecs);
    if (count == 1)
    {
        io_uring_prep_send(sqe, c->fd, c->iovecs[0].iov_base, c->iovecs[0].iov_len, MSG_NOSIGNAL);
    }
    else
    {
        c->message.msg_iov = c->iovecs;
        c->message.msg_iovlen = 2;
        io_uring_prep_sendmsg(sqe, c->fd, &c->message, MSG_NOSIGNAL);
    }
    io_uring_sqe_set_data(sqe, c);
    c->sending = 1;
}

static void end_connection(CONNECTION* c)
{
    close(c->fd);
    free(c);
}

static void on_connection_completion(CONNECTION* c, int result)
{
    if (result <= 0) /* error, or the peer closed (a recv of 0) */
    {
        end_connection(c);
        return;
    }
    if (c->sending)
    {
        c->sent += (size_t)result;
    }
    else
    {
        c->sent = 0;
        c->end = (size_t)result;
        c->head = gather ? bench_gather_head(c->end) : c->end;
    }
    if (c->sent < c->end)
        start_send(c);
    else
        start_receive(c);
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
    bench_set_nodelay(c->fd);
    start_receive(c);
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

int main(int argc, char** argv)
{
    BENCH_OPTIONS options;
    if (bench_parse_options(argc, argv, 0, &options) != 0)
        return 1;
    gather = options.gather;
    const int listener = bench_listen(options.port, 0);
    struct signalfd_siginfo signal_info;
    if (listener < 0 || setup_ring() < 0 || start_signal_read(&signal_info) != 0)
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
            void* tag = io_uring_cqe_get_data(cqe);
            if (tag == &signal_tag)
                return 0;
            if (tag == &accept_tag)
                on_accepted(listener, cqe);
            else
                on_connection_completion(tag, cqe->res);
        }
        io_uring_cq_advance(&ring, seen);
    }
}
