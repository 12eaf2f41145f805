// The C++ API (asock.hpp) on every backend of the platform: handlers, coroutines, RAII, and
// the same exactly-once contract as the C API it wraps.
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "asock/asock.hpp"
#include "cpp/cpp_fixture.h"

// Every operator new of this test program is counted, so that a test can check that
// steady-state operations do not allocate. (The replacements pair malloc with free, which
// GCC cannot see across the replaced functions.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
namespace {
std::atomic<uint64_t> g_allocations{0};
}

void* operator new(std::size_t size)
{
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* memory = std::malloc(size == 0 ? 1 : size))
        return memory;
    throw std::bad_alloc();
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept
{
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(size == 0 ? 1 : size);
}
void operator delete(void* memory) noexcept { std::free(memory); }
void operator delete(void* memory, std::size_t) noexcept { std::free(memory); }

namespace asock_test {
namespace {

asock::result expected_after_close() { return kPlatform.receive_result_after_close == ASYNC_SOCKET_RECEIVE_ABANDONED ? asock::result::abandoned : asock::result::error; }

class CppApi : public CppContract
{
};

std::span<const std::byte> bytes_of(const std::vector<uint8_t>& data) { return std::as_bytes(std::span(data)); }

TEST_P(CppApi, send_and_receive_complete_through_lambdas_with_the_bytes)
{
    asock::engine e = cpp_engine();
    Connection c = tcp_connection();
    asock::socket s = open_cpp_socket(e, c.ours);

    const auto data = pattern(3000);
    Counter sent;
    asock::io_result send_result{asock::result::error, 0};
    ASSERT_FALSE(s.send(bytes_of(data), [&](asock::io_result r) {
        send_result = r;
        sent.add();
    }));
    ASSERT_TRUE(sent.wait_for(1));
    EXPECT_TRUE(send_result);
    EXPECT_EQ(3000u, send_result.bytes);
    EXPECT_EQ(data, read_exactly(c.peer, data.size()));

    std::array<std::byte, 100> in{};
    Counter received;
    asock::io_result receive_result{asock::result::error, 0};
    ASSERT_FALSE(s.receive(std::span(in), [&](asock::io_result r) {
        receive_result = r;
        received.add();
    }));
    ASSERT_TRUE(write_all(c.peer, data.data(), 100));
    ASSERT_TRUE(received.wait_for(1));
    EXPECT_EQ(asock::result::ok, receive_result.status);
    EXPECT_EQ(100u, receive_result.bytes);
    EXPECT_EQ(0, std::memcmp(in.data(), data.data(), 100));
    close_socket(c.peer);
}

TEST_P(CppApi, a_move_only_handler_is_accepted_and_destroyed_after_its_call)
{
    asock::engine e = cpp_engine();
    Connection c = tcp_connection();
    asock::socket s = open_cpp_socket(e, c.ours);

    auto owned = std::make_shared<int>(7);
    std::weak_ptr<int> watch = owned;
    Counter done;
    std::atomic<int> seen{0};
    auto unique = std::make_unique<std::shared_ptr<int>>(std::move(owned));
    const auto data = pattern(10);
    ASSERT_FALSE(s.send(bytes_of(data), [&, p = std::move(unique)](asock::io_result r) {
        seen = r ? **p : -1;
        done.add();
    }));
    ASSERT_TRUE(done.wait_for(1));
    EXPECT_EQ(7, seen.load());
    // The handler (and what it owns) is gone once it has run.
    for (int i = 0; i < 100 && !watch.expired(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_TRUE(watch.expired());
    close_socket(c.peer);
}

TEST_P(CppApi, a_refused_operation_returns_an_error_and_its_handler_never_runs)
{
    asock::engine e = cpp_engine();
    Connection c = tcp_connection();
    asock::socket s(e, c.ours);  // never opened

    auto owned = std::make_shared<int>(1);
    std::weak_ptr<int> watch = owned;
    std::atomic<int> calls{0};
    const auto data = pattern(10);
    const std::error_code error = s.send(bytes_of(data), [&calls, p = std::move(owned)](asock::io_result) { calls++; });
    EXPECT_EQ(make_error_code(asock::result::abandoned), error);
    EXPECT_TRUE(watch.expired()) << "the refused handler was not destroyed";

    std::array<std::byte, 8> in{};
    EXPECT_TRUE(s.receive(std::span(in), [&calls](asock::io_result) { calls++; }));
    EXPECT_EQ(0, calls.load());
    close_socket(c.peer);
}

TEST_P(CppApi, close_completes_a_pending_receive_exactly_once)
{
    asock::engine e = cpp_engine();
    Connection c = tcp_connection();
    asock::socket s = open_cpp_socket(e, c.ours);

    std::array<std::byte, 8> in{};
    std::atomic<int> calls{0};
    std::atomic<asock::result> status{asock::result::ok};
    ASSERT_FALSE(s.receive(std::span(in), [&](asock::io_result r) {
        status = r.status;
        calls++;
    }));
    s.close();
    EXPECT_EQ(1, calls.load()) << "the handler must have run when close returns";
    EXPECT_EQ(expected_after_close(), status.load());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(1, calls.load());
    close_socket(c.peer);
}

TEST_P(CppApi, the_destructor_completes_pending_operations_before_it_returns)
{
    asock::engine e = cpp_engine();
    Connection c = tcp_connection();
    std::array<std::byte, 8> in{};
    std::atomic<int> calls{0};
    {
        asock::socket s = open_cpp_socket(e, c.ours);
        ASSERT_FALSE(s.receive(std::span(in), [&](asock::io_result) { calls++; }));
    }
    EXPECT_EQ(1, calls.load());
    close_socket(c.peer);
}

TEST_P(CppApi, error_codes_name_their_result)
{
    const std::error_code abandoned = asock::result::abandoned;
    EXPECT_STREQ("asock", abandoned.category().name());
    EXPECT_NE(std::string::npos, abandoned.message().find("abandoned"));
    EXPECT_FALSE(asock::io_result{}.error());
    EXPECT_EQ(make_error_code(asock::result::error), (asock::io_result{asock::result::error, 0}.error()));
}

// --- Coroutines ------------------------------------------------------------------------------

struct EchoOnce
{
    std::array<std::byte, 256> buffer{};
    asock::io_result received{asock::result::error, 0};
    asock::io_result sent{asock::result::error, 0};
    Counter done;
};

asock::task receive_then_echo(asock::socket& s, EchoOnce& state)
{
    state.received = co_await s.receive(std::span(state.buffer));
    if (state.received)
        state.sent = co_await s.send(std::span<const std::byte>(state.buffer).first(state.received.bytes));
    state.done.add();
}

TEST_P(CppApi, a_coroutine_awaits_a_receive_then_a_send)
{
    asock::engine e = cpp_engine();
    Connection c = tcp_connection();
    asock::socket s = open_cpp_socket(e, c.ours);
    EchoOnce state;
    receive_then_echo(s, state);
    const auto data = pattern(200);
    ASSERT_TRUE(write_all(c.peer, data.data(), data.size()));
    EXPECT_EQ(data, read_exactly(c.peer, 200));
    ASSERT_TRUE(state.done.wait_for(1));
    EXPECT_EQ(200u, state.received.bytes);
    EXPECT_TRUE(state.sent);
    EXPECT_EQ(200u, state.sent.bytes);
    close_socket(c.peer);
}

asock::task open_and_receive(asock::socket& s, EchoOnce& state)
{
    const asock::io_result opened = co_await s.open();
    if (opened)
        state.received = co_await s.receive(std::span(state.buffer));
    state.done.add();
}

TEST_P(CppApi, closing_resumes_an_awaiting_coroutine_once_with_a_non_ok_result)
{
    asock::engine e = cpp_engine();
    Connection c = tcp_connection();
    asock::socket s(e, c.ours);
    EchoOnce state;
    open_and_receive(s, state);
    // Wait until the receive is pending: the peer's byte is received, then the next one waits.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    s.close();
    ASSERT_TRUE(state.done.wait_for(1));
    EXPECT_EQ(expected_after_close(), state.received.status);
    EXPECT_EQ(1u, state.done.value());
    close_socket(c.peer);
}

TEST_P(CppApi, awaiting_on_a_socket_that_is_not_open_resumes_at_once_with_an_error)
{
    asock::engine e = cpp_engine();
    Connection c = tcp_connection();
    asock::socket s(e, c.ours);
    EchoOnce state;
    receive_then_echo(s, state);  // never opened: refused synchronously
    ASSERT_TRUE(state.done.wait_for(1));
    EXPECT_EQ(asock::result::error, state.received.status);
    close_socket(c.peer);
}

// --- Steady state without the heap -------------------------------------------------------------

// Two asock sockets on one engine play ping-pong from their handlers: each handler starts the
// next operation, as a server does.
struct PingPong
{
    asock::socket* a = nullptr;
    asock::socket* b = nullptr;
    std::array<std::byte, 64> out{};
    std::array<std::byte, 64> at_b{};
    std::array<std::byte, 64> at_a{};
    std::atomic<uint32_t> left{0};
    uint32_t measured = 0;
    std::atomic<uint64_t> allocations_at_start{0};
    std::atomic<uint64_t> allocations_at_end{0};
    std::atomic<bool> failed{false};
    Counter finished;

    void ping()
    {
        if (a->send(std::span<const std::byte>(out), [this](asock::io_result r) { check(r); }) || b->receive(std::span(at_b), [this](asock::io_result r) { pong(r); }))
            fail();
    }
    void pong(asock::io_result r)
    {
        if (!check(r) || b->send(std::span<const std::byte>(at_b).first(r.bytes), [this](asock::io_result s) { check(s); }) ||
            a->receive(std::span(at_a), [this](asock::io_result s) { back(s); }))
            fail();
    }
    void back(asock::io_result r)
    {
        if (!check(r))
            return;
        const uint32_t now_left = left.fetch_sub(1) - 1;
        // The measured window: the last `measured` round trips, all started from handlers
        // (the first ping came from the test's thread, whose memory is not recycled here).
        if (now_left == measured)
            allocations_at_start = g_allocations.load();
        if (now_left == 0)
        {
            allocations_at_end = g_allocations.load();
            finished.add();
        }
        else
        {
            ping();
        }
    }
    bool check(asock::io_result r)
    {
        if (!r)
            fail();
        return static_cast<bool>(r);
    }
    void fail()
    {
        failed = true;
        finished.add();
    }
};

TEST_P(CppApi, steady_state_operations_with_small_handlers_do_not_touch_the_heap)
{
    asock::engine e = cpp_engine();
    Connection c = tcp_connection();
    asock::socket a = open_cpp_socket(e, c.ours);
    asock::socket b = open_cpp_socket(e, as_handle(c.peer));  // asock owns both ends
    PingPong game;
    game.a = &a;
    game.b = &b;

    // Warm-up: the library's recycled memory fills.
    game.left = 200;
    game.ping();
    ASSERT_TRUE(game.finished.wait_for(1));
    ASSERT_FALSE(game.failed.load());

    game.measured = 1000;
    game.left = 1100;
    game.ping();
    ASSERT_TRUE(game.finished.wait_for(2));
    ASSERT_FALSE(game.failed.load());
    const uint64_t allocations = game.allocations_at_end.load() - game.allocations_at_start.load();
    if (kPlatform.operation_memory_is_recycled)
        EXPECT_EQ(0u, allocations) << "operator new calls during 1,000 round trips";
    else
        GTEST_SKIP() << "this backend allocates a context per operation (the seed's design): " << allocations << " allocations";
}

ASOCK_INSTANTIATE_CONTRACT(CppApi);

}  // namespace
}  // namespace asock_test
