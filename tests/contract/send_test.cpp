// async_socket_send_async (seed requirements).
// The allocation failure of send (01_029) is tested in tests/fault/allocation_failure_test.cpp.
#include "contract/seed_helpers.h"

namespace asock_test {
namespace {

using namespace seed;

// Checks that nothing was sent: the bytes sent next are the first the peer gets.
void expect_nothing_sent_before(ASYNC_SOCKET_HANDLE socket, NativeSocket peer)
{
    char next[] = "next";
    ASYNC_SOCKET_BUFFER buffer{next, 4};
    SendRecord sent;
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(socket, &buffer, 1, SendRecord::callback, &sent));
    ASSERT_TRUE(sent.done.wait_for(1));
    EXPECT_EQ((std::vector<uint8_t>{'n', 'e', 'x', 't'}), read_exactly(peer, 4));
}

// For the send callbacks that get no context.
std::atomic<int> g_null_context_calls{0};
std::atomic<bool> g_null_context_seen{false};
std::atomic<ASYNC_SOCKET_SEND_RESULT> g_null_context_result{ASYNC_SOCKET_SEND_ERROR};

void on_send_without_context(void* context, ASYNC_SOCKET_SEND_RESULT result)
{
    g_null_context_seen = context == nullptr;
    g_null_context_result = result;
    g_null_context_calls++;
}

// Which callback ran with which context.
struct Tagged
{
    std::atomic<char> by{0};
    std::atomic<int> calls{0};
    std::atomic<ASYNC_SOCKET_SEND_RESULT> result{ASYNC_SOCKET_SEND_ERROR};
    Counter done;
};

void on_send_a(void* context, ASYNC_SOCKET_SEND_RESULT result)
{
    auto* tagged = static_cast<Tagged*>(context);
    tagged->by = 'A';
    tagged->result = result;
    tagged->calls++;
    tagged->done.add();
}

void on_send_b(void* context, ASYNC_SOCKET_SEND_RESULT result)
{
    auto* tagged = static_cast<Tagged*>(context);
    tagged->by = 'B';
    tagged->result = result;
    tagged->calls++;
    tagged->done.add();
}

// Checks how sends on a connection the peer reset or closed failed: on Linux the send was
// accepted and completed with ASYNC_SOCKET_SEND_ABANDONED; on Windows it may also have been
// refused at once with ASYNC_SOCKET_SEND_SYNC_ABANDONED (seed 42_002), and one accepted
// completes with ASYNC_SOCKET_SEND_ERROR (seed 01_067).
void expect_failed_as_on_a_broken_connection(const SendOutcome& outcome, uint32_t buffers)
{
    if (outcome.sync != ASYNC_SOCKET_SEND_SYNC_OK)
    {
        EXPECT_TRUE(kBrokenConnectionSendMayFailAtOnce) << "refused with " << outcome.sync << ", " << buffers << " buffer(s)";
        EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ABANDONED, outcome.sync) << buffers << " buffer(s)";
        return;
    }
    EXPECT_EQ(kBrokenConnectionSendResult, outcome.completed) << buffers << " buffer(s)";
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_024
TEST_P(Send, send_without_a_socket_fails)
{
    char data[] = "abc";
    ASYNC_SOCKET_BUFFER buffer{data, 3};
    SendRecord sent;
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(nullptr, &buffer, 1, SendRecord::callback, &sent));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(0, sent.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_025
TEST_P(Send, send_without_buffers_fails)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    SendRecord sent;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s.get(), nullptr, 1, SendRecord::callback, &sent));
    expect_nothing_sent_before(s.get(), peer.get());
    EXPECT_EQ(0, sent.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_085
TEST_P(Send, send_of_zero_buffers_fails)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    char data[] = "abc";
    ASYNC_SOCKET_BUFFER buffer{data, 3};
    SendRecord sent;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s.get(), &buffer, 0, SendRecord::callback, &sent));
    expect_nothing_sent_before(s.get(), peer.get());
    EXPECT_EQ(0, sent.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_089
TEST_P(Send, send_with_a_null_buffer_fails_and_sends_nothing)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    char data[] = "abc";
    ASYNC_SOCKET_BUFFER buffers[2] = {{data, 3}, {nullptr, 3}};
    SendRecord sent;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s.get(), buffers, 2, SendRecord::callback, &sent));
    expect_nothing_sent_before(s.get(), peer.get());
    EXPECT_EQ(0, sent.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_090
TEST_P(Send, send_with_an_empty_buffer_fails_and_sends_nothing)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    char data[] = "abc";
    ASYNC_SOCKET_BUFFER buffers[2] = {{data, 3}, {data, 0}};
    SendRecord sent;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s.get(), buffers, 2, SendRecord::callback, &sent));
    expect_nothing_sent_before(s.get(), peer.get());
    EXPECT_EQ(0, sent.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_101
TEST_P(Send, send_of_more_than_uint32_max_bytes_fails)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    // The lengths are checked before any memory is read: a small buffer stands for all.
    char data[16] = {};
    ASYNC_SOCKET_BUFFER max_and_one[2] = {{data, UINT32_MAX}, {data, 1}};
    ASYNC_SOCKET_BUFFER two_halves[2] = {{data, 0x80000000u}, {data, 0x80000000u}};
    SendRecord first, second;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s.get(), max_and_one, 2, SendRecord::callback, &first));
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s.get(), two_halves, 2, SendRecord::callback, &second));
    expect_nothing_sent_before(s.get(), peer.get());
    EXPECT_EQ(0, first.calls.load());
    EXPECT_EQ(0, second.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_026
TEST_P(Send, send_without_a_callback_fails_and_sends_nothing)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    char data[] = "abc";
    ASYNC_SOCKET_BUFFER buffer{data, 3};
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s.get(), &buffer, 1, nullptr, nullptr));
    expect_nothing_sent_before(s.get(), peer.get());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_027
TEST_P(Send, send_accepts_a_null_context)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    char data[] = "abc";
    ASYNC_SOCKET_BUFFER buffer{data, 3};
    g_null_context_calls = 0;
    g_null_context_seen = false;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), &buffer, 1, on_send_without_context, nullptr));
    ASSERT_TRUE(wait_until([] { return g_null_context_calls.load() == 1; }));
    EXPECT_TRUE(g_null_context_seen.load());
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, g_null_context_result.load());
    EXPECT_EQ((std::vector<uint8_t>{'a', 'b', 'c'}), read_exactly(peer.get(), 3));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_097
TEST_P(Send, send_on_a_socket_never_opened_is_abandoned)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    char data[] = "abc";
    ASYNC_SOCKET_BUFFER buffer{data, 3};
    SendRecord sent;
    OwnedSocket s(async_socket_create(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ABANDONED, async_socket_send_async(s.get(), &buffer, 1, SendRecord::callback, &sent));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(0, sent.calls.load());
    EXPECT_FALSE(peer_has_news(peer.get(), std::chrono::milliseconds(10)));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_097
TEST_P(Send, send_on_a_closed_socket_is_abandoned)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    char data[] = "abc";
    ASYNC_SOCKET_BUFFER buffer{data, 3};
    SendRecord sent;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    async_socket_close(s.get());
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ABANDONED, async_socket_send_async(s.get(), &buffer, 1, SendRecord::callback, &sent));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(0, sent.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_028
TEST_P(Send, each_send_calls_back_its_own_callback_with_its_own_context)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    char first[] = "first";
    char second[] = "second";
    ASYNC_SOCKET_BUFFER first_buffer{first, 5};
    ASYNC_SOCKET_BUFFER second_buffer{second, 6};
    Tagged a, b;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), &first_buffer, 1, on_send_a, &a));
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), &second_buffer, 1, on_send_b, &b));
    ASSERT_TRUE(a.done.wait_for(1));
    ASSERT_TRUE(b.done.wait_for(1));
    EXPECT_EQ('A', a.by.load());
    EXPECT_EQ('B', b.by.load());
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, a.result.load());
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, b.result.load());
    // And the payload stored with each is what was sent.
    const std::string expected = "firstsecond";
    EXPECT_EQ(std::vector<uint8_t>(expected.begin(), expected.end()), read_exactly(peer.get(), expected.size()));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(1, a.calls.load());
    EXPECT_EQ(1, b.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_050
TEST_P(Send, send_keeps_its_own_copy_of_the_buffer_array)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    set_send_buffer(as_native(c.ours), 16 * 1024);
    // A first send that cannot finish before the peer reads keeps the second one queued, so
    // the library uses the second's buffer descriptors long after the call returned.
    const auto head = pattern(1024 * 1024, 11);
    const auto tail = pattern(3000, 12);
    std::vector<uint8_t> decoy(3000, 0xdd);
    ASYNC_SOCKET_BUFFER head_buffer{const_cast<uint8_t*>(head.data()), static_cast<uint32_t>(head.size())};
    SendRecord first, second;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), &head_buffer, 1, SendRecord::callback, &first));

    auto* array = new ASYNC_SOCKET_BUFFER[3];
    for (int i = 0; i < 3; ++i)
        array[i] = ASYNC_SOCKET_BUFFER{const_cast<uint8_t*>(tail.data()) + i * 1000, 1000};
    const ASYNC_SOCKET_SEND_SYNC_RESULT r = async_socket_send_async(s.get(), array, 3, SendRecord::callback, &second);
    // The caller reuses, then frees, its array.
    for (int i = 0; i < 3; ++i)
        array[i] = ASYNC_SOCKET_BUFFER{decoy.data(), 7};
    delete[] array;
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, r);

    std::vector<uint8_t> expected = head;
    expected.insert(expected.end(), tail.begin(), tail.end());
    EXPECT_EQ(expected, read_exactly(peer.get(), expected.size()));
    ASSERT_TRUE(second.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, second.result.load());
    EXPECT_FALSE(peer_has_news(peer.get(), std::chrono::milliseconds(50)));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_103
TEST_P(Send, send_of_more_buffers_than_32_bit_memory_holds_fails_before_reading_them)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    char data[] = "abc";
    // One real element: reading the array any further would overrun it.
    ASYNC_SOCKET_BUFFER buffer{data, 3};
    SendRecord sent;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    // 2^28 descriptors of 16 bytes: 4 GiB for the iovec array alone.
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s.get(), &buffer, 0x10000000u, SendRecord::callback, &sent));
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s.get(), &buffer, UINT32_MAX, SendRecord::callback, &sent));
    expect_nothing_sent_before(s.get(), peer.get());
    EXPECT_EQ(0, sent.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_056
TEST_P(Send, send_gathers_the_buffers_in_order)
{
    Connection c = tcp_connection();
    ScopedSocket peer(c.peer);
    const auto data = pattern(70000, 4);
    // Uneven pieces, in order.
    const uint32_t sizes[] = {1, 4096, 17, 30000, 35886};
    std::vector<ASYNC_SOCKET_BUFFER> buffers;
    size_t offset = 0;
    for (uint32_t size : sizes)
    {
        buffers.push_back(ASYNC_SOCKET_BUFFER{const_cast<uint8_t*>(data.data()) + offset, size});
        offset += size;
    }
    ASSERT_EQ(data.size(), offset);
    SendRecord sent;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), buffers.data(), static_cast<uint32_t>(buffers.size()), SendRecord::callback, &sent));
    EXPECT_EQ(data, read_exactly(peer.get(), data.size()));
    ASSERT_TRUE(sent.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, sent.result.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_061
TEST_P(Send, a_send_that_cannot_finish_on_a_blocking_handle_does_not_block_the_loop)
{
    // Both sockets are on the fixture's single loop; both handles are blocking.
    Connection stuck = local_connection();
    Connection other = local_connection();
    ScopedSocket stuck_peer(stuck.peer);
    ScopedSocket other_peer(other.peer);
    ASSERT_TRUE(is_blocking(stuck.ours));
    set_send_buffer(as_native(stuck.ours), 16 * 1024);
    const auto big = pattern(8 * 1024 * 1024, 6);
    ASYNC_SOCKET_BUFFER buffer{const_cast<uint8_t*>(big.data()), static_cast<uint32_t>(big.size())};
    SendRecord pending;
    OwnedSocket s(create_and_open(engine, stuck.ours));
    OwnedSocket o(create_and_open(engine, other.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_NE(nullptr, o.get());
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), &buffer, 1, SendRecord::callback, &pending));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    // The loop thread is free: the other socket works.
    EXPECT_TRUE(round_trip(o.get(), other_peer.get()));
    EXPECT_EQ(0, pending.calls.load());
    s.destroy();
    EXPECT_EQ(1, pending.calls.load());
    EXPECT_EQ(kPlatform.send_result_after_close, pending.result.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_053
TEST_P(Send, a_send_waits_while_the_socket_is_full_then_completes)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    set_send_buffer(as_native(c.ours), 16 * 1024);
    const auto big = pattern(2 * 1024 * 1024, 7);
    ASYNC_SOCKET_BUFFER buffer{const_cast<uint8_t*>(big.data()), static_cast<uint32_t>(big.size())};
    SendRecord sent;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), &buffer, 1, SendRecord::callback, &sent));
    // The kernel says "try again" for a while: not an error, the send just waits.
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(0, sent.calls.load());
    EXPECT_EQ(big, read_exactly(peer.get(), big.size()));
    ASSERT_TRUE(sent.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, sent.result.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_42_002
TEST_P(Send, send_to_a_peer_that_reset_the_connection_is_abandoned)
{
    for (uint32_t buffers : {1u, 2u})
    {
        Connection c = tcp_connection();
        OwnedSocket s(create_and_open(engine, c.ours));
        ASSERT_NE(nullptr, s.get());
        reset_on_close(c.peer);
        close_socket(c.peer);
        expect_failed_as_on_a_broken_connection(send_until_send_fails(s.get(), buffers), buffers);
    }
}

// Tests_SRS_ASYNC_SOCKET_LINUX_42_002
TEST_P(Send, send_to_a_peer_that_closed_the_connection_is_abandoned)
{
    for (uint32_t buffers : {1u, 2u})
    {
        Connection c = tcp_connection();
        OwnedSocket s(create_and_open(engine, c.ours));
        ASSERT_NE(nullptr, s.get());
        close_socket(c.peer);
        expect_failed_as_on_a_broken_connection(send_until_send_fails(s.get(), buffers), buffers);
    }
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_106
TEST_P(Send, send_from_unreadable_memory_completes_with_error)
{
    // On Windows the send fails at once instead (seed 01_106): kUnusableBufferFailsAtOnce.
    Page page(PageAccess::none);
    ASSERT_NE(nullptr, page.data());
    for (uint32_t buffers : {1u, 2u})
    {
        Connection c = local_connection();
        ScopedSocket peer(c.peer);
        char readable[] = "ok";
        ASYNC_SOCKET_BUFFER one[1] = {{page.data(), 100}};
        ASYNC_SOCKET_BUFFER two[2] = {{readable, 2}, {page.data(), 100}};
        SendRecord sent;
        OwnedSocket s(create_and_open(engine, c.ours));
        ASSERT_NE(nullptr, s.get());
        const ASYNC_SOCKET_SEND_SYNC_RESULT r = async_socket_send_async(s.get(), buffers == 1 ? one : two, buffers, SendRecord::callback, &sent);
        if (kUnusableBufferFailsAtOnce)
        {
            EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ERROR, r) << buffers << " buffer(s)";
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            EXPECT_EQ(0, sent.calls.load()) << buffers << " buffer(s)";
            continue;
        }
        ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, r);
        ASSERT_TRUE(sent.done.wait_for(1));
        EXPECT_EQ(ASYNC_SOCKET_SEND_ERROR, sent.result.load()) << buffers << " buffer(s)";
    }
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_045
TEST_P(Send, send_returns_ok_and_calls_back_exactly_once)
{
    Connection c = tcp_connection();
    ScopedSocket peer(c.peer);
    const auto data = pattern(5000, 8);
    ASYNC_SOCKET_BUFFER buffer{const_cast<uint8_t*>(data.data()), static_cast<uint32_t>(data.size())};
    SendRecord sent;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), &buffer, 1, SendRecord::callback, &sent));
    ASSERT_TRUE(sent.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, sent.result.load());
    EXPECT_EQ(data, read_exactly(peer.get(), data.size()));
    // Nothing more, even once the socket is closed.
    async_socket_close(s.get());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(1, sent.calls.load());
}

ASOCK_INSTANTIATE_CONTRACT(Send);

}  // namespace
}  // namespace asock_test
