/* bench-stream-asock-source --port P --seconds S [--warmup W] [--backend io_uring|epoll]: the
   source of the one-way stream on asock's public C API. async_socket_connect_async to
   127.0.0.1:P, then 64 KiB sends, two in flight, each started from the completion of the one
   before it, for W + S seconds; prints the bytes of the last S seconds and MiB/s
   (stream_common.h). A send counts when it completes (its bytes are in the kernel). One engine
   thread. Exit status 3: the backend cannot run on this machine. */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <unistd.h>

#include "asock/async_socket.h"
#include "asock/async_socket_listener.h"
#include "asock/execution_engine.h"
#include "asock/execution_engine_linux.h"
#include "stream_asock.h"

#define IN_FLIGHT 2

static unsigned char buffers[IN_FLIGHT][STREAM_BUFFER_SIZE];

typedef struct STATE
{
    pthread_mutex_t lock;
    pthread_cond_t done_changed;
    ASYNC_SOCKET_HANDLE socket;
    int connect_done; /* 1: connected, -1: failed */
    int in_flight;
    int failed;
    /* Touched by the engine thread only until in_flight reaches 0. */
    double measure_from, end, measured_start, last;
    uint64_t total, at_measure_start;
    int measuring;
} STATE;

static STATE state = {.lock = PTHREAD_MUTEX_INITIALIZER, .done_changed = PTHREAD_COND_INITIALIZER};

static void on_send(void* context, ASYNC_SOCKET_SEND_RESULT result);

static int start_send(unsigned char* buffer)
{
    ASYNC_SOCKET_BUFFER out = {buffer, STREAM_BUFFER_SIZE};
    return async_socket_send_async(state.socket, &out, 1, on_send, buffer) == ASYNC_SOCKET_SEND_SYNC_OK ? 0 : -1;
}

static void send_ended(int failed)
{
    pthread_mutex_lock(&state.lock);
    state.failed |= failed;
    state.in_flight--;
    pthread_cond_broadcast(&state.done_changed);
    pthread_mutex_unlock(&state.lock);
}

static void on_send(void* context, ASYNC_SOCKET_SEND_RESULT result)
{
    if (result != ASYNC_SOCKET_SEND_OK)
    {
        send_ended(1);
        return;
    }
    state.total += STREAM_BUFFER_SIZE;
    const double now = stream_now();
    state.last = now;
    if (!state.measuring && now >= state.measure_from)
    {
        state.measuring = 1;
        state.measured_start = now;
        state.at_measure_start = state.total;
    }
    if (now >= state.end)
        send_ended(0);
    else if (start_send(context) != 0)
        send_ended(1);
}

static void on_connect(void* context, ASYNC_SOCKET_CONNECT_RESULT result, ASYNC_SOCKET_HANDLE connected, int error)
{
    (void)context;
    pthread_mutex_lock(&state.lock);
    if (result == ASYNC_SOCKET_CONNECT_OK)
    {
        state.socket = connected;
        state.connect_done = 1;
    }
    else
    {
        fprintf(stderr, "bench-stream-asock-source: connect failed (%d, errno %d)\n", (int)result, error);
        state.connect_done = -1;
    }
    pthread_cond_broadcast(&state.done_changed);
    pthread_mutex_unlock(&state.lock);
}

int main(int argc, char** argv)
{
    STREAM_OPTIONS options;
    if (stream_parse(argc, argv, &options) != 0 || options.port == 0)
    {
        fprintf(stderr, "usage: %s --port P --seconds S [--warmup W] [--backend io_uring|epoll]\n", argv[0]);
        return 1;
    }
    memset(buffers, 'x', sizeof(buffers));
    int exit_status = 1;
    EXECUTION_ENGINE_HANDLE engine = stream_asock_engine(&options, "bench-stream-asock-source", &exit_status);
    if (engine == NULL)
        return exit_status;
    if (async_socket_connect_async(engine, "127.0.0.1", (uint16_t)options.port, 5000, on_connect, NULL) != 0)
    {
        fprintf(stderr, "bench-stream-asock-source: async_socket_connect_async failed\n");
        execution_engine_dec_ref(engine);
        return 1;
    }
    pthread_mutex_lock(&state.lock);
    while (state.connect_done == 0)
        pthread_cond_wait(&state.done_changed, &state.lock);
    const int connected = state.connect_done == 1;
    pthread_mutex_unlock(&state.lock);
    if (!connected)
    {
        execution_engine_dec_ref(engine);
        return 1;
    }

    const double start = stream_now();
    state.measure_from = start + options.warmup;
    state.end = state.measure_from + options.seconds;
    state.in_flight = IN_FLIGHT;
    for (int i = 0; i < IN_FLIGHT; ++i)
        if (start_send(buffers[i]) != 0)
            send_ended(1);

    pthread_mutex_lock(&state.lock);
    while (state.in_flight > 0)
        pthread_cond_wait(&state.done_changed, &state.lock);
    const int failed = state.failed;
    pthread_mutex_unlock(&state.lock);

    async_socket_destroy(state.socket); /* closes: the sink sees the end of the stream */
    const double cpu = stream_cpu_seconds();
    execution_engine_dec_ref(engine);
    if (failed)
    {
        fprintf(stderr, "bench-stream-asock-source: a send failed\n");
        return 1;
    }
    stream_print_source(state.total - state.at_measure_start, state.last - state.measured_start, state.total, cpu);
    return 0;
}
