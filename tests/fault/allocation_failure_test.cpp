// Allocation failures in create, send and receive: a clear failure, no callback, no change.
#include "contract/contract_fixture.h"
#include "support/fault_injection.h"

namespace asock_test {
namespace {

class AllocationFailure : public Contract
{
protected:
    void TearDown() override
    {
        asock_fault_disarm();
        Contract::TearDown();
    }
};

// Tests_SRS_ASYNC_SOCKET_LINUX_01_003
TEST_P(AllocationFailure, create_fails_cleanly_when_memory_runs_out)
{
    Connection c = local_connection();
    asock_fault_arm(ASOCK_FAULT_SOCKET_ALLOC, 0);
    EXPECT_EQ(nullptr, async_socket_create(engine, c.ours));
    EXPECT_EQ(1u, asock_fault_fired());
    asock_fault_disarm();
    // The handle was not taken: it is still open and usable by the caller.
    EXPECT_EQ(1, ::write(c.ours, "x", 1));
    ::close(c.ours);
    ::close(c.peer);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_029
TEST_P(AllocationFailure, send_fails_with_sync_error_and_never_calls_back_when_memory_runs_out)
{
    Connection c = local_connection();
    ASYNC_SOCKET_HANDLE s = open_socket(c.ours);
    char data[] = "abc";
    ASYNC_SOCKET_BUFFER buffer{data, 3};
    SendRecord record;
    asock_fault_arm(ASOCK_FAULT_OP_ALLOC, 0);
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_ERROR, async_socket_send_async(s, &buffer, 1, SendRecord::callback, &record));
    asock_fault_disarm();
    // The socket still works.
    SendRecord second;
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s, &buffer, 1, SendRecord::callback, &second));
    ASSERT_TRUE(second.done.wait_for(1));
    EXPECT_EQ((std::vector<uint8_t>{'a', 'b', 'c'}), read_exactly(c.peer, 3));
    async_socket_destroy(s);
    EXPECT_EQ(0, record.calls.load());
    ::close(c.peer);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_084
TEST_P(AllocationFailure, receive_fails_and_never_calls_back_when_memory_runs_out)
{
    Connection c = local_connection();
    ASYNC_SOCKET_HANDLE s = open_socket(c.ours);
    char data[8];
    ASYNC_SOCKET_BUFFER buffer{data, sizeof(data)};
    ReceiveRecord record;
    asock_fault_arm(ASOCK_FAULT_OP_ALLOC, 0);
    EXPECT_NE(0, async_socket_receive_async(s, &buffer, 1, ReceiveRecord::callback, &record));
    asock_fault_disarm();
    async_socket_destroy(s);
    EXPECT_EQ(0, record.calls.load());
    ::close(c.peer);
}

ASOCK_INSTANTIATE_CONTRACT(AllocationFailure);

}  // namespace
}  // namespace asock_test
