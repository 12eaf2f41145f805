// The listener behind ASYNC_SOCKET_LISTENER_HANDLE (listener_linux.cpp) and the connect
// (connect_linux.cpp): their completions, for the loop.
#pragma once

#include <cerrno>

#include "detail/handle.h"

namespace asock::detail {

struct Listener : Handle
{
    Listener(Engine& e, Loop& l, int handle_fd, uint16_t bound_port) noexcept : Handle(HandleKind::listener, e, l, handle_fd), port(bound_port) {}

    const uint16_t port;
};

// Not reported to the application: a connection that went away before it was accepted, and the
// network errors that accept(2) passes on from a pending connection. The accept goes on.
inline bool is_accept_retry(int error) noexcept
{
    switch (error)
    {
    case EAGAIN:
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
        return true;
    default:
        return false;
    }
}

// Completions (loop thread, inside a HandleScope), as complete_receive in detail/socket.h.
// result: an accepted descriptor or -errno; a connect's 0 or -errno.
bool complete_accept(Loop& loop, Op& op, long result) noexcept;
bool complete_connect(Loop& loop, Op& op, long result) noexcept;

}  // namespace asock::detail
