// async_socket_close (seed requirements).
#include <latch>

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
    std::atomic<ASYNC_SOCKET_RECEIVE_RESULT> result{ASYNC_SOCKET_RECEIVE_OK};

    static void callback(void* context, ASYNC_SOCKET_RECEIVE_RESULT receive_result, uint32_t)
    {
        auto* self = static_cast<BlockingReceive*>(context);
        self->result = receive_result;
        self->calls++;
        self->entered = true;
        self->gate.wait();
        self->returned = true;
    }
};

// A receive whose callback closes its own socket (on the loop thread).
struct ClosingReceive
{
    ASYNC_SOCKET_HANDLE socket = nullptr;
    std::atomic<bool> returned{false};
    std::atomic<int> calls{0};

    static void callback(void* context, ASYNC_SOCKET_RECEIVE_RESULT, uint32_t)
    {
        auto* self = static_cast<ClosingReceive*>(context);
        self->calls++;
        async_socket_close(self->socket);
        self->returned = true;
    }
};

// Tests_SRS_ASYNC_SOCKET_LINUX_01_018
TEST_P(Close, close_of_null_returns)
{
    async_socket_close(nullptr);
    // Nothing else was touched: the engine still serves sockets.
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    OwnedSocket s(create_and_open(engine, c.ours));
    EXPECT_TRUE(round_trip(s.get(), peer.get()));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_019
TEST_P(Close, a_close_under_way_makes_the_socket_reject_new_operations)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    std::vector<uint8_t> in(8), later_in(8);
    ASYNC_SOCKET_BUFFER buffer{in.data(), static_cast<uint32_t>(in.size())};
    ASYNC_SOCKET_BUFFER later_buffer{later_in.data(), static_cast<uint32_t>(later_in.size())};
    char out[] = "x";
    ASYNC_SOCKET_BUFFER send_buffer{out, 1};
    BlockingReceive running;
    SendRecord rejected_send;
    ReceiveRecord rejected_receive;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_EQ(0, async_socket_receive_async(s.get(), &buffer, 1, BlockingReceive::callback, &running));
    ASSERT_TRUE(write_all(peer.get(), "x", 1));
    ASSERT_TRUE(wait_until([&] { return running.entered.load(); }));

    // The close cannot finish while the callback runs: it is CLOSING meanwhile.
    ASYNC_SOCKET_HANDLE handle = s.get();
    Background closer([handle] { async_socket_close(handle); });
    ASSERT_TRUE(wait_until_not_open(s.get()));
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ABANDONED, async_socket_send_async(s.get(), &send_buffer, 1, SendRecord::callback, &rejected_send));
    EXPECT_NE(0, async_socket_receive_async(s.get(), &later_buffer, 1, ReceiveRecord::callback, &rejected_receive));
    EXPECT_FALSE(closer.finished());
    running.gate.open();
    closer.join();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(0, rejected_send.calls.load());
    EXPECT_EQ(0, rejected_receive.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_42_006
TEST_P(Close, close_closes_the_handle)
{
    Connection c = tcp_connection();
    ScopedSocket peer(c.peer);
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    EXPECT_FALSE(peer_has_news(peer.get(), std::chrono::milliseconds(50)));
    async_socket_close(s.get());
    // The peer sees the end of the stream, without the socket being destroyed.
    char byte;
    EXPECT_EQ(0, read_some(peer.get(), &byte, 1, std::chrono::seconds(20)));
}

// What one send or receive started by the racing threads saw.
struct Slot
{
    std::atomic<int> accepted{-1};  // -1: the call has not returned; 1: accepted; 0: refused
    std::atomic<int> sync_result{-1};
    std::atomic<int> calls{0};
    std::atomic<bool> after_close{false};
    const std::atomic<bool>* close_returned = nullptr;
    uint8_t byte = 'x';

    static void on_send(void* context, ASYNC_SOCKET_SEND_RESULT)
    {
        auto* self = static_cast<Slot*>(context);
        self->after_close = self->close_returned->load();
        self->calls++;
    }
    static void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT, uint32_t)
    {
        auto* self = static_cast<Slot*>(context);
        self->after_close = self->close_returned->load();
        self->calls++;
    }
};

// Tests_SRS_ASYNC_SOCKET_LINUX_01_020
TEST_P(Close, close_completes_or_refuses_every_send_and_receive_made_meanwhile)
{
    constexpr int kRounds = 10;
    constexpr int kThreads = 4;  // two send, two receive
    constexpr int kPerThread = 20000;
    for (int round = 0; round < kRounds; ++round)
    {
        Connection c = local_connection();
        ScopedSocket peer(c.peer);
        std::atomic<bool> close_returned{false};
        auto slots = std::make_unique<Slot[]>(kThreads * kPerThread);
        for (int i = 0; i < kThreads * kPerThread; ++i)
            slots[i].close_returned = &close_returned;
        Counter issued;
        OwnedSocket s(create_and_open(engine, c.ours));
        ASSERT_NE(nullptr, s.get());
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t)
            threads.emplace_back([&, t] {
                for (int i = 0; i < kPerThread; ++i)
                {
                    Slot& slot = slots[t * kPerThread + i];
                    ASYNC_SOCKET_BUFFER buffer{&slot.byte, 1};
                    bool accepted;
                    if (t % 2 == 0)
                    {
                        const ASYNC_SOCKET_SEND_SYNC_RESULT r = async_socket_send_async(s.get(), &buffer, 1, Slot::on_send, &slot);
                        slot.sync_result = r;
                        accepted = r == ASYNC_SOCKET_SEND_SYNC_OK;
                    }
                    else
                    {
                        const int r = async_socket_receive_async(s.get(), &buffer, 1, Slot::on_receive, &slot);
                        slot.sync_result = r;
                        accepted = r == 0;
                    }
                    slot.accepted = accepted ? 1 : 0;
                    issued.add();
                    if (!accepted)
                        break;
                }
            });
        EXPECT_TRUE(issued.wait_for(200));
        async_socket_close(s.get());
        close_returned = true;
        for (auto& thread : threads)
            thread.join();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));

        int accepted_count = 0;
        for (int t = 0; t < kThreads; ++t)
            for (int i = 0; i < kPerThread; ++i)
            {
                const Slot& slot = slots[t * kPerThread + i];
                if (slot.accepted.load() == -1)
                    break;
                if (slot.accepted.load() == 1)
                {
                    ++accepted_count;
                    ASSERT_EQ(1, slot.calls.load()) << "round " << round << " thread " << t << " op " << i;
                    ASSERT_FALSE(slot.after_close.load()) << "round " << round << " thread " << t << " op " << i << " completed after close returned";
                }
                else
                {
                    // Refused as "not open", never called back.
                    if (t % 2 == 0)
                    {
                        ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_ABANDONED, slot.sync_result.load());
                    }
                    ASSERT_EQ(0, slot.calls.load()) << "round " << round << " thread " << t << " op " << i;
                }
            }
        EXPECT_GE(accepted_count, 1);
    }
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_021
TEST_P(Close, a_closed_socket_refuses_every_operation)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    char out[] = "x";
    ASYNC_SOCKET_BUFFER send_buffer{out, 1};
    std::vector<uint8_t> in(8);
    ASYNC_SOCKET_BUFFER receive_buffer{in.data(), static_cast<uint32_t>(in.size())};
    SendRecord sent;
    ReceiveRecord received;
    OpenRecord reopened;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    async_socket_close(s.get());
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ABANDONED, async_socket_send_async(s.get(), &send_buffer, 1, SendRecord::callback, &sent));
    EXPECT_NE(0, async_socket_receive_async(s.get(), &receive_buffer, 1, ReceiveRecord::callback, &received));
    EXPECT_NE(0, async_socket_open_async(s.get(), OpenRecord::callback, &reopened));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(0, sent.calls.load());
    EXPECT_EQ(0, received.calls.load());
    EXPECT_EQ(0, reopened.calls.load());
    EXPECT_TRUE(peer_reaches_end(peer.get()));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_059
TEST_P(Close, after_close_no_data_reaches_the_buffer_of_an_abandoned_receive)
{
    constexpr size_t kSize = 256;
    constexpr uint8_t kSentinel = 0xab;
    for (int round = 0; round < 5; ++round)
    {
        Connection c = tcp_connection();
        ScopedSocket peer(c.peer);
        std::vector<uint8_t> in(kSize, kSentinel);
        ASYNC_SOCKET_BUFFER buffer{in.data(), static_cast<uint32_t>(in.size())};
        ReceiveRecord pending;
        OwnedSocket s(create_and_open(engine, c.ours));
        ASSERT_NE(nullptr, s.get());
        ASSERT_EQ(0, async_socket_receive_async(s.get(), &buffer, 1, ReceiveRecord::callback, &pending));
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the receive reach the kernel
        async_socket_close(s.get());
        ASSERT_EQ(1, pending.calls.load());
        EXPECT_EQ(kPlatform.receive_result_after_close, pending.result.load());
        // Data arriving now must not land in the buffer.
        const auto data = pattern(kSize, 3);
        (void)send_some(peer.get(), data.data(), data.size());
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        EXPECT_EQ(std::vector<uint8_t>(kSize, kSentinel), in) << "round " << round;
    }
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_059
TEST_P(Close, after_close_no_byte_of_an_abandoned_send_buffer_is_sent)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    set_send_buffer(as_native(c.ours), 16 * 1024);
    const auto original = pattern(4 * 1024 * 1024, 9);
    std::vector<uint8_t> out = original;
    ASYNC_SOCKET_BUFFER buffer{out.data(), static_cast<uint32_t>(out.size())};
    SendRecord pending;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), &buffer, 1, SendRecord::callback, &pending));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the send fills the socket and waits
    ASSERT_EQ(0, pending.calls.load());
    async_socket_close(s.get());
    ASSERT_EQ(1, pending.calls.load());
    EXPECT_EQ(kPlatform.send_result_after_close, pending.result.load());
    // The buffer is the caller's again: change it. What the peer still gets is only what was
    // sent before the close.
    std::fill(out.begin(), out.end(), uint8_t{0xee});
    std::vector<uint8_t> got;
    std::vector<uint8_t> chunk(64 * 1024);
    const auto deadline = std::chrono::steady_clock::now() + kTimeout;
    for (;;)
    {
        ASSERT_LT(std::chrono::steady_clock::now(), deadline);
        const long n = read_some(peer.get(), chunk.data(), chunk.size(), std::chrono::milliseconds(100));
        if (n < 0)
            continue;  // nothing yet (or an error, after which the stream ends)
        if (n == 0)
            break;
        got.insert(got.end(), chunk.begin(), chunk.begin() + n);
    }
    ASSERT_LT(got.size(), original.size());
    EXPECT_TRUE(std::equal(got.begin(), got.end(), original.begin())) << "bytes changed after the close reached the peer";
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_040
TEST_P(Close, close_returns_only_after_a_running_callback_returned_and_none_starts_later)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    std::vector<uint8_t> in1(8), in2(8);
    ASYNC_SOCKET_BUFFER first_buffer{in1.data(), static_cast<uint32_t>(in1.size())};
    ASYNC_SOCKET_BUFFER second_buffer{in2.data(), static_cast<uint32_t>(in2.size())};
    BlockingReceive running;
    ReceiveRecord pending;
    std::atomic<bool> running_returned_at_close{false};
    std::atomic<int> pending_calls_at_close{-1};
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_EQ(0, async_socket_receive_async(s.get(), &first_buffer, 1, BlockingReceive::callback, &running));
    ASSERT_EQ(0, async_socket_receive_async(s.get(), &second_buffer, 1, ReceiveRecord::callback, &pending));
    ASSERT_TRUE(write_all(peer.get(), "a", 1));
    ASSERT_TRUE(wait_until([&] { return running.entered.load(); }));

    ASYNC_SOCKET_HANDLE handle = s.get();
    Background closer([&, handle] {
        async_socket_close(handle);
        running_returned_at_close = running.returned.load();
        pending_calls_at_close = pending.calls.load();
    });
    std::this_thread::sleep_for(kQuiet);
    EXPECT_FALSE(closer.finished());
    running.gate.open();
    closer.join();
    EXPECT_TRUE(running_returned_at_close.load());
    EXPECT_EQ(1, pending_calls_at_close.load());
    EXPECT_EQ(kPlatform.receive_result_after_close, pending.result.load());

    // Nothing starts afterwards, whatever the peer does.
    (void)send_some(peer.get(), "more", 4);
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(1, running.calls.load());
    EXPECT_EQ(1, pending.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_040
TEST_P(Close, close_called_from_a_callback_of_the_socket_returns)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    std::vector<uint8_t> in1(8), in2(8);
    ASYNC_SOCKET_BUFFER first_buffer{in1.data(), static_cast<uint32_t>(in1.size())};
    ASYNC_SOCKET_BUFFER second_buffer{in2.data(), static_cast<uint32_t>(in2.size())};
    ClosingReceive closing;
    ReceiveRecord pending;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    closing.socket = s.get();
    ASSERT_EQ(0, async_socket_receive_async(s.get(), &first_buffer, 1, ClosingReceive::callback, &closing));
    ASSERT_EQ(0, async_socket_receive_async(s.get(), &second_buffer, 1, ReceiveRecord::callback, &pending));
    ASSERT_TRUE(write_all(peer.get(), "a", 1));
    // The close inside the callback does not wait for that callback: it returns.
    ASSERT_TRUE(wait_until([&] { return closing.returned.load(); }));
    EXPECT_EQ(1, pending.calls.load());
    EXPECT_EQ(kPlatform.receive_result_after_close, pending.result.load());
    EXPECT_TRUE(peer_reaches_end(peer.get()));
    // Closing again from here returns at once.
    async_socket_close(s.get());
    EXPECT_EQ(1, closing.calls.load());
    sync_with_loop(engine);  // the loop is done with the callback before the socket goes
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_022
TEST_P(Close, close_of_a_never_opened_socket_returns_and_leaves_it_alone)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    OpenRecord open;
    OwnedSocket s(async_socket_create(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    async_socket_close(s.get());
    // Nothing happened to it: the handle is open and the socket can still be opened.
    EXPECT_FALSE(peer_has_news(peer.get(), std::chrono::milliseconds(50)));
    ASSERT_EQ(0, async_socket_open_async(s.get(), OpenRecord::callback, &open));
    ASSERT_TRUE(open.done.wait_for(1));
    EXPECT_TRUE(round_trip(s.get(), peer.get()));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_022
TEST_P(Close, close_of_a_closed_socket_returns)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    async_socket_close(s.get());
    ASYNC_SOCKET_HANDLE handle = s.get();
    Background again([handle] { async_socket_close(handle); });
    EXPECT_TRUE(again.wait_for());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_022
TEST_P(Close, a_second_close_waits_for_the_close_under_way_in_another_thread)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    std::vector<uint8_t> in(8);
    ASYNC_SOCKET_BUFFER buffer{in.data(), static_cast<uint32_t>(in.size())};
    BlockingReceive running;
    std::atomic<bool> first_saw_return{false}, second_saw_return{false};
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_EQ(0, async_socket_receive_async(s.get(), &buffer, 1, BlockingReceive::callback, &running));
    ASSERT_TRUE(write_all(peer.get(), "a", 1));
    ASSERT_TRUE(wait_until([&] { return running.entered.load(); }));

    ASYNC_SOCKET_HANDLE handle = s.get();
    Background first([&, handle] {
        async_socket_close(handle);
        first_saw_return = running.returned.load();
    });
    ASSERT_TRUE(wait_until_not_open(s.get()));
    // The socket is CLOSING: a second close must wait for the first one to finish (Linux,
    // 02_018); the seed's returns at once (01_022).
    Background second([&, handle] {
        async_socket_close(handle);
        second_saw_return = running.returned.load();
    });
    if (kPlatform.close_waits_for_close_under_way)
    {
        std::this_thread::sleep_for(kQuiet);
        EXPECT_FALSE(first.finished());
        EXPECT_FALSE(second.finished());
    }
    else
    {
        EXPECT_TRUE(second.wait_for());
        EXPECT_FALSE(first.finished());
    }
    running.gate.open();
    first.join();
    second.join();
    EXPECT_TRUE(first_saw_return.load());
    EXPECT_EQ(kPlatform.close_waits_for_close_under_way, second_saw_return.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_022
TEST_P(Close, close_waits_for_a_close_under_way_in_a_callback_of_the_socket)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    std::vector<uint8_t> in1(8), in2(8);
    ASYNC_SOCKET_BUFFER first_buffer{in1.data(), static_cast<uint32_t>(in1.size())};
    ASYNC_SOCKET_BUFFER second_buffer{in2.data(), static_cast<uint32_t>(in2.size())};
    ClosingReceive closing;
    BlockingReceive abandoned;
    std::atomic<bool> saw_abandoned_return{false};
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    closing.socket = s.get();
    // The first receive's callback closes the socket on the loop thread; that close completes
    // the second receive, whose callback blocks: a close is under way on the loop thread.
    ASSERT_EQ(0, async_socket_receive_async(s.get(), &first_buffer, 1, ClosingReceive::callback, &closing));
    ASSERT_EQ(0, async_socket_receive_async(s.get(), &second_buffer, 1, BlockingReceive::callback, &abandoned));
    ASSERT_TRUE(write_all(peer.get(), "a", 1));
    ASSERT_TRUE(wait_until([&] { return abandoned.entered.load(); }));

    ASYNC_SOCKET_HANDLE handle = s.get();
    Background closer([&, handle] {
        async_socket_close(handle);
        saw_abandoned_return = abandoned.returned.load();
    });
    if (kPlatform.close_waits_for_close_under_way)
    {
        std::this_thread::sleep_for(kQuiet);
        EXPECT_FALSE(closer.finished()) << "close returned while another close was still completing the socket's operations";
    }
    else
    {
        // The seed's close returns at once when the socket is not OPEN (01_022).
        EXPECT_TRUE(closer.wait_for());
    }
    abandoned.gate.open();
    closer.join();
    EXPECT_EQ(kPlatform.close_waits_for_close_under_way, saw_abandoned_return.load());
    ASSERT_TRUE(wait_until([&] { return closing.returned.load(); }));
    sync_with_loop(engine);
}

ASOCK_INSTANTIATE_CONTRACT(Close);

}  // namespace
}  // namespace asock_test
