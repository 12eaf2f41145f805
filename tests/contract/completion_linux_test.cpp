// How sends and receives complete: what only Linux has (a send from unreadable memory is
// accepted and completes with ERROR; the first send on an AF_UNIX pair whose peer is gone
// completes with a non-OK result). The portable tests are in completion_test.cpp, which
// instantiates the suite.
#include "contract/seed_helpers.h"

namespace asock_test {
namespace {

using namespace seed;

// Tests_SRS_ASYNC_SOCKET_LINUX_01_065
// Tests_SRS_ASYNC_SOCKET_LINUX_01_067
TEST_P(Completion, a_failed_send_completes_with_its_context_and_a_non_ok_result)
{
    // Unreadable memory (ASYNC_SOCKET_SEND_ERROR) and a peer that is gone
    // (ASYNC_SOCKET_SEND_ABANDONED).
    Page page(PageAccess::none);
    ASSERT_NE(nullptr, page.data());
    {
        Connection c = local_connection();
        ScopedSocket peer(c.peer);
        ASYNC_SOCKET_BUFFER buffer{page.data(), 64};
        SendRecord sent;
        OwnedSocket s(create_and_open(engine, c.ours));
        ASSERT_NE(nullptr, s.get());
        ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), &buffer, 1, SendRecord::callback, &sent));
        ASSERT_TRUE(sent.done.wait_for(1));
        EXPECT_NE(ASYNC_SOCKET_SEND_OK, sent.result.load());
        EXPECT_EQ(1, sent.calls.load());
    }
    {
        Connection c = local_connection();
        char data[] = "abc";
        ASYNC_SOCKET_BUFFER buffer{data, 3};
        SendRecord sent;
        OwnedSocket s(create_and_open(engine, c.ours));
        ASSERT_NE(nullptr, s.get());
        ::close(c.peer);
        ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), &buffer, 1, SendRecord::callback, &sent));
        ASSERT_TRUE(sent.done.wait_for(1));
        EXPECT_NE(ASYNC_SOCKET_SEND_OK, sent.result.load());
        EXPECT_EQ(1, sent.calls.load());
    }
}

}  // namespace
}  // namespace asock_test
