// The *_to_string function of every public enum.
#include <cstddef>

#include "asock/async_socket.h"
#include "asock/async_socket_listener.h"
#include "asock/async_resolve.h"
#include "asock/async_socket_deadline.h"
#include "asock/async_timer.h"
#include "asock/execution_engine_linux.h"
#include "detail/enum_value.h"

namespace {

template <typename Enum, size_t N>
const char* name_of(Enum value, const char* const (&names)[N]) noexcept
{
    const int index = asock::detail::enum_as_int(value);
    return index >= 0 && static_cast<size_t>(index) < N ? names[index] : "UNKNOWN";
}

}  // namespace

extern "C" const char* ASYNC_SOCKET_OPEN_RESULT_to_string(ASYNC_SOCKET_OPEN_RESULT value)
{
    static const char* const names[] = {"ASYNC_SOCKET_OPEN_OK", "ASYNC_SOCKET_OPEN_ERROR"};
    return name_of(value, names);
}

extern "C" const char* ASYNC_SOCKET_SEND_SYNC_RESULT_to_string(ASYNC_SOCKET_SEND_SYNC_RESULT value)
{
    static const char* const names[] = {"ASYNC_SOCKET_SEND_SYNC_OK", "ASYNC_SOCKET_SEND_SYNC_ERROR", "ASYNC_SOCKET_SEND_SYNC_ABANDONED"};
    return name_of(value, names);
}

extern "C" const char* ASYNC_SOCKET_SEND_RESULT_to_string(ASYNC_SOCKET_SEND_RESULT value)
{
    static const char* const names[] = {"ASYNC_SOCKET_SEND_OK", "ASYNC_SOCKET_SEND_ERROR", "ASYNC_SOCKET_SEND_ABANDONED"};
    return name_of(value, names);
}

extern "C" const char* ASYNC_SOCKET_RECEIVE_RESULT_to_string(ASYNC_SOCKET_RECEIVE_RESULT value)
{
    static const char* const names[] = {"ASYNC_SOCKET_RECEIVE_OK", "ASYNC_SOCKET_RECEIVE_ERROR", "ASYNC_SOCKET_RECEIVE_ABANDONED"};
    return name_of(value, names);
}

extern "C" const char* ASYNC_SOCKET_LISTENER_CREATE_RESULT_to_string(ASYNC_SOCKET_LISTENER_CREATE_RESULT value)
{
    static const char* const names[] = {"ASYNC_SOCKET_LISTENER_CREATE_OK",
                                        "ASYNC_SOCKET_LISTENER_CREATE_INVALID_ARGUMENT",
                                        "ASYNC_SOCKET_LISTENER_CREATE_ADDRESS_IN_USE",
                                        "ASYNC_SOCKET_LISTENER_CREATE_ADDRESS_NOT_AVAILABLE",
                                        "ASYNC_SOCKET_LISTENER_CREATE_ACCESS_DENIED",
                                        "ASYNC_SOCKET_LISTENER_CREATE_ERROR"};
    return name_of(value, names);
}

extern "C" const char* ASYNC_SOCKET_ACCEPT_RESULT_to_string(ASYNC_SOCKET_ACCEPT_RESULT value)
{
    static const char* const names[] = {"ASYNC_SOCKET_ACCEPT_OK", "ASYNC_SOCKET_ACCEPT_ERROR", "ASYNC_SOCKET_ACCEPT_ABANDONED", "ASYNC_SOCKET_ACCEPT_CANCELLED"};
    return name_of(value, names);
}

extern "C" const char* ASYNC_SOCKET_CONNECT_RESULT_to_string(ASYNC_SOCKET_CONNECT_RESULT value)
{
    static const char* const names[] = {"ASYNC_SOCKET_CONNECT_OK", "ASYNC_SOCKET_CONNECT_REFUSED", "ASYNC_SOCKET_CONNECT_TIMEOUT", "ASYNC_SOCKET_CONNECT_UNREACHABLE",
                                        "ASYNC_SOCKET_CONNECT_ERROR", "ASYNC_SOCKET_CONNECT_CANCELLED", "ASYNC_SOCKET_CONNECT_NAME_NOT_FOUND"};
    return name_of(value, names);
}

extern "C" const char* ASOCK_LINUX_BACKEND_to_string(ASOCK_LINUX_BACKEND value)
{
    static const char* const names[] = {"ASOCK_LINUX_BACKEND_DEFAULT", "ASOCK_LINUX_BACKEND_IO_URING", "ASOCK_LINUX_BACKEND_EPOLL"};
    return name_of(value, names);
}

extern "C" const char* ASYNC_TIMER_RESULT_to_string(ASYNC_TIMER_RESULT value)
{
    static const char* const names[] = {"ASYNC_TIMER_FIRED", "ASYNC_TIMER_CANCELLED", "ASYNC_TIMER_ABANDONED"};
    return name_of(value, names);
}

extern "C" const char* ASYNC_SOCKET_RECEIVE_TIMED_RESULT_to_string(ASYNC_SOCKET_RECEIVE_TIMED_RESULT value)
{
    static const char* const names[] = {"ASYNC_SOCKET_RECEIVE_TIMED_OK", "ASYNC_SOCKET_RECEIVE_TIMED_ERROR", "ASYNC_SOCKET_RECEIVE_TIMED_ABANDONED", "ASYNC_SOCKET_RECEIVE_TIMED_TIMEOUT",
                                        "ASYNC_SOCKET_RECEIVE_TIMED_CANCELLED"};
    return name_of(value, names);
}

extern "C" const char* ASYNC_RESOLVE_RESULT_to_string(ASYNC_RESOLVE_RESULT value)
{
    static const char* const names[] = {"ASYNC_RESOLVE_OK", "ASYNC_RESOLVE_NOT_FOUND", "ASYNC_RESOLVE_TIMEOUT", "ASYNC_RESOLVE_CANCELLED", "ASYNC_RESOLVE_ERROR"};
    return name_of(value, names);
}
