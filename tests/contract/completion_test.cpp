// How sends and receives complete (seed requirements of the "Completions" section).
#include "contract/seed_helpers.h"

namespace asock_test {
namespace {

using namespace seed;

// Tests_SRS_ASYNC_SOCKET_LINUX_01_065
// Tests_SRS_ASYNC_SOCKET_LINUX_01_066
TEST_P(Completion, a_send_of_every_byte_completes_ok_with_its_context)
{
    Connection c = tcp_connection();
    ScopedSocket peer(c.peer);
    const auto data = pattern(10000, 31);
    ASYNC_SOCKET_BUFFER buffers[2] = {{const_cast<uint8_t*>(data.data()), 4000}, {const_cast<uint8_t*>(data.data()) + 4000, 6000}};
    SendRecord sent;  // its callback finds the record through the context
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), buffers, 2, SendRecord::callback, &sent));
    ASSERT_TRUE(sent.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, sent.result.load());
    EXPECT_EQ(1, sent.calls.load());
    EXPECT_EQ(data, read_exactly(peer.get(), data.size()));
}

// A send that records how much the peer had read when it completed.
struct LargeSend
{
    std::atomic<uint64_t> peer_read{0};
    std::atomic<uint64_t> peer_read_at_callback{0};
    std::atomic<int> calls{0};
    std::atomic<ASYNC_SOCKET_SEND_RESULT> result{ASYNC_SOCKET_SEND_ERROR};
    Counter done;

    static void callback(void* context, ASYNC_SOCKET_SEND_RESULT send_result)
    {
        auto* self = static_cast<LargeSend*>(context);
        self->peer_read_at_callback = self->peer_read.load();
        self->result = send_result;
        self->calls++;
        self->done.add();
    }
};

// Tests_SRS_ASYNC_SOCKET_LINUX_01_066
// Tests_SRS_ASYNC_SOCKET_LINUX_01_102
TEST_P(Completion, a_large_send_completes_ok_only_once_every_byte_was_sent)
{
    constexpr size_t kTotal = 8 * 1024 * 1024;
    constexpr size_t kPieces = 8;
    // The kernel can hold far less than this between the two ends (small send buffer).
    constexpr size_t kMargin = 1024 * 1024;
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    set_send_buffer(as_native(c.ours), 32 * 1024);
    const auto data = pattern(kTotal, 32);
    std::vector<ASYNC_SOCKET_BUFFER> buffers;
    for (size_t i = 0; i < kPieces; ++i)
        buffers.push_back(ASYNC_SOCKET_BUFFER{const_cast<uint8_t*>(data.data()) + i * (kTotal / kPieces), static_cast<uint32_t>(kTotal / kPieces)});
    LargeSend sent;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), buffers.data(), kPieces, LargeSend::callback, &sent));

    // The peer reads slowly, so the kernel takes the send a little at a time.
    std::vector<uint8_t> got;
    got.reserve(kTotal);
    std::vector<uint8_t> chunk(64 * 1024);
    const auto deadline = std::chrono::steady_clock::now() + kTimeout;
    while (got.size() < kTotal && std::chrono::steady_clock::now() < deadline)
    {
        const long n = read_some(peer.get(), chunk.data(), chunk.size(), std::chrono::milliseconds(100));
        if (n == 0)
            break;
        if (n < 0)
            continue;
        got.insert(got.end(), chunk.begin(), chunk.begin() + n);
        sent.peer_read = got.size();
        if (got.size() + kMargin < kTotal)
        {
            EXPECT_EQ(0, sent.calls.load()) << "completed with " << kTotal - got.size() << " bytes not yet read by the peer";
        }
        std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    ASSERT_EQ(kTotal, got.size());
    EXPECT_TRUE(got == data);
    ASSERT_TRUE(sent.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, sent.result.load());
    EXPECT_GE(sent.peer_read_at_callback.load() + kMargin, kTotal);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_065
// Tests_SRS_ASYNC_SOCKET_LINUX_01_067
TEST_P(Completion, a_send_that_fails_while_pending_completes_with_its_context_and_a_non_ok_result)
{
    // The portable part of a_failed_send_completes_with_its_context_and_a_non_ok_result
    // (completion_linux_test.cpp): a send that cannot finish (the peer does not read) fails
    // when the peer resets the connection.
    Connection c = tcp_connection();
    set_send_buffer(as_native(c.ours), 16 * 1024);
    const auto big = pattern(8 * 1024 * 1024, 35);
    ASYNC_SOCKET_BUFFER buffer{const_cast<uint8_t*>(big.data()), static_cast<uint32_t>(big.size())};
    SendRecord sent;  // its callback finds the record through the context
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), &buffer, 1, SendRecord::callback, &sent));
    std::this_thread::sleep_for(kQuiet);
    ASSERT_EQ(0, sent.calls.load());
    reset_on_close(c.peer);
    close_socket(c.peer);
    ASSERT_TRUE(sent.done.wait_for(1));
    EXPECT_NE(ASYNC_SOCKET_SEND_OK, sent.result.load());
    EXPECT_EQ(1, sent.calls.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_071
// Tests_SRS_ASYNC_SOCKET_LINUX_01_069
TEST_P(Completion, a_receive_completes_ok_with_its_context_and_the_bytes_in_order)
{
    Connection c = tcp_connection();
    ScopedSocket peer(c.peer);
    std::vector<uint8_t> a(6, 0), b(100, 0);
    ASYNC_SOCKET_BUFFER buffers[2] = {{a.data(), 6}, {b.data(), 100}};
    ReceiveRecord received;  // its callback finds the record through the context
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_EQ(0, async_socket_receive_async(s.get(), buffers, 2, ReceiveRecord::callback, &received));
    ASSERT_TRUE(write_all(peer.get(), "0123456789", 10));
    ASSERT_TRUE(received.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, received.result.load());
    const uint32_t n = received.bytes.load();
    ASSERT_GE(n, 1u);
    ASSERT_LE(n, 10u);
    // Whatever arrived (TCP may split it), it fills the first buffer, then the second.
    const std::string expected = "0123456789";
    std::vector<uint8_t> got(a.begin(), a.end());
    got.insert(got.end(), b.begin(), b.end());
    EXPECT_EQ(std::vector<uint8_t>(expected.begin(), expected.begin() + n), std::vector<uint8_t>(got.begin(), got.begin() + n));
    EXPECT_EQ(0, got[n]);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_42_001
TEST_P(Completion, a_pending_receive_is_abandoned_with_zero_bytes_when_the_peer_resets)
{
    Connection c = tcp_connection();
    std::vector<uint8_t> in(64);
    ASYNC_SOCKET_BUFFER buffer{in.data(), 64};
    ReceiveRecord received;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_EQ(0, async_socket_receive_async(s.get(), &buffer, 1, ReceiveRecord::callback, &received));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    reset_on_close(c.peer);
    close_socket(c.peer);
    ASSERT_TRUE(received.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, received.result.load());
    EXPECT_EQ(0u, received.bytes.load());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_42_001
TEST_P(Completion, a_receive_after_the_peer_reset_is_abandoned_with_zero_bytes)
{
    Connection c = tcp_connection();
    std::vector<uint8_t> in(64);
    ASYNC_SOCKET_BUFFER buffer{in.data(), 64};
    ReceiveRecord first, second;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    reset_on_close(c.peer);
    close_socket(c.peer);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the reset arrives
    for (ReceiveRecord* record : {&first, &second})
    {
        const int r = async_socket_receive_async(s.get(), &buffer, 1, ReceiveRecord::callback, record);
        if (r != 0 && kReceiveAfterResetMayFailAtOnce)
        {
            // Refused at once (seed 01_105): nothing is called back.
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            EXPECT_EQ(0, record->calls.load());
            continue;
        }
        ASSERT_EQ(0, r);
        ASSERT_TRUE(record->done.wait_for(1));
        EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, record->result.load());
        EXPECT_EQ(0u, record->bytes.load());
    }
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_070
TEST_P(Completion, a_receive_into_read_only_memory_completes_with_error_and_zero_bytes)
{
    // On Windows the receive fails at once instead (seed 01_105): kUnusableBufferFailsAtOnce.
    Page page(PageAccess::read_only);
    ASSERT_NE(nullptr, page.data());
    for (uint32_t buffers : {1u, 2u})
    {
        Connection c = local_connection();
        ScopedSocket peer(c.peer);
        uint8_t writable[4];
        auto* read_only = static_cast<uint8_t*>(page.data());
        ASYNC_SOCKET_BUFFER one[1] = {{read_only, 64}};
        ASYNC_SOCKET_BUFFER two[2] = {{read_only, 32}, {writable, 4}};
        ReceiveRecord received;
        OwnedSocket s(create_and_open(engine, c.ours));
        ASSERT_NE(nullptr, s.get());
        ASSERT_TRUE(write_all(peer.get(), "some data", 9));
        const int r = async_socket_receive_async(s.get(), buffers == 1 ? one : two, buffers, ReceiveRecord::callback, &received);
        if (kUnusableBufferFailsAtOnce)
        {
            EXPECT_NE(0, r) << buffers << " buffer(s)";
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            EXPECT_EQ(0, received.calls.load()) << buffers << " buffer(s)";
            continue;
        }
        ASSERT_EQ(0, r);
        ASSERT_TRUE(received.done.wait_for(1));
        EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ERROR, received.result.load()) << buffers << " buffer(s)";
        EXPECT_EQ(0u, received.bytes.load());
    }
}

// Tests_SRS_ASYNC_SOCKET_LINUX_42_003
TEST_P(Completion, receives_after_the_peer_shut_down_are_abandoned_with_zero_bytes)
{
    Connection c = tcp_connection();
    ScopedSocket peer(c.peer);
    std::vector<uint8_t> in(64);
    ASYNC_SOCKET_BUFFER buffer{in.data(), 64};
    ReceiveRecord pending, later, last;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_EQ(0, async_socket_receive_async(s.get(), &buffer, 1, ReceiveRecord::callback, &pending));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(shutdown_write(peer.get()));
    ASSERT_TRUE(pending.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, pending.result.load());
    EXPECT_EQ(0u, pending.bytes.load());
    // And so does every later receive.
    for (ReceiveRecord* record : {&later, &last})
    {
        ASSERT_EQ(0, async_socket_receive_async(s.get(), &buffer, 1, ReceiveRecord::callback, record));
        ASSERT_TRUE(record->done.wait_for(1));
        EXPECT_EQ(ASYNC_SOCKET_RECEIVE_ABANDONED, record->result.load());
        EXPECT_EQ(0u, record->bytes.load());
    }
}

// A chain of receives: each callback takes its bytes, frees its (heap) buffer and starts the
// next receive into a new one.
struct ReceiveChain
{
    ASYNC_SOCKET_HANDLE socket = nullptr;
    size_t wanted = 0;
    uint8_t* buffer = nullptr;
    std::vector<uint8_t> got;
    std::atomic<bool> failed{false};
    std::atomic<int> receives{0};
    Counter done;

    bool start()
    {
        buffer = new uint8_t[7];
        ASYNC_SOCKET_BUFFER b{buffer, 7};
        return async_socket_receive_async(socket, &b, 1, callback, this) == 0;
    }

    static void callback(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t bytes)
    {
        auto* self = static_cast<ReceiveChain*>(context);
        self->receives++;
        if (result == ASYNC_SOCKET_RECEIVE_OK)
            self->got.insert(self->got.end(), self->buffer, self->buffer + bytes);
        delete[] self->buffer;
        self->buffer = nullptr;
        if (result != ASYNC_SOCKET_RECEIVE_OK)
        {
            self->failed = true;
            self->done.add();
        }
        else if (self->got.size() >= self->wanted)
            self->done.add();
        else if (!self->start())
        {
            self->failed = true;
            self->done.add();
        }
    }
};

// Tests_SRS_ASYNC_SOCKET_LINUX_01_072
TEST_P(Completion, a_receive_callback_may_free_its_buffer_and_receive_again)
{
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    const auto data = pattern(5000, 33);
    ReceiveChain chain;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    chain.socket = s.get();
    chain.wanted = data.size();
    ASSERT_TRUE(chain.start());
    for (size_t offset = 0; offset < data.size(); offset += 500)
    {
        ASSERT_TRUE(write_all(peer.get(), data.data() + offset, 500));
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_TRUE(chain.done.wait_for(1));
    EXPECT_FALSE(chain.failed.load());
    EXPECT_EQ(data, chain.got);
    EXPECT_GE(chain.receives.load(), static_cast<int>(data.size() / 7));
}

// A chain of sends: each callback frees its (heap) buffer and starts the next send.
struct SendChain
{
    ASYNC_SOCKET_HANDLE socket = nullptr;
    const std::vector<uint8_t>* data = nullptr;
    size_t offset = 0;
    size_t piece = 0;
    uint8_t* buffer = nullptr;
    std::atomic<bool> failed{false};
    Counter done;

    bool start()
    {
        buffer = new uint8_t[piece];
        std::memcpy(buffer, data->data() + offset, piece);
        ASYNC_SOCKET_BUFFER b{buffer, static_cast<uint32_t>(piece)};
        return async_socket_send_async(socket, &b, 1, callback, this) == ASYNC_SOCKET_SEND_SYNC_OK;
    }

    static void callback(void* context, ASYNC_SOCKET_SEND_RESULT result)
    {
        auto* self = static_cast<SendChain*>(context);
        // The library holds nothing of the buffer any more: scribble over it, then free it.
        std::memset(self->buffer, 0xee, self->piece);
        delete[] self->buffer;
        self->buffer = nullptr;
        self->offset += self->piece;
        if (result != ASYNC_SOCKET_SEND_OK)
        {
            self->failed = true;
            self->done.add();
        }
        else if (self->offset >= self->data->size())
            self->done.add();
        else if (!self->start())
        {
            self->failed = true;
            self->done.add();
        }
    }
};

// Tests_SRS_ASYNC_SOCKET_LINUX_01_072
TEST_P(Completion, a_send_callback_may_free_its_buffer_and_send_again)
{
    Connection c = tcp_connection();
    ScopedSocket peer(c.peer);
    const auto data = pattern(64 * 1000, 34);
    SendChain chain;
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    chain.socket = s.get();
    chain.data = &data;
    chain.piece = 1000;
    ASSERT_TRUE(chain.start());
    EXPECT_EQ(data, read_exactly(peer.get(), data.size()));
    ASSERT_TRUE(chain.done.wait_for(1));
    EXPECT_FALSE(chain.failed.load());
}

// A receive whose callback frees its (heap) buffer.
struct FreeingReceive
{
    uint8_t* buffer = nullptr;
    std::atomic<ASYNC_SOCKET_RECEIVE_RESULT> result{ASYNC_SOCKET_RECEIVE_OK};
    std::atomic<int> calls{0};

    static void callback(void* context, ASYNC_SOCKET_RECEIVE_RESULT receive_result, uint32_t)
    {
        auto* self = static_cast<FreeingReceive*>(context);
        delete[] self->buffer;
        self->buffer = nullptr;
        self->result = receive_result;
        self->calls++;
    }
};

// Tests_SRS_ASYNC_SOCKET_LINUX_01_072
TEST_P(Completion, an_abandoned_receive_callback_may_free_its_buffer)
{
    Connection c = tcp_connection();
    ScopedSocket peer(c.peer);
    FreeingReceive receives[3];
    OwnedSocket s(create_and_open(engine, c.ours));
    ASSERT_NE(nullptr, s.get());
    for (auto& r : receives)
    {
        r.buffer = new uint8_t[32];
        ASYNC_SOCKET_BUFFER b{r.buffer, 32};
        ASSERT_EQ(0, async_socket_receive_async(s.get(), &b, 1, FreeingReceive::callback, &r));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    s.destroy();
    for (auto& r : receives)
    {
        EXPECT_EQ(1, r.calls.load());
        EXPECT_EQ(kPlatform.receive_result_after_close, r.result.load());
        EXPECT_EQ(nullptr, r.buffer);
    }
}

ASOCK_INSTANTIATE_CONTRACT(Completion);

}  // namespace
}  // namespace asock_test
