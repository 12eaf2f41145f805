// Receives with a deadline and cancels of a socket's receives (async_socket_deadline.h), once
// per backend: a timeout or a cancel leaves the socket usable, never loses a byte, is told
// apart from a peer that left, and completes each receive exactly once, never inside a call.
// Requirements: docs/requirements/timers.md (SRS_ASOCK_DEADLINE_12_*).
#include <algorithm>
#include <iostream>
#include <random>
#include <vector>

#include "asock/async_socket_deadline.h"
#include "contract/seed_helpers.h"

namespace asock_test {
namespace {

using Clock = std::chrono::steady_clock;

// Set around the asock calls the tests make from callbacks: a callback that finds it set runs
// inside the call.
thread_local bool tls_inside_call = false;

// One timed receive: its buffer and what its completion reported.
struct TimedReceive
{
    std::vector<uint8_t> data = std::vector<uint8_t>(64);
    Clock::time_point started{};
    uint32_t timeout_ms = 0;
    std::atomic<int> calls{0};
    std::atomic<int> result{-1};
    std::atomic<uint32_t> bytes{0};
    std::atomic<int64_t> after_us{-1};
    std::atomic<int> inside_call{0};
    Counter done;

    static void callback(void* context, ASYNC_SOCKET_RECEIVE_TIMED_RESULT receive_result, uint32_t bytes_received)
    {
        auto* self = static_cast<TimedReceive*>(context);
        self->after_us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - self->started).count();
        if (tls_inside_call)
            self->inside_call++;
        self->result = receive_result;
        self->bytes = bytes_received;
        self->calls++;
        self->done.add();
    }

    int start(ASYNC_SOCKET_HANDLE socket, uint32_t timeout)
    {
        timeout_ms = timeout;
        started = Clock::now();
        ASYNC_SOCKET_BUFFER buffer{data.data(), static_cast<uint32_t>(data.size())};
        tls_inside_call = true;
        const int error = async_socket_receive_timed_async(socket, &buffer, 1, timeout, callback, this);
        tls_inside_call = false;
        return error;
    }
    ASYNC_SOCKET_RECEIVE_TIMED_RESULT outcome() const { return static_cast<ASYNC_SOCKET_RECEIVE_TIMED_RESULT>(result.load()); }
    std::string text() const { return std::string(data.begin(), data.begin() + bytes.load()); }
};

int cancel_marked(ASYNC_SOCKET_HANDLE socket)
{
    tls_inside_call = true;
    const int error = async_socket_cancel_receives(socket);
    tls_inside_call = false;
    return error;
}

class ReceiveDeadlines : public Contract
{
protected:
    void SetUp() override
    {
        Contract::SetUp();
        if (engine == nullptr)
            return;
        Connection c = local_connection();
        peer.reset(c.peer);
        socket.reset(open_socket(c.ours));
        ASSERT_NE(nullptr, socket.get());
    }
    void TearDown() override
    {
        socket.destroy();
        Contract::TearDown();
    }

    void peer_sends(const std::string& text) { ASSERT_TRUE(write_all(peer.get(), text.data(), text.size())); }

    ScopedSocket peer;
    OwnedSocket socket;
};

// Tests_SRS_ASOCK_DEADLINE_12_001, Tests_SRS_ASOCK_DEADLINE_12_002
TEST_P(ReceiveDeadlines, a_receive_that_times_out_leaves_the_socket_open_and_the_next_receive_gets_the_bytes)
{
    TimedReceive first;
    TimedReceive second;
    ASSERT_EQ(0, first.start(socket.get(), 50));
    ASSERT_TRUE(first.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_TIMEOUT, first.outcome());
    EXPECT_EQ(0u, first.bytes.load());
    EXPECT_GE(first.after_us.load(), 50000) << "timed out early";
    EXPECT_EQ(0, first.inside_call.load());
    peer_sends("after");
    ASSERT_EQ(0, second.start(socket.get(), 5000));
    ASSERT_TRUE(second.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_OK, second.outcome());
    EXPECT_EQ("after", second.text());
    EXPECT_EQ(1, first.calls.load());
}

// Tests_SRS_ASOCK_DEADLINE_12_001
TEST_P(ReceiveDeadlines, a_timed_receive_whose_bytes_come_before_the_deadline_completes_ok_and_never_times_out_later)
{
    TimedReceive received;
    ASSERT_EQ(0, received.start(socket.get(), 200));
    peer_sends("soon");
    ASSERT_TRUE(received.done.wait_for(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(1, received.calls.load());
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_OK, received.outcome());
    EXPECT_EQ("soon", received.text());
}

// Tests_SRS_ASOCK_DEADLINE_12_003
TEST_P(ReceiveDeadlines, a_timeout_of_zero_means_no_deadline)
{
    TimedReceive received;
    ASSERT_EQ(0, received.start(socket.get(), 0));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(0, received.calls.load()) << "a receive without a deadline ended by itself";
    peer_sends("late");
    ASSERT_TRUE(received.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_OK, received.outcome());
    EXPECT_EQ("late", received.text());
}

// Tests_SRS_ASOCK_DEADLINE_12_004
TEST_P(ReceiveDeadlines, queued_receives_with_different_deadlines_time_out_each_at_its_own_and_the_others_keep_their_order)
{
    // r0 has no deadline and is the one the system waits on; r1 and r2 wait behind it and time
    // out there; r3 (no deadline) then gets the second message.
    std::vector<TimedReceive> r(4);
    const uint32_t timeouts[4] = {0, 120, 60, 0};
    for (int i = 0; i < 4; ++i)
        ASSERT_EQ(0, r[i].start(socket.get(), timeouts[i]));
    ASSERT_TRUE(r[1].done.wait_for(1));
    ASSERT_TRUE(r[2].done.wait_for(1));
    for (int i : {1, 2})
    {
        EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_TIMEOUT, r[i].outcome());
        EXPECT_GE(r[i].after_us.load(), static_cast<int64_t>(timeouts[i]) * 1000);
    }
    EXPECT_LT(r[2].after_us.load(), r[1].after_us.load()) << "the earlier deadline ended later";
    EXPECT_EQ(0, r[0].calls.load());
    EXPECT_EQ(0, r[3].calls.load());
    peer_sends("one");
    ASSERT_TRUE(r[0].done.wait_for(1));
    EXPECT_EQ("one", r[0].text());
    peer_sends("two");
    ASSERT_TRUE(r[3].done.wait_for(1));
    EXPECT_EQ("two", r[3].text());
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_OK, r[3].outcome());
}

// Tests_SRS_ASOCK_DEADLINE_12_004
TEST_P(ReceiveDeadlines, when_the_receive_the_system_waits_on_times_out_the_next_one_takes_its_place)
{
    TimedReceive first;
    TimedReceive second;
    ASSERT_EQ(0, first.start(socket.get(), 40));
    ASSERT_EQ(0, second.start(socket.get(), 0));
    ASSERT_TRUE(first.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_TIMEOUT, first.outcome());
    peer_sends("next");
    ASSERT_TRUE(second.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_OK, second.outcome());
    EXPECT_EQ("next", second.text());
}

// A receiver that runs timed receives with a tiny deadline back to back, and a sender that
// writes at the moments those deadlines pass: every byte sent is received once, in order.
// Tests_SRS_ASOCK_DEADLINE_12_005
TEST_P(ReceiveDeadlines, a_deadline_passing_as_bytes_arrive_never_loses_a_byte)
{
    constexpr int kRounds = 400;
    const std::vector<uint8_t> sent = pattern(kRounds * 7, 21);
    Background sender([&] {
        std::mt19937 random(1);
        for (int i = 0; i < kRounds; ++i)
        {
            std::this_thread::sleep_for(std::chrono::microseconds(500 + random() % 1500));
            if (!write_all(peer.get(), sent.data() + i * 7, 7))
                return;
        }
    });
    std::vector<uint8_t> received;
    int timeouts = 0;
    const auto give_up = Clock::now() + std::chrono::seconds(4);
    while (received.size() < sent.size() && Clock::now() < give_up)
    {
        TimedReceive r;
        ASSERT_EQ(0, r.start(socket.get(), 1 + static_cast<uint32_t>(received.size() % 3)));
        ASSERT_TRUE(r.done.wait_for(1));
        if (r.outcome() == ASYNC_SOCKET_RECEIVE_TIMED_TIMEOUT)
        {
            EXPECT_EQ(0u, r.bytes.load());
            ++timeouts;
            continue;
        }
        ASSERT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_OK, r.outcome());
        received.insert(received.end(), r.data.begin(), r.data.begin() + r.bytes.load());
    }
    sender.join();
    ASSERT_EQ(sent.size(), received.size()) << "bytes were lost or doubled";
    EXPECT_TRUE(sent == received) << "bytes came out of order";
    EXPECT_GT(timeouts, 0) << "no deadline passed: the race was not exercised";
    std::cout << "[ info ] " << timeouts << " timeouts over " << kRounds << " messages\n";
}

// Tests_SRS_ASOCK_DEADLINE_12_006
TEST_P(ReceiveDeadlines, a_timed_receive_on_a_closed_socket_fails_and_never_calls_back)
{
    TimedReceive received;
    async_socket_close(socket.get());
    EXPECT_NE(0, received.start(socket.get(), 100));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_EQ(0, received.calls.load());
}

// Tests_SRS_ASOCK_DEADLINE_12_006
TEST_P(ReceiveDeadlines, a_timed_receive_with_bad_arguments_fails_and_never_calls_back)
{
    TimedReceive received;
    ASYNC_SOCKET_BUFFER buffer{received.data.data(), 8};
    ASYNC_SOCKET_BUFFER empty{received.data.data(), 0};
    EXPECT_NE(0, async_socket_receive_timed_async(nullptr, &buffer, 1, 100, TimedReceive::callback, &received));
    EXPECT_NE(0, async_socket_receive_timed_async(socket.get(), nullptr, 1, 100, TimedReceive::callback, &received));
    EXPECT_NE(0, async_socket_receive_timed_async(socket.get(), &buffer, 0, 100, TimedReceive::callback, &received));
    EXPECT_NE(0, async_socket_receive_timed_async(socket.get(), &empty, 1, 100, TimedReceive::callback, &received));
    EXPECT_NE(0, async_socket_receive_timed_async(socket.get(), &buffer, 1, 100, nullptr, &received));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_EQ(0, received.calls.load());
}

// Tests_SRS_ASOCK_DEADLINE_12_007
TEST_P(ReceiveDeadlines, a_cancel_with_nothing_pending_returns_zero_and_the_next_receive_works)
{
    EXPECT_EQ(0, async_socket_cancel_receives(socket.get()));
    TimedReceive received;
    ASSERT_EQ(0, received.start(socket.get(), 0));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(0, received.calls.load()) << "a cancel made before the receive ended it";
    peer_sends("still");
    ASSERT_TRUE(received.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_OK, received.outcome());
    EXPECT_EQ("still", received.text());
}

// Tests_SRS_ASOCK_DEADLINE_12_007
TEST_P(ReceiveDeadlines, cancel_without_a_socket_fails_with_einval_and_on_a_closed_socket_with_ebadf)
{
    EXPECT_EQ(EINVAL, async_socket_cancel_receives(nullptr));
    async_socket_close(socket.get());
    EXPECT_EQ(EBADF, async_socket_cancel_receives(socket.get()));
}

// Tests_SRS_ASOCK_DEADLINE_12_008
TEST_P(ReceiveDeadlines, a_cancel_ends_every_pending_receive_cancelled_soon_and_then_the_socket_still_receives)
{
    std::vector<TimedReceive> r(3);
    ASSERT_EQ(0, r[0].start(socket.get(), 0));
    ASSERT_EQ(0, r[1].start(socket.get(), 5000));
    ASSERT_EQ(0, r[2].start(socket.get(), 0));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_EQ(0, cancel_marked(socket.get()));
    for (TimedReceive& each : r)
    {
        ASSERT_TRUE(each.done.wait_for(1));
        EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_CANCELLED, each.outcome());
        EXPECT_EQ(0u, each.bytes.load());
        EXPECT_EQ(0, each.inside_call.load());
        EXPECT_LT(each.after_us.load(), 3000000);
    }
    TimedReceive after;
    ASSERT_EQ(0, after.start(socket.get(), 5000));
    peer_sends("usable");
    ASSERT_TRUE(after.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_OK, after.outcome());
    EXPECT_EQ("usable", after.text());
    for (TimedReceive& each : r)
        EXPECT_EQ(1, each.calls.load());
}

// Tests_SRS_ASOCK_DEADLINE_12_009
TEST_P(ReceiveDeadlines, a_cancel_ends_a_plain_receive_abandoned_and_the_socket_still_receives)
{
    std::vector<uint8_t> in(16);
    ASYNC_SOCKET_BUFFER buffer{in.data(), 16};
    ReceiveRecord plain;
    ASSERT_EQ(0, async_socket_receive_async(socket.get(), &buffer, 1, ReceiveRecord::callback, &plain));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_EQ(0, async_socket_cancel_receives(socket.get()));
    ASSERT_TRUE(plain.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, plain.result.load());
    EXPECT_EQ(0u, plain.bytes.load());
    TimedReceive after;
    ASSERT_EQ(0, after.start(socket.get(), 5000));
    peer_sends("alive");
    ASSERT_TRUE(after.done.wait_for(1));
    EXPECT_EQ("alive", after.text());
    EXPECT_EQ(1, plain.calls.load());
}

// Tests_SRS_ASOCK_DEADLINE_12_008
TEST_P(ReceiveDeadlines, a_cancel_leaves_the_receives_started_after_it_pending)
{
    TimedReceive before;
    TimedReceive after;
    ASSERT_EQ(0, before.start(socket.get(), 0));
    ASSERT_EQ(0, cancel_marked(socket.get()));
    ASSERT_EQ(0, after.start(socket.get(), 0));
    ASSERT_TRUE(before.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_CANCELLED, before.outcome());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(0, after.calls.load()) << "the cancel ended a receive started after it";
    peer_sends("kept");
    ASSERT_TRUE(after.done.wait_for(1));
    EXPECT_EQ("kept", after.text());
}

// Tests_SRS_ASOCK_DEADLINE_12_010
TEST_P(ReceiveDeadlines, a_close_during_a_pending_timed_receive_completes_it_abandoned_before_close_returns)
{
    TimedReceive received;
    ASSERT_EQ(0, received.start(socket.get(), 5000));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    async_socket_close(socket.get());
    EXPECT_EQ(1, received.calls.load()) << "close returned before the receive completed";
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_ABANDONED, received.outcome());
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(1, received.calls.load());
}

// Tests_SRS_ASOCK_DEADLINE_12_010
TEST_P(ReceiveDeadlines, a_peer_that_closes_ends_a_timed_receive_abandoned_not_timed_out)
{
    TimedReceive received;
    ASSERT_EQ(0, received.start(socket.get(), 5000));
    peer.close();
    ASSERT_TRUE(received.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_ABANDONED, received.outcome());
    EXPECT_EQ(0u, received.bytes.load());
    EXPECT_LT(received.after_us.load(), 4000000);
}

// Cancels from another thread while the peer sends: each receive completes once, OK with
// bytes or CANCELLED with none, and every byte sent arrives.
// Tests_SRS_ASOCK_DEADLINE_12_005, Tests_SRS_ASOCK_DEADLINE_12_008
TEST_P(ReceiveDeadlines, cancels_from_another_thread_racing_data_never_lose_a_byte)
{
    constexpr int kRounds = 300;
    const std::vector<uint8_t> sent = pattern(kRounds * 5, 22);
    std::atomic<bool> stop{false};
    Background canceller([&] {
        std::mt19937 random(2);
        while (!stop.load())
        {
            std::this_thread::sleep_for(std::chrono::microseconds(200 + random() % 800));
            EXPECT_EQ(0, async_socket_cancel_receives(socket.get()));
        }
    });
    Background sender([&] {
        std::mt19937 random(3);
        for (int i = 0; i < kRounds; ++i)
        {
            std::this_thread::sleep_for(std::chrono::microseconds(random() % 1000));
            // Now and then a pause long enough for a cancel to find a receive waiting (under
            // Wine's coarse sleeps the random gaps alone did not always give one).
            if (i % 30 == 29)
                std::this_thread::sleep_for(std::chrono::milliseconds(8));
            if (!write_all(peer.get(), sent.data() + i * 5, 5))
                return;
        }
    });
    std::vector<uint8_t> received;
    int cancelled = 0;
    const auto give_up = Clock::now() + std::chrono::seconds(4);
    while (received.size() < sent.size() && Clock::now() < give_up)
    {
        TimedReceive r;
        ASSERT_EQ(0, r.start(socket.get(), 0));
        ASSERT_TRUE(r.done.wait_for(1));
        if (r.outcome() == ASYNC_SOCKET_RECEIVE_TIMED_CANCELLED)
        {
            EXPECT_EQ(0u, r.bytes.load());
            ++cancelled;
            continue;
        }
        ASSERT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_OK, r.outcome());
        received.insert(received.end(), r.data.begin(), r.data.begin() + r.bytes.load());
    }
    stop = true;
    sender.join();
    canceller.join();
    ASSERT_EQ(sent.size(), received.size()) << "bytes were lost or doubled";
    EXPECT_TRUE(sent == received);
    EXPECT_GT(cancelled, 0) << "no cancel ended a receive: the race was not exercised";
}

// The first receive a cancel ends closes its socket from its callback: the other receives the
// cancel ended complete before that close returns (ABANDONED or CANCELLED), never after it.
// (The fuzzer found the cancel completing them after the close had returned.)
struct ClosingReceive : TimedReceive
{
    ASYNC_SOCKET_HANDLE socket = nullptr;
    std::atomic<bool> close_returned{false};
    static void on_complete(void* context, ASYNC_SOCKET_RECEIVE_TIMED_RESULT result, uint32_t bytes)
    {
        auto* self = static_cast<ClosingReceive*>(context);
        async_socket_close(self->socket);
        self->close_returned = true;
        TimedReceive::callback(self, result, bytes);
    }
};

// A receive that notes whether the closer's close had already returned when it completed.
struct WatchingReceive : TimedReceive
{
    const ClosingReceive* closer = nullptr;
    std::atomic<bool> after_close{false};
    static void on_complete(void* context, ASYNC_SOCKET_RECEIVE_TIMED_RESULT result, uint32_t bytes)
    {
        auto* self = static_cast<WatchingReceive*>(context);
        self->after_close = self->closer->close_returned.load();
        TimedReceive::callback(self, result, bytes);
    }
};

// Tests_SRS_ASOCK_DEADLINE_12_002
TEST_P(ReceiveDeadlines, a_callback_that_closes_during_a_cancel_gets_no_callback_of_the_socket_after_its_close_returned)
{
    for (int round = 0; round < 20; ++round)
    {
        Connection c = local_connection();
        ScopedSocket round_peer(c.peer);
        OwnedSocket round_socket(open_socket(c.ours));
        ASSERT_NE(nullptr, round_socket.get());
        ClosingReceive first;
        first.socket = round_socket.get();
        ASYNC_SOCKET_BUFFER buffer{first.data.data(), static_cast<uint32_t>(first.data.size())};
        ASSERT_EQ(0, async_socket_receive_timed_async(round_socket.get(), &buffer, 1, 0, ClosingReceive::on_complete, &first));
        std::vector<std::unique_ptr<WatchingReceive>> others;
        for (int i = 0; i < 4; ++i)
        {
            others.push_back(std::make_unique<WatchingReceive>());
            others.back()->closer = &first;
            ASYNC_SOCKET_BUFFER other_buffer{others.back()->data.data(), static_cast<uint32_t>(others.back()->data.size())};
            ASSERT_EQ(0, async_socket_receive_timed_async(round_socket.get(), &other_buffer, 1, 0, WatchingReceive::on_complete, others.back().get()));
        }
        ASSERT_EQ(0, async_socket_cancel_receives(round_socket.get()));
        ASSERT_TRUE(first.done.wait_for(1));
        EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_CANCELLED, first.outcome());
        for (auto& other : others)
        {
            ASSERT_TRUE(other->done.wait_for(1));
            EXPECT_EQ(1, other->calls.load());
            EXPECT_FALSE(other->after_close.load()) << "a callback ran after the close had returned";
            EXPECT_TRUE(other->outcome() == ASYNC_SOCKET_RECEIVE_TIMED_ABANDONED || other->outcome() == ASYNC_SOCKET_RECEIVE_TIMED_CANCELLED);
        }
    }
}

// A receive whose callback cancels the socket's other receives.
struct CancellingReceive : TimedReceive
{
    ASYNC_SOCKET_HANDLE socket = nullptr;
    std::atomic<int> cancel_error{-1};

    static void on_complete(void* context, ASYNC_SOCKET_RECEIVE_TIMED_RESULT result, uint32_t bytes)
    {
        auto* self = static_cast<CancellingReceive*>(context);
        self->cancel_error = cancel_marked(self->socket);
        TimedReceive::callback(self, result, bytes);
    }
};

// Tests_SRS_ASOCK_DEADLINE_12_008
TEST_P(ReceiveDeadlines, a_cancel_from_a_receive_callback_ends_the_other_receives_after_that_callback)
{
    CancellingReceive first;
    TimedReceive second;
    first.socket = socket.get();
    first.started = Clock::now();
    ASYNC_SOCKET_BUFFER buffer{first.data.data(), static_cast<uint32_t>(first.data.size())};
    ASSERT_EQ(0, async_socket_receive_timed_async(socket.get(), &buffer, 1, 30, CancellingReceive::on_complete, &first));
    ASSERT_EQ(0, second.start(socket.get(), 0));
    ASSERT_TRUE(first.done.wait_for(1));
    ASSERT_TRUE(second.done.wait_for(1));
    EXPECT_EQ(0, first.cancel_error.load());
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_TIMEOUT, first.outcome());
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_CANCELLED, second.outcome());
    EXPECT_EQ(0, second.inside_call.load());
}

// Tests_SRS_ASOCK_DEADLINE_12_011
TEST_P(ReceiveDeadlines, the_results_have_names)
{
    EXPECT_STREQ("ASYNC_SOCKET_RECEIVE_TIMED_OK", ASYNC_SOCKET_RECEIVE_TIMED_RESULT_to_string(ASYNC_SOCKET_RECEIVE_TIMED_OK));
    EXPECT_STREQ("ASYNC_SOCKET_RECEIVE_TIMED_TIMEOUT", ASYNC_SOCKET_RECEIVE_TIMED_RESULT_to_string(ASYNC_SOCKET_RECEIVE_TIMED_TIMEOUT));
    EXPECT_STREQ("ASYNC_SOCKET_RECEIVE_TIMED_CANCELLED", ASYNC_SOCKET_RECEIVE_TIMED_RESULT_to_string(ASYNC_SOCKET_RECEIVE_TIMED_CANCELLED));
    EXPECT_STREQ("UNKNOWN", ASYNC_SOCKET_RECEIVE_TIMED_RESULT_to_string(static_cast<ASYNC_SOCKET_RECEIVE_TIMED_RESULT>(5)));
}

ASOCK_INSTANTIATE_CONTRACT(ReceiveDeadlines);

}  // namespace
}  // namespace asock_test
