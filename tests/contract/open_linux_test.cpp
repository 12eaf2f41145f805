// async_socket_open_async: what only Linux has (the open callback on the socket's loop thread
// after the call returned; the check that the handle is a stream socket, 02_019). The
// portable tests are in open_test.cpp, which instantiates the suite.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "contract/seed_helpers.h"

namespace asock_test {
namespace {

using namespace seed;

// An open callback that checks it runs after open_async returned: the caller keeps `gate`
// shut across the call and sets `returned` before it opens the gate. (A flag, not a
// std::timed_mutex: its try_lock_for locks with pthread_mutex_clocklock, which GCC 12's
// ThreadSanitizer does not intercept, so it reported the unlock that followed.)
struct OrderedOpen
{
    std::atomic<bool> gate{false};
    std::atomic<bool> returned{false};
    std::atomic<bool> gate_opened{false};
    std::atomic<bool> saw_returned{false};
    std::atomic<void*> context{nullptr};
    std::atomic<int> calls{0};
    std::atomic<ASYNC_SOCKET_OPEN_RESULT> result{ASYNC_SOCKET_OPEN_ERROR};
    std::atomic<std::thread::id> thread{};
    Counter done;

    static void callback(void* context, ASYNC_SOCKET_OPEN_RESULT open_result)
    {
        auto* self = static_cast<OrderedOpen*>(context);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (!self->gate.load() && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::microseconds(100));
        self->gate_opened = self->gate.load();
        self->saw_returned = self->returned.load();
        self->context = context;
        self->result = open_result;
        self->thread = std::this_thread::get_id();
        self->calls++;
        self->done.add();
    }
};

// Tests_SRS_ASYNC_SOCKET_LINUX_01_017
TEST_P(Open, open_calls_back_once_with_ok_and_its_context_on_the_loop_thread_after_returning)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    OrderedOpen open;
    std::vector<uint8_t> in(8);
    ASYNC_SOCKET_BUFFER buffer{in.data(), static_cast<uint32_t>(in.size())};
    ReceiveRecord received;
    OwnedSocket s(async_socket_create(engine, c.ours));
    ASSERT_NE(nullptr, s.get());

    const int result = async_socket_open_async(s.get(), OrderedOpen::callback, &open);
    open.returned = true;
    open.gate = true;
    ASSERT_EQ(0, result);
    ASSERT_TRUE(open.done.wait_for(1));
    EXPECT_TRUE(open.gate_opened.load());
    EXPECT_TRUE(open.saw_returned.load());
    EXPECT_EQ(static_cast<void*>(&open), open.context.load());
    EXPECT_EQ(ASYNC_SOCKET_OPEN_OK, open.result.load());
    EXPECT_NE(std::this_thread::get_id(), open.thread.load());

    // The socket's loop thread is where its I/O callbacks run too.
    ASSERT_EQ(0, async_socket_receive_async(s.get(), &buffer, 1, ReceiveRecord::callback, &received));
    ASSERT_TRUE(write_all(peer.get(), "q", 1));
    ASSERT_TRUE(received.done.wait_for(1));
    EXPECT_EQ(open.thread.load(), received.thread.load());
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(1, open.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_039
TEST_P(Open, open_of_a_datagram_socket_fails_without_calling_back_and_leaves_it_openable)
{
    const int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(udp, 0);
    OpenRecord failed, retried;
    char data[] = "x";
    ASYNC_SOCKET_BUFFER buffer{data, 1};
    SendRecord sent;
    OwnedSocket s(async_socket_create(engine, udp));
    ASSERT_NE(nullptr, s.get());
    EXPECT_NE(0, async_socket_open_async(s.get(), OpenRecord::callback, &failed));
    // Not open.
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ABANDONED, async_socket_send_async(s.get(), &buffer, 1, SendRecord::callback, &sent));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(0, failed.calls.load());

    // It may be opened again: put a connected stream socket behind the same descriptor
    // number (the async socket owns that number) and open once more.
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    ASSERT_EQ(udp, ::dup3(c.ours, udp, O_CLOEXEC));
    ::close(c.ours);
    ASSERT_EQ(0, async_socket_open_async(s.get(), OpenRecord::callback, &retried));
    ASSERT_TRUE(retried.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_OPEN_OK, retried.result.load());
    EXPECT_TRUE(round_trip(s.get(), peer.get()));
    EXPECT_EQ(0, failed.calls.load());
    EXPECT_EQ(0, sent.calls.load());
}

}  // namespace
}  // namespace asock_test
