// The guarantees about blocking and system effects that only Linux has: no operation raises
// SIGPIPE (02_009). The portable tests are in guarantees_blocking_test.cpp.
#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <thread>
#include <vector>

#include "contract/guarantee_helpers.h"

namespace asock_test {
namespace {

using namespace std::chrono_literals;

// Counts the SIGPIPEs the process receives while it lives, and restores the previous
// disposition afterwards.
class SigpipeCounter
{
public:
    SigpipeCounter()
    {
        count().store(0);
        struct sigaction action{};
        action.sa_handler = &SigpipeCounter::handler;
        sigemptyset(&action.sa_mask);
        installed_ = ::sigaction(SIGPIPE, &action, &previous_) == 0;
    }
    ~SigpipeCounter()
    {
        if (installed_)
            ::sigaction(SIGPIPE, &previous_, nullptr);
    }
    SigpipeCounter(const SigpipeCounter&) = delete;
    SigpipeCounter& operator=(const SigpipeCounter&) = delete;

    bool installed() const { return installed_; }
    int value() const { return count().load(); }

private:
    static std::atomic<int>& count()
    {
        static std::atomic<int> n{0};
        return n;
    }
    static void handler(int) { count().fetch_add(1); }

    struct sigaction previous_{};
    bool installed_ = false;
};

// --- SIGPIPE (02_009) ---------------------------------------------------------------------

class Sigpipe : public Contract
{
protected:
    // Sends on s until a send fails (the peer is gone), then checks that no SIGPIPE came.
    void send_until_failure(ASYNC_SOCKET_HANDLE s, const SigpipeCounter& counter)
    {
        std::vector<uint8_t> chunk(64 * 1024, 0x11);
        bool failed = false;
        for (int i = 0; i < 1000 && !failed; ++i)
        {
            ASYNC_SOCKET_BUFFER b{chunk.data(), static_cast<uint32_t>(chunk.size())};
            SendRecord sent;
            ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s, &b, 1, SendRecord::callback, &sent));
            ASSERT_TRUE(sent.done.wait_for(1));
            failed = sent.result.load() != ASYNC_SOCKET_SEND_OK;
            if (!failed)
                std::this_thread::sleep_for(1ms);
        }
        EXPECT_TRUE(failed) << "test setup: the sends never noticed that the peer is gone";
        // A signal raised on another thread would be handled by now.
        std::this_thread::sleep_for(50ms);
        EXPECT_EQ(0, counter.value()) << "SIGPIPE was raised";
    }
};

// Tests_SRS_ASYNC_SOCKET_LINUX_02_009
TEST_P(Sigpipe, sending_to_a_closed_unix_peer_raises_no_sigpipe)
{
    SigpipeCounter counter;
    ASSERT_TRUE(counter.installed());
    Connection c = local_connection();
    ASYNC_SOCKET_HANDLE s = create_and_open(engine, c.ours);
    // Without MSG_NOSIGNAL, a write to an AF_UNIX stream whose peer closed raises SIGPIPE.
    close_socket(c.peer);
    send_until_failure(s, counter);
    async_socket_destroy(s);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_009
TEST_P(Sigpipe, sending_after_a_tcp_reset_raises_no_sigpipe)
{
    SigpipeCounter counter;
    ASSERT_TRUE(counter.installed());
    Connection c = tcp_connection();
    ASYNC_SOCKET_HANDLE s = create_and_open(engine, c.ours);
    // The receive collects the reset (ECONNRESET); after it, a write fails with EPIPE, which
    // raises SIGPIPE unless MSG_NOSIGNAL is given.
    std::array<uint8_t, 64> in{};
    ASYNC_SOCKET_BUFFER rb{in.data(), static_cast<uint32_t>(in.size())};
    ReceiveRecord received;
    ASSERT_EQ(0, async_socket_receive_async(s, &rb, 1, ReceiveRecord::callback, &received));
    reset_on_close(c.peer);
    close_socket(c.peer);
    ASSERT_TRUE(received.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, received.result.load());
    send_until_failure(s, counter);
    async_socket_destroy(s);
}

ASOCK_INSTANTIATE_CONTRACT(Sigpipe);

}  // namespace
}  // namespace asock_test
