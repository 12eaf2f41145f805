// The switch ASOCK_REQUIRE_IO_URING (io_uring_usable, support/helpers.h): where io_uring
// cannot be used, a test that needs it skips, unless the switch says the machine has io_uring:
// then it fails, and is not reported as skipped (ctest's gtest_discover_tests marks a test
// skipped when its output shows "[  SKIPPED ]"). To see both on a machine that has io_uring,
// the test runs this binary again with io_uring hidden: with ASOCK_TEST_HIDE_IO_URING set, every
// ring setup fails (the fault seam), from before main on, so the library's probe says "not
// available".
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/fault_injection.h"
#include "support/helpers.h"

extern char** environ;

namespace asock_test {
namespace {

constexpr const char* kHideVariable = "ASOCK_TEST_HIDE_IO_URING";

const bool io_uring_hidden = [] {
    if (std::getenv(kHideVariable) == nullptr)
        return false;
    // ENOMEM (the point's default) is an answer for now, which the probe does not keep: it
    // asks again, and fails again, on every call.
    asock_fault_fail_always(ASOCK_FAULT_BIT(ASOCK_FAULT_POINT_URING_SETUP));
    return true;
}();

// The test the child runs: one that needs io_uring, as every such test asks.
TEST(RequireIoUring, a_test_that_needs_io_uring_runs_where_io_uring_can_be_used)
{
    if (!io_uring_usable())
        GTEST_SKIP() << "io_uring cannot be used on this machine";
    EXECUTION_ENGINE_HANDLE engine = make_engine(Backend::io_uring);
    ASSERT_NE(nullptr, engine);
    execution_engine_dec_ref(engine);
}

struct ChildRun
{
    int exit_status = -1;
    std::string output;
};

// Runs that test in a child with io_uring hidden and ASOCK_REQUIRE_IO_URING=required.
ChildRun run_child_without_io_uring(const char* required)
{
    std::vector<std::string> variables;
    for (char** variable = environ; *variable != nullptr; ++variable)
    {
        const std::string entry(*variable);
        if (entry.rfind("ASOCK_REQUIRE_IO_URING=", 0) != 0 && entry.rfind("GTEST_", 0) != 0)
            variables.push_back(entry);
    }
    variables.push_back(std::string(kHideVariable) + "=1");
    variables.push_back(std::string("ASOCK_REQUIRE_IO_URING=") + required);
    std::vector<char*> child_environment;
    for (auto& variable : variables)
        child_environment.push_back(variable.data());
    child_environment.push_back(nullptr);

    char path[] = "/tmp/asock-require-io-uring-XXXXXX";
    const int out = ::mkstemp(path);
    ChildRun run;
    if (out < 0)
    {
        ADD_FAILURE() << "mkstemp failed";
        return run;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out, STDERR_FILENO);
    char self[] = "/proc/self/exe";
    char filter[] = "--gtest_filter=RequireIoUring.a_test_that_needs_io_uring_runs_where_io_uring_can_be_used";
    char* arguments[] = {self, filter, nullptr};
    pid_t child = -1;
    const int spawned = ::posix_spawn(&child, self, &actions, nullptr, arguments, child_environment.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(out);
    int status = 0;
    if (spawned == 0 && ::waitpid(child, &status, 0) == child && WIFEXITED(status))
        run.exit_status = WEXITSTATUS(status);
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    run.output = text.str();
    ::unlink(path);
    EXPECT_EQ(0, spawned) << "posix_spawn failed";
    return run;
}

TEST(RequireIoUring, without_io_uring_a_test_that_needs_it_skips)
{
    ASSERT_FALSE(io_uring_hidden) << "this test runs in the parent only";
    const ChildRun run = run_child_without_io_uring("0");
    EXPECT_EQ(0, run.exit_status) << run.output;
    EXPECT_NE(std::string::npos, run.output.find("[  SKIPPED ] RequireIoUring.")) << run.output;
}

TEST(RequireIoUring, without_io_uring_a_test_that_needs_it_fails_when_asock_require_io_uring_is_1)
{
    ASSERT_FALSE(io_uring_hidden) << "this test runs in the parent only";
    const ChildRun run = run_child_without_io_uring("1");
    EXPECT_EQ(1, run.exit_status) << run.output;
    EXPECT_NE(std::string::npos, run.output.find("[  FAILED  ] RequireIoUring.")) << run.output;
    EXPECT_NE(std::string::npos, run.output.find("ASOCK_REQUIRE_IO_URING=1 requires it")) << run.output;
    EXPECT_EQ(std::string::npos, run.output.find("[  SKIPPED ]")) << "ctest would count the test as skipped:\n" << run.output;
}

}  // namespace
}  // namespace asock_test
