/* asock-echo-server: a TCP echo server on asock's public C API.

   The main thread accepts connections (plain blocking accept) and hands each one to asock.
   From then on everything happens in completion callbacks on the engine's threads:

       open complete -> receive -> (OK) send back exactly the bytes received
                        ^                         |
                        +------ (send OK) --------+

   Any ABANDONED/ERROR result (peer gone, socket closed) ends the connection.

   Usage: asock-echo-server --port N [--threads T] [--backend io_uring|epoll] [--gather]
                            [--busy-poll MICROSECONDS] [--idle-timeout-ms N]
   --port 0 picks a free port; the first line printed is "listening on 127.0.0.1:PORT ...".
   --idle-timeout-ms closes a connection that sends nothing for N ms: each receive is then a
   receive with a deadline (async_socket_receive_timed_async), and its TIMEOUT ends the
   connection (printing "closed an idle connection").
   --gather sends each echo as two buffers (the first min(16, n) bytes, then the rest) in one
   send call; --busy-poll makes the engine's threads poll before they sleep. The benchmarks
   (bench/) build this same source as bench-echo-asock. Stops on SIGINT/SIGTERM. Exit status: 0 after a clean stop, 1 on error, 3 when the
   requested backend cannot run on this machine (io_uring not allowed by the kernel). */
#define _GNU_SOURCE /* accept4 */

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "asock/async_socket.h"
#include "asock/async_socket_deadline.h"
#include "asock/execution_engine.h"
#include "asock/execution_engine_linux.h"

#define BUFFER_SIZE (64 * 1024)
#define GATHER_HEAD_BYTES 16

typedef struct CONNECTION
{
    ASYNC_SOCKET_HANDLE socket;
    struct CONNECTION* prev;
    struct CONNECTION* next;
    unsigned char buffer[BUFFER_SIZE];
} CONNECTION;

/* The live connections, so that main can destroy them at exit. Whoever unlinks a
   connection (its own callback, or main when stopping) destroys it. */
static pthread_mutex_t connections_lock = PTHREAD_MUTEX_INITIALIZER;
static CONNECTION* connections;
static int stopping;

static volatile sig_atomic_t stop_requested;
static int listener = -1;
static int gather; /* --gather */
static uint32_t idle_timeout_ms; /* --idle-timeout-ms; 0: none */

static void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t bytes_received);
static void on_receive_timed(void* context, ASYNC_SOCKET_RECEIVE_TIMED_RESULT result, uint32_t bytes_received);

/* Ends a connection from one of its callbacks (destroying from inside a callback is allowed). */
static void connection_end(CONNECTION* connection)
{
    pthread_mutex_lock(&connections_lock);
    const int owned_by_main = stopping;
    if (!owned_by_main)
    {
        if (connection->prev != NULL)
            connection->prev->next = connection->next;
        else
            connections = connection->next;
        if (connection->next != NULL)
            connection->next->prev = connection->prev;
    }
    pthread_mutex_unlock(&connections_lock);

    if (!owned_by_main)
    {
        async_socket_destroy(connection->socket);
        free(connection);
    }
}

static void start_receive(CONNECTION* connection)
{
    ASYNC_SOCKET_BUFFER in = {connection->buffer, BUFFER_SIZE};
    const int error = idle_timeout_ms != 0 ? async_socket_receive_timed_async(connection->socket, &in, 1, idle_timeout_ms, on_receive_timed, connection)
                                           : async_socket_receive_async(connection->socket, &in, 1, on_receive, connection);
    if (error != 0)
        connection_end(connection);
}

static void on_send(void* context, ASYNC_SOCKET_SEND_RESULT result)
{
    CONNECTION* connection = context;
    if (result == ASYNC_SOCKET_SEND_OK)
        start_receive(connection);
    else
        connection_end(connection);
}

/* Sends back the bytes received; the buffer is not touched again until on_send has run. */
static void echo(CONNECTION* connection, uint32_t bytes_received)
{
    const uint32_t head = gather && bytes_received > GATHER_HEAD_BYTES ? GATHER_HEAD_BYTES : bytes_received;
    ASYNC_SOCKET_BUFFER out[2] = {{connection->buffer, head},
                                  {connection->buffer + head, bytes_received - head}};
    if (async_socket_send_async(connection->socket, out, head < bytes_received ? 2 : 1, on_send, connection) != ASYNC_SOCKET_SEND_SYNC_OK)
        connection_end(connection);
}

static void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t bytes_received)
{
    CONNECTION* connection = context;
    if (result == ASYNC_SOCKET_RECEIVE_OK)
        echo(connection, bytes_received);
    else
        connection_end(connection);
}

/* --idle-timeout-ms: a peer that sent nothing within the deadline is dropped (the socket would
   stay usable, but this server has no use for a silent peer). */
static void on_receive_timed(void* context, ASYNC_SOCKET_RECEIVE_TIMED_RESULT result, uint32_t bytes_received)
{
    CONNECTION* connection = context;
    if (result == ASYNC_SOCKET_RECEIVE_TIMED_OK)
    {
        echo(connection, bytes_received);
        return;
    }
    if (result == ASYNC_SOCKET_RECEIVE_TIMED_TIMEOUT)
    {
        printf("closed an idle connection (nothing received for %u ms)\n", (unsigned)idle_timeout_ms);
        fflush(stdout);
    }
    connection_end(connection);
}

static void on_open(void* context, ASYNC_SOCKET_OPEN_RESULT result)
{
    CONNECTION* connection = context;
    if (result == ASYNC_SOCKET_OPEN_OK)
        start_receive(connection);
    else
        connection_end(connection);
}

/* Hands an accepted socket to asock. */
static void serve(EXECUTION_ENGINE_HANDLE engine, int fd)
{
    CONNECTION* connection = malloc(sizeof(*connection));
    if (connection == NULL)
    {
        close(fd);
        return;
    }
    connection->socket = async_socket_create(engine, fd);
    if (connection->socket == NULL)
    {
        close(fd);
        free(connection);
        return;
    }

    pthread_mutex_lock(&connections_lock);
    connection->prev = NULL;
    connection->next = connections;
    if (connections != NULL)
        connections->prev = connection;
    connections = connection;
    pthread_mutex_unlock(&connections_lock);

    if (async_socket_open_async(connection->socket, on_open, connection) != 0)
        connection_end(connection);
}

/* Runs on whichever thread receives the signal. shutdown() is async-signal-safe and makes
   the blocked (or next) accept() on the main thread fail at once; close() would not. */
static void on_signal(int signal_number)
{
    (void)signal_number;
    stop_requested = 1;
    shutdown(listener, SHUT_RDWR);
}

static int usage(const char* program)
{
    fprintf(stderr, "usage: %s --port N [--threads T] [--backend io_uring|epoll] [--gather] [--busy-poll US] [--idle-timeout-ms N]\n",
            program);
    return 1;
}

int main(int argc, char** argv)
{
    long port = -1;
    long threads = 1;
    long busy_poll_us = 0;
    long idle_ms = 0;
    ASOCK_LINUX_BACKEND backend = ASOCK_LINUX_BACKEND_DEFAULT;
    for (int i = 1; i < argc; ++i)
    {
        if (strcmp(argv[i], "--gather") == 0)
        {
            gather = 1;
            continue;
        }
        const char* value = i + 1 < argc ? argv[i + 1] : NULL;
        if (value == NULL)
            return usage(argv[0]);
        if (strcmp(argv[i], "--port") == 0)
            port = strtol(value, NULL, 10);
        else if (strcmp(argv[i], "--threads") == 0)
            threads = strtol(value, NULL, 10);
        else if (strcmp(argv[i], "--busy-poll") == 0)
            busy_poll_us = strtol(value, NULL, 10);
        else if (strcmp(argv[i], "--idle-timeout-ms") == 0)
            idle_ms = strtol(value, NULL, 10);
        else if (strcmp(argv[i], "--backend") == 0 && strcmp(value, "io_uring") == 0)
            backend = ASOCK_LINUX_BACKEND_IO_URING;
        else if (strcmp(argv[i], "--backend") == 0 && strcmp(value, "epoll") == 0)
            backend = ASOCK_LINUX_BACKEND_EPOLL;
        else
            return usage(argv[0]);
        ++i;
    }
    if (port < 0 || port > 65535 || threads < 1 || threads > 1024 || busy_poll_us < 0 || busy_poll_us > 1000000 ||
        idle_ms < 0 || idle_ms > 86400000)
        return usage(argv[0]);
    idle_timeout_ms = (uint32_t)idle_ms;

    EXECUTION_ENGINE_PARAMETERS parameters = {(uint32_t)threads, 0};
    EXECUTION_ENGINE_HANDLE engine = execution_engine_linux_create(&parameters, backend);
    if (engine == NULL)
    {
        if (backend == ASOCK_LINUX_BACKEND_IO_URING && !execution_engine_linux_io_uring_available())
        {
            fprintf(stderr, "asock-echo-server: io_uring is not available on this machine\n");
            return 3;
        }
        fprintf(stderr, "asock-echo-server: execution_engine_linux_create failed\n");
        return 1;
    }
    if (busy_poll_us > 0 && execution_engine_linux_set_busy_poll(engine, (uint32_t)busy_poll_us) != 0)
    {
        fprintf(stderr, "asock-echo-server: execution_engine_linux_set_busy_poll failed\n");
        return 1;
    }

    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    struct sockaddr_in address;
    memset(&address, 0, sizeof(address));
    address.sin_family = AF_INET;
    address.sin_port = htons((uint16_t)port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t address_length = sizeof(address);
    if (listener < 0 || setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(listener, (struct sockaddr*)&address, sizeof(address)) != 0 || listen(listener, SOMAXCONN) != 0 ||
        getsockname(listener, (struct sockaddr*)&address, &address_length) != 0)
    {
        perror("asock-echo-server: listen");
        return 1;
    }

    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);

    printf("listening on 127.0.0.1:%u (asock-echo-server, backend %s, %ld thread%s)\n", (unsigned)ntohs(address.sin_port),
           ASOCK_LINUX_BACKEND_to_string(execution_engine_linux_get_backend(engine)), threads, threads == 1 ? "" : "s");
    fflush(stdout);

    while (!stop_requested)
    {
        const int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
        {
            if (errno != EINTR && errno != ECONNABORTED && !stop_requested)
            {
                perror("asock-echo-server: accept");
                sleep(1); /* EMFILE and friends: do not spin */
            }
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        serve(engine, fd);
    }
    close(listener);

    /* Stop: from now on main owns every live connection and destroys it; destroy returns
       once none of the connection's callbacks runs any more. */
    pthread_mutex_lock(&connections_lock);
    stopping = 1;
    CONNECTION* live = connections;
    connections = NULL;
    pthread_mutex_unlock(&connections_lock);
    while (live != NULL)
    {
        CONNECTION* next = live->next;
        async_socket_destroy(live->socket);
        free(live);
        live = next;
    }
    execution_engine_dec_ref(engine); /* the last reference: joins the engine's threads */
    printf("asock-echo-server stopped\n");
    return 0;
}
