// A fake operating system behind the Win32 backend's seam (src/win32/detail/win32_api.h).
//
// FakeOs implements every entry of asock::detail::Win32Api. It
//   - records each call (name, arguments, result, in order);
//   - can make any call fail: the n-th call of a function from now on, or the next one; a
//     failing call returns its failure value and sets the error WSAGetLastError returns. A
//     WSASend/WSARecv can also return what a broken system might: SOCKET_ERROR with no error
//     code, or a value that is neither 0 nor SOCKET_ERROR (returns_next);
//   - keeps books of what is acquired and not released: memory (malloc/free), events, threadpool
//     IOs, threadpool environments, pools, socket handles, StartThreadpoolIo not matched by a
//     completion or CancelThreadpoolIo;
//   - captures what a test needs to drive completions: the callback and context given to
//     CreateThreadpoolIo, the OVERLAPPED and WSABUF array given to each WSASend/WSARecv;
//   - notes what the real OS would punish (violations): freeing twice, closing a handle twice,
//     WSASend without StartThreadpoolIo, closing a socket while a WSASend on it is still inside
//     the call, waiting for an IO's callbacks from its own callback (a deadlock), closing a
//     threadpool IO with operations still started...
//
// Memory is "guarded": every block sits at the end of its own pages followed by an
// inaccessible page, and free makes the pages inaccessible. Reading past a block or touching
// it after free crashes the test instead of passing silently.
//
// A pending WSASend/WSARecv stays pending until the test completes it (complete()), or until
// the socket is cancelled (CancelIoEx with NULL) or closed: then WaitForThreadpoolIoCallbacks
// delivers it, on the waiting thread, with ERROR_OPERATION_ABORTED and 0 bytes, as the
// threadpool would before the wait returns.
//
// Header-only: the test executable is built from tests/win32/*_test.cpp.
#pragma once

#include <winsock2.h>
#include <windows.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "detail/win32_api.h"

namespace asock_test::win32 {

// One recorded call.
struct Call
{
    std::string name;
    std::vector<uintptr_t> args;
    uintptr_t result = 0;
    bool failed = false;  // made to fail by the test
    DWORD thread = 0;

    template <typename T>
    T arg(size_t i) const
    {
        if constexpr (std::is_pointer_v<T>)
            return reinterpret_cast<T>(args.at(i));
        else
            return static_cast<T>(args.at(i));
    }
};

// One WSASend or WSARecv, as the fake saw it.
struct Operation
{
    enum class Kind
    {
        send,
        receive,
    };
    Kind kind = Kind::send;
    SOCKET socket = INVALID_SOCKET;
    PTP_IO io = nullptr;
    LPWSAOVERLAPPED overlapped = nullptr;
    HANDLE event = nullptr;  // overlapped->hEvent when the call was made
    LPWSABUF buffer_array = nullptr;
    std::vector<WSABUF> buffers;  // the array's content when the call was made
    DWORD buffer_count = 0;
    LPDWORD bytes = nullptr;       // lpNumberOfBytesSent / lpNumberOfBytesRecvd
    DWORD send_flags = 0;          // WSASend's dwFlags
    LPDWORD receive_flags = nullptr;  // WSARecv's lpFlags
    DWORD receive_flags_value = 0;    // *lpFlags when the call was made
    LPWSAOVERLAPPED_COMPLETION_ROUTINE routine = nullptr;
    bool accepted = false;  // returned 0 or WSA_IO_PENDING: a completion will come
    bool aborted = false;   // its socket was cancelled or closed
    bool completed = false;
};

// What is acquired and not yet released.
struct Books
{
    size_t blocks = 0;
    size_t bytes = 0;
    size_t events = 0;
    size_t ios = 0;
    size_t environments = 0;
    size_t pools = 0;
    size_t sockets = 0;
    size_t started_ios = 0;  // StartThreadpoolIo not matched by a completion or a cancel
    size_t pending_operations = 0;
    size_t timers = 0;  // fake threadpool timers not closed (use_fake_timers)
    size_t works = 0;   // fake work items not closed

    bool balanced() const
    {
        return blocks == 0 && events == 0 && ios == 0 && environments == 0 && pools == 0 && sockets == 0 && started_ios == 0 && pending_operations == 0 && timers == 0 &&
               works == 0;
    }
    std::string describe() const
    {
        std::ostringstream out;
        out << "blocks " << blocks << " (" << bytes << " bytes), events " << events << ", threadpool IOs " << ios << ", environments " << environments << ", pools "
            << pools << ", sockets " << sockets << ", started IOs " << started_ios << ", pending operations " << pending_operations << ", timers " << timers
            << ", work items " << works;
        return out.str();
    }
};

class FakeOs;

namespace fake_detail {

// The fake in use (the table's functions are plain functions: they find it here).
inline FakeOs* current = nullptr;

// The threadpool callback running on this thread, as the fake delivered it.
struct CallbackFrame
{
    PTP_IO io = nullptr;
    const void* object = nullptr;  // the fake timer or work item whose callback runs
    PTP_CALLBACK_INSTANCE instance = nullptr;
    bool disassociated = false;
};
inline thread_local CallbackFrame frame;

}  // namespace fake_detail

class FakeOs
{
public:
    FakeOs()
    {
        SYSTEM_INFO info;
        GetSystemInfo(&info);
        page_ = info.dwPageSize;
    }
    ~FakeOs()
    {
        uninstall();
        release_memory();
    }
    FakeOs(const FakeOs&) = delete;
    FakeOs& operator=(const FakeOs&) = delete;

    // The table that sends every call of the backend here.
    static const asock::detail::Win32Api& table()
    {
        static const asock::detail::Win32Api api = {
            &FakeOs::fake_malloc,
            &FakeOs::fake_free,
            &FakeOs::fake_CreateThreadpool,
            &FakeOs::fake_SetThreadpoolThreadMinimum,
            &FakeOs::fake_SetThreadpoolThreadMaximum,
            &FakeOs::fake_CloseThreadpool,
            &FakeOs::fake_InitializeThreadpoolEnvironment,
            &FakeOs::fake_SetThreadpoolCallbackPool,
            &FakeOs::fake_DestroyThreadpoolEnvironment,
            &FakeOs::fake_CreateThreadpoolIo,
            &FakeOs::fake_StartThreadpoolIo,
            &FakeOs::fake_CancelThreadpoolIo,
            &FakeOs::fake_WaitForThreadpoolIoCallbacks,
            &FakeOs::fake_CloseThreadpoolIo,
            &FakeOs::fake_DisassociateCurrentThreadFromCallback,
            &FakeOs::fake_CreateEventW,
            &FakeOs::fake_CloseHandle,
            &FakeOs::fake_CancelIoEx,
            &FakeOs::fake_WSASend,
            &FakeOs::fake_WSARecv,
            &FakeOs::fake_WSAGetLastError,
            &FakeOs::fake_closesocket,
            // Listeners and connects: not faked, the real ones.
            asock::detail::real_os().WSAStartup,
            asock::detail::real_os().WSASocketW,
            asock::detail::real_os().bind,
            asock::detail::real_os().listen,
            asock::detail::real_os().getsockname,
            asock::detail::real_os().setsockopt,
            asock::detail::real_os().WSAIoctl,
            asock::detail::real_os().inet_pton,
            // Timers, work items and the clock: the real ones unless use_fake_timers().
            &FakeOs::fake_CreateThreadpoolTimer,
            &FakeOs::fake_SetThreadpoolTimer,
            &FakeOs::fake_WaitForThreadpoolTimerCallbacks,
            &FakeOs::fake_CloseThreadpoolTimer,
            &FakeOs::fake_CreateThreadpoolWork,
            &FakeOs::fake_SubmitThreadpoolWork,
            &FakeOs::fake_WaitForThreadpoolWorkCallbacks,
            &FakeOs::fake_CloseThreadpoolWork,
            &FakeOs::fake_QueryPerformanceCounter,
            &FakeOs::fake_QueryPerformanceFrequency,
        };
        return api;
    }

    void install()
    {
        fake_detail::current = this;
        asock::detail::install_os(&table());
    }
    void uninstall()
    {
        if (fake_detail::current != this)
            return;
        asock::detail::install_os(nullptr);
        fake_detail::current = nullptr;
    }

    // ---- Failures -------------------------------------------------------------------------

    // The n-th call (1 = the next one) of `name` from now on fails with `error` (0: the
    // function's usual error, see default_error).
    void fail_nth(const std::string& name, int n, DWORD error = 0)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        plans_.push_back({name, n - 1, error == 0 ? default_error(name) : error, SOCKET_ERROR});
    }
    // The next WSASend or WSARecv returns `result` and leaves `error` for WSAGetLastError (0
    // too): no completion will come for it.
    void returns_next(const std::string& name, int result, DWORD error)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        plans_.push_back({name, 0, error, result});
    }
    // What WSAGetLastError answers next on this thread (for an overlapped call a test makes
    // itself, such as the start function of an ExternalIo).
    static void set_last_error(int error) { last_error_ = error; }
    void fail_next(const std::string& name, DWORD error = 0) { fail_nth(name, 1, error); }
    void clear_failures()
    {
        std::lock_guard<std::mutex> lock(mutex_);
        plans_.clear();
    }

    // The calls that can be made to fail (the others return nothing).
    static bool can_fail(const std::string& name)
    {
        static const char* const names[] = {"malloc", "CreateThreadpool", "SetThreadpoolThreadMinimum", "CreateThreadpoolIo", "CreateThreadpoolTimer", "CreateThreadpoolWork", "CreateEventW",
                                            "CloseHandle", "CancelIoEx", "WSASend", "WSARecv", "closesocket"};
        return std::any_of(std::begin(names), std::end(names), [&](const char* n) { return name == n; });
    }
    static DWORD default_error(const std::string& name)
    {
        if (name == "WSASend" || name == "WSARecv")
            return WSAENOBUFS;
        if (name == "closesocket")
            return WSAENOTSOCK;
        if (name == "CloseHandle")
            return ERROR_INVALID_HANDLE;
        if (name == "CancelIoEx")
            return ERROR_NOT_FOUND;
        return ERROR_NOT_ENOUGH_MEMORY;
    }

    // WSASend/WSARecv that are not made to fail: false (the default) returns SOCKET_ERROR with
    // WSA_IO_PENDING; true returns 0 (completed at once; the completion still comes through
    // the threadpool, as for a socket without FILE_SKIP_COMPLETION_PORT_ON_SUCCESS).
    void set_io_completes_at_once(bool value)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        at_once_ = value;
    }

    // Runs `hook` at the start of every call of `name` (after it is recorded), outside the
    // fake's lock, on the calling thread; nullptr removes it.
    void on_call(const std::string& name, std::function<void()> hook)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (hook)
            hooks_[name] = std::move(hook);
        else
            hooks_.erase(name);
    }

    // ---- Objects the tests hand to the library ---------------------------------------------

    // A socket handle the fake knows (open until closesocket).
    SOCKET new_socket()
    {
        std::lock_guard<std::mutex> lock(mutex_);
        const SOCKET s = static_cast<SOCKET>(0x5000 + 4 * ++next_socket_);
        sockets_[s] = true;
        return s;
    }
    // The test (not the library) closes a socket it still owns.
    void close_own_socket(SOCKET s)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        sockets_.erase(s);
    }
    bool socket_open(SOCKET s) const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = sockets_.find(s);
        return it != sockets_.end() && it->second;
    }

    // ---- Driving completions ---------------------------------------------------------------

    // The callback and context CreateThreadpoolIo received for an IO.
    struct IoRecord
    {
        PTP_IO io = nullptr;
        HANDLE handle = nullptr;
        PTP_WIN32_IO_CALLBACK callback = nullptr;
        PVOID context = nullptr;
        PTP_CALLBACK_ENVIRON environment = nullptr;
        bool closed = false;
        size_t started = 0;  // starts not matched by a completion or a cancel
        size_t claimed = 0;  // of those, the ones a WSASend/WSARecv took
    };
    std::vector<IoRecord> ios() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        std::vector<IoRecord> result;
        for (const auto& [io, record] : ios_)
            result.push_back(record);
        return result;
    }
    // The last threadpool IO created.
    IoRecord last_io() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (last_io_ == nullptr)
            return {};
        return ios_.at(last_io_);
    }

    // Every WSASend/WSARecv so far (failed ones too), in order.
    std::vector<Operation> operations() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return operations_;
    }
    Operation last_operation() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return operations_.empty() ? Operation{} : operations_.back();
    }
    std::vector<HANDLE> events_created() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return events_created_;
    }

    // Completes an accepted operation: calls its IO's callback (as the threadpool would) with
    // its OVERLAPPED, on this thread.
    void complete(const Operation& operation, ULONG io_result, ULONG_PTR bytes)
    {
        IoRecord record;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            Operation* op = find_operation(operation.overlapped);
            if (op == nullptr || !op->accepted || op->completed)
            {
                violations_.push_back("complete() of an operation that is not pending");
                return;
            }
            op->completed = true;
            auto it = ios_.find(op->io);
            if (it == ios_.end() || it->second.closed)
            {
                violations_.push_back("a completion for a closed threadpool IO");
                return;
            }
            --it->second.started;
            --it->second.claimed;
            record = it->second;
        }
        invoke(record, operation.overlapped, io_result, bytes);
    }

    // Calls an IO's callback with whatever the test says (a NULL overlapped for instance).
    void deliver_raw(const IoRecord& record, PVOID overlapped, ULONG io_result, ULONG_PTR bytes) { invoke(record, overlapped, io_result, bytes); }

    // The instances the fake passed to callbacks, in order.
    std::vector<PTP_CALLBACK_INSTANCE> instances() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return instances_;
    }

    // ---- Timers, work items and the clock ---------------------------------------------------

    // From now on threadpool timers and work items are the fake's (the test fires them and runs
    // them), and QueryPerformanceCounter is a clock the test moves (10 MHz, starting at 1 s).
    void use_fake_timers()
    {
        std::lock_guard<std::mutex> lock(mutex_);
        fake_timers_ = true;
    }
    static constexpr int64_t kTicksPerSecond = 10000000;
    void advance_clock(std::chrono::microseconds by)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        clock_ += by.count() * (kTicksPerSecond / 1000000);
    }

    struct TimerRecord
    {
        PTP_TIMER timer = nullptr;
        PTP_TIMER_CALLBACK callback = nullptr;
        PVOID context = nullptr;
        bool set = false;       // SetThreadpoolTimer with a due time, and not since stopped
        int64_t due = 0;        // 100 ns units, relative to the clock when set (negative as given)
        int64_t set_at = 0;     // the clock when set
        size_t sets = 0;        // SetThreadpoolTimer calls with a due time
        bool closed = false;
    };
    std::vector<TimerRecord> timers() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        std::vector<TimerRecord> result;
        for (const auto& [timer, record] : timers_)
            result.push_back(record);
        return result;
    }
    TimerRecord last_timer() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return last_timer_ == nullptr ? TimerRecord{} : timers_.at(last_timer_);
    }
    // Runs the timer's callback on this thread, as the threadpool would when it expires (or
    // as a callback queued before the timer was set again or stopped would).
    void fire(PTP_TIMER timer)
    {
        TimerRecord record;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            auto it = timers_.find(timer);
            if (it == timers_.end() || it->second.closed)
            {
                violations_.push_back("fire() of a timer that is not open");
                return;
            }
            it->second.set = false;
            record = it->second;
        }
        const PTP_CALLBACK_INSTANCE instance = new_instance();
        const fake_detail::CallbackFrame saved = fake_detail::frame;
        fake_detail::frame = {nullptr, timer, instance, false};
        record.callback(instance, record.context, timer);
        fake_detail::frame = saved;
    }

    struct WorkRecord
    {
        PTP_WORK work = nullptr;
        PTP_WORK_CALLBACK callback = nullptr;
        PVOID context = nullptr;
        size_t submitted = 0;  // submissions whose callback has not run
        size_t submissions = 0;
        bool closed = false;
    };
    WorkRecord last_work() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return last_work_ == nullptr ? WorkRecord{} : works_.at(last_work_);
    }
    // Runs one submitted callback of the work item on this thread; false if none is submitted.
    bool run_work(PTP_WORK work)
    {
        WorkRecord record;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            auto it = works_.find(work);
            if (it == works_.end() || it->second.closed || it->second.submitted == 0)
                return false;
            --it->second.submitted;
            record = it->second;
        }
        const PTP_CALLBACK_INSTANCE instance = new_instance();
        const fake_detail::CallbackFrame saved = fake_detail::frame;
        fake_detail::frame = {nullptr, work, instance, false};
        record.callback(instance, record.context, work);
        fake_detail::frame = saved;
        return true;
    }

    // ---- The log -------------------------------------------------------------------------------

    std::vector<Call> calls() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return log_;
    }
    std::vector<Call> calls(const std::string& name) const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        std::vector<Call> result;
        for (const auto& c : log_)
            if (c.name == name)
                result.push_back(c);
        return result;
    }
    size_t log_size() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return log_.size();
    }
    // The names of the calls from `from` (a log_size()) on.
    std::vector<std::string> names(size_t from = 0) const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        std::vector<std::string> result;
        for (size_t i = from; i < log_.size(); ++i)
            result.push_back(log_[i].name);
        return result;
    }
    // The names, without the ones listed in `ignored`.
    std::vector<std::string> names_without(const std::vector<std::string>& ignored, size_t from = 0) const
    {
        std::vector<std::string> result;
        for (auto& n : names(from))
            if (std::find(ignored.begin(), ignored.end(), n) == ignored.end())
                result.push_back(n);
        return result;
    }
    size_t count(const std::string& name, size_t from = 0) const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        size_t n = 0;
        for (size_t i = from; i < log_.size(); ++i)
            n += log_[i].name == name;
        return n;
    }
    // The log index of the nth (1-based) call of name, or -1.
    long position(const std::string& name, size_t nth = 1) const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        size_t seen = 0;
        for (size_t i = 0; i < log_.size(); ++i)
            if (log_[i].name == name && ++seen == nth)
                return static_cast<long>(i);
        return -1;
    }

    // ---- Books and violations --------------------------------------------------------------

    Books books() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return books_locked();
    }
    std::vector<std::string> violations() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return violations_;
    }
    std::string describe_violations() const
    {
        std::string out;
        for (auto& v : violations())
            out += v + "; ";
        return out;
    }

    // The size of the live block holding address p (0 if none), and its start.
    size_t block_size(const void* p, const char** start = nullptr) const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const auto& [block, info] : blocks_)
            if (info.live && static_cast<const char*>(p) >= block && static_cast<const char*>(p) < block + info.size)
            {
                if (start != nullptr)
                    *start = block;
                return info.size;
            }
        return 0;
    }
    bool block_live(const void* block) const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = blocks_.find(static_cast<const char*>(block));
        return it != blocks_.end() && it->second.live;
    }
    bool event_open(HANDLE event) const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return events_.count(event) != 0;
    }
    bool pool_open(PTP_POOL pool) const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return pools_.count(pool) != 0;
    }

private:
    struct Plan
    {
        std::string name;
        int skip;
        DWORD error;
        int result;  // what a failing WSASend/WSARecv returns
    };
    struct BlockInfo
    {
        char* base;
        size_t committed;
        size_t size;
        bool live;
    };

    static FakeOs& self() { return *fake_detail::current; }

    Books books_locked() const
    {
        Books b;
        for (const auto& [block, info] : blocks_)
            if (info.live)
            {
                ++b.blocks;
                b.bytes += info.size;
            }
        b.events = events_.size();
        for (const auto& [io, record] : ios_)
            if (!record.closed)
            {
                ++b.ios;
                b.started_ios += record.started;
            }
        b.environments = environments_.size();
        for (const auto& [timer, record] : timers_)
            b.timers += !record.closed;
        for (const auto& [work, record] : works_)
            b.works += !record.closed;
        b.pools = pools_.size();
        for (const auto& [s, open] : sockets_)
            b.sockets += open;
        for (const auto& op : operations_)
            b.pending_operations += op.accepted && !op.completed;
        return b;
    }

    Operation* find_operation(LPWSAOVERLAPPED overlapped)
    {
        for (auto it = operations_.rbegin(); it != operations_.rend(); ++it)
            if (it->overlapped == overlapped && it->accepted && !it->completed)
                return &*it;
        return nullptr;
    }

    // Records a call; returns its index and whether it must fail (with which error).
    struct Entry
    {
        size_t index;
        bool fail;
        DWORD error;
        int result;  // what a failing WSASend/WSARecv returns
        std::function<void()> hook;
    };
    Entry enter_locked(const char* name, std::vector<uintptr_t> args)
    {
        Entry e{log_.size(), false, 0, SOCKET_ERROR, nullptr};
        Call c;
        c.name = name;
        c.args = std::move(args);
        c.thread = GetCurrentThreadId();
        for (auto it = plans_.begin(); it != plans_.end(); ++it)
        {
            if (it->name != name)
                continue;
            if (it->skip-- == 0)
            {
                e.fail = true;
                e.error = it->error;
                e.result = it->result;
                plans_.erase(it);
                break;
            }
        }
        c.failed = e.fail;
        log_.push_back(std::move(c));
        auto hook = hooks_.find(name);
        if (hook != hooks_.end())
            e.hook = hook->second;
        return e;
    }
    Entry enter(const char* name, std::vector<uintptr_t> args)
    {
        Entry e;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            e = enter_locked(name, std::move(args));
        }
        if (e.hook)
            e.hook();
        return e;
    }
    void set_result(size_t index, uintptr_t result)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        log_[index].result = result;
    }
    static thread_local inline int last_error_ = 0;

    template <typename T>
    static uintptr_t u(T value)
    {
        if constexpr (std::is_pointer_v<T>)
            return reinterpret_cast<uintptr_t>(value);
        else
            return static_cast<uintptr_t>(value);
    }
    template <typename T>
    T next_fake_value()
    {
        return reinterpret_cast<T>(static_cast<uintptr_t>(0x7A000000) + 0x40 * ++next_value_);
    }

    PTP_CALLBACK_INSTANCE new_instance()
    {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto instance = next_fake_value<PTP_CALLBACK_INSTANCE>();
        instances_.push_back(instance);
        return instance;
    }

    void invoke(const IoRecord& record, PVOID overlapped, ULONG io_result, ULONG_PTR bytes)
    {
        const PTP_CALLBACK_INSTANCE instance = new_instance();
        const fake_detail::CallbackFrame saved = fake_detail::frame;
        fake_detail::frame = {record.io, nullptr, instance, false};
        record.callback(instance, record.context, overlapped, io_result, bytes, record.io);
        fake_detail::frame = saved;
    }

    void release_memory()
    {
        for (auto& [block, info] : blocks_)
            VirtualFree(info.base, 0, MEM_RELEASE);
        blocks_.clear();
    }

    // ---- The table's functions -------------------------------------------------------------

    static void* fake_malloc(size_t size)
    {
        FakeOs& f = self();
        Entry e = f.enter("malloc", {size});
        if (e.fail)
        {
            last_error_ = static_cast<int>(e.error);
            return nullptr;
        }
        const size_t rounded = std::max<size_t>(16, (size + 15) & ~size_t{15});
        const size_t committed = (rounded + f.page_ - 1) / f.page_ * f.page_;
        char* base = static_cast<char*>(VirtualAlloc(nullptr, committed + f.page_, MEM_RESERVE, PAGE_NOACCESS));
        if (base == nullptr || VirtualAlloc(base, committed, MEM_COMMIT, PAGE_READWRITE) == nullptr)
            return nullptr;
        char* block = base + committed - rounded;
        std::memset(block, 0xCD, rounded);  // garbage: what is not initialized looks wrong
        std::lock_guard<std::mutex> lock(f.mutex_);
        f.blocks_[block] = {base, committed, size, true};
        f.log_[e.index].result = u(block);
        return block;
    }

    static void fake_free(void* memory)
    {
        FakeOs& f = self();
        Entry e = f.enter("free", {u(memory)});
        if (memory == nullptr)
            return;
        std::lock_guard<std::mutex> lock(f.mutex_);
        auto it = f.blocks_.find(static_cast<char*>(memory));
        if (it == f.blocks_.end() || !it->second.live)
        {
            f.violations_.push_back(it == f.blocks_.end() ? "free of memory the fake did not allocate" : "free of a block already freed");
            return;
        }
        it->second.live = false;
        VirtualFree(it->second.base, it->second.committed, MEM_DECOMMIT);  // any later touch crashes
    }

    static PTP_POOL WINAPI fake_CreateThreadpool(PVOID reserved)
    {
        FakeOs& f = self();
        Entry e = f.enter("CreateThreadpool", {u(reserved)});
        std::lock_guard<std::mutex> lock(f.mutex_);
        if (e.fail)
        {
            last_error_ = static_cast<int>(e.error);
            return nullptr;
        }
        auto pool = f.next_fake_value<PTP_POOL>();
        f.pools_[pool] = true;
        f.log_[e.index].result = u(pool);
        return pool;
    }

    static BOOL WINAPI fake_SetThreadpoolThreadMinimum(PTP_POOL pool, DWORD minimum)
    {
        FakeOs& f = self();
        Entry e = f.enter("SetThreadpoolThreadMinimum", {u(pool), minimum});
        std::lock_guard<std::mutex> lock(f.mutex_);
        if (f.pools_.count(pool) == 0)
            f.violations_.push_back("SetThreadpoolThreadMinimum on a pool that is not open");
        if (e.fail)
        {
            last_error_ = static_cast<int>(e.error);
            return FALSE;
        }
        f.log_[e.index].result = TRUE;
        return TRUE;
    }

    static VOID WINAPI fake_SetThreadpoolThreadMaximum(PTP_POOL pool, DWORD maximum)
    {
        FakeOs& f = self();
        f.enter("SetThreadpoolThreadMaximum", {u(pool), maximum});
        std::lock_guard<std::mutex> lock(f.mutex_);
        if (f.pools_.count(pool) == 0)
            f.violations_.push_back("SetThreadpoolThreadMaximum on a pool that is not open");
    }

    static VOID WINAPI fake_CloseThreadpool(PTP_POOL pool)
    {
        FakeOs& f = self();
        f.enter("CloseThreadpool", {u(pool)});
        std::lock_guard<std::mutex> lock(f.mutex_);
        if (f.pools_.erase(pool) == 0)
            f.violations_.push_back("CloseThreadpool of a pool that is not open");
    }

    static void fake_InitializeThreadpoolEnvironment(PTP_CALLBACK_ENVIRON environment)
    {
        FakeOs& f = self();
        f.enter("InitializeThreadpoolEnvironment", {u(environment)});
        std::lock_guard<std::mutex> lock(f.mutex_);
        if (!f.environments_.emplace(environment, nullptr).second)
            f.violations_.push_back("InitializeThreadpoolEnvironment of an environment already initialized");
    }

    static void fake_SetThreadpoolCallbackPool(PTP_CALLBACK_ENVIRON environment, PTP_POOL pool)
    {
        FakeOs& f = self();
        f.enter("SetThreadpoolCallbackPool", {u(environment), u(pool)});
        std::lock_guard<std::mutex> lock(f.mutex_);
        auto it = f.environments_.find(environment);
        if (it == f.environments_.end())
            f.violations_.push_back("SetThreadpoolCallbackPool on an environment not initialized");
        else
            it->second = pool;
    }

    static void fake_DestroyThreadpoolEnvironment(PTP_CALLBACK_ENVIRON environment)
    {
        FakeOs& f = self();
        f.enter("DestroyThreadpoolEnvironment", {u(environment)});
        std::lock_guard<std::mutex> lock(f.mutex_);
        if (f.environments_.erase(environment) == 0)
            f.violations_.push_back("DestroyThreadpoolEnvironment of an environment not initialized");
    }

    static PTP_IO WINAPI fake_CreateThreadpoolIo(HANDLE handle, PTP_WIN32_IO_CALLBACK callback, PVOID context, PTP_CALLBACK_ENVIRON environment)
    {
        FakeOs& f = self();
        Entry e = f.enter("CreateThreadpoolIo", {u(handle), u(callback), u(context), u(environment)});
        std::lock_guard<std::mutex> lock(f.mutex_);
        if (e.fail)
        {
            last_error_ = static_cast<int>(e.error);
            return nullptr;
        }
        auto env = f.environments_.find(environment);
        if (env == f.environments_.end() || env->second == nullptr)
            f.violations_.push_back("CreateThreadpoolIo with an environment not initialized or without a pool");
        if (callback == nullptr)
            f.violations_.push_back("CreateThreadpoolIo without a callback");
        auto io = f.next_fake_value<PTP_IO>();
        f.ios_[io] = {io, handle, callback, context, environment, false, 0, 0};
        f.last_io_ = io;
        f.io_of_socket_[reinterpret_cast<SOCKET>(handle)] = io;
        f.log_[e.index].result = u(io);
        return io;
    }

    static VOID WINAPI fake_StartThreadpoolIo(PTP_IO io)
    {
        FakeOs& f = self();
        f.enter("StartThreadpoolIo", {u(io)});
        std::lock_guard<std::mutex> lock(f.mutex_);
        auto it = f.ios_.find(io);
        if (it == f.ios_.end() || it->second.closed)
            f.violations_.push_back("StartThreadpoolIo on a threadpool IO that is not open");
        else
            ++it->second.started;
    }

    static VOID WINAPI fake_CancelThreadpoolIo(PTP_IO io)
    {
        FakeOs& f = self();
        f.enter("CancelThreadpoolIo", {u(io)});
        std::lock_guard<std::mutex> lock(f.mutex_);
        auto it = f.ios_.find(io);
        if (it == f.ios_.end() || it->second.closed)
            f.violations_.push_back("CancelThreadpoolIo on a threadpool IO that is not open");
        else if (it->second.started <= it->second.claimed)
            f.violations_.push_back("CancelThreadpoolIo without a start that no operation took");
        else
            --it->second.started;
    }

    static VOID WINAPI fake_WaitForThreadpoolIoCallbacks(PTP_IO io, BOOL cancel_pending_callbacks)
    {
        FakeOs& f = self();
        f.enter("WaitForThreadpoolIoCallbacks", {u(io), static_cast<uintptr_t>(cancel_pending_callbacks)});
        std::vector<Operation> aborted;
        IoRecord record;
        {
            std::lock_guard<std::mutex> lock(f.mutex_);
            if (fake_detail::frame.io == io && !fake_detail::frame.disassociated)
                f.violations_.push_back("WaitForThreadpoolIoCallbacks from the IO's own callback without DisassociateCurrentThreadFromCallback: deadlock");
            auto it = f.ios_.find(io);
            if (it == f.ios_.end() || it->second.closed)
            {
                f.violations_.push_back("WaitForThreadpoolIoCallbacks on a threadpool IO that is not open");
                return;
            }
            for (auto& op : f.operations_)
                if (op.io == io && op.accepted && !op.completed && op.aborted)
                    aborted.push_back(op);
        }
        // The threadpool runs the callbacks of the cancelled operations before the wait ends.
        for (auto& op : aborted)
            f.complete(op, ERROR_OPERATION_ABORTED, 0);
    }

    static VOID WINAPI fake_CloseThreadpoolIo(PTP_IO io)
    {
        FakeOs& f = self();
        f.enter("CloseThreadpoolIo", {u(io)});
        std::lock_guard<std::mutex> lock(f.mutex_);
        auto it = f.ios_.find(io);
        if (it == f.ios_.end() || it->second.closed)
        {
            f.violations_.push_back("CloseThreadpoolIo of a threadpool IO that is not open");
            return;
        }
        if (it->second.started != 0)
            f.violations_.push_back("CloseThreadpoolIo with " + std::to_string(it->second.started) + " started operation(s) neither completed nor cancelled");
        it->second.closed = true;
    }

    static VOID WINAPI fake_DisassociateCurrentThreadFromCallback(PTP_CALLBACK_INSTANCE instance)
    {
        FakeOs& f = self();
        f.enter("DisassociateCurrentThreadFromCallback", {u(instance)});
        std::lock_guard<std::mutex> lock(f.mutex_);
        if (fake_detail::frame.instance == nullptr || fake_detail::frame.instance != instance)
            f.violations_.push_back("DisassociateCurrentThreadFromCallback with an instance that is not this thread's callback");
        else
            fake_detail::frame.disassociated = true;
    }

    static HANDLE WINAPI fake_CreateEventW(LPSECURITY_ATTRIBUTES attributes, BOOL manual_reset, BOOL initial_state, LPCWSTR name)
    {
        FakeOs& f = self();
        Entry e = f.enter("CreateEventW", {u(attributes), static_cast<uintptr_t>(manual_reset), static_cast<uintptr_t>(initial_state), u(name)});
        std::lock_guard<std::mutex> lock(f.mutex_);
        if (e.fail)
        {
            last_error_ = static_cast<int>(e.error);
            return nullptr;
        }
        auto event = f.next_fake_value<HANDLE>();
        f.events_[event] = true;
        f.events_created_.push_back(event);
        f.log_[e.index].result = u(event);
        return event;
    }

    static BOOL WINAPI fake_CloseHandle(HANDLE handle)
    {
        FakeOs& f = self();
        Entry e = f.enter("CloseHandle", {u(handle)});
        std::lock_guard<std::mutex> lock(f.mutex_);
        if (e.fail)
        {
            last_error_ = static_cast<int>(e.error);
            return FALSE;
        }
        if (f.events_.erase(handle) == 0)
        {
            f.violations_.push_back("CloseHandle of a handle that is not open");
            last_error_ = ERROR_INVALID_HANDLE;
            return FALSE;
        }
        f.log_[e.index].result = TRUE;
        return TRUE;
    }

    // Marks the socket's accepted operations as cancelled (called with the lock held).
    void abort_operations_locked(SOCKET s)
    {
        for (auto& op : operations_)
            if (op.socket == s && op.accepted && !op.completed)
                op.aborted = true;
    }
    void check_no_call_inside_locked(SOCKET s, const char* what)
    {
        if (in_flight_[s] != 0)
            violations_.push_back(std::string(what) + " while a WSASend/WSARecv on the socket is still inside the call");
    }

    static BOOL WINAPI fake_CancelIoEx(HANDLE handle, LPOVERLAPPED overlapped)
    {
        FakeOs& f = self();
        Entry e = f.enter("CancelIoEx", {u(handle), u(overlapped)});
        std::lock_guard<std::mutex> lock(f.mutex_);
        const auto s = reinterpret_cast<SOCKET>(handle);
        f.check_no_call_inside_locked(s, "CancelIoEx");
        auto it = f.sockets_.find(s);
        if (it == f.sockets_.end() || !it->second)
            f.violations_.push_back("CancelIoEx on a socket that is not open");
        if (overlapped == nullptr)
            f.abort_operations_locked(s);
        if (e.fail)
        {
            last_error_ = static_cast<int>(e.error);
            return FALSE;
        }
        f.log_[e.index].result = TRUE;
        return TRUE;
    }

    int start_operation(const char* name, Operation op, DWORD* error_out)
    {
        Entry e;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            e = enter_locked(name, {u(op.socket), u(op.buffer_array), op.buffer_count, u(op.bytes),
                                    op.kind == Operation::Kind::send ? op.send_flags : u(op.receive_flags), u(op.overlapped), u(op.routine)});
            ++in_flight_[op.socket];
            auto io = io_of_socket_.find(op.socket);
            if (io == io_of_socket_.end() || ios_[io->second].closed)
                violations_.push_back(std::string(name) + " on a socket without an open threadpool IO");
            else
            {
                op.io = io->second;
                IoRecord& record = ios_[op.io];
                if (record.started <= record.claimed)
                    violations_.push_back(std::string(name) + " without StartThreadpoolIo");
                ++record.claimed;
            }
        }
        if (e.hook)
            e.hook();
        std::lock_guard<std::mutex> lock(mutex_);
        --in_flight_[op.socket];
        auto s = sockets_.find(op.socket);
        DWORD error = 0;
        int result = 0;
        if (e.fail)
        {
            error = e.error;
            result = e.result;
        }
        else if (s == sockets_.end() || !s->second)
        {
            error = WSAENOTSOCK;
            result = SOCKET_ERROR;
        }
        else if (!at_once_)
        {
            result = SOCKET_ERROR;
            error = WSA_IO_PENDING;
        }
        // A failing call (whatever it returns) queues no completion.
        op.accepted = !e.fail && (result == 0 || error == WSA_IO_PENDING);
        if (!op.accepted && op.io != nullptr)
            --ios_[op.io].claimed;
        operations_.push_back(op);
        log_[e.index].result = static_cast<uintptr_t>(static_cast<intptr_t>(result));
        if (result != 0 || e.fail)
            last_error_ = static_cast<int>(error);
        *error_out = error;
        return result;
    }

    static int WSAAPI fake_WSASend(SOCKET socket, LPWSABUF buffers, DWORD buffer_count, LPDWORD bytes_sent, DWORD flags, LPWSAOVERLAPPED overlapped,
                                   LPWSAOVERLAPPED_COMPLETION_ROUTINE routine)
    {
        Operation op;
        op.kind = Operation::Kind::send;
        op.socket = socket;
        op.overlapped = overlapped;
        op.event = overlapped != nullptr ? overlapped->hEvent : nullptr;
        op.buffer_array = buffers;
        op.buffers.assign(buffers, buffers + buffer_count);
        op.buffer_count = buffer_count;
        op.bytes = bytes_sent;
        op.send_flags = flags;
        op.routine = routine;
        DWORD error;
        return self().start_operation("WSASend", op, &error);
    }

    static int WSAAPI fake_WSARecv(SOCKET socket, LPWSABUF buffers, DWORD buffer_count, LPDWORD bytes_received, LPDWORD flags, LPWSAOVERLAPPED overlapped,
                                   LPWSAOVERLAPPED_COMPLETION_ROUTINE routine)
    {
        Operation op;
        op.kind = Operation::Kind::receive;
        op.socket = socket;
        op.overlapped = overlapped;
        op.event = overlapped != nullptr ? overlapped->hEvent : nullptr;
        op.buffer_array = buffers;
        op.buffers.assign(buffers, buffers + buffer_count);
        op.buffer_count = buffer_count;
        op.bytes = bytes_received;
        op.receive_flags = flags;
        op.receive_flags_value = flags != nullptr ? *flags : 0xFFFFFFFFu;
        op.routine = routine;
        DWORD error;
        return self().start_operation("WSARecv", op, &error);
    }

    static int WSAAPI fake_WSAGetLastError()
    {
        FakeOs& f = self();
        Entry e = f.enter("WSAGetLastError", {});
        f.set_result(e.index, static_cast<uintptr_t>(last_error_));
        return last_error_;
    }

    static int WSAAPI fake_closesocket(SOCKET socket)
    {
        FakeOs& f = self();
        Entry e = f.enter("closesocket", {u(socket)});
        std::lock_guard<std::mutex> lock(f.mutex_);
        f.check_no_call_inside_locked(socket, "closesocket");
        if (e.fail)
        {
            last_error_ = static_cast<int>(e.error);
            return SOCKET_ERROR;
        }
        auto it = f.sockets_.find(socket);
        if (it == f.sockets_.end() || !it->second)
        {
            f.violations_.push_back("closesocket of a socket that is not open");
            last_error_ = WSAENOTSOCK;
            return SOCKET_ERROR;
        }
        it->second = false;
        f.abort_operations_locked(socket);
        return 0;
    }

    // ---- Timers, work items, clock (use_fake_timers) ----------------------------------------

    bool fake_timers() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return fake_timers_;
    }
    // A wait for an object's callbacks from that object's own callback, not disassociated.
    void check_wait_locked(const void* object, const char* what)
    {
        if (fake_detail::frame.object == object && !fake_detail::frame.disassociated)
            violations_.push_back(std::string(what) + " from the object's own callback without DisassociateCurrentThreadFromCallback: deadlock");
    }

    static PTP_TIMER WINAPI fake_CreateThreadpoolTimer(PTP_TIMER_CALLBACK callback, PVOID context, PTP_CALLBACK_ENVIRON environment)
    {
        FakeOs& f = self();
        if (!f.fake_timers())
            return asock::detail::real_os().CreateThreadpoolTimer(callback, context, environment);
        Entry e = f.enter("CreateThreadpoolTimer", {u(callback), u(context), u(environment)});
        std::lock_guard<std::mutex> lock(f.mutex_);
        if (e.fail)
            return nullptr;
        if (f.environments_.count(environment) == 0)
            f.violations_.push_back("CreateThreadpoolTimer with an environment not initialized");
        auto timer = f.next_fake_value<PTP_TIMER>();
        f.timers_[timer] = {timer, callback, context, false, 0, 0, 0, false};
        f.last_timer_ = timer;
        f.log_[e.index].result = u(timer);
        return timer;
    }
    static VOID WINAPI fake_SetThreadpoolTimer(PTP_TIMER timer, PFILETIME due_time, DWORD period_ms, DWORD window_ms)
    {
        FakeOs& f = self();
        if (!f.fake_timers())
            return asock::detail::real_os().SetThreadpoolTimer(timer, due_time, period_ms, window_ms);
        int64_t due = 0;
        if (due_time != nullptr)
            due = static_cast<int64_t>((static_cast<uint64_t>(due_time->dwHighDateTime) << 32) | due_time->dwLowDateTime);
        f.enter("SetThreadpoolTimer", {u(timer), static_cast<uintptr_t>(due), period_ms, window_ms, due_time != nullptr});
        std::lock_guard<std::mutex> lock(f.mutex_);
        auto it = f.timers_.find(timer);
        if (it == f.timers_.end() || it->second.closed)
        {
            f.violations_.push_back("SetThreadpoolTimer on a timer that is not open");
            return;
        }
        it->second.set = due_time != nullptr;
        it->second.due = due;
        it->second.set_at = f.clock_;
        it->second.sets += due_time != nullptr;
    }
    static VOID WINAPI fake_WaitForThreadpoolTimerCallbacks(PTP_TIMER timer, BOOL cancel_pending)
    {
        FakeOs& f = self();
        if (!f.fake_timers())
            return asock::detail::real_os().WaitForThreadpoolTimerCallbacks(timer, cancel_pending);
        f.enter("WaitForThreadpoolTimerCallbacks", {u(timer), static_cast<uintptr_t>(cancel_pending)});
        std::lock_guard<std::mutex> lock(f.mutex_);
        f.check_wait_locked(timer, "WaitForThreadpoolTimerCallbacks");
    }
    static VOID WINAPI fake_CloseThreadpoolTimer(PTP_TIMER timer)
    {
        FakeOs& f = self();
        if (!f.fake_timers())
            return asock::detail::real_os().CloseThreadpoolTimer(timer);
        f.enter("CloseThreadpoolTimer", {u(timer)});
        std::lock_guard<std::mutex> lock(f.mutex_);
        auto it = f.timers_.find(timer);
        if (it == f.timers_.end() || it->second.closed)
            f.violations_.push_back("CloseThreadpoolTimer of a timer that is not open");
        else
            it->second.closed = true;
    }
    static PTP_WORK WINAPI fake_CreateThreadpoolWork(PTP_WORK_CALLBACK callback, PVOID context, PTP_CALLBACK_ENVIRON environment)
    {
        FakeOs& f = self();
        if (!f.fake_timers())
            return asock::detail::real_os().CreateThreadpoolWork(callback, context, environment);
        Entry e = f.enter("CreateThreadpoolWork", {u(callback), u(context), u(environment)});
        std::lock_guard<std::mutex> lock(f.mutex_);
        if (e.fail)
            return nullptr;
        if (f.environments_.count(environment) == 0)
            f.violations_.push_back("CreateThreadpoolWork with an environment not initialized");
        auto work = f.next_fake_value<PTP_WORK>();
        f.works_[work] = {work, callback, context, 0, 0, false};
        f.last_work_ = work;
        f.log_[e.index].result = u(work);
        return work;
    }
    static VOID WINAPI fake_SubmitThreadpoolWork(PTP_WORK work)
    {
        FakeOs& f = self();
        if (!f.fake_timers())
            return asock::detail::real_os().SubmitThreadpoolWork(work);
        f.enter("SubmitThreadpoolWork", {u(work)});
        std::lock_guard<std::mutex> lock(f.mutex_);
        auto it = f.works_.find(work);
        if (it == f.works_.end() || it->second.closed)
        {
            f.violations_.push_back("SubmitThreadpoolWork of a work item that is not open");
            return;
        }
        ++it->second.submitted;
        ++it->second.submissions;
    }
    static VOID WINAPI fake_WaitForThreadpoolWorkCallbacks(PTP_WORK work, BOOL cancel_pending)
    {
        FakeOs& f = self();
        if (!f.fake_timers())
            return asock::detail::real_os().WaitForThreadpoolWorkCallbacks(work, cancel_pending);
        f.enter("WaitForThreadpoolWorkCallbacks", {u(work), static_cast<uintptr_t>(cancel_pending)});
        bool run = false;
        {
            std::lock_guard<std::mutex> lock(f.mutex_);
            f.check_wait_locked(work, "WaitForThreadpoolWorkCallbacks");
            auto it = f.works_.find(work);
            if (it == f.works_.end() || it->second.closed)
                f.violations_.push_back("WaitForThreadpoolWorkCallbacks on a work item that is not open");
            else if (cancel_pending)
                it->second.submitted = 0;
            else
                run = it->second.submitted != 0;
        }
        // The threadpool runs the submitted callbacks before the wait ends.
        while (run && f.run_work(work))
        {
        }
    }
    static VOID WINAPI fake_CloseThreadpoolWork(PTP_WORK work)
    {
        FakeOs& f = self();
        if (!f.fake_timers())
            return asock::detail::real_os().CloseThreadpoolWork(work);
        f.enter("CloseThreadpoolWork", {u(work)});
        std::lock_guard<std::mutex> lock(f.mutex_);
        auto it = f.works_.find(work);
        if (it == f.works_.end() || it->second.closed)
            f.violations_.push_back("CloseThreadpoolWork of a work item that is not open");
        else if (it->second.submitted != 0)
            f.violations_.push_back("CloseThreadpoolWork with submitted callbacks that never ran");
        else
            it->second.closed = true;
    }
    static BOOL WINAPI fake_QueryPerformanceCounter(LARGE_INTEGER* count)
    {
        FakeOs& f = self();
        if (!f.fake_timers())
            return asock::detail::real_os().QueryPerformanceCounter(count);
        std::lock_guard<std::mutex> lock(f.mutex_);
        count->QuadPart = f.clock_;
        return TRUE;
    }
    static BOOL WINAPI fake_QueryPerformanceFrequency(LARGE_INTEGER* frequency)
    {
        FakeOs& f = self();
        if (!f.fake_timers())
            return asock::detail::real_os().QueryPerformanceFrequency(frequency);
        frequency->QuadPart = kTicksPerSecond;
        return TRUE;
    }

    mutable std::mutex mutex_;
    bool fake_timers_ = false;
    int64_t clock_ = kTicksPerSecond;
    std::map<PTP_TIMER, TimerRecord> timers_;
    PTP_TIMER last_timer_ = nullptr;
    std::map<PTP_WORK, WorkRecord> works_;
    PTP_WORK last_work_ = nullptr;
    size_t page_ = 4096;
    std::vector<Call> log_;
    std::vector<Plan> plans_;
    std::map<std::string, std::function<void()>> hooks_;
    std::vector<std::string> violations_;
    bool at_once_ = false;
    uintptr_t next_value_ = 0;
    uintptr_t next_socket_ = 0;

    std::map<const char*, BlockInfo, std::less<>> blocks_;
    std::map<HANDLE, bool> events_;
    std::vector<HANDLE> events_created_;
    std::map<PTP_POOL, bool> pools_;
    std::map<PTP_CALLBACK_ENVIRON, PTP_POOL> environments_;
    std::map<PTP_IO, IoRecord> ios_;
    PTP_IO last_io_ = nullptr;
    std::map<SOCKET, PTP_IO> io_of_socket_;
    std::map<SOCKET, bool> sockets_;
    std::map<SOCKET, int> in_flight_;
    std::vector<Operation> operations_;
    std::vector<PTP_CALLBACK_INSTANCE> instances_;
};

}  // namespace asock_test::win32
