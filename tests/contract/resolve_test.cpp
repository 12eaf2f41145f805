// Name resolution (async_resolve.h) against the system's resolver, on loopback names only:
// localhost, the names of the hosts file, numeric addresses, a name under ".invalid" (RFC 6761:
// never exists; about 1 ms on the build machine, which has no network, so it is tested
// directly; four at once waited 5 s there, glibc's retry, so no test starts several). Slow lookups (timeouts, cancels while the system keeps waiting) need the
// test seam: fault/resolve_seam_test.cpp.
#include <fstream>
#include <sstream>

#include "contract/resolve_helpers.h"

namespace asock_test {
namespace {

class Resolve : public Contract
{
protected:
    int resolve(ResolveRecord& record, const char* host, const char* service = nullptr, ASYNC_ADDRESS_FAMILY family = ASYNC_ADDRESS_FAMILY_ANY, uint32_t timeout_ms = 0,
                ASYNC_CANCELLATION_HANDLE cancellation = nullptr)
    {
        return async_resolve_async(engine, host, service, family, timeout_ms, cancellation, ResolveRecord::callback, &record);
    }

    // Resolves and waits for the one callback.
    void resolve_and_wait(ResolveRecord& record, const char* host, const char* service = nullptr, ASYNC_ADDRESS_FAMILY family = ASYNC_ADDRESS_FAMILY_ANY)
    {
        ASSERT_EQ(0, resolve(record, host, service, family));
        ASSERT_TRUE(record.done.wait_for(1)) << host;
        EXPECT_EQ(1, record.calls.load());
    }
};

bool is_loopback(const ASYNC_RESOLVED_ADDRESS& address)
{
    const std::string text = address.address;
    return text.rfind("127.", 0) == 0 || text == "::1" || text.rfind("::ffff:127.", 0) == 0;
}

#ifdef _WIN32
const char* const kHostsFile = nullptr;  // Wine's getaddrinfo reads the Linux host's file, not the prefix's
#else
const char* const kHostsFile = "/etc/hosts";
#endif

// (address, name) pairs of the hosts file, comments and blank lines left out.
std::vector<std::pair<std::string, std::string>> hosts_file_entries()
{
    std::vector<std::pair<std::string, std::string>> entries;
    std::ifstream file(kHostsFile);
    std::string line;
    while (std::getline(file, line))
    {
        std::istringstream words(line.substr(0, line.find('#')));
        std::string address;
        std::string name;
        words >> address;
        while (words >> name)
            entries.emplace_back(address, name);
    }
    return entries;
}

// Tests_SRS_ASYNC_RESOLVE_12_003, Tests_SRS_ASYNC_RESOLVE_12_001
TEST_P(Resolve, localhost_resolves_to_loopback_addresses_on_an_engine_thread)
{
    ResolveRecord record;
    resolve_and_wait(record, "localhost", "8080");
    ASSERT_EQ(ASYNC_RESOLVE_OK, record.result.load());
    EXPECT_EQ(0, record.error.load());
    ASSERT_FALSE(record.addresses.empty());
    for (const ASYNC_RESOLVED_ADDRESS& address : record.addresses)
    {
        EXPECT_TRUE(is_loopback(address)) << address.address;
        EXPECT_EQ(8080, address.port);
        EXPECT_TRUE(address.family == ASYNC_ADDRESS_FAMILY_IPV4 || address.family == ASYNC_ADDRESS_FAMILY_IPV6);
    }
    EXPECT_NE(std::this_thread::get_id(), record.thread.load());
}

// Tests_SRS_ASYNC_RESOLVE_12_003
TEST_P(Resolve, every_name_of_the_hosts_file_resolves_to_its_address)
{
    if (kHostsFile == nullptr)
        GTEST_SKIP() << "no hosts file this process can read here";
    const auto entries = hosts_file_entries();
    if (entries.empty())
        GTEST_SKIP() << kHostsFile << " names no host";
    for (const auto& [address, name] : entries)
    {
        ASYNC_RESOLVED_ADDRESS numeric{};
        ASSERT_LT(address.size(), sizeof(numeric.address));
        const bool v6 = address.find(':') != std::string::npos;
        ResolveRecord record;
        resolve_and_wait(record, name.c_str(), nullptr, v6 ? ASYNC_ADDRESS_FAMILY_IPV6 : ASYNC_ADDRESS_FAMILY_IPV4);
        ASSERT_EQ(ASYNC_RESOLVE_OK, record.result.load()) << name;
        EXPECT_TRUE(record.has(address.c_str())) << name << " did not give " << address;
    }
}

// Tests_SRS_ASYNC_RESOLVE_12_004
TEST_P(Resolve, a_numeric_ipv4_address_is_returned_as_it_is)
{
    ResolveRecord record;
    resolve_and_wait(record, "127.0.0.1", "443");
    ASSERT_EQ(ASYNC_RESOLVE_OK, record.result.load());
    ASSERT_EQ(1u, record.addresses.size());
    EXPECT_STREQ("127.0.0.1", record.addresses[0].address);
    EXPECT_EQ(ASYNC_ADDRESS_FAMILY_IPV4, record.addresses[0].family);
    EXPECT_EQ(443, record.addresses[0].port);
    EXPECT_NE(std::this_thread::get_id(), record.thread.load());
}

// Tests_SRS_ASYNC_RESOLVE_12_004
TEST_P(Resolve, a_numeric_ipv6_address_is_returned_as_it_is)
{
    ResolveRecord record;
    resolve_and_wait(record, "::1");
    ASSERT_EQ(ASYNC_RESOLVE_OK, record.result.load());
    ASSERT_EQ(1u, record.addresses.size());
    EXPECT_STREQ("::1", record.addresses[0].address);
    EXPECT_EQ(ASYNC_ADDRESS_FAMILY_IPV6, record.addresses[0].family);
    EXPECT_EQ(0, record.addresses[0].port);
}

// Tests_SRS_ASYNC_RESOLVE_12_004, Tests_SRS_ASYNC_RESOLVE_12_007
TEST_P(Resolve, a_numeric_address_of_the_other_family_is_not_found)
{
    ResolveRecord record;
    resolve_and_wait(record, "127.0.0.1", nullptr, ASYNC_ADDRESS_FAMILY_IPV6);
    EXPECT_EQ(ASYNC_RESOLVE_NOT_FOUND, record.result.load());
    EXPECT_EQ(ENOENT, record.error.load());
    EXPECT_TRUE(record.addresses.empty());
}

// Tests_SRS_ASYNC_RESOLVE_12_007
TEST_P(Resolve, asking_for_ipv4_gives_only_ipv4_addresses)
{
    ResolveRecord record;
    resolve_and_wait(record, "localhost", nullptr, ASYNC_ADDRESS_FAMILY_IPV4);
    ASSERT_EQ(ASYNC_RESOLVE_OK, record.result.load());
    for (const ASYNC_RESOLVED_ADDRESS& address : record.addresses)
        EXPECT_EQ(ASYNC_ADDRESS_FAMILY_IPV4, address.family) << address.address;
    EXPECT_TRUE(record.has("127.0.0.1"));
}

// Tests_SRS_ASYNC_RESOLVE_12_005
// (About 1 ms here, alone; but several at once from other threads or processes were seen to
// wait for glibc's 5 s retry of the name server: no bound on the time is asserted.)
TEST_P(Resolve, a_name_that_does_not_exist_is_not_found)
{
    ResolveRecord record;
    resolve_and_wait(record, "no-such-host.asock-test.invalid");
    EXPECT_EQ(ASYNC_RESOLVE_NOT_FOUND, record.result.load());
    EXPECT_EQ(ENOENT, record.error.load());
    EXPECT_TRUE(record.addresses.empty());
}

// Tests_SRS_ASYNC_RESOLVE_12_006
TEST_P(Resolve, a_service_name_gives_its_port)
{
    ResolveRecord record;
    resolve_and_wait(record, "localhost", "http");
    ASSERT_EQ(ASYNC_RESOLVE_OK, record.result.load());
    for (const ASYNC_RESOLVED_ADDRESS& address : record.addresses)
        EXPECT_EQ(80, address.port);
}

// Tests_SRS_ASYNC_RESOLVE_12_006
TEST_P(Resolve, a_service_the_system_does_not_know_is_an_error)
{
    ResolveRecord record;
    resolve_and_wait(record, "localhost", "no-such-service-asock");
    EXPECT_EQ(ASYNC_RESOLVE_ERROR, record.result.load());
    EXPECT_EQ(EINVAL, record.error.load());
    EXPECT_TRUE(record.addresses.empty());
}

// Tests_SRS_ASYNC_RESOLVE_12_002
TEST_P(Resolve, bad_arguments_fail_with_einval_and_never_call_back)
{
    ResolveRecord record;
    const std::string long_text(256, 'a');
    const std::string longest(255, 'a');
    EXPECT_EQ(EINVAL, async_resolve_async(nullptr, "localhost", nullptr, ASYNC_ADDRESS_FAMILY_ANY, 0, nullptr, ResolveRecord::callback, &record));
    EXPECT_EQ(EINVAL, resolve(record, nullptr));
    EXPECT_EQ(EINVAL, async_resolve_async(engine, "localhost", nullptr, ASYNC_ADDRESS_FAMILY_ANY, 0, nullptr, nullptr, &record));
    EXPECT_EQ(EINVAL, resolve(record, long_text.c_str()));
    EXPECT_EQ(EINVAL, resolve(record, "localhost", long_text.c_str()));
    EXPECT_EQ(EINVAL, resolve(record, "localhost", nullptr, static_cast<ASYNC_ADDRESS_FAMILY>(3)));
    EXPECT_EQ(EINVAL, resolve(record, "localhost", nullptr, static_cast<ASYNC_ADDRESS_FAMILY>(-1)));
    // The longest host taken is looked up (and does not exist).
    ASSERT_EQ(0, resolve(record, longest.c_str()));
    ASSERT_TRUE(record.done.wait_for(1));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(1, record.calls.load());
    EXPECT_NE(ASYNC_RESOLVE_OK, record.result.load());
}

// Tests_SRS_ASYNC_RESOLVE_12_009
TEST_P(Resolve, a_lookup_cancelled_before_its_start_completes_cancelled_through_its_callback)
{
    ASYNC_CANCELLATION_HANDLE cancellation = async_cancellation_create();
    ASSERT_NE(nullptr, cancellation);
    async_cancellation_cancel(cancellation);
    ResolveRecord record;
    ASSERT_EQ(0, resolve(record, "localhost", nullptr, ASYNC_ADDRESS_FAMILY_ANY, 0, cancellation));
    async_cancellation_destroy(cancellation);  // the lookup holds its own reference
    ASSERT_TRUE(record.done.wait_for(1));
    EXPECT_EQ(ASYNC_RESOLVE_CANCELLED, record.result.load());
    EXPECT_EQ(ECANCELED, record.error.load());
    EXPECT_NE(std::this_thread::get_id(), record.thread.load());
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(1, record.calls.load());
}

// Tests_SRS_ASYNC_RESOLVE_12_009, Tests_SRS_ASYNC_RESOLVE_12_008
TEST_P(Resolve, a_cancel_or_timeout_after_the_answer_changes_nothing)
{
    ASYNC_CANCELLATION_HANDLE cancellation = async_cancellation_create();
    ASSERT_NE(nullptr, cancellation);
    ResolveRecord record;
    ASSERT_EQ(0, resolve(record, "localhost", nullptr, ASYNC_ADDRESS_FAMILY_ANY, 300, cancellation));
    ASSERT_TRUE(record.done.wait_for(1));
    async_cancellation_cancel(cancellation);
    async_cancellation_destroy(cancellation);
    std::this_thread::sleep_for(std::chrono::milliseconds(450));  // past the timeout too
    EXPECT_EQ(1, record.calls.load());
    EXPECT_EQ(ASYNC_RESOLVE_OK, record.result.load());
}

// Tests_SRS_ASYNC_RESOLVE_12_009
TEST_P(Resolve, one_cancellation_ends_many_lookups_each_exactly_once)
{
    ASYNC_CANCELLATION_HANDLE cancellation = async_cancellation_create();
    ASSERT_NE(nullptr, cancellation);
    std::vector<ResolveRecord> records(24);
    for (ResolveRecord& record : records)
        ASSERT_EQ(0, resolve(record, "localhost", nullptr, ASYNC_ADDRESS_FAMILY_ANY, 0, cancellation));
    async_cancellation_cancel(cancellation);
    async_cancellation_destroy(cancellation);
    for (ResolveRecord& record : records)
    {
        ASSERT_TRUE(record.done.wait_for(1));
        const ASYNC_RESOLVE_RESULT result = record.result.load();
        EXPECT_TRUE(result == ASYNC_RESOLVE_OK || result == ASYNC_RESOLVE_CANCELLED) << ASYNC_RESOLVE_RESULT_to_string(result);
    }
    std::this_thread::sleep_for(kQuiet);
    for (ResolveRecord& record : records)
        EXPECT_EQ(1, record.calls.load());
}

// Tests_SRS_ASYNC_RESOLVE_12_010
TEST_P(Resolve, many_more_lookups_than_helper_threads_all_complete_once)
{
    std::vector<ResolveRecord> records(64);
    for (size_t i = 0; i < records.size(); ++i)
        ASSERT_EQ(0, resolve(records[i], i % 2 == 0 ? "localhost" : "127.0.0.1", nullptr, ASYNC_ADDRESS_FAMILY_ANY, 10000));
    for (size_t i = 0; i < records.size(); ++i)
    {
        ASSERT_TRUE(records[i].done.wait_for(1));
        EXPECT_EQ(ASYNC_RESOLVE_OK, records[i].result.load());
    }
    std::this_thread::sleep_for(kQuiet);
    for (ResolveRecord& record : records)
        EXPECT_EQ(1, record.calls.load());
}

// Tests_SRS_ASYNC_RESOLVE_12_011, Tests_SRS_ASYNC_RESOLVE_12_001
TEST_P(Resolve, the_lookup_holds_the_engine_so_its_callback_can_start_another_after_the_owner_let_go)
{
    ResolveRecord second;
    ResolveRecord first;
    EXECUTION_ENGINE_HANDLE lookup_engine = engine;
    first.inside = [&] { EXPECT_EQ(0, async_resolve_async(lookup_engine, "127.0.0.1", "1", ASYNC_ADDRESS_FAMILY_ANY, 0, nullptr, ResolveRecord::callback, &second)); };
    ASSERT_EQ(0, resolve(first, "localhost"));
    execution_engine_dec_ref(std::exchange(engine, nullptr));  // only the lookups hold it now
    ASSERT_TRUE(first.done.wait_for(1));
    ASSERT_TRUE(second.done.wait_for(1));
    EXPECT_EQ(ASYNC_RESOLVE_OK, first.result.load());
    EXPECT_EQ(ASYNC_RESOLVE_OK, second.result.load());
}

}  // namespace

ASOCK_INSTANTIATE_CONTRACT(Resolve);

}  // namespace asock_test
