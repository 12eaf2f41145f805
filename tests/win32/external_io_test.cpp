// socket_start_external of the Win32 backend (the start of ConnectEx on a socket's threadpool
// I/O, detail/socket_win32.h), against the fake OS, with start functions of the test.
#include <cerrno>

#include "detail/socket_win32.h"
#include "win32/fake_os_fixture.h"

namespace asock_test::win32 {
namespace {

using asock::detail::ExternalIo;

// What the start function of the test does: sets the last error, returns FALSE, and notes
// that it ran.
struct FailingStart
{
    int last_error = 0;
    int calls = 0;

    static bool start(SOCKET, ExternalIo&, void* argument) noexcept
    {
        auto* self = static_cast<FailingStart*>(argument);
        self->calls++;
        FakeOs::set_last_error(self->last_error);
        return false;
    }
};

struct CompletionCount
{
    static inline int calls = 0;
    static void complete(ExternalIo&, ULONG, ULONG_PTR) noexcept { calls++; }
};

class AsyncSocketWin32ExternalIo : public FakeOsTest
{
protected:
    asock::detail::Socket& socket() { return *reinterpret_cast<asock::detail::Socket*>(socket_); }

    // Starts an external operation whose start fails with last_error; returns what
    // socket_start_external returned.
    int start_failing_with(int last_error)
    {
        ExternalIo io;
        io.complete = CompletionCount::complete;
        FailingStart start{last_error, 0};
        const int result = asock::detail::socket_start_external(socket(), io, FailingStart::start, &start);
        EXPECT_EQ(1, start.calls);
        return result;
    }
};

// Tests_SRS_ASYNC_SOCKET_WIN32_77_007
// Tests_SRS_ASYNC_SOCKET_WIN32_77_011
TEST_F(AsyncSocketWin32ExternalIo, a_start_failing_without_an_error_code_is_refused_and_never_completes)
{
    ASSERT_NE(nullptr, open_socket());
    CompletionCount::calls = 0;
    const size_t mark = fake_.log_size();
    EXPECT_EQ(EIO, start_failing_with(0));
    EXPECT_EQ(1u, fake_.count("StartThreadpoolIo", mark));
    EXPECT_EQ(1u, fake_.count("CancelThreadpoolIo", mark));
    EXPECT_EQ(0u, fake_.books().started_ios);
    EXPECT_EQ(0, CompletionCount::calls);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_77_007
// Tests_SRS_ASYNC_SOCKET_WIN32_77_010
TEST_F(AsyncSocketWin32ExternalIo, a_start_failing_with_a_winsock_error_returns_its_errno_value)
{
    ASSERT_NE(nullptr, open_socket());
    CompletionCount::calls = 0;
    const size_t mark = fake_.log_size();
    EXPECT_EQ(ECONNREFUSED, start_failing_with(WSAECONNREFUSED));
    EXPECT_EQ(1u, fake_.count("CancelThreadpoolIo", mark));
    EXPECT_EQ(0u, fake_.books().started_ios);
    EXPECT_EQ(0, CompletionCount::calls);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_77_007
TEST_F(AsyncSocketWin32ExternalIo, a_start_on_a_socket_that_is_not_open_makes_no_call)
{
    ASSERT_NE(nullptr, create_socket());
    const size_t mark = fake_.log_size();
    ExternalIo io;
    io.complete = CompletionCount::complete;
    FailingStart start{0, 0};
    EXPECT_EQ(ENOTCONN, asock::detail::socket_start_external(socket(), io, FailingStart::start, &start));
    EXPECT_EQ(0, start.calls);
    EXPECT_EQ(0u, fake_.count("StartThreadpoolIo", mark));
}

}  // namespace
}  // namespace asock_test::win32
