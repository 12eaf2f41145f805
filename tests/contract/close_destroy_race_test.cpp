// async_socket_destroy racing async_socket_close started at the same moment on another thread
// (SRS_ASYNC_SOCKET_WIN32_01_093, SRS_ASYNC_SOCKET_WIN32_77_009): the destroy either runs the
// close itself or waits for the other thread's, and frees the socket only after that close
// has finished with it.
//
// Each round keeps a callback of the socket blocked on a gate, so that whichever close runs
// cannot finish before the test opens the gate, and the test opens it only once both threads
// have made their call: a destroy that returns before the gate opens has freed a socket whose
// close is still under way. (A close that starts only after the destroy has freed the socket
// would be the caller's own use after free; the gate keeps the test clear of it.)
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include "contract/guarantee_helpers.h"
#include "contract/seed_helpers.h"

namespace asock_test {
namespace {

using namespace seed;

constexpr int kRounds = 200;

// A receive whose callback signals that it runs, then waits on a gate.
struct GatedReceive
{
    Gate gate;
    std::atomic<bool> entered{false};
    std::atomic<int> calls{0};

    static void callback(void* context, ASYNC_SOCKET_RECEIVE_RESULT, uint32_t)
    {
        auto* self = static_cast<GatedReceive*>(context);
        self->calls++;
        self->entered = true;
        self->gate.wait();
    }
};

// One round. Leaked when a call hangs: the threads stuck in it still refer to it.
struct RaceRound
{
    ASYNC_SOCKET_HANDLE socket = nullptr;
    GatedReceive running;
    ReceiveRecord pending;
    std::array<uint8_t, 8> running_buffer{};
    std::array<uint8_t, 8> pending_buffer{};
    StartLine start{2};
    std::atomic<bool> calling_close{false};
    std::atomic<bool> calling_destroy{false};
    std::atomic<bool> destroy_returned{false};
    Counter returned;
};

// Spins for about n short steps: moves the close across the destroy's first steps from round
// to round, so that some rounds start the close inside them.
void spin(int n)
{
    std::atomic<int> steps{0};
    while (steps.fetch_add(1, std::memory_order_relaxed) < n * 16)
    {
    }
}

class DestroyRace : public Contract
{
protected:
    // Plays one round; false when a call hung (the round and the engine are then leaked).
    bool race_once(EXECUTION_ENGINE_HANDLE on_engine, int round)
    {
        auto* state = new RaceRound();
        Connection c = local_connection();
        ScopedSocket peer(c.peer);
        state->socket = create_and_open(on_engine, c.ours);
        ASYNC_SOCKET_BUFFER running_buffer{state->running_buffer.data(), static_cast<uint32_t>(state->running_buffer.size())};
        ASYNC_SOCKET_BUFFER pending_buffer{state->pending_buffer.data(), static_cast<uint32_t>(state->pending_buffer.size())};
        EXPECT_EQ(0, async_socket_receive_async(state->socket, &running_buffer, 1, GatedReceive::callback, &state->running));
        EXPECT_EQ(0, async_socket_receive_async(state->socket, &pending_buffer, 1, ReceiveRecord::callback, &state->pending));
        EXPECT_TRUE(write_all(peer.get(), "x", 1));
        EXPECT_TRUE(wait_until([&] { return state->running.entered.load(); }));

        // Threads of their own (they start no operation, so their exit cancels nothing under
        // Wine): both must be running at once for the start line to let them go together.
        std::thread closer([state, round] {
            state->start.arrive_and_wait();
            spin(round % 32);
            state->calling_close = true;
            async_socket_close(state->socket);
            state->returned.add();
        });
        std::thread destroyer([state] {
            state->start.arrive_and_wait();
            state->calling_destroy = true;
            async_socket_destroy(state->socket);
            state->destroy_returned = true;
            state->returned.add();
        });
        EXPECT_TRUE(wait_until([&] { return state->calling_close.load() && state->calling_destroy.load(); }));
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        EXPECT_FALSE(state->destroy_returned.load()) << "round " << round << ": destroy returned while a callback of the socket still ran";
        state->running.gate.open();
        if (!state->returned.wait_for(2, kHangTimeout))
        {
            ADD_FAILURE() << "round " << round << ": the close or the destroy never returned";
            closer.detach();
            destroyer.detach();
            return false;
        }
        closer.join();
        destroyer.join();
        EXPECT_EQ(1, state->running.calls.load()) << "round " << round;
        EXPECT_TRUE(state->pending.done.wait_for(1, kHangTimeout)) << "round " << round;
        EXPECT_EQ(1, state->pending.calls.load()) << "round " << round << ": the pending receive was not completed exactly once";
        EXPECT_NE(ASYNC_SOCKET_RECEIVE_OK, state->pending.result.load()) << "round " << round;
        delete state;
        return true;
    }
};

// Tests_SRS_ASYNC_SOCKET_WIN32_01_093
// Tests_SRS_ASYNC_SOCKET_WIN32_77_009
TEST_P(DestroyRace, a_destroy_racing_a_close_frees_the_socket_only_after_that_close_is_done)
{
    // Two threads: the pending receive completes while the other callback is blocked.
    EXECUTION_ENGINE_HANDLE own = make_engine(GetParam(), 2);
    ASSERT_NE(nullptr, own);
    for (int round = 0; round < kRounds; ++round)
    {
        if (!race_once(own, round))
            return;  // the engine is leaked with the round
        if (HasFailure())
            break;
    }
    execution_engine_dec_ref(own);
}

ASOCK_INSTANTIATE_CONTRACT(DestroyRace);

}  // namespace
}  // namespace asock_test
