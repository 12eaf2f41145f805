// The one core of every Linux handle (socket, listener; a connect is a socket that is not open
// yet): one lifetime rule, one close protocol, one way to abandon what is queued.
//
// Lifetime: a reference count. The owner holds one (the application, or the connect or accept
// that made the handle until its callback takes it), a close waiting in the loop's lists holds
// one, and so does each frame of the loop's stack that works on the handle (HandleScope).
// Whoever lets go last frees it, on whatever thread: operations never hold a reference (a close
// completes or orphans every operation before the handle can go).
//
// Close (handle_linux.cpp, Loop::close_here, Loop::process_close_waiter): only the handle's
// loop closes it. On the loop's thread (a callback) the close runs at once; any other thread
// posts a CloseWaiter (on its own stack) and waits until the loop has closed the handle where
// no callback of it runs. A loop thread that waits keeps closing its own handles for the
// threads that wait for it, so that loops closing each other's handles cannot deadlock.
//
// Callbacks of one handle never nest: the operations a close abandons are completed at once
// when no callback of the handle is on the loop's stack, or when the close was called by the
// handle's own innermost callback; otherwise (a cycle of closes) they are completed when the
// handle's callbacks up the stack have returned, and a closer that is part of that cycle is
// released before (see docs/api.md, "Closing from callbacks").
#pragma once

#include <atomic>
#include <cstdint>

#include "detail/handle_state.h"
#include "detail/op.h"
#include "detail/small_mutex.h"

namespace asock::detail {

class Engine;
class Loop;
struct CloseWaiter;

enum class HandleKind : uint8_t
{
    socket,
    listener,
    timer,  // no descriptor (fd -1): its one operation in flight is in the loop's heap, not a backend
};

// Link in a loop's circular list of handles with operations to start (a base class, so that the
// list code gets back to the handle with a static_cast). Linked to itself when in no list.
struct DirtyNode
{
    DirtyNode* prev = this;
    DirtyNode* next = this;
    bool linked() const noexcept { return next != this; }
};

// A notice a handle sends through its loop's inbox once, embedded as a base class (a downcast
// gets back to the owner).
template <ItemKind Kind>
struct EmbeddedItem : Item
{
    EmbeddedItem() noexcept { kind = Kind; }
};
using OpenNotice = EmbeddedItem<ItemKind::open_notice>;

// Fields are grouped by who may touch them. Only the owning loop's thread touches the
// loop-owned group, which is why the I/O paths need no lock. Packed by hand: a socket must
// stay within 184 bytes.
struct Handle : DirtyNode
{
    Handle(HandleKind k, Engine& e, Loop& l, int handle_fd) noexcept : engine(&e), loop(&l), kind(k), fd(handle_fd) {}

    // Immutable after create.
    Engine* const engine;
    Loop* const loop;
    const HandleKind kind;

    // Guarded by mutex. Operations are handed over while it is held and the state is open,
    // which is how a close "waits for API calls in progress": once close has switched the
    // state under the mutex, every operation accepted before is already queued or in the inbox.
    HandleState state = HandleState::created;
    SmallMutex mutex;

    std::atomic<uint32_t> refs{1};

    // Loop-owned.
    bool detached = false;          // the close has started: no more I/O, no new operations
    bool abandon_deferred = false;  // closed, with operations to complete once its callbacks return
    uint8_t write_failure = 0;      // 0, or 1 + the ASYNC_SOCKET_SEND_RESULT every later send gets
    uint16_t stack_refs = 0;        // frames of the loop's stack working on the handle
    int fd;
    uint64_t backend_data = 0;      // the backend's own state of this handle, opaque to the loop
    ItemQueue queues[2];            // by Direction
    Op* in_flight[2] = {nullptr, nullptr};  // the operation of each queue that a backend holds
};

// Frees the handle (its last reference went) and drops its engine reference.
void handle_free(Handle& handle) noexcept;

inline void handle_add_ref(Handle& handle) noexcept { handle.refs.fetch_add(1, std::memory_order_relaxed); }
// Drops a reference; the last one frees the handle.
inline void handle_release(Handle& handle) noexcept
{
    if (handle.refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
        handle_free(handle);
}

// (handle_submit and handle_post, which hand an operation to the handle's loop, are in
// detail/loop.h.)
// The close of async_socket_close and async_socket_listener_close.
void handle_close(Handle& handle) noexcept;
// The destroy: close, close the descriptor of a handle never opened, drop the owner's reference.
void handle_destroy(Handle& handle) noexcept;

}  // namespace asock::detail
