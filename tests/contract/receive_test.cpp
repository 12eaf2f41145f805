// async_socket_receive_async (seed requirements).
// The allocation failure of receive (01_084) is tested in tests/fault/allocation_failure_test.cpp.
#include "contract/seed_helpers.h"

namespace asock_test {
namespace {

using namespace seed;

// Checks that no receive is pending: bytes the peer sends now go to the receive started next.
void expect_no_receive_pending(ASYNC_SOCKET_HANDLE socket, NativeSocket peer)
{
    ASSERT_TRUE(write_all(peer, "next", 4));
    std::vector<uint8_t> in(4);
    ASYNC_SOCKET_BUFFER buffer{in.data(), 4};
    ReceiveRecord received;
    ASSERT_EQ(0, async_socket_receive_async(socket, &buffer, 1, ReceiveRecord::callback, &received));
    ASSERT_TRUE(received.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, received.result.load());
    EXPECT_EQ(4u, received.bytes.load());
    EXPECT_EQ((std::vector<uint8_t>{'n', 'e', 'x', 't'}), in);
}

// For the receive callbacks that get no context.
std::atomic<int> g_null_context_calls{0};
std::atomic<bool> g_null_context_seen{false};
std::atomic<uint32_t> g_null_context_bytes{0};

void on_receive_without_context(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t bytes)
{
    g_null_context_seen = context == nullptr && result == ASYNC_SOCKET_RECEIVE_OK;
    g_null_context_bytes = bytes;
    g_null_context_calls++;
}

// Which callback ran with which context.
struct Tagged
{
    std::atomic<char> by{0};
    std::atomic<int> calls{0};
    std::atomic<uint32_t> bytes{0};
    Counter done;
};

void on_receive_a(void* context, ASYNC_SOCKET_RECEIVE_RESULT, uint32_t bytes)
{
    auto* tagged = static_cast<Tagged*>(context);
    tagged->by = 'A';
    tagged->bytes = bytes;
    tagged->calls++;
    tagged->done.add();
}

void on_receive_b(void* context, ASYNC_SOCKET_RECEIVE_RESULT, uint32_t bytes)
{
    auto* tagged = static_cast<Tagged*>(context);
    tagged->by = 'B';
    tagged->bytes = bytes;
    tagged->calls++;
    tagged->done.add();
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_073
TEST_P(Receive, receive_without_a_socket_fails)
{
    std::vector<uint8_t> in(8);
    ASYNC_SOCKET_BUFFER buffer{in.data(), 8};
    ReceiveRecord received;
    EXPECT_NE(0, async_socket_receive_async(nullptr, &buffer, 1, ReceiveRecord::callback, &received));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(0, received.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_074
TEST_P(Receive, receive_without_buffers_fails)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    ReceiveRecord received;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    EXPECT_NE(0, async_socket_receive_async(s.get(), nullptr, 1, ReceiveRecord::callback, &received));
    expect_no_receive_pending(s.get(), peer.get());
    EXPECT_EQ(0, received.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_086
TEST_P(Receive, receive_of_zero_buffers_fails)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    std::vector<uint8_t> in(8);
    ASYNC_SOCKET_BUFFER buffer{in.data(), 8};
    ReceiveRecord received;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    EXPECT_NE(0, async_socket_receive_async(s.get(), &buffer, 0, ReceiveRecord::callback, &received));
    expect_no_receive_pending(s.get(), peer.get());
    EXPECT_EQ(0, received.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_091
TEST_P(Receive, receive_with_a_null_buffer_fails)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    std::vector<uint8_t> in(8);
    ASYNC_SOCKET_BUFFER buffers[2] = {{in.data(), 8}, {nullptr, 8}};
    ReceiveRecord received;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    EXPECT_NE(0, async_socket_receive_async(s.get(), buffers, 2, ReceiveRecord::callback, &received));
    expect_no_receive_pending(s.get(), peer.get());
    EXPECT_EQ(0, received.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_092
TEST_P(Receive, receive_with_an_empty_buffer_fails)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    std::vector<uint8_t> in(8);
    ASYNC_SOCKET_BUFFER buffers[2] = {{in.data(), 8}, {in.data(), 0}};
    ReceiveRecord received;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    EXPECT_NE(0, async_socket_receive_async(s.get(), buffers, 2, ReceiveRecord::callback, &received));
    expect_no_receive_pending(s.get(), peer.get());
    EXPECT_EQ(0, received.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_096
TEST_P(Receive, receive_of_more_than_uint32_max_bytes_fails)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    // The lengths are checked before any memory is used: a small buffer stands for all.
    std::vector<uint8_t> in(16);
    ASYNC_SOCKET_BUFFER max_and_one[2] = {{in.data(), UINT32_MAX}, {in.data(), 1}};
    ASYNC_SOCKET_BUFFER two_halves[2] = {{in.data(), 0x80000000u}, {in.data(), 0x80000000u}};
    ReceiveRecord first, second;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    EXPECT_NE(0, async_socket_receive_async(s.get(), max_and_one, 2, ReceiveRecord::callback, &first));
    EXPECT_NE(0, async_socket_receive_async(s.get(), two_halves, 2, ReceiveRecord::callback, &second));
    expect_no_receive_pending(s.get(), peer.get());
    EXPECT_EQ(0, first.calls.load());
    EXPECT_EQ(0, second.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_075
TEST_P(Receive, receive_without_a_callback_fails)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    std::vector<uint8_t> in(8);
    ASYNC_SOCKET_BUFFER buffer{in.data(), 8};
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    EXPECT_NE(0, async_socket_receive_async(s.get(), &buffer, 1, nullptr, nullptr));
    expect_no_receive_pending(s.get(), peer.get());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_076
TEST_P(Receive, receive_accepts_a_null_context)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    std::vector<uint8_t> in(8);
    ASYNC_SOCKET_BUFFER buffer{in.data(), 8};
    g_null_context_calls = 0;
    g_null_context_seen = false;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_EQ(0, async_socket_receive_async(s.get(), &buffer, 1, on_receive_without_context, nullptr));
    ASSERT_TRUE(write_all(peer.get(), "abc", 3));
    ASSERT_TRUE(wait_until([] { return g_null_context_calls.load() == 1; }));
    EXPECT_TRUE(g_null_context_seen.load());
    EXPECT_EQ(3u, g_null_context_bytes.load());
    EXPECT_EQ('a', in[0]);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_098
TEST_P(Receive, receive_on_a_socket_never_opened_fails)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    std::vector<uint8_t> in(8);
    ASYNC_SOCKET_BUFFER buffer{in.data(), 8};
    ReceiveRecord received;
    OwnedSocket s(async_socket_create(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    EXPECT_NE(0, async_socket_receive_async(s.get(), &buffer, 1, ReceiveRecord::callback, &received));
    ASSERT_TRUE(write_all(peer.get(), "abc", 3));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(0, received.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_098
TEST_P(Receive, receive_on_a_closed_socket_fails)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    std::vector<uint8_t> in(8);
    ASYNC_SOCKET_BUFFER buffer{in.data(), 8};
    ReceiveRecord received;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    async_socket_close(s.get());
    EXPECT_NE(0, async_socket_receive_async(s.get(), &buffer, 1, ReceiveRecord::callback, &received));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(0, received.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_077
TEST_P(Receive, each_receive_calls_back_its_own_callback_with_its_own_context_and_buffers)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    std::vector<uint8_t> in_a(4, 0), in_b(4, 0);
    ASYNC_SOCKET_BUFFER buffer_a{in_a.data(), 4};
    ASYNC_SOCKET_BUFFER buffer_b{in_b.data(), 4};
    Tagged a, b;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_EQ(0, async_socket_receive_async(s.get(), &buffer_a, 1, on_receive_a, &a));
    ASSERT_EQ(0, async_socket_receive_async(s.get(), &buffer_b, 1, on_receive_b, &b));
    ASSERT_TRUE(write_all(peer.get(), "1234", 4));
    ASSERT_TRUE(a.done.wait_for(1));
    ASSERT_TRUE(write_all(peer.get(), "5678", 4));
    ASSERT_TRUE(b.done.wait_for(1));
    EXPECT_EQ('A', a.by.load());
    EXPECT_EQ('B', b.by.load());
    EXPECT_EQ(4u, a.bytes.load());
    EXPECT_EQ(4u, b.bytes.load());
    EXPECT_EQ((std::vector<uint8_t>{'1', '2', '3', '4'}), in_a);
    EXPECT_EQ((std::vector<uint8_t>{'5', '6', '7', '8'}), in_b);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_078
TEST_P(Receive, receive_keeps_its_own_copy_of_the_buffer_array)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    std::vector<uint8_t> first(5, 0), second(5, 0), decoy(10, 0);
    ReceiveRecord received;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    auto* array = new ASYNC_SOCKET_BUFFER[2];
    array[0] = ASYNC_SOCKET_BUFFER{first.data(), 5};
    array[1] = ASYNC_SOCKET_BUFFER{second.data(), 5};
    const int r = async_socket_receive_async(s.get(), array, 2, ReceiveRecord::callback, &received);
    // The caller reuses, then frees, its array while the receive is still pending.
    array[0] = ASYNC_SOCKET_BUFFER{decoy.data(), 5};
    array[1] = ASYNC_SOCKET_BUFFER{decoy.data() + 5, 5};
    delete[] array;
    ASSERT_EQ(0, r);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(write_all(peer.get(), "abcdefghij", 10));
    ASSERT_TRUE(received.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, received.result.load());
    EXPECT_EQ(10u, received.bytes.load());
    EXPECT_EQ((std::vector<uint8_t>{'a', 'b', 'c', 'd', 'e'}), first);
    EXPECT_EQ((std::vector<uint8_t>{'f', 'g', 'h', 'i', 'j'}), second);
    EXPECT_EQ(std::vector<uint8_t>(10, 0), decoy);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_079
// Tests_SRS_ASYNC_SOCKET_LINUX_01_082
TEST_P(Receive, receive_fills_the_buffers_in_order)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    const auto data = pattern(12 + 1000, 21);
    std::vector<uint8_t> a(3, 0), b(4, 0), d(5, 0), big(2000, 0);
    ASYNC_SOCKET_BUFFER buffers[4] = {{a.data(), 3}, {b.data(), 4}, {d.data(), 5}, {big.data(), 2000}};
    ReceiveRecord received;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    // All the data is there before the receive starts: one receive takes it all.
    ASSERT_TRUE(write_all(peer.get(), data.data(), data.size()));
    ASSERT_EQ(0, async_socket_receive_async(s.get(), buffers, 4, ReceiveRecord::callback, &received));
    ASSERT_TRUE(received.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, received.result.load());
    ASSERT_EQ(data.size(), received.bytes.load());
    EXPECT_EQ(std::vector<uint8_t>(data.begin(), data.begin() + 3), a);
    EXPECT_EQ(std::vector<uint8_t>(data.begin() + 3, data.begin() + 7), b);
    EXPECT_EQ(std::vector<uint8_t>(data.begin() + 7, data.begin() + 12), d);
    EXPECT_TRUE(std::equal(data.begin() + 12, data.end(), big.begin()));
    EXPECT_EQ(0, big[1000]);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_082
// Tests_SRS_ASYNC_SOCKET_LINUX_01_055
TEST_P(Receive, a_pending_receive_on_a_blocking_handle_does_not_block_the_loop)
{
    // Both sockets are on the fixture's single loop; both handles are blocking.
    Connection quiet = local_connection();
    Connection other = local_connection();
    ScopedSocket quiet_peer(quiet.peer);
    ScopedSocket other_peer(other.peer);
    ASSERT_TRUE(is_blocking(quiet.ours));
    std::vector<uint8_t> in(8);
    ASYNC_SOCKET_BUFFER buffer{in.data(), 8};
    ReceiveRecord pending;
    OwnedSocket s(create_and_open(engine, quiet.ours));
    OwnedSocket o(create_and_open(engine, other.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_NE(nullptr, o.get());
    ASSERT_EQ(0, async_socket_receive_async(s.get(), &buffer, 1, ReceiveRecord::callback, &pending));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_TRUE(round_trip(o.get(), other_peer.get()));
    EXPECT_EQ(0, pending.calls.load());
    // And the pending receive still gets its data.
    ASSERT_TRUE(write_all(quiet_peer.get(), "hi", 2));
    ASSERT_TRUE(pending.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, pending.result.load());
    EXPECT_EQ(2u, pending.bytes.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_055
TEST_P(Receive, a_receive_stays_pending_until_data_arrives)
{
    Connection c = tcp_connection();
    ScopedSocket peer(c.peer);
    std::vector<uint8_t> in(64);
    ASYNC_SOCKET_BUFFER buffer{in.data(), 64};
    ReceiveRecord received;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_EQ(0, async_socket_receive_async(s.get(), &buffer, 1, ReceiveRecord::callback, &received));
    // Nothing to read: "try again" is not an error and does not end the receive.
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(0, received.calls.load());
    ASSERT_TRUE(write_all(peer.get(), "late data", 9));
    ASSERT_TRUE(received.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, received.result.load());
    EXPECT_EQ(9u, received.bytes.load());
    EXPECT_EQ('l', in[0]);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_083
TEST_P(Receive, receive_returns_zero_and_calls_back_exactly_once)
{
    Connection c = tcp_connection();
    ScopedSocket peer(c.peer);
    std::vector<uint8_t> in(64);
    ASYNC_SOCKET_BUFFER buffer{in.data(), 64};
    ReceiveRecord received;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    EXPECT_EQ(0, async_socket_receive_async(s.get(), &buffer, 1, ReceiveRecord::callback, &received));
    ASSERT_TRUE(write_all(peer.get(), "abc", 3));
    ASSERT_TRUE(received.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, received.result.load());
    // Nothing more: not for more data, not for the close.
    ASSERT_TRUE(write_all(peer.get(), "def", 3));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    async_socket_close(s.get());
    EXPECT_EQ(1, received.calls.load());
}

ASOCK_INSTANTIATE_CONTRACT(Receive);

}  // namespace
}  // namespace asock_test
