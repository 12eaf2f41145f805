/* asock-echo-client: connects to an echo server with async_socket_connect_async, sends one
   message and waits for it to come back, all in callbacks; main waits for the end.

   Usage: asock-echo-client [--address A | --host NAME] [--port N]   (defaults "127.0.0.1", 7000)
   --host connects by name (async_socket_connect_by_name_async: the name is resolved and its
   addresses raced, IPv6 first, Happy Eyeballs). Exit status 0 when the echo matched. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asock/async_resolve.h"
#include "asock/async_socket.h"
#include "asock/async_socket_listener.h"
#include "asock/execution_engine.h"

static const char message[] = "hello, asock";

typedef struct CLIENT
{
    ASYNC_SOCKET_HANDLE socket;
    char in[sizeof(message)];
    uint32_t received;
    int status; /* 0 running, 1 echoed, -1 failed */
    pthread_mutex_t lock;
    pthread_cond_t done;
} CLIENT;

static void finish(CLIENT* client, int status)
{
    pthread_mutex_lock(&client->lock);
    client->status = status;
    pthread_cond_signal(&client->done);
    pthread_mutex_unlock(&client->lock);
}

static void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t bytes);

static void receive_rest(CLIENT* client)
{
    ASYNC_SOCKET_BUFFER in = {client->in + client->received, (uint32_t)sizeof(message) - client->received};
    if (async_socket_receive_async(client->socket, &in, 1, on_receive, client) != 0)
        finish(client, -1);
}

static void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t bytes)
{
    CLIENT* client = context;
    if (result != ASYNC_SOCKET_RECEIVE_OK)
        finish(client, -1);
    else if ((client->received += bytes) < sizeof(message))
        receive_rest(client);
    else
        finish(client, memcmp(client->in, message, sizeof(message)) == 0 ? 1 : -1);
}

static void on_send(void* context, ASYNC_SOCKET_SEND_RESULT result)
{
    if (result != ASYNC_SOCKET_SEND_OK)
        finish(context, -1);
}

static void on_connect(void* context, ASYNC_SOCKET_CONNECT_RESULT result, ASYNC_SOCKET_HANDLE socket, int error)
{
    CLIENT* client = context;
    if (result != ASYNC_SOCKET_CONNECT_OK)
    {
        fprintf(stderr, "asock-echo-client: connect: %s (%s)\n", ASYNC_SOCKET_CONNECT_RESULT_to_string(result), strerror(error));
        finish(client, -1);
        return;
    }
    client->socket = socket; /* already open */
    ASYNC_SOCKET_BUFFER out = {(void*)message, (uint32_t)sizeof(message)};
    if (async_socket_send_async(socket, &out, 1, on_send, client) != ASYNC_SOCKET_SEND_SYNC_OK)
        finish(client, -1);
    else
        receive_rest(client);
}

int main(int argc, char** argv)
{
    const char* address = "127.0.0.1";
    const char* host = NULL;
    unsigned long port = 7000;
    for (int i = 1; i + 1 < argc; i += 2)
    {
        if (strcmp(argv[i], "--address") == 0)
            address = argv[i + 1];
        else if (strcmp(argv[i], "--host") == 0)
            host = argv[i + 1];
        else if (strcmp(argv[i], "--port") == 0)
            port = strtoul(argv[i + 1], NULL, 10);
    }
    EXECUTION_ENGINE_PARAMETERS parameters = {1, 0};
    EXECUTION_ENGINE_HANDLE engine = execution_engine_create(&parameters);
    CLIENT client = {.status = 0, .lock = PTHREAD_MUTEX_INITIALIZER, .done = PTHREAD_COND_INITIALIZER};
    if (engine == NULL)
        return 1;
    const int error = host != NULL ? async_socket_connect_by_name_async(engine, host, (uint16_t)port, 2000, NULL, on_connect, &client)
                                   : async_socket_connect_async(engine, address, (uint16_t)port, 2000, on_connect, &client);
    if (error != 0)
    {
        fprintf(stderr, "asock-echo-client: connect: %s\n", strerror(error));
        execution_engine_dec_ref(engine);
        return 1;
    }

    pthread_mutex_lock(&client.lock);
    while (client.status == 0)
        pthread_cond_wait(&client.done, &client.lock);
    pthread_mutex_unlock(&client.lock);

    async_socket_destroy(client.socket); /* NULL when the connect failed: ignored */
    execution_engine_dec_ref(engine);
    if (client.status != 1)
        return 1;
    printf("asock-echo-client: \"%s\" came back\n", client.in);
    return 0;
}
