// async_socket_send_async: what only Linux has (SIGPIPE, 02_009). The portable tests are in
// send_test.cpp, which instantiates the suite.
#include <signal.h>

#include "contract/seed_helpers.h"

namespace asock_test {
namespace {

using namespace seed;

// Counts SIGPIPE while it lives.
std::atomic<int> g_sigpipes{0};

void count_sigpipe(int) { g_sigpipes.fetch_add(1); }

class SigpipeCounter
{
public:
    SigpipeCounter()
    {
        g_sigpipes = 0;
        struct sigaction action{};
        action.sa_handler = count_sigpipe;
        sigemptyset(&action.sa_mask);
        ::sigaction(SIGPIPE, &action, &previous_);
    }
    ~SigpipeCounter() { ::sigaction(SIGPIPE, &previous_, nullptr); }
    SigpipeCounter(const SigpipeCounter&) = delete;
    SigpipeCounter& operator=(const SigpipeCounter&) = delete;

private:
    struct sigaction previous_{};
};

// Tests_SRS_ASYNC_SOCKET_LINUX_01_061
TEST_P(Send, send_to_a_vanished_peer_raises_no_sigpipe)
{
    SigpipeCounter sigpipes;
    for (uint32_t buffers : {1u, 2u})  // one buffer and a gathered send
    {
        Connection c = local_connection();
        OwnedSocket s(create_and_open(engine, c.ours));
        ASSERT_NE(nullptr, s.get());
        ::close(c.peer);
        EXPECT_NE(ASYNC_SOCKET_SEND_OK, send_until_failure(s.get(), buffers));
        s.destroy();
    }
    EXPECT_EQ(0, g_sigpipes.load());
}

}  // namespace
}  // namespace asock_test
