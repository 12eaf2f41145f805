// The guarantees about callbacks that only Linux has: every callback of a socket runs on its
// loop thread, one of the engine's threads named "asock-loop-N" (02_001, 01_035). The portable
// tests are in guarantees_callbacks_test.cpp, which instantiates the suite.
#include <dirent.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "contract/guarantee_helpers.h"

namespace asock_test {
namespace {

using namespace std::chrono_literals;

inline pid_t current_tid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

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

// Where and how one callback ran.
struct Where
{
    std::atomic<int> calls{0};
    std::atomic<pid_t> tid{0};
    std::atomic<std::thread::id> thread{};
    std::mutex mutex;
    std::string thread_name;
    Counter done;

    void record()
    {
        tid = current_tid();
        thread = std::this_thread::get_id();
        {
            std::lock_guard<std::mutex> lock(mutex);
            thread_name = current_thread_name();
        }
        calls++;
        done.add();
    }
    std::string name()
    {
        std::lock_guard<std::mutex> lock(mutex);
        return thread_name;
    }
};

// Tests_SRS_ASYNC_SOCKET_LINUX_02_001
TEST_P(Callbacks, every_callback_of_a_socket_runs_on_its_loop_thread)
{
    EngineWithThreads own = make_engine_with_threads(GetParam(), 2);
    ASSERT_NE(own.handle, nullptr);
    ASSERT_EQ(2u, own.loop_tids.size());

    constexpr int kSockets = 4;
    struct PerSocket
    {
        Connection c;
        ASYNC_SOCKET_HANDLE socket = nullptr;
        Where open, sent, received, abandoned;
        std::array<uint8_t, 100> out{}, in{}, never{};
    };
    std::vector<std::unique_ptr<PerSocket>> sockets;
    auto on_open = [](void* context, ASYNC_SOCKET_OPEN_RESULT) { static_cast<Where*>(context)->record(); };
    auto on_send = [](void* context, ASYNC_SOCKET_SEND_RESULT) { static_cast<Where*>(context)->record(); };
    auto on_receive = [](void* context, ASYNC_SOCKET_RECEIVE_RESULT, uint32_t) { static_cast<Where*>(context)->record(); };
    for (int i = 0; i < kSockets; ++i)
    {
        auto p = std::make_unique<PerSocket>();
        p->c = tcp_connection();
        p->socket = async_socket_create(own.handle, p->c.ours);
        ASSERT_NE(p->socket, nullptr);
        ASSERT_EQ(0, async_socket_open_async(p->socket, on_open, &p->open));
        ASSERT_TRUE(p->open.done.wait_for(1));
        ASYNC_SOCKET_BUFFER sb{p->out.data(), static_cast<uint32_t>(p->out.size())};
        ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(p->socket, &sb, 1, on_send, &p->sent));
        ASSERT_TRUE(p->sent.done.wait_for(1));
        ASYNC_SOCKET_BUFFER rb{p->in.data(), static_cast<uint32_t>(p->in.size())};
        ASSERT_EQ(0, async_socket_receive_async(p->socket, &rb, 1, on_receive, &p->received));
        ASSERT_TRUE(write_all(p->c.peer, "x", 1));
        ASSERT_TRUE(p->received.done.wait_for(1));
        // Completed by the close below, called from this thread.
        ASYNC_SOCKET_BUFFER nb{p->never.data(), static_cast<uint32_t>(p->never.size())};
        ASSERT_EQ(0, async_socket_receive_async(p->socket, &nb, 1, on_receive, &p->abandoned));
        sockets.push_back(std::move(p));
    }
    for (auto& p : sockets)
        async_socket_close(p->socket);

    for (auto& p : sockets)
    {
        const pid_t loop_tid = p->open.tid.load();
        EXPECT_EQ(1u, own.loop_tids.count(loop_tid)) << "the open callback ran on a thread that is not one of the engine's";
        for (Where* where : {&p->open, &p->sent, &p->received, &p->abandoned})
        {
            EXPECT_EQ(1, where->calls.load());
            EXPECT_EQ(loop_tid, where->tid.load()) << "callbacks of one socket ran on different threads";
            EXPECT_TRUE(starts_with(where->name(), "asock-loop")) << "callback thread: " << where->name();
        }
        async_socket_destroy(p->socket);
        ::close(p->c.peer);
    }
    execution_engine_dec_ref(own.handle);
}

}  // namespace
}  // namespace asock_test
