// async_socket on Windows, the seed's own design (async_socket_win32.md): WSASend/WSARecv
// with an OVERLAPPED per operation, completed through a threadpool I/O object on the
// engine's PTP_POOL. Every Windows call goes through the seam of detail/win32_api.h. Where
// this file adds to the seed's call sequence it says so; docs/requirements/
// async_socket_win32_notes.md lists those additions and the differences from Linux.
#include <winsock2.h>
#include <windows.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>

#include "asock/async_socket.h"
#include "asock/execution_engine_win32.h"
#include "detail/platform.h"
#include "detail/socket_win32.h"
#include "detail/win32_api.h"

namespace asock::detail {

enum class SocketState : uint8_t
{
    created,  // never opened: destroy closes the handle
    opening,
    open,
    closing,
    closed,  // the handle is closed; cannot re-open
};

struct Socket
{
    EXECUTION_ENGINE_HANDLE engine = nullptr;
    PTP_POOL pool = nullptr;
    SOCKET handle = INVALID_SOCKET;

    std::mutex mutex;  // guards state and api_calls
    std::condition_variable changed;
    SocketState state = SocketState::created;
    uint32_t api_calls = 0;  // sends and receives between their state check and their return

    TP_CALLBACK_ENVIRON environment{};
    PTP_IO io = nullptr;
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

// The threadpool callback running on this thread, if any.
struct RunningCallback
{
    PTP_CALLBACK_INSTANCE instance;  // nullptr once disassociated
    Socket* socket;
};
thread_local RunningCallback* tls_running_callback = nullptr;

// A close (or destroy) called from a callback of another socket: "the callback of `from` waits
// for the callbacks of `to`". Edges live on the waiting threads' stacks, in one list.
struct CloseEdge
{
    Socket* from;
    Socket* to;
    CloseEdge* next;
};
std::mutex close_graph_mutex;
CloseEdge* close_graph = nullptr;

void disassociate(RunningCallback& callback) noexcept
{
    if (callback.instance == nullptr)
        return;
    os().DisassociateCurrentThreadFromCallback(callback.instance);
    callback.instance = nullptr;
}

// Whether a chain of callbacks waiting in closes leads from `start` to `target`.
bool waits_reach(const Socket* start, const Socket* target) noexcept
{
    for (const CloseEdge* edge = close_graph; edge != nullptr; edge = edge->next)
        if (edge->from == start && (edge->to == target || waits_reach(edge->to, target)))
            return true;
    return false;
}

// Held by a close or destroy of `socket` while it may wait for the socket's callbacks (77_003).
// From the socket's own callback, that callback is disassociated at once: the wait would
// otherwise include the caller. From a callback of another socket S, the callback is left
// associated (a close of S elsewhere still waits for it, 01_040) unless the callbacks of this
// socket are, through a chain of such closes, waiting for S: then the chain is a deadlock,
// which disassociating breaks.
class CloseFromCallbackScope
{
public:
    explicit CloseFromCallbackScope(Socket& socket) noexcept
    {
        RunningCallback* callback = tls_running_callback;
        if (callback == nullptr || callback->instance == nullptr)
            return;
        if (callback->socket == &socket)
        {
            disassociate(*callback);
            return;
        }
        std::lock_guard<std::mutex> lock(close_graph_mutex);
        edge_ = CloseEdge{callback->socket, &socket, close_graph};
        close_graph = &edge_;
        registered_ = true;
        // Whoever adds the edge that closes a cycle breaks it: the waits into S end once S's
        // callback no longer counts as running.
        if (waits_reach(&socket, callback->socket))
            disassociate(*callback);
    }
    ~CloseFromCallbackScope()
    {
        if (!registered_)
            return;
        std::lock_guard<std::mutex> lock(close_graph_mutex);
        for (CloseEdge** link = &close_graph; *link != nullptr; link = &(*link)->next)
            if (*link == &edge_)
            {
                *link = edge_.next;
                break;
            }
    }
    CloseFromCallbackScope(const CloseFromCallbackScope&) = delete;
    CloseFromCallbackScope& operator=(const CloseFromCallbackScope&) = delete;

private:
    CloseEdge edge_{};
    bool registered_ = false;
};

// Frees what send/receive allocated for one operation.
void free_context(IoContext* context) noexcept
{
    if (context->overlapped.hEvent != nullptr)
        os().CloseHandle(context->overlapped.hEvent);
    context->~IoContext();
    os().free(context);
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
// user's callback runs, and the socket is not touched at all: the callback may destroy it.
VOID CALLBACK on_io_complete(PTP_CALLBACK_INSTANCE instance, PVOID socket, PVOID overlapped, ULONG io_result, ULONG_PTR number_of_bytes_transferred, PTP_IO)
{
    if (overlapped == nullptr)
        return;
    // Added to the seed: an operation of net_win32.cpp (ConnectEx) completes here too.
    if (reinterpret_cast<const ExternalIo*>(overlapped)->kind == kExternalIoKind)
    {
        auto* external = static_cast<ExternalIo*>(static_cast<void*>(static_cast<OVERLAPPED*>(overlapped)));
        RunningCallback running{instance, static_cast<Socket*>(socket)};
        tls_running_callback = &running;
        external->complete(*external, io_result, number_of_bytes_transferred);
        tls_running_callback = nullptr;
        return;
    }
    auto* context = CONTAINING_RECORD(static_cast<OVERLAPPED*>(overlapped), IoContext, overlapped);
    const IoType type = context->type;
    const uint32_t total = context->total_bytes;
    const auto on_send = context->on_send;
    const auto on_receive = context->on_receive;
    void* callback_context = context->callback_context;
    free_context(context);

    RunningCallback running{instance, static_cast<Socket*>(socket)};
    tls_running_callback = &running;
    if (type == IoType::send)
        deliver_send(on_send, callback_context, io_result, number_of_bytes_transferred, total);
    else
        deliver_receive(on_receive, callback_context, io_result, number_of_bytes_transferred, total);
    tls_running_callback = nullptr;
}

// A send or receive between its state check and its return: close waits for these.
class ApiCall
{
public:
    explicit ApiCall(Socket& socket) noexcept : socket_(socket)
    {
        std::lock_guard<std::mutex> lock(socket.mutex);
        entered_ = socket.state == SocketState::open;
        if (entered_)
            ++socket.api_calls;
    }
    ~ApiCall()
    {
        if (!entered_)
            return;
        std::lock_guard<std::mutex> lock(socket_.mutex);
        if (--socket_.api_calls == 0)
            socket_.changed.notify_all();
    }
    ApiCall(const ApiCall&) = delete;
    ApiCall& operator=(const ApiCall&) = delete;

    bool socket_open() const noexcept { return entered_; }

private:
    Socket& socket_;
    bool entered_ = false;
};

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

// Starts the overlapped call (WSASend or WSARecv, through start). Returns 0, or the Winsock
// error after the threadpool I/O was cancelled and the context freed.
template <typename Start>
int start_io(Socket& socket, IoContext* context, Start start) noexcept
{
    os().StartThreadpoolIo(socket.io);
    if (start() == 0)
        return 0;
    const int error = os().WSAGetLastError();
    if (error == WSA_IO_PENDING)
        return 0;
    os().CancelThreadpoolIo(socket.io);
    free_context(context);
    return error;
}

}  // namespace

Socket* socket_create(EXECUTION_ENGINE_HANDLE execution_engine, SOCKET_HANDLE socket_handle) noexcept
{
    void* memory = os().malloc(sizeof(Socket));
    if (memory == nullptr)
        return nullptr;
    auto* socket = new (memory) Socket();
    socket->engine = execution_engine;
    socket->handle = reinterpret_cast<SOCKET>(socket_handle);
    execution_engine_inc_ref(execution_engine);
    socket->pool = execution_engine_win32_get_threadpool(execution_engine);
    return socket;
}

void socket_close(Socket& socket) noexcept
{
    {
        std::lock_guard<std::mutex> lock(socket.mutex);
        if (socket.state != SocketState::open)
            return;
        socket.state = SocketState::closing;
    }
    CloseFromCallbackScope from_callback(socket);
    {
        // Before closesocket, not after: a send still inside WSASend must not find its handle
        // closed (and perhaps already reused by another socket).
        std::unique_lock<std::mutex> lock(socket.mutex);
        socket.changed.wait(lock, [&socket] { return socket.api_calls == 0; });
    }
    // Added to the seed: closesocket alone leaves an overlapped send that cannot finish
    // pending forever under Wine; cancelling first completes it (harmless on Windows).
    os().CancelIoEx(reinterpret_cast<HANDLE>(socket.handle), nullptr);
    os().closesocket(socket.handle);
    os().WaitForThreadpoolIoCallbacks(socket.io, FALSE);
    os().CloseThreadpoolIo(socket.io);
    socket.io = nullptr;
    os().DestroyThreadpoolEnvironment(&socket.environment);
    std::lock_guard<std::mutex> lock(socket.mutex);
    socket.state = SocketState::closed;
    socket.changed.notify_all();
}

void socket_destroy(Socket& socket) noexcept
{
    bool never_opened;
    {
        // Waiting for a close under way waits for the socket's callbacks too.
        CloseFromCallbackScope from_callback(socket);
        std::unique_lock<std::mutex> lock(socket.mutex);
        socket.changed.wait(lock, [&socket] { return socket.state != SocketState::opening && socket.state != SocketState::closing; });
        never_opened = socket.state == SocketState::created;
    }
    if (never_opened)
        os().closesocket(socket.handle);
    else
        socket_close(socket);  // nothing to do when already closed
    EXECUTION_ENGINE_HANDLE engine = socket.engine;
    socket.~Socket();
    os().free(&socket);
    execution_engine_dec_ref(engine);
}

int socket_open(Socket& socket, ON_ASYNC_SOCKET_OPEN_COMPLETE on_open_complete, void* on_open_complete_context) noexcept
{
    {
        std::lock_guard<std::mutex> lock(socket.mutex);
        if (socket.state != SocketState::created)
            return socket.state == SocketState::closed ? WSAENOTSOCK : WSAEALREADY;
        socket.state = SocketState::opening;
    }
    os().InitializeThreadpoolEnvironment(&socket.environment);
    os().SetThreadpoolCallbackPool(&socket.environment, socket.pool);
    socket.io = os().CreateThreadpoolIo(reinterpret_cast<HANDLE>(socket.handle), on_io_complete, &socket, &socket.environment);
    const bool opened = socket.io != nullptr;
    if (!opened)
        os().DestroyThreadpoolEnvironment(&socket.environment);
    {
        std::lock_guard<std::mutex> lock(socket.mutex);
        socket.state = opened ? SocketState::open : SocketState::created;
        socket.changed.notify_all();
    }
    if (!opened)
        return ERROR_OUTOFMEMORY;
    // As the seed says: the open completes inside this call.
    on_open_complete(on_open_complete_context, ASYNC_SOCKET_OPEN_OK);
    return 0;
}

ASYNC_SOCKET_SEND_SYNC_RESULT socket_send(Socket& socket, const ASYNC_SOCKET_BUFFER* payload, uint32_t buffer_count, ON_ASYNC_SOCKET_SEND_COMPLETE on_send_complete, void* on_send_complete_context) noexcept
{
    ApiCall call(socket);
    if (!call.socket_open())
        return ASYNC_SOCKET_SEND_SYNC_ABANDONED;
    IoContext* context = make_context(IoType::send, payload, buffer_count, on_send_complete_context);
    if (context == nullptr)
        return ASYNC_SOCKET_SEND_SYNC_ERROR;
    context->on_send = on_send_complete;
    const int error = start_io(socket, context, [&] {
        return os().WSASend(socket.handle, context->buffers(), buffer_count, nullptr, 0, &context->overlapped, nullptr);
    });
    if (error == 0)
        return ASYNC_SOCKET_SEND_SYNC_OK;
    return error == WSAECONNRESET ? ASYNC_SOCKET_SEND_SYNC_ABANDONED : ASYNC_SOCKET_SEND_SYNC_ERROR;
}

int socket_receive(Socket& socket, ASYNC_SOCKET_BUFFER* payload, uint32_t buffer_count, ON_ASYNC_SOCKET_RECEIVE_COMPLETE on_receive_complete, void* on_receive_complete_context) noexcept
{
    ApiCall call(socket);
    if (!call.socket_open())
        return WSAENOTCONN;
    IoContext* context = make_context(IoType::receive, payload, buffer_count, on_receive_complete_context);
    if (context == nullptr)
        return ERROR_OUTOFMEMORY;
    context->on_receive = on_receive_complete;
    DWORD flags = 0;
    return start_io(socket, context, [&] {
        return os().WSARecv(socket.handle, context->buffers(), buffer_count, nullptr, &flags, &context->overlapped, nullptr);
    });
}

SOCKET socket_native(Socket& socket) noexcept { return socket.handle; }

int socket_start_external(Socket& socket, ExternalIo& io, int (*start)(SOCKET handle, ExternalIo& io, void* argument) noexcept, void* argument) noexcept
{
    ApiCall call(socket);
    if (!call.socket_open())
        return WSAENOTCONN;
    os().StartThreadpoolIo(socket.io);
    const int error = start(socket.handle, io, argument);
    if (error == 0 || error == WSA_IO_PENDING)
        return 0;
    os().CancelThreadpoolIo(socket.io);
    return error;
}

uint64_t operation_memory(uint32_t buffer_count) noexcept
{
    return sizeof(IoContext) + static_cast<uint64_t>(buffer_count) * sizeof(WSABUF);
}

SOCKET_HANDLE invalid_socket_handle() noexcept { return reinterpret_cast<SOCKET_HANDLE>(INVALID_SOCKET); }

}  // namespace asock::detail
