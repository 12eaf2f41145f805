// The C++ API's name resolution (asock::resolve) and connect by name (asock::connect_by_name)
// on every backend of the platform: answers as vectors, errors as std::error_code, stop tokens.
// Every lookup stays on the machine (localhost, a name under ".invalid").
#include <array>
#include <cstring>
#include <optional>
#include <stop_token>
#include <system_error>
#include <thread>
#include <vector>

#include "asock/asock.hpp"
#include "cpp/cpp_fixture.h"

namespace asock_test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kNoSuchHost = "no-such-host.asock-test.invalid";

class CppResolve : public CppEngineContract
{
protected:

};

bool has_address(const asock::resolve_result& answer, const char* address)
{
    for (const asock::resolved_address& entry : answer.addresses)
    {
        if (std::strcmp(entry.address, address) == 0)
            return true;
    }
    return false;
}

// Tests_SRS_ASOCK_CPP_12_050
TEST_P(CppResolve, localhost_resolves_to_loopback_addresses_with_the_services_port)
{
    Awaited<asock::resolve_result> awaited;
    await_one(awaited, [&] { return asock::resolve(*e, "localhost", "8080"); });
    ASSERT_TRUE(awaited.done.wait_for(1));
    ASSERT_TRUE(awaited.value) << awaited.value.error.message();
    ASSERT_FALSE(awaited.value.addresses.empty());
    EXPECT_TRUE(has_address(awaited.value, "127.0.0.1") || has_address(awaited.value, "::1"));
    for (const asock::resolved_address& entry : awaited.value.addresses)
        EXPECT_EQ(8080, entry.port) << entry.address;
}

// Tests_SRS_ASOCK_CPP_12_050
TEST_P(CppResolve, asking_for_ipv4_gives_only_ipv4_addresses)
{
    Awaited<asock::resolve_result> awaited;
    await_one(awaited, [&] { return asock::resolve(*e, "localhost", nullptr, asock::address_family::ipv4); });
    ASSERT_TRUE(awaited.done.wait_for(1));
    ASSERT_TRUE(awaited.value) << awaited.value.error.message();
    for (const asock::resolved_address& entry : awaited.value.addresses)
        EXPECT_EQ(ASYNC_ADDRESS_FAMILY_IPV4, entry.family) << entry.address;
    EXPECT_TRUE(has_address(awaited.value, "127.0.0.1"));
}

// Tests_SRS_ASOCK_CPP_12_050
TEST_P(CppResolve, a_name_that_does_not_exist_yields_name_not_found)
{
    Awaited<asock::resolve_result> awaited;
    await_one(awaited, [&] { return asock::resolve(*e, kNoSuchHost, nullptr); });
    ASSERT_TRUE(awaited.done.wait_for(1));
    EXPECT_EQ(make_error_code(asock::result::name_not_found), awaited.value.error);
    EXPECT_TRUE(awaited.value.addresses.empty());
}

// Tests_SRS_ASOCK_CPP_12_050
TEST_P(CppResolve, bad_arguments_yield_invalid_argument_at_once)
{
    Awaited<asock::resolve_result> awaited;
    await_one(awaited, [&] { return asock::resolve(*e, nullptr, nullptr); });
    EXPECT_EQ(1, awaited.resumes.load());
    EXPECT_EQ(std::errc::invalid_argument, awaited.value.error);
}

// Tests_SRS_ASOCK_CPP_12_030
TEST_P(CppResolve, a_resolve_stopped_before_it_is_awaited_starts_nothing)
{
    std::stop_source source;
    source.request_stop();
    Awaited<asock::resolve_result> awaited;
    await_one(awaited, [&] { return asock::resolve(*e, "localhost", nullptr, asock::address_family::any, 0ms, source.get_token()); });
    EXPECT_EQ(1, awaited.resumes.load());
    EXPECT_EQ(std::this_thread::get_id(), awaited.thread);
    EXPECT_EQ(std::errc::operation_canceled, awaited.value.error);
}

// Tests_SRS_ASOCK_CPP_12_032
TEST_P(CppResolve, a_stop_racing_a_lookup_resumes_it_exactly_once)
{
    std::vector<std::unique_ptr<Awaited<asock::resolve_result>>> races;
    for (int i = 0; i < 50; ++i)
    {
        races.push_back(std::make_unique<Awaited<asock::resolve_result>>());
        std::stop_source source;
        std::thread stopper([&source, i] {
            std::this_thread::sleep_for(std::chrono::microseconds((i % 10) * 50));
            source.request_stop();
        });
        await_one(*races.back(), [&] { return asock::resolve(*e, "localhost", nullptr, asock::address_family::any, 0ms, source.get_token()); });
        stopper.join();
        ASSERT_TRUE(races.back()->done.wait_for(1, kHangTimeout)) << i;
    }
    std::this_thread::sleep_for(kQuiet);
    for (auto& race : races)
    {
        EXPECT_EQ(1, race->resumes.load());
        EXPECT_TRUE(!race->value.error || race->value.error == asock::result::cancelled) << race->value.error.message();
        EXPECT_EQ(!race->value.error, !race->value.addresses.empty());
    }
}

// Tests_SRS_ASOCK_CPP_12_051
TEST_P(CppResolve, connect_by_name_reaches_a_listener_on_localhost)
{
    asock::listener server(*e, "127.0.0.1", 0);
    Awaited<asock::connection> accepted;
    await_one(accepted, [&] { return server.accept(); });
    Awaited<asock::connection> connected;
    await_one(connected, [&] { return asock::connect_by_name(*e, "localhost", server.port(), 5s); });
    ASSERT_TRUE(connected.done.wait_for(1));
    ASSERT_TRUE(accepted.done.wait_for(1));
    ASSERT_TRUE(connected.value) << connected.value.error.message();
    EXPECT_TRUE(connected.value.socket);
    EXPECT_TRUE(accepted.value) << accepted.value.error.message();
}

// Tests_SRS_ASOCK_CPP_12_051
TEST_P(CppResolve, connect_by_name_with_a_handler_reaches_a_listener)
{
    asock::listener server(*e, "127.0.0.1", 0);
    Awaited<asock::connection> accepted;
    await_one(accepted, [&] { return server.accept(); });
    Counter done;
    asock::connection got;
    ASSERT_FALSE(asock::connect_by_name(*e, "localhost", server.port(), 5s, [&](asock::connection c) {
        got = std::move(c);
        done.add();
    }));
    ASSERT_TRUE(done.wait_for(1));
    EXPECT_TRUE(got) << got.error.message();
    ASSERT_TRUE(accepted.done.wait_for(1));
}

// Tests_SRS_ASOCK_CPP_12_051
TEST_P(CppResolve, connect_by_name_to_a_name_that_does_not_exist_yields_name_not_found)
{
    Awaited<asock::connection> connected;
    await_one(connected, [&] { return asock::connect_by_name(*e, kNoSuchHost, 80, 5s); });
    ASSERT_TRUE(connected.done.wait_for(1));
    EXPECT_EQ(make_error_code(asock::result::name_not_found), connected.value.error);
    EXPECT_FALSE(connected.value.socket);
}

// Tests_SRS_ASOCK_CPP_12_030
TEST_P(CppResolve, a_connect_by_name_stopped_before_it_is_awaited_starts_nothing)
{
    std::stop_source source;
    source.request_stop();
    Awaited<asock::connection> connected;
    await_one(connected, [&] { return asock::connect_by_name(*e, "localhost", 80, 5s, source.get_token()); });
    EXPECT_EQ(1, connected.resumes.load());
    EXPECT_EQ(make_error_code(asock::result::cancelled), connected.value.error);
}

ASOCK_INSTANTIATE_CONTRACT(CppResolve);

}  // namespace
}  // namespace asock_test
