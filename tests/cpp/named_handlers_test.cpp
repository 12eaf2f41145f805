// Handlers given by name (lvalues) to every handler form of the C++ API: they are copied (the
// caller's stays as it was), rvalues are moved; a copy that throws starts nothing.
#include <array>
#include <atomic>
#include <memory>
#include <span>
#include <stdexcept>
#include <utility>

#include "asock/asock.hpp"
#include "contract/accept_connect_helpers.h"
#include "cpp/cpp_fixture.h"

namespace asock_test {
namespace {

using namespace std::chrono_literals;

// A copyable handler of both kinds that counts its calls and the copies made of it, and
// holds a token that a moved-from one has lost.
struct CountingHandler
{
    std::shared_ptr<int> token = std::make_shared<int>(1);
    std::atomic<int>* calls;
    std::atomic<int>* copies;
    Counter* done;

    CountingHandler(std::atomic<int>* c, std::atomic<int>* k, Counter* d) : calls(c), copies(k), done(d) {}
    CountingHandler(const CountingHandler& other) : token(other.token), calls(other.calls), copies(other.copies), done(other.done) { (*copies)++; }
    CountingHandler(CountingHandler&&) noexcept = default;
    CountingHandler& operator=(const CountingHandler&) = delete;

    void operator()(asock::io_result) noexcept { ran(); }
    void operator()(asock::connection) noexcept { ran(); }
    void ran() noexcept
    {
        (*calls)++;
        done->add();
    }
};

// A handler whose copy throws (its move does not).
struct ThrowingCopyHandler
{
    std::atomic<int>* calls;

    explicit ThrowingCopyHandler(std::atomic<int>* c) noexcept : calls(c) {}
    ThrowingCopyHandler(const ThrowingCopyHandler&) { throw std::runtime_error("no copy"); }
    ThrowingCopyHandler(ThrowingCopyHandler&&) noexcept = default;
    ThrowingCopyHandler& operator=(const ThrowingCopyHandler&) = delete;

    void operator()(asock::io_result) noexcept { (*calls)++; }
    void operator()(asock::connection) noexcept { (*calls)++; }
};

struct MoveOnlyHandler
{
    std::unique_ptr<int> owned;
    void operator()(asock::io_result) noexcept {}
    void operator()(asock::connection) noexcept {}
};

// Whether each handler form takes an H (H& for a named one).
template <typename H>
concept opens_with = requires(asock::socket& s, H&& h) { s.open(std::forward<H>(h)); };
template <typename H>
concept sends_with = requires(asock::socket& s, std::span<const std::byte> bytes, std::span<const asock::buffer> buffers, H&& h) {
    s.send(bytes, std::forward<H>(h));
    s.send(buffers, std::forward<H>(h));
};
template <typename H>
concept receives_with = requires(asock::socket& s, std::span<std::byte> bytes, std::span<const asock::buffer> buffers, H&& h) {
    s.receive(bytes, std::forward<H>(h));
    s.receive(buffers, std::forward<H>(h));
};
template <typename H>
concept accepts_with = requires(asock::listener& l, H&& h) { l.accept(std::forward<H>(h)); };
template <typename H>
concept connects_with = requires(asock::engine& e, H&& h) { asock::connect(e, "127.0.0.1", 1, 1s, std::forward<H>(h)); };

template <typename H>
concept every_form_takes = opens_with<H> && sends_with<H> && receives_with<H> && accepts_with<H> && connects_with<H>;
template <typename H>
concept no_form_takes = !opens_with<H> && !sends_with<H> && !receives_with<H> && !accepts_with<H> && !connects_with<H>;

static_assert(every_form_takes<CountingHandler&>, "a named copyable handler is copied");
static_assert(every_form_takes<const CountingHandler&>, "a named const handler is copied");
static_assert(every_form_takes<CountingHandler>, "a temporary is moved");
static_assert(every_form_takes<MoveOnlyHandler>, "a move-only temporary is moved");
static_assert(no_form_takes<MoveOnlyHandler&>, "a named move-only handler cannot be copied: the constraint says so");

class NamedHandlers : public CppContract
{
};

TEST_P(NamedHandlers, named_handlers_are_copied_for_open_send_and_receive_and_each_copy_runs)
{
    asock::engine e = cpp_engine();
    Connection c = tcp_connection();
    asock::socket s(e, c.ours);
    std::atomic<int> calls{0};
    std::atomic<int> copies{0};
    Counter done;
    CountingHandler handler(&calls, &copies, &done);

    ASSERT_FALSE(s.open(handler));
    ASSERT_TRUE(done.wait_for(1));
    static const std::array<std::byte, 2> out{std::byte{1}, std::byte{2}};
    const std::array<asock::buffer, 1> out_buffers{asock::make_buffer(std::span(out))};
    ASSERT_FALSE(s.send(std::span(out), handler));
    ASSERT_FALSE(s.send(std::span(out_buffers), handler));
    EXPECT_EQ(4u, read_exactly(c.peer, 4).size());
    std::array<std::byte, 1> first{};
    std::array<std::byte, 1> second{};
    const std::array<asock::buffer, 1> in_buffers{asock::make_buffer(std::span<std::byte>(second))};
    ASSERT_FALSE(s.receive(std::span(first), handler));
    ASSERT_FALSE(s.receive(std::span(in_buffers), handler));
    ASSERT_TRUE(write_all(c.peer, "ab", 2));
    ASSERT_TRUE(done.wait_for(5));

    EXPECT_EQ(5, calls.load());
    EXPECT_EQ(5, copies.load());
    ASSERT_TRUE(handler.token) << "the named handler was moved from";
    s.close();
    EXPECT_EQ(1, handler.token.use_count()) << "the copies were not destroyed after their calls";
    close_socket(c.peer);
}

TEST_P(NamedHandlers, named_handlers_are_copied_for_accept_and_connect_and_each_copy_runs)
{
    asock::engine e = cpp_engine();
    std::atomic<int> calls{0};
    std::atomic<int> copies{0};
    Counter done;
    CountingHandler handler(&calls, &copies, &done);
    {
        asock::listener server(e, "127.0.0.1", 0);
        ASSERT_FALSE(server.accept(handler));
        ASSERT_FALSE(asock::connect(e, "127.0.0.1", server.port(), 5s, handler));
        ASSERT_TRUE(done.wait_for(2));
    }
    EXPECT_EQ(2, calls.load());
    EXPECT_EQ(2, copies.load());
    ASSERT_TRUE(handler.token) << "the named handler was moved from";
    // The connect's copy is destroyed right after its call returns, on the thread that ran it;
    // nothing the test holds waits for that thread (the listener's destroy waits only for its
    // accept), so the count may reach 1 a moment after `done`.
    EXPECT_TRUE(wait_until([&] { return handler.token.use_count() == 1; })) << "the copies were not destroyed after their calls";
}

TEST_P(NamedHandlers, temporary_handlers_are_moved_not_copied)
{
    asock::engine e = cpp_engine();
    Connection c = tcp_connection();
    asock::socket s(e, c.ours);
    std::atomic<int> calls{0};
    std::atomic<int> copies{0};
    Counter done;
    ASSERT_FALSE(s.open(CountingHandler(&calls, &copies, &done)));
    ASSERT_TRUE(done.wait_for(1));
    static const std::array<std::byte, 1> out{std::byte{1}};
    ASSERT_FALSE(s.send(std::span(out), CountingHandler(&calls, &copies, &done)));
    asock::listener server(e, "127.0.0.1", 0);
    ASSERT_FALSE(server.accept(CountingHandler(&calls, &copies, &done)));
    ASSERT_FALSE(asock::connect(e, "127.0.0.1", server.port(), 5s, CountingHandler(&calls, &copies, &done)));
    ASSERT_TRUE(done.wait_for(4));
    EXPECT_EQ(0, copies.load());
    close_socket(c.peer);
}

TEST_P(NamedHandlers, a_named_handler_whose_copy_throws_starts_nothing_and_the_exception_reaches_the_caller)
{
    asock::engine e = cpp_engine();
    Connection c = tcp_connection();
    asock::socket s = open_cpp_socket(e, c.ours);
    asock::listener server(e, "127.0.0.1", 0);
    std::atomic<int> calls{0};
    ThrowingCopyHandler handler(&calls);
    static const std::array<std::byte, 3> out{std::byte{'o'}, std::byte{'u'}, std::byte{'t'}};
    std::array<std::byte, 8> in{};

    EXPECT_THROW((void)s.send(std::span(out), handler), std::runtime_error);
    EXPECT_THROW((void)s.receive(std::span(in), handler), std::runtime_error);
    EXPECT_THROW((void)server.accept(handler), std::runtime_error);
    EXPECT_THROW((void)asock::connect(e, "127.0.0.1", server.port(), 5s, handler), std::runtime_error);

    // Nothing went out, nothing waits for the peer's bytes, nothing was accepted.
    ASSERT_TRUE(write_all(c.peer, "x", 1));
    Counter received;
    asock::io_result result{asock::result::error, 0};
    ASSERT_FALSE(s.receive(std::span(in), [&](asock::io_result r) {
        result = r;
        received.add();
    }));
    ASSERT_TRUE(received.wait_for(1));
    EXPECT_EQ(1u, result.bytes);
    char byte = 0;
    EXPECT_EQ(-1, read_some(c.peer, &byte, 1, 100ms)) << "a refused send sent bytes";
    server.close();
    EXPECT_EQ(0, calls.load());
    close_socket(c.peer);
}

ASOCK_INSTANTIATE_CONTRACT(NamedHandlers);

}  // namespace
}  // namespace asock_test
