// The fixture of the Win32 backend's unit tests: installs the fake operating system
// (fake_os.h) in SetUp, and in TearDown releases what the test left to it, restores the real
// operating system and checks that the fake's books balance and that nothing the real OS
// would punish happened.
#pragma once

#include <winsock2.h>
#include <windows.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "asock/async_socket.h"
#include "asock/execution_engine.h"
#include "asock/execution_engine_win32.h"
#include "support/helpers.h"
#include "win32/fake_os.h"

namespace asock_test::win32 {

using namespace std::chrono_literals;

struct OpenEvent
{
    void* context;
    ASYNC_SOCKET_OPEN_RESULT result;
};

// What a completion callback saw: its arguments, the fake's books and the log's length at
// that moment.
struct SendEvent
{
    void* context;
    ASYNC_SOCKET_SEND_RESULT result;
    Books books;
    size_t log_size;
};

struct ReceiveEvent
{
    void* context;
    ASYNC_SOCKET_RECEIVE_RESULT result;
    uint32_t bytes;
    Books books;
    size_t log_size;
};

// The callbacks' records (the context argument is recorded, not used: it may be NULL).
class Recorder
{
public:
    std::vector<OpenEvent> opens() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return opens_;
    }
    std::vector<SendEvent> sends() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return sends_;
    }
    std::vector<ReceiveEvent> receives() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return receives_;
    }
    size_t callbacks() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return opens_.size() + sends_.size() + receives_.size();
    }

    // Run inside the callbacks, after the event is recorded.
    std::function<void(void* context)> on_open_action;
    std::function<void(void* context)> on_send_action;
    std::function<void(void* context)> on_receive_action;

    static inline Recorder* current = nullptr;
    static inline FakeOs* fake = nullptr;

    static void on_open(void* context, ASYNC_SOCKET_OPEN_RESULT result)
    {
        {
            std::lock_guard<std::mutex> lock(current->mutex_);
            current->opens_.push_back({context, result});
        }
        if (current->on_open_action)
            current->on_open_action(context);
    }
    static void on_send(void* context, ASYNC_SOCKET_SEND_RESULT result)
    {
        const Books books = fake->books();
        const size_t log_size = fake->log_size();
        {
            std::lock_guard<std::mutex> lock(current->mutex_);
            current->sends_.push_back({context, result, books, log_size});
        }
        if (current->on_send_action)
            current->on_send_action(context);
    }
    static void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t bytes)
    {
        const Books books = fake->books();
        const size_t log_size = fake->log_size();
        {
            std::lock_guard<std::mutex> lock(current->mutex_);
            current->receives_.push_back({context, result, bytes, books, log_size});
        }
        if (current->on_receive_action)
            current->on_receive_action(context);
    }

private:
    mutable std::mutex mutex_;
    std::vector<OpenEvent> opens_;
    std::vector<SendEvent> sends_;
    std::vector<ReceiveEvent> receives_;
};

// An array of valid buffers that ends right before an inaccessible page: reading past its
// last entry crashes.
class GuardedBuffers
{
public:
    explicit GuardedBuffers(size_t count)
    {
        SYSTEM_INFO info;
        GetSystemInfo(&info);
        const size_t bytes = count * sizeof(ASYNC_SOCKET_BUFFER);
        const size_t committed = (bytes + info.dwPageSize - 1) / info.dwPageSize * info.dwPageSize;
        base_ = static_cast<char*>(VirtualAlloc(nullptr, committed + info.dwPageSize, MEM_RESERVE, PAGE_NOACCESS));
        if (base_ == nullptr || VirtualAlloc(base_, committed, MEM_COMMIT, PAGE_READWRITE) == nullptr)
        {
            ADD_FAILURE() << "VirtualAlloc failed";
            return;
        }
        buffers_ = reinterpret_cast<ASYNC_SOCKET_BUFFER*>(base_ + committed - bytes);
        for (size_t i = 0; i < count; ++i)
            buffers_[i] = {&byte_, 1};
    }
    ~GuardedBuffers()
    {
        if (base_ != nullptr)
            VirtualFree(base_, 0, MEM_RELEASE);
    }
    GuardedBuffers(const GuardedBuffers&) = delete;
    GuardedBuffers& operator=(const GuardedBuffers&) = delete;

    ASYNC_SOCKET_BUFFER* data() { return buffers_; }

private:
    char* base_ = nullptr;
    ASYNC_SOCKET_BUFFER* buffers_ = nullptr;
    char byte_ = 0;
};

// Distinct context values for the callbacks.
inline void* context_value(uintptr_t n) { return reinterpret_cast<void*>(0xC0DE0000 + 0x10 * n); }

class FakeOsTest : public ::testing::Test
{
protected:
    void SetUp() override
    {
        Recorder::current = &recorder_;
        Recorder::fake = &fake_;
        fake_.install();
    }

    void TearDown() override
    {
        if (socket_ != nullptr)
            async_socket_destroy(socket_);
        socket_ = nullptr;
        if (engine_ != nullptr)
            execution_engine_dec_ref(engine_);
        engine_ = nullptr;
        fake_.uninstall();
        const Books books = fake_.books();
        EXPECT_TRUE(books.balanced()) << "leaked: " << books.describe();
        EXPECT_TRUE(fake_.violations().empty()) << fake_.describe_violations();
        Recorder::current = nullptr;
        Recorder::fake = nullptr;
    }

    // The engine of the test (kept by the fixture; TearDown drops the reference).
    EXECUTION_ENGINE_HANDLE make_engine(uint32_t min_threads = 1, uint32_t max_threads = 0)
    {
        EXECUTION_ENGINE_PARAMETERS parameters{min_threads, max_threads};
        engine_ = execution_engine_create(&parameters);
        if (engine_ == nullptr)
            ADD_FAILURE() << "execution_engine_create failed";
        return engine_;
    }

    // A socket on a new fake socket handle (socket_/handle_); creates the engine if needed.
    ASYNC_SOCKET_HANDLE create_socket()
    {
        if (engine_ == nullptr && make_engine() == nullptr)
            return nullptr;
        handle_ = fake_.new_socket();
        socket_ = async_socket_create(engine_, as_handle(handle_));
        if (socket_ == nullptr)
            ADD_FAILURE() << "async_socket_create failed";
        return socket_;
    }

    // create_socket, then open (which completes inside the call).
    ASYNC_SOCKET_HANDLE open_socket()
    {
        if (create_socket() == nullptr)
            return nullptr;
        if (async_socket_open_async(socket_, Recorder::on_open, context_value(0)) != 0)
        {
            ADD_FAILURE() << "async_socket_open_async failed";
            return nullptr;
        }
        return socket_;
    }

    // The test destroys the socket itself.
    void destroy_socket()
    {
        async_socket_destroy(socket_);
        socket_ = nullptr;
    }

    static SOCKET_HANDLE as_handle(SOCKET s) { return reinterpret_cast<SOCKET_HANDLE>(s); }

    // A payload of `count` buffers of the given lengths, over memory of the test.
    struct Payload
    {
        std::vector<std::vector<char>> memory;
        std::vector<ASYNC_SOCKET_BUFFER> buffers;
        uint32_t total = 0;

        explicit Payload(std::initializer_list<uint32_t> lengths)
        {
            for (uint32_t length : lengths)
            {
                memory.emplace_back(length, 'x');
                buffers.push_back({memory.back().data(), length});
                total += length;
            }
        }
        uint32_t count() const { return static_cast<uint32_t>(buffers.size()); }
    };

    ASYNC_SOCKET_SEND_SYNC_RESULT send(Payload& payload, void* context = context_value(1))
    {
        return async_socket_send_async(socket_, payload.buffers.data(), payload.count(), Recorder::on_send, context);
    }
    int receive(Payload& payload, void* context = context_value(2))
    {
        return async_socket_receive_async(socket_, payload.buffers.data(), payload.count(), Recorder::on_receive, context);
    }

    // Completes the last WSASend/WSARecv the fake accepted.
    void complete_last(ULONG io_result, ULONG_PTR bytes) { fake_.complete(fake_.last_operation(), io_result, bytes); }

    FakeOs fake_;
    Recorder recorder_;
    EXECUTION_ENGINE_HANDLE engine_ = nullptr;
    ASYNC_SOCKET_HANDLE socket_ = nullptr;
    SOCKET handle_ = INVALID_SOCKET;
};

// Waits (bounded) until pred() holds: the suite's wait_until, with a shorter default.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 5000ms)
{
    return ::asock_test::wait_until(pred, timeout);
}

// The calls of a run that the fake can make fail, as (name, occurrence) pairs, in order.
struct FailableCall
{
    std::string name;
    int occurrence;
};
inline std::vector<FailableCall> failable_calls(const std::vector<std::string>& names)
{
    std::vector<FailableCall> result;
    std::map<std::string, int> seen;
    for (const auto& n : names)
        if (FakeOs::can_fail(n))
            result.push_back({n, ++seen[n]});
    return result;
}

}  // namespace asock_test::win32
