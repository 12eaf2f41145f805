// One event loop: a thread, its backend (an io_uring ring or an epoll set) and the sockets
// assigned to it.
//
// Ownership rule: a socket's queues and I/O state are touched only by its loop's thread.
// Other threads hand work over through the inbox (a lock-free stack of items) and wake the
// loop; the loop's own thread (that is, a callback) queues directly. One iteration of run():
//
//   process_inbox   items from other threads: operations join their socket's queue, open
//                   notices and close requests run
//   flush_dirty     the backend starts I/O for every socket that got new operations
//   free_deferred   sockets destroyed from a callback are freed here, when nothing refers
//                   to them any more
//   poll            wait for I/O (unless there is work already) and dispatch completions
//
// Callbacks run inside process_inbox, flush_dirty and poll, never inside the API call that
// started the operation.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "detail/backend.h"
#include "detail/op.h"
#include "detail/socket.h"

namespace asock::detail {

class Engine;

// Someone waiting in async_socket_close for a close that the socket's loop carries out.
// Lives on the waiter's stack; once signalled, the loop touches neither it nor the socket.
struct CloseWaiter
{
    explicit CloseWaiter(Loop* own_loop) noexcept : loop(own_loop) {}

    void signal() noexcept;
    void wait() noexcept;

    CloseWaiter* next = nullptr;
    // The waiting thread's own loop, if it runs one: such a thread keeps serving its inbox
    // while it waits, so that two loops closing each other's sockets cannot deadlock.
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
    ASOCK_LINUX_BACKEND backend_kind() const noexcept { return backend_kind_; }
    bool on_loop_thread() const noexcept { return current() == this; }
    static Loop* current() noexcept;

    // --- Any thread ---------------------------------------------------------------------
    // Hands an item to the loop and wakes it if it sleeps.
    void post(Item* item) noexcept;
    // True on the loop's thread when nothing handed over earlier is still waiting, so that an
    // operation may join its socket's queue directly without overtaking older ones.
    bool can_queue_directly() const noexcept;

    // --- Loop thread --------------------------------------------------------------------
    void queue_op(Op* op) noexcept;
    void mark_dirty(Socket& socket) noexcept;
    // A close asked for on the loop's own thread: runs at once (the socket's state is
    // already closing).
    void close_here(Socket& socket) noexcept;
    // A socket destroyed on the loop's own thread: freed at the end of the iteration.
    void defer_free(Socket& socket) noexcept;

    // Marks a frame of the loop's stack that refers to a socket (it dispatches the socket's
    // I/O or runs its callbacks). Leaving the outermost one may release the threads waiting
    // in a close, after which the socket may be freed: nothing may touch it afterwards.
    class SocketScope
    {
    public:
        SocketScope(Loop& loop, Socket& socket) noexcept : loop_(loop), socket_(socket) { ++socket.stack_refs; }
        ~SocketScope()
        {
            if (--socket_.stack_refs == 0 && socket_.detached)
                loop_.release_close_waiters(socket_, true);
        }
        SocketScope(const SocketScope&) = delete;
        SocketScope& operator=(const SocketScope&) = delete;

    private:
        Loop& loop_;
        Socket& socket_;
    };
    // Serves the inbox until done becomes true (a close waited for by this loop's thread).
    void serve_until(const std::atomic<bool>& done) noexcept;
    void notify_waiter() noexcept;

    // --- Backend → loop (loop thread) ---------------------------------------------------
    // Completes the socket's first receive with a recvmsg-style result (bytes, 0, -errno).
    // Returns false when the callback closed the socket.
    bool complete_receive(Socket& socket, long result) noexcept;
    // Accounts bytes sent to the queued sends in order, completing every send fully sent.
    // Returns false when a callback closed the socket.
    bool complete_sent_bytes(Socket& socket, size_t bytes) noexcept;
    // A send failed: it and every send queued or still to come complete with the failure,
    // since the stream now has a gap. Returns false when a callback closed the socket.
    bool fail_sends(Socket& socket, int error) noexcept;
    // Fills out with the buffers of the queued sends, in order, at most max of them.
    size_t gather_sends(const Socket& socket, iovec* out, size_t max) noexcept;

    void run() noexcept;

private:
    void drain_inbox() noexcept;
    void process_inbox() noexcept;
    void process_item(Item* item) noexcept;
    void deliver_open(Socket& socket) noexcept;
    void perform_close(Socket& socket) noexcept;
    void process_close_request(Socket& socket) noexcept;
    void release_close_waiters(Socket& socket, bool stack_clear) noexcept;
    void flush_dirty() noexcept;
    void flush_socket(Socket& socket) noexcept;
    void free_deferred() noexcept;
    bool prepare_to_block() noexcept;
    bool spin_for_work(uint32_t spin_us) noexcept;
    static void unlink_dirty(Socket& socket) noexcept;

    Engine* const engine_;
    const unsigned index_;
    std::unique_ptr<Backend> backend_;
    ASOCK_LINUX_BACKEND backend_kind_ = ASOCK_LINUX_BACKEND_DEFAULT;
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
    std::atomic<uint32_t> nested_waiters_{0};
    std::atomic<uint32_t> mail_seq_{0};

    // Loop thread only.
    ItemQueue local_;       // drained from the inbox, not yet processed
    DirtyNode dirty_;       // sentinel: sockets with I/O to start
    DirtyNode flushing_;    // sentinel: the dirty sockets being flushed now
    Item* to_free_ = nullptr;  // release requests of the sockets to free (see defer_free)
};

}  // namespace asock::detail
