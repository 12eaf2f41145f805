#include "contract/contract_fixture.h"

namespace asock_test {
namespace {

class Smoke : public Contract
{
};

TEST_P(Smoke, send_then_receive_round_trip)
{
    Connection c = tcp_connection();
    ASYNC_SOCKET_HANDLE s = open_socket(c.ours);
    auto data = pattern(1000);
    ASYNC_SOCKET_BUFFER buffer{data.data(), static_cast<uint32_t>(data.size())};
    SendRecord sent;
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s, &buffer, 1, SendRecord::callback, &sent));
    ASSERT_TRUE(sent.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, sent.result.load());
    EXPECT_EQ(data, read_exactly(c.peer, data.size()));

    std::vector<uint8_t> in(2000);
    ASYNC_SOCKET_BUFFER rb{in.data(), static_cast<uint32_t>(in.size())};
    ReceiveRecord received;
    ASSERT_EQ(0, async_socket_receive_async(s, &rb, 1, ReceiveRecord::callback, &received));
    ASSERT_TRUE(write_all(c.peer, data.data(), 500));
    ASSERT_TRUE(received.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, received.result.load());
    EXPECT_EQ(500u, received.bytes.load());

    ReceiveRecord pending;
    ASSERT_EQ(0, async_socket_receive_async(s, &rb, 1, ReceiveRecord::callback, &pending));
    async_socket_close(s);
    EXPECT_EQ(1, pending.calls.load());
    EXPECT_EQ(kPlatform.receive_result_after_close, pending.result.load());
    async_socket_destroy(s);
    close_socket(c.peer);
}

ASOCK_INSTANTIATE_CONTRACT(Smoke);

}  // namespace
}  // namespace asock_test
