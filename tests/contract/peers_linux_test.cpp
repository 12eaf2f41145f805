// What a socket sees of its peer, Linux only: the stream after a failed send (02_016). The
// seed has no such rule (kPlatform.failed_send_fails_later_sends), and on Windows a send from
// memory the kernel cannot read fails at once (WSAEFAULT: ASYNC_SOCKET_SEND_SYNC_ERROR)
// instead of completing with an error. The fixture, Peers, is in peer_helpers.h; the portable
// tests of the suite are in peers_test.cpp.
#include <sys/mman.h>

#include "contract/peer_helpers.h"

namespace asock_test {
namespace {

// Tests_SRS_ASYNC_SOCKET_LINUX_02_016
TEST_P(Peers, sends_issued_after_a_failed_send_complete_with_the_same_result)
{
    Connection c = tcp_connection();
    auto data = pattern(1000, 18);
    constexpr size_t kSends = 20;
    SendLog log(kSends);
    OwnedSocket s(open_socket(c.ours));
    ASSERT_NO_FATAL_FAILURE(reset_by_peer_and_wait(s.get(), c));
    const ASYNC_SOCKET_SEND_RESULT failure = send_and_wait(s.get(), data.data(), static_cast<uint32_t>(data.size()));
    ASSERT_NE(ASYNC_SOCKET_SEND_OK, failure);

    // One at a time...
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(failure, send_and_wait(s.get(), data.data(), static_cast<uint32_t>(data.size()))) << "send " << i;
    // ... and many at once.
    for (size_t i = 0; i < kSends; ++i)
    {
        ASYNC_SOCKET_BUFFER b{data.data(), static_cast<uint32_t>(data.size())};
        ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), &b, 1, SendLog::callback, log.context(i)));
    }
    ASSERT_TRUE(log.wait_for(kSends));
    for (ASYNC_SOCKET_SEND_RESULT result : log.results())
        EXPECT_EQ(failure, result);
}

// Memory the kernel cannot read: a send from it fails with EFAULT while the connection stays
// healthy, which shows whether later sends really stop at the gap.
class Unreadable
{
public:
    Unreadable() : page_(::mmap(nullptr, kSize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) {}
    ~Unreadable()
    {
        if (page_ != MAP_FAILED)
            ::munmap(page_, kSize);
    }
    bool ok() const { return page_ != MAP_FAILED; }
    void* data() const { return page_; }
    static constexpr size_t kSize = 4096;

private:
    void* page_;
};

// Tests_SRS_ASYNC_SOCKET_LINUX_02_016
// Tests_SRS_ASYNC_SOCKET_LINUX_01_106
TEST_P(Peers, no_byte_of_a_send_issued_after_a_failed_send_reaches_the_peer)
{
    Unreadable bad;
    ASSERT_TRUE(bad.ok());
    Connection c = tcp_connection();
    ScopedSocket peer(c.peer);
    auto before = pattern(1000, 19);
    auto after = pattern(1000, 20);
    constexpr size_t kSends = 5;
    SendLog log(kSends);
    OwnedSocket s(open_socket(c.ours));

    ASSERT_EQ(ASYNC_SOCKET_SEND_OK, send_and_wait(s.get(), before.data(), static_cast<uint32_t>(before.size())));
    EXPECT_EQ(before, read_exactly(peer.get(), before.size()));

    const ASYNC_SOCKET_SEND_RESULT failure = send_and_wait(s.get(), bad.data(), 100);
    EXPECT_EQ(ASYNC_SOCKET_SEND_ERROR, failure);

    for (size_t i = 0; i < kSends; ++i)
    {
        ASYNC_SOCKET_BUFFER b{after.data(), static_cast<uint32_t>(after.size())};
        ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), &b, 1, SendLog::callback, log.context(i)));
    }
    ASSERT_TRUE(log.wait_for(kSends));
    for (ASYNC_SOCKET_SEND_RESULT result : log.results())
        EXPECT_EQ(failure, result);

    // Closing ends the stream: the peer reads the end of stream and not a single later byte.
    async_socket_close(s.get());
    EXPECT_TRUE(read_exactly(peer.get(), 1, 5s).empty());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_016
TEST_P(Peers, sends_queued_behind_a_failing_send_fail_with_it_and_never_reach_the_peer)
{
    Unreadable bad;
    ASSERT_TRUE(bad.ok());
    Connection c = tcp_connection();
    ScopedSocket peer(c.peer);
    // Issued together, so they may well be written in one batch. The kernel may then refuse
    // the whole batch (EFAULT) or take the first send and refuse the rest: either way, from
    // the first failed send on every send fails alike and no byte after the gap is sent.
    auto good = pattern(3000, 21);
    ASYNC_SOCKET_BUFFER payloads[4] = {
        {good.data(), 1000},
        {bad.data(), 100},
        {good.data() + 1000, 1000},
        {good.data() + 2000, 1000},
    };
    SendLog log(4);
    OwnedSocket s(open_socket(c.ours));
    for (size_t i = 0; i < 4; ++i)
        ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), &payloads[i], 1, SendLog::callback, log.context(i)));
    ASSERT_TRUE(log.wait_for(4));
    const auto results = log.results();
    EXPECT_EQ((std::vector<size_t>{0, 1, 2, 3}), log.order());
    size_t first_failure = 0;
    while (first_failure < 4 && results[first_failure] == ASYNC_SOCKET_SEND_OK)
        ++first_failure;
    // The send from unreadable memory cannot succeed.
    ASSERT_LE(first_failure, 1u);
    for (size_t i = first_failure; i < 4; ++i)
        EXPECT_EQ(results[first_failure], results[i]) << "send " << i;
    EXPECT_NE(ASYNC_SOCKET_SEND_OK, results[first_failure]);

    async_socket_close(s.get());
    // The peer gets the sends that succeeded, then at most part of the send that failed (when
    // that is the first one), and nothing after.
    const auto received = read_exactly(peer.get(), 3000, 5s);
    const size_t ok_bytes = first_failure == 1 ? 1000 : 0;
    ASSERT_GE(received.size(), ok_bytes);
    ASSERT_LE(received.size(), 1000u);
    EXPECT_EQ(std::vector<uint8_t>(good.begin(), good.begin() + static_cast<ptrdiff_t>(received.size())), received);
}

}  // namespace
}  // namespace asock_test
