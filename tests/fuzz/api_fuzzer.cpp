// libFuzzer target: the input bytes are a program of API calls (engines, sockets, open, send,
// receive, timed receive, cancel of receives, timers, close, destroy, with arbitrary arguments: NULLs, zero counts, odd buffer layouts
// and lengths, callbacks that close their socket, start more I/O or destroy it) against a
// peer thread that writes bytes taken from the input, shuts down, closes and resets its end
// of the connections at arbitrary points. Injected failures (the fault seam of asock_fault)
// are program steps too. The contract is checked as the program runs and at its end; a
// violation aborts with a message:
//   - a call with invalid arguments is refused, and then never calls back;
//   - every accepted operation completes exactly once; no callback starts after the close
//     of its socket returned; an accepted open calls back once, with OK;
//   - every accepted timer start completes exactly once (FIRED never before its delay), never
//     after its timer's destroy returned; callbacks of one timer never nest;
//   - the bytes received are the bytes the peer sent, in order; the bytes the peer gets are a
//     prefix of the accepted sends' bytes, in order, and hold at least every send that
//     completed OK (unless the peer left early); no send succeeds after one failed;
//   - nothing is left behind: descriptors and threads go back to where they were.
// Every wait is bounded; a call that hangs is caught by libFuzzer's -timeout.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "asock/async_socket.h"
#include "asock/async_socket_deadline.h"
#include "asock/async_timer.h"
#include "asock/execution_engine_linux.h"
#include "support/fault_injection.h"

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

[[noreturn]] void violation(const char* format, ...)
{
    // The first violation is the one reported: a thread that finds another (one that follows
    // from the first, often) waits for the process to end, so that libFuzzer's crash handler
    // can save the input.
    static std::atomic<bool> reported{false};
    if (reported.exchange(true))
    {
        for (;;)
            std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    std::fprintf(stderr, "asock_api_fuzzer: CONTRACT VIOLATION: ");
    va_list arguments;
    va_start(arguments, format);
    std::vfprintf(stderr, format, arguments);
    va_end(arguments);
    std::fprintf(stderr, "\n");
    std::abort();
}

#define CHECK(condition, ...)          \
    do                                 \
    {                                  \
        if (!(condition))              \
            violation(__VA_ARGS__);    \
    } while (0)

// ASOCK_FUZZ_TRACE=1 prints the program's steps and the callbacks (to read a crash's input).
bool trace = false;

constexpr int kEngines = 2;
constexpr int kSockets = 3;
constexpr int kTimers = 3;
constexpr int kOpcodes = 24;
constexpr int kMaxSteps = 48;
constexpr auto kPeerWriteWait = milliseconds(5);
constexpr auto kTeardownWait = milliseconds(3000);

size_t count_entries(const char* directory)
{
    size_t n = 0;
    if (DIR* d = ::opendir(directory))
    {
        while (dirent* e = ::readdir(d))
            n += e->d_name[0] != '.';
        ::closedir(d);
    }
    return n;
}

// The program's bytes; reads past the end give zeros.
class Input
{
public:
    Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
    bool empty() const { return pos_ >= size_; }
    uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
    // Fills out with bytes of the input (at most kMaxTaken of them, so that a large buffer
    // does not swallow the rest of the program), then with a pattern.
    void fill(uint8_t* out, size_t n)
    {
        constexpr size_t kMaxTaken = 256;
        for (size_t i = 0; i < n; ++i)
            out[i] = i < kMaxTaken && pos_ < size_ ? data_[pos_++] : static_cast<uint8_t>(i * 131 + 7);
    }

private:
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
};

// --- Our side and the peer's side of one connection ---------------------------------------

struct Connection
{
    int peer = -1;
    bool tcp = false;
    std::mutex mutex;
    std::vector<uint8_t> peer_sent;      // what the peer wrote, in order
    std::vector<uint8_t> peer_received;  // what the peer read, in order
    size_t library_received = 0;         // how much of peer_sent the receives got
    std::vector<uint8_t> accepted;       // the accepted sends' bytes, in queue order
    size_t ok_bytes = 0;                 // bytes of the sends that completed OK (a prefix)
    bool send_failed = false;
    std::atomic<bool> peer_left{false};  // the peer closed, reset or shut its writing side
    std::atomic<bool> reading{true};
    std::atomic<bool> eof{false};
};

struct Slot
{
    ASYNC_SOCKET_HANDLE handle = nullptr;
    Connection* connection = nullptr;  // nullptr: a handle that is not a connected stream
    std::mutex order;                  // a send call and the record of its bytes, together
    std::atomic<bool> close_returned{false};  // of the open socket: no callback may follow
    std::atomic<bool> handed_over{false};  // its destroy belongs to whoever claims it first
    std::atomic<bool> destroy_claimed{false};
    std::atomic<bool> destroy_done{false};  // by a callback that claimed it
    bool destroyed = false;                 // by the main thread
    int open_calls_accepted = 0;
    std::atomic<int> opens{0};
    std::atomic<int> open_result{-1};
};

struct Program;

enum class Then : uint8_t
{
    nothing,
    close,
    receive,
    send,
};

struct Op
{
    Program* program = nullptr;
    Slot* slot = nullptr;
    bool is_send = false;
    Then then = Then::nothing;
    bool destroy_in_callback = false;
    bool timed = false;  // async_socket_receive_timed_async
    uint32_t timeout_ms = 0;
    std::vector<uint8_t> storage;
    std::vector<ASYNC_SOCKET_BUFFER> buffers;
    // What the call gets: the array above, or a NULL / too short one for a call that must be
    // refused before it reads the array.
    const ASYNC_SOCKET_BUFFER* payload = nullptr;
    uint32_t count = 0;
    std::vector<uint8_t> stream;  // a send's bytes, in order
    uint64_t capacity = 0;        // a receive's bytes
    std::atomic<bool> accepted{false};
    std::atomic<int> calls{0};
};

// --- The peer thread ------------------------------------------------------------------------

class Peer
{
public:
    enum class Kind
    {
        add,
        write,
        shutdown_write,
        close,
        reset,
        pause,
        resume,
    };

    Peer() : wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), thread_([this] { run(); }) {}
    ~Peer()
    {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_ = true;
        }
        wake();
        thread_.join();
        ::close(wake_);
    }

    // Runs a command on the peer thread and waits (bounded) for it.
    void command(Kind kind, Connection* connection, std::vector<uint8_t> data = {})
    {
        std::unique_lock<std::mutex> lock(mutex_);
        const uint64_t seq = ++posted_;
        queue_.push_back(Command{kind, connection, std::move(data)});
        wake();
        cv_.wait_for(lock, milliseconds(1000), [&] { return done_ >= seq; });
    }

private:
    void wake()
    {
        const uint64_t one = 1;
        (void)!::write(wake_, &one, sizeof(one));
    }

    struct Command
    {
        Kind kind;
        Connection* connection;
        std::vector<uint8_t> data;
    };

    void run()
    {
        std::vector<Connection*> connections;
        for (;;)
        {
            std::deque<Command> commands;
            bool stop;
            {
                std::lock_guard<std::mutex> lock(mutex_);
                commands.swap(queue_);
                stop = stop_;
            }
            for (Command& command : commands)
            {
                execute(command, connections);
                std::lock_guard<std::mutex> lock(mutex_);
                ++done_;
                cv_.notify_all();
            }
            if (stop)
                return;
            read_available(connections, wake_);
        }
    }

    static void execute(Command& command, std::vector<Connection*>& connections)
    {
        Connection& c = *command.connection;
        switch (command.kind)
        {
        case Kind::add:
            connections.push_back(&c);
            return;
        case Kind::write:
            if (c.peer >= 0 && !c.peer_left)
                write(c, command.data);
            return;
        case Kind::shutdown_write:
            if (c.peer >= 0 && !c.peer_left)
            {
                ::shutdown(c.peer, SHUT_WR);
                c.peer_left = true;
            }
            return;
        case Kind::close:
        case Kind::reset:
            if (c.peer < 0)
                return;
            if (command.kind == Kind::reset)
            {
                const linger l{1, 0};
                ::setsockopt(c.peer, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
            }
            ::close(c.peer);
            c.peer = -1;
            c.peer_left = true;
            c.eof = true;
            return;
        case Kind::pause:
            c.reading = false;
            return;
        case Kind::resume:
            c.reading = true;
            return;
        }
    }

    // The bytes are recorded before they are written (a receive may see them at once), and
    // what could not be written within kPeerWriteWait is taken back.
    static void write(Connection& c, const std::vector<uint8_t>& data)
    {
        size_t base;
        {
            std::lock_guard<std::mutex> lock(c.mutex);
            base = c.peer_sent.size();
            c.peer_sent.insert(c.peer_sent.end(), data.begin(), data.end());
        }
        size_t written = 0;
        const auto deadline = Clock::now() + kPeerWriteWait;
        while (written < data.size() && Clock::now() < deadline)
        {
            const ssize_t n = ::send(c.peer, data.data() + written, data.size() - written, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0)
            {
                written += static_cast<size_t>(n);
                continue;
            }
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                break;
            pollfd p{c.peer, POLLOUT, 0};
            ::poll(&p, 1, 1);
        }
        std::lock_guard<std::mutex> lock(c.mutex);
        c.peer_sent.resize(base + written);
    }

    // Reads what the connections have, or waits (bounded) for that or for a command.
    static void read_available(const std::vector<Connection*>& connections, int wake)
    {
        constexpr size_t kMax = 64;
        pollfd fds[kMax + 1];
        Connection* owners[kMax];
        fds[0] = pollfd{wake, POLLIN, 0};
        nfds_t n = 1;
        for (Connection* c : connections)
        {
            if (c->peer >= 0 && c->reading && !c->eof && n <= kMax)
            {
                fds[n] = pollfd{c->peer, POLLIN, 0};
                owners[n++ - 1] = c;
            }
        }
        if (::poll(fds, n, 10) <= 0)
            return;
        if (fds[0].revents != 0)
        {
            uint64_t value;
            (void)!::read(wake, &value, sizeof(value));
        }
        uint8_t buffer[65536];
        for (nfds_t i = 1; i < n; ++i)
        {
            if (fds[i].revents == 0)
                continue;
            Connection& c = *owners[i - 1];
            const ssize_t got = ::recv(fds[i].fd, buffer, sizeof(buffer), MSG_DONTWAIT);
            if (got > 0)
            {
                std::lock_guard<std::mutex> lock(c.mutex);
                c.peer_received.insert(c.peer_received.end(), buffer, buffer + got);
            }
            else if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            {
                c.eof = true;
            }
        }
    }

    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<Command> queue_;
    uint64_t posted_ = 0;
    uint64_t done_ = 0;
    bool stop_ = false;
    const int wake_;  // an eventfd: a command was posted
    std::thread thread_;
};

// --- The program ----------------------------------------------------------------------------

int tcp_listener = -1;
sockaddr_in tcp_address{};

// A timer of the program. Its destroy belongs to the main thread, or (handed over) to the first
// of its callbacks asked to destroy it, as for sockets.
struct TimerSlot
{
    ASYNC_TIMER_HANDLE handle = nullptr;
    std::atomic<bool> destroy_returned{false};
    std::atomic<bool> handed_over{false};
    std::atomic<bool> destroy_claimed{false};
    std::atomic<bool> destroy_done{false};
    std::atomic<bool> in_callback{false};
    bool destroyed = false;
};

enum class TimerThen : uint8_t
{
    nothing,
    restart,
    cancel,
    destroy,
};

// One start of a timer.
struct TimerShot
{
    Program* program = nullptr;
    TimerSlot* slot = nullptr;
    TimerThen then = TimerThen::nothing;
    uint32_t delay_ms = 0;
    Clock::time_point started{};
    std::atomic<bool> accepted{false};
    std::atomic<int> calls{0};
};

struct Program
{
    EXECUTION_ENGINE_HANDLE engines[kEngines] = {};
    Slot* slots[kSockets] = {};
    std::deque<Slot> all_slots;
    std::deque<Connection> all_connections;
    std::mutex ops_mutex;
    std::deque<Op> ops;
    TimerSlot* timers[kTimers] = {};
    std::deque<TimerSlot> all_timers;
    std::deque<TimerShot> shots;  // under ops_mutex
    Peer peer;

    Op& new_op(Slot* slot, bool is_send)
    {
        std::lock_guard<std::mutex> lock(ops_mutex);
        Op& op = ops.emplace_back();
        op.program = this;
        op.slot = slot;
        op.is_send = is_send;
        return op;
    }

    TimerShot& new_shot(TimerSlot* slot)
    {
        std::lock_guard<std::mutex> lock(ops_mutex);
        TimerShot& shot = shots.emplace_back();
        shot.program = this;
        shot.slot = slot;
        return shot;
    }
};

bool start_timer(TimerShot& shot, ASYNC_TIMER_HANDLE handle);

// A cancel fails only when its request cannot be made (an injected op_alloc failure), or, from
// the timer's own callback, with EBADF while another thread's destroy of the timer waits for
// that callback.
void check_timer_cancel(ASYNC_TIMER_HANDLE handle, bool in_callback)
{
    const int error = async_timer_cancel(handle);
    CHECK(error == 0 || error == ENOMEM || (in_callback && error == EBADF), "async_timer_cancel failed with %d", error);
}

void on_timer(void* context, ASYNC_TIMER_RESULT result)
{
    TimerShot& shot = *static_cast<TimerShot*>(context);
    TimerSlot& slot = *shot.slot;
    if (trace)
        std::fprintf(stderr, "  timer callback: %d\n", result);
    CHECK(!slot.destroy_returned, "a timer callback started after async_timer_destroy returned");
    CHECK(shot.calls.fetch_add(1) == 0, "a timer start completed twice");
    CHECK(result == ASYNC_TIMER_FIRED || result == ASYNC_TIMER_CANCELLED || result == ASYNC_TIMER_ABANDONED, "timer result %d", result);
    if (result == ASYNC_TIMER_FIRED)
        CHECK(Clock::now() - shot.started >= milliseconds(shot.delay_ms), "a timer fired before its delay");
    // An abandoned start may complete inside the destroy that its own timer's callback made.
    const bool nested = slot.in_callback.exchange(true);
    CHECK(!nested || result == ASYNC_TIMER_ABANDONED, "callbacks of one timer nested");
    switch (shot.then)
    {
    case TimerThen::nothing:
        break;
    case TimerThen::restart:
        if (result == ASYNC_TIMER_FIRED && !slot.destroy_claimed)
        {
            TimerShot& next = shot.program->new_shot(&slot);
            next.delay_ms = 1;
            start_timer(next, slot.handle);
        }
        break;
    case TimerThen::cancel:
        if (!slot.destroy_claimed)
            check_timer_cancel(slot.handle, true);
        break;
    case TimerThen::destroy:
        if (slot.handed_over && !slot.destroy_claimed.exchange(true))
        {
            async_timer_destroy(slot.handle);
            slot.destroy_returned = true;
            slot.destroy_done = true;
        }
        break;
    }
    if (!nested)
        slot.in_callback = false;
}

bool start_timer(TimerShot& shot, ASYNC_TIMER_HANDLE handle)
{
    shot.started = Clock::now();
    const int error = async_timer_start(handle, shot.delay_ms, on_timer, &shot);
    CHECK(error == 0 || error == ENOMEM || error == EBADF, "async_timer_start failed with %d", error);
    shot.accepted = error == 0;
    if (trace)
        std::fprintf(stderr, "  timer start of %u ms: %s\n", shot.delay_ms, error == 0 ? "accepted" : "refused");
    return error == 0;
}

void on_open(void* context, ASYNC_SOCKET_OPEN_RESULT result)
{
    auto& slot = *static_cast<Slot*>(context);
    CHECK(!slot.close_returned, "an open callback after close returned");
    slot.open_result = result;
    CHECK(slot.opens.fetch_add(1) == 0, "two open callbacks");
}

bool start(Op& op, ASYNC_SOCKET_HANDLE handle, bool null_callback, bool expect_refusal);

// What a callback does after its result is checked.
void follow_up(Op& op)
{
    Slot& slot = *op.slot;
    switch (op.then)
    {
    case Then::nothing:
        break;
    case Then::close:
        async_socket_close(slot.handle);
        slot.close_returned = true;
        break;
    case Then::receive:
    {
        Op& next = op.program->new_op(&slot, false);
        next.storage.resize(64);
        next.buffers.push_back(ASYNC_SOCKET_BUFFER{next.storage.data(), 64});
        next.payload = next.buffers.data();
        next.count = 1;
        next.capacity = 64;
        start(next, slot.handle, false, false);
        break;
    }
    case Then::send:
    {
        Op& next = op.program->new_op(&slot, true);
        next.storage.assign(8, static_cast<uint8_t>('f'));
        next.buffers.push_back(ASYNC_SOCKET_BUFFER{next.storage.data(), 8});
        next.payload = next.buffers.data();
        next.count = 1;
        next.stream = next.storage;
        start(next, slot.handle, false, false);
        break;
    }
    }
    if (op.destroy_in_callback && slot.handed_over && !slot.destroy_claimed.exchange(true))
    {
        async_socket_destroy(slot.handle);
        slot.close_returned = true;
        slot.destroy_done = true;
    }
}

void enter_callback(Op& op)
{
    CHECK(!op.slot->close_returned, "a callback started after async_socket_close returned");
    CHECK(op.calls.fetch_add(1) == 0, "an operation completed twice");
}

void on_send(void* context, ASYNC_SOCKET_SEND_RESULT result)
{
    Op& op = *static_cast<Op*>(context);
    if (trace)
        std::fprintf(stderr, "  send callback: %d\n", result);
    enter_callback(op);
    CHECK(result == ASYNC_SOCKET_SEND_OK || result == ASYNC_SOCKET_SEND_ERROR || result == ASYNC_SOCKET_SEND_ABANDONED, "send result %d", result);
    if (Connection* c = op.slot->connection)
    {
        std::lock_guard<std::mutex> lock(c->mutex);
        if (result == ASYNC_SOCKET_SEND_OK)
        {
            CHECK(!c->send_failed, "a send succeeded after an earlier one failed");
            c->ok_bytes += op.stream.size();
        }
        else
        {
            c->send_failed = true;
        }
    }
    follow_up(op);
}

void on_receive(void* context, ASYNC_SOCKET_RECEIVE_RESULT result, uint32_t bytes)
{
    Op& op = *static_cast<Op*>(context);
    if (trace)
        std::fprintf(stderr, "  receive callback: %d, %u bytes\n", result, bytes);
    enter_callback(op);
    CHECK(result == ASYNC_SOCKET_RECEIVE_OK || result == ASYNC_SOCKET_RECEIVE_ERROR || result == ASYNC_SOCKET_RECEIVE_ABANDONED, "receive result %d", result);
    if (result != ASYNC_SOCKET_RECEIVE_OK)
    {
        CHECK(bytes == 0, "a failed receive reported %u bytes", bytes);
    }
    else
    {
        CHECK(bytes > 0 && bytes <= op.capacity, "a receive of %llu bytes reported %u", static_cast<unsigned long long>(op.capacity), bytes);
        std::vector<uint8_t> got;
        for (const ASYNC_SOCKET_BUFFER& buffer : op.buffers)
        {
            const size_t take = std::min<size_t>(buffer.length, bytes - got.size());
            const auto* p = static_cast<const uint8_t*>(buffer.buffer);
            got.insert(got.end(), p, p + take);
        }
        Connection* c = op.slot->connection;
        CHECK(c != nullptr, "a socket that is not a connected stream received bytes");
        std::lock_guard<std::mutex> lock(c->mutex);
        CHECK(c->library_received + got.size() <= c->peer_sent.size(), "received bytes the peer never sent");
        CHECK(std::memcmp(got.data(), c->peer_sent.data() + c->library_received, got.size()) == 0, "received bytes differ from what the peer sent");
        c->library_received += got.size();
    }
    follow_up(op);
}

void on_receive_timed(void* context, ASYNC_SOCKET_RECEIVE_TIMED_RESULT result, uint32_t bytes)
{
    Op& op = *static_cast<Op*>(context);
    CHECK(result >= ASYNC_SOCKET_RECEIVE_TIMED_OK && result <= ASYNC_SOCKET_RECEIVE_TIMED_CANCELLED, "timed receive result %d", result);
    if (result == ASYNC_SOCKET_RECEIVE_TIMED_TIMEOUT || result == ASYNC_SOCKET_RECEIVE_TIMED_CANCELLED)
    {
        if (trace)
            std::fprintf(stderr, "  timed receive callback: %d\n", result);
        CHECK(bytes == 0, "a timed out or cancelled receive reported %u bytes", bytes);
        enter_callback(op);
        follow_up(op);
        return;
    }
    // OK, ERROR and ABANDONED mean what the plain receive's do.
    on_receive(context, static_cast<ASYNC_SOCKET_RECEIVE_RESULT>(result), bytes);
}

// Calls send or receive for the operation; a call expected to be refused must be.
bool start(Op& op, ASYNC_SOCKET_HANDLE handle, bool null_callback, bool expect_refusal)
{
    Slot& slot = *op.slot;
    bool accepted;
    if (op.is_send)
    {
        // Under the slot's order lock, so that the bytes are recorded in the queue's order.
        std::lock_guard<std::mutex> order(slot.order);
        const ASYNC_SOCKET_SEND_SYNC_RESULT result = async_socket_send_async(handle, op.payload, op.count, null_callback ? nullptr : on_send, &op);
        CHECK(result == ASYNC_SOCKET_SEND_SYNC_OK || result == ASYNC_SOCKET_SEND_SYNC_ERROR || result == ASYNC_SOCKET_SEND_SYNC_ABANDONED, "send sync result %d", result);
        accepted = result == ASYNC_SOCKET_SEND_SYNC_OK;
        if (accepted && slot.connection != nullptr)
        {
            std::lock_guard<std::mutex> lock(slot.connection->mutex);
            slot.connection->accepted.insert(slot.connection->accepted.end(), op.stream.begin(), op.stream.end());
        }
    }
    else if (op.timed)
    {
        accepted = async_socket_receive_timed_async(handle, const_cast<ASYNC_SOCKET_BUFFER*>(op.payload), op.count, op.timeout_ms, null_callback ? nullptr : on_receive_timed, &op) == 0;
    }
    else
    {
        accepted = async_socket_receive_async(handle, const_cast<ASYNC_SOCKET_BUFFER*>(op.payload), op.count, null_callback ? nullptr : on_receive, &op) == 0;
    }
    op.accepted = accepted;
    if (trace)
        std::fprintf(stderr, "  %s of %u buffers: %s\n", op.is_send ? "send" : "receive", op.count, accepted ? "accepted" : "refused");
    CHECK(!(accepted && expect_refusal), "a %s with invalid arguments was accepted", op.is_send ? "send" : "receive");
    return accepted;
}

// Builds the buffers of a send or receive from the input. Returns whether the arguments are
// invalid (the call must be refused).
bool build_buffers(Op& op, Input& in)
{
    const uint8_t shape = in.byte();
    const uint8_t size_byte = in.byte();
    const bool big = (shape & 0x80) != 0;
    bool invalid = false;
    // count buffers of 1..max_length times scale bytes each, one input byte per length.
    auto add_normal = [&](uint32_t count, uint32_t max_length, uint32_t scale) {
        std::vector<uint32_t> lengths;
        size_t total = 0;
        for (uint32_t i = 0; i < count; ++i)
        {
            const uint32_t length = (1 + (in.byte() % max_length)) * scale;
            lengths.push_back(length);
            total += length;
        }
        op.storage.resize(total);
        size_t offset = 0;
        for (uint32_t length : lengths)
        {
            op.buffers.push_back(ASYNC_SOCKET_BUFFER{op.storage.data() + offset, length});
            offset += length;
        }
    };
    switch (shape % 8)
    {
    case 0:  // no array at all, with any count
        add_normal(1, 16, 1);
        op.payload = nullptr;
        op.count = size_byte;
        return true;
    case 1:  // zero buffers
        add_normal(1, 16, 1);
        op.payload = op.buffers.data();
        op.count = 0;
        return true;
    case 2:  // a buffer without memory, among good ones
    case 3:  // an empty buffer, among good ones
        add_normal(1 + size_byte % 4, 64, 1);
        op.buffers[size_byte % op.buffers.size()] = (shape % 8) == 2 ? ASYNC_SOCKET_BUFFER{nullptr, 5} : ASYNC_SOCKET_BUFFER{op.storage.data(), 0};
        invalid = true;
        break;
    case 4:  // a count so large that the operation's memory would pass 4 GiB: refused before
             // the (one-element) array is read
        add_normal(1, 16, 1);
        op.payload = op.buffers.data();
        op.count = (size_byte & 1) ? UINT32_MAX : 0x10000000u + size_byte;
        return true;
    case 5:  // many tiny buffers, more than IOV_MAX at times
        add_normal(1 + static_cast<uint32_t>(size_byte) * 5, 3, 1);
        break;
    case 6:  // sends: buffers that share and overlap their memory
        if (op.is_send)
        {
            add_normal(1, 256, 1);
            const uint32_t count = 1 + size_byte % 8;
            const auto length = static_cast<uint32_t>(op.storage.size());
            op.buffers.clear();
            for (uint32_t i = 0; i < count; ++i)
            {
                const uint32_t start = (i * 7) % length;
                op.buffers.push_back(ASYNC_SOCKET_BUFFER{op.storage.data() + start, length - start});
            }
            break;
        }
        [[fallthrough]];
    default:  // a few buffers, small or large
        add_normal(1 + size_byte % 6, 256, big ? 1024 : 1);
        break;
    }
    op.payload = op.buffers.data();
    op.count = static_cast<uint32_t>(op.buffers.size());
    if (op.is_send)
    {
        in.fill(op.storage.data(), op.storage.size());
        for (const ASYNC_SOCKET_BUFFER& buffer : op.buffers)
        {
            const auto* p = static_cast<const uint8_t*>(buffer.buffer);
            if (p != nullptr)
                op.stream.insert(op.stream.end(), p, p + buffer.length);
        }
    }
    else
    {
        for (const ASYNC_SOCKET_BUFFER& buffer : op.buffers)
            op.capacity += buffer.length;
    }
    return invalid;
}

// A connected pair: AF_UNIX, or TCP over loopback where the closes reset (SO_LINGER 0: no
// TIME_WAIT to pile up over millions of runs).
bool connect_pair(bool tcp, int& ours, int& peer)
{
    if (!tcp)
    {
        int fds[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
            return false;
        ours = fds[0];
        peer = fds[1];
        return true;
    }
    peer = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (peer < 0)
        return false;
    if (::connect(peer, reinterpret_cast<const sockaddr*>(&tcp_address), sizeof(tcp_address)) != 0)
    {
        ::close(peer);
        return false;
    }
    ours = ::accept4(tcp_listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (ours < 0)
    {
        ::close(peer);
        return false;
    }
    const linger l{1, 0};
    const int one = 1;
    for (int fd : {ours, peer})
    {
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return true;
}

class Interpreter
{
public:
    explicit Interpreter(Input& in) : in_(in) {}

    void step()
    {
        const uint8_t op = in_.byte();
        if (trace)
            std::fprintf(stderr, "step: opcode %d\n", op % kOpcodes);
        switch (op % kOpcodes)
        {
        case 0:
            create_engine();
            break;
        case 1:
            drop_engine();
            break;
        case 2:
            create_socket();
            break;
        case 3:
            open_socket();
            break;
        case 4:
        case 5:
            send_or_receive(op % kOpcodes == 4);
            break;
        case 6:
            if (Slot* slot = usable_slot())
            {
                async_socket_close(slot->handle);
                // Closing a socket never opened does nothing: it may still be opened.
                if (slot->open_calls_accepted > 0)
                    slot->close_returned = true;
            }
            break;
        case 7:
            destroy_socket();
            break;
        case 8:
            peer_write();
            break;
        case 9:
            peer_command(Peer::Kind::shutdown_write);
            break;
        case 10:
            peer_command(Peer::Kind::close);
            break;
        case 11:
            peer_command(Peer::Kind::reset);
            break;
        case 12:
            peer_command(in_.byte() & 1 ? Peer::Kind::pause : Peer::Kind::resume);
            break;
        case 13:
            std::this_thread::sleep_for(std::chrono::microseconds(250 * (in_.byte() % 8)));
            break;
        case 14:
            wait_for_operations();
            break;
        case 15:
            arm_fault();
            break;
        case 16:
            null_arguments();
            break;
        case 17:
            if (EXECUTION_ENGINE_HANDLE engine = p_.engines[in_.byte() % kEngines])
                CHECK(execution_engine_linux_set_busy_poll(engine, 50u * (in_.byte() % 4)) == 0, "set_busy_poll refused a valid engine");
            break;
        case 18:
            create_timer();
            break;
        case 19:
            start_timer_step();
            break;
        case 20:
            if (TimerSlot* slot = usable_timer())
                check_timer_cancel(slot->handle, false);
            break;
        case 21:
            if (TimerSlot* slot = usable_timer())
            {
                async_timer_destroy(slot->handle);
                slot->destroy_returned = true;
                slot->destroyed = true;
            }
            break;
        case 22:
            send_or_receive(false, true);
            break;
        case 23:
            cancel_receives();
            break;
        }
    }

    void finish()
    {
        destroy_timers();
        // Whatever the program did, every socket is destroyed, every peer reads to the end.
        for (Connection& c : p_.all_connections)
            p_.peer.command(Peer::Kind::resume, &c);
        for (Slot& slot : p_.all_slots)
        {
            if (slot.handed_over)
            {
                if (!slot.destroy_claimed.exchange(true))
                {
                    async_socket_destroy(slot.handle);
                }
                else
                {
                    // A callback destroys it: its close completes the socket's operations.
                    const auto deadline = Clock::now() + kTeardownWait;
                    while (!slot.destroy_done && Clock::now() < deadline)
                        std::this_thread::sleep_for(milliseconds(1));
                    CHECK(slot.destroy_done, "async_socket_destroy in a callback did not return");
                    continue;
                }
            }
            else if (!slot.destroyed)
            {
                async_socket_destroy(slot.handle);
            }
            slot.close_returned = true;
        }
        const auto deadline = Clock::now() + kTeardownWait;
        for (Connection& c : p_.all_connections)
        {
            while (!c.eof && Clock::now() < deadline)
                std::this_thread::sleep_for(milliseconds(1));
            CHECK(c.eof, "the peer did not see the end of the stream after the socket was destroyed");
        }
        for (EXECUTION_ENGINE_HANDLE& engine : p_.engines)
        {
            execution_engine_dec_ref(engine);
            engine = nullptr;
        }
        check_operations();
        check_streams();
        for (Connection& c : p_.all_connections)
            p_.peer.command(Peer::Kind::close, &c);
    }

private:
    Slot* usable_slot()
    {
        Slot* slot = p_.slots[in_.byte() % kSockets];
        return slot != nullptr && !slot->handed_over && !slot->destroyed ? slot : nullptr;
    }

    void create_engine()
    {
        const uint8_t b = in_.byte();
        EXECUTION_ENGINE_HANDLE& engine = p_.engines[b % kEngines];
        if (engine != nullptr)
            return;
        const EXECUTION_ENGINE_PARAMETERS parameters{1u + ((b >> 1) & 1u), 0};
        const ASOCK_LINUX_BACKEND backends[] = {ASOCK_LINUX_BACKEND_DEFAULT, ASOCK_LINUX_BACKEND_IO_URING, ASOCK_LINUX_BACKEND_EPOLL};
        const ASOCK_LINUX_BACKEND backend = backends[(b >> 2) % 3];
        engine = backend == ASOCK_LINUX_BACKEND_DEFAULT ? execution_engine_create(&parameters) : execution_engine_linux_create(&parameters, backend);
        if (engine != nullptr)
            CHECK(execution_engine_linux_get_backend(engine) != ASOCK_LINUX_BACKEND_DEFAULT, "an engine without a backend");
    }

    void drop_engine()
    {
        EXECUTION_ENGINE_HANDLE& engine = p_.engines[in_.byte() % kEngines];
        execution_engine_dec_ref(engine);  // the sockets made on it keep it alive
        engine = nullptr;
    }

    void create_socket()
    {
        const uint8_t b = in_.byte();
        Slot*& current = p_.slots[b % kSockets];
        if (current != nullptr && !current->destroyed && !current->handed_over)
            return;
        EXECUTION_ENGINE_HANDLE engine = p_.engines[(b >> 2) % kEngines];
        int ours = -1;
        int peer = -1;
        bool tcp = false;
        switch ((b >> 3) % 6)
        {
        case 0:
        case 1:
        case 2:
            break;
        case 3:
            tcp = tcp_listener >= 0;
            break;
        case 4:  // not a stream socket: open must refuse it
        {
            int fds[2];
            if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fds) != 0)
                return;
            ::close(fds[1]);
            ours = fds[0];
            break;
        }
        case 5:  // the invalid handle
            ours = INVALID_SOCKET;
            break;
        }
        if (ours == -1 && (b >> 3) % 6 != 5 && !connect_pair(tcp, ours, peer))
            return;
        ASYNC_SOCKET_HANDLE handle = async_socket_create(engine, ours);
        if (engine == nullptr || ours == INVALID_SOCKET)
            CHECK(handle == nullptr, "async_socket_create accepted a NULL engine or an invalid handle");
        if (handle == nullptr)
        {
            // The handle was not taken: it is still ours to close.
            if (ours >= 0)
                CHECK(::close(ours) == 0, "a refused create closed the handle");
            if (peer >= 0)
                ::close(peer);
            return;
        }
        Slot& slot = p_.all_slots.emplace_back();
        slot.handle = handle;
        if (peer >= 0)
        {
            Connection& c = p_.all_connections.emplace_back();
            c.peer = peer;
            c.tcp = tcp;
            slot.connection = &c;
            p_.peer.command(Peer::Kind::add, &c);
        }
        current = &slot;
    }

    void open_socket()
    {
        const uint8_t b = in_.byte();
        Slot* slot = p_.slots[b % kSockets];
        if ((b & 0x80) != 0)
        {
            CHECK(async_socket_open_async(nullptr, on_open, nullptr) != 0, "open accepted a NULL socket");
            return;
        }
        if (slot == nullptr || slot->handed_over || slot->destroyed)
            return;
        if ((b & 0x40) != 0)
        {
            CHECK(async_socket_open_async(slot->handle, nullptr, slot) != 0, "open accepted a NULL callback");
            return;
        }
        if (async_socket_open_async(slot->handle, on_open, slot) == 0)
        {
            CHECK(slot->connection != nullptr, "open accepted a handle that is not a connected stream socket");
            ++slot->open_calls_accepted;
        }
    }

    void send_or_receive(bool is_send, bool timed = false)
    {
        const uint8_t target = in_.byte();
        const uint8_t flags = in_.byte();
        Slot* slot = p_.slots[target % kSockets];
        // The arguments are read in any case, so that a step means the same wherever it is.
        Op& op = p_.new_op(slot, is_send);
        op.then = static_cast<Then>((flags >> 2) & 3);
        op.timed = timed;
        op.timeout_ms = timed ? in_.byte() % 8 : 0;
        const bool invalid = build_buffers(op, in_);
        if (slot == nullptr || slot->handed_over || slot->destroyed)
            return;
        const bool null_callback = (flags & 1) != 0;
        const bool null_handle = (flags & 2) != 0;
        op.destroy_in_callback = (flags & 0x10) != 0;
        const bool accepted = start(op, null_handle ? nullptr : slot->handle, null_callback, invalid || null_callback || null_handle);
        if (accepted && op.destroy_in_callback)
            slot->handed_over = true;  // the socket's callbacks may destroy it: hands off
    }

    TimerSlot* usable_timer()
    {
        TimerSlot* slot = p_.timers[in_.byte() % kTimers];
        return slot != nullptr && !slot->handed_over && !slot->destroyed ? slot : nullptr;
    }

    // b: slot b%3, engine (b>>2)%2.
    void create_timer()
    {
        const uint8_t b = in_.byte();
        TimerSlot*& current = p_.timers[b % kTimers];
        if (current != nullptr && !current->destroyed && !current->handed_over)
            return;
        EXECUTION_ENGINE_HANDLE engine = p_.engines[(b >> 2) % kEngines];
        ASYNC_TIMER_HANDLE handle = async_timer_create(engine);
        if (engine == nullptr)
            CHECK(handle == nullptr, "async_timer_create accepted a NULL engine");
        if (handle == nullptr)
            return;
        TimerSlot& slot = p_.all_timers.emplace_back();
        slot.handle = handle;
        current = &slot;
    }

    // slot, delay (%8 ms; 0x08: NULL callback), then ((d>>4)&3: nothing, restart, cancel, destroy).
    void start_timer_step()
    {
        TimerSlot* slot = p_.timers[in_.byte() % kTimers];
        const uint8_t d = in_.byte();
        TimerShot& shot = p_.new_shot(slot);
        shot.delay_ms = d % 8;
        shot.then = static_cast<TimerThen>((d >> 4) & 3);
        if (slot == nullptr || slot->handed_over || slot->destroyed)
            return;
        if ((d & 0x08) != 0)
        {
            CHECK(async_timer_start(slot->handle, shot.delay_ms, nullptr, &shot) == EINVAL, "a timer start without a callback was accepted");
            return;
        }
        if (start_timer(shot, slot->handle) && shot.then == TimerThen::destroy)
            slot->handed_over = true;  // its callbacks may destroy it: hands off
    }

    void cancel_receives()
    {
        Slot* slot = usable_slot();
        if (slot == nullptr)
            return;
        const int error = async_socket_cancel_receives(slot->handle);
        CHECK(error == 0 || error == ENOMEM || error == EBADF, "async_socket_cancel_receives failed with %d", error);
    }

    void destroy_timers()
    {
        for (TimerSlot& slot : p_.all_timers)
        {
            if (slot.handed_over && slot.destroy_claimed.exchange(true))
            {
                const auto deadline = Clock::now() + kTeardownWait;
                while (!slot.destroy_done && Clock::now() < deadline)
                    std::this_thread::sleep_for(milliseconds(1));
                CHECK(slot.destroy_done, "async_timer_destroy in a callback did not return");
                continue;
            }
            if (!slot.destroyed)
                async_timer_destroy(slot.handle);
            slot.destroy_returned = true;
        }
        std::lock_guard<std::mutex> lock(p_.ops_mutex);
        for (const TimerShot& shot : p_.shots)
            CHECK(shot.calls.load() == (shot.accepted ? 1 : 0), "a timer start %s completed %d times", shot.accepted ? "accepted" : "refused", shot.calls.load());
    }

    void destroy_socket()
    {
        Slot* slot = usable_slot();
        if (slot == nullptr)
            return;
        async_socket_destroy(slot->handle);
        slot->close_returned = true;
        slot->destroyed = true;
    }

    void peer_write()
    {
        Slot* slot = p_.slots[in_.byte() % kSockets];
        const uint8_t size = in_.byte();
        const size_t length = (size & 0x80) != 0 ? (size & 0x7f) * 1024u : size;
        std::vector<uint8_t> data(length);
        in_.fill(data.data(), data.size());
        if (slot != nullptr && slot->connection != nullptr && !data.empty())
            p_.peer.command(Peer::Kind::write, slot->connection, std::move(data));
    }

    void peer_command(Peer::Kind kind)
    {
        Slot* slot = p_.slots[in_.byte() % kSockets];
        if (slot != nullptr && slot->connection != nullptr)
            p_.peer.command(kind, slot->connection);
    }

    // Waits a little for the operations started so far to complete.
    void wait_for_operations()
    {
        const auto deadline = Clock::now() + milliseconds(in_.byte() % 10);
        while (Clock::now() < deadline)
        {
            bool pending = false;
            {
                std::lock_guard<std::mutex> lock(p_.ops_mutex);
                for (const Op& op : p_.ops)
                    pending = pending || (op.accepted && op.calls.load() == 0);
            }
            if (!pending)
                return;
            std::this_thread::sleep_for(milliseconds(1));
        }
    }

    void arm_fault()
    {
        const unsigned point = in_.byte() % ASOCK_FAULT_POINT_COUNT;
        asock_fault_arm(ASOCK_FAULT_BIT(point), in_.byte() % 16);
    }

    void null_arguments()
    {
        char data[4] = {};
        ASYNC_SOCKET_BUFFER buffer{data, sizeof(data)};
        CHECK(async_socket_create(nullptr, 0) == nullptr, "create accepted a NULL engine");
        async_socket_destroy(nullptr);
        async_socket_close(nullptr);
        CHECK(async_socket_open_async(nullptr, on_open, nullptr) != 0, "open accepted a NULL socket");
        CHECK(async_socket_send_async(nullptr, &buffer, 1, on_send, nullptr) == ASYNC_SOCKET_SEND_SYNC_ERROR, "send accepted a NULL socket");
        CHECK(async_socket_receive_async(nullptr, &buffer, 1, on_receive, nullptr) != 0, "receive accepted a NULL socket");
        execution_engine_inc_ref(nullptr);
        execution_engine_dec_ref(nullptr);
        CHECK(async_timer_create(nullptr) == nullptr, "a timer on a NULL engine");
        CHECK(async_timer_start(nullptr, 0, on_timer, nullptr) == EINVAL, "a timer start accepted a NULL timer");
        CHECK(async_timer_cancel(nullptr) == EINVAL, "a timer cancel accepted a NULL timer");
        async_timer_destroy(nullptr);
        CHECK(async_socket_receive_timed_async(nullptr, &buffer, 1, 1, on_receive_timed, nullptr) != 0, "a timed receive accepted a NULL socket");
        CHECK(async_socket_cancel_receives(nullptr) == EINVAL, "cancel_receives accepted a NULL socket");
        CHECK(execution_engine_linux_get_backend(nullptr) == ASOCK_LINUX_BACKEND_DEFAULT, "a NULL engine has a backend");
        CHECK(execution_engine_linux_set_busy_poll(nullptr, 0) != 0, "set_busy_poll accepted a NULL engine");
        const EXECUTION_ENGINE_PARAMETERS inverted{3, 2};
        CHECK(execution_engine_create(&inverted) == nullptr, "an engine with max < min threads");
        const EXECUTION_ENGINE_PARAMETERS one{1, 0};
        CHECK(execution_engine_linux_create(&one, static_cast<ASOCK_LINUX_BACKEND>(7)) == nullptr, "an engine of an unknown backend");
    }

    void check_operations()
    {
        std::lock_guard<std::mutex> lock(p_.ops_mutex);
        for (const Op& op : p_.ops)
        {
            if (op.accepted)
                CHECK(op.calls.load() == 1, "an accepted %s completed %d times", op.is_send ? "send" : "receive", op.calls.load());
            else
                CHECK(op.calls.load() == 0, "a refused %s called back", op.is_send ? "send" : "receive");
        }
        for (const Slot& slot : p_.all_slots)
        {
            CHECK(slot.opens.load() == (slot.open_calls_accepted > 0 ? 1 : 0), "%d open callbacks after %d accepted opens", slot.opens.load(), slot.open_calls_accepted);
            CHECK(slot.open_calls_accepted <= 1, "a second open of a socket was accepted");
            if (slot.opens.load() == 1)
                CHECK(slot.open_result.load() == ASYNC_SOCKET_OPEN_OK, "open completed with %d", slot.open_result.load());
        }
    }

    void check_streams()
    {
        for (Connection& c : p_.all_connections)
        {
            std::lock_guard<std::mutex> lock(c.mutex);
            const size_t got = c.peer_received.size();
            CHECK(got <= c.accepted.size() && std::equal(c.peer_received.begin(), c.peer_received.end(), c.accepted.begin()),
                  "the peer got bytes that were not sent, or out of order (%zu bytes got, %zu accepted)", got, c.accepted.size());
            // A peer that stayed to the end (and, over TCP, was not cut short by the reset
            // of the final close) got every send that completed OK.
            if (!c.peer_left && !c.tcp)
                CHECK(got >= c.ok_bytes, "sends completed OK but their bytes did not arrive (%zu of %zu)", got, c.ok_bytes);
        }
    }

    Input& in_;
    Program p_;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    // Once per process, before any baseline: the io_uring probe, the TCP listener.
    trace = std::getenv("ASOCK_FUZZ_TRACE") != nullptr;
    // Without io_uring the programs' io_uring engines are never made: fine, unless
    // ASOCK_REQUIRE_IO_URING=1 says this machine has it (support/helpers.h).
    const char* required = std::getenv("ASOCK_REQUIRE_IO_URING");
    if (execution_engine_linux_io_uring_available() == 0 && required != nullptr && std::strcmp(required, "1") == 0)
    {
        std::fprintf(stderr, "asock_api_fuzzer: io_uring cannot be used on this machine, but ASOCK_REQUIRE_IO_URING=1 requires it\n");
        std::exit(1);
    }
    tcp_listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    tcp_address.sin_family = AF_INET;
    tcp_address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(tcp_address);
    if (tcp_listener < 0 || ::bind(tcp_listener, reinterpret_cast<sockaddr*>(&tcp_address), sizeof(tcp_address)) != 0 || ::listen(tcp_listener, 16) != 0 ||
        ::getsockname(tcp_listener, reinterpret_cast<sockaddr*>(&tcp_address), &length) != 0)
    {
        if (tcp_listener >= 0)
            ::close(tcp_listener);
        tcp_listener = -1;  // TCP steps become AF_UNIX ones
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    // Taken for each input: libFuzzer itself may open files between inputs.
    const size_t baseline_threads = count_entries("/proc/self/task");
    const size_t baseline_fds = count_entries("/proc/self/fd");
    {
        Input in(data, size);
        Interpreter program(in);
        for (int steps = 0; steps < kMaxSteps && !in.empty(); ++steps)
            program.step();
        program.finish();
    }
    asock_fault_disarm();
    // Everything is gone: an engine whose last reference went on its own loop thread ends
    // that thread a moment later.
    const auto deadline = Clock::now() + kTeardownWait;
    while (count_entries("/proc/self/task") > baseline_threads && Clock::now() < deadline)
        std::this_thread::sleep_for(milliseconds(1));
    CHECK(count_entries("/proc/self/task") <= baseline_threads, "threads left behind: %zu, %zu before", count_entries("/proc/self/task"), baseline_threads);
    CHECK(count_entries("/proc/self/fd") == baseline_fds, "descriptors left behind: %zu, %zu before", count_entries("/proc/self/fd"), baseline_fds);
    return 0;
}
