// Many connects with different timeouts at once: each ends exactly once, with TIMEOUT, no
// earlier than its own timeout, whatever order the timeouts were given in (the loop keeps
// them in one heap of deadlines).
#include <algorithm>
#include <random>
#include <vector>

#include "contract/accept_connect_helpers.h"

namespace asock_test {
namespace {

using Clock = std::chrono::steady_clock;

struct TimedConnect
{
    ConnectRecord record;
    uint32_t timeout_ms = 0;
    std::atomic<int64_t> ended_after_ms{-1};
    Clock::time_point started{};

    static void callback(void* context, ASYNC_SOCKET_CONNECT_RESULT result, ASYNC_SOCKET_HANDLE socket, int error)
    {
        auto* self = static_cast<TimedConnect*>(context);
        self->ended_after_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - self->started).count();
        ConnectRecord::callback(&self->record, result, socket, error);
    }
};

class ConnectDeadlines : public AcceptConnectBase
{
};

TEST_P(ConnectDeadlines, connects_with_shuffled_timeouts_to_a_full_backlog_each_time_out_once_and_not_before_their_timeout)
{
    OwnedListener listener(listen_on("127.0.0.1", 1));
    const uint16_t port = async_socket_listener_get_port(listener.get());
    FullBacklog backlog(port);
    if (!backlog.full())
        GTEST_SKIP() << "the listener's accept queue did not fill on this machine";
    constexpr int kConnects = 24;
    std::vector<uint32_t> timeouts;
    for (int i = 0; i < kConnects; ++i)
        timeouts.push_back(100 + 25 * static_cast<uint32_t>(i));
    std::shuffle(timeouts.begin(), timeouts.end(), std::mt19937(7));
    std::vector<TimedConnect> connects(kConnects);
    for (int i = 0; i < kConnects; ++i)
    {
        connects[i].timeout_ms = timeouts[i];
        connects[i].started = Clock::now();
        ASSERT_EQ(0, async_socket_connect_async(engine, "127.0.0.1", port, timeouts[i], TimedConnect::callback, &connects[i]));
    }
    for (TimedConnect& connect : connects)
        ASSERT_TRUE(connect.record.done.wait_for(1, std::chrono::seconds(10)));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (TimedConnect& connect : connects)
    {
        EXPECT_EQ(1, connect.record.calls.load());
        EXPECT_EQ(ASYNC_SOCKET_CONNECT_TIMEOUT, connect.record.result.load()) << "timeout " << connect.timeout_ms << " ms";
        EXPECT_EQ(ETIMEDOUT, connect.record.error.load());
        // Timers may round to the millisecond; never a whole tick early.
        EXPECT_GE(connect.ended_after_ms.load() + 1, static_cast<int64_t>(connect.timeout_ms)) << "ended before its timeout";
        EXPECT_LT(connect.ended_after_ms.load(), static_cast<int64_t>(connect.timeout_ms) + 3000);
    }
}

ASOCK_INSTANTIATE_CONTRACT(ConnectDeadlines);

}  // namespace
}  // namespace asock_test
