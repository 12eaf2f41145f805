// The Windows execution engine against the fake OS (engine_win32_test.cpp: on the real
// threadpool).
#include <string>
#include <vector>

#include "win32/fake_os_fixture.h"

namespace asock_test::win32 {
namespace {

using Names = std::vector<std::string>;

class EngineWin32Fake : public FakeOsTest
{
protected:
    EXECUTION_ENGINE_HANDLE create(const EXECUTION_ENGINE_PARAMETERS* parameters)
    {
        engine_ = execution_engine_create(parameters);
        return engine_;
    }
};

// Tests_SRS_EXECUTION_ENGINE_WIN32_77_001
TEST_F(EngineWin32Fake, create_creates_a_threadpool_and_returns_a_handle)
{
    EXECUTION_ENGINE_PARAMETERS parameters{2, 0};
    ASSERT_NE(nullptr, create(&parameters));
    auto creates = fake_.calls("CreateThreadpool");
    ASSERT_EQ(1u, creates.size());
    EXPECT_EQ(nullptr, creates[0].arg<PVOID>(0));
    const auto pool = reinterpret_cast<PTP_POOL>(creates[0].result);
    EXPECT_TRUE(fake_.pool_open(pool));
    EXPECT_EQ(pool, execution_engine_win32_get_threadpool(engine_));
    // The handle is the engine's own allocation.
    const char* block = nullptr;
    EXPECT_NE(0u, fake_.block_size(engine_, &block));
    EXPECT_EQ(reinterpret_cast<const char*>(engine_), block);
}

// Tests_SRS_EXECUTION_ENGINE_WIN32_77_002
TEST_F(EngineWin32Fake, null_parameters_mean_a_minimum_of_4_threads_and_no_maximum)
{
    ASSERT_NE(nullptr, create(nullptr));
    const PTP_POOL pool = execution_engine_win32_get_threadpool(engine_);
    auto minimum = fake_.calls("SetThreadpoolThreadMinimum");
    ASSERT_EQ(1u, minimum.size());
    EXPECT_EQ(pool, minimum[0].arg<PTP_POOL>(0));
    EXPECT_EQ(4u, minimum[0].arg<DWORD>(1));
    EXPECT_EQ(0u, fake_.count("SetThreadpoolThreadMaximum"));
}

// Tests_SRS_EXECUTION_ENGINE_WIN32_77_003
TEST_F(EngineWin32Fake, a_maximum_below_the_minimum_fails_creating_nothing)
{
    EXECUTION_ENGINE_PARAMETERS parameters{4, 3};
    const size_t mark = fake_.log_size();
    EXPECT_EQ(nullptr, create(&parameters));
    EXPECT_EQ(Names{}, fake_.names(mark));
}

// Tests_SRS_EXECUTION_ENGINE_WIN32_77_003
TEST_F(EngineWin32Fake, a_maximum_equal_to_the_minimum_is_valid)
{
    EXECUTION_ENGINE_PARAMETERS parameters{3, 3};
    ASSERT_NE(nullptr, create(&parameters));
    EXPECT_EQ(3u, fake_.calls("SetThreadpoolThreadMaximum").at(0).arg<DWORD>(1));
    EXPECT_EQ(3u, fake_.calls("SetThreadpoolThreadMinimum").at(0).arg<DWORD>(1));
}

// Tests_SRS_EXECUTION_ENGINE_WIN32_77_004
TEST_F(EngineWin32Fake, a_maximum_is_set_on_the_pool)
{
    EXECUTION_ENGINE_PARAMETERS parameters{1, 8};
    ASSERT_NE(nullptr, create(&parameters));
    auto maximum = fake_.calls("SetThreadpoolThreadMaximum");
    ASSERT_EQ(1u, maximum.size());
    EXPECT_EQ(execution_engine_win32_get_threadpool(engine_), maximum[0].arg<PTP_POOL>(0));
    EXPECT_EQ(8u, maximum[0].arg<DWORD>(1));
}

// Tests_SRS_EXECUTION_ENGINE_WIN32_77_004
TEST_F(EngineWin32Fake, a_maximum_of_zero_sets_no_maximum)
{
    EXECUTION_ENGINE_PARAMETERS parameters{2, 0};
    ASSERT_NE(nullptr, create(&parameters));
    EXPECT_EQ(0u, fake_.count("SetThreadpoolThreadMaximum"));
}

// Tests_SRS_EXECUTION_ENGINE_WIN32_77_005
TEST_F(EngineWin32Fake, the_minimum_is_set_on_the_pool)
{
    EXECUTION_ENGINE_PARAMETERS parameters{6, 0};
    ASSERT_NE(nullptr, create(&parameters));
    auto minimum = fake_.calls("SetThreadpoolThreadMinimum");
    ASSERT_EQ(1u, minimum.size());
    EXPECT_EQ(execution_engine_win32_get_threadpool(engine_), minimum[0].arg<PTP_POOL>(0));
    EXPECT_EQ(6u, minimum[0].arg<DWORD>(1));
}

// Tests_SRS_EXECUTION_ENGINE_WIN32_77_005
TEST_F(EngineWin32Fake, a_failing_minimum_closes_the_pool_and_fails)
{
    EXECUTION_ENGINE_PARAMETERS parameters{6, 10};
    fake_.fail_next("SetThreadpoolThreadMinimum");
    EXPECT_EQ(nullptr, create(&parameters));
    auto creates = fake_.calls("CreateThreadpool");
    ASSERT_EQ(1u, creates.size());
    auto closes = fake_.calls("CloseThreadpool");
    ASSERT_EQ(1u, closes.size());
    EXPECT_EQ(creates[0].result, reinterpret_cast<uintptr_t>(closes[0].arg<PTP_POOL>(0)));
    EXPECT_TRUE(fake_.books().balanced()) << fake_.books().describe();
}

// Tests_SRS_EXECUTION_ENGINE_WIN32_77_006
TEST_F(EngineWin32Fake, a_failing_allocation_fails_the_create)
{
    fake_.fail_next("malloc");
    const size_t mark = fake_.log_size();
    EXPECT_EQ(nullptr, create(nullptr));
    EXPECT_EQ(Names{"malloc"}, fake_.names(mark));
    EXPECT_TRUE(fake_.books().balanced()) << fake_.books().describe();
}

// Tests_SRS_EXECUTION_ENGINE_WIN32_77_006
TEST_F(EngineWin32Fake, a_failing_create_threadpool_fails_the_create_and_frees_the_engine)
{
    fake_.fail_next("CreateThreadpool");
    EXPECT_EQ(nullptr, create(nullptr));
    EXPECT_EQ(1u, fake_.count("free"));
    EXPECT_EQ(0u, fake_.count("CloseThreadpool"));
    EXPECT_TRUE(fake_.books().balanced()) << fake_.books().describe();
}

// Tests_SRS_EXECUTION_ENGINE_WIN32_77_005
// Tests_SRS_EXECUTION_ENGINE_WIN32_77_006
TEST_F(EngineWin32Fake, failing_each_call_of_create_fails_it_cleanly)
{
    const EXECUTION_ENGINE_PARAMETERS explicit_parameters{2, 5};
    for (const EXECUTION_ENGINE_PARAMETERS* parameters : {static_cast<const EXECUTION_ENGINE_PARAMETERS*>(nullptr), &explicit_parameters})
    {
        size_t mark = fake_.log_size();
        ASSERT_NE(nullptr, create(parameters));
        const auto calls = failable_calls(fake_.names(mark));
        execution_engine_dec_ref(engine_);
        engine_ = nullptr;
        ASSERT_EQ(3u, calls.size());
        EXPECT_EQ("malloc", calls[0].name);
        EXPECT_EQ("CreateThreadpool", calls[1].name);
        EXPECT_EQ("SetThreadpoolThreadMinimum", calls[2].name);

        for (const auto& call : calls)
        {
            SCOPED_TRACE(call.name + " #" + std::to_string(call.occurrence) + (parameters == nullptr ? " (defaults)" : " (2, 5)"));
            fake_.fail_nth(call.name, call.occurrence);
            EXPECT_EQ(nullptr, create(parameters));
            fake_.clear_failures();
            EXPECT_TRUE(fake_.books().balanced()) << fake_.books().describe();
            // An engine can be created afterwards.
            ASSERT_NE(nullptr, create(parameters));
            execution_engine_dec_ref(engine_);
            engine_ = nullptr;
        }
    }
}

// Tests_SRS_EXECUTION_ENGINE_WIN32_77_007
TEST_F(EngineWin32Fake, get_threadpool_returns_the_pool_and_null_for_null)
{
    const size_t mark = fake_.log_size();
    EXPECT_EQ(nullptr, execution_engine_win32_get_threadpool(nullptr));
    EXPECT_EQ(Names{}, fake_.names(mark));
    ASSERT_NE(nullptr, create(nullptr));
    EXPECT_EQ(fake_.calls("CreateThreadpool").at(0).result, reinterpret_cast<uintptr_t>(execution_engine_win32_get_threadpool(engine_)));
}

// Tests_SRS_EXECUTION_ENGINE_WIN32_77_008
TEST_F(EngineWin32Fake, inc_ref_and_dec_ref_ignore_null)
{
    const size_t mark = fake_.log_size();
    execution_engine_inc_ref(nullptr);
    execution_engine_dec_ref(nullptr);
    EXPECT_EQ(Names{}, fake_.names(mark));
}

// Tests_SRS_EXECUTION_ENGINE_WIN32_77_008
TEST_F(EngineWin32Fake, the_last_dec_ref_closes_the_pool_and_frees_the_engine)
{
    ASSERT_NE(nullptr, create(nullptr));
    const PTP_POOL pool = execution_engine_win32_get_threadpool(engine_);
    EXECUTION_ENGINE_HANDLE engine = engine_;
    engine_ = nullptr;
    execution_engine_inc_ref(engine);
    size_t mark = fake_.log_size();
    execution_engine_dec_ref(engine);
    EXPECT_EQ(Names{}, fake_.names(mark));  // one reference left
    EXPECT_TRUE(fake_.pool_open(pool));
    mark = fake_.log_size();
    execution_engine_dec_ref(engine);
    EXPECT_EQ((Names{"CloseThreadpool", "free"}), fake_.names(mark));
    EXPECT_EQ(pool, fake_.calls("CloseThreadpool").at(0).arg<PTP_POOL>(0));
    EXPECT_FALSE(fake_.block_live(engine));
    EXPECT_TRUE(fake_.books().balanced()) << fake_.books().describe();
}

}  // namespace
}  // namespace asock_test::win32
