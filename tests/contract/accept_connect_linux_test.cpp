// Listeners and connects on Linux only (the portable part is accept_connect_test.cpp): the
// sockets' options and EALREADY, every callback of one loop on its thread, privileged ports and
// running out of descriptors (RLIMIT_NOFILE).
#include <sys/resource.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

#include "contract/accept_connect_helpers.h"
#include "contract/seed_helpers.h"

namespace asock_test {
namespace {

using namespace seed;
using Clock = std::chrono::steady_clock;

class AcceptConnectLinux : public AcceptConnectBase
{
};

// --- Accept and connect ------------------------------------------------------------------------

TEST_P(AcceptConnectLinux, accepted_and_connected_sockets_are_open_and_have_tcp_nodelay)
{
    OwnedSocket accepted;
    OwnedSocket connected;
    connect_pair("127.0.0.1", accepted, connected);
    ASSERT_NE(nullptr, accepted.get());
    OpenRecord open;
    EXPECT_EQ(EALREADY, async_socket_open_async(accepted.get(), OpenRecord::callback, &open));
    EXPECT_EQ(EALREADY, async_socket_open_async(connected.get(), OpenRecord::callback, &open));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(0, open.calls.load());
    // TCP_NODELAY, on every connected IPv4 TCP descriptor of the process (the two ends).
    int checked = 0;
    for (int fd = 0; fd < 1024; ++fd)
    {
        int type = 0;
        socklen_t length = sizeof(type);
        if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0 || type != SOCK_STREAM)
            continue;
        sockaddr_storage local{};
        length = sizeof(local);
        if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0 || local.ss_family != AF_INET)
            continue;
        int listening = 0;
        length = sizeof(listening);
        ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length);
        if (listening != 0)
            continue;
        int nodelay = 0;
        length = sizeof(nodelay);
        ASSERT_EQ(0, ::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &length));
        EXPECT_NE(0, nodelay) << "descriptor " << fd;
        ++checked;
    }
    EXPECT_GE(checked, 2);
}

// An accept callback that checks it runs after the call returned: the test keeps the gate shut
// across the call and sets returned before it opens the gate.
struct OrderedAccept
{
    Gate gate;
    std::atomic<bool> returned{false};
    std::atomic<bool> saw_returned{false};
    AcceptRecord record;

    static void callback(void* context, ASYNC_SOCKET_ACCEPT_RESULT result, ASYNC_SOCKET_HANDLE socket, int error)
    {
        auto* self = static_cast<OrderedAccept*>(context);
        self->gate.wait();
        self->saw_returned = self->returned.load();
        AcceptRecord::callback(&self->record, result, socket, error);
    }
};

TEST_P(AcceptConnectLinux, accept_calls_back_on_an_engine_thread_after_returning_even_with_a_connection_waiting)
{
    OrderedAccept accept;
    OwnedListener listener(listen_on("127.0.0.1"));
    ConnectRecord connect;
    ASSERT_EQ(0, async_socket_connect_async(engine, "127.0.0.1", async_socket_listener_get_port(listener.get()), 5000, ConnectRecord::callback, &connect));
    ASSERT_TRUE(connect.done.wait_for(1));  // the connection waits in the backlog
    OwnedSocket connected(connect.socket.load());

    const int result = async_socket_listener_accept_async(listener.get(), OrderedAccept::callback, &accept);
    accept.returned = true;
    accept.gate.open();
    ASSERT_EQ(0, result);
    ASSERT_TRUE(accept.record.done.wait_for(1));
    OwnedSocket accepted(accept.record.socket.load());
    EXPECT_TRUE(accept.saw_returned.load());
    EXPECT_EQ(ASYNC_SOCKET_ACCEPT_OK, accept.record.result.load());
    EXPECT_NE(std::this_thread::get_id(), accept.record.thread.load());
    EXPECT_EQ(connect.thread.load(), accept.record.thread.load()) << "one loop: every callback runs on its thread";
}

// --- Creation failures ---------------------------------------------------------------------------

TEST_P(AcceptConnectLinux, a_privileged_port_is_access_denied_to_an_unprivileged_process)
{
    // Whether this process may bind a privileged port (root, CAP_NET_BIND_SERVICE or a lowered
    // net.ipv4.ip_unprivileged_port_start): a plain socket tells.
    const int probe = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(1);
    const bool allowed = ::bind(probe, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    ::close(probe);
    if (allowed)
        GTEST_SKIP() << "this process may bind privileged ports";
    ASYNC_SOCKET_LISTENER_HANDLE listener = nullptr;
    int error = 0;
    EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_ACCESS_DENIED, async_socket_listener_create(engine, "127.0.0.1", 1, 0, &listener, &error));
    EXPECT_EQ(EACCES, error);
    EXPECT_EQ(nullptr, listener);
}

TEST_P(AcceptConnectLinux, an_accept_fails_with_error_while_descriptors_run_out_and_works_again_after)
{
    OwnedListener listener(listen_on("127.0.0.1"));
    const int peer = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ScopedSocket peer_guard(peer);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(async_socket_listener_get_port(listener.get()));
    ASSERT_EQ(0, ::connect(peer, reinterpret_cast<sockaddr*>(&address), sizeof(address)));

    // The lowest free descriptor number as the limit: every number below it is taken.
    rlimit saved{};
    ASSERT_EQ(0, ::getrlimit(RLIMIT_NOFILE, &saved));
    const int lowest_free = ::dup(0);
    ASSERT_GE(lowest_free, 0);
    ::close(lowest_free);
    rlimit limited = saved;
    limited.rlim_cur = static_cast<rlim_t>(lowest_free);
    ASSERT_EQ(0, ::setrlimit(RLIMIT_NOFILE, &limited));
    AcceptRecord failed;
    const int started = async_socket_listener_accept_async(listener.get(), AcceptRecord::callback, &failed);
    const bool completed = started == 0 && failed.done.wait_for(1);
    ::setrlimit(RLIMIT_NOFILE, &saved);
    ASSERT_EQ(0, started);
    ASSERT_TRUE(completed);
    EXPECT_EQ(ASYNC_SOCKET_ACCEPT_ERROR, failed.result.load());
    EXPECT_EQ(EMFILE, failed.error.load());
    EXPECT_EQ(nullptr, failed.socket.load());

    AcceptRecord retried;
    ASSERT_EQ(0, async_socket_listener_accept_async(listener.get(), AcceptRecord::callback, &retried));
    ASSERT_TRUE(retried.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_ACCEPT_OK, retried.result.load()) << "the connection waited in the backlog";
    OwnedSocket accepted(retried.socket.load());
    ASSERT_TRUE(write_all(peer, "x", 1));
    EXPECT_EQ(1u, receive_exactly(accepted.get(), 1).size());
}

ASOCK_INSTANTIATE_CONTRACT(AcceptConnectLinux);

}  // namespace
}  // namespace asock_test
