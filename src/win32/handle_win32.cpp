// The core of every Win32 handle (detail/handle_win32.h): life, close protocol, callback scope.
#include "detail/handle_win32.h"

#include "asock/execution_engine_win32.h"
#include "detail/win32_api.h"

namespace asock::detail {
namespace {

// The threadpool callback running on this thread, if any.
thread_local CallbackScope* tls_scope = nullptr;

}  // namespace

void handle_init(Handle& handle, EXECUTION_ENGINE_HANDLE engine, SOCKET native, void (*free_memory)(Handle&) noexcept) noexcept
{
    handle.engine = engine;
    handle.native = native;
    handle.free_memory = free_memory;
    execution_engine_inc_ref(engine);
    handle.pool = execution_engine_win32_get_threadpool(engine);
}

bool handle_attach_io(Handle& handle, PTP_WIN32_IO_CALLBACK callback, void* context) noexcept
{
    os().InitializeThreadpoolEnvironment(&handle.environment);
    os().SetThreadpoolCallbackPool(&handle.environment, handle.pool);
    handle.io = os().CreateThreadpoolIo(reinterpret_cast<HANDLE>(handle.native), callback, context, &handle.environment);
    if (handle.io != nullptr)
        return true;
    os().DestroyThreadpoolEnvironment(&handle.environment);
    return false;
}

void handle_retain(Handle& handle) noexcept { handle.references.fetch_add(1, std::memory_order_relaxed); }

void handle_release(Handle& handle) noexcept
{
    if (handle.references.fetch_sub(1, std::memory_order_acq_rel) != 1)
        return;
    // The seed's order: the engine reference (42_005), then the memory (01_005). Nothing of the
    // handle needs the engine any more: its threadpool I/O is closed.
    execution_engine_dec_ref(handle.engine);
    handle.free_memory(handle);
}

ApiCall::ApiCall(Handle& handle) noexcept : handle_(handle)
{
    std::lock_guard<std::mutex> lock(handle.mutex);
    entered_ = handle.state == HandleState::open;
    if (entered_)
        ++handle.api_calls;
}

ApiCall::~ApiCall()
{
    if (!entered_)
        return;
    std::lock_guard<std::mutex> lock(handle_.mutex);
    if (--handle_.api_calls == 0)
        handle_.changed.notify_all();
}

CloseStart begin_close(Handle& handle) noexcept
{
    std::lock_guard<std::mutex> lock(handle.mutex);
    if (handle.state == HandleState::closing)
        return handle.closing_thread == std::this_thread::get_id() ? CloseStart::under_way_here : CloseStart::under_way_elsewhere;
    if (handle.state != HandleState::open)
        return CloseStart::not_open;
    handle.state = HandleState::closing;
    handle.closing_thread = std::this_thread::get_id();
    return CloseStart::run;
}

void tear_down(Handle& handle) noexcept
{
    {
        CloseWait wait(handle);
        {
            // Before closesocket, not after: a call still inside WSASend must not find its
            // handle closed, or already reused by another socket.
            std::unique_lock<std::mutex> lock(handle.mutex);
            handle.changed.wait(lock, [&handle] { return handle.api_calls == 0; });
        }
        // Added to the seed: closesocket alone leaves an overlapped send that cannot finish
        // pending forever under Wine; cancelling first completes it (harmless on Windows).
        os().CancelIoEx(reinterpret_cast<HANDLE>(handle.native), nullptr);
        os().closesocket(handle.native);
        os().WaitForThreadpoolIoCallbacks(handle.io, FALSE);
    }
    os().CloseThreadpoolIo(handle.io);
    handle.io = nullptr;
    os().DestroyThreadpoolEnvironment(&handle.environment);
}

bool end_close(Handle& handle) noexcept
{
    std::lock_guard<std::mutex> lock(handle.mutex);
    handle.state = HandleState::closed;
    handle.closing_thread = {};
    handle.changed.notify_all();
    const bool destroyed = handle.destroy_pending;
    handle.destroy_pending = false;
    return destroyed;
}

void wait_closed(Handle& handle) noexcept
{
    // The close under way waits for this handle's callbacks: so does this wait.
    CloseWait wait(handle);
    std::unique_lock<std::mutex> lock(handle.mutex);
    handle.changed.wait(lock, [&handle] { return handle.state == HandleState::closed; });
}

DestroyStart begin_destroy(Handle& handle) noexcept
{
    CloseWait wait(handle);
    std::unique_lock<std::mutex> lock(handle.mutex);
    const std::thread::id self = std::this_thread::get_id();
    handle.changed.wait(lock, [&handle, self] {
        return handle.state != HandleState::opening && (handle.state != HandleState::closing || handle.closing_thread == self);
    });
    // Decided and acted on under the same hold of the mutex: a close starting on another thread
    // now either ran before (and this destroy waited for it) or finds the handle closing.
    switch (handle.state)
    {
    case HandleState::created:
        handle.state = HandleState::closed;
        return DestroyStart::never_opened;
    case HandleState::open:
        handle.state = HandleState::closing;
        handle.closing_thread = self;
        return DestroyStart::run_close;
    case HandleState::closing:
        handle.destroy_pending = true;
        return DestroyStart::deferred;
    default:
        return DestroyStart::closed;
    }
}

CallbackScope::CallbackScope(Handle& handle, PTP_CALLBACK_INSTANCE instance) noexcept : handle_(&handle), instance_(instance), outer_(tls_scope)
{
    tls_scope = this;
}

CallbackScope::~CallbackScope() { tls_scope = outer_; }

CloseWait::CloseWait(const Handle& target) noexcept
{
    CallbackScope* scope = tls_scope;
    // Not in a callback, or in one that no close waits for any more: nothing to add.
    if (scope == nullptr || scope->instance_ == nullptr)
        return;
    // From the target's own callback the wait would include the caller; from another handle's,
    // the caller stays a callback that closes of that handle wait for, unless the target's
    // callbacks already wait (through other closes) for that handle: then whoever closes the
    // cycle steps out of it.
    if (scope->handle_ != &target && edge_.add(scope->handle_, &target))
        return;
    os().DisassociateCurrentThreadFromCallback(scope->instance_);
    scope->instance_ = nullptr;
}

}  // namespace asock::detail
