// The fault walk (fault_walk.h) over the operations of issue 12: timers (timer_alloc, the
// op_alloc of start and cancel), timed receives and cancels of receives, cancels of accepts,
// cancellations (cancellation_alloc) and cancellable connects. Each call at each point fails
// in turn: the call then reports ENOMEM (or NULL) and changes nothing; every start it accepted
// completes exactly once; the objects still work; nothing is left behind.
// Requirements: docs/requirements/timers.md (SRS_ASOCK_TIMER_12_020, SRS_ASOCK_CANCEL_12_030).
#include <unistd.h>

#include <thread>

#include "asock/async_socket_deadline.h"
#include "asock/async_timer.h"
#include "contract/accept_connect_helpers.h"
#include "fault/fault_walk.h"

namespace asock_test {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kWait{5000};

EXECUTION_ENGINE_HANDLE engine_for(const WalkRun& run) { return make_engine(run.backend(), 1); }

// One timer start (or a timed receive): accepted or not, and its completions.
struct Started
{
    bool accepted = false;
    std::atomic<int> calls{0};
    std::atomic<int> result{-1};
    Counter done;

    static void on_timer(void* context, ASYNC_TIMER_RESULT result) { static_cast<Started*>(context)->record(result); }
    static void on_receive(void* context, ASYNC_SOCKET_RECEIVE_TIMED_RESULT result, uint32_t) { static_cast<Started*>(context)->record(result); }
    static void on_accept(void* context, ASYNC_SOCKET_ACCEPT_RESULT result, ASYNC_SOCKET_HANDLE socket, int)
    {
        async_socket_destroy(socket);
        static_cast<Started*>(context)->record(result);
    }
    static void on_connect(void* context, ASYNC_SOCKET_CONNECT_RESULT result, ASYNC_SOCKET_HANDLE socket, int)
    {
        async_socket_destroy(socket);
        static_cast<Started*>(context)->record(result);
    }

    void record(int value)
    {
        result = value;
        calls++;
        done.add();
    }
    // An accepted start completed exactly once; a refused one never.
    void expect_once() const { EXPECT_EQ(accepted ? 1 : 0, calls.load()) << (accepted ? "an accepted start did not complete exactly once" : "a refused start called back"); }
};

// A failed call must be one the walk made fail, with ENOMEM.
void expect_injected(const WalkRun& run, int error, const char* call)
{
    if (error == 0)
        return;
    EXPECT_TRUE(run.fired()) << call << " failed with no failure injected";
    EXPECT_EQ(ENOMEM, error) << call;
}

// The timer fires a start made with no failure armed: it still works.
void expect_timer_works(ASYNC_TIMER_HANDLE timer)
{
    Started again;
    again.accepted = async_timer_start(timer, 0, Started::on_timer, &again) == 0;
    ASSERT_TRUE(again.accepted);
    ASSERT_TRUE(again.done.wait_for(1, kWait));
    EXPECT_EQ(ASYNC_TIMER_FIRED, again.result.load());
}

// Create, start, cancel, restart, destroy.
void timer_life(WalkRun& run)
{
    EXECUTION_ENGINE_HANDLE engine = engine_for(run);
    ASSERT_NE(nullptr, engine);
    Started first;
    Started second;
    run.arm();
    ASYNC_TIMER_HANDLE timer = async_timer_create(engine);
    int first_error = ENOMEM;
    int cancel_error = ENOMEM;
    int second_error = ENOMEM;
    if (timer != nullptr)
    {
        first_error = async_timer_start(timer, 10000, Started::on_timer, &first);
        cancel_error = async_timer_cancel(timer);
        second_error = async_timer_start(timer, 0, Started::on_timer, &second);
    }
    run.disarm();
    if (timer == nullptr)
    {
        EXPECT_TRUE(run.fired()) << "async_timer_create failed with no failure injected";
        execution_engine_dec_ref(engine);
        return;
    }
    first.accepted = first_error == 0;
    second.accepted = second_error == 0;
    expect_injected(run, first_error, "async_timer_start");
    expect_injected(run, cancel_error, "async_timer_cancel");
    expect_injected(run, second_error, "async_timer_start (again)");
    if (second.accepted)
    {
        EXPECT_TRUE(second.done.wait_for(1, kWait));
        EXPECT_EQ(ASYNC_TIMER_FIRED, second.result.load());
    }
    // The first start ends by the cancel or the restart; with both failed it is still pending.
    if (first.accepted && (cancel_error == 0 || second.accepted))
    {
        EXPECT_TRUE(first.done.wait_for(1, kWait));
        EXPECT_EQ(ASYNC_TIMER_CANCELLED, first.result.load());
    }
    if (first.calls.load() == 1 || !first.accepted)
        expect_timer_works(timer);
    async_timer_destroy(timer);
    first.expect_once();
    second.expect_once();
    execution_engine_dec_ref(engine);
}

// A timed receive, a cancel of the socket's receives, a timed receive that times out.
void timed_receive(WalkRun& run)
{
    EXECUTION_ENGINE_HANDLE engine = engine_for(run);
    ASSERT_NE(nullptr, engine);
    Connection c = local_connection();
    ASYNC_SOCKET_HANDLE socket = create_and_open(engine, c.ours);
    ASSERT_NE(nullptr, socket);
    uint8_t storage[2][8];
    ASYNC_SOCKET_BUFFER buffers[2] = {{storage[0], 8}, {storage[1], 8}};
    Started cancelled;
    Started timed_out;
    run.arm();
    const int first_error = async_socket_receive_timed_async(socket, &buffers[0], 1, 10000, Started::on_receive, &cancelled);
    const int cancel_error = async_socket_cancel_receives(socket);
    const int second_error = async_socket_receive_timed_async(socket, &buffers[1], 1, 5, Started::on_receive, &timed_out);
    run.disarm();
    cancelled.accepted = first_error == 0;
    timed_out.accepted = second_error == 0;
    expect_injected(run, first_error, "async_socket_receive_timed_async");
    expect_injected(run, cancel_error, "async_socket_cancel_receives");
    expect_injected(run, second_error, "async_socket_receive_timed_async (again)");
    if (cancelled.accepted && cancel_error == 0)
    {
        EXPECT_TRUE(cancelled.done.wait_for(1, kWait));
        // The loop may try the receive (epoll reads at once) before the cancel arrives: a
        // failure injected there is the receive's own end, which it reports first (ERROR, or
        // ABANDONED for a reset).
        const int result = cancelled.result.load();
        const bool own_end = run.fired_at_by_now(ASOCK_FAULT_POINT_SYS_RECVMSG) && (result == ASYNC_SOCKET_RECEIVE_TIMED_ERROR || result == ASYNC_SOCKET_RECEIVE_TIMED_ABANDONED);
        EXPECT_TRUE(result == ASYNC_SOCKET_RECEIVE_TIMED_CANCELLED || own_end) << "result " << result;
    }
    if (timed_out.accepted)  // queued behind the first, or alone: its deadline ends it
    {
        EXPECT_TRUE(timed_out.done.wait_for(1, kWait));
        EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_TIMEOUT, timed_out.result.load());
    }
    // The socket still receives (what is still pending gets the byte first).
    if (cancelled.calls.load() == 0 && cancelled.accepted)
    {
        EXPECT_TRUE(write_all(c.peer, "x", 1));
        EXPECT_TRUE(cancelled.done.wait_for(1, kWait));
        EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_OK, cancelled.result.load());
    }
    async_socket_destroy(socket);
    cancelled.expect_once();
    timed_out.expect_once();
    ::close(c.peer);
    execution_engine_dec_ref(engine);
}

// A listener's pending accept cancelled, then one that gets a connection.
void accept_cancel(WalkRun& run)
{
    EXECUTION_ENGINE_HANDLE engine = engine_for(run);
    ASSERT_NE(nullptr, engine);
    ASYNC_SOCKET_LISTENER_HANDLE listener = nullptr;
    int error = 0;
    ASSERT_EQ(ASYNC_SOCKET_LISTENER_CREATE_OK, async_socket_listener_create(engine, "127.0.0.1", 0, 4, &listener, &error));
    Started first;
    Started second;
    first.accepted = async_socket_listener_accept_async(listener, Started::on_accept, &first) == 0;
    ASSERT_TRUE(first.accepted);
    run.arm();
    const int cancel_error = async_socket_listener_cancel_accepts(listener);
    const int second_error = async_socket_listener_accept_async(listener, Started::on_accept, &second);
    run.disarm();
    second.accepted = second_error == 0;
    expect_injected(run, cancel_error, "async_socket_listener_cancel_accepts");
    expect_injected(run, second_error, "async_socket_listener_accept_async");
    if (cancel_error == 0)
    {
        EXPECT_TRUE(first.done.wait_for(1, kWait));
        EXPECT_EQ(ASYNC_SOCKET_ACCEPT_CANCELLED, first.result.load());
    }
    // A connection goes to the first accept still pending.
    const NativeSocket client = plain_connect(async_socket_listener_get_port(listener));
    EXPECT_NE(kNoSocket, client);
    Started& taker = cancel_error != 0 ? first : second;
    if (taker.accepted)
    {
        EXPECT_TRUE(taker.done.wait_for(1, kWait));
        EXPECT_EQ(ASYNC_SOCKET_ACCEPT_OK, taker.result.load());
    }
    async_socket_listener_destroy(listener);
    first.expect_once();
    second.expect_once();
    if (client != kNoSocket)
        ::close(client);
    execution_engine_dec_ref(engine);
}

// A cancellation made, a connect started with it, the cancellation cancelled and dropped.
void cancellable_connect(WalkRun& run)
{
    EXECUTION_ENGINE_HANDLE engine = engine_for(run);
    ASSERT_NE(nullptr, engine);
    ASYNC_SOCKET_LISTENER_HANDLE listener = nullptr;
    int error = 0;
    ASSERT_EQ(ASYNC_SOCKET_LISTENER_CREATE_OK, async_socket_listener_create(engine, "127.0.0.1", 0, 4, &listener, &error));
    const uint16_t port = async_socket_listener_get_port(listener);
    Started connect;
    run.arm();
    ASYNC_CANCELLATION_HANDLE cancellation = async_cancellation_create();
    const int connect_error = async_socket_connect_cancellable_async(engine, "127.0.0.1", port, 5000, cancellation, Started::on_connect, &connect);
    async_cancellation_cancel(cancellation);
    async_cancellation_destroy(cancellation);
    run.disarm();
    if (cancellation == nullptr)
    {
        EXPECT_TRUE(run.fired()) << "async_cancellation_create failed with no failure injected";
    }
    connect.accepted = connect_error == 0;
    if (connect_error != 0)
    {
        EXPECT_TRUE(run.fired()) << "the connect failed with no failure injected";
    }
    if (connect.accepted)
    {
        EXPECT_TRUE(connect.done.wait_for(1, kWait));
    }
    async_socket_listener_destroy(listener);  // destroys a connection the backlog holds
    connect.expect_once();
    execution_engine_dec_ref(engine);
}

class TimerFaultWalk : public ::testing::TestWithParam<Backend>
{
protected:
    void SetUp() override
    {
        if (!backend_available(GetParam()))
            GTEST_SKIP() << backend_name(GetParam()) << " cannot be used on this machine";
    }
    void TearDown() override { asock_fault_disarm(); }

    // Walks the scenario and checks that it reached the given points.
    void walk(const char* name, void (*scenario)(WalkRun&), std::initializer_list<unsigned> points)
    {
        const WalkTotals totals = walk_scenario(name, GetParam(), false, scenario);
        for (unsigned point : points)
            EXPECT_NE(0u, totals.reached & ASOCK_FAULT_BIT(point)) << name << " never reached " << asock_fault_point_name(point);
    }
};

// Tests_SRS_ASOCK_TIMER_12_020
TEST_P(TimerFaultWalk, timer_create_start_cancel_restart_destroy) { walk("timer_life", timer_life, {ASOCK_FAULT_POINT_TIMER_ALLOC, ASOCK_FAULT_POINT_OP_ALLOC}); }

// Tests_SRS_ASOCK_DEADLINE_12_012
TEST_P(TimerFaultWalk, timed_receive_and_cancel_receives) { walk("timed_receive", timed_receive, {ASOCK_FAULT_POINT_OP_ALLOC}); }

// Tests_SRS_ASOCK_CANCEL_12_030
TEST_P(TimerFaultWalk, cancel_accepts) { walk("accept_cancel", accept_cancel, {ASOCK_FAULT_POINT_OP_ALLOC}); }

// Tests_SRS_ASOCK_CANCEL_12_030
TEST_P(TimerFaultWalk, cancellable_connect) { walk("cancellable_connect", cancellable_connect, {ASOCK_FAULT_POINT_CANCELLATION_ALLOC, ASOCK_FAULT_POINT_OP_ALLOC, ASOCK_FAULT_POINT_CONNECT_ALLOC}); }

ASOCK_INSTANTIATE_CONTRACT(TimerFaultWalk);

// io_uring with synchronous cancellation failing every time (ENOMEM): an operation the kernel
// holds is still ended by a deadline or a cancel (an ASYNC_CANCEL entry does it instead), and
// the socket or listener still works afterwards.
class EndingEarlyWithoutSyncCancel : public ::testing::Test
{
protected:
    void SetUp() override
    {
        if (!backend_available(Backend::io_uring))
            GTEST_SKIP() << "io_uring cannot be used on this machine";
        engine = make_engine(Backend::io_uring, 1);
        ASSERT_NE(nullptr, engine);
        asock_fault_set_errno(ASOCK_FAULT_POINT_URING_SYNC_CANCEL, ENOMEM);
        asock_fault_fail_always(ASOCK_FAULT_BIT(ASOCK_FAULT_POINT_URING_SYNC_CANCEL));
    }
    void TearDown() override
    {
        asock_fault_fail_always(0);
        asock_fault_set_errno(ASOCK_FAULT_POINT_URING_SYNC_CANCEL, 0);
        if (engine != nullptr)
            execution_engine_dec_ref(engine);
    }
    // Long enough for the loop to have submitted what was just queued to the kernel.
    static void let_the_loop_submit() { std::this_thread::sleep_for(milliseconds(50)); }

    EXECUTION_ENGINE_HANDLE engine = nullptr;
};

TEST_F(EndingEarlyWithoutSyncCancel, a_receive_the_kernel_holds_is_cancelled_and_the_socket_then_receives)
{
    Connection c = local_connection();
    ASYNC_SOCKET_HANDLE socket = create_and_open(engine, c.ours);
    ASSERT_NE(nullptr, socket);
    uint8_t storage[2][8];
    ASYNC_SOCKET_BUFFER buffers[2] = {{storage[0], 8}, {storage[1], 8}};
    Started cancelled;
    Started next;
    cancelled.accepted = async_socket_receive_timed_async(socket, &buffers[0], 1, 60000, Started::on_receive, &cancelled) == 0;
    ASSERT_TRUE(cancelled.accepted);
    let_the_loop_submit();
    ASSERT_EQ(0, async_socket_cancel_receives(socket));
    ASSERT_TRUE(cancelled.done.wait_for(1, kWait));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_CANCELLED, cancelled.result.load());
    next.accepted = async_socket_receive_timed_async(socket, &buffers[1], 1, 60000, Started::on_receive, &next) == 0;
    ASSERT_TRUE(next.accepted);
    EXPECT_TRUE(write_all(c.peer, "x", 1));
    ASSERT_TRUE(next.done.wait_for(1, kWait));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_OK, next.result.load());
    async_socket_destroy(socket);
    cancelled.expect_once();
    next.expect_once();
    ::close(c.peer);
}

TEST_F(EndingEarlyWithoutSyncCancel, a_receive_the_kernel_holds_times_out_at_its_deadline)
{
    Connection c = local_connection();
    ASYNC_SOCKET_HANDLE socket = create_and_open(engine, c.ours);
    ASSERT_NE(nullptr, socket);
    uint8_t storage[8];
    ASYNC_SOCKET_BUFFER buffer = {storage, sizeof(storage)};
    Started timed_out;
    timed_out.accepted = async_socket_receive_timed_async(socket, &buffer, 1, 100, Started::on_receive, &timed_out) == 0;
    ASSERT_TRUE(timed_out.accepted);
    ASSERT_TRUE(timed_out.done.wait_for(1, kWait));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_TIMEOUT, timed_out.result.load());
    async_socket_destroy(socket);
    timed_out.expect_once();
    ::close(c.peer);
}

TEST_F(EndingEarlyWithoutSyncCancel, an_accept_the_kernel_holds_is_cancelled_and_the_listener_then_accepts)
{
    ASYNC_SOCKET_LISTENER_HANDLE listener = nullptr;
    int error = 0;
    ASSERT_EQ(ASYNC_SOCKET_LISTENER_CREATE_OK, async_socket_listener_create(engine, "127.0.0.1", 0, 4, &listener, &error));
    Started cancelled;
    Started next;
    cancelled.accepted = async_socket_listener_accept_async(listener, Started::on_accept, &cancelled) == 0;
    ASSERT_TRUE(cancelled.accepted);
    let_the_loop_submit();
    ASSERT_EQ(0, async_socket_listener_cancel_accepts(listener));
    ASSERT_TRUE(cancelled.done.wait_for(1, kWait));
    EXPECT_EQ(ASYNC_SOCKET_ACCEPT_CANCELLED, cancelled.result.load());
    next.accepted = async_socket_listener_accept_async(listener, Started::on_accept, &next) == 0;
    ASSERT_TRUE(next.accepted);
    const NativeSocket client = plain_connect(async_socket_listener_get_port(listener));
    EXPECT_NE(kNoSocket, client);
    ASSERT_TRUE(next.done.wait_for(1, kWait));
    EXPECT_EQ(ASYNC_SOCKET_ACCEPT_OK, next.result.load());
    async_socket_listener_destroy(listener);
    cancelled.expect_once();
    next.expect_once();
    if (client != kNoSocket)
        ::close(client);
}

}  // namespace
}  // namespace asock_test
