// The execution engine: reference count, loops and the choice of backend.
#include <pthread.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>

#include "asock/execution_engine.h"
#include "asock/execution_engine_linux.h"
#include "detail/backend.h"
#include "detail/engine.h"
#include "detail/enum_value.h"
#include "detail/fault.h"
#include "detail/wait_graph.h"

namespace asock::detail {
namespace {

// The backend that ASOCK_LINUX_BACKEND_DEFAULT means: ASOCK_BACKEND if set (an unknown value
// is an error, reported as ASOCK_LINUX_BACKEND_DEFAULT), else io_uring when usable, with epoll
// to fall back on (may_fall_back) if its rings cannot be set up after all.
bool backend_from_environment(ASOCK_LINUX_BACKEND& backend, bool& may_fall_back) noexcept
{
    const char* forced = std::getenv("ASOCK_BACKEND");
    if (forced == nullptr || *forced == '\0')
    {
        backend = io_uring_usable() ? ASOCK_LINUX_BACKEND_IO_URING : ASOCK_LINUX_BACKEND_EPOLL;
        may_fall_back = backend == ASOCK_LINUX_BACKEND_IO_URING;
        return true;
    }
    if (std::strcmp(forced, "io_uring") == 0)
        backend = ASOCK_LINUX_BACKEND_IO_URING;
    else if (std::strcmp(forced, "epoll") == 0)
        backend = ASOCK_LINUX_BACKEND_EPOLL;
    else
        return false;
    return true;
}

// Loops of different engines close each other's handles through the wait-for graph: its lock
// must not be inherited locked by a forked child (see docs/api.md, "fork()").
bool register_fork_handlers() noexcept
{
    return pthread_atfork(&wait_graph_lock_for_fork, &wait_graph_unlock_after_fork, &wait_graph_unlock_after_fork) == 0;
}

bool loop_count_for(const EXECUTION_ENGINE_PARAMETERS* parameters, uint32_t& count) noexcept
{
    if (parameters == nullptr)
    {
        const unsigned cpus = std::thread::hardware_concurrency();
        count = cpus == 0 ? 1 : cpus;
        return true;
    }
    if (parameters->max_thread_count != 0 && parameters->max_thread_count < parameters->min_thread_count)
        return false;
    count = parameters->min_thread_count == 0 ? 1 : parameters->min_thread_count;
    return true;
}

}  // namespace

Engine* Engine::create(const EXECUTION_ENGINE_PARAMETERS* parameters, ASOCK_LINUX_BACKEND backend) noexcept
{
    static const bool fork_safe = register_fork_handlers();
    (void)fork_safe;
    uint32_t count = 0;
    if (!loop_count_for(parameters, count))
        return nullptr;
    bool may_fall_back = false;
    if (backend == ASOCK_LINUX_BACKEND_DEFAULT && !backend_from_environment(backend, may_fall_back))
        return nullptr;
    if (backend != ASOCK_LINUX_BACKEND_IO_URING && backend != ASOCK_LINUX_BACKEND_EPOLL)
        return nullptr;
    auto* engine = inject_fault(FaultPoint::engine_alloc) ? nullptr : new (std::nothrow) Engine();
    if (engine == nullptr)
        return nullptr;
    if (!engine->start(count, backend, may_fall_back))
    {
        delete engine;
        return nullptr;
    }
    return engine;
}

bool Engine::start(uint32_t count, ASOCK_LINUX_BACKEND backend, bool fall_back_to_epoll) noexcept
{
    backend_ = backend;
    try
    {
        throw_on_alloc_fault(FaultPoint::loop_alloc);
        loops_.reserve(count);
        for (uint32_t i = 0; i < count; ++i)
        {
            throw_on_alloc_fault(FaultPoint::loop_alloc);
            loops_.push_back(std::make_unique<Loop>(*this, i));
            if (!loops_.back()->init(backend))
            {
                loops_.pop_back();
                stop_all();
                return fall_back_to_epoll && start(count, ASOCK_LINUX_BACKEND_EPOLL, false);
            }
        }
    }
    catch (...)
    {
        stop_all();
        return false;
    }
    for (auto& loop : loops_)
    {
        if (!loop->start())
        {
            stop_all();
            return false;
        }
    }
    return true;
}

void Engine::stop_all() noexcept
{
    for (auto& loop : loops_)
        loop->request_stop();
    for (auto& loop : loops_)
        loop->join();
    loops_.clear();
}

// The last reference may go on one of the engine's own threads (a callback destroying the
// last socket after the application dropped its reference). That thread cannot join itself:
// it joins the others and deletes the engine when its loop returns.
void Engine::dec_ref() noexcept
{
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1)
        return;
    Loop* self = Loop::current();
    if (self == nullptr || &self->engine() != this)
    {
        stop_all();
        delete this;
        return;
    }
    for (auto& loop : loops_)
        loop->request_stop();
    for (auto& loop : loops_)
        if (loop.get() != self)
            loop->join();
    self->delete_engine_on_exit();
}

Loop& Engine::pick_loop() noexcept
{
    const uint32_t n = next_loop_.fetch_add(1, std::memory_order_relaxed);
    return *loops_[n % loops_.size()];
}

}  // namespace asock::detail

using asock::detail::Engine;

extern "C" EXECUTION_ENGINE_HANDLE execution_engine_create(const EXECUTION_ENGINE_PARAMETERS* execution_engine_parameters)
{
    Engine* engine = Engine::create(execution_engine_parameters, ASOCK_LINUX_BACKEND_DEFAULT);
    return engine == nullptr ? nullptr : engine->handle();
}

extern "C" EXECUTION_ENGINE_HANDLE execution_engine_linux_create(const EXECUTION_ENGINE_PARAMETERS* execution_engine_parameters, ASOCK_LINUX_BACKEND backend)
{
    // A C caller may pass any int; in C++ a value outside the enum's range is undefined, so
    // it is checked as an int before it is used as the enum.
    const int value = asock::detail::enum_as_int(backend);
    if (value != ASOCK_LINUX_BACKEND_DEFAULT && value != ASOCK_LINUX_BACKEND_IO_URING && value != ASOCK_LINUX_BACKEND_EPOLL)
        return nullptr;
    Engine* engine = Engine::create(execution_engine_parameters, backend);
    return engine == nullptr ? nullptr : engine->handle();
}

extern "C" void execution_engine_inc_ref(EXECUTION_ENGINE_HANDLE execution_engine)
{
    if (execution_engine != nullptr)
        Engine::from_handle(execution_engine)->inc_ref();
}

extern "C" void execution_engine_dec_ref(EXECUTION_ENGINE_HANDLE execution_engine)
{
    if (execution_engine != nullptr)
        Engine::from_handle(execution_engine)->dec_ref();
}

extern "C" ASOCK_LINUX_BACKEND execution_engine_linux_get_backend(EXECUTION_ENGINE_HANDLE execution_engine)
{
    return execution_engine == nullptr ? ASOCK_LINUX_BACKEND_DEFAULT : Engine::from_handle(execution_engine)->backend();
}

extern "C" int execution_engine_linux_set_busy_poll(EXECUTION_ENGINE_HANDLE execution_engine, uint32_t spin_microseconds)
{
    constexpr uint32_t kMaxSpinMicroseconds = 1000000;
    if (execution_engine == nullptr || spin_microseconds > kMaxSpinMicroseconds)
        return 1;
    Engine::from_handle(execution_engine)->set_busy_poll_us(spin_microseconds);
    return 0;
}

extern "C" int execution_engine_linux_io_uring_available(void)
{
    return asock::detail::io_uring_usable() ? 1 : 0;
}
