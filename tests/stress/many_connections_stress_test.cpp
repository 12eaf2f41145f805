// Ten thousand open sockets on one engine: 5,000 socketpairs, both ends given to asock, a
// receive pending on each; half of the pairs then exchange a message, and all are closed. Each
// receive completes exactly once (OK where a message came, abandoned by the close elsewhere),
// and every descriptor is given back. Rounds repeat while the scenario's share of the time
// lasts (at least one).
#include <sys/resource.h>
#include <sys/socket.h>

#include <memory>

#include "stress/stress_support.h"

namespace asock_stress {
namespace {

constexpr size_t kPairs = 5000;
constexpr size_t kSockets = 2 * kPairs;
constexpr uint32_t kMessage = 32;

class ManyConnectionsStress : public Stress
{
protected:
    void SetUp() override
    {
        // 10,000 descriptors and some room: raise the soft limit as far as the hard one goes.
        ASSERT_EQ(0, ::getrlimit(RLIMIT_NOFILE, &saved_limit_));
        rlimit raised = saved_limit_;
        raised.rlim_cur = raised.rlim_max;
        if (raised.rlim_max < kSockets + 256)
            GTEST_SKIP() << "RLIMIT_NOFILE's hard limit is " << raised.rlim_max << ", below the " << kSockets + 256
                         << " descriptors this test needs (raise it, e.g. ulimit -Hn 20000, as root)";
        ASSERT_EQ(0, ::setrlimit(RLIMIT_NOFILE, &raised));
        restore_limit_ = true;
        Stress::SetUp();
    }

    void TearDown() override
    {
        if (restore_limit_)
            ::setrlimit(RLIMIT_NOFILE, &saved_limit_);
    }

    rlimit saved_limit_{};
    bool restore_limit_ = false;
};

// Tests_SRS_ASYNC_SOCKET_LINUX_02_021
// Tests_SRS_ASYNC_SOCKET_LINUX_02_003
// Tests_SRS_ASYNC_SOCKET_LINUX_01_005
TEST_P(ManyConnectionsStress, ten_thousand_sockets_with_receives_pending_complete_each_once_and_give_every_descriptor_back)
{
    const auto started = std::chrono::steady_clock::now();
    const auto deadline = started + share_of_budget(0.2);
    Ledger ledger;
    EXECUTION_ENGINE_HANDLE engine = make_engine(GetParam(), 2);
    ASSERT_NE(nullptr, engine);
    size_t rounds = 0;
    do
    {
        SCOPED_TRACE(testing::Message() << "round " << rounds);
        const uint64_t ok_before = ledger.delivered_count(ASYNC_SOCKET_RECEIVE_OK);
        const uint64_t opens_before = ledger.delivered_count(ASYNC_SOCKET_OPEN_OK);
        std::vector<std::unique_ptr<Endpoint>> ends;
        ends.reserve(kSockets);
        for (size_t i = 0; i < kPairs; ++i)
        {
            int fds[2];
            ASSERT_EQ(0, ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds)) << "pair " << i << ": errno " << errno;
            for (int fd : fds)
            {
                ends.push_back(std::make_unique<Endpoint>(ledger));
                ASSERT_TRUE(create_and_open(*ends.back(), engine, fd)) << "socket " << ends.size();
            }
        }
        ASSERT_TRUE(wait_until([&] { return ledger.delivered_count(ASYNC_SOCKET_OPEN_OK) - opens_before == kSockets; }));
        for (auto& e : ends)
            ASSERT_TRUE(start_receive(*e, e->socket.load(), e->generation.load()));

        // Every even pair: end 0 writes to end 1, whose receive completes; the rest stay pending.
        for (size_t i = 0; i < kPairs; i += 2)
            ASSERT_TRUE(start_send(*ends[2 * i], ends[2 * i]->socket.load(), ends[2 * i]->generation.load(), kMessage));
        ASSERT_TRUE(wait_until([&] { return ledger.delivered_count(ASYNC_SOCKET_RECEIVE_OK) - ok_before >= kPairs / 2; }));

        for (auto& e : ends)
            destroy(*e);
        for (size_t i = 0; i < kSockets; ++i)
            ASSERT_TRUE(ends[i]->idle()) << "socket " << i << " has an operation that never completed";
        EXPECT_EQ(kPairs / 2, ledger.delivered_count(ASYNC_SOCKET_RECEIVE_OK) - ok_before) << "a receive got bytes no one sent";
        EXPECT_EQ(ledger.accepted_count(), ledger.delivered_count()) << "after the close, every operation has completed";
        ++rounds;
    } while (std::chrono::steady_clock::now() < deadline);
    std::cout << "[ledger] " << rounds << " rounds of " << kSockets << " sockets" << std::endl;
    report(ledger, std::chrono::steady_clock::now() - started);
    execution_engine_dec_ref(engine);
    expect_nothing_left_behind();
}

ASOCK_INSTANTIATE_STRESS(ManyConnectionsStress);

}  // namespace
}  // namespace asock_stress
