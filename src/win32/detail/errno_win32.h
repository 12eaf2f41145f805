// The one error domain of the API: every non-zero code asock returns or reports is an errno
// value, on Windows as on Linux (SRS_ASYNC_SOCKET_WIN32_77_010). Winsock errors and I/O
// completion statuses become errno values here, and nowhere else.
#pragma once

#include <winsock2.h>
#include <windows.h>

#include <cerrno>

#include "detail/win32_api.h"

namespace asock::detail {

// The errno value (as Linux reports it) for a Winsock error or an I/O completion status; 0
// for 0, EIO for what has no closer match.
inline int errno_from(unsigned long error) noexcept
{
    switch (error)
    {
    case 0:
        return 0;
    case WSAECONNREFUSED:
    case ERROR_CONNECTION_REFUSED:
        return ECONNREFUSED;
    case WSAETIMEDOUT:
    case ERROR_SEM_TIMEOUT:
        return ETIMEDOUT;
    case WSAENETUNREACH:
    case ERROR_NETWORK_UNREACHABLE:
        return ENETUNREACH;
    case WSAEHOSTUNREACH:
    case ERROR_HOST_UNREACHABLE:
        return EHOSTUNREACH;
    case WSAEADDRINUSE:
    case ERROR_ADDRESS_ALREADY_ASSOCIATED:
        return EADDRINUSE;
    case WSAEADDRNOTAVAIL:
        return EADDRNOTAVAIL;
    case WSAEAFNOSUPPORT:
    case WSAEPFNOSUPPORT:
    case WSAEPROTONOSUPPORT:
        return EAFNOSUPPORT;
    case WSAEACCES:
    case ERROR_ACCESS_DENIED:
        return EACCES;
    case WSAEMFILE:
    case ERROR_TOO_MANY_OPEN_FILES:
        return EMFILE;
    case WSAENOBUFS:
        return ENOBUFS;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
        return ENOMEM;
    case WSAEINVAL:
        return EINVAL;
    case WSAEFAULT:
        return EFAULT;
    case WSAEMSGSIZE:
        return EMSGSIZE;
    case WSAENOTSOCK:
    case ERROR_INVALID_HANDLE:
        return ENOTSOCK;
    case WSAENOTCONN:
        return ENOTCONN;
    case WSAESHUTDOWN:
        return EPIPE;  // what Linux reports for a send after shutdown
    case WSAECONNRESET:
    case ERROR_NETNAME_DELETED:
        return ECONNRESET;
    case WSAECONNABORTED:
    case ERROR_CONNECTION_ABORTED:
        return ECONNABORTED;
    case ERROR_OPERATION_ABORTED:
        return ECANCELED;
    case WSAENETDOWN:
        return ENETDOWN;
    default:
        return EIO;
    }
}

// The errno value of a call that failed: never 0, even when the system gave no error code.
inline int failure_errno(unsigned long error) noexcept { return error == 0 ? EIO : errno_from(error); }

// After an overlapped call that returns a BOOL (AcceptEx, ConnectEx): 0 when its completion
// will come through the threadpool (it succeeded at once, or it is pending), else the errno
// value of the failure. A FALSE with no error code is a failure too: treating it as started
// would promise a callback that never comes (SRS_ASYNC_SOCKET_WIN32_77_011).
inline int error_of_overlapped_start(bool succeeded) noexcept
{
    if (succeeded)
        return 0;
    const int error = os().WSAGetLastError();
    return error == WSA_IO_PENDING ? 0 : failure_errno(static_cast<unsigned long>(error));
}

// The same after WSASend or WSARecv, which return 0 or SOCKET_ERROR. Any other value is a
// failure, and WSAGetLastError is not asked about it (seed 01_105, 01_106).
inline int error_of_wsa_start(int returned) noexcept
{
    if (returned == 0)
        return 0;
    if (returned != SOCKET_ERROR)
        return EIO;
    return error_of_overlapped_start(false);
}

}  // namespace asock::detail
