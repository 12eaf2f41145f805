/* bench-echo-libuv: the benchmark echo server on libuv: uv_tcp_t listen/accept,
   uv_read_start with an alloc_cb that hands out the connection's 64 KiB buffer, and the echo
   of exactly the bytes read as 1 or 2 uv_buf_t.

   The echo is written the way Node.js writes to a libuv stream: uv_try_write first (one
   write/writev that needs no request and no callback), and only what the socket did not
   take goes through uv_write. While such a write is pending the buffer is still in use, so
   reading stops until its callback; stopping on every echo would cost an epoll_ctl each. */
#include <signal.h>
#include <stdlib.h>
#include <uv.h>

#include "bench_server.h"

typedef struct CONNECTION
{
    uv_tcp_t handle; /* first: the handle's address is the connection's */
    uv_write_t write;
    char buffer[BENCH_BUFFER_SIZE];
} CONNECTION;

static int gather;

static void on_closed(uv_handle_t* handle)
{
    free(handle->data);
}

static void end_connection(CONNECTION* connection)
{
    if (!uv_is_closing((uv_handle_t*)&connection->handle))
        uv_close((uv_handle_t*)&connection->handle, on_closed);
}

static void on_alloc(uv_handle_t* handle, size_t suggested_size, uv_buf_t* buffer)
{
    (void)suggested_size;
    CONNECTION* connection = handle->data;
    *buffer = uv_buf_init(connection->buffer, sizeof(connection->buffer));
}

static void on_read(uv_stream_t* stream, ssize_t bytes, const uv_buf_t* buffer);

static void start_reading(CONNECTION* connection)
{
    if (uv_read_start((uv_stream_t*)&connection->handle, on_alloc, on_read) != 0)
        end_connection(connection);
}

static void on_written(uv_write_t* request, int status)
{
    CONNECTION* connection = request->data;
    if (status == 0)
        start_reading(connection);
    else
        end_connection(connection);
}

/* The bytes [from, end) of base as uv_buf_t, split at head (--gather) when head is inside. */
static unsigned echo_buffers(char* base, size_t from, size_t head, size_t end, uv_buf_t out[2])
{
    if (from < head && head < end)
    {
        out[0] = uv_buf_init(base + from, (unsigned)(head - from));
        out[1] = uv_buf_init(base + head, (unsigned)(end - head));
        return 2;
    }
    out[0] = uv_buf_init(base + from, (unsigned)(end - from));
    return 1;
}

static void on_read(uv_stream_t* stream, ssize_t bytes, const uv_buf_t* buffer)
{
    CONNECTION* connection = stream->data;
    if (bytes < 0)
        end_connection(connection);
    if (bytes <= 0) /* 0: EAGAIN, nothing read this time */
        return;
    const size_t end = (size_t)bytes;
    const size_t head = gather ? bench_gather_head(end) : end;
    uv_buf_t out[2];
    int written = uv_try_write(stream, out, echo_buffers(buffer->base, 0, head, end, out));
    if (written == UV_EAGAIN)
        written = 0;
    if (written < 0)
    {
        end_connection(connection);
        return;
    }
    if ((size_t)written == end)
        return;
    uv_read_stop(stream);
    connection->write.data = connection;
    if (uv_write(&connection->write, stream, out, echo_buffers(buffer->base, (size_t)written, head, end, out), on_written) != 0)
        end_connection(connection);
}

static void on_connection(uv_stream_t* listener, int status)
{
    CONNECTION* connection = status == 0 ? malloc(sizeof(*connection)) : NULL;
    if (connection == NULL)
        return;
    uv_tcp_init(listener->loop, &connection->handle);
    connection->handle.data = connection;
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
    if (bench_parse_options(argc, argv, 0, &options) != 0)
        return 1;
    gather = options.gather;
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
