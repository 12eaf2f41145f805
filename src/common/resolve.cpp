// Name resolution (async_resolve.h): the system's getaddrinfo on a small pool of helper threads
// shared by the process, the answer delivered on a thread of the engine by a timer.
//
// A lookup has one outcome, decided once (an atomic compare-and-swap) by the first of: the
// helper's answer, the timeout (the timer's first start firing), the cancellation. Whoever
// decides it makes the delivery happen: the timeout delivers at once (it runs on the engine);
// the helper and the cancel restart the timer with delay 0 and the delivery runs in that
// start's callback. A restart can fail (no memory for the timer's operation): the decider then
// marks the delivery `failed` and the helper that still holds the lookup (there always is
// one: an answer is not decided yet) takes it over and retries; it may sleep, a cancel may not.
//
// Lifetime: `units` counts what the engine side waits for (the undelivered answer, each timer
// start whose callback has not run, the starting call); the last one destroys the timer and
// drops the engine reference. `refs` counts the engine side and the helper; the last frees.
#include "asock/async_resolve.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <new>
#include <system_error>
#include <thread>

#include "asock/async_timer.h"
#include "detail/cancellation.h"
#include "detail/fault.h"
#include "detail/resolve.h"

namespace asock::detail {
namespace {

constexpr uint32_t kMaxHelpers = 4;      // helper threads at most, process-wide
constexpr uint32_t kMaxQueued = 1024;    // lookups waiting for a helper at most (then EAGAIN)
constexpr uint32_t kDefaultIdleMs = 3000;  // a helper with nothing to do for this long ends
constexpr size_t kMaxText = 255;

enum class Outcome : uint8_t
{
    pending,
    answered,
    timed_out,
    cancelled
};

// Who delivers once the outcome is decided: not said yet, someone (owned), or nobody yet
// because the decider's timer restart failed (failed: the helper takes it over).
enum class Delivery : uint8_t
{
    undecided,
    owned,
    failed
};

struct Lookup;
struct LookupLink : CancelLink
{
    Lookup* lookup = nullptr;
};

struct Lookup
{
    EXECUTION_ENGINE_HANDLE engine = nullptr;
    ASYNC_TIMER_HANDLE timer = nullptr;
    ON_ASYNC_RESOLVE_COMPLETE on_complete = nullptr;
    void* context = nullptr;
    Cancellation* cancellation = nullptr;  // set once link is registered
    LookupLink link;
    ASYNC_ADDRESS_FAMILY family = ASYNC_ADDRESS_FAMILY_ANY;
    bool has_service = false;
    char host[kMaxText + 1] = {};
    char service[kMaxText + 1] = {};
    // Written by the one who decides Outcome::answered (the helper, or the start for a numeric
    // host) before deciding; read by the delivery.
    ResolveAnswer answer;
    std::atomic<Outcome> outcome{Outcome::pending};
    std::atomic<Delivery> delivery{Delivery::undecided};
    std::atomic<uint32_t> units{1};  // the undelivered answer
    std::atomic<uint32_t> refs{1};   // the engine side
    Lookup* next = nullptr;          // in the pool's queue
};

void on_delivery(void* context, ASYNC_TIMER_RESULT timer_result) noexcept;

void release(Lookup& lookup) noexcept
{
    if (lookup.refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
        delete &lookup;
}

// The last unit: no callback of the timer runs or will run (the one calling this is the
// timer's own), and the callback was delivered.
void cleanup(Lookup& lookup) noexcept
{
    if (lookup.cancellation != nullptr)
        cancellation_unregister(*lookup.cancellation, lookup.link);
    async_timer_destroy(lookup.timer);
    execution_engine_dec_ref(lookup.engine);
    release(lookup);
}

void end_unit(Lookup& lookup) noexcept
{
    if (lookup.units.fetch_sub(1, std::memory_order_acq_rel) == 1)
        cleanup(lookup);
}

// A timer start with delay 0 whose callback delivers. False when the timer could not be started.
bool schedule_delivery(Lookup& lookup) noexcept
{
    lookup.units.fetch_add(1, std::memory_order_relaxed);
    if (async_timer_start(lookup.timer, 0, on_delivery, &lookup) == 0)
        return true;
    lookup.units.fetch_sub(1, std::memory_order_relaxed);  // the undelivered unit remains
    return false;
}

bool decide(Lookup& lookup, Outcome outcome) noexcept
{
    Outcome expected = Outcome::pending;
    return lookup.outcome.compare_exchange_strong(expected, outcome, std::memory_order_acq_rel);
}

// For a decider that may not wait (the cancel, the start).
void decide_and_schedule(Lookup& lookup, Outcome outcome) noexcept
{
    if (decide(lookup, outcome))
        lookup.delivery.store(schedule_delivery(lookup) ? Delivery::owned : Delivery::failed, std::memory_order_release);
}

// For the helper thread: retries until the timer takes the start (memory comes back).
void schedule_delivery_until_done(Lookup& lookup) noexcept
{
    auto pause = std::chrono::milliseconds(1);
    while (!schedule_delivery(lookup))
    {
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(100));
    }
}

// Runs on the engine (a timer callback). Ends the undelivered unit.
void deliver(Lookup& lookup) noexcept
{
    switch (lookup.outcome.load(std::memory_order_acquire))
    {
    case Outcome::answered:
    {
        const ResolveAnswer& answer = lookup.answer;
        const bool ok = answer.result == ASYNC_RESOLVE_OK;
        lookup.on_complete(lookup.context, answer.result, ok ? answer.addresses.get() : nullptr, ok ? answer.count : 0, ok ? 0 : answer.error);
        break;
    }
    case Outcome::timed_out:
        lookup.on_complete(lookup.context, ASYNC_RESOLVE_TIMEOUT, nullptr, 0, ETIMEDOUT);
        break;
    case Outcome::cancelled:
    case Outcome::pending:  // never: a delivery follows a decision
        lookup.on_complete(lookup.context, ASYNC_RESOLVE_CANCELLED, nullptr, 0, ECANCELED);
        break;
    }
    end_unit(lookup);
}

void on_delivery(void* context, ASYNC_TIMER_RESULT) noexcept
{
    auto& lookup = *static_cast<Lookup*>(context);
    deliver(lookup);
    end_unit(lookup);
}

// The first start (timeout_ms). FIRED: the timeout, unless the outcome was decided first (then
// the decider's restart delivers, or, if that failed, this callback does).
void on_timeout(void* context, ASYNC_TIMER_RESULT timer_result) noexcept
{
    auto& lookup = *static_cast<Lookup*>(context);
    if (timer_result == ASYNC_TIMER_ABANDONED)
        return;  // the start failed after the timer was started: undone by the caller
    if (timer_result == ASYNC_TIMER_FIRED)
    {
        Delivery failed = Delivery::failed;
        if (decide(lookup, Outcome::timed_out))
        {
            lookup.delivery.store(Delivery::owned, std::memory_order_release);
            deliver(lookup);
        }
        else if (lookup.delivery.compare_exchange_strong(failed, Delivery::owned, std::memory_order_acq_rel))
        {
            deliver(lookup);
        }
    }
    end_unit(lookup);
}

// Under the cancellation's mutex: must not wait.
void on_cancel(CancelLink& link) noexcept { decide_and_schedule(*static_cast<LookupLink&>(link).lookup, Outcome::cancelled); }

void lookup_now(Lookup& lookup) noexcept
{
    const char* service = lookup.has_service ? lookup.service : nullptr;
    if (resolve_test_answer(lookup.host, service, lookup.family, lookup.answer))
        return;
    if (inject_fault(FaultPoint::sys_getaddrinfo))
    {
        answer_fail(lookup.answer, ASYNC_RESOLVE_ERROR, fault_errno(FaultPoint::sys_getaddrinfo));
        return;
    }
    os_lookup(lookup.host, service, lookup.family, lookup.answer);
}

// On a helper thread: the lookup (unless a timeout or cancel decided first), then the
// helper's part of the delivery, then the helper's reference goes.
void run_lookup(Lookup& lookup) noexcept
{
    if (lookup.outcome.load(std::memory_order_acquire) == Outcome::pending)
        lookup_now(lookup);
    if (decide(lookup, Outcome::answered))
    {
        lookup.delivery.store(Delivery::owned, std::memory_order_relaxed);
        schedule_delivery_until_done(lookup);
    }
    else
    {
        // The decider (a cancel: it does not wait) says at once whether its restart worked.
        Delivery delivery;
        while ((delivery = lookup.delivery.load(std::memory_order_acquire)) == Delivery::undecided)
            std::this_thread::yield();
        if (delivery == Delivery::failed && lookup.delivery.compare_exchange_strong(delivery, Delivery::owned, std::memory_order_acq_rel))
            schedule_delivery_until_done(lookup);
    }
    release(lookup);
}

// The helper threads: at most kMaxHelpers, started when lookups wait and no helper is idle,
// ending after idle_ms without work. Never destroyed (a helper may still be in getaddrinfo when
// the process exits).
class Pool
{
public:
    // 0, EAGAIN when kMaxQueued lookups wait already, or the thread start's error when no
    // helper exists to take the lookup.
    int submit(Lookup& lookup) noexcept
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (queued_ >= kMaxQueued)
            return EAGAIN;
        push(lookup);
        if (queued_ > idle_ && threads_ < kMaxHelpers)
        {
            const int error = start_helper();
            if (error != 0 && threads_ == 0)
            {
                head_ = tail_ = nullptr;  // with no helper the queue held only this lookup
                queued_ = 0;
                return error;
            }
        }
        if (idle_ > 0)
            cv_.notify_one();
        return 0;
    }

    uint32_t threads() noexcept
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return threads_;
    }

    void set_idle_ms(uint32_t idle_ms) noexcept { idle_ms_.store(idle_ms, std::memory_order_relaxed); }

private:
    void push(Lookup& lookup) noexcept
    {
        lookup.next = nullptr;
        if (tail_ != nullptr)
            tail_->next = &lookup;
        else
            head_ = &lookup;
        tail_ = &lookup;
        ++queued_;
    }

    Lookup* pop() noexcept
    {
        Lookup* lookup = head_;
        head_ = lookup->next;
        if (head_ == nullptr)
            tail_ = nullptr;
        --queued_;
        return lookup;
    }

    int start_helper() noexcept
    {
        if (inject_fault(FaultPoint::resolver_thread_start))
            return fault_errno(FaultPoint::resolver_thread_start);
        try
        {
            std::thread([this] { serve(); }).detach();
        }
        catch (const std::system_error& failure)
        {
            return failure.code().value() != 0 ? failure.code().value() : EAGAIN;
        }
        ++threads_;
        return 0;
    }

    void serve() noexcept
    {
        std::unique_lock<std::mutex> lock(mutex_);
        for (;;)
        {
            if (head_ == nullptr && !wait_for_work(lock))
            {
                --threads_;
                return;
            }
            Lookup& lookup = *pop();
            lock.unlock();
            run_lookup(lookup);
            lock.lock();
        }
    }

    bool wait_for_work(std::unique_lock<std::mutex>& lock) noexcept
    {
        ++idle_;
        const auto idle = std::chrono::milliseconds(idle_ms_.load(std::memory_order_relaxed));
        const bool work = cv_.wait_for(lock, idle, [this] { return head_ != nullptr; });
        --idle_;
        return work;
    }

    std::mutex mutex_;
    std::condition_variable cv_;
    Lookup* head_ = nullptr;
    Lookup* tail_ = nullptr;
    uint32_t queued_ = 0;
    uint32_t threads_ = 0;
    uint32_t idle_ = 0;
    std::atomic<uint32_t> idle_ms_{kDefaultIdleMs};
};

Pool& pool() noexcept
{
    static Pool* const instance = new Pool;  // never destroyed: see Pool
    return *instance;
}

// Length of text if at most kMaxText characters, else kMaxText + 1.
size_t bounded_length(const char* text) noexcept
{
    size_t length = 0;
    while (length <= kMaxText && text[length] != '\0')
        ++length;
    return length;
}

// A port number: 1 to 5 digits, at most 65535. False for a service name.
bool parse_port(const char* service, uint16_t& port) noexcept
{
    if (service == nullptr)
    {
        port = 0;
        return true;
    }
    uint32_t value = 0;
    size_t digits = 0;
    for (; service[digits] != '\0'; ++digits)
    {
        if (service[digits] < '0' || service[digits] > '9' || digits == 5)
            return false;
        value = value * 10 + static_cast<uint32_t>(service[digits] - '0');
    }
    if (digits == 0 || value > 65535)
        return false;
    port = static_cast<uint16_t>(value);
    return true;
}

bool family_wanted(ASYNC_ADDRESS_FAMILY wanted, ASYNC_ADDRESS_FAMILY family) noexcept
{
    return wanted == ASYNC_ADDRESS_FAMILY_ANY || wanted == family;
}

// A numeric host with a numeric (or no) service: answered here, no helper needed. False when
// the system has to look something up.
bool answer_numeric(Lookup& lookup, const char* host, const char* service) noexcept
{
    uint16_t port = 0;
    ASYNC_RESOLVED_ADDRESS address{};
    if (!parse_port(service, port) || !numeric_address(host, port, address))
        return false;
    if (!family_wanted(lookup.family, address.family))
        answer_fail(lookup.answer, ASYNC_RESOLVE_NOT_FOUND, ENOENT);
    else if (answer_reserve(lookup.answer, 1))
        answer_add_unique(lookup.answer, address);
    return true;
}

Lookup* make_lookup(EXECUTION_ENGINE_HANDLE engine, const char* host, const char* service, ASYNC_ADDRESS_FAMILY family, ON_ASYNC_RESOLVE_COMPLETE on_complete, void* context) noexcept
{
    if (inject_fault(FaultPoint::resolve_alloc))
        return nullptr;
    auto* lookup = new (std::nothrow) Lookup;
    if (lookup == nullptr)
        return nullptr;
    lookup->timer = async_timer_create(engine);
    if (lookup->timer == nullptr)
    {
        delete lookup;
        return nullptr;
    }
    lookup->engine = engine;
    lookup->on_complete = on_complete;
    lookup->context = context;
    lookup->family = family;
    lookup->link.on_cancel = on_cancel;
    lookup->link.lookup = lookup;
    std::memcpy(lookup->host, host, bounded_length(host));
    lookup->has_service = service != nullptr;
    if (service != nullptr)
        std::memcpy(lookup->service, service, bounded_length(service));
    return lookup;
}

// Undoes a start that failed before any callback was promised: the timer's pending start (if
// any) completes ABANDONED, which on_timeout ignores.
int fail_start(Lookup& lookup, int error) noexcept
{
    async_timer_destroy(lookup.timer);
    delete &lookup;
    return error;
}

// The lookup is decided already (numeric host, cancelled before the start): deliver soon.
int start_decided(Lookup& lookup, Outcome outcome) noexcept
{
    lookup.outcome.store(outcome, std::memory_order_relaxed);
    lookup.delivery.store(Delivery::owned, std::memory_order_relaxed);
    execution_engine_inc_ref(lookup.engine);
    if (schedule_delivery(lookup))
        return 0;
    execution_engine_dec_ref(lookup.engine);
    return fail_start(lookup, ENOMEM);
}

// The lookup goes to a helper; the timeout (if any) is a first start of the timer.
int start_on_helper(Lookup& lookup, uint32_t timeout_ms, Cancellation* cancellation) noexcept
{
    lookup.units.fetch_add(1, std::memory_order_relaxed);  // this call, until it returns
    if (timeout_ms != 0)
    {
        lookup.units.fetch_add(1, std::memory_order_relaxed);
        if (async_timer_start(lookup.timer, timeout_ms, on_timeout, &lookup) != 0)
            return fail_start(lookup, ENOMEM);
    }
    lookup.refs.fetch_add(1, std::memory_order_relaxed);  // the helper's
    const int error = pool().submit(lookup);
    if (error != 0)
    {
        lookup.refs.fetch_sub(1, std::memory_order_relaxed);
        // Undone unless a (very short) timeout fired first and delivers: then the call worked.
        if (decide(lookup, Outcome::cancelled))
            return fail_start(lookup, error);
    }
    execution_engine_inc_ref(lookup.engine);
    // Registered only now, so that a cancel never meets a start that could still fail.
    if (cancellation != nullptr)
    {
        if (cancellation_register(*cancellation, lookup.link))
            lookup.cancellation = cancellation;
        else
            decide_and_schedule(lookup, Outcome::cancelled);
    }
    end_unit(lookup);
    return 0;
}

}  // namespace

bool answer_reserve(ResolveAnswer& answer, uint32_t count) noexcept
{
    if (!inject_fault(FaultPoint::resolve_answer_alloc))
        answer.addresses.reset(new (std::nothrow) ASYNC_RESOLVED_ADDRESS[count]);
    if (answer.addresses != nullptr)
        return true;
    answer_fail(answer, ASYNC_RESOLVE_ERROR, ENOMEM);
    return false;
}

void answer_add_unique(ResolveAnswer& answer, const ASYNC_RESOLVED_ADDRESS& address) noexcept
{
    for (uint32_t i = 0; i < answer.count; ++i)
    {
        if (answer.addresses[i].family == address.family && std::strcmp(answer.addresses[i].address, address.address) == 0)
            return;
    }
    answer.addresses[answer.count++] = address;
    answer.result = ASYNC_RESOLVE_OK;
    answer.error = 0;
}

void answer_fail(ResolveAnswer& answer, ASYNC_RESOLVE_RESULT result, int error) noexcept
{
    answer.result = result;
    answer.error = error;
    answer.count = 0;
    answer.addresses.reset();
}

bool numeric_address(const char* host, uint16_t port, ASYNC_RESOLVED_ADDRESS& address) noexcept
{
    const size_t length = bounded_length(host);
    if (length >= sizeof(address.address) || !os_numeric_family(host, address.family))
        return false;
    std::memcpy(address.address, host, length);
    address.address[length] = '\0';
    address.port = port;
    return true;
}

uint32_t resolver_thread_count() noexcept { return pool().threads(); }

void resolver_set_idle_ms(uint32_t idle_ms) noexcept { pool().set_idle_ms(idle_ms); }

}  // namespace asock::detail

using namespace asock::detail;

extern "C" int async_resolve_async(EXECUTION_ENGINE_HANDLE execution_engine, const char* host, const char* service, ASYNC_ADDRESS_FAMILY family, uint32_t timeout_ms, ASYNC_CANCELLATION_HANDLE cancellation, ON_ASYNC_RESOLVE_COMPLETE on_resolve_complete, void* on_resolve_complete_context)
{
    if (execution_engine == nullptr || host == nullptr || on_resolve_complete == nullptr || bounded_length(host) > kMaxText)
        return EINVAL;
    if ((service != nullptr && bounded_length(service) > kMaxText) || static_cast<unsigned>(family) > ASYNC_ADDRESS_FAMILY_IPV6)
        return EINVAL;
    Lookup* lookup = make_lookup(execution_engine, host, service, family, on_resolve_complete, on_resolve_complete_context);
    if (lookup == nullptr)
        return ENOMEM;
    if (async_cancellation_is_cancelled(cancellation))
        return start_decided(*lookup, Outcome::cancelled);
    if (answer_numeric(*lookup, host, service))
        return start_decided(*lookup, Outcome::answered);
    return start_on_helper(*lookup, timeout_ms, cancellation_of(cancellation));
}
