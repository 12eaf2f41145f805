// Listeners and connects (async_socket_listener.h) on Windows, in the seed's style: overlapped
// AcceptEx and ConnectEx completed through threadpool I/O on the engine's PTP_POOL. Every
// Windows call goes through the seam of detail/win32_api.h. The differences from Linux are in
// docs/requirements/async_socket_win32_notes.md.
//
// Listener: a handle core (detail/handle_win32.h, shared with the socket: life, close and
// callback scope) with one threadpool I/O on the listening socket; every accept is an AcceptEx
// with a socket made for it. Completions queue up in `ready`; one threadpool thread at a time
// (the "deliverer", holding a reference on the listener) hands them to the callbacks, so that
// callbacks run one at a time per listener and no threadpool callback ever blocks on another.
// Close is the core's (cancel, close the listening socket, wait for the threadpool callbacks),
// then completes every accept not delivered yet with ABANDONED on the closing thread.
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
#include <mutex>
#include <new>

#include "asock/async_socket.h"
#include "asock/execution_engine_win32.h"
#include "detail/errno_win32.h"
#include "detail/handle_win32.h"
#include "detail/net_common.h"
#include "detail/platform_net.h"
#include "detail/socket_win32.h"
#include "detail/win32_api.h"

namespace asock::detail {

namespace {

// Winsock is started once, by the first listener or connect, and never stopped. Returns 0 or
// an errno value.
int ensure_winsock() noexcept
{
    static const int result = [] {
        WSADATA data;
        return errno_from(static_cast<unsigned long>(os().WSAStartup(MAKEWORD(2, 2), &data)));
    }();
    return result;
}

// A numeric IPv4 or IPv6 address (common/detail/net_common.h, with the seam's inet_pton).
bool parse(const char* text, uint16_t port, sockaddr_storage& address, SockLen& length) noexcept
{
    return parse_address(text, port, address, length, os().inet_pton);
}

SOCKET make_socket(int family) noexcept { return os().WSASocketW(family, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED); }

// The errno value of the last Winsock failure on this thread.
int last_errno() noexcept { return failure_errno(static_cast<unsigned long>(os().WSAGetLastError())); }

int set_flag(SOCKET socket, int level, int name) noexcept
{
    const BOOL one = TRUE;
    return os().setsockopt(socket, level, name, reinterpret_cast<const char*>(&one), sizeof(one));
}

// Returns 0 or an errno value.
int set_nodelay(SOCKET socket) noexcept { return set_flag(socket, IPPROTO_TCP, TCP_NODELAY) == 0 ? 0 : last_errno(); }

// The steps of a listening socket (bind_and_listen of common/detail/net_common.h), through
// the seam, so that a fake operating system sees each of them.
struct ListenSteps
{
    // Windows' SO_REUSEADDR would let a second socket take the port; SO_EXCLUSIVEADDRUSE keeps
    // it ours (a port in TIME_WAIT can be bound again on Windows anyway).
    static int reuse_address(SOCKET socket) noexcept { return set_flag(socket, SOL_SOCKET, SO_EXCLUSIVEADDRUSE); }
    static int v6_only(SOCKET socket) noexcept { return set_flag(socket, IPPROTO_IPV6, IPV6_V6ONLY); }
    static int bind(SOCKET socket, const sockaddr* address, int length) noexcept { return os().bind(socket, address, length); }
    static int listen(SOCKET socket, int backlog) noexcept { return os().listen(socket, backlog); }
    static int getsockname(SOCKET socket, sockaddr* address, int* length) noexcept { return os().getsockname(socket, address, length); }
    static int error() noexcept { return last_errno(); }
};

// Loads a Winsock extension function (AcceptEx, ConnectEx); nullptr on failure.
void* extension_function(SOCKET socket, GUID guid) noexcept
{
    void* function = nullptr;
    DWORD bytes = 0;
    if (os().WSAIoctl(socket, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, sizeof(guid), &function, sizeof(function), &bytes, nullptr, nullptr) != 0)
        return nullptr;
    return function;
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
    const int error = async_socket_open_async(socket, ignore_open, nullptr);
    if (error != 0)
    {
        async_socket_destroy(socket);
        socket = nullptr;
    }
    return error;
}

}  // namespace

// ---- Listener ---------------------------------------------------------------------------

struct AcceptOp;

// A listener is a handle core (its native socket the listening one) and its accepts.
struct Listener : Handle
{
    int family = AF_INET;
    uint16_t port = 0;
    LPFN_ACCEPTEX accept_ex = nullptr;

    // Guarded by the core's mutex.
    bool torn_down = false;   // the listening socket and its threadpool I/O are gone
    bool delivering = false;  // a threadpool thread hands ready accepts to their callbacks
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
    // Guarded by the listener's mutex: AcceptEx returned (CancelIoEx can find it), a cancel was
    // asked for (made by the call that started it when it came before AcceptEx returned).
    bool issued = false;
    bool cancel_requested = false;
    // The starting call's and the completion's: the completion may be delivered before the
    // call that started the accept looks at it again.
    std::atomic<uint8_t> references{2};
    char addresses[2 * (sizeof(sockaddr_storage) + 16)];
};

namespace {

// Called with the mutex held.
void link(Listener& listener, AcceptOp& op) noexcept
{
    op.prev = listener.ops_tail;
    (listener.ops_tail != nullptr ? listener.ops_tail->next : listener.ops) = &op;
    listener.ops_tail = &op;
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

void release_op(AcceptOp* op) noexcept
{
    if (op->references.fetch_sub(1, std::memory_order_acq_rel) == 1)
        free_op(op);
}

void free_listener(Handle& core) noexcept
{
    auto* listener = static_cast<Listener*>(&core);
    listener->~Listener();
    os().free(listener);
}

// Hands one accept to its callback, freeing it first.
void deliver(AcceptOp* op) noexcept
{
    const auto callback = op->callback;
    void* context = op->context;
    const ASYNC_SOCKET_ACCEPT_RESULT result = op->result;
    ASYNC_SOCKET_HANDLE socket = op->socket;
    const int error = op->error;
    release_op(op);
    callback(context, result, socket, error);
}

// Closes the connection an accept holds, if any.
void discard_connection(AcceptOp& op) noexcept
{
    if (op.socket != nullptr)
        async_socket_destroy(op.socket);
    else if (op.accepted != INVALID_SOCKET)
        os().closesocket(op.accepted);
    op.socket = nullptr;
    op.accepted = INVALID_SOCKET;
}

// Completes every accept not delivered yet with ABANDONED, one at a time, on this thread. A
// callback may close the listener again (it then carries on here) or destroy it (the close
// frees it once it is done: end_close).
void abandon_all(Listener& listener) noexcept
{
    for (;;)
    {
        AcceptOp* op;
        {
            std::lock_guard<std::mutex> lock(listener.mutex);
            op = listener.ops;
            if (op == nullptr)
                return;
            unlink(listener, *op);
        }
        discard_connection(*op);
        op->result = ASYNC_SOCKET_ACCEPT_ABANDONED;
        op->error = 0;
        deliver(op);
    }
}

// The close's work once the listener is closing on this thread: the core's tear-down, then
// the accepts not delivered (77_005).
void close_now(Listener& listener) noexcept
{
    tear_down(listener);
    {
        std::lock_guard<std::mutex> lock(listener.mutex);
        listener.torn_down = true;
        listener.ready = listener.ready_tail = nullptr;  // every op is still in ops
    }
    abandon_all(listener);
}

// A close from a callback that this thread's own close runs (an ABANDONED one): carry on.
void carry_on_closing(Listener& listener) noexcept
{
    bool torn_down;
    {
        std::lock_guard<std::mutex> lock(listener.mutex);
        torn_down = listener.torn_down;
    }
    if (torn_down)
        abandon_all(listener);
}

// Makes a finished AcceptEx a result: the new socket, open, or the error.
void prepare(Listener& listener, AcceptOp& op, ULONG io_result, bool cancel_requested) noexcept
{
    int error = errno_from(io_result);
    if (error != 0 && cancel_requested)
    {
        discard_connection(op);
        op.result = ASYNC_SOCKET_ACCEPT_CANCELLED;
        op.error = ECANCELED;
        return;
    }
    if (error == 0)
    {
        const SOCKET listening = listener.native;
        if (os().setsockopt(op.accepted, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, reinterpret_cast<const char*>(&listening), sizeof(listening)) != 0)
            error = last_errno();
        else
            error = set_nodelay(op.accepted);
    }
    if (error == 0)
    {
        const SOCKET accepted = op.accepted;
        op.accepted = INVALID_SOCKET;
        error = open_socket(listener.engine, accepted, op.socket);
    }
    if (error != 0)
    {
        discard_connection(op);
        op.result = ASYNC_SOCKET_ACCEPT_ERROR;
        op.error = error;
        return;
    }
    op.result = ASYNC_SOCKET_ACCEPT_OK;
    op.error = 0;
}

// Whether the listener is open, and whether a cancel was asked for op.
bool is_open(Listener& listener, const AcceptOp& op, bool& cancel_requested) noexcept
{
    std::lock_guard<std::mutex> lock(listener.mutex);
    cancel_requested = op.cancel_requested;
    return listener.state == HandleState::open;
}

// Queues a finished accept. Returns true when this thread is to hand the ready accepts over
// (none was doing it): it then holds a reference on the listener for that.
bool queue_ready(Listener& listener, AcceptOp& op) noexcept
{
    std::lock_guard<std::mutex> lock(listener.mutex);
    (listener.ready_tail != nullptr ? listener.ready_tail->ready_next : listener.ready) = &op;
    listener.ready_tail = &op;
    if (listener.delivering)
        return false;
    listener.delivering = true;
    handle_retain(listener);
    return true;
}

// Hands the ready accepts to their callbacks, in completion order, while the listener is
// open. The reference queue_ready took keeps the listener alive meanwhile: a callback may
// destroy it, or close a handle in a cycle and so stop being a callback its close waits for.
void deliver_ready(Listener& listener) noexcept
{
    std::unique_lock<std::mutex> lock(listener.mutex);
    while (listener.state == HandleState::open && listener.ready != nullptr)
    {
        AcceptOp* next = listener.ready;
        listener.ready = next->ready_next;
        if (listener.ready == nullptr)
            listener.ready_tail = nullptr;
        unlink(listener, *next);
        lock.unlock();
        deliver(next);
        lock.lock();
    }
    listener.delivering = false;
    lock.unlock();
    handle_release(listener);
}

// The threadpool I/O callback of every listener.
VOID CALLBACK on_accept_io(PTP_CALLBACK_INSTANCE instance, PVOID context, PVOID overlapped, ULONG io_result, ULONG_PTR, PTP_IO)
{
    if (overlapped == nullptr)
        return;
    Listener& listener = *static_cast<Listener*>(context);
    CallbackScope scope(listener, instance);
    auto* op = CONTAINING_RECORD(static_cast<OVERLAPPED*>(overlapped), AcceptOp, overlapped);
    bool cancel_requested = false;
    if (is_open(listener, *op, cancel_requested))
        prepare(listener, *op, io_result, cancel_requested);
    if (queue_ready(listener, *op))
        deliver_ready(listener);
}

// The listening socket: created, bound, listening, with AcceptEx loaded. Returns 0 or an
// errno value (nothing is left open then).
int open_listening_socket(Listener& listener, const sockaddr_storage& address, SockLen length, int32_t backlog) noexcept
{
    listener.family = address.ss_family;
    listener.native = make_socket(listener.family);
    if (listener.native == INVALID_SOCKET)
        return last_errno();
    int error = bind_and_listen<ListenSteps>(listener.native, address, length, backlog, listener.port);
    if (error == 0)
    {
        listener.accept_ex = reinterpret_cast<LPFN_ACCEPTEX>(extension_function(listener.native, WSAID_ACCEPTEX));
        if (listener.accept_ex == nullptr)
            error = last_errno();
    }
    if (error != 0)
        os().closesocket(listener.native);
    return error;
}

// Starts one AcceptEx on op, which is linked into the listener's ops. Returns 0 when its
// completion will come, else the errno value (the threadpool I/O cancelled again).
int start_accept(Listener& listener, AcceptOp& op) noexcept
{
    constexpr DWORD address_length = sizeof(sockaddr_storage) + 16;
    DWORD bytes = 0;
    os().StartThreadpoolIo(listener.io);
    const BOOL accepted = listener.accept_ex(listener.native, op.accepted, op.addresses, 0, address_length, address_length, &bytes, &op.overlapped);
    const int error = error_of_overlapped_start(accepted != FALSE);
    if (error != 0)
        os().CancelThreadpoolIo(listener.io);
    return error;
}

}  // namespace

ASYNC_SOCKET_LISTENER_CREATE_RESULT listener_create(EXECUTION_ENGINE_HANDLE execution_engine, const char* address, uint16_t port, int32_t backlog, Listener*& listener, int& error) noexcept
{
    listener = nullptr;
    sockaddr_storage storage;
    SockLen length = 0;
    if (!parse(address, port, storage, length))
    {
        error = EINVAL;
        return ASYNC_SOCKET_LISTENER_CREATE_INVALID_ARGUMENT;
    }
    error = ensure_winsock();
    if (error != 0)
        return ASYNC_SOCKET_LISTENER_CREATE_ERROR;
    void* memory = os().malloc(sizeof(Listener));
    if (memory == nullptr)
    {
        error = ENOMEM;
        return ASYNC_SOCKET_LISTENER_CREATE_ERROR;
    }
    auto* created = new (memory) Listener();
    error = open_listening_socket(*created, storage, length, backlog);
    if (error != 0)
    {
        free_listener(*created);
        return create_result_for(error);
    }
    handle_init(*created, execution_engine, created->native, free_listener);
    if (!handle_attach_io(*created, on_accept_io, created))
    {
        os().closesocket(created->native);
        handle_release(*created);
        error = ENOMEM;
        return ASYNC_SOCKET_LISTENER_CREATE_ERROR;
    }
    created->state = HandleState::open;  // nothing else knows the listener yet
    listener = created;
    return ASYNC_SOCKET_LISTENER_CREATE_OK;
}

// One threadpool, no loops: a per-loop listener is one listener.
ASYNC_SOCKET_LISTENER_CREATE_RESULT listener_create_per_loop(EXECUTION_ENGINE_HANDLE execution_engine, const char* address, uint16_t port, int32_t backlog, Listener*& listener, int& error) noexcept
{
    return listener_create(execution_engine, address, port, backlog, listener, error);
}

uint16_t listener_port(const Listener& listener) noexcept { return listener.port; }

int listener_accept(Listener& listener, ON_ASYNC_SOCKET_ACCEPT_COMPLETE on_accept_complete, void* context) noexcept
{
    ApiCall call(listener);
    if (!call.handle_open())
        return EBADF;
    void* memory = os().malloc(sizeof(AcceptOp));
    if (memory == nullptr)
        return ENOMEM;
    auto* op = new (memory) AcceptOp();
    op->callback = on_accept_complete;
    op->context = context;
    op->accepted = make_socket(listener.family);
    if (op->accepted == INVALID_SOCKET)
    {
        const int error = last_errno();
        free_op(op);
        return error;
    }
    {
        std::lock_guard<std::mutex> lock(listener.mutex);
        link(listener, *op);
    }
    const int error = start_accept(listener, *op);
    if (error == 0)
    {
        {
            std::lock_guard<std::mutex> lock(listener.mutex);
            op->issued = true;
            if (op->cancel_requested)  // asked for before AcceptEx had it
                os().CancelIoEx(reinterpret_cast<HANDLE>(listener.native), &op->overlapped);
        }
        release_op(op);
        return 0;
    }
    {
        std::lock_guard<std::mutex> lock(listener.mutex);
        unlink(listener, *op);
    }
    os().closesocket(op->accepted);
    free_op(op);
    return error;
}

int listener_cancel_accepts(Listener& listener) noexcept
{
    ApiCall call(listener);
    if (!call.handle_open())
        return EBADF;
    std::lock_guard<std::mutex> lock(listener.mutex);
    for (AcceptOp* op = listener.ops; op != nullptr; op = op->next)
    {
        if (op->cancel_requested)
            continue;
        op->cancel_requested = true;
        // An accept that completed already is not found: its connection stays its result.
        if (op->issued)
            os().CancelIoEx(reinterpret_cast<HANDLE>(listener.native), &op->overlapped);
    }
    return 0;
}

void listener_close(Listener& listener) noexcept
{
    switch (begin_close(listener))
    {
    case CloseStart::run:
        close_now(listener);
        if (end_close(listener))
            handle_release(listener);  // destroyed meanwhile by an ABANDONED callback
        return;
    case CloseStart::under_way_here:
        carry_on_closing(listener);
        return;
    case CloseStart::under_way_elsewhere:
        wait_closed(listener);
        return;
    case CloseStart::not_open:
        return;
    }
}

void listener_destroy(Listener& listener) noexcept
{
    switch (begin_destroy(listener))
    {
    case DestroyStart::deferred:
        return;  // inside an ABANDONED callback of this thread's close, which frees it
    case DestroyStart::run_close:
        close_now(listener);
        end_close(listener);
        break;
    case DestroyStart::never_opened:
    case DestroyStart::closed:
        break;
    }
    handle_release(listener);
}

// ---- Connect ----------------------------------------------------------------------------
//
// A connect ends early for its timeout (the threadpool timer) or its cancellation (a CancelLink
// whose on_cancel runs under the cancellation's mutex): both only ask, under the op's mutex, and
// the first one wins. CancelIoEx of an OVERLAPPED that ConnectEx has not taken finds nothing,
// so a request that comes before ConnectEx returned is made by the starting call once it did
// (issued). The starting call and the completion both hold the op then (references).

namespace {

struct ConnectOp;

struct ConnectLink : CancelLink
{
    ConnectOp* op = nullptr;
};

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
    Cancellation* cancellation = nullptr;  // holds a reference until the callback returned
    ConnectLink link;
    bool registered = false;    // link is registered with cancellation
    bool precancelled = false;  // the cancellation was cancelled before the start
    std::atomic<uint8_t> references{2};
    ON_ASYNC_SOCKET_CONNECT_COMPLETE callback = nullptr;
    void* context = nullptr;

    std::mutex mutex;  // guards what follows
    bool issued = false;     // ConnectEx returned: CancelIoEx can find it
    bool completed = false;  // its completion came: nothing is cancelled any more
    bool timed_out = false;
    bool cancelled = false;
};

void stop_timer(ConnectOp& op) noexcept
{
    if (op.timer == nullptr)
        return;
    os().SetThreadpoolTimer(op.timer, nullptr, 0, 0);
    os().WaitForThreadpoolTimerCallbacks(op.timer, TRUE);
    os().CloseThreadpoolTimer(op.timer);
    os().DestroyThreadpoolEnvironment(&op.environment);
    op.timer = nullptr;
}

// The cancellation's reference (and link) goes: on_cancel is not running and will not run.
void let_go_of_cancellation(ConnectOp& op) noexcept
{
    if (op.cancellation == nullptr)
        return;
    if (op.registered)
        cancellation_unregister(*op.cancellation, op.link);
    else
        cancellation_release(*op.cancellation);
    op.cancellation = nullptr;
}

void free_connect(ConnectOp* op) noexcept
{
    op->~ConnectOp();
    os().free(op);
}

void release_connect(ConnectOp* op) noexcept
{
    if (op->references.fetch_sub(1, std::memory_order_acq_rel) == 1)
        free_connect(op);
}

// Called with op.mutex held.
void cancel_issued_locked(ConnectOp& op) noexcept
{
    if (op.issued && !op.completed)
        os().CancelIoEx(reinterpret_cast<HANDLE>(op.native), &op.io.overlapped);
}

// The timeout or the cancellation asks the connect to end; the first reason is the one told.
void request_end(ConnectOp& op, bool by_timeout) noexcept
{
    std::lock_guard<std::mutex> lock(op.mutex);
    if (op.completed || op.timed_out || op.cancelled)
        return;
    (by_timeout ? op.timed_out : op.cancelled) = true;
    cancel_issued_locked(op);
}

VOID CALLBACK on_connect_timeout(PTP_CALLBACK_INSTANCE, PVOID context, PTP_TIMER) { request_end(*static_cast<ConnectOp*>(context), true); }

void on_connect_cancel(CancelLink& link) noexcept { request_end(*static_cast<ConnectLink&>(link).op, false); }

// The errno value the connect ends with.
int connect_error(ConnectOp& op, ULONG io_result, bool timed_out, bool cancelled) noexcept
{
    if (op.precancelled)
        return ECANCELED;  // even if it connected meanwhile: it was never to be tried
    int error = errno_from(io_result);
    if (error != 0 && cancelled)
        return ECANCELED;
    if (error != 0 && timed_out)
        return ETIMEDOUT;
    if (error == 0)
        error = os().setsockopt(op.native, SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, nullptr, 0) != 0 ? last_errno() : set_nodelay(op.native);
    return error;
}

// Runs on the socket's threadpool I/O callback, in its callback scope (a destroy of the socket
// here is one from its own callback).
void connect_done(ExternalIo& io, ULONG io_result, ULONG_PTR) noexcept
{
    auto* op = reinterpret_cast<ConnectOp*>(&io);
    bool timed_out;
    bool cancelled;
    {
        std::lock_guard<std::mutex> lock(op->mutex);
        op->completed = true;
        timed_out = op->timed_out;
        cancelled = op->cancelled;
    }
    stop_timer(*op);
    const int error = connect_error(*op, io_result, timed_out, cancelled);
    ASYNC_SOCKET_HANDLE socket = op->socket;
    if (error != 0)
    {
        async_socket_destroy(socket);
        socket = nullptr;
    }
    EXECUTION_ENGINE_HANDLE engine = op->engine;
    op->callback(op->context, connect_result_for(error), socket, error);
    let_go_of_cancellation(*op);
    release_connect(op);
    execution_engine_dec_ref(engine);
}

bool start_connect(SOCKET handle, ExternalIo& io, void*) noexcept
{
    auto* op = reinterpret_cast<ConnectOp*>(&io);
    return op->connect_ex(handle, reinterpret_cast<const sockaddr*>(&op->address), op->address_length, nullptr, 0, nullptr, &op->io.overlapped) != FALSE;
}

// The socket of the connect: created, bound to the wildcard address of the family (ConnectEx
// wants a bound socket), with ConnectEx loaded. Returns 0 or an errno value (nothing left open).
int make_connect_socket(ConnectOp& op) noexcept
{
    op.native = make_socket(op.address.ss_family);
    if (op.native == INVALID_SOCKET)
        return last_errno();
    sockaddr_storage wildcard{};
    wildcard.ss_family = op.address.ss_family;
    int error = os().bind(op.native, reinterpret_cast<const sockaddr*>(&wildcard), op.address_length) != 0 ? last_errno() : 0;
    if (error == 0)
    {
        op.connect_ex = reinterpret_cast<LPFN_CONNECTEX>(extension_function(op.native, WSAID_CONNECTEX));
        if (op.connect_ex == nullptr)
            error = last_errno();
    }
    if (error != 0)
        os().closesocket(op.native);
    return error;
}

// The timer that cancels the connect at its timeout. Returns 0 or ENOMEM.
int make_timer(ConnectOp& op, EXECUTION_ENGINE_HANDLE engine) noexcept
{
    os().InitializeThreadpoolEnvironment(&op.environment);
    os().SetThreadpoolCallbackPool(&op.environment, execution_engine_win32_get_threadpool(engine));
    op.timer = os().CreateThreadpoolTimer(on_connect_timeout, &op, &op.environment);
    if (op.timer != nullptr)
        return 0;
    os().DestroyThreadpoolEnvironment(&op.environment);
    return ENOMEM;
}

void arm_timer(ConnectOp& op, uint32_t timeout_ms) noexcept
{
    ULARGE_INTEGER due;
    due.QuadPart = static_cast<ULONGLONG>(-(static_cast<LONGLONG>(timeout_ms) * 10000));  // relative
    FILETIME due_time;
    due_time.dwLowDateTime = due.LowPart;
    due_time.dwHighDateTime = due.HighPart;
    os().SetThreadpoolTimer(op.timer, &due_time, 0, 0);
}

// Links the connect to its cancellation (a reference held until the callback returned). One
// already cancelled makes the connect end CANCELLED through its completion, as any other.
void join_cancellation(ConnectOp& op, Cancellation* cancellation) noexcept
{
    if (cancellation == nullptr)
        return;
    op.cancellation = cancellation;
    op.link.op = &op;
    op.link.on_cancel = on_connect_cancel;
    op.registered = cancellation_register(*cancellation, op.link);
    if (op.registered)
        return;
    cancellation_add_ref(*cancellation);
    op.precancelled = true;
    op.cancelled = true;
}

// The connect's socket and timer, ready to start. Returns 0 or an errno value (nothing left).
int prepare_connect(ConnectOp& op, EXECUTION_ENGINE_HANDLE engine) noexcept
{
    int error = make_connect_socket(op);
    if (error != 0)
        return error;
    error = make_timer(op, engine);
    if (error != 0)
    {
        os().closesocket(op.native);
        return error;
    }
    error = open_socket(engine, op.native, op.socket);  // the socket owns native now
    if (error != 0)
        stop_timer(op);
    return error;
}

// After ConnectEx returned: a request to end that came first is made now.
void after_issue(ConnectOp& op) noexcept
{
    {
        std::lock_guard<std::mutex> lock(op.mutex);
        op.issued = true;
        if (op.timed_out || op.cancelled)
            cancel_issued_locked(op);
    }
    release_connect(&op);
}

}  // namespace

int connect_start(EXECUTION_ENGINE_HANDLE execution_engine, const char* address, uint16_t port, uint32_t timeout_ms, Cancellation* cancellation, ON_ASYNC_SOCKET_CONNECT_COMPLETE on_connect_complete, void* context) noexcept
{
    sockaddr_storage storage;
    SockLen length = 0;
    if (!parse(address, port, storage, length))
        return EINVAL;
    if (const int error = ensure_winsock(); error != 0)
        return error;
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
    int error = prepare_connect(*op, execution_engine);
    if (error != 0)
    {
        free_connect(op);
        return error;
    }
    join_cancellation(*op, cancellation);
    // Held until the callback has returned.
    execution_engine_inc_ref(execution_engine);
    // The timer starts first: once ConnectEx is started, the completion may run at any moment.
    arm_timer(*op, timeout_ms);
    ASYNC_SOCKET_HANDLE socket = op->socket;
    error = socket_start_external(*reinterpret_cast<Socket*>(socket), op->io, start_connect, nullptr);
    if (error == 0)
    {
        after_issue(*op);
        return 0;
    }
    stop_timer(*op);
    let_go_of_cancellation(*op);
    free_connect(op);
    async_socket_destroy(socket);
    execution_engine_dec_ref(execution_engine);
    return error;
}

// ---- UNIX domain sockets ----------------------------------------------------------------
//
// Wine 8 refuses AF_UNIX sockets (socket() fails with WSAEAFNOSUPPORT; see
// docs/requirements/async_socket_win32_notes.md), so this backend does not offer them.

ASYNC_SOCKET_LISTENER_CREATE_RESULT listener_create_unix(EXECUTION_ENGINE_HANDLE, const char*, int32_t, Listener*& listener, int& error) noexcept
{
    listener = nullptr;
    error = EAFNOSUPPORT;
    return create_result_for(error);
}

int connect_start_unix(EXECUTION_ENGINE_HANDLE, const char*, uint32_t, Cancellation*, ON_ASYNC_SOCKET_CONNECT_COMPLETE, void*) noexcept { return EAFNOSUPPORT; }

}  // namespace asock::detail
