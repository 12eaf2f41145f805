// Failures inside the library reach the caller as results, never as C++ exceptions: a loop
// thread that cannot start, and allocations that fail.
#include "contract/contract_fixture.h"
#include "support/fault_injection.h"

namespace asock_test {
namespace {

class ThreadStartFailure : public ::testing::TestWithParam<Backend>
{
protected:
    void SetUp() override
    {
        if (!backend_available(GetParam()))
            GTEST_SKIP() << "io_uring cannot be used on this machine";
    }

    void TearDown() override { asock_fault_disarm(); }

    // Makes the (failing + 1)-th thread start of an engine of `threads` loops fail; expects a
    // NULL engine, no exception, and nothing left behind.
    void expect_create_fails_cleanly(const EXECUTION_ENGINE_PARAMETERS* parameters, uint32_t threads, uint64_t failing)
    {
        SCOPED_TRACE(testing::Message() << "loop thread " << failing + 1 << " of " << threads << " fails to start");
        const size_t thread_baseline = thread_count();
        const size_t fd_baseline = open_fd_count();
        EXECUTION_ENGINE_HANDLE engine = nullptr;
        asock_fault_arm(ASOCK_FAULT_THREAD_START, failing);
        EXPECT_NO_THROW(engine = execution_engine_linux_create(parameters, linux_backend(GetParam())));
        const uint64_t calls = asock_fault_calls();
        const uint64_t fired = asock_fault_fired();
        asock_fault_disarm();
        EXPECT_EQ(nullptr, engine);
        if (engine != nullptr)
            execution_engine_dec_ref(engine);
        EXPECT_EQ(1u, fired) << "the failure was not injected";
        EXPECT_EQ(failing + 1, calls) << "threads were started after the one that failed";
        // The threads that did start were stopped and joined, the backends' descriptors closed.
        EXPECT_EQ(thread_baseline, settled_thread_count(thread_baseline));
        EXPECT_EQ(fd_baseline, open_fd_count());
    }
};

// Tests_SRS_ASYNC_SOCKET_LINUX_02_022
TEST_P(ThreadStartFailure, engine_create_returns_null_when_any_loop_thread_cannot_start)
{
    EXECUTION_ENGINE_PARAMETERS parameters{3, 0};
    for (uint64_t failing = 0; failing < 3; ++failing)
        expect_create_fails_cleanly(&parameters, 3, failing);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_022
TEST_P(ThreadStartFailure, engine_create_with_null_parameters_returns_null_when_the_last_loop_thread_cannot_start)
{
    const unsigned cpus = std::thread::hardware_concurrency();
    const uint32_t threads = cpus == 0 ? 1 : cpus;
    expect_create_fails_cleanly(nullptr, threads, threads - 1);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_022
TEST_P(ThreadStartFailure, engines_work_again_once_threads_can_start)
{
    EXECUTION_ENGINE_PARAMETERS parameters{3, 0};
    expect_create_fails_cleanly(&parameters, 3, 1);
    const size_t thread_baseline = thread_count();
    EXECUTION_ENGINE_HANDLE engine = execution_engine_linux_create(&parameters, linux_backend(GetParam()));
    ASSERT_NE(nullptr, engine);
    EXPECT_EQ(thread_baseline + 3, thread_count());
    Connection c = local_connection();
    ASYNC_SOCKET_HANDLE s = async_socket_create(engine, c.ours);
    ASSERT_NE(nullptr, s);
    OpenRecord open;
    ASSERT_EQ(0, async_socket_open_async(s, OpenRecord::callback, &open));
    EXPECT_TRUE(open.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_OPEN_OK, open.result.load());
    async_socket_destroy(s);
    ::close(c.peer);
    execution_engine_dec_ref(engine);
    EXPECT_EQ(thread_baseline, settled_thread_count(thread_baseline));
}

// Allocation failures in every API call that allocates: a result, not an exception.
class ErrorsNotExceptions : public Contract
{
protected:
    void TearDown() override
    {
        asock_fault_disarm();
        Contract::TearDown();
    }
};

// Tests_SRS_ASYNC_SOCKET_LINUX_02_022
TEST_P(ErrorsNotExceptions, failed_allocations_in_create_send_and_receive_are_reported_as_results)
{
    Connection c = local_connection();
    ASYNC_SOCKET_HANDLE s = nullptr;
    asock_fault_arm(ASOCK_FAULT_SOCKET_ALLOC, 0);
    EXPECT_NO_THROW(s = async_socket_create(engine, c.ours));
    EXPECT_EQ(1u, asock_fault_fired());
    asock_fault_disarm();
    EXPECT_EQ(nullptr, s);

    // Data for the sends and receives below, declared before the socket that uses it.
    char small[4] = {'a', 'b', 'c', 'd'};
    char pieces[8][2] = {};
    ASYNC_SOCKET_BUFFER one{small, sizeof(small)};
    ASYNC_SOCKET_BUFFER many[8];
    for (size_t i = 0; i < 8; ++i)
        many[i] = ASYNC_SOCKET_BUFFER{pieces[i], sizeof(pieces[i])};
    SendRecord failed_send[2];
    ReceiveRecord failed_receive[2];
    SendRecord sent;

    s = open_socket(c.ours);
    ASSERT_NE(nullptr, s);
    // One buffer (kept inside the operation) and many (an array of their own).
    const ASYNC_SOCKET_BUFFER* payloads[2] = {&one, many};
    const uint32_t counts[2] = {1, 8};
    for (size_t i = 0; i < 2; ++i)
    {
        SCOPED_TRACE(testing::Message() << counts[i] << " buffer(s)");
        ASYNC_SOCKET_SEND_SYNC_RESULT send_result = ASYNC_SOCKET_SEND_SYNC_OK;
        asock_fault_arm(ASOCK_FAULT_OP_ALLOC, 0);
        EXPECT_NO_THROW(send_result = async_socket_send_async(s, payloads[i], counts[i], SendRecord::callback, &failed_send[i]));
        EXPECT_EQ(1u, asock_fault_fired());
        asock_fault_disarm();
        EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ERROR, send_result);

        int receive_result = 0;
        asock_fault_arm(ASOCK_FAULT_OP_ALLOC, 0);
        EXPECT_NO_THROW(receive_result = async_socket_receive_async(s, const_cast<ASYNC_SOCKET_BUFFER*>(payloads[i]), counts[i], ReceiveRecord::callback, &failed_receive[i]));
        EXPECT_EQ(1u, asock_fault_fired());
        asock_fault_disarm();
        EXPECT_NE(0, receive_result);
    }

    // The socket is unharmed.
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s, &one, 1, SendRecord::callback, &sent));
    EXPECT_TRUE(sent.done.wait_for(1));
    EXPECT_EQ((std::vector<uint8_t>{'a', 'b', 'c', 'd'}), read_exactly(c.peer, 4));
    async_socket_destroy(s);
    ::close(c.peer);
    for (size_t i = 0; i < 2; ++i)
    {
        EXPECT_EQ(0, failed_send[i].calls.load());
        EXPECT_EQ(0, failed_receive[i].calls.load());
    }
}

ASOCK_INSTANTIATE_CONTRACT(ThreadStartFailure);
ASOCK_INSTANTIATE_CONTRACT(ErrorsNotExceptions);

}  // namespace
}  // namespace asock_test
