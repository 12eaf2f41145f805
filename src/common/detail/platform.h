// The one interface between the C API layer (common/async_socket.cpp: argument checks) and a
// platform's implementation of the socket (linux/: event loops over io_uring or epoll;
// win32/: the seed's threadpool I/O). Each platform defines Socket and these functions; the
// build picks the platform's files. Arguments reach them already checked: non-NULL socket and
// callbacks, valid buffers.
#pragma once

#include <cstdint>

#include "asock/async_socket.h"
#include "asock/async_socket_deadline.h"

namespace asock::detail {

struct Socket;

Socket* socket_create(EXECUTION_ENGINE_HANDLE execution_engine, SOCKET_HANDLE socket_handle) noexcept;
void socket_destroy(Socket& socket) noexcept;
int socket_open(Socket& socket, ON_ASYNC_SOCKET_OPEN_COMPLETE on_open_complete, void* context) noexcept;
void socket_close(Socket& socket) noexcept;
ASYNC_SOCKET_SEND_SYNC_RESULT socket_send(Socket& socket, const ASYNC_SOCKET_BUFFER* buffers, uint32_t buffer_count, ON_ASYNC_SOCKET_SEND_COMPLETE on_send_complete, void* context) noexcept;
int socket_receive(Socket& socket, ASYNC_SOCKET_BUFFER* buffers, uint32_t buffer_count, ON_ASYNC_SOCKET_RECEIVE_COMPLETE on_receive_complete, void* context) noexcept;
// async_socket_deadline.h. timeout_ms 0: no deadline.
int socket_receive_timed(Socket& socket, ASYNC_SOCKET_BUFFER* buffers, uint32_t buffer_count, uint32_t timeout_ms, ON_ASYNC_SOCKET_RECEIVE_TIMED_COMPLETE on_receive_complete, void* context) noexcept;
int socket_cancel_receives(Socket& socket) noexcept;

// Bytes the platform allocates for one operation of buffer_count buffers (the seed caps it
// at UINT32_MAX).
uint64_t operation_memory(uint32_t buffer_count) noexcept;

// The handle value that means "no socket" on this platform.
SOCKET_HANDLE invalid_socket_handle() noexcept;

}  // namespace asock::detail
