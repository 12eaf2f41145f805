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

// The same, for the members of a per-loop listener: SO_REUSEPORT as well, before the bind.
struct LinuxReusePortCalls : LinuxListenCalls
{
    static int reuse_address(int fd) noexcept
    {
        const int one = 1;
        if (LinuxListenCalls::reuse_address(fd) != 0)
            return -1;
        return sys::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    }
};

// The member a new accept goes to: on a member's loop thread (an accept callback starting the
// next accept), that member, so that each member keeps the accepts it had; elsewhere the members
// in turn.
Listener& member_for_accept(Listener& head) noexcept
{
    if (head.members == nullptr || head.loop->on_loop_thread())
        return head;
    for (uint32_t i = 0; i < head.member_count; ++i)
        if (head.members[i]->loop->on_loop_thread())
            return *head.members[i];
    const uint32_t turn = head.next_member.fetch_add(1, std::memory_order_relaxed) % (head.member_count + 1);
    return turn == 0 ? head : *head.members[turn - 1];
}

// Every member of a per-loop listener (the head last), or the one listener.
template <typename Action>
void for_each_member(Listener& head, Action action) noexcept
{
    for (uint32_t i = 0; i < head.member_count; ++i)
        action(*head.members[i]);
    action(head);
}

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
        const Listener& accepting = static_cast<Listener&>(listener);
        Loop& serving = accepting.keep_on_loop ? loop : loop.engine().pick_loop();
        socket = adopt_connected_socket(serving, static_cast<int>(result), !accepting.unix_domain, error);
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

// One listening socket per loop of the engine, bound to one port with SO_REUSEPORT: the first
// binds (port 0 picks one), the others join it.
ASYNC_SOCKET_LISTENER_CREATE_RESULT listener_create_per_loop(EXECUTION_ENGINE_HANDLE execution_engine, const char* address, uint16_t port, int32_t backlog, Listener*& listener, int& error) noexcept
{
    sockaddr_storage bind_address;
    socklen_t length;
    if (!parse_address(address, port, bind_address, length, ::inet_pton))
    {
        error = EINVAL;
        return ASYNC_SOCKET_LISTENER_CREATE_INVALID_ARGUMENT;
    }
    Engine& engine = *Engine::from_handle(execution_engine);
    const size_t count = engine.loop_count();
    Listener** members = count > 1 ? new (std::nothrow) Listener*[count - 1]() : nullptr;
    if (count > 1 && (members == nullptr || inject_fault(FaultPoint::listener_alloc)))
    {
        delete[] members;
        error = ENOMEM;
        return create_result_for(error);
    }
    Listener* head = nullptr;
    error = 0;
    for (size_t i = 0; i < count && error == 0; ++i)
    {
        Loop& loop = engine.loop_at(i);
        const int fd = sys::socket(bind_address.ss_family, SOCK_STREAM | SOCK_CLOEXEC | loop.backend().socket_flags(), 0);
        if (fd < 0)
        {
            error = errno;
            break;
        }
        if (head != nullptr)
            set_port(bind_address, head->port);
        uint16_t bound_port = 0;
        error = bind_and_listen<LinuxReusePortCalls>(fd, bind_address, length, backlog, bound_port);
        Listener* member = nullptr;
        if (error != 0)
            sys::close(fd);
        else
            error = make_listener(engine, loop, fd, bound_port, member);
        if (error != 0)
            break;
        member->keep_on_loop = true;
        if (head == nullptr)
            head = member;
        else
            members[head->member_count++] = member;
    }
    if (error != 0)
    {
        if (head != nullptr)
        {
            for (uint32_t i = 0; i < head->member_count; ++i)
                handle_destroy(*members[i]);
            head->member_count = 0;
            handle_destroy(*head);
        }
        delete[] members;
        return create_result_for(error);
    }
    head->members = members;
    listener = head;
    return ASYNC_SOCKET_LISTENER_CREATE_OK;
}

uint16_t listener_port(const Listener& listener) noexcept { return listener.port; }

int listener_accept(Listener& head, ON_ASYNC_SOCKET_ACCEPT_COMPLETE on_accept_complete, void* context) noexcept
{
    Listener& listener = member_for_accept(head);
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

void listener_close(Listener& listener) noexcept
{
    for_each_member(listener, [](Listener& member) { handle_close(member); });
}

// The members first: the head (and with it the array of members) may be freed by its destroy.
void listener_destroy(Listener& listener) noexcept
{
    for (uint32_t i = 0; i < listener.member_count; ++i)
        handle_destroy(*listener.members[i]);
    handle_destroy(listener);
}

// Every member's accepts; the first error, if any (the others are still cancelled).
int listener_cancel_accepts(Listener& listener) noexcept
{
    int first_error = 0;
    for_each_member(listener, [&first_error](Listener& member) {
        const int error = cancel_reads_of(member);
        if (first_error == 0)
            first_error = error;
    });
    return first_error;
}

}  // namespace asock::detail
