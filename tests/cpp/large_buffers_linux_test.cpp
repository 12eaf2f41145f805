// Buffers beyond the C API's limit (one buffer or a total over UINT32_MAX bytes) in the C++
// API: refused with std::errc::invalid_argument before any byte is touched, never truncated.
// The large buffers are address ranges without memory behind them (PROT_NONE, MAP_NORESERVE):
// a call that touched a byte of one would fail otherwise, not pass.
#include <sys/mman.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <system_error>

#include "asock/asock.hpp"
#include "cpp/cpp_fixture.h"

namespace asock_test {
namespace {

constexpr std::uint64_t kFourGiB = std::uint64_t{1} << 32;

// An address range of `size` bytes mapped with the given protection, and no memory reserved.
class Mapping
{
public:
    Mapping(std::uint64_t size, int protection) : size_(size), base_(::mmap(nullptr, size, protection, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)) {}
    ~Mapping()
    {
        if (base_ != MAP_FAILED)
            ::munmap(base_, size_);
    }
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;

    bool mapped() const { return base_ != MAP_FAILED; }
    std::span<std::byte> bytes() const { return {static_cast<std::byte*>(base_), size_}; }

private:
    std::uint64_t size_;
    void* base_;
};

// The sizes just over the limit: 4 GiB (which a cast to uint32_t makes 0) and 4 GiB + 10
// (which it makes 10).
constexpr std::array<std::uint64_t, 2> kOversizes{kFourGiB, kFourGiB + 10};

class LargeBuffers : public CppContract
{
protected:
    void SetUp() override
    {
        CppContract::SetUp();
        if (IsSkipped() || HasFatalFailure())
            return;
        if (!untouchable_.mapped())
            GTEST_SKIP() << "cannot map 4 GiB + 10 bytes of address space here";
        cpp_engine_ = cpp_engine();
        connection_ = local_connection();
        socket_ = open_cpp_socket(cpp_engine_, connection_.ours);
    }

    void TearDown() override
    {
        socket_ = asock::socket();
        if (connection_.peer != kNoSocket)
            close_socket(connection_.peer);
        CppContract::TearDown();
    }

    // The first `size` bytes of the untouchable range.
    std::span<std::byte> untouchable(std::uint64_t size) const { return untouchable_.bytes().first(size); }

    // Two buffers of the untouchable range whose lengths add up to 4 GiB.
    std::array<asock::buffer, 2> buffers_totalling_four_gib() const
    {
        void* base = untouchable_.bytes().data();
        return {asock::buffer{base, UINT32_MAX}, asock::buffer{base, 1}};
    }

    // The peer's next bytes are exactly `text`: nothing else went out before them.
    void expect_peer_reads_next(const char* text)
    {
        const std::size_t size = std::strlen(text);
        Counter sent;
        ASSERT_FALSE(socket_.send(std::as_bytes(std::span(text, size)), [&sent](asock::io_result) { sent.add(); }));
        const std::vector<uint8_t> received = read_exactly(connection_.peer, size);
        ASSERT_EQ(size, received.size());
        EXPECT_EQ(0, std::memcmp(received.data(), text, size));
        EXPECT_TRUE(sent.wait_for(1));
    }

    // The next bytes the peer writes arrive whole in a receive: none was taken before it.
    void expect_receive_gets_next(const char* text)
    {
        const std::size_t size = std::strlen(text);
        std::array<std::byte, 64> in{};
        Counter received;
        asock::io_result result{asock::result::error, 0};
        ASSERT_FALSE(socket_.receive(std::span(in), [&](asock::io_result r) {
            result = r;
            received.add();
        }));
        ASSERT_TRUE(write_all(connection_.peer, text, size));
        ASSERT_TRUE(received.wait_for(1));
        ASSERT_EQ(size, result.bytes);
        EXPECT_EQ(0, std::memcmp(in.data(), text, size));
    }

    Mapping untouchable_{kFourGiB + 10, PROT_NONE};
    asock::engine cpp_engine_ = asock::engine::adopt(nullptr);
    Connection connection_{{}, kNoSocket};
    // Declared last, destroyed first: a handler or coroutine it completes finds the test's
    // state alive.
    asock::socket socket_;
};

// What a coroutine's one await yielded; done counts 1 when it resumed.
struct Awaited
{
    asock::io_result result{asock::result::ok, 0};
    Counter done;
};

asock::task await_send(asock::socket& s, std::span<const std::byte> bytes, Awaited& out)
{
    out.result = co_await s.send(bytes);
    out.done.add();
}

asock::task await_send(asock::socket& s, std::span<const asock::buffer> buffers, Awaited& out)
{
    out.result = co_await s.send(buffers);
    out.done.add();
}

asock::task await_receive(asock::socket& s, std::span<std::byte> bytes, Awaited& out)
{
    out.result = co_await s.receive(bytes);
    out.done.add();
}

asock::task await_receive(asock::socket& s, std::span<const asock::buffer> buffers, Awaited& out)
{
    out.result = co_await s.receive(buffers);
    out.done.add();
}

// A refused await resumes at once, inside the call that started the coroutine.
void expect_refused_as_invalid_argument(const Awaited& awaited)
{
    ASSERT_EQ(1u, awaited.done.value()) << "the await was not refused at once";
    EXPECT_FALSE(awaited.result);
    EXPECT_EQ(0u, awaited.result.bytes);
    EXPECT_EQ(std::errc::invalid_argument, awaited.result.error()) << awaited.result.error().message();
}

TEST_P(LargeBuffers, handler_sends_of_a_span_over_UINT32_MAX_bytes_are_refused_with_invalid_argument)
{
    std::atomic<int> calls{0};
    for (const std::uint64_t size : kOversizes)
    {
        const std::span<const std::byte> bytes = untouchable(size);
        EXPECT_EQ(std::errc::invalid_argument, socket_.send(bytes, [&calls](asock::io_result) { calls++; })) << size << " bytes";
    }
    expect_peer_reads_next("after");
    EXPECT_EQ(0, calls.load());
}

TEST_P(LargeBuffers, handler_receives_into_a_span_over_UINT32_MAX_bytes_are_refused_with_invalid_argument)
{
    std::atomic<int> calls{0};
    for (const std::uint64_t size : kOversizes)
        EXPECT_EQ(std::errc::invalid_argument, socket_.receive(untouchable(size), [&calls](asock::io_result) { calls++; })) << size << " bytes";
    expect_receive_gets_next("after");
    EXPECT_EQ(0, calls.load());
}

TEST_P(LargeBuffers, awaited_sends_of_a_span_over_UINT32_MAX_bytes_yield_invalid_argument)
{
    for (const std::uint64_t size : kOversizes)
    {
        Awaited awaited;
        await_send(socket_, std::span<const std::byte>(untouchable(size)), awaited);
        expect_refused_as_invalid_argument(awaited);
    }
    expect_peer_reads_next("after");
}

TEST_P(LargeBuffers, awaited_receives_into_a_span_over_UINT32_MAX_bytes_yield_invalid_argument)
{
    for (const std::uint64_t size : kOversizes)
    {
        Awaited awaited;
        await_receive(socket_, untouchable(size), awaited);
        expect_refused_as_invalid_argument(awaited);
    }
    expect_receive_gets_next("after");
}

TEST_P(LargeBuffers, handler_sends_of_buffers_totalling_over_UINT32_MAX_bytes_are_refused_with_invalid_argument)
{
    const auto buffers = buffers_totalling_four_gib();
    std::atomic<int> calls{0};
    EXPECT_EQ(std::errc::invalid_argument, socket_.send(std::span(buffers), [&calls](asock::io_result) { calls++; }));
    expect_peer_reads_next("after");
    EXPECT_EQ(0, calls.load());
}

TEST_P(LargeBuffers, handler_receives_into_buffers_totalling_over_UINT32_MAX_bytes_are_refused_with_invalid_argument)
{
    const auto buffers = buffers_totalling_four_gib();
    std::atomic<int> calls{0};
    EXPECT_EQ(std::errc::invalid_argument, socket_.receive(std::span(buffers), [&calls](asock::io_result) { calls++; }));
    expect_receive_gets_next("after");
    EXPECT_EQ(0, calls.load());
}

TEST_P(LargeBuffers, awaited_sends_of_buffers_totalling_over_UINT32_MAX_bytes_yield_invalid_argument)
{
    const auto buffers = buffers_totalling_four_gib();
    Awaited awaited;
    await_send(socket_, std::span<const asock::buffer>(buffers), awaited);
    expect_refused_as_invalid_argument(awaited);
    expect_peer_reads_next("after");
}

TEST_P(LargeBuffers, awaited_receives_into_buffers_totalling_over_UINT32_MAX_bytes_yield_invalid_argument)
{
    const auto buffers = buffers_totalling_four_gib();
    Awaited awaited;
    await_receive(socket_, std::span<const asock::buffer>(buffers), awaited);
    expect_refused_as_invalid_argument(awaited);
    expect_receive_gets_next("after");
}

TEST_P(LargeBuffers, make_buffer_refuses_a_span_over_UINT32_MAX_bytes)
{
    for (const std::uint64_t size : kOversizes)
    {
        EXPECT_THROW((void)asock::make_buffer(untouchable(size)), std::length_error) << size << " bytes";
        EXPECT_THROW((void)asock::make_buffer(std::span<const std::byte>(untouchable(size))), std::length_error) << size << " bytes";
    }
}

// The limit itself is allowed: the receive starts (nothing arrives before the close, so no
// byte of the range is touched). How the backend then completes it is not this test's
// business: it completes once, by the close at the latest.
TEST_P(LargeBuffers, a_receive_into_a_span_of_exactly_UINT32_MAX_bytes_is_started)
{
    std::atomic<int> calls{0};
    EXPECT_FALSE(socket_.receive(untouchable(UINT32_MAX), [&calls](asock::io_result) { calls++; }));
    socket_.close();
    EXPECT_EQ(1, calls.load());
}

ASOCK_INSTANTIATE_CONTRACT(LargeBuffers);

}  // namespace
}  // namespace asock_test
