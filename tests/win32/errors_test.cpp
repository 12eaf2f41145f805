// The error domain of the Win32 backend, against the fake OS: every non-zero code the API
// returns is an errno value, as on Linux (SRS_ASYNC_SOCKET_WIN32_77_010).
#include <cerrno>

#include "win32/fake_os_fixture.h"

namespace asock_test::win32 {
namespace {

class AsyncSocketWin32Errors : public FakeOsTest
{
};

// Tests_SRS_ASYNC_SOCKET_WIN32_01_015
// Tests_SRS_ASYNC_SOCKET_WIN32_77_010
TEST_F(AsyncSocketWin32Errors, open_of_an_open_socket_returns_ealready)
{
    ASSERT_NE(nullptr, open_socket());
    EXPECT_EQ(EALREADY, async_socket_open_async(socket_, Recorder::on_open, context_value(1)));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_015
// Tests_SRS_ASYNC_SOCKET_WIN32_77_010
TEST_F(AsyncSocketWin32Errors, open_of_an_opening_socket_returns_ealready)
{
    ASSERT_NE(nullptr, create_socket());
    int second_open = 0;
    fake_.on_call("CreateThreadpoolIo", [&] { second_open = async_socket_open_async(socket_, Recorder::on_open, context_value(9)); });
    EXPECT_EQ(0, async_socket_open_async(socket_, Recorder::on_open, context_value(1)));
    fake_.on_call("CreateThreadpoolIo", nullptr);
    EXPECT_EQ(EALREADY, second_open);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_42_008
// Tests_SRS_ASYNC_SOCKET_WIN32_77_010
TEST_F(AsyncSocketWin32Errors, open_after_close_returns_ebadf)
{
    ASSERT_NE(nullptr, open_socket());
    async_socket_close(socket_);
    EXPECT_EQ(EBADF, async_socket_open_async(socket_, Recorder::on_open, context_value(1)));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_039
// Tests_SRS_ASYNC_SOCKET_WIN32_77_010
TEST_F(AsyncSocketWin32Errors, open_returns_enomem_when_the_threadpool_io_cannot_be_created)
{
    ASSERT_NE(nullptr, create_socket());
    fake_.fail_next("CreateThreadpoolIo");
    EXPECT_EQ(ENOMEM, async_socket_open_async(socket_, Recorder::on_open, context_value(1)));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_007
// Tests_SRS_ASYNC_SOCKET_WIN32_01_073
// Tests_SRS_ASYNC_SOCKET_WIN32_77_010
TEST_F(AsyncSocketWin32Errors, null_arguments_return_einval)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4};
    EXPECT_EQ(EINVAL, async_socket_open_async(nullptr, Recorder::on_open, nullptr));
    EXPECT_EQ(EINVAL, async_socket_receive_async(nullptr, payload.buffers.data(), 1, Recorder::on_receive, nullptr));
    EXPECT_EQ(EINVAL, async_socket_receive_async(socket_, payload.buffers.data(), 1, nullptr, nullptr));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_098
// Tests_SRS_ASYNC_SOCKET_WIN32_77_010
TEST_F(AsyncSocketWin32Errors, receive_on_a_socket_that_is_not_open_returns_enotconn)
{
    ASSERT_NE(nullptr, create_socket());
    Payload payload{4};
    EXPECT_EQ(ENOTCONN, receive(payload));
    ASSERT_EQ(0, async_socket_open_async(socket_, Recorder::on_open, nullptr));
    async_socket_close(socket_);
    EXPECT_EQ(ENOTCONN, receive(payload));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_084
// Tests_SRS_ASYNC_SOCKET_WIN32_77_010
TEST_F(AsyncSocketWin32Errors, receive_returns_enomem_when_its_context_cannot_be_made)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4};
    for (const char* call : {"malloc", "CreateEventW"})
    {
        SCOPED_TRACE(call);
        fake_.fail_next(call);
        EXPECT_EQ(ENOMEM, receive(payload));
        fake_.clear_failures();
    }
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_099
// Tests_SRS_ASYNC_SOCKET_WIN32_77_010
TEST_F(AsyncSocketWin32Errors, a_receive_refused_by_wsarecv_returns_the_errno_value_of_the_winsock_error)
{
    ASSERT_NE(nullptr, open_socket());
    const struct
    {
        DWORD winsock;
        int errno_value;
    } cases[] = {{WSAENOBUFS, ENOBUFS}, {WSAECONNRESET, ECONNRESET}, {WSAECONNABORTED, ECONNABORTED}, {WSAEFAULT, EFAULT},
                 {WSAENOTSOCK, ENOTSOCK}, {WSAENOTCONN, ENOTCONN},     {WSAESHUTDOWN, EPIPE},           {WSAEDISCON, EIO}};
    for (const auto& c : cases)
    {
        SCOPED_TRACE(c.winsock);
        Payload payload{4};
        fake_.fail_next("WSARecv", c.winsock);
        EXPECT_EQ(c.errno_value, receive(payload));
    }
    EXPECT_EQ(0u, recorder_.receives().size());
}

}  // namespace
}  // namespace asock_test::win32
