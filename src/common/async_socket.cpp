// The async_socket C API: the argument checks every platform shares, then the platform's
// implementation (detail/platform.h). No C++ exception crosses this layer: everything below
// is noexcept.
#include "asock/async_socket.h"

#include <cerrno>
#include <cstdint>

#include "detail/platform.h"

namespace asock::detail {
namespace {

Socket* from_handle(ASYNC_SOCKET_HANDLE handle) noexcept { return reinterpret_cast<Socket*>(handle); }

// Every check of a send's or receive's buffers that does not need the socket's state.
bool buffers_valid(const ASYNC_SOCKET_BUFFER* buffers, uint32_t buffer_count) noexcept
{
    if (buffers == nullptr || buffer_count == 0)
        return false;
    // Checked before the array is read: it depends on the count alone.
    if (operation_memory(buffer_count) > UINT32_MAX)
        return false;
    uint64_t total = 0;
    for (uint32_t i = 0; i < buffer_count; ++i)
    {
        if (buffers[i].buffer == nullptr || buffers[i].length == 0)
            return false;
        total += buffers[i].length;
    }
    return total <= UINT32_MAX;
}

}  // namespace
}  // namespace asock::detail

using namespace asock::detail;

extern "C" ASYNC_SOCKET_HANDLE async_socket_create(EXECUTION_ENGINE_HANDLE execution_engine, SOCKET_HANDLE socket_handle)
{
    if (execution_engine == nullptr || socket_handle == invalid_socket_handle())
        return nullptr;
    return reinterpret_cast<ASYNC_SOCKET_HANDLE>(socket_create(execution_engine, socket_handle));
}

extern "C" void async_socket_destroy(ASYNC_SOCKET_HANDLE async_socket)
{
    if (async_socket != nullptr)
        socket_destroy(*from_handle(async_socket));
}

extern "C" int async_socket_open_async(ASYNC_SOCKET_HANDLE async_socket, ON_ASYNC_SOCKET_OPEN_COMPLETE on_open_complete, void* on_open_complete_context)
{
    if (async_socket == nullptr || on_open_complete == nullptr)
        return EINVAL;
    return socket_open(*from_handle(async_socket), on_open_complete, on_open_complete_context);
}

extern "C" void async_socket_close(ASYNC_SOCKET_HANDLE async_socket)
{
    if (async_socket != nullptr)
        socket_close(*from_handle(async_socket));
}

extern "C" ASYNC_SOCKET_SEND_SYNC_RESULT async_socket_send_async(ASYNC_SOCKET_HANDLE async_socket, const ASYNC_SOCKET_BUFFER* payload, uint32_t buffer_count, ON_ASYNC_SOCKET_SEND_COMPLETE on_send_complete, void* on_send_complete_context)
{
    if (async_socket == nullptr || !buffers_valid(payload, buffer_count) || on_send_complete == nullptr)
        return ASYNC_SOCKET_SEND_SYNC_ERROR;
    return socket_send(*from_handle(async_socket), payload, buffer_count, on_send_complete, on_send_complete_context);
}

extern "C" int async_socket_receive_async(ASYNC_SOCKET_HANDLE async_socket, ASYNC_SOCKET_BUFFER* payload, uint32_t buffer_count, ON_ASYNC_SOCKET_RECEIVE_COMPLETE on_receive_complete, void* on_receive_complete_context)
{
    if (async_socket == nullptr || !buffers_valid(payload, buffer_count) || on_receive_complete == nullptr)
        return EINVAL;
    return socket_receive(*from_handle(async_socket), payload, buffer_count, on_receive_complete, on_receive_complete_context);
}

// --- Deadlines and cancellation (async_socket_deadline.h) --------------------------------------

extern "C" int async_socket_receive_timed_async(ASYNC_SOCKET_HANDLE async_socket, ASYNC_SOCKET_BUFFER* payload, uint32_t buffer_count, uint32_t timeout_ms, ON_ASYNC_SOCKET_RECEIVE_TIMED_COMPLETE on_receive_complete, void* on_receive_complete_context)
{
    if (async_socket == nullptr || !buffers_valid(payload, buffer_count) || on_receive_complete == nullptr)
        return EINVAL;
    return socket_receive_timed(*from_handle(async_socket), payload, buffer_count, timeout_ms, on_receive_complete, on_receive_complete_context);
}

extern "C" int async_socket_cancel_receives(ASYNC_SOCKET_HANDLE async_socket)
{
    if (async_socket == nullptr)
        return EINVAL;
    return socket_cancel_receives(*from_handle(async_socket));
}
