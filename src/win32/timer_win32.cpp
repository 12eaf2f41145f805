// Timers (async_timer.h) on Windows: one threadpool timer per timer on the engine's PTP_POOL
// for the deadline, and one threadpool work item that hands completions over when no deadline
// does (a cancel, a restart). Every Windows call goes through the seam (detail/win32_api.h).
//
// Each start's completion is queued, then delivered by one thread at a time (the deliverer):
// the timer callback that fired it, or the work item that a start or cancel submitted. So a
// start or a cancel never calls back, callbacks of one timer never nest and run one at a time,
// and a start or cancel made from a callback is delivered after that callback returned.
//
// The threadpool timer may run late, or early for a start made since it was set (a callback
// already queued when the timer was set again): the callback compares the deadline, measured
// on QueryPerformanceCounter when the start was made, with the clock, and sets the timer again
// for the rest. So a start never fires early, and a restart never fires at the earlier
// deadline.
//
// Destroy completes the pending start ABANDONED and, unless it is called from the timer's own
// callback, delivers what is queued and waits for the threadpool callbacks before it frees.
// From the timer's own callback (the deliverer is this thread) it delivers what is queued at
// once, nested in the calling callback (as a socket's close from its own callback does), and the
// deliverer frees the timer once the calling callback returned.
#include <winsock2.h>
#include <windows.h>

#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <new>

#include "asock/execution_engine.h"
#include "asock/execution_engine_win32.h"
#include "detail/platform_timer.h"
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
    static constexpr uint32_t kInline = 2;  // a pending start's completion and one cancelled
    Completion inline_[kInline]{};
    Completion* items_ = inline_;
    uint32_t capacity_ = kInline;
    uint32_t head_ = 0;
    uint32_t size_ = 0;
};

}  // namespace

struct Timer
{
    EXECUTION_ENGINE_HANDLE engine = nullptr;
    TP_CALLBACK_ENVIRON environment{};
    PTP_TIMER deadline = nullptr;
    PTP_WORK delivery = nullptr;

    std::mutex mutex;  // guards what follows
    std::condition_variable idle;
    bool armed = false;  // a start is pending: armed_* and due describe it
    ON_ASYNC_TIMER_COMPLETE armed_callback = nullptr;
    void* armed_context = nullptr;
    int64_t due = 0;  // QueryPerformanceCounter ticks
    // Room for every completion queued plus the pending start's (reserved by each start).
    CompletionQueue queue;
    bool delivering = false;  // a thread delivers, or a work callback that will is submitted
    bool destroyed = false;
    bool free_after_delivery = false;  // destroyed from its own callback: the deliverer frees
};

namespace {

// The timer whose completions this thread delivers (innermost), and its callback instance.
struct DeliveryScope
{
    DeliveryScope(const Timer& timer, PTP_CALLBACK_INSTANCE callback_instance) noexcept;
    ~DeliveryScope();
    DeliveryScope(const DeliveryScope&) = delete;
    DeliveryScope& operator=(const DeliveryScope&) = delete;

    const Timer* timer;
    PTP_CALLBACK_INSTANCE instance;
    DeliveryScope* outer;
};

thread_local DeliveryScope* tls_delivery = nullptr;

DeliveryScope::DeliveryScope(const Timer& delivered, PTP_CALLBACK_INSTANCE callback_instance) noexcept
    : timer(&delivered), instance(callback_instance), outer(tls_delivery)
{
    tls_delivery = this;
}

DeliveryScope::~DeliveryScope() { tls_delivery = outer; }

int64_t now_ticks() noexcept
{
    LARGE_INTEGER count;
    os().QueryPerformanceCounter(&count);
    return count.QuadPart;
}

int64_t ticks_per_second() noexcept
{
    LARGE_INTEGER frequency;
    os().QueryPerformanceFrequency(&frequency);
    return frequency.QuadPart > 0 ? frequency.QuadPart : 1;
}

// delay_ms in clock ticks, rounded up (never early), without overflow for any uint32_t.
int64_t ticks_of_ms(uint32_t delay_ms, int64_t frequency) noexcept
{
    return static_cast<int64_t>(delay_ms / 1000) * frequency + (static_cast<int64_t>(delay_ms % 1000) * frequency + 999) / 1000;
}

// Sets the threadpool timer to expire `ticks` clock ticks from now (rounded up to 100 ns).
void arm_in(Timer& timer, int64_t ticks, int64_t frequency) noexcept
{
    const int64_t seconds = ticks / frequency;
    const int64_t rest = ticks % frequency;
    int64_t hundreds_of_ns = seconds * 10000000 + (rest * 10000000 + frequency - 1) / frequency;
    if (hundreds_of_ns < 1)
        hundreds_of_ns = 1;
    ULARGE_INTEGER relative;
    relative.QuadPart = static_cast<ULONGLONG>(-hundreds_of_ns);  // negative: relative to now
    FILETIME due_time;
    due_time.dwLowDateTime = relative.LowPart;
    due_time.dwHighDateTime = relative.HighPart;
    os().SetThreadpoolTimer(timer.deadline, &due_time, 0, 0);
}

// Called with the mutex held: makes sure a thread delivers what is queued.
void kick_locked(Timer& timer) noexcept
{
    if (timer.delivering || timer.queue.size() == 0)
        return;
    timer.delivering = true;
    os().SubmitThreadpoolWork(timer.delivery);
}

// Called with the mutex held, a start pending: its completion joins the queue.
void complete_armed_locked(Timer& timer, ASYNC_TIMER_RESULT result) noexcept
{
    timer.armed = false;
    timer.queue.push({timer.armed_callback, timer.armed_context, result});
}

// Delivers the queued completions one at a time, with the mutex let go around each callback.
void drain(Timer& timer, std::unique_lock<std::mutex>& lock) noexcept
{
    Completion completion;
    while (timer.queue.pop(completion))
    {
        lock.unlock();
        completion.callback(completion.context, completion.result);
        lock.lock();
    }
}

// The last steps of a destroy: no callback of the timer runs or will run afterwards. From a
// callback of the timer (instance not null), that callback leaves the wait first.
void free_timer(Timer& timer, PTP_CALLBACK_INSTANCE instance) noexcept
{
    if (instance != nullptr)
        os().DisassociateCurrentThreadFromCallback(instance);
    os().WaitForThreadpoolTimerCallbacks(timer.deadline, TRUE);
    os().WaitForThreadpoolWorkCallbacks(timer.delivery, FALSE);
    os().CloseThreadpoolTimer(timer.deadline);
    os().CloseThreadpoolWork(timer.delivery);
    os().DestroyThreadpoolEnvironment(&timer.environment);
    timer.queue.release();
    EXECUTION_ENGINE_HANDLE engine = timer.engine;
    timer.~Timer();
    os().free(&timer);
    execution_engine_dec_ref(engine);
}

// This thread becomes the deliverer (delivering was set for it): delivers until nothing is
// queued, then frees the timer if it was destroyed from one of these callbacks.
void deliver(Timer& timer, PTP_CALLBACK_INSTANCE instance, std::unique_lock<std::mutex>& lock) noexcept
{
    {
        DeliveryScope scope(timer, instance);
        drain(timer, lock);
    }
    timer.delivering = false;
    if (!timer.free_after_delivery)
    {
        timer.idle.notify_all();
        return;  // the caller lets the mutex go and touches the timer no more
    }
    lock.unlock();
    free_timer(timer, instance);
    lock.release();
}

VOID CALLBACK on_deadline(PTP_CALLBACK_INSTANCE instance, PVOID context, PTP_TIMER)
{
    Timer& timer = *static_cast<Timer*>(context);
    std::unique_lock<std::mutex> lock(timer.mutex);
    if (!timer.armed)
        return;  // cancelled, or a callback queued before the timer was set again and since fired
    const int64_t now = now_ticks();
    if (now < timer.due)
    {
        arm_in(timer, timer.due - now, ticks_per_second());  // early: queued for an earlier start
        return;
    }
    complete_armed_locked(timer, ASYNC_TIMER_FIRED);
    if (timer.delivering)
        return;  // the deliverer takes it
    timer.delivering = true;
    deliver(timer, instance, lock);
}

VOID CALLBACK on_delivery(PTP_CALLBACK_INSTANCE instance, PVOID context, PTP_WORK)
{
    Timer& timer = *static_cast<Timer*>(context);
    std::unique_lock<std::mutex> lock(timer.mutex);
    deliver(timer, instance, lock);  // submitted with delivering set for this callback
}

// Whether this thread runs a callback of the timer (it is its deliverer).
bool in_own_callback(const Timer& timer) noexcept { return tls_delivery != nullptr && tls_delivery->timer == &timer; }

}  // namespace

Timer* timer_create(EXECUTION_ENGINE_HANDLE execution_engine) noexcept
{
    void* memory = os().malloc(sizeof(Timer));
    if (memory == nullptr)
        return nullptr;
    auto* timer = new (memory) Timer();
    timer->engine = execution_engine;
    os().InitializeThreadpoolEnvironment(&timer->environment);
    os().SetThreadpoolCallbackPool(&timer->environment, execution_engine_win32_get_threadpool(execution_engine));
    timer->deadline = os().CreateThreadpoolTimer(on_deadline, timer, &timer->environment);
    if (timer->deadline != nullptr)
        timer->delivery = os().CreateThreadpoolWork(on_delivery, timer, &timer->environment);
    if (timer->delivery == nullptr)
    {
        if (timer->deadline != nullptr)
            os().CloseThreadpoolTimer(timer->deadline);
        os().DestroyThreadpoolEnvironment(&timer->environment);
        timer->~Timer();
        os().free(timer);
        return nullptr;
    }
    execution_engine_inc_ref(execution_engine);  // dropped by free_timer
    return timer;
}

int timer_start(Timer& timer, uint32_t delay_ms, ON_ASYNC_TIMER_COMPLETE on_timer_complete, void* context) noexcept
{
    std::lock_guard<std::mutex> lock(timer.mutex);
    if (!timer.queue.reserve(timer.queue.size() + (timer.armed ? 1 : 0) + 1))
        return ENOMEM;
    if (timer.destroyed)
    {
        // Started from a callback that the destroy delivers: it ends at once, ABANDONED.
        timer.queue.push({on_timer_complete, context, ASYNC_TIMER_ABANDONED});
        kick_locked(timer);
        return 0;
    }
    if (timer.armed)
        complete_armed_locked(timer, ASYNC_TIMER_CANCELLED);
    const int64_t frequency = ticks_per_second();
    const int64_t delay = ticks_of_ms(delay_ms, frequency);
    timer.armed = true;
    timer.armed_callback = on_timer_complete;
    timer.armed_context = context;
    timer.due = now_ticks() + delay;
    arm_in(timer, delay, frequency);
    kick_locked(timer);
    return 0;
}

int timer_cancel(Timer& timer) noexcept
{
    std::lock_guard<std::mutex> lock(timer.mutex);
    if (!timer.armed)
        return 0;
    complete_armed_locked(timer, ASYNC_TIMER_CANCELLED);
    os().SetThreadpoolTimer(timer.deadline, nullptr, 0, 0);
    kick_locked(timer);
    return 0;
}

void timer_destroy(Timer& timer) noexcept
{
    std::unique_lock<std::mutex> lock(timer.mutex);
    timer.destroyed = true;
    if (timer.armed)
        complete_armed_locked(timer, ASYNC_TIMER_ABANDONED);
    os().SetThreadpoolTimer(timer.deadline, nullptr, 0, 0);
    if (in_own_callback(timer))
    {
        // The calling callback is the deliverer's: what is queued completes now, inside it,
        // and the deliverer frees the timer when that callback has returned.
        drain(timer, lock);
        timer.free_after_delivery = true;
        return;
    }
    // A destroy from a callback of another timer whose destroy this timer's callback waits
    // for would wait in a cycle: that one does not wait, this timer's deliverer frees it.
    WaitEdge edge;
    if (timer.delivering && tls_delivery != nullptr && !edge.add(tls_delivery->timer, &timer))
    {
        timer.free_after_delivery = true;
        return;
    }
    if (!timer.delivering)
    {
        timer.delivering = true;
        drain(timer, lock);
        timer.delivering = false;
    }
    timer.idle.wait(lock, [&timer] { return !timer.delivering; });
    lock.unlock();
    free_timer(timer, nullptr);
}

}  // namespace asock::detail
