// The Linux listener behind ASYNC_SOCKET_LISTENER_HANDLE: creation, accept operations and their
// completion. Accepts are operations of the listener's read queue, started one at a time by its
// loop like a socket's receives; the handle core (handle_linux.cpp) closes and frees it.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
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

// The steps of bind_and_listen (common/detail/net_common.h) on Linux.
struct LinuxListenCalls
{
    static int reuse_address(int fd) noexcept
    {
        const int one = 1;
        return sys::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    }
    static int v6_only(int fd) noexcept
    {
        const int one = 1;
        return sys::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    static int bind(int fd, const sockaddr* address, socklen_t length) noexcept { return sys::bind(fd, address, length); }
    static int listen(int fd, int backlog) noexcept { return sys::listen(fd, backlog); }
    static int getsockname(int fd, sockaddr* address, socklen_t* length) noexcept { return sys::getsockname(fd, address, length); }
    static int error() noexcept { return errno; }
};

}  // namespace

bool complete_accept(Loop& loop, Op& op, long result) noexcept
{
    if (result < 0 && is_accept_retry(static_cast<int>(-result)))
    {
        if (!ended_early(op))
            return false;
        result = -ECANCELED;
    }
    Handle& listener = *op.handle;
    listener.queues[kReads].remove(&op);  // the first, unless a cancel took it from behind others
    if (result == -ECANCELED && ended_early(op))
    {
        const auto on_cancelled = op.on_accept;
        void* cancelled_context = op.context;
        op_free(&op);
        on_cancelled(cancelled_context, ASYNC_SOCKET_ACCEPT_CANCELLED, nullptr, 0);
        return true;
    }
    int error = result < 0 ? static_cast<int>(-result) : 0;
    Socket* socket = nullptr;
    if (result >= 0)
    {
        socket = adopt_connected_socket(loop.engine().pick_loop(), static_cast<int>(result), !static_cast<Listener&>(listener).unix_domain, error);
        if (socket == nullptr)
            sys::close(static_cast<int>(result));
    }
    const auto callback = op.on_accept;
    void* context = op.context;
    op_free(&op);
    callback(context, socket != nullptr ? ASYNC_SOCKET_ACCEPT_OK : ASYNC_SOCKET_ACCEPT_ERROR, socket != nullptr ? socket_handle_of(*socket) : nullptr, error);
    return true;
}

// --- The platform interface (detail/platform_net.h) -------------------------------------------

// The listener around a descriptor that listens: attached to a loop and open. On failure the
// descriptor is closed and the error returned.
int make_listener(Engine& engine, Loop& loop, int fd, uint16_t port, Listener*& listener) noexcept
{
    Listener* created = inject_fault(FaultPoint::listener_alloc) ? nullptr : new (std::nothrow) Listener(engine, loop, fd, port);
    const int error = created == nullptr ? ENOMEM : loop.backend().attach(*created);
    if (error != 0)
    {
        delete created;
        sys::close(fd);
        return error;
    }
    created->state = HandleState::open;
    engine.inc_ref();
    listener = created;
    return 0;
}

ASYNC_SOCKET_LISTENER_CREATE_RESULT listener_create(EXECUTION_ENGINE_HANDLE execution_engine, const char* address, uint16_t port, int32_t backlog, Listener*& listener, int& error) noexcept
{
    sockaddr_storage bind_address;
    socklen_t length;
    if (!parse_address(address, port, bind_address, length, ::inet_pton))
    {
        error = EINVAL;
        return ASYNC_SOCKET_LISTENER_CREATE_INVALID_ARGUMENT;
    }
    Engine& engine = *Engine::from_handle(execution_engine);
    Loop& loop = engine.pick_loop();
    const int fd = sys::socket(bind_address.ss_family, SOCK_STREAM | SOCK_CLOEXEC | loop.backend().socket_flags(), 0);
    if (fd < 0)
    {
        error = errno;
        return create_result_for(error);
    }
    uint16_t bound_port = 0;
    error = bind_and_listen<LinuxListenCalls>(fd, bind_address, length, backlog, bound_port);
    if (error != 0)
        sys::close(fd);
    else
        error = make_listener(engine, loop, fd, bound_port, listener);
    return create_result_for(error);
}

uint16_t listener_port(const Listener& listener) noexcept { return listener.port; }

int listener_accept(Listener& listener, ON_ASYNC_SOCKET_ACCEPT_COMPLETE on_accept_complete, void* context) noexcept
{
    Op* op = op_alloc(0);
    if (op == nullptr)
        return ENOMEM;
    op->handle = &listener;
    op->kind = ItemKind::accept;
    op->on_accept = on_accept_complete;
    op->context = context;
    // Queued, never started here: the callback must not run inside this call.
    if (!handle_submit(listener, op))
    {
        op_free(op);
        return EBADF;
    }
    return 0;
}

void listener_close(Listener& listener) noexcept { handle_close(listener); }

void listener_destroy(Listener& listener) noexcept { handle_destroy(listener); }


int listener_cancel_accepts(Listener& listener) noexcept { return cancel_reads_of(listener); }

}  // namespace asock::detail
