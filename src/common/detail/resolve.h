// Name resolution inside the library (async_resolve.h): what a lookup's answer is, the blocking
// lookup each platform supplies (linux/resolve_os_linux.cpp: getaddrinfo; win32/
// resolve_os_win32.cpp: getaddrinfo of Winsock), what connect by name takes from the resolver,
// and the test seam of the asock_fault build.
#pragma once
#include <cstdint>
#include <memory>
#include "asock/async_resolve.h"
namespace asock::detail {
// What one lookup found: result and error as the callback reports them; count addresses when OK.
struct ResolveAnswer
{
    ASYNC_RESOLVE_RESULT result = ASYNC_RESOLVE_ERROR;
    int error = 0;
    uint32_t count = 0;
    std::unique_ptr<ASYNC_RESOLVED_ADDRESS[]> addresses;
};
// Room for count addresses in answer (fault point resolve_answer_alloc); false (answer an ERROR
// ENOMEM) when there is none.
bool answer_reserve(ResolveAnswer& answer, uint32_t count) noexcept;
// Appends an address unless the answer has it already (/etc/hosts may list one twice).
void answer_add_unique(ResolveAnswer& answer, const ASYNC_RESOLVED_ADDRESS& address) noexcept;
void answer_fail(ResolveAnswer& answer, ASYNC_RESOLVE_RESULT result, int error) noexcept;

// --- The platform's part: blocking calls, made on a helper thread (os_lookup) or anywhere.
// The system's lookup (getaddrinfo, TCP addresses only), its errors mapped to the results.
void os_lookup(const char* host, const char* service, ASYNC_ADDRESS_FAMILY family, ResolveAnswer& answer) noexcept;
// True when text is a numeric IPv4 or IPv6 address; family receives which.
bool os_numeric_family(const char* text, ASYNC_ADDRESS_FAMILY& family) noexcept;

// --- For connect by name (connect_by_name.cpp).
// A numeric host as the one address of an answer would give (address as given, port).
bool numeric_address(const char* host, uint16_t port, ASYNC_RESOLVED_ADDRESS& address) noexcept;

// --- The helper threads (resolve.cpp).
uint32_t resolver_thread_count() noexcept;
void resolver_set_idle_ms(uint32_t idle_ms) noexcept;

// --- The test seam (resolve_fault.cpp, asock_fault only): an answer a test chose for a host,
// given after a delay, instead of the system's. The library users link has none.
#if defined(ASOCK_FAULT_INJECTION)
bool resolve_test_answer(const char* host, const char* service, ASYNC_ADDRESS_FAMILY family, ResolveAnswer& answer) noexcept;
#else
constexpr bool resolve_test_answer(const char*, const char*, ASYNC_ADDRESS_FAMILY, ResolveAnswer&) noexcept { return false; }
#endif
}  // namespace asock::detail
