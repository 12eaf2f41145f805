// What both platforms' getaddrinfo shims share (linux/resolve_os_linux.cpp,
// win32/resolve_os_win32.cpp): the hints, and the list getaddrinfo gives turned into an answer.
// Each platform supplies its socket headers (detail/net_os.h) and its inet_ntop.
#pragma once
#include <cstring>
#include "detail/net_os.h"
#include "detail/resolve.h"
namespace asock::detail {
// TCP addresses of the family asked for. No AI_ADDRCONFIG: it hides loopback addresses on a
// machine without another address of their family, and "localhost" must work offline.
inline addrinfo lookup_hints(ASYNC_ADDRESS_FAMILY family) noexcept
{
    addrinfo hints{};
    hints.ai_family = family == ASYNC_ADDRESS_FAMILY_IPV4 ? AF_INET : family == ASYNC_ADDRESS_FAMILY_IPV6 ? AF_INET6 : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    return hints;
}
// One entry as an address; false for a family other than IPv4 and IPv6.
template <typename Ntop>
bool resolved_address_of(const addrinfo& entry, ASYNC_RESOLVED_ADDRESS& address, Ntop ntop) noexcept
{
    if (entry.ai_family == AF_INET)
    {
        auto* v4 = reinterpret_cast<const sockaddr_in*>(entry.ai_addr);
        address.family = ASYNC_ADDRESS_FAMILY_IPV4;
        address.port = ntohs(v4->sin_port);
        return ntop(AF_INET, &v4->sin_addr, address.address, sizeof(address.address)) != nullptr;
    }
    if (entry.ai_family == AF_INET6)
    {
        auto* v6 = reinterpret_cast<const sockaddr_in6*>(entry.ai_addr);
        address.family = ASYNC_ADDRESS_FAMILY_IPV6;
        address.port = ntohs(v6->sin6_port);
        return ntop(AF_INET6, &v6->sin6_addr, address.address, sizeof(address.address)) != nullptr;
    }
    return false;
}
// The answer of a successful getaddrinfo, in the order the system gave (RFC 6724), without
// duplicates; NOT_FOUND when it held no IPv4 or IPv6 address.
template <typename Ntop>
void answer_from_list(const addrinfo* list, ResolveAnswer& answer, Ntop ntop) noexcept
{
    uint32_t count = 0;
    for (const addrinfo* entry = list; entry != nullptr; entry = entry->ai_next)
        ++count;
    if (count == 0 || !answer_reserve(answer, count))
    {
        if (count == 0)
            answer_fail(answer, ASYNC_RESOLVE_NOT_FOUND, ENOENT);
        return;
    }
    for (const addrinfo* entry = list; entry != nullptr; entry = entry->ai_next)
    {
        ASYNC_RESOLVED_ADDRESS address{};
        if (resolved_address_of(*entry, address, ntop))
            answer_add_unique(answer, address);
    }
    if (answer.count == 0)
        answer_fail(answer, ASYNC_RESOLVE_NOT_FOUND, ENOENT);
}
}  // namespace asock::detail
