// The execution engine's life: how many loop threads it starts, its parameters, and the
// reference count that ends it.
#include <set>

#include "contract/contract_fixture.h"

namespace asock_test {
namespace {

const ASOCK_LINUX_BACKEND kBackends[] = {ASOCK_LINUX_BACKEND_IO_URING, ASOCK_LINUX_BACKEND_EPOLL};

// Without io_uring the io_uring half of a test is left out (a failure where
// ASOCK_REQUIRE_IO_URING=1 requires it).
bool backend_usable(ASOCK_LINUX_BACKEND backend)
{
    return backend != ASOCK_LINUX_BACKEND_IO_URING || io_uring_usable();
}

// Opens `count` sockets on the engine (round robin over its loops) and returns the threads
// their open callbacks ran on; the sockets are destroyed again.
std::set<std::thread::id> open_callback_threads(EXECUTION_ENGINE_HANDLE engine, size_t count)
{
    std::set<std::thread::id> threads;
    std::vector<OpenRecord> records(count);
    for (size_t i = 0; i < count; ++i)
    {
        Connection c = local_connection();
        ASYNC_SOCKET_HANDLE s = async_socket_create(engine, c.ours);
        EXPECT_NE(nullptr, s);
        EXPECT_EQ(0, async_socket_open_async(s, OpenRecord::callback, &records[i]));
        EXPECT_TRUE(records[i].done.wait_for(1));
        async_socket_destroy(s);
        ::close(c.peer);
        if (records[i].calls == 1)
            threads.insert(records[i].thread.load());
    }
    return threads;
}

// True when a socket on the engine opens and its open callback runs: the engine works.
bool engine_works(EXECUTION_ENGINE_HANDLE engine)
{
    const auto threads = open_callback_threads(engine, 1);
    return threads.size() == 1 && *threads.begin() != std::this_thread::get_id();
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_001
TEST(EngineLifecycle, null_parameters_start_one_loop_thread_per_online_cpu)
{
    const unsigned cpus = std::thread::hardware_concurrency();
    const size_t expected = cpus == 0 ? 1 : cpus;
    const size_t baseline = thread_count();
    EXECUTION_ENGINE_HANDLE engine = execution_engine_create(nullptr);
    ASSERT_NE(nullptr, engine);
    EXPECT_EQ(baseline + expected, thread_count());
    // Sockets spread round robin over the loops: as many different callback threads as CPUs.
    const auto threads = open_callback_threads(engine, 2 * expected);
    EXPECT_EQ(expected, threads.size());
    EXPECT_EQ(0u, threads.count(std::this_thread::get_id()));
    execution_engine_dec_ref(engine);
    EXPECT_EQ(baseline, settled_thread_count(baseline));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_002
TEST(EngineLifecycle, min_thread_count_loop_threads_are_started)
{
    const size_t baseline = thread_count();
    for (uint32_t n : {1u, 2u, 3u, 5u, 8u})
    {
        for (uint32_t max : {0u, n, n + 3})
        {
            SCOPED_TRACE(testing::Message() << "min " << n << " max " << max);
            EXECUTION_ENGINE_PARAMETERS parameters{n, max};
            EXECUTION_ENGINE_HANDLE engine = execution_engine_create(&parameters);
            ASSERT_NE(nullptr, engine);
            EXPECT_EQ(baseline + n, thread_count());
            EXPECT_EQ(n, open_callback_threads(engine, 2 * n).size());
            execution_engine_dec_ref(engine);
            EXPECT_EQ(baseline, settled_thread_count(baseline));
        }
    }
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_002
TEST(EngineLifecycle, min_thread_count_zero_starts_one_loop_thread)
{
    const size_t baseline = thread_count();
    for (uint32_t max : {0u, 1u, 4u})
    {
        SCOPED_TRACE(testing::Message() << "max " << max);
        EXECUTION_ENGINE_PARAMETERS parameters{0, max};
        EXECUTION_ENGINE_HANDLE engine = execution_engine_create(&parameters);
        ASSERT_NE(nullptr, engine);
        EXPECT_EQ(baseline + 1, thread_count());
        EXPECT_EQ(1u, open_callback_threads(engine, 3).size());
        execution_engine_dec_ref(engine);
        EXPECT_EQ(baseline, settled_thread_count(baseline));
    }
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_003
TEST(EngineLifecycle, create_fails_when_max_is_below_min_and_leaves_nothing_behind)
{
    const size_t threads = thread_count();
    const size_t fds = open_fd_count();
    const EXECUTION_ENGINE_PARAMETERS invalid[] = {{4, 2}, {2, 1}, {9, 8}, {UINT32_MAX, 1}};
    for (const auto& parameters : invalid)
    {
        SCOPED_TRACE(testing::Message() << "min " << parameters.min_thread_count << " max " << parameters.max_thread_count);
        EXPECT_EQ(nullptr, execution_engine_create(&parameters));
        for (ASOCK_LINUX_BACKEND backend : {ASOCK_LINUX_BACKEND_DEFAULT, ASOCK_LINUX_BACKEND_IO_URING, ASOCK_LINUX_BACKEND_EPOLL})
            EXPECT_EQ(nullptr, execution_engine_linux_create(&parameters, backend)) << backend_name(backend);
    }
    EXPECT_TRUE(wait_for_thread_count(threads, std::chrono::seconds(1))) << thread_count() << " threads, " << threads << " expected";
    EXPECT_EQ(fds, open_fd_count());
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_003
TEST(EngineLifecycle, max_thread_count_zero_or_not_below_min_is_accepted)
{
    const size_t baseline = thread_count();
    const EXECUTION_ENGINE_PARAMETERS valid[] = {{6, 0}, {3, 3}, {2, 7}};
    for (const auto& parameters : valid)
    {
        SCOPED_TRACE(testing::Message() << "min " << parameters.min_thread_count << " max " << parameters.max_thread_count);
        EXECUTION_ENGINE_HANDLE engine = execution_engine_create(&parameters);
        ASSERT_NE(nullptr, engine);
        EXPECT_EQ(baseline + parameters.min_thread_count, thread_count());
        execution_engine_dec_ref(engine);
    }
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_004
TEST(EngineLifecycle, inc_ref_and_dec_ref_ignore_null)
{
    EXECUTION_ENGINE_PARAMETERS parameters{2, 0};
    EXECUTION_ENGINE_HANDLE engine = execution_engine_create(&parameters);
    ASSERT_NE(nullptr, engine);
    const size_t threads = thread_count();
    execution_engine_inc_ref(nullptr);
    execution_engine_dec_ref(nullptr);
    execution_engine_dec_ref(nullptr);
    // Nothing happened to the engine that exists.
    EXPECT_TRUE(wait_for_thread_count(threads, std::chrono::seconds(1))) << thread_count() << " threads, " << threads << " expected";
    EXPECT_TRUE(engine_works(engine));
    execution_engine_dec_ref(engine);
    EXPECT_EQ(threads - 2, settled_thread_count(threads - 2));
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_005
TEST(EngineLifecycle, last_dec_ref_ends_every_thread_before_it_returns)
{
    for (ASOCK_LINUX_BACKEND backend : kBackends)
    {
        SCOPED_TRACE(backend_name(backend));
        if (!backend_usable(backend))
            continue;
        const size_t threads = thread_count();
        const size_t fds = open_fd_count();
        EXECUTION_ENGINE_HANDLE engine = make_engine(backend, 4);
        ASSERT_NE(nullptr, engine);
        ASSERT_TRUE(engine_works(engine));
        EXPECT_EQ(threads + 4, thread_count());
        execution_engine_dec_ref(engine);
        // At once, not "shortly after" (but see settled_thread_count).
        EXPECT_EQ(threads, settled_thread_count(threads));
        EXPECT_EQ(fds, open_fd_count());
    }
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_005
TEST(EngineLifecycle, engine_runs_while_any_reference_remains)
{
    const size_t threads = thread_count();
    EXECUTION_ENGINE_PARAMETERS parameters{2, 0};
    EXECUTION_ENGINE_HANDLE engine = execution_engine_create(&parameters);
    ASSERT_NE(nullptr, engine);
    execution_engine_inc_ref(engine);
    execution_engine_inc_ref(engine);
    execution_engine_dec_ref(engine);
    execution_engine_dec_ref(engine);
    EXPECT_EQ(threads + 2, thread_count());
    EXPECT_TRUE(engine_works(engine));
    execution_engine_dec_ref(engine);
    EXPECT_TRUE(wait_for_thread_count(threads, std::chrono::seconds(1))) << thread_count() << " threads, " << threads << " expected";
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_005
TEST(EngineLifecycle, destroying_the_last_socket_after_the_engine_was_released_ends_the_threads)
{
    for (ASOCK_LINUX_BACKEND backend : kBackends)
    {
        SCOPED_TRACE(backend_name(backend));
        if (!backend_usable(backend))
            continue;
        const size_t threads = thread_count();
        const size_t fds = open_fd_count();
        EXECUTION_ENGINE_HANDLE engine = make_engine(backend, 3);
        ASSERT_NE(nullptr, engine);
        Connection c = local_connection();
        ASYNC_SOCKET_HANDLE s = async_socket_create(engine, c.ours);
        ASSERT_NE(nullptr, s);
        execution_engine_dec_ref(engine);  // the socket's reference keeps it running
        EXPECT_EQ(threads + 3, thread_count());

        OpenRecord open;
        ASSERT_EQ(0, async_socket_open_async(s, OpenRecord::callback, &open));
        ASSERT_TRUE(open.done.wait_for(1));
        char data[] = "ping";
        ASYNC_SOCKET_BUFFER buffer{data, 4};
        SendRecord sent;
        ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(s, &buffer, 1, SendRecord::callback, &sent));
        ASSERT_TRUE(sent.done.wait_for(1));
        EXPECT_EQ((std::vector<uint8_t>{'p', 'i', 'n', 'g'}), read_exactly(c.peer, 4));

        async_socket_destroy(s);  // drops the last reference, on this (application) thread
        EXPECT_TRUE(wait_for_thread_count(threads, std::chrono::seconds(1))) << thread_count() << " threads, " << threads << " expected";
        ::close(c.peer);
        EXPECT_EQ(fds, open_fd_count());
    }
}

// What a callback that destroys its own socket saw.
struct DestroyInCallback
{
    ASYNC_SOCKET_HANDLE socket = nullptr;
    std::atomic<bool> returned_from_destroy{false};
    size_t expected_threads = 0;
    std::atomic<size_t> threads_after_destroy{0};
    Counter done;

    static void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT, uint32_t)
    {
        auto* self = static_cast<DestroyInCallback*>(context);
        async_socket_destroy(self->socket);
        self->threads_after_destroy = settled_thread_count(self->expected_threads);
        self->returned_from_destroy = true;
        self->done.add();
    }
};

// Tests_SRS_ASYNC_SOCKET_LINUX_03_005
TEST(EngineLifecycle, last_reference_dropped_in_a_callback_ends_the_threads_shortly_after)
{
    for (ASOCK_LINUX_BACKEND backend : kBackends)
    {
        SCOPED_TRACE(backend_name(backend));
        if (!backend_usable(backend))
            continue;
        const size_t threads = thread_count();
        const size_t fds = open_fd_count();
        EXECUTION_ENGINE_HANDLE engine = make_engine(backend, 3);
        ASSERT_NE(nullptr, engine);
        Connection c = local_connection();
        DestroyInCallback state;
        state.socket = async_socket_create(engine, c.ours);
        ASSERT_NE(nullptr, state.socket);
        OpenRecord open;
        ASSERT_EQ(0, async_socket_open_async(state.socket, OpenRecord::callback, &open));
        ASSERT_TRUE(open.done.wait_for(1));
        char in[8];
        ASYNC_SOCKET_BUFFER buffer{in, sizeof(in)};
        ASSERT_EQ(0, async_socket_receive_async(state.socket, &buffer, 1, &DestroyInCallback::on_receive, &state));
        execution_engine_dec_ref(engine);  // now the socket holds the last reference

        ASSERT_EQ(1, ::write(c.peer, "x", 1));
        ASSERT_TRUE(state.done.wait_for(1)) << "destroy inside the callback did not return";
        EXPECT_TRUE(state.returned_from_destroy.load());
        // Every loop thread ends, the callback's own once the callback has returned.
        EXPECT_TRUE(wait_for_thread_count(threads)) << thread_count() << " threads remain, " << threads << " expected";
        EXPECT_EQ(fds + 1, open_fd_count());  // only the peer's descriptor is left
        ::close(c.peer);
    }
}

// Tests_SRS_ASYNC_SOCKET_LINUX_03_005
TEST(EngineLifecycle, last_reference_dropped_on_another_engines_thread_ends_the_threads_before_returning)
{
    const size_t threads = thread_count();
    EXECUTION_ENGINE_HANDLE other = make_engine(ASOCK_LINUX_BACKEND_EPOLL, 1);
    ASSERT_NE(nullptr, other);
    EXECUTION_ENGINE_HANDLE engine = make_engine(ASOCK_LINUX_BACKEND_EPOLL, 3);
    ASSERT_NE(nullptr, engine);
    EXPECT_EQ(threads + 4, thread_count());

    // A socket of `engine` that a callback of `other` destroys.
    Connection victim = local_connection();
    ASYNC_SOCKET_HANDLE doomed = async_socket_create(engine, victim.ours);
    ASSERT_NE(nullptr, doomed);
    execution_engine_dec_ref(engine);

    Connection c = local_connection();
    DestroyInCallback state;
    state.socket = doomed;
    state.expected_threads = threads + 1;
    ASYNC_SOCKET_HANDLE s = async_socket_create(other, c.ours);
    ASSERT_NE(nullptr, s);
    OpenRecord open;
    ASSERT_EQ(0, async_socket_open_async(s, OpenRecord::callback, &open));
    ASSERT_TRUE(open.done.wait_for(1));
    char in[8];
    ASYNC_SOCKET_BUFFER buffer{in, sizeof(in)};
    ASSERT_EQ(0, async_socket_receive_async(s, &buffer, 1, &DestroyInCallback::on_receive, &state));
    ASSERT_EQ(1, ::write(c.peer, "x", 1));
    ASSERT_TRUE(state.done.wait_for(1));
    // Inside the callback, right after the destroy: only `other`'s thread is left.
    EXPECT_EQ(threads + 1, state.threads_after_destroy.load());

    async_socket_destroy(s);
    execution_engine_dec_ref(other);
    EXPECT_TRUE(wait_for_thread_count(threads, std::chrono::seconds(1))) << thread_count() << " threads, " << threads << " expected";
    ::close(c.peer);
    ::close(victim.peer);
}

}  // namespace
}  // namespace asock_test
