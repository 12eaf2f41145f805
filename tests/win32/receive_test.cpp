// async_socket_receive_async of the Win32 backend, against the fake OS.
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "win32/fake_os_fixture.h"

namespace asock_test::win32 {
namespace {

using Names = std::vector<std::string>;

class AsyncSocketWin32Receive : public FakeOsTest
{
protected:
    // A receive refused for its arguments makes no call at all and never calls back; the
    // socket still receives afterwards.
    void expect_refused_without_a_call(ASYNC_SOCKET_HANDLE socket, ASYNC_SOCKET_BUFFER* buffers, uint32_t count, ON_ASYNC_SOCKET_RECEIVE_COMPLETE callback)
    {
        const size_t mark = fake_.log_size();
        EXPECT_NE(0, async_socket_receive_async(socket, buffers, count, callback, context_value(1)));
        EXPECT_EQ(Names{}, fake_.names(mark));
        EXPECT_EQ(0u, recorder_.receives().size());
        Payload good{3};
        EXPECT_EQ(0, receive(good));
        complete_last(NO_ERROR, 2);
        ASSERT_EQ(1u, recorder_.receives().size());
        EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, recorder_.receives()[0].result);
        EXPECT_EQ(2u, recorder_.receives()[0].bytes);
    }

    int receive_failing_with(DWORD error)
    {
        Payload payload{4};
        fake_.fail_next("WSARecv", error);
        return receive(payload);
    }
};

// Tests_SRS_ASYNC_SOCKET_WIN32_01_073
TEST_F(AsyncSocketWin32Receive, receive_on_a_null_socket_fails)
{
    Payload payload{4};
    const size_t mark = fake_.log_size();
    EXPECT_NE(0, async_socket_receive_async(nullptr, payload.buffers.data(), 1, Recorder::on_receive, context_value(1)));
    EXPECT_EQ(Names{}, fake_.names(mark));
    EXPECT_EQ(0u, recorder_.callbacks());
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_074
TEST_F(AsyncSocketWin32Receive, receive_into_null_buffers_fails)
{
    ASSERT_NE(nullptr, open_socket());
    expect_refused_without_a_call(socket_, nullptr, 1, Recorder::on_receive);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_086
TEST_F(AsyncSocketWin32Receive, receive_into_zero_buffers_fails)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4};
    expect_refused_without_a_call(socket_, payload.buffers.data(), 0, Recorder::on_receive);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_091
TEST_F(AsyncSocketWin32Receive, receive_into_a_buffer_with_null_memory_fails)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4, 5};
    payload.buffers[1].buffer = nullptr;
    expect_refused_without_a_call(socket_, payload.buffers.data(), payload.count(), Recorder::on_receive);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_092
TEST_F(AsyncSocketWin32Receive, receive_into_a_buffer_of_length_zero_fails)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4, 5};
    payload.buffers[0].length = 0;
    expect_refused_without_a_call(socket_, payload.buffers.data(), payload.count(), Recorder::on_receive);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_096
TEST_F(AsyncSocketWin32Receive, receive_into_more_than_uint32_max_bytes_in_total_fails)
{
    ASSERT_NE(nullptr, open_socket());
    char byte = 0;
    ASYNC_SOCKET_BUFFER buffers[3] = {{&byte, 0x7FFFFFFFu}, {&byte, 0x7FFFFFFFu}, {&byte, 2u}};
    expect_refused_without_a_call(socket_, buffers, 3, Recorder::on_receive);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_096
TEST_F(AsyncSocketWin32Receive, receive_into_exactly_uint32_max_bytes_in_total_is_accepted)
{
    ASSERT_NE(nullptr, open_socket());
    char byte = 0;
    ASYNC_SOCKET_BUFFER buffers[3] = {{&byte, 0x7FFFFFFFu}, {&byte, 0x7FFFFFFFu}, {&byte, 1u}};
    EXPECT_EQ(0, async_socket_receive_async(socket_, buffers, 3, Recorder::on_receive, context_value(1)));
    complete_last(NO_ERROR, UINT32_MAX);
    ASSERT_EQ(1u, recorder_.receives().size());
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, recorder_.receives()[0].result);
    EXPECT_EQ(UINT32_MAX, recorder_.receives()[0].bytes);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_075
TEST_F(AsyncSocketWin32Receive, receive_without_a_callback_fails)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4};
    expect_refused_without_a_call(socket_, payload.buffers.data(), 1, nullptr);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_076
TEST_F(AsyncSocketWin32Receive, receive_accepts_a_null_context)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4};
    ASSERT_EQ(0, receive(payload, nullptr));
    complete_last(NO_ERROR, 3);
    ASSERT_EQ(1u, recorder_.receives().size());
    EXPECT_EQ(nullptr, recorder_.receives()[0].context);
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, recorder_.receives()[0].result);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_098
TEST_F(AsyncSocketWin32Receive, receive_on_a_socket_never_opened_fails)
{
    ASSERT_NE(nullptr, create_socket());
    Payload payload{4};
    const size_t mark = fake_.log_size();
    EXPECT_NE(0, receive(payload));
    EXPECT_EQ(Names{}, fake_.names(mark));
    EXPECT_EQ(0u, recorder_.callbacks());
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_098
TEST_F(AsyncSocketWin32Receive, receive_on_a_closed_socket_fails)
{
    ASSERT_NE(nullptr, open_socket());
    async_socket_close(socket_);
    Payload payload{4};
    const size_t mark = fake_.log_size();
    EXPECT_NE(0, receive(payload));
    EXPECT_EQ(Names{}, fake_.names(mark));
    EXPECT_EQ(0u, recorder_.receives().size());
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_077
TEST_F(AsyncSocketWin32Receive, the_receive_context_keeps_the_callback_and_its_context)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4, 6};
    ASSERT_EQ(0, receive(payload, context_value(42)));
    const Operation op = fake_.last_operation();
    EXPECT_NE(0u, fake_.block_size(op.buffer_array));
    EXPECT_NE(0u, fake_.block_size(op.overlapped));
    EXPECT_NE(static_cast<void*>(op.buffer_array), static_cast<void*>(payload.buffers.data()));
    fake_.complete(op, NO_ERROR, 7);
    ASSERT_EQ(1u, recorder_.receives().size());
    EXPECT_EQ(context_value(42), recorder_.receives()[0].context);
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, recorder_.receives()[0].result);
    EXPECT_EQ(7u, recorder_.receives()[0].bytes);
    EXPECT_EQ(0u, recorder_.sends().size());
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_078
TEST_F(AsyncSocketWin32Receive, the_receive_context_holds_an_array_of_buffer_count_wsabufs)
{
    ASSERT_NE(nullptr, open_socket());
    Payload one{4};
    Payload four{4, 5, 6, 7};
    ASSERT_EQ(0, receive(one));
    const size_t size_one = fake_.calls("malloc").back().arg<size_t>(0);
    ASSERT_EQ(0, receive(four));
    const size_t size_four = fake_.calls("malloc").back().arg<size_t>(0);
    EXPECT_EQ(3 * sizeof(WSABUF), size_four - size_one);
    const Operation op = fake_.last_operation();
    const char* block = nullptr;
    const size_t size = fake_.block_size(op.buffer_array, &block);
    ASSERT_EQ(size_four, size);
    EXPECT_LE(reinterpret_cast<const char*>(op.buffer_array + 4), block + size);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_079
TEST_F(AsyncSocketWin32Receive, the_wsabufs_point_to_the_payload)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{3, 7, 11};
    ASSERT_EQ(0, receive(payload));
    const Operation op = fake_.last_operation();
    ASSERT_EQ(3u, op.buffer_count);
    for (size_t i = 0; i < 3; ++i)
    {
        EXPECT_EQ(payload.buffers[i].buffer, static_cast<void*>(op.buffers[i].buf)) << i;
        EXPECT_EQ(payload.buffers[i].length, op.buffers[i].len) << i;
    }
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_080
TEST_F(AsyncSocketWin32Receive, the_overlapped_of_wsarecv_carries_an_event_created_for_the_receive)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4};
    const size_t mark = fake_.log_size();
    ASSERT_EQ(0, receive(payload));
    ASSERT_EQ(1u, fake_.count("CreateEventW", mark));
    const HANDLE event = fake_.events_created().back();
    const Operation op = fake_.last_operation();
    EXPECT_EQ(event, op.event);
    EXPECT_TRUE(fake_.event_open(event));
    EXPECT_LT(fake_.position("CreateEventW"), fake_.position("WSARecv"));
    EXPECT_EQ(fake_.block_size(op.overlapped), fake_.block_size(op.buffer_array));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_081
TEST_F(AsyncSocketWin32Receive, receive_starts_the_threadpool_io_before_wsarecv)
{
    ASSERT_NE(nullptr, open_socket());
    const PTP_IO io = fake_.last_io().io;
    Payload payload{4};
    const size_t mark = fake_.log_size();
    ASSERT_EQ(0, receive(payload));
    EXPECT_EQ((Names{"malloc", "CreateEventW", "StartThreadpoolIo", "WSARecv", "WSAGetLastError"}), fake_.names(mark));
    auto starts = fake_.calls("StartThreadpoolIo");
    ASSERT_EQ(1u, starts.size());
    EXPECT_EQ(io, starts[0].arg<PTP_IO>(0));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_082
TEST_F(AsyncSocketWin32Receive, wsarecv_gets_the_wsabufs_the_overlapped_and_no_flags_count_or_routine)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{5, 9};
    ASSERT_EQ(0, receive(payload));
    const Operation op = fake_.last_operation();
    EXPECT_EQ(Operation::Kind::receive, op.kind);
    EXPECT_EQ(handle_, op.socket);
    EXPECT_EQ(2u, op.buffer_count);
    EXPECT_NE(0u, fake_.block_size(op.buffer_array));
    EXPECT_EQ(nullptr, op.bytes);
    ASSERT_NE(nullptr, op.receive_flags);
    EXPECT_EQ(0u, op.receive_flags_value);
    EXPECT_EQ(nullptr, op.routine);
    ASSERT_NE(nullptr, op.overlapped);
    EXPECT_EQ(fake_.events_created().back(), op.event);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_054
TEST_F(AsyncSocketWin32Receive, a_failed_wsarecv_is_followed_by_wsagetlasterror)
{
    ASSERT_NE(nullptr, open_socket());
    const size_t mark = fake_.log_size();
    EXPECT_NE(0, receive_failing_with(WSAENOBUFS));
    const auto names = fake_.names(mark);
    auto wsarecv = std::find(names.begin(), names.end(), "WSARecv");
    ASSERT_NE(names.end(), wsarecv);
    ASSERT_NE(names.end(), wsarecv + 1);
    EXPECT_EQ("WSAGetLastError", *(wsarecv + 1));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_055
TEST_F(AsyncSocketWin32Receive, io_pending_is_not_an_error)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4};
    ASSERT_EQ(0, receive(payload));
    EXPECT_EQ(static_cast<uintptr_t>(WSA_IO_PENDING), fake_.calls("WSAGetLastError").back().result);
    EXPECT_EQ(0u, fake_.count("CancelThreadpoolIo"));
    EXPECT_EQ(0u, recorder_.receives().size());
    EXPECT_EQ(1u, fake_.books().pending_operations);
    complete_last(NO_ERROR, 4);
    ASSERT_EQ(1u, recorder_.receives().size());
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, recorder_.receives()[0].result);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_099
// Tests_SRS_ASYNC_SOCKET_WIN32_01_105
TEST_F(AsyncSocketWin32Receive, any_other_wsarecv_error_cancels_the_threadpool_io_and_fails)
{
    ASSERT_NE(nullptr, open_socket());
    const PTP_IO io = fake_.last_io().io;
    const Books before = fake_.books();
    for (DWORD error : {DWORD{WSAENOBUFS}, DWORD{WSAEFAULT}, DWORD{WSAECONNRESET}, DWORD{WSAENOTSOCK}, DWORD{WSAESHUTDOWN}})
    {
        SCOPED_TRACE(error);
        const size_t mark = fake_.log_size();
        EXPECT_NE(0, receive_failing_with(error));
        ASSERT_EQ(1u, fake_.count("CancelThreadpoolIo", mark));
        EXPECT_EQ(io, fake_.calls("CancelThreadpoolIo").back().arg<PTP_IO>(0));
        EXPECT_LT(fake_.position("WSAGetLastError", fake_.count("WSAGetLastError")), fake_.position("CancelThreadpoolIo", fake_.count("CancelThreadpoolIo")));
        const Books after = fake_.books();
        EXPECT_EQ(before.blocks, after.blocks);
        EXPECT_EQ(before.events, after.events);
        EXPECT_EQ(0u, after.started_ios);
        EXPECT_EQ(0u, recorder_.receives().size());
    }
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_099
// Tests_SRS_ASYNC_SOCKET_WIN32_01_105
// Tests_SRS_ASYNC_SOCKET_WIN32_77_011
TEST_F(AsyncSocketWin32Receive, a_wsarecv_failing_without_an_error_code_is_refused_and_never_called_back)
{
    ASSERT_NE(nullptr, open_socket());
    const PTP_IO io = fake_.last_io().io;
    const Books before = fake_.books();
    Payload payload{4};
    fake_.returns_next("WSARecv", SOCKET_ERROR, 0);
    const size_t mark = fake_.log_size();
    EXPECT_EQ(EIO, receive(payload));
    ASSERT_EQ(1u, fake_.count("CancelThreadpoolIo", mark));
    EXPECT_EQ(io, fake_.calls("CancelThreadpoolIo").back().arg<PTP_IO>(0));
    const Books after = fake_.books();
    EXPECT_EQ(before.blocks, after.blocks);  // the context is freed
    EXPECT_EQ(before.events, after.events);
    EXPECT_EQ(0u, after.started_ios);
    EXPECT_EQ(0u, after.pending_operations);
    EXPECT_EQ(0u, recorder_.receives().size());
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_105
// Tests_SRS_ASYNC_SOCKET_WIN32_77_011
TEST_F(AsyncSocketWin32Receive, a_wsarecv_returning_neither_zero_nor_socket_error_is_refused_and_never_called_back)
{
    ASSERT_NE(nullptr, open_socket());
    const Books before = fake_.books();
    Payload payload{4};
    fake_.returns_next("WSARecv", 7, 0);
    const size_t mark = fake_.log_size();
    EXPECT_EQ(EIO, receive(payload));
    EXPECT_EQ(1u, fake_.count("CancelThreadpoolIo", mark));
    EXPECT_EQ(0u, fake_.count("WSAGetLastError", mark));  // only SOCKET_ERROR has a last error (01_054)
    const Books after = fake_.books();
    EXPECT_EQ(before.blocks, after.blocks);
    EXPECT_EQ(before.events, after.events);
    EXPECT_EQ(0u, after.started_ios);
    EXPECT_EQ(0u, recorder_.receives().size());
    // The socket still receives.
    ASSERT_EQ(0, receive(payload));
    complete_last(NO_ERROR, 2);
    ASSERT_EQ(1u, recorder_.receives().size());
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, recorder_.receives()[0].result);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_083
TEST_F(AsyncSocketWin32Receive, receive_returns_zero_on_success)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4};
    EXPECT_EQ(0, receive(payload));
    fake_.set_io_completes_at_once(true);
    EXPECT_EQ(0, receive(payload));
    EXPECT_EQ(0u, fake_.count("CancelThreadpoolIo"));
    EXPECT_EQ(2u, fake_.books().pending_operations);
    // Both complete through the threadpool.
    const auto ops = fake_.operations();
    fake_.complete(ops.at(0), NO_ERROR, 1);
    fake_.complete(ops.at(1), NO_ERROR, 2);
    EXPECT_EQ(2u, recorder_.receives().size());
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_084
TEST_F(AsyncSocketWin32Receive, receive_fails_when_the_context_cannot_be_allocated)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4};
    fake_.fail_next("malloc");
    const size_t mark = fake_.log_size();
    EXPECT_NE(0, receive(payload));
    EXPECT_EQ(0u, fake_.count("WSARecv", mark));
    EXPECT_EQ(0u, fake_.count("StartThreadpoolIo", mark));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_084
TEST_F(AsyncSocketWin32Receive, receive_fails_when_the_event_cannot_be_created)
{
    ASSERT_NE(nullptr, open_socket());
    const Books before = fake_.books();
    Payload payload{4};
    fake_.fail_next("CreateEventW");
    const size_t mark = fake_.log_size();
    EXPECT_NE(0, receive(payload));
    EXPECT_EQ(0u, fake_.count("WSARecv", mark));
    EXPECT_EQ(0u, fake_.count("StartThreadpoolIo", mark));
    EXPECT_EQ(before.blocks, fake_.books().blocks);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_084
TEST_F(AsyncSocketWin32Receive, receive_whose_context_would_exceed_uint32_max_bytes_fails)
{
    ASSERT_NE(nullptr, open_socket());
    // As for a send (01_103): the count alone decides, the array is not read past its end.
    GuardedBuffers buffers(1);
    const auto count = static_cast<uint32_t>(UINT32_MAX / sizeof(WSABUF));
    expect_refused_without_a_call(socket_, buffers.data(), count, Recorder::on_receive);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_084
// Tests_SRS_ASYNC_SOCKET_WIN32_01_105
TEST_F(AsyncSocketWin32Receive, failing_each_call_of_receive_fails_it_cleanly)
{
    ASSERT_NE(nullptr, open_socket());
    size_t mark = fake_.log_size();
    Payload payload{4, 8};
    ASSERT_EQ(0, receive(payload));
    const auto calls = failable_calls(fake_.names(mark));
    complete_last(NO_ERROR, 12);
    ASSERT_EQ(3u, calls.size());
    EXPECT_EQ("malloc", calls[0].name);
    EXPECT_EQ("CreateEventW", calls[1].name);
    EXPECT_EQ("WSARecv", calls[2].name);

    for (const auto& call : calls)
    {
        SCOPED_TRACE(call.name + " #" + std::to_string(call.occurrence));
        const Books before = fake_.books();
        const size_t receives = recorder_.receives().size();
        fake_.fail_nth(call.name, call.occurrence);
        EXPECT_NE(0, receive(payload));
        fake_.clear_failures();
        const Books after = fake_.books();
        EXPECT_EQ(before.blocks, after.blocks);
        EXPECT_EQ(before.events, after.events);
        EXPECT_EQ(0u, after.started_ios);
        EXPECT_EQ(0u, after.pending_operations);
        EXPECT_EQ(receives, recorder_.receives().size());
        // The socket still receives.
        ASSERT_EQ(0, receive(payload, context_value(77)));
        complete_last(NO_ERROR, 5);
        ASSERT_EQ(receives + 1, recorder_.receives().size());
        EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, recorder_.receives().back().result);
        EXPECT_EQ(5u, recorder_.receives().back().bytes);
        EXPECT_EQ(context_value(77), recorder_.receives().back().context);
    }
}

}  // namespace
}  // namespace asock_test::win32
