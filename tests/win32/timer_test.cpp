// async_timer on Windows against the fake operating system: the threadpool timer and the work
// item are the fake's, fired and run by the tests on their own thread, and the clock is one
// the tests move. So every race of a timer (a cancel or a restart against the firing, a
// destroy or a restart from the callback) is played in each order, deterministically.
// Tests_SRS_ASYNC_SOCKET_WIN32_77_013, Tests_SRS_ASYNC_SOCKET_WIN32_77_014
#include <functional>
#include <vector>

#include "asock/async_timer.h"
#include "win32/fake_os_fixture.h"

namespace asock_test::win32 {
namespace {

struct TimerEvent
{
    void* context;
    ASYNC_TIMER_RESULT result;
    int depth;  // timer callbacks on this thread's stack, this one included
};

class AsyncTimerWin32 : public FakeOsTest
{
protected:
    void SetUp() override
    {
        FakeOsTest::SetUp();
        current_ = this;
        fake_.use_fake_timers();
        ASSERT_NE(nullptr, make_engine());
        timer_ = async_timer_create(engine_);
        ASSERT_NE(nullptr, timer_);
        deadline_ = fake_.last_timer().timer;
        work_ = fake_.last_work().work;
    }
    void TearDown() override
    {
        if (timer_ != nullptr)
            async_timer_destroy(timer_);
        current_ = nullptr;
        FakeOsTest::TearDown();
    }

    static void on_timer(void* context, ASYNC_TIMER_RESULT result)
    {
        static thread_local int depth = 0;
        ++depth;
        current_->events_.push_back({context, result, depth});
        if (current_->action_)
        {
            auto action = current_->action_;
            action(context, result);
        }
        --depth;
    }
    int start(uint32_t delay_ms, uintptr_t n) { return async_timer_start(timer_, delay_ms, on_timer, context_value(n)); }
    void advance(uint32_t ms) { fake_.advance_clock(std::chrono::milliseconds(ms)); }
    void fire() { fake_.fire(deadline_); }
    bool run_work() { return fake_.run_work(work_); }
    void destroy_timer()
    {
        async_timer_destroy(timer_);
        timer_ = nullptr;
    }

    static inline AsyncTimerWin32* current_ = nullptr;
    ASYNC_TIMER_HANDLE timer_ = nullptr;
    PTP_TIMER deadline_ = nullptr;
    PTP_WORK work_ = nullptr;
    std::vector<TimerEvent> events_;
    std::function<void(void*, ASYNC_TIMER_RESULT)> action_;
};

TEST_F(AsyncTimerWin32, create_makes_a_threadpool_timer_and_a_work_item_on_the_engines_pool)
{
    ASSERT_NE(nullptr, deadline_);
    ASSERT_NE(nullptr, work_);
    const auto pools = fake_.calls("SetThreadpoolCallbackPool");
    ASSERT_FALSE(pools.empty());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(execution_engine_win32_get_threadpool(engine_)), pools.back().args.at(1));
}

TEST_F(AsyncTimerWin32, start_sets_the_threadpool_timer_relative_to_now_and_calls_back_nothing)
{
    ASSERT_EQ(0, start(250, 1));
    const auto record = fake_.last_timer();
    EXPECT_TRUE(record.set);
    EXPECT_EQ(-250 * 10000, record.due);
    EXPECT_TRUE(events_.empty());
    EXPECT_EQ(0u, fake_.count("SubmitThreadpoolWork"));
}

TEST_F(AsyncTimerWin32, the_timer_fires_once_when_its_deadline_passed)
{
    ASSERT_EQ(0, start(10, 1));
    advance(10);
    fire();
    ASSERT_EQ(1u, events_.size());
    EXPECT_EQ(ASYNC_TIMER_FIRED, events_[0].result);
    EXPECT_EQ(context_value(1), events_[0].context);
    fire();  // a late callback of the threadpool: nothing is pending any more
    EXPECT_EQ(1u, events_.size());
}

TEST_F(AsyncTimerWin32, a_threadpool_callback_before_the_deadline_sets_the_timer_again_for_the_rest)
{
    ASSERT_EQ(0, start(10, 1));
    advance(4);
    fire();
    EXPECT_TRUE(events_.empty());
    const auto record = fake_.last_timer();
    EXPECT_TRUE(record.set);
    EXPECT_EQ(-6 * 10000, record.due);
    advance(6);
    fire();
    ASSERT_EQ(1u, events_.size());
    EXPECT_EQ(ASYNC_TIMER_FIRED, events_[0].result);
}

TEST_F(AsyncTimerWin32, cancel_completes_cancelled_through_the_work_item_never_inside_the_call)
{
    ASSERT_EQ(0, start(10, 1));
    ASSERT_EQ(0, async_timer_cancel(timer_));
    EXPECT_TRUE(events_.empty());
    EXPECT_FALSE(fake_.last_timer().set);
    EXPECT_EQ(1u, fake_.last_work().submitted);
    ASSERT_TRUE(run_work());
    ASSERT_EQ(1u, events_.size());
    EXPECT_EQ(ASYNC_TIMER_CANCELLED, events_[0].result);
}

TEST_F(AsyncTimerWin32, a_cancel_with_nothing_pending_does_nothing)
{
    ASSERT_EQ(0, async_timer_cancel(timer_));
    EXPECT_EQ(0u, fake_.count("SubmitThreadpoolWork"));
    EXPECT_FALSE(run_work());
    EXPECT_TRUE(events_.empty());
}

TEST_F(AsyncTimerWin32, a_cancel_after_the_firing_changes_nothing)
{
    ASSERT_EQ(0, start(1, 1));
    advance(1);
    fire();
    ASSERT_EQ(0, async_timer_cancel(timer_));
    EXPECT_FALSE(run_work());
    ASSERT_EQ(1u, events_.size());
    EXPECT_EQ(ASYNC_TIMER_FIRED, events_[0].result);
}

TEST_F(AsyncTimerWin32, a_threadpool_callback_that_comes_after_a_cancel_fires_nothing)
{
    ASSERT_EQ(0, start(1, 1));
    advance(1);
    ASSERT_EQ(0, async_timer_cancel(timer_));
    fire();  // expired before the cancel stopped it, run after
    ASSERT_TRUE(run_work());
    ASSERT_EQ(1u, events_.size());
    EXPECT_EQ(ASYNC_TIMER_CANCELLED, events_[0].result);
}

TEST_F(AsyncTimerWin32, a_restart_cancels_the_earlier_start_and_its_late_callback_does_not_fire_the_new_one)
{
    ASSERT_EQ(0, start(10, 1));
    advance(10);
    ASSERT_EQ(0, start(10, 2));  // the first one's expiry is already queued
    fire();
    ASSERT_TRUE(run_work());
    ASSERT_EQ(1u, events_.size());
    EXPECT_EQ(ASYNC_TIMER_CANCELLED, events_[0].result);
    EXPECT_EQ(context_value(1), events_[0].context);
    advance(10);
    fire();
    ASSERT_EQ(2u, events_.size());
    EXPECT_EQ(ASYNC_TIMER_FIRED, events_[1].result);
    EXPECT_EQ(context_value(2), events_[1].context);
}

TEST_F(AsyncTimerWin32, a_restart_from_the_callback_is_delivered_after_it_returned_never_nested)
{
    int restarts = 0;
    action_ = [&](void*, ASYNC_TIMER_RESULT) {
        if (restarts++ < 2)
        {
            EXPECT_EQ(0, start(0, 10 + restarts));
            EXPECT_EQ(0, async_timer_cancel(timer_));  // its CANCELLED waits for this callback
        }
    };
    ASSERT_EQ(0, start(0, 1));
    fire();
    ASSERT_EQ(3u, events_.size());
    for (const auto& event : events_)
        EXPECT_EQ(1, event.depth);
    EXPECT_EQ(ASYNC_TIMER_FIRED, events_[0].result);
    EXPECT_EQ(ASYNC_TIMER_CANCELLED, events_[1].result);
    EXPECT_EQ(ASYNC_TIMER_CANCELLED, events_[2].result);
    EXPECT_EQ(0u, fake_.count("SubmitThreadpoolWork"));  // the deliverer took them
}

TEST_F(AsyncTimerWin32, a_cancel_from_another_thread_while_a_callback_runs_waits_for_that_callback)
{
    ASSERT_EQ(0, start(0, 1));
    action_ = [&](void* context, ASYNC_TIMER_RESULT) {
        if (context != context_value(1))
            return;
        std::thread other([&] {
            EXPECT_EQ(0, start(50, 2));
            EXPECT_EQ(0, async_timer_cancel(timer_));
        });
        other.join();
        EXPECT_EQ(1u, events_.size());  // not delivered while this one runs
    };
    fire();
    ASSERT_EQ(2u, events_.size());
    EXPECT_EQ(ASYNC_TIMER_CANCELLED, events_[1].result);
    EXPECT_EQ(1, events_[1].depth);
    EXPECT_EQ(0u, fake_.count("SubmitThreadpoolWork"));
}

TEST_F(AsyncTimerWin32, destroy_completes_a_pending_start_abandoned_before_it_returns)
{
    ASSERT_EQ(0, start(1000, 1));
    destroy_timer();
    ASSERT_EQ(1u, events_.size());
    EXPECT_EQ(ASYNC_TIMER_ABANDONED, events_[0].result);
    EXPECT_EQ(1u, fake_.count("CloseThreadpoolTimer"));
    EXPECT_EQ(1u, fake_.count("CloseThreadpoolWork"));
}

TEST_F(AsyncTimerWin32, destroy_delivers_a_cancelled_start_that_waited_for_the_work_item_first)
{
    ASSERT_EQ(0, start(1000, 1));
    ASSERT_EQ(0, async_timer_cancel(timer_));
    ASSERT_EQ(0, start(1000, 2));
    std::thread destroyer([&] { destroy_timer(); });
    // The work item was submitted for the CANCELLED one: destroy waits for it to deliver.
    ASSERT_TRUE(eventually([&] { return fake_.count("SetThreadpoolTimer") >= 4; }));  // destroy stopped it
    ASSERT_TRUE(run_work());
    destroyer.join();
    ASSERT_EQ(2u, events_.size());
    EXPECT_EQ(ASYNC_TIMER_CANCELLED, events_[0].result);
    EXPECT_EQ(ASYNC_TIMER_ABANDONED, events_[1].result);
}

TEST_F(AsyncTimerWin32, destroy_from_the_callback_completes_a_restart_abandoned_inside_it_and_frees_after_it)
{
    size_t closes_when_destroy_returned = 99;
    action_ = [&](void* context, ASYNC_TIMER_RESULT) {
        if (context != context_value(1))
            return;
        EXPECT_EQ(0, start(1000, 2));
        destroy_timer();
        closes_when_destroy_returned = fake_.count("CloseThreadpoolTimer");
        EXPECT_EQ(2u, events_.size());  // the restart's ABANDONED ran inside the destroy
    };
    ASSERT_EQ(0, start(0, 1));
    fire();
    EXPECT_EQ(0u, closes_when_destroy_returned);  // the callback still ran: nothing closed yet
    ASSERT_EQ(2u, events_.size());
    EXPECT_EQ(ASYNC_TIMER_FIRED, events_[0].result);
    EXPECT_EQ(ASYNC_TIMER_ABANDONED, events_[1].result);
    EXPECT_EQ(1u, fake_.count("DisassociateCurrentThreadFromCallback"));
    EXPECT_EQ(1u, fake_.count("CloseThreadpoolTimer"));
    EXPECT_LT(fake_.position("DisassociateCurrentThreadFromCallback"), fake_.position("WaitForThreadpoolTimerCallbacks"));
}

TEST_F(AsyncTimerWin32, destroy_from_a_cancelled_callback_frees_from_the_work_item)
{
    action_ = [&](void*, ASYNC_TIMER_RESULT) { destroy_timer(); };
    ASSERT_EQ(0, start(1000, 1));
    ASSERT_EQ(0, async_timer_cancel(timer_));
    ASSERT_TRUE(run_work());
    ASSERT_EQ(1u, events_.size());
    EXPECT_EQ(ASYNC_TIMER_CANCELLED, events_[0].result);
    EXPECT_EQ(1u, fake_.count("CloseThreadpoolWork"));
}

TEST_F(AsyncTimerWin32, create_fails_cleanly_when_the_work_item_cannot_be_made)
{
    fake_.fail_next("CreateThreadpoolWork");
    EXPECT_EQ(nullptr, async_timer_create(engine_));
    // TearDown checks that the timer, the environment and the memory went.
}

TEST_F(AsyncTimerWin32, create_fails_cleanly_when_the_threadpool_timer_cannot_be_made)
{
    fake_.fail_next("CreateThreadpoolTimer");
    EXPECT_EQ(nullptr, async_timer_create(engine_));
}

TEST_F(AsyncTimerWin32, a_start_that_needs_memory_it_cannot_get_fails_with_enomem_and_changes_nothing)
{
    ASSERT_EQ(0, start(1000, 1));
    ASSERT_EQ(0, start(1000, 2));  // 1's CANCELLED queued, 2 pending: the timer's own room
    fake_.fail_next("malloc");
    EXPECT_EQ(ENOMEM, start(1000, 3));
    advance(1000);
    fire();  // 2 FIRED joins 1's CANCELLED, for the work item submitted for that one
    EXPECT_TRUE(events_.empty());
    ASSERT_TRUE(run_work());
    ASSERT_EQ(2u, events_.size());
    EXPECT_EQ(context_value(1), events_[0].context);
    EXPECT_EQ(ASYNC_TIMER_CANCELLED, events_[0].result);
    EXPECT_EQ(context_value(2), events_[1].context);
    EXPECT_EQ(ASYNC_TIMER_FIRED, events_[1].result);
    EXPECT_FALSE(run_work());
}

TEST_F(AsyncTimerWin32, starts_and_cancels_in_steady_state_allocate_nothing)
{
    ASSERT_EQ(0, start(10, 1));
    ASSERT_EQ(0, async_timer_cancel(timer_));
    ASSERT_TRUE(run_work());
    const size_t before = fake_.count("malloc");
    for (uintptr_t i = 0; i < 100; ++i)
    {
        ASSERT_EQ(0, start(10, i));
        ASSERT_EQ(0, start(10, i));
        ASSERT_EQ(0, async_timer_cancel(timer_));
        ASSERT_TRUE(run_work());
    }
    EXPECT_EQ(before, fake_.count("malloc"));
    EXPECT_EQ(201u, events_.size());
}

TEST_F(AsyncTimerWin32, the_timer_holds_an_engine_reference_until_destroyed)
{
    const EXECUTION_ENGINE_HANDLE engine = engine_;
    const PTP_POOL pool = execution_engine_win32_get_threadpool(engine);
    engine_ = nullptr;
    execution_engine_dec_ref(engine);
    EXPECT_TRUE(fake_.pool_open(pool));
    destroy_timer();
    EXPECT_FALSE(fake_.pool_open(pool));
}

}  // namespace
}  // namespace asock_test::win32
