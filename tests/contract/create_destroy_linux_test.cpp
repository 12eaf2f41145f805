// async_socket_create and async_socket_destroy: what only Linux has (the loop threads of the
// engine, observed through their kernel ids, and the process's descriptors). The portable
// tests are in create_destroy_test.cpp, which instantiates the suite.
#include <sys/syscall.h>
#include <unistd.h>

#include "contract/seed_helpers.h"

namespace asock_test {
namespace {

using namespace seed;

inline pid_t current_tid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

// Whether a thread of this process, named by its kernel id, still exists.
inline bool thread_exists(pid_t tid)
{
    const std::string path = "/proc/self/task/" + std::to_string(tid);
    return ::access(path.c_str(), F_OK) == 0;
}

// Records the kernel id of the thread the open callback runs on.
struct OpenTid
{
    std::atomic<pid_t> tid{0};
    Counter done;

    static void callback(void* context, ASYNC_SOCKET_OPEN_RESULT)
    {
        auto* self = static_cast<OpenTid*>(context);
        self->tid = current_tid();
        self->done.add();
    }
};

// Tests_SRS_ASYNC_SOCKET_LINUX_42_004
TEST_P(CreateDestroy, create_takes_an_engine_reference_that_keeps_the_engine_running)
{
    OwnedEngine own(make_engine(GetParam()));
    ASSERT_NE(nullptr, own.get());
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    OpenTid opened;
    OwnedSocket s(async_socket_create(own.get(), c.ours));
    ASSERT_NE(nullptr, s.get());
    // Drop the creator's reference: the socket's must keep the engine and its thread alive.
    own.release();
    ASSERT_EQ(0, async_socket_open_async(s.get(), OpenTid::callback, &opened));
    ASSERT_TRUE(opened.done.wait_for(1));
    EXPECT_TRUE(thread_exists(opened.tid.load()));
    EXPECT_TRUE(round_trip(s.get(), peer.get()));
    EXPECT_TRUE(thread_exists(opened.tid.load()));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_42_005
TEST_P(CreateDestroy, destroy_releases_the_engine_reference)
{
    OwnedEngine own(make_engine(GetParam()));
    ASSERT_NE(nullptr, own.get());
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    OpenTid opened;
    OwnedSocket s(async_socket_create(own.get(), c.ours));
    ASSERT_NE(nullptr, s.get());
    ASSERT_EQ(0, async_socket_open_async(s.get(), OpenTid::callback, &opened));
    ASSERT_TRUE(opened.done.wait_for(1));
    const pid_t loop_thread = opened.tid.load();
    own.release();
    // The socket now holds the engine's only reference.
    ASSERT_TRUE(thread_exists(loop_thread));
    s.destroy();
    // That reference went with the socket: the engine stopped its thread.
    EXPECT_TRUE(wait_until([&] { return !thread_exists(loop_thread); }));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_035
TEST_P(CreateDestroy, sockets_are_spread_round_robin_and_each_calls_back_on_its_loop_thread)
{
    OwnedEngine two(make_engine(GetParam(), 2));
    ASSERT_NE(nullptr, two.get());
    constexpr int kSockets = 4;
    Connection c[kSockets];
    std::vector<std::unique_ptr<ScopedSocket>> peers;
    OpenRecord opened[kSockets];
    SendRecord sent[kSockets];
    ReceiveRecord received[kSockets];
    std::vector<uint8_t> in[kSockets];
    ASYNC_SOCKET_BUFFER receive_buffers[kSockets];
    char out[] = "hello";
    ASYNC_SOCKET_BUFFER send_buffer{out, 5};
    std::unique_ptr<OwnedSocket> s[kSockets];
    for (int i = 0; i < kSockets; ++i)
    {
        c[i] = local_connection();
        peers.push_back(std::make_unique<ScopedSocket>(c[i].peer));
        in[i].resize(16);
        receive_buffers[i] = ASYNC_SOCKET_BUFFER{in[i].data(), static_cast<uint32_t>(in[i].size())};
        s[i] = std::make_unique<OwnedSocket>(create_and_open(two.get(), c[i].ours, opened[i]));
        ASSERT_NE(nullptr, s[i]->get());
    }
    for (int i = 0; i < kSockets; ++i)
    {
        ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s[i]->get(), &send_buffer, 1, SendRecord::callback, &sent[i]));
        ASSERT_EQ(0, async_socket_receive_async(s[i]->get(), &receive_buffers[i], 1, ReceiveRecord::callback, &received[i]));
        ASSERT_TRUE(write_all(c[i].peer, "y", 1));
    }
    for (int i = 0; i < kSockets; ++i)
    {
        ASSERT_TRUE(sent[i].done.wait_for(1));
        ASSERT_TRUE(received[i].done.wait_for(1));
        // Every callback of a socket runs on one engine thread.
        EXPECT_NE(std::this_thread::get_id(), opened[i].thread.load());
        EXPECT_EQ(opened[i].thread.load(), sent[i].thread.load()) << "socket " << i;
        EXPECT_EQ(opened[i].thread.load(), received[i].thread.load()) << "socket " << i;
    }
    // Round robin over the two loops.
    EXPECT_NE(opened[0].thread.load(), opened[1].thread.load());
    EXPECT_EQ(opened[0].thread.load(), opened[2].thread.load());
    EXPECT_EQ(opened[1].thread.load(), opened[3].thread.load());
    for (auto& socket : s)
        socket->destroy();
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_005
TEST_P(CreateDestroy, destroy_leaves_no_descriptor_or_thread_behind)
{
    const size_t fds_before = open_fd_count();
    std::vector<pid_t> loop_threads;
    {
        OwnedEngine own(make_engine(GetParam(), 2));
        ASSERT_NE(nullptr, own.get());
        constexpr int kSockets = 4;
        Connection c[kSockets];
        OpenTid opened[kSockets];
        ReceiveRecord pending[kSockets];
        SendRecord sent[kSockets];
        std::vector<uint8_t> in(kSockets * 16);
        char out[] = "data";
        ASYNC_SOCKET_BUFFER send_buffer{out, 4};
        ASYNC_SOCKET_HANDLE s[kSockets] = {};
        for (int i = 0; i < kSockets; ++i)
        {
            c[i] = i % 2 == 0 ? local_connection() : tcp_connection();
            s[i] = async_socket_create(own.get(), c[i].ours);
            ASSERT_NE(nullptr, s[i]);
            ASSERT_EQ(0, async_socket_open_async(s[i], OpenTid::callback, &opened[i]));
        }
        for (int i = 0; i < kSockets; ++i)
        {
            ASSERT_TRUE(opened[i].done.wait_for(1));
            loop_threads.push_back(opened[i].tid.load());
            ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s[i], &send_buffer, 1, SendRecord::callback, &sent[i]));
            ASSERT_TRUE(sent[i].done.wait_for(1));
            // Left pending: destroy completes it.
            ASYNC_SOCKET_BUFFER buffer{in.data() + i * 16, 16};
            ASSERT_EQ(0, async_socket_receive_async(s[i], &buffer, 1, ReceiveRecord::callback, &pending[i]));
        }
        // One more socket that is never opened.
        Connection unopened = local_connection();
        ASYNC_SOCKET_HANDLE never_opened = async_socket_create(own.get(), unopened.ours);
        ASSERT_NE(nullptr, never_opened);

        for (int i = 0; i < kSockets; ++i)
        {
            async_socket_destroy(s[i]);
            EXPECT_EQ(1, pending[i].calls.load());
            ::close(c[i].peer);
        }
        async_socket_destroy(never_opened);
        ::close(unopened.peer);
    }
    // Every descriptor (sockets, and the engine's own) and every engine thread is gone.
    EXPECT_EQ(fds_before, open_fd_count());
    for (pid_t tid : loop_threads)
        EXPECT_TRUE(wait_until([&] { return !thread_exists(tid); })) << "thread " << tid;
}

}  // namespace
}  // namespace asock_test
