// What listeners and connects share on every platform: numeric addresses, the bound port and
// the steps that make a listening socket. Each platform supplies its own calls (the address
// parser of its C library or its OS seam, and its bind/listen calls).
#pragma once

#include <cstdint>
#include <cstring>

#include "detail/net_os.h"

namespace asock::detail {

// Parses a numeric IPv4 or IPv6 address into address (with port) using pton, a function of
// inet_pton's shape. False when the text is neither.
template <typename Pton>
bool parse_address(const char* text, uint16_t port, sockaddr_storage& address, SockLen& length, Pton pton) noexcept
{
    std::memset(&address, 0, sizeof(address));
    auto& v4 = reinterpret_cast<sockaddr_in&>(address);
    if (pton(AF_INET, text, &v4.sin_addr) == 1)
    {
        v4.sin_family = AF_INET;
        v4.sin_port = htons(port);
        length = sizeof(sockaddr_in);
        return true;
    }
    auto& v6 = reinterpret_cast<sockaddr_in6&>(address);
    if (pton(AF_INET6, text, &v6.sin6_addr) == 1)
    {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons(port);
        length = sizeof(sockaddr_in6);
        return true;
    }
    return false;
}

// The port of an IPv4 or IPv6 address, in host order.
inline uint16_t port_of(const sockaddr_storage& address) noexcept
{
    if (address.ss_family == AF_INET6)
        return ntohs(reinterpret_cast<const sockaddr_in6&>(address).sin6_port);
    return ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port);
}

// Sets the port of an IPv4 or IPv6 address (host order).
inline void set_port(sockaddr_storage& address, uint16_t port) noexcept
{
    if (address.ss_family == AF_INET6)
        reinterpret_cast<sockaddr_in6&>(address).sin6_port = htons(port);
    else
        reinterpret_cast<sockaddr_in&>(address).sin_port = htons(port);
}

// Makes fd listen on address. Os has static members for each step, each returning 0 on
// success: reuse_address(fd) (the platform's own option for a listening port), v6_only(fd),
// bind, listen, getsockname, and error() (the errno value of the last failure). Returns 0 and
// the bound port, or that errno value.
template <typename Os>
int bind_and_listen(NativeSocket fd, const sockaddr_storage& address, SockLen length, int32_t backlog, uint16_t& port) noexcept
{
    if (Os::reuse_address(fd) != 0)
        return Os::error();
    if (address.ss_family == AF_INET6 && Os::v6_only(fd) != 0)
        return Os::error();
    if (Os::bind(fd, reinterpret_cast<const sockaddr*>(&address), length) != 0)
        return Os::error();
    if (Os::listen(fd, backlog == 0 ? SOMAXCONN : backlog) != 0)
        return Os::error();
    sockaddr_storage bound{};
    SockLen bound_length = sizeof(bound);
    if (Os::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_length) != 0)
        return Os::error();
    port = port_of(bound);
    return 0;
}

}  // namespace asock::detail
