/* bench-http-ceiling-epoll: the benchmark HTTP server with no library, the least work an epoll
   server can do per batch of requests: one level-triggered epoll loop over non-blocking
   sockets; on EPOLLIN one recv, the answers to every complete request (bench_http.h), then one
   send of the whole batch. Only when the socket does not take it all does the connection switch
   to EPOLLOUT (and stop reading) until the rest is out.

   Level-triggered for the reason the echo ceiling is: edge-triggered would have to recv until
   EAGAIN, one more syscall per batch, and interest changes are rare here. */
#define _GNU_SOURCE /* accept4 */

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_http.h"
#include "bench_server.h"

#define MAX_EVENTS 1024
#define SERVER_NAME "epoll"

typedef struct CONNECTION
{
    int fd;
    int writing; /* waiting for EPOLLOUT: http.out[sent, out_length) is still to send */
    size_t sent;
    BENCH_HTTP http;
} CONNECTION;

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

/* Sends what is left of the responses. 0: all out; 1: the socket is full; -1: error. */
static int send_rest(CONNECTION* c)
{
    while (c->sent < c->http.out_length)
    {
        const ssize_t n = send(c->fd, c->http.out + c->sent, c->http.out_length - c->sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN ? 1 : -1;
        c->sent += (size_t)n;
    }
    return 0;
}

/* Answers and sends until the input holds no complete request (0), the socket is full (1)
   or the connection ends (-1: closed here). */
static int respond(CONNECTION* c)
{
    while (bench_http_answer(&c->http, SERVER_NAME) > 0)
    {
        c->sent = 0;
        const int status = send_rest(c);
        if (status != 0)
        {
            if (status < 0)
                end_connection(c);
            return status;
        }
        const BENCH_HTTP_NEXT next = bench_http_sent(&c->http);
        if (next == BENCH_HTTP_CLOSE)
        {
            bench_http_shutdown(c->fd);
            end_connection(c);
            return -1;
        }
        if (next == BENCH_HTTP_RECEIVE)
            return 0;
    }
    return 0;
}

static void on_readable(CONNECTION* c)
{
    const size_t room = sizeof(c->http.in) - c->http.in_length;
    const ssize_t n = room > 0 ? recv(c->fd, c->http.in + c->http.in_length, room, 0) : -1;
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0)
    {
        end_connection(c);
        return;
    }
    c->http.in_length += (size_t)n;
    if (respond(c) == 1)
    {
        c->writing = 1;
        if (watch(c->fd, EPOLL_CTL_MOD, EPOLLOUT, c) != 0)
            end_connection(c);
    }
}

static void on_writable(CONNECTION* c)
{
    int status = send_rest(c);
    if (status < 0)
    {
        end_connection(c);
        return;
    }
    if (status == 1)
        return;
    const BENCH_HTTP_NEXT next = bench_http_sent(&c->http);
    if (next == BENCH_HTTP_CLOSE)
    {
        bench_http_shutdown(c->fd);
        end_connection(c);
        return;
    }
    if (next == BENCH_HTTP_ANSWER && (status = respond(c)) != 0)
        return; /* full again (still watching EPOLLOUT), or closed */
    c->writing = 0;
    if (watch(c->fd, EPOLL_CTL_MOD, EPOLLIN, c) != 0)
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
        connection->writing = 0;
        connection->sent = 0;
        bench_http_init(&connection->http);
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

int main(int argc, char** argv)
{
    BENCH_OPTIONS options;
    if (bench_parse_options(argc, argv, BENCH_OPTION_NO_GATHER, &options) != 0)
        return 1;
    const int listener = bench_listen(options.port, 1);
    const int signals = stop_signals_fd();
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (listener < 0 || signals < 0 || epoll_fd < 0 || watch(listener, EPOLL_CTL_ADD, EPOLLIN, &listener_tag) != 0 ||
        watch(signals, EPOLL_CTL_ADD, EPOLLIN, &signal_tag) != 0)
        return 1;
    bench_announce(listener);

    struct epoll_event events[MAX_EVENTS];
    for (;;)
    {
        const int n = epoll_wait(epoll_fd, events, MAX_EVENTS, -1);
        for (int i = 0; i < n; ++i)
        {
            void* tag = events[i].data.ptr;
            if (tag == &signal_tag)
                return 0;
            if (tag == &listener_tag)
                accept_all(listener);
            else if (((CONNECTION*)tag)->writing)
                on_writable(tag); /* by state, not by event bits: EPOLLERR/HUP come alone */
            else
                on_readable(tag);
        }
    }
}
