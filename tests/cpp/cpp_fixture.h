// The fixture of the C++ API's tests (asock.hpp): the contract suite's fixture (one run per
// backend of the platform) with the fixture's engine as an asock::engine, and sockets opened
// through the C++ API.
#pragma once

#include <optional>
#include <atomic>
#include <thread>
#include <utility>

#include "asock/asock.hpp"
#include "contract/contract_fixture.h"

namespace asock_test {

// A socket opened through the C++ API, waiting for its open handler.
inline asock::socket open_cpp_socket(asock::engine& e, SOCKET_HANDLE handle)
{
    asock::socket s(e, handle);
    Counter opened;
    std::atomic<asock::result> status{asock::result::error};
    EXPECT_FALSE(s.open([&](asock::io_result r) {
        status = r.status;
        opened.add();
    }));
    EXPECT_TRUE(opened.wait_for(1));
    EXPECT_EQ(asock::result::ok, status.load());
    return s;
}

// What one co_await yielded, where, and how many times its coroutine resumed after it.
template <typename T>
struct Awaited
{
    T value{};
    std::thread::id thread;
    std::atomic<int> resumes{0};
    Counter done;
};

// A coroutine that awaits make() once and records it. It runs until its first suspension
// before this call returns: when the awaitable does not suspend, the record is complete when
// the call returns (and its thread is the caller's).
template <typename T, typename Make>
asock::task await_one(Awaited<T>& record, Make make)
{
    T value = co_await make();
    record.value = std::move(value);
    record.thread = std::this_thread::get_id();
    record.resumes++;
    record.done.add();
}

class CppContract : public Contract
{
protected:
    // The fixture's engine as an asock::engine (its own reference).
    asock::engine cpp_engine()
    {
        execution_engine_inc_ref(engine);
        return asock::engine::adopt(engine);
    }
};

// A CppContract whose tests use an asock::engine (e), made after the backend's checks.
class CppEngineContract : public CppContract
{
protected:
    void SetUp() override
    {
        CppContract::SetUp();
        if (IsSkipped() || HasFatalFailure())
            return;
        e.emplace(cpp_engine());
    }
    void TearDown() override
    {
        e.reset();
        CppContract::TearDown();
    }

    std::optional<asock::engine> e;
};

}  // namespace asock_test
