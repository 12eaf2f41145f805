/* bench-echo-ceiling-epoll: the benchmark echo server with no library, the least work an
   epoll server can do per echo: one level-triggered epoll loop over non-blocking sockets; on
   EPOLLIN one recv, then the echo goes straight back (send, or writev of two iovecs in
   --gather mode). Only when the socket does not take the whole echo does the connection
   switch to EPOLLOUT (and stop reading) until the rest is out.

   Level-triggered on purpose: edge-triggered would have to recv until EAGAIN, one more
   syscall per echo, and interest changes are rare here (only on a full socket buffer).

   --busy-poll US: epoll_wait with a timeout of 0 in a loop until US microseconds pass without
   an event, then one blocking epoll_wait: the lowest wake-up latency a server can get on this
   machine by spinning, the reference for asock's busy-poll mode (issue 13, same window). An
   idle server sleeps, so that it does not take the CPU from the servers measured meanwhile. */
#define _GNU_SOURCE /* accept4 */

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_server.h"

#define MAX_EVENTS 1024

typedef struct CONNECTION
{
    int fd;
    size_t sent; /* the echo in progress: buffer[sent, end) is still to send */
    size_t end;
    size_t head; /* where --gather splits the echo (end when not gathering) */
    unsigned char buffer[BENCH_BUFFER_SIZE];
} CONNECTION;

static int gather;
static int epoll_fd;
/* Event tags of the two fds that are not connections. */
static char listener_tag, signal_tag;

static void end_connection(CONNECTION* connection)
{
    close(connection->fd); /* also leaves the epoll set: the fd is not shared */
    free(connection);
}

static int watch(int fd, int operation, uint32_t events, void* tag)
{
    struct epoll_event event = {.events = events, .data.ptr = tag};
    return epoll_ctl(epoll_fd, operation, fd, &event);
}

/* Sends what is left of the echo. 0: all out; 1: the socket is full; -1: error. */
static int send_rest(CONNECTION* c)
{
    while (c->sent < c->end)
    {
        struct iovec out[2];
        const int count = bench_echo_iovecs(c->buffer, c->sent, c->head, c->end, out);
        const ssize_t n = count == 1 ? send(c->fd, out[0].iov_base, out[0].iov_len, MSG_NOSIGNAL) : writev(c->fd, out, 2);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN ? 1 : -1;
        c->sent += (size_t)n;
    }
    return 0;
}

static void on_readable(CONNECTION* c)
{
    const ssize_t n = recv(c->fd, c->buffer, sizeof(c->buffer), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0)
    {
        end_connection(c);
        return;
    }
    c->sent = 0;
    c->end = (size_t)n;
    c->head = gather ? bench_gather_head(c->end) : c->end;
    const int status = send_rest(c);
    if (status < 0 || (status == 1 && watch(c->fd, EPOLL_CTL_MOD, EPOLLOUT, c) != 0))
        end_connection(c);
}

static void on_writable(CONNECTION* c)
{
    const int status = send_rest(c);
    if (status < 0 || (status == 0 && watch(c->fd, EPOLL_CTL_MOD, EPOLLIN, c) != 0))
        end_connection(c);
}

static void accept_all(int listener)
{
    for (;;)
    {
        const int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN: none left; anything else: try again on the next event */
        CONNECTION* connection = malloc(sizeof(*connection));
        if (connection == NULL)
        {
            close(fd);
            continue;
        }
        connection->fd = fd;
        connection->sent = connection->end = 0;
        bench_set_nodelay(fd);
        if (watch(fd, EPOLL_CTL_ADD, EPOLLIN, connection) != 0)
            end_connection(connection);
    }
}

/* SIGINT and SIGTERM arrive through a signalfd in the epoll set, so that the loop never
   sees EINTR and stops between two events. Open connections are left to the exit. */
static int stop_signals_fd(void)
{
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigprocmask(SIG_BLOCK, &signals, NULL);
    return signalfd(-1, &signals, SFD_CLOEXEC);
}

static uint64_t now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

int main(int argc, char** argv)
{
    BENCH_OPTIONS options;
    long spin_us = 0;
    int kept = 1;
    for (int i = 1; i < argc; ++i) /* --busy-poll US is this server's own: taken out of argv */
        if (strcmp(argv[i], "--busy-poll") == 0 && i + 1 < argc)
            spin_us = strtol(argv[++i], NULL, 10);
        else
            argv[kept++] = argv[i];
    argv[kept] = NULL;
    argc = kept;
    if (bench_parse_options(argc, argv, 0, &options) != 0)
    {
        fprintf(stderr, "       also [--busy-poll MICROSECONDS]\n");
        return 1;
    }
    gather = options.gather;
    const int listener = bench_listen(options.port, 1);
    const int signals = stop_signals_fd();
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (listener < 0 || signals < 0 || epoll_fd < 0 || watch(listener, EPOLL_CTL_ADD, EPOLLIN, &listener_tag) != 0 ||
        watch(signals, EPOLL_CTL_ADD, EPOLLIN, &signal_tag) != 0)
        return 1;
    bench_announce(listener);

    struct epoll_event events[MAX_EVENTS];
    uint64_t last_event_ns = 0;
    for (;;)
    {
        const int spinning = spin_us > 0 && now_ns() - last_event_ns < (uint64_t)spin_us * 1000u;
        const int n = epoll_wait(epoll_fd, events, MAX_EVENTS, spinning ? 0 : -1);
        if (n > 0 && spin_us > 0)
            last_event_ns = now_ns();
        for (int i = 0; i < n; ++i)
        {
            void* tag = events[i].data.ptr;
            if (tag == &signal_tag)
                return 0;
            if (tag == &listener_tag)
                accept_all(listener);
            else if (((CONNECTION*)tag)->sent < ((CONNECTION*)tag)->end)
                on_writable(tag); /* by state, not by event bits: EPOLLERR/HUP come alone */
            else
                on_readable(tag);
        }
    }
}
