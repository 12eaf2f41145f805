// async_timer on Windows against the fake operating system: the engine's one threadpool timer
// is the fake's, fired by the tests on their own thread, and the clock is one the tests move.
// So every race of a timer (a cancel or a restart against the firing, a destroy or a restart
// from the callback) is played in each order, deterministically.
// Tests_SRS_ASYNC_SOCKET_WIN32_77_013, Tests_SRS_ASYNC_SOCKET_WIN32_77_014
#include <atomic>
#include <functional>
#include <thread>
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
    }
    void TearDown() override
    {
        if (timer_ != nullptr)
            async_timer_destroy(timer_);
        for (ASYNC_TIMER_HANDLE other : others_)
            async_timer_destroy(other);
        current_ = nullptr;
        FakeOsTest::TearDown();
    }

    static void on_timer(void* context, ASYNC_TIMER_RESULT result)
    {
        static thread_local int depth = 0;
        ++depth;
        {
            std::lock_guard<std::mutex> lock(current_->events_mutex_);
            current_->events_.push_back({context, result, depth});
        }
        if (current_->action_)
        {
            auto action = current_->action_;
            action(context, result);
        }
        --depth;
    }
    int start(uint32_t delay_ms, uintptr_t n) { return async_timer_start(timer_, delay_ms, on_timer, context_value(n)); }
    int start_other(size_t index, uint32_t delay_ms, uintptr_t n) { return async_timer_start(others_.at(index), delay_ms, on_timer, context_value(n)); }
    ASYNC_TIMER_HANDLE make_other()
    {
        ASYNC_TIMER_HANDLE other = async_timer_create(engine_);
        EXPECT_NE(nullptr, other);
        others_.push_back(other);
        return other;
    }
    void destroy_other(size_t index)
    {
        async_timer_destroy(others_.at(index));
        others_.erase(others_.begin() + static_cast<std::ptrdiff_t>(index));
    }
    void advance(uint32_t ms) { fake_.advance_clock(std::chrono::milliseconds(ms)); }
    void fire() { fake_.fire(deadline_); }
    void destroy_timer()
    {
        async_timer_destroy(timer_);
        timer_ = nullptr;
    }
    std::vector<uintptr_t> fired_order() const
    {
        std::vector<uintptr_t> order;
        for (const auto& event : events_)
            order.push_back((reinterpret_cast<uintptr_t>(event.context) - 0xC0DE0000) / 0x10);
        return order;
    }

    static inline AsyncTimerWin32* current_ = nullptr;
    ASYNC_TIMER_HANDLE timer_ = nullptr;
    std::vector<ASYNC_TIMER_HANDLE> others_;
    PTP_TIMER deadline_ = nullptr;
    std::mutex events_mutex_;
    std::vector<TimerEvent> events_;
    std::function<void(void*, ASYNC_TIMER_RESULT)> action_;
};

TEST_F(AsyncTimerWin32, the_first_timer_makes_the_engines_threadpool_timer_on_its_pool)
{
    ASSERT_NE(nullptr, deadline_);
    const auto pools = fake_.calls("SetThreadpoolCallbackPool");
    ASSERT_FALSE(pools.empty());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(execution_engine_win32_get_threadpool(engine_)), pools.back().args.at(1));
    EXPECT_EQ(0u, fake_.count("CreateThreadpoolWork"));
}

TEST_F(AsyncTimerWin32, the_timers_of_one_engine_share_one_threadpool_timer)
{
    for (int i = 0; i < 3; ++i)
        make_other();
    EXPECT_EQ(1u, fake_.count("CreateThreadpoolTimer"));
    EXECUTION_ENGINE_PARAMETERS parameters{1, 0};
    EXECUTION_ENGINE_HANDLE second = execution_engine_create(&parameters);
    ASSERT_NE(nullptr, second);
    ASYNC_TIMER_HANDLE on_second = async_timer_create(second);
    ASSERT_NE(nullptr, on_second);
    EXPECT_EQ(2u, fake_.count("CreateThreadpoolTimer"));
    async_timer_destroy(on_second);
    execution_engine_dec_ref(second);
    EXPECT_EQ(1u, fake_.count("CloseThreadpoolTimer"));  // the second engine's, as it went
}

TEST_F(AsyncTimerWin32, start_sets_the_threadpool_timer_relative_to_now_and_calls_back_nothing)
{
    ASSERT_EQ(0, start(250, 1));
    const auto record = fake_.last_timer();
    EXPECT_TRUE(record.set);
    EXPECT_EQ(-250 * 10000, record.due);
    EXPECT_TRUE(events_.empty());
}

TEST_F(AsyncTimerWin32, a_later_deadline_leaves_the_threadpool_timer_alone_an_earlier_one_sets_it)
{
    make_other();
    make_other();
    ASSERT_EQ(0, start(100, 1));
    ASSERT_EQ(0, start_other(0, 200, 2));
    EXPECT_EQ(1u, fake_.last_timer().sets);
    ASSERT_EQ(0, start_other(1, 50, 3));
    const auto record = fake_.last_timer();
    EXPECT_EQ(2u, record.sets);
    EXPECT_EQ(-50 * 10000, record.due);
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

TEST_F(AsyncTimerWin32, only_the_expired_starts_fire_and_the_threadpool_timer_is_set_for_the_next)
{
    make_other();
    ASSERT_EQ(0, start(10, 1));
    ASSERT_EQ(0, start_other(0, 25, 2));
    advance(10);
    fire();
    ASSERT_EQ(1u, events_.size());
    EXPECT_EQ(context_value(1), events_[0].context);
    EXPECT_TRUE(fake_.last_timer().set);
    EXPECT_EQ(-15 * 10000, fake_.last_timer().due);
}

TEST_F(AsyncTimerWin32, timers_with_the_same_deadline_fire_in_the_order_they_were_started)
{
    for (int i = 0; i < 5; ++i)
        make_other();
    for (size_t i = 5; i-- > 0;)  // started in the reverse order of creation; the clock stands still
        ASSERT_EQ(0, start_other(i, 10, 10 + (4 - i)));
    ASSERT_EQ(0, start(10, 15));
    advance(10);
    fire();
    EXPECT_EQ((std::vector<uintptr_t>{10, 11, 12, 13, 14, 15}), fired_order());
}

TEST_F(AsyncTimerWin32, timers_fire_in_the_order_of_their_deadlines_not_of_their_starts)
{
    make_other();
    make_other();
    ASSERT_EQ(0, start(30, 3));
    ASSERT_EQ(0, start_other(0, 10, 1));
    ASSERT_EQ(0, start_other(1, 20, 2));
    advance(30);
    fire();
    EXPECT_EQ((std::vector<uintptr_t>{1, 2, 3}), fired_order());
    for (const auto& event : events_)
        EXPECT_EQ(1, event.depth);
}

TEST_F(AsyncTimerWin32, cancel_completes_cancelled_from_the_threadpool_timer_never_inside_the_call)
{
    ASSERT_EQ(0, start(10, 1));
    ASSERT_EQ(0, async_timer_cancel(timer_));
    EXPECT_TRUE(events_.empty());
    const auto record = fake_.last_timer();
    EXPECT_TRUE(record.set);
    EXPECT_EQ(-1, record.due);  // at once
    fire();
    ASSERT_EQ(1u, events_.size());
    EXPECT_EQ(ASYNC_TIMER_CANCELLED, events_[0].result);
}

TEST_F(AsyncTimerWin32, a_cancel_with_nothing_pending_does_nothing)
{
    ASSERT_EQ(0, async_timer_cancel(timer_));
    EXPECT_EQ(0u, fake_.count("SetThreadpoolTimer"));
    fire();
    EXPECT_TRUE(events_.empty());
}

TEST_F(AsyncTimerWin32, a_cancel_after_the_firing_changes_nothing)
{
    ASSERT_EQ(0, start(1, 1));
    advance(1);
    fire();
    ASSERT_EQ(0, async_timer_cancel(timer_));
    fire();
    ASSERT_EQ(1u, events_.size());
    EXPECT_EQ(ASYNC_TIMER_FIRED, events_[0].result);
}

TEST_F(AsyncTimerWin32, a_threadpool_callback_that_comes_after_a_cancel_fires_nothing)
{
    ASSERT_EQ(0, start(1, 1));
    advance(1);
    ASSERT_EQ(0, async_timer_cancel(timer_));  // expired before the cancel, callback runs after
    fire();
    fire();
    ASSERT_EQ(1u, events_.size());
    EXPECT_EQ(ASYNC_TIMER_CANCELLED, events_[0].result);
}

TEST_F(AsyncTimerWin32, a_restart_cancels_the_earlier_start_and_its_late_callback_does_not_fire_the_new_one)
{
    ASSERT_EQ(0, start(10, 1));
    advance(10);
    ASSERT_EQ(0, start(10, 2));  // the first one's expiry is already queued
    fire();
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
}

TEST_F(AsyncTimerWin32, destroy_completes_a_pending_start_abandoned_before_it_returns)
{
    ASSERT_EQ(0, start(1000, 1));
    destroy_timer();
    ASSERT_EQ(1u, events_.size());
    EXPECT_EQ(ASYNC_TIMER_ABANDONED, events_[0].result);
    fire();  // the engine's timer may still come: it finds nothing
    EXPECT_EQ(1u, events_.size());
}

TEST_F(AsyncTimerWin32, destroy_delivers_a_cancelled_start_queued_for_the_deliverer_itself)
{
    ASSERT_EQ(0, start(1000, 1));
    ASSERT_EQ(0, async_timer_cancel(timer_));
    ASSERT_EQ(0, start(1000, 2));
    destroy_timer();
    ASSERT_EQ(2u, events_.size());
    EXPECT_EQ(ASYNC_TIMER_CANCELLED, events_[0].result);
    EXPECT_EQ(ASYNC_TIMER_ABANDONED, events_[1].result);
    fire();
    EXPECT_EQ(2u, events_.size());
}

TEST_F(AsyncTimerWin32, a_start_from_a_callback_that_destroy_delivers_completes_abandoned_inside_the_destroy)
{
    action_ = [&](void* context, ASYNC_TIMER_RESULT) {
        if (context == context_value(1))
        {
            EXPECT_EQ(0, async_timer_start(timer_, 0, on_timer, context_value(2)));
        }
    };
    ASSERT_EQ(0, start(1000, 1));
    async_timer_destroy(timer_);
    ASSERT_EQ(2u, events_.size());
    EXPECT_EQ(ASYNC_TIMER_ABANDONED, events_[1].result);
    EXPECT_EQ(1, events_[1].depth);
    timer_ = nullptr;
}

TEST_F(AsyncTimerWin32, destroy_from_another_thread_waits_for_the_running_callback_then_delivers_the_rest)
{
    std::atomic<bool> destroyed{false};
    std::thread destroyer;
    action_ = [&](void* context, ASYNC_TIMER_RESULT) {
        if (context != context_value(1))
            return;
        EXPECT_EQ(0, start(1000, 2));
        destroyer = std::thread([&] {
            async_timer_destroy(timer_);
            destroyed = true;
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        EXPECT_FALSE(destroyed.load());  // this callback still runs
    };
    ASSERT_EQ(0, start(0, 1));
    fire();
    destroyer.join();
    timer_ = nullptr;
    EXPECT_TRUE(destroyed.load());
    ASSERT_EQ(2u, events_.size());
    EXPECT_EQ(ASYNC_TIMER_FIRED, events_[0].result);
    EXPECT_EQ(ASYNC_TIMER_ABANDONED, events_[1].result);
    EXPECT_EQ(context_value(2), events_[1].context);
}

TEST_F(AsyncTimerWin32, destroy_from_the_callback_completes_a_restart_abandoned_inside_it_and_frees_after_it)
{
    action_ = [&](void* context, ASYNC_TIMER_RESULT) {
        if (context != context_value(1))
            return;
        EXPECT_EQ(0, start(1000, 2));
        destroy_timer();
        EXPECT_EQ(2u, events_.size());  // the restart's ABANDONED ran inside the destroy
    };
    ASSERT_EQ(0, start(0, 1));
    fire();
    ASSERT_EQ(2u, events_.size());
    EXPECT_EQ(ASYNC_TIMER_FIRED, events_[0].result);
    EXPECT_EQ(ASYNC_TIMER_ABANDONED, events_[1].result);
    EXPECT_EQ(2, events_[1].depth);  // the documented self-destroy: inside the calling callback
    fire();
    EXPECT_EQ(2u, events_.size());
}

TEST_F(AsyncTimerWin32, destroy_from_a_cancelled_callback_frees_the_timer)
{
    action_ = [&](void*, ASYNC_TIMER_RESULT) { destroy_timer(); };
    ASSERT_EQ(0, start(1000, 1));
    ASSERT_EQ(0, async_timer_cancel(timer_));
    fire();
    ASSERT_EQ(1u, events_.size());
    EXPECT_EQ(ASYNC_TIMER_CANCELLED, events_[0].result);
    // TearDown checks that the timer's memory went.
}

TEST_F(AsyncTimerWin32, destroying_another_timer_of_the_engine_from_a_callback_abandons_its_start_at_once)
{
    make_other();
    ASSERT_EQ(0, start_other(0, 1000, 2));
    action_ = [&](void* context, ASYNC_TIMER_RESULT) {
        if (context == context_value(1))
            destroy_other(0);
    };
    ASSERT_EQ(0, start(0, 1));
    fire();
    ASSERT_EQ(2u, events_.size());
    EXPECT_EQ(ASYNC_TIMER_ABANDONED, events_[1].result);
    EXPECT_EQ(context_value(2), events_[1].context);
}

TEST_F(AsyncTimerWin32, a_destroy_of_a_timer_whose_callback_is_further_up_the_stack_does_not_wait_and_the_deliverer_frees_it)
{
    make_other();
    action_ = [&](void* context, ASYNC_TIMER_RESULT) {
        if (context == context_value(1))
        {
            EXPECT_EQ(0, start(1000, 3));
            EXPECT_EQ(0, start_other(0, 1000, 2));
            EXPECT_EQ(0, async_timer_cancel(others_[0]));  // its CANCELLED is queued
            destroy_other(0);  // delivers 2 CANCELLED here, whose callback destroys this timer
            EXPECT_EQ(2u, events_.size());  // 3's ABANDONED waits for this callback to return
        }
        else if (context == context_value(2))
        {
            destroy_timer();  // timer 1's callback is further up: no wait
        }
    };
    ASSERT_EQ(0, start(0, 1));
    fire();
    ASSERT_EQ(3u, events_.size());
    EXPECT_EQ(ASYNC_TIMER_FIRED, events_[0].result);
    EXPECT_EQ(ASYNC_TIMER_CANCELLED, events_[1].result);
    EXPECT_EQ(context_value(3), events_[2].context);
    EXPECT_EQ(ASYNC_TIMER_ABANDONED, events_[2].result);
    EXPECT_EQ(1, events_[2].depth);  // after timer 1's callback returned, not nested in it
}

TEST_F(AsyncTimerWin32, create_fails_cleanly_when_the_threadpool_timer_cannot_be_made_and_the_next_create_tries_again)
{
    EXECUTION_ENGINE_PARAMETERS parameters{1, 0};
    EXECUTION_ENGINE_HANDLE second = execution_engine_create(&parameters);
    ASSERT_NE(nullptr, second);
    fake_.fail_next("CreateThreadpoolTimer");
    EXPECT_EQ(nullptr, async_timer_create(second));
    ASYNC_TIMER_HANDLE timer = async_timer_create(second);
    EXPECT_NE(nullptr, timer);
    async_timer_destroy(timer);
    execution_engine_dec_ref(second);
    // TearDown checks that the environment, the timer and the memory went.
}

TEST_F(AsyncTimerWin32, create_fails_cleanly_without_memory)
{
    fake_.fail_next("malloc");
    EXPECT_EQ(nullptr, async_timer_create(engine_));
}

TEST_F(AsyncTimerWin32, a_start_that_needs_memory_it_cannot_get_fails_with_enomem_and_changes_nothing)
{
    ASSERT_EQ(0, start(1000, 1));
    ASSERT_EQ(0, start(1000, 2));  // 1's CANCELLED queued, 2 pending: the timer's own room
    fake_.fail_next("malloc");
    EXPECT_EQ(ENOMEM, start(1000, 3));
    advance(1000);
    fire();
    ASSERT_EQ(2u, events_.size());
    EXPECT_EQ(context_value(1), events_[0].context);
    EXPECT_EQ(ASYNC_TIMER_CANCELLED, events_[0].result);
    EXPECT_EQ(context_value(2), events_[1].context);
    EXPECT_EQ(ASYNC_TIMER_FIRED, events_[1].result);
    fire();
    EXPECT_EQ(2u, events_.size());
}

TEST_F(AsyncTimerWin32, starts_cancels_and_firings_in_steady_state_allocate_nothing)
{
    make_other();
    ASSERT_EQ(0, start(10, 1));
    ASSERT_EQ(0, async_timer_cancel(timer_));
    fire();
    const size_t before = fake_.count("malloc");
    for (uintptr_t i = 0; i < 100; ++i)
    {
        ASSERT_EQ(0, start(10, i));
        ASSERT_EQ(0, start(10, i));
        ASSERT_EQ(0, start_other(0, 5, i));
        ASSERT_EQ(0, async_timer_cancel(timer_));
        advance(5);
        fire();
    }
    EXPECT_EQ(before, fake_.count("malloc"));
    EXPECT_EQ(301u, events_.size());
}

TEST_F(AsyncTimerWin32, the_timer_holds_an_engine_reference_until_destroyed)
{
    const EXECUTION_ENGINE_HANDLE engine = engine_;
    const PTP_POOL pool = execution_engine_win32_get_threadpool(engine);
    engine_ = nullptr;
    execution_engine_dec_ref(engine);
    EXPECT_TRUE(fake_.pool_open(pool));
    EXPECT_EQ(0u, fake_.count("CloseThreadpoolTimer"));
    destroy_timer();
    EXPECT_FALSE(fake_.pool_open(pool));
    EXPECT_EQ(1u, fake_.count("CloseThreadpoolTimer"));
}

TEST_F(AsyncTimerWin32, the_last_timer_destroyed_from_its_callback_closes_the_engines_timer_after_leaving_the_callbacks_wait)
{
    const EXECUTION_ENGINE_HANDLE engine = engine_;
    const PTP_POOL pool = execution_engine_win32_get_threadpool(engine);
    engine_ = nullptr;
    execution_engine_dec_ref(engine);
    action_ = [&](void*, ASYNC_TIMER_RESULT) { destroy_timer(); };
    ASSERT_EQ(0, start(0, 1));
    fire();
    ASSERT_EQ(1u, events_.size());
    EXPECT_FALSE(fake_.pool_open(pool));
    EXPECT_EQ(1u, fake_.count("DisassociateCurrentThreadFromCallback"));
    EXPECT_EQ(1u, fake_.count("CloseThreadpoolTimer"));
    EXPECT_LT(fake_.position("DisassociateCurrentThreadFromCallback"), fake_.position("WaitForThreadpoolTimerCallbacks"));
}

}  // namespace
}  // namespace asock_test::win32
