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

uint64_t deadline_after(uint32_t timeout_ms) noexcept
{
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count());
}

// 0, or why the connected descriptor cannot become an open socket.
int open_connected(Loop& loop, Socket& socket) noexcept
{
    const int one = 1;
    if (sys::setsockopt(socket.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
        return errno;
    const int error = loop.backend().attach(socket);
    if (error != 0)
        return error;
    std::lock_guard<SmallMutex> lock(socket.mutex);
    socket.state = HandleState::open;
    return 0;
}

}  // namespace

// The socket's scope is on the stack. The connect's owner reference (the socket's first)
// goes to the callback on success; on failure it is dropped after the callback, which is also
// when the socket lets go of its engine reference.
bool complete_connect(Loop& loop, Op& op, long result) noexcept
{
    auto& socket = static_cast<Socket&>(*op.handle);
    socket.queues[kWrites].pop_front();
    int error = result == 0 ? 0 : op.has(Op::kTimedOut) ? ETIMEDOUT : static_cast<int>(-result);
    if (error == 0)
        error = open_connected(loop, socket);
    const auto callback = op.on_connect;
    void* context = op.context;
    op_free(&op);
    if (error == 0)
    {
        callback(context, ASYNC_SOCKET_CONNECT_OK, socket_handle_of(socket), 0);
        return true;
    }
    loop.perform_close(socket);
    callback(context, connect_result_for(error), nullptr, error);
    handle_release(socket);
    return true;
}

// --- The platform interface (detail/platform_net.h) -------------------------------------------

int connect_start(EXECUTION_ENGINE_HANDLE execution_engine, const char* address, uint16_t port, uint32_t timeout_ms, ON_ASYNC_SOCKET_CONNECT_COMPLETE on_connect_complete, void* context) noexcept
{
    sockaddr_storage peer;
    socklen_t length;
    if (!parse_address(address, port, peer, length, ::inet_pton))
        return EINVAL;
    Engine& engine = *Engine::from_handle(execution_engine);
    Loop& loop = engine.pick_loop();
    const int fd = sys::socket(peer.ss_family, SOCK_STREAM | SOCK_CLOEXEC | loop.backend().socket_flags(), 0);
    if (fd < 0)
        return errno;
    Op* op = op_alloc(0);
    auto* socket = op == nullptr || inject_fault(FaultPoint::connect_alloc) ? nullptr : new (std::nothrow) Socket(engine, loop, fd);
    if (socket == nullptr)
    {
        if (op != nullptr)
            op_free(op);
        sys::close(fd);
        return ENOMEM;
    }
    socket->state = HandleState::opening;
    engine.inc_ref();
    op->handle = socket;
    op->kind = ItemKind::connect;
    op->on_connect = on_connect_complete;
    op->context = context;
    std::memcpy(&op->connect.address, &peer, length);
    op->connect.address_length = length;
    op->connect.deadline.deadline_ns = deadline_after(timeout_ms);  // armed by the loop (Loop::queue)
    // Through the inbox also on the loop's own thread: the callback must not run inside this
    // call (a refused or unreachable connect may end at once).
    loop.post(op);
    return 0;
}

}  // namespace asock::detail
