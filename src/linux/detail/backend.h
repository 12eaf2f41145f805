// The small interface every I/O backend implements. One backend per file; the engine picks
// one at run time (Linux: io_uring or epoll).
//
// A backend moves bytes for the operations queued on a socket and reports results to its
// loop (Loop::complete_receive, Loop::complete_sent_bytes, Loop::fail_sends); the loop owns
// the queues, the state machine and the callbacks. Everything but attach and wake runs on the
// loop's thread.
#pragma once

#include <memory>

#include "asock/execution_engine_linux.h"

namespace asock::detail {

class Loop;
struct Socket;

class Backend
{
public:
    virtual ~Backend() = default;

    // Prepares the socket for I/O when it opens. Any thread. Returns 0 or an errno value.
    virtual int attach(Socket& socket) noexcept = 0;

    // Called once when the socket closes, before its handle is closed. On return the kernel
    // holds no reference to any of the socket's buffers and no event of this socket will be
    // dispatched any more.
    virtual void detach(Socket& socket) noexcept = 0;

    // Starts (or continues) I/O for the socket's queued operations. May complete some of
    // them, running their callbacks.
    virtual void flush(Socket& socket) noexcept = 0;

    // Waits for I/O (unless block is false) and dispatches what completed. Returns true when
    // it dispatched anything (a completion, an event or a wake-up).
    virtual bool poll(bool block) noexcept = 0;

    // Makes a poll(true) in progress or about to start return. Any thread.
    virtual void wake() noexcept = 0;

    // The loop's thread begins and ends its run: a backend whose kernel objects are bound to
    // the thread that uses them finishes setting them up here, and settles them at the end.
    virtual void thread_started() noexcept {}
    virtual void thread_ending() noexcept {}
};

// Factories, one per backend file. nullptr when the backend cannot run here.
std::unique_ptr<Backend> make_epoll_backend(Loop& loop) noexcept;
std::unique_ptr<Backend> make_io_uring_backend(Loop& loop) noexcept;
bool io_uring_usable() noexcept;

}  // namespace asock::detail
