// The C API of listeners and connects (async_socket_listener.h): the argument checks every
// platform shares, then the platform's implementation (detail/platform_net.h).
#include "asock/async_socket_listener.h"

#include <cerrno>
#include <cstdint>

#include "detail/platform_net.h"

using namespace asock::detail;

namespace {

Listener* from_handle(ASYNC_SOCKET_LISTENER_HANDLE handle) noexcept { return reinterpret_cast<Listener*>(handle); }

}  // namespace

extern "C" ASYNC_SOCKET_LISTENER_CREATE_RESULT async_socket_listener_create(EXECUTION_ENGINE_HANDLE execution_engine, const char* address, uint16_t port, int32_t backlog, ASYNC_SOCKET_LISTENER_HANDLE* listener, int* error)
{
    int ignored = 0;
    int& error_out = error == nullptr ? ignored : *error;
    if (listener != nullptr)
        *listener = nullptr;
    if (execution_engine == nullptr || address == nullptr || listener == nullptr || backlog < 0)
    {
        error_out = EINVAL;
        return ASYNC_SOCKET_LISTENER_CREATE_INVALID_ARGUMENT;
    }
    Listener* created = nullptr;
    const ASYNC_SOCKET_LISTENER_CREATE_RESULT result = listener_create(execution_engine, address, port, backlog, created, error_out);
    *listener = reinterpret_cast<ASYNC_SOCKET_LISTENER_HANDLE>(created);
    return result;
}

extern "C" ASYNC_SOCKET_LISTENER_CREATE_RESULT async_socket_listener_create_per_loop(EXECUTION_ENGINE_HANDLE execution_engine, const char* address, uint16_t port, int32_t backlog, ASYNC_SOCKET_LISTENER_HANDLE* listener, int* error)
{
    int ignored = 0;
    int& error_out = error == nullptr ? ignored : *error;
    if (listener != nullptr)
        *listener = nullptr;
    if (execution_engine == nullptr || address == nullptr || listener == nullptr || backlog < 0)
    {
        error_out = EINVAL;
        return ASYNC_SOCKET_LISTENER_CREATE_INVALID_ARGUMENT;
    }
    Listener* created = nullptr;
    const ASYNC_SOCKET_LISTENER_CREATE_RESULT result = listener_create_per_loop(execution_engine, address, port, backlog, created, error_out);
    *listener = reinterpret_cast<ASYNC_SOCKET_LISTENER_HANDLE>(created);
    return result;
}

extern "C" uint16_t async_socket_listener_get_port(ASYNC_SOCKET_LISTENER_HANDLE listener)
{
    return listener == nullptr ? 0 : listener_port(*from_handle(listener));
}

extern "C" int async_socket_listener_accept_async(ASYNC_SOCKET_LISTENER_HANDLE listener, ON_ASYNC_SOCKET_ACCEPT_COMPLETE on_accept_complete, void* on_accept_complete_context)
{
    if (listener == nullptr || on_accept_complete == nullptr)
        return EINVAL;
    return listener_accept(*from_handle(listener), on_accept_complete, on_accept_complete_context);
}

extern "C" void async_socket_listener_close(ASYNC_SOCKET_LISTENER_HANDLE listener)
{
    if (listener != nullptr)
        listener_close(*from_handle(listener));
}

extern "C" void async_socket_listener_destroy(ASYNC_SOCKET_LISTENER_HANDLE listener)
{
    if (listener != nullptr)
        listener_destroy(*from_handle(listener));
}

extern "C" int async_socket_connect_async(EXECUTION_ENGINE_HANDLE execution_engine, const char* address, uint16_t port, uint32_t timeout_ms, ON_ASYNC_SOCKET_CONNECT_COMPLETE on_connect_complete, void* on_connect_complete_context)
{
    if (execution_engine == nullptr || address == nullptr || on_connect_complete == nullptr || timeout_ms == 0)
        return EINVAL;
    return connect_start(execution_engine, address, port, timeout_ms, nullptr, on_connect_complete, on_connect_complete_context);
}

// --- Cancellation (async_socket_deadline.h) and UNIX sockets (async_socket_unix.h) -------------

extern "C" int async_socket_listener_cancel_accepts(ASYNC_SOCKET_LISTENER_HANDLE listener)
{
    if (listener == nullptr)
        return EINVAL;
    return listener_cancel_accepts(*from_handle(listener));
}

extern "C" int async_socket_connect_cancellable_async(EXECUTION_ENGINE_HANDLE execution_engine, const char* address, uint16_t port, uint32_t timeout_ms, ASYNC_CANCELLATION_HANDLE cancellation, ON_ASYNC_SOCKET_CONNECT_COMPLETE on_connect_complete, void* on_connect_complete_context)
{
    if (execution_engine == nullptr || address == nullptr || on_connect_complete == nullptr || timeout_ms == 0)
        return EINVAL;
    return connect_start(execution_engine, address, port, timeout_ms, cancellation_of(cancellation), on_connect_complete, on_connect_complete_context);
}

extern "C" ASYNC_SOCKET_LISTENER_CREATE_RESULT async_socket_listener_create_unix(EXECUTION_ENGINE_HANDLE execution_engine, const char* path, int32_t backlog, ASYNC_SOCKET_LISTENER_HANDLE* listener, int* error)
{
    int ignored = 0;
    int& error_out = error == nullptr ? ignored : *error;
    if (listener != nullptr)
        *listener = nullptr;
    if (execution_engine == nullptr || path == nullptr || listener == nullptr || backlog < 0 || !unix_path_valid(path))
    {
        error_out = EINVAL;
        return ASYNC_SOCKET_LISTENER_CREATE_INVALID_ARGUMENT;
    }
    Listener* created = nullptr;
    const ASYNC_SOCKET_LISTENER_CREATE_RESULT result = listener_create_unix(execution_engine, path, backlog, created, error_out);
    *listener = reinterpret_cast<ASYNC_SOCKET_LISTENER_HANDLE>(created);
    return result;
}

extern "C" int async_socket_connect_unix_async(EXECUTION_ENGINE_HANDLE execution_engine, const char* path, uint32_t timeout_ms, ASYNC_CANCELLATION_HANDLE cancellation, ON_ASYNC_SOCKET_CONNECT_COMPLETE on_connect_complete, void* on_connect_complete_context)
{
    if (execution_engine == nullptr || path == nullptr || on_connect_complete == nullptr || timeout_ms == 0 || !unix_path_valid(path))
        return EINVAL;
    return connect_start_unix(execution_engine, path, timeout_ms, cancellation_of(cancellation), on_connect_complete, on_connect_complete_context);
}
