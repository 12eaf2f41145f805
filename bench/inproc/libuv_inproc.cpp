// libuv-inproc: the in-process benchmark of libuv (see inproc.h). The loop runs on the main
// thread; the sockets are uv_tcp_t handles opened on the connected descriptors. libuv reads
// continuously (uv_read_start), asking alloc_cb for memory before each read.
#include <uv.h>

#include <cstdlib>

#include "inproc.h"

namespace {

using inproc::kMessageSize;
using inproc::kReceiveBufferSize;

void check(int status, const char* what)
{
    if (status < 0)
        inproc::fail(std::string(what) + ": " + uv_strerror(status));
}

// ---- ping-pong ----

struct PingPong
{
    explicit PingPong(inproc::RoundTripPlan& round_trips) : plan(round_trips) {}

    inproc::RoundTripPlan& plan;
    uv_loop_t loop;
    uv_tcp_t a;
    uv_tcp_t b;
    uv_write_t a_write;
    uv_write_t b_write;
    bool a_sending = false;
    bool b_sending = false;
    uint32_t a_filled = 0;
    uint32_t b_filled = 0;
    uint8_t a_out[kMessageSize];
    uint8_t a_in[kReceiveBufferSize];
    uint8_t b_in[kReceiveBufferSize];
};

PingPong& ping_pong_of(uv_handle_t* handle)
{
    return *static_cast<PingPong*>(handle->data);
}

void a_start_round_trip(PingPong& pp);

// A's round trip ends when the echo is complete and its own write has completed: only then
// may a_out be rewritten and a_write reused.
void a_finish_if_done(PingPong& pp)
{
    if (pp.a_sending || pp.a_filled < kMessageSize)
        return;
    inproc::check_message(pp.a_in, pp.a_filled, pp.plan.index());
    if (!pp.plan.finish_round_trip())
    {
        a_start_round_trip(pp);
        return;
    }
    // Without readers the loop runs out of active handles and uv_run returns.
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&pp.a));
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&pp.b));
}

void on_a_written(uv_write_t* request, int status)
{
    check(status, "A: write");
    PingPong& pp = ping_pong_of(reinterpret_cast<uv_handle_t*>(request->handle));
    pp.a_sending = false;
    a_finish_if_done(pp);
}

void a_start_round_trip(PingPong& pp)
{
    inproc::fill_message(pp.a_out, pp.plan.index());
    pp.a_sending = true;
    pp.a_filled = 0;
    const uv_buf_t out = uv_buf_init(reinterpret_cast<char*>(pp.a_out), kMessageSize);
    check(uv_write(&pp.a_write, reinterpret_cast<uv_stream_t*>(&pp.a), &out, 1, on_a_written), "A: uv_write");
}

void on_a_alloc(uv_handle_t* handle, size_t, uv_buf_t* buffer)
{
    PingPong& pp = ping_pong_of(handle);
    *buffer = uv_buf_init(reinterpret_cast<char*>(pp.a_in + pp.a_filled), kReceiveBufferSize - pp.a_filled);
}

void on_a_read(uv_stream_t* stream, ssize_t bytes, const uv_buf_t*)
{
    check(static_cast<int>(bytes), "A: read");
    PingPong& pp = ping_pong_of(reinterpret_cast<uv_handle_t*>(stream));
    pp.a_filled += static_cast<uint32_t>(bytes);
    a_finish_if_done(pp);
}

void on_b_written(uv_write_t* request, int status)
{
    check(status, "B: write");
    ping_pong_of(reinterpret_cast<uv_handle_t*>(request->handle)).b_sending = false;
}

// B echoes from its receive buffer. It is read into again only after A has received the
// echo and sent the next message, by which time the write's callback has run (checked).
void on_b_alloc(uv_handle_t* handle, size_t, uv_buf_t* buffer)
{
    PingPong& pp = ping_pong_of(handle);
    if (pp.b_sending)
        inproc::fail("B: the echo's write is still in progress");
    *buffer = uv_buf_init(reinterpret_cast<char*>(pp.b_in + pp.b_filled), kReceiveBufferSize - pp.b_filled);
}

void on_b_read(uv_stream_t* stream, ssize_t bytes, const uv_buf_t*)
{
    check(static_cast<int>(bytes), "B: read");
    PingPong& pp = ping_pong_of(reinterpret_cast<uv_handle_t*>(stream));
    pp.b_filled += static_cast<uint32_t>(bytes);
    if (pp.b_filled < kMessageSize)
        return;
    if (pp.b_filled > kMessageSize)
        inproc::fail("B: more than one message arrived");
    pp.b_filled = 0;
    pp.b_sending = true;
    const uv_buf_t out = uv_buf_init(reinterpret_cast<char*>(pp.b_in), kMessageSize);
    check(uv_write(&pp.b_write, stream, &out, 1, on_b_written), "B: uv_write");
}

void open_tcp(uv_loop_t* loop, uv_tcp_t* tcp, int fd, void* data)
{
    check(uv_tcp_init(loop, tcp), "uv_tcp_init");
    check(uv_tcp_open(tcp, fd), "uv_tcp_open");
    tcp->data = data;
}

void close_loop(uv_loop_t* loop)
{
    uv_run(loop, UV_RUN_DEFAULT);  // runs the close callbacks
    check(uv_loop_close(loop), "uv_loop_close");
}

void ping_pong(const inproc::Options&, inproc::RoundTripPlan& plan)
{
    PingPong pp(plan);
    check(uv_loop_init(&pp.loop), "uv_loop_init");
    const inproc::SocketPair pair = inproc::make_tcp_pairs(1)[0];
    open_tcp(&pp.loop, &pp.a, pair.a, &pp);
    open_tcp(&pp.loop, &pp.b, pair.b, &pp);
    check(uv_read_start(reinterpret_cast<uv_stream_t*>(&pp.a), on_a_alloc, on_a_read), "A: uv_read_start");
    check(uv_read_start(reinterpret_cast<uv_stream_t*>(&pp.b), on_b_alloc, on_b_read), "B: uv_read_start");
    a_start_round_trip(pp);
    uv_run(&pp.loop, UV_RUN_DEFAULT);

    uv_close(reinterpret_cast<uv_handle_t*>(&pp.a), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&pp.b), nullptr);
    close_loop(&pp.loop);
}

// ---- sockets ----

void on_idle_alloc(uv_handle_t*, size_t, uv_buf_t* buffer)
{
    static char receive_buffer[kMessageSize];
    *buffer = uv_buf_init(receive_buffer, sizeof(receive_buffer));
}

void on_idle_read(uv_stream_t*, ssize_t bytes, const uv_buf_t*)
{
    if (bytes != 0)
        inproc::fail("an idle socket read data or failed");
}

void free_handle(uv_handle_t* handle)
{
    std::free(handle);
}

uv_tcp_t* new_tcp(uv_loop_t* loop, int fd)
{
    auto* tcp = static_cast<uv_tcp_t*>(std::malloc(sizeof(uv_tcp_t)));
    if (tcp == nullptr)
        inproc::fail("out of memory");
    open_tcp(loop, tcp, fd, nullptr);
    return tcp;
}

void measure_sockets(const inproc::Options& options, inproc::SocketBytesMeter& meter)
{
    uv_loop_t loop;
    check(uv_loop_init(&loop), "uv_loop_init");
    const std::vector<inproc::SocketPair> pairs = inproc::make_tcp_pairs(options.socket_count / 2);
    std::vector<uv_tcp_t*> sockets;
    sockets.reserve(pairs.size() * 2);

    meter.start();
    for (const inproc::SocketPair& pair : pairs)
    {
        sockets.push_back(new_tcp(&loop, pair.a));
        sockets.push_back(new_tcp(&loop, pair.b));
    }
    meter.idle_reached();

    for (uv_tcp_t* tcp : sockets)
        check(uv_read_start(reinterpret_cast<uv_stream_t*>(tcp), on_idle_alloc, on_idle_read), "uv_read_start");
    // libuv applies watcher changes (epoll_ctl) in its next poll.
    uv_run(&loop, UV_RUN_NOWAIT);
    meter.pending_reached();

    for (uv_tcp_t* tcp : sockets)
        uv_close(reinterpret_cast<uv_handle_t*>(tcp), free_handle);
    close_loop(&loop);
}

}  // namespace

int main(int argc, char** argv)
{
    return inproc::run(argc, argv, {false, ping_pong, measure_sockets});
}
