// The io_uring backend: completion-driven, one ring per loop.
//
// Per socket the kernel holds at most one receive (the first queued one) and one send batch
// (the queued sends' buffers gathered into one sendmsg), which keeps the stream's order
// without links. Submissions are batched: flush only prepares entries, and the loop's
// poll submits them and waits in one io_uring_enter.
//
// Lifetimes. The entry's user_data is the operation (for a send batch, its first
// operation). msghdr and gathered iovec arrays live in per-loop scratch memory that is
// reused after every submission: IORING_FEAT_SUBMIT_STABLE (required) guarantees that the
// kernel has copied them by then. The user's data buffers are held until completion; close
// therefore cancels synchronously (IORING_REGISTER_SYNC_CANCEL, required) before it
// completes the operations, and marks them orphaned: their late completion entries only
// free the memory.
#include <liburing.h>
#include <limits.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "detail/backend.h"
#include "detail/errors.h"
#include "detail/loop.h"
#include "detail/net.h"
#include "detail/socket.h"
#include "detail/sys.h"

namespace asock::detail {
namespace {

constexpr unsigned kSubmissionEntries = 256;
constexpr unsigned kCompletionEntries = 8192;
constexpr size_t kScratchIovecs = 4096;
constexpr uint64_t kWakeTag = 1;  // never an operation's address (those are aligned)
// Listeners' and connects' entries carry a tagged address (net.h); the wake-up's tag is the
// one with a null address, so that a single bit test sends both away from operations.
static_assert(kWakeTag == kNetTag);

// A loop's ring is used by the loop's thread alone. Linux 6.1 can exploit that: completions
// are then processed in a batch when the thread asks for them (DEFER_TASKRUN) instead of
// interrupting it one by one. Such a ring is bound to the thread that enables it, so it is
// created disabled and enabled by the loop's thread (thread_started).
constexpr unsigned kOneThreadFlags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED;

// What sets up a ring: the flags this code wants, then fewer for older kernels.
int setup_ring(io_uring& ring, bool one_thread) noexcept
{
    const unsigned flag_sets[] = {
        one_thread ? IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | kOneThreadFlags : 0u,
        IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
        IORING_SETUP_CQSIZE,
    };
    int result = -EINVAL;
    for (unsigned flags : flag_sets)
    {
        if (flags == 0)
            continue;
        io_uring_params params{};
        params.flags = flags;
        params.cq_entries = kCompletionEntries;
        result = sys::io_uring_queue_init_params(kSubmissionEntries, &ring, &params);
        if (result != -EINVAL)
            break;
    }
    return result;
}

// What a probe learnt: whether this kernel gives asock what it needs, or nothing for now (the
// process was out of descriptors or memory), in which case the next probe asks again.
enum class Probe
{
    usable,
    unusable,
    unknown,
};

bool transient_failure(int error) noexcept { return error == EMFILE || error == ENFILE || error == ENOMEM || error == EAGAIN || error == EINTR; }

Probe ring_has_what_we_need(io_uring& ring) noexcept
{
    const unsigned needed_features = IORING_FEAT_SUBMIT_STABLE | IORING_FEAT_NODROP;
    if ((ring.features & needed_features) != needed_features)
        return Probe::unusable;
    io_uring_probe* probe = io_uring_get_probe_ring(&ring);
    if (probe == nullptr)
        return Probe::unknown;
    bool ok = true;
    for (int op : {IORING_OP_SEND, IORING_OP_RECV, IORING_OP_SENDMSG, IORING_OP_RECVMSG, IORING_OP_READ, IORING_OP_ACCEPT, IORING_OP_CONNECT, IORING_OP_LINK_TIMEOUT})
        ok = ok && io_uring_opcode_supported(probe, op);
    io_uring_free_probe(probe);
    if (!ok)
        return Probe::unusable;
    // Synchronous cancellation (Linux 6.0): with nothing to cancel it answers 0 or -ENOENT;
    // a kernel without it answers -EINVAL.
    const int fd = sys::eventfd(0, EFD_CLOEXEC);
    if (fd < 0)
        return Probe::unknown;
    io_uring_sync_cancel_reg reg{};
    reg.fd = fd;
    reg.flags = IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL;
    reg.timeout.tv_sec = -1;
    reg.timeout.tv_nsec = -1;
    const int result = sys::io_uring_register_sync_cancel(&ring, &reg);
    sys::close(fd);
    if (result >= 0 || result == -ENOENT)
        return Probe::usable;
    return transient_failure(-result) ? Probe::unknown : Probe::unusable;
}

Probe probe_io_uring() noexcept
{
    io_uring ring;
    const int result = setup_ring(ring, false);
    if (result != 0)
        return transient_failure(-result) ? Probe::unknown : Probe::unusable;
    const Probe verdict = ring_has_what_we_need(ring);
    io_uring_queue_exit(&ring);
    return verdict;
}

class UringBackend final : public Backend
{
public:
    explicit UringBackend(Loop& loop) noexcept : loop_(loop) {}

    ~UringBackend() override
    {
        if (!ring_ready_)
            return;
        reap_orphans();
        io_uring_queue_exit(&ring_);
        if (wake_fd_ >= 0)
            sys::close(wake_fd_);
    }

    bool init() noexcept
    {
        if (setup_ring(ring_, true) != 0)
            return false;
        ring_ready_ = true;
        deferred_ = (ring_.flags & IORING_SETUP_DEFER_TASKRUN) != 0;
        wake_fd_ = sys::eventfd(0, EFD_CLOEXEC);
        return wake_fd_ >= 0;
    }

    bool thread_started() noexcept override
    {
        if ((ring_.flags & IORING_SETUP_R_DISABLED) == 0)
            return true;
        // A disabled ring refuses every submission: a signal must not leave it so, and any
        // other failure means this loop cannot work at all.
        int result;
        do
        {
            result = sys::io_uring_enable_rings(&ring_);
        } while (result == -EINTR);
        return result >= 0;
    }

    // Completions still deferred (the orphans' among them) are posted now, while this is
    // still the ring's thread: the destructor may run on another one.
    void thread_ending() noexcept override
    {
        if (deferred_)
            (void)sys::io_uring_get_events(&ring_);
    }

    int attach(Socket&) noexcept override { return 0; }

    void detach(Socket& socket) noexcept override
    {
        if (socket.receive_in_flight == nullptr && socket.send_in_flight == nullptr)
            return;
        // Entries prepared but not submitted would escape the cancellation.
        if (io_uring_sq_ready(&ring_) != 0)
            submit();
        if (io_uring_sq_ready(&ring_) != 0)
            neutralize_unsubmitted(socket);
        if (!cancel_synchronously(socket.fd))
            wait_for_in_flight(socket);
        orphan(socket.receive_in_flight);
        orphan(socket.send_in_flight);
        socket.receive_in_flight = nullptr;
        socket.send_in_flight = nullptr;
    }

    void flush(Socket& socket) noexcept override
    {
        if (socket.receive_in_flight == nullptr && !socket.receives.empty())
            start_receive(socket);
        if (socket.send_in_flight == nullptr && !socket.sends.empty() && socket.send_failure == 0)
            start_send(socket);
    }

    bool poll(bool block) noexcept override
    {
        if (!wake_armed_)
            arm_wake();
        // Without the wake-up armed a sleep could miss a post; do not sleep then (the ring
        // is full, which only lasts until the next submission). Nor with completions stashed
        // by a close (wait_for_in_flight): they are dispatched below, not woken for.
        block = block && wake_armed_ && stashed_.empty();
        // One system call submits the batch and, when there is nothing else to do, waits.
        if (block)
            sys::io_uring_submit_and_wait(&ring_, 1);
        else if (deferred_)
            sys::io_uring_submit_and_get_events(&ring_);  // deferred completions need a system call
        else if (io_uring_sq_ready(&ring_) != 0)
            submit();
        release_scratch();
        bool dispatched = dispatch_stashed();
        io_uring_cqe* cqe;
        while (io_uring_peek_cqe(&ring_, &cqe) == 0)
        {
            const uint64_t data = cqe->user_data;
            const int result = cqe->res;
            io_uring_cqe_seen(&ring_, cqe);
            dispatch(data, result);
            dispatched = true;
        }
        return dispatched;
    }

    void wake() noexcept override
    {
        const uint64_t one = 1;
        (void)sys::write(wake_fd_, &one, sizeof(one));
    }

    // --- Listeners and connects: IORING_OP_ACCEPT (one in the kernel per listener at a time)
    // and IORING_OP_CONNECT linked to an IORING_OP_LINK_TIMEOUT. The sockets are blocking: on
    // a non-blocking one, the kernel fails the accept or connect with EAGAIN instead of
    // waiting for readiness itself.

    int socket_flags() const noexcept override { return 0; }

    int attach_listener(Listener&) noexcept override { return 0; }

    void detach_listener(Listener& listener) noexcept override
    {
        if (!listener.accept_in_flight)
            return;
        const uint64_t data = net_tag(listener, false);
        listener.accept_in_flight = false;
        // An entry prepared but not submitted would escape the cancellation.
        if (io_uring_sq_ready(&ring_) != 0)
            submit();
        if (io_uring_sq_ready(&ring_) != 0 && neutralize_unsubmitted_entry(data))
        {
            // It never reaches the kernel; its completion (a no-op's) only drops its reference.
            listener.accept_neutralized = true;
            return;
        }
        // Cancel it and take its completion now, rather than in a later poll: then nothing of
        // the listener (nor its engine reference) outlives the close, as with sockets.
        // Shutting the socket down is the last resort that ends the accept too.
        if (!cancel_synchronously(listener.fd))
            sys::shutdown(listener.fd, SHUT_RDWR);
        int result;
        if (!reap_until(data, result))
            return;  // the ring itself is broken: the entry never comes back
        if (result >= 0)
            sys::close(result);  // a connection accepted meanwhile
        listener_release(listener);  // the entry's (the caller's scope holds another)
    }

    void flush_listener(Listener& listener) noexcept override
    {
        if (listener.accept_in_flight || listener.detached || !listener_has_waiting_accepts(listener))
            return;
        io_uring_sqe* sqe = get_sqe();
        if (sqe == nullptr)
        {
            listener_flush_later(listener);  // the ring is full even after a submit: next iteration
            return;
        }
        io_uring_prep_accept(sqe, listener.fd, nullptr, nullptr, SOCK_CLOEXEC);
        io_uring_sqe_set_data64(sqe, net_tag(listener, false));
        listener.accept_in_flight = true;
        listener_add_ref(listener);  // the entry's, until its completion
    }

    void start_connect(Connect& connect) noexcept override
    {
        // The connect and its timeout must reach the kernel in one submission, back to back.
        if (io_uring_sq_space_left(&ring_) < 2)
            submit();
        if (io_uring_sq_space_left(&ring_) < 2)
        {
            connect_start_later(connect);
            return;
        }
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        io_uring_prep_connect(sqe, connect.fd, reinterpret_cast<const sockaddr*>(&connect.address), connect.address_length);
        sqe->flags |= IOSQE_IO_LINK;
        io_uring_sqe_set_data64(sqe, net_tag(connect, false));
        connect.timeout.tv_sec = connect.timeout_ms / 1000;
        connect.timeout.tv_nsec = static_cast<long long>(connect.timeout_ms % 1000) * 1000000;
        io_uring_sqe* timer = io_uring_get_sqe(&ring_);
        io_uring_prep_link_timeout(timer, &connect.timeout, 0);
        io_uring_sqe_set_data64(timer, net_tag(connect, true));
        connect.completions_pending = 2;
    }

private:
    // The wake-up, or a listener's or a connect's entry.
    void dispatch_tagged(uint64_t data, int result) noexcept
    {
        if (data == kWakeTag)
        {
            wake_armed_ = false;
            return;
        }
        NetTarget& target = net_target_of(data);
        if (target.net_kind == NetKind::listener)
            accept_done(static_cast<Listener&>(target), result);
        else
            connect_entry_done(static_cast<Connect&>(target), is_net_timer_tag(data), result);
    }

    void accept_done(Listener& listener, int result) noexcept
    {
        if (listener.accept_neutralized)
        {
            listener_release(listener);  // the no-op's that replaced the accept (detach_listener)
            return;
        }
        listener.accept_in_flight = false;
        ListenerScope scope(listener);
        listener_release(listener);  // the entry's (the scope holds one until it ends)
        if (result >= 0 || !is_accept_retry(-result))
            listener_accept_done(listener, result);
        flush_listener(listener);  // the next waiting accept, if any
    }

    // Both entries of a connect come back (the timeout's: -ETIME when it fired, -ECANCELED when
    // the connect ended first); the connect ends with the second.
    void connect_entry_done(Connect& connect, bool timer, int result) noexcept
    {
        if (timer)
            connect.timed_out = result == -ETIME;
        else
            connect.connect_result = result;
        if (--connect.completions_pending != 0)
            return;
        const int error = connect.connect_result == 0 ? 0 : connect.timed_out ? ETIMEDOUT : -connect.connect_result;
        connect_finished(connect, error);
    }

    // Turns the entry with this data, still in the submission queue, into a no-op; false when
    // it is not there.
    bool neutralize_unsubmitted_entry(uint64_t data) noexcept
    {
        for (unsigned i = io_uring_smp_load_acquire(ring_.sq.khead); i != ring_.sq.sqe_tail; ++i)
        {
            io_uring_sqe* sqe = &ring_.sq.sqes[i & ring_.sq.ring_mask];
            if (sqe->user_data != data)
                continue;
            io_uring_prep_nop(sqe);
            io_uring_sqe_set_data64(sqe, data);
            return true;
        }
        return false;
    }

    // Reaps completions until the one with this data comes (its result in result), keeping the
    // others for the next dispatch. False when the ring itself is broken.
    bool reap_until(uint64_t data, int& result) noexcept
    {
        for (;;)
        {
            io_uring_cqe* cqe;
            const int waited = sys::io_uring_wait_cqe(&ring_, &cqe);
            if (waited == -EINTR || waited == -EAGAIN)
                continue;
            if (waited != 0)
                return false;
            const uint64_t seen = cqe->user_data;
            const int seen_result = cqe->res;
            io_uring_cqe_seen(&ring_, cqe);
            if (seen == data)
            {
                result = seen_result;
                return true;
            }
            stash(seen, seen_result);
        }
    }

    void dispatch(uint64_t data, int result) noexcept
    {
        if (is_net_tag(data))
        {
            dispatch_tagged(data, result);
            return;
        }
        Op* op = reinterpret_cast<Op*>(data);
        if (op->orphaned)
        {
            op_free(op);
            --orphans_;
            return;
        }
        Socket& socket = *op->socket;
        Loop::SocketScope scope(loop_, socket);
        if (op->kind == ItemKind::receive)
            receive_done(socket, result);
        else
            send_done(socket, result);
    }

    void receive_done(Socket& socket, int result) noexcept
    {
        socket.receive_in_flight = nullptr;
        if (result < 0 && is_retry(-result))
            loop_.mark_dirty(socket);
        else
            loop_.complete_receive(socket, result);
    }

    void send_done(Socket& socket, int result) noexcept
    {
        socket.send_in_flight = nullptr;
        if (result >= 0)
            loop_.complete_sent_bytes(socket, static_cast<size_t>(result));
        else if (is_retry(-result))
            loop_.mark_dirty(socket);
        else
            loop_.fail_sends(socket, -result);
    }

    void start_receive(Socket& socket) noexcept
    {
        Op* op = as_op(socket.receives.front());
        io_uring_sqe* sqe = get_sqe();
        if (sqe == nullptr)
        {
            loop_.mark_dirty(socket);  // the ring is full even after a submit: next iteration
            return;
        }
        if (op->iov_count == 1)
        {
            io_uring_prep_recv(sqe, socket.fd, op->iov->iov_base, op->iov->iov_len, 0);
        }
        else
        {
            msghdr* message = scratch_message();
            message->msg_iov = op->iov;  // the operation's own array: stable until completion
            message->msg_iovlen = op->iov_count < IOV_MAX ? op->iov_count : IOV_MAX;
            io_uring_prep_recvmsg(sqe, socket.fd, message, 0);
        }
        io_uring_sqe_set_data64(sqe, reinterpret_cast<uint64_t>(op));
        socket.receive_in_flight = op;
    }

    void start_send(Socket& socket) noexcept
    {
        Op* first = as_op(socket.sends.front());
        io_uring_sqe* sqe = get_sqe();
        if (sqe == nullptr)
        {
            loop_.mark_dirty(socket);
            return;
        }
        if (first->iov_count == 1 && first->next == nullptr)
        {
            io_uring_prep_send(sqe, socket.fd, first->iov->iov_base, first->iov->iov_len, MSG_NOSIGNAL);
        }
        else
        {
            msghdr* message = scratch_message();
            message->msg_iov = &scratch_iovecs_[scratch_iovecs_used_];
            message->msg_iovlen = loop_.gather_sends(socket, message->msg_iov, IOV_MAX);
            scratch_iovecs_used_ += message->msg_iovlen;
            io_uring_prep_sendmsg(sqe, socket.fd, message, MSG_NOSIGNAL);
        }
        io_uring_sqe_set_data64(sqe, reinterpret_cast<uint64_t>(first));
        socket.send_in_flight = first;
    }

    // An entry, with scratch room for its msghdr and a full sendmsg batch of iovecs. When
    // any of them runs out, what is prepared is submitted first, which frees the scratch;
    // nullptr when that did not help (the caller tries again next iteration).
    io_uring_sqe* get_sqe() noexcept
    {
        if (!room_for_one_more())
        {
            submit();
            release_scratch();
            if (!room_for_one_more())
                return nullptr;
        }
        return io_uring_get_sqe(&ring_);
    }

    bool room_for_one_more() const noexcept
    {
        return io_uring_sq_space_left(&ring_) != 0 && scratch_messages_used_ < kSubmissionEntries && scratch_iovecs_left() >= IOV_MAX;
    }

    msghdr* scratch_message() noexcept
    {
        msghdr* message = &scratch_messages_[scratch_messages_used_++];
        *message = msghdr{};
        return message;
    }

    size_t scratch_iovecs_left() const noexcept { return kScratchIovecs - scratch_iovecs_used_; }

    void submit() noexcept
    {
        int result;
        do
        {
            result = sys::io_uring_submit(&ring_);
        } while (result == -EINTR);
    }

    // Scratch memory may be reused only once every entry pointing at it was submitted.
    void release_scratch() noexcept
    {
        if (io_uring_sq_ready(&ring_) != 0)
            return;
        scratch_messages_used_ = 0;
        scratch_iovecs_used_ = 0;
    }

    void arm_wake() noexcept
    {
        io_uring_sqe* sqe = get_sqe();
        if (sqe == nullptr)
            return;
        io_uring_prep_read(sqe, wake_fd_, &wake_value_, sizeof(wake_value_), 0);
        io_uring_sqe_set_data64(sqe, kWakeTag);
        wake_armed_ = true;
    }

    bool cancel_synchronously(int fd) noexcept
    {
        io_uring_sync_cancel_reg reg{};
        reg.fd = fd;
        reg.flags = IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL;
        reg.timeout.tv_sec = -1;
        reg.timeout.tv_nsec = -1;
        int result;
        do
        {
            result = sys::io_uring_register_sync_cancel(&ring_, &reg);
        } while (result == -EINTR);
        return result >= 0 || result == -ENOENT;
    }

    // The submission failed (no memory for the requests, say): the socket's entries still in
    // the submission queue must not reach the kernel once its handle is closed, as its number
    // may be reused at once. They become no-ops, whose completions only free the operations,
    // orphaned now. (liburing maps queue position i to sqes[i & ring_mask].)
    void neutralize_unsubmitted(Socket& socket) noexcept
    {
        for (unsigned i = io_uring_smp_load_acquire(ring_.sq.khead); i != ring_.sq.sqe_tail; ++i)
        {
            io_uring_sqe* sqe = &ring_.sq.sqes[i & ring_.sq.ring_mask];
            const uint64_t data = sqe->user_data;
            Op** in_flight = nullptr;
            if (socket.receive_in_flight != nullptr && data == reinterpret_cast<uint64_t>(socket.receive_in_flight))
                in_flight = &socket.receive_in_flight;
            else if (socket.send_in_flight != nullptr && data == reinterpret_cast<uint64_t>(socket.send_in_flight))
                in_flight = &socket.send_in_flight;
            if (in_flight == nullptr)
                continue;
            io_uring_prep_nop(sqe);
            io_uring_sqe_set_data64(sqe, data);
            orphan(*in_flight);
            *in_flight = nullptr;
        }
    }

    // Last resort when synchronous cancellation fails: shut the socket down (which ends any
    // pending operation) and reap until the socket's own entries came back, keeping the
    // others for the next dispatch.
    void wait_for_in_flight(Socket& socket) noexcept
    {
        sys::shutdown(socket.fd, SHUT_RDWR);
        while (socket.receive_in_flight != nullptr || socket.send_in_flight != nullptr)
        {
            io_uring_cqe* cqe;
            const int waited = sys::io_uring_wait_cqe(&ring_, &cqe);
            if (waited == -EINTR || waited == -EAGAIN)
                continue;
            if (waited != 0)
                break;  // the ring itself is broken: nothing more can be learnt from it
            const uint64_t data = cqe->user_data;
            const int result = cqe->res;
            io_uring_cqe_seen(&ring_, cqe);
            // An entry of this socket means the kernel is done with that operation: it is not
            // orphaned, and the close completes and frees it like the queued ones.
            if (data == reinterpret_cast<uint64_t>(socket.receive_in_flight))
                socket.receive_in_flight = nullptr;
            else if (data == reinterpret_cast<uint64_t>(socket.send_in_flight))
                socket.send_in_flight = nullptr;
            else
                stash(data, result);
        }
    }

    void stash(uint64_t data, int result) noexcept
    {
        try
        {
            throw_on_alloc_fault(FaultPoint::stash_alloc);
            stashed_.push_back({data, result});
        }
        catch (...)
        {
            dispatch(data, result);  // no memory: dispatch now, nested, rather than lose it
        }
    }

    bool dispatch_stashed() noexcept
    {
        const bool any = !stashed_.empty();
        while (!stashed_.empty())
        {
            std::vector<Completion> batch;
            batch.swap(stashed_);
            for (const Completion& completion : batch)
                dispatch(completion.data, completion.result);
        }
        return any;
    }

    void orphan(Op* op) noexcept
    {
        if (op == nullptr)
            return;
        op->orphaned = true;
        ++orphans_;
    }

    // At shutdown: the orphans' entries are already posted (the cancellation was
    // synchronous); collect them so their memory goes back.
    void reap_orphans() noexcept
    {
        dispatch_stashed();
        io_uring_cqe* cqe;
        while (orphans_ != 0 && io_uring_peek_cqe(&ring_, &cqe) == 0)
        {
            const uint64_t data = cqe->user_data;
            io_uring_cqe_seen(&ring_, cqe);
            if (!is_net_tag(data) && reinterpret_cast<Op*>(data)->orphaned)
            {
                op_free(reinterpret_cast<Op*>(data));
                --orphans_;
            }
        }
    }

    struct Completion
    {
        uint64_t data;
        int result;
    };

    Loop& loop_;
    io_uring ring_{};
    bool ring_ready_ = false;
    bool deferred_ = false;  // IORING_SETUP_DEFER_TASKRUN
    int wake_fd_ = -1;
    uint64_t wake_value_ = 0;
    bool wake_armed_ = false;
    uint32_t orphans_ = 0;
    std::vector<Completion> stashed_;
    size_t scratch_messages_used_ = 0;
    size_t scratch_iovecs_used_ = 0;
    msghdr scratch_messages_[kSubmissionEntries];
    iovec scratch_iovecs_[kScratchIovecs];
};

}  // namespace

// The kernel's answer is kept for the life of the process; a probe that failed for want of
// descriptors or memory is not an answer, so the next call probes again.
bool io_uring_usable() noexcept
{
    static std::atomic<Probe> known{Probe::unknown};
    Probe verdict = known.load(std::memory_order_acquire);
    if (verdict == Probe::unknown)
    {
        verdict = probe_io_uring();
        if (verdict != Probe::unknown)
            known.store(verdict, std::memory_order_release);
    }
    return verdict == Probe::usable;
}

std::unique_ptr<Backend> make_io_uring_backend(Loop& loop) noexcept
{
    if (!io_uring_usable())
        return nullptr;
    std::unique_ptr<UringBackend> backend(inject_fault(FaultPoint::backend_alloc) ? nullptr : new (std::nothrow) UringBackend(loop));
    if (backend == nullptr || !backend->init())
        return nullptr;
    return backend;
}

}  // namespace asock::detail
