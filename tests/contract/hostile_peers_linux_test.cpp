// Hostile and broken peers: a peer that resets in the middle of a transfer, half-closes while a
// large send is under way, stops reading until every buffer is full and then vanishes, trickles
// a message one byte at a time, or connects and goes away thousands of times. Whatever the
// peer does, every accepted operation completes exactly once (with a non-OK result where the
// peer failed), no callback comes after the socket's close returned, and no descriptor is
// left behind. Linux only: the descriptor counts come from /proc/self/fd, and SIOCOUTQ tells
// when the kernel's send buffer stops draining.
#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <deque>
#include <mutex>

#include "contract/guarantee_helpers.h"
#include "contract/peer_helpers.h"
#include "support/ledger.h"

namespace asock_test {
namespace {

// How long a test waits after a close before it checks that no callback came late or twice:
// such a callback would come on the loop's thread a moment later.
constexpr auto kSettle = std::chrono::milliseconds(50);

// The operations a test issues on one socket, each with its own record, and the close of that
// socket: every callback is checked against its operation (exactly once, 02_002) and against
// the close (none after it returned, 02_011), and counted in a ledger (which may be shared by
// many trackers).
class Tracker
{
public:
    struct Op
    {
        Tracker* tracker = nullptr;
        bool accepted = false;  // written and read by the test's thread only
        std::atomic<int> calls{0};
        std::atomic<int> result{-1};
        std::atomic<uint32_t> bytes{0};
    };

    Tracker() : ledger_(own_ledger_) {}
    explicit Tracker(Ledger& shared) : ledger_(shared) {}

    // Issues a send of data; the operation, or nullptr when the call refused it.
    Op* send(ASYNC_SOCKET_HANDLE socket, const void* data, size_t size)
    {
        Op& op = add();
        ASYNC_SOCKET_BUFFER buffer{const_cast<void*>(data), static_cast<uint32_t>(size)};
        op.accepted = async_socket_send_async(socket, &buffer, 1, &Tracker::on_send, &op) == ASYNC_SOCKET_SEND_SYNC_OK;
        ledger_.accepted_or_refused(Ledger::Kind::send, op.accepted);
        return op.accepted ? &op : nullptr;
    }

    // Issues a receive into buffer; the operation, or nullptr when the call refused it.
    Op* receive(ASYNC_SOCKET_HANDLE socket, void* buffer, size_t size)
    {
        Op& op = add();
        ASYNC_SOCKET_BUFFER b{buffer, static_cast<uint32_t>(size)};
        op.accepted = async_socket_receive_async(socket, &b, 1, &Tracker::on_receive, &op) == 0;
        ledger_.accepted_or_refused(Ledger::Kind::receive, op.accepted);
        return op.accepted ? &op : nullptr;
    }

    // Destroys the socket (which closes it) and notes that its close has returned.
    void destroy(OwnedSocket& socket)
    {
        socket.reset();
        close_returned_ = true;
    }

    // Every accepted operation completed exactly once, a refused one never, none late. Call
    // after the close, and after a pause (kSettle) for a callback that should not come.
    void expect_each_accepted_operation_completed_once() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (size_t i = 0; i < ops_.size(); ++i)
            EXPECT_EQ(ops_[i].accepted ? 1 : 0, ops_[i].calls.load()) << "operation " << i << (ops_[i].accepted ? " (accepted)" : " (refused)");
        EXPECT_EQ(0u, late_.load()) << "callbacks after the close returned";
    }

    Ledger& ledger() { return ledger_; }

private:
    Op& add()
    {
        std::lock_guard<std::mutex> lock(mutex_);
        Op& op = ops_.emplace_back();  // a deque: the records of earlier operations stay put
        op.tracker = this;
        return op;
    }

    void record(Op& op, int result, uint32_t bytes)
    {
        if (close_returned_.load())
        {
            late_++;
            ledger_.late();
        }
        op.result = result;
        op.bytes = bytes;
        if (op.calls.fetch_add(1) != 0)
            ledger_.duplicate();
    }

    static void on_send(void* context, ASYNC_SOCKET_SEND_RESULT result)
    {
        auto& op = *static_cast<Op*>(context);
        op.tracker->record(op, result, 0);
        op.tracker->ledger_.delivered(result);  // last: a test that sees the count sees the record
    }

    static void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t bytes)
    {
        auto& op = *static_cast<Op*>(context);
        op.tracker->record(op, result, bytes);
        op.tracker->ledger_.delivered(result);
    }

    Ledger own_ledger_;
    Ledger& ledger_;
    mutable std::mutex mutex_;
    std::deque<Op> ops_;
    std::atomic<bool> close_returned_{false};
    std::atomic<uint64_t> late_{0};
};

class HostilePeers : public Contract
{
protected:
    void SetUp() override
    {
        Contract::SetUp();
        baseline_fds = open_fd_count();
    }

    // After the test's sockets and peers are gone, the process holds the descriptors it held
    // before the test (the fixture's engine among them).
    void expect_no_descriptor_left_behind() const
    {
        EXPECT_TRUE(wait_for_count(open_fd_count, baseline_fds)) << open_fd_count() << " descriptors open, " << baseline_fds << " before the test";
    }

    size_t baseline_fds = 0;
};

// The results of sends issued in order on a connection that failed: a prefix went out (OK),
// and from the first failure on, every send has that same failure (02_016).
void expect_ok_prefix_then_one_failure(const std::vector<Tracker::Op*>& sends, ASYNC_SOCKET_SEND_RESULT failure)
{
    size_t first_failure = 0;
    while (first_failure < sends.size() && sends[first_failure]->result.load() == ASYNC_SOCKET_SEND_OK)
        ++first_failure;
    ASSERT_LT(first_failure, sends.size()) << "every send succeeded: the peer cannot have read them all";
    for (size_t i = first_failure; i < sends.size(); ++i)
        EXPECT_EQ(static_cast<int>(failure), sends[i]->result.load()) << "send " << i;
}

// The kernel's unsent bytes on asock's side of a connection.
int unsent_bytes(SOCKET_HANDLE handle)
{
    int bytes = -1;
    ::ioctl(handle, SIOCOUTQ, &bytes);
    return bytes;
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_002
// Tests_SRS_ASYNC_SOCKET_LINUX_02_015
TEST_P(HostilePeers, reset_mid_transfer_completes_every_pending_send_and_receive_once_with_a_failure)
{
    Connection c = small_buffer_connection();
    ScopedSocket peer(c.peer);
    constexpr size_t kSends = 32;
    constexpr size_t kSize = 256 * 1024;
    constexpr size_t kReceives = 4;
    constexpr size_t kReadBeforeReset = 512 * 1024;
    const auto data = pattern(kSends * kSize, 31);
    std::vector<std::vector<uint8_t>> in(kReceives, std::vector<uint8_t>(4096));
    Tracker tracker;
    std::vector<Tracker::Op*> sends;
    std::vector<Tracker::Op*> receives;
    OwnedSocket s(open_socket(c.ours));
    for (auto& buffer : in)
        receives.push_back(tracker.receive(s.get(), buffer.data(), buffer.size()));
    for (size_t i = 0; i < kSends; ++i)
        sends.push_back(tracker.send(s.get(), data.data() + i * kSize, kSize));
    ASSERT_EQ(0u, std::count(receives.begin(), receives.end(), nullptr));
    ASSERT_EQ(0u, std::count(sends.begin(), sends.end(), nullptr));

    // The peer takes the start of the stream, so the transfer is under way, then resets.
    const auto head = read_exactly(peer.get(), kReadBeforeReset);
    ASSERT_EQ(kReadBeforeReset, head.size());
    EXPECT_TRUE(std::equal(head.begin(), head.end(), data.begin())) << "the stream's first bytes differ";
    reset_on_close(peer.get());
    peer.reset();

    ASSERT_TRUE(tracker.ledger().wait_until_balanced(kTimeout)) << tracker.ledger().figures();
    // The peer never sent a byte: every receive ends, abandoned, with nothing.
    for (size_t i = 0; i < kReceives; ++i)
    {
        EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, receives[i]->result.load()) << "receive " << i;
        EXPECT_EQ(0u, receives[i]->bytes.load()) << "receive " << i;
    }
    expect_ok_prefix_then_one_failure(sends, ASYNC_SOCKET_SEND_ABANDONED);
    tracker.destroy(s);
    std::this_thread::sleep_for(kSettle);
    tracker.expect_each_accepted_operation_completed_once();
    expect_no_descriptor_left_behind();
}

// Tests_SRS_ASYNC_SOCKET_LINUX_42_003
// Tests_SRS_ASYNC_SOCKET_LINUX_02_007
TEST_P(HostilePeers, peer_half_close_during_a_large_send_ends_the_receives_and_the_send_still_arrives_whole)
{
    Connection c = small_buffer_connection();
    ScopedSocket peer(c.peer);
    constexpr size_t kHead = 64 * 1024;
    const auto data = pattern(kStuckSendSize, 32);
    std::vector<uint8_t> in[2] = {std::vector<uint8_t>(1024), std::vector<uint8_t>(1024)};
    std::vector<uint8_t> late(16);
    Tracker tracker;
    OwnedSocket s(open_socket(c.ours));
    Tracker::Op* first = tracker.receive(s.get(), in[0].data(), in[0].size());
    Tracker::Op* second = tracker.receive(s.get(), in[1].data(), in[1].size());
    Tracker::Op* send = tracker.send(s.get(), data.data(), data.size());
    ASSERT_TRUE(first != nullptr && second != nullptr && send != nullptr);

    const auto head = read_exactly(peer.get(), kHead);
    ASSERT_TRUE(shutdown_write(peer.get()));
    // The end of the peer's stream reaches both receives while most of the send still waits
    // for the peer to read (16 MiB cannot fit in 64 KiB of kernel buffers).
    ASSERT_TRUE(wait_until([&] { return first->calls.load() == 1 && second->calls.load() == 1; }));
    EXPECT_EQ(0, send->calls.load()) << "the half-close must not end our send";
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, first->result.load());
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, second->result.load());
    EXPECT_EQ(0u, first->bytes.load() + second->bytes.load());

    // The peer still reads: the whole send arrives, in order, and completes OK.
    auto rest = read_exactly(peer.get(), data.size() - kHead);
    ASSERT_EQ(data.size() - kHead, rest.size());
    EXPECT_TRUE(std::equal(head.begin(), head.end(), data.begin()) && std::equal(rest.begin(), rest.end(), data.begin() + kHead)) << "the bytes differ";
    ASSERT_TRUE(tracker.ledger().wait_until_balanced(kTimeout)) << tracker.ledger().figures();
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, send->result.load());

    // A receive issued after the end of stream is abandoned at once, too.
    Tracker::Op* after = tracker.receive(s.get(), late.data(), late.size());
    ASSERT_NE(nullptr, after);
    ASSERT_TRUE(tracker.ledger().wait_until_balanced(kTimeout));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, after->result.load());
    tracker.destroy(s);
    std::this_thread::sleep_for(kSettle);
    tracker.expect_each_accepted_operation_completed_once();
    peer.reset();
    expect_no_descriptor_left_behind();
}

// Tests_SRS_ASYNC_SOCKET_LINUX_02_007
// Tests_SRS_ASYNC_SOCKET_LINUX_02_015
// Tests_SRS_ASYNC_SOCKET_LINUX_02_016
TEST_P(HostilePeers, peer_that_stops_reading_until_the_buffers_fill_then_resets_fails_the_stuck_sends_and_the_engine_serves_on)
{
    Connection c = small_buffer_connection();
    ScopedSocket peer(c.peer);
    constexpr size_t kSends = 64;
    constexpr size_t kSize = 64 * 1024;
    const auto data = pattern(kSends * kSize, 33);
    std::vector<uint8_t> in(256);
    Tracker tracker;
    std::vector<Tracker::Op*> sends;
    OwnedSocket s(open_socket(c.ours));
    Tracker::Op* receive = tracker.receive(s.get(), in.data(), in.size());
    ASSERT_NE(nullptr, receive);
    for (size_t i = 0; i < kSends; ++i)
        sends.push_back(tracker.send(s.get(), data.data() + i * kSize, kSize));
    ASSERT_EQ(0u, std::count(sends.begin(), sends.end(), nullptr));

    // The peer never reads. Wait until the buffers are full: the kernel holds unsent bytes,
    // and neither they nor the completed sends change for 200 ms.
    auto state = [&] { return std::make_pair(unsent_bytes(c.ours), tracker.ledger().delivered_count()); };
    auto last = state();
    int still = 0;
    ASSERT_TRUE(wait_until([&] {
        std::this_thread::sleep_for(20ms);
        const auto now = state();
        still = now == last ? still + 1 : 0;
        last = now;
        return still >= 10 && now.first > 0;
    })) << "the kernel's send buffer never filled";
    EXPECT_LT(last.second, kSends) << "4 MiB cannot have left for a peer that never read";

    // Then the peer vanishes.
    reset_on_close(peer.get());
    peer.reset();
    ASSERT_TRUE(tracker.ledger().wait_until_balanced(kTimeout)) << tracker.ledger().figures();
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, receive->result.load());
    expect_ok_prefix_then_one_failure(sends, ASYNC_SOCKET_SEND_ABANDONED);
    tracker.destroy(s);
    std::this_thread::sleep_for(kSettle);
    tracker.expect_each_accepted_operation_completed_once();

    // The engine still serves its other sockets.
    Connection d = local_connection();
    ScopedSocket other_peer(d.peer);
    const char hello[] = "still here";
    std::vector<uint8_t> echo(sizeof(hello));
    Tracker fresh;
    OwnedSocket other(open_socket(d.ours));
    ASSERT_NE(nullptr, fresh.send(other.get(), hello, sizeof(hello)));
    ASSERT_EQ(sizeof(hello), read_exactly(other_peer.get(), sizeof(hello)).size());
    ASSERT_TRUE(write_all(other_peer.get(), hello, sizeof(hello)));
    ASSERT_NE(nullptr, fresh.receive(other.get(), echo.data(), echo.size()));
    ASSERT_TRUE(fresh.ledger().wait_until_balanced(kTimeout));
    EXPECT_EQ(2u, fresh.ledger().delivered_count(ASYNC_SOCKET_SEND_OK) + fresh.ledger().delivered_count(ASYNC_SOCKET_RECEIVE_OK));
    fresh.destroy(other);
    std::this_thread::sleep_for(kSettle);
    fresh.expect_each_accepted_operation_completed_once();
    other_peer.reset();
    expect_no_descriptor_left_behind();
}

// Receives one message with a chain of receives, the next issued from each callback, until
// the stream ends; one receive is pending at a time, so each completion is checked against
// the one receive it may belong to.
class Reassembler
{
public:
    explicit Reassembler(Ledger& ledger) : ledger_(ledger) {}

    bool start(ASYNC_SOCKET_HANDLE socket)
    {
        socket_ = socket;
        return issue();
    }
    bool wait_until_ended() const { return ended_.wait_for(1); }
    // Read after wait_until_ended: the chain has stopped.
    const std::vector<uint8_t>& data() const { return data_; }
    uint64_t completions() const { return completions_.load(); }

private:
    bool issue()
    {
        pending_ = true;
        ASYNC_SOCKET_BUFFER b{buffer_, sizeof(buffer_)};
        const bool accepted = async_socket_receive_async(socket_, &b, 1, &Reassembler::on_receive, this) == 0;
        ledger_.accepted_or_refused(Ledger::Kind::receive, accepted);
        if (!accepted)
            ended_.add();
        return accepted;
    }

    static void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t bytes)
    {
        auto& self = *static_cast<Reassembler*>(context);
        if (!self.pending_.exchange(false))
            self.ledger_.duplicate();
        self.completions_++;
        self.ledger_.delivered(result);
        if (result == ASYNC_SOCKET_RECEIVE_OK && bytes > 0 && bytes <= sizeof(self.buffer_))
        {
            self.data_.insert(self.data_.end(), self.buffer_, self.buffer_ + bytes);
            self.issue();
            return;
        }
        self.ended_.add();
    }

    Ledger& ledger_;
    ASYNC_SOCKET_HANDLE socket_ = nullptr;
    uint8_t buffer_[4096] = {};
    std::vector<uint8_t> data_;
    std::atomic<bool> pending_{false};
    std::atomic<uint64_t> completions_{0};
    Counter ended_;
};

// Tests_SRS_ASYNC_SOCKET_LINUX_02_006
// Tests_SRS_ASYNC_SOCKET_LINUX_02_014
TEST_P(HostilePeers, message_trickled_one_byte_at_a_time_is_reassembled_exactly)
{
    Connection c = tcp_connection();  // TCP_NODELAY: each byte leaves in a segment of its own
    ScopedSocket peer(c.peer);
    constexpr size_t kSize = 10000;
    const auto message = pattern(kSize, 34);
    Ledger ledger;
    Reassembler reassembler(ledger);
    OwnedSocket s(open_socket(c.ours));
    ASSERT_TRUE(reassembler.start(s.get()));
    for (size_t i = 0; i < kSize; ++i)
    {
        ASSERT_TRUE(write_all(peer.get(), &message[i], 1)) << "byte " << i;
        if (i % 1000 == 0)
            std::this_thread::sleep_for(1ms);  // now and then the receive finds an empty socket
    }
    peer.reset();
    ASSERT_TRUE(reassembler.wait_until_ended());
    EXPECT_TRUE(reassembler.data() == message) << reassembler.data().size() << " bytes reassembled of " << kSize;
    EXPECT_EQ(1u, ledger.delivered_count(ASYNC_SOCKET_RECEIVE_ABANDONED)) << "only the end of stream ends the chain";
    EXPECT_EQ(0u, ledger.delivered_count(ASYNC_SOCKET_RECEIVE_ERROR));
    s.reset();
    std::this_thread::sleep_for(kSettle);
    EXPECT_TRUE(ledger.balanced()) << ledger.figures();
    expect_no_descriptor_left_behind();
}

// One of many short-lived connections: its socket's one receive and how the connection ends.
struct ShortLived
{
    enum class Fate
    {
        peer_closes,        // FIN: the receive is abandoned (end of stream)
        peer_resets,        // RST: the receive is abandoned
        peer_sends_a_byte,  // the receive gets it; then the peer closes
        we_destroy,         // the receive is still pending when we destroy the socket
    };

    Tracker tracker;
    OwnedSocket socket;
    ScopedSocket peer;
    Tracker::Op* receive = nullptr;
    uint8_t in[8] = {};
    Fate fate = Fate::peer_closes;

    explicit ShortLived(Ledger& ledger) : tracker(ledger) {}
};

// Tests_SRS_ASYNC_SOCKET_LINUX_02_002
// Tests_SRS_ASYNC_SOCKET_LINUX_02_003
// Tests_SRS_ASYNC_SOCKET_LINUX_01_005
TEST_P(HostilePeers, thousands_of_short_lived_connections_each_complete_their_pending_receive_once_and_leave_no_descriptor)
{
    constexpr size_t kConnections = 3000;
    constexpr size_t kBatch = 100;  // at most this many open at once
    Ledger ledger;
    uint64_t opened_total = 0;
    for (size_t first = 0; first < kConnections; first += kBatch)
    {
        SCOPED_TRACE(first);
        const auto connections = tcp_connections(kBatch);
        ASSERT_EQ(kBatch, connections.size());
        std::deque<ShortLived> batch;
        Counter opened;
        for (size_t i = 0; i < kBatch; ++i)
        {
            ShortLived& one = batch.emplace_back(ledger);
            one.peer.reset(connections[i].peer);
            one.fate = static_cast<ShortLived::Fate>((first + i) % 4);
            one.socket.reset(async_socket_create(engine, connections[i].ours));
            ASSERT_NE(nullptr, one.socket.get());
            ASSERT_EQ(0, async_socket_open_async(one.socket.get(), [](void* context, ASYNC_SOCKET_OPEN_RESULT) { static_cast<Counter*>(context)->add(); }, &opened));
        }
        ASSERT_TRUE(opened.wait_for(kBatch));
        opened_total += kBatch;
        for (ShortLived& one : batch)
        {
            one.receive = one.tracker.receive(one.socket.get(), one.in, sizeof(one.in));
            ASSERT_NE(nullptr, one.receive);
        }
        // The peers go, each its own way; the sockets left to us are destroyed with their
        // receive still pending.
        size_t ended_by_peer = 0;
        for (ShortLived& one : batch)
        {
            if (one.fate == ShortLived::Fate::we_destroy)
                continue;
            if (one.fate == ShortLived::Fate::peer_sends_a_byte)
            {
                ASSERT_TRUE(write_all(one.peer.get(), "x", 1));
            }
            if (one.fate == ShortLived::Fate::peer_resets)
                reset_on_close(one.peer.get());
            one.peer.reset();
            ++ended_by_peer;
        }
        ASSERT_TRUE(wait_until([&] {
            size_t done = 0;
            for (const ShortLived& one : batch)
                done += one.receive->calls.load() != 0 ? 1 : 0;
            return done >= ended_by_peer;
        }));
        for (ShortLived& one : batch)
            one.tracker.destroy(one.socket);
        std::this_thread::sleep_for(kSettle / 5);
        for (size_t i = 0; i < kBatch; ++i)
        {
            const ShortLived& one = batch[i];
            SCOPED_TRACE(i);
            one.tracker.expect_each_accepted_operation_completed_once();
            const bool got_the_byte = one.fate == ShortLived::Fate::peer_sends_a_byte;
            EXPECT_EQ(got_the_byte ? ASYNC_SOCKET_RECEIVE_OK : ASYNC_SOCKET_RECEIVE_ABANDONED, one.receive->result.load());
            EXPECT_EQ(got_the_byte ? 1u : 0u, one.receive->bytes.load());
        }
    }
    EXPECT_EQ(kConnections, opened_total);
    EXPECT_EQ(kConnections, ledger.accepted_count());
    EXPECT_TRUE(ledger.balanced()) << ledger.figures();
    expect_no_descriptor_left_behind();
}

ASOCK_INSTANTIATE_CONTRACT(HostilePeers);

}  // namespace
}  // namespace asock_test
