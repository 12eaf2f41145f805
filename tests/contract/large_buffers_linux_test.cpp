// One buffer larger than 2 GiB (up to the API's UINT32_MAX): the kernel moves at most about
// 2 GiB per call, and io_uring refuses a single send or receive longer than that (EINVAL) where
// send(2) and recv(2) just do less. A receive completes with what arrived; a send goes on until
// its last byte is out (SRS_ASYNC_SOCKET_LINUX_02_017). The buffers are address ranges without
// memory behind them until the kernel writes a page (MAP_NORESERVE), so the tests cost little.
#include <sys/mman.h>

#include "contract/seed_helpers.h"

namespace asock_test {
namespace {

class LargeBuffersLinux : public Contract
{
};

// An address range of size bytes, readable and writable, with no memory until touched.
class LazyRange
{
public:
    explicit LazyRange(size_t size) : size_(size)
    {
        void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        data_ = p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
    }
    ~LazyRange()
    {
        if (data_ != nullptr)
            ::munmap(data_, size_);
    }
    LazyRange(const LazyRange&) = delete;
    LazyRange& operator=(const LazyRange&) = delete;
    uint8_t* data() const { return data_; }

private:
    size_t size_;
    uint8_t* data_;
};

// Tests_SRS_ASYNC_SOCKET_LINUX_02_017
TEST_P(LargeBuffersLinux, a_receive_into_one_buffer_of_uint32_max_bytes_completes_with_what_arrived)
{
    LazyRange range(UINT32_MAX);
    ASSERT_NE(nullptr, range.data());
    Connection c = local_connection();
    OwnedSocket s(create_and_open(engine, c.ours));
    ReceiveRecord received;
    ASYNC_SOCKET_BUFFER buffer{range.data(), UINT32_MAX};
    ASSERT_EQ(0, async_socket_receive_async(s.get(), &buffer, 1, ReceiveRecord::callback, &received));
    ASSERT_TRUE(write_all(c.peer, "hello", 5));
    ASSERT_TRUE(received.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, received.result.load()) << ASYNC_SOCKET_RECEIVE_RESULT_to_string(received.result.load());
    EXPECT_EQ(5u, received.bytes.load());
    EXPECT_EQ(0, std::memcmp(range.data(), "hello", 5));
    s.reset(nullptr);
    close_socket(c.peer);
}

// A send of 2 GiB + 1 MiB in one buffer: the peer reads the first and the last MiB and skips
// the rest, and the send completes OK once its last byte is out.
// Tests_SRS_ASYNC_SOCKET_LINUX_02_017
TEST_P(LargeBuffersLinux, a_send_of_one_buffer_over_two_gib_sends_every_byte)
{
    constexpr size_t kMiB = 1u << 20;
    constexpr size_t kSize = (size_t{2} << 30) + kMiB;
    LazyRange range(kSize);
    ASSERT_NE(nullptr, range.data());
    const auto head = pattern(kMiB, 3);
    const auto tail = pattern(kMiB, 4);
    std::memcpy(range.data(), head.data(), kMiB);
    std::memcpy(range.data() + kSize - kMiB, tail.data(), kMiB);
    Connection c = local_connection();
    OwnedSocket s(create_and_open(engine, c.ours));
    SendRecord sent;
    ASYNC_SOCKET_BUFFER buffer{range.data(), static_cast<uint32_t>(kSize)};
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s.get(), &buffer, 1, SendRecord::callback, &sent));
    EXPECT_EQ(head, read_exactly(c.peer, kMiB));
    std::vector<uint8_t> skip(64 * kMiB);
    for (size_t left = kSize - 2 * kMiB; left != 0;)
    {
        const size_t n = left < skip.size() ? left : skip.size();
        const auto got = read_exactly(c.peer, n);
        ASSERT_EQ(n, got.size()) << "the stream ended " << left << " bytes early";
        left -= n;
    }
    EXPECT_EQ(tail, read_exactly(c.peer, kMiB));
    ASSERT_TRUE(sent.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, sent.result.load()) << ASYNC_SOCKET_SEND_RESULT_to_string(sent.result.load());
    s.reset(nullptr);
    close_socket(c.peer);
}

ASOCK_INSTANTIATE_CONTRACT(LargeBuffersLinux);

}  // namespace
}  // namespace asock_test
