// The guarantees about order: one send is never interleaved with another (02_004), sends of
// one thread arrive and complete in order (02_005), receives complete in order with
// consecutive bytes (02_006). On Windows the bytes keep their order, but the callbacks of one
// socket may run at once and in any order (kPlatform.callbacks_serialized_per_socket).
#include <array>
#include <cstring>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "contract/guarantee_helpers.h"

namespace asock_test {
namespace {

using namespace std::chrono_literals;

class Ordering : public Contract
{
};

// --- Sends from several threads (02_004) ---------------------------------------------------

// A record on the wire: this header, then body_length bytes made by body_byte.
struct RecordHeader
{
    uint32_t magic;
    uint32_t thread;
    uint32_t sequence;
    uint32_t body_length;
};
constexpr uint32_t kRecordMagic = 0xA50C4E7Du;

uint8_t body_byte(uint32_t thread, uint32_t sequence, uint32_t i)
{
    return static_cast<uint8_t>((thread * 131u + sequence * 7u + i * 31u) ^ (i >> 8));
}

// One sending thread's records in flight: a window of slots, each reused once its previous
// send completed.
struct SenderSlot
{
    std::vector<uint8_t> bytes;
    Counter completions;
    std::atomic<int>* failures = nullptr;

    static void callback(void* context, ASYNC_SOCKET_SEND_RESULT result)
    {
        auto* self = static_cast<SenderSlot*>(context);
        if (result != ASYNC_SOCKET_SEND_OK)
            (*self->failures)++;
        self->completions.add();
    }
};

// Tests_SRS_ASYNC_SOCKET_LINUX_02_004
TEST_P(Ordering, sends_from_several_threads_on_one_socket_are_never_interleaved)
{
    constexpr uint32_t kThreads = 6;
    constexpr uint32_t kRecords = 300;
    constexpr uint32_t kWindow = 8;
    constexpr uint32_t kMaxBody = 64 * 1024;

    Connection c = tcp_connection();
    // A small kernel buffer: the sends go out in many partial writes.
    set_send_buffer(as_native(c.ours), 64 * 1024);
    ASYNC_SOCKET_HANDLE s = create_and_open(engine, c.ours);

    // The peer parses the stream.
    std::string error;
    uint32_t parsed = 0;
    std::thread reader([&] {
        std::vector<uint32_t> next_sequence(kThreads, 0);
        std::ostringstream why;
        while (parsed < kThreads * kRecords)
        {
            const std::vector<uint8_t> head = read_exactly(c.peer, sizeof(RecordHeader));
            if (head.size() != sizeof(RecordHeader))
            {
                why << "the stream ended after " << parsed << " records";
                break;
            }
            RecordHeader h;
            std::memcpy(&h, head.data(), sizeof(h));
            if (h.magic != kRecordMagic || h.thread >= kThreads || h.body_length == 0 || h.body_length > kMaxBody)
            {
                why << "record " << parsed << ": bad header (bytes of sends interleaved)";
                break;
            }
            if (h.sequence != next_sequence[h.thread])
            {
                why << "record " << parsed << ": thread " << h.thread << " sequence " << h.sequence << ", expected " << next_sequence[h.thread];
                break;
            }
            const std::vector<uint8_t> body = read_exactly(c.peer, h.body_length);
            if (body.size() != h.body_length)
            {
                why << "record " << parsed << ": the stream ended in a body";
                break;
            }
            uint32_t i = 0;
            while (i < h.body_length && body[i] == body_byte(h.thread, h.sequence, i))
                ++i;
            if (i != h.body_length)
            {
                why << "record " << parsed << " (thread " << h.thread << ", sequence " << h.sequence << "): body differs at byte " << i;
                break;
            }
            next_sequence[h.thread]++;
            parsed++;
        }
        error = why.str();
    });

    std::atomic<int> failures{0};
    std::atomic<int> refused{0};
    std::vector<std::thread> senders;
    std::vector<std::vector<std::unique_ptr<SenderSlot>>> slots(kThreads);
    for (uint32_t t = 0; t < kThreads; ++t)
    {
        for (uint32_t k = 0; k < kWindow; ++k)
        {
            slots[t].push_back(std::make_unique<SenderSlot>());
            slots[t].back()->failures = &failures;
        }
        senders.emplace_back([&, t] {
            std::mt19937 random(1000 + t);
            for (uint32_t sequence = 0; sequence < kRecords; ++sequence)
            {
                SenderSlot& slot = *slots[t][sequence % kWindow];
                // Reused only once its previous send has completed.
                if (!slot.completions.wait_for(sequence / kWindow))
                {
                    refused++;
                    return;
                }
                const uint32_t body_length = 1 + random() % kMaxBody;
                const RecordHeader h{kRecordMagic, t, sequence, body_length};
                slot.bytes.resize(sizeof(h) + body_length);
                std::memcpy(slot.bytes.data(), &h, sizeof(h));
                for (uint32_t i = 0; i < body_length; ++i)
                    slot.bytes[sizeof(h) + i] = body_byte(t, sequence, i);
                // 1 to 3 buffers, cut anywhere (also inside the header).
                const uint32_t total = static_cast<uint32_t>(slot.bytes.size());
                uint32_t cuts[2] = {static_cast<uint32_t>(1 + random() % (total - 1)), static_cast<uint32_t>(1 + random() % (total - 1))};
                if (cuts[0] > cuts[1])
                    std::swap(cuts[0], cuts[1]);
                ASYNC_SOCKET_BUFFER buffers[3];
                uint32_t count = 0;
                uint32_t from = 0;
                const uint32_t pieces = 1 + random() % 3;
                for (uint32_t p = 0; p + 1 < pieces; ++p)
                {
                    if (cuts[p] > from)
                    {
                        buffers[count++] = {slot.bytes.data() + from, cuts[p] - from};
                        from = cuts[p];
                    }
                }
                buffers[count++] = {slot.bytes.data() + from, total - from};
                if (async_socket_send_async(s, buffers, count, SenderSlot::callback, &slot) != ASYNC_SOCKET_SEND_SYNC_OK)
                {
                    refused++;
                    slot.completions.add();  // no callback will come: the slot is free again
                }
            }
            // The thread stays until its sends completed: under Wine an operation started by a
            // thread that exits is cancelled (see LastingThreads).
            for (uint32_t k = 0; k < kWindow; ++k)
                (void)slots[t][k]->completions.wait_for((kRecords - k + kWindow - 1) / kWindow);
        });
    }
    reader.join();
    // A broken stream stops the reader; closing then completes the sends the senders wait for.
    if (parsed != kThreads * kRecords)
        async_socket_close(s);
    for (auto& sender : senders)
        sender.join();
    for (auto& list : slots)
        for (auto& slot : list)
            EXPECT_TRUE(slot->completions.wait_for(kRecords / kWindow, parsed == kThreads * kRecords ? kTimeout : 1s)) << "a send did not complete";
    EXPECT_EQ("", error);
    EXPECT_EQ(kThreads * kRecords, parsed);
    EXPECT_EQ(0, refused.load());
    EXPECT_EQ(0, failures.load());
    async_socket_destroy(s);
    close_socket(c.peer);
}

// --- Sends from one thread (02_005) ------------------------------------------------------

struct CompletionOrder
{
    std::vector<uint32_t> order;
    std::atomic<uint32_t> next{0};
    std::atomic<int> failures{0};
    Counter done;
};

struct Numbered
{
    CompletionOrder* owner = nullptr;
    uint32_t index = 0;

    static void on_send(void* context, ASYNC_SOCKET_SEND_RESULT result)
    {
        auto* self = static_cast<Numbered*>(context);
        CompletionOrder& o = *self->owner;
        if (result != ASYNC_SOCKET_SEND_OK)
            o.failures++;
        const uint32_t position = o.next++;
        if (position < o.order.size())
            o.order[position] = self->index;
        o.done.add();
    }
};

// Tests_SRS_ASYNC_SOCKET_LINUX_02_005
TEST_P(Ordering, sends_from_one_thread_arrive_and_complete_in_the_order_issued)
{
    constexpr uint32_t kSends = 10000;
    Connection c = tcp_connection();
    ASYNC_SOCKET_HANDLE s = create_and_open(engine, c.ours);

    std::vector<uint64_t> numbers(kSends);
    for (uint32_t i = 0; i < kSends; ++i)
        numbers[i] = 0x5EC0000000000000ull + i;
    CompletionOrder completions;
    completions.order.assign(kSends, UINT32_MAX);
    std::vector<Numbered> contexts(kSends);

    std::vector<uint8_t> received;
    std::thread reader([&] { received = read_exactly(c.peer, kSends * sizeof(uint64_t)); });
    for (uint32_t i = 0; i < kSends; ++i)
    {
        contexts[i] = Numbered{&completions, i};
        auto* bytes = reinterpret_cast<uint8_t*>(&numbers[i]);
        // Every seventh send in two buffers.
        ASYNC_SOCKET_BUFFER buffers[2] = {{bytes, 3}, {bytes + 3, 5}};
        if (i % 7 != 0)
            buffers[0].length = 8;
        ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s, buffers, i % 7 == 0 ? 2 : 1, Numbered::on_send, &contexts[i]));
    }
    reader.join();
    ASSERT_TRUE(completions.done.wait_for(kSends));

    ASSERT_EQ(kSends * sizeof(uint64_t), received.size());
    uint32_t out_of_order = 0;
    for (uint32_t i = 0; i < kSends; ++i)
    {
        uint64_t value;
        std::memcpy(&value, received.data() + i * sizeof(uint64_t), sizeof(value));
        if (value != numbers[i] && out_of_order++ == 0)
            ADD_FAILURE() << "send " << i << " is not where it should be in the stream";
    }
    EXPECT_EQ(0u, out_of_order);
    // The callbacks' order is guaranteed only where a socket's callbacks run one at a time.
    uint32_t callbacks_out_of_order = 0;
    for (uint32_t i = 0; i < kSends && kPlatform.callbacks_serialized_per_socket; ++i)
        if (completions.order[i] != i && callbacks_out_of_order++ == 0)
            ADD_FAILURE() << "callback number " << i << " was that of send " << completions.order[i];
    EXPECT_EQ(0u, callbacks_out_of_order);
    EXPECT_EQ(0, completions.failures.load());
    async_socket_destroy(s);
    close_socket(c.peer);
}

// --- Receives (02_006) --------------------------------------------------------------------

struct OrderedReceive
{
    CompletionOrder* owner = nullptr;
    uint32_t index = 0;
    std::vector<uint8_t> first;
    std::vector<uint8_t> second;  // empty: one buffer
    std::atomic<uint32_t> bytes{0};
    std::atomic<int> result{-1};

    static void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT r, uint32_t n)
    {
        auto* self = static_cast<OrderedReceive*>(context);
        CompletionOrder& o = *self->owner;
        self->result = r;
        self->bytes = n;
        const uint32_t position = o.next++;
        if (position < o.order.size())
            o.order[position] = self->index;
        o.done.add();
    }
    // The bytes received, in buffer order.
    std::vector<uint8_t> data() const
    {
        std::vector<uint8_t> all(first);
        all.insert(all.end(), second.begin(), second.end());
        all.resize(bytes.load());
        return all;
    }
};

// Tests_SRS_ASYNC_SOCKET_LINUX_02_006
TEST_P(Ordering, receives_complete_in_the_order_issued_with_consecutive_bytes)
{
    constexpr uint32_t kReceives = 64;
    constexpr size_t kStreamSize = 48 * 1024;  // more than all the receives hold
    Connection c = tcp_connection();
    ASYNC_SOCKET_HANDLE s = create_and_open(engine, c.ours);
    const std::vector<uint8_t> stream = pattern(kStreamSize, 11);

    CompletionOrder completions;
    completions.order.assign(kReceives, UINT32_MAX);
    std::vector<std::unique_ptr<OrderedReceive>> receives;
    std::mt19937 random(99);
    size_t capacity = 0;
    auto issue = [&](uint32_t index) {
        auto r = std::make_unique<OrderedReceive>();
        r->owner = &completions;
        r->index = index;
        r->first.resize(1 + random() % 700);
        if (random() % 3 == 0)
            r->second.resize(1 + random() % 300);
        capacity += r->first.size() + r->second.size();
        ASYNC_SOCKET_BUFFER buffers[2] = {{r->first.data(), static_cast<uint32_t>(r->first.size())}, {r->second.data(), static_cast<uint32_t>(r->second.size())}};
        EXPECT_EQ(0, async_socket_receive_async(s, buffers, r->second.empty() ? 1 : 2, OrderedReceive::on_receive, r.get()));
        receives.push_back(std::move(r));
    };

    // Half of them wait before any data; the others are issued while the data arrives.
    for (uint32_t i = 0; i < kReceives / 2; ++i)
        issue(i);
    std::thread writer([&] {
        std::mt19937 r(5);
        size_t offset = 0;
        while (offset < stream.size())
        {
            const size_t n = std::min<size_t>(1 + r() % 3000, stream.size() - offset);
            if (!write_all(c.peer, stream.data() + offset, n))
                break;
            offset += n;
            std::this_thread::sleep_for(std::chrono::microseconds(r() % 300));
        }
    });
    for (uint32_t i = kReceives / 2; i < kReceives; ++i)
    {
        issue(i);
        std::this_thread::sleep_for(std::chrono::microseconds(random() % 200));
    }
    writer.join();
    ASSERT_LT(capacity, kStreamSize);
    ASSERT_TRUE(completions.done.wait_for(kReceives));

    std::vector<uint8_t> concatenated;
    for (uint32_t position = 0; position < kReceives; ++position)
    {
        // The callbacks' order is guaranteed only where a socket's callbacks run one at a time;
        // the bytes' order everywhere.
        if (kPlatform.callbacks_serialized_per_socket)
        {
            EXPECT_EQ(position, completions.order[position]) << "receive " << completions.order[position] << " completed in place " << position;
        }
        const OrderedReceive& r = *receives[position];
        EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, r.result.load());
        EXPECT_GT(r.bytes.load(), 0u);
        EXPECT_LE(r.bytes.load(), r.first.size() + r.second.size());
        const std::vector<uint8_t> data = r.data();
        concatenated.insert(concatenated.end(), data.begin(), data.end());
    }
    ASSERT_LE(concatenated.size(), stream.size());
    EXPECT_TRUE(std::equal(concatenated.begin(), concatenated.end(), stream.begin())) << "the receives, in issue order, are not the start of the stream";
    async_socket_destroy(s);
    close_socket(c.peer);
}

ASOCK_INSTANTIATE_CONTRACT(Ordering);

}  // namespace
}  // namespace asock_test
