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
#include <new>

#include "asock/async_socket.h"
#include "detail/errno_win32.h"
#include "detail/handle_win32.h"
#include "detail/platform.h"
#include "detail/socket_win32.h"
#include "detail/win32_api.h"

namespace asock::detail {

// A socket is its handle core: nothing more is kept per socket, the operations carry the rest.
struct Socket : Handle
{
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
struct IoContext
{
    OVERLAPPED overlapped;
    IoType type;
    uint32_t total_bytes;
    union
    {
        ON_ASYNC_SOCKET_SEND_COMPLETE on_send;
        ON_ASYNC_SOCKET_RECEIVE_COMPLETE on_receive;
    };
    void* callback_context;

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
    const IoType type = context->type;
    const uint32_t total = context->total_bytes;
    const auto on_send = context->on_send;
    const auto on_receive = context->on_receive;
    void* callback_context = context->callback_context;
    free_context(context);
    if (type == IoType::send)
        deliver_send(on_send, callback_context, io_result, number_of_bytes_transferred, total);
    else
        deliver_receive(on_receive, callback_context, io_result, number_of_bytes_transferred, total);
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

// The close's work once the socket is closing on this thread.
void close_now(Socket& socket) noexcept
{
    tear_down(socket);
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
    DWORD flags = 0;
    return start_io(socket, context, [&] {
        return os().WSARecv(socket.native, context->buffers(), buffer_count, nullptr, &flags, &context->overlapped, nullptr);
    });
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
