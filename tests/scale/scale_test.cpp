// Size and number: large scatter/gather transfers, many sends in flight, and a thousand
// connections on one engine.
#include <algorithm>
#include <memory>
#include <string>

#include "contract/peer_helpers.h"

namespace asock_test {
namespace {

constexpr size_t kLarge = 32u * 1024 * 1024;
constexpr size_t kPieces = 100;

class Scale : public Contract
{
};

// The bytes of data cut into separately allocated pieces of the given sizes.
std::vector<std::vector<uint8_t>> cut(const std::vector<uint8_t>& data, const std::vector<uint32_t>& sizes)
{
    std::vector<std::vector<uint8_t>> pieces;
    size_t offset = 0;
    for (uint32_t size : sizes)
    {
        pieces.emplace_back(data.begin() + static_cast<ptrdiff_t>(offset), data.begin() + static_cast<ptrdiff_t>(offset + size));
        offset += size;
    }
    return pieces;
}

std::vector<ASYNC_SOCKET_BUFFER> describe(std::vector<std::vector<uint8_t>>& pieces)
{
    std::vector<ASYNC_SOCKET_BUFFER> buffers;
    for (auto& piece : pieces)
        buffers.push_back(ASYNC_SOCKET_BUFFER{piece.data(), static_cast<uint32_t>(piece.size())});
    return buffers;
}

// A peer that sends back every byte it reads, until it has echoed total bytes, the
// connection ends or the deadline passes.
void echo(NativeSocket fd, size_t total, std::chrono::milliseconds timeout = kTimeout)
{
    std::vector<uint8_t> buffer(256 * 1024);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    size_t echoed = 0;
    while (echoed < total && std::chrono::steady_clock::now() < deadline)
    {
        const long r = read_some(fd, buffer.data(), std::min(buffer.size(), total - echoed), 100ms);
        if (r == 0)
            return;
        if (r < 0)
            continue;  // nothing came within 100 ms (or the connection failed: the deadline ends it)
        if (!write_all(fd, buffer.data(), static_cast<size_t>(r)))
            return;
        echoed += static_cast<size_t>(r);
    }
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_017
TEST_P(Scale, receive_completes_with_the_bytes_available_filling_its_buffers_in_order)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    // 1 MiB of room in three pieces; only 100 bytes come, in one write.
    std::vector<uint8_t> first(30, 0xEE), second(30, 0xEE), third(1024 * 1024 - 60, 0xEE);
    ASYNC_SOCKET_BUFFER buffers[3] = {
        {first.data(), static_cast<uint32_t>(first.size())},
        {second.data(), static_cast<uint32_t>(second.size())},
        {third.data(), static_cast<uint32_t>(third.size())},
    };
    ReceiveRecord received;
    OwnedSocket s(open_socket(c.ours));
    ASSERT_EQ(0, async_socket_receive_async(s.get(), buffers, 3, ReceiveRecord::callback, &received));
    const auto sent = pattern(100, 30);
    ASSERT_TRUE(write_all(peer.get(), sent.data(), sent.size()));
    // It does not wait for the buffers to fill.
    ASSERT_TRUE(received.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, received.result.load());
    ASSERT_EQ(100u, received.bytes.load());
    EXPECT_EQ(std::vector<uint8_t>(sent.begin(), sent.begin() + 30), first);
    EXPECT_EQ(std::vector<uint8_t>(sent.begin() + 30, sent.begin() + 60), second);
    EXPECT_EQ(std::vector<uint8_t>(sent.begin() + 60, sent.end()), std::vector<uint8_t>(third.begin(), third.begin() + 40));
    EXPECT_EQ(0xEE, third[40]) << "bytes written past the count reported";
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_017
TEST_P(Scale, gather_send_writes_its_buffers_in_order)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    char a[] = "first-", b[] = "s", c3[] = "econd-", d[] = "third";
    ASYNC_SOCKET_BUFFER buffers[4] = {{a, 6}, {b, 1}, {c3, 6}, {d, 5}};
    SendRecord sent;
    OwnedSocket s(open_socket(c.ours));
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), buffers, 4, SendRecord::callback, &sent));
    const std::string expected = "first-second-third";
    const auto got = read_exactly(peer.get(), expected.size());
    EXPECT_EQ(expected, std::string(got.begin(), got.end()));
    ASSERT_TRUE(sent.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, sent.result.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_017
TEST_P(Scale, large_gather_send_arrives_byte_for_byte)
{
    Connection c = tcp_connection();
    ScopedSocket peer(c.peer);
    const auto data = pattern(kLarge, 31);
    auto pieces = cut(data, varied_sizes(kLarge, kPieces, 31));
    const auto buffers = describe(pieces);
    SendRecord sent;
    std::vector<uint8_t> received;
    std::jthread reader([&] { received = read_exactly(peer.get(), kLarge); });
    {
        OwnedSocket s(open_socket(c.ours));
        EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), buffers.data(), static_cast<uint32_t>(buffers.size()), SendRecord::callback, &sent));
        reader.join();
        EXPECT_TRUE(sent.done.wait_for(1));
    }
    EXPECT_EQ(1, sent.calls.load());
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, sent.result.load());
    ASSERT_EQ(kLarge, received.size());
    EXPECT_TRUE(data == received) << "the bytes differ";
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_017
TEST_P(Scale, large_transfer_lands_in_scattered_receive_buffers_in_order)
{
    Connection c = tcp_connection();
    ScopedSocket peer(c.peer);
    const auto data = pattern(kLarge, 32);
    // About 1 MiB per receive, over 100 pieces of very different sizes.
    ReceiveChain chain(varied_sizes(1024 * 1024 + 17, kPieces, 32));
    OwnedSocket s(open_socket(c.ours));
    ASSERT_TRUE(chain.start(s.get()));
    std::jthread writer([&] {
        write_all(peer.get(), data.data(), data.size());
        shutdown_write(peer.get());
    });
    const bool ended = chain.wait_until_ended();
    if (!ended)
        s.reset();  // a writer stuck on a full connection gets an error and ends
    writer.join();
    ASSERT_TRUE(ended);
    EXPECT_FALSE(chain.issue_failed());
    EXPECT_FALSE(chain.bad_count_seen()) << "a receive reported 0 or more bytes than its buffers hold";
    const auto received = chain.data();
    ASSERT_EQ(kLarge, received.size());
    EXPECT_TRUE(data == received) << "the bytes differ";
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, chain.completions().back().result);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_017
TEST_P(Scale, large_transfer_each_way_through_an_echoing_peer_arrives_intact)
{
    Connection c = tcp_connection();
    ScopedSocket peer(c.peer);
    const auto data = pattern(kLarge, 33);
    auto pieces = cut(data, varied_sizes(kLarge, kPieces, 33));
    const auto buffers = describe(pieces);
    ReceiveChain chain(varied_sizes(256 * 1024 + 3, kPieces, 34));
    SendRecord sent;
    std::jthread peer_thread([&] { echo(peer.get(), kLarge); });
    OwnedSocket s(open_socket(c.ours));
    ASSERT_TRUE(chain.start(s.get()));
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), buffers.data(), static_cast<uint32_t>(buffers.size()), SendRecord::callback, &sent));
    const bool all_back = chain.wait_for_bytes(kLarge);
    if (!all_back)
        s.reset();  // a peer stuck on a full connection gets an error and ends
    peer_thread.join();
    EXPECT_TRUE(all_back);
    EXPECT_TRUE(sent.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, sent.result.load());
    EXPECT_FALSE(chain.bad_count_seen());
    // Nothing more arrives after the echo; the chain ends when the socket closes.
    s.reset();
    ASSERT_TRUE(chain.wait_until_ended());
    const auto received = chain.data();
    ASSERT_EQ(kLarge, received.size());
    EXPECT_TRUE(data == received) << "the bytes differ";
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_017
TEST_P(Scale, operations_with_more_buffers_than_iov_max_move_every_byte)
{
    // More buffers than one sendmsg/recvmsg call takes (IOV_MAX, 1024 on Linux). (Under Wine
    // at most 1024: see max_buffers_per_operation.)
    const size_t kBuffers = std::min<size_t>(3000, max_buffers_per_operation());
    constexpr size_t kTotal = 3 * 1024 * 1024;
    Connection c = tcp_connection();
    ScopedSocket peer(c.peer);
    const auto data = pattern(kTotal, 38);
    auto pieces = cut(data, varied_sizes(kTotal, kBuffers, 38));
    const auto buffers = describe(pieces);
    ReceiveChain chain(varied_sizes(2 * 1024 * 1024, kBuffers, 39));
    SendRecord sent;
    std::jthread peer_thread([&] { echo(peer.get(), kTotal); });
    OwnedSocket s(open_socket(c.ours));
    ASSERT_TRUE(chain.start(s.get()));
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), buffers.data(), static_cast<uint32_t>(buffers.size()), SendRecord::callback, &sent));
    const bool all_back = chain.wait_for_bytes(kTotal);
    if (!all_back)
        s.reset();
    peer_thread.join();
    EXPECT_TRUE(all_back);
    EXPECT_TRUE(sent.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, sent.result.load());
    EXPECT_FALSE(chain.bad_count_seen());
    s.reset();
    ASSERT_TRUE(chain.wait_until_ended());
    const auto received = chain.data();
    ASSERT_EQ(kTotal, received.size());
    EXPECT_TRUE(data == received) << "the bytes differ";
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_017
TEST_P(Scale, single_buffer_of_128_mib_arrives_intact)
{
    constexpr size_t kHuge = 128u * 1024 * 1024;
    Connection c = tcp_connection();
    ScopedSocket peer(c.peer);
    auto data = pattern(kHuge, 35);
    SendRecord sent;
    std::vector<uint8_t> received;
    std::jthread reader([&] { received = read_exactly(peer.get(), kHuge); });
    {
        OwnedSocket s(open_socket(c.ours));
        ASYNC_SOCKET_BUFFER buffer{data.data(), static_cast<uint32_t>(data.size())};
        EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), &buffer, 1, SendRecord::callback, &sent));
        reader.join();
        EXPECT_TRUE(sent.done.wait_for(1));
    }
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, sent.result.load());
    ASSERT_EQ(kHuge, received.size());
    EXPECT_TRUE(data == received) << "the bytes differ";
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_017
TEST_P(Scale, many_sends_in_flight_arrive_whole_and_in_order)
{
    constexpr size_t kSends = 5000;
    Connection c = tcp_connection();
    ScopedSocket peer(c.peer);
    // Sends of 1 to 7 buffers (beyond the few kept inside an operation), 1 byte to 6 KiB.
    const auto noise = pattern(kSends, 36);
    std::vector<std::vector<uint32_t>> shapes;
    size_t total = 0;
    for (size_t i = 0; i < kSends; ++i)
    {
        const size_t count = 1 + noise[i] % 7;
        const size_t bytes = count + (noise[i] * 24u + i) % 6144;
        shapes.push_back(varied_sizes(bytes, count, static_cast<uint32_t>(i)));
        total += bytes;
    }
    const auto data = pattern(total, 37);
    std::vector<ASYNC_SOCKET_BUFFER> all_buffers;
    std::vector<size_t> first_buffer;
    size_t offset = 0;
    for (const auto& shape : shapes)
    {
        first_buffer.push_back(all_buffers.size());
        for (uint32_t size : shape)
        {
            all_buffers.push_back(ASYNC_SOCKET_BUFFER{const_cast<uint8_t*>(data.data()) + offset, size});
            offset += size;
        }
    }
    SendLog log(kSends);
    std::vector<uint8_t> received;
    std::jthread reader([&] { received = read_exactly(peer.get(), total); });
    {
        OwnedSocket s(open_socket(c.ours));
        for (size_t i = 0; i < kSends; ++i)
        {
            // Each send gets its own copy of the descriptors, overwritten after the call.
            std::vector<ASYNC_SOCKET_BUFFER> scratch(all_buffers.begin() + static_cast<ptrdiff_t>(first_buffer[i]),
                                                     all_buffers.begin() + static_cast<ptrdiff_t>(first_buffer[i] + shapes[i].size()));
            EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), scratch.data(), static_cast<uint32_t>(scratch.size()), SendLog::callback, log.context(i)));
            std::fill(scratch.begin(), scratch.end(), ASYNC_SOCKET_BUFFER{nullptr, 0});
        }
        reader.join();
        EXPECT_TRUE(log.wait_for(kSends));
    }
    ASSERT_EQ(total, received.size());
    EXPECT_TRUE(data == received) << "the bytes differ";
    const auto order = log.order();
    const auto results = log.results();
    ASSERT_EQ(kSends, order.size());
    for (size_t i = 0; i < kSends; ++i)
    {
        // (The seed's callbacks of one socket may run at once, in any order; the bytes keep
        // the order of the sends.)
        if (kPlatform.callbacks_serialized_per_socket)
        {
            EXPECT_EQ(i, order[i]);
        }
        EXPECT_EQ(ASYNC_SOCKET_SEND_OK, results[i]);
    }
}

// --- Many connections ------------------------------------------------------------------------

constexpr size_t kPairs = 1000;
constexpr size_t kMessage = 32;

// One of many connections: its socket, a pending receive, and the echo the receive's callback
// sends back.
struct Pair
{
    Connection c{as_handle(kNoSocket), kNoSocket};
    ASYNC_SOCKET_HANDLE socket = nullptr;
    uint8_t in[64] = {};
    std::atomic<int> receives{0};
    std::atomic<ASYNC_SOCKET_RECEIVE_RESULT> receive_result{ASYNC_SOCKET_RECEIVE_ERROR};
    std::atomic<uint32_t> bytes{0};
    std::atomic<int> sends{0};
    std::atomic<ASYNC_SOCKET_SEND_RESULT> send_result{ASYNC_SOCKET_SEND_ERROR};
    std::atomic<bool> echo_refused{false};
    // Atomic: a test turns it off while the receive is pending, and the receive's callback
    // reads it on the loop thread; the bytes that trigger the callback go through the kernel,
    // an order ThreadSanitizer cannot see.
    std::atomic<bool> echo{true};
    Counter* opened = nullptr;
    Counter* received = nullptr;
    Counter* sent = nullptr;

    static void on_open(void* context, ASYNC_SOCKET_OPEN_RESULT result)
    {
        auto* self = static_cast<Pair*>(context);
        if (result == ASYNC_SOCKET_OPEN_OK)
            self->opened->add();
    }

    static void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t n)
    {
        auto* self = static_cast<Pair*>(context);
        self->receive_result = result;
        self->bytes = n;
        self->receives++;
        if (self->echo && result == ASYNC_SOCKET_RECEIVE_OK)
        {
            ASYNC_SOCKET_BUFFER b{self->in, n};
            if (async_socket_send_async(self->socket, &b, 1, &Pair::on_send, self) != ASYNC_SOCKET_SEND_SYNC_OK)
                self->echo_refused = true;
        }
        self->received->add();
    }

    static void on_send(void* context, ASYNC_SOCKET_SEND_RESULT result)
    {
        auto* self = static_cast<Pair*>(context);
        self->send_result = result;
        self->sends++;
        self->sent->add();
    }
};

// kPairs connections on one engine of two loops, every socket open with a receive pending.
class ManyPairs : public Scale
{
protected:
    void SetUp() override
    {
        Scale::SetUp();
        if (IsSkipped() || HasFatalFailure())
            return;
        const uint64_t needed = 2 * kPairs + 64;
        if (sockets_left() < needed)
            GTEST_SKIP() << "the descriptor limit leaves room for " << sockets_left() << " sockets, below the " << needed << " this test needs";
        baseline_threads = thread_count();
        baseline_handles = open_handle_count();
        many = make_engine(GetParam(), 2);
        ASSERT_NE(many, nullptr);
        const auto connections = tcp_connections(kPairs);
        pairs = std::make_unique<Pair[]>(kPairs);
        for (size_t i = 0; i < connections.size(); ++i)
            pairs[i].c = connections[i];
        ASSERT_EQ(kPairs, connections.size());
        for (size_t i = 0; i < kPairs; ++i)
        {
            Pair& p = pairs[i];
            p.opened = &opened;
            p.received = &received;
            p.sent = &sent;
            p.socket = async_socket_create(many, p.c.ours);
            ASSERT_NE(p.socket, nullptr) << "pair " << i;
            given.push_back(p.c.ours);
            p.c.ours = as_handle(kNoSocket);  // the socket's now
            ASSERT_EQ(0, async_socket_open_async(p.socket, &Pair::on_open, &p)) << "pair " << i;
        }
        ASSERT_TRUE(opened.wait_for(kPairs));
        for (size_t i = 0; i < kPairs; ++i)
        {
            ASYNC_SOCKET_BUFFER b{pairs[i].in, sizeof(pairs[i].in)};
            ASSERT_EQ(0, async_socket_receive_async(pairs[i].socket, &b, 1, &Pair::on_receive, &pairs[i])) << "pair " << i;
        }
    }

    void TearDown() override
    {
        destroy_all();
        Scale::TearDown();
    }

    void destroy_all()
    {
        if (pairs != nullptr)
        {
            for (size_t i = 0; i < kPairs; ++i)
            {
                async_socket_destroy(pairs[i].socket);
                pairs[i].socket = nullptr;
                if (pairs[i].c.ours != as_handle(kNoSocket))
                    close_socket(pairs[i].c.ours);
                pairs[i].c.ours = as_handle(kNoSocket);
                if (pairs[i].c.peer != kNoSocket)
                    close_socket(pairs[i].c.peer);
                pairs[i].c.peer = kNoSocket;
            }
        }
        if (many != nullptr)
            execution_engine_dec_ref(many);
        many = nullptr;
    }

    // After destroy_all: the engine's threads and every handle are gone. The counts are
    // waited for (bounded): on Linux a thread that pthread_join has returned for can still be
    // listed in /proc/self/task for a moment (seen: 3 tasks counted, 2 listed right after),
    // and the Windows pool's threads end after CloseThreadpool, asynchronously
    // (SRS_EXECUTION_ENGINE_WIN32_77_008).
    void expect_nothing_left_behind() const
    {
        EXPECT_TRUE(wait_for_thread_count(baseline_threads)) << thread_count() << " threads, " << baseline_threads << " before";
        EXPECT_TRUE(wait_for_count(open_handle_count, baseline_handles)) << open_handle_count() << " handles, " << baseline_handles << " before";
        // Each handle given to a socket in particular (Wine's GetProcessHandleCount always
        // says 0, so under Wine this is the check that counts).
        size_t still_open = 0;
        for (SOCKET_HANDLE handle : given)
            still_open += handle_is_open(handle) ? 1 : 0;
        EXPECT_EQ(0u, still_open) << "handles given to the sockets are still open";
    }

    static std::vector<uint8_t> message_for(size_t i) { return pattern(kMessage, static_cast<uint32_t>(1000 + i)); }

    EXECUTION_ENGINE_HANDLE many = nullptr;
    std::unique_ptr<Pair[]> pairs;
    Counter opened;
    Counter received;
    Counter sent;
    size_t baseline_threads = 0;
    size_t baseline_handles = 0;
    std::vector<SOCKET_HANDLE> given;  // the handles given to the sockets
};

// Tests_SRS_ASYNC_SOCKET_LINUX_02_021
TEST_P(ManyPairs, thousand_pairs_with_pending_receives_all_complete_independently_then_echo)
{
    // Half of the peers write; those receives complete while the other half stay pending.
    for (size_t i = 0; i < kPairs; i += 2)
    {
        const auto message = message_for(i);
        ASSERT_TRUE(write_all(pairs[i].c.peer, message.data(), message.size()));
    }
    ASSERT_TRUE(received.wait_for(kPairs / 2));
    for (size_t i = 1; i < kPairs; i += 2)
        ASSERT_EQ(0, pairs[i].receives.load()) << "pair " << i << " completed without data";
    for (size_t i = 1; i < kPairs; i += 2)
    {
        const auto message = message_for(i);
        ASSERT_TRUE(write_all(pairs[i].c.peer, message.data(), message.size()));
    }
    ASSERT_TRUE(received.wait_for(kPairs));

    // Every receive got its own connection's message, and its callback sent it back.
    for (size_t i = 0; i < kPairs; ++i)
    {
        Pair& p = pairs[i];
        SCOPED_TRACE(i);
        EXPECT_EQ(1, p.receives.load());
        EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, p.receive_result.load());
        ASSERT_EQ(kMessage, p.bytes.load());
        EXPECT_FALSE(p.echo_refused.load());
        EXPECT_EQ(message_for(i), read_exactly(p.c.peer, kMessage, 5s));
    }
    ASSERT_TRUE(sent.wait_for(kPairs));
    for (size_t i = 0; i < kPairs; ++i)
    {
        EXPECT_EQ(1, pairs[i].sends.load()) << "pair " << i;
        EXPECT_EQ(ASYNC_SOCKET_SEND_OK, pairs[i].send_result.load()) << "pair " << i;
    }

    // Nothing is left behind: the engine's threads and every handle are gone.
    destroy_all();
    expect_nothing_left_behind();
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_021
TEST_P(ManyPairs, thousand_pairs_destroyed_with_receives_pending_complete_each_once_and_leave_nothing_behind)
{
    for (size_t i = 0; i < kPairs; ++i)
        pairs[i].echo = false;
    // A few connections get data first, so the sockets are in different states at the end.
    for (size_t i = 0; i < kPairs; i += 10)
    {
        const auto message = message_for(i);
        ASSERT_TRUE(write_all(pairs[i].c.peer, message.data(), message.size()));
    }
    ASSERT_TRUE(received.wait_for(kPairs / 10));
    destroy_all();
    EXPECT_EQ(kPairs, received.value());
    for (size_t i = 0; i < kPairs; ++i)
    {
        EXPECT_EQ(1, pairs[i].receives.load()) << "pair " << i;
        EXPECT_EQ(i % 10 == 0 ? ASYNC_SOCKET_RECEIVE_OK : kPlatform.receive_result_after_close, pairs[i].receive_result.load()) << "pair " << i;
    }
    expect_nothing_left_behind();
}

ASOCK_INSTANTIATE_CONTRACT(Scale);
ASOCK_INSTANTIATE_CONTRACT(ManyPairs);

}  // namespace
}  // namespace asock_test
