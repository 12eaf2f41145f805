// The Linux socket behind the C API (detail/platform.h): open, the operations it hands to its
// loop, and their completions. The handle core (handle_linux.cpp) closes and frees it.
#include "asock/async_socket.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <new>

#include "detail/engine.h"
#include "detail/errors.h"
#include "detail/fault.h"
#include "detail/loop.h"
#include "detail/op.h"
#include "detail/platform.h"
#include "detail/socket.h"
#include "detail/sys.h"

namespace asock::detail {
namespace {

Op* make_io_op(Socket& socket, ItemKind kind, const ASYNC_SOCKET_BUFFER* buffers, uint32_t buffer_count, void* context, uint32_t inline_capacity = kInlineBuffers) noexcept
{
    Op* op = op_alloc(buffer_count, inline_capacity);
    if (op == nullptr)
        return nullptr;
    op->handle = &socket;
    op->kind = kind;
    op->context = context;
    for (uint32_t i = 0; i < buffer_count; ++i)
        op->io.iov[i] = iovec{buffers[i].buffer, buffers[i].length};
    return op;
}

bool is_stream_socket(int fd) noexcept
{
    int type = 0;
    socklen_t length = sizeof(type);
    return sys::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0 && type == SOCK_STREAM;
}

}  // namespace

// --- Completions (loop thread; receives and sends are in detail/socket.h) --------------------

void complete_abandoned(Op& op) noexcept
{
    const ItemKind kind = op.kind;
    const auto on_receive = op.on_receive;
    const auto on_send = op.on_send;
    const auto on_accept = op.on_accept;
    const auto on_timer = op.on_timer;
    const auto on_receive_timed = op.on_receive_timed;
    const bool timed = op.has(Op::kTimed);
    void* context = op.context;
    // An operation a backend still holds is freed by its report.
    if (!op.has(Op::kOrphaned))
        op_free(&op);
    switch (kind)
    {
    case ItemKind::receive:
        if (timed)
            on_receive_timed(context, ASYNC_SOCKET_RECEIVE_TIMED_ABANDONED, 0);
        else
            on_receive(context, ASYNC_SOCKET_RECEIVE_ABANDONED, 0);
        return;
    case ItemKind::timer:
        on_timer(context, ASYNC_TIMER_ABANDONED);
        return;
    case ItemKind::cancel_reads:  // requests never wait in a queue
    case ItemKind::cancel_connect:
    case ItemKind::send:
        on_send(context, ASYNC_SOCKET_SEND_ABANDONED);
        return;
    case ItemKind::accept:
        on_accept(context, ASYNC_SOCKET_ACCEPT_ABANDONED, nullptr, 0);
        return;
    case ItemKind::connect:  // a connecting socket is closed only by its own completion
    case ItemKind::open_notice:
    case ItemKind::close_waiter:
        return;
    }
}

// A timed receive: its deadline leaves the heap with it.
bool complete_timed_receive(Loop& loop, Op& op, long result) noexcept
{
    loop.disarm(op.io.timed.deadline);
    ASYNC_SOCKET_RECEIVE_TIMED_RESULT outcome = ASYNC_SOCKET_RECEIVE_TIMED_OK;
    if (result == -ECANCELED && ended_early(op))
        outcome = op.has(Op::kCancelled) ? ASYNC_SOCKET_RECEIVE_TIMED_CANCELLED : ASYNC_SOCKET_RECEIVE_TIMED_TIMEOUT;
    else if (result <= 0)
        outcome = receive_result_for(result) == ASYNC_SOCKET_RECEIVE_ABANDONED ? ASYNC_SOCKET_RECEIVE_TIMED_ABANDONED : ASYNC_SOCKET_RECEIVE_TIMED_ERROR;
    const auto callback = op.on_receive_timed;
    void* context = op.context;
    op_free(&op);
    callback(context, outcome, outcome == ASYNC_SOCKET_RECEIVE_TIMED_OK ? static_cast<uint32_t>(result) : 0);
    return true;
}

void complete_failed_send(Op& op, uint8_t failure) noexcept
{
    const auto callback = op.on_send;
    void* context = op.context;
    op_free(&op);
    callback(context, static_cast<ASYNC_SOCKET_SEND_RESULT>(failure - 1));
}

Socket* adopt_connected_socket(Loop& loop, int fd, bool tcp, int& error) noexcept
{
    const int one = 1;
    if (tcp && sys::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
    {
        error = errno;
        return nullptr;
    }
    Socket* socket = inject_fault(FaultPoint::socket_alloc) ? nullptr : new (std::nothrow) Socket(loop.engine(), loop, fd);
    if (socket == nullptr)
    {
        error = ENOMEM;
        return nullptr;
    }
    error = loop.backend().attach(*socket);
    if (error != 0)
    {
        delete socket;
        return nullptr;
    }
    // Nobody else knows the socket yet: no lock is needed to make it open. It gets no open
    // notice (async_socket_open_async on it reports EALREADY).
    socket->state = HandleState::open;
    loop.engine().inc_ref();
    return socket;
}

// --- The platform interface (detail/platform.h) ------------------------------------------------

Socket* socket_create(EXECUTION_ENGINE_HANDLE execution_engine, SOCKET_HANDLE socket_handle) noexcept
{
    Engine& engine = *Engine::from_handle(execution_engine);
    if (inject_fault(FaultPoint::socket_alloc))
        return nullptr;
    auto* socket = new (std::nothrow) Socket(engine, engine.pick_loop(), socket_handle);
    if (socket == nullptr)
        return nullptr;
    engine.inc_ref();
    return socket;
}

void socket_destroy(Socket& socket) noexcept { handle_destroy(socket); }

int socket_open(Socket& socket, ON_ASYNC_SOCKET_OPEN_COMPLETE on_open_complete, void* on_open_complete_context) noexcept
{
    {
        std::lock_guard<SmallMutex> lock(socket.mutex);
        if (socket.state == HandleState::open || socket.state == HandleState::opening)
            return EALREADY;
        if (socket.state != HandleState::created)
            return EBADF;  // closed: the descriptor is gone, there is nothing to re-open
        socket.state = HandleState::opening;
    }
    int error = is_stream_socket(socket.fd) ? 0 : ENOTSOCK;
    if (error == 0)
        error = socket.loop->backend().attach(socket);
    std::lock_guard<SmallMutex> lock(socket.mutex);
    if (error != 0)
    {
        socket.state = HandleState::created;
        return error;
    }
    socket.state = HandleState::open;
    socket.on_open_complete = on_open_complete;
    socket.on_open_complete_context = on_open_complete_context;
    // Always through the inbox, also on the loop's own thread: the callback must not run
    // inside this call.
    socket.loop->post(socket.open_notice());
    return 0;
}

void socket_close(Socket& socket) noexcept { handle_close(socket); }

ASYNC_SOCKET_SEND_SYNC_RESULT socket_send(Socket& socket, const ASYNC_SOCKET_BUFFER* payload, uint32_t buffer_count, ON_ASYNC_SOCKET_SEND_COMPLETE on_send_complete, void* on_send_complete_context) noexcept
{
    Op* op = make_io_op(socket, ItemKind::send, payload, buffer_count, on_send_complete_context);
    if (op == nullptr)
        return ASYNC_SOCKET_SEND_SYNC_ERROR;
    op->on_send = on_send_complete;
    if (!handle_submit(socket, op))
    {
        op_free(op);
        return ASYNC_SOCKET_SEND_SYNC_ABANDONED;
    }
    return ASYNC_SOCKET_SEND_SYNC_OK;
}

int socket_receive(Socket& socket, ASYNC_SOCKET_BUFFER* payload, uint32_t buffer_count, ON_ASYNC_SOCKET_RECEIVE_COMPLETE on_receive_complete, void* on_receive_complete_context) noexcept
{
    Op* op = make_io_op(socket, ItemKind::receive, payload, buffer_count, on_receive_complete_context);
    if (op == nullptr)
        return ENOMEM;
    op->on_receive = on_receive_complete;
    if (!handle_submit(socket, op))
    {
        op_free(op);
        return ENOTCONN;
    }
    return 0;
}

uint64_t operation_memory(uint32_t buffer_count) noexcept
{
    return sizeof(Op) + static_cast<uint64_t>(buffer_count) * sizeof(iovec);
}

SOCKET_HANDLE invalid_socket_handle() noexcept { return INVALID_SOCKET; }


// --- Deadlines and cancellation (async_socket_deadline.h) -----------------------------------------

int socket_receive_timed(Socket& socket, ASYNC_SOCKET_BUFFER* payload, uint32_t buffer_count, uint32_t timeout_ms, ON_ASYNC_SOCKET_RECEIVE_TIMED_COMPLETE on_receive_complete, void* context) noexcept
{
    Op* op = make_io_op(socket, ItemKind::receive, payload, buffer_count, context, kInlineTimedBuffers);
    if (op == nullptr)
        return ENOMEM;
    op->set(Op::kTimed);
    op->on_receive_timed = on_receive_complete;
    timer_node_init(op->io.timed.deadline, timeout_ms == 0 ? 0 : deadline_after_ms(timeout_ms));  // armed by Loop::queue
    if (!handle_submit(socket, op))
    {
        op_free(op);
        return ENOTCONN;  // as async_socket_receive_async
    }
    return 0;
}

// The cancel request of a socket's receives or a listener's accepts.
int cancel_reads_of(Handle& handle) noexcept
{
    Op* request = op_alloc(0);
    if (request == nullptr)
        return ENOMEM;
    request->kind = ItemKind::cancel_reads;
    request->handle = &handle;
    if (!handle_post(handle, request))
    {
        op_free(request);
        return EBADF;
    }
    return 0;
}

int socket_cancel_receives(Socket& socket) noexcept { return cancel_reads_of(socket); }

}  // namespace asock::detail
