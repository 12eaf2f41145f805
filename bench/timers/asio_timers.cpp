// asio-timers: the timer benchmark of standalone Asio's steady_timer (see timer_bench.h). The
// io_context runs on the main thread with the concurrency hint 1, as in the in-process
// benchmark; each mode runs inside a handler posted to it. The timers are the caller's
// objects (one vector); cancel() completes the pending wait with operation_aborted, through
// the io_context's queue, so a start-cancel pair is complete when that handler has run.
#include <asio.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "timer_bench.h"

namespace {

using timer_bench::FirePlan;
using timer_bench::MemoryMeter;
using timer_bench::Options;
using timer_bench::PairPlan;
using std::chrono::milliseconds;

void expect_aborted(const asio::error_code& error)
{
    if (error != asio::error::operation_aborted)
        timer_bench::fail("a wait that should have been cancelled ended with: " + error.message());
}

class Bench
{
public:
    explicit Bench(uint64_t count) : io_(1), marker_(io_) { add_timers(count); }

    void add_timers(uint64_t count)
    {
        timers_.reserve(timers_.size() + count);
        for (uint64_t i = 0; i < count; ++i)
            timers_.emplace_back(io_);
    }

    // start-cancel: timers_[0, kBatch) are the pairs' timers, the rest wait in the background.
    void start_cancel(PairPlan& plan, uint32_t pending)
    {
        asio::post(io_, [this, &plan, pending] {
            for (uint32_t i = 0; i < pending; ++i)
                start_background(timer_bench::kBatch + i, i);
            run_batch(plan, pending);
        });
        io_.run();
    }

    void memory(MemoryMeter& meter, uint64_t count)
    {
        asio::post(io_, [this, &meter, count] {
            meter.start();
            add_timers(count);
            meter.created();
            for (uint64_t i = 0; i < count; ++i)
                start_background(i, static_cast<uint32_t>(i));
            meter.pending();
            for (asio::steady_timer& timer : timers_)
                timer.cancel();
        });
        io_.run();
    }

    void fire(FirePlan& plan)
    {
        asio::post(io_, [this, &plan] {
            plan.starting();
            for (uint64_t i = 0; i < timers_.size(); ++i)
            {
                timers_[i].expires_after(milliseconds(FirePlan::delay_ms(i)));
                timers_[i].async_wait([&plan, i](const asio::error_code& error) {
                    if (error)
                        timer_bench::fail("a wait ended with: " + error.message());
                    plan.fired(i);
                });
            }
            plan.started();
            marker_.expires_after(milliseconds(0));
            marker_.async_wait([&plan](const asio::error_code& error) {
                if (error)
                    timer_bench::fail("the zero-delay wait ended with: " + error.message());
                plan.armed();
            });
        });
        io_.run();  // returns when every wait has completed
    }

private:
    void start_background(uint64_t timer, uint32_t index)
    {
        timers_[timer].expires_after(milliseconds(timer_bench::background_delay_ms(index)));
        timers_[timer].async_wait(expect_aborted);
    }

    void run_batch(PairPlan& plan, uint32_t pending)
    {
        const uint32_t batch = plan.next_batch();
        if (batch == 0)
        {
            for (uint32_t i = 0; i < pending; ++i)
                timers_[timer_bench::kBatch + i].cancel();  // io_.run() returns when their handlers ran
            return;
        }
        for (uint32_t i = 0; i < batch; ++i)
        {
            asio::steady_timer& timer = timers_[i];
            timer.expires_after(milliseconds(timer_bench::kLongDelayMs));
            timer.async_wait([this, &plan, pending](const asio::error_code& error) {
                expect_aborted(error);
                if (plan.cancelled())
                    run_batch(plan, pending);
            });
            timer.cancel();
        }
    }

    asio::io_context io_;
    asio::steady_timer marker_;  // fire: the zero-delay timer after the starts
    std::vector<asio::steady_timer> timers_;
};

void start_cancel(const Options& options, PairPlan& plan)
{
    Bench bench(timer_bench::kBatch + options.pending);
    bench.start_cancel(plan, options.pending);
}

void memory(const Options& options, MemoryMeter& meter)
{
    Bench bench(0);
    bench.memory(meter, options.count);
}

void fire(const Options& options, FirePlan& plan)
{
    Bench bench(options.count);
    bench.fire(plan);
}

}  // namespace

int main(int argc, char** argv)
{
    const timer_bench::Library library = {false, false, sizeof(asio::steady_timer), start_cancel, memory, fire};
    return timer_bench::run(argc, argv, library);
}
