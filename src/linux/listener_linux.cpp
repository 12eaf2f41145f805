// The Linux listener behind ASYNC_SOCKET_LISTENER_HANDLE: creation, accept requests, the close
// protocol and the lifetime. The backend does the accepting (Backend::flush_listener) and
// reports each result to listener_accept_done.
//
// Close follows the socket's protocol (docs/design.md, "Close"): on the listener's loop thread
// it runs at once; from any other thread it is handed to the loop (close_task) and the caller
// waits on a CloseWaiter, released once no frame of the loop's stack dispatches the listener
// any more. The memory is reference counted instead of deferred: whoever lets go last frees it.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <mutex>
#include <new>

#include "detail/engine.h"
#include "detail/fault.h"
#include "detail/loop.h"
#include "detail/net.h"
#include "detail/platform_net.h"
#include "detail/sys.h"

namespace asock::detail {
namespace {

// Binds and listens; returns 0 or an errno value, and the bound port.
int bind_and_listen(int fd, const sockaddr_storage& address, socklen_t length, int32_t backlog, uint16_t& port) noexcept
{
    const int one = 1;
    if (sys::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
        return errno;
    if (address.ss_family == AF_INET6 && sys::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)
        return errno;
    if (sys::bind(fd, reinterpret_cast<const sockaddr*>(&address), length) != 0)
        return errno;
    if (sys::listen(fd, backlog == 0 ? SOMAXCONN : backlog) != 0)
        return errno;
    sockaddr_storage bound{};
    socklen_t bound_length = sizeof(bound);
    if (sys::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_length) != 0)
        return errno;
    const in_port_t network_port = bound.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6&>(bound).sin6_port : reinterpret_cast<const sockaddr_in&>(bound).sin_port;
    port = ntohs(network_port);
    return 0;
}

// Posts the kick unless it is queued already. Called with the listener's mutex held.
void queue_kick(Listener& listener) noexcept
{
    if (listener.kick_queued)
        return;
    listener.kick_queued = true;
    listener_add_ref(listener);  // the queued task's
    listener.loop->post(&listener.kick);
}

// A task drops its own reference as soon as the scope holds one: every reference but the
// application's is gone before a scope releases a thread waiting in close (~ListenerScope),
// so that a destroy that follows frees the listener, and drops its engine reference, on the
// destroying thread.
void run_kick(void* owner) noexcept
{
    Listener& listener = *static_cast<Listener*>(owner);
    ListenerScope scope(listener);
    {
        std::lock_guard<SmallMutex> lock(listener.mutex);
        listener.kick_queued = false;
    }
    listener_release(listener);  // the task's
    if (!listener.detached)
        listener.loop->backend().flush_listener(listener);
}

// Takes the threads waiting for the close that may go now: a loop thread at once (it may be
// what keeps this loop's stack busy: two loops closing each other's objects), any other one
// only once no frame of the loop's stack dispatches the listener (stack_clear).
CloseWaiter* take_close_waiters(Listener& listener, bool stack_clear) noexcept
{
    CloseWaiter* ready = nullptr;
    std::lock_guard<SmallMutex> lock(listener.mutex);
    if (listener.state != ListenerState::closed)
        return nullptr;
    CloseWaiter** link = &listener.close_waiters;
    while (*link != nullptr)
    {
        CloseWaiter* waiter = *link;
        if (waiter->loop != nullptr || stack_clear)
        {
            *link = waiter->next;
            waiter->next = ready;
            ready = waiter;
        }
        else
        {
            link = &waiter->next;
        }
    }
    return ready;
}

void signal_close_waiters(CloseWaiter* ready) noexcept
{
    while (ready != nullptr)
    {
        CloseWaiter* next = ready->next;  // read before the waiter may vanish
        ready->signal();
        ready = next;
    }
}

// Completes the waiting accepts with ABANDONED, for a close. They are taken from the queue one
// at a time, so that a close made by one of these callbacks finds the rest there. The callbacks
// may accept (refused: the state is closing), close or destroy the listener (the caller's
// scope keeps it alive).
void abandon_waiting_accepts(Listener& listener) noexcept
{
    for (;;)
    {
        AcceptRequest* request;
        {
            std::lock_guard<SmallMutex> lock(listener.mutex);
            request = static_cast<AcceptRequest*>(listener.accepts.pop_front());
        }
        if (request == nullptr)
            return;
        const auto callback = request->callback;
        void* context = request->context;
        delete request;
        callback(context, ASYNC_SOCKET_ACCEPT_ABANDONED, nullptr, 0);
    }
}

// Runs inside a ListenerScope, on the loop's thread, once.
void perform_close(Listener& listener) noexcept
{
    listener.detached = true;
    listener.loop->backend().detach_listener(listener);
    sys::close(listener.fd);
    abandon_waiting_accepts(listener);
    {
        std::lock_guard<SmallMutex> lock(listener.mutex);
        listener.state = ListenerState::closed;
    }
    signal_close_waiters(take_close_waiters(listener, false));
}

void run_close_task(void* owner) noexcept
{
    Listener& listener = *static_cast<Listener*>(owner);
    ListenerScope scope(listener);
    {
        std::lock_guard<SmallMutex> lock(listener.mutex);
        listener.close_queued = false;
    }
    listener_release(listener);  // the task's (see run_kick)
    if (!listener.detached)
        perform_close(listener);
}

// A close on a thread that does not run the listener's loop: the loop closes, this thread
// waits. The request goes also when the listener is already closed, so that the caller
// returns only once no callback of the listener runs any more.
void close_elsewhere(Listener& listener, std::unique_lock<SmallMutex>& lock) noexcept
{
    CloseWaiter waiter(Loop::current());
    waiter.next = listener.close_waiters;
    listener.close_waiters = &waiter;
    if (listener.state == ListenerState::open)
        listener.state = ListenerState::closing;
    if (!listener.close_queued)
    {
        listener.close_queued = true;
        listener_add_ref(listener);  // the queued task's
        listener.loop->post(&listener.close_task);
    }
    lock.unlock();
    waiter.wait();
}

}  // namespace

Listener::Listener(Engine& e, Loop& l, int handle, uint16_t bound_port) noexcept
    : NetTarget(NetKind::listener), engine(&e), loop(&l), fd(handle), port(bound_port), kick(&run_kick, this), close_task(&run_close_task, this)
{
}

void listener_add_ref(Listener& listener) noexcept { listener.refs.fetch_add(1, std::memory_order_relaxed); }

void listener_release(Listener& listener) noexcept
{
    if (listener.refs.fetch_sub(1, std::memory_order_acq_rel) != 1)
        return;
    Engine& engine = *listener.engine;
    delete &listener;
    engine.dec_ref();
}

bool listener_has_waiting_accepts(Listener& listener) noexcept
{
    std::lock_guard<SmallMutex> lock(listener.mutex);
    return !listener.accepts.empty();
}

void listener_flush_later(Listener& listener) noexcept
{
    std::lock_guard<SmallMutex> lock(listener.mutex);
    queue_kick(listener);
}

bool listener_accept_done(Listener& listener, int result) noexcept
{
    AcceptRequest* request;
    {
        std::lock_guard<SmallMutex> lock(listener.mutex);
        request = static_cast<AcceptRequest*>(listener.accepts.pop_front());
    }
    if (request == nullptr)
    {
        // Backends accept only for a waiting request, and only this thread takes requests.
        if (result >= 0)
            sys::close(result);
        return !listener.detached;
    }
    int error = result < 0 ? -result : 0;
    ASYNC_SOCKET_HANDLE socket = nullptr;
    if (result >= 0)
    {
        socket = adopt_connected_socket(listener.engine->pick_loop(), result, error);
        if (socket == nullptr)
            sys::close(result);
    }
    const auto callback = request->callback;
    void* context = request->context;
    delete request;
    callback(context, socket != nullptr ? ASYNC_SOCKET_ACCEPT_OK : ASYNC_SOCKET_ACCEPT_ERROR, socket, error);
    return !listener.detached;
}

ListenerScope::ListenerScope(Listener& listener) noexcept : listener_(listener)
{
    listener_add_ref(listener);
    ++listener.stack_refs;
}

ListenerScope::~ListenerScope()
{
    CloseWaiter* ready = nullptr;
    if (--listener_.stack_refs == 0 && listener_.detached)
        ready = take_close_waiters(listener_, true);
    // Released before the waiters: a waiting thread still holds the application's reference,
    // so this is not the last one when there are waiters, and once they are signalled the
    // listener may be freed at any moment.
    listener_release(listener_);
    signal_close_waiters(ready);
}

// --- The platform interface (detail/platform_net.h) -------------------------------------------

ASYNC_SOCKET_LISTENER_CREATE_RESULT listener_create(EXECUTION_ENGINE_HANDLE execution_engine, const char* address, uint16_t port, int32_t backlog, Listener*& listener, int& error) noexcept
{
    sockaddr_storage bind_address;
    socklen_t length;
    if (!parse_address(address, port, bind_address, length))
    {
        error = EINVAL;
        return ASYNC_SOCKET_LISTENER_CREATE_INVALID_ARGUMENT;
    }
    Engine& engine = *Engine::from_handle(execution_engine);
    Loop& loop = engine.pick_loop();
    const int fd = make_stream_socket(bind_address, loop);
    if (fd < 0)
    {
        error = errno;
        return create_result_for(error);
    }
    uint16_t bound_port = 0;
    error = bind_and_listen(fd, bind_address, length, backlog, bound_port);
    Listener* created = nullptr;
    if (error == 0)
    {
        created = inject_fault(FaultPoint::listener_alloc) ? nullptr : new (std::nothrow) Listener(engine, loop, fd, bound_port);
        error = created == nullptr ? ENOMEM : loop.backend().attach_listener(*created);
    }
    if (error != 0)
    {
        delete created;
        sys::close(fd);
        return create_result_for(error);
    }
    engine.inc_ref();
    listener = created;
    return ASYNC_SOCKET_LISTENER_CREATE_OK;
}

uint16_t listener_port(const Listener& listener) noexcept { return listener.port; }

int listener_accept(Listener& listener, ON_ASYNC_SOCKET_ACCEPT_COMPLETE on_accept_complete, void* context) noexcept
{
    auto* request = inject_fault(FaultPoint::accept_alloc) ? nullptr : new (std::nothrow) AcceptRequest;
    if (request == nullptr)
        return ENOMEM;
    request->callback = on_accept_complete;
    request->context = context;
    std::lock_guard<SmallMutex> lock(listener.mutex);
    if (listener.state != ListenerState::open)
    {
        delete request;
        return EBADF;
    }
    listener.accepts.push_back(request);
    // Always through the loop's inbox, also on its own thread: the callback must not run
    // inside this call.
    queue_kick(listener);
    return 0;
}

void listener_close(Listener& listener) noexcept
{
    std::unique_lock<SmallMutex> lock(listener.mutex);
    if (!listener.loop->on_loop_thread())
    {
        close_elsewhere(listener, lock);
        return;
    }
    // On the loop's own thread (inside a callback): close now. A close of another thread may
    // be under way (closing): its task is still queued here, so do its work now; the task then
    // only releases that thread.
    if (listener.state == ListenerState::open)
        listener.state = ListenerState::closing;
    lock.unlock();
    ListenerScope scope(listener);
    if (!listener.detached)
    {
        perform_close(listener);
        return;
    }
    // A close of this listener is already running further up this thread's stack (this may be
    // one of the callbacks it runs): complete the rest now, so that no other callback of the
    // listener starts after this close returns.
    abandon_waiting_accepts(listener);
}

void listener_destroy(Listener& listener) noexcept
{
    listener_close(listener);
    listener_release(listener);  // the application's reference
}

}  // namespace asock::detail
