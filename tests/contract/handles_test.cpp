// The socket handle: what open accepts, and who closes the handle, when, and how often.
// Linux-only tests of the suite (handles that are not stream sockets, descriptor numbers
// reused): handles_linux_test.cpp. The fixture, Handles, is in peer_helpers.h.
#include <vector>

#include "contract/peer_helpers.h"

namespace asock_test {
namespace {

// Tests_SRS_ASYNC_SOCKET_LINUX_02_019
TEST_P(Handles, open_succeeds_on_stream_sockets)
{
    // The counterpart of the failures of handles_linux_test.cpp: TCP and AF_UNIX stream
    // sockets open (local_connection is TCP on Windows).
    for (const bool tcp : {true, false})
    {
        SCOPED_TRACE(tcp ? "tcp" : "unix");
        Connection c = tcp ? tcp_connection() : local_connection();
        ScopedSocket peer(c.peer);
        OpenRecord open;
        OwnedSocket s(async_socket_create(engine, c.ours));
        ASSERT_NE(nullptr, s.get());
        ASSERT_EQ(0, async_socket_open_async(s.get(), OpenRecord::callback, &open));
        ASSERT_TRUE(open.done.wait_for(1));
        EXPECT_EQ(ASYNC_SOCKET_OPEN_OK, open.result.load());
    }
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_020
TEST_P(Handles, close_closes_the_handle)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    OwnedSocket s(open_socket(c.ours));
    EXPECT_TRUE(handle_is_open(c.ours));
    async_socket_close(s.get());
    EXPECT_FALSE(handle_is_open(c.ours));
    // The peer sees the end of the stream.
    char byte;
    EXPECT_EQ(0, read_some(peer.get(), &byte, 1, kTimeout));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_020
TEST_P(Handles, destroy_closes_the_handle_of_a_socket_never_opened)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    ASYNC_SOCKET_HANDLE s = async_socket_create(engine, c.ours);
    ASSERT_NE(nullptr, s);
    EXPECT_TRUE(handle_is_open(c.ours)) << "create closed the handle";
    async_socket_destroy(s);
    EXPECT_FALSE(handle_is_open(c.ours));
    char byte;
    EXPECT_EQ(0, read_some(peer.get(), &byte, 1, kTimeout));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_020
TEST_P(Handles, destroy_of_an_open_socket_closes_the_handle)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    ASYNC_SOCKET_HANDLE s = open_socket(c.ours);
    EXPECT_TRUE(handle_is_open(c.ours));
    async_socket_destroy(s);
    EXPECT_FALSE(handle_is_open(c.ours));
    char byte;
    EXPECT_EQ(0, read_some(peer.get(), &byte, 1, kTimeout));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_020
TEST_P(Handles, handle_given_to_a_failed_create_stays_open_and_usable)
{
    Connection c = local_connection();
    ScopedSocket ours(c.ours);
    ScopedSocket peer(c.peer);
    EXPECT_EQ(nullptr, async_socket_create(nullptr, c.ours));
    ASSERT_TRUE(handle_is_open(c.ours));
    ASSERT_TRUE(write_all(as_native(c.ours), "abc", 3));
    EXPECT_EQ((std::vector<uint8_t>{'a', 'b', 'c'}), read_exactly(peer.get(), 3));
    // The caller still owns it: a socket created from it afterwards works.
    char data[] = "xyz";
    ASYNC_SOCKET_BUFFER buffer{data, 3};
    SendRecord sent;
    OwnedSocket s(open_socket(as_handle(ours.release())));
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), &buffer, 1, SendRecord::callback, &sent));
    ASSERT_TRUE(sent.done.wait_for(1));
    EXPECT_EQ((std::vector<uint8_t>{'x', 'y', 'z'}), read_exactly(peer.get(), 3));
}

ASOCK_INSTANTIATE_CONTRACT(Handles);

}  // namespace
}  // namespace asock_test
