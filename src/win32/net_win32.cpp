// Listeners and connects (async_socket_listener.h) on Windows, in the seed's style: overlapped
// AcceptEx and ConnectEx completed through threadpool I/O on the engine's PTP_POOL. Every
// Windows call goes through the seam of detail/win32_api.h. The differences from Linux are in
// docs/requirements/async_socket_win32_notes.md.
//
// Listener: one threadpool I/O on the listening socket; every accept is an AcceptEx with a
// socket made for it. Completions queue up in `ready`; one threadpool thread at a time (the
// "deliverer") hands them to the callbacks, so that callbacks run one at a time per listener
// and no threadpool callback ever blocks on another. Close cancels and closes the listening
// socket, waits for the threadpool callbacks (a callback of this listener calling close is
// disassociated first), then completes every accept not delivered yet with ABANDONED.
//
// Connect: the socket is created, bound to the wildcard address and made an open
// ASYNC_SOCKET_HANDLE first; ConnectEx then runs on the socket's own threadpool I/O
// (detail/socket_win32.h), and a threadpool timer cancels it (CancelIoEx) at the timeout.
#include <winsock2.h>
#include <ws2tcpip.h>
#include <mswsock.h>
#include <windows.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <new>

#include "asock/async_socket.h"
#include "asock/execution_engine_win32.h"
#include "detail/platform_net.h"
#include "detail/socket_win32.h"
#include "detail/win32_api.h"

namespace asock::detail {

namespace {

// The errno value (as Linux reports it) for a Winsock error or an I/O completion status.
int errno_from(unsigned long error) noexcept
{
    switch (error)
    {
    case 0:
        return 0;
    case WSAECONNREFUSED:
    case ERROR_CONNECTION_REFUSED:
        return ECONNREFUSED;
    case WSAETIMEDOUT:
    case ERROR_SEM_TIMEOUT:
        return ETIMEDOUT;
    case WSAENETUNREACH:
    case ERROR_NETWORK_UNREACHABLE:
        return ENETUNREACH;
    case WSAEHOSTUNREACH:
    case ERROR_HOST_UNREACHABLE:
        return EHOSTUNREACH;
    case WSAEADDRINUSE:
    case ERROR_ADDRESS_ALREADY_ASSOCIATED:
        return EADDRINUSE;
    case WSAEADDRNOTAVAIL:
        return EADDRNOTAVAIL;
    case WSAEAFNOSUPPORT:
    case WSAEPFNOSUPPORT:
    case WSAEPROTONOSUPPORT:
        return EAFNOSUPPORT;
    case WSAEACCES:
    case ERROR_ACCESS_DENIED:
        return EACCES;
    case WSAEMFILE:
    case ERROR_TOO_MANY_OPEN_FILES:
        return EMFILE;
    case WSAENOBUFS:
        return ENOBUFS;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
        return ENOMEM;
    case WSAEINVAL:
        return EINVAL;
    case WSAECONNRESET:
    case ERROR_NETNAME_DELETED:
        return ECONNRESET;
    case WSAECONNABORTED:
    case ERROR_CONNECTION_ABORTED:
        return ECONNABORTED;
    case ERROR_OPERATION_ABORTED:
        return ECANCELED;
    case WSAENETDOWN:
        return ENETDOWN;
    default:
        return EIO;
    }
}

// Winsock is started once, by the first listener or connect, and never stopped.
int ensure_winsock() noexcept
{
    static const int result = [] {
        WSADATA data;
        return os().WSAStartup(MAKEWORD(2, 2), &data);
    }();
    return result;
}

// A numeric IPv4 or IPv6 address and port; false when the text is neither.
bool parse_address(const char* text, uint16_t port, sockaddr_storage& address, int& length) noexcept
{
    std::memset(&address, 0, sizeof(address));
    auto& v4 = reinterpret_cast<sockaddr_in&>(address);
    if (os().inet_pton(AF_INET, text, &v4.sin_addr) == 1)
    {
        v4.sin_family = AF_INET;
        v4.sin_port = htons(port);
        length = sizeof(sockaddr_in);
        return true;
    }
    auto& v6 = reinterpret_cast<sockaddr_in6&>(address);
    if (os().inet_pton(AF_INET6, text, &v6.sin6_addr) == 1)
    {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons(port);
        length = sizeof(sockaddr_in6);
        return true;
    }
    return false;
}

SOCKET make_socket(int family) noexcept { return os().WSASocketW(family, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED); }

// Loads a Winsock extension function (AcceptEx, ConnectEx); nullptr on failure.
void* extension_function(SOCKET socket, GUID guid) noexcept
{
    void* function = nullptr;
    DWORD bytes = 0;
    if (os().WSAIoctl(socket, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, sizeof(guid), &function, sizeof(function), &bytes, nullptr, nullptr) != 0)
        return nullptr;
    return function;
}

int set_nodelay(SOCKET socket) noexcept
{
    const BOOL one = TRUE;
    return os().setsockopt(socket, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&one), sizeof(one)) == 0 ? 0 : os().WSAGetLastError();
}

void ignore_open(void*, ASYNC_SOCKET_OPEN_RESULT) noexcept {}

// Makes a connected Winsock socket an open ASYNC_SOCKET_HANDLE of the engine (the socket is
// the handle's from then on, also on failure). Returns 0 or an errno value.
int open_socket(EXECUTION_ENGINE_HANDLE engine, SOCKET native, ASYNC_SOCKET_HANDLE& socket) noexcept
{
    socket = async_socket_create(engine, reinterpret_cast<SOCKET_HANDLE>(native));
    if (socket == nullptr)
    {
        os().closesocket(native);
        return ENOMEM;
    }
    if (async_socket_open_async(socket, ignore_open, nullptr) != 0)
    {
        async_socket_destroy(socket);
        socket = nullptr;
        return ENOMEM;
    }
    return 0;
}

}  // namespace

// ---- Listener ---------------------------------------------------------------------------

enum class ListenerState : uint8_t
{
    open,
    closing,
    closed,
};

struct AcceptOp;

struct Listener
{
    EXECUTION_ENGINE_HANDLE engine = nullptr;
    SOCKET handle = INVALID_SOCKET;
    int family = AF_INET;
    uint16_t port = 0;
    LPFN_ACCEPTEX accept_ex = nullptr;
    TP_CALLBACK_ENVIRON environment{};
    PTP_IO io = nullptr;

    std::mutex mutex;  // guards what follows
    std::condition_variable changed;
    ListenerState state = ListenerState::open;
    bool torn_down = false;   // the listening socket and its threadpool I/O are gone
    bool delivering = false;  // a threadpool thread hands ready accepts to their callbacks
    uint32_t api_calls = 0;   // accepts between their state check and their return
    AcceptOp* ops = nullptr;  // every accept not delivered yet, in the order of the calls
    AcceptOp* ops_tail = nullptr;
    AcceptOp* ready = nullptr;  // the completed ones, in the order of completion
    AcceptOp* ready_tail = nullptr;
};

struct AcceptOp
{
    OVERLAPPED overlapped{};
    SOCKET accepted = INVALID_SOCKET;
    ON_ASYNC_SOCKET_ACCEPT_COMPLETE callback = nullptr;
    void* context = nullptr;
    ASYNC_SOCKET_ACCEPT_RESULT result = ASYNC_SOCKET_ACCEPT_ERROR;
    ASYNC_SOCKET_HANDLE socket = nullptr;
    int error = 0;
    AcceptOp* prev = nullptr;
    AcceptOp* next = nullptr;
    AcceptOp* ready_next = nullptr;
    char addresses[2 * (sizeof(sockaddr_storage) + 16)];
};

namespace {

// The callback of a listener running on this thread, if any.
struct RunningListener
{
    PTP_CALLBACK_INSTANCE instance;  // nullptr once disassociated, or outside the threadpool
    Listener* listener;
    bool destroyed;   // the callback destroyed the listener: do not touch it any more
    bool abandoning;  // the callback of an ABANDONED completion, inside a close
};
thread_local RunningListener* tls_running_listener = nullptr;

void disassociate(RunningListener& running) noexcept
{
    if (running.instance == nullptr)
        return;
    os().DisassociateCurrentThreadFromCallback(running.instance);
    running.instance = nullptr;
}

// Called with the mutex held.
void unlink(Listener& listener, AcceptOp& op) noexcept
{
    (op.prev != nullptr ? op.prev->next : listener.ops) = op.next;
    (op.next != nullptr ? op.next->prev : listener.ops_tail) = op.prev;
    op.prev = op.next = nullptr;
}

void free_op(AcceptOp* op) noexcept
{
    op->~AcceptOp();
    os().free(op);
}

// Hands one accept to its callback, freeing it first.
void deliver(AcceptOp* op) noexcept
{
    const auto callback = op->callback;
    void* context = op->context;
    const ASYNC_SOCKET_ACCEPT_RESULT result = op->result;
    ASYNC_SOCKET_HANDLE socket = op->socket;
    const int error = op->error;
    free_op(op);
    callback(context, result, socket, error);
}

// Completes every accept not delivered yet with ABANDONED, one at a time (a callback may
// close again: it then carries on here). Returns false when a callback destroyed the listener
// (which the outermost close then frees).
bool abandon_all(Listener& listener, RunningListener& running) noexcept
{
    for (;;)
    {
        AcceptOp* op;
        {
            std::lock_guard<std::mutex> lock(listener.mutex);
            op = listener.ops;
            if (op == nullptr)
                return !running.destroyed;
            unlink(listener, *op);
        }
        if (op->socket != nullptr)
            async_socket_destroy(op->socket);
        else if (op->accepted != INVALID_SOCKET)
            os().closesocket(op->accepted);
        op->socket = nullptr;
        op->accepted = INVALID_SOCKET;
        op->result = ASYNC_SOCKET_ACCEPT_ABANDONED;
        op->error = 0;
        deliver(op);
    }
}

// Makes a finished AcceptEx a result: the new socket, open, or the error.
void prepare(Listener& listener, AcceptOp& op, ULONG io_result) noexcept
{
    int error = errno_from(io_result);
    if (error == 0)
    {
        const SOCKET listening = listener.handle;
        if (os().setsockopt(op.accepted, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, reinterpret_cast<const char*>(&listening), sizeof(listening)) != 0)
            error = errno_from(os().WSAGetLastError());
        else
            error = errno_from(set_nodelay(op.accepted));
    }
    if (error == 0)
    {
        const SOCKET accepted = op.accepted;
        op.accepted = INVALID_SOCKET;
        error = open_socket(listener.engine, accepted, op.socket);
    }
    if (error != 0)
    {
        if (op.accepted != INVALID_SOCKET)
            os().closesocket(op.accepted);
        op.accepted = INVALID_SOCKET;
        op.result = ASYNC_SOCKET_ACCEPT_ERROR;
        op.error = error;
        return;
    }
    op.result = ASYNC_SOCKET_ACCEPT_OK;
    op.error = 0;
}

// The threadpool I/O callback of every listener.
VOID CALLBACK on_accept_io(PTP_CALLBACK_INSTANCE instance, PVOID context, PVOID overlapped, ULONG io_result, ULONG_PTR, PTP_IO)
{
    if (overlapped == nullptr)
        return;
    Listener& listener = *static_cast<Listener*>(context);
    auto* op = CONTAINING_RECORD(static_cast<OVERLAPPED*>(overlapped), AcceptOp, overlapped);
    bool open;
    {
        std::lock_guard<std::mutex> lock(listener.mutex);
        open = listener.state == ListenerState::open;
    }
    if (open)
        prepare(listener, *op, io_result);
    std::unique_lock<std::mutex> lock(listener.mutex);
    (listener.ready_tail != nullptr ? listener.ready_tail->ready_next : listener.ready) = op;
    listener.ready_tail = op;
    if (listener.delivering)
        return;
    listener.delivering = true;
    RunningListener running{instance, &listener, false, false};
    tls_running_listener = &running;
    while (listener.state == ListenerState::open && listener.ready != nullptr)
    {
        AcceptOp* next = listener.ready;
        listener.ready = next->ready_next;
        if (listener.ready == nullptr)
            listener.ready_tail = nullptr;
        unlink(listener, *next);
        lock.unlock();
        deliver(next);
        if (running.destroyed)
        {
            tls_running_listener = nullptr;
            return;
        }
        lock.lock();
    }
    listener.delivering = false;
    listener.changed.notify_all();
    lock.unlock();
    tls_running_listener = nullptr;
}

// Binds and listens; returns 0 or an errno value.
int bind_and_listen(Listener& listener, const sockaddr_storage& address, int length, int32_t backlog) noexcept
{
    const BOOL one = TRUE;
    const auto* value = reinterpret_cast<const char*>(&one);
    // Windows' SO_REUSEADDR would let a second socket take the port; SO_EXCLUSIVEADDRUSE keeps
    // it ours (a port in TIME_WAIT can be bound again on Windows anyway).
    if (os().setsockopt(listener.handle, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, value, sizeof(one)) != 0)
        return errno_from(os().WSAGetLastError());
    if (address.ss_family == AF_INET6 && os().setsockopt(listener.handle, IPPROTO_IPV6, IPV6_V6ONLY, value, sizeof(one)) != 0)
        return errno_from(os().WSAGetLastError());
    if (os().bind(listener.handle, reinterpret_cast<const sockaddr*>(&address), length) != 0)
        return errno_from(os().WSAGetLastError());
    if (os().listen(listener.handle, backlog == 0 ? SOMAXCONN : backlog) != 0)
        return errno_from(os().WSAGetLastError());
    sockaddr_storage bound{};
    int bound_length = sizeof(bound);
    if (os().getsockname(listener.handle, reinterpret_cast<sockaddr*>(&bound), &bound_length) != 0)
        return errno_from(os().WSAGetLastError());
    listener.port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6&>(bound).sin6_port : reinterpret_cast<const sockaddr_in&>(bound).sin_port);
    return 0;
}

void free_listener(Listener* listener) noexcept
{
    listener->~Listener();
    os().free(listener);
}

// The close; returns false when a callback destroyed the listener meanwhile.
bool close_listener(Listener& listener) noexcept
{
    RunningListener* running = tls_running_listener;
    const bool own = running != nullptr && running->listener == &listener;
    {
        std::unique_lock<std::mutex> lock(listener.mutex);
        if (listener.state != ListenerState::open)
        {
            if (!own)
            {
                listener.changed.wait(lock, [&listener] { return listener.state == ListenerState::closed; });
                return true;
            }
            // A callback of the listener closing again: inside the close's own abandoning, carry
            // on with it; else the close under way finishes without waiting for this callback.
            const bool torn_down = listener.torn_down;
            lock.unlock();
            disassociate(*running);
            return torn_down ? abandon_all(listener, *running) : true;
        }
        listener.state = ListenerState::closing;
    }
    if (own)
        disassociate(*running);
    {
        std::unique_lock<std::mutex> lock(listener.mutex);
        listener.changed.wait(lock, [&listener] { return listener.api_calls == 0; });
    }
    // As async_socket_close: cancel before closesocket (pending AcceptEx calls complete under
    // Wine too), then wait for the completions.
    os().CancelIoEx(reinterpret_cast<HANDLE>(listener.handle), nullptr);
    os().closesocket(listener.handle);
    os().WaitForThreadpoolIoCallbacks(listener.io, FALSE);
    os().CloseThreadpoolIo(listener.io);
    listener.io = nullptr;
    os().DestroyThreadpoolEnvironment(&listener.environment);
    {
        std::lock_guard<std::mutex> lock(listener.mutex);
        listener.torn_down = true;
        listener.ready = listener.ready_tail = nullptr;  // every op is still in ops
    }
    RunningListener abandoning{nullptr, &listener, false, true};
    RunningListener* outer = tls_running_listener;
    tls_running_listener = &abandoning;
    const bool alive = abandon_all(listener, abandoning);
    tls_running_listener = outer;
    if (!alive)
    {
        // A callback destroyed the listener: the rest of the destroy happens here.
        if (outer != nullptr && outer->listener == &listener)
            outer->destroyed = true;
        EXECUTION_ENGINE_HANDLE engine = listener.engine;
        free_listener(&listener);
        execution_engine_dec_ref(engine);
        return false;
    }
    std::lock_guard<std::mutex> lock(listener.mutex);
    listener.state = ListenerState::closed;
    listener.changed.notify_all();
    return true;
}

}  // namespace

ASYNC_SOCKET_LISTENER_CREATE_RESULT listener_create(EXECUTION_ENGINE_HANDLE execution_engine, const char* address, uint16_t port, int32_t backlog, Listener*& listener, int& error) noexcept
{
    listener = nullptr;
    sockaddr_storage storage;
    int length = 0;
    if (!parse_address(address, port, storage, length))
    {
        error = EINVAL;
        return ASYNC_SOCKET_LISTENER_CREATE_INVALID_ARGUMENT;
    }
    if (ensure_winsock() != 0)
    {
        error = errno_from(static_cast<unsigned long>(ensure_winsock()));
        return ASYNC_SOCKET_LISTENER_CREATE_ERROR;
    }
    void* memory = os().malloc(sizeof(Listener));
    if (memory == nullptr)
    {
        error = ENOMEM;
        return ASYNC_SOCKET_LISTENER_CREATE_ERROR;
    }
    auto* created = new (memory) Listener();
    created->engine = execution_engine;
    created->family = storage.ss_family;
    created->handle = make_socket(created->family);
    if (created->handle == INVALID_SOCKET)
    {
        error = errno_from(os().WSAGetLastError());
        free_listener(created);
        return create_result_for(error);
    }
    error = bind_and_listen(*created, storage, length, backlog);
    if (error == 0)
    {
        created->accept_ex = reinterpret_cast<LPFN_ACCEPTEX>(extension_function(created->handle, WSAID_ACCEPTEX));
        if (created->accept_ex == nullptr)
            error = errno_from(os().WSAGetLastError());
    }
    if (error == 0)
    {
        os().InitializeThreadpoolEnvironment(&created->environment);
        os().SetThreadpoolCallbackPool(&created->environment, execution_engine_win32_get_threadpool(execution_engine));
        created->io = os().CreateThreadpoolIo(reinterpret_cast<HANDLE>(created->handle), on_accept_io, created, &created->environment);
        if (created->io == nullptr)
        {
            os().DestroyThreadpoolEnvironment(&created->environment);
            error = ENOMEM;
        }
    }
    if (error != 0)
    {
        os().closesocket(created->handle);
        free_listener(created);
        return create_result_for(error);
    }
    execution_engine_inc_ref(execution_engine);
    listener = created;
    return ASYNC_SOCKET_LISTENER_CREATE_OK;
}

uint16_t listener_port(const Listener& listener) noexcept { return listener.port; }

int listener_accept(Listener& listener, ON_ASYNC_SOCKET_ACCEPT_COMPLETE on_accept_complete, void* context) noexcept
{
    void* memory = os().malloc(sizeof(AcceptOp));
    if (memory == nullptr)
        return ENOMEM;
    auto* op = new (memory) AcceptOp();
    op->callback = on_accept_complete;
    op->context = context;
    {
        std::lock_guard<std::mutex> lock(listener.mutex);
        if (listener.state != ListenerState::open)
        {
            free_op(op);
            return EBADF;
        }
        ++listener.api_calls;
    }
    op->accepted = make_socket(listener.family);
    int error = op->accepted == INVALID_SOCKET ? os().WSAGetLastError() : 0;
    if (error == 0)
    {
        {
            std::lock_guard<std::mutex> lock(listener.mutex);
            op->prev = listener.ops_tail;
            (listener.ops_tail != nullptr ? listener.ops_tail->next : listener.ops) = op;
            listener.ops_tail = op;
        }
        constexpr DWORD address_length = sizeof(sockaddr_storage) + 16;
        DWORD bytes = 0;
        os().StartThreadpoolIo(listener.io);
        if (!listener.accept_ex(listener.handle, op->accepted, op->addresses, 0, address_length, address_length, &bytes, &op->overlapped))
        {
            error = os().WSAGetLastError();
            if (error == WSA_IO_PENDING)
                error = 0;
            else
                os().CancelThreadpoolIo(listener.io);
        }
    }
    std::lock_guard<std::mutex> lock(listener.mutex);
    if (error != 0)
    {
        if (op->accepted != INVALID_SOCKET)
        {
            unlink(listener, *op);
            os().closesocket(op->accepted);
        }
        free_op(op);
    }
    if (--listener.api_calls == 0)
        listener.changed.notify_all();
    return errno_from(static_cast<unsigned long>(error));
}

void listener_close(Listener& listener) noexcept { close_listener(listener); }

void listener_destroy(Listener& listener) noexcept
{
    RunningListener* running = tls_running_listener;
    const bool own = running != nullptr && running->listener == &listener;
    if (own)
    {
        running->destroyed = true;
        if (running->abandoning)
        {
            // Inside the close's ABANDONED callbacks: the close completes the others, then frees.
            close_listener(listener);
            return;
        }
    }
    if (!close_listener(listener))
        return;  // a callback inside the close destroyed it already
    {
        // A close under way elsewhere (this being its callback) ends before the memory goes.
        std::unique_lock<std::mutex> lock(listener.mutex);
        listener.changed.wait(lock, [&listener, own] { return listener.state == ListenerState::closed && (own || !listener.delivering); });
    }
    EXECUTION_ENGINE_HANDLE engine = listener.engine;
    free_listener(&listener);
    execution_engine_dec_ref(engine);
}

// ---- Connect ----------------------------------------------------------------------------

namespace {

struct ConnectOp
{
    ExternalIo io;  // first: the socket's threadpool I/O hands it back
    EXECUTION_ENGINE_HANDLE engine = nullptr;
    ASYNC_SOCKET_HANDLE socket = nullptr;
    SOCKET native = INVALID_SOCKET;
    LPFN_CONNECTEX connect_ex = nullptr;
    sockaddr_storage address{};
    int address_length = 0;
    TP_CALLBACK_ENVIRON environment{};
    PTP_TIMER timer = nullptr;
    std::atomic<bool> timed_out{false};
    ON_ASYNC_SOCKET_CONNECT_COMPLETE callback = nullptr;
    void* context = nullptr;
};

void free_connect(ConnectOp* op) noexcept
{
    if (op->timer != nullptr)
    {
        os().SetThreadpoolTimer(op->timer, nullptr, 0, 0);
        os().WaitForThreadpoolTimerCallbacks(op->timer, TRUE);
        os().CloseThreadpoolTimer(op->timer);
        os().DestroyThreadpoolEnvironment(&op->environment);
    }
    op->~ConnectOp();
    os().free(op);
}

VOID CALLBACK on_connect_timeout(PTP_CALLBACK_INSTANCE, PVOID context, PTP_TIMER)
{
    auto* op = static_cast<ConnectOp*>(context);
    op->timed_out = true;
    os().CancelIoEx(reinterpret_cast<HANDLE>(op->native), &op->io.overlapped);
}

// Runs on the socket's threadpool I/O callback (a destroy of the socket here is one from its
// own callback).
void connect_done(ExternalIo& io, ULONG io_result, ULONG_PTR) noexcept
{
    auto* op = reinterpret_cast<ConnectOp*>(&io);
    // The timer goes first: its CancelIoEx must not meet a closed handle.
    os().SetThreadpoolTimer(op->timer, nullptr, 0, 0);
    os().WaitForThreadpoolTimerCallbacks(op->timer, TRUE);
    int error = errno_from(io_result);
    if (io_result == ERROR_OPERATION_ABORTED && op->timed_out)
        error = ETIMEDOUT;
    if (error == 0)
    {
        if (os().setsockopt(op->native, SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, nullptr, 0) != 0)
            error = errno_from(os().WSAGetLastError());
        else
            error = errno_from(set_nodelay(op->native));
    }
    ASYNC_SOCKET_HANDLE socket = op->socket;
    if (error != 0)
    {
        async_socket_destroy(socket);
        socket = nullptr;
    }
    const auto callback = op->callback;
    void* context = op->context;
    EXECUTION_ENGINE_HANDLE engine = op->engine;
    free_connect(op);
    callback(context, connect_result_for(error), socket, error);
    execution_engine_dec_ref(engine);
}

int start_connect(SOCKET handle, ExternalIo& io, void*) noexcept
{
    auto* op = reinterpret_cast<ConnectOp*>(&io);
    const int error = op->connect_ex(handle, reinterpret_cast<const sockaddr*>(&op->address), op->address_length, nullptr, 0, nullptr, &op->io.overlapped) ? 0 : os().WSAGetLastError();
    // op may be gone from here on (the completion may already run). A timer that fired before
    // ConnectEx was pending (timeout_ms of a millisecond or so) cancelled nothing: the connect
    // then ends by the system's own limit (see async_socket_win32_notes.md).
    return error;
}

}  // namespace

int connect_start(EXECUTION_ENGINE_HANDLE execution_engine, const char* address, uint16_t port, uint32_t timeout_ms, ON_ASYNC_SOCKET_CONNECT_COMPLETE on_connect_complete, void* context) noexcept
{
    sockaddr_storage storage;
    int length = 0;
    if (!parse_address(address, port, storage, length))
        return EINVAL;
    if (const int started = ensure_winsock(); started != 0)
        return errno_from(static_cast<unsigned long>(started));
    void* memory = os().malloc(sizeof(ConnectOp));
    if (memory == nullptr)
        return ENOMEM;
    auto* op = new (memory) ConnectOp();
    op->io.complete = connect_done;
    op->engine = execution_engine;
    op->callback = on_connect_complete;
    op->context = context;
    op->address = storage;
    op->address_length = length;

    op->native = make_socket(storage.ss_family);
    if (op->native == INVALID_SOCKET)
    {
        const int error = errno_from(os().WSAGetLastError());
        free_connect(op);
        return error;
    }
    // ConnectEx wants a bound socket: the wildcard address of the family, any port.
    sockaddr_storage wildcard{};
    wildcard.ss_family = storage.ss_family;
    int error = 0;
    if (os().bind(op->native, reinterpret_cast<const sockaddr*>(&wildcard), length) != 0)
        error = errno_from(os().WSAGetLastError());
    if (error == 0)
    {
        op->connect_ex = reinterpret_cast<LPFN_CONNECTEX>(extension_function(op->native, WSAID_CONNECTEX));
        if (op->connect_ex == nullptr)
            error = errno_from(os().WSAGetLastError());
    }
    if (error != 0)
    {
        os().closesocket(op->native);
        free_connect(op);
        return error;
    }
    os().InitializeThreadpoolEnvironment(&op->environment);
    os().SetThreadpoolCallbackPool(&op->environment, execution_engine_win32_get_threadpool(execution_engine));
    op->timer = os().CreateThreadpoolTimer(on_connect_timeout, op, &op->environment);
    if (op->timer == nullptr)
    {
        os().DestroyThreadpoolEnvironment(&op->environment);
        os().closesocket(op->native);
        free_connect(op);
        return ENOMEM;
    }
    error = open_socket(execution_engine, op->native, op->socket);
    if (error != 0)
    {
        free_connect(op);
        return error;
    }
    // Held until the callback has returned.
    execution_engine_inc_ref(execution_engine);
    // The timer starts first: once ConnectEx is started, op may be gone at any moment. A timer
    // that fires before ConnectEx is pending cancels nothing (start_connect).
    ULARGE_INTEGER due;
    due.QuadPart = static_cast<ULONGLONG>(-(static_cast<LONGLONG>(timeout_ms) * 10000));
    FILETIME due_time;
    due_time.dwLowDateTime = due.LowPart;
    due_time.dwHighDateTime = due.HighPart;
    os().SetThreadpoolTimer(op->timer, &due_time, 0, 0);
    ASYNC_SOCKET_HANDLE socket = op->socket;
    error = socket_start_external(*reinterpret_cast<Socket*>(socket), op->io, start_connect, nullptr);
    if (error != 0)
    {
        free_connect(op);  // stops the timer
        async_socket_destroy(socket);
        execution_engine_dec_ref(execution_engine);
        return errno_from(static_cast<unsigned long>(error));
    }
    return 0;
}

}  // namespace asock::detail
