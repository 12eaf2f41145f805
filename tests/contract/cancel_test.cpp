// Cancellations (async_cancellation.h), cancels of a listener's accepts and cancellable
// connects (async_socket_deadline.h), once per backend: each operation completes exactly once,
// CANCELLED unless it finished first, never inside a call; the listener keeps listening and a
// connect that won keeps its socket.
// Requirements: docs/requirements/timers.md (SRS_ASOCK_CANCEL_12_*).
#include <iostream>
#include <random>
#include <vector>

#include "asock/async_socket_deadline.h"
#include "contract/accept_connect_helpers.h"

namespace asock_test {
namespace {

using Clock = std::chrono::steady_clock;

thread_local bool tls_inside_call = false;

// A connect's completion, with the time it took and whether it ran inside a call.
struct CancellableConnect
{
    ConnectRecord record;
    Clock::time_point started{};
    std::atomic<int64_t> after_ms{-1};
    std::atomic<int> inside_call{0};

    static void callback(void* context, ASYNC_SOCKET_CONNECT_RESULT result, ASYNC_SOCKET_HANDLE socket, int error)
    {
        auto* self = static_cast<CancellableConnect*>(context);
        self->after_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - self->started).count();
        if (tls_inside_call)
            self->inside_call++;
        ConnectRecord::callback(&self->record, result, socket, error);
    }

    int start(EXECUTION_ENGINE_HANDLE engine, uint16_t port, uint32_t timeout_ms, ASYNC_CANCELLATION_HANDLE cancellation)
    {
        started = Clock::now();
        tls_inside_call = true;
        const int error = async_socket_connect_cancellable_async(engine, "127.0.0.1", port, timeout_ms, cancellation, callback, this);
        tls_inside_call = false;
        return error;
    }
};

// Drops a cancellation reference at the end of the scope.
class OwnedCancellation
{
public:
    OwnedCancellation() : cancellation_(async_cancellation_create()) {}
    ~OwnedCancellation() { destroy(); }
    OwnedCancellation(const OwnedCancellation&) = delete;
    OwnedCancellation& operator=(const OwnedCancellation&) = delete;
    ASYNC_CANCELLATION_HANDLE get() const noexcept { return cancellation_; }
    void destroy() noexcept { async_cancellation_destroy(std::exchange(cancellation_, nullptr)); }

private:
    ASYNC_CANCELLATION_HANDLE cancellation_;
};

void cancel_marked(ASYNC_CANCELLATION_HANDLE cancellation)
{
    tls_inside_call = true;
    async_cancellation_cancel(cancellation);
    tls_inside_call = false;
}

class Cancels : public AcceptConnectBase
{
};

// ---- Cancellations ----

// Tests_SRS_ASOCK_CANCEL_12_001
TEST(Cancellation, a_new_cancellation_is_not_cancelled_until_cancelled_and_a_second_cancel_changes_nothing)
{
    OwnedCancellation cancellation;
    ASSERT_NE(nullptr, cancellation.get());
    EXPECT_FALSE(async_cancellation_is_cancelled(cancellation.get()));
    async_cancellation_cancel(cancellation.get());
    EXPECT_TRUE(async_cancellation_is_cancelled(cancellation.get()));
    async_cancellation_cancel(cancellation.get());
    EXPECT_TRUE(async_cancellation_is_cancelled(cancellation.get()));
}

// Tests_SRS_ASOCK_CANCEL_12_001
TEST(Cancellation, null_is_ignored_and_never_cancelled)
{
    async_cancellation_cancel(nullptr);
    async_cancellation_destroy(nullptr);
    EXPECT_FALSE(async_cancellation_is_cancelled(nullptr));
}

// Tests_SRS_ASOCK_CANCEL_12_001
TEST(Cancellation, cancels_from_many_threads_at_once_all_return)
{
    for (int round = 0; round < 50; ++round)
    {
        OwnedCancellation cancellation;
        StartLine line(4);
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t)
            threads.emplace_back([&] {
                line.arrive_and_wait();
                async_cancellation_cancel(cancellation.get());
            });
        for (std::thread& thread : threads)
            thread.join();
        EXPECT_TRUE(async_cancellation_is_cancelled(cancellation.get()));
    }
}

// ---- Accepts ----

// Tests_SRS_ASOCK_CANCEL_12_010
TEST_P(Cancels, cancel_accepts_ends_every_pending_accept_cancelled_and_the_listener_still_accepts)
{
    AcceptRecord first;
    AcceptRecord second;
    AcceptRecord later;
    OwnedListener listener(listen_on("127.0.0.1"));
    ASSERT_EQ(0, async_socket_listener_accept_async(listener.get(), AcceptRecord::callback, &first));
    ASSERT_EQ(0, async_socket_listener_accept_async(listener.get(), AcceptRecord::callback, &second));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_EQ(0, async_socket_listener_cancel_accepts(listener.get()));
    for (AcceptRecord* accept : {&first, &second})
    {
        ASSERT_TRUE(accept->done.wait_for(1));
        EXPECT_EQ(ASYNC_SOCKET_ACCEPT_CANCELLED, accept->result.load());
        EXPECT_EQ(nullptr, accept->socket.load());
    }
    ASSERT_EQ(0, async_socket_listener_accept_async(listener.get(), AcceptRecord::callback, &later));
    ScopedSocket client(plain_connect(async_socket_listener_get_port(listener.get())));
    ASSERT_NE(kNoSocket, client.get());
    ASSERT_TRUE(later.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_ACCEPT_OK, later.result.load());
    OwnedSocket accepted(later.socket.load());
    EXPECT_NE(nullptr, accepted.get());
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(1, first.calls.load());
    EXPECT_EQ(1, second.calls.load());
}

// Tests_SRS_ASOCK_CANCEL_12_010
TEST_P(Cancels, a_connection_that_arrives_after_a_cancel_waits_in_the_backlog_for_the_next_accept)
{
    AcceptRecord cancelled;
    AcceptRecord next;
    OwnedListener listener(listen_on("127.0.0.1"));
    ASSERT_EQ(0, async_socket_listener_accept_async(listener.get(), AcceptRecord::callback, &cancelled));
    ASSERT_EQ(0, async_socket_listener_cancel_accepts(listener.get()));
    ASSERT_TRUE(cancelled.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_ACCEPT_CANCELLED, cancelled.result.load());
    ScopedSocket client(plain_connect(async_socket_listener_get_port(listener.get())));
    ASSERT_NE(kNoSocket, client.get());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_EQ(0, async_socket_listener_accept_async(listener.get(), AcceptRecord::callback, &next));
    ASSERT_TRUE(next.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_ACCEPT_OK, next.result.load());
    OwnedSocket accepted(next.socket.load());
}

// Tests_SRS_ASOCK_CANCEL_12_011
TEST_P(Cancels, cancel_accepts_with_nothing_pending_returns_zero_and_bad_listeners_are_refused)
{
    OwnedListener listener(listen_on("127.0.0.1"));
    EXPECT_EQ(0, async_socket_listener_cancel_accepts(listener.get()));
    EXPECT_EQ(EINVAL, async_socket_listener_cancel_accepts(nullptr));
    async_socket_listener_close(listener.get());
    EXPECT_EQ(EBADF, async_socket_listener_cancel_accepts(listener.get()));
}

// Cancels racing connections: every accept completes once, OK (its socket owned by the test)
// or CANCELLED, and no connection is lost: each client is accepted by some accept.
// Tests_SRS_ASOCK_CANCEL_12_010
TEST_P(Cancels, cancels_racing_incoming_connections_complete_each_accept_once_and_lose_no_connection)
{
    constexpr int kClients = 40;
    OwnedListener listener(listen_on("127.0.0.1", 64));
    const uint16_t port = async_socket_listener_get_port(listener.get());
    std::vector<ScopedSocket> clients(kClients);
    Background connector([&] {
        for (ScopedSocket& client : clients)
        {
            client.reset(plain_connect(port));
            std::this_thread::sleep_for(std::chrono::microseconds(300));
            // Now and then no connection waits for a while, so that cancels surely find accepts
            // pending (a slow build, TSan, once accepted all 40 before any cancel landed).
            if ((&client - clients.data()) % 8 == 7)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    });
    int ok = 0;
    int cancelled = 0;
    std::vector<OwnedSocket> accepted;
    accepted.reserve(kClients);
    std::mt19937 random(4);
    const auto give_up = Clock::now() + std::chrono::seconds(4);
    while (ok < kClients && Clock::now() < give_up)
    {
        AcceptRecord accept;
        ASSERT_EQ(0, async_socket_listener_accept_async(listener.get(), AcceptRecord::callback, &accept));
        std::this_thread::sleep_for(std::chrono::microseconds(random() % 400));
        ASSERT_EQ(0, async_socket_listener_cancel_accepts(listener.get()));
        ASSERT_TRUE(accept.done.wait_for(1));
        if (accept.result.load() == ASYNC_SOCKET_ACCEPT_OK)
        {
            ++ok;
            accepted.emplace_back(accept.socket.load());
            continue;
        }
        EXPECT_EQ(ASYNC_SOCKET_ACCEPT_CANCELLED, accept.result.load());
        ++cancelled;
    }
    connector.join();
    EXPECT_EQ(kClients, ok) << "a connection was lost to a cancel";
    EXPECT_GT(cancelled, 0);
}

// ---- Cancellable connects ----

// Tests_SRS_ASOCK_CANCEL_12_020
TEST_P(Cancels, a_connect_with_a_cancellation_cancelled_before_the_start_completes_cancelled_never_inside_the_call)
{
    CancellableConnect connect;
    OwnedListener listener(listen_on("127.0.0.1"));
    OwnedCancellation cancellation;
    async_cancellation_cancel(cancellation.get());
    ASSERT_EQ(0, connect.start(engine, async_socket_listener_get_port(listener.get()), 5000, cancellation.get()));
    ASSERT_TRUE(connect.record.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_CANCELLED, connect.record.result.load());
    EXPECT_EQ(ECANCELED, connect.record.error.load());
    EXPECT_EQ(nullptr, connect.record.socket.load());
    EXPECT_EQ(0, connect.inside_call.load());
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(1, connect.record.calls.load());
}

// Tests_SRS_ASOCK_CANCEL_12_021
TEST_P(Cancels, a_cancel_of_a_connect_that_hangs_on_a_full_backlog_ends_it_cancelled_at_once)
{
    OwnedListener listener(listen_on("127.0.0.1", 1));
    const uint16_t port = async_socket_listener_get_port(listener.get());
    FullBacklog backlog(port);
    if (!backlog.full())
        GTEST_SKIP() << "the listener's accept queue did not fill on this machine";
    CancellableConnect connect;
    OwnedCancellation cancellation;
    ASSERT_EQ(0, connect.start(engine, port, 10000, cancellation.get()));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(0, connect.record.calls.load()) << "the connect did not hang: " << ASYNC_SOCKET_CONNECT_RESULT_to_string(connect.record.result.load());
    cancel_marked(cancellation.get());
    ASSERT_TRUE(connect.record.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_CANCELLED, connect.record.result.load());
    EXPECT_EQ(ECANCELED, connect.record.error.load());
    EXPECT_LT(connect.after_ms.load(), 2000) << "the cancel did not end the connect early";
    EXPECT_EQ(0, connect.inside_call.load());
}

// Tests_SRS_ASOCK_CANCEL_12_021
TEST_P(Cancels, one_cancellation_ends_every_connect_started_with_it)
{
    OwnedListener listener(listen_on("127.0.0.1", 1));
    const uint16_t port = async_socket_listener_get_port(listener.get());
    FullBacklog backlog(port);
    if (!backlog.full())
        GTEST_SKIP() << "the listener's accept queue did not fill on this machine";
    std::vector<CancellableConnect> connects(6);
    OwnedCancellation cancellation;
    for (CancellableConnect& connect : connects)
        ASSERT_EQ(0, connect.start(engine, port, 10000, cancellation.get()));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    cancel_marked(cancellation.get());
    for (CancellableConnect& connect : connects)
    {
        ASSERT_TRUE(connect.record.done.wait_for(1));
        EXPECT_EQ(ASYNC_SOCKET_CONNECT_CANCELLED, connect.record.result.load());
        EXPECT_LT(connect.after_ms.load(), 2000);
    }
}

// Tests_SRS_ASOCK_CANCEL_12_022
TEST_P(Cancels, a_cancel_after_the_connect_succeeded_leaves_the_socket_working)
{
    AcceptRecord accept;
    CancellableConnect connect;
    OwnedListener listener(listen_on("127.0.0.1"));
    OwnedCancellation cancellation;
    ASSERT_EQ(0, async_socket_listener_accept_async(listener.get(), AcceptRecord::callback, &accept));
    ASSERT_EQ(0, connect.start(engine, async_socket_listener_get_port(listener.get()), 5000, cancellation.get()));
    ASSERT_TRUE(connect.record.done.wait_for(1));
    ASSERT_TRUE(accept.done.wait_for(1));
    ASSERT_EQ(ASYNC_SOCKET_CONNECT_OK, connect.record.result.load());
    OwnedSocket connected(connect.record.socket.load());
    OwnedSocket accepted(accept.socket.load());
    async_cancellation_cancel(cancellation.get());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    expect_bytes_flow(connected.get(), accepted.get(), 3000, 5);
    expect_bytes_flow(accepted.get(), connected.get(), 3000, 6);
    EXPECT_EQ(1, connect.record.calls.load());
}

// Tests_SRS_ASOCK_CANCEL_12_023
TEST_P(Cancels, a_cancellation_destroyed_right_after_the_start_lets_the_connect_complete_normally)
{
    AcceptRecord accept;
    CancellableConnect connect;
    OwnedListener listener(listen_on("127.0.0.1"));
    ASYNC_CANCELLATION_HANDLE cancellation = async_cancellation_create();
    ASSERT_NE(nullptr, cancellation);
    ASSERT_EQ(0, async_socket_listener_accept_async(listener.get(), AcceptRecord::callback, &accept));
    ASSERT_EQ(0, connect.start(engine, async_socket_listener_get_port(listener.get()), 5000, cancellation));
    async_cancellation_destroy(cancellation);
    ASSERT_TRUE(connect.record.done.wait_for(1));
    ASSERT_TRUE(accept.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_OK, connect.record.result.load());
    OwnedSocket connected(connect.record.socket.load());
    OwnedSocket accepted(accept.socket.load());
    expect_bytes_flow(connected.get(), accepted.get());
}

// Tests_SRS_ASOCK_CANCEL_12_023
TEST_P(Cancels, a_connect_whose_cancellation_was_destroyed_right_after_the_start_still_ends_at_its_timeout)
{
    OwnedListener listener(listen_on("127.0.0.1", 1));
    const uint16_t port = async_socket_listener_get_port(listener.get());
    FullBacklog backlog(port);
    if (!backlog.full())
        GTEST_SKIP() << "the listener's accept queue did not fill on this machine";
    CancellableConnect connect;
    ASYNC_CANCELLATION_HANDLE cancellation = async_cancellation_create();
    ASSERT_NE(nullptr, cancellation);
    ASSERT_EQ(0, connect.start(engine, port, 150, cancellation));
    async_cancellation_destroy(cancellation);
    ASSERT_TRUE(connect.record.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_TIMEOUT, connect.record.result.load());
    EXPECT_GE(connect.after_ms.load() + 1, 150);
}

// Tests_SRS_ASOCK_CANCEL_12_024
TEST_P(Cancels, a_connect_without_a_cancellation_is_a_plain_connect)
{
    AcceptRecord accept;
    CancellableConnect connect;
    OwnedListener listener(listen_on("127.0.0.1"));
    ASSERT_EQ(0, async_socket_listener_accept_async(listener.get(), AcceptRecord::callback, &accept));
    ASSERT_EQ(0, connect.start(engine, async_socket_listener_get_port(listener.get()), 5000, nullptr));
    ASSERT_TRUE(connect.record.done.wait_for(1));
    ASSERT_TRUE(accept.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_OK, connect.record.result.load());
    OwnedSocket connected(connect.record.socket.load());
    OwnedSocket accepted(accept.socket.load());
    EXPECT_EQ(0, connect.inside_call.load());
}

// Tests_SRS_ASOCK_CANCEL_12_024
TEST_P(Cancels, a_cancellable_connect_with_bad_arguments_fails_and_never_calls_back)
{
    CancellableConnect connect;
    OwnedCancellation cancellation;
    EXPECT_NE(0, async_socket_connect_cancellable_async(nullptr, "127.0.0.1", 1, 100, cancellation.get(), CancellableConnect::callback, &connect));
    EXPECT_NE(0, async_socket_connect_cancellable_async(engine, nullptr, 1, 100, cancellation.get(), CancellableConnect::callback, &connect));
    EXPECT_NE(0, async_socket_connect_cancellable_async(engine, "not an address", 1, 100, cancellation.get(), CancellableConnect::callback, &connect));
    EXPECT_NE(0, async_socket_connect_cancellable_async(engine, "127.0.0.1", 1, 100, cancellation.get(), nullptr, &connect));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(0, connect.record.calls.load());
}

// A cancel from another thread racing a connect that succeeds: each completes once; OK gives a
// working socket, CANCELLED none.
// Tests_SRS_ASOCK_CANCEL_12_021, Tests_SRS_ASOCK_CANCEL_12_022
TEST_P(Cancels, cancels_racing_successful_connects_complete_each_once_with_a_working_socket_or_cancelled)
{
    constexpr int kRounds = 60;
    std::mt19937 random(8);
    int ok = 0;
    int cancelled = 0;
    for (int i = 0; i < kRounds; ++i)
    {
        // A listener per round: a cancelled connect may have reached the backlog.
        OwnedListener listener(listen_on("127.0.0.1"));
        const uint16_t port = async_socket_listener_get_port(listener.get());
        CancellableConnect connect;
        OwnedCancellation cancellation;
        ASSERT_EQ(0, connect.start(engine, port, 5000, cancellation.get()));
        const auto pause = std::chrono::microseconds(random() % 300);
        Background canceller([&] {
            std::this_thread::sleep_for(pause);
            async_cancellation_cancel(cancellation.get());
        });
        canceller.join();
        ASSERT_TRUE(connect.record.done.wait_for(1));
        OwnedSocket connected(connect.record.socket.load());
        if (connect.record.result.load() == ASYNC_SOCKET_CONNECT_OK)
        {
            ++ok;
            AcceptRecord accept;
            ASSERT_EQ(0, async_socket_listener_accept_async(listener.get(), AcceptRecord::callback, &accept));
            ASSERT_TRUE(accept.done.wait_for(1));
            OwnedSocket accepted(accept.socket.load());
            expect_bytes_flow(connected.get(), accepted.get(), 100, static_cast<uint32_t>(i));
            continue;
        }
        EXPECT_EQ(ASYNC_SOCKET_CONNECT_CANCELLED, connect.record.result.load());
        EXPECT_EQ(nullptr, connected.get());
        ++cancelled;
    }
    std::cout << "[ info ] " << ok << " connected, " << cancelled << " cancelled\n";
}

ASOCK_INSTANTIATE_CONTRACT(Cancels);

}  // namespace
}  // namespace asock_test
