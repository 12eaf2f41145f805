// Timers (async_timer.h), once per backend: each start completes exactly once, never inside
// the call, never early; deadlines in order, equal ones in start order; cancels, restarts and
// destroys from any thread and from the timer's own callback, also racing the firing.
// Requirements: docs/requirements/timers.md (SRS_ASOCK_TIMER_12_*).
#include <algorithm>
#include <iostream>
#include <mutex>
#include <random>
#include <vector>

#include "asock/async_timer.h"
#include "contract/accept_connect_helpers.h"

namespace asock_test {
namespace {

using Clock = std::chrono::steady_clock;

// Set around every asock call the tests make, on the calling thread: a callback that finds it
// set runs inside the call (which the contract forbids).
thread_local bool tls_inside_call = false;

int start_marked(ASYNC_TIMER_HANDLE timer, uint32_t delay_ms, ON_ASYNC_TIMER_COMPLETE callback, void* context)
{
    tls_inside_call = true;
    const int result = async_timer_start(timer, delay_ms, callback, context);
    tls_inside_call = false;
    return result;
}

int cancel_marked(ASYNC_TIMER_HANDLE timer)
{
    tls_inside_call = true;
    const int result = async_timer_cancel(timer);
    tls_inside_call = false;
    return result;
}

// The order in which completions arrived, over several shots.
class FiringOrder
{
public:
    int next()
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return count_++;
    }

private:
    std::mutex mutex_;
    int count_ = 0;
};

// One start's completion.
struct Shot
{
    Clock::time_point started{};  // just before the start call
    Clock::time_point returned{};  // just after it
    uint32_t delay_ms = 0;
    FiringOrder* order = nullptr;
    std::atomic<int> calls{0};
    std::atomic<int> result{-1};
    std::atomic<int64_t> after_us{-1};
    std::atomic<int> inside_call{0};
    std::atomic<int> position{-1};
    std::atomic<std::thread::id> thread{};
    Counter done;

    static void callback(void* context, ASYNC_TIMER_RESULT timer_result)
    {
        auto* self = static_cast<Shot*>(context);
        self->after_us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - self->started).count();
        if (tls_inside_call)
            self->inside_call++;
        if (self->order != nullptr)
            self->position = self->order->next();
        self->result = timer_result;
        self->thread = std::this_thread::get_id();
        self->calls++;
        self->done.add();
    }

    int start(ASYNC_TIMER_HANDLE timer, uint32_t delay)
    {
        delay_ms = delay;
        started = Clock::now();
        const int error = start_marked(timer, delay, callback, this);
        returned = Clock::now();
        return error;
    }
    ASYNC_TIMER_RESULT outcome() const { return static_cast<ASYNC_TIMER_RESULT>(result.load()); }
};

// Destroys a timer at the end of the scope. Declare it after the shots its starts write to.
class OwnedTimer
{
public:
    explicit OwnedTimer(ASYNC_TIMER_HANDLE timer = nullptr) noexcept : timer_(timer) {}
    ~OwnedTimer() { destroy(); }
    OwnedTimer(const OwnedTimer&) = delete;
    OwnedTimer& operator=(const OwnedTimer&) = delete;
    OwnedTimer(OwnedTimer&& other) noexcept : timer_(other.release()) {}
    ASYNC_TIMER_HANDLE get() const noexcept { return timer_; }
    void destroy() noexcept { async_timer_destroy(std::exchange(timer_, nullptr)); }
    ASYNC_TIMER_HANDLE release() noexcept { return std::exchange(timer_, nullptr); }

private:
    ASYNC_TIMER_HANDLE timer_;
};

class Timers : public Contract
{
protected:
    ASYNC_TIMER_HANDLE make_timer()
    {
        ASYNC_TIMER_HANDLE timer = async_timer_create(engine);
        EXPECT_NE(nullptr, timer);
        return timer;
    }
};

// The delay was kept: the callback came no earlier than delay_ms after the start.
void expect_not_early(const Shot& shot)
{
    EXPECT_GE(shot.after_us.load(), static_cast<int64_t>(shot.delay_ms) * 1000) << "fired " << shot.after_us.load() << " us after a start of " << shot.delay_ms << " ms";
}

// Tests_SRS_ASOCK_TIMER_12_001
TEST_P(Timers, create_without_an_engine_gives_null_and_destroy_of_null_is_ignored)
{
    EXPECT_EQ(nullptr, async_timer_create(nullptr));
    async_timer_destroy(nullptr);
}

// Tests_SRS_ASOCK_TIMER_12_002
TEST_P(Timers, start_without_a_timer_or_a_callback_fails_with_einval_and_never_calls_back)
{
    Shot shot;
    OwnedTimer timer(make_timer());
    EXPECT_EQ(EINVAL, async_timer_start(nullptr, 0, Shot::callback, &shot));
    EXPECT_EQ(EINVAL, async_timer_start(timer.get(), 0, nullptr, &shot));
    EXPECT_EQ(EINVAL, async_timer_cancel(nullptr));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(0, shot.calls.load());
}

// Tests_SRS_ASOCK_TIMER_12_003, Tests_SRS_ASOCK_TIMER_12_004
TEST_P(Timers, a_start_fires_once_on_an_engine_thread_not_before_its_delay)
{
    Shot shot;
    OwnedTimer timer(make_timer());
    ASSERT_EQ(0, shot.start(timer.get(), 40));
    ASSERT_TRUE(shot.done.wait_for(1));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(1, shot.calls.load());
    EXPECT_EQ(ASYNC_TIMER_FIRED, shot.outcome());
    EXPECT_NE(std::this_thread::get_id(), shot.thread.load());
    EXPECT_EQ(0, shot.inside_call.load());
    expect_not_early(shot);
}

// Tests_SRS_ASOCK_TIMER_12_004
TEST_P(Timers, a_delay_of_zero_fires_soon_and_not_inside_the_start)
{
    Shot shot;
    OwnedTimer timer(make_timer());
    ASSERT_EQ(0, shot.start(timer.get(), 0));
    ASSERT_TRUE(shot.done.wait_for(1, std::chrono::seconds(2)));
    EXPECT_EQ(ASYNC_TIMER_FIRED, shot.outcome());
    EXPECT_EQ(0, shot.inside_call.load());
}

// Tests_SRS_ASOCK_TIMER_12_005, Tests_SRS_ASOCK_TIMER_12_004
TEST_P(Timers, timers_started_in_shuffled_order_fire_in_the_order_of_their_deadlines_and_never_early)
{
    constexpr int kTimers = 24;
    std::vector<uint32_t> delays;
    for (int i = 0; i < kTimers; ++i)
        delays.push_back(30 + 12 * static_cast<uint32_t>(i));
    std::shuffle(delays.begin(), delays.end(), std::mt19937(12));
    FiringOrder order;
    std::vector<Shot> shots(kTimers);
    std::vector<OwnedTimer> timers;
    timers.reserve(kTimers);
    for (int i = 0; i < kTimers; ++i)
        timers.emplace_back(make_timer());
    for (int i = 0; i < kTimers; ++i)
    {
        shots[i].order = &order;
        ASSERT_EQ(0, shots[i].start(timers[i].get(), delays[i]));
    }
    for (Shot& shot : shots)
        ASSERT_TRUE(shot.done.wait_for(1));
    std::vector<const Shot*> by_firing(kTimers);
    for (int i = 0; i < kTimers; ++i)
    {
        EXPECT_EQ(ASYNC_TIMER_FIRED, shots[i].outcome());
        expect_not_early(shots[i]);
        by_firing[static_cast<size_t>(shots[i].position.load())] = &shots[i];
    }
    // A timer fired after another whose deadline was surely later (the exact deadline lies
    // between the clock before and after the start, plus the delay): out of order. Delays 12 ms
    // apart make the order by delay the order by deadline unless the start loop was preempted.
    Clock::time_point greatest_earliest{};
    for (const Shot* shot : by_firing)
    {
        const auto delay = std::chrono::milliseconds(shot->delay_ms);
        EXPECT_GE(shot->returned + delay, greatest_earliest) << "the timer of " << shot->delay_ms << " ms fired after one with a later deadline";
        greatest_earliest = std::max(greatest_earliest, shot->started + delay);
    }
}

// Tests_SRS_ASOCK_TIMER_12_006
TEST_P(Timers, timers_with_the_same_delay_fire_in_the_order_they_were_started)
{
    for (uint32_t delay : {0u, 25u})
    {
        constexpr int kTimers = 64;
        FiringOrder order;
        std::vector<Shot> shots(kTimers);
        std::vector<OwnedTimer> timers;
        timers.reserve(kTimers);
        for (int i = 0; i < kTimers; ++i)
            timers.emplace_back(make_timer());
        for (int i = 0; i < kTimers; ++i)
        {
            shots[i].order = &order;
            ASSERT_EQ(0, shots[i].start(timers[i].get(), delay));
        }
        for (Shot& shot : shots)
            ASSERT_TRUE(shot.done.wait_for(1));
        for (int i = 0; i < kTimers; ++i)
            EXPECT_EQ(i, shots[i].position.load()) << "delay " << delay << " ms";
    }
}

// Tests_SRS_ASOCK_TIMER_12_007, Tests_SRS_ASOCK_TIMER_12_003
TEST_P(Timers, a_cancel_before_the_deadline_completes_the_start_cancelled_soon_and_it_never_fires)
{
    Shot shot;
    OwnedTimer timer(make_timer());
    ASSERT_EQ(0, shot.start(timer.get(), 300));
    ASSERT_EQ(0, cancel_marked(timer.get()));
    ASSERT_TRUE(shot.done.wait_for(1));
    EXPECT_LT(shot.after_us.load(), 250000) << "the cancel waited for the deadline";
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    EXPECT_EQ(1, shot.calls.load());
    EXPECT_EQ(ASYNC_TIMER_CANCELLED, shot.outcome());
    EXPECT_EQ(0, shot.inside_call.load());
}

// Tests_SRS_ASOCK_TIMER_12_007
TEST_P(Timers, a_cancel_with_nothing_pending_does_nothing_and_the_timer_still_starts)
{
    Shot first;
    Shot second;
    OwnedTimer timer(make_timer());
    EXPECT_EQ(0, async_timer_cancel(timer.get()));  // never started
    ASSERT_EQ(0, first.start(timer.get(), 0));
    ASSERT_TRUE(first.done.wait_for(1));
    EXPECT_EQ(0, async_timer_cancel(timer.get()));  // fired already
    EXPECT_EQ(0, async_timer_cancel(timer.get()));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(1, first.calls.load());
    EXPECT_EQ(ASYNC_TIMER_FIRED, first.outcome());
    ASSERT_EQ(0, second.start(timer.get(), 10));
    ASSERT_TRUE(second.done.wait_for(1));
    EXPECT_EQ(ASYNC_TIMER_FIRED, second.outcome());
    expect_not_early(second);
}

// Tests_SRS_ASOCK_TIMER_12_008
TEST_P(Timers, a_restart_while_pending_cancels_the_first_start_and_fires_after_its_own_delay)
{
    Shot first;
    Shot second;
    OwnedTimer timer(make_timer());
    ASSERT_EQ(0, first.start(timer.get(), 5000));
    ASSERT_EQ(0, second.start(timer.get(), 30));
    ASSERT_TRUE(second.done.wait_for(1, std::chrono::seconds(3)));
    ASSERT_TRUE(first.done.wait_for(1, std::chrono::seconds(1)));
    EXPECT_EQ(ASYNC_TIMER_CANCELLED, first.outcome());
    EXPECT_EQ(ASYNC_TIMER_FIRED, second.outcome());
    expect_not_early(second);
    EXPECT_EQ(0, first.inside_call.load());
}

// Tests_SRS_ASOCK_TIMER_12_008
TEST_P(Timers, a_restart_to_a_later_deadline_does_not_fire_at_the_earlier_one)
{
    Shot first;
    Shot second;
    OwnedTimer timer(make_timer());
    ASSERT_EQ(0, first.start(timer.get(), 20));
    ASSERT_EQ(0, second.start(timer.get(), 250));
    ASSERT_TRUE(second.done.wait_for(1));
    ASSERT_TRUE(first.done.wait_for(1));
    EXPECT_EQ(ASYNC_TIMER_FIRED, second.outcome());
    expect_not_early(second);
    // The first either was replaced (CANCELLED) or fired before the restart reached the engine.
    EXPECT_TRUE(first.outcome() == ASYNC_TIMER_CANCELLED || first.outcome() == ASYNC_TIMER_FIRED);
}

// A timer started and cancelled (or restarted) from two threads, racing its firing.
struct RaceRound
{
    Shot shots[2];
};

// Tests_SRS_ASOCK_TIMER_12_009
TEST_P(Timers, a_cancel_racing_the_firing_from_another_thread_completes_each_start_exactly_once)
{
    constexpr int kRounds = 300;
    std::vector<RaceRound> rounds(kRounds);
    OwnedTimer timer(make_timer());
    std::mt19937 random(3);
    int fired = 0;
    int cancelled = 0;
    for (RaceRound& round : rounds)
    {
        ASSERT_EQ(0, round.shots[0].start(timer.get(), 1));
        const auto pause = std::chrono::microseconds(random() % 1500);
        Background canceller([&] {
            std::this_thread::sleep_for(pause);
            EXPECT_EQ(0, cancel_marked(timer.get()));
        });
        canceller.join();
        ASSERT_TRUE(round.shots[0].done.wait_for(1, std::chrono::seconds(2)));
        (round.shots[0].outcome() == ASYNC_TIMER_FIRED ? fired : cancelled)++;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (RaceRound& round : rounds)
    {
        EXPECT_EQ(1, round.shots[0].calls.load());
        EXPECT_EQ(0, round.shots[0].inside_call.load());
    }
    EXPECT_EQ(kRounds, fired + cancelled);
    std::cout << "[ info ] " << fired << " fired, " << cancelled << " cancelled\n";
}

// Tests_SRS_ASOCK_TIMER_12_009, Tests_SRS_ASOCK_TIMER_12_008
TEST_P(Timers, a_restart_racing_the_firing_from_another_thread_completes_each_start_exactly_once)
{
    constexpr int kRounds = 300;
    std::vector<RaceRound> rounds(kRounds);
    OwnedTimer timer(make_timer());
    std::mt19937 random(5);
    for (RaceRound& round : rounds)
    {
        ASSERT_EQ(0, round.shots[0].start(timer.get(), 1));
        const auto pause = std::chrono::microseconds(random() % 1500);
        Background restarter([&] {
            std::this_thread::sleep_for(pause);
            EXPECT_EQ(0, round.shots[1].start(timer.get(), 0));
        });
        restarter.join();
        ASSERT_TRUE(round.shots[0].done.wait_for(1, std::chrono::seconds(2)));
        ASSERT_TRUE(round.shots[1].done.wait_for(1, std::chrono::seconds(2)));
        EXPECT_EQ(ASYNC_TIMER_FIRED, round.shots[1].outcome());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (RaceRound& round : rounds)
        for (Shot& shot : round.shots)
        {
            EXPECT_EQ(1, shot.calls.load());
            EXPECT_NE(ASYNC_TIMER_ABANDONED, shot.outcome());
        }
}

// A callback that restarts its own timer a number of times.
struct Chain
{
    ASYNC_TIMER_HANDLE timer = nullptr;
    int remaining = 0;
    std::vector<int64_t> after_us;  // one per link (callbacks of one timer run one at a time)
    Clock::time_point started{};
    std::atomic<int> calls{0};
    std::atomic<int> not_fired{0};
    std::atomic<int> inside_call{0};
    std::atomic<int> start_failures{0};
    Counter done;

    static void callback(void* context, ASYNC_TIMER_RESULT result)
    {
        auto* self = static_cast<Chain*>(context);
        if (tls_inside_call)
            self->inside_call++;
        if (result != ASYNC_TIMER_FIRED)
            self->not_fired++;
        self->after_us.push_back(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - self->started).count());
        self->calls++;
        if (--self->remaining > 0)
        {
            self->started = Clock::now();
            if (start_marked(self->timer, 5, callback, self) != 0)
                self->start_failures++;
        }
        self->done.add();
    }
};

// Tests_SRS_ASOCK_TIMER_12_010
TEST_P(Timers, a_callback_may_restart_its_own_timer_and_each_start_fires_once_after_its_delay)
{
    Chain chain;
    OwnedTimer timer(make_timer());
    chain.timer = timer.get();
    chain.remaining = 10;
    chain.started = Clock::now();
    ASSERT_EQ(0, start_marked(timer.get(), 5, Chain::callback, &chain));
    ASSERT_TRUE(chain.done.wait_for(10));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(10, chain.calls.load());
    EXPECT_EQ(0, chain.not_fired.load());
    EXPECT_EQ(0, chain.inside_call.load());
    EXPECT_EQ(0, chain.start_failures.load());
    for (int64_t after : chain.after_us)
        EXPECT_GE(after, 5000);
}

// A callback that starts the timer again (a start still pending) and then destroys it.
struct SelfDestroy
{
    ASYNC_TIMER_HANDLE timer = nullptr;
    Shot pending;  // the start made inside the callback
    std::atomic<int> calls{0};
    std::atomic<int> result{-1};
    std::atomic<bool> pending_done_when_destroy_returned{false};
    Counter done;

    static void callback(void* context, ASYNC_TIMER_RESULT result)
    {
        auto* self = static_cast<SelfDestroy*>(context);
        self->result = result;
        self->calls++;
        (void)self->pending.start(self->timer, 10000);
        async_timer_destroy(self->timer);
        self->pending_done_when_destroy_returned = self->pending.calls.load() == 1;
        self->done.add();
    }
};

// Tests_SRS_ASOCK_TIMER_12_010, Tests_SRS_ASOCK_TIMER_12_011
TEST_P(Timers, a_callback_may_destroy_its_own_timer_and_the_start_it_left_pending_is_abandoned_in_the_destroy)
{
    SelfDestroy self;
    self.timer = make_timer();
    ASSERT_NE(nullptr, self.timer);
    ASSERT_EQ(0, start_marked(self.timer, 5, SelfDestroy::callback, &self));
    ASSERT_TRUE(self.done.wait_for(1));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(1, self.calls.load());
    EXPECT_EQ(ASYNC_TIMER_FIRED, self.result.load());
    EXPECT_TRUE(self.pending_done_when_destroy_returned.load());
    EXPECT_EQ(1, self.pending.calls.load());
    EXPECT_EQ(ASYNC_TIMER_ABANDONED, self.pending.outcome());
}

// Tests_SRS_ASOCK_TIMER_12_011
TEST_P(Timers, destroy_with_a_start_pending_completes_it_abandoned_before_returning_and_nothing_comes_after)
{
    Shot shot;
    ASYNC_TIMER_HANDLE timer = make_timer();
    ASSERT_NE(nullptr, timer);
    ASSERT_EQ(0, shot.start(timer, 10000));
    async_timer_destroy(timer);
    EXPECT_EQ(1, shot.calls.load()) << "destroy returned before the pending start completed";
    EXPECT_EQ(ASYNC_TIMER_ABANDONED, shot.outcome());
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(1, shot.calls.load());
}

// Tests_SRS_ASOCK_TIMER_12_011, Tests_SRS_ASOCK_TIMER_12_009
TEST_P(Timers, destroy_racing_the_firing_completes_the_start_once_before_it_returns)
{
    constexpr int kRounds = 200;
    std::vector<Shot> shots(kRounds);
    std::mt19937 random(9);
    int fired = 0;
    for (Shot& shot : shots)
    {
        ASYNC_TIMER_HANDLE timer = make_timer();
        ASSERT_NE(nullptr, timer);
        ASSERT_EQ(0, shot.start(timer, 1));
        std::this_thread::sleep_for(std::chrono::microseconds(random() % 1500));
        async_timer_destroy(timer);
        ASSERT_EQ(1, shot.calls.load()) << "destroy returned before the start completed";
        EXPECT_NE(ASYNC_TIMER_CANCELLED, shot.outcome());
        fired += shot.outcome() == ASYNC_TIMER_FIRED ? 1 : 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (Shot& shot : shots)
        EXPECT_EQ(1, shot.calls.load());
    std::cout << "[ info ] " << fired << " fired, " << kRounds - fired << " abandoned\n";
}

// Tests_SRS_ASOCK_TIMER_12_014
TEST_P(Timers, starts_of_one_timer_from_many_threads_at_once_each_complete_exactly_once)
{
    constexpr int kThreads = 8;
    constexpr int kStarts = 150;
    std::vector<Shot> shots(kThreads * kStarts);
    OwnedTimer timer(make_timer());
    StartLine line(kThreads);
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            line.arrive_and_wait();
            for (int i = 0; i < kStarts; ++i)
                if (shots[t * kStarts + i].start(timer.get(), static_cast<uint32_t>(i % 3)) != 0)
                    failures++;
        });
    for (std::thread& thread : threads)
        thread.join();
    ASSERT_EQ(0, failures.load());
    for (Shot& shot : shots)
        ASSERT_TRUE(shot.done.wait_for(1));
    std::this_thread::sleep_for(kQuiet);
    int fired = 0;
    for (Shot& shot : shots)
    {
        EXPECT_EQ(1, shot.calls.load());
        EXPECT_NE(ASYNC_TIMER_ABANDONED, shot.outcome());
        EXPECT_EQ(0, shot.inside_call.load());
        fired += shot.outcome() == ASYNC_TIMER_FIRED ? 1 : 0;
    }
    EXPECT_GE(fired, 1) << "the last start that reached the timer must fire";
}

// Tests_SRS_ASOCK_TIMER_12_014
TEST_P(Timers, many_timers_started_from_many_threads_at_once_all_fire)
{
    constexpr int kThreads = 8;
    constexpr int kTimersEach = 100;
    std::vector<Shot> shots(kThreads * kTimersEach);
    std::vector<OwnedTimer> timers;
    timers.reserve(shots.size());
    for (size_t i = 0; i < shots.size(); ++i)
        timers.emplace_back(make_timer());
    StartLine line(kThreads);
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            line.arrive_and_wait();
            for (int i = 0; i < kTimersEach; ++i)
            {
                const size_t k = static_cast<size_t>(t * kTimersEach + i);
                if (shots[k].start(timers[k].get(), static_cast<uint32_t>(i % 20)) != 0)
                    failures++;
            }
        });
    for (std::thread& thread : threads)
        thread.join();
    ASSERT_EQ(0, failures.load());
    for (Shot& shot : shots)
        ASSERT_TRUE(shot.done.wait_for(1));
    for (Shot& shot : shots)
    {
        EXPECT_EQ(ASYNC_TIMER_FIRED, shot.outcome());
        expect_not_early(shot);
    }
}

// A timer's callback that starts and cancels its own timer, and watches for nesting.
struct Nesting
{
    ASYNC_TIMER_HANDLE timer = nullptr;
    std::atomic<bool> inside{false};
    std::atomic<int> nested{0};
    std::atomic<int> inside_call{0};
    std::atomic<int> calls{0};
    std::atomic<int> starts{1};
    std::atomic<int> fired{0};
    Counter done;

    static void callback(void* context, ASYNC_TIMER_RESULT result)
    {
        auto* self = static_cast<Nesting*>(context);
        if (self->inside.exchange(true))
            self->nested++;
        if (tls_inside_call)
            self->inside_call++;
        if (result == ASYNC_TIMER_FIRED)
            self->fired++;
        // Until 40 have fired: start twice and cancel between, so that a callback is owed while
        // this one runs.
        if (self->fired.load() < 40 && result == ASYNC_TIMER_FIRED)
        {
            self->starts += start_marked(self->timer, 0, callback, self) == 0 ? 1 : 0;
            (void)cancel_marked(self->timer);
            self->starts += start_marked(self->timer, 0, callback, self) == 0 ? 1 : 0;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));  // widen the window
        self->inside = false;
        self->calls++;
        self->done.add();
    }
};

// Tests_SRS_ASOCK_TIMER_12_013, Tests_SRS_ASOCK_TIMER_12_003
TEST_P(Timers, callbacks_of_one_timer_never_nest_nor_run_inside_a_start_or_cancel_made_in_them)
{
    Nesting nesting;
    OwnedTimer timer(make_timer());
    nesting.timer = timer.get();
    ASSERT_EQ(0, start_marked(timer.get(), 0, Nesting::callback, &nesting));
    ASSERT_TRUE(wait_until([&] { return nesting.fired.load() >= 40 && nesting.calls.load() == nesting.starts.load(); }));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(nesting.starts.load(), nesting.calls.load());
    EXPECT_EQ(0, nesting.nested.load());
    EXPECT_EQ(0, nesting.inside_call.load());
}

// Tests_SRS_ASOCK_TIMER_12_012
TEST_P(Timers, timers_keep_their_engine_after_its_last_application_reference_is_dropped)
{
    constexpr int kTimers = 8;
    std::vector<Shot> shots(kTimers);
    EXPECT_NE(nullptr, engine);
    std::vector<ASYNC_TIMER_HANDLE> timers;
    for (int i = 0; i < kTimers; ++i)
        timers.push_back(make_timer());
    for (int i = 0; i < kTimers; ++i)
        ASSERT_EQ(0, shots[i].start(timers[i], 20 + 5 * static_cast<uint32_t>(i)));
    execution_engine_dec_ref(std::exchange(engine, nullptr));  // the fixture's: the only one
    for (Shot& shot : shots)
        ASSERT_TRUE(shot.done.wait_for(1));
    for (Shot& shot : shots)
        EXPECT_EQ(ASYNC_TIMER_FIRED, shot.outcome());
    // The timers still start on the engine they hold.
    Shot again;
    ASSERT_EQ(0, again.start(timers[0], 0));
    ASSERT_TRUE(again.done.wait_for(1));
    EXPECT_EQ(ASYNC_TIMER_FIRED, again.outcome());
    for (ASYNC_TIMER_HANDLE timer : timers)
        async_timer_destroy(timer);  // the last one frees the engine
}

// The last timer of an engine nobody else holds, destroyed by its own callback: the engine goes
// from inside one of its own threads.
struct LastTimer
{
    ASYNC_TIMER_HANDLE timer = nullptr;
    std::atomic<int> calls{0};
    Counter done;

    static void callback(void* context, ASYNC_TIMER_RESULT)
    {
        auto* self = static_cast<LastTimer*>(context);
        self->calls++;
        async_timer_destroy(self->timer);
        self->done.add();
    }
};

// Tests_SRS_ASOCK_TIMER_12_012, Tests_SRS_ASOCK_TIMER_12_010
TEST_P(Timers, the_last_timer_destroyed_by_its_own_callback_releases_an_engine_nobody_else_holds)
{
    const size_t threads_before = thread_count();
    LastTimer last;
    last.timer = make_timer();
    ASSERT_NE(nullptr, last.timer);
    ASSERT_EQ(0, start_marked(last.timer, 5, LastTimer::callback, &last));
    execution_engine_dec_ref(std::exchange(engine, nullptr));
    ASSERT_TRUE(last.done.wait_for(1));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(1, last.calls.load());
    if (kLiveEngineAddsThreads)
    {
        EXPECT_TRUE(wait_for_thread_count(threads_before - 1)) << "the engine's thread did not end";
    }
}

// Tests_SRS_ASOCK_TIMER_12_003
TEST_P(Timers, a_start_far_in_the_future_stays_pending_and_cancels)
{
    Shot shot;
    OwnedTimer timer(make_timer());
    ASSERT_EQ(0, shot.start(timer.get(), UINT32_MAX));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(0, shot.calls.load());
    ASSERT_EQ(0, cancel_marked(timer.get()));
    ASSERT_TRUE(shot.done.wait_for(1));
    EXPECT_EQ(ASYNC_TIMER_CANCELLED, shot.outcome());
}

// Tests_SRS_ASOCK_TIMER_12_016
TEST_P(Timers, the_results_have_names)
{
    EXPECT_STREQ("ASYNC_TIMER_FIRED", ASYNC_TIMER_RESULT_to_string(ASYNC_TIMER_FIRED));
    EXPECT_STREQ("ASYNC_TIMER_CANCELLED", ASYNC_TIMER_RESULT_to_string(ASYNC_TIMER_CANCELLED));
    EXPECT_STREQ("ASYNC_TIMER_ABANDONED", ASYNC_TIMER_RESULT_to_string(ASYNC_TIMER_ABANDONED));
    EXPECT_STREQ("UNKNOWN", ASYNC_TIMER_RESULT_to_string(static_cast<ASYNC_TIMER_RESULT>(3)));
}

ASOCK_INSTANTIATE_CONTRACT(Timers);

}  // namespace
}  // namespace asock_test
