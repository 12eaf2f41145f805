// The fixture of the contract suite: every test runs once per Linux backend.
#pragma once

#include <atomic>
#include <thread>

#include "support/helpers.h"

namespace asock_test {

// Where the seed's Windows design and the Linux contract differ, the tests ask these
// instead of assuming one platform (docs/requirements/async_socket_win32_notes.md explains
// each difference).
struct PlatformContract
{
    // The result close gives the operations it completes: Linux ABANDONED (02_003); Windows
    // ERROR (the I/O ends with ERROR_OPERATION_ABORTED, which the seed maps to ERROR).
    ASYNC_SOCKET_RECEIVE_RESULT receive_result_after_close;
    ASYNC_SOCKET_SEND_RESULT send_result_after_close;
    // The seed calls on_open_complete inside async_socket_open_async (01_017); Linux calls it
    // later on the loop thread (02_001).
    bool open_completes_inside_open;
    // Linux runs a socket's callbacks one at a time on its loop thread, in completion order;
    // the Windows threadpool may run two completions of one socket at once, on any thread.
    bool callbacks_serialized_per_socket;
    // Linux: a close waits for a close under way on another thread (02_018); the seed's close
    // returns at once when the socket is not OPEN (01_022).
    bool close_waits_for_close_under_way;
    // Linux: after a failed send, later sends fail too (02_016); the seed has no such rule.
    bool failed_send_fails_later_sends;
    // Linux: open checks that the handle is a stream socket (02_019); the seed does not.
    bool open_checks_stream_socket;
    // Linux recycles operation memory (no heap in steady state); the seed allocates a context
    // per operation.
    bool operation_memory_is_recycled;
    // Linux: the tests count the process's descriptors (open_fd_count) to see that sockets are
    // closed; Windows handle counts move with the threadpool's own handles.
    bool descriptors_countable;
};

#ifdef _WIN32
inline constexpr PlatformContract kPlatform{ASYNC_SOCKET_RECEIVE_ERROR, ASYNC_SOCKET_SEND_ERROR, true, false, false, false, false, false, false};
#else
inline constexpr PlatformContract kPlatform{ASYNC_SOCKET_RECEIVE_ABANDONED, ASYNC_SOCKET_SEND_ABANDONED, false, true, true, true, true, true, true};
#endif

class Contract : public ::testing::TestWithParam<Backend>
{
protected:
    void SetUp() override
    {
        if (!backend_available(GetParam()))
            GTEST_SKIP() << backend_name(GetParam()) << " cannot be used on this machine";
        engine = make_engine(GetParam());
        ASSERT_NE(engine, nullptr);
    }

    void TearDown() override
    {
        if (engine != nullptr)
            execution_engine_dec_ref(engine);
    }

    // Creates an async socket on handle and opens it, waiting for the open callback.
    ASYNC_SOCKET_HANDLE open_socket(SOCKET_HANDLE handle) { return create_and_open(engine, handle); }

    EXECUTION_ENGINE_HANDLE engine = nullptr;
};

inline std::string backend_param_name(const ::testing::TestParamInfo<Backend>& info)
{
    return backend_name(info.param);
}

#define ASOCK_INSTANTIATE_CONTRACT(suite) \
    INSTANTIATE_TEST_SUITE_P(Backends, suite, ::testing::ValuesIn(::asock_test::platform_backends()), ::asock_test::backend_param_name)

}  // namespace asock_test
