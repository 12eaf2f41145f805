// The async socket object behind ASYNC_SOCKET_HANDLE.
#pragma once

#include <cstdint>
#include <mutex>

#include "asock/async_socket.h"
#include "detail/op.h"

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
// code can get back to the socket with a static_cast).
struct DirtyNode
{
    DirtyNode* prev = this;
    DirtyNode* next = this;
};

// Fields are grouped by who may touch them. The owning loop's thread is the only one that
// touches the "loop-owned" group, which is why the I/O paths need no lock.
struct Socket : DirtyNode
{
    Socket(Engine& e, Loop& l, int handle) noexcept : engine(&e), loop(&l), fd(handle) {}

    // Immutable after create.
    Engine* const engine;
    Loop* const loop;

    // Guarded by mutex. Sends and receives hold it while they check the state and hand the
    // operation over, which is how close "waits for API calls in progress": once close has
    // switched the state under the mutex, every operation accepted before is already queued.
    std::mutex mutex;
    SocketState state = SocketState::created;
    bool close_request_pending = false;  // close_request is somewhere in the loop's lists
    CloseWaiter* close_waiters = nullptr;
    ON_ASYNC_SOCKET_OPEN_COMPLETE on_open_complete = nullptr;
    void* on_open_complete_context = nullptr;

    // Embedded items: a socket opens once, has at most one close request in flight and is
    // released once.
    Item open_notice;
    Item close_request;
    Item release_request;  // a destroy on another loop's thread hands the free to the owner

    // Loop-owned.
    int fd;
    bool detached = false;  // perform_close started: no more I/O, events or new operations
    // Frames of the loop's stack that refer to the socket (see Loop::SocketScope): it may
    // not be freed, nor may a closer that could free it be released, while this is not 0.
    uint32_t stack_refs = 0;
    uint8_t send_failure = 0;  // 0, or 1 + the ASYNC_SOCKET_SEND_RESULT every later send gets
    ItemQueue receives;
    ItemQueue sends;
    bool dirty = false;  // linked (through DirtyNode) in the loop's dirty list
    Socket* free_next = nullptr;

    // Loop-owned, backend state. epoll: readiness seen and not yet consumed.
    // io_uring: the operations the kernel holds (at most one receive, one send batch).
    bool readable = false;
    bool writable = false;
    bool read_side_ended = false;  // epoll reported RDHUP/HUP/ERR: receives never wait again
    Op* receive_in_flight = nullptr;
    Op* send_in_flight = nullptr;
};

}  // namespace asock::detail
