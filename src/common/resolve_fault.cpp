// The test seam of name resolution (asock_fault only, fault_control.h): answers a test chose
// for host names, given after a delay by the helper thread instead of the system's lookup, so
// that tests can have a slow resolver and names with the addresses they need (both ::1 and
// 127.0.0.1 for "localhost", say) on any machine.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "detail/fault_control.h"
#include "detail/resolve.h"

namespace asock::detail {
namespace {

struct Override
{
    std::string host;
    std::string addresses;  // comma separated; empty: the name does not exist
    uint32_t delay_ms = 0;
};

std::mutex overrides_mutex;
std::vector<Override> overrides;

bool find_override(const char* host, Override& found)
{
    std::lock_guard<std::mutex> lock(overrides_mutex);
    for (const Override& entry : overrides)
    {
        if (entry.host == host)
        {
            found = entry;
            return true;
        }
    }
    return false;
}

std::vector<std::string> split(const std::string& list)
{
    std::vector<std::string> parts;
    size_t start = 0;
    while (start < list.size())
    {
        const size_t comma = std::min(list.find(',', start), list.size());
        parts.push_back(list.substr(start, comma - start));
        start = comma + 1;
    }
    return parts;
}

void answer_addresses(const Override& entry, const char* service, ASYNC_ADDRESS_FAMILY family, ResolveAnswer& answer)
{
    const auto port = static_cast<uint16_t>(service != nullptr ? std::strtoul(service, nullptr, 10) : 0);
    const std::vector<std::string> parts = split(entry.addresses);
    answer_fail(answer, ASYNC_RESOLVE_NOT_FOUND, ENOENT);
    if (parts.empty() || !answer_reserve(answer, static_cast<uint32_t>(parts.size())))
        return;
    for (const std::string& text : parts)
    {
        ASYNC_RESOLVED_ADDRESS address{};
        if (numeric_address(text.c_str(), port, address) && (family == ASYNC_ADDRESS_FAMILY_ANY || family == address.family))
            answer_add_unique(answer, address);
    }
    if (answer.count == 0)
        answer_fail(answer, ASYNC_RESOLVE_NOT_FOUND, ENOENT);
}

}  // namespace

bool resolve_test_answer(const char* host, const char* service, ASYNC_ADDRESS_FAMILY family, ResolveAnswer& answer) noexcept
{
    Override entry;
    try
    {
        if (!find_override(host, entry))
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(entry.delay_ms));  // a resolver that keeps us waiting
        answer_addresses(entry, service, family, answer);
    }
    catch (...)
    {
        answer_fail(answer, ASYNC_RESOLVE_ERROR, ENOMEM);
    }
    return true;
}

}  // namespace asock::detail

using namespace asock::detail;

extern "C" void asock_fault_resolve_override(const char* host, const char* addresses, uint32_t delay_ms)
{
    std::lock_guard<std::mutex> lock(overrides_mutex);
    if (host == nullptr)
    {
        overrides.clear();
        return;
    }
    std::erase_if(overrides, [&](const Override& entry) { return entry.host == host; });
    overrides.push_back(Override{host, addresses != nullptr ? addresses : "", delay_ms});
}

extern "C" uint32_t asock_fault_resolver_threads(void) { return resolver_thread_count(); }

extern "C" void asock_fault_resolver_idle_ms(uint32_t idle_ms) { resolver_set_idle_ms(idle_ms); }
