// fork() while engines run: a child can always exit, and may start engines of its own
// (docs/api.md, "fork"). The parent keeps several threads allocating and freeing operations
// while it forks, so that at some forks one of them holds the library's shared locks.
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "asock/asock.hpp"
#include "cpp/cpp_fixture.h"

namespace {

// LeakSanitizer checks at exit, also in a forked child, where the parent's other threads are
// gone and what only they referenced (their operation caches, their loops' operations) looks
// leaked. LeakSanitizer asks this function (sanitizer/lsan_interface.h) before it checks.
std::atomic<bool> g_in_forked_child{false};

}  // namespace

extern "C" int __lsan_is_turned_off() { return g_in_forked_child.load() ? 1 : 0; }

namespace asock_test {
namespace {

#if defined(__SANITIZE_THREAD__)
constexpr bool kThreadSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kThreadSanitizer = true;
#else
constexpr bool kThreadSanitizer = false;
#endif
#else
constexpr bool kThreadSanitizer = false;
#endif

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

// Under a sanitizer a child starts and ends far more slowly (its runtime's own exit work), and a
// loaded machine makes that slower still: fewer forks, a longer deadline.
constexpr bool kSanitized = kThreadSanitizer || kAddressSanitizer;
constexpr int kForks = kSanitized ? 60 : 300;
constexpr int kEchoForks = 40;
constexpr auto kChildDeadline = std::chrono::seconds(kSanitized ? 30 : 5);
constexpr auto kForkBudget = std::chrono::seconds(20);

// One stream of sends: an application thread sends (the operations' memory is allocated on
// that thread) and the receiving socket's handler receives again and again, on its loop,
// where the sends' memory is freed too. The sending thread's cache runs dry and the loop's
// overflows, so both go to the shared depot all the time.
class Lane
{
public:
    Lane(asock::engine& sending, asock::engine& receiving)
    {
        const Connection c = local_connection();
        out_ = open_cpp_socket(sending, c.ours);
        in_ = open_cpp_socket(receiving, as_handle(c.peer));
        receive_next();
        sender_ = std::thread([this] {
            while (!stop_.load())
                send_one();
        });
    }

    ~Lane()
    {
        stop_ = true;
        sender_.join();
        out_.close();
        in_.close();
    }

    // One send from the calling thread when fewer than kInFlight are pending.
    void send_one()
    {
        if (in_flight_.load() >= kInFlight)
        {
            std::this_thread::yield();
            return;
        }
        in_flight_++;
        if (out_.send(std::span<const std::byte>(data_), [this](asock::io_result) {
                in_flight_--;
                sent_++;
            }))
            in_flight_--;
    }

    uint64_t sent() const { return sent_.load(); }

private:
    static constexpr int kInFlight = 16;

    void receive_next()
    {
        (void)in_.receive(std::span(buffer_), [this](asock::io_result r) {
            if (r)
                receive_next();
        });
    }

    asock::socket out_;
    asock::socket in_;
    std::array<std::byte, 64> data_{};
    std::array<std::byte, 256> buffer_{};
    std::atomic<int> in_flight_{0};
    std::atomic<uint64_t> sent_{0};
    std::atomic<bool> stop_{false};
    std::thread sender_;
};

// Two engines of two loops each, three lanes between them.
class Traffic
{
public:
    explicit Traffic(Backend backend) : first_(asock::engine::adopt(make_engine(backend, 2))), second_(asock::engine::adopt(make_engine(backend, 2)))
    {
        for (int i = 0; i < 3; ++i)
            lanes_.push_back(std::make_unique<Lane>(i % 2 == 0 ? first_ : second_, i % 2 == 0 ? second_ : first_));
    }

    // The forking thread sends too, so that its own cache holds blocks when the child exits
    // and gives them back to the depot.
    void send_from_this_thread() { lanes_.front()->send_one(); }

    uint64_t sent() const
    {
        uint64_t total = 0;
        for (const auto& lane : lanes_)
            total += lane->sent();
        return total;
    }

private:
    asock::engine first_;
    asock::engine second_;
    std::vector<std::unique_ptr<Lane>> lanes_;  // destroyed before the engines
};

// What the parent learned of one child.
struct ChildEnd
{
    bool exited = false;  // within the deadline
    int status = 0;
};

// Waits up to the deadline for the child to end; kills it when it does not.
ChildEnd reap(pid_t child)
{
    const auto deadline = std::chrono::steady_clock::now() + kChildDeadline;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline)
    {
        const pid_t ended = ::waitpid(child, &status, WNOHANG);
        if (ended == child)
            return ChildEnd{true, status};
        if (ended == -1)
            return ChildEnd{false, -1};
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ::kill(child, SIGKILL);
    (void)::waitpid(child, &status, 0);
    return ChildEnd{false, status};
}

// The child of an echo fork: an engine of its own moves a few bytes through a socket and
// back. Returns the child's exit status (0: the bytes came back).
int echo_in_child(Backend backend)
{
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0)
        return 10;
    asock::engine engine = asock::engine::adopt(make_engine(backend));
    if (engine.native_handle() == nullptr)
        return 11;
    asock::socket s(engine, as_handle(pair[0]));
    std::atomic<int> stage{0};
    std::array<std::byte, 16> buffer{};
    if (s.open([&](asock::io_result r) { stage = r ? 1 : -1; }))
        return 12;
    static const char ping[] = "ping";
    if (!write_all(pair[1], ping, 4))
        return 13;
    // Receive what the peer wrote, then send it back.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (stage.load() == 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (stage.load() != 1)
        return 14;
    if (s.receive(std::span(buffer), [&](asock::io_result r) {
            if (!r || s.send(std::span<const std::byte>(buffer).first(r.bytes), [&](asock::io_result sent) { stage = sent ? 2 : -2; }))
                stage = -3;
        }))
        return 15;
    const std::vector<uint8_t> echoed = read_exactly(pair[1], 4, std::chrono::seconds(3));
    if (echoed.size() != 4 || std::memcmp(echoed.data(), ping, 4) != 0)
        return 16;
    while (stage.load() == 1 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (stage.load() != 2)
        return 17;
    s = asock::socket();  // destroyed before its engine
    ::close(pair[1]);
    return 0;
}

// Forks up to `forks` times (within the budget) while the traffic runs; each child runs
// child_main and exits with what it returns. Every child must end within the deadline, with 0.
template <typename ChildMain>
void fork_while_traffic_runs(Backend backend, int forks, ChildMain child_main)
{
    Traffic traffic(backend);
    const uint64_t sent_before = traffic.sent();
    const auto budget_end = std::chrono::steady_clock::now() + kForkBudget;
    int done = 0;
    for (; done < forks && std::chrono::steady_clock::now() < budget_end; ++done)
    {
        for (int i = 0; i < 4; ++i)
            traffic.send_from_this_thread();
        std::fflush(nullptr);  // or every child would write the parent's buffered output again
        const pid_t child = ::fork();
        ASSERT_NE(-1, child) << std::strerror(errno);
        if (child == 0)
        {
            g_in_forked_child = true;
            std::exit(child_main());
        }
        const ChildEnd end = reap(child);
        ASSERT_TRUE(end.exited) << "child " << done + 1 << " did not exit within " << kChildDeadline.count() << " s: killed";
        ASSERT_TRUE(WIFEXITED(end.status)) << "child " << done + 1 << " ended by signal " << (WIFSIGNALED(end.status) ? WTERMSIG(end.status) : 0);
        ASSERT_EQ(0, WEXITSTATUS(end.status)) << "child " << done + 1;
    }
    ::testing::Test::RecordProperty("forks", done);
    EXPECT_LT(sent_before, traffic.sent()) << "no traffic ran while the test forked";
}

class Fork : public Contract
{
};

TEST_P(Fork, a_child_that_only_exits_always_exits_while_the_parents_engines_run)
{
    fork_while_traffic_runs(GetParam(), kForks, [] { return 0; });
}

TEST_P(Fork, a_child_can_start_its_own_engine_and_echo_bytes_while_the_parents_engines_run)
{
    if (kThreadSanitizer)
        GTEST_SKIP() << "ThreadSanitizer does not support starting threads in the child of a multi-threaded fork";
    // GCC 12's AddressSanitizer does not hold its allocator's locks across fork: a child whose
    // parent had a thread inside the allocator at that moment deadlocks in its own first
    // allocations (seen here: child 1 of 40 hung under load).
    if (kAddressSanitizer)
        GTEST_SKIP() << "this AddressSanitizer does not lock its allocator across fork: a child that allocates may deadlock in the sanitizer";
    const Backend backend = GetParam();
    fork_while_traffic_runs(backend, kEchoForks, [backend] { return echo_in_child(backend); });
}

ASOCK_INSTANTIATE_CONTRACT(Fork);

}  // namespace
}  // namespace asock_test
