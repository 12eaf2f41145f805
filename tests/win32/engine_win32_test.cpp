// The Windows execution engine, on the real threadpool (engine_fake_test.cpp: the same
// requirements against the fake OS).
#include <atomic>
#include <chrono>
#include <thread>

#include "asock/execution_engine_win32.h"
#include "detail/win32_api.h"
#include "support/helpers.h"

namespace asock_test {
namespace {

// Runs one work item in the engine's pool; true if it ran (bounded wait).
bool pool_runs_work(EXECUTION_ENGINE_HANDLE engine)
{
    TP_CALLBACK_ENVIRON environment;
    InitializeThreadpoolEnvironment(&environment);
    SetThreadpoolCallbackPool(&environment, execution_engine_win32_get_threadpool(engine));
    std::atomic<int> ran{0};
    PTP_WORK work = CreateThreadpoolWork([](PTP_CALLBACK_INSTANCE, PVOID context, PTP_WORK) { static_cast<std::atomic<int>*>(context)->fetch_add(1); }, &ran,
                                         &environment);
    if (work == nullptr)
    {
        DestroyThreadpoolEnvironment(&environment);
        return false;
    }
    SubmitThreadpoolWork(work);
    WaitForThreadpoolWorkCallbacks(work, FALSE);
    CloseThreadpoolWork(work);
    DestroyThreadpoolEnvironment(&environment);
    return ran.load() == 1;
}

// Tests_SRS_EXECUTION_ENGINE_WIN32_77_001
TEST(EngineWin32, create_wraps_a_threadpool)
{
    EXECUTION_ENGINE_PARAMETERS parameters{1, 2};
    EXECUTION_ENGINE_HANDLE engine = execution_engine_create(&parameters);
    ASSERT_NE(nullptr, engine);
    EXPECT_NE(nullptr, execution_engine_win32_get_threadpool(engine));
    EXPECT_TRUE(pool_runs_work(engine));
    execution_engine_dec_ref(engine);
}

// Tests_SRS_EXECUTION_ENGINE_WIN32_77_002
TEST(EngineWin32, null_parameters_create_a_working_pool)
{
    EXECUTION_ENGINE_HANDLE engine = execution_engine_create(nullptr);
    ASSERT_NE(nullptr, engine);
    EXPECT_TRUE(pool_runs_work(engine));
    execution_engine_dec_ref(engine);
}

// Tests_SRS_EXECUTION_ENGINE_WIN32_77_003
TEST(EngineWin32, a_maximum_below_the_minimum_fails)
{
    EXECUTION_ENGINE_PARAMETERS parameters{4, 2};
    EXPECT_EQ(nullptr, execution_engine_create(&parameters));
}

// Tests_SRS_EXECUTION_ENGINE_WIN32_77_007
// Tests_SRS_EXECUTION_ENGINE_WIN32_77_008
TEST(EngineWin32, the_pool_lives_as_long_as_a_reference)
{
    EXPECT_EQ(nullptr, execution_engine_win32_get_threadpool(nullptr));
    EXECUTION_ENGINE_PARAMETERS parameters{1, 0};
    EXECUTION_ENGINE_HANDLE engine = execution_engine_create(&parameters);
    ASSERT_NE(nullptr, engine);
    execution_engine_inc_ref(nullptr);
    execution_engine_dec_ref(nullptr);
    execution_engine_inc_ref(engine);
    execution_engine_dec_ref(engine);
    // Still one reference: the pool works.
    EXPECT_TRUE(pool_runs_work(engine));
    execution_engine_dec_ref(engine);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_77_006
TEST(EngineWin32, without_a_fake_the_backend_uses_the_real_os)
{
    EXPECT_EQ(&asock::detail::real_os(), &asock::detail::os());
    // A fake installed and removed again leaves the real table in place.
    static const asock::detail::Win32Api other = asock::detail::real_os();
    asock::detail::install_os(&other);
    EXPECT_EQ(&other, &asock::detail::os());
    asock::detail::install_os(nullptr);
    EXPECT_EQ(&asock::detail::real_os(), &asock::detail::os());
}

}  // namespace
}  // namespace asock_test
