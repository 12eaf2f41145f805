// async_socket_send_async of the Win32 backend, against the fake OS.
#include <cstdint>
#include <string>
#include <vector>

#include "win32/fake_os_fixture.h"

namespace asock_test::win32 {
namespace {

using Names = std::vector<std::string>;

class AsyncSocketWin32Send : public FakeOsTest
{
protected:
    // A send refused for its arguments makes no call at all and never calls back; the socket
    // still sends afterwards.
    void expect_refused_without_a_call(ASYNC_SOCKET_HANDLE socket, const ASYNC_SOCKET_BUFFER* buffers, uint32_t count, ON_ASYNC_SOCKET_SEND_COMPLETE callback)
    {
        const size_t mark = fake_.log_size();
        EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(socket, buffers, count, callback, context_value(1)));
        EXPECT_EQ(Names{}, fake_.names(mark));
        EXPECT_EQ(0u, recorder_.sends().size());
        Payload good{3};
        EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(good));
        complete_last(NO_ERROR, 3);
        ASSERT_EQ(1u, recorder_.sends().size());
        EXPECT_EQ(ASYNC_SOCKET_SEND_OK, recorder_.sends()[0].result);
    }

    // Makes WSASend fail with `error`; returns what the send returned.
    ASYNC_SOCKET_SEND_SYNC_RESULT send_failing_with(DWORD error)
    {
        Payload payload{4};
        fake_.fail_next("WSASend", error);
        return send(payload);
    }
};

// Tests_SRS_ASYNC_SOCKET_WIN32_01_024
TEST_F(AsyncSocketWin32Send, send_on_a_null_socket_fails)
{
    Payload payload{4};
    const size_t mark = fake_.log_size();
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(nullptr, payload.buffers.data(), 1, Recorder::on_send, context_value(1)));
    EXPECT_EQ(Names{}, fake_.names(mark));
    EXPECT_EQ(0u, recorder_.callbacks());
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_025
TEST_F(AsyncSocketWin32Send, send_of_null_buffers_fails)
{
    ASSERT_NE(nullptr, open_socket());
    expect_refused_without_a_call(socket_, nullptr, 1, Recorder::on_send);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_085
TEST_F(AsyncSocketWin32Send, send_of_zero_buffers_fails)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4};
    expect_refused_without_a_call(socket_, payload.buffers.data(), 0, Recorder::on_send);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_089
TEST_F(AsyncSocketWin32Send, send_of_a_buffer_with_null_memory_fails)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4, 5, 6};
    payload.buffers[1].buffer = nullptr;
    expect_refused_without_a_call(socket_, payload.buffers.data(), payload.count(), Recorder::on_send);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_090
TEST_F(AsyncSocketWin32Send, send_of_a_buffer_of_length_zero_fails)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4, 5, 6};
    payload.buffers[2].length = 0;
    expect_refused_without_a_call(socket_, payload.buffers.data(), payload.count(), Recorder::on_send);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_101
TEST_F(AsyncSocketWin32Send, send_of_more_than_uint32_max_bytes_in_total_fails)
{
    ASSERT_NE(nullptr, open_socket());
    // The fake never reads the memory: lengths beyond it are fine here.
    char byte = 0;
    ASYNC_SOCKET_BUFFER buffers[2] = {{&byte, 0x80000000u}, {&byte, 0x80000000u}};
    expect_refused_without_a_call(socket_, buffers, 2, Recorder::on_send);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_101
TEST_F(AsyncSocketWin32Send, send_of_exactly_uint32_max_bytes_in_total_is_accepted)
{
    ASSERT_NE(nullptr, open_socket());
    char byte = 0;
    ASYNC_SOCKET_BUFFER buffers[2] = {{&byte, 0x80000000u}, {&byte, 0x7FFFFFFFu}};
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(socket_, buffers, 2, Recorder::on_send, context_value(1)));
    complete_last(NO_ERROR, UINT32_MAX);
    ASSERT_EQ(1u, recorder_.sends().size());
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, recorder_.sends()[0].result);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_026
TEST_F(AsyncSocketWin32Send, send_without_a_callback_fails)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4};
    expect_refused_without_a_call(socket_, payload.buffers.data(), 1, nullptr);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_027
TEST_F(AsyncSocketWin32Send, send_accepts_a_null_context)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4};
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(payload, nullptr));
    complete_last(NO_ERROR, 4);
    ASSERT_EQ(1u, recorder_.sends().size());
    EXPECT_EQ(nullptr, recorder_.sends()[0].context);
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, recorder_.sends()[0].result);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_097
TEST_F(AsyncSocketWin32Send, send_on_a_socket_never_opened_is_abandoned)
{
    ASSERT_NE(nullptr, create_socket());
    Payload payload{4};
    const size_t mark = fake_.log_size();
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ABANDONED, send(payload));
    EXPECT_EQ(Names{}, fake_.names(mark));
    EXPECT_EQ(0u, recorder_.callbacks());
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_097
TEST_F(AsyncSocketWin32Send, send_on_a_closed_socket_is_abandoned)
{
    ASSERT_NE(nullptr, open_socket());
    async_socket_close(socket_);
    Payload payload{4};
    const size_t mark = fake_.log_size();
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ABANDONED, send(payload));
    EXPECT_EQ(Names{}, fake_.names(mark));
    EXPECT_EQ(0u, recorder_.sends().size());
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_028
TEST_F(AsyncSocketWin32Send, the_send_context_keeps_the_callback_and_its_context)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4, 6};
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(payload, context_value(42)));
    const Operation op = fake_.last_operation();
    // The context is memory of its own, not the caller's payload array.
    EXPECT_NE(0u, fake_.block_size(op.buffer_array));
    EXPECT_NE(0u, fake_.block_size(op.overlapped));
    EXPECT_NE(static_cast<void*>(op.buffer_array), static_cast<void*>(payload.buffers.data()));
    fake_.complete(op, NO_ERROR, 10);
    ASSERT_EQ(1u, recorder_.sends().size());
    EXPECT_EQ(context_value(42), recorder_.sends()[0].context);
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, recorder_.sends()[0].result);
    EXPECT_EQ(0u, recorder_.receives().size());
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_050
TEST_F(AsyncSocketWin32Send, the_send_context_holds_an_array_of_buffer_count_wsabufs)
{
    ASSERT_NE(nullptr, open_socket());
    Payload one{4};
    Payload three{4, 5, 6};
    size_t mark = fake_.log_size();
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(one));
    const size_t size_one = fake_.calls("malloc").back().arg<size_t>(0);
    ASSERT_EQ(1u, fake_.count("malloc", mark));
    mark = fake_.log_size();
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(three));
    ASSERT_EQ(1u, fake_.count("malloc", mark));
    const size_t size_three = fake_.calls("malloc").back().arg<size_t>(0);
    EXPECT_EQ(2 * sizeof(WSABUF), size_three - size_one);
    // The WSABUF array given to WSASend is inside that one allocation.
    const Operation op = fake_.last_operation();
    const char* block = nullptr;
    const size_t size = fake_.block_size(op.buffer_array, &block);
    ASSERT_EQ(size_three, size);
    EXPECT_LE(reinterpret_cast<const char*>(op.buffer_array + 3), block + size);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_103
TEST_F(AsyncSocketWin32Send, send_whose_context_would_exceed_uint32_max_bytes_fails)
{
    ASSERT_NE(nullptr, open_socket());
    // UINT32_MAX / sizeof(WSABUF) WSABUFs plus the context need more than UINT32_MAX bytes.
    // The count alone decides: the array has one valid entry followed by an inaccessible
    // page, so reading it further would crash.
    GuardedBuffers buffers(1);
    const auto count = static_cast<uint32_t>(UINT32_MAX / sizeof(WSABUF));
    expect_refused_without_a_call(socket_, buffers.data(), count, Recorder::on_send);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_056
TEST_F(AsyncSocketWin32Send, the_wsabufs_point_to_the_payload)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{3, 7, 11};
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(payload));
    const Operation op = fake_.last_operation();
    ASSERT_EQ(3u, op.buffer_count);
    for (size_t i = 0; i < 3; ++i)
    {
        EXPECT_EQ(payload.buffers[i].buffer, static_cast<void*>(op.buffers[i].buf)) << i;
        EXPECT_EQ(payload.buffers[i].length, op.buffers[i].len) << i;
    }
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_057
TEST_F(AsyncSocketWin32Send, the_overlapped_of_wsasend_carries_an_event_created_for_the_send)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4};
    const size_t mark = fake_.log_size();
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(payload));
    ASSERT_EQ(1u, fake_.count("CreateEventW", mark));
    const HANDLE event = fake_.events_created().back();
    const Operation op = fake_.last_operation();
    EXPECT_EQ(event, op.event);
    EXPECT_TRUE(fake_.event_open(event));
    EXPECT_LT(fake_.position("CreateEventW"), fake_.position("WSASend"));
    // Stored in the context: the OVERLAPPED lives in the send's allocation.
    EXPECT_EQ(fake_.block_size(op.overlapped), fake_.block_size(op.buffer_array));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_060
TEST_F(AsyncSocketWin32Send, send_starts_the_threadpool_io_before_wsasend)
{
    ASSERT_NE(nullptr, open_socket());
    const PTP_IO io = fake_.last_io().io;
    Payload payload{4};
    const size_t mark = fake_.log_size();
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(payload));
    EXPECT_EQ((Names{"malloc", "CreateEventW", "StartThreadpoolIo", "WSASend", "WSAGetLastError"}), fake_.names(mark));
    auto starts = fake_.calls("StartThreadpoolIo");
    ASSERT_EQ(1u, starts.size());
    EXPECT_EQ(io, starts[0].arg<PTP_IO>(0));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_061
TEST_F(AsyncSocketWin32Send, wsasend_gets_the_wsabufs_the_overlapped_and_no_flags_count_or_routine)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{5, 9};
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(payload));
    const Operation op = fake_.last_operation();
    EXPECT_EQ(Operation::Kind::send, op.kind);
    EXPECT_EQ(handle_, op.socket);
    EXPECT_EQ(2u, op.buffer_count);
    EXPECT_NE(0u, fake_.block_size(op.buffer_array));
    EXPECT_EQ(nullptr, op.bytes);
    EXPECT_EQ(0u, op.send_flags);
    EXPECT_EQ(nullptr, op.routine);
    ASSERT_NE(nullptr, op.overlapped);
    EXPECT_EQ(fake_.events_created().back(), op.event);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_062
TEST_F(AsyncSocketWin32Send, a_failed_wsasend_is_followed_by_wsagetlasterror)
{
    ASSERT_NE(nullptr, open_socket());
    const size_t mark = fake_.log_size();
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ERROR, send_failing_with(WSAENOBUFS));
    const auto names = fake_.names(mark);
    auto wsasend = std::find(names.begin(), names.end(), "WSASend");
    ASSERT_NE(names.end(), wsasend);
    ASSERT_NE(names.end(), wsasend + 1);
    EXPECT_EQ("WSAGetLastError", *(wsasend + 1));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_053
TEST_F(AsyncSocketWin32Send, wsa_io_pending_is_not_an_error)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4};
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(payload));  // the fake answers WSA_IO_PENDING
    EXPECT_EQ(static_cast<uintptr_t>(WSA_IO_PENDING), fake_.calls("WSAGetLastError").back().result);
    EXPECT_EQ(0u, fake_.count("CancelThreadpoolIo"));
    EXPECT_EQ(0u, recorder_.sends().size());
    EXPECT_EQ(1u, fake_.books().pending_operations);
    complete_last(NO_ERROR, 4);
    ASSERT_EQ(1u, recorder_.sends().size());
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, recorder_.sends()[0].result);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_100
// Tests_SRS_ASYNC_SOCKET_WIN32_01_106
TEST_F(AsyncSocketWin32Send, any_other_wsasend_error_cancels_the_threadpool_io_and_fails)
{
    ASSERT_NE(nullptr, open_socket());
    const PTP_IO io = fake_.last_io().io;
    const Books before = fake_.books();
    for (DWORD error : {DWORD{WSAENOBUFS}, DWORD{WSAEFAULT}, DWORD{WSAENOTSOCK}, DWORD{WSAESHUTDOWN}, DWORD{WSAECONNABORTED}})
    {
        SCOPED_TRACE(error);
        const size_t mark = fake_.log_size();
        EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ERROR, send_failing_with(error));
        ASSERT_EQ(1u, fake_.count("CancelThreadpoolIo", mark));
        EXPECT_EQ(io, fake_.calls("CancelThreadpoolIo").back().arg<PTP_IO>(0));
        EXPECT_LT(fake_.position("WSAGetLastError", fake_.count("WSAGetLastError")), fake_.position("CancelThreadpoolIo", fake_.count("CancelThreadpoolIo")));
        // The context and its event are gone, no start is left open, no callback comes.
        const Books after = fake_.books();
        EXPECT_EQ(before.blocks, after.blocks);
        EXPECT_EQ(before.events, after.events);
        EXPECT_EQ(0u, after.started_ios);
        EXPECT_EQ(0u, recorder_.sends().size());
    }
}

// Tests_SRS_ASYNC_SOCKET_WIN32_42_002
// Tests_SRS_ASYNC_SOCKET_WIN32_01_100
TEST_F(AsyncSocketWin32Send, wsasend_failing_with_wsaeconnreset_abandons_the_send)
{
    ASSERT_NE(nullptr, open_socket());
    const Books before = fake_.books();
    const size_t mark = fake_.log_size();
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ABANDONED, send_failing_with(WSAECONNRESET));
    EXPECT_EQ(1u, fake_.count("CancelThreadpoolIo", mark));
    EXPECT_EQ(before.blocks, fake_.books().blocks);
    EXPECT_EQ(before.events, fake_.books().events);
    EXPECT_EQ(0u, fake_.books().started_ios);
    EXPECT_EQ(0u, recorder_.sends().size());
}

// A WSASend that returns SOCKET_ERROR while WSAGetLastError answers 0 has failed: no
// completion comes for it, so the send must not report OK.
// Tests_SRS_ASYNC_SOCKET_WIN32_01_100
// Tests_SRS_ASYNC_SOCKET_WIN32_01_106
// Tests_SRS_ASYNC_SOCKET_WIN32_77_011
TEST_F(AsyncSocketWin32Send, a_wsasend_failing_without_an_error_code_is_refused_and_never_called_back)
{
    ASSERT_NE(nullptr, open_socket());
    const PTP_IO io = fake_.last_io().io;
    const Books before = fake_.books();
    Payload payload{4};
    fake_.returns_next("WSASend", SOCKET_ERROR, 0);
    const size_t mark = fake_.log_size();
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ERROR, send(payload));
    ASSERT_EQ(1u, fake_.count("CancelThreadpoolIo", mark));
    EXPECT_EQ(io, fake_.calls("CancelThreadpoolIo").back().arg<PTP_IO>(0));
    const Books after = fake_.books();
    EXPECT_EQ(before.blocks, after.blocks);  // the context is freed
    EXPECT_EQ(before.events, after.events);
    EXPECT_EQ(0u, after.started_ios);
    EXPECT_EQ(0u, after.pending_operations);
    EXPECT_EQ(0u, recorder_.sends().size());
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_106
// Tests_SRS_ASYNC_SOCKET_WIN32_77_011
TEST_F(AsyncSocketWin32Send, a_wsasend_returning_neither_zero_nor_socket_error_is_refused_and_never_called_back)
{
    ASSERT_NE(nullptr, open_socket());
    const Books before = fake_.books();
    Payload payload{4};
    fake_.returns_next("WSASend", 1, 0);
    const size_t mark = fake_.log_size();
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ERROR, send(payload));
    EXPECT_EQ(1u, fake_.count("CancelThreadpoolIo", mark));
    EXPECT_EQ(0u, fake_.count("WSAGetLastError", mark));  // only SOCKET_ERROR has a last error (01_062)
    const Books after = fake_.books();
    EXPECT_EQ(before.blocks, after.blocks);
    EXPECT_EQ(before.events, after.events);
    EXPECT_EQ(0u, after.started_ios);
    EXPECT_EQ(0u, recorder_.sends().size());
    // The socket still sends.
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(payload));
    complete_last(NO_ERROR, 4);
    ASSERT_EQ(1u, recorder_.sends().size());
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, recorder_.sends()[0].result);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_045
TEST_F(AsyncSocketWin32Send, send_returns_ok_when_wsasend_completes_at_once)
{
    ASSERT_NE(nullptr, open_socket());
    fake_.set_io_completes_at_once(true);
    Payload payload{4};
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(payload));
    EXPECT_EQ(0u, fake_.count("CancelThreadpoolIo"));
    // The completion still comes through the threadpool.
    EXPECT_EQ(0u, recorder_.sends().size());
    complete_last(NO_ERROR, 4);
    ASSERT_EQ(1u, recorder_.sends().size());
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, recorder_.sends()[0].result);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_029
TEST_F(AsyncSocketWin32Send, send_fails_when_the_context_cannot_be_allocated)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4};
    fake_.fail_next("malloc");
    const size_t mark = fake_.log_size();
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ERROR, send(payload));
    EXPECT_EQ(0u, fake_.count("WSASend", mark));
    EXPECT_EQ(0u, fake_.count("StartThreadpoolIo", mark));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_029
TEST_F(AsyncSocketWin32Send, send_fails_when_the_event_cannot_be_created)
{
    ASSERT_NE(nullptr, open_socket());
    const Books before = fake_.books();
    Payload payload{4};
    fake_.fail_next("CreateEventW");
    const size_t mark = fake_.log_size();
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ERROR, send(payload));
    EXPECT_EQ(0u, fake_.count("WSASend", mark));
    EXPECT_EQ(0u, fake_.count("StartThreadpoolIo", mark));
    EXPECT_EQ(before.blocks, fake_.books().blocks);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_029
// Tests_SRS_ASYNC_SOCKET_WIN32_01_106
// Tests_SRS_ASYNC_SOCKET_WIN32_42_002
TEST_F(AsyncSocketWin32Send, failing_each_call_of_send_fails_it_cleanly)
{
    ASSERT_NE(nullptr, open_socket());
    size_t mark = fake_.log_size();
    Payload payload{4, 8};
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(payload));
    const auto calls = failable_calls(fake_.names(mark));
    complete_last(NO_ERROR, 12);
    ASSERT_EQ(3u, calls.size());
    EXPECT_EQ("malloc", calls[0].name);
    EXPECT_EQ("CreateEventW", calls[1].name);
    EXPECT_EQ("WSASend", calls[2].name);

    for (DWORD wsa_error : {DWORD{WSAENOBUFS}, DWORD{WSAECONNRESET}})
        for (const auto& call : calls)
        {
            SCOPED_TRACE(call.name + " #" + std::to_string(call.occurrence) + " error " + std::to_string(wsa_error));
            const Books before = fake_.books();
            const size_t sends = recorder_.sends().size();
            fake_.fail_nth(call.name, call.occurrence, call.name == "WSASend" ? wsa_error : 0);
            const ASYNC_SOCKET_SEND_SYNC_RESULT result = send(payload);
            fake_.clear_failures();
            EXPECT_EQ(call.name == "WSASend" && wsa_error == WSAECONNRESET ? ASYNC_SOCKET_SEND_SYNC_ABANDONED : ASYNC_SOCKET_SEND_SYNC_ERROR, result);
            const Books after = fake_.books();
            EXPECT_EQ(before.blocks, after.blocks);
            EXPECT_EQ(before.events, after.events);
            EXPECT_EQ(0u, after.started_ios);
            EXPECT_EQ(0u, after.pending_operations);
            EXPECT_EQ(sends, recorder_.sends().size());
            // The socket still sends.
            ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(payload, context_value(77)));
            complete_last(NO_ERROR, 12);
            ASSERT_EQ(sends + 1, recorder_.sends().size());
            EXPECT_EQ(ASYNC_SOCKET_SEND_OK, recorder_.sends().back().result);
            EXPECT_EQ(context_value(77), recorder_.sends().back().context);
        }
}

}  // namespace
}  // namespace asock_test::win32
