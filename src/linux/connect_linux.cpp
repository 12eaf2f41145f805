// The Linux connect behind async_socket_connect_async: a socket that is not open yet (state
// opening) with one connect operation, whose deadline the loop keeps. The socket and its
// descriptor are made on the calling thread (so that running out of descriptors is reported at
// once); the operation is handed to the socket's loop, whose backend runs it. On success the
// socket opens and goes to the callback; on failure the loop closes it after the callback.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <new>

#include "detail/engine.h"
#include "detail/fault.h"
#include "detail/listener.h"
#include "detail/loop.h"
#include "detail/net_common.h"
#include "detail/platform_net.h"
#include "detail/socket.h"
#include "detail/sys.h"

namespace asock::detail {
namespace {

// 0, or why the connected descriptor cannot become an open socket.
int open_connected(Loop& loop, Socket& socket, bool tcp) noexcept
{
    const int one = 1;
    if (tcp && sys::setsockopt(socket.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
        return errno;
    const int error = loop.backend().attach(socket);
    if (error != 0)
        return error;
    std::lock_guard<SmallMutex> lock(socket.mutex);
    socket.state = HandleState::open;
    return 0;
}

// The connect is over: its cancellation forgets it. A request the cancellation posted is the
// loop's (it frees it when it comes); otherwise it is freed here.
void finish_cancel_request(Op& request) noexcept
{
    CancelRequest& cancel = request.cancel;
    Cancellation& cancellation = *cancel.cancellation;
    if (cancel.registered)
        cancellation_unregister(cancellation, cancel.link);  // waits for a cancel telling it now
    const bool posted = cancel.posted;
    cancellation_release(cancellation);  // the request's own reference
    if (!posted)
        op_free(&request);
}

}  // namespace

// The socket's scope is on the stack. The connect's owner reference (the socket's first)
// goes to the callback on success; on failure it is dropped after the callback, which is also
// when the socket lets go of its engine reference.
bool complete_connect(Loop& loop, Op& op, long result) noexcept
{
    auto& socket = static_cast<Socket&>(*op.handle);
    socket.queues[kWrites].pop_front();
    int error = static_cast<int>(-result);
    if (result == -ECANCELED && op.has(Op::kCancelled))
        error = ECANCELED;
    else if (result == -ECANCELED && op.has(Op::kTimedOut))
        error = ETIMEDOUT;
    if (op.connect.cancel_request != nullptr)
        finish_cancel_request(*op.connect.cancel_request);
    if (error == 0)
        error = open_connected(loop, socket, op.connect.peer()->sa_family != AF_UNIX);
    const auto callback = op.on_connect;
    void* context = op.context;
    op_free(&op);
    if (error == 0)
    {
        callback(context, ASYNC_SOCKET_CONNECT_OK, socket_handle_of(socket), 0);
        return true;
    }
    loop.perform_close(socket);
    // A UNIX path that does not exist is refused (async_socket_unix.h), with ENOENT kept as
    // the error: only a UNIX connect can get ENOENT from connect().
    const ASYNC_SOCKET_CONNECT_RESULT outcome = error == ENOENT ? ASYNC_SOCKET_CONNECT_REFUSED : connect_result_for(error);
    callback(context, outcome, nullptr, error);
    handle_release(socket);
    return true;
}

// --- The platform interface (detail/platform_net.h) -------------------------------------------

int connect_start(EXECUTION_ENGINE_HANDLE execution_engine, const char* address, uint16_t port, uint32_t timeout_ms, Cancellation* cancellation, ON_ASYNC_SOCKET_CONNECT_COMPLETE on_connect_complete, void* context) noexcept
{
    sockaddr_storage peer;
    socklen_t length;
    if (!parse_address(address, port, peer, length, ::inet_pton))
        return EINVAL;
    const ConnectRequest request{reinterpret_cast<const sockaddr*>(&peer), length, timeout_ms, cancellation, on_connect_complete, context};
    return connect_start_to(*Engine::from_handle(execution_engine), request);
}

namespace {

// The operation's copy of the peer's address: inline for IP, on the heap for longer ones.
bool copy_peer(Op& op, const sockaddr* peer, socklen_t length) noexcept
{
    if (length <= sizeof(sockaddr_in6))
    {
        std::memcpy(&op.connect.address, peer, length);
        op.connect.address_length = length;
        return true;
    }
    char* copy = inject_fault(FaultPoint::connect_alloc) ? nullptr : new (std::nothrow) char[length];
    if (copy == nullptr)
        return false;
    std::memcpy(copy, peer, length);
    op.connect.set_heap_address(reinterpret_cast<sockaddr*>(copy));
    op.connect.address_length = length;  // now op_free frees the copy
    return true;
}

// A connect's memory: the operation, the socket and the cancel request (when it has a
// cancellation). False (nothing kept) when any of them is missing.
bool allocate_connect(Engine& engine, Loop& loop, int fd, const ConnectRequest& request, Op*& op, Socket*& socket) noexcept
{
    op = op_alloc(0);
    Op* cancel = request.cancellation != nullptr && op != nullptr ? op_alloc(0) : nullptr;
    socket = op == nullptr || inject_fault(FaultPoint::connect_alloc) ? nullptr : new (std::nothrow) Socket(engine, loop, fd);
    if (op != nullptr)
    {
        op->kind = ItemKind::connect;  // so that op_free knows what it holds
        op->connect.address_length = 0;
        op->connect.cancel_request = cancel;
    }
    if (socket != nullptr && (request.cancellation == nullptr || cancel != nullptr) && copy_peer(*op, request.peer, request.length))
        return true;
    if (cancel != nullptr)
        op_free(cancel);
    if (op != nullptr)
        op_free(op);
    delete socket;
    return false;
}

}  // namespace

int connect_start_to(Engine& engine, const ConnectRequest& request) noexcept
{
    Loop& loop = engine.pick_loop();
    // A UNIX connect to a full backlog would wait in the kernel where io_uring's cancel cannot
    // reach it (the loop would hang at the deadline): non-blocking, it fails at once (EAGAIN).
    const int nonblocking = request.peer->sa_family == AF_UNIX ? SOCK_NONBLOCK : 0;
    const int fd = sys::socket(request.peer->sa_family, SOCK_STREAM | SOCK_CLOEXEC | nonblocking | loop.backend().socket_flags(), 0);
    if (fd < 0)
        return errno;
    Op* op = nullptr;
    Socket* socket = nullptr;
    if (!allocate_connect(engine, loop, fd, request, op, socket))
    {
        sys::close(fd);
        return ENOMEM;
    }
    socket->state = HandleState::opening;
    engine.inc_ref();
    op->handle = socket;
    op->on_connect = request.on_connect_complete;
    op->context = request.context;
    timer_node_init(op->connect.deadline, deadline_after_ms(request.timeout_ms));  // armed by the loop (Loop::queue)
    if (Op* cancel = op->connect.cancel_request)
    {
        cancel->kind = ItemKind::cancel_connect;
        cancel->handle = socket;
        cancel->cancel.cancellation = request.cancellation;
        cancel->cancel.registered = false;
        cancel->cancel.posted = false;
        cancellation_add_ref(*request.cancellation);  // registered by the loop (Loop::queue)
    }
    // Through the inbox also on the loop's own thread: the callback must not run inside this
    // call (a refused or unreachable connect may end at once).
    loop.post(op);
    return 0;
}

}  // namespace asock::detail
