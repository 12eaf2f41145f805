// The interface every Linux I/O backend implements (one per file: epoll_backend.cpp,
// io_uring_backend.cpp); the engine picks one at run time.
//
// A backend executes operations and reports what happened; the loop owns the queues, the
// state machine and the callbacks, and decides. The loop hands over an operation with start;
// the backend either finishes it at once (done, with its result), takes it (pending: it will
// report it exactly once from a later poll, as {op, result}), or cannot take it now (busy: the
// loop tries again in its next iteration). The result of an operation is what the system call
// returns: bytes, 0, an accepted descriptor, or -errno. What a backend keeps per handle is its
// own (Handle::backend_data), and it never calls back into the loop.
//
// Everything runs on the loop's thread except attach and wake.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "asock/execution_engine_linux.h"

namespace asock::detail {

struct Handle;
struct Op;

// One completed operation.
struct Report
{
    Op* op;
    long result;
};

enum class Start : uint8_t
{
    pending,  // the backend holds the operation: a poll reports it
    done,     // finished now: the result is in the out-parameter, nothing is reported
    busy,     // not taken: try again in the next iteration
};

class Backend
{
public:
    virtual ~Backend() = default;

    // The loop's thread begins its run: a backend whose kernel objects are bound to the thread
    // that uses them finishes setting them up here (false: it could not, and the loop does not
    // start).
    virtual bool thread_started() noexcept { return true; }

    // The flags (SOCK_NONBLOCK or 0) of the sockets this backend works with when asock makes
    // them itself (listeners, connects).
    virtual int socket_flags() const noexcept = 0;

    // Prepares a handle's descriptor for operations (called once it is usable: a socket opened,
    // a listener created, a connect that succeeded). Any thread, before the loop can see the
    // handle. Returns 0 or an errno value.
    virtual int attach(Handle& handle) noexcept = 0;

    // The handle is closing, its descriptor still open. On return the kernel holds no reference
    // to any buffer of the handle's operations, no event of the handle will be seen any more,
    // and no operation of the handle is prepared but unsubmitted. Returns the directions
    // (1 << Direction) whose operation in flight the backend will still report (exactly once);
    // the loop has the others back.
    virtual unsigned detach(Handle& handle) noexcept = 0;

    // Starts op, the first operation of its queue (a send gathers the sends queued after it and
    // reports the bytes written from them all).
    virtual Start start(Op& op, long& result) noexcept = 0;

    // Ends a pending operation early (its deadline passed). It is then reported, with
    // -ECANCELED unless it completed first (pending), or it ended now (done, with the result,
    // and will not be reported).
    virtual Start cancel(Op& op, long& result) noexcept = 0;

    // Submits what start prepared, waits up to timeout_ns (-1: no limit; 0: not at all) unless
    // something is already there, and fills out with up to max operations that completed.
    // Returns their count (a wake-up reports nothing). The loop sets each report's op to
    // nullptr before it dispatches it, so that until the next poll the backend can tell
    // which of these reports are still to come.
    virtual size_t poll(int64_t timeout_ns, Report* out, size_t max) noexcept = 0;

    // Makes a poll in progress or about to start return. Any thread.
    virtual void wake() noexcept = 0;
};

// Factories, one per backend file. nullptr when the backend cannot run here.
std::unique_ptr<Backend> make_epoll_backend() noexcept;
std::unique_ptr<Backend> make_io_uring_backend() noexcept;
bool io_uring_usable() noexcept;

}  // namespace asock::detail
