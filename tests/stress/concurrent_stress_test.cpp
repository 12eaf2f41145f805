// Many threads at once on shared engines: eight threads send, receive, close and replace
// (destroy and create again) the sockets of 64 connected pairs spread over two engines of two
// loops each, while the callbacks chain receives, echo, and close their own socket or the
// other end of their connection. Whatever the interleaving, every accepted operation
// completes exactly once and no callback comes after its socket's close returned.
#include <sys/socket.h>

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "stress/stress_support.h"

namespace asock_stress {
namespace {

constexpr size_t kPairs = 64;
constexpr size_t kWorkers = 8;
constexpr uint32_t kLargestSend = 16 * 1024;

// The two ends of a socketpair, end 0 on the first engine and end 1 on the second. Whoever
// uses the sockets holds the lock shared; whoever replaces them holds it exclusively, so that
// no handle is used after its destroy.
struct Pair
{
    explicit Pair(Ledger& ledger) : ends{Endpoint(ledger), Endpoint(ledger)}
    {
        for (int i = 0; i < 2; ++i)
        {
            Endpoint& e = ends[i];
            e.chain_receives = true;
            e.echo = i == 1;  // one end echoes: an echo on both would bounce forever
            e.close_one_in = 500;
            e.partner = &ends[1 - i];
            e.partner_close_one_in = 1000;
            e.partner_lock = &lock;
        }
    }

    // New sockets on a new socketpair, each with a receive pending. Exclusive lock held.
    bool connect(EXECUTION_ENGINE_HANDLE const engines[2])
    {
        int fds[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
            return false;
        const bool first = create_and_open(ends[0], engines[0], fds[0]);
        const bool second = create_and_open(ends[1], engines[1], fds[1]);
        for (Endpoint& e : ends)
            start_receive(e, e.socket.load(), e.generation.load());
        return first && second;
    }

    std::shared_mutex lock;
    Endpoint ends[2];
};

// One worker: random operations on random pairs until the deadline.
bool work(std::vector<std::unique_ptr<Pair>>& pairs, EXECUTION_ENGINE_HANDLE const engines[2], std::chrono::steady_clock::time_point deadline)
{
    while (std::chrono::steady_clock::now() < deadline)
    {
        Pair& pair = *pairs[random_below(kPairs)];
        const uint32_t action = random_below(100);
        if (action < 2)
        {
            std::unique_lock<std::shared_mutex> lock(pair.lock);
            destroy(pair.ends[0]);
            destroy(pair.ends[1]);
            if (!pair.connect(engines))
                return false;
            continue;
        }
        std::shared_lock<std::shared_mutex> lock(pair.lock);
        Endpoint& e = pair.ends[random_below(2)];
        ASYNC_SOCKET_HANDLE socket = e.socket.load();
        const uint64_t generation = e.generation.load();
        if (action < 50)
        {
            start_send(e, socket, generation, 1 + random_below(kLargestSend));
        }
        else if (action < 96)
        {
            start_receive(e, socket, generation);
        }
        else
        {
            async_socket_close(socket);
            e.mark_closed(generation);
        }
    }
    return true;
}

class ConcurrentStress : public Stress
{
};

// Tests_SRS_ASYNC_SOCKET_LINUX_02_002
// Tests_SRS_ASYNC_SOCKET_LINUX_02_011
// Tests_SRS_ASYNC_SOCKET_LINUX_02_012
// Tests_SRS_ASYNC_SOCKET_LINUX_02_013
TEST_P(ConcurrentStress, eight_threads_sending_receiving_closing_and_replacing_sockets_on_shared_engines_complete_every_operation_once)
{
    const auto started = std::chrono::steady_clock::now();
    Ledger ledger;
    EXECUTION_ENGINE_HANDLE engines[2] = {make_engine(GetParam(), 2), make_engine(GetParam(), 2)};
    ASSERT_NE(nullptr, engines[0]);
    ASSERT_NE(nullptr, engines[1]);
    std::vector<std::unique_ptr<Pair>> pairs;
    for (size_t i = 0; i < kPairs; ++i)
    {
        pairs.push_back(std::make_unique<Pair>(ledger));
        ASSERT_TRUE(pairs.back()->connect(engines)) << "pair " << i;
    }

    const auto deadline = std::chrono::steady_clock::now() + share_of_budget(0.5);
    std::atomic<size_t> failed_workers{0};
    {
        std::vector<std::jthread> workers;
        for (size_t i = 0; i < kWorkers; ++i)
            workers.emplace_back([&] {
                if (!work(pairs, engines, deadline))
                    failed_workers++;
            });
    }
    EXPECT_EQ(0u, failed_workers.load()) << "a worker could not make a socketpair";

    // Every destroy returns only when its socket's operations have completed: once all are
    // done, the ledger must balance at once, without waiting.
    for (auto& pair : pairs)
    {
        std::unique_lock<std::shared_mutex> lock(pair->lock);
        destroy(pair->ends[0]);
        destroy(pair->ends[1]);
    }
    size_t busy = 0;
    for (const auto& pair : pairs)
        busy += (pair->ends[0].idle() ? 0 : 1) + (pair->ends[1].idle() ? 0 : 1);
    EXPECT_EQ(0u, busy) << "endpoints with an operation that never completed";
    report(ledger, std::chrono::steady_clock::now() - started);
    execution_engine_dec_ref(engines[0]);
    execution_engine_dec_ref(engines[1]);
    expect_nothing_left_behind();
}

ASOCK_INSTANTIATE_STRESS(ConcurrentStress);

}  // namespace
}  // namespace asock_stress
