/* A C11 program using asock through its public headers only: it opens a socket pair, sends a
   message with two buffers (gather), receives it back into two buffers (scatter) and checks
   every byte. Exit status 0 means success.
   Tests_SRS_ASYNC_SOCKET_LINUX_04_002 */
#define _POSIX_C_SOURCE 200809L /* nanosleep, under strict C11 */

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "asock/async_socket.h"
#include "asock/execution_engine.h"
#include "asock/execution_engine_linux.h"
#include "asock/socket_handle.h"

static atomic_int opened;
static atomic_int sent;
static atomic_int received;
static atomic_uint received_bytes;

static void on_open(void* context, ASYNC_SOCKET_OPEN_RESULT result)
{
    (void)context;
    atomic_store(&opened, result == ASYNC_SOCKET_OPEN_OK ? 1 : -1);
}

static void on_send(void* context, ASYNC_SOCKET_SEND_RESULT result)
{
    (void)context;
    atomic_store(&sent, result == ASYNC_SOCKET_SEND_OK ? 1 : -1);
}

static void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t bytes)
{
    (void)context;
    atomic_store(&received_bytes, bytes);
    atomic_store(&received, result == ASYNC_SOCKET_RECEIVE_OK ? 1 : -1);
}

/* Waits up to 10 s for *flag to become non-zero. */
static int wait_for(atomic_int* flag)
{
    for (int i = 0; i < 10000 && atomic_load(flag) == 0; ++i)
    {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return atomic_load(flag);
}

/* ASOCK_REQUIRE_IO_URING=1: this machine has io_uring, and its absence is a failure, not a
   skip (as io_uring_usable in tests/support/helpers.h). */
static int io_uring_required(void)
{
    const char* value = getenv("ASOCK_REQUIRE_IO_URING");
    return value != NULL && strcmp(value, "1") == 0;
}

static int run(ASOCK_LINUX_BACKEND backend)
{
    EXECUTION_ENGINE_PARAMETERS parameters = {1, 0};
    EXECUTION_ENGINE_HANDLE engine = execution_engine_linux_create(&parameters, backend);
    if (engine == NULL && backend == ASOCK_LINUX_BACKEND_IO_URING && !execution_engine_linux_io_uring_available())
    {
        if (io_uring_required())
        {
            fprintf(stderr, "c11_program: io_uring cannot be used on this machine, but ASOCK_REQUIRE_IO_URING=1 requires it\n");
            return 1;
        }
        printf("%s: skipped, io_uring cannot be used on this machine\n", ASOCK_LINUX_BACKEND_to_string(backend));
        return 0;
    }
    if (engine == NULL)
        return 1;

    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
        return 2;
    ASYNC_SOCKET_HANDLE a = async_socket_create(engine, fds[0]);
    ASYNC_SOCKET_HANDLE b = async_socket_create(engine, fds[1]);
    if (a == NULL || b == NULL || async_socket_open_async(a, on_open, NULL) != 0 || wait_for(&opened) != 1)
        return 3;
    atomic_store(&opened, 0);
    if (async_socket_open_async(b, on_open, NULL) != 0 || wait_for(&opened) != 1)
        return 4;

    char header[] = "head:";
    char body[] = "the body of the message";
    ASYNC_SOCKET_BUFFER out[2] = {{header, (uint32_t)strlen(header)}, {body, (uint32_t)strlen(body)}};
    const uint32_t total = out[0].length + out[1].length;
    char in1[7];
    char in2[64];
    ASYNC_SOCKET_BUFFER in[2] = {{in1, sizeof(in1)}, {in2, sizeof(in2)}};

    if (async_socket_receive_async(b, in, 2, on_receive, NULL) != 0)
        return 5;
    if (async_socket_send_async(a, out, 2, on_send, NULL) != ASYNC_SOCKET_SEND_SYNC_OK)
        return 6;
    if (wait_for(&sent) != 1 || wait_for(&received) != 1)
        return 7;
    /* A small message over a socket pair arrives in one piece. */
    if (atomic_load(&received_bytes) != total)
        return 8;
    char expected[64];
    char actual[80];
    snprintf(expected, sizeof(expected), "%s%s", header, body);
    memcpy(actual, in1, sizeof(in1));
    memcpy(actual + sizeof(in1), in2, total - sizeof(in1));
    if (memcmp(expected, actual, total) != 0)
        return 9;

    async_socket_destroy(a);
    async_socket_destroy(b);
    execution_engine_dec_ref(engine);
    atomic_store(&opened, 0);
    atomic_store(&sent, 0);
    atomic_store(&received, 0);
    printf("%s: %s moved %u bytes\n", ASOCK_LINUX_BACKEND_to_string(backend), ASYNC_SOCKET_RECEIVE_RESULT_to_string(ASYNC_SOCKET_RECEIVE_OK), total);
    return 0;
}

int main(void)
{
    int result = run(ASOCK_LINUX_BACKEND_EPOLL);
    if (result == 0)
        result = run(ASOCK_LINUX_BACKEND_IO_URING);
    if (result != 0)
        fprintf(stderr, "c11_program failed at step %d\n", result);
    return result;
}
