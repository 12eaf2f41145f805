// Receive deadlines and cancels (async_socket_deadline.h) on Windows against the fake
// operating system: which OVERLAPPED is cancelled and when, and what each completion reports.
// Tests_SRS_ASYNC_SOCKET_WIN32_77_015
#include "asock/async_socket_deadline.h"
#include "win32/fake_os_fixture.h"

namespace asock_test::win32 {
namespace {

struct TimedEvent
{
    void* context;
    ASYNC_SOCKET_RECEIVE_TIMED_RESULT result;
    uint32_t bytes;
};

class AsyncSocketDeadlineWin32 : public FakeOsTest
{
protected:
    void SetUp() override
    {
        FakeOsTest::SetUp();
        current_ = this;
        fake_.use_fake_timers();
        ASSERT_NE(nullptr, open_socket());
    }
    void TearDown() override
    {
        current_ = nullptr;
        FakeOsTest::TearDown();
    }
    static void on_timed(void* context, ASYNC_SOCKET_RECEIVE_TIMED_RESULT result, uint32_t bytes) { current_->timed_.push_back({context, result, bytes}); }
    int receive_timed(Payload& payload, uint32_t timeout_ms, uintptr_t n = 3)
    {
        return async_socket_receive_timed_async(socket_, payload.buffers.data(), payload.count(), timeout_ms, on_timed, context_value(n));
    }
    // The CancelIoEx calls made for one OVERLAPPED.
    size_t cancels_of(LPWSAOVERLAPPED overlapped) const
    {
        size_t n = 0;
        for (const auto& call : fake_.calls("CancelIoEx"))
            n += call.arg<LPOVERLAPPED>(1) == overlapped;
        return n;
    }

    static inline AsyncSocketDeadlineWin32* current_ = nullptr;
    std::vector<TimedEvent> timed_;
};

TEST_F(AsyncSocketDeadlineWin32, cancel_receives_cancels_each_pending_receive_by_its_own_overlapped_and_no_send)
{
    Payload a({4});
    Payload b({4});
    Payload out({4});
    ASSERT_EQ(0, receive(a));
    const Operation first = fake_.last_operation();
    ASSERT_EQ(0, receive_timed(b, 0));
    const Operation second = fake_.last_operation();
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(out));
    const Operation sent = fake_.last_operation();
    ASSERT_EQ(0, async_socket_cancel_receives(socket_));
    EXPECT_EQ(1u, cancels_of(first.overlapped));
    EXPECT_EQ(1u, cancels_of(second.overlapped));
    EXPECT_EQ(0u, cancels_of(sent.overlapped));
    EXPECT_EQ(0u, fake_.count("closesocket"));
    EXPECT_EQ(1u, recorder_.callbacks());  // the open only: nothing inside the call
    fake_.complete(first, ERROR_OPERATION_ABORTED, 0);
    fake_.complete(second, ERROR_OPERATION_ABORTED, 0);
    fake_.complete(sent, NO_ERROR, 4);
    ASSERT_EQ(1u, recorder_.receives().size());
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, recorder_.receives()[0].result);  // its enum has no CANCELLED
    ASSERT_EQ(1u, timed_.size());
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_CANCELLED, timed_[0].result);
}

TEST_F(AsyncSocketDeadlineWin32, a_cancelled_receive_that_got_bytes_first_completes_ok_with_them)
{
    Payload in({8});
    ASSERT_EQ(0, receive_timed(in, 0));
    ASSERT_EQ(0, async_socket_cancel_receives(socket_));
    complete_last(NO_ERROR, 5);
    ASSERT_EQ(1u, timed_.size());
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_OK, timed_[0].result);
    EXPECT_EQ(5u, timed_[0].bytes);
}

TEST_F(AsyncSocketDeadlineWin32, a_cancel_that_comes_while_wsarecv_runs_is_made_once_it_returned)
{
    Payload in({8});
    fake_.on_call("WSARecv", [&] { EXPECT_EQ(0, async_socket_cancel_receives(socket_)); });
    ASSERT_EQ(0, receive_timed(in, 0));
    fake_.on_call("WSARecv", nullptr);
    const Operation op = fake_.last_operation();
    ASSERT_EQ(1u, cancels_of(op.overlapped));
    EXPECT_GT(fake_.position("CancelIoEx"), fake_.position("WSARecv"));
    complete_last(ERROR_OPERATION_ABORTED, 0);
    ASSERT_EQ(1u, timed_.size());
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_CANCELLED, timed_[0].result);
}

TEST_F(AsyncSocketDeadlineWin32, a_receive_whose_deadline_passed_is_cancelled_and_completes_timeout_the_socket_stays_open)
{
    Payload in({8});
    ASSERT_EQ(0, receive_timed(in, 100));
    const Operation op = fake_.last_operation();
    const auto timer = fake_.last_timer();
    ASSERT_TRUE(timer.set);
    EXPECT_EQ(-100 * 10000, timer.due);
    fake_.advance_clock(std::chrono::milliseconds(99));
    fake_.fire(timer.timer);  // early: nothing cancelled, set again
    EXPECT_EQ(0u, cancels_of(op.overlapped));
    EXPECT_TRUE(fake_.last_timer().set);
    fake_.advance_clock(std::chrono::milliseconds(1));
    fake_.fire(timer.timer);
    EXPECT_EQ(1u, cancels_of(op.overlapped));
    complete_last(ERROR_OPERATION_ABORTED, 0);
    ASSERT_EQ(1u, timed_.size());
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_TIMEOUT, timed_[0].result);
    // Still open: the next receive is made on the same socket.
    Payload again({8});
    ASSERT_EQ(0, receive_timed(again, 0));
    complete_last(NO_ERROR, 3);
    ASSERT_EQ(2u, timed_.size());
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_OK, timed_[1].result);
}

TEST_F(AsyncSocketDeadlineWin32, a_deadline_only_cancels_the_receives_whose_time_came)
{
    Payload a({8});
    Payload b({8});
    ASSERT_EQ(0, receive_timed(a, 50, 1));
    const Operation first = fake_.last_operation();
    ASSERT_EQ(0, receive_timed(b, 200, 2));
    const Operation second = fake_.last_operation();
    fake_.advance_clock(std::chrono::milliseconds(50));
    fake_.fire(fake_.last_timer().timer);
    EXPECT_EQ(1u, cancels_of(first.overlapped));
    EXPECT_EQ(0u, cancels_of(second.overlapped));
    EXPECT_EQ(-150 * 10000, fake_.last_timer().due);  // set for the next deadline
    fake_.complete(first, ERROR_OPERATION_ABORTED, 0);
    fake_.complete(second, NO_ERROR, 2);
    ASSERT_EQ(2u, timed_.size());
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_TIMEOUT, timed_[0].result);
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_OK, timed_[1].result);
}

TEST_F(AsyncSocketDeadlineWin32, close_completes_a_timed_receive_abandoned_and_closes_the_deadline_timer)
{
    Payload in({8});
    ASSERT_EQ(0, receive_timed(in, 1000));
    async_socket_close(socket_);
    ASSERT_EQ(1u, timed_.size());
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_ABANDONED, timed_[0].result);
    EXPECT_EQ(1u, fake_.count("CloseThreadpoolTimer"));
    EXPECT_LT(fake_.position("closesocket"), fake_.position("CloseThreadpoolTimer"));
}

TEST_F(AsyncSocketDeadlineWin32, a_deadline_that_comes_after_the_close_began_cancels_nothing)
{
    Payload in({8});
    ASSERT_EQ(0, receive_timed(in, 10));
    const auto timer = fake_.last_timer();
    fake_.on_call("closesocket", [&] {
        fake_.advance_clock(std::chrono::milliseconds(10));
        fake_.fire(timer.timer);
    });
    async_socket_close(socket_);
    fake_.on_call("closesocket", nullptr);
    EXPECT_EQ(1u, fake_.count("CancelIoEx"));  // the close's own, with NULL
    ASSERT_EQ(1u, timed_.size());
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_TIMED_ABANDONED, timed_[0].result);
}

TEST_F(AsyncSocketDeadlineWin32, cancel_receives_on_a_closed_socket_is_ebadf_and_with_nothing_pending_is_0)
{
    EXPECT_EQ(0, async_socket_cancel_receives(socket_));
    EXPECT_EQ(0u, fake_.count("CancelIoEx"));
    async_socket_close(socket_);
    EXPECT_EQ(EBADF, async_socket_cancel_receives(socket_));
    EXPECT_EQ(EINVAL, async_socket_cancel_receives(nullptr));
}

TEST_F(AsyncSocketDeadlineWin32, a_timed_receive_fails_with_enomem_when_its_deadline_timer_cannot_be_made)
{
    Payload in({8});
    fake_.fail_next("CreateThreadpoolTimer");
    EXPECT_EQ(ENOMEM, receive_timed(in, 100));
    EXPECT_EQ(0u, fake_.count("WSARecv"));
    EXPECT_TRUE(timed_.empty());
}

}  // namespace
}  // namespace asock_test::win32
