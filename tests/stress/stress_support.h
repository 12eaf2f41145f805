// What the stress scenarios share: the time budget, the fixture (once per backend), and the
// endpoint, the test's record of one async socket, through whose operation slots every
// operation and its completion are counted in the scenario's ledger.
//
// Time: ASOCK_STRESS_SECONDS (default 6) is the budget of one backend, shared by the
// scenarios; each stops by itself when its share has passed. A soak is the same run, longer:
//   ASOCK_STRESS_SECONDS=600 build/ci/tests/asock_stress_tests
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "support/ledger.h"
#include "support/helpers.h"

namespace asock_stress {

using namespace asock_test;

inline double stress_seconds()
{
    const char* text = std::getenv("ASOCK_STRESS_SECONDS");
    const double seconds = text != nullptr ? std::atof(text) : 0;
    return seconds > 0 ? seconds : 6;
}

// The part of the budget one scenario gets.
inline std::chrono::milliseconds share_of_budget(double fraction)
{
    return std::chrono::milliseconds(static_cast<int64_t>(stress_seconds() * fraction * 1000));
}

// A cheap random number per thread (xorshift), seeded from the thread and the clock.
inline uint32_t random_below(uint32_t n)
{
    thread_local uint64_t state = std::hash<std::thread::id>{}(std::this_thread::get_id()) ^
                                  static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^ 0x9e3779b97f4a7c15ull;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<uint32_t>(state % n);
}

// What every send takes its bytes from: only the kernel reads it.
inline const uint8_t* payload()
{
    static const std::vector<uint8_t> bytes = pattern(64 * 1024, 99);
    return bytes.data();
}
inline constexpr uint32_t kPayloadSize = 64 * 1024;

struct Endpoint;

// One operation of an endpoint at a time: busy from the call that issues it until its
// callback, which checks it was busy (else: a second completion) and that the close of the
// socket it was issued on had not returned yet (else: late).
struct Slot
{
    Endpoint* endpoint = nullptr;
    std::atomic<bool> busy{false};
    std::atomic<uint64_t> generation{0};  // the incarnation of the endpoint it was issued on
    std::atomic<ASYNC_SOCKET_HANDLE> socket{nullptr};
    uint8_t buffer[256] = {};  // a receive's; only the kernel writes it
};

// The test's record of one async socket, reused by the sockets that replace it (each one an
// incarnation with a generation of its own). Records live until the scenario's end, after
// its engines are gone, so that even a callback that should never have come finds one.
struct Endpoint
{
    static constexpr size_t kReceiveSlots = 2;
    static constexpr size_t kSendSlots = 4;

    explicit Endpoint(Ledger& l) : ledger(&l)
    {
        open_slot.endpoint = this;
        for (Slot& slot : receives)
            slot.endpoint = this;
        for (Slot& slot : sends)
            slot.endpoint = this;
    }
    Endpoint(const Endpoint&) = delete;
    Endpoint& operator=(const Endpoint&) = delete;

    Ledger* ledger;
    // The current incarnation; changed only by whoever may destroy it (see the scenarios).
    std::atomic<ASYNC_SOCKET_HANDLE> socket{nullptr};
    std::atomic<uint64_t> generation{0};
    // The last generation whose close (or destroy) has returned: a callback of an operation
    // issued on it or before is late.
    std::atomic<uint64_t> closed_through{0};
    Slot open_slot;
    Slot receives[kReceiveSlots];
    Slot sends[kSendSlots];

    // What callbacks do besides counting.
    std::atomic<bool> chain_receives{false};     // a completed receive issues the next one
    std::atomic<bool> echo{false};               // a completed receive sends as many bytes back
    std::atomic<uint32_t> close_one_in{0};       // a completed receive closes the socket, 1 in n
    std::atomic<bool> destroy_when_ended{false};  // a receive that ends (not OK) destroys the socket
    Endpoint* partner = nullptr;                 // closed from a callback, 1 in partner_close_one_in
    uint32_t partner_close_one_in = 0;
    std::shared_mutex* partner_lock = nullptr;    // held (shared) while the partner is used
    std::atomic<int> closing_partner{0};          // a callback of this endpoint is closing the partner
    Counter* self_destroyed = nullptr;           // counts destroy_when_ended

    // Whether every slot is idle: no operation owes a completion.
    bool idle() const
    {
        if (open_slot.busy.load())
            return false;
        for (const Slot& slot : receives)
            if (slot.busy.load())
                return false;
        for (const Slot& slot : sends)
            if (slot.busy.load())
                return false;
        return true;
    }

    void mark_closed(uint64_t through)
    {
        uint64_t seen = closed_through.load();
        while (seen < through && !closed_through.compare_exchange_weak(seen, through))
        {
        }
    }
};

// --- Issuing operations -------------------------------------------------------------------------

inline Slot* take_slot(Slot* slots, size_t count)
{
    for (size_t i = 0; i < count; ++i)
    {
        bool idle = false;
        if (slots[i].busy.compare_exchange_strong(idle, true))
            return &slots[i];
    }
    return nullptr;
}

inline void record_completion(Slot& slot)
{
    Endpoint& e = *slot.endpoint;
    if (slot.generation.load() <= e.closed_through.load())
        e.ledger->late();
    if (!slot.busy.exchange(false))
        e.ledger->duplicate();
}

void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t bytes);
void on_send(void* context, ASYNC_SOCKET_SEND_RESULT result);

// Issues a receive on socket (incarnation generation of e); false when no slot was free or the
// call refused it.
inline bool start_receive(Endpoint& e, ASYNC_SOCKET_HANDLE socket, uint64_t generation)
{
    Slot* slot = take_slot(e.receives, Endpoint::kReceiveSlots);
    if (slot == nullptr)
        return false;
    slot->generation = generation;
    slot->socket = socket;
    ASYNC_SOCKET_BUFFER b{slot->buffer, sizeof(slot->buffer)};
    const bool accepted = async_socket_receive_async(socket, &b, 1, &on_receive, slot) == 0;
    e.ledger->accepted_or_refused(Ledger::Kind::receive, accepted);
    if (!accepted)
        slot->busy = false;
    return accepted;
}

// Issues a send of size bytes (gathered from up to three buffers).
inline bool start_send(Endpoint& e, ASYNC_SOCKET_HANDLE socket, uint64_t generation, uint32_t size)
{
    Slot* slot = take_slot(e.sends, Endpoint::kSendSlots);
    if (slot == nullptr)
        return false;
    slot->generation = generation;
    slot->socket = socket;
    ASYNC_SOCKET_BUFFER b[3];
    uint32_t count = 0;
    for (uint32_t offset = 0; offset < size; ++count)
    {
        const uint32_t piece = count == 2 ? size - offset : 1 + random_below(size - offset);
        b[count] = ASYNC_SOCKET_BUFFER{const_cast<uint8_t*>(payload()) + offset, piece};
        offset += piece;
    }
    const bool accepted = async_socket_send_async(socket, b, count, &on_send, slot) == ASYNC_SOCKET_SEND_SYNC_OK;
    e.ledger->accepted_or_refused(Ledger::Kind::send, accepted);
    if (!accepted)
        slot->busy = false;
    return accepted;
}

inline void on_open(void* context, ASYNC_SOCKET_OPEN_RESULT result)
{
    Slot& slot = *static_cast<Slot*>(context);
    record_completion(slot);
    slot.endpoint->ledger->delivered(result);
}

inline void on_send(void* context, ASYNC_SOCKET_SEND_RESULT result)
{
    Slot& slot = *static_cast<Slot*>(context);
    record_completion(slot);
    slot.endpoint->ledger->delivered(result);
}

// Closes the partner of e from a callback, if the scenario allows it and no one is replacing
// it (try_lock_shared: waiting here for a thread that waits for this callback would deadlock).
// When the partner's callback is closing e at the same time, the two closes wait for each
// other: the one that closes the cycle returns before the other socket's pending operations
// complete (docs/api.md, "Closing from callbacks"), so such a close does not count as one
// after which a callback would be late.
inline void maybe_close_partner(Endpoint& e)
{
    if (e.partner == nullptr || e.partner_close_one_in == 0 || random_below(e.partner_close_one_in) != 0)
        return;
    if (!e.partner_lock->try_lock_shared())
        return;
    Endpoint& partner = *e.partner;
    const uint64_t generation = partner.generation.load();
    e.closing_partner++;
    const bool crossing_before = partner.closing_partner.load() != 0;
    async_socket_close(partner.socket.load());
    const bool crossing_after = partner.closing_partner.load() != 0;
    e.closing_partner--;
    if (!crossing_before && !crossing_after)
        partner.mark_closed(generation);
    e.partner_lock->unlock_shared();
}

inline void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t bytes)
{
    Slot& slot = *static_cast<Slot*>(context);
    Endpoint& e = *slot.endpoint;
    // Read before the slot is released: another thread may take it at once.
    const uint64_t generation = slot.generation.load();
    ASYNC_SOCKET_HANDLE socket = slot.socket.load();
    record_completion(slot);
    e.ledger->delivered(result);
    if (result != ASYNC_SOCKET_RECEIVE_OK)
    {
        if (e.destroy_when_ended.exchange(false))
        {
            async_socket_destroy(socket);  // from its own callback: allowed (02_012)
            e.mark_closed(generation);
            e.self_destroyed->add();
        }
        return;
    }
    if (e.echo)
        start_send(e, socket, generation, bytes);
    if (e.chain_receives)
        start_receive(e, socket, generation);
    const uint32_t one_in = e.close_one_in.load();
    if (one_in != 0 && random_below(one_in) == 0)
    {
        async_socket_close(socket);  // from its own callback (02_012)
        e.mark_closed(generation);
    }
    maybe_close_partner(e);
}

// Makes a new incarnation of e on fd and opens it. False (fd closed) if create failed.
inline bool create_and_open(Endpoint& e, EXECUTION_ENGINE_HANDLE engine, int fd)
{
    ASYNC_SOCKET_HANDLE socket = async_socket_create(engine, fd);
    if (socket == nullptr)
    {
        ::close(fd);
        return false;
    }
    const uint64_t generation = e.generation.load() + 1;
    e.generation = generation;
    e.socket = socket;
    Slot& slot = e.open_slot;
    slot.busy = true;
    slot.generation = generation;
    slot.socket = socket;
    const bool accepted = async_socket_open_async(socket, &on_open, &slot) == 0;
    e.ledger->accepted_or_refused(Ledger::Kind::open, accepted);
    if (!accepted)
        slot.busy = false;
    return true;
}

// Destroys e's current incarnation (its close returns inside) and notes it.
inline void destroy(Endpoint& e)
{
    ASYNC_SOCKET_HANDLE socket = e.socket.exchange(nullptr);
    if (socket == nullptr)
        return;
    async_socket_destroy(socket);
    e.mark_closed(e.generation.load());
}

// --- The fixture ----------------------------------------------------------------------------

class Stress : public ::testing::TestWithParam<Backend>
{
protected:
    void SetUp() override
    {
        if (!backend_available(GetParam()))
            GTEST_SKIP() << backend_name(GetParam()) << " cannot be used on this machine";
        baseline_threads = thread_count();
        baseline_fds = open_fd_count();
    }

    // Prints the ledger's figures (for the docs) and checks them: every accepted operation
    // delivered exactly once, nothing late.
    void report(const Ledger& ledger, std::chrono::steady_clock::duration took) const
    {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        std::cout << "[ledger] " << info->test_suite_name() << "." << info->name() << ": "
                  << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms, " << ledger.figures() << std::endl;
        EXPECT_EQ(ledger.accepted_count(), ledger.delivered_count());
        EXPECT_TRUE(ledger.balanced()) << ledger.figures();
        EXPECT_GT(ledger.accepted_count(), 0u);
    }

    // Once every engine is gone: the threads and descriptors of the process are those of
    // before the test.
    void expect_nothing_left_behind() const
    {
        EXPECT_TRUE(wait_for_thread_count(baseline_threads)) << thread_count() << " threads, " << baseline_threads << " before";
        const auto deadline = std::chrono::steady_clock::now() + kTimeout;
        while (open_fd_count() > baseline_fds && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        EXPECT_EQ(baseline_fds, open_fd_count());
    }

    size_t baseline_threads = 0;
    size_t baseline_fds = 0;
};

inline std::string stress_param_name(const ::testing::TestParamInfo<Backend>& info) { return backend_name(info.param); }

#define ASOCK_INSTANTIATE_STRESS(suite) \
    INSTANTIATE_TEST_SUITE_P(Backends, suite, ::testing::ValuesIn(::asock_test::platform_backends()), ::asock_stress::stress_param_name)

}  // namespace asock_stress
