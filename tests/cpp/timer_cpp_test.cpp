// The C++ API's timers (asock::timer, asock::sleep) and its new results, on every backend of
// the platform: handlers and coroutines, cancel, restart, destroy while waiting, ordering.
#include <chrono>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "asock/asock.hpp"
#include "cpp/cpp_fixture.h"

namespace asock_test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class CppTimer : public CppContract
{
};

// What a timer's handler got.
struct WaitRecord
{
    std::error_code error;
    std::atomic<int> calls{0};
    std::thread::id thread;
    Counter done;

    auto handler()
    {
        return [this](std::error_code e) {
            error = e;
            thread = std::this_thread::get_id();
            calls++;
            done.add();
        };
    }
};

// Tests_SRS_ASOCK_CPP_12_001
TEST(CppResults, the_new_results_follow_the_earlier_ones)
{
    EXPECT_EQ(0, static_cast<int>(asock::result::ok));
    EXPECT_EQ(3, static_cast<int>(asock::result::invalid_argument));
    EXPECT_EQ(4, static_cast<int>(asock::result::timed_out));
    EXPECT_EQ(5, static_cast<int>(asock::result::cancelled));
    EXPECT_EQ(6, static_cast<int>(asock::result::name_not_found));
}

// Tests_SRS_ASOCK_CPP_12_002
TEST(CppResults, timed_out_and_cancelled_compare_equal_to_their_errc)
{
    EXPECT_EQ(make_error_code(asock::result::timed_out), std::errc::timed_out);
    EXPECT_EQ(make_error_code(asock::result::cancelled), std::errc::operation_canceled);
    EXPECT_NE(make_error_code(asock::result::cancelled), std::errc::timed_out);
    EXPECT_NE(make_error_code(asock::result::name_not_found), std::errc::operation_canceled);
}

// Tests_SRS_ASOCK_CPP_12_002
TEST(CppResults, every_result_has_its_own_message)
{
    std::vector<std::string> messages;
    for (int value = 0; value <= static_cast<int>(asock::result::name_not_found); ++value)
        messages.push_back(asock::category().message(value));
    for (size_t i = 0; i < messages.size(); ++i)
        for (size_t j = i + 1; j < messages.size(); ++j)
            EXPECT_NE(messages[i], messages[j]) << i << " and " << j;
    EXPECT_EQ("unknown asock result", asock::category().message(7));
}

// Tests_SRS_ASOCK_CPP_12_011
TEST_P(CppTimer, a_wait_fires_once_on_an_engine_thread_not_before_its_delay)
{
    asock::engine e = cpp_engine();
    asock::timer t(e);
    WaitRecord wait;
    const auto start = Clock::now();
    ASSERT_FALSE(t.async_wait(40ms, wait.handler()));
    EXPECT_EQ(0, wait.calls.load()) << "the handler ran inside async_wait";
    ASSERT_TRUE(wait.done.wait_for(1));
    EXPECT_GE(Clock::now() - start, 40ms);
    EXPECT_FALSE(wait.error) << wait.error.message();
    EXPECT_NE(std::this_thread::get_id(), wait.thread);
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(1, wait.calls.load());
}

// Tests_SRS_ASOCK_CPP_12_012
TEST_P(CppTimer, cancel_completes_a_pending_wait_with_cancelled)
{
    asock::engine e = cpp_engine();
    asock::timer t(e);
    WaitRecord wait;
    ASSERT_FALSE(t.async_wait(10s, wait.handler()));
    EXPECT_FALSE(t.cancel());
    ASSERT_TRUE(wait.done.wait_for(1, kHangTimeout));
    EXPECT_EQ(make_error_code(asock::result::cancelled), wait.error);
    EXPECT_EQ(std::errc::operation_canceled, wait.error);
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(1, wait.calls.load());
}

// Tests_SRS_ASOCK_CPP_12_012
TEST_P(CppTimer, cancel_with_nothing_pending_does_nothing)
{
    asock::engine e = cpp_engine();
    asock::timer t(e);
    EXPECT_FALSE(t.cancel());
    WaitRecord wait;
    ASSERT_FALSE(t.async_wait(1ms, wait.handler()));
    ASSERT_TRUE(wait.done.wait_for(1));
    EXPECT_FALSE(wait.error);
    EXPECT_FALSE(t.cancel()) << "a cancel after the wait fired";
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(1, wait.calls.load());
}

// Tests_SRS_ASOCK_CPP_12_013
TEST_P(CppTimer, a_restart_cancels_the_pending_wait_and_fires_the_new_one)
{
    asock::engine e = cpp_engine();
    asock::timer t(e);
    WaitRecord first;
    WaitRecord second;
    ASSERT_FALSE(t.async_wait(10s, first.handler()));
    ASSERT_FALSE(t.async_wait(20ms, second.handler()));
    ASSERT_TRUE(first.done.wait_for(1, kHangTimeout));
    EXPECT_EQ(make_error_code(asock::result::cancelled), first.error);
    ASSERT_TRUE(second.done.wait_for(1));
    EXPECT_FALSE(second.error) << second.error.message();
}

// A handler that starts its own timer again, `left` more times.
struct Periodic
{
    asock::timer* timer;
    std::atomic<int>* fired;
    Counter* done;
    int left;

    void operator()(std::error_code e) noexcept
    {
        if (!e)
            (*fired)++;
        if (left == 0 || e)
        {
            done->add();
            return;
        }
        if (timer->async_wait(2ms, Periodic{timer, fired, done, left - 1}))
            done->add();
    }
};

// Tests_SRS_ASOCK_CPP_12_013
TEST_P(CppTimer, a_handler_restarts_its_own_timer)
{
    asock::engine e = cpp_engine();
    asock::timer t(e);
    std::atomic<int> fired{0};
    Counter done;
    ASSERT_FALSE(t.async_wait(2ms, Periodic{&t, &fired, &done, 4}));
    ASSERT_TRUE(done.wait_for(1));
    EXPECT_EQ(5, fired.load());
}

// Tests_SRS_ASOCK_CPP_12_014
TEST_P(CppTimer, destroying_a_timer_completes_its_pending_wait_with_abandoned_first)
{
    asock::engine e = cpp_engine();
    WaitRecord wait;
    {
        asock::timer t(e);
        ASSERT_FALSE(t.async_wait(10s, wait.handler()));
    }
    EXPECT_EQ(1, wait.calls.load()) << "the destructor returned before the handler ran";
    EXPECT_EQ(make_error_code(asock::result::abandoned), wait.error);
}

// Tests_SRS_ASOCK_CPP_12_014
TEST_P(CppTimer, destroying_a_timer_resumes_its_waiting_coroutine_with_abandoned)
{
    asock::engine e = cpp_engine();
    auto t = std::make_unique<asock::timer>(e);
    Awaited<std::error_code> awaited;
    await_one(awaited, [&] { return t->wait(10s); });
    EXPECT_EQ(0, awaited.resumes.load());
    t.reset();
    EXPECT_EQ(1, awaited.resumes.load()) << "the destructor returned before the coroutine resumed";
    EXPECT_EQ(make_error_code(asock::result::abandoned), awaited.value);
}

// Tests_SRS_ASOCK_CPP_12_015
TEST_P(CppTimer, a_coroutine_awaits_a_timer_and_resumes_on_an_engine_thread)
{
    asock::engine e = cpp_engine();
    asock::timer t(e);
    Awaited<std::error_code> awaited;
    const auto start = Clock::now();
    await_one(awaited, [&] { return t.wait(30ms); });
    ASSERT_TRUE(awaited.done.wait_for(1));
    EXPECT_GE(Clock::now() - start, 30ms);
    EXPECT_FALSE(awaited.value) << awaited.value.message();
    EXPECT_NE(std::this_thread::get_id(), awaited.thread);
}

// Tests_SRS_ASOCK_CPP_12_015
TEST_P(CppTimer, a_cancelled_timer_resumes_its_coroutine_with_cancelled)
{
    asock::engine e = cpp_engine();
    asock::timer t(e);
    Awaited<std::error_code> awaited;
    await_one(awaited, [&] { return t.wait(10s); });
    EXPECT_FALSE(t.cancel());
    ASSERT_TRUE(awaited.done.wait_for(1, kHangTimeout));
    EXPECT_EQ(make_error_code(asock::result::cancelled), awaited.value);
}

// Tests_SRS_ASOCK_CPP_12_010
TEST_P(CppTimer, an_empty_timer_refuses_waits_and_cancels)
{
    asock::engine e = cpp_engine();
    asock::timer moved_from(e);
    asock::timer t(std::move(moved_from));
    EXPECT_TRUE(t);
    EXPECT_FALSE(moved_from);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
    WaitRecord wait;
    EXPECT_EQ(std::errc::invalid_argument, moved_from.async_wait(1ms, wait.handler()));
    EXPECT_EQ(std::errc::invalid_argument, moved_from.cancel());
    Awaited<std::error_code> awaited;
    await_one(awaited, [&] { return moved_from.wait(1ms); });
    EXPECT_EQ(1, awaited.resumes.load());
    EXPECT_EQ(std::errc::invalid_argument, awaited.value);
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(0, wait.calls.load());
}

// Tests_SRS_ASOCK_CPP_12_016
TEST_P(CppTimer, a_sleep_resumes_after_its_delay_with_no_error)
{
    asock::engine e = cpp_engine();
    Awaited<std::error_code> awaited;
    const auto start = Clock::now();
    await_one(awaited, [&] { return asock::sleep(e, 30ms); });
    EXPECT_EQ(0, awaited.resumes.load());
    ASSERT_TRUE(awaited.done.wait_for(1));
    EXPECT_GE(Clock::now() - start, 30ms);
    EXPECT_FALSE(awaited.value) << awaited.value.message();
    EXPECT_NE(std::this_thread::get_id(), awaited.thread);
}

// A coroutine that sleeps, then appends its number to a shared list.
asock::task sleep_then_record(asock::engine& e, std::chrono::milliseconds delay, int number, std::mutex& mutex, std::vector<int>& order, Counter& done)
{
    const std::error_code error = co_await asock::sleep(e, delay);
    {
        std::lock_guard<std::mutex> lock(mutex);
        order.push_back(error ? -number : number);
    }
    done.add();
}

// Tests_SRS_ASOCK_CPP_12_016
TEST_P(CppTimer, sleeps_resume_in_the_order_of_their_deadlines)
{
    asock::engine e = cpp_engine();
    std::mutex mutex;
    std::vector<int> order;
    Counter done;
    const int delays[] = {120, 30, 90, 0, 60};
    for (int delay : delays)
        sleep_then_record(e, std::chrono::milliseconds(delay), delay, mutex, order, done);
    ASSERT_TRUE(done.wait_for(5));
    std::lock_guard<std::mutex> lock(mutex);
    EXPECT_EQ((std::vector<int>{0, 30, 60, 90, 120}), order);
}

// Tests_SRS_ASOCK_CPP_12_016
TEST_P(CppTimer, many_sleeps_on_a_multi_threaded_engine_each_resume_once)
{
    asock::engine e = asock::engine::adopt(make_engine(GetParam(), 4));
    constexpr int kSleeps = 200;
    std::vector<std::unique_ptr<Awaited<std::error_code>>> records;
    for (int i = 0; i < kSleeps; ++i)
    {
        records.push_back(std::make_unique<Awaited<std::error_code>>());
        await_one(*records.back(), [&e, i] { return asock::sleep(e, std::chrono::milliseconds(i % 7)); });
    }
    for (auto& record : records)
        ASSERT_TRUE(record->done.wait_for(1));
    std::this_thread::sleep_for(kQuiet);
    for (auto& record : records)
    {
        EXPECT_EQ(1, record->resumes.load());
        EXPECT_FALSE(record->value);
    }
}

ASOCK_INSTANTIATE_CONTRACT(CppTimer);

}  // namespace
}  // namespace asock_test
