// async_socket_close of the Win32 backend, against the fake OS.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "win32/fake_os_fixture.h"

namespace asock_test::win32 {
namespace {

using Names = std::vector<std::string>;

class AsyncSocketWin32Close : public FakeOsTest
{
protected:
    // Starts a send (or receive) on another thread that stays inside WSASend (WSARecv) until
    // the test closes the socket or 300 ms pass; checks that close leaves the handle alone
    // while the call is inside and only then goes on.
    void close_while_an_api_call_is_inside(const char* call_name, bool is_send)
    {
        ASSERT_NE(nullptr, open_socket());
        std::atomic<bool> inside{false};
        std::atomic<bool> close_started{false};
        fake_.on_call(call_name, [&] {
            inside = true;
            eventually([&] { return close_started.load(); });
            // A close that does not wait calls CancelIoEx/closesocket now (the fake notes it).
            eventually([&] { return fake_.count("CancelIoEx") + fake_.count("closesocket") != 0; }, 300ms);
        });
        Payload payload{10};
        std::atomic<int> api_result{-1};
        std::thread caller([&] { api_result = is_send ? static_cast<int>(send(payload)) : receive(payload); });
        ASSERT_TRUE(eventually([&] { return inside.load(); }));
        std::thread closer([&] {
            close_started = true;
            async_socket_close(socket_);
        });
        caller.join();
        closer.join();
        fake_.on_call(call_name, nullptr);

        EXPECT_TRUE(fake_.violations().empty()) << fake_.describe_violations();
        // The call went through; the close then cancelled it before closing the handle.
        EXPECT_EQ(0, api_result.load());
        EXPECT_LT(fake_.position(call_name), fake_.position("CancelIoEx"));
        EXPECT_LT(fake_.position("CancelIoEx"), fake_.position("closesocket"));
        if (is_send)
        {
            ASSERT_EQ(1u, recorder_.sends().size());
            EXPECT_EQ(ASYNC_SOCKET_SEND_ERROR, recorder_.sends()[0].result);
        }
        else
        {
            ASSERT_EQ(1u, recorder_.receives().size());
            EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ERROR, recorder_.receives()[0].result);
        }
    }
};

// Tests_SRS_ASYNC_SOCKET_WIN32_01_018
TEST_F(AsyncSocketWin32Close, close_null_returns_without_any_call)
{
    const size_t mark = fake_.log_size();
    async_socket_close(nullptr);
    EXPECT_EQ(Names{}, fake_.names(mark));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_019
TEST_F(AsyncSocketWin32Close, while_closing_the_socket_refuses_everything)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4};
    ASYNC_SOCKET_SEND_SYNC_RESULT send_result = ASYNC_SOCKET_SEND_SYNC_OK;
    int receive_result = 0;
    int open_result = 0;
    size_t calls_of_nested_close = 99;
    fake_.on_call("CancelIoEx", [&] {
        send_result = send(payload);
        receive_result = receive(payload);
        open_result = async_socket_open_async(socket_, Recorder::on_open, context_value(8));
        const size_t mark = fake_.log_size();
        async_socket_close(socket_);  // already closing: returns at once
        calls_of_nested_close = fake_.log_size() - mark;
    });
    async_socket_close(socket_);
    fake_.on_call("CancelIoEx", nullptr);
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ABANDONED, send_result);
    EXPECT_NE(0, receive_result);
    EXPECT_NE(0, open_result);
    EXPECT_EQ(0u, calls_of_nested_close);
    EXPECT_EQ(0u, fake_.count("WSASend"));
    EXPECT_EQ(0u, fake_.count("WSARecv"));
    EXPECT_EQ(1u, fake_.count("closesocket"));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_42_006
TEST_F(AsyncSocketWin32Close, close_closes_the_socket_handle)
{
    ASSERT_NE(nullptr, open_socket());
    async_socket_close(socket_);
    auto closes = fake_.calls("closesocket");
    ASSERT_EQ(1u, closes.size());
    EXPECT_EQ(handle_, closes[0].arg<SOCKET>(0));
    EXPECT_FALSE(fake_.socket_open(handle_));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_020
// Tests_SRS_ASYNC_SOCKET_WIN32_77_002
TEST_F(AsyncSocketWin32Close, close_waits_for_a_send_inside_wsasend_before_closing_the_handle)
{
    close_while_an_api_call_is_inside("WSASend", true);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_020
// Tests_SRS_ASYNC_SOCKET_WIN32_77_002
TEST_F(AsyncSocketWin32Close, close_waits_for_a_receive_inside_wsarecv_before_closing_the_handle)
{
    close_while_an_api_call_is_inside("WSARecv", false);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_020
TEST_F(AsyncSocketWin32Close, close_waits_for_a_send_still_creating_its_context)
{
    // The wait covers the whole call, not only WSASend: here the send is in CreateEventW.
    ASSERT_NE(nullptr, open_socket());
    std::atomic<bool> inside{false};
    std::atomic<bool> close_started{false};
    std::atomic<size_t> closes_while_inside{99};
    fake_.on_call("CreateEventW", [&] {
        inside = true;
        eventually([&] { return close_started.load(); });
        eventually([&] { return fake_.count("CancelIoEx") + fake_.count("closesocket") != 0; }, 300ms);
        closes_while_inside = fake_.count("CancelIoEx") + fake_.count("closesocket");
    });
    Payload payload{10};
    std::atomic<int> send_result{-1};
    std::thread caller([&] { send_result = send(payload); });
    ASSERT_TRUE(eventually([&] { return inside.load(); }));
    std::thread closer([&] {
        close_started = true;
        async_socket_close(socket_);
    });
    caller.join();
    closer.join();
    fake_.on_call("CreateEventW", nullptr);
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send_result.load());
    EXPECT_LT(fake_.position("WSASend"), fake_.position("CancelIoEx"));
    EXPECT_EQ(0u, closes_while_inside.load());
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_021
TEST_F(AsyncSocketWin32Close, close_closes_the_async_socket)
{
    ASSERT_NE(nullptr, open_socket());
    const size_t mark = fake_.log_size();
    async_socket_close(socket_);
    EXPECT_EQ((Names{"CancelIoEx", "closesocket", "WaitForThreadpoolIoCallbacks", "CloseThreadpoolIo", "DestroyThreadpoolEnvironment"}), fake_.names(mark));
    // Closed for good: nothing works any more, and nothing is left open.
    Payload payload{4};
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ABANDONED, send(payload));
    EXPECT_NE(0, receive(payload));
    EXPECT_NE(0, async_socket_open_async(socket_, Recorder::on_open, context_value(1)));
    const Books books = fake_.books();
    EXPECT_EQ(0u, books.ios);
    EXPECT_EQ(0u, books.environments);
    EXPECT_EQ(0u, books.sockets);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_040
TEST_F(AsyncSocketWin32Close, close_waits_for_the_io_callbacks_without_cancelling_them)
{
    ASSERT_NE(nullptr, open_socket());
    const PTP_IO io = fake_.last_io().io;
    Payload payload{4};
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(payload));
    ASSERT_EQ(0, receive(payload));
    async_socket_close(socket_);
    auto waits = fake_.calls("WaitForThreadpoolIoCallbacks");
    ASSERT_EQ(1u, waits.size());
    EXPECT_EQ(io, waits[0].arg<PTP_IO>(0));
    EXPECT_EQ(FALSE, waits[0].arg<BOOL>(1));
    EXPECT_LT(fake_.position("closesocket"), fake_.position("WaitForThreadpoolIoCallbacks"));
    // The callbacks of the operations the close ended ran before close returned.
    ASSERT_EQ(1u, recorder_.sends().size());
    EXPECT_EQ(ASYNC_SOCKET_SEND_ERROR, recorder_.sends()[0].result);
    ASSERT_EQ(1u, recorder_.receives().size());
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ERROR, recorder_.receives()[0].result);
    EXPECT_EQ(0u, recorder_.receives()[0].bytes);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_059
TEST_F(AsyncSocketWin32Close, close_closes_the_threadpool_io_after_waiting)
{
    ASSERT_NE(nullptr, open_socket());
    const PTP_IO io = fake_.last_io().io;
    async_socket_close(socket_);
    auto closes = fake_.calls("CloseThreadpoolIo");
    ASSERT_EQ(1u, closes.size());
    EXPECT_EQ(io, closes[0].arg<PTP_IO>(0));
    EXPECT_LT(fake_.position("WaitForThreadpoolIoCallbacks"), fake_.position("CloseThreadpoolIo"));
    EXPECT_EQ(0u, fake_.books().ios);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_042
TEST_F(AsyncSocketWin32Close, close_destroys_the_threadpool_environment)
{
    ASSERT_NE(nullptr, open_socket());
    const auto environment = fake_.calls("InitializeThreadpoolEnvironment").at(0).arg<PTP_CALLBACK_ENVIRON>(0);
    async_socket_close(socket_);
    auto destroys = fake_.calls("DestroyThreadpoolEnvironment");
    ASSERT_EQ(1u, destroys.size());
    EXPECT_EQ(environment, destroys[0].arg<PTP_CALLBACK_ENVIRON>(0));
    EXPECT_LT(fake_.position("CloseThreadpoolIo"), fake_.position("DestroyThreadpoolEnvironment"));
    EXPECT_EQ(0u, fake_.books().environments);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_022
TEST_F(AsyncSocketWin32Close, close_of_a_socket_never_opened_does_nothing)
{
    ASSERT_NE(nullptr, create_socket());
    const size_t mark = fake_.log_size();
    async_socket_close(socket_);
    EXPECT_EQ(Names{}, fake_.names(mark));
    EXPECT_TRUE(fake_.socket_open(handle_));
    // Still openable.
    EXPECT_EQ(0, async_socket_open_async(socket_, Recorder::on_open, context_value(1)));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_022
TEST_F(AsyncSocketWin32Close, close_of_a_closed_socket_does_nothing)
{
    ASSERT_NE(nullptr, open_socket());
    async_socket_close(socket_);
    const size_t mark = fake_.log_size();
    async_socket_close(socket_);
    EXPECT_EQ(Names{}, fake_.names(mark));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_77_001
TEST_F(AsyncSocketWin32Close, close_cancels_all_io_of_the_socket_before_closing_it)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4};
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(payload));
    async_socket_close(socket_);
    auto cancels = fake_.calls("CancelIoEx");
    ASSERT_EQ(1u, cancels.size());
    EXPECT_EQ(reinterpret_cast<HANDLE>(handle_), cancels[0].arg<HANDLE>(0));
    EXPECT_EQ(nullptr, cancels[0].arg<LPOVERLAPPED>(1));
    EXPECT_LT(fake_.position("CancelIoEx"), fake_.position("closesocket"));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_77_001
TEST_F(AsyncSocketWin32Close, close_goes_on_when_there_is_nothing_to_cancel)
{
    // CancelIoEx fails with ERROR_NOT_FOUND when no I/O is pending.
    ASSERT_NE(nullptr, open_socket());
    fake_.fail_next("CancelIoEx", ERROR_NOT_FOUND);
    const size_t mark = fake_.log_size();
    async_socket_close(socket_);
    EXPECT_EQ((Names{"CancelIoEx", "closesocket", "WaitForThreadpoolIoCallbacks", "CloseThreadpoolIo", "DestroyThreadpoolEnvironment"}), fake_.names(mark));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_77_003
TEST_F(AsyncSocketWin32Close, close_from_the_socket_own_callback_disassociates_it_first)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4};
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(payload));
    const Operation first = fake_.last_operation();
    ASSERT_EQ(0, receive(payload));  // still pending when the send's callback closes
    recorder_.on_send_action = [&](void*) { async_socket_close(socket_); };
    fake_.complete(first, NO_ERROR, 4);

    const auto instances = fake_.instances();
    ASSERT_FALSE(instances.empty());
    auto disassociations = fake_.calls("DisassociateCurrentThreadFromCallback");
    ASSERT_EQ(1u, disassociations.size());
    EXPECT_EQ(instances[0], disassociations[0].arg<PTP_CALLBACK_INSTANCE>(0));
    EXPECT_LT(fake_.position("DisassociateCurrentThreadFromCallback"), fake_.position("WaitForThreadpoolIoCallbacks"));
    // No deadlock (the fake notes a wait from the IO's own callback), and the close ended the receive.
    EXPECT_TRUE(fake_.violations().empty()) << fake_.describe_violations();
    ASSERT_EQ(1u, recorder_.receives().size());
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ERROR, recorder_.receives()[0].result);
    EXPECT_EQ(1u, fake_.count("CloseThreadpoolIo"));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_77_003
TEST_F(AsyncSocketWin32Close, destroy_from_the_socket_own_callback_disassociates_it_first)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4};
    ASSERT_EQ(0, receive(payload));
    ASYNC_SOCKET_HANDLE socket = socket_;
    socket_ = nullptr;
    recorder_.on_receive_action = [&](void*) { async_socket_destroy(socket); };
    complete_last(NO_ERROR, 4);
    auto disassociations = fake_.calls("DisassociateCurrentThreadFromCallback");
    ASSERT_EQ(1u, disassociations.size());
    EXPECT_EQ(fake_.instances().at(0), disassociations[0].arg<PTP_CALLBACK_INSTANCE>(0));
    EXPECT_LT(fake_.position("DisassociateCurrentThreadFromCallback"), fake_.position("WaitForThreadpoolIoCallbacks"));
    EXPECT_FALSE(fake_.block_live(socket));
}

// A close of another socket from a callback leaves the callback associated: a close of the
// callback's own socket elsewhere must still wait for it (01_040). (Two callbacks closing each
// other's sockets, where 77_003 does disassociate, need two real threads: the contract suite
// covers it under Wine.)
// Tests_SRS_ASYNC_SOCKET_WIN32_77_003
TEST_F(AsyncSocketWin32Close, close_of_another_socket_from_a_callback_keeps_the_callback_associated)
{
    ASSERT_NE(nullptr, open_socket());
    // A second socket on the same engine.
    const SOCKET other_handle = fake_.new_socket();
    ASYNC_SOCKET_HANDLE other = async_socket_create(engine_, as_handle(other_handle));
    ASSERT_NE(nullptr, other);
    ASSERT_EQ(0, async_socket_open_async(other, Recorder::on_open, context_value(2)));
    Payload payload{4};
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(payload));
    recorder_.on_send_action = [&](void*) { async_socket_close(other); };
    complete_last(NO_ERROR, 4);
    EXPECT_EQ(0u, fake_.count("DisassociateCurrentThreadFromCallback"));
    EXPECT_FALSE(fake_.socket_open(other_handle));
    async_socket_destroy(other);
}

// Two callbacks closing each other's sockets: the first close, from a callback of A, waits
// for B's callbacks (the edge "A waits for B" is registered); the second, from B's callback,
// would close the cycle, so it disassociates its callback first. The first then no longer
// waits for it, and the first callback itself stays associated.
// Tests_SRS_ASYNC_SOCKET_WIN32_77_003
// Tests_SRS_ASYNC_SOCKET_WIN32_77_008
TEST_F(AsyncSocketWin32Close, of_two_callbacks_closing_each_other_s_sockets_the_second_disassociates)
{
    ASSERT_NE(nullptr, open_socket());
    ASYNC_SOCKET_HANDLE a = socket_;
    const SOCKET b_handle = fake_.new_socket();
    ASYNC_SOCKET_HANDLE b = async_socket_create(engine_, as_handle(b_handle));
    ASSERT_NE(nullptr, b);
    ASSERT_EQ(0, async_socket_open_async(b, Recorder::on_open, context_value(2)));
    Payload payload{4};
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(a, payload.buffers.data(), 1, Recorder::on_send, context_value(10)));
    const Operation a_send = fake_.last_operation();
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(b, payload.buffers.data(), 1, Recorder::on_send, context_value(20)));
    const Operation b_send = fake_.last_operation();
    recorder_.on_send_action = [&](void* context) { async_socket_close(context == context_value(10) ? b : a); };

    // The first callback stays inside its close of b (in CancelIoEx) until the second is done.
    std::atomic<DWORD> first_thread{0};
    std::atomic<bool> first_inside{false};
    std::atomic<bool> second_done{false};
    fake_.on_call("CancelIoEx", [&] {
        if (GetCurrentThreadId() != first_thread.load())
            return;
        first_inside = true;
        eventually([&] { return second_done.load(); });
    });
    std::thread first([&] {
        first_thread = GetCurrentThreadId();
        fake_.complete(a_send, NO_ERROR, 4);
    });
    ASSERT_TRUE(eventually([&] { return first_inside.load(); }));
    fake_.complete(b_send, NO_ERROR, 4);  // the second callback, on this thread
    second_done = true;
    first.join();
    fake_.on_call("CancelIoEx", nullptr);

    const auto instances = fake_.instances();
    ASSERT_EQ(2u, instances.size());
    const auto disassociations = fake_.calls("DisassociateCurrentThreadFromCallback");
    ASSERT_EQ(1u, disassociations.size());
    EXPECT_EQ(instances[1], disassociations[0].arg<PTP_CALLBACK_INSTANCE>(0));
    EXPECT_EQ(GetCurrentThreadId(), disassociations[0].thread);
    EXPECT_FALSE(fake_.socket_open(b_handle));
    EXPECT_FALSE(fake_.socket_open(handle_));
    async_socket_destroy(b);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_77_003
TEST_F(AsyncSocketWin32Close, close_outside_a_callback_does_not_disassociate)
{
    ASSERT_NE(nullptr, open_socket());
    Payload payload{4};
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(payload));
    complete_last(NO_ERROR, 4);  // a callback ran on this thread, and ended
    async_socket_close(socket_);
    EXPECT_EQ(0u, fake_.count("DisassociateCurrentThreadFromCallback"));
}

}  // namespace
}  // namespace asock_test::win32
