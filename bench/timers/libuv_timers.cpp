// libuv-timers: the timer benchmark of libuv (see timer_bench.h). The loop runs on the main
// thread; each mode runs inside the callback of a zero-delay "kick" timer. uv_timer_t is the
// caller's memory (the program holds them in one array); uv_timer_stop calls no callback, so a
// start-cancel pair is complete when uv_timer_stop returns.
#include <uv.h>

#include <memory>
#include <string>

#include "timer_bench.h"

namespace {

using timer_bench::FirePlan;
using timer_bench::MemoryMeter;
using timer_bench::Options;
using timer_bench::PairPlan;

void check(int status, const char* what)
{
    if (status < 0)
        timer_bench::fail(std::string(what) + ": " + uv_strerror(status));
}

void never_fires(uv_timer_t*)
{
    timer_bench::fail("a timer fired that should have been cancelled or was far in the future");
}

// One loop, `count` timers and the kick; the mode's work is `on_kick`.
struct Bench
{
    Bench(uint64_t count, uv_timer_cb kick_callback) : timers(new uv_timer_t[count]), timer_count(count)
    {
        check(uv_loop_init(&loop), "uv_loop_init");
        loop.data = this;
        check(uv_timer_init(&loop, &kick), "uv_timer_init");
        check(uv_timer_start(&kick, kick_callback, 0, 0), "uv_timer_start");
    }

    void init_timers()
    {
        for (uint64_t i = 0; i < timer_count; ++i)
            check(uv_timer_init(&loop, &timers[i]), "uv_timer_init");
    }

    // Closes every handle and runs the loop until the closes are done.
    void close()
    {
        for (uint64_t i = 0; i < timer_count; ++i)
            uv_close(reinterpret_cast<uv_handle_t*>(&timers[i]), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&kick), nullptr);
        check(uv_run(&loop, UV_RUN_DEFAULT), "uv_run");
        check(uv_loop_close(&loop), "uv_loop_close");
    }

    uv_loop_t loop;
    uv_timer_t kick;
    std::unique_ptr<uv_timer_t[]> timers;
    uint64_t timer_count;
    PairPlan* pairs = nullptr;
    MemoryMeter* meter = nullptr;
    FirePlan* fire = nullptr;
    uint32_t pending = 0;
};

Bench& bench_of(uv_timer_t* timer)
{
    return *static_cast<Bench*>(timer->loop->data);
}

// ---- start-cancel: timers[0, kBatch) are the pairs' timers, the rest wait in the background ----

void run_pairs(uv_timer_t* kick)
{
    Bench& bench = bench_of(kick);
    for (uint32_t i = 0; i < bench.pending; ++i)
        check(uv_timer_start(&bench.timers[timer_bench::kBatch + i], never_fires, timer_bench::background_delay_ms(i), 0),
              "uv_timer_start");
    for (uint32_t batch = bench.pairs->next_batch(); batch != 0; batch = bench.pairs->next_batch())
    {
        for (uint32_t i = 0; i < batch; ++i)
        {
            check(uv_timer_start(&bench.timers[i], never_fires, timer_bench::kLongDelayMs, 0), "uv_timer_start");
            check(uv_timer_stop(&bench.timers[i]), "uv_timer_stop");
        }
        bench.pairs->batch_completed();
    }
    for (uint32_t i = 0; i < bench.pending; ++i)
        check(uv_timer_stop(&bench.timers[timer_bench::kBatch + i]), "uv_timer_stop");
}

void start_cancel(const Options& options, PairPlan& plan)
{
    Bench bench(timer_bench::kBatch + options.pending, run_pairs);
    bench.pairs = &plan;
    bench.pending = options.pending;
    bench.init_timers();
    check(uv_run(&bench.loop, UV_RUN_DEFAULT), "uv_run");
    bench.close();
}

// ---- memory ----

void measure_memory(uv_timer_t* kick)
{
    Bench& bench = bench_of(kick);
    bench.meter->start();
    bench.timers.reset(new uv_timer_t[bench.timer_count]);
    bench.init_timers();
    bench.meter->created();
    for (uint64_t i = 0; i < bench.timer_count; ++i)
        check(uv_timer_start(&bench.timers[i], never_fires, timer_bench::background_delay_ms(static_cast<uint32_t>(i)), 0),
              "uv_timer_start");
    bench.meter->pending();
    for (uint64_t i = 0; i < bench.timer_count; ++i)
        check(uv_timer_stop(&bench.timers[i]), "uv_timer_stop");
}

void memory(const Options& options, MemoryMeter& meter)
{
    // The timers are allocated inside the measurement (the array is what a user pays per timer).
    Bench bench(options.count, measure_memory);
    bench.timers.reset();
    bench.meter = &meter;
    check(uv_run(&bench.loop, UV_RUN_DEFAULT), "uv_run");
    bench.close();
}

// ---- fire ----

void on_fire(uv_timer_t* timer)
{
    Bench& bench = bench_of(timer);
    bench.fire->fired(static_cast<uint64_t>(timer - bench.timers.get()));
}

void on_armed(uv_timer_t* kick)
{
    bench_of(kick).fire->armed();
}

void start_firing(uv_timer_t* kick)
{
    Bench& bench = bench_of(kick);
    bench.fire->starting();
    for (uint64_t i = 0; i < bench.timer_count; ++i)
        check(uv_timer_start(&bench.timers[i], on_fire, FirePlan::delay_ms(i), 0), "uv_timer_start");
    bench.fire->started();
    check(uv_timer_start(kick, on_armed, 0, 0), "uv_timer_start");
}

void fire(const Options& options, FirePlan& plan)
{
    Bench bench(options.count, start_firing);
    bench.fire = &plan;
    bench.init_timers();
    // uv_run returns when no timer is active any more: all fired.
    check(uv_run(&bench.loop, UV_RUN_DEFAULT), "uv_run");
    bench.close();
}

}  // namespace

int main(int argc, char** argv)
{
    const timer_bench::Library library = {false, false, sizeof(uv_timer_t), start_cancel, memory, fire};
    return timer_bench::run(argc, argv, library);
}
