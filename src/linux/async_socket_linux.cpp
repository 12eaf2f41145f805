// The Linux socket behind the C API (detail/platform.h): the state machine and the hand-over
// to the socket's loop. The I/O and the callbacks happen on the loop (loop.cpp, backends).
#include "asock/async_socket.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <new>
#include <thread>

#include "detail/engine.h"
#include "detail/fault.h"
#include "detail/loop.h"
#include "detail/op.h"
#include "detail/platform.h"
#include "detail/socket.h"
#include "detail/sys.h"

namespace asock::detail {
namespace {

Op* make_op(Socket& socket, ItemKind kind, const ASYNC_SOCKET_BUFFER* buffers, uint32_t buffer_count, void* context) noexcept
{
    Op* op = op_alloc(buffer_count);
    if (op == nullptr)
        return nullptr;
    op->socket = &socket;
    op->kind = kind;
    op->context = context;
    for (uint32_t i = 0; i < buffer_count; ++i)
        op->iov[i] = iovec{buffers[i].buffer, buffers[i].length};
    return op;
}

enum class Submit
{
    accepted,
    not_open,
};

// Hands an operation to the socket's loop if the socket is open. Holding the socket's mutex
// across the check and the hand-over is what lets close wait for calls in progress.
Submit submit(Socket& socket, Op* op) noexcept
{
    std::lock_guard<SmallMutex> lock(socket.mutex);
    if (socket.state != SocketState::open)
        return Submit::not_open;
    Loop& loop = *socket.loop;
    if (loop.can_queue_directly())
        loop.queue_op(op);
    else
        loop.post(op);
    return Submit::accepted;
}

// A close asked for on a thread that does not run the socket's loop: the loop does the work;
// this thread waits until it is done. The request also goes when the socket is already
// closed (or closing): the loop answers it only once no frame of its stack refers to the
// socket, so that the caller may then free it (destroy) without racing the loop.
void close_elsewhere(Socket& socket, std::unique_lock<SmallMutex>& lock) noexcept
{
    if (socket.state == SocketState::created)
        return;
    CloseWaiter waiter(Loop::current());
    waiter.next = socket.close_waiters;
    socket.close_waiters = &waiter;
    if (socket.state == SocketState::open)
        socket.state = SocketState::closing;
    if (!socket.close_request_pending)
    {
        socket.close_request_pending = true;
        // Posted under the mutex: whoever sees the pending flag also finds the request queued.
        socket.loop->post(socket.close_request());
    }
    lock.unlock();
    waiter.wait();
}

void close_socket(Socket& socket) noexcept
{
    std::unique_lock<SmallMutex> lock(socket.mutex);
    // opening lasts only while another thread is inside open_async.
    while (socket.state == SocketState::opening)
    {
        lock.unlock();
        std::this_thread::yield();
        lock.lock();
    }
    Loop& loop = *socket.loop;
    if (!loop.on_loop_thread())
    {
        close_elsewhere(socket, lock);
        return;
    }
    // On the loop's own thread (inside a callback): close now. If another thread's close is
    // under way (closing), its request is still queued here, so do its work now; the request
    // then only releases that thread.
    if (socket.state == SocketState::open)
        socket.state = SocketState::closing;
    else if (socket.state != SocketState::closing)
        return;
    lock.unlock();
    loop.close_here(socket);
}

bool is_stream_socket(int fd) noexcept
{
    int type = 0;
    socklen_t length = sizeof(type);
    return sys::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0 && type == SOCK_STREAM;
}

}  // namespace

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

void socket_destroy(Socket& socket) noexcept
{
    close_socket(socket);
    // Now created (never opened: the handle is still ours to close, and the loop never saw
    // the socket) or closed.
    const bool never_opened = socket.state == SocketState::created;
    if (never_opened)
        sys::close(socket.fd);
    Loop& owner = *socket.loop;
    Loop* here = Loop::current();
    if (here == &owner && !never_opened)
    {
        // The loop may still be looking at this socket further up the stack.
        owner.defer_free(socket);
        return;
    }
    if (here != nullptr && !never_opened)
    {
        // A callback of another loop: its close may have been released while a callback of
        // this socket was still running on the owner (two loops closing each other's
        // sockets), so the owner frees it once its stack is clear.
        owner.post(socket.release_request());
        return;
    }
    Engine& engine = *socket.engine;
    delete &socket;
    engine.dec_ref();
}

int socket_open(Socket& socket, ON_ASYNC_SOCKET_OPEN_COMPLETE on_open_complete, void* on_open_complete_context) noexcept
{
    {
        std::lock_guard<SmallMutex> lock(socket.mutex);
        if (socket.state == SocketState::open || socket.state == SocketState::opening)
            return EALREADY;
        if (socket.state != SocketState::created)
            return EBADF;  // closed: the handle is gone, there is nothing to re-open
        socket.state = SocketState::opening;
    }
    int error = is_stream_socket(socket.fd) ? 0 : ENOTSOCK;
    if (error == 0)
        error = socket.loop->backend().attach(socket);
    std::lock_guard<SmallMutex> lock(socket.mutex);
    if (error != 0)
    {
        socket.state = SocketState::created;
        return error;
    }
    socket.state = SocketState::open;
    socket.on_open_complete = on_open_complete;
    socket.on_open_complete_context = on_open_complete_context;
    // Always through the inbox, also on the loop's own thread: the callback must not run
    // inside this call.
    socket.loop->post(socket.open_notice());
    return 0;
}

void socket_close(Socket& socket) noexcept { close_socket(socket); }

ASYNC_SOCKET_SEND_SYNC_RESULT socket_send(Socket& socket, const ASYNC_SOCKET_BUFFER* payload, uint32_t buffer_count, ON_ASYNC_SOCKET_SEND_COMPLETE on_send_complete, void* on_send_complete_context) noexcept
{
    Op* op = make_op(socket, ItemKind::send, payload, buffer_count, on_send_complete_context);
    if (op == nullptr)
        return ASYNC_SOCKET_SEND_SYNC_ERROR;
    op->on_send = on_send_complete;
    if (submit(socket, op) == Submit::not_open)
    {
        op_free(op);
        return ASYNC_SOCKET_SEND_SYNC_ABANDONED;
    }
    return ASYNC_SOCKET_SEND_SYNC_OK;
}

int socket_receive(Socket& socket, ASYNC_SOCKET_BUFFER* payload, uint32_t buffer_count, ON_ASYNC_SOCKET_RECEIVE_COMPLETE on_receive_complete, void* on_receive_complete_context) noexcept
{
    Op* op = make_op(socket, ItemKind::receive, payload, buffer_count, on_receive_complete_context);
    if (op == nullptr)
        return ENOMEM;
    op->on_receive = on_receive_complete;
    if (submit(socket, op) == Submit::not_open)
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

}  // namespace asock::detail
