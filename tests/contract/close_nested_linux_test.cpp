// A close made by a callback that the socket's own close is running (the close completes a
// pending operation, and that operation's callback closes the socket again): once that inner
// close returns, no other callback of the socket may start (found by tests/fuzz).
#include "contract/contract_fixture.h"

namespace asock_test {
namespace {

class NestedClose : public Contract
{
protected:
    // A receive whose callback records whether the socket's close had already returned
    // (in a callback that closed it) when the callback started.
    struct Receive
    {
        NestedClose* test = nullptr;
        bool closes = false;
        std::atomic<bool> started_after_close{false};
        std::atomic<int> calls{0};
        char byte = 0;
        ASYNC_SOCKET_BUFFER buffer{&byte, 1};
    };

    static void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT, uint32_t)
    {
        auto& receive = *static_cast<Receive*>(context);
        receive.started_after_close = receive.test->close_returned.load();
        receive.calls++;
        if (receive.closes)
        {
            async_socket_close(receive.test->socket);
            receive.test->close_returned = true;
        }
        receive.test->completed.add();
    }

    // Three pending receives; the first one's callback closes the socket.
    void start_receives()
    {
        // Set before the first receive starts: its callback may run at once on the loop thread.
        receives[0].closes = true;
        for (Receive& receive : receives)
        {
            receive.test = this;
            ASSERT_EQ(0, async_socket_receive_async(socket, &receive.buffer, 1, on_receive, &receive));
        }
    }

    void expect_no_callback_after_the_inner_close()
    {
        EXPECT_TRUE(completed.wait_for(3));
        for (const Receive& receive : receives)
        {
            EXPECT_EQ(1, receive.calls.load());
            EXPECT_FALSE(receive.started_after_close.load()) << "a callback started after the close in a callback returned";
        }
    }

    ASYNC_SOCKET_HANDLE socket = nullptr;
    std::atomic<bool> close_returned{false};
    Counter completed;
    Receive receives[3];
};

// Tests_SRS_ASYNC_SOCKET_LINUX_02_011, Tests_SRS_ASYNC_SOCKET_LINUX_02_012
TEST_P(NestedClose, close_in_a_callback_of_a_close_from_another_thread_completes_the_rest_before_it_returns)
{
    Connection c = local_connection();
    socket = open_socket(c.ours);
    start_receives();
    async_socket_close(socket);  // completes the three receives; the first one closes again
    expect_no_callback_after_the_inner_close();
    async_socket_destroy(socket);
    ::close(c.peer);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_011, Tests_SRS_ASYNC_SOCKET_LINUX_02_012
TEST_P(NestedClose, close_in_a_callback_of_a_close_from_a_callback_completes_the_rest_before_it_returns)
{
    Connection c = local_connection();
    socket = open_socket(c.ours);
    // A receive that gets a byte and closes the socket from its callback; that close completes
    // the three others, the first of which closes once more.
    struct Opener
    {
        ASYNC_SOCKET_HANDLE socket;
        char byte = 0;
        ASYNC_SOCKET_BUFFER buffer{&byte, 1};
    } opener{socket};
    ASSERT_EQ(0, async_socket_receive_async(
                     socket, &opener.buffer, 1, [](void* context, ASYNC_SOCKET_RECEIVE_RESULT, uint32_t) { async_socket_close(static_cast<Opener*>(context)->socket); },
                     &opener));
    start_receives();
    ASSERT_TRUE(write_all(c.peer, "x", 1));
    expect_no_callback_after_the_inner_close();
    async_socket_destroy(socket);
    ::close(c.peer);
}

ASOCK_INSTANTIATE_CONTRACT(NestedClose);

}  // namespace
}  // namespace asock_test
