// One event loop: a thread, its backend (an io_uring ring or an epoll set), the handles assigned
// to it and their deadlines.
//
// Ownership rule: a handle's queues and I/O state are touched only by its loop's thread. Other
// threads hand work over through the inbox (a lock-free stack of items) and wake the loop; the
// loop's own thread (that is, a callback) queues directly. One iteration of run():
//
//   process_inbox   items from other threads: operations join their handle's queue, open
//                   notices and close requests run (here, at the top of the loop, no callback
//                   of any handle is on the stack)
//   run_timers      operations whose deadline passed are ended
//   flush_dirty     the backend starts the first operation of each queue that got new ones
//   poll            wait for the backend (unless there is work already, at most until the next
//                   deadline) and complete what it reports
//
// Callbacks run inside these phases, never inside the API call that started the operation.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "detail/backend.h"
#include "detail/handle.h"
#include "detail/op.h"
#include "detail/timer_heap.h"

namespace asock::detail {

class Engine;

// A close asked for by a thread that does not run the handle's loop: posted to the loop, it
// lives on the waiting thread's stack. It holds a reference to the handle until the loop
// releases it; once signalled, the loop touches neither it nor (through it) the handle.
struct CloseWaiter : Item
{
    CloseWaiter(Handle& h, Loop* waiting_loop) noexcept : handle(&h), loop(waiting_loop) { kind = ItemKind::close_waiter; }

    void signal() noexcept;
    void wait() noexcept;

    Handle* const handle;
    // The waiting thread's own loop, if it runs one: it keeps closing its own handles for
    // others while it waits (Loop::serve_closes_until).
    Loop* const loop;
    std::atomic<bool> done{false};
    std::mutex mutex;
    std::condition_variable cv;
};

class Loop
{
public:
    Loop(Engine& engine, unsigned index) noexcept;
    ~Loop();
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;

    // Creates the backend. False when it cannot run here.
    bool init(ASOCK_LINUX_BACKEND backend) noexcept;
    // Starts the thread. False when it cannot be created.
    bool start() noexcept;
    void request_stop() noexcept;
    void join() noexcept;
    // For a loop whose own thread drops the engine's last reference: the thread deletes the
    // engine when its run() returns.
    void delete_engine_on_exit() noexcept;

    Engine& engine() noexcept { return *engine_; }
    Backend& backend() noexcept { return *backend_; }
    bool on_loop_thread() const noexcept { return current() == this; }
    static Loop* current() noexcept { return current_; }

    // --- Any thread ---------------------------------------------------------------------
    // Hands an item to the loop and wakes it if it sleeps.
    void post(Item* item) noexcept;
    // True on the loop's thread when nothing handed over earlier is still waiting, so that an
    // operation may join its queue directly without overtaking older ones.
    bool can_queue_directly() const noexcept
    {
        return on_loop_thread() && local_.empty() && inbox_.load(std::memory_order_relaxed) == nullptr;
    }

    // --- Loop thread --------------------------------------------------------------------
    // An operation joins its handle's queue (and its deadline, if it has one, is armed; a
    // connect's cancellation learns of it).
    void queue(Op* op) noexcept
    {
        Handle& handle = *op->handle;
        handle.queues[direction_of(op->kind)].push_back(op);
        if (op->kind != ItemKind::send)
            arm_deadline(*op);
        if (op->kind == ItemKind::connect && op->connect.cancel_request != nullptr)
            register_cancellation(*op);
        mark_dirty(handle);
    }
    void disarm(TimerNode& node) noexcept { deadlines_.disarm(node); }
    // A timer's start or cancel made on the loop's thread when nothing older waits: carried out
    // at once (arm, disarm), and the start it ends is set aside (local_) to complete CANCELLED
    // at the top of the loop, never inside the call. Nothing allocates, nothing is posted.
    void start_timer_here(Op& op) noexcept
    {
        Handle& timer = *op.handle;
        set_aside_armed(timer);
        timer.in_flight[kReads] = &op;
        arm_deadline(op);
    }
    void set_aside_armed(Handle& timer) noexcept
    {
        Op* armed = timer.in_flight[kReads];
        if (armed == nullptr)
            return;
        timer.in_flight[kReads] = nullptr;
        deadlines_.disarm(armed->timer);
        armed->set(Op::kCancelled);
        local_.push_back(armed);
    }
    // The handle has operations to start: the next flush starts them.
    void mark_dirty(Handle& handle) noexcept
    {
        if (!handle.linked() && !handle.detached)
            link_dirty(handle);
    }
    // A close on the loop's own thread (a callback): runs now.
    void close_here(Handle& handle) noexcept;
    // Detaches the handle from the backend and closes its descriptor; the operations still
    // queued are left to abandon_queued. Inside a HandleScope of the handle.
    void perform_close(Handle& handle) noexcept;
    // Completes every operation queued on a closed handle with ABANDONED, one at a time (a
    // callback may close the handle again: that close completes the rest).
    void abandon_queued(Handle& handle) noexcept;

    // While this loop's thread waits in a close of another loop's handle (inside a callback):
    // carries out the closes that other threads ask of this loop, until done.
    void serve_closes_until(const std::atomic<bool>& done) noexcept;
    void notify_waiter() noexcept;

    // Marks a frame of the loop's stack that works on a handle (dispatches its operations or
    // runs its callbacks): it holds a reference, and the innermost one tells whose callback
    // runs. Leaving the last one of a closed handle completes the operations its close left.
    class HandleScope
    {
    public:
        HandleScope(Loop& loop, Handle& handle) noexcept : loop_(loop), handle_(handle), outer_(loop.innermost_)
        {
            handle_add_ref(handle);
            ++handle.stack_refs;
            loop.innermost_ = this;
        }
        ~HandleScope()
        {
            loop_.innermost_ = outer_;
            if (--handle_.stack_refs == 0 && handle_.abandon_deferred)
                abandon_deferred();
            handle_release(handle_);  // may free the handle: nothing touches it afterwards
        }
        HandleScope(const HandleScope&) = delete;
        HandleScope& operator=(const HandleScope&) = delete;

        Handle& handle() const noexcept { return handle_; }

    private:
        void abandon_deferred() noexcept;

        Loop& loop_;
        Handle& handle_;
        HandleScope* outer_;
    };

    void run() noexcept;

private:
    void drain_inbox() noexcept;
    void process_inbox() noexcept;
    void process_item(Item* item) noexcept;
    void start_timer(Op& op) noexcept;
    void cancel_reads(Op& request) noexcept;
    static Op* first_cancelled_waiting(Handle& handle) noexcept;
    void cancel_connect(Op& request) noexcept;
    void end_early(Op& op, uint8_t why) noexcept;
    void deliver_open(Item* notice) noexcept;
    void process_close_waiter(CloseWaiter& waiter) noexcept;
    void release_waiter(CloseWaiter& waiter) noexcept;
    void serve_close_waiters() noexcept;
    void take_from_inbox(Handle& handle) noexcept;
    void flush_dirty() noexcept;
    void flush(Handle& handle) noexcept;
    bool start_next(Handle& handle, Direction direction) noexcept;
    void dispatch(const Report& report) noexcept;
    bool complete(Op& op, long result) noexcept;
    void release_orphan(Op& op, long result) noexcept;
    void orphan_in_flight(Handle& handle, unsigned still_reported) noexcept;
    void return_timer_start(Handle& timer) noexcept;
    void run_timers() noexcept;
    void deadline_passed(Op& op) noexcept;
    void register_cancellation(Op& connect) noexcept;
    int64_t time_to_next_deadline() const noexcept;
    bool prepare_to_block() noexcept;
    bool spin_for_work(uint32_t spin_us) noexcept;
    size_t poll_and_dispatch(int64_t timeout_ns) noexcept;
    void collect_orphans() noexcept;
    static void unlink_dirty(Handle& handle) noexcept;
    void link_dirty(Handle& node) noexcept
    {
        node.prev = dirty_.prev;
        node.next = &dirty_;
        dirty_.prev->next = &node;
        dirty_.prev = &node;
    }
    void arm_deadline(Op& op) noexcept;
    // Operations of one queue that a backend may finish at once in a row, before the handle
    // waits for the next iteration: no handle keeps the loop from the others.
    static constexpr int kFinishedInARow = 16;
    void start_queue(Handle& handle, Direction direction) noexcept
    {
        for (int budget = kFinishedInARow; !handle.queues[direction].empty() && handle.in_flight[direction] == nullptr && !handle.detached; --budget)
        {
            if (budget == 0)
            {
                mark_dirty(handle);
                return;
            }
            if (!start_next(handle, direction))
                return;
        }
    }

    static inline thread_local Loop* current_ = nullptr;  // the loop this thread runs, if any

    Engine* const engine_;
    const unsigned index_;
    std::unique_ptr<Backend> backend_;
    std::thread thread_;
    bool delete_engine_on_exit_ = false;

    // Set by the loop's thread once its backend is ready on it (or could not be made so).
    enum class StartState : uint8_t
    {
        starting,
        running,
        failed,
    };
    std::atomic<StartState> start_state_{StartState::starting};

    // Shared with other threads.
    std::atomic<Item*> inbox_{nullptr};
    std::atomic<bool> needs_wake_{false};
    std::atomic<bool> stop_requested_{false};
    std::atomic<uint32_t> serving_{0};   // nested serve_closes_until frames
    std::atomic<uint32_t> mail_seq_{0};  // bumped by every post while serving, and by releases

    // Loop thread only.
    ItemQueue local_;          // drained from the inbox, not yet processed
    ItemQueue revisit_;        // closes served while the handle was on the stack: finished at the top
    DirtyNode dirty_;          // sentinel: handles with operations to start
    DirtyNode flushing_;       // sentinel: the dirty handles being flushed now
    HandleScope* innermost_ = nullptr;
    TimerHeap deadlines_;
    uint32_t orphans_ = 0;     // operations a backend still holds for closed handles
    static constexpr size_t kMaxReports = 512;
    Report reports_[kMaxReports];
};

using HandleScope = Loop::HandleScope;

// Hands an operation to its handle's loop if the handle is open; false (nothing done) if not.
// Holding the handle's mutex across the check and the hand-over is what lets a close wait for
// calls in progress (see detail/handle.h).
inline bool handle_submit(Handle& handle, Op* op) noexcept
{
    std::lock_guard<SmallMutex> lock(handle.mutex);
    if (handle.state != HandleState::open)
        return false;
    Loop& loop = *handle.loop;
    if (loop.can_queue_directly())
        loop.queue(op);
    else
        loop.post(op);
    return true;
}

// Hands an item to the handle's loop through its inbox, also from the loop's own thread (what
// it ends then completes at the top of the loop, not inside the caller): timers' starts and
// the cancel requests. False (nothing done) if the handle is not open.
inline bool handle_post(Handle& handle, Op* op) noexcept
{
    std::lock_guard<SmallMutex> lock(handle.mutex);
    if (handle.state != HandleState::open)
        return false;
    handle.loop->post(op);
    return true;
}
}  // namespace asock::detail
