// The handle core's lifetime and the caller's side of the close protocol (detail/handle.h); the
// loop's side is in loop.cpp (close_here, process_close_waiter).
#include <thread>

#include "detail/engine.h"
#include "detail/handle.h"
#include "detail/listener.h"
#include "detail/loop.h"
#include "detail/socket.h"
#include "detail/sys.h"
#include "detail/timer.h"
#include "detail/wait_graph.h"

namespace asock::detail {
namespace {

// A close on a thread that does not run the handle's loop: the loop closes, this thread waits
// (its CloseWaiter goes to the loop). It goes also when the handle is already closed: the
// caller returns only once no callback of it runs. A loop thread that waits (a callback of
// another loop) registers in the wait-for graph and keeps closing its own loop's handles for
// others meanwhile (CloseWaiter::wait), so that loops closing each other's handles cannot
// deadlock.
void close_elsewhere(Handle& handle, std::unique_lock<SmallMutex>& lock) noexcept
{
    Loop* const here = Loop::current();
    CloseWaiter waiter(handle, here);
    if (handle.state == HandleState::open)
        handle.state = HandleState::closing;
    handle_add_ref(handle);  // the waiter's, until the loop releases it
    lock.unlock();
    WaitEdge edge;
    if (here != nullptr)
        edge.add_unchecked(here, handle.loop);
    // Operations accepted before the state changed were handed over before it, under the
    // mutex: they reach the loop first.
    handle.loop->post(&waiter);
    waiter.wait();
}

}  // namespace

void handle_free(Handle& handle) noexcept
{
    Engine& engine = *handle.engine;
    switch (handle.kind)
    {
    case HandleKind::socket:
        delete static_cast<Socket*>(&handle);
        break;
    case HandleKind::listener:
        delete static_cast<Listener*>(&handle);
        break;
    case HandleKind::timer:
        delete static_cast<Timer*>(&handle);
        break;
    }
    engine.dec_ref();
}

void handle_close(Handle& handle) noexcept
{
    std::unique_lock<SmallMutex> lock(handle.mutex);
    // opening lasts only while another thread is inside open_async.
    while (handle.state == HandleState::opening)
    {
        lock.unlock();
        std::this_thread::yield();
        lock.lock();
    }
    if (handle.state == HandleState::created)
        return;  // never opened: nothing of it is the loop's
    Loop& loop = *handle.loop;
    if (!loop.on_loop_thread())
    {
        close_elsewhere(handle, lock);
        return;
    }
    // On the loop's own thread (a callback): close now. A close of another thread may be under
    // way (closing): its request is still queued here, so do its work now; the request then
    // only releases that thread. Closed: the operations a close left may still be due.
    if (handle.state == HandleState::open)
        handle.state = HandleState::closing;
    lock.unlock();
    loop.close_here(handle);
}

void handle_destroy(Handle& handle) noexcept
{
    handle_close(handle);
    // Now created (never opened: the descriptor is still ours to close, and the loop never saw
    // the handle) or closed (or closing, when the close did not wait: see close_elsewhere).
    bool never_opened;
    {
        std::lock_guard<SmallMutex> lock(handle.mutex);
        never_opened = handle.state == HandleState::created;
    }
    if (never_opened && handle.fd >= 0)
        sys::close(handle.fd);
    handle_release(handle);  // the owner's
}

}  // namespace asock::detail
