// The shared part of the timer benchmarks (issue 12): one program per library (asock, Asio's
// steady_timer, libuv's uv_timer_t), all with the same modes, options and output, so that
// run_timers.py drives them alike.
//
//   <program> --mode start-cancel --count N [--pending P] [--thread loop|foreign]
//       N pairs "start a timer, cancel it", in batches of kBatch timers; a batch is complete
//       when its N cancellations have completed (the cancelled callback ran, for a library
//       that has one). P other timers wait meanwhile (long delays), so that the heap holds
//       P + 1 deadlines. --thread foreign: the pairs are called from a thread that is not the
//       loop's (only programs whose library allows it: asock).
//   <program> --mode memory --count N         live heap bytes per created and per pending timer
//   <program> --mode fire --count N           N timers with spread deadlines all fire, in order
//   [--backend io_uring|epoll]                programs that have a choice (asock)
//
// Everything a library runs happens on its loop's thread (libuv, Asio: the main thread; asock:
// its engine's one loop thread), started from inside a callback of that loop, as a server
// would. Each program prints one JSON object on stdout. Exit status: 0 done, 1 failure (a
// library that misbehaves, a timer that fired out of order), 3 the figure cannot be measured
// here (a backend the kernel refuses, a machine too slow for the firing schedule).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace timer_bench {

// Timers per batch of the start-cancel mode: enough to amortise the loop iteration that runs
// the cancelled callbacks, few enough that a library's recycled memory covers a batch.
constexpr uint32_t kBatch = 64;
// The delay of every timer that must not fire during a measurement.
constexpr uint32_t kLongDelayMs = 3'600'000;
constexpr int kExitUnavailable = 3;

enum class Mode
{
    start_cancel,
    memory,
    fire
};

struct Options
{
    Mode mode = Mode::start_cancel;
    uint64_t count = 100'000;
    uint32_t pending = 0;
    bool foreign_thread = false;
    std::string backend;  // empty: the library's default
};

[[noreturn]] void fail(const std::string& what);
[[noreturn]] void unavailable(const std::string& why);

// The delay of background timer `index`: long, and spread over a second around kLongDelayMs,
// so that the heap orders them rather than appending equal keys, and a timer started with
// kLongDelayMs lands among them, not first (a library may do more when its earliest changes).
uint32_t background_delay_ms(uint32_t index);

// The start-cancel measurement. Batches are run by the library's code; the plan says how
// many pairs each batch has, counts the completed cancellations (from the loop's thread or,
// for the foreign-thread variant, with the caller waiting in wait_batch) and takes the clocks.
class PairPlan
{
public:
    explicit PairPlan(uint64_t pairs) : total_(pairs) {}

    // The number of pairs of the next batch (at most kBatch), 0 when all have run. The first
    // call starts the clocks; the call after the first batch takes the allocation count.
    uint32_t next_batch();
    // One cancellation of the current batch has completed; true when it was the batch's last.
    // Stops the clocks after the last batch. Called on the loop's thread only (one loop: one thread).
    bool cancelled();
    // For a library without cancelled callbacks (libuv): the whole batch completed.
    void batch_completed();
    // Blocks until the current batch has completed (the foreign-thread variant).
    void wait_batch();
    bool finished() const { return finished_.load(std::memory_order_acquire); }

    void print() const;

private:
    void stop_clocks();

    uint64_t total_;
    uint64_t started_ = 0;
    uint32_t batch_ = 0;
    std::atomic<uint32_t> batch_remaining_{0};
    std::atomic<bool> finished_{false};
    uint64_t batches_ = 0;
    int64_t wall_start_ns_ = 0;
    int64_t cpu_start_ns_ = 0;
    int64_t wall_ns_ = 0;
    int64_t cpu_ns_ = 0;
    uint64_t allocations_at_second_batch_ = 0;
    uint64_t pairs_at_second_batch_ = 0;
    uint64_t allocations_at_end_ = 0;
};

// Live heap bytes before the timers exist, once all are created (idle), once all are started.
class MemoryMeter
{
public:
    void start();
    void created();
    void pending();
    // object_size: sizeof the object the program holds per timer (0 for an opaque handle).
    void print(uint64_t count, std::size_t object_size) const;

private:
    int64_t at_start_ = 0;
    int64_t at_created_ = 0;
    int64_t at_pending_ = 0;
};

// The firing measurement. Timer i gets the delay delay_ms(i): one of kFireBuckets values
// kFireStepMs apart, assigned in a scrambled order, so the heap must sort them. Since all
// starts take less than one step (checked), a correct library fires the buckets in order and,
// within one bucket (equal delays), the timers in the order they were started: fired()
// checks exactly that and fails the program on the first timer out of order.
class FirePlan
{
public:
    explicit FirePlan(uint64_t count) : count_(count) {}

    static uint32_t delay_ms(uint64_t index);

    void starting();  // before the first start
    void started();   // after the last start
    // When a zero-delay timer started after the last start fires: every start has then done
    // all its work (asock arms a deadline on the loop after the call returns).
    void armed();
    // Timer `index` fired; true when it was the last. Fails on a timer out of order.
    bool fired(uint64_t index);
    bool finished() const { return fired_ == count_; }

    void print() const;

private:
    uint64_t count_;
    uint64_t fired_ = 0;
    uint32_t last_bucket_ = 0;
    uint64_t last_index_ = 0;
    int64_t wall_starting_ns_ = 0;
    int64_t cpu_starting_ns_ = 0;
    int64_t wall_started_ns_ = 0;
    int64_t cpu_armed_ns_ = 0;
    int64_t cpu_fired_ns_ = 0;
    int64_t wall_first_fire_ns_ = 0;
    int64_t wall_fired_ns_ = 0;
};

// What one library's program provides. Each function sets up the library, runs the mode to
// its end on the library's loop thread and releases everything before returning.
struct Library
{
    bool has_backends;
    bool has_foreign_thread;
    std::size_t object_size;  // sizeof the per-timer object a user holds; 0: an opaque handle
    void (*start_cancel)(const Options& options, PairPlan& plan);
    void (*memory)(const Options& options, MemoryMeter& meter);
    void (*fire)(const Options& options, FirePlan& plan);
};

int run(int argc, char** argv, const Library& library);

}  // namespace timer_bench
