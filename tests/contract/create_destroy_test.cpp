// async_socket_create and async_socket_destroy (seed requirements).
// The allocation failure of create (01_003) is tested in tests/fault/allocation_failure_test.cpp.
#include "contract/seed_helpers.h"

namespace asock_test {
namespace {

using namespace seed;

class CreateDestroy : public Contract
{
};

// Records the kernel id of the thread the open callback runs on.
struct OpenTid
{
    std::atomic<pid_t> tid{0};
    Counter done;

    static void callback(void* context, ASYNC_SOCKET_OPEN_RESULT)
    {
        auto* self = static_cast<OpenTid*>(context);
        self->tid = current_tid();
        self->done.add();
    }
};

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
    Fd peer(c.peer);
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
    Fd ours(c.ours);
    Fd peer(c.peer);
    EXPECT_EQ(nullptr, async_socket_create(nullptr, ours.get()));
    // The handle was not taken: it is still open and carries bytes.
    ASSERT_TRUE(fd_is_open(ours.get()));
    ASSERT_TRUE(write_all(ours.get(), "ab", 2));
    EXPECT_EQ((std::vector<uint8_t>{'a', 'b'}), read_exactly(peer.get(), 2));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_034
TEST_P(CreateDestroy, create_with_an_invalid_handle_fails)
{
    EXPECT_EQ(nullptr, async_socket_create(engine, INVALID_SOCKET));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_42_004
TEST_P(CreateDestroy, create_takes_an_engine_reference_that_keeps_the_engine_running)
{
    OwnedEngine own(make_engine(GetParam()));
    ASSERT_NE(nullptr, own.get());
    Connection c = local_connection();
    Fd peer(c.peer);
    OpenTid opened;
    OwnedSocket s(async_socket_create(own.get(), c.ours));
    ASSERT_NE(nullptr, s.get());
    // Drop the creator's reference: the socket's must keep the engine and its thread alive.
    own.release();
    ASSERT_EQ(0, async_socket_open_async(s.get(), OpenTid::callback, &opened));
    ASSERT_TRUE(opened.done.wait_for(1));
    EXPECT_TRUE(thread_exists(opened.tid.load()));
    EXPECT_TRUE(round_trip(s.get(), peer.get()));
    EXPECT_TRUE(thread_exists(opened.tid.load()));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_42_005
TEST_P(CreateDestroy, destroy_releases_the_engine_reference)
{
    OwnedEngine own(make_engine(GetParam()));
    ASSERT_NE(nullptr, own.get());
    Connection c = local_connection();
    Fd peer(c.peer);
    OpenTid opened;
    OwnedSocket s(async_socket_create(own.get(), c.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_EQ(0, async_socket_open_async(s.get(), OpenTid::callback, &opened));
    ASSERT_TRUE(opened.done.wait_for(1));
    const pid_t loop_thread = opened.tid.load();
    own.release();
    // The socket now holds the engine's only reference.
    ASSERT_TRUE(thread_exists(loop_thread));
    s.destroy();
    // That reference went with the socket: the engine stopped its thread.
    EXPECT_TRUE(wait_until([&] { return !thread_exists(loop_thread); }));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_004
TEST_P(CreateDestroy, destroy_of_null_returns)
{
    async_socket_destroy(nullptr);
    // Nothing else was touched: the engine still serves sockets.
    Connection c = local_connection();
    Fd peer(c.peer);
    OwnedSocket s(create_and_open(engine, c.ours));
    EXPECT_TRUE(round_trip(s.get(), peer.get()));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_006
TEST_P(CreateDestroy, destroy_of_an_open_socket_closes_it_first)
{
    Connection c = local_connection();
    Fd peer(c.peer);
    set_send_buffer(c.ours, 16 * 1024);
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
    EXPECT_EQ(ASYNC_SOCKET_SEND_ABANDONED, sent.result.load());
    EXPECT_EQ(1, received.calls.load());
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, received.result.load());
    EXPECT_EQ(0u, received.bytes.load());
    EXPECT_TRUE(peer_reaches_end(peer.get()));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_42_007
TEST_P(CreateDestroy, destroy_of_a_never_opened_socket_closes_its_handle)
{
    Connection c = tcp_connection();
    Fd peer(c.peer);
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
    Fd peer(c.peer);
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
    Fd peer(c.peer);
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
TEST_P(CreateDestroy, sockets_are_spread_round_robin_and_each_calls_back_on_its_loop_thread)
{
    OwnedEngine two(make_engine(GetParam(), 2));
    ASSERT_NE(nullptr, two.get());
    constexpr int kSockets = 4;
    Connection c[kSockets];
    std::vector<std::unique_ptr<Fd>> peers;
    OpenRecord opened[kSockets];
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
        peers.push_back(std::make_unique<Fd>(c[i].peer));
        in[i].resize(16);
        receive_buffers[i] = ASYNC_SOCKET_BUFFER{in[i].data(), static_cast<uint32_t>(in[i].size())};
        s[i] = std::make_unique<OwnedSocket>(create_and_open(two.get(), c[i].ours, opened[i]));
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
        // Every callback of a socket runs on one engine thread.
        EXPECT_NE(std::this_thread::get_id(), opened[i].thread.load());
        EXPECT_EQ(opened[i].thread.load(), sent[i].thread.load()) << "socket " << i;
        EXPECT_EQ(opened[i].thread.load(), received[i].thread.load()) << "socket " << i;
    }
    // Round robin over the two loops.
    EXPECT_NE(opened[0].thread.load(), opened[1].thread.load());
    EXPECT_EQ(opened[0].thread.load(), opened[2].thread.load());
    EXPECT_EQ(opened[1].thread.load(), opened[3].thread.load());
    for (auto& socket : s)
        socket->destroy();
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_005
TEST_P(CreateDestroy, destroy_leaves_no_descriptor_or_thread_behind)
{
    const size_t fds_before = open_fd_count();
    std::vector<pid_t> loop_threads;
    {
        OwnedEngine own(make_engine(GetParam(), 2));
        ASSERT_NE(nullptr, own.get());
        constexpr int kSockets = 4;
        Connection c[kSockets];
        OpenTid opened[kSockets];
        ReceiveRecord pending[kSockets];
        SendRecord sent[kSockets];
        std::vector<uint8_t> in(kSockets * 16);
        char out[] = "data";
        ASYNC_SOCKET_BUFFER send_buffer{out, 4};
        ASYNC_SOCKET_HANDLE s[kSockets] = {};
        for (int i = 0; i < kSockets; ++i)
        {
            c[i] = i % 2 == 0 ? local_connection() : tcp_connection();
            s[i] = async_socket_create(own.get(), c[i].ours);
            ASSERT_NE(nullptr, s[i]);
            ASSERT_EQ(0, async_socket_open_async(s[i], OpenTid::callback, &opened[i]));
        }
        for (int i = 0; i < kSockets; ++i)
        {
            ASSERT_TRUE(opened[i].done.wait_for(1));
            loop_threads.push_back(opened[i].tid.load());
            ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s[i], &send_buffer, 1, SendRecord::callback, &sent[i]));
            ASSERT_TRUE(sent[i].done.wait_for(1));
            // Left pending: destroy completes it.
            ASYNC_SOCKET_BUFFER buffer{in.data() + i * 16, 16};
            ASSERT_EQ(0, async_socket_receive_async(s[i], &buffer, 1, ReceiveRecord::callback, &pending[i]));
        }
        // One more socket that is never opened.
        Connection unopened = local_connection();
        ASYNC_SOCKET_HANDLE never_opened = async_socket_create(own.get(), unopened.ours);
        ASSERT_NE(nullptr, never_opened);

        for (int i = 0; i < kSockets; ++i)
        {
            async_socket_destroy(s[i]);
            EXPECT_EQ(1, pending[i].calls.load());
            ::close(c[i].peer);
        }
        async_socket_destroy(never_opened);
        ::close(unopened.peer);
    }
    // Every descriptor (sockets, and the engine's own) and every engine thread is gone.
    EXPECT_EQ(fds_before, open_fd_count());
    for (pid_t tid : loop_threads)
        EXPECT_TRUE(wait_until([&] { return !thread_exists(tid); })) << "thread " << tid;
}

ASOCK_INSTANTIATE_CONTRACT(CreateDestroy);

}  // namespace
}  // namespace asock_test
