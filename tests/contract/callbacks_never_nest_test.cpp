// A callback of a socket (or listener) never runs while another callback of the same handle is
// on the same thread's stack, unless that handle's own callback closed it (its close then
// completes the rest inside the call). Issue 11, defect 2: a loop thread waiting in a close of
// a socket of another loop served its own inbox and delivered, inside the waiting callback,
// the ABANDONED completions of the very socket whose callback was waiting, or the next accept
// of the listener whose callback was waiting.
#include <mutex>
#include <vector>

#include "contract/accept_connect_helpers.h"
#include "contract/guarantee_helpers.h"

namespace asock_test {
namespace {

// Counts callbacks of one handle that start while another callback of it is on this thread's
// stack.
struct NestingProbe
{
    std::atomic<int> nested{0};
    std::atomic<int> calls{0};
};

// Marks a callback of a probe's handle as running on this thread for its lifetime.
class OnStack
{
public:
    explicit OnStack(NestingProbe& probe) : probe_(probe)
    {
        probe_.calls++;
        for (const NestingProbe* running : stack())
            if (running == &probe_)
                probe_.nested++;
        stack().push_back(&probe_);
    }
    ~OnStack() { stack().pop_back(); }
    OnStack(const OnStack&) = delete;
    OnStack& operator=(const OnStack&) = delete;

private:
    static std::vector<const NestingProbe*>& stack()
    {
        thread_local std::vector<const NestingProbe*> running;
        return running;
    }
    NestingProbe& probe_;
};

// Two sockets, each with two receives pending; the first receive's callback of each closes the
// other socket, both at once (a proxy whose two sides end together).
struct CrossingCloses
{
    struct Side
    {
        CrossingCloses* owner = nullptr;
        int index = 0;
        NestingProbe probe;
        std::atomic<int> abandoned{0};
        std::array<uint8_t, 16> first{};
        std::array<uint8_t, 16> second{};
    };

    ASYNC_SOCKET_HANDLE sockets[2] = {nullptr, nullptr};
    Side sides[2];
    std::atomic<int> arrived{0};
    Counter closes_returned;
    Counter completions;

    CrossingCloses()
    {
        for (int k = 0; k < 2; ++k)
        {
            sides[k].owner = this;
            sides[k].index = k;
        }
    }

    static void on_first(void* context, ASYNC_SOCKET_RECEIVE_RESULT, uint32_t)
    {
        auto& side = *static_cast<Side*>(context);
        OnStack running(side.probe);
        CrossingCloses& self = *side.owner;
        self.arrived++;
        (void)wait_until([&] { return self.arrived.load() >= 2; }, std::chrono::milliseconds(2000));
        async_socket_close(self.sockets[1 - side.index]);
        self.closes_returned.add();
        self.completions.add();
    }

    static void on_second(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t)
    {
        auto& side = *static_cast<Side*>(context);
        OnStack running(side.probe);
        if (result != ASYNC_SOCKET_RECEIVE_OK)
            side.abandoned++;
        side.owner->completions.add();
    }
};

class CallbacksNeverNest : public AcceptConnectBase
{
};

// Issue 11, defect 2 (50 of 50 rounds nested on both Linux backends before the fix).
// Tests_SRS_ASYNC_SOCKET_LINUX_02_023, Tests_SRS_ASYNC_SOCKET_LINUX_02_024
TEST_P(CallbacksNeverNest, two_loops_closing_each_others_socket_from_callbacks_run_no_callback_of_a_socket_inside_another_of_it)
{
    EXECUTION_ENGINE_HANDLE two_loops = make_engine(GetParam(), 2);
    ASSERT_NE(two_loops, nullptr);
    for (int round = 0; round < 30 && !HasFailure(); ++round)
    {
        auto* state = new CrossingCloses();  // leaked if a close never returns
        Connection c[2] = {tcp_connection(), tcp_connection()};
        for (int k = 0; k < 2; ++k)
        {
            state->sockets[k] = create_and_open(two_loops, c[k].ours);
            CrossingCloses::Side& side = state->sides[k];
            ASYNC_SOCKET_BUFFER first{side.first.data(), static_cast<uint32_t>(side.first.size())};
            ASYNC_SOCKET_BUFFER second{side.second.data(), static_cast<uint32_t>(side.second.size())};
            ASSERT_EQ(0, async_socket_receive_async(state->sockets[k], &first, 1, CrossingCloses::on_first, &side));
            ASSERT_EQ(0, async_socket_receive_async(state->sockets[k], &second, 1, CrossingCloses::on_second, &side));
        }
        ASSERT_TRUE(write_all(c[0].peer, "a", 1));
        ASSERT_TRUE(write_all(c[1].peer, "b", 1));
        if (!state->closes_returned.wait_for(2, kHangTimeout))
        {
            ADD_FAILURE() << "round " << round << ": two loops closing each other's sockets from callbacks deadlocked";
            return;  // the engine and the state are leaked: a loop is stuck
        }
        // Both closes returned; the abandoned receives complete on their loops.
        EXPECT_TRUE(state->completions.wait_for(4));
        for (int k = 0; k < 2; ++k)
        {
            async_socket_destroy(state->sockets[k]);
            close_socket(c[k].peer);
            EXPECT_EQ(0, state->sides[k].probe.nested.load()) << "round " << round << ": a callback of socket " << k << " ran inside another callback of it";
            EXPECT_EQ(2, state->sides[k].probe.calls.load()) << "round " << round << ": socket " << k;
            EXPECT_EQ(1, state->sides[k].abandoned.load()) << "round " << round << ": socket " << k << "'s second receive did not complete once, non-OK";
        }
        delete state;
    }
    execution_engine_dec_ref(two_loops);
}

// A listener whose accept callback accepts again and then closes a socket of another loop.
struct RearmThenClose
{
    ASYNC_SOCKET_LISTENER_HANDLE listener = nullptr;
    ASYNC_SOCKET_HANDLE other = nullptr;
    NestingProbe probe;
    std::mutex mutex;
    std::vector<ASYNC_SOCKET_HANDLE> accepted;
    std::atomic<int> ok{0};
    Counter calls;

    static void on_accept(void* context, ASYNC_SOCKET_ACCEPT_RESULT result, ASYNC_SOCKET_HANDLE socket, int)
    {
        auto* self = static_cast<RearmThenClose*>(context);
        OnStack running(self->probe);
        if (result == ASYNC_SOCKET_ACCEPT_OK)
        {
            self->ok++;
            std::lock_guard<std::mutex> lock(self->mutex);
            self->accepted.push_back(socket);
        }
        if (result == ASYNC_SOCKET_ACCEPT_OK && self->ok.load() == 1)
        {
            EXPECT_EQ(0, async_socket_listener_accept_async(self->listener, on_accept, self));
            async_socket_close(self->other);
        }
        self->calls.add();
    }
};

// Issue 11, defect 2 (epoll: the next accept callback ran inside the first one's close).
// Tests_SRS_ASYNC_SOCKET_LINUX_02_023
TEST_P(CallbacksNeverNest, an_accept_callback_that_accepts_again_then_closes_a_socket_of_another_loop_runs_no_accept_callback_inside_it)
{
    EXECUTION_ENGINE_HANDLE two_loops = make_engine(GetParam(), 2);
    ASSERT_NE(two_loops, nullptr);
    auto* state = new RearmThenClose();  // leaked if a close never returns
    // Round robin: the listener takes one loop, the socket the other.
    ASYNC_SOCKET_LISTENER_HANDLE listener = nullptr;
    ASSERT_EQ(ASYNC_SOCKET_LISTENER_CREATE_OK, async_socket_listener_create(two_loops, "127.0.0.1", 0, 16, &listener, nullptr));
    state->listener = listener;
    Connection c = tcp_connection();
    state->other = create_and_open(two_loops, c.ours);
    ReceiveRecord pending;
    std::array<uint8_t, 16> pending_buffer{};
    ASYNC_SOCKET_BUFFER b{pending_buffer.data(), static_cast<uint32_t>(pending_buffer.size())};
    ASSERT_EQ(0, async_socket_receive_async(state->other, &b, 1, ReceiveRecord::callback, &pending));
    const uint16_t port = async_socket_listener_get_port(listener);
    // Two connections wait in the backlog before the first accept starts.
    const NativeSocket first = plain_connect(port);
    const NativeSocket second = plain_connect(port);
    ASSERT_NE(kNoSocket, first);
    ASSERT_NE(kNoSocket, second);
    ASSERT_EQ(0, async_socket_listener_accept_async(listener, RearmThenClose::on_accept, state));
    if (!state->calls.wait_for(2, kHangTimeout))
    {
        ADD_FAILURE() << "the accepts did not both complete (or the close deadlocked)";
        return;
    }
    EXPECT_EQ(0, state->probe.nested.load()) << "an accept callback ran inside another accept callback of the listener";
    EXPECT_EQ(2, state->ok.load());
    async_socket_listener_destroy(listener);
    EXPECT_TRUE(pending.done.wait_for(1));
    EXPECT_EQ(1, pending.calls.load());
    EXPECT_EQ(kPlatform.receive_result_after_close, pending.result.load());
    async_socket_destroy(state->other);
    for (ASYNC_SOCKET_HANDLE socket : state->accepted)
        async_socket_destroy(socket);
    close_socket(first);
    close_socket(second);
    close_socket(c.peer);
    delete state;
    execution_engine_dec_ref(two_loops);
}

// Two sockets of one loop: X's receive callback closes Y, and Y's pending receive, completed
// by that close, closes X, whose callback is further up the same stack (a cycle on one thread).
struct SameLoopCycle
{
    ASYNC_SOCKET_HANDLE x = nullptr;
    ASYNC_SOCKET_HANDLE y = nullptr;
    NestingProbe x_probe;
    NestingProbe y_probe;
    std::atomic<bool> x_first_returned{false};
    std::atomic<int> x_abandoned_before_first_returned{0};
    std::atomic<int> x_abandoned{0};
    std::atomic<int> y_abandoned{0};
    Counter completions;
    std::array<uint8_t, 16> buffers[4]{};

    static void on_x_first(void* context, ASYNC_SOCKET_RECEIVE_RESULT, uint32_t)
    {
        auto* self = static_cast<SameLoopCycle*>(context);
        {
            OnStack running(self->x_probe);
            async_socket_close(self->y);
        }
        self->x_first_returned = true;
        self->completions.add();
    }
    static void on_x_second(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t)
    {
        auto* self = static_cast<SameLoopCycle*>(context);
        OnStack running(self->x_probe);
        if (result != ASYNC_SOCKET_RECEIVE_OK)
            self->x_abandoned++;
        if (!self->x_first_returned.load())
            self->x_abandoned_before_first_returned++;
        self->completions.add();
    }
    static void on_y(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t)
    {
        auto* self = static_cast<SameLoopCycle*>(context);
        OnStack running(self->y_probe);
        if (result != ASYNC_SOCKET_RECEIVE_OK)
            self->y_abandoned++;
        async_socket_close(self->x);  // X's first callback is up the stack, waiting for this
        self->completions.add();
    }
};

// Tests_SRS_ASYNC_SOCKET_LINUX_02_023, Tests_SRS_ASYNC_SOCKET_LINUX_02_024
TEST_P(CallbacksNeverNest, a_cycle_of_closes_on_one_loop_completes_the_first_sockets_operations_after_its_callback_returns)
{
    auto* state = new SameLoopCycle();  // leaked if a close never returns
    Connection cx = tcp_connection();
    Connection cy = tcp_connection();
    state->x = open_socket(cx.ours);  // the fixture's engine has one loop: both share it
    state->y = open_socket(cy.ours);
    ASYNC_SOCKET_BUFFER b[4];
    for (int k = 0; k < 4; ++k)
        b[k] = ASYNC_SOCKET_BUFFER{state->buffers[k].data(), static_cast<uint32_t>(state->buffers[k].size())};
    ASSERT_EQ(0, async_socket_receive_async(state->x, &b[0], 1, SameLoopCycle::on_x_first, state));
    ASSERT_EQ(0, async_socket_receive_async(state->x, &b[1], 1, SameLoopCycle::on_x_second, state));
    ASSERT_EQ(0, async_socket_receive_async(state->y, &b[2], 1, SameLoopCycle::on_y, state));
    ASSERT_TRUE(write_all(cx.peer, "x", 1));
    if (!state->completions.wait_for(3, kHangTimeout))
    {
        ADD_FAILURE() << "a cycle of closes on one loop did not finish";
        engine = nullptr;  // leaked: its loop may be stuck
        return;
    }
    EXPECT_EQ(0, state->x_probe.nested.load()) << "a callback of X ran inside X's running callback";
    EXPECT_EQ(0, state->y_probe.nested.load());
    EXPECT_EQ(1, state->x_abandoned.load());
    EXPECT_EQ(1, state->y_abandoned.load());
    if (kPlatform.callbacks_serialized_per_socket)
    {
        EXPECT_EQ(0, state->x_abandoned_before_first_returned.load()) << "X's abandoned receive completed before X's running callback returned";
    }
    async_socket_destroy(state->x);
    async_socket_destroy(state->y);
    close_socket(cx.peer);
    close_socket(cy.peer);
    delete state;
}

ASOCK_INSTANTIATE_CONTRACT(CallbacksNeverNest);

}  // namespace
}  // namespace asock_test
