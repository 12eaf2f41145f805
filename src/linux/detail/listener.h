// The listener behind ASYNC_SOCKET_LISTENER_HANDLE (listener_linux.cpp) and the connect
// (connect_linux.cpp): their completions, for the loop.
#pragma once

#include <atomic>
#include <cerrno>

#include "detail/handle.h"

namespace asock::detail {

struct Listener : Handle
{
    Listener(Engine& e, Loop& l, int handle_fd, uint16_t bound_port) noexcept : Handle(HandleKind::listener, e, l, handle_fd), port(bound_port) {}
    ~Listener();
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;

    const uint16_t port;
    bool unix_domain = false;        // AF_UNIX: accepted sockets get no TCP options
    char* path_to_remove = nullptr;  // the socket file it made (AF_UNIX, not abstract), owned
    // async_socket_listener_create_per_loop: one member per loop, all on one port (SO_REUSEPORT).
    // The head (the handle the application has) owns the others; every member keeps the sockets
    // it accepts on its own loop.
    Listener** members = nullptr;  // the head's: the other members, owned
    uint32_t member_count = 0;
    std::atomic<uint32_t> next_member{0};  // round robin of the accepts made off the loops
    bool keep_on_loop = false;
};

// Not reported to the application: a connection that went away before it was accepted, and the
// network errors that accept(2) passes on from a pending connection. The accept goes on.
inline bool is_accept_retry(int error) noexcept
{
    switch (error)
    {
    case EAGAIN:
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
        return true;
    default:
        return false;
    }
}

// Completions (loop thread, inside a HandleScope), as complete_receive in detail/socket.h.
// result: an accepted descriptor or -errno; a connect's 0 or -errno.
bool complete_accept(Loop& loop, Op& op, long result) noexcept;
bool complete_connect(Loop& loop, Op& op, long result) noexcept;

// A connect to any address (IPv4, IPv6, AF_UNIX): what connect_start and connect_start_unix
// have checked and built.
struct ConnectRequest
{
    const sockaddr* peer;
    socklen_t length;
    uint32_t timeout_ms;  // > 0
    Cancellation* cancellation;  // may be nullptr
    ON_ASYNC_SOCKET_CONNECT_COMPLETE on_connect_complete;
    void* context;
};
// The listener around a descriptor that listens (attached, open, holding an engine reference);
// 0, or the error (the descriptor is then closed).
int make_listener(Engine& engine, Loop& loop, int fd, uint16_t port, Listener*& listener) noexcept;
// Returns 0 when the callback will run, an errno value when it will not.
int connect_start_to(Engine& engine, const ConnectRequest& request) noexcept;

}  // namespace asock::detail
