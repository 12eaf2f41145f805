// The operating-system side of the tests, the same on Linux and Windows: connected socket
// pairs, and the plain calls a test makes on the peer end (write, read, shut down, reset).
// net_posix.h and net_win32.h implement it; tests include helpers.h.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "asock/socket_handle.h"

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#endif

namespace asock_test {

#ifdef _WIN32
using NativeSocket = SOCKET;
inline const NativeSocket kNoSocket = INVALID_SOCKET;
#else
using NativeSocket = int;
inline constexpr NativeSocket kNoSocket = -1;
#endif

// Long enough for a loaded two-core machine (or Wine), short enough that a hang is a
// failure.
inline constexpr auto kTimeout = std::chrono::seconds(20);

// The two ends of a connection: `ours` goes to asock, `peer` is used with plain calls.
struct Connection
{
    SOCKET_HANDLE ours;
    NativeSocket peer;
};

// What async_socket_create takes for a native socket, and back.
inline SOCKET_HANDLE as_handle(NativeSocket socket);
inline NativeSocket as_native(SOCKET_HANDLE handle);

// A TCP connection over IPv4 loopback, both ends blocking, TCP_NODELAY on both.
inline Connection tcp_connection();
// The cheapest connected stream pair of the platform: AF_UNIX on Linux, TCP on Windows.
inline Connection local_connection();

inline void close_socket(NativeSocket socket);
#ifdef _WIN32
inline void close_socket(SOCKET_HANDLE socket);
#endif

// Whether the handle still refers to an open socket.
inline bool socket_is_open(NativeSocket socket);

// Writes every byte (blocking); false if the connection failed.
inline bool write_all(NativeSocket socket, const void* data, size_t size);
// One send call: bytes written, 0 when it would block (non-blocking socket), -1 on error.
inline long send_some(NativeSocket socket, const void* data, size_t size);
// Reads exactly size bytes, or fewer if the connection ends or the timeout passes.
inline std::vector<uint8_t> read_exactly(NativeSocket socket, size_t size, std::chrono::milliseconds timeout = kTimeout);
// Reads what is there, waiting at most timeout: bytes read, 0 at end of stream, -1 when
// nothing came (timeout) or on error.
inline long read_some(NativeSocket socket, void* buffer, size_t size, std::chrono::milliseconds timeout);
// True when the peer's side reads the end of stream (or an error) within the timeout; data
// before it is discarded.
inline bool reaches_end_of_stream(NativeSocket socket, std::chrono::milliseconds timeout = kTimeout);

inline bool shutdown_write(NativeSocket socket);
// Makes the next close send a reset (RST) instead of an orderly end (FIN).
inline void reset_on_close(NativeSocket socket);
inline void set_send_buffer(NativeSocket socket, int bytes);
inline void set_receive_buffer(NativeSocket socket, int bytes);
inline void set_nonblocking(NativeSocket socket, bool nonblocking);

// The process's CPU time so far (user + system), in seconds.
inline double process_cpu_seconds();
// The threads of this process.
inline size_t thread_count();

}  // namespace asock_test

#ifdef _WIN32
#include "support/net_win32.h"
#else
#include "support/net_posix.h"
#endif
