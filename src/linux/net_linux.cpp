// What listeners and connects share: addresses, the sockets they make, and the async socket a
// new connection becomes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <new>

#include "detail/engine.h"
#include "detail/fault.h"
#include "detail/loop.h"
#include "detail/net.h"
#include "detail/socket.h"
#include "detail/sys.h"

namespace asock::detail {

bool parse_address(const char* text, uint16_t port, sockaddr_storage& address, socklen_t& length) noexcept
{
    address = sockaddr_storage{};
    auto& v4 = reinterpret_cast<sockaddr_in&>(address);
    if (inet_pton(AF_INET, text, &v4.sin_addr) == 1)
    {
        v4.sin_family = AF_INET;
        v4.sin_port = htons(port);
        length = sizeof(sockaddr_in);
        return true;
    }
    auto& v6 = reinterpret_cast<sockaddr_in6&>(address);
    if (inet_pton(AF_INET6, text, &v6.sin6_addr) == 1)
    {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons(port);
        length = sizeof(sockaddr_in6);
        return true;
    }
    return false;
}

int make_stream_socket(const sockaddr_storage& address, Loop& loop) noexcept
{
    return sys::socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC | loop.backend().socket_flags(), 0);
}

ASYNC_SOCKET_HANDLE adopt_connected_socket(Loop& loop, int handle, int& error) noexcept
{
    const int one = 1;
    if (sys::setsockopt(handle, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
    {
        error = errno;
        return nullptr;
    }
    Socket* socket = inject_fault(FaultPoint::socket_alloc) ? nullptr : new (std::nothrow) Socket(loop.engine(), loop, handle);
    if (socket == nullptr)
    {
        error = ENOMEM;
        return nullptr;
    }
    error = loop.backend().attach(*socket);
    if (error != 0)
    {
        delete socket;
        return nullptr;
    }
    // Nobody else knows the socket yet: no lock is needed to make it open. It gets no open
    // notice (async_socket_open_async on it reports EALREADY).
    socket->state = SocketState::open;
    loop.engine().inc_ref();
    return reinterpret_cast<ASYNC_SOCKET_HANDLE>(socket);
}

}  // namespace asock::detail
