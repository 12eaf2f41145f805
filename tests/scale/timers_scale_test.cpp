// 100,000 timers on one engine (async_timer.h): all fire exactly once, never early, in the
// order of their deadlines; 100,000 started then cancelled all complete CANCELLED once; and the
// heap memory per timer and per pending start, printed for docs/benchmarks.md.
// Requirements: docs/requirements/timers.md (SRS_ASOCK_TIMER_12_015).
#include <algorithm>
#include <atomic>
#include <iostream>
#include <memory>
#include <random>
#include <vector>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "asock/async_timer.h"
#include "contract/contract_fixture.h"

namespace asock_test {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kTimers = 100000;

// Bytes the C heap has handed out now (0 where the C library cannot say).
#ifdef __GLIBC__
int64_t heap_in_use() { return static_cast<int64_t>(mallinfo2().uordblks); }
#else
int64_t heap_in_use() { return 0; }
#endif

// One timer and what its one start saw. Callbacks of one engine of one loop come one at a
// time, but a Windows pool may run several at once: the record is atomic.
struct ScaleShot
{
    ASYNC_TIMER_HANDLE timer = nullptr;
    uint32_t delay_ms = 0;
    Clock::time_point before{};  // just before the start call
    Clock::time_point after{};   // just after it
    std::atomic<int> calls{0};
    std::atomic<int> result{-1};
    std::atomic<int64_t> fired_at_ns{0};
    std::atomic<int> position{-1};
};

struct ScaleRun
{
    std::unique_ptr<ScaleShot[]> shots{new ScaleShot[kTimers]};
    std::atomic<int> completed{0};
    std::atomic<int> next_position{0};
    Counter all_done;

    static void callback(void* context, ASYNC_TIMER_RESULT result);
};

ScaleRun* g_run = nullptr;  // callbacks get their shot; the run is reached through this

void ScaleRun::callback(void* context, ASYNC_TIMER_RESULT result)
{
    auto* shot = static_cast<ScaleShot*>(context);
    shot->fired_at_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
    shot->position = g_run->next_position.fetch_add(1);
    shot->result = result;
    shot->calls++;
    if (g_run->completed.fetch_add(1) + 1 == kTimers)
        g_run->all_done.add();
}

int64_t ns(Clock::time_point t) { return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count(); }

class TimerScale : public Contract
{
protected:
    void SetUp() override
    {
        Contract::SetUp();
        g_run = &run;
    }
    void TearDown() override
    {
        for (int i = 0; i < kTimers; ++i)
            async_timer_destroy(std::exchange(run.shots[i].timer, nullptr));
        g_run = nullptr;
        Contract::TearDown();
    }

    // Creates every timer; returns the heap bytes they took.
    int64_t create_all()
    {
        const int64_t before = heap_in_use();
        for (int i = 0; i < kTimers; ++i)
        {
            run.shots[i].timer = async_timer_create(engine);
            if (run.shots[i].timer == nullptr)
            {
                ADD_FAILURE() << "timer " << i << " could not be made";
                return 0;
            }
        }
        return heap_in_use() - before;
    }

    void start(ScaleShot& shot, uint32_t delay_ms)
    {
        shot.delay_ms = delay_ms;
        shot.before = Clock::now();
        const int error = async_timer_start(shot.timer, delay_ms, ScaleRun::callback, &shot);
        shot.after = Clock::now();
        ASSERT_EQ(0, error);
    }

    ScaleRun run;
};

// Tests_SRS_ASOCK_TIMER_12_015, Tests_SRS_ASOCK_TIMER_12_005
TEST_P(TimerScale, a_hundred_thousand_timers_each_fire_once_never_early_in_the_order_of_their_deadlines)
{
    const int64_t created_bytes = create_all();
    ASSERT_FALSE(HasFailure());
    std::mt19937 random(17);
    const int64_t heap_before_starts = heap_in_use();
    const auto started = Clock::now();
    for (int i = 0; i < kTimers; ++i)
        ASSERT_NO_FATAL_FAILURE(start(run.shots[i], 200 + static_cast<uint32_t>(random() % 1500)));
    const auto start_time = Clock::now() - started;
    const int64_t pending_bytes = heap_in_use() - heap_before_starts;
    ASSERT_TRUE(run.all_done.wait_for(1, std::chrono::seconds(15))) << run.completed.load() << " of " << kTimers << " completed";
    std::this_thread::sleep_for(std::chrono::milliseconds(50));

    // Order: a timer fired before another only if its deadline could not be later. The exact
    // deadline lies between before+delay and after+delay.
    std::vector<const ScaleShot*> by_firing(kTimers);
    for (int i = 0; i < kTimers; ++i)
    {
        const ScaleShot& shot = run.shots[i];
        ASSERT_EQ(1, shot.calls.load()) << "timer " << i;
        ASSERT_EQ(ASYNC_TIMER_FIRED, shot.result.load()) << "timer " << i;
        ASSERT_GE(shot.fired_at_ns.load(), ns(shot.before) + int64_t{shot.delay_ms} * 1000000) << "timer " << i << " fired early";
        by_firing[static_cast<size_t>(shot.position.load())] = &shot;
    }
    int64_t latest_earliest_deadline = 0;  // the greatest lower bound of a deadline fired so far
    int inversions = 0;
    for (const ScaleShot* shot : by_firing)
    {
        const int64_t earliest = ns(shot->before) + int64_t{shot->delay_ms} * 1000000;
        const int64_t latest = ns(shot->after) + int64_t{shot->delay_ms} * 1000000;
        if (latest < latest_earliest_deadline)
            ++inversions;  // fired after a timer whose deadline was surely later
        latest_earliest_deadline = std::max(latest_earliest_deadline, earliest);
    }
    EXPECT_EQ(0, inversions) << "timers fired out of the order of their deadlines";
    std::cout << "[ info ] " << backend_name(GetParam()) << ": " << kTimers << " timers: " << created_bytes / kTimers << " heap bytes per timer, "
              << pending_bytes / kTimers << " more per pending start; starting all took "
              << std::chrono::duration_cast<std::chrono::milliseconds>(start_time).count() << " ms\n";
}

// Tests_SRS_ASOCK_TIMER_12_015, Tests_SRS_ASOCK_TIMER_12_007
TEST_P(TimerScale, a_hundred_thousand_timers_started_then_cancelled_each_complete_cancelled_once)
{
    create_all();
    ASSERT_FALSE(HasFailure());
    for (int i = 0; i < kTimers; ++i)
        ASSERT_NO_FATAL_FAILURE(start(run.shots[i], 60000));
    const auto cancelling = Clock::now();
    for (int i = 0; i < kTimers; ++i)
        ASSERT_EQ(0, async_timer_cancel(run.shots[i].timer));
    ASSERT_TRUE(run.all_done.wait_for(1, std::chrono::seconds(15))) << run.completed.load() << " of " << kTimers << " completed";
    const auto cancel_time = Clock::now() - cancelling;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (int i = 0; i < kTimers; ++i)
    {
        ASSERT_EQ(1, run.shots[i].calls.load()) << "timer " << i;
        ASSERT_EQ(ASYNC_TIMER_CANCELLED, run.shots[i].result.load()) << "timer " << i;
    }
    std::cout << "[ info ] " << backend_name(GetParam()) << ": " << kTimers << " cancels completed in "
              << std::chrono::duration_cast<std::chrono::milliseconds>(cancel_time).count() << " ms\n";
}

// Tests_SRS_ASOCK_TIMER_12_015, Tests_SRS_ASOCK_TIMER_12_011
TEST_P(TimerScale, a_hundred_thousand_pending_timers_destroyed_each_complete_abandoned_once)
{
    create_all();
    ASSERT_FALSE(HasFailure());
    for (int i = 0; i < kTimers; ++i)
        ASSERT_NO_FATAL_FAILURE(start(run.shots[i], 60000));
    for (int i = 0; i < kTimers; ++i)
    {
        async_timer_destroy(std::exchange(run.shots[i].timer, nullptr));
        ASSERT_EQ(1, run.shots[i].calls.load()) << "destroy " << i << " returned before its start completed";
        ASSERT_EQ(ASYNC_TIMER_ABANDONED, run.shots[i].result.load());
    }
}

ASOCK_INSTANTIATE_CONTRACT(TimerScale);

}  // namespace
}  // namespace asock_test
