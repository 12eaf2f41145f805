/* bench-http-ceiling-uring: the benchmark HTTP server on liburing directly, with no library in
   between: one ring, one thread, plain recv and send entries and nothing newer (no provided
   buffers, no multishot receive, no fixed files). Each connection always has exactly one
   operation in the kernel: a recv into its request buffer, or the send of its batch of
   responses (bench_http.h); every completion queues the next entry and one
   io_uring_submit_and_wait per loop turn submits the whole batch and sleeps until the next
   completion. Connections come from a multishot accept on the same ring, the stop signal from
   a read of a signalfd. The ring is set up as the echo ceiling's: SINGLE_ISSUER | DEFER_TASKRUN
   where the kernel has them (6.1+), else COOP_TASKRUN, else plain. */
#include <errno.h>
#include <liburing.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_http.h"
#include "bench_server.h"

#define RING_ENTRIES 2048
#define SERVER_NAME "uring"

typedef struct CONNECTION
{
    int fd;
    int sending; /* which of its operations is in the kernel */
    size_t sent; /* the batch in progress: http.out[sent, out_length) is still to send */
    BENCH_HTTP http;
} CONNECTION;

static struct io_uring ring;
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
    io_uring_prep_recv(sqe, c->fd, c->http.in + c->http.in_length, sizeof(c->http.in) - c->http.in_length, 0);
    io_uring_sqe_set_data(sqe, c);
    c->sending = 0;
}

static void start_send(CONNECTION* c)
{
    struct io_uring_sqe* sqe = next_sqe();
    io_uring_prep_send(sqe, c->fd, c->http.out + c->sent, c->http.out_length - c->sent, MSG_NOSIGNAL);
    io_uring_sqe_set_data(sqe, c);
    c->sending = 1;
}

static void end_connection(CONNECTION* c)
{
    close(c->fd);
    free(c);
}

/* Answers what the input holds: sends the batch, or receives more when there is none. */
static void answer(CONNECTION* c)
{
    c->sent = 0;
    if (bench_http_answer(&c->http, SERVER_NAME) > 0)
        start_send(c);
    else
        start_receive(c);
}

static void on_connection_completion(CONNECTION* c, int result)
{
    if (result <= 0) /* error, or the peer closed (a recv of 0) */
    {
        end_connection(c);
        return;
    }
    if (!c->sending)
    {
        c->http.in_length += (size_t)result;
        answer(c);
        return;
    }
    c->sent += (size_t)result;
    if (c->sent < c->http.out_length)
    {
        start_send(c);
        return;
    }
    switch (bench_http_sent(&c->http))
    {
    case BENCH_HTTP_CLOSE:
        bench_http_shutdown(c->fd);
        end_connection(c);
        break;
    case BENCH_HTTP_ANSWER:
        answer(c);
        break;
    case BENCH_HTTP_RECEIVE:
        start_receive(c);
        break;
    }
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
    CONNECTION* c = malloc(sizeof(*c));
    if (c == NULL)
    {
        close(cqe->res);
        return;
    }
    c->fd = cqe->res;
    c->sent = 0;
    bench_http_init(&c->http);
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
    if (bench_parse_options(argc, argv, BENCH_OPTION_NO_GATHER, &options) != 0)
        return 1;
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
