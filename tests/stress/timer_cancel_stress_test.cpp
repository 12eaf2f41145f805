// Timers, timed receives and cancels under load: eight threads start, cancel, restart and
// replace (destroy and create again) 64 timers and the sockets of 32 connections spread over
// two engines of two loops, while callbacks restart their own timers and start receives, and
// the peers write at random. The ledger counts every start: timers started = fired + cancelled
// + abandoned, timed receives started = completed (by result); no start completes twice, none
// after the destroy of its timer or socket returned.
// Requirements: docs/requirements/timers.md (SRS_ASOCK_TIMER_12_021).
#include <sys/socket.h>

#include <array>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <sstream>
#include <vector>

#include "asock/async_socket_deadline.h"
#include "asock/async_timer.h"
#include "stress/stress_support.h"

namespace asock_stress {
namespace {

constexpr size_t kTimers = 64;
constexpr size_t kConnections = 32;
constexpr size_t kWorkers = 8;
constexpr size_t kTickets = 1u << 20;  // starts the run may make; beyond, workers stop starting

// Counts by kind and result; what was started must equal what completed.
struct TimerLedger
{
    std::atomic<uint64_t> timers_started{0};
    std::atomic<uint64_t> timers_refused{0};
    std::array<std::atomic<uint64_t>, 3> timer_results{};  // FIRED, CANCELLED, ABANDONED
    std::atomic<uint64_t> receives_started{0};
    std::atomic<uint64_t> receives_refused{0};
    std::array<std::atomic<uint64_t>, 5> receive_results{};  // OK, ERROR, ABANDONED, TIMEOUT, CANCELLED
    std::atomic<uint64_t> duplicates{0};
    std::atomic<uint64_t> late{0};
    std::atomic<uint64_t> unknown{0};
    std::atomic<uint64_t> cancels{0};

    static uint64_t sum(const auto& counts)
    {
        uint64_t total = 0;
        for (const auto& n : counts)
            total += n.load();
        return total;
    }
    bool balanced() const
    {
        return timers_started.load() == sum(timer_results) && receives_started.load() == sum(receive_results) && duplicates.load() == 0 && late.load() == 0 && unknown.load() == 0;
    }
    std::string figures() const
    {
        std::ostringstream out;
        out << "timers started " << timers_started.load() << " (refused " << timers_refused.load() << ") = fired " << timer_results[0].load() << " + cancelled "
            << timer_results[1].load() << " + abandoned " << timer_results[2].load() << "; timed receives started " << receives_started.load() << " (refused "
            << receives_refused.load() << ") = OK " << receive_results[0].load() << " + ERROR " << receive_results[1].load() << " + ABANDONED "
            << receive_results[2].load() << " + TIMEOUT " << receive_results[3].load() << " + CANCELLED " << receive_results[4].load() << "; cancels "
            << cancels.load() << "; duplicate callbacks " << duplicates.load() << ", late callbacks " << late.load() << ", unknown results " << unknown.load();
        return out.str();
    }
};

// What a timer or a socket is now: its handle and its incarnation. A callback of an
// incarnation whose destroy has returned is late.
struct Owner
{
    std::shared_mutex lock;  // shared to use the handle, exclusive to replace it
    std::atomic<void*> handle{nullptr};
    std::atomic<uint64_t> generation{0};
    std::atomic<uint64_t> destroyed_generation{0};  // the last incarnation whose destroy returned
    int peer = -1;                                  // a socket's other end (plain)
};

// One start: completed exactly once.
struct Ticket
{
    std::atomic<int> calls{0};
    Owner* owner = nullptr;
    uint64_t generation = 0;
    uint8_t buffer[16];
};

struct World
{
    TimerLedger ledger;
    std::unique_ptr<Ticket[]> tickets{new Ticket[kTickets]};
    std::atomic<size_t> next_ticket{0};
    std::array<Owner, kTimers> timers;
    std::array<Owner, kConnections> sockets;
    EXECUTION_ENGINE_HANDLE engines[2] = {nullptr, nullptr};

    Ticket* ticket(Owner& owner, uint64_t generation)
    {
        const size_t i = next_ticket.fetch_add(1);
        if (i >= kTickets)
            return nullptr;
        Ticket& t = tickets[i];
        t.owner = &owner;
        t.generation = generation;
        return &t;
    }

    // The completion of t: once, and not after its owner's destroy returned.
    void completed(Ticket& t)
    {
        if (t.calls.fetch_add(1) != 0)
            ledger.duplicates++;
        if (t.owner->destroyed_generation.load() >= t.generation)
            ledger.late++;
    }
};

World* g_world = nullptr;

void start_timer(Owner& owner, ASYNC_TIMER_HANDLE timer, uint64_t generation, uint32_t delay);

void on_timer(void* context, ASYNC_TIMER_RESULT result)
{
    auto& t = *static_cast<Ticket*>(context);
    g_world->completed(t);
    if (static_cast<int>(result) < 0 || static_cast<int>(result) > 2)
        g_world->ledger.unknown++;
    else
        g_world->ledger.timer_results[static_cast<size_t>(result)]++;
    // A fired timer restarts itself now and then (its destroy waits for this callback).
    if (result == ASYNC_TIMER_FIRED && random_below(4) == 0)
        start_timer(*t.owner, static_cast<ASYNC_TIMER_HANDLE>(t.owner->handle.load()), t.generation, random_below(3));
}

void start_timer(Owner& owner, ASYNC_TIMER_HANDLE timer, uint64_t generation, uint32_t delay)
{
    if (timer == nullptr)
        return;
    Ticket* t = g_world->ticket(owner, generation);
    if (t == nullptr)
        return;
    if (async_timer_start(timer, delay, on_timer, t) == 0)
        g_world->ledger.timers_started++;
    else
        g_world->ledger.timers_refused++;
}

void start_receive(Owner& owner, ASYNC_SOCKET_HANDLE socket, uint64_t generation);

void on_receive(void* context, ASYNC_SOCKET_RECEIVE_TIMED_RESULT result, uint32_t)
{
    auto& t = *static_cast<Ticket*>(context);
    g_world->completed(t);
    if (static_cast<int>(result) < 0 || static_cast<int>(result) > 4)
        g_world->ledger.unknown++;
    else
        g_world->ledger.receive_results[static_cast<size_t>(result)]++;
    if ((result == ASYNC_SOCKET_RECEIVE_TIMED_OK || result == ASYNC_SOCKET_RECEIVE_TIMED_TIMEOUT) && random_below(2) == 0)
        start_receive(*t.owner, static_cast<ASYNC_SOCKET_HANDLE>(t.owner->handle.load()), t.generation);
}

void start_receive(Owner& owner, ASYNC_SOCKET_HANDLE socket, uint64_t generation)
{
    if (socket == nullptr)
        return;
    Ticket* t = g_world->ticket(owner, generation);
    if (t == nullptr)
        return;
    ASYNC_SOCKET_BUFFER buffer{t->buffer, static_cast<uint32_t>(1 + random_below(sizeof(t->buffer)))};
    if (async_socket_receive_timed_async(socket, &buffer, 1, random_below(6), on_receive, t) == 0)
        g_world->ledger.receives_started++;
    else
        g_world->ledger.receives_refused++;
}

// Replaces a timer (exclusive lock held by the caller).
void replace_timer(World& world, Owner& owner, size_t i)
{
    async_timer_destroy(static_cast<ASYNC_TIMER_HANDLE>(owner.handle.exchange(nullptr)));
    owner.destroyed_generation = owner.generation.load();
    owner.generation++;
    owner.handle = async_timer_create(world.engines[i % 2]);
}

// Replaces a connection (exclusive lock held by the caller): false if none could be made.
bool replace_socket(World& world, Owner& owner, size_t i)
{
    async_socket_destroy(static_cast<ASYNC_SOCKET_HANDLE>(owner.handle.exchange(nullptr)));
    owner.destroyed_generation = owner.generation.load();
    owner.generation++;
    if (owner.peer >= 0)
        ::close(owner.peer);
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        return false;
    owner.peer = fds[1];
    set_nonblocking(fds[1], true);
    owner.handle = asock_test::create_and_open(world.engines[i % 2], fds[0]);
    return owner.handle.load() != nullptr;
}

bool work(World& world, std::chrono::steady_clock::time_point deadline)
{
    while (std::chrono::steady_clock::now() < deadline && world.next_ticket.load() < kTickets)
    {
        const uint32_t action = random_below(100);
        if (action < 55)
        {
            const size_t i = random_below(kTimers);
            Owner& owner = world.timers[i];
            if (action < 2)
            {
                std::unique_lock<std::shared_mutex> lock(owner.lock);
                replace_timer(world, owner, i);
                continue;
            }
            std::shared_lock<std::shared_mutex> lock(owner.lock);
            auto* timer = static_cast<ASYNC_TIMER_HANDLE>(owner.handle.load());
            if (action < 40)
                start_timer(owner, timer, owner.generation.load(), random_below(4));
            else if (async_timer_cancel(timer) == 0)
                world.ledger.cancels++;
            continue;
        }
        const size_t i = random_below(kConnections);
        Owner& owner = world.sockets[i];
        if (action < 57)
        {
            std::unique_lock<std::shared_mutex> lock(owner.lock);
            if (!replace_socket(world, owner, i))
                return false;
            continue;
        }
        std::shared_lock<std::shared_mutex> lock(owner.lock);
        auto* socket = static_cast<ASYNC_SOCKET_HANDLE>(owner.handle.load());
        if (action < 80)
            start_receive(owner, socket, owner.generation.load());
        else if (action < 90)
            (void)send_some(owner.peer, payload(), 1 + random_below(64));
        else if (async_socket_cancel_receives(socket) == 0)
            world.ledger.cancels++;
    }
    return true;
}

class TimerCancelStress : public Stress
{
};

// Tests_SRS_ASOCK_TIMER_12_021, Tests_SRS_ASOCK_DEADLINE_12_013
TEST_P(TimerCancelStress, eight_threads_starting_cancelling_and_replacing_timers_and_timed_receives_complete_every_start_once)
{
    const auto started = std::chrono::steady_clock::now();
    auto world = std::make_unique<World>();
    g_world = world.get();
    world->engines[0] = make_engine(GetParam(), 2);
    world->engines[1] = make_engine(GetParam(), 2);
    ASSERT_NE(nullptr, world->engines[0]);
    ASSERT_NE(nullptr, world->engines[1]);
    for (size_t i = 0; i < kTimers; ++i)
        replace_timer(*world, world->timers[i], i);
    for (size_t i = 0; i < kConnections; ++i)
        ASSERT_TRUE(replace_socket(*world, world->sockets[i], i));

    const auto deadline = std::chrono::steady_clock::now() + share_of_budget(0.25);
    std::atomic<size_t> failed_workers{0};
    {
        std::vector<std::jthread> workers;
        for (size_t i = 0; i < kWorkers; ++i)
            workers.emplace_back([&] {
                if (!work(*world, deadline))
                    failed_workers++;
            });
    }
    EXPECT_EQ(0u, failed_workers.load()) << "a worker could not make a socketpair";

    // Every destroy returns once its starts have completed: then the ledger balances at once.
    for (Owner& owner : world->timers)
    {
        std::unique_lock<std::shared_mutex> lock(owner.lock);
        async_timer_destroy(static_cast<ASYNC_TIMER_HANDLE>(owner.handle.exchange(nullptr)));
        owner.destroyed_generation = owner.generation.load();
    }
    for (Owner& owner : world->sockets)
    {
        std::unique_lock<std::shared_mutex> lock(owner.lock);
        async_socket_destroy(static_cast<ASYNC_SOCKET_HANDLE>(owner.handle.exchange(nullptr)));
        owner.destroyed_generation = owner.generation.load();
        ::close(owner.peer);
    }
    const TimerLedger& ledger = world->ledger;
    std::cout << "[ledger] TimerCancelStress/" << backend_name(GetParam()) << ": "
              << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count() << " ms, " << ledger.figures() << std::endl;
    EXPECT_TRUE(ledger.balanced()) << ledger.figures();
    EXPECT_GT(ledger.timer_results[0].load(), 0u);
    EXPECT_GT(ledger.timer_results[1].load(), 0u);
    EXPECT_GT(ledger.receive_results[3].load(), 0u) << "no receive timed out";
    EXPECT_GT(ledger.receive_results[4].load(), 0u) << "no receive was cancelled";
    execution_engine_dec_ref(world->engines[0]);
    execution_engine_dec_ref(world->engines[1]);
    g_world = nullptr;
    expect_nothing_left_behind();
}

ASOCK_INSTANTIATE_STRESS(TimerCancelStress);

}  // namespace
}  // namespace asock_stress
