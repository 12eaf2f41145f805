// Engines made and dropped in a loop with sockets in flight: each round makes an engine of two
// loops and eight socketpairs on it, lets go of its own engine reference at once (the sockets
// hold theirs), starts traffic (one end sends, the other echoes), then destroys the sending
// ends while bytes are in flight. Each echoing end sees its stream end and destroys itself
// from its own callback; the last of them drops the engine's last reference on the engine's
// own thread. Every round ends with every operation completed once and the engine's threads
// gone.
#include <sys/socket.h>

#include <memory>

#include "stress/stress_support.h"

namespace asock_stress {
namespace {

constexpr size_t kPairs = 8;

class EngineChurnStress : public Stress
{
};

// Tests_SRS_ASYNC_SOCKET_LINUX_03_005
// Tests_SRS_ASYNC_SOCKET_LINUX_02_002
// Tests_SRS_ASYNC_SOCKET_LINUX_02_012
TEST_P(EngineChurnStress, engines_dropped_with_sockets_in_flight_end_their_threads_and_complete_every_operation_once)
{
    const auto started = std::chrono::steady_clock::now();
    const auto deadline = started + share_of_budget(0.3);
    Ledger ledger;
    size_t rounds = 0;
    do
    {
        SCOPED_TRACE(testing::Message() << "round " << rounds);
        EXECUTION_ENGINE_HANDLE engine = make_engine(GetParam(), 2);
        ASSERT_NE(nullptr, engine);
        Counter self_destroyed;
        // Pair i: ends[2i] is driven by the test, ends[2i + 1] echoes and destroys itself.
        std::vector<std::unique_ptr<Endpoint>> ends;
        for (size_t i = 0; i < kPairs; ++i)
        {
            int fds[2];
            ASSERT_EQ(0, ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds));
            auto sender = std::make_unique<Endpoint>(ledger);
            auto echoer = std::make_unique<Endpoint>(ledger);
            sender->chain_receives = true;
            echoer->chain_receives = true;
            echoer->echo = true;
            echoer->destroy_when_ended = true;
            echoer->self_destroyed = &self_destroyed;
            ASSERT_TRUE(create_and_open(*sender, engine, fds[0]));
            ASSERT_TRUE(create_and_open(*echoer, engine, fds[1]));
            ends.push_back(std::move(sender));
            ends.push_back(std::move(echoer));
        }
        execution_engine_dec_ref(engine);  // from now on the sockets keep the engine alive
        for (auto& e : ends)
            ASSERT_TRUE(start_receive(*e, e->socket.load(), e->generation.load()));
        for (size_t i = 0; i < ends.size(); i += 2)
            ASSERT_TRUE(start_send(*ends[i], ends[i]->socket.load(), ends[i]->generation.load(), 1 + random_below(kPayloadSize)));
        std::this_thread::sleep_for(std::chrono::microseconds(random_below(2000)));
        for (size_t i = 0; i < ends.size(); i += 2)
            destroy(*ends[i]);

        if (!self_destroyed.wait_for(kPairs))
        {
            ADD_FAILURE() << "echoing ends whose stream never ended; destroyed from here";
            for (size_t i = 1; i < ends.size(); i += 2)
                if (ends[i]->destroy_when_ended.exchange(false))
                    destroy(*ends[i]);
        }
        ASSERT_TRUE(wait_for_thread_count(baseline_threads)) << "the engine's threads did not end";
        for (size_t i = 0; i < ends.size(); ++i)
            EXPECT_TRUE(ends[i]->idle()) << "socket " << i << " has an operation that never completed";
        ASSERT_EQ(ledger.accepted_count(), ledger.delivered_count()) << ledger.figures();
        ++rounds;
    } while (std::chrono::steady_clock::now() < deadline);
    std::cout << "[ledger] " << rounds << " engines made and dropped" << std::endl;
    report(ledger, std::chrono::steady_clock::now() - started);
    expect_nothing_left_behind();
}

ASOCK_INSTANTIATE_STRESS(EngineChurnStress);

}  // namespace
}  // namespace asock_stress
