// The Windows execution engine, on the real threadpool.
#include "asock/execution_engine_win32.h"
#include "support/test_support.h"

namespace asock_test {
namespace {

TEST(EngineWin32, create_wraps_a_threadpool)
{
    EXECUTION_ENGINE_PARAMETERS parameters{1, 2};
    EXECUTION_ENGINE_HANDLE engine = execution_engine_create(&parameters);
    ASSERT_NE(nullptr, engine);
    EXPECT_NE(nullptr, execution_engine_win32_get_threadpool(engine));
    execution_engine_dec_ref(engine);
}

}  // namespace
}  // namespace asock_test
