// Connect by name, the Happy Eyeballs way (RFC 8305; async_resolve.h), built only on the public
// operations: a lookup (async_resolve_async), connects that can be cancelled
// (async_socket_connect_cancellable_async) and two timers. It knows no backend.
//
// One mutex guards the state; every callback takes it. `pending` counts the callbacks still to
// come (the lookup, each attempt, each timer start). Once the outcome is known (`finishing`),
// the internal cancellation ends the lookup and the attempts and the timers are cancelled; the
// user's callback runs when the last of those callbacks has come, so it is the last thing done
// on behalf of this connect, and the state is freed right after it. The user's cancellation
// reaches us through a link (it only sets the outcome and cancels: it never completes, so the
// user's callback always runs on an engine thread).
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <new>

#include "asock/async_resolve.h"
#include "asock/async_socket_deadline.h"
#include "asock/async_timer.h"
#include "detail/cancellation.h"
#include "detail/fault.h"
#include "detail/platform_net.h"
#include "detail/resolve.h"

namespace asock::detail {
namespace {

constexpr uint32_t kAttemptDelayMs = 250;  // RFC 8305's Connection Attempt Delay
constexpr uint32_t kMaxAddresses = 16;     // addresses tried at most

struct ByName;
struct UserLink : CancelLink
{
    ByName* by_name = nullptr;
};

struct ByName
{
    EXECUTION_ENGINE_HANDLE engine = nullptr;
    uint16_t port = 0;
    uint32_t timeout_ms = 0;
    ON_ASYNC_SOCKET_CONNECT_COMPLETE on_complete = nullptr;
    void* context = nullptr;
    ASYNC_CANCELLATION_HANDLE internal = nullptr;  // ends the lookup and every attempt
    ASYNC_TIMER_HANDLE deadline = nullptr;         // the overall timeout
    ASYNC_TIMER_HANDLE stagger = nullptr;          // the next attempt, 250 ms after the last start
    Cancellation* user = nullptr;                  // the caller's, once link is registered
    UserLink link;

    std::mutex mutex;
    // Guarded by mutex.
    uint32_t pending = 0;
    bool finishing = false;
    ASYNC_SOCKET_CONNECT_RESULT result = ASYNC_SOCKET_CONNECT_ERROR;
    int error = EIO;
    ASYNC_SOCKET_HANDLE winner = nullptr;
    ASYNC_RESOLVED_ADDRESS addresses[kMaxAddresses] = {};
    uint32_t address_count = 0;
    uint32_t next_address = 0;
    uint32_t attempts_in_flight = 0;
};

void on_attempt(void* context, ASYNC_SOCKET_CONNECT_RESULT connect_result, ASYNC_SOCKET_HANDLE socket, int error) noexcept;
void on_stagger(void* context, ASYNC_TIMER_RESULT timer_result) noexcept;

// The outcome is known: everything still running is ended (no callback runs inside these calls).
void finish_locked(ByName& by_name, ASYNC_SOCKET_CONNECT_RESULT result, int error) noexcept
{
    by_name.finishing = true;
    by_name.result = result;
    by_name.error = error;
    async_cancellation_cancel(by_name.internal);
    // A cancel that fails (no memory) only lets the timer fire later: it then finds finishing.
    (void)async_timer_cancel(by_name.deadline);
    (void)async_timer_cancel(by_name.stagger);
}

void arm_stagger_locked(ByName& by_name) noexcept
{
    ++by_name.pending;
    if (async_timer_start(by_name.stagger, kAttemptDelayMs, on_stagger, &by_name) != 0)
        --by_name.pending;  // no memory: the next attempt starts when this one fails
}

// Starts the next address's attempt (and the timer for the one after); an attempt that cannot
// start counts as failed and the next is tried at once. With nothing left to try and nothing in
// flight, the last failure is the outcome.
void start_attempts_locked(ByName& by_name) noexcept
{
    while (by_name.next_address < by_name.address_count)
    {
        const ASYNC_RESOLVED_ADDRESS& address = by_name.addresses[by_name.next_address++];
        ++by_name.pending;
        const int error = async_socket_connect_cancellable_async(by_name.engine, address.address, by_name.port, by_name.timeout_ms, by_name.internal, on_attempt, &by_name);
        if (error == 0)
        {
            ++by_name.attempts_in_flight;
            if (by_name.next_address < by_name.address_count)
                arm_stagger_locked(by_name);
            return;
        }
        --by_name.pending;
        by_name.result = connect_result_for(error);
        by_name.error = error;
    }
    if (by_name.attempts_in_flight == 0)
        finish_locked(by_name, by_name.result, by_name.error);
}

// RFC 8305, 4: alternate the families, IPv6 first, each in the order the system prefers.
const ASYNC_RESOLVED_ADDRESS* take(const ASYNC_RESOLVED_ADDRESS* addresses, uint32_t count, ASYNC_ADDRESS_FAMILY family, uint32_t& cursor) noexcept
{
    while (cursor < count && addresses[cursor].family != family)
        ++cursor;
    return cursor < count ? &addresses[cursor++] : nullptr;
}

void order_addresses_locked(ByName& by_name, const ASYNC_RESOLVED_ADDRESS* addresses, uint32_t count) noexcept
{
    uint32_t v6 = 0;
    uint32_t v4 = 0;
    bool v6_turn = true;
    while (by_name.address_count < kMaxAddresses)
    {
        const ASYNC_RESOLVED_ADDRESS* next = v6_turn ? take(addresses, count, ASYNC_ADDRESS_FAMILY_IPV6, v6) : take(addresses, count, ASYNC_ADDRESS_FAMILY_IPV4, v4);
        if (next == nullptr)
            next = v6_turn ? take(addresses, count, ASYNC_ADDRESS_FAMILY_IPV4, v4) : take(addresses, count, ASYNC_ADDRESS_FAMILY_IPV6, v6);
        if (next == nullptr)
            return;
        by_name.addresses[by_name.address_count++] = *next;
        v6_turn = next->family != ASYNC_ADDRESS_FAMILY_IPV6;
    }
}

// The last callback has come: the user's callback, then everything goes.
void complete(ByName& by_name) noexcept
{
    const bool ok = by_name.result == ASYNC_SOCKET_CONNECT_OK;
    by_name.on_complete(by_name.context, by_name.result, ok ? by_name.winner : nullptr, ok ? 0 : by_name.error);
    if (by_name.user != nullptr)
        cancellation_unregister(*by_name.user, by_name.link);  // waits for a cancel telling us
    async_cancellation_destroy(by_name.internal);
    async_timer_destroy(by_name.deadline);
    async_timer_destroy(by_name.stagger);
    execution_engine_dec_ref(by_name.engine);
    delete &by_name;
}

// Every callback ends here: one callback less to come; the last one after the outcome
// completes.
void callback_done(ByName& by_name, std::unique_lock<std::mutex>& lock) noexcept
{
    const bool last = --by_name.pending == 0 && by_name.finishing;
    lock.unlock();
    if (last)
        complete(by_name);
}

void on_resolved(void* context, ASYNC_RESOLVE_RESULT resolve_result, const ASYNC_RESOLVED_ADDRESS* addresses, uint32_t address_count, int error) noexcept
{
    auto& by_name = *static_cast<ByName*>(context);
    std::unique_lock<std::mutex> lock(by_name.mutex);
    if (by_name.finishing)
        return callback_done(by_name, lock);
    switch (resolve_result)
    {
    case ASYNC_RESOLVE_OK:
        order_addresses_locked(by_name, addresses, address_count);
        start_attempts_locked(by_name);
        break;
    case ASYNC_RESOLVE_NOT_FOUND:
        finish_locked(by_name, ASYNC_SOCKET_CONNECT_NAME_NOT_FOUND, ENOENT);
        break;
    case ASYNC_RESOLVE_TIMEOUT:
        finish_locked(by_name, ASYNC_SOCKET_CONNECT_TIMEOUT, ETIMEDOUT);
        break;
    case ASYNC_RESOLVE_CANCELLED:
        finish_locked(by_name, ASYNC_SOCKET_CONNECT_CANCELLED, ECANCELED);
        break;
    case ASYNC_RESOLVE_ERROR:
        finish_locked(by_name, ASYNC_SOCKET_CONNECT_ERROR, error);
        break;
    }
    callback_done(by_name, lock);
}

void on_attempt(void* context, ASYNC_SOCKET_CONNECT_RESULT connect_result, ASYNC_SOCKET_HANDLE socket, int error) noexcept
{
    auto& by_name = *static_cast<ByName*>(context);
    std::unique_lock<std::mutex> lock(by_name.mutex);
    --by_name.attempts_in_flight;
    ASYNC_SOCKET_HANDLE late = nullptr;
    if (connect_result == ASYNC_SOCKET_CONNECT_OK && by_name.finishing)
    {
        late = socket;  // another attempt won, or the time is up: closed, never handed over
    }
    else if (connect_result == ASYNC_SOCKET_CONNECT_OK)
    {
        by_name.winner = socket;
        finish_locked(by_name, ASYNC_SOCKET_CONNECT_OK, 0);
    }
    else if (!by_name.finishing)
    {
        by_name.result = connect_result;
        by_name.error = error;
        start_attempts_locked(by_name);  // it failed: the next one now, not 250 ms later
    }
    if (late == nullptr)
        return callback_done(by_name, lock);
    lock.unlock();
    async_socket_destroy(late);
    lock.lock();
    callback_done(by_name, lock);
}

void on_stagger(void* context, ASYNC_TIMER_RESULT timer_result) noexcept
{
    auto& by_name = *static_cast<ByName*>(context);
    std::unique_lock<std::mutex> lock(by_name.mutex);
    if (timer_result == ASYNC_TIMER_FIRED && !by_name.finishing)
        start_attempts_locked(by_name);
    callback_done(by_name, lock);
}

void on_deadline(void* context, ASYNC_TIMER_RESULT timer_result) noexcept
{
    auto& by_name = *static_cast<ByName*>(context);
    std::unique_lock<std::mutex> lock(by_name.mutex);
    if (timer_result == ASYNC_TIMER_FIRED && !by_name.finishing)
        finish_locked(by_name, ASYNC_SOCKET_CONNECT_TIMEOUT, ETIMEDOUT);
    callback_done(by_name, lock);
}

// The caller's cancellation (under its mutex: must not wait, and must not complete: the
// completion follows from the callbacks the cancels bring).
void on_user_cancel(CancelLink& link) noexcept
{
    ByName& by_name = *static_cast<UserLink&>(link).by_name;
    std::lock_guard<std::mutex> lock(by_name.mutex);
    if (!by_name.finishing)
        finish_locked(by_name, ASYNC_SOCKET_CONNECT_CANCELLED, ECANCELED);
}

void free_unstarted(ByName& by_name) noexcept
{
    async_cancellation_destroy(by_name.internal);
    async_timer_destroy(by_name.deadline);
    async_timer_destroy(by_name.stagger);
    delete &by_name;
}

ByName* make_by_name(EXECUTION_ENGINE_HANDLE engine, uint16_t port, uint32_t timeout_ms, ON_ASYNC_SOCKET_CONNECT_COMPLETE on_complete, void* context) noexcept
{
    if (inject_fault(FaultPoint::connect_by_name_alloc))
        return nullptr;
    auto* by_name = new (std::nothrow) ByName;
    if (by_name == nullptr)
        return nullptr;
    by_name->engine = engine;
    by_name->port = port;
    by_name->timeout_ms = timeout_ms;
    by_name->on_complete = on_complete;
    by_name->context = context;
    by_name->link.on_cancel = on_user_cancel;
    by_name->link.by_name = by_name;
    by_name->internal = async_cancellation_create();
    by_name->deadline = async_timer_create(engine);
    by_name->stagger = async_timer_create(engine);
    if (by_name->internal != nullptr && by_name->deadline != nullptr && by_name->stagger != nullptr)
        return by_name;
    free_unstarted(*by_name);
    return nullptr;
}

// The lookup, or the one attempt of a numeric host. An error when it could not start.
int launch_locked(ByName& by_name, const char* host) noexcept
{
    ++by_name.pending;
    if (numeric_address(host, by_name.port, by_name.addresses[0]))
    {
        by_name.address_count = 1;
        by_name.next_address = 1;
        const ASYNC_RESOLVED_ADDRESS& address = by_name.addresses[0];
        const int error = async_socket_connect_cancellable_async(by_name.engine, address.address, by_name.port, by_name.timeout_ms, by_name.internal, on_attempt, &by_name);
        by_name.attempts_in_flight = error == 0 ? 1 : 0;
        return error;
    }
    // No timeout of its own and no service: the deadline covers it, the port is ours.
    return async_resolve_async(by_name.engine, host, nullptr, ASYNC_ADDRESS_FAMILY_ANY, 0, by_name.internal, on_resolved, &by_name);
}

int start(ByName& by_name, const char* host, Cancellation* user) noexcept
{
    execution_engine_inc_ref(by_name.engine);
    const bool cancelled_before = user != nullptr && !cancellation_register(*user, by_name.link);
    if (user != nullptr && !cancelled_before)
        by_name.user = user;
    std::unique_lock<std::mutex> lock(by_name.mutex);
    const int error = cancelled_before ? 0 : launch_locked(by_name, host);
    if (error != 0)
    {
        lock.unlock();
        if (by_name.user != nullptr)
            cancellation_unregister(*by_name.user, by_name.link);
        execution_engine_dec_ref(by_name.engine);
        free_unstarted(by_name);
        return error;
    }
    if (cancelled_before)
        finish_locked(by_name, ASYNC_SOCKET_CONNECT_CANCELLED, ECANCELED);
    // Started last: its callback is the one that completes a connect cancelled before it began.
    ++by_name.pending;
    if (async_timer_start(by_name.deadline, by_name.finishing ? 0 : by_name.timeout_ms, on_deadline, &by_name) == 0)
        return 0;
    --by_name.pending;
    if (!cancelled_before)
    {
        finish_locked(by_name, ASYNC_SOCKET_CONNECT_ERROR, ENOMEM);  // the lookup or attempt ends and completes it
        return 0;
    }
    lock.unlock();
    execution_engine_dec_ref(by_name.engine);
    free_unstarted(by_name);
    return ENOMEM;
}

}  // namespace
}  // namespace asock::detail

using namespace asock::detail;

extern "C" int async_socket_connect_by_name_async(EXECUTION_ENGINE_HANDLE execution_engine, const char* host, uint16_t port, uint32_t timeout_ms, ASYNC_CANCELLATION_HANDLE cancellation, ON_ASYNC_SOCKET_CONNECT_COMPLETE on_connect_complete, void* on_connect_complete_context)
{
    if (execution_engine == nullptr || host == nullptr || on_connect_complete == nullptr || timeout_ms == 0)
        return EINVAL;
    ByName* by_name = make_by_name(execution_engine, port, timeout_ms, on_connect_complete, on_connect_complete_context);
    if (by_name == nullptr)
        return ENOMEM;
    return start(*by_name, host, cancellation_of(cancellation));
}
