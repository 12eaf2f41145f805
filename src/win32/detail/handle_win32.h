// The core every Win32 handle embeds (the socket of async_socket_win32.cpp, the listener of
// net_win32.cpp): one life, one close protocol and one callback scope for all of them.
//
// Life. A handle holds a reference on its engine from create to its last reference. Its own
// references: the owner's (dropped by destroy), plus one for each threadpool callback that
// touches the handle after it called user code (the listener's deliverer). The last one drops
// the engine reference (seed 42_005), then frees the memory (01_005).
//
// State. created -> opening -> open -> closing -> closed (common/detail/handle_state.h), under
// the handle's mutex. A close moves open -> closing, waits for the API calls in progress, then
// tears the threadpool I/O down (CancelIoEx, closesocket, WaitForThreadpoolIoCallbacks,
// CloseThreadpoolIo), lets the kind finish (a listener completes its accepts ABANDONED), and
// moves to closed. A destroy decides, in one step under the mutex, whether it runs the close
// itself, waits for the one under way, or has nothing to close (77_009).
//
// Callbacks. Every threadpool callback of every handle runs inside a CallbackScope: the
// handle and the PTP_CALLBACK_INSTANCE, in one thread-local slot. A close or destroy that may
// wait for a handle's callbacks holds a CloseWait, which applies the one rule for closes from
// callbacks (77_003): from the handle's own callback, disassociate first; from a callback of
// another handle H, register "H waits for this handle" in the process-wide wait-for graph
// (common/detail/wait_graph.h), and if that closes a cycle, disassociate instead.
#pragma once

#include <winsock2.h>
#include <windows.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "asock/execution_engine.h"
#include "detail/handle_state.h"
#include "detail/wait_graph.h"

namespace asock::detail {

struct Handle
{
    // Set by handle_init, constant afterwards.
    EXECUTION_ENGINE_HANDLE engine = nullptr;
    PTP_POOL pool = nullptr;  // obtained at create (seed 01_035)
    SOCKET native = INVALID_SOCKET;
    void (*free_memory)(Handle& handle) noexcept = nullptr;  // frees the object around the core

    // The threadpool I/O of the native socket, from open to close.
    TP_CALLBACK_ENVIRON environment{};
    PTP_IO io = nullptr;

    std::atomic<uint32_t> references{1};

    std::mutex mutex;  // guards what follows, and the fields of the kind that say so
    std::condition_variable changed;
    HandleState state = HandleState::created;
    uint32_t api_calls = 0;      // calls between their state check and their return
    std::thread::id closing_thread;  // the thread running the close, while closing
    bool destroy_pending = false;  // destroyed from a callback that the close runs on its own thread
};

// Sets the handle up for its kind and takes a reference on the engine. state stays created.
void handle_init(Handle& handle, EXECUTION_ENGINE_HANDLE engine, SOCKET native, void (*free_memory)(Handle&) noexcept) noexcept;

// Creates the threadpool I/O of the native socket on the engine's pool, with callback and
// context (seed 01_016, 01_036, 01_058). False, with nothing left behind, when
// CreateThreadpoolIo fails.
bool handle_attach_io(Handle& handle, PTP_WIN32_IO_CALLBACK callback, void* context) noexcept;

void handle_retain(Handle& handle) noexcept;
// Drops a reference; the last one drops the engine reference, then frees the handle. The
// caller must not touch the handle afterwards.
void handle_release(Handle& handle) noexcept;

// An API call (send, receive, accept) between its state check and its return: the close
// waits for these before it closes the native socket (77_002).
class ApiCall
{
public:
    explicit ApiCall(Handle& handle) noexcept;
    ~ApiCall();
    ApiCall(const ApiCall&) = delete;
    ApiCall& operator=(const ApiCall&) = delete;

    bool handle_open() const noexcept { return entered_; }

private:
    Handle& handle_;
    bool entered_ = false;
};

// ---- Closing -----------------------------------------------------------------------------

enum class CloseStart : uint8_t
{
    run,                  // this call moved the handle open -> closing: it runs the close
    not_open,             // created, opening or closed: nothing to do
    under_way_elsewhere,  // another thread's close is running
    under_way_here,       // this thread's close, further up the stack (a callback it runs)
};

CloseStart begin_close(Handle& handle) noexcept;

// The close's work on the threadpool I/O, once begin_close (or begin_destroy) said run: waits
// for the API calls in progress (01_020, 77_002), CancelIoEx (77_001), closesocket (42_006),
// WaitForThreadpoolIoCallbacks (01_040), CloseThreadpoolIo (01_059), and destroys the
// environment (01_042).
void tear_down(Handle& handle) noexcept;

// closing -> closed, waking whoever waits. Returns whether a destroy came meanwhile from a
// callback that this close ran on its own thread: the caller then drops the owner's reference.
bool end_close(Handle& handle) noexcept;

// Waits until a close under way on another thread has ended.
void wait_closed(Handle& handle) noexcept;

enum class DestroyStart : uint8_t
{
    never_opened,  // created: the native socket is still the owner's to close (42_007)
    run_close,     // was open: this destroy runs the close (01_006)
    closed,        // nothing to close
    deferred,      // this thread is running the close further up its stack: that close frees
};

// Waits while the handle is opening, or closing on another thread (01_093), then decides in
// the same hold of the mutex (77_009).
DestroyStart begin_destroy(Handle& handle) noexcept;

// ---- Callbacks ---------------------------------------------------------------------------

// Marks the threadpool callback of a handle running on this thread (every threadpool callback
// of every kind of handle sets one).
class CallbackScope
{
public:
    CallbackScope(Handle& handle, PTP_CALLBACK_INSTANCE instance) noexcept;
    ~CallbackScope();
    CallbackScope(const CallbackScope&) = delete;
    CallbackScope& operator=(const CallbackScope&) = delete;

private:
    friend class CloseWait;
    const Handle* handle_;
    PTP_CALLBACK_INSTANCE instance_;  // nullptr once disassociated
    CallbackScope* outer_;            // a callback the fake OS runs inside a wait (tests only)
};

// Held by a close or destroy of a handle while it may wait for that handle's callbacks, or for
// a close under way that does. Applies 77_003 on construction; unregisters on destruction.
class CloseWait
{
public:
    explicit CloseWait(const Handle& target) noexcept;
    CloseWait(const CloseWait&) = delete;
    CloseWait& operator=(const CloseWait&) = delete;

private:
    WaitEdge edge_;
};

}  // namespace asock::detail
