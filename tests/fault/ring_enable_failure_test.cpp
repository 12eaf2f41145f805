// A loop's ring is created disabled and enabled by the loop's own thread when it starts
// (IORING_SETUP_R_DISABLED, so that SINGLE_ISSUER binds the ring to that thread). If that
// fails, the loop cannot submit anything: the engine must then not be created (a signal
// during the enable is retried). Found by the fault walk; Loop::start now waits for the
// thread to report its backend ready.
#include "contract/contract_fixture.h"
#include "support/fault_injection.h"

namespace asock_test {
namespace {

TEST(RingEnableFailure, an_engine_whose_ring_cannot_be_enabled_is_not_created_or_works)
{
    if (execution_engine_linux_io_uring_available() == 0)
        GTEST_SKIP() << "io_uring cannot be used on this machine";
    asock_fault_set_errno(ASOCK_FAULT_POINT_URING_ENABLE_RINGS, ENOMEM);
    asock_fault_arm(ASOCK_FAULT_BIT(ASOCK_FAULT_POINT_URING_ENABLE_RINGS), 0);
    EXECUTION_ENGINE_HANDLE engine = make_engine(Backend::io_uring);
    // The loop's thread enables its ring as it starts.
    const auto deadline = std::chrono::steady_clock::now() + kTimeout;
    while (engine != nullptr && asock_fault_fired() == 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(1ms);
    asock_fault_disarm();
    asock_fault_set_errno(ASOCK_FAULT_POINT_URING_ENABLE_RINGS, 0);
    if (engine == nullptr)
        return;  // a clear failure: fine
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
    EXPECT_TRUE(received.done.wait_for(1, std::chrono::seconds(2))) << "the engine was created, but its loop cannot do any I/O";
    async_socket_destroy(socket);
    ::close(c.peer);
    execution_engine_dec_ref(engine);
}

}  // namespace
}  // namespace asock_test
