// A loop's ring is created disabled and enabled by the loop's own thread when it starts
// (IORING_SETUP_R_DISABLED, so that SINGLE_ISSUER binds the ring to that thread). A signal
// during the enable is retried; any other failure means the loop cannot submit anything, and
// Loop::start, which waits for its thread to report the backend ready, fails: the engine is
// not created and nothing is left behind. That holds for the default backend too: it falls
// back to epoll only when a ring cannot be set up (backend_fallback_test.cpp), which happens
// while the loops are built, before any thread starts; the enable comes later, on the thread.
// Found by the fault walk (the engine used to be created, and its loop never did any I/O).
#include <cstdlib>
#include <optional>
#include <string>

#include "contract/contract_fixture.h"
#include "support/fault_injection.h"

namespace asock_test {
namespace {

constexpr unsigned kEnable = ASOCK_FAULT_POINT_URING_ENABLE_RINGS;

class RingEnableFailure : public ::testing::Test
{
protected:
    void SetUp() override
    {
        if (!io_uring_usable())
            GTEST_SKIP() << "io_uring cannot be used on this machine";
        if (const char* value = std::getenv("ASOCK_BACKEND"))
            saved_ = value;
        ::unsetenv("ASOCK_BACKEND");
        // Whether this kernel's rings are created disabled at all: they are where it has
        // SINGLE_ISSUER and DEFER_TASKRUN (Linux 6.1), else there is nothing to enable.
        asock_fault_arm(ASOCK_FAULT_BIT(kEnable), UINT64_MAX);
        EXECUTION_ENGINE_HANDLE counted = make_engine(Backend::io_uring, 1);
        const uint64_t enables = asock_fault_hits(kEnable);
        asock_fault_disarm();
        ASSERT_NE(nullptr, counted);
        execution_engine_dec_ref(counted);
        if (enables == 0)
            GTEST_SKIP() << "this kernel's rings are not created disabled (it lacks SINGLE_ISSUER or DEFER_TASKRUN): nothing to enable";
        ASSERT_EQ(1u, enables) << "one enable per loop";
        ASSERT_TRUE(wait_for_thread_count(threads_));
        fds_ = open_fd_count();
        measured_ = true;
    }

    void TearDown() override
    {
        asock_fault_disarm();
        asock_fault_set_errno(kEnable, 0);
        if (saved_)
            ::setenv("ASOCK_BACKEND", saved_->c_str(), 1);
        else
            ::unsetenv("ASOCK_BACKEND");
        if (measured_)
        {
            EXPECT_TRUE(wait_for_thread_count(threads_, std::chrono::seconds(1))) << thread_count() << " threads, " << threads_ << " before";
            EXPECT_EQ(fds_, open_fd_count()) << "descriptors left behind";
        }
    }

    // Creates an engine of `loops` loops (backend DEFAULT: execution_engine_create) whose
    // `failing`-th ring enable (0: the first) fails with `error`. Records how many enables
    // were made.
    EXECUTION_ENGINE_HANDLE create_with_failing_enable(ASOCK_LINUX_BACKEND backend, uint32_t loops, uint64_t failing, int error)
    {
        const EXECUTION_ENGINE_PARAMETERS parameters{loops, 0};
        asock_fault_set_errno(kEnable, error);
        asock_fault_arm(ASOCK_FAULT_BIT(kEnable), failing);
        EXECUTION_ENGINE_HANDLE engine = backend == ASOCK_LINUX_BACKEND_DEFAULT ? execution_engine_create(&parameters) : execution_engine_linux_create(&parameters, backend);
        enables_ = asock_fault_hits(kEnable);
        fired_ = asock_fault_fired();
        asock_fault_disarm();
        asock_fault_set_errno(kEnable, 0);
        return engine;
    }

    static void expect_moves_bytes(EXECUTION_ENGINE_HANDLE engine)
    {
        Connection c = local_connection();
        ASYNC_SOCKET_HANDLE socket = async_socket_create(engine, c.ours);
        ASSERT_NE(nullptr, socket);
        OpenRecord open;
        ASSERT_EQ(0, async_socket_open_async(socket, OpenRecord::callback, &open));
        EXPECT_TRUE(open.done.wait_for(1));
        char byte = 0;
        ASYNC_SOCKET_BUFFER buffer{&byte, 1};
        ReceiveRecord received;
        ASSERT_EQ(0, async_socket_receive_async(socket, &buffer, 1, ReceiveRecord::callback, &received));
        ASSERT_TRUE(write_all(c.peer, "x", 1));
        EXPECT_TRUE(received.done.wait_for(1, std::chrono::seconds(2))) << "the engine was created, but its loop does no I/O";
        EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, received.result.load());
        EXPECT_EQ('x', byte);
        async_socket_destroy(socket);
        ::close(c.peer);
    }

    uint64_t enables_ = 0;
    uint64_t fired_ = 0;

private:
    std::optional<std::string> saved_;
    size_t threads_ = thread_count();
    size_t fds_ = 0;
    bool measured_ = false;  // SetUp got as far as the baselines
};

// Tests_SRS_ASYNC_SOCKET_LINUX_03_008
TEST_F(RingEnableFailure, an_io_uring_engine_whose_ring_cannot_be_enabled_is_not_created)
{
    EXPECT_EQ(nullptr, create_with_failing_enable(ASOCK_LINUX_BACKEND_IO_URING, 1, 0, ENOMEM));
    EXPECT_EQ(1u, fired_);
    EXPECT_EQ(1u, enables_) << "ENOMEM is not retried";
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_008
TEST_F(RingEnableFailure, an_engine_whose_last_loop_cannot_enable_its_ring_is_not_created_and_its_other_loops_end)
{
    EXPECT_EQ(nullptr, create_with_failing_enable(ASOCK_LINUX_BACKEND_IO_URING, 3, 2, ENOMEM));
    EXPECT_EQ(1u, fired_);
    EXPECT_EQ(3u, enables_);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_008
TEST_F(RingEnableFailure, no_loop_starts_after_the_one_whose_ring_cannot_be_enabled)
{
    EXPECT_EQ(nullptr, create_with_failing_enable(ASOCK_LINUX_BACKEND_IO_URING, 3, 0, ENOMEM));
    EXPECT_EQ(1u, fired_);
    EXPECT_EQ(1u, enables_) << "loops started after the one that failed";
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_006
TEST_F(RingEnableFailure, the_default_backend_does_not_fall_back_to_epoll_when_a_ring_cannot_be_enabled)
{
    EXPECT_EQ(nullptr, create_with_failing_enable(ASOCK_LINUX_BACKEND_DEFAULT, 2, 1, ENOMEM));
    EXPECT_EQ(1u, fired_);
    EXPECT_EQ(2u, enables_);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_008
TEST_F(RingEnableFailure, a_signal_during_the_enable_is_retried_and_the_engine_works)
{
    EXECUTION_ENGINE_HANDLE engine = create_with_failing_enable(ASOCK_LINUX_BACKEND_IO_URING, 1, 0, EINTR);
    ASSERT_NE(nullptr, engine);
    EXPECT_EQ(1u, fired_);
    EXPECT_EQ(2u, enables_) << "the enable interrupted by a signal was not asked again";
    EXPECT_EQ(ASOCK_LINUX_BACKEND_IO_URING, execution_engine_linux_get_backend(engine));
    expect_moves_bytes(engine);
    execution_engine_dec_ref(engine);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_008
TEST_F(RingEnableFailure, engines_are_created_and_work_again_once_rings_can_be_enabled)
{
    ASSERT_EQ(nullptr, create_with_failing_enable(ASOCK_LINUX_BACKEND_IO_URING, 2, 0, ENOMEM));
    EXECUTION_ENGINE_HANDLE engine = make_engine(Backend::io_uring, 2);
    ASSERT_NE(nullptr, engine);
    expect_moves_bytes(engine);
    execution_engine_dec_ref(engine);
}

}  // namespace
}  // namespace asock_test
