/* bench-http-libuv: the benchmark HTTP server on libuv: uv_tcp_t listen/accept, uv_read_start
   with an alloc_cb that hands out the free end of the connection's request buffer, the answers
   to every complete request (bench_http.h), and the batch written the way Node.js writes to a
   libuv stream: uv_try_write first (one write that needs no request and no callback), and only
   what the socket did not take goes through uv_write, with reading stopped until its callback
   (the response buffer is still in use). */
#include <signal.h>
#include <stdlib.h>
#include <uv.h>

#include "bench_http.h"
#include "bench_server.h"

#define SERVER_NAME "libuv"

typedef struct CONNECTION
{
    uv_tcp_t handle; /* first: the handle's address is the connection's */
    uv_write_t write;
    BENCH_HTTP http;
} CONNECTION;

static void on_closed(uv_handle_t* handle)
{
    free(handle->data);
}

static void end_connection(CONNECTION* connection)
{
    if (!uv_is_closing((uv_handle_t*)&connection->handle))
        uv_close((uv_handle_t*)&connection->handle, on_closed);
}

/* The end of a connection after its last answer is out (bench_http_shutdown). */
static void close_after_answer(CONNECTION* connection)
{
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t*)&connection->handle, &fd) == 0)
        bench_http_shutdown(fd);
    end_connection(connection);
}

static void on_alloc(uv_handle_t* handle, size_t suggested_size, uv_buf_t* buffer)
{
    (void)suggested_size;
    CONNECTION* connection = handle->data;
    BENCH_HTTP* http = &connection->http;
    *buffer = uv_buf_init((char*)http->in + http->in_length, (unsigned)(sizeof(http->in) - http->in_length));
}

static void on_read(uv_stream_t* stream, ssize_t bytes, const uv_buf_t* buffer);

static void on_written(uv_write_t* request, int status);

/* Answers and writes until the input holds no complete request (reading goes on), a write is
   pending (reading stopped until on_written) or the connection ends. */
static void respond(CONNECTION* connection)
{
    BENCH_HTTP* http = &connection->http;
    uv_stream_t* stream = (uv_stream_t*)&connection->handle;
    while (bench_http_answer(http, SERVER_NAME) > 0)
    {
        uv_buf_t out = uv_buf_init((char*)http->out, (unsigned)http->out_length);
        int written = uv_try_write(stream, &out, 1);
        if (written == UV_EAGAIN)
            written = 0;
        if (written < 0)
        {
            end_connection(connection);
            return;
        }
        if ((size_t)written < http->out_length)
        {
            uv_read_stop(stream);
            out = uv_buf_init((char*)http->out + written, (unsigned)(http->out_length - (size_t)written));
            connection->write.data = connection;
            if (uv_write(&connection->write, stream, &out, 1, on_written) != 0)
                end_connection(connection);
            return;
        }
        const BENCH_HTTP_NEXT next = bench_http_sent(http);
        if (next == BENCH_HTTP_CLOSE)
        {
            close_after_answer(connection);
            return;
        }
        if (next == BENCH_HTTP_RECEIVE)
            return;
    }
}

static void start_reading(CONNECTION* connection)
{
    if (uv_read_start((uv_stream_t*)&connection->handle, on_alloc, on_read) != 0)
        end_connection(connection);
}

static void on_written(uv_write_t* request, int status)
{
    CONNECTION* connection = request->data;
    if (status != 0)
    {
        end_connection(connection);
        return;
    }
    const BENCH_HTTP_NEXT next = bench_http_sent(&connection->http);
    if (next == BENCH_HTTP_CLOSE)
    {
        close_after_answer(connection);
        return;
    }
    start_reading(connection);
    if (next == BENCH_HTTP_ANSWER)
        respond(connection);
}

static void on_read(uv_stream_t* stream, ssize_t bytes, const uv_buf_t* buffer)
{
    (void)buffer;
    CONNECTION* connection = stream->data;
    if (bytes < 0) /* UV_EOF, an error, or UV_ENOBUFS (cannot happen: a full buffer is answered 400) */
        end_connection(connection);
    if (bytes <= 0) /* 0: EAGAIN, nothing read this time */
        return;
    connection->http.in_length += (size_t)bytes;
    respond(connection);
}

static void on_connection(uv_stream_t* listener, int status)
{
    CONNECTION* connection = status == 0 ? malloc(sizeof(*connection)) : NULL;
    if (connection == NULL)
        return;
    uv_tcp_init(listener->loop, &connection->handle);
    connection->handle.data = connection;
    bench_http_init(&connection->http);
    if (uv_accept(listener, (uv_stream_t*)&connection->handle) != 0)
    {
        end_connection(connection);
        return;
    }
    uv_tcp_nodelay(&connection->handle, 1);
    start_reading(connection);
}

/* For uv_walk at stop: connections carry their CONNECTION in data and are freed when
   closed; the server's own handles carry NULL. */
static void close_handle(uv_handle_t* handle, void* arg)
{
    (void)arg;
    if (!uv_is_closing(handle))
        uv_close(handle, handle->data != NULL ? on_closed : NULL);
}

static void on_signal(uv_signal_t* signal_handle, int signal_number)
{
    (void)signal_number;
    uv_walk(signal_handle->loop, close_handle, NULL);
}

int main(int argc, char** argv)
{
    BENCH_OPTIONS options;
    if (bench_parse_options(argc, argv, BENCH_OPTION_NO_GATHER, &options) != 0)
        return 1;
    const int listener_fd = bench_listen(options.port, 1);
    if (listener_fd < 0)
        return 1;

    uv_loop_t* loop = uv_default_loop();
    uv_tcp_t listener;
    uv_signal_t on_sigint, on_sigterm;
    uv_tcp_init(loop, &listener);
    uv_signal_init(loop, &on_sigint);
    uv_signal_init(loop, &on_sigterm);
    listener.data = on_sigint.data = on_sigterm.data = NULL;
    if (uv_tcp_open(&listener, listener_fd) != 0 || uv_listen((uv_stream_t*)&listener, SOMAXCONN, on_connection) != 0 ||
        uv_signal_start(&on_sigint, on_signal, SIGINT) != 0 || uv_signal_start(&on_sigterm, on_signal, SIGTERM) != 0)
        return 1;
    bench_announce(listener_fd);
    uv_run(loop, UV_RUN_DEFAULT); /* returns once on_signal has closed every handle */
    return uv_loop_close(loop) == 0 ? 0 : 1;
}
