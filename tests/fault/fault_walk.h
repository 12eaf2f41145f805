// The fault walk: runs a scenario once counting the calls at every fault point, then once
// per (point, N) with the N-th call at that point failing, and checks after every run that
// the scenario left nothing behind (descriptors, threads). The scenarios themselves check the
// contract (fault_walk_test.cpp). A run that does not end within kRunLimit aborts the process
// with the run's name: a hang is a failure, not a stuck test.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "contract/contract_fixture.h"
#include "support/fault_injection.h"

namespace asock_test {

// One run of a scenario: either counting (nothing fails) or failing the call at `point` that
// finds `skip` calls at that point before it.
class WalkRun
{
public:
    static constexpr unsigned kCounting = ASOCK_FAULT_POINT_COUNT;

    WalkRun(Backend backend, bool default_backend, unsigned point, uint64_t skip) : backend_(backend), default_backend_(default_backend), point_(point), skip_(skip) {}

    // The region of the scenario where calls are counted or fail.
    void arm()
    {
        if (counting())
            asock_fault_arm(ASOCK_FAULT_ALL_POINTS, UINT64_MAX);
        else
            asock_fault_arm(ASOCK_FAULT_BIT(point_), skip_);
        armed_ = true;
    }
    void disarm()
    {
        if (!armed_)
            return;
        asock_fault_disarm();
        armed_ = false;
        fired_ = asock_fault_fired() != 0;
        for (unsigned p = 0; p < ASOCK_FAULT_POINT_COUNT; ++p)
            hits_[p] = asock_fault_hits(p);
    }

    bool counting() const { return point_ == kCounting; }
    // Whether the failure was injected (known once disarmed).
    bool fired() const { return fired_; }
    bool fired_at(unsigned point) const { return fired_ && point_ == point; }
    // The same, read now: a call on the loop thread that passed the armed check before the
    // disarm may fail after it (once its operation completed, it surely has).
    bool fired_at_by_now(unsigned point) const { return point_ == point && asock_fault_fired() != 0; }
    unsigned point() const { return point_; }
    uint64_t hits(unsigned point) const { return hits_[point]; }
    Backend backend() const { return backend_; }
    // The engine is made by execution_engine_create (the default backend), not for backend().
    bool default_backend() const { return default_backend_; }

private:
    Backend backend_;
    bool default_backend_;
    unsigned point_;
    uint64_t skip_;
    bool armed_ = false;
    bool fired_ = false;
    uint64_t hits_[ASOCK_FAULT_POINT_COUNT] = {};
};

// Every send and receive a scenario starts, and what became of each: the checks of
// exactly-once completion and of no callback after close.
class OpLog
{
public:
    struct Op
    {
        OpLog* log = nullptr;
        bool is_send = false;
        std::vector<uint8_t> data;            // what a send sends; a receive's storage
        std::vector<ASYNC_SOCKET_BUFFER> buffers;  // data split into pieces
        std::atomic<bool> accepted{false};
        std::atomic<int> calls{0};
        std::atomic<int> result{-1};
        std::atomic<uint32_t> bytes{0};
        std::function<void(Op&)> then;  // runs inside the callback, after the record

        bool ok() const { return result.load() == 0; }  // ASYNC_SOCKET_SEND_OK / RECEIVE_OK
        // The bytes a completed receive got, in order.
        std::vector<uint8_t> received() const { return std::vector<uint8_t>(data.begin(), data.begin() + bytes.load()); }
    };

    Op& send(std::vector<uint8_t> payload, uint32_t pieces) { return add(true, std::move(payload), pieces); }
    Op& receive(size_t size, uint32_t pieces) { return add(false, std::vector<uint8_t>(size), pieces); }

    // Starts the operation; true when the socket accepted it (its callback must run once).
    bool start(ASYNC_SOCKET_HANDLE socket, Op& op)
    {
        const auto count = static_cast<uint32_t>(op.buffers.size());
        bool accepted;
        if (op.is_send)
            accepted = async_socket_send_async(socket, op.buffers.data(), count, on_send, &op) == ASYNC_SOCKET_SEND_SYNC_OK;
        else
            accepted = async_socket_receive_async(socket, op.buffers.data(), count, on_receive, &op) == 0;
        op.accepted = accepted;
        if (accepted)
            accepted_.fetch_add(1);
        return accepted;
    }

    // The socket's close returned: from now on no callback of it may run.
    void closed() { closed_.store(true); }

    uint64_t accepted() const { return accepted_.load(); }
    uint64_t completed() const { return completed_.value(); }
    bool wait_all(std::chrono::milliseconds timeout) const { return completed_.wait_for(accepted(), timeout); }

    // Every accepted operation completed exactly once, none was called back unasked, and no
    // callback ran after close returned.
    void expect_exactly_once() const
    {
        EXPECT_EQ(accepted(), completed()) << "an accepted operation was not completed";
        EXPECT_EQ(0, extra_.load()) << "an operation was completed twice";
        int unasked = 0;
        for_each([&](const Op& op) { unasked += !op.accepted && op.calls.load() != 0; });
        EXPECT_EQ(0, unasked) << "an operation the socket refused was called back";
        EXPECT_EQ(0, late_.load()) << "a callback ran after async_socket_close returned";
    }

    // The operations in the order they were made.
    template <typename F>
    void for_each(F f) const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const Op& op : ops_)
            f(op);
    }

private:
    Op& add(bool is_send, std::vector<uint8_t> data, uint32_t pieces)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        Op& op = ops_.emplace_back();
        op.log = this;
        op.is_send = is_send;
        op.data = std::move(data);
        const size_t size = op.data.size();
        for (uint32_t i = 0; i < pieces; ++i)
        {
            const size_t begin = size * i / pieces;
            const size_t end = size * (i + 1) / pieces;
            op.buffers.push_back(ASYNC_SOCKET_BUFFER{op.data.data() + begin, static_cast<uint32_t>(end - begin)});
        }
        return op;
    }

    void record(Op& op, int result, uint32_t bytes)
    {
        if (closed_.load())
            late_.fetch_add(1);
        // The callback may come before start() has seen the call return: accepted is
        // checked at the end (expect_exactly_once).
        if (op.calls.fetch_add(1) != 0)
            extra_.fetch_add(1);
        op.result = result;
        op.bytes = bytes;
        if (op.then)
            op.then(op);
        completed_.add();
    }

    static void on_send(void* context, ASYNC_SOCKET_SEND_RESULT result)
    {
        auto& op = *static_cast<Op*>(context);
        op.log->record(op, result, 0);
    }
    static void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t bytes)
    {
        auto& op = *static_cast<Op*>(context);
        op.log->record(op, result, bytes);
    }

    mutable std::mutex mutex_;
    std::deque<Op> ops_;
    std::atomic<uint64_t> accepted_{0};
    Counter completed_;
    std::atomic<int> extra_{0};
    std::atomic<int> late_{0};
    std::atomic<bool> closed_{false};
};

// Aborts the process when a run takes longer than its limit (a hang), naming the run.
class Watchdog
{
public:
    Watchdog()
        : thread_([this] {
              std::unique_lock<std::mutex> lock(mutex_);
              while (!stop_)
              {
                  if (armed_ && std::chrono::steady_clock::now() > deadline_)
                  {
                      std::fprintf(stderr, "fault walk: HANG in %s\n", what_.c_str());
                      std::fflush(stderr);
                      std::abort();
                  }
                  cv_.wait_for(lock, std::chrono::milliseconds(100));
              }
          })
    {
    }
    ~Watchdog()
    {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    void start(std::string what, std::chrono::seconds limit)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        what_ = std::move(what);
        deadline_ = std::chrono::steady_clock::now() + limit;
        armed_ = true;
    }
    void stop()
    {
        std::lock_guard<std::mutex> lock(mutex_);
        armed_ = false;
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool stop_ = false;
    bool armed_ = false;
    std::chrono::steady_clock::time_point deadline_;
    std::string what_;
    std::thread thread_;
};

// A point walked with an error other than its default (fault_points.h): the other way the caller
// handles the call's failure.
struct ErrorVariant
{
    unsigned point;
    int error;
};

struct WalkTotals
{
    unsigned points_reached = 0;  // points the scenario reaches (counting run)
    uint64_t reached = 0;         // the same, as a mask of points
    uint64_t runs = 0;            // injection runs
    uint64_t fired = 0;           // runs in which the failure was injected
};

// always_failing: points at which every call fails throughout (asock_fault_fail_always), to walk
// the paths that only a lasting failure reaches.
WalkTotals walk_scenario(const char* scenario, Backend backend, bool default_backend, const std::function<void(WalkRun&)>& run_scenario, uint64_t always_failing = 0);

}  // namespace asock_test
