// Helpers of the tests of the guarantees beyond the seed (SRS_ASYNC_SOCKET_LINUX_02_xxx): the
// platform differences kPlatform does not name, bounded runs of code that may deadlock,
// sockets whose sends cannot finish, and the fixtures shared with the *_linux_test.cpp files.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#ifndef _WIN32
#include <fcntl.h>
#include <pthread.h>
#endif

#include "contract/contract_fixture.h"

namespace asock_test {

// How long a test waits for something that may deadlock before it reports a failure. Well
// below the ctest timeout, well above anything a loaded machine needs.
inline constexpr auto kHangTimeout = std::chrono::seconds(10);

// Platform differences that kPlatform (contract_fixture.h) does not name.
//
// Linux: every callback of a socket runs on the socket's loop thread, one of the engine's
// threads named "asock-loop-N", and sockets are spread over the loops round robin
// (SRS_ASYNC_SOCKET_LINUX_01_035, 02_001). The seed runs the callbacks on any thread of the
// engine's threadpool (SRS_ASYNC_SOCKET_WIN32_01_036): a socket has no thread of its own, and
// the pool's threads have no name the library gives them.
#ifdef _WIN32
inline constexpr bool kCallbacksRunOnTheSocketsLoopThread = false;
#else
inline constexpr bool kCallbacksRunOnTheSocketsLoopThread = true;
#endif

// The name of the calling thread ("" where the platform gives none).
inline std::string current_thread_name()
{
#ifdef _WIN32
    return {};
#else
    char name[64] = {};
    ::pthread_getname_np(::pthread_self(), name, sizeof(name));
    return name;
#endif
}

inline bool starts_with(const std::string& text, const std::string& prefix) { return text.compare(0, prefix.size(), prefix) == 0; }

// The file status flags of a handle, to check that the library keeps its mode (02_008), where
// the platform can read them back: Linux fcntl(F_GETFL). Windows sets the mode with
// ioctlsocket(FIONBIO), which cannot be read back: std::nullopt.
inline std::optional<int> handle_status_flags(SOCKET_HANDLE handle)
{
#ifdef _WIN32
    (void)handle;
    return std::nullopt;
#else
    return ::fcntl(handle, F_GETFL);
#endif
}

// Whether status flags of handle_status_flags say non-blocking.
inline bool flags_say_nonblocking(int flags)
{
#ifdef _WIN32
    (void)flags;
    return false;
#else
    return (flags & O_NONBLOCK) != 0;
#endif
}

// Runs fn on a thread of its own and waits at most timeout for it to return. On timeout the
// thread is left running (detached) and false is returned: fn must then only touch memory
// that the test leaks, which is why it is taken by value and every state it uses should be
// reached through pointers the test does not free when this returns false.
// Runs calls on threads that never end. Under Wine an overlapped operation whose OVERLAPPED
// has an event (the seed's design) is cancelled when the thread that started it exits
// (docs/requirements/async_socket_win32_notes.md), so a thread that starts an operation a
// test expects to stay pending must outlive it. Idle threads are reused.
class LastingThreads
{
public:
    static void run(std::function<void()> call)
    {
        static LastingThreads* threads = new LastingThreads();  // never destroyed: its threads never end
        threads->submit(std::move(call));
    }

private:
    void submit(std::function<void()> call)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        calls_.push_back(std::move(call));
        if (idle_ == 0)
            std::thread([this] { serve(); }).detach();
        else
            cv_.notify_one();
    }

    void serve()
    {
        std::unique_lock<std::mutex> lock(mutex_);
        for (;;)
        {
            ++idle_;
            cv_.wait(lock, [this] { return !calls_.empty(); });
            --idle_;
            std::function<void()> call = std::move(calls_.front());
            calls_.pop_front();
            lock.unlock();
            call();
            lock.lock();
        }
    }

    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> calls_;
    size_t idle_ = 0;
};

// Runs fn on another thread (one that outlives it) and waits for it at most timeout: false if
// it did not return in time (a hang: the call is left running).
template <typename F>
bool finishes_within(std::chrono::milliseconds timeout, F fn)
{
    auto done = std::make_shared<Counter>();
    auto shared = std::make_shared<F>(std::move(fn));
    LastingThreads::run([done, shared] {
        (*shared)();
        done->add();
    });
    return done->wait_for(1, timeout);
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

// Creates an async socket on handle on the given engine and opens it, waiting for the open
// callback. Returns the thread the open callback ran on through loop_thread (on Linux the
// socket's loop thread; on Windows the caller's, see kPlatform.open_completes_inside_open).
inline ASYNC_SOCKET_HANDLE open_on(EXECUTION_ENGINE_HANDLE on_engine, SOCKET_HANDLE handle, std::thread::id* loop_thread = nullptr)
{
    ASYNC_SOCKET_HANDLE socket = async_socket_create(on_engine, handle);
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
    set_send_buffer(as_native(c.ours), 32 * 1024);
    set_receive_buffer(c.peer, 32 * 1024);
    return c;
}

// Far more than the kernel buffers of small_buffer_connection hold: a send of it does not
// finish while the peer does not read.
inline constexpr size_t kStuckSendSize = 16u * 1024 * 1024;

// The fixtures whose Linux-only tests are in the matching *_linux_test.cpp file: one class
// for both files, so that those tests keep their full names. The portable file instantiates
// the suite.
class Callbacks : public Contract
{
};

}  // namespace asock_test
