// Closing listeners from a callback while their accepts are in the kernel. Issue 11, defect 1:
// on io_uring, with two listeners on one loop and a connection arriving for the second, a
// callback that closed the first and then the second never returned from the second close (the
// loop waited for a completion it had already taken and put aside while closing the first).
#include "contract/accept_connect_helpers.h"
#include "contract/guarantee_helpers.h"

namespace asock_test {
namespace {

// A socket whose receive callback, once told that a connection reached the second listener,
// closes both listeners.
struct ClosesTwoListeners
{
    ASYNC_SOCKET_LISTENER_HANDLE listeners[2] = {nullptr, nullptr};
    Counter callback_started;
    Counter connected;  // the test's client is connected to the second listener
    Counter closes_returned;
    std::array<uint8_t, 16> buffer{};

    static void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT, uint32_t)
    {
        auto* self = static_cast<ClosesTwoListeners*>(context);
        self->callback_started.add();
        (void)self->connected.wait_for(1, kHangTimeout);
        // Long enough for the kernel to take the connection into the pending accept.
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        async_socket_listener_close(self->listeners[0]);
        async_socket_listener_close(self->listeners[1]);
        self->closes_returned.add();
    }
};

class ListenerClose : public AcceptConnectBase
{
};

// Issue 11, defect 1.
TEST_P(ListenerClose, a_callback_closing_two_listeners_of_its_loop_returns_while_a_connection_reaches_the_second)
{
    auto* state = new ClosesTwoListeners();  // leaked if a close never returns
    auto* accepts = new AcceptRecord[2];
    for (int k = 0; k < 2; ++k)
    {
        state->listeners[k] = listen_on("127.0.0.1");
        ASSERT_NE(nullptr, state->listeners[k]);
        ASSERT_EQ(0, async_socket_listener_accept_async(state->listeners[k], AcceptRecord::callback, &accepts[k]));
    }
    Connection c = tcp_connection();
    ASYNC_SOCKET_HANDLE socket = open_socket(c.ours);  // the engine has one loop: all three share it
    ASYNC_SOCKET_BUFFER b{state->buffer.data(), static_cast<uint32_t>(state->buffer.size())};
    ASSERT_EQ(0, async_socket_receive_async(socket, &b, 1, ClosesTwoListeners::on_receive, state));
    ASSERT_TRUE(write_all(c.peer, "x", 1));
    ASSERT_TRUE(state->callback_started.wait_for(1));
    const NativeSocket client = plain_connect(async_socket_listener_get_port(state->listeners[1]));
    ASSERT_NE(kNoSocket, client);
    state->connected.add();
    if (!state->closes_returned.wait_for(1, kHangTimeout))
    {
        ADD_FAILURE() << "closing the second listener from the callback never returned";
        engine = nullptr;  // leaked with the state: its loop is stuck
        return;
    }
    for (int k = 0; k < 2; ++k)
    {
        EXPECT_TRUE(accepts[k].done.wait_for(1));
        EXPECT_EQ(1, accepts[k].calls.load());
        // Linux: the loop is inside the callback, so no accept can complete before the closes.
        // Windows: the second listener's accept completes on another pool thread meanwhile.
        if (kCallbacksRunOnTheSocketsLoopThread || k == 0)
            EXPECT_EQ(ASYNC_SOCKET_ACCEPT_ABANDONED, accepts[k].result.load()) << "listener " << k;
        else
            EXPECT_NE(ASYNC_SOCKET_ACCEPT_ERROR, accepts[k].result.load()) << "listener " << k;
        async_socket_destroy(accepts[k].socket.load());  // the connection, if it was accepted
        async_socket_listener_destroy(state->listeners[k]);
    }
    // The connection is closed, not leaked (on Linux: the one the kernel had accepted for the
    // closed listener).
    EXPECT_TRUE(reaches_end_of_stream(client));
    // The loop still serves its sockets.
    ReceiveRecord received;
    ASYNC_SOCKET_BUFFER again{state->buffer.data(), 1};
    ASSERT_EQ(0, async_socket_receive_async(socket, &again, 1, ReceiveRecord::callback, &received));
    ASSERT_TRUE(write_all(c.peer, "y", 1));
    EXPECT_TRUE(received.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, received.result.load());
    async_socket_destroy(socket);
    close_socket(c.peer);
    close_socket(client);
    delete[] accepts;
    delete state;
}

ASOCK_INSTANTIATE_CONTRACT(ListenerClose);

}  // namespace
}  // namespace asock_test
