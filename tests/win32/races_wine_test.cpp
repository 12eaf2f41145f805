// Races of issue 12's Win32 paths against the real threadpool (under Wine in CI): a cancel
// racing a timer's firing, a destroy from the callback, a cancel_accepts racing an incoming
// connection, cancel_receives racing received bytes. Each race is repeated with a cancel made
// after a varying spin, so that it lands before, during and after the completion.
// Tests_SRS_ASYNC_SOCKET_WIN32_77_013, Tests_SRS_ASYNC_SOCKET_WIN32_77_014, Tests_SRS_ASYNC_SOCKET_WIN32_77_016
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "asock/async_socket_deadline.h"
#include "asock/async_timer.h"
#include "support/helpers.h"

namespace {

using namespace std::chrono_literals;
using asock_test::Counter;

constexpr int kRaces = 300;

// Runs action on another thread after `spins` iterations of a busy loop; joins on destruction.
class RacingCall
{
public:
    template <typename Action>
    RacingCall(int spins, Action action)
        : thread_([spins, action] {
              std::atomic<int> spun{0};
              while (spun.fetch_add(1, std::memory_order_relaxed) < spins)
              {
              }
              action();
          })
    {
    }
    ~RacingCall() { thread_.join(); }
    RacingCall(const RacingCall&) = delete;
    RacingCall& operator=(const RacingCall&) = delete;

private:
    std::thread thread_;
};

struct EngineGuard
{
    EXECUTION_ENGINE_HANDLE engine;
    explicit EngineGuard(uint32_t threads = 4)
    {
        EXECUTION_ENGINE_PARAMETERS parameters{threads, 0};
        engine = execution_engine_create(&parameters);
    }
    ~EngineGuard() { execution_engine_dec_ref(engine); }
};

// One timer start: how many callbacks, which result, and whether it destroys its timer.
struct TimerRace
{
    ASYNC_TIMER_HANDLE timer = nullptr;
    std::atomic<int> callbacks{0};
    std::atomic<int> result{-1};
    bool destroy_in_callback = false;
    Counter done;

    static void on_timer(void* context, ASYNC_TIMER_RESULT result)
    {
        auto* race = static_cast<TimerRace*>(context);
        race->result = result;
        race->callbacks.fetch_add(1);
        if (race->destroy_in_callback)
            async_timer_destroy(race->timer);
        race->done.add();
    }
};

TEST(AsyncTimerWin32Races, a_cancel_racing_the_firing_completes_each_start_exactly_once)
{
    EngineGuard e;
    ASSERT_NE(nullptr, e.engine);
    for (int i = 0; i < kRaces; ++i)
    {
        TimerRace race;
        race.timer = async_timer_create(e.engine);
        ASSERT_NE(nullptr, race.timer);
        ASSERT_EQ(0, async_timer_start(race.timer, static_cast<uint32_t>(i % 2), TimerRace::on_timer, &race));
        {
            RacingCall cancel((i % 16) * 500, [&race] { EXPECT_EQ(0, async_timer_cancel(race.timer)); });
        }
        ASSERT_TRUE(race.done.wait_for(1, 5s)) << "race " << i;
        async_timer_destroy(race.timer);
        EXPECT_EQ(1, race.callbacks.load()) << "race " << i;
        EXPECT_TRUE(race.result == ASYNC_TIMER_FIRED || race.result == ASYNC_TIMER_CANCELLED) << "race " << i;
    }
}

TEST(AsyncTimerWin32Races, a_callback_that_destroys_its_timer_runs_once_and_the_timer_goes)
{
    EngineGuard e;
    ASSERT_NE(nullptr, e.engine);
    for (int i = 0; i < kRaces; ++i)
    {
        auto race = std::make_unique<TimerRace>();
        race->destroy_in_callback = true;
        race->timer = async_timer_create(e.engine);
        ASSERT_NE(nullptr, race->timer);
        ASSERT_EQ(0, async_timer_start(race->timer, static_cast<uint32_t>(i % 2), TimerRace::on_timer, race.get()));
        ASSERT_TRUE(race->done.wait_for(1, 5s)) << "race " << i;
        std::this_thread::sleep_for(1ms * (i % 2));
        EXPECT_EQ(1, race->callbacks.load()) << "race " << i;
        EXPECT_EQ(ASYNC_TIMER_FIRED, race->result.load()) << "race " << i;
    }
}

// The C++ sleep's handshake: a cancel runs only if the callback has not begun; a callback
// that begins while a cancel runs waits for it, then destroys the timer.
struct HandshakeRace
{
    ASYNC_TIMER_HANDLE timer = nullptr;
    std::atomic<int> state{0};  // 0 idle, 1 cancelling, 2 cancel done, 3 completed first
    std::atomic<int> callbacks{0};
    Counter done;

    void cancel()
    {
        int idle = 0;
        if (!state.compare_exchange_strong(idle, 1))
            return;
        EXPECT_EQ(0, async_timer_cancel(timer));
        state = 2;
    }
    static void on_timer(void* context, ASYNC_TIMER_RESULT)
    {
        auto* race = static_cast<HandshakeRace*>(context);
        race->callbacks.fetch_add(1);
        int idle = 0;
        if (!race->state.compare_exchange_strong(idle, 3))
            while (race->state.load() != 2)
                std::this_thread::yield();
        async_timer_destroy(race->timer);
        race->done.add();
    }
};

TEST(AsyncTimerWin32Races, a_cancel_racing_a_callback_that_destroys_its_timer_completes_once)
{
    EngineGuard e;
    ASSERT_NE(nullptr, e.engine);
    for (int i = 0; i < kRaces; ++i)
    {
        auto race = std::make_unique<HandshakeRace>();
        race->timer = async_timer_create(e.engine);
        ASSERT_NE(nullptr, race->timer);
        ASSERT_EQ(0, async_timer_start(race->timer, static_cast<uint32_t>(i % 2), HandshakeRace::on_timer, race.get()));
        {
            RacingCall cancel((i % 16) * 500, [&race] { race->cancel(); });
        }
        ASSERT_TRUE(race->done.wait_for(1, 5s)) << "race " << i;
        EXPECT_EQ(1, race->callbacks.load()) << "race " << i;
    }
}

TEST(AsyncTimerWin32Races, a_destroy_racing_the_firing_completes_the_start_once_before_it_returns)
{
    EngineGuard e;
    ASSERT_NE(nullptr, e.engine);
    for (int i = 0; i < kRaces; ++i)
    {
        TimerRace race;
        race.timer = async_timer_create(e.engine);
        ASSERT_NE(nullptr, race.timer);
        ASSERT_EQ(0, async_timer_start(race.timer, static_cast<uint32_t>(i % 2), TimerRace::on_timer, &race));
        for (std::atomic<int> spun{0}; spun.fetch_add(1) < (i % 16) * 500;)
        {
        }
        async_timer_destroy(race.timer);
        ASSERT_EQ(1, race.callbacks.load()) << "race " << i;
        EXPECT_TRUE(race.result == ASYNC_TIMER_FIRED || race.result == ASYNC_TIMER_ABANDONED) << "race " << i;
    }
}

TEST(AsyncTimerWin32Races, a_start_racing_the_firing_of_the_earlier_start_completes_both_once)
{
    EngineGuard e;
    ASSERT_NE(nullptr, e.engine);
    for (int i = 0; i < kRaces; ++i)
    {
        TimerRace first;
        TimerRace second;
        ASYNC_TIMER_HANDLE timer = async_timer_create(e.engine);
        ASSERT_NE(nullptr, timer);
        ASSERT_EQ(0, async_timer_start(timer, static_cast<uint32_t>(i % 2), TimerRace::on_timer, &first));
        {
            RacingCall restart((i % 16) * 500, [&] { EXPECT_EQ(0, async_timer_start(timer, 0, TimerRace::on_timer, &second)); });
        }
        ASSERT_TRUE(first.done.wait_for(1, 5s)) << "race " << i;
        ASSERT_TRUE(second.done.wait_for(1, 5s)) << "race " << i;
        async_timer_destroy(timer);
        EXPECT_EQ(1, first.callbacks.load());
        EXPECT_EQ(1, second.callbacks.load());
        EXPECT_EQ(ASYNC_TIMER_FIRED, second.result.load());
    }
}

// ---- Accepts ------------------------------------------------------------------------------

struct AcceptRace
{
    std::atomic<int> callbacks{0};
    std::atomic<int> result{-1};
    std::atomic<int> error{-1};
    ASYNC_SOCKET_HANDLE socket = nullptr;
    Counter done;

    static void on_accept(void* context, ASYNC_SOCKET_ACCEPT_RESULT result, ASYNC_SOCKET_HANDLE socket, int error)
    {
        auto* race = static_cast<AcceptRace*>(context);
        race->socket = socket;
        race->result = result;
        race->error = error;
        race->callbacks.fetch_add(1);
        race->done.add();
    }
};

SOCKET plain_connect(uint16_t port)
{
    asock_test::ensure_winsock();
    SOCKET client = ::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(client, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0)
    {
        ::closesocket(client);
        return INVALID_SOCKET;
    }
    return client;
}

TEST(AsyncSocketListenerWin32Races, cancel_accepts_racing_a_connection_completes_once_and_loses_no_connection)
{
    EngineGuard e;
    ASYNC_SOCKET_LISTENER_HANDLE listener = nullptr;
    int error = 0;
    ASSERT_EQ(ASYNC_SOCKET_LISTENER_CREATE_OK, async_socket_listener_create(e.engine, "127.0.0.1", 0, 16, &listener, &error));
    const uint16_t port = async_socket_listener_get_port(listener);
    int cancelled = 0;
    for (int i = 0; i < kRaces / 3; ++i)
    {
        AcceptRace race;
        ASSERT_EQ(0, async_socket_listener_accept_async(listener, AcceptRace::on_accept, &race));
        SOCKET client;
        {
            RacingCall cancel((i % 16) * 500, [&] { EXPECT_EQ(0, async_socket_listener_cancel_accepts(listener)); });
            client = plain_connect(port);
            ASSERT_NE(INVALID_SOCKET, client);
        }
        ASSERT_TRUE(race.done.wait_for(1, 5s)) << "race " << i;
        if (race.result == ASYNC_SOCKET_ACCEPT_CANCELLED)
        {
            ++cancelled;
            EXPECT_EQ(ECANCELED, race.error.load());
            AcceptRace drain;  // the connection waits in the backlog
            ASSERT_EQ(0, async_socket_listener_accept_async(listener, AcceptRace::on_accept, &drain));
            ASSERT_TRUE(drain.done.wait_for(1, 5s)) << "race " << i;
            ASSERT_EQ(ASYNC_SOCKET_ACCEPT_OK, drain.result.load()) << "race " << i;
            async_socket_destroy(drain.socket);
        }
        else
        {
            ASSERT_EQ(ASYNC_SOCKET_ACCEPT_OK, race.result.load()) << "race " << i << " error " << race.error;
            async_socket_destroy(race.socket);
        }
        ::closesocket(client);
        EXPECT_EQ(1, race.callbacks.load());
    }
    std::printf("  %d cancelled\n", cancelled);
    async_socket_listener_destroy(listener);
}

}  // namespace
