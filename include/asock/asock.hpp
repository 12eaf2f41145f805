// asock's C++20 API: RAII engine and socket, completion handlers of any move-only callable,
// and coroutine awaitables. A thin layer over the C API (async_socket.h): the same
// machinery, the same contract (every accepted operation completes exactly once; close
// completes the pending ones with result::abandoned, except on Windows, see below; no handler
// runs after close returns, except one that is itself closing).
//
// Windows: the C API there follows the seed, whose I/O ended by a close completes with ERROR.
// So the sends and receives that socket::close (or ~socket) completes end with result::error,
// not result::abandoned; a receive ended by the peer closing is still result::abandoned, and
// the accepts a listener's close completes are result::abandoned as on Linux. An open
// completes inside open() (the handler runs, or the coroutine resumes, in the caller's thread).
//
//   asock::engine engine;                                   // one loop thread
//   asock::socket s(engine, connected_fd);
//   co_await s.open();
//   std::array<std::byte, 1024> buffer;
//   asock::io_result r = co_await s.receive(buffer);        // r.bytes, r.status, r.error()
//   if (r) co_await s.send(std::span(buffer).first(r.bytes));
//
// Handlers run on an engine thread and must not throw (an exception escaping one ends the
// program, as it would escape a C callback). A named (lvalue) handler is copied, a temporary
// moved; a copy that throws propagates out of the call, which then has started nothing.
//
// A coroutine suspended in an awaitable of this API must not be destroyed before it resumes:
// the pending operation holds a pointer into its frame, and would complete into freed memory
// (a use-after-free). To stop it, close the socket (or the listener) and let it resume with
// result::abandoned (result::error for a send or receive on Windows). A connect cannot be
// cancelled: its timeout bounds it. A handler of up to kSmallHandler bytes and of the
// default alignment (kSmallHandlerAlignment, 16 on x86-64) is kept in memory recycled by the
// library, so steady-state operations do not touch the heap; a larger or over-aligned one gets
// heap memory of its size and alignment.
#pragma once

#include <chrono>
#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <span>
#include <stdexcept>
#include <system_error>
#include <type_traits>
#include <utility>

#include "asock/async_socket.h"
#include "asock/async_socket_listener.h"
#include "asock/execution_engine.h"

namespace asock {

// --- Results ---------------------------------------------------------------------------------

// How an operation ended. error: the system failed it (the connection broke, say), or, on
// Windows, the socket was closed; abandoned: the socket was closed (Linux), or the peer
// closed or reset the connection;
// invalid_argument: refused before it started, for buffers the C API cannot take (one buffer,
// or the buffers of the operation together, over UINT32_MAX bytes). Never truncated.
enum class result
{
    ok,
    error,
    abandoned,
    invalid_argument,
};

// The "asock" error category: the results other than ok as error codes. The code of
// result::invalid_argument compares equal to std::errc::invalid_argument.
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

    ASYNC_SOCKET_HANDLE handle_ = nullptr;
};

// --- Accept and connect ----------------------------------------------------------------------
//
//   asock::listener server(engine, "::1", 0);                    // port 0: the system picks one
//   asock::connection in = co_await server.accept();             // in.socket: open, connected
//   asock::connection out = co_await asock::connect(engine, "::1", server.port(), 2s);
//   if (out.error == std::errc::connection_refused) ...          // or timed_out, ...
//
// The rules of async_socket_listener.h hold: an accept or connect that started completes
// exactly once; closing (or destroying) the listener completes its pending accepts with
// result::abandoned; a connect cannot be cancelled, its timeout bounds it.

// What an accept or a connect completes with: a connected socket, already open, or the reason
// there is none.
struct connection
{
    asock::socket socket;  // open on success, empty otherwise
    // Empty on success. result::abandoned: the listener was closed. Otherwise the system's
    // error (generic category): std::errc::connection_refused, timed_out, network_unreachable,
    // host_unreachable, too_many_files_open, ...
    std::error_code error;

    explicit operator bool() const noexcept { return !error; }
};

namespace detail {

// An errno value of the C API as an error code; fallback when there is none.
inline std::error_code errno_code(int error, result fallback) noexcept
{
    return error != 0 ? std::error_code(error, std::generic_category()) : make_error_code(fallback);
}

// Why an accept was refused: a closed listener abandons it, as a close abandons a pending one.
inline std::error_code accept_refusal(int error) noexcept { return error == EBADF ? make_error_code(result::abandoned) : errno_code(error, result::error); }

inline connection accepted(ASYNC_SOCKET_ACCEPT_RESULT r, ASYNC_SOCKET_HANDLE s, int error) noexcept
{
    if (r == ASYNC_SOCKET_ACCEPT_OK)
        return connection{socket::adopt(s), {}};
    return connection{{}, r == ASYNC_SOCKET_ACCEPT_ABANDONED ? make_error_code(result::abandoned) : errno_code(error, result::error)};
}

inline connection connected(ASYNC_SOCKET_CONNECT_RESULT r, ASYNC_SOCKET_HANDLE s, int error) noexcept
{
    if (r == ASYNC_SOCKET_CONNECT_OK)
        return connection{socket::adopt(s), {}};
    return connection{{}, errno_code(error, result::error)};
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

// The common part of the accept and connect awaitables.
struct connection_awaitable
{
    connection outcome{};
    std::coroutine_handle<> waiter{};

    bool await_ready() const noexcept { return false; }
    connection await_resume() noexcept { return std::move(outcome); }

    void complete(connection c) noexcept
    {
        outcome = std::move(c);
        waiter.resume();
    }
};

struct accept_awaitable : connection_awaitable
{
    ASYNC_SOCKET_LISTENER_HANDLE listener = nullptr;

    bool await_suspend(std::coroutine_handle<> coroutine) noexcept
    {
        waiter = coroutine;
        const int refused = async_socket_listener_accept_async(listener, &on_accept, this);
        if (refused == 0)
            return true;  // may already have been resumed: touch nothing of this here
        outcome.error = accept_refusal(refused);
        return false;
    }
    static void on_accept(void* self, ASYNC_SOCKET_ACCEPT_RESULT r, ASYNC_SOCKET_HANDLE s, int error) noexcept
    {
        static_cast<accept_awaitable*>(self)->complete(accepted(r, s, error));
    }
};

// The address is read when the awaitable is awaited: it must live until then.
struct connect_awaitable : connection_awaitable
{
    EXECUTION_ENGINE_HANDLE engine = nullptr;
    const char* address = nullptr;
    std::uint16_t port = 0;
    std::uint32_t timeout = 0;

    bool await_suspend(std::coroutine_handle<> coroutine) noexcept
    {
        waiter = coroutine;
        const int refused = async_socket_connect_async(engine, address, port, timeout, &on_connect, this);
        if (refused == 0)
            return true;
        outcome.error = errno_code(refused, result::error);
        return false;
    }
    static void on_connect(void* self, ASYNC_SOCKET_CONNECT_RESULT r, ASYNC_SOCKET_HANDLE s, int error) noexcept
    {
        static_cast<connect_awaitable*>(self)->complete(connected(r, s, error));
    }
};

}  // namespace detail

// A TCP listener (async_socket_listener). Move-only; the destructor closes it (completing
// pending accepts with result::abandoned) and waits for its handlers, as socket's does.
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
        ASYNC_SOCKET_LISTENER_HANDLE handle = nullptr;
        int code = 0;
        (void)async_socket_listener_create(e.native_handle(), address, port, backlog, &handle, &code);
        error = handle == nullptr ? detail::errno_code(code, result::error) : std::error_code{};
        return listener(handle);
    }
    // Adopts a listener of the C API.
    static listener adopt(ASYNC_SOCKET_LISTENER_HANDLE handle) noexcept { return listener(handle); }

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
    // The bound port (the one the system picked for port 0).
    std::uint16_t port() const noexcept { return async_socket_listener_get_port(handle_); }

    // Stops listening; pending accepts complete with result::abandoned.
    void close() noexcept { async_socket_listener_close(handle_); }

    // Accepts one connection: handler(asock::connection), any nothrow-movable callable (a
    // named one is copied, a temporary moved). An error returned means the accept was not
    // started and the handler will not run.
    template <detail::connection_handler Handler>
    std::error_code accept(Handler&& handler)
    {
        return accept_with(detail::owned(std::forward<Handler>(handler)));
    }

    // co_await yields an asock::connection (a refused start yields an error at once). The
    // awaiting coroutine must not be destroyed before it resumes: close the listener instead.
    detail::accept_awaitable accept() noexcept
    {
        detail::accept_awaitable awaitable;
        awaitable.listener = handle_;
        return awaitable;
    }

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

// Connects to address:port (numeric IPv4 or IPv6) within timeout (at least 1 ms):
// handler(asock::connection) runs on an engine thread. An error returned means the connect was
// not started (invalid argument, no descriptors...) and the handler will not run.
namespace detail {

// connect's work, with a handler to move (Handler is not a reference).
template <typename Handler>
std::error_code connect_with(EXECUTION_ENGINE_HANDLE engine, const char* address, std::uint16_t port, std::uint32_t timeout, Handler&& handler) noexcept
{
    using stored = stored_connection_handler<Handler>;
    stored* h = stored::make(std::move(handler));
    if (h == nullptr)
        return std::make_error_code(std::errc::not_enough_memory);
    const int refused = async_socket_connect_async(engine, address, port, timeout, &stored::on_connect, h);
    if (refused == 0)
        return {};
    stored::discard(h);
    return errno_code(refused, result::error);
}

}  // namespace detail

template <detail::connection_handler Handler>
std::error_code connect(engine& e, const char* address, std::uint16_t port, std::chrono::milliseconds timeout, Handler&& handler)
{
    return detail::connect_with(e.native_handle(), address, port, detail::timeout_ms(timeout), detail::owned(std::forward<Handler>(handler)));
}

// co_await yields an asock::connection. The address must live until the awaitable is awaited.
inline detail::connect_awaitable connect(engine& e, const char* address, std::uint16_t port, std::chrono::milliseconds timeout) noexcept
{
    detail::connect_awaitable awaitable;
    awaitable.engine = e.native_handle();
    awaitable.address = address;
    awaitable.port = port;
    awaitable.timeout = detail::timeout_ms(timeout);
    return awaitable;
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
