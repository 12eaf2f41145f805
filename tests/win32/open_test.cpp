// async_socket_open_async of the Win32 backend, against the fake OS.
#include <string>
#include <vector>

#include "win32/fake_os_fixture.h"

namespace asock_test::win32 {
namespace {

using Names = std::vector<std::string>;

class AsyncSocketWin32Open : public FakeOsTest
{
};

// Tests_SRS_ASYNC_SOCKET_WIN32_01_007
TEST_F(AsyncSocketWin32Open, open_with_a_null_socket_fails)
{
    const size_t mark = fake_.log_size();
    EXPECT_NE(0, async_socket_open_async(nullptr, Recorder::on_open, context_value(1)));
    EXPECT_EQ(Names{}, fake_.names(mark));
    EXPECT_EQ(0u, recorder_.callbacks());
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_008
TEST_F(AsyncSocketWin32Open, open_without_a_callback_fails_and_leaves_the_socket_closed)
{
    ASSERT_NE(nullptr, create_socket());
    const size_t mark = fake_.log_size();
    EXPECT_NE(0, async_socket_open_async(socket_, nullptr, context_value(1)));
    EXPECT_EQ(Names{}, fake_.names(mark));
    // Not opened: a send is refused, and a proper open still works.
    Payload payload{4};
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ABANDONED, send(payload));
    EXPECT_EQ(0, async_socket_open_async(socket_, Recorder::on_open, context_value(1)));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_009
TEST_F(AsyncSocketWin32Open, open_accepts_a_null_context)
{
    ASSERT_NE(nullptr, create_socket());
    EXPECT_EQ(0, async_socket_open_async(socket_, Recorder::on_open, nullptr));
    ASSERT_EQ(1u, recorder_.opens().size());
    EXPECT_EQ(nullptr, recorder_.opens()[0].context);
    EXPECT_EQ(ASYNC_SOCKET_OPEN_OK, recorder_.opens()[0].result);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_023
TEST_F(AsyncSocketWin32Open, while_opening_the_socket_is_neither_open_nor_openable)
{
    ASSERT_NE(nullptr, create_socket());
    int second_open = 0;
    ASYNC_SOCKET_SEND_SYNC_RESULT send_while_opening = ASYNC_SOCKET_SEND_SYNC_OK;
    int receive_while_opening = 0;
    Payload payload{4};
    fake_.on_call("CreateThreadpoolIo", [&] {
        second_open = async_socket_open_async(socket_, Recorder::on_open, context_value(9));
        send_while_opening = send(payload);
        receive_while_opening = receive(payload);
    });
    EXPECT_EQ(0, async_socket_open_async(socket_, Recorder::on_open, context_value(1)));
    fake_.on_call("CreateThreadpoolIo", nullptr);
    EXPECT_NE(0, second_open);
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ABANDONED, send_while_opening);
    EXPECT_NE(0, receive_while_opening);
    // Only the first open completed.
    ASSERT_EQ(1u, recorder_.opens().size());
    EXPECT_EQ(context_value(1), recorder_.opens()[0].context);
    EXPECT_EQ(1u, fake_.count("CreateThreadpoolIo"));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_014
TEST_F(AsyncSocketWin32Open, open_returns_zero_on_success)
{
    ASSERT_NE(nullptr, create_socket());
    EXPECT_EQ(0, async_socket_open_async(socket_, Recorder::on_open, context_value(1)));
    EXPECT_EQ(1u, fake_.books().ios);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_015
TEST_F(AsyncSocketWin32Open, open_of_an_open_socket_fails)
{
    ASSERT_NE(nullptr, open_socket());
    const size_t mark = fake_.log_size();
    EXPECT_NE(0, async_socket_open_async(socket_, Recorder::on_open, context_value(5)));
    EXPECT_EQ(Names{}, fake_.names(mark));
    EXPECT_EQ(1u, recorder_.opens().size());
    // Still open.
    Payload payload{4};
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(payload));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_015
TEST_F(AsyncSocketWin32Open, open_of_an_opening_socket_fails)
{
    ASSERT_NE(nullptr, create_socket());
    int second_open = 0;
    fake_.on_call("CreateThreadpoolIo", [&] { second_open = async_socket_open_async(socket_, Recorder::on_open, context_value(9)); });
    EXPECT_EQ(0, async_socket_open_async(socket_, Recorder::on_open, context_value(1)));
    fake_.on_call("CreateThreadpoolIo", nullptr);
    EXPECT_NE(0, second_open);
    EXPECT_EQ(1u, fake_.count("InitializeThreadpoolEnvironment"));
    EXPECT_EQ(1u, recorder_.opens().size());
}

// Tests_SRS_ASYNC_SOCKET_WIN32_42_008
TEST_F(AsyncSocketWin32Open, open_after_close_fails)
{
    ASSERT_NE(nullptr, open_socket());
    async_socket_close(socket_);
    const size_t mark = fake_.log_size();
    EXPECT_NE(0, async_socket_open_async(socket_, Recorder::on_open, context_value(5)));
    EXPECT_EQ(Names{}, fake_.names(mark));
    EXPECT_EQ(1u, recorder_.opens().size());
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_016
// Tests_SRS_ASYNC_SOCKET_WIN32_01_036
// Tests_SRS_ASYNC_SOCKET_WIN32_01_058
TEST_F(AsyncSocketWin32Open, open_creates_a_threadpool_io_in_an_environment_of_the_engine_pool)
{
    ASSERT_NE(nullptr, create_socket());
    const PTP_POOL pool = execution_engine_win32_get_threadpool(engine_);
    const size_t mark = fake_.log_size();
    ASSERT_EQ(0, async_socket_open_async(socket_, Recorder::on_open, context_value(1)));
    EXPECT_EQ((Names{"InitializeThreadpoolEnvironment", "SetThreadpoolCallbackPool", "CreateThreadpoolIo"}), fake_.names(mark));

    const auto environment = fake_.calls("InitializeThreadpoolEnvironment").at(0).arg<PTP_CALLBACK_ENVIRON>(0);
    ASSERT_NE(nullptr, environment);
    const Call set_pool = fake_.calls("SetThreadpoolCallbackPool").at(0);
    EXPECT_EQ(environment, set_pool.arg<PTP_CALLBACK_ENVIRON>(0));
    EXPECT_EQ(pool, set_pool.arg<PTP_POOL>(1));

    const auto io = fake_.last_io();
    EXPECT_EQ(reinterpret_cast<HANDLE>(handle_), io.handle);
    EXPECT_EQ(environment, io.environment);
    ASSERT_NE(nullptr, io.callback);
    // The callback is the socket's on_io_complete: a send completes through it.
    Payload payload{6};
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(payload));
    complete_last(NO_ERROR, 6);
    ASSERT_EQ(1u, recorder_.sends().size());
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, recorder_.sends()[0].result);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_094
TEST_F(AsyncSocketWin32Open, after_open_the_socket_is_open)
{
    ASSERT_NE(nullptr, create_socket());
    Payload payload{4};
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_ABANDONED, send(payload));
    ASSERT_EQ(0, async_socket_open_async(socket_, Recorder::on_open, context_value(1)));
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(payload));
    EXPECT_EQ(0, receive(payload));
    EXPECT_EQ(1u, fake_.count("WSASend"));
    EXPECT_EQ(1u, fake_.count("WSARecv"));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_017
TEST_F(AsyncSocketWin32Open, open_calls_the_callback_with_open_ok_before_returning)
{
    ASSERT_NE(nullptr, create_socket());
    bool inside_open = false;
    bool called_inside_open = false;
    size_t io_count_in_callback = 0;
    recorder_.on_open_action = [&](void*) {
        called_inside_open = inside_open;
        io_count_in_callback = fake_.books().ios;
    };
    inside_open = true;
    const int result = async_socket_open_async(socket_, Recorder::on_open, context_value(3));
    inside_open = false;
    EXPECT_EQ(0, result);
    ASSERT_EQ(1u, recorder_.opens().size());
    EXPECT_EQ(context_value(3), recorder_.opens()[0].context);
    EXPECT_EQ(ASYNC_SOCKET_OPEN_OK, recorder_.opens()[0].result);
    EXPECT_TRUE(called_inside_open);
    EXPECT_EQ(1u, io_count_in_callback);  // after the threadpool IO exists
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_039
TEST_F(AsyncSocketWin32Open, open_fails_when_the_threadpool_io_cannot_be_created)
{
    ASSERT_NE(nullptr, create_socket());
    fake_.fail_next("CreateThreadpoolIo");
    EXPECT_NE(0, async_socket_open_async(socket_, Recorder::on_open, context_value(1)));
    EXPECT_EQ(0u, recorder_.callbacks());
    // The environment it initialized is destroyed again.
    EXPECT_EQ(0u, fake_.books().environments);
    EXPECT_EQ(1u, fake_.count("DestroyThreadpoolEnvironment"));
    EXPECT_TRUE(fake_.socket_open(handle_));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_039
TEST_F(AsyncSocketWin32Open, failing_each_call_of_open_fails_it_cleanly)
{
    ASSERT_NE(nullptr, create_socket());
    size_t mark = fake_.log_size();
    ASSERT_EQ(0, async_socket_open_async(socket_, Recorder::on_open, context_value(1)));
    const auto calls = failable_calls(fake_.names(mark));
    destroy_socket();
    ASSERT_EQ(1u, calls.size());
    EXPECT_EQ("CreateThreadpoolIo", calls[0].name);

    for (const auto& call : calls)
    {
        SCOPED_TRACE(call.name + " #" + std::to_string(call.occurrence));
        ASSERT_NE(nullptr, create_socket());
        const Books before = fake_.books();
        const size_t callbacks = recorder_.callbacks();
        fake_.fail_nth(call.name, call.occurrence);
        EXPECT_NE(0, async_socket_open_async(socket_, Recorder::on_open, context_value(1)));
        fake_.clear_failures();
        const Books after = fake_.books();
        EXPECT_EQ(before.blocks, after.blocks);
        EXPECT_EQ(before.environments, after.environments);
        EXPECT_EQ(before.ios, after.ios);
        EXPECT_EQ(before.sockets, after.sockets);
        EXPECT_EQ(callbacks, recorder_.callbacks());
        // The socket can still be opened and used.
        ASSERT_EQ(0, async_socket_open_async(socket_, Recorder::on_open, context_value(1)));
        EXPECT_EQ(callbacks + 1, recorder_.callbacks());
        Payload payload{5};
        ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(payload));
        complete_last(NO_ERROR, 5);
        EXPECT_EQ(ASYNC_SOCKET_SEND_OK, recorder_.sends().back().result);
        destroy_socket();
    }
}

}  // namespace
}  // namespace asock_test::win32
