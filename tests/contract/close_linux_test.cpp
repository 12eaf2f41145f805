// async_socket_close: what only Linux has (an open whose callback a close delivers later on the
// loop thread: the seed calls on_open_complete inside async_socket_open_async). The portable
// tests are in close_test.cpp, which instantiates the suite.
#include "contract/seed_helpers.h"

namespace asock_test {
namespace {

using namespace seed;

// Opens a socket and closes it at once from a receive callback of another socket (on the
// loop thread): that close delivers the open callback, which blocks.
struct OpenThenClose
{
    ASYNC_SOCKET_HANDLE other = nullptr;
    Gate gate;
    std::atomic<bool> open_entered{false};
    std::atomic<bool> open_returned{false};
    std::atomic<bool> done{false};
    std::atomic<int> open_result{-1};

    static void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT, uint32_t)
    {
        auto* self = static_cast<OpenThenClose*>(context);
        self->open_result = async_socket_open_async(self->other, on_open, self);
        async_socket_close(self->other);
        self->done = true;
    }

    static void on_open(void* context, ASYNC_SOCKET_OPEN_RESULT)
    {
        auto* self = static_cast<OpenThenClose*>(context);
        self->open_entered = true;
        self->gate.wait();
        self->open_returned = true;
    }
};

// Tests_SRS_ASYNC_SOCKET_LINUX_01_022
TEST_P(Close, close_waits_for_a_close_under_way_that_delivers_the_open_callback)
{
    Connection a = local_connection();
    Connection b = local_connection();
    ScopedSocket peer_a(a.peer);
    ScopedSocket peer_b(b.peer);
    std::vector<uint8_t> in(8);
    ASYNC_SOCKET_BUFFER buffer{in.data(), static_cast<uint32_t>(in.size())};
    OpenThenClose probe;
    std::atomic<bool> saw_open_return{false};
    OwnedSocket other(async_socket_create(engine, b.ours));
    ASSERT_NE(nullptr, other.get());
    probe.other = other.get();
    OwnedSocket s(create_and_open(engine, a.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_EQ(0, async_socket_receive_async(s.get(), &buffer, 1, OpenThenClose::on_receive, &probe));
    ASSERT_TRUE(write_all(peer_a.get(), "a", 1));
    ASSERT_TRUE(wait_until([&] { return probe.open_entered.load(); }));
    EXPECT_EQ(0, probe.open_result.load());

    ASYNC_SOCKET_HANDLE handle = other.get();
    auto closer = std::make_unique<Background>([&, handle] {
        async_socket_close(handle);
        saw_open_return = probe.open_returned.load();
    });
    std::this_thread::sleep_for(kQuiet);
    EXPECT_FALSE(closer->finished());
    probe.gate.open();
    const bool returned = closer->wait_for(std::chrono::seconds(5));
    EXPECT_TRUE(returned) << "close never returned after the close under way had finished";
    ASSERT_TRUE(wait_until([&] { return probe.done.load(); }));
    if (returned)
    {
        closer->join();
        EXPECT_TRUE(saw_open_return.load());
    }
    else
    {
        // The stuck thread cannot be joined: leave it behind, still reachable.
        static auto* stuck = new std::vector<Background*>;
        stuck->push_back(closer.release());
    }
    sync_with_loop(engine);
}

}  // namespace
}  // namespace asock_test
