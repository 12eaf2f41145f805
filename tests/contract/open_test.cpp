// async_socket_open_async (seed requirements).
#include "contract/seed_helpers.h"

namespace asock_test {
namespace {

using namespace seed;

// For the open callbacks that get no context.
std::atomic<int> g_null_context_calls{0};
std::atomic<bool> g_null_context_seen{false};
std::atomic<ASYNC_SOCKET_OPEN_RESULT> g_null_context_result{ASYNC_SOCKET_OPEN_ERROR};

void on_open_without_context(void* context, ASYNC_SOCKET_OPEN_RESULT result)
{
    g_null_context_seen = context == nullptr;
    g_null_context_result = result;
    g_null_context_calls++;
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_007
TEST_P(Open, open_without_a_socket_fails)
{
    OpenRecord open;
    EXPECT_NE(0, async_socket_open_async(nullptr, OpenRecord::callback, &open));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(0, open.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_008
TEST_P(Open, open_without_a_callback_fails_and_the_socket_stays_openable)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    OpenRecord open;
    OwnedSocket s(async_socket_create(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    EXPECT_NE(0, async_socket_open_async(s.get(), nullptr, &open));
    // Not opened: it accepts no operation, and a proper open still works.
    char data[] = "x";
    ASYNC_SOCKET_BUFFER buffer{data, 1};
    SendRecord sent;
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ABANDONED, async_socket_send_async(s.get(), &buffer, 1, SendRecord::callback, &sent));
    ASSERT_EQ(0, async_socket_open_async(s.get(), OpenRecord::callback, &open));
    ASSERT_TRUE(open.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_OPEN_OK, open.result.load());
    EXPECT_TRUE(round_trip(s.get(), peer.get()));
    EXPECT_EQ(0, sent.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_009
TEST_P(Open, open_accepts_a_null_context)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    g_null_context_calls = 0;
    g_null_context_seen = false;
    OwnedSocket s(async_socket_create(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_EQ(0, async_socket_open_async(s.get(), on_open_without_context, nullptr));
    ASSERT_TRUE(wait_until([] { return g_null_context_calls.load() == 1; }));
    EXPECT_TRUE(g_null_context_seen.load());
    EXPECT_EQ(ASYNC_SOCKET_OPEN_OK, g_null_context_result.load());
    EXPECT_TRUE(round_trip(s.get(), peer.get()));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_014
TEST_P(Open, open_returns_zero_and_calls_back_with_ok)
{
    Connection c = tcp_connection();
    ScopedSocket peer(c.peer);
    OpenRecord open;
    OwnedSocket s(async_socket_create(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    EXPECT_EQ(0, async_socket_open_async(s.get(), OpenRecord::callback, &open));
    ASSERT_TRUE(open.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_OPEN_OK, open.result.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_094
TEST_P(Open, open_makes_the_socket_accept_sends_and_receives)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    char out[] = "abc";
    ASYNC_SOCKET_BUFFER send_buffer{out, 3};
    std::vector<uint8_t> in(8);
    ASYNC_SOCKET_BUFFER receive_buffer{in.data(), static_cast<uint32_t>(in.size())};
    SendRecord rejected_send, sent;
    ReceiveRecord rejected_receive, received;
    OpenRecord open;
    OwnedSocket s(async_socket_create(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    // Before the open: not OPEN.
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ABANDONED, async_socket_send_async(s.get(), &send_buffer, 1, SendRecord::callback, &rejected_send));
    EXPECT_NE(0, async_socket_receive_async(s.get(), &receive_buffer, 1, ReceiveRecord::callback, &rejected_receive));
    // As soon as open_async returned, the socket is OPEN (the callback may not have run yet).
    ASSERT_EQ(0, async_socket_open_async(s.get(), OpenRecord::callback, &open));
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), &send_buffer, 1, SendRecord::callback, &sent));
    EXPECT_EQ(0, async_socket_receive_async(s.get(), &receive_buffer, 1, ReceiveRecord::callback, &received));
    ASSERT_TRUE(open.done.wait_for(1));
    ASSERT_TRUE(sent.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, sent.result.load());
    EXPECT_EQ((std::vector<uint8_t>{'a', 'b', 'c'}), read_exactly(peer.get(), 3));
    ASSERT_TRUE(write_all(peer.get(), "z", 1));
    ASSERT_TRUE(received.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, received.result.load());
    EXPECT_EQ(1u, received.bytes.load());
    EXPECT_EQ('z', in[0]);
    EXPECT_EQ(0, rejected_send.calls.load());
    EXPECT_EQ(0, rejected_receive.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_015
TEST_P(Open, a_second_open_fails_without_calling_back)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    OpenRecord first, while_opening, when_open;
    OwnedSocket s(async_socket_create(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_EQ(0, async_socket_open_async(s.get(), OpenRecord::callback, &first));
    // Right away (the first open callback may not have run yet), and once it ran.
    EXPECT_NE(0, async_socket_open_async(s.get(), OpenRecord::callback, &while_opening));
    ASSERT_TRUE(first.done.wait_for(1));
    EXPECT_NE(0, async_socket_open_async(s.get(), OpenRecord::callback, &when_open));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(1, first.calls.load());
    EXPECT_EQ(0, while_opening.calls.load());
    EXPECT_EQ(0, when_open.calls.load());
    // The socket stays open.
    EXPECT_TRUE(round_trip(s.get(), peer.get()));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_023
// Tests_SRS_ASYNC_SOCKET_LINUX_01_015
TEST_P(Open, concurrent_opens_of_one_socket_succeed_exactly_once)
{
    constexpr int kRounds = 200;
    for (int round = 0; round < kRounds; ++round)
    {
        Connection c = local_connection();
        ScopedSocket peer(c.peer);
        OpenRecord records[2];
        int results[2] = {-1, -1};
        OwnedSocket s(async_socket_create(engine, c.ours));
        ASSERT_NE(nullptr, s.get());
        StartLine start(2);
        std::thread racers[2];
        for (int i = 0; i < 2; ++i)
            racers[i] = std::thread([&, i] {
                start.arrive_and_wait();
                results[i] = async_socket_open_async(s.get(), OpenRecord::callback, &records[i]);
            });
        for (auto& racer : racers)
            racer.join();
        ASSERT_EQ(1, (results[0] == 0) + (results[1] == 0)) << "round " << round << ": " << results[0] << ", " << results[1];
        const int winner = results[0] == 0 ? 0 : 1;
        ASSERT_TRUE(records[winner].done.wait_for(1));
        s.destroy();
        EXPECT_EQ(1, records[winner].calls.load());
        ASSERT_EQ(0, records[1 - winner].calls.load()) << "round " << round;
    }
}

// Tests_SRS_ASYNC_SOCKET_LINUX_42_008
TEST_P(Open, open_after_close_fails)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    OpenRecord first, again;
    OwnedSocket s(async_socket_create(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_EQ(0, async_socket_open_async(s.get(), OpenRecord::callback, &first));
    ASSERT_TRUE(first.done.wait_for(1));
    async_socket_close(s.get());
    EXPECT_NE(0, async_socket_open_async(s.get(), OpenRecord::callback, &again));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(0, again.calls.load());
    EXPECT_EQ(1, first.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_058
TEST_P(Open, open_registers_the_socket_for_readiness_in_both_directions)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    set_send_buffer(as_native(c.ours), 16 * 1024);
    std::vector<uint8_t> in(32);
    ASYNC_SOCKET_BUFFER receive_buffer{in.data(), static_cast<uint32_t>(in.size())};
    auto big = pattern(2 * 1024 * 1024, 5);
    ASYNC_SOCKET_BUFFER send_buffer{big.data(), static_cast<uint32_t>(big.size())};
    ReceiveRecord received;
    SendRecord sent;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());

    // Readable later: the receive waits, then completes when data arrives.
    ASSERT_EQ(0, async_socket_receive_async(s.get(), &receive_buffer, 1, ReceiveRecord::callback, &received));
    std::this_thread::sleep_for(kQuiet);
    ASSERT_EQ(0, received.calls.load());
    ASSERT_TRUE(write_all(peer.get(), "late", 4));
    ASSERT_TRUE(received.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, received.result.load());
    EXPECT_EQ(4u, received.bytes.load());

    // Writable later: the send fills the socket, waits, and finishes as the peer reads.
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), &send_buffer, 1, SendRecord::callback, &sent));
    std::this_thread::sleep_for(kQuiet);
    ASSERT_EQ(0, sent.calls.load());
    EXPECT_EQ(big, read_exactly(peer.get(), big.size()));
    ASSERT_TRUE(sent.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, sent.result.load());
}

// What an open callback was called with.
struct ContextOpen
{
    std::atomic<void*> context{nullptr};
    std::atomic<int> calls{0};
    std::atomic<ASYNC_SOCKET_OPEN_RESULT> result{ASYNC_SOCKET_OPEN_ERROR};
    std::atomic<std::thread::id> thread{};
    Counter done;

    static void callback(void* context, ASYNC_SOCKET_OPEN_RESULT open_result)
    {
        auto* self = static_cast<ContextOpen*>(context);
        self->context = context;
        self->result = open_result;
        self->thread = std::this_thread::get_id();
        self->calls++;
        self->done.add();
    }
};

// Tests_SRS_ASYNC_SOCKET_LINUX_01_017
TEST_P(Open, open_calls_back_once_with_ok_and_its_context)
{
    // The portable part of
    // open_calls_back_once_with_ok_and_its_context_on_the_loop_thread_after_returning
    // (open_linux_test.cpp). Where the seed calls back inside open_async (Windows), the
    // callback has run on the calling thread when the call returns.
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    ContextOpen open;
    OwnedSocket s(async_socket_create(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    const int result = async_socket_open_async(s.get(), ContextOpen::callback, &open);
    const int calls_at_return = open.calls.load();
    ASSERT_EQ(0, result);
    if (kPlatform.open_completes_inside_open)
    {
        EXPECT_EQ(1, calls_at_return);
        EXPECT_EQ(std::this_thread::get_id(), open.thread.load());
    }
    ASSERT_TRUE(open.done.wait_for(1));
    EXPECT_EQ(static_cast<void*>(&open), open.context.load());
    EXPECT_EQ(ASYNC_SOCKET_OPEN_OK, open.result.load());
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(1, open.calls.load());
    EXPECT_TRUE(round_trip(s.get(), peer.get()));
}

// Opens another socket from inside a receive callback, that is on the loop thread itself (on
// Windows, a thread of the pool).
struct OpenFromCallback
{
    ASYNC_SOCKET_HANDLE other = nullptr;
    std::atomic<bool> inside_open{false};
    std::atomic<int> open_result{-1};
    std::atomic<bool> open_ran_inside{false};
    std::atomic<int> open_calls{0};
    std::atomic<ASYNC_SOCKET_OPEN_RESULT> result{ASYNC_SOCKET_OPEN_ERROR};
    std::atomic<std::thread::id> receive_thread{};
    std::atomic<std::thread::id> open_thread{};
    Counter done;
    Counter receive_returned;  // open_result is set

    static void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT, uint32_t)
    {
        auto* self = static_cast<OpenFromCallback*>(context);
        self->receive_thread = std::this_thread::get_id();
        self->inside_open = true;
        self->open_result = async_socket_open_async(self->other, on_open, self);
        self->inside_open = false;
        self->receive_returned.add();
    }

    static void on_open(void* context, ASYNC_SOCKET_OPEN_RESULT open_result)
    {
        auto* self = static_cast<OpenFromCallback*>(context);
        self->open_ran_inside = self->inside_open.load();
        self->result = open_result;
        self->open_thread = std::this_thread::get_id();
        self->open_calls++;
        self->done.add();
    }
};

// Tests_SRS_ASYNC_SOCKET_LINUX_01_017
TEST_P(Open, open_from_the_loop_thread_calls_back_after_returning)
{
    // The fixture's engine has one loop: both sockets are on it.
    Connection a = local_connection();
    Connection b = local_connection();
    ScopedSocket peer_a(a.peer);
    ScopedSocket peer_b(b.peer);
    std::vector<uint8_t> in(8);
    ASYNC_SOCKET_BUFFER buffer{in.data(), static_cast<uint32_t>(in.size())};
    OpenFromCallback probe;
    OwnedSocket other(async_socket_create(engine, b.ours));
    ASSERT_NE(nullptr, other.get());
    probe.other = other.get();
    OwnedSocket s(create_and_open(engine, a.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_EQ(0, async_socket_receive_async(s.get(), &buffer, 1, OpenFromCallback::on_receive, &probe));
    ASSERT_TRUE(write_all(peer_a.get(), "go", 2));
    ASSERT_TRUE(probe.done.wait_for(1));
    // Where the open calls back inside the call (Windows), the result is stored a moment after.
    ASSERT_TRUE(probe.receive_returned.wait_for(1));
    EXPECT_EQ(0, probe.open_result.load());
    // Linux: after open_async returned (01_017). Windows: inside it (seed 01_017).
    EXPECT_EQ(kPlatform.open_completes_inside_open, probe.open_ran_inside.load());
    EXPECT_EQ(ASYNC_SOCKET_OPEN_OK, probe.result.load());
    EXPECT_EQ(probe.receive_thread.load(), probe.open_thread.load());
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(1, probe.open_calls.load());
    EXPECT_TRUE(round_trip(other.get(), peer_b.get()));
}

ASOCK_INSTANTIATE_CONTRACT(Open);

}  // namespace
}  // namespace asock_test
