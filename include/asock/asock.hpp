// asock's C++20 API: RAII engine, socket, listener and timer, completion handlers of any
// move-only callable, and coroutine awaitables, with timeouts and std::stop_token cancellation.
// A thin layer over the C API (async_socket.h, async_socket_listener.h, async_timer.h,
// async_socket_deadline.h, async_resolve.h, async_socket_unix.h): the same machinery, the same
// contract (every accepted operation completes exactly once; close completes the pending ones
// with result::abandoned, except on Windows, see below; no handler runs after close returns,
// except one that is itself closing).
//
// Windows: the C API there follows the seed, whose I/O ended by a close completes with ERROR.
// So the sends and receives that socket::close (or ~socket) completes end with result::error,
// not result::abandoned; a receive ended by the peer closing is still result::abandoned, and
// the accepts a listener's close completes are result::abandoned as on Linux. An open
// completes inside open() (the handler runs, or the coroutine resumes, in the caller's thread).
// A receive with a timeout or a stop token is abandoned by a close on both platforms.
//
//   asock::task serve(asock::engine& engine, asock::listener& server, std::stop_token stop)
//   {
//       for (;;)
//       {
//           asock::connection c = co_await server.accept(stop);       // result::cancelled on stop
//           if (!c)
//               co_return;
//           std::array<std::byte, 1024> buffer;
//           asock::io_result r = co_await c.socket.receive(buffer, 5s, stop);
//           if (r.status == asock::result::timed_out)                 // idle for 5 s: drop it
//               continue;
//           if (r)
//               co_await c.socket.send(std::span(buffer).first(r.bytes));
//           co_await asock::sleep(engine, 10ms, stop);                // a timer per sleep
//       }
//   }
//
//   asock::timer t(engine);                                          // one timer, many waits
//   t.async_wait(250ms, [](std::error_code e) { /* e: empty when it fired, else cancelled */ });
//   t.cancel();
//   std::error_code e = co_await t.wait(1s, stop);
//   asock::resolve_result names = co_await asock::resolve(engine, "localhost", "443");
//   asock::connection out = co_await asock::connect_by_name(engine, "localhost", 443, 2s, stop);
//
// Handlers run on an engine thread and must not throw (an exception escaping one ends the
// program, as it would escape a C callback). A named (lvalue) handler is copied, a temporary
// moved; a copy that throws propagates out of the call, which then has started nothing.
//
// Stopping an awaitable (receive, accept, connect, connect_by_name, resolve, sleep, timer wait)
// with a std::stop_token: a stop requested before the co_await starts nothing (the coroutine
// continues at once, on its own thread, with result::cancelled); one requested while it is
// suspended cancels the operation, which completes exactly once, cancelled unless it completed
// otherwise first (data received first, say), and the coroutine resumes exactly once. A stopped
// receive cancels EVERY receive pending on that socket (async_socket_cancel_receives); a stopped
// accept every accept pending on that listener. The stop callback is removed before the
// coroutine resumes, so it never runs after that.
//
// A coroutine suspended in an awaitable of this API must not be destroyed before it resumes:
// the pending operation holds a pointer into its frame, and would complete into freed memory
// (a use-after-free). To stop it, request a stop on its token (or close the socket or the
// listener) and let it resume. A handler of up to kSmallHandler bytes and of the
// default alignment (kSmallHandlerAlignment, 16 on x86-64) is kept in memory recycled by the
// library, so steady-state operations do not touch the heap; a larger or over-aligned one gets
// heap memory of its size and alignment.
#pragma once

#include <atomic>
#include <cerrno>
#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <stop_token>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "asock/async_cancellation.h"
#include "asock/async_resolve.h"
#include "asock/async_socket.h"
#include "asock/async_socket_deadline.h"
#include "asock/async_socket_listener.h"
#include "asock/async_socket_unix.h"
#include "asock/async_timer.h"
#include "asock/execution_engine.h"

namespace asock {

// --- Results ---------------------------------------------------------------------------------

// How an operation ended. error: the system failed it (the connection broke, say), or, on
// Windows, the socket was closed; abandoned: the socket was closed (Linux), or the peer
// closed or reset the connection (a timer: it was destroyed while it waited);
// invalid_argument: refused before it started, for buffers the C API cannot take (one buffer,
// or the buffers of the operation together, over UINT32_MAX bytes). Never truncated.
// timed_out: a receive's timeout (or a resolve's) passed with no byte (no answer); the socket
// stays open. cancelled: a stop token, cancel_receives, cancel_accepts or timer::cancel ended
// it. name_not_found: resolve or connect_by_name, the name has no address.
enum class result
{
    ok,
    error,
    abandoned,
    invalid_argument,
    timed_out,
    cancelled,
    name_not_found,
};

// The "asock" error category: the results other than ok as error codes. The codes of
// result::invalid_argument, timed_out and cancelled compare equal to std::errc::invalid_argument,
// timed_out and operation_canceled.
const std::error_category& category() noexcept;
inline std::error_code make_error_code(result value) noexcept { return {static_cast<int>(value), category()}; }

// What a send, receive or open completes with.
struct io_result
{
    result status = result::ok;
    std::size_t bytes = 0;  // receive: bytes received; send: bytes sent (all of them when ok)

    explicit operator bool() const noexcept { return status == result::ok; }
    std::error_code error() const noexcept { return status == result::ok ? std::error_code{} : make_error_code(status); }
};

// A buffer descriptor, the C API's own: {pointer, length}. Its length has 32 bits.
using buffer = ASYNC_SOCKET_BUFFER;

namespace detail {

// The C API's limit: an operation's buffers hold at most UINT32_MAX bytes, together and so
// each. The C++ API refuses larger ones (std::errc::invalid_argument) and never cuts them.
inline bool fits_c_length(std::size_t bytes) noexcept { return static_cast<std::uint64_t>(bytes) <= UINT32_MAX; }

inline std::uint64_t total_length(std::span<const buffer> buffers) noexcept
{
    std::uint64_t total = 0;
    for (const buffer& b : buffers)
        total += b.length;
    return total;
}

inline bool fits_c_length(std::span<const buffer> buffers, std::uint64_t total) noexcept { return buffers.size() <= UINT32_MAX && total <= UINT32_MAX; }
inline bool fits_c_length(std::span<const buffer> buffers) noexcept { return fits_c_length(buffers, total_length(buffers)); }

// A span as a buffer, for a span that fits_c_length. The library never writes through a
// send's buffers, hence the const_cast.
inline buffer as_buffer(std::span<const std::byte> bytes) noexcept { return buffer{const_cast<std::byte*>(bytes.data()), static_cast<std::uint32_t>(bytes.size())}; }

}  // namespace detail

// A span as a buffer. Throws std::length_error for a span over UINT32_MAX bytes, which a
// buffer cannot describe.
inline buffer make_buffer(std::span<const std::byte> bytes)
{
    if (!detail::fits_c_length(bytes.size()))
        throw std::length_error("asock::make_buffer: a buffer holds at most UINT32_MAX bytes");
    return detail::as_buffer(bytes);
}
inline buffer make_buffer(std::span<std::byte> bytes) { return make_buffer(std::span<const std::byte>(bytes)); }

namespace detail {

// Memory for handlers: recycled (library-owned, per-thread caches) for sizes up to
// kSmallHandler and alignments up to kSmallHandlerAlignment, the heap otherwise (aligned
// operator new beyond that alignment). nullptr when out of memory. Deallocation takes the
// size and alignment of the allocation, which choose the same path.
inline constexpr std::size_t kSmallHandler = 96;
inline constexpr std::size_t kSmallHandlerAlignment = __STDCPP_DEFAULT_NEW_ALIGNMENT__;
void* handler_allocate(std::size_t size, std::size_t alignment) noexcept;
void handler_deallocate(void* memory, std::size_t size, std::size_t alignment) noexcept;

inline result from_c(ASYNC_SOCKET_SEND_RESULT value) noexcept
{
    return value == ASYNC_SOCKET_SEND_OK ? result::ok : value == ASYNC_SOCKET_SEND_ABANDONED ? result::abandoned : result::error;
}
inline result from_c(ASYNC_SOCKET_RECEIVE_RESULT value) noexcept
{
    return value == ASYNC_SOCKET_RECEIVE_OK ? result::ok : value == ASYNC_SOCKET_RECEIVE_ABANDONED ? result::abandoned : result::error;
}
inline result from_c(ASYNC_SOCKET_OPEN_RESULT value) noexcept { return value == ASYNC_SOCKET_OPEN_OK ? result::ok : result::error; }
inline result from_c(ASYNC_SOCKET_RECEIVE_TIMED_RESULT value) noexcept
{
    switch (value)
    {
    case ASYNC_SOCKET_RECEIVE_TIMED_OK:
        return result::ok;
    case ASYNC_SOCKET_RECEIVE_TIMED_ABANDONED:
        return result::abandoned;
    case ASYNC_SOCKET_RECEIVE_TIMED_TIMEOUT:
        return result::timed_out;
    case ASYNC_SOCKET_RECEIVE_TIMED_CANCELLED:
        return result::cancelled;
    default:
        return result::error;
    }
}

// An errno value of the C API as an error code (generic category, so it compares equal to
// std::errc values); fallback when there is none.
inline std::error_code errno_code(int error, result fallback) noexcept
{
    return error != 0 ? std::error_code(error, std::generic_category()) : make_error_code(fallback);
}

// A return of the C API (0 or an errno value) as an error code.
inline std::error_code returned_code(int error) noexcept { return error == 0 ? std::error_code{} : std::error_code(error, std::generic_category()); }

// A timer's delay for the C API: 0 (as soon as the engine can) for a negative one, at most
// UINT32_MAX ms.
inline std::uint32_t delay_ms(std::chrono::milliseconds delay) noexcept
{
    if (delay.count() <= 0)
        return 0;
    return delay.count() >= static_cast<std::chrono::milliseconds::rep>(UINT32_MAX) ? UINT32_MAX : static_cast<std::uint32_t>(delay.count());
}

// A receive's timeout for the C API, where 0 means "none": a timeout that is not positive (a
// deadline already passed) becomes the shortest one, 1 ms, never "none".
inline std::uint32_t receive_timeout_ms(std::chrono::milliseconds timeout) noexcept { return delay_ms(timeout) == 0 ? 1 : delay_ms(timeout); }

// --- Stoppable awaitables --------------------------------------------------------------------
//
// The handshake of an awaitable that a std::stop_token can stop. Three parties: await_suspend
// (the awaiting thread, which starts the operation), the operation's completion (an engine
// thread) and the stop callback (the thread that requests the stop). One atomic word decides:
// - who cancels: the stop callback, once await_suspend has published the start (kStarted);
//   before that, await_suspend itself, when it sees kStop as it publishes. Never both.
// - who resumes: the completion first removes the stop callback (std::stop_callback's
//   destructor waits for one running on another thread), so that no stop callback runs after
//   the coroutine resumed; then it resumes the coroutine if the start was published. If not,
//   await_suspend sees kDone when it publishes and returns false: the coroutine continues on
//   the awaiting thread, never resumed inside await_suspend.
// - what may be freed: nothing a cancel uses (a timer, a cancellation) before the coroutine
//   resumed; derived awaitables free such things in their destructors.
// A stop requested before await_suspend registers the callback runs it at once, inside the
// registration: then nothing is started and the coroutine continues with its "cancelled"
// outcome. Derived provides start() (false when refused, its outcome set), cancel() and
// set_cancelled(), and calls finish() from its completion once its outcome is set.
template <typename Derived>
class stoppable
{
public:
    explicit stoppable(std::stop_token stop) noexcept : stop_(std::move(stop)) {}
    stoppable(const stoppable&) = delete;
    stoppable& operator=(const stoppable&) = delete;

    bool await_ready() const noexcept { return false; }

    bool await_suspend(std::coroutine_handle<> coroutine) noexcept
    {
        waiter_ = coroutine;
        if (stop_.stop_possible())
            stop_callback_.emplace(stop_, stopper{this});
        if ((state_.load(std::memory_order_acquire) & kStop) != 0)
        {
            stop_callback_.reset();
            self().set_cancelled();
            return false;
        }
        if (!self().start())
        {
            stop_callback_.reset();
            return false;
        }
        return publish_start();
    }

protected:
    ~stoppable() = default;

    // Whether a stop can come: an awaitable that needs an object to cancel with (a
    // cancellation) makes it only then.
    bool stop_possible() const noexcept { return stop_.stop_possible(); }

    // The completion's end, once the outcome is set.
    void finish() noexcept
    {
        stop_callback_.reset();
        if ((state_.fetch_or(kDone, std::memory_order_acq_rel) & kStarted) != 0)
            waiter_.resume();
    }

private:
    static constexpr unsigned kStop = 1;       // the stop callback ran
    static constexpr unsigned kCancelled = 2;  // await_suspend cancelled for it
    static constexpr unsigned kStarted = 4;    // await_suspend published the start
    static constexpr unsigned kDone = 8;       // the completion came

    struct stopper
    {
        stoppable* awaitable;
        void operator()() const noexcept { awaitable->on_stop(); }
    };

    Derived& self() noexcept { return static_cast<Derived&>(*this); }

    void on_stop() noexcept
    {
        if ((state_.fetch_or(kStop, std::memory_order_acq_rel) & kStarted) != 0)
            self().cancel();
    }

    // True when the coroutine stays suspended (the completion will resume it). A stop that
    // came before the publication is cancelled here (unless the operation is already done:
    // a cancel then could only end someone else's operation).
    bool publish_start() noexcept
    {
        unsigned state = state_.load(std::memory_order_acquire);
        for (;;)
        {
            if ((state & (kStop | kCancelled | kDone)) == kStop)
            {
                self().cancel();
                state = state_.fetch_or(kCancelled, std::memory_order_acq_rel) | kCancelled;
                continue;
            }
            if (state_.compare_exchange_weak(state, state | kStarted, std::memory_order_acq_rel, std::memory_order_acquire))
                return (state & kDone) == 0;
        }
    }

    std::stop_token stop_;
    std::coroutine_handle<> waiter_{};
    std::atomic<unsigned> state_{0};
    std::optional<std::stop_callback<stopper>> stop_callback_;
};

// A handler moved into library memory; each trampoline takes it out (freeing the memory
// before the call, so that the handler can start the next operation in the same block) and
// calls it with the io_result.
template <typename Handler>
struct stored_handler
{
    Handler handler;
    std::size_t bytes;  // what a send completes with when ok

    static stored_handler* make(Handler&& h, std::size_t sent) noexcept
    {
        void* memory = handler_allocate(sizeof(stored_handler), alignof(stored_handler));
        return memory == nullptr ? nullptr : new (memory) stored_handler{std::move(h), sent};
    }

    static void run(void* context, io_result r) noexcept
    {
        auto* self = static_cast<stored_handler*>(context);
        Handler handler = std::move(self->handler);
        self->~stored_handler();
        handler_deallocate(self, sizeof(stored_handler), alignof(stored_handler));
        std::move(handler)(r);
    }

    static void on_send(void* context, ASYNC_SOCKET_SEND_RESULT r) noexcept
    {
        const std::size_t sent = static_cast<stored_handler*>(context)->bytes;
        run(context, io_result{from_c(r), r == ASYNC_SOCKET_SEND_OK ? sent : 0});
    }
    static void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT r, std::uint32_t received) noexcept { run(context, io_result{from_c(r), received}); }
    static void on_receive_timed(void* context, ASYNC_SOCKET_RECEIVE_TIMED_RESULT r, std::uint32_t received) noexcept { run(context, io_result{from_c(r), received}); }
    static void on_open(void* context, ASYNC_SOCKET_OPEN_RESULT r) noexcept { run(context, io_result{from_c(r), 0}); }

    // Destroys a handler the library refused (it will never be called).
    static void discard(stored_handler* self) noexcept
    {
        self->~stored_handler();
        handler_deallocate(self, sizeof(stored_handler), alignof(stored_handler));
    }
};

// A handler as the public functions take it: a temporary (moved into the library's memory)
// or a named one (copied, so it must be copyable).
template <typename F>
concept completion_handler =
    std::is_nothrow_move_constructible_v<std::decay_t<F>> && std::is_constructible_v<std::decay_t<F>, F> && std::is_invocable_v<std::decay_t<F>&&, io_result>;

// The handler to move into the library's memory: a temporary as it is; a named (or const) one
// copied, here, before anything is allocated or started, so that a copy that throws leaves
// nothing behind (the library's own code, which must not throw, only moves).
template <typename H>
decltype(auto) owned(H&& handler)
{
    if constexpr (std::is_same_v<H, std::decay_t<H>>)
        return static_cast<H&&>(handler);
    else
        return std::decay_t<H>(handler);
}

}  // namespace detail

// --- engine ----------------------------------------------------------------------------------

// The threads that run I/O and handlers (execution_engine). Move-only; the last reference
// (this object and every socket created on it) stops the threads.
class engine
{
public:
    // threads loop threads (at least 1). Throws std::system_error when the engine cannot start.
    explicit engine(std::uint32_t threads = 1);
    // Adopts a reference of the C API (does not add one).
    static engine adopt(EXECUTION_ENGINE_HANDLE handle) noexcept { return engine(handle); }

    engine(engine&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    engine& operator=(engine&& other) noexcept
    {
        std::swap(handle_, other.handle_);
        return *this;
    }
    engine(const engine&) = delete;
    engine& operator=(const engine&) = delete;
    ~engine() { execution_engine_dec_ref(handle_); }

    EXECUTION_ENGINE_HANDLE native_handle() const noexcept { return handle_; }

private:
    explicit engine(EXECUTION_ENGINE_HANDLE handle) noexcept : handle_(handle) {}
    EXECUTION_ENGINE_HANDLE handle_ = nullptr;
};

// --- timer -----------------------------------------------------------------------------------

namespace detail {

// What a timer's wait completes with: nothing when it fired; result::cancelled (timer::cancel, a
// restart, a stop); result::abandoned (the timer was destroyed).
inline std::error_code timer_outcome(ASYNC_TIMER_RESULT value) noexcept
{
    if (value == ASYNC_TIMER_FIRED)
        return {};
    return make_error_code(value == ASYNC_TIMER_CANCELLED ? result::cancelled : result::abandoned);
}

// As completion_handler, for a timer's handlers: void(std::error_code).
template <typename F>
concept timer_handler =
    std::is_nothrow_move_constructible_v<std::decay_t<F>> && std::is_constructible_v<std::decay_t<F>, F> && std::is_invocable_v<std::decay_t<F>&&, std::error_code>;

// As stored_handler, for a timer's handlers.
template <typename Handler>
struct stored_timer_handler
{
    Handler handler;

    static stored_timer_handler* make(Handler&& h) noexcept
    {
        void* memory = handler_allocate(sizeof(stored_timer_handler), alignof(stored_timer_handler));
        return memory == nullptr ? nullptr : new (memory) stored_timer_handler{std::move(h)};
    }

    static void on_timer(void* context, ASYNC_TIMER_RESULT r) noexcept
    {
        auto* self = static_cast<stored_timer_handler*>(context);
        Handler handler = std::move(self->handler);
        discard(self);
        std::move(handler)(timer_outcome(r));
    }

    static void discard(stored_timer_handler* self) noexcept
    {
        self->~stored_timer_handler();
        handler_deallocate(self, sizeof(stored_timer_handler), alignof(stored_timer_handler));
    }
};

// co_await timer.wait(...) and co_await asock::sleep(...): yields the wait's std::error_code.
// A sleep (engine set) makes its own timer when awaited and destroys it with the awaitable,
// after the coroutine resumed (from inside the timer's callback, which the C API allows).
class timer_awaitable : public stoppable<timer_awaitable>
{
public:
    timer_awaitable(ASYNC_TIMER_HANDLE timer, EXECUTION_ENGINE_HANDLE engine, std::uint32_t delay, std::stop_token stop) noexcept
        : stoppable(std::move(stop)), timer_(timer), engine_(engine), delay_(delay)
    {
    }
    ~timer_awaitable()
    {
        if (engine_ != nullptr)
            async_timer_destroy(timer_);
    }

    std::error_code await_resume() const noexcept { return outcome_; }

private:
    friend stoppable;

    bool start() noexcept
    {
        if (engine_ != nullptr && (timer_ = async_timer_create(engine_)) == nullptr)
            return refuse(std::make_error_code(std::errc::not_enough_memory));
        const int refused = async_timer_start(timer_, delay_, &on_timer, this);
        return refused == 0 || refuse(errno_code(refused, result::error));
    }
    bool refuse(std::error_code error) noexcept
    {
        outcome_ = error;
        return false;
    }
    void cancel() noexcept { (void)async_timer_cancel(timer_); }
    void set_cancelled() noexcept { outcome_ = make_error_code(result::cancelled); }

    static void on_timer(void* context, ASYNC_TIMER_RESULT r) noexcept
    {
        auto* self = static_cast<timer_awaitable*>(context);
        self->outcome_ = timer_outcome(r);
        self->finish();
    }

    ASYNC_TIMER_HANDLE timer_;
    EXECUTION_ENGINE_HANDLE engine_;  // a sleep's: the engine to make the timer on
    std::uint32_t delay_;
    std::error_code outcome_;
};

}  // namespace detail

// A timer on an engine (async_timer.h): one wait at a time; starting one while another is
// pending completes that one with result::cancelled. Move-only; the destructor completes a
// pending wait with result::abandoned and returns when no handler of the timer runs (except
// one that destroys its own timer). Delays are whole milliseconds, never shorter.
class timer
{
public:
    timer() noexcept = default;
    // Throws std::system_error (std::errc::not_enough_memory) when the timer cannot be made.
    explicit timer(engine& e);

    timer(timer&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    timer& operator=(timer&& other) noexcept
    {
        std::swap(handle_, other.handle_);
        return *this;
    }
    timer(const timer&) = delete;
    timer& operator=(const timer&) = delete;
    ~timer() { async_timer_destroy(handle_); }

    ASYNC_TIMER_HANDLE native_handle() const noexcept { return handle_; }
    explicit operator bool() const noexcept { return handle_ != nullptr; }

    // handler(std::error_code) runs once on an engine thread, delay after this call (0 or less:
    // as soon as the engine can): an empty error when it fired, else result::cancelled or
    // result::abandoned. Any nothrow-movable callable (a named one is copied, a temporary
    // moved). An error returned (std::errc::invalid_argument for an empty timer,
    // not_enough_memory) means nothing started and the handler will not run.
    template <detail::timer_handler Handler>
    std::error_code async_wait(std::chrono::milliseconds delay, Handler&& handler)
    {
        return async_wait_with(detail::delay_ms(delay), detail::owned(std::forward<Handler>(handler)));
    }

    // co_await yields the wait's std::error_code, as async_wait's handler gets it; a stop on
    // stop cancels it (result::cancelled unless it fired first).
    detail::timer_awaitable wait(std::chrono::milliseconds delay, std::stop_token stop = {}) noexcept
    {
        return detail::timer_awaitable(handle_, nullptr, detail::delay_ms(delay), std::move(stop));
    }

    // The pending wait, if any, completes with result::cancelled (unless it fired first). Never
    // calls a handler inside. An error: std::errc::invalid_argument (an empty timer),
    // not_enough_memory (nothing changed).
    std::error_code cancel() noexcept { return detail::returned_code(async_timer_cancel(handle_)); }

private:
    template <typename Handler>
    std::error_code async_wait_with(std::uint32_t delay, Handler&& handler) noexcept
    {
        using stored = detail::stored_timer_handler<Handler>;
        if (handle_ == nullptr)
            return std::make_error_code(std::errc::invalid_argument);
        stored* h = stored::make(std::move(handler));
        if (h == nullptr)
            return std::make_error_code(std::errc::not_enough_memory);
        const int refused = async_timer_start(handle_, delay, &stored::on_timer, h);
        if (refused == 0)
            return {};
        stored::discard(h);
        return detail::errno_code(refused, result::error);
    }

    ASYNC_TIMER_HANDLE handle_ = nullptr;
};

// co_await asock::sleep(engine, delay[, stop]) yields an empty std::error_code after delay (at
// least), or result::cancelled when stopped first; std::errc::not_enough_memory when its timer
// could not be made. Each sleep makes (and frees) a timer: a loop that sleeps often can
// reuse one asock::timer instead.
inline detail::timer_awaitable sleep(engine& e, std::chrono::milliseconds delay, std::stop_token stop = {}) noexcept
{
    return detail::timer_awaitable(nullptr, e.native_handle(), detail::delay_ms(delay), std::move(stop));
}

// --- socket ----------------------------------------------------------------------------------

class socket;

namespace detail {

// The awaitables' common part: the coroutine to resume and what to resume it with.
struct awaitable_base
{
    ASYNC_SOCKET_HANDLE socket;
    io_result outcome{};
    std::coroutine_handle<> waiter{};

    bool await_ready() const noexcept { return false; }
    io_result await_resume() const noexcept { return outcome; }

    void complete(io_result r) noexcept
    {
        outcome = r;
        waiter.resume();
    }

    // await_suspend's end for an operation that did not start: resume at once with r.
    bool refuse(result r) noexcept
    {
        outcome = io_result{r, 0};
        return false;
    }
};

struct open_awaitable : awaitable_base
{
    bool await_suspend(std::coroutine_handle<> coroutine) noexcept
    {
        waiter = coroutine;
        if (async_socket_open_async(socket, &on_open, this) == 0)
            return true;  // may already have been resumed: touch nothing of this here
        return refuse(result::error);
    }
    static void on_open(void* self, ASYNC_SOCKET_OPEN_RESULT r) noexcept { static_cast<open_awaitable*>(self)->complete({from_c(r), 0}); }
};

struct send_awaitable : awaitable_base
{
    std::span<const buffer> buffers;
    std::uint64_t total = 0;

    bool await_suspend(std::coroutine_handle<> coroutine) noexcept
    {
        waiter = coroutine;
        if (!fits_c_length(buffers, total))
            return refuse(result::invalid_argument);
        const ASYNC_SOCKET_SEND_SYNC_RESULT r = async_socket_send_async(socket, buffers.data(), static_cast<std::uint32_t>(buffers.size()), &on_send, this);
        if (r == ASYNC_SOCKET_SEND_SYNC_OK)
            return true;
        return refuse(r == ASYNC_SOCKET_SEND_SYNC_ABANDONED ? result::abandoned : result::error);
    }
    static void on_send(void* context, ASYNC_SOCKET_SEND_RESULT r) noexcept
    {
        auto* self = static_cast<send_awaitable*>(context);
        self->complete({from_c(r), r == ASYNC_SOCKET_SEND_OK ? self->total : 0});
    }
};

struct receive_awaitable : awaitable_base
{
    std::span<const buffer> buffers;

    bool await_suspend(std::coroutine_handle<> coroutine) noexcept
    {
        waiter = coroutine;
        if (!fits_c_length(buffers))
            return refuse(result::invalid_argument);
        if (async_socket_receive_async(socket, const_cast<buffer*>(buffers.data()), static_cast<std::uint32_t>(buffers.size()), &on_receive, this) == 0)
            return true;
        return refuse(result::error);
    }
    static void on_receive(void* self, ASYNC_SOCKET_RECEIVE_RESULT r, std::uint32_t received) noexcept
    {
        static_cast<receive_awaitable*>(self)->complete({from_c(r), received});
    }
};

// The one-buffer forms keep their buffer descriptor inside the awaitable, so that a temporary
// span can be awaited; the span to it is made when the awaitable has reached its final place
// (the coroutine frame), that is, when it is awaited. A span too large for a descriptor is
// refused there.
struct send_one_awaitable : send_awaitable
{
    std::span<const std::byte> bytes;
    buffer one{};

    bool await_suspend(std::coroutine_handle<> coroutine) noexcept
    {
        if (!fits_c_length(bytes.size()))
            return refuse(result::invalid_argument);
        one = as_buffer(bytes);
        buffers = std::span<const buffer>(&one, 1);
        return send_awaitable::await_suspend(coroutine);
    }
};

struct receive_one_awaitable : receive_awaitable
{
    std::span<std::byte> bytes;
    buffer one{};

    bool await_suspend(std::coroutine_handle<> coroutine) noexcept
    {
        if (!fits_c_length(bytes.size()))
            return refuse(result::invalid_argument);
        one = as_buffer(bytes);
        buffers = std::span<const buffer>(&one, 1);
        return receive_awaitable::await_suspend(coroutine);
    }
};

// co_await socket.receive(..., timeout[, stop]) and socket.receive(..., stop): a receive of
// async_socket_receive_timed_async (timeout 0: none), so that a timeout and a stop have results
// of their own. A stop cancels every receive pending on the socket.
class timed_receive_awaitable : public stoppable<timed_receive_awaitable>
{
public:
    timed_receive_awaitable(ASYNC_SOCKET_HANDLE socket, std::span<const buffer> buffers, std::uint32_t timeout, std::stop_token stop) noexcept
        : stoppable(std::move(stop)), socket_(socket), buffers_(buffers), timeout_(timeout)
    {
    }
    // One buffer, kept inside the awaitable (so that a temporary span can be awaited).
    timed_receive_awaitable(ASYNC_SOCKET_HANDLE socket, std::span<std::byte> bytes, std::uint32_t timeout, std::stop_token stop) noexcept
        : stoppable(std::move(stop)), socket_(socket), bytes_(bytes), one_buffer_(true), timeout_(timeout)
    {
    }

    io_result await_resume() const noexcept { return outcome_; }

private:
    friend stoppable;

    bool start() noexcept
    {
        if (one_buffer_ && !fits_c_length(bytes_.size()))
            return refuse(result::invalid_argument);
        if (one_buffer_)
        {
            one_ = as_buffer(bytes_);
            buffers_ = std::span<const buffer>(&one_, 1);
        }
        if (!fits_c_length(buffers_))
            return refuse(result::invalid_argument);
        const int refused = async_socket_receive_timed_async(socket_, const_cast<buffer*>(buffers_.data()), static_cast<std::uint32_t>(buffers_.size()), timeout_, &on_receive, this);
        return refused == 0 || refuse(result::error);
    }
    bool refuse(result r) noexcept
    {
        outcome_ = io_result{r, 0};
        return false;
    }
    void cancel() noexcept { (void)async_socket_cancel_receives(socket_); }
    void set_cancelled() noexcept { outcome_ = io_result{result::cancelled, 0}; }

    static void on_receive(void* context, ASYNC_SOCKET_RECEIVE_TIMED_RESULT r, std::uint32_t received) noexcept
    {
        auto* self = static_cast<timed_receive_awaitable*>(context);
        self->outcome_ = io_result{from_c(r), received};
        self->finish();
    }

    ASYNC_SOCKET_HANDLE socket_;
    std::span<const buffer> buffers_;
    std::span<std::byte> bytes_;
    buffer one_{};
    bool one_buffer_ = false;
    std::uint32_t timeout_;
    io_result outcome_{};
};

}  // namespace detail

// An open-able, connected stream socket (async_socket). Move-only; the destructor closes it
// (completing pending operations with result::abandoned; Windows: result::error) and waits for its handlers, so it
// may not run inside a handler of another socket that this one's handlers wait for.
class socket
{
public:
    socket() noexcept = default;
    // Takes ownership of a connected stream socket handle. Throws std::system_error (and
    // leaves the handle to the caller) when the socket cannot be created.
    socket(engine& e, SOCKET_HANDLE handle);
    // Adopts an async_socket of the C API.
    static socket adopt(ASYNC_SOCKET_HANDLE handle) noexcept { return socket(handle); }

    socket(socket&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    socket& operator=(socket&& other) noexcept
    {
        std::swap(handle_, other.handle_);
        return *this;
    }
    socket(const socket&) = delete;
    socket& operator=(const socket&) = delete;
    ~socket() { async_socket_destroy(handle_); }

    ASYNC_SOCKET_HANDLE native_handle() const noexcept { return handle_; }
    explicit operator bool() const noexcept { return handle_ != nullptr; }

    // Completes every pending operation with result::abandoned (Windows: result::error) and
    // closes the handle.
    void close() noexcept { async_socket_close(handle_); }

    // --- With a completion handler: void(asock::io_result), any nothrow-movable callable (a
    // named one must be copyable: it is copied; a temporary is moved). An error returned
    // means the operation was not started and the handler will not run.

    template <detail::completion_handler Handler>
    std::error_code open(Handler&& handler)
    {
        return open_with(detail::owned(std::forward<Handler>(handler)));
    }

    template <detail::completion_handler Handler>
    std::error_code send(std::span<const buffer> buffers, Handler&& handler)
    {
        return send_with(buffers, detail::owned(std::forward<Handler>(handler)));
    }
    template <detail::completion_handler Handler>
    std::error_code send(std::span<const std::byte> bytes, Handler&& handler)
    {
        if (!detail::fits_c_length(bytes.size()))
            return std::make_error_code(std::errc::invalid_argument);
        const buffer one = detail::as_buffer(bytes);
        return send(std::span<const buffer>(&one, 1), std::forward<Handler>(handler));
    }

    template <detail::completion_handler Handler>
    std::error_code receive(std::span<const buffer> buffers, Handler&& handler)
    {
        return receive_with(buffers, detail::owned(std::forward<Handler>(handler)));
    }
    template <detail::completion_handler Handler>
    std::error_code receive(std::span<std::byte> bytes, Handler&& handler)
    {
        if (!detail::fits_c_length(bytes.size()))
            return std::make_error_code(std::errc::invalid_argument);
        const buffer one = detail::as_buffer(bytes);
        return receive(std::span<const buffer>(&one, 1), std::forward<Handler>(handler));
    }

    // --- Awaitables: co_await yields an io_result (a refused start yields a non-OK one at
    // once). The buffers (and, for the span-of-buffers forms, the array) must live until the
    // operation completes, and so must the awaiting coroutine: destroying it while it is
    // suspended here is a use-after-free. Close the socket and let it resume instead.

    detail::open_awaitable open() noexcept { return detail::open_awaitable{{handle_}}; }

    detail::send_awaitable send(std::span<const buffer> buffers) noexcept { return detail::send_awaitable{{handle_}, buffers, detail::total_length(buffers)}; }
    detail::send_one_awaitable send(std::span<const std::byte> bytes) noexcept { return detail::send_one_awaitable{{{handle_}, {}, bytes.size()}, bytes}; }

    detail::receive_awaitable receive(std::span<const buffer> buffers) noexcept { return detail::receive_awaitable{{handle_}, buffers}; }
    detail::receive_one_awaitable receive(std::span<std::byte> bytes) noexcept { return detail::receive_one_awaitable{{{handle_}, {}}, bytes}; }

    // --- Timeouts and cancellation. A receive given a timeout completes with
    // result::timed_out when no byte arrived within it (a timeout of 0 or less: the shortest,
    // 1 ms); the socket stays open, receive again at will. result::cancelled: cancel_receives,
    // or (awaitables) a stop on stop, which cancels every receive pending on this socket. Bytes
    // that arrived first are never lost: the receive then completes ok with them. A close
    // completes these receives with result::abandoned on every platform.

    template <detail::completion_handler Handler>
    std::error_code receive(std::span<const buffer> buffers, std::chrono::milliseconds timeout, Handler&& handler)
    {
        return receive_timed_with(buffers, detail::receive_timeout_ms(timeout), detail::owned(std::forward<Handler>(handler)));
    }
    template <detail::completion_handler Handler>
    std::error_code receive(std::span<std::byte> bytes, std::chrono::milliseconds timeout, Handler&& handler)
    {
        if (!detail::fits_c_length(bytes.size()))
            return std::make_error_code(std::errc::invalid_argument);
        const buffer one = detail::as_buffer(bytes);
        return receive(std::span<const buffer>(&one, 1), timeout, std::forward<Handler>(handler));
    }

    detail::timed_receive_awaitable receive(std::span<const buffer> buffers, std::chrono::milliseconds timeout, std::stop_token stop = {}) noexcept
    {
        return detail::timed_receive_awaitable(handle_, buffers, detail::receive_timeout_ms(timeout), std::move(stop));
    }
    detail::timed_receive_awaitable receive(std::span<std::byte> bytes, std::chrono::milliseconds timeout, std::stop_token stop = {}) noexcept
    {
        return detail::timed_receive_awaitable(handle_, bytes, detail::receive_timeout_ms(timeout), std::move(stop));
    }
    // Without a timeout, stoppable.
    detail::timed_receive_awaitable receive(std::span<const buffer> buffers, std::stop_token stop) noexcept
    {
        return detail::timed_receive_awaitable(handle_, buffers, 0, std::move(stop));
    }
    detail::timed_receive_awaitable receive(std::span<std::byte> bytes, std::stop_token stop) noexcept
    {
        return detail::timed_receive_awaitable(handle_, bytes, 0, std::move(stop));
    }

    // Every receive pending now completes with result::cancelled (unless it got bytes first;
    // a receive without a timeout, started by the forms above without one, completes with
    // result::abandoned, the seed's enum having no "cancelled"). The socket stays open.
    // An error: std::errc::bad_file_descriptor (not open), not_enough_memory (nothing changed).
    std::error_code cancel_receives() noexcept { return detail::returned_code(async_socket_cancel_receives(handle_)); }

private:
    explicit socket(ASYNC_SOCKET_HANDLE handle) noexcept : handle_(handle) {}

    // The handler forms' work, with a handler to move (Handler is not a reference).
    template <typename Handler>
    std::error_code open_with(Handler&& handler) noexcept
    {
        using stored = detail::stored_handler<Handler>;
        stored* h = stored::make(std::move(handler), 0);
        if (h == nullptr)
            return std::make_error_code(std::errc::not_enough_memory);
        if (async_socket_open_async(handle_, &stored::on_open, h) == 0)
            return {};
        stored::discard(h);
        return make_error_code(result::error);
    }

    template <typename Handler>
    std::error_code send_with(std::span<const buffer> buffers, Handler&& handler) noexcept
    {
        using stored = detail::stored_handler<Handler>;
        const std::uint64_t total = detail::total_length(buffers);
        if (!detail::fits_c_length(buffers, total))
            return std::make_error_code(std::errc::invalid_argument);
        stored* h = stored::make(std::move(handler), total);
        if (h == nullptr)
            return std::make_error_code(std::errc::not_enough_memory);
        const ASYNC_SOCKET_SEND_SYNC_RESULT r = async_socket_send_async(handle_, buffers.data(), static_cast<std::uint32_t>(buffers.size()), &stored::on_send, h);
        if (r == ASYNC_SOCKET_SEND_SYNC_OK)
            return {};
        stored::discard(h);
        return make_error_code(r == ASYNC_SOCKET_SEND_SYNC_ABANDONED ? result::abandoned : result::error);
    }

    template <typename Handler>
    std::error_code receive_with(std::span<const buffer> buffers, Handler&& handler) noexcept
    {
        using stored = detail::stored_handler<Handler>;
        if (!detail::fits_c_length(buffers))
            return std::make_error_code(std::errc::invalid_argument);
        stored* h = stored::make(std::move(handler), 0);
        if (h == nullptr)
            return std::make_error_code(std::errc::not_enough_memory);
        if (async_socket_receive_async(handle_, const_cast<buffer*>(buffers.data()), static_cast<std::uint32_t>(buffers.size()), &stored::on_receive, h) == 0)
            return {};
        stored::discard(h);
        return make_error_code(result::error);
    }

    template <typename Handler>
    std::error_code receive_timed_with(std::span<const buffer> buffers, std::uint32_t timeout, Handler&& handler) noexcept
    {
        using stored = detail::stored_handler<Handler>;
        if (!detail::fits_c_length(buffers))
            return std::make_error_code(std::errc::invalid_argument);
        stored* h = stored::make(std::move(handler), 0);
        if (h == nullptr)
            return std::make_error_code(std::errc::not_enough_memory);
        if (async_socket_receive_timed_async(handle_, const_cast<buffer*>(buffers.data()), static_cast<std::uint32_t>(buffers.size()), timeout, &stored::on_receive_timed, h) == 0)
            return {};
        stored::discard(h);
        return make_error_code(result::error);
    }

    ASYNC_SOCKET_HANDLE handle_ = nullptr;
};

// --- Accept and connect ----------------------------------------------------------------------
//
//   asock::listener server(engine, "::1", 0);                    // port 0: the system picks one
//   asock::connection in = co_await server.accept(stop);         // in.socket: open, connected
//   asock::connection out = co_await asock::connect(engine, "::1", server.port(), 2s, stop);
//   if (out.error == std::errc::connection_refused) ...          // or timed_out, ...
//
// The rules of async_socket_listener.h hold: an accept or connect that started completes
// exactly once; closing (or destroying) the listener completes its pending accepts with
// result::abandoned; cancel_accepts, or a stop, with result::cancelled (the listener keeps
// listening). A connect's timeout bounds it; a stop ends it early with result::cancelled.

// What an accept or a connect completes with: a connected socket, already open, or the reason
// there is none.
struct connection
{
    asock::socket socket;  // open on success, empty otherwise
    // Empty on success. result::abandoned: the listener was closed; result::cancelled: a stop
    // or cancel_accepts; result::name_not_found: connect_by_name's name has no address.
    // Otherwise the system's error (generic category): std::errc::connection_refused,
    // timed_out, network_unreachable, host_unreachable, too_many_files_open, ...
    std::error_code error;

    explicit operator bool() const noexcept { return !error; }
};

namespace detail {

// Why an accept was refused: a closed listener abandons it, as a close abandons a pending one.
inline std::error_code accept_refusal(int error) noexcept { return error == EBADF ? make_error_code(result::abandoned) : errno_code(error, result::error); }

inline connection accepted(ASYNC_SOCKET_ACCEPT_RESULT r, ASYNC_SOCKET_HANDLE s, int error) noexcept
{
    switch (r)
    {
    case ASYNC_SOCKET_ACCEPT_OK:
        return connection{socket::adopt(s), {}};
    case ASYNC_SOCKET_ACCEPT_ABANDONED:
        return connection{{}, make_error_code(result::abandoned)};
    case ASYNC_SOCKET_ACCEPT_CANCELLED:
        return connection{{}, make_error_code(result::cancelled)};
    default:
        return connection{{}, errno_code(error, result::error)};
    }
}

inline connection connected(ASYNC_SOCKET_CONNECT_RESULT r, ASYNC_SOCKET_HANDLE s, int error) noexcept
{
    switch (r)
    {
    case ASYNC_SOCKET_CONNECT_OK:
        return connection{socket::adopt(s), {}};
    case ASYNC_SOCKET_CONNECT_CANCELLED:
        return connection{{}, make_error_code(result::cancelled)};
    case ASYNC_SOCKET_CONNECT_NAME_NOT_FOUND:
        return connection{{}, make_error_code(result::name_not_found)};
    default:
        return connection{{}, errno_code(error, result::error)};
    }
}

// The C API's timeout: at least 1 ms (0 is refused as invalid), at most UINT32_MAX.
inline std::uint32_t timeout_ms(std::chrono::milliseconds timeout) noexcept
{
    if (timeout.count() <= 0)
        return 0;
    return timeout.count() >= static_cast<std::chrono::milliseconds::rep>(UINT32_MAX) ? UINT32_MAX : static_cast<std::uint32_t>(timeout.count());
}

// As stored_handler, for handlers of a connection.
template <typename Handler>
struct stored_connection_handler
{
    Handler handler;

    static stored_connection_handler* make(Handler&& h) noexcept
    {
        void* memory = handler_allocate(sizeof(stored_connection_handler), alignof(stored_connection_handler));
        return memory == nullptr ? nullptr : new (memory) stored_connection_handler{std::move(h)};
    }

    static void run(void* context, connection c) noexcept
    {
        auto* self = static_cast<stored_connection_handler*>(context);
        Handler handler = std::move(self->handler);
        discard(self);
        std::move(handler)(std::move(c));
    }

    static void on_accept(void* context, ASYNC_SOCKET_ACCEPT_RESULT r, ASYNC_SOCKET_HANDLE s, int error) noexcept { run(context, accepted(r, s, error)); }
    static void on_connect(void* context, ASYNC_SOCKET_CONNECT_RESULT r, ASYNC_SOCKET_HANDLE s, int error) noexcept { run(context, connected(r, s, error)); }

    static void discard(stored_connection_handler* self) noexcept
    {
        self->~stored_connection_handler();
        handler_deallocate(self, sizeof(stored_connection_handler), alignof(stored_connection_handler));
    }
};

// As completion_handler, for handlers of a connection.
template <typename F>
concept connection_handler =
    std::is_nothrow_move_constructible_v<std::decay_t<F>> && std::is_constructible_v<std::decay_t<F>, F> && std::is_invocable_v<std::decay_t<F>&&, connection>;

// co_await listener.accept([stop]). A stop cancels every accept pending on the listener.
class accept_awaitable : public stoppable<accept_awaitable>
{
public:
    accept_awaitable(ASYNC_SOCKET_LISTENER_HANDLE listener, std::stop_token stop) noexcept : stoppable(std::move(stop)), listener_(listener) {}

    connection await_resume() noexcept { return std::move(outcome_); }

private:
    friend stoppable;

    bool start() noexcept
    {
        const int refused = async_socket_listener_accept_async(listener_, &on_accept, this);
        if (refused == 0)
            return true;
        outcome_.error = accept_refusal(refused);
        return false;
    }
    void cancel() noexcept { (void)async_socket_listener_cancel_accepts(listener_); }
    void set_cancelled() noexcept { outcome_.error = make_error_code(result::cancelled); }

    static void on_accept(void* context, ASYNC_SOCKET_ACCEPT_RESULT r, ASYNC_SOCKET_HANDLE s, int error) noexcept
    {
        auto* self = static_cast<accept_awaitable*>(context);
        self->outcome_ = accepted(r, s, error);
        self->finish();
    }

    ASYNC_SOCKET_LISTENER_HANDLE listener_;
    connection outcome_{};
};

// What starts a connect of connect_awaitable: a TCP address, a host name, a UNIX path.
struct connect_target
{
    EXECUTION_ENGINE_HANDLE engine = nullptr;
    const char* name = nullptr;  // address, host or path: read when awaited
    std::uint16_t port = 0;
    std::uint32_t timeout = 0;
    // The C function that starts it, with the awaitable's cancellation (NULL without a stop).
    int (*start)(const connect_target&, ASYNC_CANCELLATION_HANDLE, ON_ASYNC_SOCKET_CONNECT_COMPLETE, void*) noexcept = nullptr;
};

inline int start_tcp_connect(const connect_target& t, ASYNC_CANCELLATION_HANDLE c, ON_ASYNC_SOCKET_CONNECT_COMPLETE on_complete, void* context) noexcept
{
    if (c == nullptr)
        return async_socket_connect_async(t.engine, t.name, t.port, t.timeout, on_complete, context);
    return async_socket_connect_cancellable_async(t.engine, t.name, t.port, t.timeout, c, on_complete, context);
}
inline int start_connect_by_name(const connect_target& t, ASYNC_CANCELLATION_HANDLE c, ON_ASYNC_SOCKET_CONNECT_COMPLETE on_complete, void* context) noexcept
{
    return async_socket_connect_by_name_async(t.engine, t.name, t.port, t.timeout, c, on_complete, context);
}
inline int start_unix_connect(const connect_target& t, ASYNC_CANCELLATION_HANDLE c, ON_ASYNC_SOCKET_CONNECT_COMPLETE on_complete, void* context) noexcept
{
    return async_socket_connect_unix_async(t.engine, t.name, t.timeout, c, on_complete, context);
}

// co_await asock::connect(...), connect_by_name(...), connect_unix(...). With a stop token that
// can stop, the connect gets a cancellation of its own (made when awaited, dropped with the
// awaitable), which the stop cancels.
class connect_awaitable : public stoppable<connect_awaitable>
{
public:
    connect_awaitable(const connect_target& target, std::stop_token stop) noexcept : stoppable(std::move(stop)), target_(target) {}
    ~connect_awaitable() { async_cancellation_destroy(cancellation_); }

    connection await_resume() noexcept { return std::move(outcome_); }

private:
    friend stoppable;

    bool start() noexcept
    {
        if (stop_possible() && (cancellation_ = async_cancellation_create()) == nullptr)
            return refuse(ENOMEM);
        const int refused = target_.start(target_, cancellation_, &on_connect, this);
        return refused == 0 || refuse(refused);
    }
    bool refuse(int error) noexcept
    {
        outcome_.error = errno_code(error, result::error);
        return false;
    }
    void cancel() noexcept { async_cancellation_cancel(cancellation_); }
    void set_cancelled() noexcept { outcome_.error = make_error_code(result::cancelled); }

    static void on_connect(void* context, ASYNC_SOCKET_CONNECT_RESULT r, ASYNC_SOCKET_HANDLE s, int error) noexcept
    {
        auto* self = static_cast<connect_awaitable*>(context);
        self->outcome_ = connected(r, s, error);
        self->finish();
    }

    connect_target target_;
    ASYNC_CANCELLATION_HANDLE cancellation_ = nullptr;
    connection outcome_{};
};

}  // namespace detail

// A TCP listener (async_socket_listener), or a UNIX one (listen_unix). Move-only; the
// destructor closes it (completing pending accepts with result::abandoned) and waits for its
// handlers, as socket's does.
class listener
{
public:
    listener() noexcept = default;
    // Binds address:port (a numeric IPv4 or IPv6 address; port 0: the system picks one, see
    // port()) and listens; backlog 0 means the system's maximum. Throws std::system_error:
    // std::errc::address_in_use, address_not_available, permission_denied, invalid_argument...
    listener(engine& e, const char* address, std::uint16_t port, std::int32_t backlog = 0);
    // The same without exceptions: an empty listener when error is set.
    static listener listen(engine& e, const char* address, std::uint16_t port, std::int32_t backlog, std::error_code& error) noexcept
    {
        return made_by([&](ASYNC_SOCKET_LISTENER_HANDLE* handle, int* code) {
            return async_socket_listener_create(e.native_handle(), address, port, backlog, handle, code);
        }, error);
    }
    // Listens with one socket per loop of the engine, all on one port (SO_REUSEPORT: the system
    // spreads connections over the loops, each served by the loop that accepted it; see
    // async_socket_listener_create_per_loop). Keep at least one accept pending per loop: an
    // accept started from an accept handler waits on that handler's loop. Windows: one
    // listener. An empty listener when error is set.
    static listener listen_per_loop(engine& e, const char* address, std::uint16_t port, std::int32_t backlog, std::error_code& error) noexcept
    {
        return made_by([&](ASYNC_SOCKET_LISTENER_HANDLE* handle, int* code) {
            return async_socket_listener_create_per_loop(e.native_handle(), address, port, backlog, handle, code);
        }, error);
    }
    // Listens on a UNIX socket path (async_socket_unix.h: "@name" is an abstract name on Linux;
    // the file must not exist, std::errc::address_in_use if it does; close removes it).
    // Windows: std::errc::address_family_not_supported. An empty listener when error is set.
    static listener listen_unix(engine& e, const char* path, std::int32_t backlog, std::error_code& error) noexcept
    {
        return made_by([&](ASYNC_SOCKET_LISTENER_HANDLE* handle, int* code) {
            return async_socket_listener_create_unix(e.native_handle(), path, backlog, handle, code);
        }, error);
    }
    // Adopts a listener of the C API.
    static listener adopt(ASYNC_SOCKET_LISTENER_HANDLE handle) noexcept { return listener(handle); }

private:
    // The listener a C create function made (create(&handle, &errno_value)), or an empty one
    // with error set.
    template <class Create>
    static listener made_by(Create create, std::error_code& error) noexcept
    {
        ASYNC_SOCKET_LISTENER_HANDLE handle = nullptr;
        int code = 0;
        (void)create(&handle, &code);
        error = handle == nullptr ? detail::errno_code(code, result::error) : std::error_code{};
        return listener(handle);
    }

public:

    listener(listener&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    listener& operator=(listener&& other) noexcept
    {
        std::swap(handle_, other.handle_);
        return *this;
    }
    listener(const listener&) = delete;
    listener& operator=(const listener&) = delete;
    ~listener() { async_socket_listener_destroy(handle_); }

    ASYNC_SOCKET_LISTENER_HANDLE native_handle() const noexcept { return handle_; }
    explicit operator bool() const noexcept { return handle_ != nullptr; }
    // The bound port (the one the system picked for port 0; 0 for a UNIX listener).
    std::uint16_t port() const noexcept { return async_socket_listener_get_port(handle_); }

    // Stops listening; pending accepts complete with result::abandoned.
    void close() noexcept { async_socket_listener_close(handle_); }

    // Every accept pending now completes with result::cancelled (unless a connection came
    // first); the listener keeps listening. An error: std::errc::bad_file_descriptor (closed),
    // not_enough_memory (nothing changed).
    std::error_code cancel_accepts() noexcept { return detail::returned_code(async_socket_listener_cancel_accepts(handle_)); }

    // Accepts one connection: handler(asock::connection), any nothrow-movable callable (a
    // named one is copied, a temporary moved). An error returned means the accept was not
    // started and the handler will not run.
    template <detail::connection_handler Handler>
    std::error_code accept(Handler&& handler)
    {
        return accept_with(detail::owned(std::forward<Handler>(handler)));
    }

    // co_await yields an asock::connection (a refused start yields an error at once); a stop
    // on stop cancels every accept pending on this listener (result::cancelled). The awaiting
    // coroutine must not be destroyed before it resumes: stop it or close the listener instead.
    detail::accept_awaitable accept(std::stop_token stop = {}) noexcept { return detail::accept_awaitable(handle_, std::move(stop)); }

private:
    explicit listener(ASYNC_SOCKET_LISTENER_HANDLE handle) noexcept : handle_(handle) {}

    // accept's work, with a handler to move (Handler is not a reference).
    template <typename Handler>
    std::error_code accept_with(Handler&& handler) noexcept
    {
        using stored = detail::stored_connection_handler<Handler>;
        stored* h = stored::make(std::move(handler));
        if (h == nullptr)
            return std::make_error_code(std::errc::not_enough_memory);
        const int refused = async_socket_listener_accept_async(handle_, &stored::on_accept, h);
        if (refused == 0)
            return {};
        stored::discard(h);
        return detail::accept_refusal(refused);
    }

    ASYNC_SOCKET_LISTENER_HANDLE handle_ = nullptr;
};

namespace detail {

// The handler forms' work, with a handler to move (Handler is not a reference).
template <typename Handler>
std::error_code connect_with(const connect_target& target, Handler&& handler) noexcept
{
    using stored = stored_connection_handler<Handler>;
    stored* h = stored::make(std::move(handler));
    if (h == nullptr)
        return std::make_error_code(std::errc::not_enough_memory);
    const int refused = target.start(target, nullptr, &stored::on_connect, h);
    if (refused == 0)
        return {};
    stored::discard(h);
    return errno_code(refused, result::error);
}

inline connect_target tcp_target(engine& e, const char* address, std::uint16_t port, std::chrono::milliseconds timeout) noexcept
{
    return connect_target{e.native_handle(), address, port, timeout_ms(timeout), &start_tcp_connect};
}

}  // namespace detail

// Connects to address:port (numeric IPv4 or IPv6) within timeout (at least 1 ms):
// handler(asock::connection) runs on an engine thread. An error returned means the connect was
// not started (invalid argument, no descriptors...) and the handler will not run.
template <detail::connection_handler Handler>
std::error_code connect(engine& e, const char* address, std::uint16_t port, std::chrono::milliseconds timeout, Handler&& handler)
{
    return detail::connect_with(detail::tcp_target(e, address, port, timeout), detail::owned(std::forward<Handler>(handler)));
}

// co_await yields an asock::connection; a stop on stop ends the connect early
// (result::cancelled unless it connected first). The address must live until the awaitable is
// awaited.
inline detail::connect_awaitable connect(engine& e, const char* address, std::uint16_t port, std::chrono::milliseconds timeout, std::stop_token stop = {}) noexcept
{
    return detail::connect_awaitable(detail::tcp_target(e, address, port, timeout), std::move(stop));
}

// Connects to host:port by name, the Happy Eyeballs way (async_resolve.h: resolve, race the
// addresses, the first connect wins), all within timeout. Errors as connect's, and
// result::name_not_found when the name has no address. The host must live until the
// awaitable is awaited (the handler form reads it in the call).
template <detail::connection_handler Handler>
std::error_code connect_by_name(engine& e, const char* host, std::uint16_t port, std::chrono::milliseconds timeout, Handler&& handler)
{
    return detail::connect_with(detail::connect_target{e.native_handle(), host, port, detail::timeout_ms(timeout), &detail::start_connect_by_name},
                                detail::owned(std::forward<Handler>(handler)));
}
inline detail::connect_awaitable connect_by_name(engine& e, const char* host, std::uint16_t port, std::chrono::milliseconds timeout, std::stop_token stop = {}) noexcept
{
    return detail::connect_awaitable(detail::connect_target{e.native_handle(), host, port, detail::timeout_ms(timeout), &detail::start_connect_by_name}, std::move(stop));
}

// Connects to a UNIX socket path (async_socket_unix.h): std::errc::connection_refused when
// nothing listens there. Windows: std::errc::address_family_not_supported.
inline detail::connect_awaitable connect_unix(engine& e, const char* path, std::chrono::milliseconds timeout, std::stop_token stop = {}) noexcept
{
    return detail::connect_awaitable(detail::connect_target{e.native_handle(), path, 0, detail::timeout_ms(timeout), &detail::start_unix_connect}, std::move(stop));
}

// --- Name resolution -------------------------------------------------------------------------

// One address of an answer: {family, port, address}, address the numeric text that connect
// and listener take.
using resolved_address = ASYNC_RESOLVED_ADDRESS;

enum class address_family
{
    any = ASYNC_ADDRESS_FAMILY_ANY,
    ipv4 = ASYNC_ADDRESS_FAMILY_IPV4,
    ipv6 = ASYNC_ADDRESS_FAMILY_IPV6,
};

// What a resolve completes with: at least one address, in the order the system prefers them,
// or the reason there is none: result::name_not_found, timed_out, cancelled, or the system's
// error (generic category; std::errc::not_enough_memory when the answer could not be copied).
struct resolve_result
{
    std::vector<resolved_address> addresses;
    std::error_code error;

    explicit operator bool() const noexcept { return !error; }
};

namespace detail {

inline std::error_code resolve_error(ASYNC_RESOLVE_RESULT r, int error) noexcept
{
    switch (r)
    {
    case ASYNC_RESOLVE_OK:
        return {};
    case ASYNC_RESOLVE_NOT_FOUND:
        return make_error_code(result::name_not_found);
    case ASYNC_RESOLVE_TIMEOUT:
        return make_error_code(result::timed_out);
    case ASYNC_RESOLVE_CANCELLED:
        return make_error_code(result::cancelled);
    default:
        return errno_code(error, result::error);
    }
}

// co_await asock::resolve(...): a lookup of async_resolve_async, with a cancellation of its own
// when the stop token can stop (as connect_awaitable).
class resolve_awaitable : public stoppable<resolve_awaitable>
{
public:
    resolve_awaitable(EXECUTION_ENGINE_HANDLE engine, const char* host, const char* service, address_family family, std::uint32_t timeout, std::stop_token stop) noexcept
        : stoppable(std::move(stop)), engine_(engine), host_(host), service_(service), family_(family), timeout_(timeout)
    {
    }
    ~resolve_awaitable() { async_cancellation_destroy(cancellation_); }

    resolve_result await_resume() noexcept { return std::move(outcome_); }

private:
    friend stoppable;

    bool start() noexcept
    {
        if (stop_possible() && (cancellation_ = async_cancellation_create()) == nullptr)
            return refuse(ENOMEM);
        const int refused =
            async_resolve_async(engine_, host_, service_, static_cast<ASYNC_ADDRESS_FAMILY>(family_), timeout_, cancellation_, &on_resolve, this);
        return refused == 0 || refuse(refused);
    }
    bool refuse(int error) noexcept
    {
        outcome_.error = errno_code(error, result::error);
        return false;
    }
    void cancel() noexcept { async_cancellation_cancel(cancellation_); }
    void set_cancelled() noexcept { outcome_.error = make_error_code(result::cancelled); }

    static void on_resolve(void* context, ASYNC_RESOLVE_RESULT r, const ASYNC_RESOLVED_ADDRESS* addresses, std::uint32_t count, int error) noexcept
    {
        auto* self = static_cast<resolve_awaitable*>(context);
        self->outcome_.error = resolve_error(r, error);
        if (r == ASYNC_RESOLVE_OK)
            self->copy(addresses, count);
        self->finish();
    }
    void copy(const ASYNC_RESOLVED_ADDRESS* addresses, std::uint32_t count) noexcept
    {
        try
        {
            outcome_.addresses.assign(addresses, addresses + count);
        }
        catch (const std::bad_alloc&)
        {
            outcome_.error = std::make_error_code(std::errc::not_enough_memory);
        }
    }

    EXECUTION_ENGINE_HANDLE engine_;
    const char* host_;
    const char* service_;
    address_family family_;
    std::uint32_t timeout_;
    ASYNC_CANCELLATION_HANDLE cancellation_ = nullptr;
    resolve_result outcome_{};
};

}  // namespace detail

// Looks host up (and service: a port number or a service name; nullptr: port 0) without
// blocking: co_await yields a resolve_result. timeout: 0 means no limit but the system's own
// (else result::timed_out); a stop on stop ends it early (result::cancelled). host and service
// must live until the awaitable is awaited.
inline detail::resolve_awaitable resolve(engine& e, const char* host, const char* service, address_family family = address_family::any,
                                         std::chrono::milliseconds timeout = std::chrono::milliseconds(0), std::stop_token stop = {}) noexcept
{
    const std::uint32_t limit = timeout.count() <= 0 ? 0 : detail::timeout_ms(timeout);
    return detail::resolve_awaitable(e.native_handle(), host, service, family, limit, std::move(stop));
}

// --- task ------------------------------------------------------------------------------------

// A fire-and-forget coroutine for examples and simple servers: starts at once, runs until its
// first co_await, and frees itself when it ends. An exception escaping it ends the program.
struct task
{
    struct promise_type
    {
        task get_return_object() const noexcept { return {}; }
        std::suspend_never initial_suspend() const noexcept { return {}; }
        std::suspend_never final_suspend() const noexcept { return {}; }
        void return_void() const noexcept {}
        void unhandled_exception() const noexcept { std::terminate(); }
    };
};

}  // namespace asock

template <>
struct std::is_error_code_enum<asock::result> : std::true_type
{
};
