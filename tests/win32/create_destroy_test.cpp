// async_socket_create and async_socket_destroy of the Win32 backend, against the fake OS.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "win32/fake_os_fixture.h"

#include "detail/engine.h"

namespace asock_test::win32 {
namespace {

using Names = std::vector<std::string>;

class AsyncSocketWin32Create : public FakeOsTest
{
};

class AsyncSocketWin32Destroy : public FakeOsTest
{
};

// ---- async_socket_create ------------------------------------------------------------------

// Tests_SRS_ASYNC_SOCKET_WIN32_01_001
TEST_F(AsyncSocketWin32Create, create_allocates_a_socket_and_returns_a_non_null_handle)
{
    ASSERT_NE(nullptr, make_engine());
    const size_t mark = fake_.log_size();
    handle_ = fake_.new_socket();
    socket_ = async_socket_create(engine_, as_handle(handle_));
    ASSERT_NE(nullptr, socket_);
    // One allocation, and the handle is that allocation; the socket handle is not touched.
    EXPECT_EQ((Names{"malloc"}), fake_.names(mark));
    const char* block = nullptr;
    EXPECT_NE(0u, fake_.block_size(socket_, &block));
    EXPECT_EQ(reinterpret_cast<const char*>(socket_), block);
    EXPECT_TRUE(fake_.socket_open(handle_));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_002
TEST_F(AsyncSocketWin32Create, create_with_a_null_engine_fails_and_takes_nothing)
{
    const SOCKET s = fake_.new_socket();
    const size_t mark = fake_.log_size();
    EXPECT_EQ(nullptr, async_socket_create(nullptr, as_handle(s)));
    EXPECT_EQ(Names{}, fake_.names(mark));
    EXPECT_TRUE(fake_.socket_open(s));  // still the caller's
    fake_.close_own_socket(s);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_034
TEST_F(AsyncSocketWin32Create, create_with_invalid_socket_fails)
{
    ASSERT_NE(nullptr, make_engine());
    const size_t mark = fake_.log_size();
    EXPECT_EQ(nullptr, async_socket_create(engine_, as_handle(INVALID_SOCKET)));
    EXPECT_EQ(Names{}, fake_.names(mark));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_42_004
TEST_F(AsyncSocketWin32Create, create_takes_a_reference_on_the_engine)
{
    ASSERT_NE(nullptr, create_socket());
    const PTP_POOL pool = execution_engine_win32_get_threadpool(engine_);
    // The test drops its own reference: the socket's keeps the engine and its pool alive.
    execution_engine_dec_ref(engine_);
    engine_ = nullptr;
    EXPECT_EQ(0u, fake_.count("CloseThreadpool"));
    EXPECT_TRUE(fake_.pool_open(pool));
}

// The pool is obtained from the engine by create, not later: the test changes the pool the
// engine answers between create and open, and the open still uses the one create obtained.
// Tests_SRS_ASYNC_SOCKET_WIN32_01_035
TEST_F(AsyncSocketWin32Create, create_obtains_the_pool_from_the_engine)
{
    ASSERT_NE(nullptr, create_socket());
    const PTP_POOL pool = execution_engine_win32_get_threadpool(engine_);
    ASSERT_NE(nullptr, pool);
    EXPECT_EQ(fake_.calls("CreateThreadpool").at(0).result, reinterpret_cast<uintptr_t>(pool));
    asock::detail::Engine& engine = *asock::detail::Engine::from_handle(engine_);
    engine.pool = reinterpret_cast<PTP_POOL>(uintptr_t{0xBAD0000});  // what a later call would obtain
    const int opened = async_socket_open_async(socket_, Recorder::on_open, context_value(1));
    engine.pool = pool;
    ASSERT_EQ(0, opened);
    auto set_pool = fake_.calls("SetThreadpoolCallbackPool");
    ASSERT_EQ(1u, set_pool.size());
    EXPECT_EQ(pool, set_pool[0].arg<PTP_POOL>(1));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_003
TEST_F(AsyncSocketWin32Create, create_fails_when_the_allocation_fails)
{
    ASSERT_NE(nullptr, make_engine());
    const Books before = fake_.books();
    const SOCKET s = fake_.new_socket();
    fake_.fail_next("malloc");
    EXPECT_EQ(nullptr, async_socket_create(engine_, as_handle(s)));
    EXPECT_EQ(before.blocks, fake_.books().blocks);
    EXPECT_EQ(0u, fake_.count("closesocket"));
    EXPECT_TRUE(fake_.socket_open(s));
    fake_.close_own_socket(s);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_003
// Tests_SRS_ASYNC_SOCKET_WIN32_42_004
TEST_F(AsyncSocketWin32Create, failing_each_call_of_create_fails_it_cleanly)
{
    ASSERT_NE(nullptr, make_engine());
    const PTP_POOL pool = execution_engine_win32_get_threadpool(engine_);

    // The calls of a successful create.
    size_t mark = fake_.log_size();
    ASSERT_NE(nullptr, create_socket());
    const auto calls = failable_calls(fake_.names(mark));
    destroy_socket();
    ASSERT_EQ(1u, calls.size());
    EXPECT_EQ("malloc", calls[0].name);

    for (const auto& call : calls)
    {
        SCOPED_TRACE(call.name + " #" + std::to_string(call.occurrence));
        const Books before = fake_.books();
        const SOCKET s = fake_.new_socket();
        mark = fake_.log_size();
        fake_.fail_nth(call.name, call.occurrence);
        EXPECT_EQ(nullptr, async_socket_create(engine_, as_handle(s)));
        fake_.clear_failures();
        // Nothing kept: no memory, the handle still the caller's, no reference on the engine.
        EXPECT_EQ(before.blocks, fake_.books().blocks);
        EXPECT_EQ(0u, fake_.count("closesocket", mark));
        EXPECT_TRUE(fake_.socket_open(s));
        EXPECT_EQ(0u, recorder_.callbacks());
        // A create afterwards works.
        ASYNC_SOCKET_HANDLE again = async_socket_create(engine_, as_handle(s));
        ASSERT_NE(nullptr, again);
        async_socket_destroy(again);
        EXPECT_FALSE(fake_.socket_open(s));
    }
    // The failed creates kept no reference: dropping the test's closes the pool.
    execution_engine_dec_ref(engine_);
    engine_ = nullptr;
    EXPECT_FALSE(fake_.pool_open(pool));
}

// ---- async_socket_destroy -----------------------------------------------------------------

// Tests_SRS_ASYNC_SOCKET_WIN32_01_004
TEST_F(AsyncSocketWin32Destroy, destroy_null_returns_without_any_call)
{
    const size_t mark = fake_.log_size();
    async_socket_destroy(nullptr);
    EXPECT_EQ(Names{}, fake_.names(mark));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_093
TEST_F(AsyncSocketWin32Destroy, destroy_waits_for_an_open_under_way)
{
    ASSERT_NE(nullptr, create_socket());
    std::atomic<bool> in_open{false};
    std::atomic<bool> release{false};
    fake_.on_call("CreateThreadpoolIo", [&] {
        in_open = true;
        eventually([&] { return release.load(); });
    });
    std::atomic<int> open_result{-1};
    std::thread opener([&] { open_result = async_socket_open_async(socket_, Recorder::on_open, context_value(7)); });
    ASSERT_TRUE(eventually([&] { return in_open.load(); }));

    const size_t mark = fake_.log_size();
    std::atomic<bool> destroyed{false};
    ASYNC_SOCKET_HANDLE socket = socket_;
    socket_ = nullptr;
    std::thread destroyer([&] {
        async_socket_destroy(socket);
        destroyed = true;
    });
    std::this_thread::sleep_for(200ms);
    EXPECT_FALSE(destroyed.load());
    EXPECT_EQ(Names{}, fake_.names(mark));  // nothing closed or freed while opening
    release = true;
    opener.join();
    destroyer.join();
    fake_.on_call("CreateThreadpoolIo", nullptr);

    EXPECT_EQ(0, open_result.load());
    ASSERT_EQ(1u, recorder_.opens().size());
    EXPECT_EQ(ASYNC_SOCKET_OPEN_OK, recorder_.opens()[0].result);
    // Then the destroy closed the socket the open had opened, and freed it.
    EXPECT_EQ((Names{"CancelIoEx", "closesocket", "WaitForThreadpoolIoCallbacks", "CloseThreadpoolIo", "DestroyThreadpoolEnvironment", "free"}), fake_.names(mark));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_093
TEST_F(AsyncSocketWin32Destroy, destroy_waits_for_a_close_under_way)
{
    ASSERT_NE(nullptr, open_socket());
    std::atomic<bool> in_close{false};
    std::atomic<bool> release{false};
    fake_.on_call("WaitForThreadpoolIoCallbacks", [&] {
        in_close = true;
        eventually([&] { return release.load(); });
    });
    ASYNC_SOCKET_HANDLE socket = socket_;
    socket_ = nullptr;
    std::thread closer([&] { async_socket_close(socket); });
    ASSERT_TRUE(eventually([&] { return in_close.load(); }));

    const size_t mark = fake_.log_size();
    std::atomic<bool> destroyed{false};
    std::thread destroyer([&] {
        async_socket_destroy(socket);
        destroyed = true;
    });
    std::this_thread::sleep_for(200ms);
    EXPECT_FALSE(destroyed.load());
    EXPECT_EQ(Names{}, fake_.names(mark));
    release = true;
    closer.join();
    destroyer.join();
    fake_.on_call("WaitForThreadpoolIoCallbacks", nullptr);

    // The close finished, then the destroy freed the socket (without closing it again).
    EXPECT_EQ((Names{"CloseThreadpoolIo", "DestroyThreadpoolEnvironment", "free"}), fake_.names(mark));
    EXPECT_EQ(1u, fake_.count("closesocket"));
}

// A close that starts while a destroy is closing the socket finds it closing and returns at
// once (01_022), without a call; the destroy frees the socket only after its own close. The
// destroy decided to close and moved the socket to CLOSING in one step (77_009): there is no
// moment in which another thread's close could start a close the destroy does not wait for.
// Tests_SRS_ASYNC_SOCKET_WIN32_01_093
// Tests_SRS_ASYNC_SOCKET_WIN32_77_009
TEST_F(AsyncSocketWin32Destroy, a_close_started_during_a_destroy_finds_the_socket_closing)
{
    ASSERT_NE(nullptr, open_socket());
    ASYNC_SOCKET_HANDLE socket = socket_;
    socket_ = nullptr;
    bool socket_live_after_close = false;
    size_t calls_of_close = 99;
    bool close_returned = false;
    fake_.on_call("CancelIoEx", [&] {
        // Inside the destroy's close: a close on another thread.
        const size_t mark = fake_.log_size();
        auto returned = std::make_shared<std::atomic<bool>>(false);
        std::thread([socket, returned] {
            async_socket_close(socket);
            *returned = true;
        }).detach();
        close_returned = eventually([&] { return returned->load(); });
        calls_of_close = fake_.log_size() - mark;
        socket_live_after_close = fake_.block_live(socket);
    });
    async_socket_destroy(socket);
    fake_.on_call("CancelIoEx", nullptr);
    EXPECT_TRUE(close_returned);
    EXPECT_EQ(0u, calls_of_close);
    EXPECT_TRUE(socket_live_after_close);
    EXPECT_EQ(1u, fake_.count("closesocket"));
    EXPECT_FALSE(fake_.block_live(socket));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_006
TEST_F(AsyncSocketWin32Destroy, destroy_closes_an_open_socket)
{
    ASSERT_NE(nullptr, open_socket());
    const PTP_IO io = fake_.last_io().io;
    Payload payload{8};
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(payload));
    const size_t mark = fake_.log_size();
    destroy_socket();
    // The implicit close, then the free; the pending send completed (aborted) during the wait.
    EXPECT_EQ((Names{"CancelIoEx", "closesocket", "WaitForThreadpoolIoCallbacks", "CloseHandle", "free", "CloseThreadpoolIo", "DestroyThreadpoolEnvironment", "free"}),
              fake_.names(mark));
    EXPECT_EQ(io, fake_.calls("CloseThreadpoolIo").at(0).arg<PTP_IO>(0));
    ASSERT_EQ(1u, recorder_.sends().size());
    EXPECT_EQ(ASYNC_SOCKET_SEND_ERROR, recorder_.sends()[0].result);
    EXPECT_FALSE(fake_.socket_open(handle_));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_42_007
TEST_F(AsyncSocketWin32Destroy, destroy_closes_the_handle_of_a_socket_never_opened)
{
    ASSERT_NE(nullptr, create_socket());
    const size_t mark = fake_.log_size();
    destroy_socket();
    EXPECT_EQ((Names{"closesocket", "free"}), fake_.names(mark));
    EXPECT_EQ(handle_, fake_.calls("closesocket").at(0).arg<SOCKET>(0));
    EXPECT_FALSE(fake_.socket_open(handle_));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_42_007
TEST_F(AsyncSocketWin32Destroy, destroy_closes_the_handle_of_a_socket_whose_open_failed)
{
    ASSERT_NE(nullptr, create_socket());
    fake_.fail_next("CreateThreadpoolIo");
    ASSERT_NE(0, async_socket_open_async(socket_, Recorder::on_open, nullptr));
    const size_t mark = fake_.log_size();
    destroy_socket();
    EXPECT_EQ((Names{"closesocket", "free"}), fake_.names(mark));
    EXPECT_FALSE(fake_.socket_open(handle_));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_42_005
TEST_F(AsyncSocketWin32Destroy, destroy_releases_the_reference_on_the_engine)
{
    ASSERT_NE(nullptr, create_socket());
    const PTP_POOL pool = execution_engine_win32_get_threadpool(engine_);
    execution_engine_dec_ref(engine_);
    engine_ = nullptr;
    ASSERT_TRUE(fake_.pool_open(pool));
    destroy_socket();
    // The socket held the last reference.
    EXPECT_EQ(1u, fake_.count("CloseThreadpool"));
    EXPECT_FALSE(fake_.pool_open(pool));
}

// Tests_SRS_ASYNC_SOCKET_WIN32_42_005
TEST_F(AsyncSocketWin32Destroy, destroy_leaves_the_engine_to_its_other_owners)
{
    ASSERT_NE(nullptr, open_socket());
    const PTP_POOL pool = execution_engine_win32_get_threadpool(engine_);
    destroy_socket();
    EXPECT_EQ(0u, fake_.count("CloseThreadpool"));
    EXPECT_TRUE(fake_.pool_open(pool));
    // The test's reference is the last one now.
    execution_engine_dec_ref(engine_);
    engine_ = nullptr;
    EXPECT_FALSE(fake_.pool_open(pool));
}

// The seed's order: the engine reference (42_005), then the socket's memory (01_005).
// Tests_SRS_ASYNC_SOCKET_WIN32_42_005
// Tests_SRS_ASYNC_SOCKET_WIN32_01_005
TEST_F(AsyncSocketWin32Destroy, destroy_releases_the_engine_before_it_frees_the_socket)
{
    ASSERT_NE(nullptr, open_socket());
    ASYNC_SOCKET_HANDLE socket = socket_;
    execution_engine_dec_ref(engine_);  // the socket holds the last reference
    engine_ = nullptr;
    const size_t mark = fake_.log_size();
    destroy_socket();
    const auto calls = fake_.calls();
    long close_pool = -1;
    long free_socket = -1;
    for (size_t i = mark; i < calls.size(); ++i)
    {
        if (calls[i].name == "CloseThreadpool")
            close_pool = static_cast<long>(i);
        if (calls[i].name == "free" && calls[i].arg<ASYNC_SOCKET_HANDLE>(0) == socket)
            free_socket = static_cast<long>(i);
    }
    ASSERT_NE(-1, close_pool);
    ASSERT_NE(-1, free_socket);
    EXPECT_LT(close_pool, free_socket);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_01_005
TEST_F(AsyncSocketWin32Destroy, destroy_frees_everything_of_the_socket)
{
    ASSERT_NE(nullptr, make_engine());
    const Books baseline = fake_.books();
    ASSERT_NE(nullptr, open_socket());
    ASYNC_SOCKET_HANDLE socket = socket_;
    Payload out{16};
    Payload in{16};
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(out));
    ASSERT_EQ(0, receive(in));
    destroy_socket();
    EXPECT_FALSE(fake_.block_live(socket));
    const Books after = fake_.books();
    EXPECT_EQ(baseline.blocks, after.blocks);
    EXPECT_EQ(0u, after.events);
    EXPECT_EQ(0u, after.ios);
    EXPECT_EQ(0u, after.environments);
    EXPECT_EQ(0u, after.sockets);
    EXPECT_EQ(0u, after.pending_operations);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_77_005
TEST_F(AsyncSocketWin32Destroy, destroy_after_close_does_not_close_the_handle_again)
{
    ASSERT_NE(nullptr, open_socket());
    async_socket_close(socket_);
    ASSERT_EQ(1u, fake_.count("closesocket"));
    // The value may belong to another socket by now.
    const SOCKET reused = fake_.new_socket();
    const size_t mark = fake_.log_size();
    destroy_socket();
    EXPECT_EQ(Names{"free"}, fake_.names(mark));
    EXPECT_EQ(1u, fake_.count("closesocket"));
    EXPECT_TRUE(fake_.socket_open(reused));
    fake_.close_own_socket(reused);
}

// Tests_SRS_ASYNC_SOCKET_WIN32_77_006
TEST_F(AsyncSocketWin32Destroy, a_whole_life_goes_through_the_table)
{
    // With the fake installed, the library works on the fake's objects alone: a real
    // threadpool or Winsock call with them could not succeed.
    EXPECT_EQ(&FakeOs::table(), &asock::detail::os());
    ASSERT_NE(nullptr, open_socket());
    Payload out{4};
    Payload in{4};
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(out));
    complete_last(NO_ERROR, 4);
    ASSERT_EQ(0, receive(in));
    complete_last(NO_ERROR, 4);
    ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, send(out));
    destroy_socket();
    execution_engine_dec_ref(engine_);
    engine_ = nullptr;

    ASSERT_EQ(1u, recorder_.opens().size());
    ASSERT_EQ(2u, recorder_.sends().size());
    EXPECT_EQ(ASYNC_SOCKET_SEND_OK, recorder_.sends()[0].result);
    ASSERT_EQ(1u, recorder_.receives().size());
    EXPECT_EQ(ASYNC_SOCKET_RECEIVE_OK, recorder_.receives()[0].result);
    // Every entry of the table but DisassociateCurrentThreadFromCallback (only for a close
    // from a callback) and the ones a failure needs was used, and the books balance.
    for (const char* name : {"malloc", "free", "CreateThreadpool", "SetThreadpoolThreadMinimum", "CloseThreadpool", "InitializeThreadpoolEnvironment",
                             "SetThreadpoolCallbackPool", "DestroyThreadpoolEnvironment", "CreateThreadpoolIo", "StartThreadpoolIo", "WaitForThreadpoolIoCallbacks",
                             "CloseThreadpoolIo", "CreateEventW", "CloseHandle", "CancelIoEx", "WSASend", "WSARecv", "WSAGetLastError", "closesocket"})
        EXPECT_NE(0u, fake_.count(name)) << name;
    EXPECT_TRUE(fake_.books().balanced()) << fake_.books().describe();
}

}  // namespace
}  // namespace asock_test::win32
