// async_socket_create and async_socket_destroy (seed requirements).
// The allocation failure of create (01_003) is tested in tests/fault/allocation_failure_test.cpp.
#include "contract/seed_helpers.h"

namespace asock_test {
namespace {

using namespace seed;

// A receive whose callback signals that it runs, then waits on a gate.
struct BlockingReceive
{
    Gate gate;
    std::atomic<bool> entered{false};
    std::atomic<bool> returned{false};
    std::atomic<int> calls{0};

    static void callback(void* context, ASYNC_SOCKET_RECEIVE_RESULT, uint32_t)
    {
        auto* self = static_cast<BlockingReceive*>(context);
        self->calls++;
        self->entered = true;
        self->gate.wait();
        self->returned = true;
    }
};

// Tests_SRS_ASYNC_SOCKET_LINUX_01_001
TEST_P(CreateDestroy, create_returns_a_handle_that_opens_and_moves_bytes)
{
    Connection c = tcp_connection();
    ScopedSocket peer(c.peer);
    OwnedSocket s(async_socket_create(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    OpenRecord open;
    ASSERT_EQ(0, async_socket_open_async(s.get(), OpenRecord::callback, &open));
    ASSERT_TRUE(open.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_OPEN_OK, open.result.load());
    EXPECT_TRUE(round_trip(s.get(), peer.get()));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_002
TEST_P(CreateDestroy, create_without_an_engine_fails_and_leaves_the_handle_to_the_caller)
{
    Connection c = local_connection();
    ScopedSocket ours(as_native(c.ours));
    ScopedSocket peer(c.peer);
    EXPECT_EQ(nullptr, async_socket_create(nullptr, as_handle(ours.get())));
    // The handle was not taken: it is still open and carries bytes.
    ASSERT_TRUE(socket_is_open(ours.get()));
    ASSERT_TRUE(write_all(ours.get(), "ab", 2));
    EXPECT_EQ((std::vector<uint8_t>{'a', 'b'}), read_exactly(peer.get(), 2));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_034
TEST_P(CreateDestroy, create_with_an_invalid_handle_fails)
{
    EXPECT_EQ(nullptr, async_socket_create(engine, as_handle(kNoSocket)));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_42_004
TEST_P(CreateDestroy, create_takes_an_engine_reference_that_keeps_the_engine_serving_the_socket)
{
    // The portable part of create_takes_an_engine_reference_that_keeps_the_engine_running
    // (create_destroy_linux_test.cpp, which also watches the loop thread).
    OwnedEngine own(make_engine(GetParam()));
    ASSERT_NE(nullptr, own.get());
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    OpenRecord opened;
    OwnedSocket s(async_socket_create(own.get(), c.ours));
    ASSERT_NE(nullptr, s.get());
    // Drop the creator's reference: the socket's must keep the engine working.
    own.release();
    ASSERT_EQ(0, async_socket_open_async(s.get(), OpenRecord::callback, &opened));
    ASSERT_TRUE(opened.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_OPEN_OK, opened.result.load());
    EXPECT_TRUE(round_trip(s.get(), peer.get()));
    EXPECT_TRUE(round_trip(s.get(), peer.get()));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_004
TEST_P(CreateDestroy, destroy_of_null_returns)
{
    async_socket_destroy(nullptr);
    // Nothing else was touched: the engine still serves sockets.
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    OwnedSocket s(create_and_open(engine, c.ours));
    EXPECT_TRUE(round_trip(s.get(), peer.get()));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_006
TEST_P(CreateDestroy, destroy_of_an_open_socket_closes_it_first)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    set_send_buffer(as_native(c.ours), 16 * 1024);
    // A send that cannot finish (the peer does not read) and a receive that gets nothing.
    auto big = pattern(4 * 1024 * 1024);
    ASYNC_SOCKET_BUFFER send_buffer{big.data(), static_cast<uint32_t>(big.size())};
    std::vector<uint8_t> in(64);
    ASYNC_SOCKET_BUFFER receive_buffer{in.data(), static_cast<uint32_t>(in.size())};
    SendRecord sent;
    ReceiveRecord received;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), &send_buffer, 1, SendRecord::callback, &sent));
    ASSERT_EQ(0, async_socket_receive_async(s.get(), &receive_buffer, 1, ReceiveRecord::callback, &received));
    std::this_thread::sleep_for(kQuiet);
    ASSERT_EQ(0, sent.calls.load());
    ASSERT_EQ(0, received.calls.load());

    s.destroy();
    // Both were completed, abandoned, before destroy returned; the handle is closed.
    EXPECT_EQ(1, sent.calls.load());
    EXPECT_EQ(kPlatform.send_result_after_close, sent.result.load());
    EXPECT_EQ(1, received.calls.load());
    EXPECT_EQ(kPlatform.receive_result_after_close, received.result.load());
    EXPECT_EQ(0u, received.bytes.load());
    EXPECT_TRUE(peer_reaches_end(peer.get()));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_42_007
TEST_P(CreateDestroy, destroy_of_a_never_opened_socket_closes_its_handle)
{
    Connection c = tcp_connection();
    ScopedSocket peer(c.peer);
    OwnedSocket s(async_socket_create(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    EXPECT_FALSE(peer_has_news(peer.get(), std::chrono::milliseconds(50)));
    s.destroy();
    EXPECT_TRUE(peer_reaches_end(peer.get()));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_093
TEST_P(CreateDestroy, destroy_waits_for_a_close_under_way_in_another_thread)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    std::vector<uint8_t> in(16);
    ASYNC_SOCKET_BUFFER buffer{in.data(), static_cast<uint32_t>(in.size())};
    BlockingReceive running;
    ASYNC_SOCKET_HANDLE s = create_and_open(engine, c.ours);
    ASSERT_NE(nullptr, s);
    ASSERT_EQ(0, async_socket_receive_async(s, &buffer, 1, BlockingReceive::callback, &running));
    ASSERT_TRUE(write_all(peer.get(), "x", 1));
    ASSERT_TRUE(wait_until([&] { return running.entered.load(); }));

    // Another thread starts a close, which waits for the running callback.
    Background closer([s] { async_socket_close(s); });
    ASSERT_TRUE(wait_until_not_open(s));
    ASSERT_FALSE(closer.finished());

    // The callback is released a while after destroy started; destroy must wait for it.
    Background releaser([&running] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        running.gate.open();
    });
    async_socket_destroy(s);
    EXPECT_TRUE(running.returned.load());
    releaser.join();
    closer.join();
    EXPECT_EQ(1, running.calls.load());
}

// A receive whose callback closes its own socket (on the loop thread).
struct ClosingReceive
{
    ASYNC_SOCKET_HANDLE socket = nullptr;
    std::atomic<bool> returned{false};

    static void callback(void* context, ASYNC_SOCKET_RECEIVE_RESULT, uint32_t)
    {
        auto* self = static_cast<ClosingReceive*>(context);
        async_socket_close(self->socket);
        self->returned = true;
    }
};

// Tests_SRS_ASYNC_SOCKET_LINUX_01_093
TEST_P(CreateDestroy, destroy_waits_for_a_close_under_way_in_a_callback_of_the_socket)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    std::vector<uint8_t> in1(16), in2(16);
    ASYNC_SOCKET_BUFFER first_buffer{in1.data(), static_cast<uint32_t>(in1.size())};
    ASYNC_SOCKET_BUFFER second_buffer{in2.data(), static_cast<uint32_t>(in2.size())};
    ClosingReceive closing;
    BlockingReceive abandoned;
    ASYNC_SOCKET_HANDLE s = create_and_open(engine, c.ours);
    ASSERT_NE(nullptr, s);
    closing.socket = s;
    // The first receive's callback closes the socket; that close completes the second one,
    // whose callback blocks: the close on the loop thread is under way.
    ASSERT_EQ(0, async_socket_receive_async(s, &first_buffer, 1, ClosingReceive::callback, &closing));
    ASSERT_EQ(0, async_socket_receive_async(s, &second_buffer, 1, BlockingReceive::callback, &abandoned));
    ASSERT_TRUE(write_all(peer.get(), "x", 1));
    ASSERT_TRUE(wait_until([&] { return abandoned.entered.load(); }));

    Background destroyer([s] { async_socket_destroy(s); });
    std::this_thread::sleep_for(kQuiet);
    EXPECT_FALSE(destroyer.finished()) << "destroy returned while the close under way was still completing operations";
    abandoned.gate.open();
    destroyer.join();
    EXPECT_TRUE(abandoned.returned.load());
    EXPECT_TRUE(wait_until([&] { return closing.returned.load(); }));
    sync_with_loop(engine);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_035
TEST_P(CreateDestroy, the_sends_and_receives_of_every_socket_call_back_on_threads_of_the_engine)
{
    // The portable part of sockets_are_spread_round_robin_and_each_calls_back_on_its_loop_thread
    // (create_destroy_linux_test.cpp): the callbacks of sockets of a two-thread engine run on
    // the engine's threads, never on the thread that started the operation.
    OwnedEngine two(make_engine(GetParam(), 2));
    ASSERT_NE(nullptr, two.get());
    constexpr int kSockets = 4;
    Connection c[kSockets];
    std::vector<std::unique_ptr<ScopedSocket>> peers;
    SendRecord sent[kSockets];
    ReceiveRecord received[kSockets];
    std::vector<uint8_t> in[kSockets];
    ASYNC_SOCKET_BUFFER receive_buffers[kSockets];
    char out[] = "hello";
    ASYNC_SOCKET_BUFFER send_buffer{out, 5};
    std::unique_ptr<OwnedSocket> s[kSockets];
    for (int i = 0; i < kSockets; ++i)
    {
        c[i] = local_connection();
        peers.push_back(std::make_unique<ScopedSocket>(c[i].peer));
        in[i].resize(16);
        receive_buffers[i] = ASYNC_SOCKET_BUFFER{in[i].data(), static_cast<uint32_t>(in[i].size())};
        s[i] = std::make_unique<OwnedSocket>(create_and_open(two.get(), c[i].ours));
        ASSERT_NE(nullptr, s[i]->get());
    }
    for (int i = 0; i < kSockets; ++i)
    {
        ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s[i]->get(), &send_buffer, 1, SendRecord::callback, &sent[i]));
        ASSERT_EQ(0, async_socket_receive_async(s[i]->get(), &receive_buffers[i], 1, ReceiveRecord::callback, &received[i]));
        ASSERT_TRUE(write_all(c[i].peer, "y", 1));
    }
    for (int i = 0; i < kSockets; ++i)
    {
        ASSERT_TRUE(sent[i].done.wait_for(1));
        ASSERT_TRUE(received[i].done.wait_for(1));
        EXPECT_EQ(ASYNC_SOCKET_SEND_OK, sent[i].result.load());
        EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, received[i].result.load());
        EXPECT_NE(std::this_thread::get_id(), sent[i].thread.load()) << "socket " << i;
        EXPECT_NE(std::this_thread::get_id(), received[i].thread.load()) << "socket " << i;
        EXPECT_EQ((std::vector<uint8_t>{'h', 'e', 'l', 'l', 'o'}), read_exactly(c[i].peer, 5));
    }
    for (auto& socket : s)
        socket->destroy();
}

ASOCK_INSTANTIATE_CONTRACT(CreateDestroy);

}  // namespace
}  // namespace asock_test
