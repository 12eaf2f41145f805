// The guarantees about blocking and system effects: a send that cannot finish blocks nothing
// (02_007), blocking and non-blocking handles work alike and keep their mode (02_008), a send
// to a vanished peer fails without harming the process (02_009), no CPU used while there is
// nothing to do (02_010). SIGPIPE itself is Linux's: guarantees_blocking_linux_test.cpp.
#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "contract/guarantee_helpers.h"

namespace asock_test {
namespace {

using namespace std::chrono_literals;

// A send that cannot finish, started through a bounded call. Kept on the heap (and leaked
// when the call blocks) because a blocked thread may still refer to it.
struct StuckSend
{
    explicit StuckSend(size_t size) : bytes(size, 0x6b) {}
    std::vector<uint8_t> bytes;
    SendRecord sent;
    std::atomic<int> sync_result{-1};
};

class Blocking : public Contract
{
protected:
    // Starts a send of state->bytes on s from another thread and waits (bounded) for the
    // call to return. False when it did not: the engine is then leaked (its socket cannot be
    // closed safely) and so is the state.
    bool start_stuck_send(ASYNC_SOCKET_HANDLE s, StuckSend* state)
    {
        const bool returned = finishes_within(kHangTimeout, [s, state] {
            ASYNC_SOCKET_BUFFER b{state->bytes.data(), static_cast<uint32_t>(state->bytes.size())};
            state->sync_result = async_socket_send_async(s, &b, 1, SendRecord::callback, &state->sent);
        });
        if (!returned)
        {
            ADD_FAILURE() << "async_socket_send_async blocked its caller";
            engine = nullptr;
            return false;
        }
        EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, state->sync_result.load());
        return true;
    }

    // One round trip on t: the peer sends, t receives, t sends it back, the peer reads it.
    void round_trip(ASYNC_SOCKET_HANDLE t, NativeSocket peer, uint32_t seed)
    {
        const std::vector<uint8_t> data = pattern(100, seed);
        std::array<uint8_t, 100> in{};
        ASYNC_SOCKET_BUFFER rb{in.data(), static_cast<uint32_t>(in.size())};
        ReceiveRecord received;
        ASSERT_EQ(0, async_socket_receive_async(t, &rb, 1, ReceiveRecord::callback, &received));
        ASSERT_TRUE(write_all(peer, data.data(), data.size()));
        ASSERT_TRUE(received.done.wait_for(1)) << "the other socket's receive did not complete";
        ASSERT_EQ(ASYNC_SOCKET_RECEIVE_OK, received.result.load());
        // Loopback delivers the 100 bytes written at once in one piece.
        ASSERT_EQ(100u, received.bytes.load());
        SendRecord sent;
        ASYNC_SOCKET_BUFFER sb{in.data(), static_cast<uint32_t>(in.size())};
        ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(t, &sb, 1, SendRecord::callback, &sent));
        ASSERT_TRUE(sent.done.wait_for(1)) << "the other socket's send did not complete";
        EXPECT_EQ(ASYNC_SOCKET_SEND_OK, sent.result.load());
        EXPECT_EQ(data, read_exactly(peer, data.size()));
    }

    // A receive on s that completes with what the peer writes.
    void receive_from_peer(ASYNC_SOCKET_HANDLE s, NativeSocket peer)
    {
        std::array<uint8_t, 64> in{};
        ASYNC_SOCKET_BUFFER b{in.data(), static_cast<uint32_t>(in.size())};
        ReceiveRecord received;
        ASSERT_EQ(0, async_socket_receive_async(s, &b, 1, ReceiveRecord::callback, &received));
        ASSERT_TRUE(write_all(peer, "0123456789", 10));
        ASSERT_TRUE(received.done.wait_for(1)) << "the receive of the socket with a stuck send did not complete";
        EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, received.result.load());
        EXPECT_EQ(10u, received.bytes.load());
        EXPECT_EQ(0, std::memcmp(in.data(), "0123456789", 10));
    }

    // Destroys s, waiting (bounded) for the call to return: a loop thread blocked in a send
    // would keep it from returning. When it does not return, the engine is leaked.
    bool destroy_within(ASYNC_SOCKET_HANDLE s, EXECUTION_ENGINE_HANDLE* leak_on_failure)
    {
        if (finishes_within(kHangTimeout, [s] { async_socket_destroy(s); }))
            return true;
        ADD_FAILURE() << "async_socket_destroy did not return: a loop thread is blocked";
        *leak_on_failure = nullptr;
        return false;
    }

    // The stuck send is still pending; then closing completes it. False when the close did
    // not return (everything is then leaked).
    bool finish_stuck(ASYNC_SOCKET_HANDLE s, StuckSend* state)
    {
        EXPECT_EQ(0, state->sent.calls.load()) << "test setup: the send finished although the peer does not read";
        if (!finishes_within(kHangTimeout, [s] { async_socket_close(s); }))
        {
            ADD_FAILURE() << "async_socket_close did not return: the loop thread is blocked";
            engine = nullptr;
            return false;
        }
        EXPECT_EQ(1, state->sent.calls.load());
        EXPECT_EQ(kPlatform.send_result_after_close, state->sent.result.load());
        async_socket_destroy(s);
        delete state;
        return true;
    }
};

// --- A send that cannot finish (02_007) -----------------------------------------------------

// Tests_SRS_ASYNC_SOCKET_LINUX_02_007
TEST_P(Blocking, a_send_that_cannot_finish_returns_to_the_caller_at_once)
{
    Connection c = small_buffer_connection();
    ASYNC_SOCKET_HANDLE s = create_and_open(engine, c.ours);
    auto* state = new StuckSend(64u * 1024 * 1024);
    if (!start_stuck_send(s, state))
        return;
    // A second one, queued behind it, returns as well.
    auto* second = new StuckSend(1024);
    if (!start_stuck_send(s, second))
        return;
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(0, second->sent.calls.load());
    if (!finish_stuck(s, state))
        return;
    EXPECT_EQ(1, second->sent.calls.load());
    delete second;
    close_socket(c.peer);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_007
TEST_P(Blocking, a_send_that_cannot_finish_does_not_block_other_sockets_of_its_loop)
{
    Connection cs = small_buffer_connection();
    Connection ct = tcp_connection();
    // The fixture's engine has one loop: S and T share its thread.
    ASYNC_SOCKET_HANDLE s = create_and_open(engine, cs.ours);
    ASYNC_SOCKET_HANDLE t = create_and_open(engine, ct.ours);
    auto* state = new StuckSend(64u * 1024 * 1024);
    if (!start_stuck_send(s, state))
        return;
    std::this_thread::sleep_for(50ms);
    for (uint32_t i = 0; i < 20 && !HasFatalFailure(); ++i)
        round_trip(t, ct.peer, i);
    if (!finish_stuck(s, state))
        return;
    async_socket_destroy(t);
    close_socket(cs.peer);
    close_socket(ct.peer);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_007
TEST_P(Blocking, a_send_that_cannot_finish_does_not_block_the_receives_of_its_socket)
{
    Connection c = small_buffer_connection();
    ASYNC_SOCKET_HANDLE s = create_and_open(engine, c.ours);
    auto* state = new StuckSend(64u * 1024 * 1024);
    if (!start_stuck_send(s, state))
        return;
    std::this_thread::sleep_for(50ms);
    for (int i = 0; i < 5 && !HasFatalFailure(); ++i)
        receive_from_peer(s, c.peer);
    if (!finish_stuck(s, state))
        return;
    close_socket(c.peer);
}

// --- Blocking and non-blocking handles (02_008) -------------------------------------------

class BlockingModes : public Blocking
{
protected:
    void works_and_keeps_mode(bool nonblocking)
    {
        Connection c = tcp_connection();
        set_send_buffer(as_native(c.ours), 64 * 1024);
        if (nonblocking)
            set_nonblocking(as_native(c.ours), true);
        // The mode is checked where it can be read back (Linux); on Windows the handle is only
        // used in that mode (handle_status_flags).
        const std::optional<int> flags = handle_status_flags(c.ours);
        if (flags)
        {
            ASSERT_EQ(nonblocking, flags_say_nonblocking(*flags));
        }
        ASYNC_SOCKET_HANDLE s = create_and_open(engine, c.ours);
        EXPECT_EQ(flags, handle_status_flags(c.ours)) << "open changed the handle's mode";

        // A receive that waits for data.
        {
            std::vector<uint8_t> in(4096);
            ASYNC_SOCKET_BUFFER b{in.data(), static_cast<uint32_t>(in.size())};
            ReceiveRecord received;
            ASSERT_EQ(0, async_socket_receive_async(s, &b, 1, ReceiveRecord::callback, &received));
            std::this_thread::sleep_for(20ms);
            EXPECT_EQ(0, received.calls.load());
            ASSERT_TRUE(write_all(c.peer, "hello", 5));
            ASSERT_TRUE(received.done.wait_for(1));
            EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, received.result.load());
            EXPECT_EQ(5u, received.bytes.load());
        }
        // A send far larger than the kernel buffers, read by the peer meanwhile: partial
        // writes and "would block" on the way.
        {
            const std::vector<uint8_t> out = pattern(4u * 1024 * 1024, 21);
            std::vector<uint8_t> got;
            std::thread reader([&] { got = read_exactly(c.peer, out.size()); });
            ASYNC_SOCKET_BUFFER b{const_cast<uint8_t*>(out.data()), static_cast<uint32_t>(out.size())};
            SendRecord sent;
            ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s, &b, 1, SendRecord::callback, &sent));
            reader.join();
            ASSERT_TRUE(sent.done.wait_for(1));
            EXPECT_EQ(ASYNC_SOCKET_SEND_OK, sent.result.load());
            EXPECT_TRUE(got == out) << "the peer received " << got.size() << " bytes, not what was sent";
        }
        // A stream received in many receives.
        {
            const std::vector<uint8_t> stream = pattern(1024 * 1024, 22);
            std::thread writer([&] { (void)write_all(c.peer, stream.data(), stream.size()); });
            std::vector<uint8_t> got;
            std::vector<uint8_t> in(64 * 1024);
            while (got.size() < stream.size())
            {
                ASYNC_SOCKET_BUFFER b{in.data(), static_cast<uint32_t>(in.size())};
                ReceiveRecord received;
                ASSERT_EQ(0, async_socket_receive_async(s, &b, 1, ReceiveRecord::callback, &received));
                if (!received.done.wait_for(1))
                {
                    ADD_FAILURE() << "a receive did not complete";
                    break;
                }
                if (received.result.load() != ASYNC_SOCKET_RECEIVE_OK)
                {
                    ADD_FAILURE() << "a receive failed";
                    break;
                }
                got.insert(got.end(), in.begin(), in.begin() + received.bytes.load());
            }
            writer.join();
            EXPECT_TRUE(got == stream) << "received " << got.size() << " bytes, not the stream";
        }
        EXPECT_EQ(flags, handle_status_flags(c.ours)) << "the I/O changed the handle's mode";
        async_socket_destroy(s);
        close_socket(c.peer);
    }
};

// Tests_SRS_ASYNC_SOCKET_LINUX_02_008
TEST_P(BlockingModes, a_blocking_handle_works_and_keeps_its_mode)
{
    works_and_keeps_mode(false);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_008
TEST_P(BlockingModes, a_non_blocking_handle_works_and_keeps_its_mode)
{
    works_and_keeps_mode(true);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_008
// Tests_SRS_ASYNC_SOCKET_LINUX_02_007
TEST_P(BlockingModes, a_blocking_handle_with_a_stuck_send_and_an_empty_receive_blocks_nothing)
{
    Connection cs = small_buffer_connection();
    Connection ct = tcp_connection();
    for (SOCKET_HANDLE handle : {cs.ours, ct.ours})
    {
        if (const std::optional<int> flags = handle_status_flags(handle))
        {
            ASSERT_FALSE(flags_say_nonblocking(*flags));
        }
    }
    ASYNC_SOCKET_HANDLE s = create_and_open(engine, cs.ours);
    ASYNC_SOCKET_HANDLE t = create_and_open(engine, ct.ours);
    // A receive with no data on a blocking handle, and a send that cannot finish.
    std::array<uint8_t, 64> in{};
    ASYNC_SOCKET_BUFFER rb{in.data(), static_cast<uint32_t>(in.size())};
    ReceiveRecord waiting;
    ASSERT_EQ(0, async_socket_receive_async(s, &rb, 1, ReceiveRecord::callback, &waiting));
    auto* state = new StuckSend(kStuckSendSize);
    if (!start_stuck_send(s, state))
        return;
    std::this_thread::sleep_for(50ms);
    for (uint32_t i = 0; i < 10 && !HasFatalFailure(); ++i)
        round_trip(t, ct.peer, 100 + i);
    EXPECT_EQ(0, waiting.calls.load());
    ASSERT_TRUE(write_all(cs.peer, "late", 4));
    ASSERT_TRUE(waiting.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, waiting.result.load());
    EXPECT_EQ(4u, waiting.bytes.load());
    if (!finish_stuck(s, state))
        return;
    async_socket_destroy(t);
    close_socket(cs.peer);
    close_socket(ct.peer);
}

// --- A send to a vanished peer (02_009) ---------------------------------------------------

// On Linux a send to a vanished peer would raise SIGPIPE, which kills the process by default
// (guarantees_blocking_linux_test.cpp counts the signals); Windows has no signals. What both
// have: such sends fail, and the process lives on.
class VanishedPeer : public Contract
{
protected:
    // Sends on s until a send fails, at once or through its callback (the peer is gone).
    void send_until_failure(ASYNC_SOCKET_HANDLE s)
    {
        std::vector<uint8_t> chunk(64 * 1024, 0x11);
        bool failed = false;
        for (int i = 0; i < 1000 && !failed; ++i)
        {
            ASYNC_SOCKET_BUFFER b{chunk.data(), static_cast<uint32_t>(chunk.size())};
            SendRecord sent;
            const ASYNC_SOCKET_SEND_SYNC_RESULT started = async_socket_send_async(s, &b, 1, SendRecord::callback, &sent);
            if (started != ASYNC_SOCKET_SEND_SYNC_OK)
            {
                // The seed fails a send at once on a reset connection (42_002).
                EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ABANDONED, started);
                failed = true;
                break;
            }
            ASSERT_TRUE(sent.done.wait_for(1));
            failed = sent.result.load() != ASYNC_SOCKET_SEND_OK;
            if (!failed)
                std::this_thread::sleep_for(1ms);
        }
        EXPECT_TRUE(failed) << "test setup: the sends never noticed that the peer is gone";
        // A signal raised on another thread would have ended the process by now.
        std::this_thread::sleep_for(50ms);
    }
};

// Tests_SRS_ASYNC_SOCKET_LINUX_02_009
TEST_P(VanishedPeer, sending_to_a_closed_local_peer_fails_and_the_process_lives_on)
{
    Connection c = local_connection();
    ASYNC_SOCKET_HANDLE s = create_and_open(engine, c.ours);
    close_socket(c.peer);
    send_until_failure(s);
    async_socket_destroy(s);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_009
TEST_P(VanishedPeer, sending_after_a_tcp_reset_fails_and_the_process_lives_on)
{
    Connection c = tcp_connection();
    ASYNC_SOCKET_HANDLE s = create_and_open(engine, c.ours);
    std::array<uint8_t, 64> in{};
    ASYNC_SOCKET_BUFFER rb{in.data(), static_cast<uint32_t>(in.size())};
    ReceiveRecord received;
    ASSERT_EQ(0, async_socket_receive_async(s, &rb, 1, ReceiveRecord::callback, &received));
    reset_on_close(c.peer);
    close_socket(c.peer);
    ASSERT_TRUE(received.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, received.result.load());
    send_until_failure(s);
    async_socket_destroy(s);
}

// --- No CPU when idle (02_010) ------------------------------------------------------------

// Tests_SRS_ASYNC_SOCKET_LINUX_02_010
TEST_P(Blocking, an_engine_with_nothing_to_do_uses_no_cpu)
{
    EXECUTION_ENGINE_HANDLE own = make_engine(GetParam(), 2);
    ASSERT_NE(own, nullptr);
    // Two of each (round robin: one per loop): an idle socket, a socket with a receive
    // waiting, a socket with a send that cannot finish and a receive waiting.
    struct Busy
    {
        Connection c;
        ASYNC_SOCKET_HANDLE socket = nullptr;
        std::array<uint8_t, 64> in{};
        ReceiveRecord received;
        std::unique_ptr<StuckSend> stuck;
    };
    std::vector<std::unique_ptr<Busy>> sockets;
    for (int i = 0; i < 6; ++i)
    {
        auto b = std::make_unique<Busy>();
        b->c = small_buffer_connection();
        b->socket = create_and_open(own, b->c.ours);
        if (i >= 2)
        {
            ASYNC_SOCKET_BUFFER rb{b->in.data(), static_cast<uint32_t>(b->in.size())};
            ASSERT_EQ(0, async_socket_receive_async(b->socket, &rb, 1, ReceiveRecord::callback, &b->received));
        }
        if (i >= 4)
        {
            b->stuck = std::make_unique<StuckSend>(kStuckSendSize);
            ASYNC_SOCKET_BUFFER sb{b->stuck->bytes.data(), static_cast<uint32_t>(b->stuck->bytes.size())};
            ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(b->socket, &sb, 1, SendRecord::callback, &b->stuck->sent));
        }
        sockets.push_back(std::move(b));
    }
    // Let the sends fill the kernel buffers.
    std::this_thread::sleep_for(300ms);

    // A loop that polls instead of sleeping would use most of a CPU in each window, even on
    // a loaded machine; the best of two windows leaves room for a stray wake-up.
    double best = 1e9;
    for (int window = 0; window < 2; ++window)
    {
        const double before = process_cpu_seconds();
        std::this_thread::sleep_for(500ms);
        best = std::min(best, process_cpu_seconds() - before);
    }
    EXPECT_LT(best, 0.05) << "the idle engine used " << best << " s of CPU in 0.5 s";

    for (auto& b : sockets)
    {
        EXPECT_EQ(0, b->received.calls.load());
        if (b->stuck)
        {
            EXPECT_EQ(0, b->stuck->sent.calls.load()) << "test setup: a send finished although the peer does not read";
        }
        if (!destroy_within(b->socket, &own))
        {
            for (auto& leaked : sockets)
                (void)leaked.release();  // a blocked loop thread may still refer to them
            return;
        }
        close_socket(b->c.peer);
    }
    execution_engine_dec_ref(own);
}

ASOCK_INSTANTIATE_CONTRACT(Blocking);
ASOCK_INSTANTIATE_CONTRACT(BlockingModes);
ASOCK_INSTANTIATE_CONTRACT(VanishedPeer);

}  // namespace
}  // namespace asock_test
