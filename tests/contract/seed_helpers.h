// Helpers of the seed contract tests (create/destroy, open, close, send, receive and
// completions): scope guards, gates that blocked callbacks wait on, a background call the
// test can wait for with a deadline, and what the peer sees of the connection.
#pragma once

#ifndef _WIN32
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "contract/contract_fixture.h"

namespace asock_test::seed {

inline void ignore_receive(void*, ASYNC_SOCKET_RECEIVE_RESULT, uint32_t) {}

// Waits (bounded) until a close has switched the socket out of OPEN: probes it with receives,
// which are accepted (and later abandoned by the close) while it is open. Only for sockets
// whose peer sends nothing meanwhile.
inline bool wait_until_not_open(ASYNC_SOCKET_HANDLE socket, std::chrono::milliseconds timeout = kTimeout)
{
    static uint8_t probe_buffer[16];
    return wait_until(
        [&] {
            ASYNC_SOCKET_BUFFER buffer{probe_buffer, sizeof(probe_buffer)};
            return async_socket_receive_async(socket, &buffer, 1, ignore_receive, nullptr) != 0;
        },
        timeout);
}

// Reads and drops whatever the peer still receives until the connection ends (end of stream or
// reset): true when it ends before the timeout.
inline bool peer_reaches_end(NativeSocket peer, std::chrono::milliseconds timeout = kTimeout) { return reaches_end_of_stream(peer, timeout); }

// True when the peer has something to read (data or the end of the connection) within the
// timeout. Nothing is read.
inline bool peer_has_news(NativeSocket peer, std::chrono::milliseconds timeout)
{
#ifdef _WIN32
    return wait_ready(peer, false, timeout);
#else
    pollfd p{peer, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
#endif
}

// Whether the handle is in blocking mode (the library must not depend on it). Windows has no
// call that reads the mode back; the sockets of net.h are created blocking and nothing here
// makes them non-blocking.
inline bool is_blocking(SOCKET_HANDLE handle)
{
#ifdef _WIN32
    (void)handle;
    return true;
#else
    return (::fcntl(handle, F_GETFL) & O_NONBLOCK) == 0;
#endif
}

// Where the seed's Windows behaviour differs from Linux and kPlatform has no field for it
// (docs/requirements/async_socket_win32_notes.md, "Where Windows differs from Linux").

// A buffer the kernel cannot read (send) or write (receive). Linux: the operation is accepted
// and completes with ERROR (SRS_ASYNC_SOCKET_LINUX_01_106, 01_070). Windows: WSASend/WSARecv
// fail at once with WSAEFAULT, so the send returns ASYNC_SOCKET_SEND_SYNC_ERROR (seed
// SRS_ASYNC_SOCKET_WIN32_01_106) and the receive a non-zero value (seed 01_105), and nothing
// is called back.
#ifdef _WIN32
inline constexpr bool kUnusableBufferFailsAtOnce = true;
#else
inline constexpr bool kUnusableBufferFailsAtOnce = false;
#endif

// A send on a connection the peer reset or closed. Linux: accepted, then completed with
// ASYNC_SOCKET_SEND_ABANDONED (SRS_ASYNC_SOCKET_LINUX_42_002). Windows: refused at once with
// ASYNC_SOCKET_SEND_SYNC_ABANDONED when WSASend fails with WSAECONNRESET (seed 42_002);
// otherwise accepted and completed with ASYNC_SOCKET_SEND_ERROR (seed 01_067). Under Wine the
// failing send was seen refused at once, for a peer that reset and for one that closed.
#ifdef _WIN32
inline constexpr bool kBrokenConnectionSendMayFailAtOnce = true;
inline constexpr ASYNC_SOCKET_SEND_RESULT kBrokenConnectionSendResult = ASYNC_SOCKET_SEND_ERROR;
#else
inline constexpr bool kBrokenConnectionSendMayFailAtOnce = false;
inline constexpr ASYNC_SOCKET_SEND_RESULT kBrokenConnectionSendResult = ASYNC_SOCKET_SEND_ABANDONED;
#endif

// A receive started once the peer's reset has arrived. Linux: accepted, completes with
// ASYNC_SOCKET_RECEIVE_ABANDONED and 0 bytes (SRS_ASYNC_SOCKET_LINUX_42_001). Windows: the
// same when WSARecv goes pending and completes with ERROR_NETNAME_DELETED (seed 42_001), but
// if WSARecv fails at once (WSAECONNRESET), async_socket_receive_async returns a non-zero
// value and nothing is called back (seed SRS_ASYNC_SOCKET_WIN32_01_105). Under Wine the receive
// was seen accepted and completed with ABANDONED, as on Linux.
#ifdef _WIN32
inline constexpr bool kReceiveAfterResetMayFailAtOnce = true;
#else
inline constexpr bool kReceiveAfterResetMayFailAtOnce = false;
#endif

// What the kernel may do with a page of memory.
enum class PageAccess
{
    none,
    read_only,
};

// One page of memory with the given access.
class Page
{
public:
    explicit Page(PageAccess access)
    {
#ifdef _WIN32
        SYSTEM_INFO info{};
        ::GetSystemInfo(&info);
        size_ = info.dwPageSize;
        void* p = ::VirtualAlloc(nullptr, size_, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
        if (p == nullptr)
        {
            ADD_FAILURE() << "VirtualAlloc failed: " << ::GetLastError();
            return;
        }
        std::memset(p, 0x5a, size_);
        DWORD previous = 0;
        if (!::VirtualProtect(p, size_, access == PageAccess::none ? PAGE_NOACCESS : PAGE_READONLY, &previous))
            ADD_FAILURE() << "VirtualProtect failed: " << ::GetLastError();
#else
        size_ = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
        void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
        {
            ADD_FAILURE() << "mmap failed: " << errno;
            return;
        }
        std::memset(p, 0x5a, size_);
        if (::mprotect(p, size_, access == PageAccess::none ? PROT_NONE : PROT_READ) != 0)
            ADD_FAILURE() << "mprotect failed: " << errno;
#endif
        data_ = p;
    }
    ~Page()
    {
        if (data_ == nullptr)
            return;
#ifdef _WIN32
        ::VirtualFree(data_, 0, MEM_RELEASE);
#else
        ::munmap(data_, size_);
#endif
    }
    Page(const Page&) = delete;
    Page& operator=(const Page&) = delete;
    void* data() const noexcept { return data_; }
    size_t size() const noexcept { return size_; }

private:
    void* data_ = nullptr;
    size_t size_ = 0;
};

// Makes sure the loop of a one-loop engine has finished whatever it was doing: a socket
// opened now is only called back once the loop has come round to its inbox again.
inline void sync_with_loop(EXECUTION_ENGINE_HANDLE engine)
{
    Connection c = local_connection();
    OpenRecord open;
    ASYNC_SOCKET_HANDLE socket = create_and_open(engine, c.ours, open);
    async_socket_destroy(socket);
    close_socket(c.peer);
}

// Sends a few bytes through socket and receives a few back: true when both arrive intact.
inline bool round_trip(ASYNC_SOCKET_HANDLE socket, NativeSocket peer)
{
    const auto out = pattern(300, 77);
    ASYNC_SOCKET_BUFFER send_buffer{const_cast<uint8_t*>(out.data()), static_cast<uint32_t>(out.size())};
    SendRecord sent;
    if (async_socket_send_async(socket, &send_buffer, 1, SendRecord::callback, &sent) != ASYNC_SOCKET_SEND_SYNC_OK)
        return false;
    if (!sent.done.wait_for(1))
    {
        async_socket_close(socket);  // completes the send before its record goes
        return false;
    }
    const bool send_ok = sent.result.load() == ASYNC_SOCKET_SEND_OK && read_exactly(peer, out.size()) == out;

    std::vector<uint8_t> in(out.size());
    ASYNC_SOCKET_BUFFER receive_buffer{in.data(), static_cast<uint32_t>(in.size())};
    ReceiveRecord received;
    if (async_socket_receive_async(socket, &receive_buffer, 1, ReceiveRecord::callback, &received) != 0)
        return false;
    if (!write_all(peer, out.data(), 10) || !received.done.wait_for(1))
    {
        async_socket_close(socket);  // completes the receive before its record goes
        return false;
    }
    const bool receive_ok =
        received.result.load() == ASYNC_SOCKET_RECEIVE_OK && received.bytes.load() == 10 && std::equal(in.begin(), in.begin() + 10, out.begin());
    return send_ok && receive_ok;
}

// How a series of sends on a broken connection ended: the synchronous result of the first send
// that was not accepted, or (all accepted) the result of the first that did not complete OK.
struct SendOutcome
{
    ASYNC_SOCKET_SEND_SYNC_RESULT sync = ASYNC_SOCKET_SEND_SYNC_OK;
    ASYNC_SOCKET_SEND_RESULT completed = ASYNC_SOCKET_SEND_OK;
};

// Sends until a send is refused or completes with something else than OK (a vanished peer),
// at most `attempts` sends.
inline SendOutcome send_until_send_fails(ASYNC_SOCKET_HANDLE socket, uint32_t buffers, int attempts = 200)
{
    std::vector<uint8_t> data(1024, 'd');
    std::vector<ASYNC_SOCKET_BUFFER> array;
    for (uint32_t i = 0; i < buffers; ++i)
        array.push_back(ASYNC_SOCKET_BUFFER{data.data() + i * (data.size() / buffers), static_cast<uint32_t>(data.size() / buffers)});
    SendOutcome outcome;
    for (int i = 0; i < attempts; ++i)
    {
        SendRecord sent;
        outcome.sync = async_socket_send_async(socket, array.data(), buffers, SendRecord::callback, &sent);
        if (outcome.sync != ASYNC_SOCKET_SEND_SYNC_OK)
            return outcome;
        if (!sent.done.wait_for(1))
        {
            ADD_FAILURE() << "send never completed";
            async_socket_close(socket);  // completes the send before its record goes
            outcome.completed = ASYNC_SOCKET_SEND_ERROR;
            return outcome;
        }
        outcome.completed = sent.result.load();
        if (outcome.completed != ASYNC_SOCKET_SEND_OK)
            return outcome;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return outcome;
}

// The same for a platform where every send is accepted: returns the first non-OK result, or
// ASYNC_SOCKET_SEND_OK if every send succeeded.
inline ASYNC_SOCKET_SEND_RESULT send_until_failure(ASYNC_SOCKET_HANDLE socket, uint32_t buffers, int attempts = 200)
{
    const SendOutcome outcome = send_until_send_fails(socket, buffers, attempts);
    EXPECT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, outcome.sync);
    if (outcome.sync != ASYNC_SOCKET_SEND_SYNC_OK)
        return ASYNC_SOCKET_SEND_ERROR;
    return outcome.completed;
}

// The fixtures of the seed contract files. A behaviour only Linux has is tested in the
// matching *_linux_test.cpp file with the same fixture, so that its full name stays the same
// (Backends/Send.x/io_uring); the portable file instantiates the suite.
class CreateDestroy : public Contract
{
};
class Open : public Contract
{
};
class Close : public Contract
{
};
class Send : public Contract
{
};
class Receive : public Contract
{
};
class Completion : public Contract
{
};

}  // namespace asock_test::seed
