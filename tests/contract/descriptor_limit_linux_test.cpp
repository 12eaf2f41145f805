// At the descriptor limit: RLIMIT_NOFILE is lowered with setrlimit and every free descriptor
// taken, so that any call that needs a new one fails with EMFILE. An engine then cannot be
// created, and says so (NULL) without leaking a descriptor or a thread; the sockets of an
// engine made before keep working, since they need no new descriptor; and once descriptors are
// free again, everything works as before. Linux only (setrlimit, /proc/self/exe).
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <cstdlib>
#include <string>

#include "contract/peer_helpers.h"

extern char** environ;

namespace asock_test {
namespace {

// Lowers the soft RLIMIT_NOFILE to a little above the descriptors open now and takes every
// free descriptor below it with /dev/null, so that the next open, socket, epoll_create,
// eventfd or io_uring_setup fails with EMFILE. Gone out of scope, it closes its descriptors and
// restores the limit. No gtest call inside: it also runs in a child before main (see below).
class DescriptorExhaustion
{
public:
    DescriptorExhaustion()
    {
        if (::getrlimit(RLIMIT_NOFILE, &saved_) != 0)
            return;
        rlimit lowered = saved_;
        lowered.rlim_cur = std::min<rlim_t>(saved_.rlim_cur, open_fd_count() + 64);
        if (::setrlimit(RLIMIT_NOFILE, &lowered) != 0)
            return;
        lowered_ = true;
        for (;;)
        {
            const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (fd < 0)
            {
                full_ = errno == EMFILE;
                break;
            }
            fillers_.push_back(fd);
        }
    }

    ~DescriptorExhaustion()
    {
        for (int fd : fillers_)
            ::close(fd);
        if (lowered_)
            ::setrlimit(RLIMIT_NOFILE, &saved_);
    }

    DescriptorExhaustion(const DescriptorExhaustion&) = delete;
    DescriptorExhaustion& operator=(const DescriptorExhaustion&) = delete;

    // Every descriptor is taken: the next one fails with EMFILE.
    bool full() const { return full_; }

    // Gives n descriptors back.
    void leave_free(size_t n)
    {
        for (size_t i = 0; i < n && !fillers_.empty(); ++i)
        {
            ::close(fillers_.back());
            fillers_.pop_back();
        }
    }

    // How many descriptors can still be opened, counted by opening them (at the limit,
    // /proc/self/fd cannot be listed: that too takes a descriptor).
    static size_t free_descriptors()
    {
        std::vector<int> taken;
        for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;)
            taken.push_back(fd);
        for (int fd : taken)
            ::close(fd);
        return taken.size();
    }

private:
    rlimit saved_{};
    bool lowered_ = false;
    bool full_ = false;
    std::vector<int> fillers_;
};

// What one socket went through: create, open, a message each way, then a close with a receive
// pending. Recorded, not asserted, so that it can run at the descriptor limit (see
// DescriptorLimit) and be checked afterwards.
struct SocketRun
{
    bool created = false;
    bool opened = false;     // open returned 0 and its callback said OK, once
    bool exchanged = false;  // a message came in, one went out
    bool pending_abandoned = false;  // the close completed the pending receive, once, ABANDONED
    size_t free_after_close = 0;     // descriptors that could be opened after the close
};

// Creates a socket on handle and runs it through SocketRun's steps; the handle is the socket's.
SocketRun run_socket(EXECUTION_ENGINE_HANDLE on_engine, SOCKET_HANDLE handle, NativeSocket peer)
{
    SocketRun run;
    ASYNC_SOCKET_HANDLE s = async_socket_create(on_engine, handle);
    run.created = s != nullptr;
    if (s == nullptr)
    {
        close_socket(handle);
        return run;
    }
    OpenRecord open;
    run.opened = async_socket_open_async(s, OpenRecord::callback, &open) == 0 && open.done.wait_for(1) && open.calls == 1 &&
                 open.result == ASYNC_SOCKET_OPEN_OK;
    char in[8] = {};
    ASYNC_SOCKET_BUFFER into{in, sizeof(in)};
    ReceiveRecord received;
    char out[] = "pong";
    ASYNC_SOCKET_BUFFER from{out, 4};
    SendRecord sent;
    run.exchanged = run.opened && async_socket_receive_async(s, &into, 1, ReceiveRecord::callback, &received) == 0 && write_all(peer, "ping", 4) &&
                    received.done.wait_for(1) && received.result == ASYNC_SOCKET_RECEIVE_OK &&
                    async_socket_send_async(s, &from, 1, SendRecord::callback, &sent) == ASYNC_SOCKET_SEND_SYNC_OK && read_exactly(peer, 4).size() == 4 &&
                    sent.done.wait_for(1) && sent.result == ASYNC_SOCKET_SEND_OK && received.calls == 1 && sent.calls == 1;
    ReceiveRecord pending;
    const bool issued = async_socket_receive_async(s, &into, 1, ReceiveRecord::callback, &pending) == 0;
    async_socket_close(s);
    run.pending_abandoned = issued && pending.calls == 1 && pending.result == ASYNC_SOCKET_RECEIVE_ABANDONED;
    run.free_after_close = DescriptorExhaustion::free_descriptors();
    async_socket_destroy(s);
    return run;
}

// UndefinedBehaviorSanitizer (asan preset) checks the dynamic type of each member call
// (-fsanitize=vptr); the first check of a type reads the object's vtable through a pipe, to
// see whether the memory can be read. At the descriptor limit that pipe cannot be made, and
// the check reports a valid object as "invalid vptr". So each test rehearses its steps with
// descriptors free first (which fills the sanitizer's cache of checked types), and while at
// the limit it only records what happens (no gtest message is built there), then checks.
class DescriptorLimit : public Contract
{
};

// Tests_SRS_ASYNC_SOCKET_LINUX_03_002
// Tests_SRS_ASYNC_SOCKET_LINUX_01_005
TEST_P(DescriptorLimit, engine_create_at_the_descriptor_limit_returns_null_and_leaks_nothing_then_works_once_descriptors_are_free)
{
    const size_t threads = thread_count();
    {
        Connection rehearsal = local_connection();
        ScopedSocket peer(rehearsal.peer);
        EXECUTION_ENGINE_HANDLE warm = make_engine(GetParam(), 2);
        ASSERT_NE(nullptr, warm);
        EXPECT_TRUE(run_socket(warm, rehearsal.ours, peer.get()).exchanged);
        execution_engine_dec_ref(warm);
    }

    Connection c = local_connection();  // made before the limit: the new engine's test socket
    ScopedSocket peer(c.peer);
    ScopedSocket ours(c.ours);
    // Each loop needs descriptors (a ring or an epoll set, and an eventfd): with 0, 1, 2...
    // free, the engine of two loops fails part-way through, until there are enough. A failed
    // create must leave every descriptor it took free again.
    constexpr size_t kMostFree = 8;
    size_t free_after_failure[kMostFree + 1] = {};
    size_t available = 0;
    EXECUTION_ENGINE_HANDLE created = nullptr;
    SocketRun run;
    bool full = false;
    {
        DescriptorExhaustion exhaustion;
        full = exhaustion.full();
        for (; full; ++available)
        {
            created = make_engine(GetParam(), 2);
            if (created != nullptr || available == kMostFree)
                break;
            free_after_failure[available] = DescriptorExhaustion::free_descriptors();
            exhaustion.leave_free(1);
        }
        if (created != nullptr)
            run = run_socket(created, ours.release(), peer.get());
    }
    ASSERT_TRUE(full) << "could not reach the descriptor limit";
    for (size_t i = 0; i < available; ++i)
        EXPECT_EQ(i, free_after_failure[i]) << "a create with " << i << " descriptors free leaked some";
    EXPECT_GE(available, 2u) << "an engine of two loops was made with less than a descriptor per loop";
    ASSERT_NE(nullptr, created) << "no engine even with " << kMostFree << " descriptors free";
    // The engine that could be made at the limit works.
    EXPECT_TRUE(run.created && run.opened && run.exchanged && run.pending_abandoned);
    execution_engine_dec_ref(created);
    // Threads a failed create left behind would still be there.
    EXPECT_TRUE(wait_for_thread_count(threads)) << thread_count() << " threads, " << threads << " before";
}

// Tests_SRS_ASYNC_SOCKET_LINUX_01_001
// Tests_SRS_ASYNC_SOCKET_LINUX_01_017
// Tests_SRS_ASYNC_SOCKET_LINUX_42_006
TEST_P(DescriptorLimit, sockets_of_an_existing_engine_open_and_move_bytes_at_the_descriptor_limit)
{
    {
        Connection rehearsal = local_connection();
        ScopedSocket peer(rehearsal.peer);
        const SocketRun run = run_socket(engine, rehearsal.ours, peer.get());
        ASSERT_TRUE(run.created && run.opened && run.exchanged && run.pending_abandoned);
    }
    Connection c = local_connection();
    ScopedSocket peer(c.peer);
    ScopedSocket ours(c.ours);
    SocketRun run;
    bool full = false;
    {
        DescriptorExhaustion exhaustion;
        full = exhaustion.full();
        if (full)
            run = run_socket(engine, ours.release(), peer.get());
    }
    ASSERT_TRUE(full) << "could not reach the descriptor limit";
    // Creating, opening and using a socket takes no new descriptor...
    EXPECT_TRUE(run.created);
    EXPECT_TRUE(run.opened);
    EXPECT_TRUE(run.exchanged);
    // ... and the close completes the pending receive and gives the handle back: one free.
    EXPECT_TRUE(run.pending_abandoned);
    EXPECT_EQ(1u, run.free_after_close);
}

// --- The first probe of io_uring at the descriptor limit --------------------------------------
// Whether io_uring can be used is probed once per process. To see what a probe made at the
// descriptor limit leaves behind, the test runs this binary again with ASOCK_TEST_PROBE_AT_LIMIT
// set: the child probes before main (so before anything else could), at the limit, then again
// with descriptors free, and exits 0 when the second answer is "available".
constexpr const char* kProbeChildVariable = "ASOCK_TEST_PROBE_AT_LIMIT";

int probe_at_the_limit_then_again()
{
    {
        DescriptorExhaustion exhaustion;
        if (!exhaustion.full())
            return 2;
        (void)execution_engine_linux_io_uring_available();
    }
    return execution_engine_linux_io_uring_available() != 0 ? 0 : 1;
}

const bool probe_child_ran = [] {
    if (std::getenv(kProbeChildVariable) != nullptr)
        std::_Exit(probe_at_the_limit_then_again());
    return false;
}();

// Tests_SRS_ASYNC_SOCKET_LINUX_03_010
TEST(DescriptorLimitProbe, io_uring_stays_available_after_a_first_probe_at_the_descriptor_limit)
{
    ASSERT_FALSE(probe_child_ran);
    if (!io_uring_usable())
        GTEST_SKIP() << "io_uring cannot be used on this machine";
    std::vector<std::string> variables;
    for (char** variable = environ; *variable != nullptr; ++variable)
        variables.emplace_back(*variable);
    variables.push_back(std::string(kProbeChildVariable) + "=1");
    std::vector<char*> child_environment;
    for (auto& variable : variables)
        child_environment.push_back(variable.data());
    child_environment.push_back(nullptr);
    char self[] = "/proc/self/exe";
    char* arguments[] = {self, nullptr};
    pid_t child = -1;
    ASSERT_EQ(0, ::posix_spawn(&child, self, nullptr, nullptr, arguments, child_environment.data()));
    int status = 0;
    ASSERT_EQ(child, ::waitpid(child, &status, 0));
    ASSERT_TRUE(WIFEXITED(status)) << "the child ended with status " << status;
    ASSERT_NE(2, WEXITSTATUS(status)) << "the child could not reach the descriptor limit";
    EXPECT_EQ(0, WEXITSTATUS(status)) << "after a probe at the descriptor limit, io_uring is reported unavailable for the rest of the process";
}

ASOCK_INSTANTIATE_CONTRACT(DescriptorLimit);

}  // namespace
}  // namespace asock_test
