// What net_win32.cpp needs from the Win32 socket (async_socket_win32.cpp): to run an
// overlapped call of its own (ConnectEx) on an open socket, completed through the socket's
// threadpool I/O like its sends and receives.
#pragma once

#include <winsock2.h>
#include <windows.h>

#include <cstdint>

namespace asock::detail {

struct Socket;

// The kind byte that follows the OVERLAPPED of every operation of a socket's threadpool I/O.
inline constexpr uint8_t kExternalIoKind = 0xE7;

// An overlapped operation started by another part of the backend. complete runs on the
// threadpool thread as the socket's own callbacks do (a close or destroy of the socket from it
// is a close from the socket's own callback); the ExternalIo is not touched after it.
struct ExternalIo
{
    OVERLAPPED overlapped{};
    uint8_t kind = kExternalIoKind;
    void (*complete)(ExternalIo& io, ULONG io_result, ULONG_PTR bytes) noexcept = nullptr;
};

// The socket's Winsock handle.
SOCKET socket_native(Socket& socket) noexcept;

// On an open socket: StartThreadpoolIo, then start(handle, io, argument), which makes the
// overlapped call with io.overlapped and returns what that call returned (TRUE or FALSE); the
// last error is read right after it. Returns 0 when io.complete will run, else the errno value
// of the failure (the threadpool I/O cancelled again; io.complete never runs).
int socket_start_external(Socket& socket, ExternalIo& io, bool (*start)(SOCKET handle, ExternalIo& io, void* argument) noexcept, void* argument) noexcept;

}  // namespace asock::detail
