// The inside of ASYNC_CANCELLATION (asock/async_cancellation.h): a flag, a reference count and
// the operations registered with it. An operation that can be cancelled registers a link with
// a function that tells its platform to end it; the cancel calls each link's function once,
// under the cancellation's mutex, so that an operation that unregisters (when it completes)
// waits for a cancel that is telling it to end, and its memory stays valid meanwhile. A link's
// function must not block and must not call back into the cancellation.
#pragma once
#include <atomic>
#include <cstdint>
#include <mutex>
#include "asock/async_cancellation.h"
namespace asock::detail {
// Trivial on purpose (it may sit in a union): the owner sets on_cancel and owner, register sets
// the rest.
struct CancelLink
{
    void (*on_cancel)(CancelLink& link) noexcept;
    void* owner;  // for on_cancel: what the link belongs to
    CancelLink* prev;
    CancelLink* next;
    bool registered;
};
struct Cancellation
{
    std::mutex mutex;
    std::atomic<uint32_t> refs{1};
    std::atomic<bool> cancelled{false};
    CancelLink* links = nullptr;  // guarded by mutex
};
inline Cancellation* cancellation_of(ASYNC_CANCELLATION_HANDLE handle) noexcept { return reinterpret_cast<Cancellation*>(handle); }
// Registers link (its on_cancel set) and takes a reference on the cancellation. False when it is
// already cancelled: nothing is registered, no reference is taken, and the caller completes its
// operation CANCELLED itself (never inside the starting call).
bool cancellation_register(Cancellation& cancellation, CancelLink& link) noexcept;
// Undoes a register that returned true: on return, link's on_cancel is not running and will not
// run. Drops the reference (which may free the cancellation).
void cancellation_unregister(Cancellation& cancellation, CancelLink& link) noexcept;
void cancellation_add_ref(Cancellation& cancellation) noexcept;
void cancellation_release(Cancellation& cancellation) noexcept;
}  // namespace asock::detail
