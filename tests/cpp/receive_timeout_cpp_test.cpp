// The C++ API's receives with a timeout, and cancel_receives, on every backend of the
// platform: timed_out and cancelled are told apart from a peer that left, and the socket stays
// usable after either.
#include <array>
#include <chrono>
#include <cstring>
#include <optional>
#include <system_error>
#include <thread>

#include "asock/asock.hpp"
#include "cpp/cpp_fixture.h"

namespace asock_test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class CppReceiveTimeout : public CppContract
{
protected:
    void SetUp() override
    {
        CppContract::SetUp();
        if (IsSkipped() || HasFatalFailure())
            return;
        e.emplace(cpp_engine());
        c = tcp_connection();
        s = open_cpp_socket(*e, c.ours);
    }
    void TearDown() override
    {
        s = asock::socket();
        if (c.peer != kNoSocket)
            close_socket(c.peer);
        e.reset();
        CppContract::TearDown();
    }

    // A receive of everything the peer writes next, awaited: it must get `text`.
    void expect_receive_of(const char* text)
    {
        Awaited<asock::io_result> next;
        std::array<std::byte, 64> buffer{};
        await_one(next, [&] { return s.receive(std::span(buffer), 5s); });
        ASSERT_TRUE(write_all(c.peer, text, std::strlen(text)));
        ASSERT_TRUE(next.done.wait_for(1));
        ASSERT_EQ(asock::result::ok, next.value.status) << next.value.error().message();
        ASSERT_EQ(std::strlen(text), next.value.bytes);
        EXPECT_EQ(0, std::memcmp(buffer.data(), text, next.value.bytes));
    }

    std::optional<asock::engine> e;
    Connection c{{}, kNoSocket};
    asock::socket s;
};

// Tests_SRS_ASOCK_CPP_12_020
TEST_P(CppReceiveTimeout, an_awaited_receive_with_no_bytes_times_out_and_the_next_one_gets_data)
{
    Awaited<asock::io_result> awaited;
    std::array<std::byte, 16> buffer{};
    const auto start = Clock::now();
    await_one(awaited, [&] { return s.receive(std::span(buffer), 40ms); });
    ASSERT_TRUE(awaited.done.wait_for(1));
    EXPECT_GE(Clock::now() - start, 40ms);
    EXPECT_EQ(asock::result::timed_out, awaited.value.status);
    EXPECT_EQ(0u, awaited.value.bytes);
    EXPECT_EQ(std::errc::timed_out, awaited.value.error());
    expect_receive_of("after");
}

// Tests_SRS_ASOCK_CPP_12_020
TEST_P(CppReceiveTimeout, a_handler_receive_with_no_bytes_times_out_and_the_next_one_gets_data)
{
    std::array<std::byte, 16> buffer{};
    Counter done;
    asock::io_result got{asock::result::ok, 99};
    ASSERT_FALSE(s.receive(std::span(buffer), 30ms, [&](asock::io_result r) {
        got = r;
        done.add();
    }));
    ASSERT_TRUE(done.wait_for(1));
    EXPECT_EQ(asock::result::timed_out, got.status);
    EXPECT_EQ(0u, got.bytes);
    expect_receive_of("again");
}

// Tests_SRS_ASOCK_CPP_12_021
TEST_P(CppReceiveTimeout, bytes_that_arrive_before_the_timeout_complete_it_ok)
{
    Awaited<asock::io_result> awaited;
    std::array<std::byte, 16> buffer{};
    await_one(awaited, [&] { return s.receive(std::span(buffer), 10s); });
    ASSERT_TRUE(write_all(c.peer, "data", 4));
    ASSERT_TRUE(awaited.done.wait_for(1));
    EXPECT_EQ(asock::result::ok, awaited.value.status);
    EXPECT_EQ(4u, awaited.value.bytes);
    EXPECT_EQ(0, std::memcmp(buffer.data(), "data", 4));
}

// Tests_SRS_ASOCK_CPP_12_022
TEST_P(CppReceiveTimeout, cancel_receives_completes_pending_receives_with_cancelled_and_the_socket_stays_usable)
{
    Awaited<asock::io_result> timed;
    Awaited<asock::io_result> stoppable;
    std::array<std::byte, 16> one{};
    std::array<std::byte, 16> two{};
    std::stop_source never;
    await_one(timed, [&] { return s.receive(std::span(one), 10s); });
    await_one(stoppable, [&] { return s.receive(std::span(two), never.get_token()); });
    EXPECT_FALSE(s.cancel_receives());
    ASSERT_TRUE(timed.done.wait_for(1, kHangTimeout));
    ASSERT_TRUE(stoppable.done.wait_for(1, kHangTimeout));
    EXPECT_EQ(asock::result::cancelled, timed.value.status);
    EXPECT_EQ(asock::result::cancelled, stoppable.value.status);
    EXPECT_EQ(std::errc::operation_canceled, timed.value.error());
    expect_receive_of("still open");
}

// Tests_SRS_ASOCK_CPP_12_022
TEST_P(CppReceiveTimeout, cancel_receives_with_nothing_pending_returns_no_error)
{
    EXPECT_FALSE(s.cancel_receives());
    expect_receive_of("fine");
}

// Tests_SRS_ASOCK_CPP_12_023
TEST_P(CppReceiveTimeout, a_timeout_of_zero_or_less_times_out_instead_of_waiting_for_ever)
{
    for (auto timeout : {0ms, -5ms})
    {
        Awaited<asock::io_result> awaited;
        std::array<std::byte, 16> buffer{};
        await_one(awaited, [&] { return s.receive(std::span(buffer), timeout); });
        ASSERT_TRUE(awaited.done.wait_for(1, kHangTimeout)) << timeout.count();
        EXPECT_EQ(asock::result::timed_out, awaited.value.status);
    }
}

// Tests_SRS_ASOCK_CPP_12_024
TEST_P(CppReceiveTimeout, a_close_completes_a_timed_receive_with_abandoned_on_every_platform)
{
    Awaited<asock::io_result> awaited;
    std::array<std::byte, 16> buffer{};
    await_one(awaited, [&] { return s.receive(std::span(buffer), 10s); });
    s.close();
    ASSERT_TRUE(awaited.done.wait_for(1, kHangTimeout));
    EXPECT_EQ(asock::result::abandoned, awaited.value.status);
}

// Tests_SRS_ASOCK_CPP_12_020
TEST_P(CppReceiveTimeout, a_timed_receive_into_several_buffers_fills_them_in_order)
{
    std::array<std::byte, 3> first{};
    std::array<std::byte, 5> second{};
    const std::array<asock::buffer, 2> buffers{asock::make_buffer(std::span<std::byte>(first)), asock::make_buffer(std::span<std::byte>(second))};
    Awaited<asock::io_result> awaited;
    await_one(awaited, [&] { return s.receive(std::span<const asock::buffer>(buffers), 10s); });
    ASSERT_TRUE(write_all(c.peer, "abcdefgh", 8));
    ASSERT_TRUE(awaited.done.wait_for(1));
    ASSERT_EQ(asock::result::ok, awaited.value.status);
    ASSERT_EQ(8u, awaited.value.bytes);
    EXPECT_EQ(0, std::memcmp(first.data(), "abc", 3));
    EXPECT_EQ(0, std::memcmp(second.data(), "defgh", 5));
}

ASOCK_INSTANTIATE_CONTRACT(CppReceiveTimeout);

}  // namespace
}  // namespace asock_test
