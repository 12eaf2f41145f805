// Helpers of the tests of the guarantees beyond the seed (SRS_ASYNC_SOCKET_LINUX_02_xxx): the
// platform differences kPlatform does not name, bounded runs of code that may deadlock,
// sockets whose sends cannot finish, and the fixtures shared with the *_linux_test.cpp files.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#ifndef _WIN32
#include <fcntl.h>
#include <pthread.h>
#endif

#include "contract/contract_fixture.h"

namespace asock_test {

// Platform differences that kPlatform (contract_fixture.h) does not name.
//
// Linux: every callback of a socket runs on the socket's loop thread, one of the engine's
// threads named "asock-loop-N", and sockets are spread over the loops round robin
// (SRS_ASYNC_SOCKET_LINUX_01_035, 02_001). The seed runs the callbacks on any thread of the
// engine's threadpool (SRS_ASYNC_SOCKET_WIN32_01_036): a socket has no thread of its own, and
// the pool's threads have no name the library gives them.
#ifdef _WIN32
inline constexpr bool kCallbacksRunOnTheSocketsLoopThread = false;
#else
inline constexpr bool kCallbacksRunOnTheSocketsLoopThread = true;
#endif

// The name of the calling thread ("" where the platform gives none).
inline std::string current_thread_name()
{
#ifdef _WIN32
    return {};
#else
    char name[64] = {};
    ::pthread_getname_np(::pthread_self(), name, sizeof(name));
    return name;
#endif
}

inline bool starts_with(const std::string& text, const std::string& prefix) { return text.compare(0, prefix.size(), prefix) == 0; }

// The file status flags of a handle, to check that the library keeps its mode (02_008), where
// the platform can read them back: Linux fcntl(F_GETFL). Windows sets the mode with
// ioctlsocket(FIONBIO), which cannot be read back: std::nullopt.
inline std::optional<int> handle_status_flags(SOCKET_HANDLE handle)
{
#ifdef _WIN32
    (void)handle;
    return std::nullopt;
#else
    return ::fcntl(handle, F_GETFL);
#endif
}

// Whether status flags of handle_status_flags say non-blocking.
inline bool flags_say_nonblocking(int flags)
{
#ifdef _WIN32
    (void)flags;
    return false;
#else
    return (flags & O_NONBLOCK) != 0;
#endif
}

// A TCP connection whose sends get stuck quickly when the peer does not read: small kernel
// buffers on both sides (setting them also turns off their automatic growth).
inline Connection small_buffer_connection()
{
    Connection c = tcp_connection();
    set_send_buffer(as_native(c.ours), 32 * 1024);
    set_receive_buffer(c.peer, 32 * 1024);
    return c;
}

// Far more than the kernel buffers of small_buffer_connection hold: a send of it does not
// finish while the peer does not read.
inline constexpr size_t kStuckSendSize = 16u * 1024 * 1024;

// The fixtures whose Linux-only tests are in the matching *_linux_test.cpp file: one class
// for both files, so that those tests keep their full names. The portable file instantiates
// the suite.
class Callbacks : public Contract
{
};

}  // namespace asock_test
