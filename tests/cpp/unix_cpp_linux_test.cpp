// The C++ API's UNIX domain stream sockets (listener::listen_unix, asock::connect_unix) on
// every Linux backend: a path in the file system and an abstract name.
#include <array>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <system_error>

#include <unistd.h>

#include "asock/asock.hpp"
#include "cpp/cpp_fixture.h"

namespace asock_test {
namespace {

using namespace std::chrono_literals;

class CppUnix : public CppContract
{
protected:
    void SetUp() override
    {
        CppContract::SetUp();
        if (IsSkipped() || HasFatalFailure())
            return;
        e.emplace(cpp_engine());
        path = "/tmp/asock-cpp-" + std::to_string(::getpid()) + "-" + backend_name(GetParam()) + ".sock";
        std::remove(path.c_str());
    }
    void TearDown() override
    {
        e.reset();
        if (!path.empty())
            std::remove(path.c_str());
        CppContract::TearDown();
    }

    // Accepts one connection on server and connects to name; both must succeed, and bytes flow.
    void expect_connection(asock::listener& server, const char* name)
    {
        Awaited<asock::connection> accepted;
        await_one(accepted, [&] { return server.accept(); });
        Awaited<asock::connection> connected;
        await_one(connected, [&] { return asock::connect_unix(*e, name, 5s); });
        ASSERT_TRUE(accepted.done.wait_for(1));
        ASSERT_TRUE(connected.done.wait_for(1));
        ASSERT_TRUE(accepted.value) << accepted.value.error.message();
        ASSERT_TRUE(connected.value) << connected.value.error.message();
        Awaited<asock::io_result> sent;
        await_one(sent, [&] { return connected.value.socket.send(std::as_bytes(std::span("unix", 4))); });
        std::array<std::byte, 8> buffer{};
        Awaited<asock::io_result> received;
        await_one(received, [&] { return accepted.value.socket.receive(std::span(buffer), 5s); });
        ASSERT_TRUE(received.done.wait_for(1));
        ASSERT_TRUE(sent.done.wait_for(1));
        ASSERT_EQ(4u, received.value.bytes);
        EXPECT_EQ(0, std::memcmp(buffer.data(), "unix", 4));
    }

    std::optional<asock::engine> e;
    std::string path;
};

// Tests_SRS_ASOCK_CPP_12_052
TEST_P(CppUnix, a_connect_to_a_unix_path_reaches_its_listener)
{
    std::error_code error;
    asock::listener server = asock::listener::listen_unix(*e, path.c_str(), 0, error);
    ASSERT_FALSE(error) << error.message();
    ASSERT_TRUE(server);
    EXPECT_EQ(0, server.port());
    expect_connection(server, path.c_str());
}

// Tests_SRS_ASOCK_CPP_12_052
TEST_P(CppUnix, a_connect_to_an_abstract_name_reaches_its_listener)
{
    const std::string name = "@asock-cpp-" + std::to_string(::getpid()) + "-" + backend_name(GetParam());
    std::error_code error;
    asock::listener server = asock::listener::listen_unix(*e, name.c_str(), 0, error);
    ASSERT_FALSE(error) << error.message();
    expect_connection(server, name.c_str());
}

// Tests_SRS_ASOCK_CPP_12_052
TEST_P(CppUnix, a_path_in_use_is_refused_with_address_in_use)
{
    std::error_code error;
    asock::listener first = asock::listener::listen_unix(*e, path.c_str(), 0, error);
    ASSERT_FALSE(error) << error.message();
    asock::listener second = asock::listener::listen_unix(*e, path.c_str(), 0, error);
    EXPECT_FALSE(second);
    EXPECT_EQ(std::errc::address_in_use, error);
}

// Tests_SRS_ASOCK_CPP_12_052
TEST_P(CppUnix, a_connect_to_a_path_nobody_listens_on_fails_without_a_socket)
{
    Awaited<asock::connection> connected;
    await_one(connected, [&] { return asock::connect_unix(*e, path.c_str(), 5s); });
    ASSERT_TRUE(connected.done.wait_for(1));
    EXPECT_FALSE(connected.value);
    EXPECT_FALSE(connected.value.socket);
    EXPECT_TRUE(connected.value.error == std::errc::connection_refused || connected.value.error == std::errc::no_such_file_or_directory)
        << connected.value.error.message();
}

ASOCK_INSTANTIATE_CONTRACT(CppUnix);

}  // namespace
}  // namespace asock_test
