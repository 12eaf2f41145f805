// ASYNC_CANCELLATION: see detail/cancellation.h.
#include "detail/cancellation.h"
#include <new>
#include "detail/fault.h"
namespace asock::detail {
bool cancellation_register(Cancellation& cancellation, CancelLink& link) noexcept
{
    std::lock_guard<std::mutex> lock(cancellation.mutex);
    if (cancellation.cancelled.load(std::memory_order_relaxed))
        return false;
    link.prev = nullptr;
    link.next = cancellation.links;
    if (link.next != nullptr)
        link.next->prev = &link;
    cancellation.links = &link;
    link.registered = true;
    cancellation.refs.fetch_add(1, std::memory_order_relaxed);
    return true;
}
void cancellation_unregister(Cancellation& cancellation, CancelLink& link) noexcept
{
    {
        std::lock_guard<std::mutex> lock(cancellation.mutex);
        if (link.registered)
        {
            if (link.prev != nullptr)
                link.prev->next = link.next;
            else
                cancellation.links = link.next;
            if (link.next != nullptr)
                link.next->prev = link.prev;
            link.registered = false;
        }
    }
    cancellation_release(cancellation);
}
void cancellation_add_ref(Cancellation& cancellation) noexcept { cancellation.refs.fetch_add(1, std::memory_order_relaxed); }
void cancellation_release(Cancellation& cancellation) noexcept
{
    if (cancellation.refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
        delete &cancellation;
}
}  // namespace asock::detail
using namespace asock::detail;
extern "C" ASYNC_CANCELLATION_HANDLE async_cancellation_create(void)
{
    if (inject_fault(FaultPoint::cancellation_alloc))
        return nullptr;
    return reinterpret_cast<ASYNC_CANCELLATION_HANDLE>(new (std::nothrow) Cancellation);
}
// Every link is told once, then taken out of the list (it stays "registered" for its
// unregister, which then only drops the reference).
extern "C" void async_cancellation_cancel(ASYNC_CANCELLATION_HANDLE handle)
{
    if (handle == nullptr)
        return;
    Cancellation& cancellation = *cancellation_of(handle);
    std::lock_guard<std::mutex> lock(cancellation.mutex);
    if (cancellation.cancelled.exchange(true, std::memory_order_acq_rel))
        return;
    while (CancelLink* link = cancellation.links)
    {
        cancellation.links = link->next;
        if (link->next != nullptr)
            link->next->prev = nullptr;
        link->prev = link->next = nullptr;
        link->registered = false;
        link->on_cancel(*link);
    }
}
extern "C" bool async_cancellation_is_cancelled(ASYNC_CANCELLATION_HANDLE handle)
{
    return handle != nullptr && cancellation_of(handle)->cancelled.load(std::memory_order_acquire);
}
extern "C" void async_cancellation_destroy(ASYNC_CANCELLATION_HANDLE handle)
{
    if (handle != nullptr)
        cancellation_release(*cancellation_of(handle));
}
