// Listeners and connects (async_socket_listener.h) are not implemented on Windows yet: every
// call reports ENOSYS, and no callback ever runs.
#include <cerrno>

#include "detail/platform_net.h"

namespace asock::detail {

struct Listener
{
};

ASYNC_SOCKET_LISTENER_CREATE_RESULT listener_create(EXECUTION_ENGINE_HANDLE, const char*, uint16_t, int32_t, Listener*& listener, int& error) noexcept
{
    listener = nullptr;
    error = ENOSYS;
    return ASYNC_SOCKET_LISTENER_CREATE_ERROR;
}

uint16_t listener_port(const Listener&) noexcept { return 0; }

int listener_accept(Listener&, ON_ASYNC_SOCKET_ACCEPT_COMPLETE, void*) noexcept { return ENOSYS; }

void listener_close(Listener&) noexcept {}

void listener_destroy(Listener&) noexcept {}

int connect_start(EXECUTION_ENGINE_HANDLE, const char*, uint16_t, uint32_t, ON_ASYNC_SOCKET_CONNECT_COMPLETE, void*) noexcept { return ENOSYS; }

}  // namespace asock::detail
