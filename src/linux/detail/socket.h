// The async socket object behind ASYNC_SOCKET_HANDLE.
#pragma once

#include <cstdint>

#include "asock/async_socket.h"
#include "detail/op.h"
#include "detail/small_mutex.h"

namespace asock::detail {

class Engine;
class Loop;

enum class SocketState : uint8_t
{
    created,  // not opened yet: the handle is ours to close on destroy
    opening,  // inside async_socket_open_async
    open,
    closing,  // a close has started: the pending operations are being completed
    closed,   // the handle is closed and every operation completed; cannot re-open
};

// A thread that waits for a close carried out by the socket's loop (see Loop::close).
struct CloseWaiter;

// Link in a loop's circular list of sockets with I/O to start (a base class, so that the list
// code can get back to the socket with a static_cast). Linked to itself when in no list.
struct DirtyNode
{
    DirtyNode* prev = this;
    DirtyNode* next = this;
    bool linked() const noexcept { return next != this; }
};

// The items a socket sends through its loop's lists besides operations, embedded in the
// socket as base classes (a downcast gets back to the socket): a socket opens once, has at
// most one close request in flight and is released once.
template <ItemKind Kind>
struct EmbeddedItem : Item
{
    EmbeddedItem() noexcept { kind = Kind; }
};
using OpenNotice = EmbeddedItem<ItemKind::open_notice>;
using CloseRequest = EmbeddedItem<ItemKind::close_request>;
// Sent by a destroy on another loop's thread, which hands the free to the owner. Once the
// owner has decided to free the socket, its link also chains the sockets waiting to be freed.
using ReleaseRequest = EmbeddedItem<ItemKind::release>;

// Fields are grouped by who may touch them. The owning loop's thread is the only one that
// touches the "loop-owned" group, which is why the I/O paths need no lock. The layout is
// packed by hand: library-owned memory per open socket must stay within 192 bytes.
struct Socket : DirtyNode, OpenNotice, CloseRequest, ReleaseRequest
{
    Socket(Engine& e, Loop& l, int handle) noexcept : engine(&e), loop(&l), fd(handle) {}

    Item* open_notice() noexcept { return static_cast<OpenNotice*>(this); }
    Item* close_request() noexcept { return static_cast<CloseRequest*>(this); }
    Item* release_request() noexcept { return static_cast<ReleaseRequest*>(this); }

    // Immutable after create.
    Engine* const engine;
    Loop* const loop;

    // Guarded by mutex. Sends and receives hold it while they check the state and hand the
    // operation over, which is how close "waits for API calls in progress": once close has
    // switched the state under the mutex, every operation accepted before is already queued.
    SmallMutex mutex;
    SocketState state = SocketState::created;
    bool close_request_pending = false;  // the close request is somewhere in the loop's lists
    CloseWaiter* close_waiters = nullptr;
    ON_ASYNC_SOCKET_OPEN_COMPLETE on_open_complete = nullptr;
    void* on_open_complete_context = nullptr;

    // Loop-owned.
    bool detached = false;  // perform_close started: no more I/O, events or new operations
    uint8_t send_failure = 0;  // 0, or 1 + the ASYNC_SOCKET_SEND_RESULT every later send gets
    // Backend state. epoll: readiness seen and not yet consumed.
    bool readable = false;
    bool writable = false;
    bool read_side_ended = false;  // epoll reported RDHUP/HUP/ERR: receives never wait again
    int fd;
    // Frames of the loop's stack that refer to the socket (see Loop::SocketScope): it may
    // not be freed, nor may a closer that could free it be released, while this is not 0.
    uint32_t stack_refs = 0;
    ItemQueue receives;
    ItemQueue sends;
    // Backend state. io_uring: the operations the kernel holds (at most one receive, one
    // send batch).
    Op* receive_in_flight = nullptr;
    Op* send_in_flight = nullptr;
};

static_assert(sizeof(Socket) <= 184, "per-socket memory budget (192 bytes with malloc's header)");

// The socket an item belongs to.
inline Socket& socket_of(Item* item) noexcept
{
    switch (item->kind)
    {
    case ItemKind::open_notice:
        return static_cast<Socket&>(static_cast<OpenNotice&>(*item));
    case ItemKind::close_request:
        return static_cast<Socket&>(static_cast<CloseRequest&>(*item));
    case ItemKind::release:
        return static_cast<Socket&>(static_cast<ReleaseRequest&>(*item));
    case ItemKind::send:
    case ItemKind::receive:
    case ItemKind::task:  // not a socket's: never asked (Loop::process_item runs tasks first)
        break;
    }
    return *as_op(item)->socket;
}

}  // namespace asock::detail
