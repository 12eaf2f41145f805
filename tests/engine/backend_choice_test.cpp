// Which backend an engine runs on: the default, ASOCK_BACKEND, an explicit choice, and the
// names of the public enums.
#include <limits.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "support/helpers.h"

namespace asock_test {
namespace {

// Sets ASOCK_BACKEND for one test and puts back whatever was there before.
class BackendVariable
{
public:
    BackendVariable()
    {
        if (const char* value = std::getenv(kName))
            saved_ = value;
    }
    ~BackendVariable()
    {
        if (saved_)
            ::setenv(kName, saved_->c_str(), 1);
        else
            ::unsetenv(kName);
    }
    BackendVariable(const BackendVariable&) = delete;
    BackendVariable& operator=(const BackendVariable&) = delete;

    void set(const char* value) { ::setenv(kName, value, 1); }
    void unset() { ::unsetenv(kName); }

private:
    static constexpr const char* kName = "ASOCK_BACKEND";
    std::optional<std::string> saved_;
};

// How many of this process's descriptors are anonymous inodes of the kind: "[io_uring]" for
// a ring, "[eventpoll]" for an epoll set. They show which backend an engine really built.
size_t descriptors_of_kind(const char* kind)
{
    const std::string wanted = std::string("anon_inode:") + kind;
    size_t n = 0;
    if (DIR* d = ::opendir("/proc/self/fd"))
    {
        while (dirent* e = ::readdir(d))
        {
            if (e->d_name[0] == '.')
                continue;
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

struct BackendResources
{
    size_t rings;
    size_t epoll_sets;
};

BackendResources backend_resources() { return {descriptors_of_kind("[io_uring]"), descriptors_of_kind("[eventpoll]")}; }

// The oracle of these tests is the library's own probe: what the default chooses, and whether
// the io_uring cases run. Through io_uring_usable, a missing io_uring fails the test where
// ASOCK_REQUIRE_IO_URING=1 says the machine has it, instead of letting it pass on epoll.
bool io_uring_here() { return io_uring_usable(); }

ASOCK_LINUX_BACKEND expected_default() { return io_uring_here() ? ASOCK_LINUX_BACKEND_IO_URING : ASOCK_LINUX_BACKEND_EPOLL; }

// Checks that engine (with `loops` loops) runs on backend: the engine says so, and it holds
// one ring or one epoll set per loop and none of the other kind.
void expect_runs_on(EXECUTION_ENGINE_HANDLE engine, ASOCK_LINUX_BACKEND backend, BackendResources before, size_t loops)
{
    ASSERT_NE(nullptr, engine);
    EXPECT_EQ(backend, execution_engine_linux_get_backend(engine)) << ASOCK_LINUX_BACKEND_to_string(execution_engine_linux_get_backend(engine));
    const BackendResources now = backend_resources();
    if (backend == ASOCK_LINUX_BACKEND_IO_URING)
    {
        EXPECT_EQ(before.rings + loops, now.rings);
        EXPECT_EQ(before.epoll_sets, now.epoll_sets);
    }
    else
    {
        EXPECT_EQ(before.rings, now.rings);
        EXPECT_EQ(before.epoll_sets + loops, now.epoll_sets);
    }
}

// Creates an engine of two loops with execution_engine_create and checks its backend.
void expect_create_uses(ASOCK_LINUX_BACKEND backend)
{
    (void)io_uring_here();  // the probe's own ring is gone before the count
    const BackendResources before = backend_resources();
    EXECUTION_ENGINE_PARAMETERS parameters{2, 0};
    EXECUTION_ENGINE_HANDLE engine = execution_engine_create(&parameters);
    expect_runs_on(engine, backend, before, 2);
    execution_engine_dec_ref(engine);
}

void expect_linux_create_uses(ASOCK_LINUX_BACKEND requested, ASOCK_LINUX_BACKEND backend)
{
    (void)io_uring_here();
    const BackendResources before = backend_resources();
    EXECUTION_ENGINE_PARAMETERS parameters{2, 0};
    EXECUTION_ENGINE_HANDLE engine = execution_engine_linux_create(&parameters, requested);
    expect_runs_on(engine, backend, before, 2);
    execution_engine_dec_ref(engine);
}

// --- Default ---------------------------------------------------------------------------------

// Tests_SRS_ASYNC_SOCKET_LINUX_03_006
TEST(BackendChoice, default_is_io_uring_when_usable_and_epoll_otherwise)
{
    BackendVariable variable;
    variable.unset();
    expect_create_uses(expected_default());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_006
TEST(BackendChoice, null_parameters_use_the_default_backend)
{
    BackendVariable variable;
    variable.unset();
    EXECUTION_ENGINE_HANDLE engine = execution_engine_create(nullptr);
    ASSERT_NE(nullptr, engine);
    EXPECT_EQ(expected_default(), execution_engine_linux_get_backend(engine));
    execution_engine_dec_ref(engine);
}

// --- ASOCK_BACKEND ---------------------------------------------------------------------------

// Tests_SRS_ASYNC_SOCKET_LINUX_03_007
TEST(BackendChoice, asock_backend_epoll_forces_epoll)
{
    BackendVariable variable;
    variable.set("epoll");
    expect_create_uses(ASOCK_LINUX_BACKEND_EPOLL);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_007
TEST(BackendChoice, asock_backend_io_uring_forces_io_uring)
{
    if (!io_uring_here())
        GTEST_SKIP() << "io_uring cannot be used on this machine";
    BackendVariable variable;
    variable.set("io_uring");
    expect_create_uses(ASOCK_LINUX_BACKEND_IO_URING);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_007
TEST(BackendChoice, unknown_asock_backend_value_makes_create_fail)
{
    BackendVariable variable;
    const size_t threads = thread_count();
    const size_t fds = open_fd_count();
    for (const char* value : {"kqueue", "EPOLL", "IO_URING", "io-uring", "epoll ", " epoll", "uring", "default", "0", "1"})
    {
        SCOPED_TRACE(testing::Message() << "ASOCK_BACKEND=\"" << value << "\"");
        variable.set(value);
        EXECUTION_ENGINE_PARAMETERS parameters{1, 0};
        EXECUTION_ENGINE_HANDLE engine = execution_engine_create(&parameters);
        EXPECT_EQ(nullptr, engine);
        if (engine != nullptr)
            execution_engine_dec_ref(engine);
        EXPECT_EQ(nullptr, execution_engine_create(nullptr));
    }
    EXPECT_TRUE(wait_for_thread_count(threads, std::chrono::seconds(1))) << thread_count() << " threads, " << threads << " expected";
    EXPECT_EQ(fds, open_fd_count());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_007
TEST(BackendChoice, empty_asock_backend_means_the_default)
{
    BackendVariable variable;
    variable.set("");
    expect_create_uses(expected_default());
}

// --- execution_engine_linux_create -------------------------------------------------------------

// Tests_SRS_ASYNC_SOCKET_LINUX_03_008
TEST(BackendChoice, linux_create_with_epoll_uses_epoll_whatever_the_environment)
{
    BackendVariable variable;
    for (const char* value : {"", "io_uring", "epoll", "nonsense"})
    {
        SCOPED_TRACE(testing::Message() << "ASOCK_BACKEND=\"" << value << "\"");
        variable.set(value);
        expect_linux_create_uses(ASOCK_LINUX_BACKEND_EPOLL, ASOCK_LINUX_BACKEND_EPOLL);
    }
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_008
TEST(BackendChoice, linux_create_with_io_uring_uses_io_uring_whatever_the_environment)
{
    if (!io_uring_here())
        GTEST_SKIP() << "io_uring cannot be used on this machine";
    BackendVariable variable;
    for (const char* value : {"", "io_uring", "epoll", "nonsense"})
    {
        SCOPED_TRACE(testing::Message() << "ASOCK_BACKEND=\"" << value << "\"");
        variable.set(value);
        expect_linux_create_uses(ASOCK_LINUX_BACKEND_IO_URING, ASOCK_LINUX_BACKEND_IO_URING);
    }
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_008
TEST(BackendChoice, linux_create_with_io_uring_never_falls_back_to_epoll)
{
    BackendVariable variable;
    variable.unset();
    const size_t threads = thread_count();
    EXECUTION_ENGINE_HANDLE engine = make_engine(ASOCK_LINUX_BACKEND_IO_URING, 1);
    if (io_uring_here())
    {
        ASSERT_NE(nullptr, engine);
        EXPECT_EQ(ASOCK_LINUX_BACKEND_IO_URING, execution_engine_linux_get_backend(engine));
        execution_engine_dec_ref(engine);
    }
    else
    {
        // Where io_uring cannot run, asking for it fails rather than giving epoll.
        EXPECT_EQ(nullptr, engine);
        if (engine != nullptr)
            execution_engine_dec_ref(engine);
    }
    EXPECT_TRUE(wait_for_thread_count(threads, std::chrono::seconds(1))) << thread_count() << " threads, " << threads << " expected";
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_008
TEST(BackendChoice, linux_create_with_default_behaves_as_execution_engine_create)
{
    BackendVariable variable;
    variable.unset();
    expect_linux_create_uses(ASOCK_LINUX_BACKEND_DEFAULT, expected_default());
    variable.set("epoll");
    expect_linux_create_uses(ASOCK_LINUX_BACKEND_DEFAULT, ASOCK_LINUX_BACKEND_EPOLL);
    if (io_uring_here())
    {
        variable.set("io_uring");
        expect_linux_create_uses(ASOCK_LINUX_BACKEND_DEFAULT, ASOCK_LINUX_BACKEND_IO_URING);
    }
    variable.set("nonsense");
    EXECUTION_ENGINE_PARAMETERS parameters{1, 0};
    EXPECT_EQ(nullptr, execution_engine_linux_create(&parameters, ASOCK_LINUX_BACKEND_DEFAULT));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_008
TEST(BackendChoice, linux_create_with_a_value_outside_the_enum_fails)
{
    BackendVariable variable;
    variable.unset();
    const size_t threads = thread_count();
    const size_t fds = open_fd_count();
    EXECUTION_ENGINE_PARAMETERS parameters{1, 0};
    // 3 is the one value outside the enumerators that this C++ test can pass without
    // undefined behaviour (the enum's values are 0..3); larger ones are legal only from C.
    EXECUTION_ENGINE_HANDLE engine = execution_engine_linux_create(&parameters, static_cast<ASOCK_LINUX_BACKEND>(3));
    EXPECT_EQ(nullptr, engine);
    if (engine != nullptr)
        execution_engine_dec_ref(engine);
    EXPECT_TRUE(wait_for_thread_count(threads, std::chrono::seconds(1))) << thread_count() << " threads, " << threads << " expected";
    EXPECT_EQ(fds, open_fd_count());
}

// --- Queries -----------------------------------------------------------------------------------

// Tests_SRS_ASYNC_SOCKET_LINUX_03_009
TEST(BackendChoice, get_backend_reports_the_backend_of_each_engine)
{
    for (ASOCK_LINUX_BACKEND backend : {ASOCK_LINUX_BACKEND_IO_URING, ASOCK_LINUX_BACKEND_EPOLL})
    {
        SCOPED_TRACE(backend_name(backend));
        if (backend == ASOCK_LINUX_BACKEND_IO_URING && !io_uring_here())
            continue;
        EXECUTION_ENGINE_HANDLE engine = make_engine(backend, 1);
        ASSERT_NE(nullptr, engine);
        EXPECT_EQ(backend, execution_engine_linux_get_backend(engine));
        // Stable over the engine's life.
        EXPECT_EQ(backend, execution_engine_linux_get_backend(engine));
        execution_engine_dec_ref(engine);
    }
    // An engine created for the default reports the backend it chose, never "default".
    BackendVariable variable;
    variable.unset();
    EXECUTION_ENGINE_PARAMETERS parameters{1, 0};
    EXECUTION_ENGINE_HANDLE engine = execution_engine_linux_create(&parameters, ASOCK_LINUX_BACKEND_DEFAULT);
    ASSERT_NE(nullptr, engine);
    EXPECT_EQ(expected_default(), execution_engine_linux_get_backend(engine));
    execution_engine_dec_ref(engine);
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_009
TEST(BackendChoice, get_backend_of_null_is_default)
{
    EXPECT_EQ(ASOCK_LINUX_BACKEND_DEFAULT, execution_engine_linux_get_backend(nullptr));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_010
TEST(BackendChoice, io_uring_available_exactly_when_an_io_uring_engine_can_be_created)
{
    BackendVariable variable;
    variable.set("epoll");  // the answer is about the kernel, not the environment
    const int available = execution_engine_linux_io_uring_available();
    EXECUTION_ENGINE_HANDLE engine = make_engine(ASOCK_LINUX_BACKEND_IO_URING, 1);
    EXPECT_EQ(available != 0, engine != nullptr);
    if (engine != nullptr)
    {
        // And that engine really moves bytes.
        Connection c = local_connection();
        ASYNC_SOCKET_HANDLE s = async_socket_create(engine, c.ours);
        ASSERT_NE(nullptr, s);
        Counter opened;
        ASSERT_EQ(0, async_socket_open_async(s, [](void* context, ASYNC_SOCKET_OPEN_RESULT) { static_cast<Counter*>(context)->add(); }, &opened));
        EXPECT_TRUE(opened.wait_for(1));
        char data[] = "uring";
        ASYNC_SOCKET_BUFFER buffer{data, 5};
        Counter sent;
        ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK,
                  async_socket_send_async(s, &buffer, 1, [](void* context, ASYNC_SOCKET_SEND_RESULT) { static_cast<Counter*>(context)->add(); }, &sent));
        EXPECT_TRUE(sent.wait_for(1));
        EXPECT_EQ((std::vector<uint8_t>{'u', 'r', 'i', 'n', 'g'}), read_exactly(c.peer, 5));
        async_socket_destroy(s);
        ::close(c.peer);
        execution_engine_dec_ref(engine);
    }
    // The answer does not change.
    EXPECT_EQ(available, execution_engine_linux_io_uring_available());
}

// --- Names -------------------------------------------------------------------------------------

// Tests_SRS_ASYNC_SOCKET_LINUX_04_001
TEST(EnumNames, open_result_names)
{
    EXPECT_STREQ("ASYNC_SOCKET_OPEN_OK", ASYNC_SOCKET_OPEN_RESULT_to_string(ASYNC_SOCKET_OPEN_OK));
    EXPECT_STREQ("ASYNC_SOCKET_OPEN_ERROR", ASYNC_SOCKET_OPEN_RESULT_to_string(ASYNC_SOCKET_OPEN_ERROR));
    for (int value : {2, 3, 42, -1, INT_MAX})
        EXPECT_STREQ("UNKNOWN", ASYNC_SOCKET_OPEN_RESULT_to_string(static_cast<ASYNC_SOCKET_OPEN_RESULT>(value))) << value;
}

// Tests_SRS_ASYNC_SOCKET_LINUX_04_001
TEST(EnumNames, send_sync_result_names)
{
    EXPECT_STREQ("ASYNC_SOCKET_SEND_SYNC_OK", ASYNC_SOCKET_SEND_SYNC_RESULT_to_string(ASYNC_SOCKET_SEND_SYNC_OK));
    EXPECT_STREQ("ASYNC_SOCKET_SEND_SYNC_ERROR", ASYNC_SOCKET_SEND_SYNC_RESULT_to_string(ASYNC_SOCKET_SEND_SYNC_ERROR));
    EXPECT_STREQ("ASYNC_SOCKET_SEND_SYNC_ABANDONED", ASYNC_SOCKET_SEND_SYNC_RESULT_to_string(ASYNC_SOCKET_SEND_SYNC_ABANDONED));
    for (int value : {3, 4, 42, -1, INT_MAX})
        EXPECT_STREQ("UNKNOWN", ASYNC_SOCKET_SEND_SYNC_RESULT_to_string(static_cast<ASYNC_SOCKET_SEND_SYNC_RESULT>(value))) << value;
}

// Tests_SRS_ASYNC_SOCKET_LINUX_04_001
TEST(EnumNames, send_result_names)
{
    EXPECT_STREQ("ASYNC_SOCKET_SEND_OK", ASYNC_SOCKET_SEND_RESULT_to_string(ASYNC_SOCKET_SEND_OK));
    EXPECT_STREQ("ASYNC_SOCKET_SEND_ERROR", ASYNC_SOCKET_SEND_RESULT_to_string(ASYNC_SOCKET_SEND_ERROR));
    EXPECT_STREQ("ASYNC_SOCKET_SEND_ABANDONED", ASYNC_SOCKET_SEND_RESULT_to_string(ASYNC_SOCKET_SEND_ABANDONED));
    for (int value : {3, 4, 42, -1, INT_MAX})
        EXPECT_STREQ("UNKNOWN", ASYNC_SOCKET_SEND_RESULT_to_string(static_cast<ASYNC_SOCKET_SEND_RESULT>(value))) << value;
}

// Tests_SRS_ASYNC_SOCKET_LINUX_04_001
TEST(EnumNames, receive_result_names)
{
    EXPECT_STREQ("ASYNC_SOCKET_RECEIVE_OK", ASYNC_SOCKET_RECEIVE_RESULT_to_string(ASYNC_SOCKET_RECEIVE_OK));
    EXPECT_STREQ("ASYNC_SOCKET_RECEIVE_ERROR", ASYNC_SOCKET_RECEIVE_RESULT_to_string(ASYNC_SOCKET_RECEIVE_ERROR));
    EXPECT_STREQ("ASYNC_SOCKET_RECEIVE_ABANDONED", ASYNC_SOCKET_RECEIVE_RESULT_to_string(ASYNC_SOCKET_RECEIVE_ABANDONED));
    for (int value : {3, 4, 42, -1, INT_MAX})
        EXPECT_STREQ("UNKNOWN", ASYNC_SOCKET_RECEIVE_RESULT_to_string(static_cast<ASYNC_SOCKET_RECEIVE_RESULT>(value))) << value;
}

// Tests_SRS_ASYNC_SOCKET_LINUX_04_001
TEST(EnumNames, linux_backend_names)
{
    EXPECT_STREQ("ASOCK_LINUX_BACKEND_DEFAULT", ASOCK_LINUX_BACKEND_to_string(ASOCK_LINUX_BACKEND_DEFAULT));
    EXPECT_STREQ("ASOCK_LINUX_BACKEND_IO_URING", ASOCK_LINUX_BACKEND_to_string(ASOCK_LINUX_BACKEND_IO_URING));
    EXPECT_STREQ("ASOCK_LINUX_BACKEND_EPOLL", ASOCK_LINUX_BACKEND_to_string(ASOCK_LINUX_BACKEND_EPOLL));
    for (int value : {3, 4, 42, -1, INT_MAX})
        EXPECT_STREQ("UNKNOWN", ASOCK_LINUX_BACKEND_to_string(static_cast<ASOCK_LINUX_BACKEND>(value))) << value;
}

}  // namespace
}  // namespace asock_test
