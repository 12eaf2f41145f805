// The execution engine: parameters, reference counting and the backend choice.
#include "support/helpers.h"

namespace asock_test {
namespace {

// Tests_SRS_ASYNC_SOCKET_LINUX_03_003
TEST(Engine, create_fails_when_max_thread_count_is_below_min_thread_count)
{
    EXECUTION_ENGINE_PARAMETERS parameters{4, 2};
    EXPECT_EQ(nullptr, execution_engine_create(&parameters));
}

}  // namespace
}  // namespace asock_test
