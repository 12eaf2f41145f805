// UNIX domain stream sockets (async_socket_unix.h), Linux, once per backend: listeners on a
// path and on an abstract name, connects both ways, the file's life (made by create, left by
// close, removed by destroy, never touched when it was not ours), paths at and past the limit,
// and connects to nothing. Requirements: docs/requirements/timers.md (SRS_ASOCK_UNIX_12_*).
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "asock/async_socket_unix.h"
#include "contract/accept_connect_helpers.h"

namespace asock_test {
namespace {

// A fresh directory under /tmp, removed with what is left in it.
class TempDir
{
public:
    TempDir()
    {
        char name[] = "/tmp/asock-unix-XXXXXX";
        const char* made = ::mkdtemp(name);
        EXPECT_NE(nullptr, made);
        path_ = made != nullptr ? made : "/tmp";
    }
    ~TempDir()
    {
        for (const std::string& file : made_)
            (void)::unlink(file.c_str());
        (void)::rmdir(path_.c_str());
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    // A path in the directory (removed at the end if still there).
    std::string file(const std::string& name)
    {
        made_.push_back(path_ + "/" + name);
        return made_.back();
    }
    const std::string& path() const { return path_; }

private:
    std::string path_;
    std::vector<std::string> made_;
};

bool exists(const std::string& path)
{
    struct stat status{};
    return ::lstat(path.c_str(), &status) == 0;
}

bool is_socket_file(const std::string& path)
{
    struct stat status{};
    return ::lstat(path.c_str(), &status) == 0 && S_ISSOCK(status.st_mode);
}

class UnixSockets : public AcceptConnectBase
{
protected:
    ASYNC_SOCKET_LISTENER_HANDLE listen_unix(const std::string& path, int32_t backlog = 16)
    {
        ASYNC_SOCKET_LISTENER_HANDLE listener = nullptr;
        int error = -1;
        const auto result = async_socket_listener_create_unix(engine, path.c_str(), backlog, &listener, &error);
        EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_OK, result) << ASYNC_SOCKET_LISTENER_CREATE_RESULT_to_string(result) << ", errno " << error;
        return listener;
    }

    // Accepts and connects once over path; both sockets are returned open.
    void connect_pair(ASYNC_SOCKET_LISTENER_HANDLE listener, const std::string& path, OwnedSocket& accepted, OwnedSocket& connected)
    {
        AcceptRecord accept;
        ConnectRecord connect;
        ASSERT_EQ(0, async_socket_listener_accept_async(listener, AcceptRecord::callback, &accept));
        ASSERT_EQ(0, async_socket_connect_unix_async(engine, path.c_str(), 5000, nullptr, ConnectRecord::callback, &connect));
        ASSERT_TRUE(accept.done.wait_for(1));
        ASSERT_TRUE(connect.done.wait_for(1));
        ASSERT_EQ(ASYNC_SOCKET_ACCEPT_OK, accept.result.load());
        ASSERT_EQ(ASYNC_SOCKET_CONNECT_OK, connect.result.load()) << ASYNC_SOCKET_CONNECT_RESULT_to_string(connect.result.load()) << ", errno " << connect.error.load();
        accepted.reset(accept.socket.load());
        connected.reset(connect.socket.load());
    }
};

// Tests_SRS_ASOCK_UNIX_12_001, Tests_SRS_ASOCK_UNIX_12_003
TEST_P(UnixSockets, a_listener_on_a_path_makes_a_socket_file_and_bytes_flow_both_ways)
{
    TempDir dir;
    const std::string path = dir.file("listener.sock");
    OwnedListener listener(listen_unix(path));
    ASSERT_NE(nullptr, listener.get());
    EXPECT_TRUE(is_socket_file(path));
    EXPECT_EQ(0, async_socket_listener_get_port(listener.get()));
    OwnedSocket accepted;
    OwnedSocket connected;
    connect_pair(listener.get(), path, accepted, connected);
    expect_bytes_flow(connected.get(), accepted.get(), 100000, 1);
    expect_bytes_flow(accepted.get(), connected.get(), 100000, 2);
}

// Tests_SRS_ASOCK_UNIX_12_002
TEST_P(UnixSockets, a_listener_on_an_abstract_name_makes_no_file_and_bytes_flow_both_ways)
{
    const std::string name = "@asock-test-" + std::to_string(::getpid()) + "-" + backend_name(GetParam());
    OwnedListener listener(listen_unix(name));
    ASSERT_NE(nullptr, listener.get());
    EXPECT_FALSE(exists(name)) << "a file was made for an abstract name";
    OwnedSocket accepted;
    OwnedSocket connected;
    connect_pair(listener.get(), name, accepted, connected);
    expect_bytes_flow(connected.get(), accepted.get(), 5000, 3);
    expect_bytes_flow(accepted.get(), connected.get(), 5000, 4);
}

// Tests_SRS_ASOCK_UNIX_12_002
TEST_P(UnixSockets, an_abstract_name_in_use_is_refused_with_address_in_use)
{
    const std::string name = "@asock-test-in-use-" + std::to_string(::getpid()) + "-" + backend_name(GetParam());
    OwnedListener first(listen_unix(name));
    ASSERT_NE(nullptr, first.get());
    ASYNC_SOCKET_LISTENER_HANDLE second = nullptr;
    int error = 0;
    EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_ADDRESS_IN_USE, async_socket_listener_create_unix(engine, name.c_str(), 16, &second, &error));
    EXPECT_EQ(EADDRINUSE, error);
    EXPECT_EQ(nullptr, second);
}

// Tests_SRS_ASOCK_UNIX_12_004
TEST_P(UnixSockets, a_path_of_108_bytes_is_refused_with_einval_and_nothing_is_made)
{
    TempDir dir;
    std::string path = dir.path() + "/";
    path += std::string(108 - path.size(), 'p');
    ASSERT_EQ(108u, path.size());
    ASYNC_SOCKET_LISTENER_HANDLE listener = nullptr;
    int error = 0;
    EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_INVALID_ARGUMENT, async_socket_listener_create_unix(engine, path.c_str(), 16, &listener, &error));
    EXPECT_EQ(EINVAL, error);
    EXPECT_EQ(nullptr, listener);
    EXPECT_FALSE(exists(path));
    EXPECT_FALSE(exists(path.substr(0, 107))) << "the path was cut short";
    ConnectRecord connect;
    EXPECT_EQ(EINVAL, async_socket_connect_unix_async(engine, path.c_str(), 1000, nullptr, ConnectRecord::callback, &connect));
    const std::string abstract = "@" + std::string(107, 'a');
    EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_INVALID_ARGUMENT, async_socket_listener_create_unix(engine, abstract.c_str(), 16, &listener, &error));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(0, connect.calls.load());
}

// Tests_SRS_ASOCK_UNIX_12_004
TEST_P(UnixSockets, a_path_of_exactly_107_bytes_is_taken_whole)
{
    TempDir dir;
    std::string path = dir.path() + "/";
    path += std::string(107 - path.size(), 'q');
    ASSERT_EQ(107u, path.size());
    (void)dir.file(path.substr(dir.path().size() + 1));
    OwnedListener listener(listen_unix(path));
    ASSERT_NE(nullptr, listener.get());
    EXPECT_TRUE(is_socket_file(path));
    OwnedSocket accepted;
    OwnedSocket connected;
    connect_pair(listener.get(), path, accepted, connected);
    expect_bytes_flow(connected.get(), accepted.get());
}

// Tests_SRS_ASOCK_UNIX_12_004
TEST_P(UnixSockets, empty_paths_and_a_lone_at_sign_are_refused_with_einval)
{
    ConnectRecord connect;
    ASYNC_SOCKET_LISTENER_HANDLE listener = nullptr;
    int error = 0;
    for (const char* path : {"", "@"})
    {
        EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_INVALID_ARGUMENT, async_socket_listener_create_unix(engine, path, 16, &listener, &error)) << '"' << path << '"';
        EXPECT_EQ(EINVAL, error);
        EXPECT_EQ(EINVAL, async_socket_connect_unix_async(engine, path, 1000, nullptr, ConnectRecord::callback, &connect));
    }
    EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_INVALID_ARGUMENT, async_socket_listener_create_unix(engine, nullptr, 16, &listener, &error));
    EXPECT_EQ(EINVAL, async_socket_connect_unix_async(engine, nullptr, 1000, nullptr, ConnectRecord::callback, &connect));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(0, connect.calls.load());
}

// Tests_SRS_ASOCK_UNIX_12_005
TEST_P(UnixSockets, an_existing_file_is_refused_with_address_in_use_and_left_as_it_was)
{
    TempDir dir;
    const std::string path = dir.file("stale");
    {
        std::ofstream stale(path);
        stale << "not ours";
    }
    ASYNC_SOCKET_LISTENER_HANDLE listener = nullptr;
    int error = 0;
    EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_ADDRESS_IN_USE, async_socket_listener_create_unix(engine, path.c_str(), 16, &listener, &error));
    EXPECT_EQ(EADDRINUSE, error);
    EXPECT_EQ(nullptr, listener);
    std::ifstream kept(path);
    std::string content;
    std::getline(kept, content);
    EXPECT_EQ("not ours", content) << "the listener touched a file it did not make";
}

// Tests_SRS_ASOCK_UNIX_12_005
TEST_P(UnixSockets, a_second_listener_on_a_live_path_is_refused_and_the_first_keeps_its_file)
{
    TempDir dir;
    const std::string path = dir.file("live.sock");
    OwnedListener first(listen_unix(path));
    ASSERT_NE(nullptr, first.get());
    ASYNC_SOCKET_LISTENER_HANDLE second = nullptr;
    int error = 0;
    EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_ADDRESS_IN_USE, async_socket_listener_create_unix(engine, path.c_str(), 16, &second, &error));
    EXPECT_TRUE(is_socket_file(path));
    OwnedSocket accepted;
    OwnedSocket connected;
    connect_pair(first.get(), path, accepted, connected);
}

// Tests_SRS_ASOCK_UNIX_12_006
TEST_P(UnixSockets, close_keeps_the_file_and_destroy_removes_it)
{
    TempDir dir;
    const std::string path = dir.file("gone.sock");
    ASYNC_SOCKET_LISTENER_HANDLE listener = listen_unix(path);
    ASSERT_NE(nullptr, listener);
    async_socket_listener_close(listener);
    EXPECT_TRUE(is_socket_file(path)) << "close removed the file";
    async_socket_listener_destroy(listener);
    EXPECT_FALSE(exists(path)) << "destroy left the file";
    // The path is free again.
    OwnedListener again(listen_unix(path));
    EXPECT_NE(nullptr, again.get());
}

// Tests_SRS_ASOCK_UNIX_12_006
TEST_P(UnixSockets, destroy_with_accepts_pending_abandons_them_and_removes_the_file)
{
    TempDir dir;
    const std::string path = dir.file("pending.sock");
    AcceptRecord accept;
    ASYNC_SOCKET_LISTENER_HANDLE listener = listen_unix(path);
    ASSERT_NE(nullptr, listener);
    ASSERT_EQ(0, async_socket_listener_accept_async(listener, AcceptRecord::callback, &accept));
    async_socket_listener_destroy(listener);
    EXPECT_EQ(1, accept.calls.load());
    EXPECT_EQ(ASYNC_SOCKET_ACCEPT_ABANDONED, accept.result.load());
    EXPECT_FALSE(exists(path));
}

// Tests_SRS_ASOCK_UNIX_12_007
TEST_P(UnixSockets, a_connect_to_a_missing_path_is_refused_with_enoent)
{
    TempDir dir;
    const std::string path = dir.file("nobody.sock");
    ConnectRecord connect;
    ASSERT_EQ(0, async_socket_connect_unix_async(engine, path.c_str(), 5000, nullptr, ConnectRecord::callback, &connect));
    ASSERT_TRUE(connect.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_REFUSED, connect.result.load()) << ASYNC_SOCKET_CONNECT_RESULT_to_string(connect.result.load());
    EXPECT_EQ(ENOENT, connect.error.load());
    EXPECT_EQ(nullptr, connect.socket.load());
}

// Tests_SRS_ASOCK_UNIX_12_007
TEST_P(UnixSockets, a_connect_to_a_socket_file_nobody_listens_on_is_refused)
{
    TempDir dir;
    const std::string path = dir.file("bound.sock");
    ScopedSocket bound(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", path.c_str());
    ASSERT_EQ(0, ::bind(bound.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)));  // bound, not listening
    ConnectRecord connect;
    ASSERT_EQ(0, async_socket_connect_unix_async(engine, path.c_str(), 5000, nullptr, ConnectRecord::callback, &connect));
    ASSERT_TRUE(connect.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_REFUSED, connect.result.load()) << ASYNC_SOCKET_CONNECT_RESULT_to_string(connect.result.load());
    EXPECT_EQ(ECONNREFUSED, connect.error.load());
}

// Tests_SRS_ASOCK_UNIX_12_007
TEST_P(UnixSockets, a_connect_to_a_missing_abstract_name_is_refused)
{
    const std::string name = "@asock-test-nobody-" + std::to_string(::getpid());
    ConnectRecord connect;
    ASSERT_EQ(0, async_socket_connect_unix_async(engine, name.c_str(), 5000, nullptr, ConnectRecord::callback, &connect));
    ASSERT_TRUE(connect.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_REFUSED, connect.result.load()) << ASYNC_SOCKET_CONNECT_RESULT_to_string(connect.result.load());
    EXPECT_EQ(ECONNREFUSED, connect.error.load());
}

// A UNIX listener whose backlog is full: the kernel makes a non-blocking connect fail with
// EAGAIN instead of waiting. Both backends must treat it alike: the connect waits (and ends at
// its timeout, or is cancelled), or fails at once; never one way on io_uring and another on epoll.
// Tests_SRS_ASOCK_UNIX_12_008
TEST_P(UnixSockets, a_connect_to_a_full_backlog_is_cancellable_and_never_hangs)
{
    // io_uring once hung here: the connect (a blocking socket) slept in an io-wq worker inside
    // the kernel's UNIX connect, where the loop's synchronous cancel at the deadline could not
    // reach it. A UNIX connect's socket is non-blocking now.
    TempDir dir;
    const std::string path = dir.file("full.sock");
    OwnedListener listener(listen_unix(path, 1));
    ASSERT_NE(nullptr, listener.get());
    std::vector<ScopedSocket> fillers(8);
    for (ScopedSocket& filler : fillers)
    {
        filler.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", path.c_str());
        if (::connect(filler.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0)
            break;  // EAGAIN: full
    }
    ConnectRecord connect;
    ASYNC_CANCELLATION_HANDLE cancellation = async_cancellation_create();
    const auto started = std::chrono::steady_clock::now();
    ASSERT_EQ(0, async_socket_connect_unix_async(engine, path.c_str(), 300, cancellation, ConnectRecord::callback, &connect));
    async_cancellation_destroy(cancellation);
    ASSERT_TRUE(connect.done.wait_for(1, std::chrono::seconds(3)));
    const auto took = std::chrono::steady_clock::now() - started;
    OwnedSocket connected(connect.socket.load());
    std::cout << "[ info ] " << backend_name(GetParam()) << ": " << ASYNC_SOCKET_CONNECT_RESULT_to_string(connect.result.load()) << ", errno " << connect.error.load() << " after "
              << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";
    EXPECT_NE(ASYNC_SOCKET_CONNECT_OK, connect.result.load()) << "connected past a full backlog";
    EXPECT_LT(took, std::chrono::seconds(2));
}

// Tests_SRS_ASOCK_UNIX_12_003
TEST_P(UnixSockets, many_clients_connect_to_one_listener_and_each_is_accepted_once)
{
    TempDir dir;
    const std::string path = dir.file("many.sock");
    constexpr int kClients = 32;
    std::vector<AcceptRecord> accepts(kClients);
    std::vector<ConnectRecord> connects(kClients);
    OwnedListener listener(listen_unix(path, 64));
    ASSERT_NE(nullptr, listener.get());
    for (AcceptRecord& accept : accepts)
        ASSERT_EQ(0, async_socket_listener_accept_async(listener.get(), AcceptRecord::callback, &accept));
    for (ConnectRecord& connect : connects)
        ASSERT_EQ(0, async_socket_connect_unix_async(engine, path.c_str(), 5000, nullptr, ConnectRecord::callback, &connect));
    std::vector<OwnedSocket> sockets;
    for (int i = 0; i < kClients; ++i)
    {
        ASSERT_TRUE(accepts[i].done.wait_for(1));
        ASSERT_TRUE(connects[i].done.wait_for(1));
        EXPECT_EQ(ASYNC_SOCKET_ACCEPT_OK, accepts[i].result.load());
        EXPECT_EQ(ASYNC_SOCKET_CONNECT_OK, connects[i].result.load());
        sockets.emplace_back(accepts[i].socket.load());
        sockets.emplace_back(connects[i].socket.load());
    }
}

ASOCK_INSTANTIATE_CONTRACT(UnixSockets);

}  // namespace
}  // namespace asock_test
