// asock-timers: the timer benchmark of asock (see timer_bench.h), on an engine with one loop
// thread, with --backend io_uring|epoll. Each mode runs inside the callback of a zero-delay
// "kick" timer, on the loop's thread; the main thread sets up, then sleeps on a futex until
// the loop is done. The timers are asock's handles; the program keeps one pointer per timer.
// --thread foreign: the main thread makes the start-cancel pairs itself, waiting on a futex
// after each batch for its cancellations to complete on the loop.
//
// valgrind 3.19 cannot run the io_uring backend when a thread other than the loop's must wake
// it (see bench/inproc/asock_inproc.cpp): run_timers.py kills such a run and reports n/a.
#include <atomic>
#include <string>
#include <vector>

#include "asock/async_timer.h"
#include "asock/execution_engine_linux.h"
#include "timer_bench.h"

namespace {

using timer_bench::FirePlan;
using timer_bench::MemoryMeter;
using timer_bench::Options;
using timer_bench::PairPlan;

// One-shot signal from the loop thread to the main thread.
class Signal
{
public:
    void raise()
    {
        raised_.store(true, std::memory_order_release);
        raised_.notify_all();
    }

    void wait()
    {
        while (!raised_.load(std::memory_order_acquire))
            raised_.wait(false, std::memory_order_acquire);
    }

private:
    std::atomic<bool> raised_{false};
};

ASOCK_LINUX_BACKEND parse_backend(const std::string& name)
{
    if (name.empty())
        return ASOCK_LINUX_BACKEND_DEFAULT;
    if (name == "io_uring")
        return ASOCK_LINUX_BACKEND_IO_URING;
    if (name == "epoll")
        return ASOCK_LINUX_BACKEND_EPOLL;
    timer_bench::fail("unknown backend " + name + " (io_uring or epoll)");
}

EXECUTION_ENGINE_HANDLE create_engine(const Options& options)
{
    const ASOCK_LINUX_BACKEND backend = parse_backend(options.backend);
    if (backend == ASOCK_LINUX_BACKEND_IO_URING && !execution_engine_linux_io_uring_available())
        timer_bench::unavailable("the kernel does not allow io_uring");
    const EXECUTION_ENGINE_PARAMETERS one_loop = {1, 1};
    EXECUTION_ENGINE_HANDLE engine = execution_engine_linux_create(&one_loop, backend);
    if (engine == nullptr)
        timer_bench::fail("execution_engine_linux_create failed");
    return engine;
}

ASYNC_TIMER_HANDLE create_timer(EXECUTION_ENGINE_HANDLE engine)
{
    ASYNC_TIMER_HANDLE timer = async_timer_create(engine);
    if (timer == nullptr)
        timer_bench::fail("async_timer_create failed");
    return timer;
}

void start(ASYNC_TIMER_HANDLE timer, uint32_t delay_ms, ON_ASYNC_TIMER_COMPLETE callback, void* context)
{
    if (async_timer_start(timer, delay_ms, callback, context) != 0)
        timer_bench::fail("async_timer_start failed");
}

void cancel(ASYNC_TIMER_HANDLE timer)
{
    if (async_timer_cancel(timer) != 0)
        timer_bench::fail("async_timer_cancel failed");
}

void expect(ASYNC_TIMER_RESULT result, ASYNC_TIMER_RESULT expected)
{
    if (result != expected)
        timer_bench::fail(std::string("a timer completed ") + ASYNC_TIMER_RESULT_to_string(result) + ", expected " +
                          ASYNC_TIMER_RESULT_to_string(expected));
}

struct Bench;

// The context of a timer of the fire mode.
struct FireSlot
{
    Bench* bench;
    uint64_t index;
};

// The engine, the kick timer and the mode's timers. `background` timers wait with long delays
// and are cancelled at the end; when their cancellations have completed, the loop destroys
// every timer but the kick and signals the main thread.
struct Bench
{
    explicit Bench(const Options& options) : engine(create_engine(options)), kick(create_timer(engine)) {}

    ~Bench()
    {
        async_timer_destroy(kick);
        execution_engine_dec_ref(engine);
    }

    // Runs `work` on the loop thread and waits until the loop has signalled `done`.
    void run_on_loop(ON_ASYNC_TIMER_COMPLETE work)
    {
        start(kick, 0, work, this);
        done.wait();
    }

    void create_timers(std::vector<ASYNC_TIMER_HANDLE>& into, uint64_t how_many)
    {
        into.reserve(how_many);
        for (uint64_t i = 0; i < how_many; ++i)
            into.push_back(create_timer(engine));
    }

    void destroy_all()
    {
        for (ASYNC_TIMER_HANDLE timer : timers)
            async_timer_destroy(timer);
        for (ASYNC_TIMER_HANDLE timer : background)
            async_timer_destroy(timer);
        timers.clear();
        background.clear();
    }

    // Cancels the background timers; the last cancellation destroys everything (loop thread).
    void finish()
    {
        if (background.empty())
        {
            destroy_all();
            done.raise();
            return;
        }
        for (ASYNC_TIMER_HANDLE timer : background)
            cancel(timer);
    }

    EXECUTION_ENGINE_HANDLE engine;
    ASYNC_TIMER_HANDLE kick;
    std::vector<ASYNC_TIMER_HANDLE> timers;
    std::vector<ASYNC_TIMER_HANDLE> background;
    size_t background_cancelled = 0;
    Signal ready;
    Signal done;
    PairPlan* pairs = nullptr;
    MemoryMeter* meter = nullptr;
    FirePlan* fire = nullptr;
    uint64_t count = 0;               // memory: the timers to measure
    std::vector<FireSlot> fire_slots;  // fire: the context of timers[i]
};

void on_background_done(void* context, ASYNC_TIMER_RESULT result)
{
    expect(result, ASYNC_TIMER_CANCELLED);
    auto& bench = *static_cast<Bench*>(context);
    if (++bench.background_cancelled < bench.background.size())
        return;
    bench.destroy_all();  // this timer's own destroy included, as its callback may
    bench.done.raise();
}

void start_background(Bench& bench)
{
    for (uint32_t i = 0; i < bench.background.size(); ++i)
        start(bench.background[i], timer_bench::background_delay_ms(i), on_background_done, &bench);
}

// ---- start-cancel ----

void run_batch(Bench& bench);

void on_pair_cancelled(void* context, ASYNC_TIMER_RESULT result)
{
    expect(result, ASYNC_TIMER_CANCELLED);
    auto& bench = *static_cast<Bench*>(context);
    if (bench.pairs->cancelled())
        run_batch(bench);
}

void start_and_cancel(Bench& bench, uint32_t count)
{
    for (uint32_t i = 0; i < count; ++i)
    {
        start(bench.timers[i], timer_bench::kLongDelayMs, on_pair_cancelled, &bench);
        cancel(bench.timers[i]);
    }
}

void run_batch(Bench& bench)
{
    const uint32_t batch = bench.pairs->next_batch();
    if (batch == 0)
        bench.finish();
    else
        start_and_cancel(bench, batch);
}

void run_pairs_on_loop(void* context, ASYNC_TIMER_RESULT result)
{
    expect(result, ASYNC_TIMER_FIRED);
    auto& bench = *static_cast<Bench*>(context);
    start_background(bench);
    run_batch(bench);
}

// The foreign-thread variant: the loop only starts the background, then the main thread runs.
void on_foreign_pair_cancelled(void* context, ASYNC_TIMER_RESULT result)
{
    expect(result, ASYNC_TIMER_CANCELLED);
    static_cast<Bench*>(context)->pairs->cancelled();
}

void start_background_on_loop(void* context, ASYNC_TIMER_RESULT result)
{
    expect(result, ASYNC_TIMER_FIRED);
    auto& bench = *static_cast<Bench*>(context);
    start_background(bench);
    bench.ready.raise();
}

void finish_on_loop(void* context, ASYNC_TIMER_RESULT result)
{
    expect(result, ASYNC_TIMER_FIRED);
    static_cast<Bench*>(context)->finish();
}

void run_pairs_here(Bench& bench)
{
    start(bench.kick, 0, start_background_on_loop, &bench);
    bench.ready.wait();
    for (uint32_t batch = bench.pairs->next_batch(); batch != 0; batch = bench.pairs->next_batch())
    {
        for (uint32_t i = 0; i < batch; ++i)
        {
            start(bench.timers[i], timer_bench::kLongDelayMs, on_foreign_pair_cancelled, &bench);
            cancel(bench.timers[i]);
        }
        bench.pairs->wait_batch();
    }
    bench.run_on_loop(finish_on_loop);
}

void start_cancel(const Options& options, PairPlan& plan)
{
    Bench bench(options);
    bench.pairs = &plan;
    bench.create_timers(bench.timers, timer_bench::kBatch);
    bench.create_timers(bench.background, options.pending);
    if (options.foreign_thread)
        run_pairs_here(bench);
    else
        bench.run_on_loop(run_pairs_on_loop);
}

// ---- memory: the measured timers are the background ----

void memory_armed(void* context, ASYNC_TIMER_RESULT result)
{
    expect(result, ASYNC_TIMER_FIRED);
    auto& bench = *static_cast<Bench*>(context);
    bench.meter->pending();
    bench.finish();
}

void measure_memory(void* context, ASYNC_TIMER_RESULT result)
{
    expect(result, ASYNC_TIMER_FIRED);
    auto& bench = *static_cast<Bench*>(context);
    // The handle array is allocated inside the measurement: a user keeps a pointer per timer.
    bench.meter->start();
    bench.create_timers(bench.background, bench.count);
    bench.meter->created();
    start_background(bench);
    // The starts are armed on the loop after this callback: a zero-delay start of the kick
    // fires once they all are.
    start(bench.kick, 0, memory_armed, &bench);
}

void memory(const Options& options, MemoryMeter& meter)
{
    Bench bench(options);
    bench.meter = &meter;
    bench.count = options.count;
    bench.run_on_loop(measure_memory);
}

// ---- fire ----

void on_fire(void* context, ASYNC_TIMER_RESULT result)
{
    expect(result, ASYNC_TIMER_FIRED);
    const auto& slot = *static_cast<const FireSlot*>(context);
    Bench& bench = *slot.bench;
    if (!bench.fire->fired(slot.index))
        return;
    bench.destroy_all();  // every timer has fired: all idle, this one in its own callback
    bench.done.raise();
}

void fire_armed(void* context, ASYNC_TIMER_RESULT result)
{
    expect(result, ASYNC_TIMER_FIRED);
    static_cast<Bench*>(context)->fire->armed();
}

void start_firing(void* context, ASYNC_TIMER_RESULT result)
{
    expect(result, ASYNC_TIMER_FIRED);
    auto& bench = *static_cast<Bench*>(context);
    bench.fire->starting();
    for (uint64_t i = 0; i < bench.timers.size(); ++i)
        start(bench.timers[i], FirePlan::delay_ms(i), on_fire, &bench.fire_slots[i]);
    bench.fire->started();
    start(bench.kick, 0, fire_armed, &bench);
}

void fire(const Options& options, FirePlan& plan)
{
    Bench bench(options);
    bench.fire = &plan;
    bench.create_timers(bench.timers, options.count);
    bench.fire_slots.reserve(options.count);
    for (uint64_t i = 0; i < options.count; ++i)
        bench.fire_slots.push_back({&bench, i});
    bench.run_on_loop(start_firing);
}

}  // namespace

int main(int argc, char** argv)
{
    const timer_bench::Library library = {true, true, 0, start_cancel, memory, fire};
    return timer_bench::run(argc, argv, library);
}
