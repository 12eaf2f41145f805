// The opt-in low-latency mode (execution_engine_linux_set_busy_poll): loops poll for a while
// before they sleep. It must change nothing of the contract, and a loop must still go to
// sleep when there is nothing to do.
#include <dirent.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "contract/contract_fixture.h"

namespace asock_test {
namespace {

class BusyPoll : public Contract
{
};

// Nanoseconds on a CPU of every asock loop thread of this process (first field of schedstat).
uint64_t loop_threads_cpu_ns()
{
    uint64_t total = 0;
    DIR* tasks = opendir("/proc/self/task");
    if (tasks == nullptr)
        return 0;
    while (dirent* entry = readdir(tasks))
    {
        const std::string dir = std::string("/proc/self/task/") + entry->d_name;
        std::string name;
        std::ifstream(dir + "/comm") >> name;
        if (name.rfind("asock-loop-", 0) != 0)
            continue;
        uint64_t ns = 0;
        std::ifstream(dir + "/schedstat") >> ns;
        total += ns;
    }
    closedir(tasks);
    return total;
}

TEST_P(BusyPoll, set_busy_poll_rejects_a_null_engine_and_spins_over_one_second)
{
    EXPECT_NE(0, execution_engine_linux_set_busy_poll(nullptr, 10));
    EXPECT_NE(0, execution_engine_linux_set_busy_poll(engine, 1000001));
    EXPECT_EQ(0, execution_engine_linux_set_busy_poll(engine, 1000));
    EXPECT_EQ(0, execution_engine_linux_set_busy_poll(engine, 0));
}

TEST_P(BusyPoll, round_trips_complete_exactly_once_while_the_loop_spins)
{
    ASSERT_EQ(0, execution_engine_linux_set_busy_poll(engine, 500));
    Connection c = tcp_connection();
    ASYNC_SOCKET_HANDLE s = open_socket(c.ours);
    std::vector<uint8_t> in(64);
    for (uint32_t i = 0; i < 200; ++i)
    {
        auto message = pattern(64, i);
        ASYNC_SOCKET_BUFFER out{message.data(), 64};
        SendRecord sent;
        ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s, &out, 1, SendRecord::callback, &sent));
        ASSERT_EQ(message, read_exactly(c.peer, 64));
        ASSERT_TRUE(sent.done.wait_for(1));
        EXPECT_EQ(ASYNC_SOCKET_SEND_OK, sent.result.load());

        ASYNC_SOCKET_BUFFER buffer{in.data(), 64};
        ReceiveRecord received;
        ASSERT_EQ(0, async_socket_receive_async(s, &buffer, 1, ReceiveRecord::callback, &received));
        ASSERT_TRUE(write_all(c.peer, message.data(), 64));
        ASSERT_TRUE(received.done.wait_for(1));
        ASSERT_EQ(ASYNC_SOCKET_RECEIVE_OK, received.result.load());
        ASSERT_EQ(64u, received.bytes.load());
        ASSERT_EQ(message, in);
        EXPECT_EQ(1, sent.calls.load());
        EXPECT_EQ(1, received.calls.load());
    }
    async_socket_destroy(s);
    close_socket(c.peer);
}

// The spin ends after its time: an idle loop then sleeps in the kernel. With a spin of 1 ms
// re-armed by nothing, 400 ms of idleness must cost far less than 400 ms of CPU (a loop that
// never slept would burn all of it).
TEST_P(BusyPoll, an_idle_loop_stops_spinning_and_sleeps)
{
    ASSERT_EQ(0, execution_engine_linux_set_busy_poll(engine, 1000));
    Connection c = tcp_connection();
    ASYNC_SOCKET_HANDLE s = open_socket(c.ours);
    std::vector<uint8_t> in(16);
    ASYNC_SOCKET_BUFFER buffer{in.data(), 16};
    ReceiveRecord pending;
    ASSERT_EQ(0, async_socket_receive_async(s, &buffer, 1, ReceiveRecord::callback, &pending));

    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const uint64_t before = loop_threads_cpu_ns();
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    const uint64_t spent = loop_threads_cpu_ns() - before;
    EXPECT_LT(spent, 100'000'000u) << "the loop threads kept running while idle";

    ASSERT_TRUE(write_all(c.peer, "x", 1));
    ASSERT_TRUE(pending.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, pending.result.load());
    async_socket_destroy(s);
    close_socket(c.peer);
}

ASOCK_INSTANTIATE_CONTRACT(BusyPoll);

}  // namespace
}  // namespace asock_test
