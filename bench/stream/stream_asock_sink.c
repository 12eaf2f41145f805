/* bench-stream-asock-sink --port N [--backend io_uring|epoll]: the sink of the one-way stream
   on asock's public C API. An asock listener on 127.0.0.1 accepts one connection, then one
   64 KiB receive follows another (the next started from the receive callback) until a receive
   completes with anything but data. Prints "listening on 127.0.0.1:PORT" first and, at end of
   stream, a JSON line (stream_common.h); then waits for SIGTERM or SIGINT and exits 0. One
   engine thread. Exit status 3: the backend cannot run on this machine. */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "asock/async_socket.h"
#include "asock/async_socket_listener.h"
#include "asock/execution_engine.h"
#include "asock/execution_engine_linux.h"
#include "stream_asock.h"

static unsigned char buffer[STREAM_BUFFER_SIZE];
static ASYNC_SOCKET_HANDLE connection; /* set by on_accept, read by main after the end */
static uint64_t total;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t bytes_received);

static void finish(void)
{
    stream_print_sink(total, stream_cpu_seconds());
}

static void start_receive(void)
{
    ASYNC_SOCKET_BUFFER in = {buffer, sizeof(buffer)};
    if (async_socket_receive_async(connection, &in, 1, on_receive, NULL) != 0)
    {
        fprintf(stderr, "bench-stream-asock-sink: async_socket_receive_async failed\n");
        finish();
    }
}

static void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t bytes_received)
{
    (void)context;
    if (result == ASYNC_SOCKET_RECEIVE_OK && bytes_received > 0)
    {
        total += bytes_received;
        start_receive();
    }
    else
        finish();
}

static void on_accept(void* context, ASYNC_SOCKET_ACCEPT_RESULT result, ASYNC_SOCKET_HANDLE accepted, int error)
{
    (void)context;
    if (result != ASYNC_SOCKET_ACCEPT_OK)
    {
        fprintf(stderr, "bench-stream-asock-sink: accept failed (%d, errno %d)\n", (int)result, error);
        return;
    }
    pthread_mutex_lock(&lock);
    connection = accepted;
    pthread_mutex_unlock(&lock);
    start_receive();
}

int main(int argc, char** argv)
{
    STREAM_OPTIONS options;
    if (stream_parse(argc, argv, &options) != 0)
    {
        fprintf(stderr, "usage: %s --port N [--backend io_uring|epoll]\n", argv[0]);
        return 1;
    }
    /* Blocked before the engine starts its thread, so that only sigwait below takes them. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    int exit_status = 1;
    EXECUTION_ENGINE_HANDLE engine = stream_asock_engine(&options, "bench-stream-asock-sink", &exit_status);
    if (engine == NULL)
        return exit_status;
    ASYNC_SOCKET_LISTENER_HANDLE listener = NULL;
    int error = 0;
    if (async_socket_listener_create(engine, "127.0.0.1", (uint16_t)options.port, 16, &listener, &error) != ASYNC_SOCKET_LISTENER_CREATE_OK)
    {
        fprintf(stderr, "bench-stream-asock-sink: cannot listen (errno %d)\n", error);
        execution_engine_dec_ref(engine);
        return 1;
    }
    printf("listening on 127.0.0.1:%u\n", (unsigned)async_socket_listener_get_port(listener));
    fflush(stdout);
    if (async_socket_listener_accept_async(listener, on_accept, NULL) != 0)
    {
        fprintf(stderr, "bench-stream-asock-sink: async_socket_listener_accept_async failed\n");
        return 1;
    }

    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);

    async_socket_listener_destroy(listener);
    pthread_mutex_lock(&lock);
    ASYNC_SOCKET_HANDLE accepted = connection;
    pthread_mutex_unlock(&lock);
    if (accepted != NULL)
        async_socket_destroy(accepted); /* waits for a receive callback that is running */
    execution_engine_dec_ref(engine);
    return 0;
}
