// The interface between the C API layer of listeners and connects
// (common/async_socket_listener.cpp: argument checks) and a platform's implementation
// (linux/listener_linux.cpp and connect_linux.cpp; win32/net_win32.cpp). Arguments reach these
// functions already checked: non-NULL engine, address, callbacks and out-parameters.
#pragma once

#include <cerrno>
#include <cstdint>

#include "asock/async_socket_listener.h"
#include "detail/cancellation.h"

namespace asock::detail {

struct Listener;

// The results of the API for the errno values the platforms report (Windows maps its WSA
// errors to errno values first), the same on every platform.
inline ASYNC_SOCKET_LISTENER_CREATE_RESULT create_result_for(int error) noexcept
{
    switch (error)
    {
    case 0:
        return ASYNC_SOCKET_LISTENER_CREATE_OK;
    case EINVAL:
        return ASYNC_SOCKET_LISTENER_CREATE_INVALID_ARGUMENT;
    case EADDRINUSE:
        return ASYNC_SOCKET_LISTENER_CREATE_ADDRESS_IN_USE;
    case EADDRNOTAVAIL:
    case EAFNOSUPPORT:
        return ASYNC_SOCKET_LISTENER_CREATE_ADDRESS_NOT_AVAILABLE;
    case EACCES:
    case EPERM:
        return ASYNC_SOCKET_LISTENER_CREATE_ACCESS_DENIED;
    default:
        return ASYNC_SOCKET_LISTENER_CREATE_ERROR;
    }
}

inline ASYNC_SOCKET_CONNECT_RESULT connect_result_for(int error) noexcept
{
    switch (error)
    {
    case 0:
        return ASYNC_SOCKET_CONNECT_OK;
    case ECONNREFUSED:
        return ASYNC_SOCKET_CONNECT_REFUSED;
    case ETIMEDOUT:
        return ASYNC_SOCKET_CONNECT_TIMEOUT;
    case ENETUNREACH:
    case EHOSTUNREACH:
        return ASYNC_SOCKET_CONNECT_UNREACHABLE;
    case ECANCELED:
        return ASYNC_SOCKET_CONNECT_CANCELLED;
    default:
        return ASYNC_SOCKET_CONNECT_ERROR;
    }
}

// On success listener is the new listener; error is the errno value behind the result.
ASYNC_SOCKET_LISTENER_CREATE_RESULT listener_create(EXECUTION_ENGINE_HANDLE execution_engine, const char* address, uint16_t port, int32_t backlog, Listener*& listener, int& error) noexcept;
// One listening socket per loop of the engine (SO_REUSEPORT; async_socket_listener_create_per_loop);
// a platform without loops makes one listener, as listener_create.
ASYNC_SOCKET_LISTENER_CREATE_RESULT listener_create_per_loop(EXECUTION_ENGINE_HANDLE execution_engine, const char* address, uint16_t port, int32_t backlog, Listener*& listener, int& error) noexcept;
uint16_t listener_port(const Listener& listener) noexcept;
int listener_accept(Listener& listener, ON_ASYNC_SOCKET_ACCEPT_COMPLETE on_accept_complete, void* context) noexcept;
void listener_close(Listener& listener) noexcept;
void listener_destroy(Listener& listener) noexcept;

int listener_cancel_accepts(Listener& listener) noexcept;
// Returns 0 when the callback will run, an errno value when it will not. cancellation: nullptr,
// or one that ends the connect with ECANCELED (ASYNC_SOCKET_CONNECT_CANCELLED).
int connect_start(EXECUTION_ENGINE_HANDLE execution_engine, const char* address, uint16_t port, uint32_t timeout_ms, Cancellation* cancellation, ON_ASYNC_SOCKET_CONNECT_COMPLETE on_connect_complete, void* context) noexcept;
// UNIX domain sockets (async_socket_unix.h); path already checked (unix_path_valid). A platform
// without them fails with EAFNOSUPPORT.
ASYNC_SOCKET_LISTENER_CREATE_RESULT listener_create_unix(EXECUTION_ENGINE_HANDLE execution_engine, const char* path, int32_t backlog, Listener*& listener, int& error) noexcept;
int connect_start_unix(EXECUTION_ENGINE_HANDLE execution_engine, const char* path, uint32_t timeout_ms, Cancellation* cancellation, ON_ASYNC_SOCKET_CONNECT_COMPLETE on_connect_complete, void* context) noexcept;
// A UNIX socket path the API takes: not empty, at most 107 bytes (sun_path holds 108 with the
// NUL; an abstract "@name" is the same length once '@' becomes the NUL), never cut short.
inline bool unix_path_valid(const char* path) noexcept
{
    size_t length = 0;
    while (length <= 108 && path[length] != '\0')
        ++length;
    return length != 0 && length <= 107 && !(length == 1 && path[0] == '@');
}

}  // namespace asock::detail
