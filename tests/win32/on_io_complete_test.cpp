// on_io_complete of the Win32 backend, driven directly: the callback and context captured
// from CreateThreadpoolIo, the OVERLAPPED captured from WSASend/WSARecv.
#include <string>
#include <vector>

#include "win32/fake_os_fixture.h"

namespace asock_test::win32 {
namespace {

using Names = std::vector<std::string>;

// What local closesocket gives a pending receive under Wine (see WINE-NOTES.md).
constexpr ULONG kWineClosedError = 676;

class AsyncSocketWin32OnIoComplete : public FakeOsTest
{
protected:
    void SetUp() override
    {
        FakeOsTest::SetUp();
        ASSERT_NE(nullptr, open_socket());
    }

    // Sends 30 bytes in two buffers, completes the send with (io_result, bytes); returns what
    // the callback received.
    SendEvent complete_send(ULONG io_result, ULONG_PTR bytes)
    {
        Payload payload{10, 20};
        if (send(payload, context_value(5)) != ASYNC_SOCKET_SEND_SYNC_OK)
        {
            ADD_FAILURE() << "send failed";
            return {};
        }
        complete_last(io_result, bytes);
        const auto sends = recorder_.sends();
        if (sends.size() != 1 || !recorder_.receives().empty())
        {
            ADD_FAILURE() << "expected exactly one send callback, got " << sends.size() << " and " << recorder_.receives().size() << " receive callbacks";
            return {};
        }
        EXPECT_EQ(context_value(5), sends[0].context);
        return sends[0];
    }

    // Receives into 30 bytes in two buffers, completes with (io_result, bytes).
    ReceiveEvent complete_receive(ULONG io_result, ULONG_PTR bytes)
    {
        Payload payload{10, 20};
        if (receive(payload, context_value(6)) != 0)
        {
            ADD_FAILURE() << "receive failed";
            return {};
        }
        complete_last(io_result, bytes);
        const auto receives = recorder_.receives();
        if (receives.size() != 1 || !recorder_.sends().empty())
        {
            ADD_FAILURE() << "expected exactly one receive callback, got " << receives.size() << " and " << recorder_.sends().size() << " send callbacks";
            return {};
        }
        EXPECT_EQ(context_value(6), receives[0].context);
        return receives[0];
    }
};

// Tests_SRS_ASYNC_SOCKET_WIN32_01_063
TEST_F(AsyncSocketWin32OnIoComplete, a_null_overlapped_is_ignored)
{
    Payload payload{4};
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(payload));
    const Books before = fake_.books();
    const size_t mark = fake_.log_size();
    const auto io = fake_.last_io();
    ASSERT_NE(nullptr, io.callback);
    for (ULONG io_result : {ULONG{NO_ERROR}, ULONG{ERROR_OPERATION_ABORTED}})
        fake_.deliver_raw(io, nullptr, io_result, 4);
    EXPECT_EQ(Names{}, fake_.names(mark));
    EXPECT_EQ(0u, recorder_.sends().size());
    const Books after = fake_.books();
    EXPECT_EQ(before.blocks, after.blocks);
    EXPECT_EQ(before.events, after.events);
    // The real operation is still pending and completes normally.
    complete_last(NO_ERROR, 4);
    ASSERT_EQ(1u, recorder_.sends().size());
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, recorder_.sends()[0].result);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_064
TEST_F(AsyncSocketWin32OnIoComplete, the_overlapped_identifies_the_operation)
{
    Payload small{3};
    Payload large{50, 50};
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(small, context_value(1)));
    const Operation first = fake_.last_operation();
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(large, context_value(2)));
    const Operation second = fake_.last_operation();
    ASSERT_EQ(0, receive(small, context_value(3)));
    const Operation third = fake_.last_operation();
    // Out of order: each completion finds its own context (its callback, context, total).
    fake_.complete(second, NO_ERROR, 100);
    fake_.complete(third, NO_ERROR, 2);
    fake_.complete(first, NO_ERROR, 3);
    const auto sends = recorder_.sends();
    ASSERT_EQ(2u, sends.size());
    EXPECT_EQ(context_value(2), sends[0].context);
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, sends[0].result);
    EXPECT_EQ(context_value(1), sends[1].context);
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, sends[1].result);
    const auto receives = recorder_.receives();
    ASSERT_EQ(1u, receives.size());
    EXPECT_EQ(context_value(3), receives[0].context);
    EXPECT_EQ(2u, receives[0].bytes);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_065
TEST_F(AsyncSocketWin32OnIoComplete, a_completed_send_calls_the_send_callback)
{
    Payload payload{4};
    ASSERT_EQ(0, receive(payload, context_value(9)));
    const SendEvent event = complete_send(NO_ERROR, 30);
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, event.result);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_066
TEST_F(AsyncSocketWin32OnIoComplete, send_with_no_error_and_all_bytes_is_ok)
{
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, complete_send(NO_ERROR, 30).result);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_102
TEST_F(AsyncSocketWin32OnIoComplete, send_with_no_error_but_fewer_bytes_is_an_error)
{
    EXPECT_EQ(ASYNC_SOCKET_SEND_ERROR, complete_send(NO_ERROR, 29).result);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_102
TEST_F(AsyncSocketWin32OnIoComplete, send_with_no_error_but_more_bytes_is_an_error)
{
    EXPECT_EQ(ASYNC_SOCKET_SEND_ERROR, complete_send(NO_ERROR, 31).result);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_102
TEST_F(AsyncSocketWin32OnIoComplete, send_with_no_error_but_no_bytes_is_an_error)
{
    EXPECT_EQ(ASYNC_SOCKET_SEND_ERROR, complete_send(NO_ERROR, 0).result);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_067
TEST_F(AsyncSocketWin32OnIoComplete, send_with_an_error_is_an_error)
{
    EXPECT_EQ(ASYNC_SOCKET_SEND_ERROR, complete_send(ERROR_NETNAME_DELETED, 30).result);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_067
TEST_F(AsyncSocketWin32OnIoComplete, send_aborted_by_a_local_close_is_an_error)
{
    EXPECT_EQ(ASYNC_SOCKET_SEND_ERROR, complete_send(ERROR_OPERATION_ABORTED, 0).result);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_067
TEST_F(AsyncSocketWin32OnIoComplete, send_with_each_kind_of_error_is_an_error)
{
    for (ULONG io_result : {ULONG{ERROR_CONNECTION_ABORTED}, ULONG{ERROR_GEN_FAILURE}, kWineClosedError, ULONG{WSAECONNRESET}})
    {
        SCOPED_TRACE(io_result);
        Payload payload{7};
        ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(payload));
        complete_last(io_result, 7);  // even with every byte counted
        EXPECT_EQ(ASYNC_SOCKET_SEND_ERROR, recorder_.sends().back().result);
    }
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_071
TEST_F(AsyncSocketWin32OnIoComplete, a_completed_receive_calls_the_receive_callback)
{
    Payload payload{4};
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(payload, context_value(9)));
    const ReceiveEvent event = complete_receive(NO_ERROR, 12);
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, event.result);
    EXPECT_EQ(12u, event.bytes);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_069
TEST_F(AsyncSocketWin32OnIoComplete, receive_with_no_error_is_ok_with_the_byte_count)
{
    const ReceiveEvent event = complete_receive(NO_ERROR, 17);
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, event.result);
    EXPECT_EQ(17u, event.bytes);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_069
TEST_F(AsyncSocketWin32OnIoComplete, receive_filling_every_buffer_is_ok)
{
    const ReceiveEvent event = complete_receive(NO_ERROR, 30);
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, event.result);
    EXPECT_EQ(30u, event.bytes);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_42_001
TEST_F(AsyncSocketWin32OnIoComplete, receive_ended_by_netname_deleted_is_abandoned)
{
    const ReceiveEvent event = complete_receive(ERROR_NETNAME_DELETED, 5);
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, event.result);
    EXPECT_EQ(0u, event.bytes);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_42_001
TEST_F(AsyncSocketWin32OnIoComplete, receive_ended_by_connection_aborted_is_abandoned)
{
    const ReceiveEvent event = complete_receive(ERROR_CONNECTION_ABORTED, 5);
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, event.result);
    EXPECT_EQ(0u, event.bytes);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_070
TEST_F(AsyncSocketWin32OnIoComplete, receive_with_another_error_is_an_error_with_no_bytes)
{
    const ReceiveEvent event = complete_receive(ERROR_GEN_FAILURE, 5);
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ERROR, event.result);
    EXPECT_EQ(0u, event.bytes);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_070
TEST_F(AsyncSocketWin32OnIoComplete, receive_aborted_by_a_local_close_is_an_error)
{
    const ReceiveEvent event = complete_receive(ERROR_OPERATION_ABORTED, 0);
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ERROR, event.result);
    EXPECT_EQ(0u, event.bytes);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_070
TEST_F(AsyncSocketWin32OnIoComplete, receive_ended_by_wine_local_close_is_an_error)
{
    const ReceiveEvent event = complete_receive(kWineClosedError, 3);
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ERROR, event.result);
    EXPECT_EQ(0u, event.bytes);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_095
TEST_F(AsyncSocketWin32OnIoComplete, receive_of_more_bytes_than_the_buffers_hold_is_an_error_with_the_count)
{
    const ReceiveEvent event = complete_receive(NO_ERROR, 31);
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ERROR, event.result);
    EXPECT_EQ(31u, event.bytes);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_42_003
TEST_F(AsyncSocketWin32OnIoComplete, receive_of_zero_bytes_is_abandoned)
{
    const ReceiveEvent event = complete_receive(NO_ERROR, 0);
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, event.result);
    EXPECT_EQ(0u, event.bytes);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_068
TEST_F(AsyncSocketWin32OnIoComplete, the_completion_closes_the_event_of_the_operation)
{
    for (bool is_send : {true, false})
    {
        SCOPED_TRACE(is_send ? "send" : "receive");
        Payload payload{4};
        ASSERT_TRUE(is_send ? send(payload) == ASYNC_SOCKET_SEND_SYNC_OK : receive(payload) == 0);
        const Operation op = fake_.last_operation();
        ASSERT_TRUE(fake_.event_open(op.event));
        const size_t mark = fake_.log_size();
        fake_.complete(op, is_send ? ERROR_GEN_FAILURE : NO_ERROR, 4);
        auto closes = fake_.calls("CloseHandle");
        ASSERT_EQ(1u, fake_.count("CloseHandle", mark));
        EXPECT_EQ(op.event, closes.back().arg<HANDLE>(0));
        EXPECT_FALSE(fake_.event_open(op.event));
    }
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_072
TEST_F(AsyncSocketWin32OnIoComplete, the_completion_frees_the_context)
{
    for (bool is_send : {true, false})
    {
        SCOPED_TRACE(is_send ? "send" : "receive");
        Payload payload{4};
        ASSERT_TRUE(is_send ? send(payload) == ASYNC_SOCKET_SEND_SYNC_OK : receive(payload) == 0);
        const Operation op = fake_.last_operation();
        const char* block = nullptr;
        ASSERT_NE(0u, fake_.block_size(op.overlapped, &block));
        const size_t mark = fake_.log_size();
        fake_.complete(op, NO_ERROR, 4);
        auto frees = fake_.calls("free");
        ASSERT_EQ(1u, fake_.count("free", mark));
        EXPECT_EQ(block, frees.back().arg<const char*>(0));
        EXPECT_FALSE(fake_.block_live(block));
    }
}

// Tests_SRS_ASYNC_SOCKET_WIN32_77_004
TEST_F(AsyncSocketWin32OnIoComplete, the_event_and_context_are_released_before_the_user_callback)
{
    const Books before = fake_.books();
    Payload payload{4};
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(payload));
    ASSERT_EQ(0, receive(payload));
    const auto ops = fake_.operations();
    ASSERT_EQ(2u, ops.size());
    fake_.complete(ops[0], NO_ERROR, 4);
    fake_.complete(ops[1], NO_ERROR, 4);
    // What the callbacks saw: the books of before the operation, except the other operation.
    ASSERT_EQ(1u, recorder_.sends().size());
    ASSERT_EQ(1u, recorder_.receives().size());
    const Books in_send = recorder_.sends()[0].books;
    EXPECT_EQ(before.blocks + 1, in_send.blocks);  // the receive's context only
    EXPECT_EQ(before.events + 1, in_send.events);
    const Books in_receive = recorder_.receives()[0].books;
    EXPECT_EQ(before.blocks, in_receive.blocks);
    EXPECT_EQ(before.events, in_receive.events);
    // And nothing happens after the callbacks.
    EXPECT_EQ(fake_.log_size(), recorder_.receives()[0].log_size);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_77_004
TEST_F(AsyncSocketWin32OnIoComplete, the_callback_may_destroy_the_socket)
{
    // Freed memory is made inaccessible by the fake: touching the socket (or the context)
    // after the callback would crash here.
    for (bool is_send : {true, false})
    {
        SCOPED_TRACE(is_send ? "send" : "receive");
        if (socket_ == nullptr)
        {
            ASSERT_NE(nullptr, open_socket());
        }
        Payload payload{4};
        ASSERT_TRUE(is_send ? send(payload) == ASYNC_SOCKET_SEND_SYNC_OK : receive(payload) == 0);
        const Operation op = fake_.last_operation();
        ASYNC_SOCKET_HANDLE socket = socket_;
        socket_ = nullptr;
        size_t log_after_destroy = 0;
        auto destroy = [&](void*) {
            async_socket_destroy(socket);
            log_after_destroy = fake_.log_size();
        };
        recorder_.on_send_action = destroy;
        recorder_.on_receive_action = destroy;
        fake_.complete(op, NO_ERROR, 4);
        recorder_.on_send_action = nullptr;
        recorder_.on_receive_action = nullptr;
        EXPECT_FALSE(fake_.block_live(socket));
        EXPECT_EQ(log_after_destroy, fake_.log_size());
    }
}

}  // namespace
}  // namespace asock_test::win32
