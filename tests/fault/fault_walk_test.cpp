// The fault walk (see fault_walk.h): every scenario of a socket's and an engine's life, with
// each call at each fault point failing in turn. After an injected failure the API reports a
// clear failure, or every operation it accepted completes exactly once (a non-OK result is
// allowed); nothing crashes or hangs; the engine and the socket still work or are torn down
// cleanly; no descriptor or thread is left behind (and LeakSanitizer, in the asan preset,
// finds no leaked memory). Each test prints how many points and injections it walked.
#include <fcntl.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "fault/fault_walk.h"

namespace asock_test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr milliseconds kCompletionWait{5000};
constexpr auto kRunLimit = seconds(60);

// Other errors walked besides each point's default (fault_points.h): the caller's other way of
// handling the failure.
constexpr ErrorVariant kErrorVariants[] = {
    {ASOCK_FAULT_POINT_SYS_SENDMSG, EINTR},             // retried at once
    {ASOCK_FAULT_POINT_SYS_SENDMSG, ECONNRESET},        // the send is abandoned
    {ASOCK_FAULT_POINT_SYS_RECVMSG, EINTR},             // retried at once
    {ASOCK_FAULT_POINT_SYS_RECVMSG, ECONNRESET},        // the receive is abandoned
    {ASOCK_FAULT_POINT_URING_SUBMIT, EINTR},            // retried at once
    {ASOCK_FAULT_POINT_URING_SUBMIT_AND_WAIT, EAGAIN},  // not retried: the loop comes round
    {ASOCK_FAULT_POINT_URING_SYNC_CANCEL, ENOMEM},      // the last resort: shut down and reap
};

// The process-wide sum, printed at the end when the walk tests run in one process.
WalkTotals grand_totals;

struct WalkReport : ::testing::Environment
{
    void TearDown() override
    {
        if (grand_totals.runs == 0)
            return;
        unsigned reached = 0;
        std::string missed;
        for (unsigned p = 0; p < ASOCK_FAULT_POINT_COUNT; ++p)
        {
            if ((grand_totals.reached & ASOCK_FAULT_BIT(p)) != 0)
                ++reached;
            else
                missed += std::string(" ") + asock_fault_point_name(p);
        }
        std::printf("[ fault walk ] total: %u of %u fault points reached, %llu injection runs, %llu failures injected%s%s\n", reached, ASOCK_FAULT_POINT_COUNT,
                    static_cast<unsigned long long>(grand_totals.runs), static_cast<unsigned long long>(grand_totals.fired), missed.empty() ? "" : "; not reached:",
                    missed.c_str());
    }
};
const auto* const report = ::testing::AddGlobalTestEnvironment(new WalkReport);

}  // namespace

WalkTotals walk_scenario(const char* scenario, Backend backend, bool default_backend, const std::function<void(WalkRun&)>& run_scenario, uint64_t always_failing)
{
    const auto started = std::chrono::steady_clock::now();
    std::string where = std::string(default_backend ? "default" : backend_name(backend)) + "/" + scenario;
    for (unsigned p = 0; p < ASOCK_FAULT_POINT_COUNT; ++p)
    {
        if ((always_failing & ASOCK_FAULT_BIT(p)) != 0)
            where += std::string(" (") + asock_fault_point_name(p) + " always fails)";
    }
    // The io_uring probe runs once per process: never inside an armed region.
    (void)execution_engine_linux_io_uring_available();
    Watchdog watchdog;
    const size_t fds = open_fd_count();
    const size_t threads = thread_count();
    WalkTotals totals;

    // Everything a run leaves must be gone when it returns.
    const auto expect_clean = [&](const std::string& run_name) {
        EXPECT_TRUE(wait_for_thread_count(threads, seconds(5))) << run_name << ": threads left behind";
        EXPECT_EQ(fds, open_fd_count()) << run_name << ": descriptors left behind";
    };

    asock_fault_fail_always(always_failing);
    struct StopFailing
    {
        ~StopFailing() { asock_fault_fail_always(0); }
    } stop_failing;
    WalkRun counting(backend, default_backend, WalkRun::kCounting, 0);
    watchdog.start(where + " (counting)", kRunLimit);
    run_scenario(counting);
    watchdog.stop();
    expect_clean(where + " (counting)");
    if (::testing::Test::HasFailure())
        return totals;

    struct Entry
    {
        unsigned point;
        int error;  // 0: the point's default
    };
    std::vector<Entry> entries;
    for (unsigned p = 0; p < ASOCK_FAULT_POINT_COUNT; ++p)
        entries.push_back({p, 0});
    for (const ErrorVariant& variant : kErrorVariants)
        entries.push_back({variant.point, variant.error});

    for (const Entry& entry : entries)
    {
        const uint64_t hits = counting.hits(entry.point);
        if (hits == 0 || (always_failing & ASOCK_FAULT_BIT(entry.point)) != 0)
            continue;
        if (entry.error == 0)
        {
            ++totals.points_reached;
            totals.reached |= ASOCK_FAULT_BIT(entry.point);
        }
        asock_fault_set_errno(entry.point, entry.error);
        for (uint64_t skip = 0; skip < hits; ++skip)
        {
            std::string run_name = where + ": " + asock_fault_point_name(entry.point);
            if (entry.error != 0)
                run_name += " errno " + std::to_string(entry.error);
            run_name += ", call " + std::to_string(skip + 1) + " of " + std::to_string(hits) + " fails";
            SCOPED_TRACE(run_name);
            WalkRun run(backend, default_backend, entry.point, skip);
            watchdog.start(run_name, kRunLimit);
            run_scenario(run);
            run.disarm();
            watchdog.stop();
            expect_clean(run_name);
            ++totals.runs;
            totals.fired += run.fired() ? 1 : 0;
            if (::testing::Test::HasFailure())
                break;  // one failing run per test is enough to read
        }
        asock_fault_set_errno(entry.point, 0);
        if (::testing::Test::HasFailure())
            break;
    }

    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::string reached;
    for (unsigned p = 0; p < ASOCK_FAULT_POINT_COUNT; ++p)
    {
        if (counting.hits(p) != 0)
            reached += std::string(" ") + asock_fault_point_name(p) + "x" + std::to_string(counting.hits(p));
    }
    std::printf("[ fault walk ] %s: %u of %u fault points reached, %llu injection runs, %llu failures injected, %.1f s\n[ fault walk ]   calls:%s\n", where.c_str(),
                totals.points_reached, ASOCK_FAULT_POINT_COUNT, static_cast<unsigned long long>(totals.runs), static_cast<unsigned long long>(totals.fired), elapsed,
                reached.c_str());
    std::fflush(stdout);
    grand_totals.points_reached += totals.points_reached;
    grand_totals.reached |= totals.reached;
    grand_totals.runs += totals.runs;
    grand_totals.fired += totals.fired;
    return totals;
}

namespace {

// --- Helpers -------------------------------------------------------------------------------

EXECUTION_ENGINE_HANDLE engine_for(const WalkRun& run, uint32_t loops)
{
    EXECUTION_ENGINE_PARAMETERS parameters{loops, 0};
    return run.default_backend() ? execution_engine_create(&parameters) : execution_engine_linux_create(&parameters, linux_backend(run.backend()));
}

void on_open(void* context, ASYNC_SOCKET_OPEN_RESULT result) { OpenRecord::callback(context, result); }

// Creates and opens a socket with no failure armed.
ASYNC_SOCKET_HANDLE open_socket(EXECUTION_ENGINE_HANDLE engine, SOCKET_HANDLE handle)
{
    ASYNC_SOCKET_HANDLE socket = async_socket_create(engine, handle);
    if (socket == nullptr)
    {
        ADD_FAILURE() << "async_socket_create failed with no failure armed";
        return nullptr;
    }
    OpenRecord open;
    EXPECT_EQ(0, async_socket_open_async(socket, on_open, &open));
    EXPECT_TRUE(open.done.wait_for(1, kCompletionWait));
    return socket;
}

// One byte each way through an open socket, with no failure armed: the socket still works.
void expect_socket_works(ASYNC_SOCKET_HANDLE socket, NativeSocket peer)
{
    OpLog log;
    OpLog::Op& receive = log.receive(1, 1);
    OpLog::Op& send = log.send({'s'}, 1);
    ASSERT_TRUE(log.start(socket, receive));
    ASSERT_TRUE(log.start(socket, send));
    ASSERT_TRUE(write_all(peer, "r", 1));
    if (!log.wait_all(kCompletionWait))
    {
        ADD_FAILURE() << "the socket does not work any more";
        async_socket_close(socket);  // completes the operations before the log goes
    }
    EXPECT_TRUE(receive.ok());
    EXPECT_EQ(std::vector<uint8_t>{'r'}, receive.received());
    EXPECT_TRUE(send.ok());
    EXPECT_EQ(std::vector<uint8_t>{'s'}, read_exactly(peer, 1, kCompletionWait));
    log.expect_exactly_once();
}

// A new socket on the engine moves bytes both ways: the engine still works.
void expect_engine_works(EXECUTION_ENGINE_HANDLE engine)
{
    Connection c = local_connection();
    ASYNC_SOCKET_HANDLE socket = open_socket(engine, c.ours);
    if (socket != nullptr)
        expect_socket_works(socket, c.peer);
    async_socket_destroy(socket);
    ::close(c.peer);
}

// Reads everything the peer end gets until the end of the stream (or the deadline).
class PeerReader
{
public:
    explicit PeerReader(NativeSocket peer)
        : thread_([this, peer] {
              const auto deadline = std::chrono::steady_clock::now() + seconds(20);
              uint8_t buffer[65536];
              while (std::chrono::steady_clock::now() < deadline)
              {
                  const long n = read_some(peer, buffer, sizeof(buffer), milliseconds(100));
                  if (n == 0)
                      break;
                  if (n > 0)
                      data_.insert(data_.end(), buffer, buffer + n);
              }
          })
    {
    }
    std::vector<uint8_t> finish()
    {
        thread_.join();
        return data_;
    }

private:
    std::vector<uint8_t> data_;
    std::thread thread_;
};

bool is_prefix(const std::vector<uint8_t>& prefix, const std::vector<uint8_t>& whole)
{
    return prefix.size() <= whole.size() && std::equal(prefix.begin(), prefix.end(), whole.begin());
}

// --- Scenarios -----------------------------------------------------------------------------

// An engine of two loops is created; if it is, it works. With the default backend, a ring
// that cannot be set up makes the engine fall back to epoll.
void engine_create(WalkRun& run)
{
    run.arm();
    EXECUTION_ENGINE_HANDLE engine = engine_for(run, 2);
    run.disarm();
    const bool ring_failed = run.fired_at(ASOCK_FAULT_POINT_URING_SETUP) || (execution_engine_linux_io_uring_available() && (run.fired_at(ASOCK_FAULT_POINT_SYS_EVENTFD) || run.fired_at(ASOCK_FAULT_POINT_BACKEND_ALLOC)));
    if (engine == nullptr)
    {
        EXPECT_TRUE(run.fired()) << "execution_engine_create failed with no failure injected";
        EXPECT_FALSE(run.default_backend() && ring_failed) << "the default backend did not fall back to epoll";
        return;
    }
    if (run.default_backend() && ring_failed)
    {
        EXPECT_EQ(ASOCK_LINUX_BACKEND_EPOLL, execution_engine_linux_get_backend(engine));
    }
    expect_engine_works(engine);
    execution_engine_dec_ref(engine);
}

// The last reference goes, after a socket was destroyed with operations in flight (io_uring:
// their entries are orphaned, and reaped when the loop ends).
void engine_destroy(WalkRun& run)
{
    EXECUTION_ENGINE_HANDLE engine = engine_for(run, 2);
    ASSERT_NE(nullptr, engine);
    Connection c = local_connection();
    ASYNC_SOCKET_HANDLE socket = open_socket(engine, c.ours);
    OpLog log;
    log.start(socket, log.receive(16, 1));
    std::this_thread::sleep_for(milliseconds(2));  // the loop starts the receive
    async_socket_destroy(socket);
    log.closed();
    log.expect_exactly_once();
    run.arm();
    execution_engine_dec_ref(engine);
    run.disarm();
    ::close(c.peer);
}

void socket_create(WalkRun& run)
{
    EXECUTION_ENGINE_HANDLE engine = engine_for(run, 1);
    ASSERT_NE(nullptr, engine);
    Connection c = local_connection();
    run.arm();
    ASYNC_SOCKET_HANDLE socket = async_socket_create(engine, c.ours);
    run.disarm();
    if (socket == nullptr)
    {
        EXPECT_TRUE(run.fired()) << "async_socket_create failed with no failure injected";
        EXPECT_TRUE(socket_is_open(c.ours)) << "a failed create closed the handle";
        ::close(c.ours);
    }
    else
    {
        OpenRecord open;
        EXPECT_EQ(0, async_socket_open_async(socket, on_open, &open));
        EXPECT_TRUE(open.done.wait_for(1, kCompletionWait));
        expect_socket_works(socket, c.peer);
        async_socket_destroy(socket);
    }
    ::close(c.peer);
    execution_engine_dec_ref(engine);
}

void socket_open(WalkRun& run)
{
    EXECUTION_ENGINE_HANDLE engine = engine_for(run, 1);
    ASSERT_NE(nullptr, engine);
    Connection c = local_connection();
    ASYNC_SOCKET_HANDLE socket = async_socket_create(engine, c.ours);
    ASSERT_NE(nullptr, socket);
    OpenRecord open;
    run.arm();
    const int result = async_socket_open_async(socket, on_open, &open);
    if (result == 0)
    {
        EXPECT_TRUE(open.done.wait_for(1, kCompletionWait)) << "the open callback did not come";
    }
    run.disarm();
    if (result != 0)
    {
        EXPECT_TRUE(run.fired()) << "async_socket_open_async failed with no failure injected";
        // The socket can be opened again once the failure is gone.
        OpenRecord again;
        EXPECT_EQ(0, async_socket_open_async(socket, on_open, &again));
        EXPECT_TRUE(again.done.wait_for(1, kCompletionWait));
    }
    else
    {
        EXPECT_EQ(ASYNC_SOCKET_OPEN_OK, open.result.load());
    }
    expect_socket_works(socket, c.peer);
    async_socket_destroy(socket);
    EXPECT_EQ(result == 0 ? 1 : 0, open.calls.load()) << "open callbacks";
    ::close(c.peer);
    execution_engine_dec_ref(engine);
}

// Three sends (one buffer, six buffers, and one larger than the socket's buffers, which goes
// out in pieces) while the peer reads.
void socket_send(WalkRun& run)
{
    EXECUTION_ENGINE_HANDLE engine = engine_for(run, 1);
    ASSERT_NE(nullptr, engine);
    Connection c = local_connection();
    set_send_buffer(c.ours, 8192);
    ASYNC_SOCKET_HANDLE socket = open_socket(engine, c.ours);
    ASSERT_NE(nullptr, socket);
    PeerReader reader(c.peer);
    OpLog log;
    OpLog::Op* sends[] = {&log.send(pattern(100, 1), 1), &log.send(pattern(6000, 2), 6), &log.send(pattern(300000, 3), 1)};
    run.arm();
    for (OpLog::Op* op : sends)
        log.start(socket, *op);
    EXPECT_TRUE(log.wait_all(kCompletionWait)) << "a send did not complete";
    run.disarm();

    // In order: the sends that succeeded come first (after a failure every later send fails),
    // and the peer got them, then possibly part of the one that failed.
    std::vector<uint8_t> stream;
    size_t succeeded = 0;
    bool failed = false;
    for (OpLog::Op* op : sends)
    {
        if (!op->accepted)
            continue;
        stream.insert(stream.end(), op->data.begin(), op->data.end());
        if (op->ok())
        {
            EXPECT_FALSE(failed) << "a send succeeded after an earlier one failed";
            succeeded = stream.size();
        }
        failed = failed || (op->calls.load() != 0 && !op->ok());
    }
    if (failed)
    {
        EXPECT_TRUE(run.fired()) << "a send failed with no failure injected";
    }
    // Receiving still works.
    OpLog after;
    OpLog::Op& receive = after.receive(1, 1);
    ASSERT_TRUE(after.start(socket, receive));
    ASSERT_TRUE(write_all(c.peer, "r", 1));
    EXPECT_TRUE(after.wait_all(kCompletionWait));
    EXPECT_TRUE(receive.ok());
    async_socket_destroy(socket);
    log.closed();
    after.closed();
    const std::vector<uint8_t> received = reader.finish();
    EXPECT_TRUE(is_prefix(received, stream)) << "the peer got bytes that were not sent, or out of order";
    EXPECT_GE(received.size(), succeeded) << "a send completed OK but its bytes did not arrive";
    if (!failed)
    {
        EXPECT_EQ(stream.size(), received.size());
    }
    log.expect_exactly_once();
    after.expect_exactly_once();
    ::close(c.peer);
    execution_engine_dec_ref(engine);
}

// Three receives (one buffer, six, one) and the peer's bytes; every byte arrives once, in
// order, through the receives that succeeded and the ones made after the failure.
void socket_receive(WalkRun& run)
{
    EXECUTION_ENGINE_HANDLE engine = engine_for(run, 1);
    ASSERT_NE(nullptr, engine);
    Connection c = local_connection();
    ASYNC_SOCKET_HANDLE socket = open_socket(engine, c.ours);
    ASSERT_NE(nullptr, socket);
    const std::vector<uint8_t> sent = pattern(400, 4);
    OpLog log;
    OpLog::Op* receives[] = {&log.receive(64, 1), &log.receive(96, 6), &log.receive(4096, 1)};
    run.arm();
    for (OpLog::Op* op : receives)
        log.start(socket, *op);
    EXPECT_TRUE(write_all(c.peer, sent.data(), sent.size()));
    // Every accepted receive completes: there are more bytes than the first two can take.
    EXPECT_TRUE(log.wait_all(kCompletionWait)) << "a receive did not complete";
    run.disarm();

    std::vector<uint8_t> received;
    for (OpLog::Op* op : receives)
    {
        if (op->calls.load() == 0)
            continue;
        if (op->ok())
            EXPECT_NE(0u, op->bytes.load());
        else
            EXPECT_TRUE(run.fired()) << "a receive failed with no failure injected";
        const std::vector<uint8_t> got = op->received();
        received.insert(received.end(), got.begin(), got.end());
    }
    // What is left arrives through new receives.
    while (received.size() < sent.size())
    {
        OpLog more;
        OpLog::Op& receive = more.receive(sent.size(), 1);
        ASSERT_TRUE(more.start(socket, receive));
        if (!more.wait_all(kCompletionWait))
        {
            ADD_FAILURE() << "the bytes left did not arrive";
            async_socket_close(socket);
        }
        ASSERT_TRUE(receive.ok());
        const std::vector<uint8_t> got = receive.received();
        received.insert(received.end(), got.begin(), got.end());
    }
    EXPECT_EQ(sent, received);
    expect_socket_works(socket, c.peer);
    async_socket_destroy(socket);
    log.closed();
    log.expect_exactly_once();
    ::close(c.peer);
    execution_engine_dec_ref(engine);
}

// Operations that cannot complete yet (two receives, two sends behind a full socket buffer)
// when async_socket_close is called from the application's thread.
void close_pending(WalkRun& run)
{
    EXECUTION_ENGINE_HANDLE engine = engine_for(run, 1);
    ASSERT_NE(nullptr, engine);
    Connection c = local_connection();
    set_send_buffer(c.ours, 4096);
    set_receive_buffer(c.peer, 4096);
    ASYNC_SOCKET_HANDLE socket = open_socket(engine, c.ours);
    ASSERT_NE(nullptr, socket);
    OpLog log;
    OpLog::Op* ops[] = {&log.receive(64, 1), &log.receive(96, 6), &log.send(pattern(200000, 5), 1), &log.send(pattern(100, 6), 3)};
    for (OpLog::Op* op : ops)
        EXPECT_TRUE(log.start(socket, *op));
    std::this_thread::sleep_for(milliseconds(2));  // the loop starts them
    run.arm();
    async_socket_close(socket);
    log.closed();
    run.disarm();
    // Close completed them all before it returned.
    EXPECT_EQ(log.accepted(), log.completed()) << "close returned before every operation completed";
    EXPECT_FALSE(ops[0]->ok());
    EXPECT_FALSE(ops[1]->ok());
    EXPECT_FALSE(ops[2]->ok());
    EXPECT_TRUE(reaches_end_of_stream(c.peer, kCompletionWait)) << "the handle was not closed";
    async_socket_destroy(socket);
    log.expect_exactly_once();
    ::close(c.peer);
    execution_engine_dec_ref(engine);
}

// A receive callback closes its own socket while a receive and a large send are pending.
void close_in_callback(WalkRun& run)
{
    EXECUTION_ENGINE_HANDLE engine = engine_for(run, 1);
    ASSERT_NE(nullptr, engine);
    Connection c = local_connection();
    set_send_buffer(c.ours, 4096);
    set_receive_buffer(c.peer, 4096);
    ASYNC_SOCKET_HANDLE socket = open_socket(engine, c.ours);
    ASSERT_NE(nullptr, socket);
    OpLog log;
    Counter closed;
    OpLog::Op& closer = log.receive(1, 1);
    closer.then = [&](OpLog::Op&) {
        async_socket_close(socket);
        log.closed();
        closed.add();
    };
    OpLog::Op* ops[] = {&closer, &log.receive(96, 6), &log.send(pattern(200000, 7), 1)};
    for (OpLog::Op* op : ops)
        EXPECT_TRUE(log.start(socket, *op));
    run.arm();
    EXPECT_TRUE(write_all(c.peer, "c", 1));
    EXPECT_TRUE(closed.wait_for(1, kCompletionWait)) << "the closing callback did not run";
    run.disarm();
    EXPECT_TRUE(log.wait_all(kCompletionWait));
    EXPECT_FALSE(ops[1]->ok());
    EXPECT_FALSE(ops[2]->ok());
    EXPECT_TRUE(reaches_end_of_stream(c.peer, kCompletionWait)) << "the handle was not closed";
    async_socket_destroy(socket);
    log.expect_exactly_once();
    ::close(c.peer);
    execution_engine_dec_ref(engine);
}

// A whole echo exchange, armed from create to destroy: the socket's callbacks echo what they
// receive; the peer sends four messages and reads each back.
class EchoServer
{
public:
    explicit EchoServer(ASYNC_SOCKET_HANDLE socket) : socket_(socket) {}

    static void on_opened(void* context, ASYNC_SOCKET_OPEN_RESULT result)
    {
        auto* self = static_cast<EchoServer*>(context);
        self->opens.fetch_add(1);
        if (result == ASYNC_SOCKET_OPEN_OK)
            self->receive_next();
        else
            self->broken = true;
    }

    std::atomic<int> opens{0};
    std::atomic<bool> broken{false};  // the echo chain ended: no more bytes will come back
    OpLog log;

private:
    void receive_next()
    {
        OpLog::Op& receive = log.receive(4096, 2);
        receive.then = [this](OpLog::Op& op) { echo(op); };
        if (!log.start(socket_, receive))
            broken = true;
    }

    void echo(OpLog::Op& received)
    {
        if (!received.ok())
        {
            broken = true;
            return;
        }
        OpLog::Op& send = log.send(received.received(), 1);
        send.then = [this](OpLog::Op& op) {
            if (!op.ok())
                broken = true;
        };
        if (!log.start(socket_, send))
        {
            broken = true;  // the echo would have a gap: stop here
            return;
        }
        receive_next();
    }

    ASYNC_SOCKET_HANDLE socket_;
};

// Reads up to size bytes of the echo; stops early once the chain is broken and nothing
// more comes.
std::vector<uint8_t> read_echo(NativeSocket peer, size_t size, const std::atomic<bool>& broken)
{
    std::vector<uint8_t> data;
    uint8_t buffer[65536];
    const auto deadline = std::chrono::steady_clock::now() + kCompletionWait;
    while (data.size() < size && std::chrono::steady_clock::now() < deadline)
    {
        const bool was_broken = broken.load();
        const long n = read_some(peer, buffer, std::min(sizeof(buffer), size - data.size()), milliseconds(was_broken ? 20 : 100));
        if (n > 0)
            data.insert(data.end(), buffer, buffer + n);
        else if (n == 0 || was_broken)
            break;
    }
    return data;
}

void echo_exchange(WalkRun& run)
{
    EXECUTION_ENGINE_HANDLE engine = engine_for(run, 1);
    ASSERT_NE(nullptr, engine);
    Connection c = local_connection();
    std::vector<uint8_t> sent;
    std::vector<uint8_t> echoed;
    std::optional<EchoServer> server;
    run.arm();
    ASYNC_SOCKET_HANDLE socket = async_socket_create(engine, c.ours);
    if (socket == nullptr)
    {
        run.disarm();
        EXPECT_TRUE(run.fired()) << "async_socket_create failed with no failure injected";
        ::close(c.ours);
    }
    else
    {
        server.emplace(socket);
        const int opened = async_socket_open_async(socket, EchoServer::on_opened, &*server);
        if (opened != 0)
            server->broken = true;
        uint32_t seed = 10;
        for (size_t size : {size_t{1}, size_t{100}, size_t{3000}, size_t{40000}})
        {
            if (server->broken)
                break;
            const std::vector<uint8_t> message = pattern(size, seed++);
            sent.insert(sent.end(), message.begin(), message.end());
            EXPECT_TRUE(write_all(c.peer, message.data(), message.size()));
            const std::vector<uint8_t> back = read_echo(c.peer, size, server->broken);
            echoed.insert(echoed.end(), back.begin(), back.end());
            if (back.size() < size)
                break;
        }
        async_socket_destroy(socket);
        server->log.closed();
        run.disarm();
        if (opened != 0)
        {
            EXPECT_TRUE(run.fired()) << "async_socket_open_async failed with no failure injected";
        }
        EXPECT_EQ(opened == 0 ? 1 : 0, server->opens.load()) << "open callbacks";
        server->log.expect_exactly_once();
    }
    EXPECT_TRUE(is_prefix(echoed, sent)) << "the echo has bytes that were not sent, or out of order";
    if (!run.fired())
    {
        EXPECT_EQ(sent.size(), echoed.size());
    }
    ::close(c.peer);
    execution_engine_dec_ref(engine);
}

// A socket whose receive callback holds the loop until the test lets it go, so that what the
// test does meanwhile is seen by the loop all at once, in one iteration.
class LoopPause
{
public:
    explicit LoopPause(EXECUTION_ENGINE_HANDLE engine) : c_(local_connection())
    {
        socket_ = open_socket(engine, c_.ours);
        OpLog::Op& receive = log_.receive(1, 1);
        receive.then = [this](OpLog::Op&) {
            paused_.add();
            released_.wait_for(1, kCompletionWait);
        };
        if (socket_ != nullptr)
            log_.start(socket_, receive);
    }
    ~LoopPause()
    {
        release();
        async_socket_destroy(socket_);
        ::close(c_.peer);
    }
    // Returns once the loop is held.
    bool hold()
    {
        return write_all(c_.peer, "p", 1) && paused_.wait_for(1, kCompletionWait);
    }
    void release() { released_.add(); }

private:
    Connection c_;
    ASYNC_SOCKET_HANDLE socket_ = nullptr;
    OpLog log_;
    Counter paused_;
    Counter released_;
};

// Closes a socket from a callback of another socket of the same loop, while a third one has a
// completion (or an event) due in the same iteration: io_uring keeps completions it reaps for
// later when it has to wait for the closed socket's own (the last resort when cancellation
// fails); epoll drops the closed socket's events already fetched.
void close_among_others(WalkRun& run)
{
    EXECUTION_ENGINE_HANDLE engine = engine_for(run, 1);
    ASSERT_NE(nullptr, engine);
    {
        LoopPause pause(engine);
        Connection ca = local_connection();
        Connection cb = local_connection();
        Connection cc = local_connection();
        set_send_buffer(ca.ours, 4096);
        set_receive_buffer(ca.peer, 4096);
        ASYNC_SOCKET_HANDLE a = open_socket(engine, ca.ours);
        ASYNC_SOCKET_HANDLE b = open_socket(engine, cb.ours);
        ASYNC_SOCKET_HANDLE c = open_socket(engine, cc.ours);
        OpLog log_a;
        OpLog log_bc;
        Counter closed;
        OpLog::Op* ops_a[] = {&log_a.receive(16, 1), &log_a.send(pattern(200000, 8), 1)};
        OpLog::Op& closer = log_bc.receive(1, 1);
        closer.then = [&](OpLog::Op&) {
            async_socket_close(a);
            log_a.closed();
            closed.add();
        };
        OpLog::Op& bystander = log_bc.receive(1, 1);
        for (OpLog::Op* op : ops_a)
            EXPECT_TRUE(log_a.start(a, *op));
        EXPECT_TRUE(log_bc.start(b, closer));
        EXPECT_TRUE(log_bc.start(c, bystander));
        std::this_thread::sleep_for(milliseconds(2));  // the loop starts them
        run.arm();
        EXPECT_TRUE(pause.hold());
        EXPECT_TRUE(write_all(cb.peer, "b", 1));
        EXPECT_TRUE(write_all(cc.peer, "c", 1));
        pause.release();
        EXPECT_TRUE(closed.wait_for(1, kCompletionWait)) << "the closing callback did not run";
        EXPECT_TRUE(log_bc.wait_all(kCompletionWait)) << "the other socket's receive did not complete";
        run.disarm();
        EXPECT_TRUE(log_a.wait_all(kCompletionWait));
        EXPECT_FALSE(ops_a[0]->ok());
        EXPECT_FALSE(ops_a[1]->ok());
        if (bystander.ok())
        {
            EXPECT_EQ(std::vector<uint8_t>{'c'}, bystander.received());
        }
        else
        {
            EXPECT_TRUE(run.fired()) << "a receive failed with no failure injected";
        }
        EXPECT_TRUE(reaches_end_of_stream(ca.peer, kCompletionWait)) << "the handle was not closed";
        async_socket_destroy(a);
        async_socket_destroy(b);
        async_socket_destroy(c);
        log_a.expect_exactly_once();
        log_bc.expect_exactly_once();
        for (NativeSocket peer : {ca.peer, cb.peer, cc.peer})
            ::close(peer);
    }
    execution_engine_dec_ref(engine);
}

// Closes a socket from a callback that runs while the loop starts I/O (a send completed with
// the failure of an earlier one), after the closed socket's receive was prepared in the same
// iteration but before it was submitted. The callback then opens a new connection on the
// closed socket's descriptor number, as any thread may: nothing of the closed socket may reach
// the new connection.
void close_before_submission(WalkRun& run)
{
    EXECUTION_ENGINE_HANDLE engine = engine_for(run, 1);
    ASSERT_NE(nullptr, engine);
    {
        LoopPause pause(engine);
        Connection ca = local_connection();
        Connection cx = local_connection();
        const int a_fd = ca.ours;
        ASYNC_SOCKET_HANDLE a = open_socket(engine, ca.ours);
        ASYNC_SOCKET_HANDLE x = open_socket(engine, cx.ours);
        // x's stream is broken: every later send of x fails at once.
        ::close(cx.peer);
        OpLog log_x;
        OpLog::Op& broken = log_x.send({'x'}, 1);
        EXPECT_TRUE(log_x.start(x, broken));
        EXPECT_TRUE(log_x.wait_all(kCompletionWait));
        EXPECT_FALSE(broken.ok());

        OpLog log_a;
        OpLog::Op& receive = log_a.receive(16, 1);
        Connection fresh{-1, -1};
        OpLog::Op& closer = log_x.send({'y'}, 1);
        closer.then = [&](OpLog::Op&) {
            async_socket_close(a);
            log_a.closed();
            int fds[2];
            if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
                return;
            if (fds[0] != a_fd && ::dup3(fds[0], a_fd, O_CLOEXEC) == a_fd)
            {
                ::close(fds[0]);
                fds[0] = a_fd;
            }
            fresh = Connection{fds[0], fds[1]};
        };
        run.arm();
        EXPECT_TRUE(pause.hold());
        // Seen by the loop in one iteration: a's receive is prepared, then x's send fails.
        const bool receiving = log_a.start(a, receive);
        const bool closing = log_x.start(x, closer);
        pause.release();
        EXPECT_TRUE(log_x.wait_all(kCompletionWait));
        if (!closing)
            async_socket_close(a);
        EXPECT_TRUE(log_a.wait_all(kCompletionWait));
        run.disarm();
        if (!receiving || !closing)
        {
            EXPECT_TRUE(run.fired()) << "an operation was refused with no failure injected";
        }
        EXPECT_FALSE(receive.ok());
        if (closing)
        {
            ASSERT_NE(-1, fresh.ours);
            EXPECT_EQ(a_fd, fresh.ours);
            EXPECT_TRUE(write_all(fresh.peer, "fresh", 5));
            // Time for a receive of the closed socket, if one reached the kernel on this
            // descriptor, to take the bytes before this thread looks.
            std::this_thread::sleep_for(milliseconds(20));
            EXPECT_EQ((std::vector<uint8_t>{'f', 'r', 'e', 's', 'h'}), read_exactly(fresh.ours, 5, milliseconds(1000)))
                << "the closed socket's receive took the bytes of the connection that reused its descriptor";
            ::close(fresh.ours);
            ::close(fresh.peer);
        }
        async_socket_destroy(a);
        async_socket_destroy(x);
        log_a.expect_exactly_once();
        log_x.expect_exactly_once();
        ::close(ca.peer);
    }
    execution_engine_dec_ref(engine);
}

// --- The tests -----------------------------------------------------------------------------

class FaultWalk : public ::testing::TestWithParam<Backend>
{
protected:
    void SetUp() override
    {
        if (!backend_available(GetParam()))
            GTEST_SKIP() << backend_name(GetParam()) << " cannot be used on this machine";
    }
    void TearDown() override { asock_fault_disarm(); }

    void walk(const char* name, void (*scenario)(WalkRun&)) { walk_scenario(name, GetParam(), false, scenario); }
};

TEST_P(FaultWalk, engine_create) { walk("engine_create", engine_create); }
TEST_P(FaultWalk, engine_destroy) { walk("engine_destroy", engine_destroy); }
TEST_P(FaultWalk, socket_create) { walk("socket_create", socket_create); }
TEST_P(FaultWalk, socket_open) { walk("socket_open", socket_open); }
TEST_P(FaultWalk, socket_send) { walk("socket_send", socket_send); }
TEST_P(FaultWalk, socket_receive) { walk("socket_receive", socket_receive); }
TEST_P(FaultWalk, close_with_operations_pending) { walk("close_pending", close_pending); }
TEST_P(FaultWalk, close_from_a_callback) { walk("close_in_callback", close_in_callback); }
TEST_P(FaultWalk, echo_exchange) { walk("echo_exchange", echo_exchange); }
TEST_P(FaultWalk, close_from_a_callback_among_other_sockets) { walk("close_among_others", close_among_others); }
TEST_P(FaultWalk, close_before_the_closed_sockets_entries_are_submitted) { walk("close_before_submission", close_before_submission); }

// io_uring with synchronous cancellation failing every time: a close falls back on shutting
// the socket down and reaping its completions (keeping the others' for later).
class FaultWalkWithoutSyncCancel : public FaultWalk
{
protected:
    void SetUp() override
    {
        FaultWalk::SetUp();
        asock_fault_set_errno(ASOCK_FAULT_POINT_URING_SYNC_CANCEL, ENOMEM);
    }
    void TearDown() override
    {
        asock_fault_set_errno(ASOCK_FAULT_POINT_URING_SYNC_CANCEL, 0);
        FaultWalk::TearDown();
    }
    void walk(const char* name, void (*scenario)(WalkRun&)) { walk_scenario(name, GetParam(), false, scenario, ASOCK_FAULT_BIT(ASOCK_FAULT_POINT_URING_SYNC_CANCEL)); }
};

TEST_P(FaultWalkWithoutSyncCancel, close_with_operations_pending) { walk("close_pending", close_pending); }
TEST_P(FaultWalkWithoutSyncCancel, close_from_a_callback) { walk("close_in_callback", close_in_callback); }
TEST_P(FaultWalkWithoutSyncCancel, close_from_a_callback_among_other_sockets) { walk("close_among_others", close_among_others); }
TEST_P(FaultWalkWithoutSyncCancel, engine_destroy) { walk("engine_destroy", engine_destroy); }
TEST_P(FaultWalkWithoutSyncCancel, echo_exchange) { walk("echo_exchange", echo_exchange); }

INSTANTIATE_TEST_SUITE_P(Backends, FaultWalkWithoutSyncCancel, ::testing::Values(Backend::io_uring), backend_param_name);

ASOCK_INSTANTIATE_CONTRACT(FaultWalk);

// execution_engine_create (the default backend, ASOCK_BACKEND unset): a failure to set up
// io_uring falls back to epoll; any other failure makes it return NULL.
TEST(FaultWalkDefaultBackend, engine_create)
{
    const char* forced = std::getenv("ASOCK_BACKEND");
    const std::optional<std::string> saved = forced != nullptr ? std::optional<std::string>(forced) : std::nullopt;
    ::unsetenv("ASOCK_BACKEND");
    walk_scenario("engine_create", Backend::io_uring, true, engine_create);
    if (saved)
        ::setenv("ASOCK_BACKEND", saved->c_str(), 1);
}

}  // namespace
}  // namespace asock_test
