// Name resolution and connect by name with the test seam of asock_fault: a resolver that keeps
// a lookup waiting (asock_fault_resolve_override's delay), names with the addresses a test
// needs ("::1,127.0.0.1" on a machine whose localhost is IPv4 only), the helper threads'
// count, and every fault point of a lookup and a connect by name failing in turn.
#include "contract/resolve_helpers.h"
#include "support/fault_injection.h"

namespace asock_test {
namespace {

class ResolveSeam : public Contract
{
protected:
    void SetUp() override
    {
        asock_fault_resolver_idle_ms(50);  // helpers end soon after their work (helpers_gone)
        Contract::SetUp();
    }
    void TearDown() override
    {
        asock_fault_disarm();
        Contract::TearDown();
        asock_fault_resolve_override(nullptr, nullptr, 0);
        asock_fault_resolver_idle_ms(3000);
    }

    int resolve(ResolveRecord& record, const char* host, uint32_t timeout_ms = 0, ASYNC_CANCELLATION_HANDLE cancellation = nullptr)
    {
        return async_resolve_async(engine, host, "80", ASYNC_ADDRESS_FAMILY_ANY, timeout_ms, cancellation, ResolveRecord::callback, &record);
    }
    int connect(ConnectRecord& record, const char* host, uint16_t port, uint32_t timeout_ms = 5000, ASYNC_CANCELLATION_HANDLE cancellation = nullptr)
    {
        return async_socket_connect_by_name_async(engine, host, port, timeout_ms, cancellation, ConnectRecord::callback, &record);
    }
    // Waits for every helper to have ended (each 50 ms after its last lookup).
    bool helpers_gone()
    {
        return wait_until([] { return asock_fault_resolver_threads() == 0; }, std::chrono::seconds(5));
    }
    // ::1 and 127.0.0.1 listeners on one port: the first one accepts (or never answers, full),
    // the IPv4 one accepts.
    bool ipv6_available()
    {
        AcceptingListener probe(engine, "::1", 0, 0);
        return probe.ok();
    }
};

// Tests_SRS_ASYNC_RESOLVE_12_008
TEST_P(ResolveSeam, a_timeout_completes_at_once_while_the_resolver_keeps_waiting)
{
    asock_fault_resolve_override("slow.test", "127.0.0.1", 1500);
    ResolveRecord record;
    const auto started = std::chrono::steady_clock::now();
    ASSERT_EQ(0, resolve(record, "slow.test", 100));
    ASSERT_TRUE(record.done.wait_for(1));
    EXPECT_EQ(ASYNC_RESOLVE_TIMEOUT, record.result.load());
    EXPECT_EQ(ETIMEDOUT, record.error.load());
    EXPECT_GE(elapsed_ms(started), 99.0);
    EXPECT_LT(elapsed_ms(started), 1000.0);
    // The answer that comes at 1500 ms is dropped.
    ASSERT_TRUE(helpers_gone());
    EXPECT_EQ(1, record.calls.load());
}

// Tests_SRS_ASYNC_RESOLVE_12_009
TEST_P(ResolveSeam, a_cancel_completes_at_once_and_the_late_answer_is_dropped)
{
    asock_fault_resolve_override("slow.test", "127.0.0.1", 800);
    ASYNC_CANCELLATION_HANDLE cancellation = async_cancellation_create();
    ASSERT_NE(nullptr, cancellation);
    ResolveRecord record;
    ASSERT_EQ(0, resolve(record, "slow.test", 0, cancellation));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const auto cancelled = std::chrono::steady_clock::now();
    async_cancellation_cancel(cancellation);
    async_cancellation_destroy(cancellation);
    ASSERT_TRUE(record.done.wait_for(1));
    EXPECT_LT(elapsed_ms(cancelled), 500.0);
    EXPECT_EQ(ASYNC_RESOLVE_CANCELLED, record.result.load());
    EXPECT_EQ(ECANCELED, record.error.load());
    ASSERT_TRUE(helpers_gone());
    EXPECT_EQ(1, record.calls.load());
}

// Tests_SRS_ASYNC_RESOLVE_12_008, Tests_SRS_ASYNC_RESOLVE_12_010
TEST_P(ResolveSeam, lookups_waiting_for_a_helper_time_out_on_time_too)
{
    asock_fault_resolve_override("slow.test", "127.0.0.1", 600);
    std::vector<ResolveRecord> records(12);  // three times the helpers
    const auto started = std::chrono::steady_clock::now();
    for (ResolveRecord& record : records)
        ASSERT_EQ(0, resolve(record, "slow.test", 150));
    for (ResolveRecord& record : records)
    {
        ASSERT_TRUE(record.done.wait_for(1));
        EXPECT_EQ(ASYNC_RESOLVE_TIMEOUT, record.result.load());
    }
    EXPECT_LT(elapsed_ms(started), 590.0);  // none waited for a helper's answer
    EXPECT_LE(asock_fault_resolver_threads(), 4u);
    ASSERT_TRUE(helpers_gone());
    for (ResolveRecord& record : records)
        EXPECT_EQ(1, record.calls.load());
}

// Tests_SRS_ASYNC_RESOLVE_12_010
TEST_P(ResolveSeam, at_most_four_helpers_run_and_they_end_when_idle)
{
    asock_fault_resolve_override("slow.test", "127.0.0.1", 100);
    std::vector<ResolveRecord> records(16);
    for (ResolveRecord& record : records)
        ASSERT_EQ(0, resolve(record, "slow.test"));
    uint32_t most = 0;
    for (ResolveRecord& record : records)
    {
        most = std::max(most, asock_fault_resolver_threads());
        ASSERT_TRUE(record.done.wait_for(1));
        EXPECT_EQ(ASYNC_RESOLVE_OK, record.result.load());
    }
    EXPECT_GE(most, 2u);
    EXPECT_LE(most, 4u);
    EXPECT_TRUE(helpers_gone());
}

// Tests_SRS_ASYNC_RESOLVE_12_012
TEST_P(ResolveSeam, a_cancel_whose_timer_cannot_start_is_still_delivered_once)
{
    asock_fault_resolve_override("slow.test", "127.0.0.1", 300);
    ASYNC_CANCELLATION_HANDLE cancellation = async_cancellation_create();
    ASSERT_NE(nullptr, cancellation);
    ResolveRecord record;
    ASSERT_EQ(0, resolve(record, "slow.test", 0, cancellation));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    asock_fault_arm(ASOCK_FAULT_OP_ALLOC, 0);  // the cancel's timer start finds no memory
    async_cancellation_cancel(cancellation);
    const uint64_t fired = asock_fault_fired();
    asock_fault_disarm();
    async_cancellation_destroy(cancellation);
    EXPECT_EQ(1u, fired);
    ASSERT_TRUE(record.done.wait_for(1));
    EXPECT_EQ(ASYNC_RESOLVE_CANCELLED, record.result.load());  // delivered by the helper when it got back
    ASSERT_TRUE(helpers_gone());
    EXPECT_EQ(1, record.calls.load());
}

// Tests_SRS_ASYNC_RESOLVE_12_012
TEST_P(ResolveSeam, a_helper_that_cannot_start_fails_the_call_when_no_helper_is_left)
{
    ASSERT_TRUE(helpers_gone());
    asock_fault_arm(ASOCK_FAULT_BIT(ASOCK_FAULT_POINT_RESOLVER_THREAD_START), 0);
    ResolveRecord record;
    const int error = resolve(record, "localhost");
    asock_fault_disarm();
    EXPECT_EQ(EAGAIN, error);
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(0, record.calls.load());
    EXPECT_EQ(0u, asock_fault_resolver_threads());
}

// Tests_SRS_ASYNC_RESOLVE_12_012
TEST_P(ResolveSeam, a_failing_system_lookup_completes_error_with_its_errno)
{
    asock_fault_arm(ASOCK_FAULT_BIT(ASOCK_FAULT_POINT_SYS_GETADDRINFO), 0);
    ResolveRecord record;
    ASSERT_EQ(0, resolve(record, "localhost"));
    ASSERT_TRUE(record.done.wait_for(1));
    asock_fault_disarm();
    EXPECT_EQ(ASYNC_RESOLVE_ERROR, record.result.load());
    EXPECT_EQ(EAGAIN, record.error.load());
    EXPECT_TRUE(record.addresses.empty());
}

// Tests_SRS_ASYNC_RESOLVE_13_003, Tests_SRS_ASYNC_RESOLVE_13_004
TEST_P(ResolveSeam, the_refused_ipv6_attempt_is_followed_at_once_by_ipv4_which_wins)
{
    if (!ipv6_available())
        GTEST_SKIP() << "no IPv6 loopback here";
    AcceptingListener listener(engine, "127.0.0.1");
    ASSERT_TRUE(listener.ok());
    asock_fault_resolve_override("dual.test", "::1,127.0.0.1", 0);  // nothing listens on [::1]:port
    ConnectRecord record;
    OwnedSocket socket;
    const auto started = std::chrono::steady_clock::now();
    ASSERT_EQ(0, connect(record, "dual.test", listener.port()));
    ASSERT_TRUE(record.done.wait_for(1));
    socket.reset(record.socket.load());
    EXPECT_LT(elapsed_ms(started), 240.0);  // not the 250 ms of a silent address
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_OK, record.result.load());
    EXPECT_TRUE(listener.accepted.wait_for(1));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(1, record.calls.load());
}

// Tests_SRS_ASYNC_RESOLVE_13_003, Tests_SRS_ASYNC_RESOLVE_13_005
TEST_P(ResolveSeam, ipv6_is_tried_first_even_when_the_system_lists_ipv4_first)
{
    if (!ipv6_available())
        GTEST_SKIP() << "no IPv6 loopback here";
    AcceptingListener v4(engine, "127.0.0.1");
    ASSERT_TRUE(v4.ok());
    AcceptingListener v6(engine, "::1", v4.port());
    if (!v6.ok())
        GTEST_SKIP() << "[::1]:" << v4.port() << " is taken";
    asock_fault_resolve_override("dual.test", "127.0.0.1,::1", 0);
    ConnectRecord record;
    OwnedSocket socket;
    ASSERT_EQ(0, connect(record, "dual.test", v4.port()));
    ASSERT_TRUE(record.done.wait_for(1));
    socket.reset(record.socket.load());
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_OK, record.result.load());
    EXPECT_TRUE(v6.accepted.wait_for(1));
    // The IPv4 attempt was due 250 ms later; the IPv6 win cancelled it before it started.
    EXPECT_FALSE(v4.accepted.wait_for(1, std::chrono::milliseconds(400)));
}

// Tests_SRS_ASYNC_RESOLVE_13_004, Tests_SRS_ASYNC_RESOLVE_13_005
TEST_P(ResolveSeam, an_address_that_never_answers_loses_to_the_next_one_250_ms_later)
{
    if (!ipv6_available())
        GTEST_SKIP() << "no IPv6 loopback here";
    FullBacklogListener silent(engine, "::1");
    if (!silent.full())
        GTEST_SKIP() << "a SYN to a full backlog is not dropped here";
    AcceptingListener listener(engine, "127.0.0.1", silent.port());
    if (!listener.ok())
        GTEST_SKIP() << "127.0.0.1:" << silent.port() << " is taken";
    asock_fault_resolve_override("dual.test", "::1,127.0.0.1", 0);
    ConnectRecord record;
    OwnedSocket socket;
    const auto started = std::chrono::steady_clock::now();
    ASSERT_EQ(0, connect(record, "dual.test", listener.port()));
    ASSERT_TRUE(record.done.wait_for(1));
    socket.reset(record.socket.load());
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_OK, record.result.load());
    EXPECT_GE(elapsed_ms(started), 245.0);
    EXPECT_LT(elapsed_ms(started), 2000.0);
    EXPECT_TRUE(listener.accepted.wait_for(1));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(1, record.calls.load());
}

// Tests_SRS_ASYNC_RESOLVE_13_009
TEST_P(ResolveSeam, when_every_address_refuses_the_connect_fails_without_waiting_the_250_ms)
{
    if (!ipv6_available())
        GTEST_SKIP() << "no IPv6 loopback here";
    const uint16_t port = closed_port(engine, "127.0.0.1");
    asock_fault_resolve_override("dual.test", "::1,127.0.0.1,::1", 0);
    ConnectRecord record;
    const auto started = std::chrono::steady_clock::now();
    ASSERT_EQ(0, connect(record, "dual.test", port));
    ASSERT_TRUE(record.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_REFUSED, record.result.load());
    EXPECT_EQ(ECONNREFUSED, record.error.load());
    EXPECT_EQ(nullptr, record.socket.load());
    EXPECT_LT(elapsed_ms(started), 240.0);
}

// Tests_SRS_ASYNC_RESOLVE_13_006
TEST_P(ResolveSeam, the_lookup_counts_toward_the_overall_timeout)
{
    asock_fault_resolve_override("slow.test", "127.0.0.1", 1000);
    ConnectRecord record;
    const auto started = std::chrono::steady_clock::now();
    ASSERT_EQ(0, connect(record, "slow.test", 1, 150));
    ASSERT_TRUE(record.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_TIMEOUT, record.result.load());
    EXPECT_EQ(ETIMEDOUT, record.error.load());
    EXPECT_GE(elapsed_ms(started), 149.0);
    EXPECT_LT(elapsed_ms(started), 900.0);
    ASSERT_TRUE(helpers_gone());
    EXPECT_EQ(1, record.calls.load());
}

// Tests_SRS_ASYNC_RESOLVE_13_007
TEST_P(ResolveSeam, a_cancel_during_the_lookup_completes_the_connect_cancelled_at_once)
{
    asock_fault_resolve_override("slow.test", "127.0.0.1", 1000);
    ASYNC_CANCELLATION_HANDLE cancellation = async_cancellation_create();
    ASSERT_NE(nullptr, cancellation);
    ConnectRecord record;
    ASSERT_EQ(0, connect(record, "slow.test", 1, 10000, cancellation));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const auto cancelled = std::chrono::steady_clock::now();
    async_cancellation_cancel(cancellation);
    async_cancellation_destroy(cancellation);
    ASSERT_TRUE(record.done.wait_for(1));
    EXPECT_LT(elapsed_ms(cancelled), 500.0);
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_CANCELLED, record.result.load());
    EXPECT_EQ(ECANCELED, record.error.load());
    ASSERT_TRUE(helpers_gone());
    EXPECT_EQ(1, record.calls.load());
}

// The walk: every call at every fault point of a scenario fails in turn (the first few of
// each point); each run either fails at the call (no callback) or calls back exactly once.
class ResolveWalk : public ResolveSeam
{
protected:
    template <typename Scenario>
    void walk(Scenario scenario)
    {
        asock_fault_arm(ASOCK_FAULT_ALL_POINTS, UINT64_MAX);
        ASSERT_TRUE(scenario(true));
        asock_fault_disarm();
        uint64_t hits[ASOCK_FAULT_POINT_COUNT];
        for (unsigned point = 0; point < ASOCK_FAULT_POINT_COUNT; ++point)
            hits[point] = asock_fault_hits(point);
        for (unsigned point = 0; point < ASOCK_FAULT_POINT_COUNT; ++point)
        {
            for (uint64_t skip = 0; skip < std::min<uint64_t>(hits[point], 4); ++skip)
            {
                SCOPED_TRACE(testing::Message() << asock_fault_point_name(point) << " call " << skip + 1 << " fails");
                asock_fault_arm(ASOCK_FAULT_BIT(point), skip);
                EXPECT_TRUE(scenario(false));
                asock_fault_disarm();
            }
        }
    }
};

// Tests_SRS_ASYNC_RESOLVE_12_012
TEST_P(ResolveWalk, every_failure_of_a_lookup_gives_an_error_or_exactly_one_callback)
{
    ASYNC_CANCELLATION_HANDLE cancellation = async_cancellation_create();
    ASSERT_NE(nullptr, cancellation);
    walk([&](bool counting) {
        ResolveRecord record;
        const int error = resolve(record, "localhost", 2000, cancellation);
        if (error != 0)
            return !counting && record.done.wait_for(1, kQuiet) == false;
        if (!record.done.wait_for(1))
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return record.calls.load() == 1 && (!counting || record.result.load() == ASYNC_RESOLVE_OK);
    });
    async_cancellation_destroy(cancellation);
}

// Tests_SRS_ASYNC_RESOLVE_13_010
TEST_P(ResolveWalk, every_failure_of_a_connect_by_name_gives_an_error_or_exactly_one_callback)
{
    if (!ipv6_available())
        GTEST_SKIP() << "no IPv6 loopback here";
    AcceptingListener listener(engine, "127.0.0.1", 0, 64);
    ASSERT_TRUE(listener.ok());
    asock_fault_resolve_override("dual.test", "::1,127.0.0.1", 0);
    walk([&](bool counting) {
        ConnectRecord record;
        const int error = connect(record, "dual.test", listener.port(), 2000);
        if (error != 0)
            return !counting && record.done.wait_for(1, kQuiet) == false;
        if (!record.done.wait_for(1))
            return false;
        async_socket_destroy(record.socket.load());
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return record.calls.load() == 1 && (!counting || record.result.load() == ASYNC_SOCKET_CONNECT_OK);
    });
}

}  // namespace

ASOCK_INSTANTIATE_CONTRACT(ResolveSeam);
ASOCK_INSTANTIATE_CONTRACT(ResolveWalk);

}  // namespace asock_test
