// Handlers of any alignment (asock.hpp: "any nothrow-movable callable"): a handler whose
// captures are over-aligned is built in memory of its alignment, both in the recycled blocks'
// size class and beyond it, for socket and connection handlers alike.
#include <atomic>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "asock/asock.hpp"
#include "contract/accept_connect_helpers.h"
#include "cpp/cpp_fixture.h"

namespace asock_test {
namespace {

using namespace std::chrono_literals;

// What the handlers of one test report.
struct AlignmentRecord
{
    std::atomic<int> misaligned{0};
    std::atomic<int> checks{0};
    Counter called;
};

// A capture of 64-byte alignment that checks its own address whenever it is built (the
// library moves the handler into its memory) and whenever the handler is called.
struct alignas(64) Aligned64
{
    AlignmentRecord* record;

    explicit Aligned64(AlignmentRecord* r) noexcept : record(r) { check(); }
    Aligned64(const Aligned64& other) noexcept : record(other.record) { check(); }
    Aligned64(Aligned64&& other) noexcept : record(other.record) { check(); }
    Aligned64& operator=(const Aligned64&) = delete;

    void check() const noexcept
    {
        record->checks++;
        if (reinterpret_cast<std::uintptr_t>(this) % 64 != 0)
            record->misaligned++;
    }
    void called() const noexcept
    {
        check();
        record->called.add();
    }
};

// 64 bytes: with the stored result it fits the library's recycled blocks.
auto small_aligned_handler(AlignmentRecord& record)
{
    return [capture = Aligned64(&record)](asock::io_result) { capture.called(); };
}

// 128 bytes: beyond the recycled blocks' size.
auto large_aligned_handler(AlignmentRecord& record)
{
    return [capture = Aligned64(&record), padding = Aligned64(&record)](asock::io_result) {
        capture.called();
        padding.check();
    };
}

constexpr int kHandlers = 64;

class AlignedHandlers : public CppContract
{
protected:
    // Opens a socket, sends kHandlers bytes and starts kHandlers receives with handlers made by
    // make_handler, then closes the socket (which completes the receives).
    template <typename MakeHandler>
    void run_socket_handlers(MakeHandler make_handler, AlignmentRecord& record)
    {
        asock::engine e = cpp_engine();
        Connection c = tcp_connection();
        asock::socket s(e, c.ours);
        ASSERT_FALSE(s.open(make_handler(record)));
        ASSERT_TRUE(record.called.wait_for(1));
        static const std::byte one{1};
        for (int i = 0; i < kHandlers; ++i)
            ASSERT_FALSE(s.send(std::span(&one, 1), make_handler(record)));
        EXPECT_EQ(static_cast<size_t>(kHandlers), read_exactly(c.peer, kHandlers).size());
        std::vector<std::byte> in(kHandlers);
        for (int i = 0; i < kHandlers; ++i)
            ASSERT_FALSE(s.receive(std::span(&in[i], 1), make_handler(record)));
        s.close();
        EXPECT_TRUE(record.called.wait_for(1 + 2 * kHandlers));
        close_socket(c.peer);
    }
};

TEST_P(AlignedHandlers, small_handlers_with_64_byte_aligned_captures_are_built_and_called_at_aligned_addresses)
{
    static_assert(sizeof(decltype(small_aligned_handler(std::declval<AlignmentRecord&>()))) == 64);
    AlignmentRecord record;
    run_socket_handlers(small_aligned_handler, record);
    EXPECT_EQ(0, record.misaligned.load()) << "of " << record.checks.load() << " checks";
}

TEST_P(AlignedHandlers, large_handlers_with_64_byte_aligned_captures_are_built_and_called_at_aligned_addresses)
{
    static_assert(sizeof(decltype(large_aligned_handler(std::declval<AlignmentRecord&>()))) == 128);
    AlignmentRecord record;
    run_socket_handlers(large_aligned_handler, record);
    EXPECT_EQ(0, record.misaligned.load()) << "of " << record.checks.load() << " checks";
}

TEST_P(AlignedHandlers, connection_handlers_with_64_byte_aligned_captures_are_built_and_called_at_aligned_addresses)
{
    asock::engine e = cpp_engine();
    AlignmentRecord record;
    constexpr int kConnections = 16;
    std::vector<asock::socket> sockets(2 * kConnections);
    std::atomic<int> next{0};
    auto handler = [&record, &sockets, &next, capture = Aligned64(&record)](asock::connection c) {
        sockets[next++] = std::move(c.socket);
        capture.called();
    };
    {
        asock::listener server(e, "127.0.0.1", 0);
        for (int i = 0; i < kConnections; ++i)
            ASSERT_FALSE(server.accept(handler));
        for (int i = 0; i < kConnections; ++i)
            ASSERT_FALSE(asock::connect(e, "127.0.0.1", server.port(), 5s, handler));
        EXPECT_TRUE(record.called.wait_for(2 * kConnections));
    }
    sockets.clear();
    EXPECT_EQ(0, record.misaligned.load()) << "of " << record.checks.load() << " checks";
}

ASOCK_INSTANTIATE_CONTRACT(AlignedHandlers);

}  // namespace
}  // namespace asock_test
