// The async socket behind ASYNC_SOCKET_HANDLE: the handle core (detail/handle.h) and its open.
#pragma once

#include "asock/async_socket.h"
#include "detail/handle.h"

namespace asock::detail {

struct Socket : Handle, OpenNotice
{
    Socket(Engine& e, Loop& l, int handle_fd) noexcept : Handle(HandleKind::socket, e, l, handle_fd) {}

    Item* open_notice() noexcept { return static_cast<OpenNotice*>(this); }

    ON_ASYNC_SOCKET_OPEN_COMPLETE on_open_complete = nullptr;  // set under the mutex by open
    void* on_open_complete_context = nullptr;
};

static_assert(sizeof(Socket) <= 184, "per-socket memory budget (192 bytes with malloc's header)");

inline Socket& socket_of_open_notice(Item* item) noexcept { return static_cast<Socket&>(static_cast<OpenNotice&>(*item)); }

inline ASYNC_SOCKET_HANDLE socket_handle_of(Socket& socket) noexcept { return reinterpret_cast<ASYNC_SOCKET_HANDLE>(&socket); }

// An async socket on loop, already open, for a connected descriptor (TCP_NODELAY is set here).
// nullptr and error on failure: the descriptor is then still the caller's.
Socket* adopt_connected_socket(Loop& loop, int fd, int& error) noexcept;

// Completions of socket operations (loop thread, inside a HandleScope of the socket). Each
// returns false when the operation is not finished and stays first in its queue (to be
// started again), true when it was taken off its queue and completed.
bool complete_receive(Loop& loop, Op& op, long result) noexcept;
bool complete_send(Loop& loop, Op& op, long result) noexcept;
// The operation ended by a close: completed ABANDONED (whatever its kind).
void complete_abandoned(Op& op) noexcept;
// A send that a failure before it left unsent: completed with that failure.
void complete_failed_send(Op& op, uint8_t failure) noexcept;

}  // namespace asock::detail
