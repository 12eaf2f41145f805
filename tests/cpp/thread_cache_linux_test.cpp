// Operation memory on a thread that is ending (src/linux/op_pool.cpp): the thread's cache
// gives its blocks to the shared depot when the thread ends; thread_local destructors that
// run after that (those of objects built before the thread's first operation) may still
// start and end operations.
#include <array>
#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "asock/asock.hpp"
#include "cpp/cpp_fixture.h"

namespace asock_test {
namespace {

// One block of the library's recycled handler memory, as a small handler takes it.
void* take_block() { return asock::detail::handler_allocate(asock::detail::kSmallHandler, asock::detail::kSmallHandlerAlignment); }
void give_block(void* block) { asock::detail::handler_deallocate(block, asock::detail::kSmallHandler, asock::detail::kSmallHandlerAlignment); }

// Built by the test's thread before that thread's first operation: thread_local objects are
// destroyed in the reverse order of their construction, so this one's destructor runs after
// the library's cache of the thread has been given back.
struct LateAllocation
{
    std::atomic<void*>* taken = nullptr;

    ~LateAllocation()
    {
        if (taken != nullptr)
            taken->store(take_block());
    }
};

thread_local LateAllocation tls_late_allocation;

TEST(ThreadCache, memory_taken_after_the_thread_cache_was_given_back_is_not_also_in_the_depot)
{
    std::atomic<void*> late{nullptr};
    std::thread ending([&late] {
        tls_late_allocation.taken = &late;
        // The thread's first operation memory: its cache starts, and holds this block after.
        give_block(take_block());
    });
    ending.join();
    void* const in_use = late.load();
    ASSERT_NE(nullptr, in_use);

    // Empty this thread's cache and the top of the depot: none of it may be the block in use.
    std::vector<void*> drawn;
    for (int i = 0; i < 1024; ++i)
    {
        drawn.push_back(take_block());
        ASSERT_NE(nullptr, drawn.back());
        ASSERT_NE(in_use, drawn.back()) << "block " << i << " is also held by the ended thread's late destructor";
    }
    for (void* block : drawn)
        give_block(block);
    give_block(in_use);
}

// The destructor of a thread_local object that outlives the thread's cache sends twice:
// once on an open socket (the memory is freed on the loop), once on a socket that is not open
// (refused: the memory is freed at once, on this thread).
struct LateSender
{
    asock::socket* open = nullptr;
    asock::socket* not_open = nullptr;
    std::atomic<int>* sent = nullptr;
    std::error_code* refusal = nullptr;

    ~LateSender()
    {
        if (open == nullptr)
            return;
        static const char text[] = "late";
        auto bytes = std::as_bytes(std::span(text, 4));
        if (open->send(bytes, [this_sent = sent](asock::io_result r) { *this_sent = r ? 1 : -1; }))
            *sent = -2;
        *refusal = not_open->send(bytes, [this_sent = sent](asock::io_result) { *this_sent = -3; });
    }
};

thread_local LateSender tls_late_sender;

class ThreadCacheSends : public CppContract
{
};

TEST_P(ThreadCacheSends, a_thread_local_destructor_that_runs_after_the_thread_cache_can_still_send_and_free)
{
    asock::engine e = cpp_engine();
    Connection c = local_connection();
    asock::socket open = open_cpp_socket(e, c.ours);
    Connection other = local_connection();
    asock::socket not_open(e, other.ours);
    std::atomic<int> sent{0};
    std::error_code refusal;
    std::thread ending([&] {
        tls_late_sender.not_open = &not_open;
        tls_late_sender.sent = &sent;
        tls_late_sender.refusal = &refusal;
        tls_late_sender.open = &open;
        // The thread's first operation starts its cache (the memory is freed on the loop).
        static const char first[] = "first";
        std::atomic<int> first_sent{0};
        ASSERT_FALSE(open.send(std::as_bytes(std::span(first, 5)), [&first_sent](asock::io_result) { first_sent = 1; }));
        for (int i = 0; i < 2000 && first_sent.load() == 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    ending.join();
    EXPECT_EQ(make_error_code(asock::result::abandoned), refusal);
    const std::vector<uint8_t> received = read_exactly(c.peer, 9);
    ASSERT_EQ(9u, received.size());
    EXPECT_EQ(0, std::memcmp(received.data(), "firstlate", 9));
    for (int i = 0; i < 2000 && sent.load() == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_EQ(1, sent.load());
    close_socket(c.peer);
    close_socket(other.peer);
}

ASOCK_INSTANTIATE_CONTRACT(ThreadCacheSends);

}  // namespace
}  // namespace asock_test
