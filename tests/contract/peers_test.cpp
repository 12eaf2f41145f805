// What a socket sees of its peer: an orderly close after data, a half close, a reset.
#include <optional>

#include "contract/peer_helpers.h"

// Linux-only tests of the suite: peers_linux_test.cpp. The fixture, Peers, is in
// peer_helpers.h.

namespace asock_test {
namespace {

// Tests_SRS_ASYNC_SOCKET_LINUX_02_014
TEST_P(Peers, pending_receive_delivers_all_data_sent_before_peer_close_then_is_abandoned)
{
    for (const bool tcp : {true, false})
    {
        SCOPED_TRACE(tcp ? "tcp" : "unix");
        Connection c = tcp ? tcp_connection() : local_connection();
        ScopedSocket peer(c.peer);
        ReceiveChain chain(1000);
        OwnedSocket s(open_socket(c.ours));
        ASSERT_TRUE(chain.start(s.get()));

        const auto sent = pattern(100000, 11);
        ASSERT_TRUE(write_all(peer.get(), sent.data(), sent.size()));
        peer.reset();

        ASSERT_TRUE(chain.wait_until_ended());
        EXPECT_FALSE(chain.issue_failed());
        EXPECT_FALSE(chain.bad_count_seen());
        EXPECT_EQ(sent, chain.data());
        const auto completions = chain.completions();
        ASSERT_GE(completions.size(), 2u);
        for (size_t i = 0; i + 1 < completions.size(); ++i)
            EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, completions[i].result) << "completion " << i;
        EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, completions.back().result);
        EXPECT_EQ(0u, completions.back().bytes);
    }
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_014
TEST_P(Peers, receives_issued_after_peer_close_deliver_the_remaining_data_then_are_abandoned)
{
    Connection c = tcp_connection();
    OwnedSocket s(open_socket(c.ours));
    const auto sent = pattern(3000, 12);
    ASSERT_TRUE(write_all(c.peer, sent.data(), sent.size()));
    close_socket(c.peer);

    std::vector<uint8_t> buffer(1024);
    std::vector<uint8_t> data;
    ASYNC_SOCKET_RECEIVE_RESULT last = ASYNC_SOCKET_RECEIVE_OK;
    uint32_t last_bytes = 0;
    for (int i = 0; i < 4000 && last == ASYNC_SOCKET_RECEIVE_OK; ++i)
    {
        ReceiveRecord record;
        receive_once(s.get(), buffer, data, record);
        ASSERT_EQ(1, record.calls.load());
        last = record.result;
        last_bytes = record.bytes;
        if (last == ASYNC_SOCKET_RECEIVE_OK)
        {
            ASSERT_GT(last_bytes, 0u);
        }
    }
    EXPECT_EQ(sent, data);
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, last);
    EXPECT_EQ(0u, last_bytes);

    // And so does every receive after that.
    for (int i = 0; i < 3; ++i)
    {
        ReceiveRecord record;
        receive_once(s.get(), buffer, data, record);
        EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, record.result.load());
        EXPECT_EQ(0u, record.bytes.load());
    }
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_014
TEST_P(Peers, several_pending_receives_deliver_the_data_in_order_then_are_abandoned)
{
    Connection c = tcp_connection();
    constexpr size_t kPending = 6;
    std::vector<std::vector<uint8_t>> buffers(kPending, std::vector<uint8_t>(64));
    ReceiveRecord records[kPending];
    OwnedSocket s(open_socket(c.ours));
    for (size_t i = 0; i < kPending; ++i)
    {
        ASYNC_SOCKET_BUFFER b{buffers[i].data(), static_cast<uint32_t>(buffers[i].size())};
        ASSERT_EQ(0, async_socket_receive_async(s.get(), &b, 1, ReceiveRecord::callback, &records[i]));
    }
    const auto sent = pattern(100, 13);
    ASSERT_TRUE(write_all(c.peer, sent.data(), sent.size()));
    close_socket(c.peer);

    std::vector<uint8_t> data;
    bool abandoned = false;
    for (size_t i = 0; i < kPending; ++i)
    {
        ASSERT_TRUE(records[i].done.wait_for(1)) << "receive " << i;
        EXPECT_EQ(1, records[i].calls.load());
        if (records[i].result == ASYNC_SOCKET_RECEIVE_OK)
        {
            EXPECT_FALSE(abandoned) << "receive " << i << " got data after an abandoned one";
            EXPECT_GT(records[i].bytes.load(), 0u);
            data.insert(data.end(), buffers[i].begin(), buffers[i].begin() + records[i].bytes.load());
        }
        else
        {
            EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, records[i].result.load()) << "receive " << i;
            EXPECT_EQ(0u, records[i].bytes.load());
            abandoned = true;
        }
    }
    // Should the data have come in more pieces than there were receives, more receives take
    // the rest; the stream still ends with an abandoned receive.
    std::vector<uint8_t> buffer(64);
    for (int i = 0; i < 200 && !abandoned; ++i)
    {
        ReceiveRecord record;
        receive_once(s.get(), buffer, data, record);
        abandoned = record.result == ASYNC_SOCKET_RECEIVE_ABANDONED;
        if (!abandoned)
        {
            ASSERT_EQ(ASYNC_SOCKET_RECEIVE_OK, record.result.load());
        }
    }
    EXPECT_TRUE(abandoned);
    EXPECT_EQ(sent, data);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_014
TEST_P(Peers, receive_is_abandoned_after_peer_shuts_down_its_write_side)
{
    Connection c = tcp_connection();
    ScopedSocket peer(c.peer);
    ReceiveChain chain(16);
    OwnedSocket s(open_socket(c.ours));
    ASSERT_TRUE(chain.start(s.get()));
    const auto sent = pattern(50, 14);
    ASSERT_TRUE(write_all(peer.get(), sent.data(), sent.size()));
    ASSERT_TRUE(shutdown_write(peer.get()));

    ASSERT_TRUE(chain.wait_until_ended());
    EXPECT_EQ(sent, chain.data());
    const auto completions = chain.completions();
    ASSERT_FALSE(completions.empty());
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, completions.back().result);
    EXPECT_EQ(0u, completions.back().bytes);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_014
TEST_P(Peers, sends_still_work_after_peer_shuts_down_its_write_side)
{
    Connection c = tcp_connection();
    ScopedSocket peer(c.peer);
    constexpr size_t kSends = 10;
    const auto sent = pattern(kSends * 20000, 15);
    SendLog log(kSends);
    OwnedSocket s(open_socket(c.ours));
    ASSERT_TRUE(shutdown_write(peer.get()));
    {
        std::vector<uint8_t> buffer(16);
        std::vector<uint8_t> data;
        ReceiveRecord record;
        receive_once(s.get(), buffer, data, record);
        ASSERT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, record.result.load());
    }

    // The peer still reads: our direction of the stream is intact.
    for (size_t i = 0; i < kSends; ++i)
    {
        ASYNC_SOCKET_BUFFER b{const_cast<uint8_t*>(sent.data()) + i * 20000, 20000};
        ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), &b, 1, SendLog::callback, log.context(i)));
    }
    EXPECT_EQ(sent, read_exactly(peer.get(), sent.size()));
    ASSERT_TRUE(log.wait_for(kSends));
    for (ASYNC_SOCKET_SEND_RESULT result : log.results())
        EXPECT_EQ(ASYNC_SOCKET_SEND_OK, result);

    // Our receives stay abandoned.
    std::vector<uint8_t> buffer(16);
    std::vector<uint8_t> data;
    ReceiveRecord record;
    receive_once(s.get(), buffer, data, record);
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, record.result.load());
    EXPECT_EQ(0u, record.bytes.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_015
TEST_P(Peers, pending_receive_is_abandoned_when_peer_resets)
{
    Connection c = tcp_connection();
    OwnedSocket s(open_socket(c.ours));
    ASSERT_NO_FATAL_FAILURE(reset_by_peer_and_wait(s.get(), c));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_015
TEST_P(Peers, receives_issued_after_peer_reset_are_abandoned)
{
    Connection c = tcp_connection();
    OwnedSocket s(open_socket(c.ours));
    // The peer resets before we ever receive (its unread data forces the RST).
    const char unread[] = "unread";
    ASSERT_EQ(ASYNC_SOCKET_SEND_OK, send_and_wait(s.get(), const_cast<char*>(unread), sizeof(unread)));
    reset_on_close(c.peer);
    close_socket(c.peer);

    std::vector<uint8_t> buffer(100);
    std::vector<uint8_t> data;
    for (int i = 0; i < 3; ++i)
    {
        SCOPED_TRACE(i);
        ReceiveRecord record;
        bool refused = false;
        receive_once(s.get(), buffer, data, record, kReceiveOnResetConnectionMayBeRefused ? &refused : nullptr);
        if (refused)
            continue;  // the seed's receive fails at once, no callback (kReceiveOnResetConnectionMayBeRefused)
        EXPECT_EQ(1, record.calls.load());
        EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, record.result.load());
        EXPECT_EQ(0u, record.bytes.load());
    }
    EXPECT_TRUE(data.empty());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_015
TEST_P(Peers, send_after_peer_reset_completes_with_a_non_ok_result)
{
    Connection c = tcp_connection();
    auto data = pattern(1000, 16);
    OwnedSocket s(open_socket(c.ours));
    ASSERT_NO_FATAL_FAILURE(reset_by_peer_and_wait(s.get(), c));
    const std::optional<ASYNC_SOCKET_SEND_RESULT> result = send_on_reset_connection(s.get(), data.data(), static_cast<uint32_t>(data.size()));
    if (!result)
        return;  // refused at once with ASYNC_SOCKET_SEND_SYNC_ABANDONED (kSendOnResetConnectionMayBeRefused)
    EXPECT_NE(ASYNC_SOCKET_SEND_OK, *result);
    // A reset connection is gone, not broken: the send is abandoned (42_002). (The seed: ERROR,
    // kSendResultOnResetConnection.)
    EXPECT_EQ(kSendResultOnResetConnection, *result);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_015
// Tests_SRS_ASYNC_SOCKET_LINUX_02_016
TEST_P(Peers, sends_stuck_when_peer_resets_complete_in_order_with_one_non_ok_result)
{
    Connection c = tcp_connection();
    // Small buffers on both sides: most of the sends cannot leave before the reset.
    set_send_buffer(as_native(c.ours), 4096);
    set_receive_buffer(c.peer, 4096);
    constexpr size_t kSends = 64;
    constexpr size_t kSize = 64 * 1024;
    const auto data = pattern(kSends * kSize, 17);
    SendLog log(kSends);
    OwnedSocket s(open_socket(c.ours));
    for (size_t i = 0; i < kSends; ++i)
    {
        ASYNC_SOCKET_BUFFER b{const_cast<uint8_t*>(data.data()) + i * kSize, static_cast<uint32_t>(kSize)};
        ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), &b, 1, SendLog::callback, log.context(i)));
    }
    reset_on_close(c.peer);
    close_socket(c.peer);

    ASSERT_TRUE(log.wait_for(kSends));
    const auto order = log.order();
    const auto results = log.results_by_send();
    // (The seed's callbacks of one socket may run at once, in any order.)
    if (kPlatform.callbacks_serialized_per_socket)
    {
        for (size_t i = 0; i < kSends; ++i)
            EXPECT_EQ(i, order[i]);
    }
    // Some sends may have gone out before the reset; from the first failure on, every send
    // has that failure.
    size_t first_failure = 0;
    while (first_failure < kSends && results[first_failure] == ASYNC_SOCKET_SEND_OK)
        ++first_failure;
    ASSERT_LT(first_failure, kSends) << "4 MiB cannot have reached a peer that never read";
    for (size_t i = first_failure; i < kSends; ++i)
        EXPECT_EQ(results[first_failure], results[i]) << "send " << i;
    EXPECT_EQ(kSendResultOnResetConnection, results[first_failure]);
}

ASOCK_INSTANTIATE_CONTRACT(Peers);

}  // namespace
}  // namespace asock_test
