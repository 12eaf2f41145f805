// The fixture of the contract suite: every test runs once per Linux backend.
#pragma once

#include <atomic>
#include <thread>

#include "support/test_support.h"

namespace asock_test {

// What one send completion reported.
struct SendRecord
{
    std::atomic<int> calls{0};
    std::atomic<ASYNC_SOCKET_SEND_RESULT> result{ASYNC_SOCKET_SEND_OK};
    std::atomic<std::thread::id> thread{};
    Counter done;

    static void callback(void* context, ASYNC_SOCKET_SEND_RESULT send_result)
    {
        auto* self = static_cast<SendRecord*>(context);
        self->result = send_result;
        self->thread = std::this_thread::get_id();
        self->calls++;
        self->done.add();
    }
};

// What one receive completion reported.
struct ReceiveRecord
{
    std::atomic<int> calls{0};
    std::atomic<ASYNC_SOCKET_RECEIVE_RESULT> result{ASYNC_SOCKET_RECEIVE_OK};
    std::atomic<uint32_t> bytes{0};
    std::atomic<std::thread::id> thread{};
    Counter done;

    static void callback(void* context, ASYNC_SOCKET_RECEIVE_RESULT receive_result, uint32_t bytes_received)
    {
        auto* self = static_cast<ReceiveRecord*>(context);
        self->result = receive_result;
        self->bytes = bytes_received;
        self->thread = std::this_thread::get_id();
        self->calls++;
        self->done.add();
    }
};

struct OpenRecord
{
    std::atomic<int> calls{0};
    std::atomic<ASYNC_SOCKET_OPEN_RESULT> result{ASYNC_SOCKET_OPEN_ERROR};
    std::atomic<std::thread::id> thread{};
    Counter done;

    static void callback(void* context, ASYNC_SOCKET_OPEN_RESULT open_result)
    {
        auto* self = static_cast<OpenRecord*>(context);
        self->result = open_result;
        self->thread = std::this_thread::get_id();
        self->calls++;
        self->done.add();
    }
};

class Contract : public ::testing::TestWithParam<ASOCK_LINUX_BACKEND>
{
protected:
    void SetUp() override
    {
        if (GetParam() == ASOCK_LINUX_BACKEND_IO_URING && !execution_engine_linux_io_uring_available())
            GTEST_SKIP() << "io_uring cannot be used on this machine";
        engine = make_engine(GetParam());
        ASSERT_NE(engine, nullptr);
    }

    void TearDown() override
    {
        if (engine != nullptr)
            execution_engine_dec_ref(engine);
    }

    // Creates an async socket on fd and opens it, waiting for the open callback.
    ASYNC_SOCKET_HANDLE open_socket(int fd)
    {
        ASYNC_SOCKET_HANDLE socket = async_socket_create(engine, fd);
        EXPECT_NE(socket, nullptr);
        OpenRecord open;
        EXPECT_EQ(0, async_socket_open_async(socket, OpenRecord::callback, &open));
        EXPECT_TRUE(open.done.wait_for(1));
        EXPECT_EQ(ASYNC_SOCKET_OPEN_OK, open.result.load());
        return socket;
    }

    EXECUTION_ENGINE_HANDLE engine = nullptr;
};

inline std::string backend_param_name(const ::testing::TestParamInfo<ASOCK_LINUX_BACKEND>& info)
{
    return backend_name(info.param);
}

#define ASOCK_INSTANTIATE_CONTRACT(suite)                                                                                          \
    INSTANTIATE_TEST_SUITE_P(Backends, suite, ::testing::Values(ASOCK_LINUX_BACKEND_IO_URING, ASOCK_LINUX_BACKEND_EPOLL), \
                             ::asock_test::backend_param_name)

}  // namespace asock_test
