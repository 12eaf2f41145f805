/* asock-http-server: the "plaintext" HTTP/1.1 server of the TechEmpower benchmarks on asock's
   public C API: every request gets "Hello, World!" (text/plain, with Server and Date).

   Keep-alive and pipelining: each receive appends to a bounded 16 KiB request buffer; every
   complete request in it gets its response appended to an output buffer, and the batch goes
   out in one send. Two output buffers per connection: one is filled while the other is being
   sent, so that receiving, parsing and sending overlap. A malformed request, or one that does
   not fit in the request buffer, gets "400 Bad Request" and the connection is closed after it;
   so is one with "Connection: close" (after its 200). The parser is examples/http_plaintext.h,
   shared with the benchmark's other servers.

   Connections come from an asock listener (async_socket_listener_accept_async), on an engine
   with --threads loops (round robin). All the work happens in completion callbacks; the main
   thread only sweeps, every second or so: a connection with nothing received and no send
   completed for --idle-timeout-ms (default 60000; 0 = never) is closed, whether its peer is
   silent or does not read what it is sent, so that no peer holds a connection forever. The
   sweep also re-arms accepts that failed (EMFILE: no descriptor left).

   --per-loop listens with one socket per loop thread (async_socket_listener_create_per_loop,
   SO_REUSEPORT: the system spreads connections and each stays on the loop that accepted it)
   instead of one listening socket whose connections go to the loops in turn.

   Usage: asock-http-server --port N [--threads T] [--per-loop] [--backend io_uring|epoll] [--idle-timeout-ms N]
   --port 0 picks a free port; the first line printed is "listening on 127.0.0.1:PORT ...".
   Stops on SIGINT/SIGTERM. Exit status: 0 after a clean stop, 1 on error, 3 when the requested
   backend cannot run on this machine. */
#define _GNU_SOURCE /* gmtime_r in http_plaintext.h */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "asock/async_socket.h"
#include "asock/async_socket_listener.h"
#include "asock/execution_engine.h"
#include "asock/execution_engine_linux.h"
#include "http_plaintext.h"

#define REQUEST_BUFFER_SIZE (16 * 1024)
#define OUTPUT_BUFFER_SIZE (16 * 1024)
#define ACCEPTS_PER_LOOP 4
#define LINGER_MS 2000

typedef struct CONNECTION
{
    ASYNC_SOCKET_HANDLE socket;
    struct CONNECTION* prev;
    struct CONNECTION* next;
    int owned_by_main; /* the sweep or the stop took it: main destroys and frees it */
    /* What only the connection's callbacks touch (they never run at the same time). */
    int receiving;
    int sending;
    int closing;   /* no more requests: close once the last response is sent */
    int draining;  /* the last response is sent: discard what comes until the peer closes */
    int input_ended; /* the peer closed its side (or is gone): what is buffered is the last */
    int clean_close; /* closing after a request that asked for it, with nothing after it buffered */
    int gone;      /* its socket failed or was closed: ignore what still completes */
    size_t in_used;
    size_t out_used[2];
    int filling;   /* the output buffer being filled; the other one is the one being sent */
    /* When (the sweep's clock, ms) the last receive or send completed: read by the sweep. */
    _Atomic long last_progress;
    unsigned char in[REQUEST_BUFFER_SIZE];
    unsigned char out[2][OUTPUT_BUFFER_SIZE];
} CONNECTION;

/* The live connections. Whoever unlinks one destroys it: its own callback, or main. */
static pthread_mutex_t connections_lock = PTHREAD_MUTEX_INITIALIZER;
static CONNECTION* connections;
static int stopping;

static volatile sig_atomic_t stop_requested;
static ASYNC_SOCKET_LISTENER_HANDLE listener;
static _Atomic int accepts_pending;
static _Atomic long clock_ms; /* a coarse clock (ms since start), ticked by the sweep */
static long idle_timeout_ms = 60000;
static int accepts_wanted = ACCEPTS_PER_LOOP;

static void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t bytes_received);
static void on_send(void* context, ASYNC_SOCKET_SEND_RESULT result);

static long monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void unlink_connection(CONNECTION* connection)
{
    if (connection->prev != NULL)
        connection->prev->next = connection->next;
    else
        connections = connection->next;
    if (connection->next != NULL)
        connection->next->prev = connection->prev;
}

/* Ends a connection, from one of its callbacks: the callback settles it when it returns (the
   code after this call may still look at the connection). */
static void connection_end(CONNECTION* connection) { connection->gone = 1; }

/* The last thing a callback does: a connection that ended is destroyed and freed, unless main
   took it (the sweep or the stop), which then does it. Destroying from inside a callback is
   allowed; a receive or send still pending completes ABANDONED inside it and finds `gone`. */
static void settle(CONNECTION* connection)
{
    if (!connection->gone)
        return;
    pthread_mutex_lock(&connections_lock);
    const int owned_by_main = connection->owned_by_main || stopping;
    if (!owned_by_main)
        unlink_connection(connection);
    pthread_mutex_unlock(&connections_lock);
    if (!owned_by_main)
    {
        async_socket_destroy(connection->socket);
        free(connection);
    }
}

static void start_receive(CONNECTION* connection)
{
    ASYNC_SOCKET_BUFFER in = {connection->in + connection->in_used, (uint32_t)(REQUEST_BUFFER_SIZE - connection->in_used)};
    connection->receiving = 1;
    if (async_socket_receive_async(connection->socket, &in, 1, on_receive, connection) != 0)
    {
        connection->receiving = 0;
        connection_end(connection);
    }
}

/* Sends the buffer being filled, if it has anything and no send is pending. */
static void flush(CONNECTION* connection)
{
    const int full = connection->filling;
    if (connection->sending || connection->out_used[full] == 0)
        return;
    ASYNC_SOCKET_BUFFER out = {connection->out[full], (uint32_t)connection->out_used[full]};
    connection->filling = !full;
    connection->out_used[connection->filling] = 0;
    connection->sending = 1;
    if (async_socket_send_async(connection->socket, &out, 1, on_send, connection) != ASYNC_SOCKET_SEND_SYNC_OK)
    {
        connection->sending = 0;
        connection_end(connection);
    }
}

/* Appends text to the buffer being filled; 0 when it does not fit (wait for the send). */
static int append(CONNECTION* connection, const char* text, size_t length)
{
    size_t* used = &connection->out_used[connection->filling];
    if (OUTPUT_BUFFER_SIZE - *used < length)
        return 0;
    memcpy(connection->out[connection->filling] + *used, text, length);
    *used += length;
    return 1;
}

/* The last response went out. Closing now, with requests unread, would make the system reset
   the connection, and the peer could lose that response (a 400 above all): so the connection
   discards what still comes until the peer closes, for at most LINGER_MS (the sweep ends it;
   with no idle timeout, the peer's close does). */
static void drain(CONNECTION* connection)
{
    connection->draining = 1;
    connection->in_used = 0;
    const long linger = idle_timeout_ms < LINGER_MS ? idle_timeout_ms : LINGER_MS;
    atomic_store_explicit(&connection->last_progress, atomic_load_explicit(&clock_ms, memory_order_relaxed) - (idle_timeout_ms - linger),
                          memory_order_relaxed);
    start_receive(connection);
}

/* Answers every complete request in the input (as far as the output has room), sends, and
   receives more or ends the connection. */
static void serve(CONNECTION* connection)
{
    size_t position = 0;
    int output_full = 0;
    while (!connection->closing)
    {
        HTTP_REQUEST request;
        const HTTP_PARSE_RESULT parsed = http_parse_request(connection->in + position, connection->in_used - position, &request);
        if (parsed == HTTP_PARSE_MORE && connection->in_used - position < REQUEST_BUFFER_SIZE)
            break;
        if (parsed == HTTP_PARSE_DONE)
        {
            size_t length;
            const char* response = http_ok_response("asock", &length);
            if (!append(connection, response, length))
            {
                output_full = 1; /* go on once the send completed */
                break;
            }
            position += request.length;
            connection->closing = !request.keep_alive;
            connection->clean_close = connection->closing && position == connection->in_used;
            continue;
        }
        /* Malformed, or incomplete with the whole buffer used: 400, then close. */
        if (!append(connection, HTTP_BAD_REQUEST, sizeof(HTTP_BAD_REQUEST) - 1))
        {
            output_full = 1;
            break;
        }
        connection->closing = 1;
    }
    if (position > 0)
    {
        memmove(connection->in, connection->in + position, connection->in_used - position);
        connection->in_used -= position;
    }
    flush(connection);
    if (connection->gone)
        return;
    if (connection->input_ended && !output_full)
        connection->closing = 1; /* every whole request it sent is answered */
    if (connection->closing)
    {
        if (connection->sending || connection->receiving)
            return; /* back here when they complete */
        if (connection->input_ended || connection->clean_close)
            connection_end(connection); /* nothing unread that would make the close a reset */
        else
            drain(connection);
        return;
    }
    if (!connection->receiving && !connection->input_ended && connection->in_used < REQUEST_BUFFER_SIZE)
        start_receive(connection);
}

static void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t bytes_received)
{
    CONNECTION* connection = context;
    connection->receiving = 0;
    if (connection->gone)
        return;
    if (result != ASYNC_SOCKET_RECEIVE_OK || bytes_received == 0)
    {
        /* The peer closed its side (or is gone): no more requests. Responses still being sent
           go out first (a peer that half-closed still reads); a reset peer fails that send. */
        connection->input_ended = 1;
        serve(connection);
    }
    else if (connection->draining)
    {
        start_receive(connection); /* discarded (in_used stays 0) */
    }
    else
    {
        atomic_store_explicit(&connection->last_progress, atomic_load_explicit(&clock_ms, memory_order_relaxed), memory_order_relaxed);
        connection->in_used += bytes_received;
        serve(connection);
    }
    settle(connection);
}

static void on_send(void* context, ASYNC_SOCKET_SEND_RESULT result)
{
    CONNECTION* connection = context;
    connection->sending = 0;
    if (connection->gone)
        return;
    if (result != ASYNC_SOCKET_SEND_OK)
    {
        connection_end(connection);
    }
    else
    {
        atomic_store_explicit(&connection->last_progress, atomic_load_explicit(&clock_ms, memory_order_relaxed), memory_order_relaxed);
        serve(connection);
    }
    settle(connection);
}

static void start_accept(void);

static void on_accept(void* context, ASYNC_SOCKET_ACCEPT_RESULT result, ASYNC_SOCKET_HANDLE socket, int error)
{
    (void)context;
    (void)error;
    atomic_fetch_sub(&accepts_pending, 1);
    if (result != ASYNC_SOCKET_ACCEPT_OK)
        return; /* ABANDONED: stopping; ERROR (no descriptor left): the sweep accepts again */
    start_accept();
    CONNECTION* connection = calloc(1, sizeof(*connection));
    if (connection == NULL)
    {
        async_socket_destroy(socket);
        return;
    }
    connection->socket = socket;
    atomic_store(&connection->last_progress, atomic_load(&clock_ms));
    pthread_mutex_lock(&connections_lock);
    if (stopping)
    {
        pthread_mutex_unlock(&connections_lock);
        async_socket_destroy(socket);
        free(connection);
        return;
    }
    connection->next = connections;
    if (connections != NULL)
        connections->prev = connection;
    connections = connection;
    /* The socket may belong to another loop thread (accepted sockets go to the loops in turn):
       once its receive is started, its callbacks may run and end it there at any moment, and
       once the lock is released the sweep may take it; so this thread touches the connection
       after the unlock only if the receive was refused (no callback then), unlinked under the
       lock first. */
    connection->receiving = 1;
    ASYNC_SOCKET_BUFFER in = {connection->in, REQUEST_BUFFER_SIZE};
    const int refused = async_socket_receive_async(socket, &in, 1, on_receive, connection) != 0;
    if (refused)
        unlink_connection(connection);
    pthread_mutex_unlock(&connections_lock);
    if (refused)
    {
        async_socket_destroy(socket);
        free(connection);
    }
}

static void start_accept(void)
{
    atomic_fetch_add(&accepts_pending, 1);
    if (async_socket_listener_accept_async(listener, on_accept, NULL) != 0)
        atomic_fetch_sub(&accepts_pending, 1);
}

/* Closes the connections that made no progress for the idle timeout. */
static void sweep(long now_ms)
{
    CONNECTION* expired = NULL;
    pthread_mutex_lock(&connections_lock);
    for (CONNECTION* connection = connections; connection != NULL;)
    {
        CONNECTION* next = connection->next;
        if (now_ms - atomic_load_explicit(&connection->last_progress, memory_order_relaxed) >= idle_timeout_ms)
        {
            unlink_connection(connection);
            connection->owned_by_main = 1;
            connection->next = expired;
            expired = connection;
        }
        connection = next;
    }
    pthread_mutex_unlock(&connections_lock);
    while (expired != NULL)
    {
        CONNECTION* next = expired->next;
        async_socket_destroy(expired->socket); /* returns once none of its callbacks runs */
        free(expired);
        expired = next;
    }
}

static void on_signal(int signal_number)
{
    (void)signal_number;
    stop_requested = 1;
}

static int usage(const char* program)
{
    fprintf(stderr, "usage: %s --port N [--threads T] [--per-loop] [--backend io_uring|epoll] [--idle-timeout-ms N]\n", program);
    return 1;
}

int main(int argc, char** argv)
{
    long port = -1;
    long threads = 1;
    ASOCK_LINUX_BACKEND backend = ASOCK_LINUX_BACKEND_DEFAULT;
    int per_loop = 0;
    for (int i = 1; i < argc; ++i)
    {
        if (strcmp(argv[i], "--per-loop") == 0)
        {
            per_loop = 1;
            continue;
        }
        const char* value = i + 1 < argc ? argv[i + 1] : NULL;
        char* end = NULL;
        const long number = value != NULL ? strtol(value, &end, 10) : -1;
        const int is_number = value != NULL && *value != '\0' && *end == '\0';
        if (value == NULL)
            return usage(argv[0]);
        if (strcmp(argv[i], "--port") == 0 && is_number)
            port = number;
        else if (strcmp(argv[i], "--threads") == 0 && is_number)
            threads = number;
        else if (strcmp(argv[i], "--idle-timeout-ms") == 0 && is_number)
            idle_timeout_ms = number;
        else if (strcmp(argv[i], "--backend") == 0 && strcmp(value, "io_uring") == 0)
            backend = ASOCK_LINUX_BACKEND_IO_URING;
        else if (strcmp(argv[i], "--backend") == 0 && strcmp(value, "epoll") == 0)
            backend = ASOCK_LINUX_BACKEND_EPOLL;
        else
            return usage(argv[0]);
        ++i;
    }
    if (port < 0 || port > 65535 || threads < 1 || threads > 1024 || idle_timeout_ms < 0 || idle_timeout_ms > 86400000)
        return usage(argv[0]);

    EXECUTION_ENGINE_PARAMETERS parameters = {(uint32_t)threads, 0};
    EXECUTION_ENGINE_HANDLE engine = execution_engine_linux_create(&parameters, backend);
    if (engine == NULL)
    {
        if (backend == ASOCK_LINUX_BACKEND_IO_URING && !execution_engine_linux_io_uring_available())
        {
            fprintf(stderr, "asock-http-server: io_uring is not available on this machine\n");
            return 3;
        }
        fprintf(stderr, "asock-http-server: execution_engine_linux_create failed\n");
        return 1;
    }
    int error = 0;
    const ASYNC_SOCKET_LISTENER_CREATE_RESULT created = per_loop ? async_socket_listener_create_per_loop(engine, "127.0.0.1", (uint16_t)port, 0, &listener, &error)
                                                                 : async_socket_listener_create(engine, "127.0.0.1", (uint16_t)port, 0, &listener, &error);
    accepts_wanted = ACCEPTS_PER_LOOP * (int)threads;
    if (created != ASYNC_SOCKET_LISTENER_CREATE_OK)
    {
        fprintf(stderr, "asock-http-server: cannot listen on 127.0.0.1:%ld: %s\n", port, strerror(error));
        execution_engine_dec_ref(engine);
        return 1;
    }

    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    signal(SIGPIPE, SIG_IGN); /* asock never raises it; this is for anything else in the process */

    const long started_ms = monotonic_ms();
    printf("listening on 127.0.0.1:%u (asock-http-server, backend %s, %ld thread%s%s)\n", (unsigned)async_socket_listener_get_port(listener),
           ASOCK_LINUX_BACKEND_to_string(execution_engine_linux_get_backend(engine)), threads, threads == 1 ? "" : "s",
           per_loop ? ", a listening socket per loop" : "");
    fflush(stdout);

    /* The sweep's period: a quarter of the timeout, at most a second. */
    long period_ms = idle_timeout_ms > 0 && idle_timeout_ms / 4 < 1000 ? idle_timeout_ms / 4 : 1000;
    if (period_ms < 10)
        period_ms = 10;
    while (!stop_requested)
    {
        while (atomic_load(&accepts_pending) < accepts_wanted && !stop_requested)
        {
            const int before = atomic_load(&accepts_pending);
            start_accept();
            if (atomic_load(&accepts_pending) <= before)
                break; /* refused (no memory): again at the next sweep */
        }
        const struct timespec pause = {period_ms / 1000, (period_ms % 1000) * 1000000};
        nanosleep(&pause, NULL); /* a signal ends it early */
        const long now_ms = monotonic_ms() - started_ms;
        atomic_store(&clock_ms, now_ms);
        if (idle_timeout_ms > 0)
            sweep(now_ms);
    }

    /* Stop: no more accepts; from now on main owns every live connection and destroys it. */
    async_socket_listener_destroy(listener);
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
    printf("asock-http-server stopped\n");
    return 0;
}
