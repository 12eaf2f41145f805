// io_uring usable on the machine, but a ring cannot be set up when an engine is made (no
// memory, no descriptors): the default backend falls back to epoll; an explicit io_uring
// request, or one forced by ASOCK_BACKEND, fails instead.
#include <dirent.h>
#include <limits.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "contract/contract_fixture.h"
#include "support/fault_injection.h"

namespace asock_test {
namespace {

// The process's descriptors of an anonymous inode kind: "[io_uring]" or "[eventpoll]".
size_t descriptors_of_kind(const char* kind)
{
    const std::string wanted = std::string("anon_inode:") + kind;
    size_t n = 0;
    if (DIR* d = ::opendir("/proc/self/fd"))
    {
        while (dirent* e = ::readdir(d))
        {
            char target[PATH_MAX];
            const std::string link = std::string("/proc/self/fd/") + e->d_name;
            const ssize_t length = ::readlink(link.c_str(), target, sizeof(target) - 1);
            if (length > 0 && wanted == std::string(target, static_cast<size_t>(length)))
                ++n;
        }
        ::closedir(d);
    }
    return n;
}

class BackendFallback : public ::testing::Test
{
protected:
    void SetUp() override
    {
        if (!io_uring_usable())
            GTEST_SKIP() << "io_uring cannot be used on this machine: the default is epoll anyway";
        if (const char* value = std::getenv("ASOCK_BACKEND"))
            saved_ = value;
        ::unsetenv("ASOCK_BACKEND");
        fds_ = open_fd_count();
    }
    void TearDown() override
    {
        asock_fault_disarm();
        if (saved_)
            ::setenv("ASOCK_BACKEND", saved_->c_str(), 1);
        else
            ::unsetenv("ASOCK_BACKEND");
        EXPECT_EQ(fds_, open_fd_count()) << "descriptors left behind";
    }

    // An engine of two loops whose `failing`-th ring setup (0: the first) fails.
    EXECUTION_ENGINE_HANDLE create_with_failing_ring(uint64_t failing, ASOCK_LINUX_BACKEND backend)
    {
        const EXECUTION_ENGINE_PARAMETERS parameters{2, 0};
        asock_fault_arm(ASOCK_FAULT_BIT(ASOCK_FAULT_POINT_URING_SETUP), failing);
        EXECUTION_ENGINE_HANDLE engine = backend == ASOCK_LINUX_BACKEND_DEFAULT ? execution_engine_create(&parameters) : execution_engine_linux_create(&parameters, backend);
        EXPECT_EQ(1u, asock_fault_fired()) << "no ring setup failed";
        asock_fault_disarm();
        return engine;
    }

    static void expect_moves_bytes(EXECUTION_ENGINE_HANDLE engine)
    {
        Connection c = local_connection();
        ASYNC_SOCKET_HANDLE socket = async_socket_create(engine, c.ours);
        ASSERT_NE(nullptr, socket);
        OpenRecord open;
        ASSERT_EQ(0, async_socket_open_async(socket, OpenRecord::callback, &open));
        EXPECT_TRUE(open.done.wait_for(1));
        char data[] = "abc";
        ASYNC_SOCKET_BUFFER buffer{data, 3};
        SendRecord sent;
        ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(socket, &buffer, 1, SendRecord::callback, &sent));
        EXPECT_TRUE(sent.done.wait_for(1));
        EXPECT_EQ((std::vector<uint8_t>{'a', 'b', 'c'}), read_exactly(c.peer, 3));
        async_socket_destroy(socket);
        ::close(c.peer);
    }

private:
    std::optional<std::string> saved_;
    size_t fds_ = 0;
};

// Tests_SRS_ASYNC_SOCKET_LINUX_03_006
TEST_F(BackendFallback, default_engine_runs_on_epoll_when_no_ring_can_be_set_up)
{
    const size_t epoll_sets = descriptors_of_kind("[eventpoll]");
    EXECUTION_ENGINE_HANDLE engine = create_with_failing_ring(0, ASOCK_LINUX_BACKEND_DEFAULT);
    ASSERT_NE(nullptr, engine);
    EXPECT_EQ(ASOCK_LINUX_BACKEND_EPOLL, execution_engine_linux_get_backend(engine));
    EXPECT_EQ(0u, descriptors_of_kind("[io_uring]"));
    EXPECT_EQ(epoll_sets + 2, descriptors_of_kind("[eventpoll]"));
    expect_moves_bytes(engine);
    execution_engine_dec_ref(engine);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_006
TEST_F(BackendFallback, default_engine_runs_wholly_on_epoll_when_a_later_loops_ring_cannot_be_set_up)
{
    EXECUTION_ENGINE_HANDLE engine = create_with_failing_ring(1, ASOCK_LINUX_BACKEND_DEFAULT);
    ASSERT_NE(nullptr, engine);
    EXPECT_EQ(ASOCK_LINUX_BACKEND_EPOLL, execution_engine_linux_get_backend(engine));
    EXPECT_EQ(0u, descriptors_of_kind("[io_uring]")) << "the first loop's ring was kept";
    expect_moves_bytes(engine);
    execution_engine_dec_ref(engine);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_006
TEST_F(BackendFallback, default_engine_uses_io_uring_again_once_rings_can_be_set_up)
{
    EXECUTION_ENGINE_HANDLE fallen_back = create_with_failing_ring(0, ASOCK_LINUX_BACKEND_DEFAULT);
    ASSERT_NE(nullptr, fallen_back);
    execution_engine_dec_ref(fallen_back);
    const EXECUTION_ENGINE_PARAMETERS parameters{1, 0};
    EXECUTION_ENGINE_HANDLE engine = execution_engine_create(&parameters);
    ASSERT_NE(nullptr, engine);
    EXPECT_EQ(ASOCK_LINUX_BACKEND_IO_URING, execution_engine_linux_get_backend(engine));
    execution_engine_dec_ref(engine);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_008
TEST_F(BackendFallback, explicit_io_uring_engine_fails_when_no_ring_can_be_set_up)
{
    const size_t threads = thread_count();
    const size_t epoll_sets = descriptors_of_kind("[eventpoll]");
    EXPECT_EQ(nullptr, create_with_failing_ring(1, ASOCK_LINUX_BACKEND_IO_URING));
    EXPECT_EQ(0u, descriptors_of_kind("[io_uring]"));
    EXPECT_EQ(epoll_sets, descriptors_of_kind("[eventpoll]"));
    EXPECT_EQ(threads, thread_count());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_007
TEST_F(BackendFallback, io_uring_forced_by_the_environment_fails_when_no_ring_can_be_set_up)
{
    ::setenv("ASOCK_BACKEND", "io_uring", 1);
    const size_t epoll_sets = descriptors_of_kind("[eventpoll]");
    EXPECT_EQ(nullptr, create_with_failing_ring(0, ASOCK_LINUX_BACKEND_DEFAULT));
    EXPECT_EQ(epoll_sets, descriptors_of_kind("[eventpoll]"));
}

}  // namespace
}  // namespace asock_test
