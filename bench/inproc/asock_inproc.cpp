// asock-inproc: the in-process benchmark of asock (see inproc.h), on an engine with one
// loop thread, with --backend io_uring|epoll. The main thread only sets up, then sleeps on
// a condition variable (a futex: no spinning to inflate the counts) until the loop is done.
//
// valgrind 3.19 cannot run the io_uring backend: it keeps its global lock while the loop
// thread sleeps in io_uring_enter, so the main thread, whose hand-over would wake the loop,
// never runs again (run_inproc.py kills the run and reports n/a).
#include <atomic>
#include <condition_variable>
#include <mutex>

#include "asock/async_socket.h"
#include "asock/execution_engine_linux.h"
#include "inproc.h"

namespace {

using inproc::kMessageSize;
using inproc::kReceiveBufferSize;

// Lets the main thread sleep until the loop thread has counted `count` events.
class Countdown
{
public:
    explicit Countdown(uint64_t count) : remaining_(count) {}

    void count_down()
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (--remaining_ == 0)
            done_.notify_all();
    }

    void wait()
    {
        std::unique_lock<std::mutex> lock(mutex_);
        done_.wait(lock, [this] { return remaining_ == 0; });
    }

private:
    std::mutex mutex_;
    std::condition_variable done_;
    uint64_t remaining_;
};

ASOCK_LINUX_BACKEND parse_backend(const std::string& name)
{
    if (name.empty())
        return ASOCK_LINUX_BACKEND_DEFAULT;
    if (name == "io_uring")
        return ASOCK_LINUX_BACKEND_IO_URING;
    if (name == "epoll")
        return ASOCK_LINUX_BACKEND_EPOLL;
    inproc::fail("unknown backend " + name + " (io_uring or epoll)");
}

EXECUTION_ENGINE_HANDLE create_engine(const inproc::Options& options)
{
    const ASOCK_LINUX_BACKEND backend = parse_backend(options.backend);
    if (backend == ASOCK_LINUX_BACKEND_IO_URING && !execution_engine_linux_io_uring_available())
        inproc::unavailable("the kernel does not allow io_uring");
    const EXECUTION_ENGINE_PARAMETERS one_loop = {1, 1};
    EXECUTION_ENGINE_HANDLE engine = execution_engine_linux_create(&one_loop, backend);
    if (engine == nullptr)
        inproc::fail("execution_engine_linux_create failed");
    return engine;
}

void on_open(void* context, ASYNC_SOCKET_OPEN_RESULT result)
{
    if (result != ASYNC_SOCKET_OPEN_OK)
        inproc::fail("open failed");
    static_cast<Countdown*>(context)->count_down();
}

ASYNC_SOCKET_HANDLE create_socket(EXECUTION_ENGINE_HANDLE engine, int fd)
{
    ASYNC_SOCKET_HANDLE socket = async_socket_create(engine, fd);
    if (socket == nullptr)
        inproc::fail("async_socket_create failed");
    return socket;
}

void open_socket(ASYNC_SOCKET_HANDLE socket, Countdown& opened)
{
    if (async_socket_open_async(socket, on_open, &opened) != 0)
        inproc::fail("async_socket_open_async failed");
}

// ---- ping-pong ----

struct PingPong
{
    explicit PingPong(inproc::RoundTripPlan& round_trips) : plan(round_trips) {}

    inproc::RoundTripPlan& plan;
    ASYNC_SOCKET_HANDLE a = nullptr;
    ASYNC_SOCKET_HANDLE b = nullptr;
    Countdown finished{1};
    // Set before the sockets are destroyed: B's receive, still pending, then completes
    // ABANDONED, which is no failure.
    std::atomic<bool> closing{false};
    bool a_sending = false;
    uint32_t a_filled = 0;
    uint32_t b_filled = 0;
    uint8_t a_out[kMessageSize];
    uint8_t a_in[kReceiveBufferSize];
    uint8_t b_in[kReceiveBufferSize];
};

void a_start_round_trip(PingPong& pp);

void check_result(const PingPong& pp, bool ok, const char* what)
{
    if (!ok && !pp.closing.load(std::memory_order_relaxed))
        inproc::fail(what);
}

// A's round trip ends when the echo is complete and its own send has completed: only then
// may a_out be rewritten.
void a_finish_if_done(PingPong& pp)
{
    if (pp.a_sending || pp.a_filled < kMessageSize)
        return;
    inproc::check_message(pp.a_in, pp.a_filled, pp.plan.index());
    if (pp.plan.finish_round_trip())
        pp.finished.count_down();
    else
        a_start_round_trip(pp);
}

void on_a_sent(void* context, ASYNC_SOCKET_SEND_RESULT result)
{
    auto& pp = *static_cast<PingPong*>(context);
    check_result(pp, result == ASYNC_SOCKET_SEND_OK, "A: send failed");
    pp.a_sending = false;
    a_finish_if_done(pp);
}

void on_a_received(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t bytes_received);

void a_receive(PingPong& pp)
{
    ASYNC_SOCKET_BUFFER in = {pp.a_in + pp.a_filled, kReceiveBufferSize - pp.a_filled};
    if (async_socket_receive_async(pp.a, &in, 1, on_a_received, &pp) != 0)
        inproc::fail("A: async_socket_receive_async failed");
}

void on_a_received(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t bytes_received)
{
    auto& pp = *static_cast<PingPong*>(context);
    check_result(pp, result == ASYNC_SOCKET_RECEIVE_OK, "A: receive failed");
    pp.a_filled += bytes_received;
    if (pp.a_filled < kMessageSize)
        a_receive(pp);
    else
        a_finish_if_done(pp);
}

void a_start_round_trip(PingPong& pp)
{
    inproc::fill_message(pp.a_out, pp.plan.index());
    pp.a_sending = true;
    pp.a_filled = 0;
    ASYNC_SOCKET_BUFFER out = {pp.a_out, kMessageSize};
    if (async_socket_send_async(pp.a, &out, 1, on_a_sent, &pp) != ASYNC_SOCKET_SEND_SYNC_OK)
        inproc::fail("A: async_socket_send_async failed");
    a_receive(pp);
}

void on_b_received(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t bytes_received);

void b_receive(PingPong& pp)
{
    ASYNC_SOCKET_BUFFER in = {pp.b_in + pp.b_filled, kReceiveBufferSize - pp.b_filled};
    if (async_socket_receive_async(pp.b, &in, 1, on_b_received, &pp) != 0)
        inproc::fail("B: async_socket_receive_async failed");
}

// B echoes from its receive buffer, so it receives again only once the echo is sent.
void on_b_sent(void* context, ASYNC_SOCKET_SEND_RESULT result)
{
    auto& pp = *static_cast<PingPong*>(context);
    check_result(pp, result == ASYNC_SOCKET_SEND_OK, "B: send failed");
    pp.b_filled = 0;
    b_receive(pp);
}

void on_b_received(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t bytes_received)
{
    auto& pp = *static_cast<PingPong*>(context);
    check_result(pp, result == ASYNC_SOCKET_RECEIVE_OK, "B: receive failed");
    if (result != ASYNC_SOCKET_RECEIVE_OK)
        return;
    pp.b_filled += bytes_received;
    if (pp.b_filled < kMessageSize)
    {
        b_receive(pp);
        return;
    }
    if (pp.b_filled > kMessageSize)
        inproc::fail("B: more than one message arrived");
    ASYNC_SOCKET_BUFFER out = {pp.b_in, kMessageSize};
    if (async_socket_send_async(pp.b, &out, 1, on_b_sent, &pp) != ASYNC_SOCKET_SEND_SYNC_OK)
        inproc::fail("B: async_socket_send_async failed");
}

void ping_pong(const inproc::Options& options, inproc::RoundTripPlan& plan)
{
    EXECUTION_ENGINE_HANDLE engine = create_engine(options);
    const inproc::SocketPair pair = inproc::make_tcp_pairs(1)[0];
    PingPong pp(plan);
    pp.a = create_socket(engine, pair.a);
    pp.b = create_socket(engine, pair.b);
    Countdown opened(2);
    open_socket(pp.a, opened);
    open_socket(pp.b, opened);
    opened.wait();

    // The first operations go through the loop's inbox; every later one starts in a callback.
    b_receive(pp);
    a_start_round_trip(pp);
    pp.finished.wait();

    pp.closing = true;
    async_socket_destroy(pp.a);
    async_socket_destroy(pp.b);
    execution_engine_dec_ref(engine);
}

// ---- sockets ----

// A connected pair that serves only to find out when the loop has caught up.
struct Marker
{
    ASYNC_SOCKET_HANDLE a;
    ASYNC_SOCKET_HANDLE b;
};

void on_marker_sent(void* context, ASYNC_SOCKET_SEND_RESULT result)
{
    if (result != ASYNC_SOCKET_SEND_OK)
        inproc::fail("marker: send failed");
    static_cast<Countdown*>(context)->count_down();
}

void on_marker_received(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t)
{
    if (result != ASYNC_SOCKET_RECEIVE_OK)
        inproc::fail("marker: receive failed");
    static_cast<Countdown*>(context)->count_down();
}

// Waits until the loop has taken every operation handed over before this call: it takes
// hand-overs in order and starts their I/O (epoll: registration; io_uring: submitted SQEs)
// before it can complete the marker's receive, which needs the later send.
void sync_with_loop(const Marker& marker)
{
    uint8_t out = 1;
    uint8_t in = 0;
    ASYNC_SOCKET_BUFFER out_buffer = {&out, 1};
    ASYNC_SOCKET_BUFFER in_buffer = {&in, 1};
    Countdown done(2);
    if (async_socket_receive_async(marker.b, &in_buffer, 1, on_marker_received, &done) != 0 ||
        async_socket_send_async(marker.a, &out_buffer, 1, on_marker_sent, &done) != ASYNC_SOCKET_SEND_SYNC_OK)
        inproc::fail("marker: start failed");
    done.wait();
}

Marker open_marker(EXECUTION_ENGINE_HANDLE engine)
{
    const inproc::SocketPair pair = inproc::make_tcp_pairs(1)[0];
    const Marker marker = {create_socket(engine, pair.a), create_socket(engine, pair.b)};
    Countdown opened(2);
    open_socket(marker.a, opened);
    open_socket(marker.b, opened);
    opened.wait();
    // Once now, so that the operation memory it uses is already in the pool when measuring.
    sync_with_loop(marker);
    return marker;
}

void open_all(EXECUTION_ENGINE_HANDLE engine, const std::vector<inproc::SocketPair>& pairs, std::vector<ASYNC_SOCKET_HANDLE>& sockets)
{
    for (const inproc::SocketPair& pair : pairs)
    {
        sockets.push_back(create_socket(engine, pair.a));
        sockets.push_back(create_socket(engine, pair.b));
    }
    Countdown opened(sockets.size());
    for (ASYNC_SOCKET_HANDLE socket : sockets)
        open_socket(socket, opened);
    opened.wait();
}

// The pending receives complete only when the sockets are destroyed (ABANDONED).
void on_idle_received(void*, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t)
{
    if (result == ASYNC_SOCKET_RECEIVE_OK)
        inproc::fail("an idle socket received data");
}

// Every receive goes into the same buffer: none completes with data, and the buffer is the
// program's memory, not the library's.
void start_receives(const std::vector<ASYNC_SOCKET_HANDLE>& sockets)
{
    static uint8_t receive_buffer[kMessageSize];
    for (ASYNC_SOCKET_HANDLE socket : sockets)
    {
        ASYNC_SOCKET_BUFFER in = {receive_buffer, sizeof(receive_buffer)};
        if (async_socket_receive_async(socket, &in, 1, on_idle_received, nullptr) != 0)
            inproc::fail("async_socket_receive_async failed");
    }
}

void measure_sockets(const inproc::Options& options, inproc::SocketBytesMeter& meter)
{
    EXECUTION_ENGINE_HANDLE engine = create_engine(options);
    const Marker marker = open_marker(engine);
    const std::vector<inproc::SocketPair> pairs = inproc::make_tcp_pairs(options.socket_count / 2);
    std::vector<ASYNC_SOCKET_HANDLE> sockets;
    sockets.reserve(options.socket_count);

    meter.start();
    open_all(engine, pairs, sockets);
    meter.idle_reached();
    start_receives(sockets);
    sync_with_loop(marker);
    meter.pending_reached();

    for (ASYNC_SOCKET_HANDLE socket : sockets)
        async_socket_destroy(socket);
    async_socket_destroy(marker.a);
    async_socket_destroy(marker.b);
    execution_engine_dec_ref(engine);
}

}  // namespace

int main(int argc, char** argv)
{
    return inproc::run(argc, argv, {true, ping_pong, measure_sockets});
}
