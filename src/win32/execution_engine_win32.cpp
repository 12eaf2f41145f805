// The Windows execution engine: wraps a PTP_POOL with the requested thread counts. See
// docs/requirements/execution_engine_win32.md.
#include "asock/execution_engine.h"
#include "asock/execution_engine_win32.h"

#include <new>

#include "detail/engine.h"
#include "detail/win32_api.h"

namespace asock::detail {
namespace {

// The defaults of the seed's platform (c-pal) for NULL parameters.
constexpr uint32_t kDefaultMinThreadCount = 4;
constexpr uint32_t kDefaultMaxThreadCount = 0;  // no maximum

void destroy_engine(Engine* engine) noexcept
{
    if (engine->timers != nullptr)
        engine_timers_close(*engine->timers);
    if (engine->pool != nullptr)
        os().CloseThreadpool(engine->pool);
    engine->~Engine();
    os().free(engine);
}

}  // namespace
}  // namespace asock::detail

using namespace asock::detail;

extern "C" EXECUTION_ENGINE_HANDLE execution_engine_create(const EXECUTION_ENGINE_PARAMETERS* execution_engine_parameters)
{
    const uint32_t minimum = execution_engine_parameters == nullptr ? kDefaultMinThreadCount : execution_engine_parameters->min_thread_count;
    const uint32_t maximum = execution_engine_parameters == nullptr ? kDefaultMaxThreadCount : execution_engine_parameters->max_thread_count;
    if (maximum != 0 && maximum < minimum)
        return nullptr;
    void* memory = os().malloc(sizeof(Engine));
    if (memory == nullptr)
        return nullptr;
    auto* engine = new (memory) Engine();
    engine->pool = os().CreateThreadpool(nullptr);
    if (engine->pool == nullptr)
    {
        destroy_engine(engine);
        return nullptr;
    }
    if (maximum != 0)
        os().SetThreadpoolThreadMaximum(engine->pool, maximum);
    if (!os().SetThreadpoolThreadMinimum(engine->pool, minimum))
    {
        destroy_engine(engine);
        return nullptr;
    }
    return engine->handle();
}

extern "C" void execution_engine_inc_ref(EXECUTION_ENGINE_HANDLE execution_engine)
{
    if (execution_engine != nullptr)
        Engine::from_handle(execution_engine)->refs.fetch_add(1, std::memory_order_relaxed);
}

extern "C" void execution_engine_dec_ref(EXECUTION_ENGINE_HANDLE execution_engine)
{
    if (execution_engine == nullptr)
        return;
    Engine* engine = Engine::from_handle(execution_engine);
    if (engine->refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
        destroy_engine(engine);
}

extern "C" PTP_POOL execution_engine_win32_get_threadpool(EXECUTION_ENGINE_HANDLE execution_engine)
{
    return execution_engine == nullptr ? nullptr : Engine::from_handle(execution_engine)->pool;
}
