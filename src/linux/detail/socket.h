// The async socket behind ASYNC_SOCKET_HANDLE: the handle core (detail/handle.h) and its open.
#pragma once

#include "asock/async_socket.h"
#include "detail/errors.h"
#include "detail/handle.h"

namespace asock::detail {

struct Socket : Handle, OpenNotice
{
    Socket(Engine& e, Loop& l, int handle_fd) noexcept : Handle(HandleKind::socket, e, l, handle_fd) {}

    Item* open_notice() noexcept { return static_cast<OpenNotice*>(this); }

    ON_ASYNC_SOCKET_OPEN_COMPLETE on_open_complete = nullptr;  // set under the mutex by open
    void* on_open_complete_context = nullptr;
};

static_assert(sizeof(Socket) <= 184, "per-socket memory budget (192 bytes with malloc's header)");

inline Socket& socket_of_open_notice(Item* item) noexcept { return static_cast<Socket&>(static_cast<OpenNotice&>(*item)); }

inline ASYNC_SOCKET_HANDLE socket_handle_of(Socket& socket) noexcept { return reinterpret_cast<ASYNC_SOCKET_HANDLE>(&socket); }

// An async socket on loop, already open, for a connected descriptor (TCP_NODELAY is set here
// when tcp).
// nullptr and error on failure: the descriptor is then still the caller's.
Socket* adopt_connected_socket(Loop& loop, int fd, bool tcp, int& error) noexcept;

// Completions of socket operations (loop thread, inside a HandleScope of the socket). Each
// returns false when the operation is not finished and stays first in its queue (to be
// started again), true when it was taken off its queue and completed. Receives and sends are
// inline: they are the hot path of every echo.
bool complete_receive(Loop& loop, Op& op, long result) noexcept;
bool complete_send(Loop& loop, Op& op, long result) noexcept;

// Takes the sends' completed buffers off the first queued send onwards, completing every send
// whose last byte is out. Returns false when a callback closed the socket.
inline bool account_sent(Handle& handle, size_t bytes) noexcept
{
    ItemQueue& sends = handle.queues[kWrites];
    while (!sends.empty())
    {
        Op& op = *as_op(sends.front());
        IoBuffers& io = op.io;
        while (io.count != 0 && bytes >= io.iov->iov_len)
        {
            bytes -= io.iov->iov_len;
            ++io.iov;
            --io.count;
        }
        if (io.count != 0)
        {
            io.iov->iov_base = static_cast<char*>(io.iov->iov_base) + bytes;
            io.iov->iov_len -= bytes;
            return true;
        }
        sends.pop_front();
        const auto callback = op.on_send;
        void* context = op.context;
        op_free(&op);
        callback(context, ASYNC_SOCKET_SEND_OK);
        if (handle.detached)
            return false;
    }
    return true;
}

// A receive ended early (timed out, cancelled) that the system asks to retry has ended.
inline bool ended_early(const Op& op) noexcept { return op.has(Op::kCancelled | Op::kTimedOut); }

bool complete_timed_receive(Loop& loop, Op& op, long result) noexcept;
// Posts a cancel_reads request for the handle (async_socket_linux.cpp): 0, ENOMEM or EBADF.
int cancel_reads_of(Handle& handle) noexcept;

inline bool complete_receive(Loop& loop, Op& op, long result) noexcept
{
    if (result < 0 && is_retry(static_cast<int>(-result)))
    {
        if (!ended_early(op))
            return false;
        result = -ECANCELED;
    }
    // The first of its queue, except one ended early while others were before it.
    op.handle->queues[kReads].remove(&op);
    if (op.has(Op::kTimed))
        return complete_timed_receive(loop, op, result);
    const auto callback = op.on_receive;
    void* context = op.context;
    op_free(&op);
    // A seed receive that a cancel ended: its enum has nothing closer than ABANDONED.
    const ASYNC_SOCKET_RECEIVE_RESULT outcome = result == -ECANCELED && ended_early(op) ? ASYNC_SOCKET_RECEIVE_ABANDONED : receive_result_for(result);
    callback(context, outcome, outcome == ASYNC_SOCKET_RECEIVE_OK ? static_cast<uint32_t>(result) : 0);
    return true;
}

// A send's report counts the bytes written from the queued sends, the first one onwards.
inline bool complete_send(Loop&, Op& op, long result) noexcept
{
    Handle& handle = *op.handle;
    if (result >= 0)
    {
        account_sent(handle, static_cast<size_t>(result));
        return true;
    }
    if (is_retry(static_cast<int>(-result)))
        return false;
    // The stream now has a gap: this send and every later one fail alike (Loop::start_next).
    handle.write_failure = static_cast<uint8_t>(1 + send_result_for_error(static_cast<int>(-result)));
    return true;
}


// The operation ended by a close: completed ABANDONED (whatever its kind).
void complete_abandoned(Op& op) noexcept;
// A send that a failure before it left unsent: completed with that failure.
void complete_failed_send(Op& op, uint8_t failure) noexcept;

}  // namespace asock::detail
