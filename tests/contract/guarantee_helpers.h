// Helpers of the tests of the guarantees beyond the seed (SRS_ASYNC_SOCKET_LINUX_02_xxx):
// thread identity, bounded runs of code that may deadlock, and sockets whose sends cannot
// finish.
#pragma once

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "contract/contract_fixture.h"

namespace asock_test {

// How long a test waits for something that may deadlock before it reports a failure. Well
// below the ctest timeout, well above anything a loaded machine needs.
inline constexpr auto kHangTimeout = std::chrono::seconds(10);

inline pid_t current_tid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

inline std::string current_thread_name()
{
    char name[64] = {};
    ::pthread_getname_np(::pthread_self(), name, sizeof(name));
    return name;
}

inline bool starts_with(const std::string& text, const std::string& prefix) { return text.compare(0, prefix.size(), prefix) == 0; }

// The kernel thread ids of this process's threads whose name starts with prefix.
inline std::set<pid_t> threads_named(const std::string& prefix)
{
    std::set<pid_t> tids;
    if (DIR* d = ::opendir("/proc/self/task"))
    {
        while (dirent* e = ::readdir(d))
        {
            if (e->d_name[0] == '.')
                continue;
            std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
            std::string name;
            if (std::getline(comm, name) && starts_with(name, prefix))
                tids.insert(static_cast<pid_t>(std::atoi(e->d_name)));
        }
        ::closedir(d);
    }
    return tids;
}

// An engine with its own loop threads, and the kernel ids of those threads.
struct EngineWithThreads
{
    EXECUTION_ENGINE_HANDLE handle = nullptr;
    std::set<pid_t> loop_tids;
};

inline EngineWithThreads make_engine_with_threads(Backend backend, uint32_t threads)
{
    EngineWithThreads result;
    // Every thread that exists before, whatever its name: another engine's loop thread may
    // not have named itself yet.
    const std::set<pid_t> before = threads_named("");
    result.handle = make_engine(backend, threads);
    // A loop names its thread once it runs: wait (bounded) until every new thread has.
    const auto deadline = std::chrono::steady_clock::now() + kTimeout;
    while (result.handle != nullptr && std::chrono::steady_clock::now() < deadline)
    {
        result.loop_tids.clear();
        for (pid_t tid : threads_named("asock-loop"))
            if (before.count(tid) == 0)
                result.loop_tids.insert(tid);
        if (result.loop_tids.size() >= threads)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return result;
}

// Runs fn on a thread of its own and waits at most timeout for it to return. On timeout the
// thread is left running (detached) and false is returned: fn must then only touch memory
// that the test leaks, which is why it is taken by value and every state it uses should be
// reached through pointers the test does not free when this returns false.
template <typename F>
bool finishes_within(std::chrono::milliseconds timeout, F fn)
{
    auto done = std::make_shared<Counter>();
    std::thread thread([done, fn = std::move(fn)]() mutable {
        fn();
        done->add();
    });
    if (done->wait_for(1, timeout))
    {
        thread.join();
        return true;
    }
    thread.detach();
    return false;
}

// Polls pred until it is true or the timeout passes.
template <typename Predicate>
bool eventually(Predicate pred, std::chrono::milliseconds timeout = kTimeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred())
    {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return true;
}

// Creates an async socket on fd on the given engine and opens it, waiting for the open
// callback. Returns the thread the open callback ran on through loop_thread (the socket's
// loop thread).
inline ASYNC_SOCKET_HANDLE open_on(EXECUTION_ENGINE_HANDLE on_engine, int fd, std::thread::id* loop_thread = nullptr)
{
    ASYNC_SOCKET_HANDLE socket = async_socket_create(on_engine, fd);
    EXPECT_NE(socket, nullptr);
    OpenRecord open;
    EXPECT_EQ(0, async_socket_open_async(socket, OpenRecord::callback, &open));
    EXPECT_TRUE(open.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_OPEN_OK, open.result.load());
    if (loop_thread != nullptr)
        *loop_thread = open.thread.load();
    return socket;
}

// A TCP connection whose sends get stuck quickly when the peer does not read: small kernel
// buffers on both sides (setting them also turns off their automatic growth).
inline Connection small_buffer_connection()
{
    Connection c = tcp_connection();
    set_send_buffer(c.ours, 32 * 1024);
    set_receive_buffer(c.peer, 32 * 1024);
    return c;
}

// Far more than the kernel buffers of small_buffer_connection hold: a send of it does not
// finish while the peer does not read.
inline constexpr size_t kStuckSendSize = 16u * 1024 * 1024;

// Process CPU time (user + system, every thread) in seconds.

// Counts the SIGPIPEs the process receives while it lives, and restores the previous
// disposition afterwards.
class SigpipeCounter
{
public:
    SigpipeCounter()
    {
        count().store(0);
        struct sigaction action{};
        action.sa_handler = &SigpipeCounter::handler;
        sigemptyset(&action.sa_mask);
        installed_ = ::sigaction(SIGPIPE, &action, &previous_) == 0;
    }
    ~SigpipeCounter()
    {
        if (installed_)
            ::sigaction(SIGPIPE, &previous_, nullptr);
    }
    SigpipeCounter(const SigpipeCounter&) = delete;
    SigpipeCounter& operator=(const SigpipeCounter&) = delete;

    bool installed() const { return installed_; }
    int value() const { return count().load(); }

private:
    static std::atomic<int>& count()
    {
        static std::atomic<int> n{0};
        return n;
    }
    static void handler(int) { count().fetch_add(1); }

    struct sigaction previous_{};
    bool installed_ = false;
};

}  // namespace asock_test
