// The socket handle, Linux only: open refuses handles that are not stream sockets (02_019;
// the seed does not check the handle's type: kPlatform.open_checks_stream_socket), and a
// handle closed once is never closed again even when its descriptor number is reused (the
// test puts a new descriptor on that number, which Windows handles cannot do). The fixture,
// Handles, is in peer_helpers.h; the portable tests of the suite are in handles_test.cpp.
#include <sys/eventfd.h>

#include <cstdlib>
#include <string>

#include "contract/peer_helpers.h"

namespace asock_test {
namespace {

// Puts a new descriptor on the number fd, which must be free: were the library to close
// fd a second time, it would close this one. Returns false when that did not work.
bool occupy(int fd)
{
    if (fd_is_open(fd))
        return false;
    const int sentinel = ::eventfd(0, EFD_CLOEXEC);
    if (sentinel < 0)
        return false;
    if (sentinel == fd)  // the lowest free number, as it often is
        return true;
    const int placed = ::dup3(sentinel, fd, O_CLOEXEC);
    ::close(sentinel);
    return placed == fd;
}

// Open fails on the handle fd: non-zero, no callback, the socket stays not open (its
// operations are refused, a second open fails alike, close leaves the handle alone), and
// destroy closes the handle.
void expect_open_fails_and_destroy_closes(EXECUTION_ENGINE_HANDLE engine, int fd)
{
    OpenRecord open;
    ASYNC_SOCKET_HANDLE s = async_socket_create(engine, fd);
    ASSERT_NE(nullptr, s);
    EXPECT_NE(0, async_socket_open_async(s, OpenRecord::callback, &open));
    EXPECT_TRUE(fd_is_open(fd)) << "a failed open closed the handle";

    char data[4] = {1, 2, 3, 4};
    ASYNC_SOCKET_BUFFER buffer{data, sizeof(data)};
    SendRecord sent;
    ReceiveRecord received;
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ABANDONED, async_socket_send_async(s, &buffer, 1, SendRecord::callback, &sent));
    EXPECT_NE(0, async_socket_receive_async(s, &buffer, 1, ReceiveRecord::callback, &received));
    EXPECT_NE(0, async_socket_open_async(s, OpenRecord::callback, &open));
    async_socket_close(s);
    EXPECT_TRUE(fd_is_open(fd)) << "close of a socket that is not open closed the handle";

    async_socket_destroy(s);
    EXPECT_FALSE(fd_is_open(fd)) << "destroy did not close the handle";
    EXPECT_EQ(0, open.calls.load());
    EXPECT_EQ(0, sent.calls.load());
    EXPECT_EQ(0, received.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_019
// Tests_SRS_ASYNC_SOCKET_LINUX_02_020
TEST_P(Handles, open_fails_on_a_pipe)
{
    int fds[2];
    ASSERT_EQ(0, ::pipe2(fds, O_CLOEXEC));
    ScopedSocket write_end(fds[1]);
    expect_open_fails_and_destroy_closes(engine, fds[0]);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_019
// Tests_SRS_ASYNC_SOCKET_LINUX_02_020
TEST_P(Handles, open_fails_on_a_regular_file)
{
    std::string path = ::testing::TempDir() + "asock_handles_XXXXXX";
    const int fd = ::mkostemp(path.data(), O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ::unlink(path.c_str());
    ASSERT_EQ(3, ::write(fd, "abc", 3));
    expect_open_fails_and_destroy_closes(engine, fd);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_019
// Tests_SRS_ASYNC_SOCKET_LINUX_02_020
TEST_P(Handles, open_fails_on_a_udp_socket)
{
    // Connected, so that it could send and receive: it is still not a stream.
    const int server = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ScopedSocket server_guard(server);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    ASSERT_EQ(0, ::bind(server, reinterpret_cast<sockaddr*>(&address), sizeof(address)));
    ASSERT_EQ(0, ::getsockname(server, reinterpret_cast<sockaddr*>(&address), &length));
    const int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(udp, 0);
    ASSERT_EQ(0, ::connect(udp, reinterpret_cast<sockaddr*>(&address), sizeof(address)));
    expect_open_fails_and_destroy_closes(engine, udp);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_019
// Tests_SRS_ASYNC_SOCKET_LINUX_02_020
TEST_P(Handles, open_fails_on_a_unix_seqpacket_socket)
{
    int fds[2];
    ASSERT_EQ(0, ::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds));
    ScopedSocket other(fds[1]);
    expect_open_fails_and_destroy_closes(engine, fds[0]);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_020
TEST_P(Handles, destroy_after_close_does_not_close_the_handle_again)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    ASYNC_SOCKET_HANDLE s = open_socket(c.ours);
    async_socket_close(s);
    if (!occupy(c.ours))
    {
        async_socket_destroy(s);
        FAIL() << "could not put a new descriptor on the closed handle's number";
    }
    ScopedSocket reused(c.ours);
    async_socket_close(s);
    EXPECT_TRUE(fd_is_open(c.ours)) << "a second close closed the handle again";
    async_socket_destroy(s);
    EXPECT_TRUE(fd_is_open(c.ours)) << "destroy closed the handle again";
}

}  // namespace
}  // namespace asock_test
