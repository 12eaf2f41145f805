// The io_uring backend: completion-driven, one ring per loop.
//
// start prepares a submission entry whose user_data is the operation (a send batch: its first
// operation); poll submits the batch and waits in one io_uring_enter, then reports the
// completions. msghdr and gathered iovec arrays live in per-loop scratch memory that is reused
// after every submission: IORING_FEAT_SUBMIT_STABLE (required) guarantees that the kernel has
// copied them by then. The user's data buffers are held until completion, so detach first
// submits whatever is prepared, then cancels synchronously (IORING_REGISTER_SYNC_CANCEL,
// required): when it returns the kernel is done with the handle's operations, whose
// completions come in a later poll.
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
#include "detail/handle.h"
#include "detail/op.h"
#include "detail/sys.h"

namespace asock::detail {
namespace {

constexpr unsigned kSubmissionEntries = 256;
constexpr unsigned kCompletionEntries = 8192;
constexpr size_t kScratchIovecs = 4096;
constexpr uint64_t kWakeTag = 1;  // never an operation's address (those are aligned)
constexpr uint64_t kCancelTag = 3;  // an asynchronous cancel's own completion: nothing to report
// The most one call moves (the kernel's MAX_RW_COUNT). send(2) and recv(2) do less when asked
// for more; io_uring's SEND and RECV refuse a longer buffer (EINVAL) instead, so it is cut here:
// a receive completes with what arrived anyway, and a send goes on from where it stopped.
constexpr size_t kMostPerCall = 0x7ffff000;

size_t clamp_length(size_t length) noexcept { return length < kMostPerCall ? length : kMostPerCall; }
// Submissions tried before detach gives up on a ring that refuses them.
constexpr int kSubmitAttempts = 64;

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

io_uring_sync_cancel_reg cancel_all_of(int fd) noexcept
{
    io_uring_sync_cancel_reg reg{};
    reg.fd = fd;
    reg.flags = IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL;
    reg.timeout.tv_sec = -1;
    reg.timeout.tv_nsec = -1;
    return reg;
}

Probe ring_has_what_we_need(io_uring& ring) noexcept
{
    // EXT_ARG: a wait with a timeout in one system call (io_uring_submit_and_wait_timeout).
    const unsigned needed_features = IORING_FEAT_SUBMIT_STABLE | IORING_FEAT_NODROP | IORING_FEAT_EXT_ARG;
    if ((ring.features & needed_features) != needed_features)
        return Probe::unusable;
    io_uring_probe* probe = io_uring_get_probe_ring(&ring);
    if (probe == nullptr)
        return Probe::unknown;
    bool ok = true;
    for (int op : {IORING_OP_SEND, IORING_OP_RECV, IORING_OP_SENDMSG, IORING_OP_RECVMSG, IORING_OP_READ, IORING_OP_ACCEPT, IORING_OP_CONNECT})
        ok = ok && io_uring_opcode_supported(probe, op);
    io_uring_free_probe(probe);
    if (!ok)
        return Probe::unusable;
    // Synchronous cancellation (Linux 6.0): with nothing to cancel it answers 0 or -ENOENT;
    // a kernel without it answers -EINVAL.
    const int fd = sys::eventfd(0, EFD_CLOEXEC);
    if (fd < 0)
        return Probe::unknown;
    io_uring_sync_cancel_reg reg = cancel_all_of(fd);
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
    ~UringBackend() override
    {
        if (!ring_ready_)
            return;
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

    // Blocking sockets: on a non-blocking one the kernel would answer EAGAIN to an accept or a
    // connect instead of waiting for readiness itself.
    int socket_flags() const noexcept override { return 0; }

    int attach(Handle&) noexcept override { return 0; }

    unsigned detach(Handle& handle) noexcept override
    {
        unsigned in_flight = 0;
        for (Direction direction : {kReads, kWrites})
            if (handle.in_flight[direction] != nullptr)
                in_flight |= 1u << direction;
        if (in_flight == 0)
            return 0;
        // An entry prepared but not submitted would escape the cancellation and reach the
        // kernel after the descriptor is closed (and perhaps reused).
        submit_everything();
        if (!cancel_synchronously(cancel_all_of(handle.fd)))
            await_reports(handle);
        return in_flight;
    }

    Start start(Op& op, long&) noexcept override
    {
        io_uring_sqe* sqe = get_sqe();
        if (sqe == nullptr)
            return Start::busy;  // the ring is full even after a submit: the next iteration
        switch (op.kind)
        {
        case ItemKind::receive:
            prepare_receive(sqe, op);
            break;
        case ItemKind::send:
            prepare_send(sqe, op);
            break;
        case ItemKind::accept:
            io_uring_prep_accept(sqe, op.handle->fd, nullptr, nullptr, SOCK_CLOEXEC);
            break;
        case ItemKind::connect:
            io_uring_prep_connect(sqe, op.handle->fd, op.connect.peer(), op.connect.address_length);
            break;
        case ItemKind::timer:  // never handed to a backend
        case ItemKind::cancel_reads:
        case ItemKind::cancel_connect:
        case ItemKind::open_notice:
        case ItemKind::close_waiter:
            io_uring_prep_nop(sqe);
            break;
        }
        io_uring_sqe_set_data64(sqe, reinterpret_cast<uint64_t>(&op));
        return Start::pending;
    }

    // The operation's completion (-ECANCELED, or its result if it finished first) is there
    // when this returns, for the next poll.
    Start cancel(Op& op, long&) noexcept override
    {
        submit_everything();
        io_uring_sync_cancel_reg reg{};
        reg.addr = reinterpret_cast<uint64_t>(&op);
        reg.timeout.tv_sec = -1;
        reg.timeout.tv_nsec = -1;
        if (!cancel_synchronously(reg))
            cancel_asynchronously(op);
        return Start::pending;
    }

    size_t poll(int64_t timeout_ns, Report* out, size_t max) noexcept override
    {
        if (!wake_armed_)
            arm_wake();
        // Without the wake-up armed a sleep could miss a post; do not sleep then (the ring is
        // full, which only lasts until the next submission). Nor with completions put aside
        // by a close (await_reports): they are reported below.
        const bool block = timeout_ns != 0 && wake_armed_ && stash_.empty();
        // One system call submits the batch and, when there is nothing else to do, waits.
        if (block && timeout_ns < 0)
            sys::io_uring_submit_and_wait(&ring_, 1);
        else if (block)
            wait_at_most(timeout_ns);
        else if (deferred_)
            sys::io_uring_submit_and_get_events(&ring_);  // deferred completions need a system call
        else if (io_uring_sq_ready(&ring_) != 0)
            submit();
        release_scratch();
        handed_out_ = out;
        size_t count = take_stashed(out, max);
        io_uring_cqe* cqe;
        while (count < max && io_uring_peek_cqe(&ring_, &cqe) == 0)
        {
            const uint64_t data = cqe->user_data;
            const int result = cqe->res;
            io_uring_cqe_seen(&ring_, cqe);
            if (data == kWakeTag)
                wake_armed_ = false;
            else if (data != kCancelTag)
                out[count++] = Report{reinterpret_cast<Op*>(data), result};
        }
        handed_count_ = count;
        return count;
    }

    void wake() noexcept override
    {
        const uint64_t one = 1;
        (void)sys::write(wake_fd_, &one, sizeof(one));
    }

private:
    void wait_at_most(int64_t timeout_ns) noexcept
    {
        __kernel_timespec timeout{};
        timeout.tv_sec = timeout_ns / 1000000000;
        timeout.tv_nsec = timeout_ns % 1000000000;
        io_uring_cqe* ignored = nullptr;
        // -ETIME when the time is up: the loop then runs its timers.
        (void)sys::io_uring_submit_and_wait_timeout(&ring_, &ignored, 1, &timeout);
    }

    void prepare_receive(io_uring_sqe* sqe, Op& op) noexcept
    {
        const IoBuffers& io = op.io;
        if (io.count == 1)
        {
            io_uring_prep_recv(sqe, op.handle->fd, io.iov->iov_base, clamp_length(io.iov->iov_len), 0);
            return;
        }
        msghdr* message = scratch_message();
        message->msg_iov = io.iov;  // the operation's own array: stable until completion
        message->msg_iovlen = io.count < IOV_MAX ? io.count : IOV_MAX;
        io_uring_prep_recvmsg(sqe, op.handle->fd, message, 0);
    }

    // One buffer goes through SEND; several, or several queued sends, are gathered into one
    // SENDMSG (up to IOV_MAX buffers).
    void prepare_send(io_uring_sqe* sqe, Op& op) noexcept
    {
        if (op.io.count == 1 && op.next == nullptr)
        {
            io_uring_prep_send(sqe, op.handle->fd, op.io.iov->iov_base, clamp_length(op.io.iov->iov_len), MSG_NOSIGNAL);
            return;
        }
        msghdr* message = scratch_message();
        iovec* gathered = &scratch_iovecs_[scratch_iovecs_used_];
        size_t count = 0;
        for (Item* item = &op; item != nullptr && count < IOV_MAX; item = item->next)
        {
            const IoBuffers& io = as_op(item)->io;
            for (uint32_t i = 0; i < io.count && count < IOV_MAX; ++i)
                gathered[count++] = io.iov[i];
        }
        message->msg_iov = gathered;
        message->msg_iovlen = count;
        scratch_iovecs_used_ += count;
        io_uring_prep_sendmsg(sqe, op.handle->fd, message, MSG_NOSIGNAL);
    }

    // An entry, with scratch room for its msghdr and a full sendmsg batch of iovecs. When any
    // of them runs out, what is prepared is submitted first, which frees the scratch; nullptr
    // when that did not help (the caller tries again next iteration).
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
        return io_uring_sq_space_left(&ring_) != 0 && scratch_messages_used_ < kSubmissionEntries && kScratchIovecs - scratch_iovecs_used_ >= IOV_MAX;
    }

    msghdr* scratch_message() noexcept
    {
        msghdr* message = &scratch_messages_[scratch_messages_used_++];
        *message = msghdr{};
        return message;
    }

    int submit() noexcept
    {
        int result;
        do
        {
            result = sys::io_uring_submit(&ring_);
        } while (result == -EINTR);
        return result;
    }

    // Until the submission queue is empty. A ring whose completion queue is full refuses
    // (EBUSY): its completions are put aside for the next poll to make room. A ring that still
    // refuses after that is broken and never submits anything again.
    void submit_everything() noexcept
    {
        for (int attempt = 0; io_uring_sq_ready(&ring_) != 0 && attempt < kSubmitAttempts; ++attempt)
        {
            const int result = submit();
            if (result == -EBUSY || result == -EAGAIN)
                stash_completions();
        }
        release_scratch();
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

    // When synchronous cancellation fails (no memory for it), an ASYNC_CANCEL entry does the
    // same. It is submitted at once: the kernel looks the operation up while submitting, before
    // its address could be reused by another operation. If even that cannot be queued the
    // operation ends by itself (its data, its deadline's successor or the close).
    void cancel_asynchronously(Op& op) noexcept
    {
        io_uring_sqe* sqe = get_sqe();
        if (sqe == nullptr)
            return;
        io_uring_prep_cancel64(sqe, reinterpret_cast<uint64_t>(&op), 0);
        io_uring_sqe_set_data64(sqe, kCancelTag);
        submit_everything();
    }

    bool cancel_synchronously(io_uring_sync_cancel_reg reg) noexcept
    {
        int result;
        do
        {
            result = sys::io_uring_register_sync_cancel(&ring_, &reg);
        } while (result == -EINTR);
        return result >= 0 || result == -ENOENT;
    }

    // Last resort when synchronous cancellation fails: shut the socket down (which ends any
    // pending operation) and take completions from the ring until the handle's operations
    // have come back, putting everything aside for the next poll. Those already taken from the
    // ring (handed to the loop by the last poll and not dispatched yet, or put aside) are
    // looked at first: their completion will not come again.
    void await_reports(Handle& handle) noexcept
    {
        sys::shutdown(handle.fd, SHUT_RDWR);
        Op* awaited[2] = {handle.in_flight[kReads], handle.in_flight[kWrites]};
        for (size_t i = 0; i < handed_count_; ++i)
            forget(awaited, handed_out_[i].op);
        for (const Report& report : stash_)
            forget(awaited, report.op);
        while (awaited[kReads] != nullptr || awaited[kWrites] != nullptr)
        {
            io_uring_cqe* cqe;
            const int waited = sys::io_uring_wait_cqe(&ring_, &cqe);
            if (waited == -EINTR || waited == -EAGAIN)
                continue;
            if (waited != 0)
                return;  // the ring itself is broken: nothing more can be learnt from it
            Op* op = nullptr;
            if (!take(cqe, op))
                return;  // no memory to keep it: it stays in the ring for the next poll
            forget(awaited, op);
        }
    }

    static void forget(Op* (&awaited)[2], Op* op) noexcept
    {
        for (Op*& one : awaited)
            if (one == op)
                one = nullptr;
    }

    // Moves one completion from the ring to the stash (op: its operation, nullptr for the
    // wake-up). False when there was no memory to keep it: it is then left in the ring.
    bool take(io_uring_cqe* cqe, Op*& op) noexcept
    {
        const uint64_t data = cqe->user_data;
        if (data == kWakeTag)
        {
            wake_armed_ = false;
        }
        else if (data != kCancelTag)
        {
            op = reinterpret_cast<Op*>(data);
            try
            {
                throw_on_alloc_fault(FaultPoint::stash_alloc);
                stash_.push_back(Report{op, cqe->res});
            }
            catch (...)
            {
                return false;
            }
        }
        io_uring_cqe_seen(&ring_, cqe);
        return true;
    }

    void stash_completions() noexcept
    {
        io_uring_cqe* cqe;
        Op* op = nullptr;
        while (io_uring_peek_cqe(&ring_, &cqe) == 0 && take(cqe, op))
        {
        }
    }

    size_t take_stashed(Report* out, size_t max) noexcept
    {
        const size_t count = stash_.size() < max ? stash_.size() : max;
        for (size_t i = 0; i < count; ++i)
            out[i] = stash_[i];
        stash_.erase(stash_.begin(), stash_.begin() + static_cast<std::ptrdiff_t>(count));
        return count;
    }

    io_uring ring_{};
    bool ring_ready_ = false;
    bool deferred_ = false;  // IORING_SETUP_DEFER_TASKRUN
    bool wake_armed_ = false;
    int wake_fd_ = -1;
    uint64_t wake_value_ = 0;
    std::vector<Report> stash_;  // completions taken from the ring outside poll, in order
    const Report* handed_out_ = nullptr;  // the last poll's reports (see Backend::poll)
    size_t handed_count_ = 0;
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

std::unique_ptr<Backend> make_io_uring_backend() noexcept
{
    if (!io_uring_usable())
        return nullptr;
    std::unique_ptr<UringBackend> backend(inject_fault(FaultPoint::backend_alloc) ? nullptr : new (std::nothrow) UringBackend());
    if (backend == nullptr || !backend->init())
        return nullptr;
    return backend;
}

}  // namespace asock::detail
