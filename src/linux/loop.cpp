// The event loop shared by every backend: hand-over between threads, per-handle operation
// queues, exactly-once completion, deadlines and the loop's side of the close protocol. See
// detail/loop.h for the shape of an iteration and detail/handle.h for the handle core.
#include "detail/loop.h"

#include <pthread.h>

#include <cerrno>
#include <chrono>
#include <cstdio>

#include "detail/engine.h"
#include "detail/fault.h"
#include "detail/listener.h"
#include "detail/socket.h"
#include "detail/sys.h"
#include "detail/timer.h"
#include "detail/wait_graph.h"

namespace asock::detail {
namespace {

// Moves every node of from to the end of to.
void splice(DirtyNode& from, DirtyNode& to) noexcept
{
    if (from.next == &from)
        return;
    DirtyNode* first = from.next;
    DirtyNode* last = from.prev;
    first->prev = to.prev;
    to.prev->next = first;
    last->next = &to;
    to.prev = last;
    from.prev = from.next = &from;
}

uint64_t now_ns() noexcept { return monotonic_now_ns(); }

}  // namespace

// --- CloseWaiter ---------------------------------------------------------------------------

void CloseWaiter::signal() noexcept
{
    if (loop != nullptr)
    {
        // The waiter may return as soon as it sees done: only the (long-lived) loop is touched
        // after the store.
        Loop* waiting_loop = loop;
        done.store(true, std::memory_order_release);
        waiting_loop->notify_waiter();
        return;
    }
    // Notify under the mutex: the waiter cannot return (and free this object) before we let go.
    std::lock_guard<std::mutex> lock(mutex);
    done.store(true, std::memory_order_release);
    cv.notify_one();
}

void CloseWaiter::wait() noexcept
{
    if (loop != nullptr)
    {
        loop->serve_closes_until(done);
        return;
    }
    std::unique_lock<std::mutex> lock(mutex);
    cv.wait(lock, [this] { return done.load(std::memory_order_acquire); });
}

// --- HandleScope ---------------------------------------------------------------------------

// The close left these for when no callback of the handle is on the stack any more.
void Loop::HandleScope::abandon_deferred() noexcept
{
    HandleScope again(loop_, handle_);
    loop_.abandon_queued(handle_);
}

// --- Life cycle ----------------------------------------------------------------------------

Loop::Loop(Engine& engine, unsigned index) noexcept : engine_(&engine), index_(index) {}

Loop::~Loop() = default;

bool Loop::init(ASOCK_LINUX_BACKEND backend) noexcept
{
    backend_ = backend == ASOCK_LINUX_BACKEND_IO_URING ? make_io_uring_backend() : make_epoll_backend();
    return backend_ != nullptr;
}

bool Loop::start() noexcept
{
    if (inject_fault(FaultPoint::thread_start))
        return false;
    try
    {
        thread_ = std::thread([this] {
            char name[16];
            std::snprintf(name, sizeof(name), "asock-loop-%u", index_);
            pthread_setname_np(pthread_self(), name);
            const bool ready = backend_->thread_started();
            start_state_.store(ready ? StartState::running : StartState::failed, std::memory_order_release);
            start_state_.notify_all();
            if (!ready)
                return;
            run();
            // Deleting the engine deletes this loop too: read what is needed first and touch
            // nothing of this object afterwards.
            Engine* engine_to_delete = delete_engine_on_exit_ ? engine_ : nullptr;
            delete engine_to_delete;
        });
    }
    catch (...)
    {
        return false;
    }
    // The engine is usable only once every loop's backend is ready on its thread.
    start_state_.wait(StartState::starting, std::memory_order_acquire);
    if (start_state_.load(std::memory_order_acquire) == StartState::running)
        return true;
    thread_.join();
    return false;
}

void Loop::request_stop() noexcept
{
    stop_requested_.store(true, std::memory_order_release);
    backend_->wake();
}

void Loop::join() noexcept
{
    if (thread_.joinable())
        thread_.join();
}

void Loop::delete_engine_on_exit() noexcept
{
    delete_engine_on_exit_ = true;
    thread_.detach();
}

void Loop::run() noexcept
{
    current_ = this;
    while (!stop_requested_.load(std::memory_order_acquire))
    {
        process_inbox();
        run_timers();
        flush_dirty();
        const uint32_t spin_us = engine_->busy_poll_us();
        if (spin_us != 0 && local_.empty() && dirty_.next == &dirty_ && spin_for_work(spin_us))
            continue;
        const int64_t timeout = prepare_to_block() ? time_to_next_deadline() : 0;
        poll_and_dispatch(timeout);
        needs_wake_.store(false, std::memory_order_relaxed);
    }
    collect_orphans();
    current_ = nullptr;
}

// Announces that the loop is about to sleep, then checks for work once more: a thread that
// posts after the announcement sees it and wakes the loop (post's exchange pairs with this).
bool Loop::prepare_to_block() noexcept
{
    if (!local_.empty() || !revisit_.empty() || dirty_.next != &dirty_)
        return false;
    needs_wake_.store(true, std::memory_order_seq_cst);
    if (inbox_.load(std::memory_order_seq_cst) != nullptr || stop_requested_.load(std::memory_order_seq_cst))
    {
        needs_wake_.store(false, std::memory_order_relaxed);
        return false;
    }
    return true;
}

// The low-latency mode: polls without sleeping for up to spin_us, so that a completion or a
// post arriving soon is seen without the cost of a sleep and a wake-up. Returns true as soon
// as there is work (the iteration then goes round again), false when the time is up.
bool Loop::spin_for_work(uint32_t spin_us) noexcept
{
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(spin_us);
    for (;;)
    {
        // Reading the clock costs more than one empty poll of io_uring's completion queue.
        for (int i = 0; i < 16; ++i)
        {
            if (poll_and_dispatch(0) != 0 || inbox_.load(std::memory_order_relaxed) != nullptr || stop_requested_.load(std::memory_order_relaxed))
                return true;
        }
        if (std::chrono::steady_clock::now() >= deadline)
            return false;
        if (!deadlines_.empty() && deadlines_.top()->deadline_ns <= now_ns())
            return true;  // the next iteration runs the timers
    }
}

size_t Loop::poll_and_dispatch(int64_t timeout_ns) noexcept
{
    const size_t count = backend_->poll(timeout_ns, reports_, kMaxReports);
    for (size_t i = 0; i < count; ++i)
    {
        const Report report = reports_[i];
        reports_[i].op = nullptr;  // taken (see Backend::poll)
        dispatch(report);
    }
    return count;
}

// At the end: the operations that closes left with the backend come back (their cancellation
// was synchronous, so their reports are there to be taken), and their memory with them.
void Loop::collect_orphans() noexcept
{
    for (int round = 0; orphans_ != 0 && round < 1000; ++round)
        if (poll_and_dispatch(0) == 0)
            break;
}

// --- Hand-over -----------------------------------------------------------------------------

void Loop::post(Item* item) noexcept
{
    Item* head = inbox_.load(std::memory_order_relaxed);
    do
    {
        item->next = head;
    } while (!inbox_.compare_exchange_weak(head, item, std::memory_order_seq_cst, std::memory_order_relaxed));
    if (serving_.load(std::memory_order_seq_cst) != 0)
        notify_waiter();
    if (needs_wake_.load(std::memory_order_seq_cst) && needs_wake_.exchange(false, std::memory_order_seq_cst))
        backend_->wake();
}

void Loop::notify_waiter() noexcept
{
    mail_seq_.fetch_add(1, std::memory_order_seq_cst);
    mail_seq_.notify_all();
}

// Only closes are served here: operations, open notices and everything else wait for the top
// of the loop, so that no callback runs inside the waiting one except the abandoned
// completions of handles that have no callback on this stack.
void Loop::serve_closes_until(const std::atomic<bool>& done) noexcept
{
    serving_.fetch_add(1, std::memory_order_seq_cst);
    for (;;)
    {
        const uint32_t seq = mail_seq_.load(std::memory_order_seq_cst);
        serve_close_waiters();
        if (done.load(std::memory_order_acquire))
            break;
        mail_seq_.wait(seq, std::memory_order_seq_cst);
    }
    serving_.fetch_sub(1, std::memory_order_relaxed);
}

void Loop::serve_close_waiters() noexcept
{
    drain_inbox();
    ItemQueue closes;
    local_.extract_if([](Item* item) { return item->kind == ItemKind::close_waiter; }, closes);
    while (Item* item = closes.pop_front())
        process_close_waiter(static_cast<CloseWaiter&>(*item));
}

// The inbox is a stack (pushes are one CAS); reversing it restores the order of posting.
void Loop::drain_inbox() noexcept
{
    if (inbox_.load(std::memory_order_relaxed) == nullptr)
        return;
    Item* chain = inbox_.exchange(nullptr, std::memory_order_acquire);
    Item* last = chain;
    Item* fifo = nullptr;
    while (chain != nullptr)
    {
        Item* next = chain->next;
        chain->next = fifo;
        fifo = chain;
        chain = next;
    }
    local_.append_chain(fifo, last);
}

// Items are popped one at a time: a close from a callback takes its handle's items from the
// rest (take_from_inbox).
void Loop::process_inbox() noexcept
{
    while (Item* item = revisit_.pop_front())
        process_close_waiter(static_cast<CloseWaiter&>(*item));
    drain_inbox();
    while (Item* item = local_.pop_front())
        process_item(item);
}

void Loop::process_item(Item* item) noexcept
{
    switch (item->kind)
    {
    case ItemKind::open_notice:
        deliver_open(item);
        return;
    case ItemKind::close_waiter:
        process_close_waiter(static_cast<CloseWaiter&>(*item));
        return;
    case ItemKind::receive:
    case ItemKind::send:
    case ItemKind::accept:
    case ItemKind::connect:
        queue(as_op(item));
        return;
    case ItemKind::timer:
        start_timer(*as_op(item));
        return;
    case ItemKind::cancel_reads:
        cancel_reads(*as_op(item));
        return;
    case ItemKind::cancel_connect:
        cancel_connect(*as_op(item));
        return;
    }
}

// A timer's start replaces the one armed (which completes CANCELLED). Armed first: a callback
// of the one replaced may start, cancel or destroy the timer again.
void Loop::start_timer(Op& op) noexcept
{
    Handle& timer = *op.handle;
    if (op.has(Op::kCancelled))
    {
        // Set aside by start_timer_here or set_aside_armed: its cancel was carried out already.
        HandleScope scope(*this, timer);
        complete_timer(op, ASYNC_TIMER_CANCELLED);
        return;
    }
    Op* const replaced = timer.in_flight[kReads];
    timer.in_flight[kReads] = &op;
    arm_deadline(op);
    if (replaced == nullptr)
        return;
    deadlines_.disarm(replaced->timer);
    HandleScope scope(*this, timer);
    complete_timer(*replaced, ASYNC_TIMER_CANCELLED);
}

// async_socket_cancel_receives, async_socket_listener_cancel_accepts, async_timer_cancel: the
// reads pending now end early. They are marked first (reads a callback starts later are not);
// the one a backend holds is told to end (it may still complete with what it got); the others
// complete CANCELLED here, in order, each taken from its queue as it completes. A callback that
// closes the handle ends the walk: its close completes the rest (ABANDONED) before it returns.
void Loop::cancel_reads(Op& request) noexcept
{
    Handle& handle = *request.handle;
    op_free(&request);
    if (handle.detached)
        return;
    HandleScope scope(*this, handle);
    for (Item* item = handle.queues[kReads].front(); item != nullptr; item = item->next)
        as_op(item)->set(Op::kCancelled);
    if (Op* in_flight = handle.in_flight[kReads])
        end_early(*in_flight, Op::kCancelled);
    while (!handle.detached)
    {
        Op* next = first_cancelled_waiting(handle);
        if (next == nullptr)
            break;
        if (TimerNode* node = deadline_of(*next))
            deadlines_.disarm(*node);
        complete(*next, -ECANCELED);
    }
    if (!handle.detached)
        mark_dirty(handle);
}

// The first read marked cancelled that no backend holds (nullptr: none left).
Op* Loop::first_cancelled_waiting(Handle& handle) noexcept
{
    for (Item* item = handle.queues[kReads].front(); item != nullptr; item = item->next)
    {
        Op* op = as_op(item);
        if (op != handle.in_flight[kReads] && op->has(Op::kCancelled))
            return op;
    }
    return nullptr;
}

// The cancellation of a connect was cancelled: end the connect if it is still pending. The
// request holds a reference on the socket (taken when it was posted).
void Loop::cancel_connect(Op& request) noexcept
{
    Handle& socket = *request.handle;
    op_free(&request);
    {
        HandleScope scope(*this, socket);
        Item* first = socket.queues[kWrites].front();
        if (!socket.detached && first != nullptr && first->kind == ItemKind::connect && !as_op(first)->has(Op::kCancelled | Op::kTimedOut))
            end_early(*as_op(first), Op::kCancelled);
    }
    handle_release(socket);
}

namespace {
// CancelLink::on_cancel of a connect's request: any thread, under the cancellation's mutex.
void post_cancel_request(CancelLink& link) noexcept
{
    auto* request = static_cast<Op*>(link.owner);
    request->cancel.posted = true;
    handle_add_ref(*request->handle);
    request->handle->loop->post(request);
}
}  // namespace

// On the loop's thread, once the connect is queued: a cancel from now on finds it here (its
// request is posted after the connect was queued). A cancellation cancelled already ends the
// connect when it would start (Loop::start_next).
void Loop::register_cancellation(Op& connect) noexcept
{
    CancelRequest& request = connect.connect.cancel_request->cancel;
    request.link.on_cancel = post_cancel_request;
    request.link.owner = connect.connect.cancel_request;
    request.registered = cancellation_register(*request.cancellation, request.link);
    if (!request.registered)
        connect.set(Op::kCancelled);
}

void Loop::deliver_open(Item* notice) noexcept
{
    Socket& socket = socket_of_open_notice(notice);
    HandleScope scope(*this, socket);
    socket.on_open_complete(socket.on_open_complete_context, ASYNC_SOCKET_OPEN_OK);
}

// --- Queues --------------------------------------------------------------------------------

void Loop::arm_deadline(Op& op) noexcept
{
    TimerNode* node = deadline_of(op);
    if (node != nullptr && node->deadline_ns != 0)
        deadlines_.arm(*node, node->deadline_ns, &op);
}



void Loop::unlink_dirty(Handle& handle) noexcept
{
    DirtyNode& node = handle;
    if (!node.linked())
        return;
    node.prev->next = node.next;
    node.next->prev = node.prev;
    node.prev = node.next = &node;
}

// Handles marked dirty by the callbacks that run here wait for the next iteration, after the
// loop has polled once: no handle can keep the loop from the others.
void Loop::flush_dirty() noexcept
{
    splice(dirty_, flushing_);
    while (flushing_.next != &flushing_)
    {
        Handle& handle = static_cast<Handle&>(*flushing_.next);
        unlink_dirty(handle);
        HandleScope scope(*this, handle);
        flush(handle);
    }
}

// Starts the first operation of each queue that has none in a backend. A backend may finish
// one at once, whose callback may queue more or close the handle. A handle flushed here (from
// a completion) needs no flush in the next iteration unless something waits again.
void Loop::flush(Handle& handle) noexcept
{
    start_queue(handle, kReads);
    start_queue(handle, kWrites);
    // A send's callback often starts the next receive (the echo pattern): start it now too.
    if (handle.in_flight[kReads] == nullptr && !handle.queues[kReads].empty())
        start_queue(handle, kReads);
    if (!handle.linked())
        return;
    for (Direction direction : {kReads, kWrites})
        if (handle.in_flight[direction] == nullptr && !handle.queues[direction].empty() && !handle.detached)
            return;  // not started (busy, a retry): it stays dirty
    unlink_dirty(handle);
}

// Returns false when the queue must wait (in a backend, or for the next iteration).
bool Loop::start_next(Handle& handle, Direction direction) noexcept
{
    Op& op = *as_op(handle.queues[direction].front());
    if (direction == kWrites && handle.write_failure != 0)
    {
        // The stream has a gap: later sends fail as the first did.
        handle.queues[kWrites].pop_front();
        complete_failed_send(op, handle.write_failure);
        return true;
    }
    if (op.has(Op::kCancelled | Op::kTimedOut))
    {
        // Ended before a backend took it (its cancellation was cancelled before it was queued).
        complete(op, -ECANCELED);
        return true;
    }
    long result = 0;
    switch (backend_->start(op, result))
    {
    case Start::pending:
        handle.in_flight[direction] = &op;
        return false;
    case Start::busy:
        mark_dirty(handle);
        return false;
    case Start::done:
        if (complete(op, result))
            return true;
        mark_dirty(handle);  // not finished (a retry): again in the next iteration
        return false;
    }
    return false;
}

// --- Completions ---------------------------------------------------------------------------

void Loop::dispatch(const Report& report) noexcept
{
    Op& op = *report.op;
    if (op.has(Op::kOrphaned))
    {
        release_orphan(op, report.result);
        return;
    }
    Handle& handle = *op.handle;
    HandleScope scope(*this, handle);
    handle.in_flight[direction_of(op.kind)] = nullptr;
    complete(op, report.result);
    // The next operations (or this one again, when it is not finished) start at once: the
    // echo pattern (a receive's callback sends) costs no extra iteration.
    if (!handle.detached)
        flush(handle);
}

// Completes an operation the backend finished (the handle's scope is on the stack). Returns
// false when it is not finished and stays first in its queue.
bool Loop::complete(Op& op, long result) noexcept
{
    switch (op.kind)
    {
    case ItemKind::receive:
        return complete_receive(*this, op, result);
    case ItemKind::send:
        return complete_send(*this, op, result);
    case ItemKind::accept:
        return complete_accept(*this, op, result);
    case ItemKind::connect:
        deadlines_.disarm(op.connect.deadline);
        return complete_connect(*this, op, result);
    case ItemKind::timer:
    case ItemKind::cancel_reads:
    case ItemKind::cancel_connect:
    case ItemKind::open_notice:
    case ItemKind::close_waiter:
        break;
    }
    return true;
}

// The report of an operation a close already completed: only memory (and what an accept
// brought) to give back.
void Loop::release_orphan(Op& op, long result) noexcept
{
    if (op.kind == ItemKind::accept && result >= 0)
        sys::close(static_cast<int>(result));
    op_free(&op);
    --orphans_;
}

// --- Deadlines -----------------------------------------------------------------------------

void Loop::run_timers() noexcept
{
    if (deadlines_.empty())
        return;
    const uint64_t now = now_ns();
    while (!deadlines_.empty() && deadlines_.top()->deadline_ns <= now)
    {
        TimerNode& node = *deadlines_.top();
        deadlines_.disarm(node);
        deadline_passed(*static_cast<Op*>(node.owner));
    }
}

// A timer fires; a connect or a timed receive is ended (it then completes with ETIMEDOUT, or
// TIMEOUT).
void Loop::deadline_passed(Op& op) noexcept
{
    Handle& handle = *op.handle;
    HandleScope scope(*this, handle);
    if (op.kind != ItemKind::timer)
    {
        end_early(op, Op::kTimedOut);
        return;
    }
    handle.in_flight[kReads] = nullptr;
    complete_timer(op, ASYNC_TIMER_FIRED);
}

// Ends a pending operation before it finished (the handle's scope is on the stack): a backend
// that holds it is told to end it (it then reports -ECANCELED, or what it got first); one not
// started ends here.
void Loop::end_early(Op& op, uint8_t why) noexcept
{
    op.set(why);
    Handle& handle = *op.handle;
    const Direction direction = direction_of(op.kind);
    long result = -ECANCELED;
    if (op.kind == ItemKind::timer)
    {
        handle.in_flight[kReads] = nullptr;
        deadlines_.disarm(op.timer);
        complete_timer(op, ASYNC_TIMER_CANCELLED);
        return;
    }
    if (TimerNode* node = deadline_of(op))
        deadlines_.disarm(*node);  // one end is enough
    if (handle.in_flight[direction] == &op)
    {
        if (backend_->cancel(op, result) != Start::done)
            return;  // reported later
        handle.in_flight[direction] = nullptr;
    }
    complete(op, result);
    // The queue's next operation (it waited behind this one) starts in the next flush.
    if (!handle.detached)
        mark_dirty(handle);
}

// The time until the earliest deadline, for the backend's wait: -1 when there is none.
int64_t Loop::time_to_next_deadline() const noexcept
{
    if (deadlines_.empty())
        return -1;
    const uint64_t now = now_ns();
    const uint64_t deadline = deadlines_.top()->deadline_ns;
    return deadline <= now ? 0 : static_cast<int64_t>(deadline - now);
}

// --- Close ---------------------------------------------------------------------------------

// A close on the loop's own thread. The operations and open notice handed over before the close
// may still wait in the inbox: they belong to this close (it must complete them).
void Loop::close_here(Handle& handle) noexcept
{
    const bool own_callback = innermost_ != nullptr && &innermost_->handle() == &handle;
    HandleScope scope(*this, handle);
    if (!handle.detached)
    {
        take_from_inbox(handle);
        if (!handle.detached)  // the open callback may have closed the handle itself
            perform_close(handle);
    }
    // A callback closing its own handle gets the other completions inside the call (the close
    // must have completed them when it returns). A handle whose callback is further up the
    // stack (it closed another handle, whose callback closes this one: a cycle) gets them when
    // that callback has returned, so that they never run inside it.
    if (own_callback || handle.stack_refs == 1)
        abandon_queued(handle);
    else
        handle.abandon_deferred = true;
}

void Loop::take_from_inbox(Handle& handle) noexcept
{
    drain_inbox();
    ItemQueue mine;
    local_.extract_if([&handle](Item* item) { return (is_op(item->kind) && as_op(item)->handle == &handle) || (item->kind == ItemKind::open_notice && &socket_of_open_notice(item) == &handle); },
                      mine);
    while (Item* item = mine.pop_front())
    {
        switch (item->kind)
        {
        case ItemKind::open_notice:
            deliver_open(item);
            break;
        case ItemKind::timer:  // abandoned by the close, never armed
            handle.queues[kReads].push_back(item);
            break;
        case ItemKind::cancel_reads:  // the close ends everything anyway
            op_free(as_op(item));
            break;
        case ItemKind::cancel_connect:
            handle_release(handle);  // the request's reference; the caller's scope holds another
            op_free(as_op(item));
            break;
        default:
            queue(as_op(item));
            break;
        }
    }
}

void Loop::perform_close(Handle& handle) noexcept
{
    handle.detached = true;
    unlink_dirty(handle);
    if (handle.fd < 0)
        return_timer_start(handle);
    else
    {
        orphan_in_flight(handle, backend_->detach(handle));
        sys::close(handle.fd);
    }
    handle.fd = -1;
    std::lock_guard<SmallMutex> lock(handle.mutex);
    handle.state = HandleState::closed;
}

// A timer has no backend: its armed start goes back to its queue, for abandon_queued.
void Loop::return_timer_start(Handle& timer) noexcept
{
    Op* armed = timer.in_flight[kReads];
    timer.in_flight[kReads] = nullptr;
    if (armed == nullptr)
        return;
    deadlines_.disarm(armed->timer);
    timer.queues[kReads].push_back(armed);
}

// The operations a backend will still report are orphaned: the close completes them now, their
// report frees them. The backend gave the others back.
void Loop::orphan_in_flight(Handle& handle, unsigned still_reported) noexcept
{
    for (Direction direction : {kReads, kWrites})
    {
        Op* op = handle.in_flight[direction];
        handle.in_flight[direction] = nullptr;
        if (op == nullptr || (still_reported & (1u << direction)) == 0)
            continue;
        op->set(Op::kOrphaned);
        ++orphans_;
    }
}

void Loop::abandon_queued(Handle& handle) noexcept
{
    handle.abandon_deferred = false;
    for (Direction direction : {kReads, kWrites})
    {
        while (Item* item = handle.queues[direction].pop_front())
        {
            Op& op = *as_op(item);
            if (TimerNode* node = deadline_of(op))
                deadlines_.disarm(*node);
            complete_abandoned(op);
        }
    }
}

// The close a thread that does not run this loop asked for. Where no callback of the handle is
// on this loop's stack (always at the top of the loop; while serving, a handle other than the
// waiting ones) it is carried out in full and the waiter released. Otherwise this loop waits,
// inside a callback of the handle, in a close of another loop's handle: the descriptor is
// closed now, the operations are completed when that callback has returned, and the waiter is
// released now if it is part of the cycle (this loop waits, through other closes, for it),
// else once the operations are completed.
void Loop::process_close_waiter(CloseWaiter& waiter) noexcept
{
    Handle& handle = *waiter.handle;
    const bool on_stack = handle.stack_refs != 0;
    {
        HandleScope scope(*this, handle);
        if (!handle.detached)
        {
            take_from_inbox(handle);
            if (!handle.detached)
                perform_close(handle);
        }
        if (on_stack)
            handle.abandon_deferred = true;
        else
            abandon_queued(handle);
    }
    if (!on_stack || (waiter.loop != nullptr && WaitEdge::reaches(this, waiter.loop)))
        release_waiter(waiter);
    else
        revisit_.push_back(&waiter);
}

// The waiter's reference goes before the waiter is released: the waiting thread still holds
// the owner's, so this is not the last one, and a destroy that waited then frees the handle
// (and drops its engine reference) on its own thread.
void Loop::release_waiter(CloseWaiter& waiter) noexcept
{
    handle_release(*waiter.handle);
    waiter.signal();
}

}  // namespace asock::detail
