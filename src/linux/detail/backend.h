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
struct Listener;
struct Connect;

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
    // the thread that uses them finishes setting them up here (false: it could not, and the
    // loop does not start), and settles them at the end.
    virtual bool thread_started() noexcept { return true; }
    virtual void thread_ending() noexcept {}

    // --- Listeners and connects (detail/net.h). Their events and completions carry a tagged
    // address (net_tag) so that the dispatch tells them from sockets' and operations' at the
    // cost of one bit test.

    // The flags (SOCK_NONBLOCK or 0) of the listening and connecting sockets this backend
    // works with.
    virtual int socket_flags() const noexcept = 0;
    // Prepares a listening socket for accepts. Any thread. Returns 0 or an errno value.
    virtual int attach_listener(Listener& listener) noexcept = 0;
    // As detach, for a listener, before its handle is closed: on return the kernel holds no
    // accept of it that could still hand over a connection, and no event of it is dispatched.
    virtual void detach_listener(Listener& listener) noexcept = 0;
    // Starts accepting for the listener's waiting accept requests. May complete some.
    virtual void flush_listener(Listener& listener) noexcept = 0;
    // Starts a connect, which ends in connect_finished (maybe before this returns).
    virtual void start_connect(Connect& connect) noexcept = 0;
};

// Factories, one per backend file. nullptr when the backend cannot run here.
std::unique_ptr<Backend> make_epoll_backend(Loop& loop) noexcept;
std::unique_ptr<Backend> make_io_uring_backend(Loop& loop) noexcept;
bool io_uring_usable() noexcept;

}  // namespace asock::detail
