// The shared part of the timer benchmarks (see timer_bench.h).
#include "timer_bench.h"

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "heap_counter.h"

namespace timer_bench {
namespace {

// The firing schedule: kFireBuckets delays, kFireStepMs apart, the first one step after the
// starts: 100,000 timers fire within about two seconds. The step is long enough for the starts
// to take less than one step on a loaded two-core machine.
constexpr uint32_t kFireBuckets = 10;
constexpr uint32_t kFireStepMs = 200;
// Margin between the starts' duration and the step: a library that rounds a deadline to the
// millisecond may put it up to 1 ms later than the call's time plus the delay.
constexpr int64_t kFireMarginMs = 2;

int64_t clock_ns(clockid_t clock)
{
    timespec now{};
    clock_gettime(clock, &now);
    return static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

int64_t wall_ns()
{
    return clock_ns(CLOCK_MONOTONIC);
}

// CPU time of every thread of the process: a loop thread's work, and a foreign caller's.
int64_t cpu_ns()
{
    return clock_ns(CLOCK_PROCESS_CPUTIME_ID);
}

// splitmix64's finaliser: a fixed scramble, so every program gets the same schedule.
uint64_t scramble(uint64_t value)
{
    value += 0x9e3779b97f4a7c15ULL;
    value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ULL;
    value = (value ^ (value >> 27)) * 0x94d049bb133111ebULL;
    return value ^ (value >> 31);
}

uint32_t bucket_of(uint64_t index)
{
    return static_cast<uint32_t>(scramble(index) % kFireBuckets);
}

[[noreturn]] void usage()
{
    std::fprintf(stderr,
                 "usage: <program> [--mode start-cancel|memory|fire] [--count N] [--pending N] "
                 "[--thread loop|foreign] [--backend NAME]\n");
    std::exit(1);
}

uint64_t parse_number(const char* text, bool zero_allowed)
{
    char* end = nullptr;
    errno = 0;
    const unsigned long long value = std::strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || (value == 0 && !zero_allowed))
        usage();
    return value;
}

Mode parse_mode(const std::string& text)
{
    if (text == "start-cancel")
        return Mode::start_cancel;
    if (text == "memory")
        return Mode::memory;
    if (text == "fire")
        return Mode::fire;
    usage();
}

bool parse_thread(const std::string& text)
{
    if (text == "loop")
        return false;
    if (text == "foreign")
        return true;
    usage();
}

Options parse_options(int argc, char** argv, const Library& library)
{
    Options options;
    for (int i = 1; i < argc; i += 2)
    {
        if (i + 1 >= argc)
            usage();
        const std::string name = argv[i];
        const char* value = argv[i + 1];
        if (name == "--mode")
            options.mode = parse_mode(value);
        else if (name == "--count")
            options.count = parse_number(value, false);
        else if (name == "--pending")
            options.pending = static_cast<uint32_t>(parse_number(value, true));
        else if (name == "--thread")
            options.foreign_thread = parse_thread(value);
        else if (name == "--backend" && library.has_backends)
            options.backend = value;
        else
            usage();
    }
    if (options.foreign_thread && !library.has_foreign_thread)
        unavailable("this library's timers are not started from a thread other than the loop's");
    return options;
}

double per(int64_t total, uint64_t count)
{
    return count == 0 ? 0 : static_cast<double>(total) / static_cast<double>(count);
}

}  // namespace

void fail(const std::string& what)
{
    std::fprintf(stderr, "timers: %s\n", what.c_str());
    std::fflush(stderr);
    std::_Exit(1);
}

void unavailable(const std::string& why)
{
    std::fprintf(stderr, "timers: not measurable here: %s\n", why.c_str());
    std::fflush(stderr);
    std::_Exit(kExitUnavailable);
}

uint32_t background_delay_ms(uint32_t index)
{
    return kLongDelayMs - 500 + static_cast<uint32_t>(scramble(index) % 1000);
}

// ---- start-cancel ----

uint32_t PairPlan::next_batch()
{
    if (batches_ == 0)
    {
        wall_start_ns_ = wall_ns();
        cpu_start_ns_ = cpu_ns();
    }
    if (batches_ == 1)  // the first batch filled whatever the library recycles
    {
        allocations_at_second_batch_ = inproc::heap_allocation_count();
        pairs_at_second_batch_ = started_;
    }
    if (started_ == total_)
        return 0;
    batch_ = static_cast<uint32_t>(std::min<uint64_t>(kBatch, total_ - started_));
    started_ += batch_;
    ++batches_;
    batch_remaining_.store(batch_, std::memory_order_release);
    return batch_;
}

bool PairPlan::cancelled()
{
    const uint32_t remaining = batch_remaining_.load(std::memory_order_acquire);
    if (remaining == 0)
        fail("a cancelled callback beyond its batch");
    // The clocks stop before the batch is published complete: a foreign caller that sees it
    // complete may print at once.
    if (remaining == 1 && started_ == total_)
        stop_clocks();
    batch_remaining_.store(remaining - 1, std::memory_order_release);
    if (remaining != 1)
        return false;
    batch_remaining_.notify_all();
    return true;
}

void PairPlan::batch_completed()
{
    batch_remaining_.store(0, std::memory_order_release);
    if (started_ == total_)
        stop_clocks();
}

void PairPlan::wait_batch()
{
    for (uint32_t remaining = batch_remaining_.load(std::memory_order_acquire); remaining != 0;
         remaining = batch_remaining_.load(std::memory_order_acquire))
        batch_remaining_.wait(remaining, std::memory_order_acquire);
}

void PairPlan::stop_clocks()
{
    wall_ns_ = wall_ns() - wall_start_ns_;
    cpu_ns_ = cpu_ns() - cpu_start_ns_;
    allocations_at_end_ = inproc::heap_allocation_count();
    finished_.store(true, std::memory_order_release);
}

void PairPlan::print() const
{
    if (!finished())
        fail("the start-cancel run ended before its last cancellation completed");
    const uint64_t counted_pairs = total_ - pairs_at_second_batch_;
    std::printf("{\"pairs\": %llu, \"wall_ns_per_pair\": %.6g, \"cpu_ns_per_pair\": %.6g, \"allocs_per_pair\": %.6g}\n",
                static_cast<unsigned long long>(total_), per(wall_ns_, total_), per(cpu_ns_, total_),
                per(static_cast<int64_t>(allocations_at_end_ - allocations_at_second_batch_), counted_pairs));
}

// ---- memory ----

void MemoryMeter::start()
{
    at_start_ = inproc::heap_live_bytes();
}

void MemoryMeter::created()
{
    at_created_ = inproc::heap_live_bytes();
}

void MemoryMeter::pending()
{
    at_pending_ = inproc::heap_live_bytes();
}

void MemoryMeter::print(uint64_t count, std::size_t object_size) const
{
    std::printf("{\"created_bytes_per_timer\": %.6g, \"pending_bytes_per_timer\": %.6g, \"object_size\": %zu}\n",
                per(at_created_ - at_start_, count), per(at_pending_ - at_start_, count), object_size);
}

// ---- fire ----

uint32_t FirePlan::delay_ms(uint64_t index)
{
    return kFireStepMs * (1 + bucket_of(index));
}

void FirePlan::starting()
{
    wall_starting_ns_ = wall_ns();
    cpu_starting_ns_ = cpu_ns();
}

void FirePlan::started()
{
    wall_started_ns_ = wall_ns();
    const int64_t window_ms = (wall_started_ns_ - wall_starting_ns_) / 1'000'000;
    if (window_ms + kFireMarginMs >= kFireStepMs)
        unavailable("the starts took " + std::to_string(window_ms) + " ms, too long for deadlines " +
                    std::to_string(kFireStepMs) + " ms apart: the firing order could not be judged");
}

void FirePlan::armed()
{
    if (fired_ != 0)
        fail("a timer fired before the zero-delay timer started after it");
    cpu_armed_ns_ = cpu_ns();
}

bool FirePlan::fired(uint64_t index)
{
    const uint32_t bucket = bucket_of(index);
    if (index >= count_)
        fail("a timer that was never started fired (" + std::to_string(index) + ")");
    if (fired_ == 0)
        wall_first_fire_ns_ = wall_ns();
    else if (bucket < last_bucket_ || (bucket == last_bucket_ && index <= last_index_))
        fail("timer " + std::to_string(index) + " (delay " + std::to_string(delay_ms(index)) + " ms) fired after timer " +
             std::to_string(last_index_) + " (delay " + std::to_string(delay_ms(last_index_)) +
             " ms): out of deadline order, or twice");
    last_bucket_ = bucket;
    last_index_ = index;
    if (++fired_ < count_)
        return false;
    wall_fired_ns_ = wall_ns();
    cpu_fired_ns_ = cpu_ns();
    return true;
}

void FirePlan::print() const
{
    if (!finished())
        fail("only " + std::to_string(fired_) + " of " + std::to_string(count_) + " timers fired");
    if (cpu_armed_ns_ == 0)
        fail("the zero-delay timer after the starts never fired");
    std::printf("{\"timers\": %llu, \"fire_cpu_ns_per_timer\": %.6g, \"start_wall_ns_per_timer\": %.6g, "
                "\"start_cpu_ns_per_timer\": %.6g, \"start_window_ms\": %.6g, \"fire_window_ms\": %.6g, "
                "\"fired_in_order\": 1}\n",
                static_cast<unsigned long long>(count_), per(cpu_fired_ns_ - cpu_armed_ns_, count_),
                per(wall_started_ns_ - wall_starting_ns_, count_), per(cpu_armed_ns_ - cpu_starting_ns_, count_),
                per(wall_started_ns_ - wall_starting_ns_, 1'000'000), per(wall_fired_ns_ - wall_first_fire_ns_, 1'000'000));
}

// ---- the program ----

int run(int argc, char** argv, const Library& library)
{
    const Options options = parse_options(argc, argv, library);
    switch (options.mode)
    {
    case Mode::start_cancel: {
        PairPlan plan(options.count);
        library.start_cancel(options, plan);
        plan.print();
        break;
    }
    case Mode::memory: {
        MemoryMeter meter;
        library.memory(options, meter);
        meter.print(options.count, library.object_size);
        break;
    }
    case Mode::fire: {
        FirePlan plan(options.count);
        library.fire(options, plan);
        plan.print();
        break;
    }
    }
    return 0;
}

}  // namespace timer_bench
