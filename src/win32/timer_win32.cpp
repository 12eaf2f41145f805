// Timers (async_timer.h) on Windows: ONE threadpool timer per engine over a heap of deadlines
// (common/detail/timer_heap.h), as a Linux loop sleeps until its earliest deadline. Every
// Windows call goes through the seam (detail/win32_api.h).
//
// Per engine (EngineTimers, made by the first timer, closed when the engine goes): a mutex,
// the heap of pending starts (a node in each Timer: start and cancel are O(log n) and allocate
// nothing), a list of timers with completions queued (CANCELLED, ABANDONED: never delivered
// inside start or cancel), and one PTP_TIMER set for the earliest of them (a queued completion
// sets it to expire at once). Its callback is the engine's one deliverer: it delivers queued
// completions, then every expired start in heap order (deadline, then arming order), one
// callback at a time on its thread, then sets the PTP_TIMER for the new earliest. So timers of
// an engine fire in the order of their deadlines, and same deadlines in the order of starting.
//
// A callback of a timer runs with the timer marked running (under the mutex), on the
// deliverer, or on a thread destroying it (below): callbacks of one timer never nest. What is
// queued for a running timer waits until its callback returned.
//
// Deadlines are nanoseconds on QueryPerformanceCounter, taken at async_timer_start. A PTP_TIMER
// callback may come early (set for a start since cancelled, or a threadpool clock ahead of
// ours): the deliverer takes only the starts whose deadline passed on our clock.
//
// Destroy completes the pending start ABANDONED, and delivers the timer's queued completions on
// the destroying thread once no callback of the timer runs (it waits for one that runs
// elsewhere); then it frees. From the timer's own callback it delivers them inside the call (as
// a socket's close from its own callback does) and the deliverer frees the timer when that
// callback returned. A destroy that would wait in a cycle (the wait-for graph of
// common/detail/wait_graph.h: timer A's callback destroys B while B's destroys A, or A's
// callback is further up this thread's stack) does not wait: A's deliverer frees A.
#include <winsock2.h>
#include <windows.h>

#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <new>

#include "asock/execution_engine.h"
#include "detail/engine.h"
#include "detail/platform_timer.h"
#include "detail/timer_heap.h"
#include "detail/wait_graph.h"
#include "detail/win32_api.h"

namespace asock::detail {

namespace {

struct Completion
{
    ON_ASYNC_TIMER_COMPLETE callback;
    void* context;
    ASYNC_TIMER_RESULT result;
};

// The completions not delivered yet, first in first out: a few in the timer itself, more in a
// buffer that grows when needed and is kept, so that a timer in steady use allocates nothing.
class CompletionQueue
{
public:
    CompletionQueue() noexcept = default;
    CompletionQueue(const CompletionQueue&) = delete;
    CompletionQueue& operator=(const CompletionQueue&) = delete;

    uint32_t size() const noexcept { return size_; }

    // Room for `count` completions; false (nothing changed) when out of memory.
    bool reserve(uint32_t count) noexcept
    {
        if (count <= capacity_)
            return true;
        const uint32_t capacity = capacity_ * 2 >= count ? capacity_ * 2 : count;
        auto* items = static_cast<Completion*>(os().malloc(sizeof(Completion) * capacity));
        if (items == nullptr)
            return false;
        for (uint32_t i = 0; i < size_; ++i)
            items[i] = items_[(head_ + i) % capacity_];
        release();
        items_ = items;
        capacity_ = capacity;
        head_ = 0;
        return true;
    }

    // After a reserve that made room for it.
    void push(const Completion& completion) noexcept
    {
        items_[(head_ + size_) % capacity_] = completion;
        ++size_;
    }

    bool pop(Completion& completion) noexcept
    {
        if (size_ == 0)
            return false;
        completion = items_[head_];
        head_ = (head_ + 1) % capacity_;
        --size_;
        return true;
    }

    void release() noexcept
    {
        if (items_ != inline_)
            os().free(items_);
        items_ = inline_;
        capacity_ = kInline;
    }

private:
    static constexpr uint32_t kInline = 2;  // a cancelled start's completion and the pending one's
    Completion inline_[kInline]{};
    Completion* items_ = inline_;
    uint32_t capacity_ = kInline;
    uint32_t head_ = 0;
    uint32_t size_ = 0;
};

constexpr uint64_t kNotSet = UINT64_MAX;

}  // namespace

struct Timer
{
    EXECUTION_ENGINE_HANDLE engine = nullptr;
    EngineTimers* timers = nullptr;

    // Under timers->mutex:
    TimerNode node{};  // in the heap while a start is pending
    ON_ASYNC_TIMER_COMPLETE armed_callback = nullptr;  // the pending start
    void* armed_context = nullptr;
    // Room for every completion queued plus the pending start's (reserved by each start).
    CompletionQueue queue;
    Timer* ready_prev = nullptr;  // in the engine's list of timers with completions queued
    Timer* ready_next = nullptr;
    bool ready = false;
    bool running = false;  // a thread runs a callback of this timer
    bool destroyed = false;
    bool free_after_delivery = false;  // destroyed while its callback ran: the deliverer frees
};

struct EngineTimers
{
    TP_CALLBACK_ENVIRON environment{};
    PTP_TIMER deadline = nullptr;
    int64_t frequency = 1;  // QueryPerformanceFrequency

    std::mutex mutex;  // guards what follows and the timers' fields that say so
    std::condition_variable idle;  // a timer's callback returned
    TimerHeap heap;
    Timer* ready_head = nullptr;
    Timer* ready_tail = nullptr;
    uint64_t set_for = kNotSet;  // the deadline the PTP_TIMER is set for (0: at once)
    bool delivering = false;     // a PTP_TIMER callback is the deliverer
};

namespace {

// The timers whose callbacks run on this thread, innermost first.
struct DeliveryScope
{
    explicit DeliveryScope(const Timer& timer) noexcept;
    ~DeliveryScope();
    DeliveryScope(const DeliveryScope&) = delete;
    DeliveryScope& operator=(const DeliveryScope&) = delete;

    const Timer* timer;
    DeliveryScope* outer;
};

thread_local DeliveryScope* tls_delivery = nullptr;

DeliveryScope::DeliveryScope(const Timer& delivered) noexcept : timer(&delivered), outer(tls_delivery) { tls_delivery = this; }

DeliveryScope::~DeliveryScope() { tls_delivery = outer; }

// The PTP_TIMER callback running on this thread: an engine that goes from it (its last timer
// freed by the deliverer) closes the PTP_TIMER after leaving the callback's wait.
struct DelivererFrame
{
    EngineTimers* timers;
    PTP_CALLBACK_INSTANCE instance;
};

thread_local DelivererFrame* tls_deliverer = nullptr;

// QueryPerformanceCounter in nanoseconds, without overflow.
uint64_t now_ns(const EngineTimers& timers) noexcept
{
    LARGE_INTEGER count;
    os().QueryPerformanceCounter(&count);
    const auto ticks = static_cast<uint64_t>(count.QuadPart);
    const auto frequency = static_cast<uint64_t>(timers.frequency);
    return ticks / frequency * 1000000000u + ticks % frequency * 1000000000u / frequency;
}

// Sets the PTP_TIMER to expire at deadline (ns; 0: at once), relative to now in 100 ns units
// rounded up, so that it never expires before the deadline.
void set_deadline_locked(EngineTimers& timers, uint64_t deadline) noexcept
{
    const uint64_t now = now_ns(timers);
    const uint64_t rest = deadline > now ? deadline - now : 0;
    auto hundreds_of_ns = static_cast<int64_t>((rest + 99) / 100);
    if (hundreds_of_ns < 1)
        hundreds_of_ns = 1;
    ULARGE_INTEGER relative;
    relative.QuadPart = static_cast<ULONGLONG>(-hundreds_of_ns);  // negative: relative to now
    FILETIME due_time;
    due_time.dwLowDateTime = relative.LowPart;
    due_time.dwHighDateTime = relative.HighPart;
    os().SetThreadpoolTimer(timers.deadline, &due_time, 0, 0);
    timers.set_for = deadline;
}

// Makes sure the PTP_TIMER expires by the time something is to deliver: at once for queued
// completions, else at the earliest deadline. Only when that is earlier than what it is set
// for (an earlier setting just makes an early callback that takes nothing). The deliverer sets
// it when it is done.
void arm_locked(EngineTimers& timers) noexcept
{
    if (timers.delivering)
        return;
    const uint64_t wanted = timers.ready_head != nullptr ? 0 : timers.heap.empty() ? kNotSet : timers.heap.top()->deadline_ns;
    if (wanted >= timers.set_for)
        return;
    set_deadline_locked(timers, wanted);
}

void make_ready_locked(EngineTimers& timers, Timer& timer) noexcept
{
    if (timer.ready)
        return;
    timer.ready = true;
    timer.ready_prev = timers.ready_tail;
    timer.ready_next = nullptr;
    (timers.ready_tail != nullptr ? timers.ready_tail->ready_next : timers.ready_head) = &timer;
    timers.ready_tail = &timer;
}

void unready_locked(EngineTimers& timers, Timer& timer) noexcept
{
    if (!timer.ready)
        return;
    (timer.ready_prev != nullptr ? timer.ready_prev->ready_next : timers.ready_head) = timer.ready_next;
    (timer.ready_next != nullptr ? timer.ready_next->ready_prev : timers.ready_tail) = timer.ready_prev;
    timer.ready = false;
    timer.ready_prev = timer.ready_next = nullptr;
}

// Queues a completion (room reserved): a running timer's waits for its callback to return.
void enqueue_locked(Timer& timer, ASYNC_TIMER_RESULT result, ON_ASYNC_TIMER_COMPLETE callback, void* context) noexcept
{
    timer.queue.push({callback, context, result});
    if (!timer.running)
        make_ready_locked(*timer.timers, timer);
}

// Takes the pending start out of the heap, completing it with result (queued).
void complete_armed_locked(Timer& timer, ASYNC_TIMER_RESULT result) noexcept
{
    if (!timer.timers->heap.armed(timer.node))
        return;
    timer.timers->heap.disarm(timer.node);
    enqueue_locked(timer, result, timer.armed_callback, timer.armed_context);
}

// Runs one callback of the timer (marked running) with the mutex let go.
void run_callback(Timer& timer, const Completion& completion, std::unique_lock<std::mutex>& lock) noexcept
{
    lock.unlock();
    {
        DeliveryScope scope(timer);
        completion.callback(completion.context, completion.result);
    }
    lock.lock();
}

// Delivers every completion queued for the timer (marked running) on this thread.
void drain_locked(Timer& timer, std::unique_lock<std::mutex>& lock) noexcept
{
    Completion completion{};
    while (timer.queue.pop(completion))
        run_callback(timer, completion, lock);
}

void free_timer_memory(Timer& timer) noexcept
{
    timer.queue.release();
    timer.~Timer();
    os().free(&timer);
}

// The next callback for the deliverer: queued completions first, then the expired starts.
Timer* take_next_locked(EngineTimers& timers, uint64_t& now, Completion& completion) noexcept
{
    if (Timer* timer = timers.ready_head; timer != nullptr)
    {
        unready_locked(timers, *timer);
        timer->queue.pop(completion);
        return timer;
    }
    TimerNode* earliest = timers.heap.top();
    if (earliest == nullptr)
        return nullptr;
    if (earliest->deadline_ns > now)
        now = now_ns(timers);
    if (earliest->deadline_ns > now)
        return nullptr;
    auto* timer = static_cast<Timer*>(earliest->owner);
    timers.heap.disarm(*earliest);
    completion = {timer->armed_callback, timer->armed_context, ASYNC_TIMER_FIRED};
    return timer;
}

// The deliverer, after a callback of the timer returned: what was queued meanwhile waits its
// turn; a timer destroyed meanwhile gets the rest delivered and is freed (its engine reference
// is dropped by the caller, once it touches the engine's timers no more).
void after_callback_locked(EngineTimers& timers, Timer& timer, std::unique_lock<std::mutex>& lock, uint32_t& freed) noexcept
{
    if (timer.free_after_delivery)
    {
        drain_locked(timer, lock);
        timer.running = false;
        free_timer_memory(timer);
        ++freed;
        timers.idle.notify_all();
        return;
    }
    timer.running = false;
    if (timer.queue.size() != 0)
        make_ready_locked(timers, timer);
    timers.idle.notify_all();
}

VOID CALLBACK on_deadline(PTP_CALLBACK_INSTANCE instance, PVOID context, PTP_TIMER)
{
    EngineTimers& timers = *static_cast<EngineTimers*>(context);
    DelivererFrame frame{&timers, instance};
    DelivererFrame* const outer = tls_deliverer;
    tls_deliverer = &frame;
    EXECUTION_ENGINE_HANDLE engine = nullptr;
    uint32_t freed = 0;
    {
        std::unique_lock<std::mutex> lock(timers.mutex);
        timers.set_for = kNotSet;  // expired (or a callback queued before it was set again)
        if (!timers.delivering)
        {
            timers.delivering = true;
            uint64_t now = now_ns(timers);
            Completion completion{};
            while (Timer* timer = take_next_locked(timers, now, completion))
            {
                engine = timer->engine;
                timer->running = true;
                run_callback(*timer, completion, lock);
                after_callback_locked(timers, *timer, lock, freed);
            }
            timers.delivering = false;
            arm_locked(timers);
        }
    }
    // The freed timers' engine references, last: the last one closes the engine's timers.
    for (; freed != 0; --freed)
        execution_engine_dec_ref(engine);
    tls_deliverer = outer;
}

// The engine's timers, made by its first timer.
EngineTimers* engine_timers(EXECUTION_ENGINE_HANDLE handle) noexcept
{
    Engine& engine = *Engine::from_handle(handle);
    std::lock_guard<std::mutex> lock(engine.timers_mutex);
    if (engine.timers != nullptr)
        return engine.timers;
    void* memory = os().malloc(sizeof(EngineTimers));
    if (memory == nullptr)
        return nullptr;
    auto* timers = new (memory) EngineTimers();
    LARGE_INTEGER frequency;
    os().QueryPerformanceFrequency(&frequency);
    timers->frequency = frequency.QuadPart > 0 ? frequency.QuadPart : 1;
    os().InitializeThreadpoolEnvironment(&timers->environment);
    os().SetThreadpoolCallbackPool(&timers->environment, engine.pool);
    timers->deadline = os().CreateThreadpoolTimer(on_deadline, timers, &timers->environment);
    if (timers->deadline == nullptr)
    {
        os().DestroyThreadpoolEnvironment(&timers->environment);
        timers->~EngineTimers();
        os().free(timers);
        return nullptr;
    }
    engine.timers = timers;
    return timers;
}

// Whether a callback of the timer runs on this thread, below the innermost one.
bool running_further_up(const Timer& timer) noexcept
{
    for (const DeliveryScope* scope = tls_delivery; scope != nullptr; scope = scope->outer)
    {
        if (scope->timer == &timer)
            return true;
    }
    return false;
}

}  // namespace

void engine_timers_close(EngineTimers& timers) noexcept
{
    if (tls_deliverer != nullptr && tls_deliverer->timers == &timers && tls_deliverer->instance != nullptr)
    {
        os().DisassociateCurrentThreadFromCallback(tls_deliverer->instance);  // else the wait is on itself
        tls_deliverer->instance = nullptr;
    }
    os().SetThreadpoolTimer(timers.deadline, nullptr, 0, 0);
    os().WaitForThreadpoolTimerCallbacks(timers.deadline, TRUE);
    os().CloseThreadpoolTimer(timers.deadline);
    os().DestroyThreadpoolEnvironment(&timers.environment);
    timers.~EngineTimers();
    os().free(&timers);
}

Timer* timer_create(EXECUTION_ENGINE_HANDLE execution_engine) noexcept
{
    EngineTimers* timers = engine_timers(execution_engine);
    if (timers == nullptr)
        return nullptr;
    void* memory = os().malloc(sizeof(Timer));
    if (memory == nullptr)
        return nullptr;  // the engine's timers stay until the engine goes
    auto* timer = new (memory) Timer();
    timer->engine = execution_engine;
    timer->timers = timers;
    timer_node_init(timer->node, 0);
    execution_engine_inc_ref(execution_engine);  // dropped when the timer is freed
    return timer;
}

int timer_start(Timer& timer, uint32_t delay_ms, ON_ASYNC_TIMER_COMPLETE on_timer_complete, void* context) noexcept
{
    EngineTimers& timers = *timer.timers;
    std::lock_guard<std::mutex> lock(timers.mutex);
    const bool armed = timers.heap.armed(timer.node);
    if (!timer.queue.reserve(timer.queue.size() + (armed ? 1 : 0) + 1))
        return ENOMEM;
    if (timer.destroyed)
    {
        // Started from a callback that the destroy delivers: it ends at once, ABANDONED.
        enqueue_locked(timer, ASYNC_TIMER_ABANDONED, on_timer_complete, context);
        arm_locked(timers);
        return 0;
    }
    complete_armed_locked(timer, ASYNC_TIMER_CANCELLED);
    timer.armed_callback = on_timer_complete;
    timer.armed_context = context;
    timers.heap.arm(timer.node, now_ns(timers) + uint64_t{delay_ms} * 1000000u, &timer);
    arm_locked(timers);
    return 0;
}

int timer_cancel(Timer& timer) noexcept
{
    EngineTimers& timers = *timer.timers;
    std::lock_guard<std::mutex> lock(timers.mutex);
    if (!timers.heap.armed(timer.node))
        return 0;
    complete_armed_locked(timer, ASYNC_TIMER_CANCELLED);
    arm_locked(timers);
    return 0;
}

void timer_destroy(Timer& timer) noexcept
{
    EngineTimers& timers = *timer.timers;
    std::unique_lock<std::mutex> lock(timers.mutex);
    timer.destroyed = true;
    complete_armed_locked(timer, ASYNC_TIMER_ABANDONED);
    if (tls_delivery != nullptr && tls_delivery->timer == &timer)
    {
        // From its own callback: what is queued completes now, inside it; the deliverer frees
        // the timer when that callback returned.
        drain_locked(timer, lock);
        timer.free_after_delivery = true;
        return;
    }
    if (timer.running)
    {
        WaitEdge edge;
        if (running_further_up(timer) || (tls_delivery != nullptr && !edge.add(tls_delivery->timer, &timer)))
        {
            timer.free_after_delivery = true;  // waiting would be a cycle
            return;
        }
        timers.idle.wait(lock, [&timer] { return !timer.running; });
    }
    // No callback of the timer runs, and none will but these, on this thread.
    unready_locked(timers, timer);
    timer.running = true;
    drain_locked(timer, lock);
    timer.running = false;
    unready_locked(timers, timer);
    lock.unlock();
    const EXECUTION_ENGINE_HANDLE engine = timer.engine;
    free_timer_memory(timer);
    execution_engine_dec_ref(engine);
}

}  // namespace asock::detail
