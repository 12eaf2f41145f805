// async_socket on Windows, the seed's own design (async_socket_win32.md): WSASend/WSARecv
// with an OVERLAPPED per operation, completed through a threadpool I/O object on the
// engine's PTP_POOL. The socket's life, close and callback scope are the handle core's
// (detail/handle_win32.h), shared with the listener. Every Windows call goes through the seam
// of detail/win32_api.h. Where this file adds to the seed's call sequence it says so;
// docs/requirements/async_socket_win32_notes.md lists those additions and the differences
// from Linux.
#include <winsock2.h>
#include <windows.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <atomic>
#include <new>

#include "asock/async_socket.h"
#include "asock/async_socket_deadline.h"
#include "detail/errno_win32.h"
#include "detail/handle_win32.h"
#include "detail/platform.h"
#include "detail/socket_win32.h"
#include "detail/win32_api.h"

namespace asock::detail {

namespace {
struct IoContext;
}  // namespace

// A socket is its handle core, plus what cancelling receives needs: the receives started and not
// completed yet, and one threadpool timer for the deadlines of timed receives (made at the
// first one, closed by the close). Guarded by the core's mutex.
struct Socket : Handle
{
    IoContext* receives = nullptr;
    PTP_TIMER receive_deadline = nullptr;
    int64_t deadline_due = INT64_MAX;  // when receive_deadline is set to expire (clock ticks)
};

namespace {

enum class IoType : uint8_t
{
    send,
    receive,
    external = kExternalIoKind,  // an ExternalIo (detail/socket_win32.h): ConnectEx
};

// The context of one send or receive: the OVERLAPPED the completion comes back with, the
// callback, and the WSABUF array, which follows the structure in the same allocation.
//
// A receive is also linked into its socket's list (prev, next, linked, under the socket's
// mutex) from before WSARecv until its completion, so that a cancel or a deadline can find it.
// CancelIoEx of an OVERLAPPED that WSARecv has not taken yet finds nothing: a cancel or a
// deadline that comes first only marks it (cancel_requested, timed_out), and the call that
// started it cancels it once WSARecv returned (issued). The starting call and the completion
// both hold the context then (references): the completion may run before the call returns.
struct IoContext
{
    OVERLAPPED overlapped;
    IoType type;
    bool timed;             // async_socket_receive_timed_async
    bool linked;            // in the socket's list of receives
    bool issued;            // WSARecv returned: CancelIoEx can find it
    bool cancel_requested;  // async_socket_cancel_receives asked for it
    bool timed_out;         // its deadline passed
    std::atomic<uint8_t> references;
    uint32_t total_bytes;
    union
    {
        ON_ASYNC_SOCKET_SEND_COMPLETE on_send;
        ON_ASYNC_SOCKET_RECEIVE_COMPLETE on_receive;
        ON_ASYNC_SOCKET_RECEIVE_TIMED_COMPLETE on_receive_timed;
    };
    void* callback_context;
    int64_t due;  // timed receives with a deadline: when (clock ticks); else INT64_MAX
    IoContext* prev;
    IoContext* next;

    WSABUF* buffers() noexcept { return reinterpret_cast<WSABUF*>(this + 1); }
};
static_assert(alignof(WSABUF) <= alignof(IoContext));
static_assert(offsetof(IoContext, type) == sizeof(OVERLAPPED) && offsetof(ExternalIo, kind) == sizeof(OVERLAPPED));

// Frees what send/receive allocated for one operation.
void free_context(IoContext* context) noexcept
{
    if (context->overlapped.hEvent != nullptr)
        os().CloseHandle(context->overlapped.hEvent);
    context->~IoContext();
    os().free(context);
}

void free_socket(Handle& core) noexcept
{
    auto* socket = static_cast<Socket*>(&core);
    socket->~Socket();
    os().free(socket);
}

void deliver_send(ON_ASYNC_SOCKET_SEND_COMPLETE callback, void* context, ULONG io_result, ULONG_PTR bytes, uint32_t total) noexcept
{
    ASYNC_SOCKET_SEND_RESULT result = ASYNC_SOCKET_SEND_ERROR;
    if (io_result == NO_ERROR && bytes == total)
        result = ASYNC_SOCKET_SEND_OK;
    callback(context, result);
}

void deliver_receive(ON_ASYNC_SOCKET_RECEIVE_COMPLETE callback, void* context, ULONG io_result, ULONG_PTR bytes, uint32_t total) noexcept
{
    if (io_result == NO_ERROR)
    {
        if (bytes > total)
            callback(context, ASYNC_SOCKET_RECEIVE_ERROR, static_cast<uint32_t>(bytes));
        else if (bytes == 0)
            callback(context, ASYNC_SOCKET_RECEIVE_ABANDONED, 0);  // the peer closed
        else
            callback(context, ASYNC_SOCKET_RECEIVE_OK, static_cast<uint32_t>(bytes));
        return;
    }
    if (io_result == ERROR_NETNAME_DELETED || io_result == ERROR_CONNECTION_ABORTED)
        callback(context, ASYNC_SOCKET_RECEIVE_ABANDONED, 0);
    else
        callback(context, ASYNC_SOCKET_RECEIVE_ERROR, 0);
}

// Drops one of the two references of a receive's context (the starting call's, the
// completion's); the last frees it.
void release_context(IoContext* context) noexcept
{
    if (context->references.fetch_sub(1, std::memory_order_acq_rel) == 1)
        free_context(context);
}

// Called with the socket's mutex held.
void link_receive(Socket& socket, IoContext& context) noexcept
{
    context.prev = nullptr;
    context.next = socket.receives;
    if (context.next != nullptr)
        context.next->prev = &context;
    socket.receives = &context;
    context.linked = true;
}

// Called with the socket's mutex held.
void unlink_receive(Socket& socket, IoContext& context) noexcept
{
    (context.prev != nullptr ? context.prev->next : socket.receives) = context.next;
    if (context.next != nullptr)
        context.next->prev = context.prev;
    context.prev = context.next = nullptr;
    context.linked = false;
}

// Called with the socket's mutex held: ends a receive early, now if WSARecv has it, else as
// soon as it does (the starting call looks at the marks).
void cancel_receive_locked(Socket& socket, IoContext& context) noexcept
{
    if (context.issued)
        os().CancelIoEx(reinterpret_cast<HANDLE>(socket.native), &context.overlapped);
}

// How a receive ended, as its completion saw it under the socket's mutex.
struct ReceiveEnd
{
    bool closing;  // the socket was closing: the close cancelled it
    bool timed_out;
    bool cancel_requested;
};

// A completion that carries bytes is OK whatever cancelled it meanwhile: no data is lost.
bool got_bytes(ULONG_PTR bytes, uint32_t total) noexcept { return bytes > 0 && bytes <= total; }

void deliver_receive_timed(ON_ASYNC_SOCKET_RECEIVE_TIMED_COMPLETE callback, void* context, ULONG io_result, ULONG_PTR bytes, uint32_t total, ReceiveEnd end) noexcept
{
    if (got_bytes(bytes, total))
        callback(context, ASYNC_SOCKET_RECEIVE_TIMED_OK, static_cast<uint32_t>(bytes));
    else if (io_result == NO_ERROR && bytes > total)
        callback(context, ASYNC_SOCKET_RECEIVE_TIMED_ERROR, 0);
    else if (io_result == NO_ERROR || end.closing)
        callback(context, ASYNC_SOCKET_RECEIVE_TIMED_ABANDONED, 0);  // the peer closed, or the socket
    else if (end.timed_out)
        callback(context, ASYNC_SOCKET_RECEIVE_TIMED_TIMEOUT, 0);
    else if (end.cancel_requested)
        callback(context, ASYNC_SOCKET_RECEIVE_TIMED_CANCELLED, 0);
    else
        callback(context, ASYNC_SOCKET_RECEIVE_TIMED_ERROR, 0);
}

// A receive's completion: out of the socket's list, then to its callback.
void complete_receive(Socket& socket, IoContext* context, ULONG io_result, ULONG_PTR bytes) noexcept
{
    ReceiveEnd end;
    {
        std::lock_guard<std::mutex> lock(socket.mutex);
        unlink_receive(socket, *context);
        end = {socket.state != HandleState::open, context->timed_out, context->cancel_requested};
    }
    const bool timed = context->timed;
    const uint32_t total = context->total_bytes;
    const auto on_receive = context->on_receive;
    const auto on_receive_timed = context->on_receive_timed;
    void* callback_context = context->callback_context;
    release_context(context);
    if (timed)
        deliver_receive_timed(on_receive_timed, callback_context, io_result, bytes, total, end);
    else if (end.cancel_requested && !end.closing && io_result != NO_ERROR)
        deliver_receive(on_receive, callback_context, got_bytes(bytes, total) ? NO_ERROR : ERROR_CONNECTION_ABORTED, bytes, total);  // its enum has no CANCELLED: ABANDONED
    else
        deliver_receive(on_receive, callback_context, io_result, bytes, total);
}

// The threadpool I/O callback of every socket. The operation's context is freed before the
// user's callback runs, and the socket is not touched after it: the callback may destroy it.
VOID CALLBACK on_io_complete(PTP_CALLBACK_INSTANCE instance, PVOID socket, PVOID overlapped, ULONG io_result, ULONG_PTR number_of_bytes_transferred, PTP_IO)
{
    if (overlapped == nullptr)
        return;
    CallbackScope scope(*static_cast<Socket*>(socket), instance);
    // Added to the seed: an operation of net_win32.cpp (ConnectEx) completes here too.
    if (reinterpret_cast<const ExternalIo*>(overlapped)->kind == kExternalIoKind)
    {
        auto* external = static_cast<ExternalIo*>(static_cast<void*>(static_cast<OVERLAPPED*>(overlapped)));
        external->complete(*external, io_result, number_of_bytes_transferred);
        return;
    }
    auto* context = CONTAINING_RECORD(static_cast<OVERLAPPED*>(overlapped), IoContext, overlapped);
    if (context->type == IoType::receive)
    {
        complete_receive(*static_cast<Socket*>(socket), context, io_result, number_of_bytes_transferred);
        return;
    }
    const uint32_t total = context->total_bytes;
    const auto on_send = context->on_send;
    void* callback_context = context->callback_context;
    free_context(context);
    deliver_send(on_send, callback_context, io_result, number_of_bytes_transferred, total);
}

// The context of a send or receive with its WSABUF array and its event; nullptr on failure.
IoContext* make_context(IoType type, const ASYNC_SOCKET_BUFFER* buffers, uint32_t buffer_count, void* callback_context) noexcept
{
    void* memory = os().malloc(static_cast<size_t>(operation_memory(buffer_count)));
    if (memory == nullptr)
        return nullptr;
    auto* context = new (memory) IoContext();
    context->type = type;
    context->callback_context = callback_context;
    context->references.store(2, std::memory_order_relaxed);  // receives: the call's and the completion's
    context->due = INT64_MAX;
    uint32_t total = 0;
    for (uint32_t i = 0; i < buffer_count; ++i)
    {
        context->buffers()[i].buf = static_cast<CHAR*>(buffers[i].buffer);
        context->buffers()[i].len = buffers[i].length;
        total += buffers[i].length;
    }
    context->total_bytes = total;
    context->overlapped.hEvent = os().CreateEventW(nullptr, FALSE, FALSE, nullptr);
    if (context->overlapped.hEvent == nullptr)
    {
        free_context(context);
        return nullptr;
    }
    return context;
}

// Starts the overlapped call (WSASend or WSARecv, through start). Returns 0 when its
// completion will come, else the errno value of the failure, after the threadpool I/O was
// cancelled and the context freed: no callback will come then.
template <typename Start>
int start_io(Socket& socket, IoContext* context, Start start) noexcept
{
    os().StartThreadpoolIo(socket.io);
    const int error = error_of_wsa_start(start());
    if (error == 0)
        return 0;
    os().CancelThreadpoolIo(socket.io);
    free_context(context);
    return error;
}

// ---- Receive deadlines -------------------------------------------------------------------

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

// Called with the mutex held: sets the socket's deadline timer for `due` (clock ticks), rounded
// up to 100 ns (the callback sets it again when the threadpool's clock ran ahead of ours).
void arm_deadline_locked(Socket& socket, int64_t due) noexcept
{
    const int64_t frequency = ticks_per_second();
    int64_t ticks = due - now_ticks();
    if (ticks < 0)
        ticks = 0;
    int64_t hundreds_of_ns = ticks / frequency * 10000000 + (ticks % frequency * 10000000 + frequency - 1) / frequency;
    if (hundreds_of_ns < 1)
        hundreds_of_ns = 1;
    ULARGE_INTEGER relative;
    relative.QuadPart = static_cast<ULONGLONG>(-hundreds_of_ns);
    FILETIME due_time;
    due_time.dwLowDateTime = relative.LowPart;
    due_time.dwHighDateTime = relative.HighPart;
    os().SetThreadpoolTimer(socket.receive_deadline, &due_time, 0, 0);
    socket.deadline_due = due;
}

// The deadline timer's callback: every receive whose deadline passed is cancelled (it completes
// TIMEOUT), and the timer is set for the next deadline. Nothing after a close began: the close
// cancels everything anyway, and CancelIoEx must not meet a closed handle.
VOID CALLBACK on_receive_deadline(PTP_CALLBACK_INSTANCE, PVOID context, PTP_TIMER)
{
    Socket& socket = *static_cast<Socket*>(context);
    std::lock_guard<std::mutex> lock(socket.mutex);
    socket.deadline_due = INT64_MAX;
    if (socket.state != HandleState::open)
        return;
    const int64_t now = now_ticks();
    int64_t next = INT64_MAX;
    for (IoContext* receive = socket.receives; receive != nullptr; receive = receive->next)
    {
        if (receive->timed_out || receive->cancel_requested)
            continue;
        if (receive->due > now)
        {
            next = receive->due < next ? receive->due : next;
            continue;
        }
        receive->timed_out = true;
        cancel_receive_locked(socket, *receive);
    }
    if (next != INT64_MAX)
        arm_deadline_locked(socket, next);
}

// The deadline timer, made by the first timed receive. False when it cannot be made.
bool ensure_deadline_timer(Socket& socket) noexcept
{
    std::lock_guard<std::mutex> lock(socket.mutex);
    if (socket.receive_deadline == nullptr)
        socket.receive_deadline = os().CreateThreadpoolTimer(on_receive_deadline, &socket, &socket.environment);
    return socket.receive_deadline != nullptr;
}

// After the close's tear-down (no API call runs, the handle is closed, the state is not open):
// the deadline timer goes, once its callback is not running.
void close_deadline_timer(Socket& socket) noexcept
{
    if (socket.receive_deadline == nullptr)
        return;
    os().SetThreadpoolTimer(socket.receive_deadline, nullptr, 0, 0);
    os().WaitForThreadpoolTimerCallbacks(socket.receive_deadline, TRUE);
    os().CloseThreadpoolTimer(socket.receive_deadline);
    socket.receive_deadline = nullptr;
}

// Starts a receive (plain or timed) whose context is made: linked, WSARecv, then what a cancel
// or the deadline asked for meanwhile. Returns 0 when its completion will come, else the errno
// value (the context freed, no callback).
int start_receive(Socket& socket, IoContext* context, uint32_t buffer_count) noexcept
{
    {
        std::lock_guard<std::mutex> lock(socket.mutex);
        link_receive(socket, *context);
    }
    DWORD flags = 0;
    os().StartThreadpoolIo(socket.io);
    const int error = error_of_wsa_start(os().WSARecv(socket.native, context->buffers(), buffer_count, nullptr, &flags, &context->overlapped, nullptr));
    if (error != 0)
    {
        os().CancelThreadpoolIo(socket.io);
        {
            std::lock_guard<std::mutex> lock(socket.mutex);
            unlink_receive(socket, *context);
        }
        free_context(context);
        return error;
    }
    {
        std::lock_guard<std::mutex> lock(socket.mutex);
        context->issued = true;
        if (context->linked && (context->cancel_requested || context->timed_out))
            cancel_receive_locked(socket, *context);
        else if (context->linked && context->due < socket.deadline_due)
            arm_deadline_locked(socket, context->due);
    }
    release_context(context);
    return 0;
}

// The close's work once the socket is closing on this thread.
void close_now(Socket& socket) noexcept
{
    tear_down(socket);
    close_deadline_timer(socket);
    if (end_close(socket))
        handle_release(socket);  // destroyed meanwhile by a callback this close ran
}

}  // namespace

Socket* socket_create(EXECUTION_ENGINE_HANDLE execution_engine, SOCKET_HANDLE socket_handle) noexcept
{
    void* memory = os().malloc(sizeof(Socket));
    if (memory == nullptr)
        return nullptr;
    auto* socket = new (memory) Socket();
    // The pool is obtained here, at create (seed 01_035), and used by every open.
    handle_init(*socket, execution_engine, reinterpret_cast<SOCKET>(socket_handle), free_socket);
    return socket;
}

void socket_close(Socket& socket) noexcept
{
    // Not open (01_022), or a close already under way, which this call does not wait for.
    if (begin_close(socket) != CloseStart::run)
        return;
    close_now(socket);
}

void socket_destroy(Socket& socket) noexcept
{
    switch (begin_destroy(socket))
    {
    case DestroyStart::deferred:
        return;  // the close under way further up this thread's stack frees the socket
    case DestroyStart::never_opened:
        // Only a socket never opened: an opened one had its handle closed by its close, and
        // closing the value again could close an unrelated handle that reused it (77_005).
        os().closesocket(socket.native);
        break;
    case DestroyStart::run_close:
        tear_down(socket);
        close_deadline_timer(socket);
        end_close(socket);  // a destroy from a callback it ran changes nothing: this is one
        break;
    case DestroyStart::closed:
        break;
    }
    handle_release(socket);
}

int socket_open(Socket& socket, ON_ASYNC_SOCKET_OPEN_COMPLETE on_open_complete, void* on_open_complete_context) noexcept
{
    Handle& core = socket;
    {
        std::lock_guard<std::mutex> lock(core.mutex);
        if (core.state == HandleState::closed)
            return EBADF;  // its handle is closed: nothing to re-open (42_008)
        if (core.state != HandleState::created)
            return EALREADY;  // open, opening, or closing (01_015)
        core.state = HandleState::opening;
    }
    const bool opened = handle_attach_io(core, on_io_complete, &socket);
    {
        std::lock_guard<std::mutex> lock(core.mutex);
        core.state = opened ? HandleState::open : HandleState::created;
        core.changed.notify_all();
    }
    if (!opened)
        return ENOMEM;
    // As the seed says: the open completes inside this call.
    on_open_complete(on_open_complete_context, ASYNC_SOCKET_OPEN_OK);
    return 0;
}

ASYNC_SOCKET_SEND_SYNC_RESULT socket_send(Socket& socket, const ASYNC_SOCKET_BUFFER* payload, uint32_t buffer_count, ON_ASYNC_SOCKET_SEND_COMPLETE on_send_complete, void* on_send_complete_context) noexcept
{
    ApiCall call(socket);
    if (!call.handle_open())
        return ASYNC_SOCKET_SEND_SYNC_ABANDONED;
    IoContext* context = make_context(IoType::send, payload, buffer_count, on_send_complete_context);
    if (context == nullptr)
        return ASYNC_SOCKET_SEND_SYNC_ERROR;
    context->on_send = on_send_complete;
    const int error = start_io(socket, context, [&] {
        return os().WSASend(socket.native, context->buffers(), buffer_count, nullptr, 0, &context->overlapped, nullptr);
    });
    if (error == 0)
        return ASYNC_SOCKET_SEND_SYNC_OK;
    return error == ECONNRESET ? ASYNC_SOCKET_SEND_SYNC_ABANDONED : ASYNC_SOCKET_SEND_SYNC_ERROR;  // 42_002, 01_106
}

int socket_receive(Socket& socket, ASYNC_SOCKET_BUFFER* payload, uint32_t buffer_count, ON_ASYNC_SOCKET_RECEIVE_COMPLETE on_receive_complete, void* on_receive_complete_context) noexcept
{
    ApiCall call(socket);
    if (!call.handle_open())
        return ENOTCONN;
    IoContext* context = make_context(IoType::receive, payload, buffer_count, on_receive_complete_context);
    if (context == nullptr)
        return ENOMEM;
    context->on_receive = on_receive_complete;
    return start_receive(socket, context, buffer_count);
}

int socket_receive_timed(Socket& socket, ASYNC_SOCKET_BUFFER* payload, uint32_t buffer_count, uint32_t timeout_ms, ON_ASYNC_SOCKET_RECEIVE_TIMED_COMPLETE on_receive_complete, void* on_receive_complete_context) noexcept
{
    const int64_t started = now_ticks();
    ApiCall call(socket);
    if (!call.handle_open())
        return ENOTCONN;
    if (timeout_ms != 0 && !ensure_deadline_timer(socket))
        return ENOMEM;
    IoContext* context = make_context(IoType::receive, payload, buffer_count, on_receive_complete_context);
    if (context == nullptr)
        return ENOMEM;
    context->timed = true;
    context->on_receive_timed = on_receive_complete;
    if (timeout_ms != 0)
    {
        const int64_t frequency = ticks_per_second();
        context->due = started + static_cast<int64_t>(timeout_ms / 1000) * frequency + (static_cast<int64_t>(timeout_ms % 1000) * frequency + 999) / 1000;
    }
    return start_receive(socket, context, buffer_count);
}

int socket_cancel_receives(Socket& socket) noexcept
{
    ApiCall call(socket);
    if (!call.handle_open())
        return EBADF;
    std::lock_guard<std::mutex> lock(socket.mutex);
    for (IoContext* receive = socket.receives; receive != nullptr; receive = receive->next)
    {
        if (receive->cancel_requested || receive->timed_out)
            continue;
        receive->cancel_requested = true;
        cancel_receive_locked(socket, *receive);
    }
    return 0;
}

SOCKET socket_native(Socket& socket) noexcept { return socket.native; }

int socket_start_external(Socket& socket, ExternalIo& io, bool (*start)(SOCKET handle, ExternalIo& io, void* argument) noexcept, void* argument) noexcept
{
    ApiCall call(socket);
    if (!call.handle_open())
        return ENOTCONN;
    os().StartThreadpoolIo(socket.io);
    const int error = error_of_overlapped_start(start(socket.native, io, argument));
    if (error != 0)
        os().CancelThreadpoolIo(socket.io);
    return error;
}

uint64_t operation_memory(uint32_t buffer_count) noexcept
{
    return sizeof(IoContext) + static_cast<uint64_t>(buffer_count) * sizeof(WSABUF);
}

SOCKET_HANDLE invalid_socket_handle() noexcept { return reinterpret_cast<SOCKET_HANDLE>(INVALID_SOCKET); }

}  // namespace asock::detail
