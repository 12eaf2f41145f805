// Connect by name (async_socket_connect_by_name_async, Happy Eyeballs) over loopback. A name
// with both an IPv6 and an IPv4 address needs the test seam on a machine whose "localhost" is
// IPv4 only (the build machine's): those races are in fault/resolve_seam_test.cpp. Here: what
// the system's own names and numeric hosts give, a listener that never answers (its backlog
// full), timeouts and cancels.
#include "contract/resolve_helpers.h"

namespace asock_test {
namespace {

class HappyEyeballs : public Contract
{
protected:
    int connect(ConnectRecord& record, const char* host, uint16_t port, uint32_t timeout_ms = 5000, ASYNC_CANCELLATION_HANDLE cancellation = nullptr)
    {
        return async_socket_connect_by_name_async(engine, host, port, timeout_ms, cancellation, ConnectRecord::callback, &record);
    }

    // Waits for the one callback and checks that no second one follows; the socket is owned.
    void wait_once(ConnectRecord& record, OwnedSocket& socket)
    {
        ASSERT_TRUE(record.done.wait_for(1));
        socket.reset(record.socket.load());
        std::this_thread::sleep_for(kQuiet);
        EXPECT_EQ(1, record.calls.load());
        EXPECT_NE(std::this_thread::get_id(), record.thread.load());
    }

    // A listener whose connects hang (skips the test where a full backlog refuses instead).
    void require_full(const FullBacklogListener& listener)
    {
        if (!listener.full())
            GTEST_SKIP() << "a SYN to a full backlog is not dropped here: no address that never answers";
    }
};

// Tests_SRS_ASYNC_RESOLVE_13_001, Tests_SRS_ASYNC_RESOLVE_13_003
TEST_P(HappyEyeballs, localhost_reaches_a_listener_on_127_0_0_1_only)
{
    AcceptingListener listener(engine, "127.0.0.1");
    ASSERT_TRUE(listener.ok());
    ConnectRecord record;
    OwnedSocket socket;
    ASSERT_EQ(0, connect(record, "localhost", listener.port()));
    wait_once(record, socket);
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_OK, record.result.load());
    EXPECT_EQ(0, record.error.load());
    EXPECT_NE(nullptr, socket.get());
    EXPECT_TRUE(listener.accepted.wait_for(1));
}

// Tests_SRS_ASYNC_RESOLVE_13_002
TEST_P(HappyEyeballs, a_numeric_ipv4_host_is_connected_to_directly)
{
    AcceptingListener listener(engine, "127.0.0.1");
    ASSERT_TRUE(listener.ok());
    ConnectRecord record;
    OwnedSocket socket;
    ASSERT_EQ(0, connect(record, "127.0.0.1", listener.port()));
    wait_once(record, socket);
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_OK, record.result.load());
    EXPECT_TRUE(listener.accepted.wait_for(1));
}

// Tests_SRS_ASYNC_RESOLVE_13_002
TEST_P(HappyEyeballs, a_numeric_ipv6_host_is_connected_to_directly)
{
    AcceptingListener listener(engine, "::1");
    if (listener.created() == ASYNC_SOCKET_LISTENER_CREATE_ADDRESS_NOT_AVAILABLE)
        GTEST_SKIP() << "no IPv6 loopback here";
    ASSERT_TRUE(listener.ok());
    ConnectRecord record;
    OwnedSocket socket;
    ASSERT_EQ(0, connect(record, "::1", listener.port()));
    wait_once(record, socket);
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_OK, record.result.load());
    EXPECT_TRUE(listener.accepted.wait_for(1));
}

// Tests_SRS_ASYNC_RESOLVE_13_009
TEST_P(HappyEyeballs, when_every_address_refuses_the_last_refusal_is_reported)
{
    const uint16_t port = closed_port(engine, "127.0.0.1");
    ASSERT_NE(0, port);
    ConnectRecord record;
    OwnedSocket socket;
    ASSERT_EQ(0, connect(record, "localhost", port));
    wait_once(record, socket);
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_REFUSED, record.result.load());
    EXPECT_EQ(ECONNREFUSED, record.error.load());
    EXPECT_EQ(nullptr, socket.get());
}

// Tests_SRS_ASYNC_RESOLVE_13_008
TEST_P(HappyEyeballs, a_name_that_does_not_exist_completes_name_not_found)
{
    ConnectRecord record;
    OwnedSocket socket;
    ASSERT_EQ(0, connect(record, "no-such-host.asock-test.invalid", 80, 15000));  // past the system's 5 s retry
    wait_once(record, socket);
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_NAME_NOT_FOUND, record.result.load());
    EXPECT_EQ(ENOENT, record.error.load());
    EXPECT_EQ(nullptr, socket.get());
}

// Tests_SRS_ASYNC_RESOLVE_13_001
TEST_P(HappyEyeballs, bad_arguments_fail_with_einval_and_never_call_back)
{
    ConnectRecord record;
    EXPECT_EQ(EINVAL, async_socket_connect_by_name_async(nullptr, "localhost", 1, 1000, nullptr, ConnectRecord::callback, &record));
    EXPECT_EQ(EINVAL, connect(record, nullptr, 1));
    EXPECT_EQ(EINVAL, connect(record, "localhost", 1, 0));
    EXPECT_EQ(EINVAL, async_socket_connect_by_name_async(engine, "localhost", 1, 1000, nullptr, nullptr, &record));
    EXPECT_EQ(EINVAL, connect(record, std::string(256, 'a').c_str(), 1));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(0, record.calls.load());
}

// Tests_SRS_ASYNC_RESOLVE_13_006
TEST_P(HappyEyeballs, an_address_that_never_answers_ends_with_the_overall_timeout)
{
    FullBacklogListener silent(engine, "127.0.0.1");
    require_full(silent);
    ConnectRecord record;
    OwnedSocket socket;
    const auto started = std::chrono::steady_clock::now();
    ASSERT_EQ(0, connect(record, "localhost", silent.port(), 300));
    wait_once(record, socket);
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_TIMEOUT, record.result.load());
    EXPECT_EQ(ETIMEDOUT, record.error.load());
    EXPECT_EQ(nullptr, socket.get());
    EXPECT_GE(elapsed_ms(started), 295.0);
    EXPECT_LT(elapsed_ms(started), 3000.0);
}

// Tests_SRS_ASYNC_RESOLVE_13_007
TEST_P(HappyEyeballs, a_cancel_mid_way_completes_cancelled_at_once)
{
    FullBacklogListener silent(engine, "127.0.0.1");
    require_full(silent);
    ASYNC_CANCELLATION_HANDLE cancellation = async_cancellation_create();
    ASSERT_NE(nullptr, cancellation);
    ConnectRecord record;
    OwnedSocket socket;
    ASSERT_EQ(0, connect(record, "localhost", silent.port(), 10000, cancellation));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(0, record.calls.load());
    const auto cancelled = std::chrono::steady_clock::now();
    async_cancellation_cancel(cancellation);
    async_cancellation_destroy(cancellation);
    wait_once(record, socket);
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_CANCELLED, record.result.load());
    EXPECT_EQ(ECANCELED, record.error.load());
    EXPECT_LT(elapsed_ms(cancelled), 2000.0);
}

// Tests_SRS_ASYNC_RESOLVE_13_007
TEST_P(HappyEyeballs, a_connect_cancelled_before_its_start_completes_cancelled_through_its_callback)
{
    AcceptingListener listener(engine, "127.0.0.1");
    ASSERT_TRUE(listener.ok());
    ASYNC_CANCELLATION_HANDLE cancellation = async_cancellation_create();
    ASSERT_NE(nullptr, cancellation);
    async_cancellation_cancel(cancellation);
    ConnectRecord record;
    OwnedSocket socket;
    ASSERT_EQ(0, connect(record, "localhost", listener.port(), 5000, cancellation));
    async_cancellation_destroy(cancellation);
    wait_once(record, socket);
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_CANCELLED, record.result.load());
    EXPECT_EQ(nullptr, socket.get());
    EXPECT_FALSE(listener.accepted.wait_for(1, kQuiet));
}

// Tests_SRS_ASYNC_RESOLVE_13_001
TEST_P(HappyEyeballs, many_connects_by_name_at_once_each_complete_once)
{
    AcceptingListener listener(engine, "127.0.0.1", 0, 32);
    ASSERT_TRUE(listener.ok());
    std::vector<ConnectRecord> records(32);
    for (ConnectRecord& record : records)
        ASSERT_EQ(0, connect(record, "localhost", listener.port()));
    std::vector<OwnedSocket> sockets;
    for (ConnectRecord& record : records)
    {
        ASSERT_TRUE(record.done.wait_for(1));
        sockets.emplace_back(record.socket.load());
        EXPECT_EQ(ASYNC_SOCKET_CONNECT_OK, record.result.load());
    }
    EXPECT_TRUE(listener.accepted.wait_for(records.size()));
    std::this_thread::sleep_for(kQuiet);
    for (ConnectRecord& record : records)
        EXPECT_EQ(1, record.calls.load());
}

// Tests_SRS_ASYNC_RESOLVE_13_010
TEST_P(HappyEyeballs, the_connect_holds_the_engine_until_its_callback_returned)
{
    AcceptingListener listener(engine, "127.0.0.1");
    ASSERT_TRUE(listener.ok());
    // Its own engine, which nothing else holds once the test lets go of it.
    EXECUTION_ENGINE_HANDLE connect_engine = make_engine(GetParam());
    ASSERT_NE(nullptr, connect_engine);
    ConnectRecord record;
    OwnedSocket socket;
    ASSERT_EQ(0, async_socket_connect_by_name_async(connect_engine, "localhost", listener.port(), 5000, nullptr, ConnectRecord::callback, &record));
    execution_engine_dec_ref(connect_engine);
    wait_once(record, socket);
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_OK, record.result.load());
}

}  // namespace

ASOCK_INSTANTIATE_CONTRACT(HappyEyeballs);

}  // namespace asock_test
