/* Uses the installed package from C: opens a socket, sends one message through asock over a
   socketpair and reads it at the other end, then fires a timer. Exit status 0 on success. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "asock/async_cancellation.h"
#include "asock/async_socket.h"
#include "asock/async_timer.h"
#include "asock/execution_engine.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int opened;
static int sent;
static int fired;

static void signal_flag(int* flag, int value)
{
    pthread_mutex_lock(&lock);
    *flag = value;
    pthread_cond_signal(&changed);
    pthread_mutex_unlock(&lock);
}

static void wait_flag(const int* flag)
{
    pthread_mutex_lock(&lock);
    while (*flag == 0)
        pthread_cond_wait(&changed, &lock);
    pthread_mutex_unlock(&lock);
}

static void on_open(void* context, ASYNC_SOCKET_OPEN_RESULT result) { signal_flag(context, result == ASYNC_SOCKET_OPEN_OK ? 1 : -1); }
static void on_send(void* context, ASYNC_SOCKET_SEND_RESULT result) { signal_flag(context, result == ASYNC_SOCKET_SEND_OK ? 1 : -1); }
static void on_timer(void* context, ASYNC_TIMER_RESULT result) { signal_flag(context, result == ASYNC_TIMER_FIRED ? 1 : -1); }

int main(void)
{
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
        return 1;
    EXECUTION_ENGINE_PARAMETERS parameters = {1, 0};
    EXECUTION_ENGINE_HANDLE engine = execution_engine_create(&parameters);
    ASYNC_SOCKET_HANDLE socket = engine == NULL ? NULL : async_socket_create(engine, fds[0]);
    if (socket == NULL || async_socket_open_async(socket, on_open, &opened) != 0)
        return 2;
    wait_flag(&opened);

    char message[] = "hello from C";
    ASYNC_SOCKET_BUFFER buffer = {message, (uint32_t)sizeof(message)};
    if (opened != 1 || async_socket_send_async(socket, &buffer, 1, on_send, &sent) != ASYNC_SOCKET_SEND_SYNC_OK)
        return 3;
    wait_flag(&sent);
    char in[sizeof(message)];
    size_t got = 0;
    while (got < sizeof(in))
    {
        ssize_t n = read(fds[1], in + got, sizeof(in) - got);
        if (n <= 0)
            return 4;
        got += (size_t)n;
    }
    async_socket_destroy(socket);
    /* The extensions are exported too: a timer fires, a cancellation is made and dropped. */
    ASYNC_TIMER_HANDLE timer = async_timer_create(engine);
    if (timer == NULL || async_timer_start(timer, 1, on_timer, &fired) != 0)
        return 6;
    wait_flag(&fired);
    async_timer_destroy(timer);
    async_cancellation_destroy(async_cancellation_create());
    execution_engine_dec_ref(engine);
    close(fds[1]);
    if (sent != 1 || fired != 1 || memcmp(in, message, sizeof(in)) != 0)
        return 5;
    printf("consumer (C): %s\n", in);
    return 0;
}
