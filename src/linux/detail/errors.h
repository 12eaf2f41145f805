// How errno values become the seed's results.
#pragma once

#include <cerrno>
#include <cstdint>

#include "asock/async_socket.h"

namespace asock::detail {

// The connection is gone (peer reset or closed, or the local side shut down): operations on
// it are abandoned rather than failed.
inline bool connection_gone(int error) noexcept
{
    switch (error)
    {
    case ECONNRESET:
    case ECONNABORTED:
    case EPIPE:
    case ENOTCONN:
    case ESHUTDOWN:
    case ETIMEDOUT:
        return true;
    default:
        return false;
    }
}

inline ASYNC_SOCKET_SEND_RESULT send_result_for_error(int error) noexcept
{
    return connection_gone(error) ? ASYNC_SOCKET_SEND_ABANDONED : ASYNC_SOCKET_SEND_ERROR;
}

// result: bytes received (> 0), 0 for an orderly shutdown by the peer, or -errno.
inline ASYNC_SOCKET_RECEIVE_RESULT receive_result_for(long result) noexcept
{
    if (result > 0)
        return ASYNC_SOCKET_RECEIVE_OK;
    if (result == 0 || connection_gone(static_cast<int>(-result)))
        return ASYNC_SOCKET_RECEIVE_ABANDONED;
    return ASYNC_SOCKET_RECEIVE_ERROR;
}

// Interrupted or not ready: the operation stays queued and is tried again.
inline bool is_retry(int error) noexcept
{
    return error == EINTR || error == EAGAIN || error == EWOULDBLOCK;
}

}  // namespace asock::detail
