// The event loop shared by every backend: hand-over between threads, per-socket operation
// queues, exactly-once completion and the close protocol. See detail/loop.h for the shape
// of an iteration and the ownership rule.
#include "detail/loop.h"

#include <pthread.h>

#include <chrono>
#include <cstdio>

#include "detail/engine.h"
#include "detail/errors.h"
#include "detail/fault.h"
#include "detail/sys.h"

namespace asock::detail {
namespace {

thread_local Loop* tls_current_loop = nullptr;

void release_op(Op* op) noexcept
{
    // An orphaned operation is still referenced by the kernel; its completion entry frees it.
    if (!op->orphaned)
        op_free(op);
}

// Completes the socket's queued operations with ABANDONED, for a close. They are taken from
// the socket's queues one at a time, so that a close made by one of these callbacks finds the
// rest there.
void abandon_queued(Socket& socket) noexcept
{
    while (Item* item = socket.receives.pop_front())
    {
        Op* op = as_op(item);
        const auto callback = op->on_receive;
        void* context = op->context;
        release_op(op);
        callback(context, ASYNC_SOCKET_RECEIVE_ABANDONED, 0);
    }
    while (Item* item = socket.sends.pop_front())
    {
        Op* op = as_op(item);
        const auto callback = op->on_send;
        void* context = op->context;
        release_op(op);
        callback(context, ASYNC_SOCKET_SEND_ABANDONED);
    }
}

void link_at_tail(DirtyNode& sentinel, DirtyNode& node) noexcept
{
    node.prev = sentinel.prev;
    node.next = &sentinel;
    sentinel.prev->next = &node;
    sentinel.prev = &node;
}

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

}  // namespace

// --- CloseWaiter ---------------------------------------------------------------------------

void CloseWaiter::signal() noexcept
{
    if (loop != nullptr)
    {
        // The waiter may return as soon as it sees done: only the (long-lived) loop is
        // touched after the store.
        Loop* waiter_loop = loop;
        done.store(true, std::memory_order_release);
        waiter_loop->notify_waiter();
        return;
    }
    // Notify under the mutex: the waiter cannot return (and free this object) before we
    // release it.
    std::lock_guard<std::mutex> lock(mutex);
    done.store(true, std::memory_order_release);
    cv.notify_one();
}

void CloseWaiter::wait() noexcept
{
    if (loop != nullptr)
    {
        loop->serve_until(done);
        return;
    }
    std::unique_lock<std::mutex> lock(mutex);
    cv.wait(lock, [this] { return done.load(std::memory_order_acquire); });
}

// --- Life cycle ----------------------------------------------------------------------------

Loop::Loop(Engine& engine, unsigned index) noexcept : engine_(&engine), index_(index) {}

Loop::~Loop()
{
    // Free whatever the stop left behind (nothing, when every socket was destroyed first).
    while (Item* item = local_.pop_front())
        if (item->kind == ItemKind::send || item->kind == ItemKind::receive)
            op_free(as_op(item));
}

bool Loop::init(ASOCK_LINUX_BACKEND backend) noexcept
{
    backend_ = backend == ASOCK_LINUX_BACKEND_IO_URING ? make_io_uring_backend(*this) : make_epoll_backend(*this);
    backend_kind_ = backend;
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
            // Deleting the engine deletes this loop too: read what is needed first and
            // touch nothing of this object afterwards.
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

Loop* Loop::current() noexcept { return tls_current_loop; }

void Loop::run() noexcept
{
    tls_current_loop = this;
    while (!stop_requested_.load(std::memory_order_acquire))
    {
        process_inbox();
        flush_dirty();
        free_deferred();
        const uint32_t spin_us = engine_->busy_poll_us();
        if (spin_us != 0 && local_.empty() && dirty_.next == &dirty_ && spin_for_work(spin_us))
            continue;
        const bool block = prepare_to_block();
        backend_->poll(block);
        needs_wake_.store(false, std::memory_order_relaxed);
    }
    backend_->thread_ending();
    tls_current_loop = nullptr;
}

// Announces that the loop is about to sleep, then checks for work once more: a thread that
// posts after the announcement sees it and wakes the loop (post's exchange pairs with this).
bool Loop::prepare_to_block() noexcept
{
    if (!local_.empty() || dirty_.next != &dirty_)
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
            if (backend_->poll(false) || inbox_.load(std::memory_order_relaxed) != nullptr || stop_requested_.load(std::memory_order_relaxed))
                return true;
        }
        if (std::chrono::steady_clock::now() >= deadline)
            return false;
    }
}

// --- Hand-over -----------------------------------------------------------------------------

void Loop::post(Item* item) noexcept
{
    Item* head = inbox_.load(std::memory_order_relaxed);
    do
    {
        item->next = head;
    } while (!inbox_.compare_exchange_weak(head, item, std::memory_order_seq_cst, std::memory_order_relaxed));

    if (nested_waiters_.load(std::memory_order_seq_cst) != 0)
        notify_waiter();
    if (needs_wake_.load(std::memory_order_seq_cst) && needs_wake_.exchange(false, std::memory_order_seq_cst))
        backend_->wake();
}

bool Loop::can_queue_directly() const noexcept
{
    return on_loop_thread() && local_.empty() && inbox_.load(std::memory_order_relaxed) == nullptr;
}

void Loop::notify_waiter() noexcept
{
    mail_seq_.fetch_add(1, std::memory_order_seq_cst);
    mail_seq_.notify_all();
}

// The inbox is a stack (pushes are one CAS); reversing it restores the order of posting.
void Loop::drain_inbox() noexcept
{
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

// Items are popped one at a time so that a nested serve_until (a callback waiting for a
// close on another loop) can continue where this one stopped.
void Loop::process_inbox() noexcept
{
    drain_inbox();
    while (Item* item = local_.pop_front())
        process_item(item);
}

void Loop::process_item(Item* item) noexcept
{
    if (item->kind == ItemKind::task)
    {
        // May free the task's owner: nothing of it is touched afterwards.
        const Task& task = static_cast<const Task&>(*item);
        task.run(task.owner);
        return;
    }
    Socket& socket = socket_of(item);
    switch (item->kind)
    {
    case ItemKind::task:
        break;
    case ItemKind::send:
    case ItemKind::receive:
        queue_op(as_op(item));
        break;
    case ItemKind::open_notice:
    {
        SocketScope scope(*this, socket);
        deliver_open(socket);
        break;
    }
    case ItemKind::close_request:
        process_close_request(socket);
        break;
    case ItemKind::release:
        defer_free(socket);
        break;
    }
}

void Loop::serve_until(const std::atomic<bool>& done) noexcept
{
    nested_waiters_.fetch_add(1, std::memory_order_seq_cst);
    for (;;)
    {
        const uint32_t seq = mail_seq_.load(std::memory_order_seq_cst);
        process_inbox();
        if (done.load(std::memory_order_acquire))
            break;
        mail_seq_.wait(seq, std::memory_order_seq_cst);
    }
    nested_waiters_.fetch_sub(1, std::memory_order_relaxed);
}

// --- Queues --------------------------------------------------------------------------------

void Loop::queue_op(Op* op) noexcept
{
    Socket& socket = *op->socket;
    (op->kind == ItemKind::receive ? socket.receives : socket.sends).push_back(op);
    mark_dirty(socket);
}

void Loop::mark_dirty(Socket& socket) noexcept
{
    if (socket.linked() || socket.detached)
        return;
    link_at_tail(dirty_, socket);
}

void Loop::unlink_dirty(Socket& socket) noexcept
{
    DirtyNode& node = socket;
    if (!node.linked())
        return;
    node.prev->next = node.next;
    node.next->prev = node.prev;
    node.prev = node.next = &node;
}

// Sockets marked dirty by the callbacks that run here wait for the next iteration, after
// the loop has polled once: no socket can keep the loop from the others.
void Loop::flush_dirty() noexcept
{
    splice(dirty_, flushing_);
    while (flushing_.next != &flushing_)
    {
        Socket& socket = static_cast<Socket&>(*flushing_.next);
        unlink_dirty(socket);
        SocketScope scope(*this, socket);
        flush_socket(socket);
    }
}

void Loop::flush_socket(Socket& socket) noexcept
{
    if (socket.send_failure != 0 && !socket.sends.empty())
    {
        const auto result = static_cast<ASYNC_SOCKET_SEND_RESULT>(socket.send_failure - 1);
        while (!socket.sends.empty() && !socket.detached)
        {
            Op* op = as_op(socket.sends.pop_front());
            const auto callback = op->on_send;
            void* context = op->context;
            release_op(op);
            callback(context, result);
        }
    }
    if (!socket.detached)
        backend_->flush(socket);
}

// --- Completions ---------------------------------------------------------------------------

bool Loop::complete_receive(Socket& socket, long result) noexcept
{
    Op* op = as_op(socket.receives.pop_front());
    const auto callback = op->on_receive;
    void* context = op->context;
    release_op(op);
    if (!socket.receives.empty())
        mark_dirty(socket);
    const ASYNC_SOCKET_RECEIVE_RESULT outcome = receive_result_for(result);
    callback(context, outcome, outcome == ASYNC_SOCKET_RECEIVE_OK ? static_cast<uint32_t>(result) : 0);
    return !socket.detached;
}

bool Loop::complete_sent_bytes(Socket& socket, size_t bytes) noexcept
{
    while (!socket.sends.empty())
    {
        Op* op = as_op(socket.sends.front());
        while (op->iov_count != 0 && bytes >= op->iov->iov_len)
        {
            bytes -= op->iov->iov_len;
            ++op->iov;
            --op->iov_count;
        }
        if (op->iov_count != 0)
        {
            op->iov->iov_base = static_cast<char*>(op->iov->iov_base) + bytes;
            op->iov->iov_len -= bytes;
            break;
        }
        socket.sends.pop_front();
        const auto callback = op->on_send;
        void* context = op->context;
        release_op(op);
        callback(context, ASYNC_SOCKET_SEND_OK);
        if (socket.detached)
            return false;
    }
    if (!socket.sends.empty())
        mark_dirty(socket);
    return true;
}

bool Loop::fail_sends(Socket& socket, int error) noexcept
{
    socket.send_failure = static_cast<uint8_t>(1 + send_result_for_error(error));
    // flush_socket completes the queued sends with the failure, outside the backend.
    mark_dirty(socket);
    return true;
}

size_t Loop::gather_sends(const Socket& socket, iovec* out, size_t max) noexcept
{
    size_t count = 0;
    for (Item* item = socket.sends.front(); item != nullptr && count < max; item = item->next)
    {
        const Op* op = as_op(item);
        for (uint32_t i = 0; i < op->iov_count && count < max; ++i)
            out[count++] = op->iov[i];
    }
    return count;
}

void Loop::deliver_open(Socket& socket) noexcept
{
    socket.on_open_complete(socket.on_open_complete_context, ASYNC_SOCKET_OPEN_OK);
}

// --- Close ---------------------------------------------------------------------------------

void Loop::close_here(Socket& socket) noexcept
{
    if (socket.detached)
    {
        // A close of this socket is already running further up this thread's stack (this is
        // one of the callbacks it runs): complete the rest now, so that no other callback of
        // the socket starts after this close returns (02_011).
        abandon_queued(socket);
        return;
    }
    SocketScope scope(*this, socket);
    // Operations and the open notice handed over before the close may still wait in the
    // inbox: they belong to this close (it must complete them), so take them now.
    drain_inbox();
    ItemQueue mine;
    local_.extract_if(
        [&socket](Item* item) {
            return (item->kind == ItemKind::send || item->kind == ItemKind::receive || item->kind == ItemKind::open_notice) && &socket_of(item) == &socket;
        },
        mine);
    bool open_notice = false;
    while (Item* item = mine.pop_front())
    {
        if (item->kind == ItemKind::open_notice)
            open_notice = true;
        else
            (item->kind == ItemKind::receive ? socket.receives : socket.sends).push_back(item);
    }
    if (open_notice)
        deliver_open(socket);
    // The open callback may itself have closed the socket.
    if (!socket.detached)
        perform_close(socket);
}

// Runs inside a SocketScope (close_here or process_close_request): the threads waiting for
// this close are released when the outermost scope of the socket is left.
void Loop::perform_close(Socket& socket) noexcept
{
    socket.detached = true;
    unlink_dirty(socket);
    backend_->detach(socket);
    sys::close(socket.fd);
    socket.fd = -1;
    // The callbacks may send (refused: the state is closing), close (completes the rest of
    // the queues itself, see close_here) or destroy (deferred: the free waits for the end of
    // the iteration).
    abandon_queued(socket);
    {
        std::lock_guard<SmallMutex> lock(socket.mutex);
        socket.state = SocketState::closed;
    }
    // A loop thread waiting for this close is released now even if a callback of the socket
    // is still on this stack: it may be that callback's own close of a socket of the
    // waiting loop that keeps it here (two loops closing each other's sockets).
    release_close_waiters(socket, false);
}

void Loop::process_close_request(Socket& socket) noexcept
{
    SocketScope scope(*this, socket);
    if (!socket.detached)
        perform_close(socket);
    std::lock_guard<SmallMutex> lock(socket.mutex);
    socket.close_request_pending = false;
}

// Releases the waiters that may go. A thread that runs no loop may free the socket as soon as
// it is released, so it goes only when nothing refers to the socket any more (stack_clear:
// no frame of this loop's stack, and no close request in the loop's lists); the caller must
// not touch the socket after this call then. A loop thread never frees a socket of another
// loop itself (see async_socket_destroy), so it can go as soon as the close is done.
void Loop::release_close_waiters(Socket& socket, bool stack_clear) noexcept
{
    CloseWaiter* ready = nullptr;
    {
        std::lock_guard<SmallMutex> lock(socket.mutex);
        if (socket.state != SocketState::closed)
            return;
        const bool anyone = stack_clear && !socket.close_request_pending;
        CloseWaiter** link = &socket.close_waiters;
        while (*link != nullptr)
        {
            CloseWaiter* waiter = *link;
            if (waiter->loop != nullptr || anyone)
            {
                *link = waiter->next;
                waiter->next = ready;
                ready = waiter;
            }
            else
            {
                link = &waiter->next;
            }
        }
    }
    while (ready != nullptr)
    {
        CloseWaiter* next = ready->next;  // read before the waiter may vanish
        ready->signal();
        ready = next;
    }
}

void Loop::defer_free(Socket& socket) noexcept
{
    Item* link = socket.release_request();
    link->next = to_free_;
    to_free_ = link;
}

void Loop::free_deferred() noexcept
{
    Item** link = &to_free_;
    while (*link != nullptr)
    {
        Socket* socket = &socket_of(*link);
        bool pending;
        {
            std::lock_guard<SmallMutex> lock(socket->mutex);
            pending = socket->close_request_pending || socket->close_waiters != nullptr;
        }
        if (pending)
        {
            // A close request of another thread still refers to it (it is processed in the
            // next iteration), or a closer still has to be released.
            link = &(*link)->next;
            continue;
        }
        *link = (*link)->next;
        Engine& engine = *socket->engine;
        delete socket;
        engine.dec_ref();
    }
}

}  // namespace asock::detail
