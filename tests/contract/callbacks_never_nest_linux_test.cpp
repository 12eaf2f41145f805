// The end of a proxy whose two sides end at once, each callback holding its own connection's
// lock while it destroys the other side (issue 11, defect 2: a nested callback deadlocked on
// its own lock). Linux only: where a socket's callbacks may run on several threads at once
// (Windows), the abandoned completion of one side waits for the lock that the other side's
// callback holds while it waits for that completion; no library can make that pattern work
// there.
#include <mutex>

#include "contract/guarantee_helpers.h"

namespace asock_test {
namespace {

// A per-connection lock, held by every callback of its socket for the whole callback (the way
// many servers guard a connection's state). A callback of the same socket that started while
// another held it on the same thread would be nested; the test reports it instead of
// deadlocking on itself.
struct ConnectionLock
{
    std::mutex mutex;
    std::atomic<std::thread::id> owner{};
    std::atomic<int> nested{0};

    bool lock()
    {
        if (owner.load() == std::this_thread::get_id())
        {
            nested++;
            return false;
        }
        mutex.lock();
        owner = std::this_thread::get_id();
        return true;
    }
    void unlock()
    {
        owner = std::thread::id{};
        mutex.unlock();
    }
};

class CallbacksNeverNestLinux : public Contract
{
};

struct LockedProxy
{
    struct Side
    {
        LockedProxy* owner = nullptr;
        int index = 0;
        ConnectionLock lock;
        std::atomic<int> calls{0};
        std::array<uint8_t, 16> first{};
        std::array<uint8_t, 16> second{};
    };
    ASYNC_SOCKET_HANDLE sockets[2] = {nullptr, nullptr};
    Side sides[2];
    std::atomic<int> arrived{0};
    Counter completions;

    LockedProxy()
    {
        for (int k = 0; k < 2; ++k)
        {
            sides[k].owner = this;
            sides[k].index = k;
        }
    }

    // The first receive of each side ends the proxy: it destroys the other side's socket while
    // holding its own side's lock.
    static void on_first(void* context, ASYNC_SOCKET_RECEIVE_RESULT, uint32_t)
    {
        auto& side = *static_cast<Side*>(context);
        LockedProxy& self = *side.owner;
        const bool locked = side.lock.lock();
        side.calls++;
        self.arrived++;
        (void)wait_until([&] { return self.arrived.load() >= 2; }, std::chrono::milliseconds(2000));
        async_socket_destroy(self.sockets[1 - side.index]);
        if (locked)
            side.lock.unlock();
        self.completions.add();
    }
    static void on_second(void* context, ASYNC_SOCKET_RECEIVE_RESULT, uint32_t)
    {
        auto& side = *static_cast<Side*>(context);
        const bool locked = side.lock.lock();
        side.calls++;
        if (locked)
            side.lock.unlock();
        side.owner->completions.add();
    }
};

// The end of a proxy whose two sides end at once, on two loops, each callback holding its own
// connection's lock while it destroys the other side: no deadlock, no callback inside another
// of its socket, every operation completed exactly once.
// Tests_SRS_ASYNC_SOCKET_LINUX_02_013, Tests_SRS_ASYNC_SOCKET_LINUX_02_023, Tests_SRS_ASYNC_SOCKET_LINUX_02_024
TEST_P(CallbacksNeverNestLinux, two_sides_of_a_proxy_destroying_each_other_under_their_own_locks_neither_deadlock_nor_nest)
{
    EXECUTION_ENGINE_HANDLE two_loops = make_engine(GetParam(), 2);
    ASSERT_NE(two_loops, nullptr);
    for (int round = 0; round < 20 && !HasFailure(); ++round)
    {
        auto* state = new LockedProxy();  // leaked if a destroy never returns
        Connection c[2] = {tcp_connection(), tcp_connection()};
        for (int k = 0; k < 2; ++k)
        {
            state->sockets[k] = create_and_open(two_loops, c[k].ours);
            LockedProxy::Side& side = state->sides[k];
            ASYNC_SOCKET_BUFFER first{side.first.data(), static_cast<uint32_t>(side.first.size())};
            ASYNC_SOCKET_BUFFER second{side.second.data(), static_cast<uint32_t>(side.second.size())};
            ASSERT_EQ(0, async_socket_receive_async(state->sockets[k], &first, 1, LockedProxy::on_first, &side));
            ASSERT_EQ(0, async_socket_receive_async(state->sockets[k], &second, 1, LockedProxy::on_second, &side));
        }
        ASSERT_TRUE(write_all(c[0].peer, "a", 1));
        ASSERT_TRUE(write_all(c[1].peer, "b", 1));
        if (!state->completions.wait_for(4, kHangTimeout))
        {
            ADD_FAILURE() << "round " << round << ": the proxy's sides destroying each other deadlocked or lost a completion";
            return;  // leaked: a loop may be stuck
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        for (int k = 0; k < 2; ++k)
        {
            EXPECT_EQ(0, state->sides[k].lock.nested.load()) << "round " << round << ": side " << k;
            EXPECT_EQ(2, state->sides[k].calls.load()) << "round " << round << ": side " << k;
            close_socket(c[k].peer);
        }
        delete state;
    }
    execution_engine_dec_ref(two_loops);
}

ASOCK_INSTANTIATE_CONTRACT(CallbacksNeverNestLinux);

}  // namespace
}  // namespace asock_test
