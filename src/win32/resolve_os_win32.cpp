// The system's lookup on Windows (detail/resolve.h): Winsock's getaddrinfo (hosts file, DNS,
// and the system's other name services), on a helper thread like on Linux. Called directly,
// not through the seam of win32_api.h: the fake OS of the unit tests has no name service.
#include <cerrno>

#include "detail/resolve_addrinfo.h"

namespace asock::detail {
namespace {

void answer_error(int status, ResolveAnswer& answer) noexcept
{
    switch (status)
    {
    case WSAHOST_NOT_FOUND:
    case WSANO_DATA:
        answer_fail(answer, ASYNC_RESOLVE_NOT_FOUND, ENOENT);
        return;
    case WSATRY_AGAIN:
        answer_fail(answer, ASYNC_RESOLVE_ERROR, EAGAIN);
        return;
    case WSA_NOT_ENOUGH_MEMORY:
        answer_fail(answer, ASYNC_RESOLVE_ERROR, ENOMEM);
        return;
    case WSATYPE_NOT_FOUND:
    case WSAESOCKTNOSUPPORT:
    case WSAEAFNOSUPPORT:
    case WSAEINVAL:
        answer_fail(answer, ASYNC_RESOLVE_ERROR, EINVAL);
        return;
    default:  // WSANO_RECOVERY: the name servers failed for good
        answer_fail(answer, ASYNC_RESOLVE_ERROR, EIO);
        return;
    }
}

const char* ntop(int family, const void* address, char* text, size_t size) noexcept
{
    return InetNtopA(family, const_cast<void*>(address), text, size);
}

}  // namespace

// Winsock is started around each lookup (its start is reference counted): a helper may still
// be in getaddrinfo after the engine that started Winsock went away.
void os_lookup(const char* host, const char* service, ASYNC_ADDRESS_FAMILY family, ResolveAnswer& answer) noexcept
{
    WSADATA data;
    if (WSAStartup(MAKEWORD(2, 2), &data) != 0)
    {
        answer_fail(answer, ASYNC_RESOLVE_ERROR, EAGAIN);
        return;
    }
    const addrinfo hints = lookup_hints(family);
    addrinfo* list = nullptr;
    const int status = getaddrinfo(host, service, &hints, &list);
    if (status != 0)
        answer_error(status, answer);
    else
        answer_from_list(list, answer, ntop);
    if (list != nullptr)
        freeaddrinfo(list);
    WSACleanup();
}

bool os_numeric_family(const char* text, ASYNC_ADDRESS_FAMILY& family) noexcept
{
    IN6_ADDR ignored;
    if (InetPtonA(AF_INET, text, &ignored) == 1)
        family = ASYNC_ADDRESS_FAMILY_IPV4;
    else if (InetPtonA(AF_INET6, text, &ignored) == 1)
        family = ASYNC_ADDRESS_FAMILY_IPV6;
    else
        return false;
    return true;
}

}  // namespace asock::detail
