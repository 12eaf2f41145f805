// The system's lookup on Linux (detail/resolve.h): glibc's getaddrinfo, which follows
// nsswitch.conf (/etc/hosts, DNS, ...) as every blocking program on the machine does.
#include <netdb.h>

#include <cerrno>

#include "detail/resolve_addrinfo.h"

namespace asock::detail {
namespace {

// getaddrinfo's errors as results. EAI_NODATA and EAI_ADDRFAMILY (glibc: the name exists but
// has no address of the family asked for) count as not found, as the header says.
void answer_error(int status, ResolveAnswer& answer) noexcept
{
    switch (status)
    {
    case EAI_NONAME:
    case EAI_NODATA:
    case EAI_ADDRFAMILY:
        answer_fail(answer, ASYNC_RESOLVE_NOT_FOUND, ENOENT);
        return;
    case EAI_AGAIN:
        answer_fail(answer, ASYNC_RESOLVE_ERROR, EAGAIN);
        return;
    case EAI_MEMORY:
        answer_fail(answer, ASYNC_RESOLVE_ERROR, ENOMEM);
        return;
    case EAI_SERVICE:
    case EAI_SOCKTYPE:
    case EAI_FAMILY:
    case EAI_BADFLAGS:
        answer_fail(answer, ASYNC_RESOLVE_ERROR, EINVAL);
        return;
    case EAI_SYSTEM:
        answer_fail(answer, ASYNC_RESOLVE_ERROR, errno != 0 ? errno : EIO);
        return;
    default:  // EAI_FAIL: the name servers failed for good
        answer_fail(answer, ASYNC_RESOLVE_ERROR, EIO);
        return;
    }
}

}  // namespace

void os_lookup(const char* host, const char* service, ASYNC_ADDRESS_FAMILY family, ResolveAnswer& answer) noexcept
{
    const addrinfo hints = lookup_hints(family);
    addrinfo* list = nullptr;
    const int status = getaddrinfo(host, service, &hints, &list);
    if (status != 0)
    {
        answer_error(status, answer);
        return;
    }
    answer_from_list(list, answer, inet_ntop);
    freeaddrinfo(list);
}

bool os_numeric_family(const char* text, ASYNC_ADDRESS_FAMILY& family) noexcept
{
    in6_addr ignored;
    if (inet_pton(AF_INET, text, &ignored) == 1)
        family = ASYNC_ADDRESS_FAMILY_IPV4;
    else if (inet_pton(AF_INET6, text, &ignored) == 1)
        family = ASYNC_ADDRESS_FAMILY_IPV6;
    else
        return false;
    return true;
}

}  // namespace asock::detail
