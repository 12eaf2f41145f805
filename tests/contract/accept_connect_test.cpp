// Listeners and connects (async_socket_listener.h), on every backend of the platform: accepting
// and connecting give open sockets; close abandons pending accepts exactly once, also from
// inside a callback; connects report refused, timed out and unreachable; creation reports why
// it failed. What only Linux has is in accept_connect_linux_test.cpp; the differences on
// Windows are in docs/requirements/async_socket_win32_notes.md.
#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

#include "contract/accept_connect_helpers.h"
#include "contract/seed_helpers.h"

namespace asock_test {
namespace {

using namespace seed;
using Clock = std::chrono::steady_clock;

class AcceptConnect : public AcceptConnectBase
{
};

// --- Accept and connect ------------------------------------------------------------------------

TEST_P(AcceptConnect, accept_and_connect_give_open_sockets_that_exchange_bytes_over_ipv4)
{
    OwnedSocket accepted;
    OwnedSocket connected;
    connect_pair("127.0.0.1", accepted, connected);
    ASSERT_NE(nullptr, accepted.get());
    expect_bytes_flow(connected.get(), accepted.get(), 3000, 1);
    expect_bytes_flow(accepted.get(), connected.get(), 3000, 2);
}

TEST_P(AcceptConnect, accept_and_connect_give_open_sockets_that_exchange_bytes_over_ipv6)
{
    if (!ipv6_loopback_available())
        GTEST_SKIP() << "no IPv6 loopback (::1) on this machine";
    OwnedSocket accepted;
    OwnedSocket connected;
    connect_pair("::1", accepted, connected);
    ASSERT_NE(nullptr, accepted.get());
    expect_bytes_flow(connected.get(), accepted.get(), 3000, 3);
    expect_bytes_flow(accepted.get(), connected.get(), 3000, 4);
}

TEST_P(AcceptConnect, listeners_on_the_wildcard_addresses_accept_loopback_connections)
{
    const char* wildcards[] = {"0.0.0.0", "::"};
    const char* loopbacks[] = {"127.0.0.1", "::1"};
    for (int i = 0; i < 2; ++i)
    {
        if (i == 1 && !ipv6_loopback_available())
            continue;
        AcceptRecord accept;
        ConnectRecord connect;
        OwnedListener listener(listen_on(wildcards[i]));
        ASSERT_NE(nullptr, listener.get());
        ASSERT_EQ(0, async_socket_listener_accept_async(listener.get(), AcceptRecord::callback, &accept));
        ASSERT_EQ(0, async_socket_connect_async(engine, loopbacks[i], async_socket_listener_get_port(listener.get()), 5000, ConnectRecord::callback, &connect));
        ASSERT_TRUE(accept.done.wait_for(1));
        ASSERT_TRUE(connect.done.wait_for(1));
        EXPECT_EQ(ASYNC_SOCKET_ACCEPT_OK, accept.result.load()) << wildcards[i];
        EXPECT_EQ(ASYNC_SOCKET_CONNECT_OK, connect.result.load()) << wildcards[i];
        async_socket_destroy(accept.socket.load());
        async_socket_destroy(connect.socket.load());
    }
}

TEST_P(AcceptConnect, port_zero_binds_a_port_the_system_picked_that_get_port_reports)
{
    OwnedListener listener(listen_on("127.0.0.1"));
    const uint16_t port = async_socket_listener_get_port(listener.get());
    EXPECT_NE(0, port);
    // A plain client reaches it there.
    ScopedSocket peer(plain_connect(port));
    EXPECT_NE(kNoSocket, peer.get());
}

TEST_P(AcceptConnect, connections_go_to_the_accepts_in_the_order_they_were_made)
{
    constexpr int kAccepts = 4;
    AcceptRecord accepts[kAccepts];
    OwnedListener listener(listen_on("127.0.0.1"));
    const uint16_t port = async_socket_listener_get_port(listener.get());
    for (AcceptRecord& accept : accepts)
        ASSERT_EQ(0, async_socket_listener_accept_async(listener.get(), AcceptRecord::callback, &accept));
    for (int i = 0; i < kAccepts; ++i)
    {
        ConnectRecord connect;
        ASSERT_EQ(0, async_socket_connect_async(engine, "127.0.0.1", port, 5000, ConnectRecord::callback, &connect));
        ASSERT_TRUE(connect.done.wait_for(1));
        OwnedSocket connected(connect.socket.load());
        ASSERT_TRUE(accepts[i].done.wait_for(1)) << i;
        for (int later = i + 1; later < kAccepts; ++later)
            EXPECT_EQ(0, accepts[later].calls.load()) << "accept " << later << " completed before accept " << i;
        OwnedSocket accepted(accepts[i].socket.load());
        EXPECT_EQ(ASYNC_SOCKET_ACCEPT_OK, accepts[i].result.load());
        expect_bytes_flow(connected.get(), accepted.get(), 10, static_cast<uint32_t>(i));
    }
}

TEST_P(AcceptConnect, many_connects_and_accepts_on_several_loops_pair_up_exactly_once)
{
    OwnedEngine many(make_engine(GetParam(), 2));
    ASSERT_NE(nullptr, many.get());
    constexpr int kConnections = 32;
    std::vector<AcceptRecord> accepts(kConnections);
    std::vector<ConnectRecord> connects(kConnections);
    ASYNC_SOCKET_LISTENER_HANDLE handle = nullptr;
    ASSERT_EQ(ASYNC_SOCKET_LISTENER_CREATE_OK, async_socket_listener_create(many.get(), "127.0.0.1", 0, 0, &handle, nullptr));
    OwnedListener listener(handle);
    const uint16_t port = async_socket_listener_get_port(handle);
    for (AcceptRecord& accept : accepts)
        ASSERT_EQ(0, async_socket_listener_accept_async(handle, AcceptRecord::callback, &accept));
    for (ConnectRecord& connect : connects)
        ASSERT_EQ(0, async_socket_connect_async(many.get(), "127.0.0.1", port, 10000, ConnectRecord::callback, &connect));
    for (int i = 0; i < kConnections; ++i)
    {
        ASSERT_TRUE(accepts[i].done.wait_for(1));
        ASSERT_TRUE(connects[i].done.wait_for(1));
    }
    std::this_thread::sleep_for(kQuiet);
    for (int i = 0; i < kConnections; ++i)
    {
        EXPECT_EQ(1, accepts[i].calls.load());
        EXPECT_EQ(1, connects[i].calls.load());
        EXPECT_EQ(ASYNC_SOCKET_ACCEPT_OK, accepts[i].result.load());
        EXPECT_EQ(ASYNC_SOCKET_CONNECT_OK, connects[i].result.load()) << ASYNC_SOCKET_CONNECT_RESULT_to_string(connects[i].result.load()) << " " << connects[i].error.load();
    }
    // The pairs are connected: each connected socket sends its number, and every number
    // arrives at exactly one accepted socket.
    std::vector<uint8_t> numbers(kConnections);
    for (int i = 0; i < kConnections; ++i)
    {
        numbers[i] = static_cast<uint8_t>(i);
        SendRecord sent;
        ASYNC_SOCKET_BUFFER buffer{&numbers[i], 1};
        ASSERT_EQ(ASYNC_SOCKET_SEND_SYNC_OK, async_socket_send_async(connects[i].socket.load(), &buffer, 1, SendRecord::callback, &sent));
        ASSERT_TRUE(sent.done.wait_for(1));
    }
    std::vector<int> seen(kConnections, 0);
    for (int i = 0; i < kConnections; ++i)
    {
        const std::vector<uint8_t> number = receive_exactly(accepts[i].socket.load(), 1);
        ASSERT_EQ(1u, number.size());
        ASSERT_LT(number[0], kConnections);
        seen[number[0]]++;
    }
    EXPECT_EQ(std::vector<int>(kConnections, 1), seen);
    for (int i = 0; i < kConnections; ++i)
    {
        async_socket_destroy(accepts[i].socket.load());
        async_socket_destroy(connects[i].socket.load());
    }
}

// --- Close -------------------------------------------------------------------------------------

TEST_P(AcceptConnect, close_completes_every_pending_accept_exactly_once_with_abandoned_before_returning)
{
    const size_t fds_before = open_fd_count();
    constexpr int kAccepts = 64;
    std::vector<AcceptRecord> accepts(kAccepts);
    OwnedListener listener(listen_on("127.0.0.1"));
    for (AcceptRecord& accept : accepts)
        ASSERT_EQ(0, async_socket_listener_accept_async(listener.get(), AcceptRecord::callback, &accept));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the loop start accepting
    async_socket_listener_close(listener.get());
    for (AcceptRecord& accept : accepts)
    {
        EXPECT_EQ(1, accept.calls.load()) << "the callback must have run when close returns";
        EXPECT_EQ(ASYNC_SOCKET_ACCEPT_ABANDONED, accept.result.load());
        EXPECT_EQ(nullptr, accept.socket.load());
        EXPECT_EQ(0, accept.error.load());
    }
    if (kPlatform.descriptors_countable)
    {
        EXPECT_EQ(fds_before, open_fd_count()) << "close closes the listening socket";
    }
    std::this_thread::sleep_for(kQuiet);
    for (AcceptRecord& accept : accepts)
        EXPECT_EQ(1, accept.calls.load());
    AcceptRecord late;
    EXPECT_EQ(EBADF, async_socket_listener_accept_async(listener.get(), AcceptRecord::callback, &late));
    async_socket_listener_close(listener.get());  // a second close is ignored
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(0, late.calls.load());
}

TEST_P(AcceptConnect, destroy_completes_every_pending_accept_exactly_once_with_abandoned)
{
    constexpr int kAccepts = 16;
    std::vector<AcceptRecord> accepts(kAccepts);
    OwnedListener listener(listen_on(ipv6_loopback_available() ? "::1" : "127.0.0.1"));
    for (AcceptRecord& accept : accepts)
        ASSERT_EQ(0, async_socket_listener_accept_async(listener.get(), AcceptRecord::callback, &accept));
    listener.destroy();
    for (AcceptRecord& accept : accepts)
    {
        EXPECT_EQ(1, accept.calls.load());
        EXPECT_EQ(ASYNC_SOCKET_ACCEPT_ABANDONED, accept.result.load());
    }
    std::this_thread::sleep_for(kQuiet);
    for (AcceptRecord& accept : accepts)
        EXPECT_EQ(1, accept.calls.load());
}

TEST_P(AcceptConnect, after_close_the_port_refuses_connections)
{
    OwnedListener listener(listen_on("127.0.0.1"));
    const uint16_t port = async_socket_listener_get_port(listener.get());
    async_socket_listener_close(listener.get());
    ConnectRecord connect;
    ASSERT_EQ(0, async_socket_connect_async(engine, "127.0.0.1", port, 5000, ConnectRecord::callback, &connect));
    ASSERT_TRUE(connect.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_REFUSED, connect.result.load());
}

// Destroys (or closes) the listener from inside its first accept's callback.
struct SelfDestroyingAccept
{
    ASYNC_SOCKET_LISTENER_HANDLE listener = nullptr;
    bool destroy = true;
    AcceptRecord record;
    std::atomic<bool> returned{false};

    static void callback(void* context, ASYNC_SOCKET_ACCEPT_RESULT result, ASYNC_SOCKET_HANDLE socket, int error)
    {
        auto* self = static_cast<SelfDestroyingAccept*>(context);
        if (self->destroy)
            async_socket_listener_destroy(self->listener);
        else
            async_socket_listener_close(self->listener);
        self->returned = true;
        AcceptRecord::callback(&self->record, result, socket, error);
    }
};

TEST_P(AcceptConnect, destroying_the_listener_inside_its_accept_callback_abandons_the_other_accepts)
{
    SelfDestroyingAccept first;
    AcceptRecord others[3];
    ConnectRecord connect;
    first.listener = listen_on("127.0.0.1");
    ASSERT_NE(nullptr, first.listener);
    const uint16_t port = async_socket_listener_get_port(first.listener);
    ASSERT_EQ(0, async_socket_listener_accept_async(first.listener, SelfDestroyingAccept::callback, &first));
    for (AcceptRecord& other : others)
        ASSERT_EQ(0, async_socket_listener_accept_async(first.listener, AcceptRecord::callback, &other));
    ASSERT_EQ(0, async_socket_connect_async(engine, "127.0.0.1", port, 5000, ConnectRecord::callback, &connect));
    ASSERT_TRUE(first.record.done.wait_for(1));
    ASSERT_TRUE(connect.done.wait_for(1));
    OwnedSocket accepted(first.record.socket.load());
    OwnedSocket connected(connect.socket.load());
    EXPECT_EQ(ASYNC_SOCKET_ACCEPT_OK, first.record.result.load());
    EXPECT_TRUE(first.returned.load());
    for (AcceptRecord& other : others)
    {
        ASSERT_TRUE(other.done.wait_for(1));
        EXPECT_EQ(ASYNC_SOCKET_ACCEPT_ABANDONED, other.result.load());
    }
    // The accepted socket outlives its listener.
    expect_bytes_flow(connected.get(), accepted.get(), 100, 9);
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(1, first.record.calls.load());
    for (AcceptRecord& other : others)
        EXPECT_EQ(1, other.calls.load());
}

TEST_P(AcceptConnect, closing_the_listener_inside_its_accept_callback_abandons_the_others_before_returning)
{
    SelfDestroyingAccept first;
    first.destroy = false;
    AcceptRecord second;
    ConnectRecord connect;
    OwnedListener listener(listen_on("127.0.0.1"));
    first.listener = listener.get();
    ASSERT_EQ(0, async_socket_listener_accept_async(listener.get(), SelfDestroyingAccept::callback, &first));
    ASSERT_EQ(0, async_socket_listener_accept_async(listener.get(), AcceptRecord::callback, &second));
    ASSERT_EQ(0, async_socket_connect_async(engine, "127.0.0.1", async_socket_listener_get_port(listener.get()), 5000, ConnectRecord::callback, &connect));
    ASSERT_TRUE(first.record.done.wait_for(1));
    // The second accept was abandoned inside the first callback's close, before it recorded.
    EXPECT_EQ(1, second.calls.load());
    EXPECT_EQ(ASYNC_SOCKET_ACCEPT_ABANDONED, second.result.load());
    ASSERT_TRUE(connect.done.wait_for(1));
    async_socket_destroy(first.record.socket.load());
    async_socket_destroy(connect.socket.load());
}

// The first abandoned accept closes the listener again from its callback, and records how
// many of the other accepts had completed when that close returned.
struct ClosingAbandonedAccept
{
    ASYNC_SOCKET_LISTENER_HANDLE listener = nullptr;
    std::vector<AcceptRecord>* others = nullptr;
    std::atomic<int> completed_when_close_returned{-1};
    AcceptRecord record;

    static void callback(void* context, ASYNC_SOCKET_ACCEPT_RESULT result, ASYNC_SOCKET_HANDLE socket, int error)
    {
        auto* self = static_cast<ClosingAbandonedAccept*>(context);
        async_socket_listener_close(self->listener);
        int completed = 0;
        for (AcceptRecord& other : *self->others)
            completed += other.calls.load();
        self->completed_when_close_returned = completed;
        AcceptRecord::callback(&self->record, result, socket, error);
    }
};

TEST_P(AcceptConnect, a_close_inside_an_abandoned_accept_callback_completes_the_other_accepts_before_returning)
{
    ClosingAbandonedAccept first;
    std::vector<AcceptRecord> others(3);
    OwnedListener listener(listen_on("127.0.0.1"));
    first.listener = listener.get();
    first.others = &others;
    ASSERT_EQ(0, async_socket_listener_accept_async(listener.get(), ClosingAbandonedAccept::callback, &first));
    for (AcceptRecord& other : others)
        ASSERT_EQ(0, async_socket_listener_accept_async(listener.get(), AcceptRecord::callback, &other));
    async_socket_listener_close(listener.get());
    EXPECT_EQ(1, first.record.calls.load());
    EXPECT_EQ(ASYNC_SOCKET_ACCEPT_ABANDONED, first.record.result.load());
    EXPECT_EQ(3, first.completed_when_close_returned.load()) << "a callback of the listener ran after a close returned";
    for (AcceptRecord& other : others)
    {
        EXPECT_EQ(1, other.calls.load());
        EXPECT_EQ(ASYNC_SOCKET_ACCEPT_ABANDONED, other.result.load());
    }
}

// An accept callback that blocks until the test lets it go.
struct BlockingAccept
{
    Gate gate;
    std::atomic<bool> entered{false};
    std::atomic<bool> left{false};
    AcceptRecord record;

    static void callback(void* context, ASYNC_SOCKET_ACCEPT_RESULT result, ASYNC_SOCKET_HANDLE socket, int error)
    {
        auto* self = static_cast<BlockingAccept*>(context);
        self->entered = true;
        self->gate.wait();
        self->left = true;
        AcceptRecord::callback(&self->record, result, socket, error);
    }
};

TEST_P(AcceptConnect, close_from_another_thread_waits_for_a_running_accept_callback)
{
    BlockingAccept blocked;
    ConnectRecord connect;
    OwnedListener listener(listen_on("127.0.0.1"));
    ASSERT_EQ(0, async_socket_listener_accept_async(listener.get(), BlockingAccept::callback, &blocked));
    ASSERT_EQ(0, async_socket_connect_async(engine, "127.0.0.1", async_socket_listener_get_port(listener.get()), 5000, ConnectRecord::callback, &connect));
    ASSERT_TRUE(wait_until([&] { return blocked.entered.load(); }));
    Background closer([&] { async_socket_listener_close(listener.get()); });
    std::this_thread::sleep_for(kQuiet);
    EXPECT_FALSE(closer.finished()) << "close returned while an accept callback was running";
    blocked.gate.open();
    closer.join();
    EXPECT_TRUE(blocked.left.load());
    ASSERT_TRUE(connect.done.wait_for(1));
    async_socket_destroy(blocked.record.socket.load());
    async_socket_destroy(connect.socket.load());
}

// --- Engine references ---------------------------------------------------------------------------

TEST_P(AcceptConnect, a_listener_keeps_its_engine_running_after_the_application_released_it)
{
    const size_t threads_before = thread_count();
    EXECUTION_ENGINE_HANDLE own = make_engine(GetParam());
    ASSERT_NE(nullptr, own);
    ASYNC_SOCKET_LISTENER_HANDLE handle = nullptr;
    ASSERT_EQ(ASYNC_SOCKET_LISTENER_CREATE_OK, async_socket_listener_create(own, "127.0.0.1", 0, 0, &handle, nullptr));
    OwnedListener listener(handle);
    execution_engine_dec_ref(own);  // the listener's reference keeps it

    AcceptRecord accept;
    ASSERT_EQ(0, async_socket_listener_accept_async(handle, AcceptRecord::callback, &accept));
    ScopedSocket peer_guard(plain_connect(async_socket_listener_get_port(handle)));
    const NativeSocket peer = peer_guard.get();
    ASSERT_NE(kNoSocket, peer);
    ASSERT_TRUE(accept.done.wait_for(1));
    ASSERT_EQ(ASYNC_SOCKET_ACCEPT_OK, accept.result.load());
    OwnedSocket accepted(accept.socket.load());
    ASSERT_TRUE(write_all(peer, "hello", 5));
    EXPECT_EQ((std::vector<uint8_t>{'h', 'e', 'l', 'l', 'o'}), receive_exactly(accepted.get(), 5));

    listener.destroy();
    if (kLiveEngineAddsThreads)
    {
        EXPECT_GT(thread_count(), threads_before) << "the accepted socket still holds the engine";
    }
    // The engine still runs the accepted socket's operations.
    ASSERT_TRUE(write_all(peer, "again", 5));
    EXPECT_EQ((std::vector<uint8_t>{'a', 'g', 'a', 'i', 'n'}), receive_exactly(accepted.get(), 5));
    accepted.destroy();
    EXPECT_TRUE(wait_for_thread_count(threads_before)) << "the engine's threads must end with its last reference";
}

// Destroys the listener, which holds the engine's last reference, inside its accept callback:
// the engine then stops on its own thread.
struct LastReferenceAccept
{
    ASYNC_SOCKET_LISTENER_HANDLE listener = nullptr;
    Counter done;
    static void callback(void* context, ASYNC_SOCKET_ACCEPT_RESULT, ASYNC_SOCKET_HANDLE socket, int)
    {
        auto* self = static_cast<LastReferenceAccept*>(context);
        async_socket_destroy(socket);
        async_socket_listener_destroy(self->listener);
        self->done.add();
    }
};

TEST_P(AcceptConnect, destroying_the_listener_with_the_last_engine_reference_in_its_callback_stops_the_engine)
{
    const size_t threads_before = thread_count();
    EXECUTION_ENGINE_HANDLE own = make_engine(GetParam());
    ASSERT_NE(nullptr, own);
    LastReferenceAccept accept;
    ASSERT_EQ(ASYNC_SOCKET_LISTENER_CREATE_OK, async_socket_listener_create(own, "127.0.0.1", 0, 0, &accept.listener, nullptr));
    const uint16_t port = async_socket_listener_get_port(accept.listener);
    ASSERT_EQ(0, async_socket_listener_accept_async(accept.listener, LastReferenceAccept::callback, &accept));
    execution_engine_dec_ref(own);
    ScopedSocket peer_guard(plain_connect(port));
    ASSERT_NE(kNoSocket, peer_guard.get());
    ASSERT_TRUE(accept.done.wait_for(1));
    EXPECT_TRUE(wait_for_thread_count(threads_before));
}

// --- Connect failures ----------------------------------------------------------------------------

TEST_P(AcceptConnect, a_connect_to_a_port_nobody_listens_on_is_refused)
{
    const size_t fds_before = open_fd_count();
    UnusedPort unused;
    ConnectRecord connect;
    ASSERT_EQ(0, async_socket_connect_async(engine, "127.0.0.1", unused.port(), 5000, ConnectRecord::callback, &connect));
    ASSERT_TRUE(connect.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_REFUSED, connect.result.load());
    EXPECT_EQ(ECONNREFUSED, connect.error.load());
    EXPECT_EQ(nullptr, connect.socket.load());
    EXPECT_NE(std::this_thread::get_id(), connect.thread.load());
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(1, connect.calls.load());
    if (kPlatform.descriptors_countable)
    {
        EXPECT_EQ(fds_before + 1, open_fd_count()) << "the connect's socket is closed (the +1 is the port's holder)";
    }
}

TEST_P(AcceptConnect, a_pending_connect_keeps_its_engine_running_until_its_callback)
{
    OwnedListener listener(listen_on("127.0.0.1", 1));
    FullBacklog backlog(async_socket_listener_get_port(listener.get()));
    if (!backlog.full())
        GTEST_SKIP() << "the listener's accept queue did not fill on this machine";
    const size_t threads_before = thread_count();
    EXECUTION_ENGINE_HANDLE own = make_engine(GetParam());
    ASSERT_NE(nullptr, own);
    ConnectRecord connect;
    ASSERT_EQ(0, async_socket_connect_async(own, "127.0.0.1", async_socket_listener_get_port(listener.get()), 300, ConnectRecord::callback, &connect));
    execution_engine_dec_ref(own);
    ASSERT_TRUE(connect.done.wait_for(1));
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_TIMEOUT, connect.result.load());
    EXPECT_TRUE(wait_for_thread_count(threads_before));
}

TEST_P(AcceptConnect, a_connect_to_a_listener_with_a_full_backlog_times_out_once_in_about_its_timeout)
{
    OwnedListener listener(listen_on("127.0.0.1", 1));
    FullBacklog backlog(async_socket_listener_get_port(listener.get()));
    if (!backlog.full())
        GTEST_SKIP() << "the listener's accept queue did not fill on this machine";
    const size_t fds_before = open_fd_count();
    ConnectRecord connect;
    const auto start = Clock::now();
    ASSERT_EQ(0, async_socket_connect_async(engine, "127.0.0.1", async_socket_listener_get_port(listener.get()), 300, ConnectRecord::callback, &connect));
    ASSERT_TRUE(connect.done.wait_for(1, std::chrono::seconds(5)));
    const auto elapsed = Clock::now() - start;
    EXPECT_EQ(ASYNC_SOCKET_CONNECT_TIMEOUT, connect.result.load()) << ASYNC_SOCKET_CONNECT_RESULT_to_string(connect.result.load()) << " " << connect.error.load();
    EXPECT_EQ(ETIMEDOUT, connect.error.load());
    EXPECT_EQ(nullptr, connect.socket.load());
    EXPECT_GE(elapsed, std::chrono::milliseconds(250));
    EXPECT_LT(elapsed, std::chrono::seconds(3));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(1, connect.calls.load());
    if (kPlatform.descriptors_countable)
    {
        EXPECT_EQ(fds_before, open_fd_count()) << "the connect's socket (and timer) are closed";
    }
}

TEST_P(AcceptConnect, a_connect_to_an_unroutable_address_times_out_or_is_unreachable_once)
{
    ConnectRecord connect;
    const auto start = Clock::now();
    ASSERT_EQ(0, async_socket_connect_async(engine, "10.255.255.1", 9, 200, ConnectRecord::callback, &connect));
    ASSERT_TRUE(connect.done.wait_for(1, std::chrono::seconds(5)));
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(1, connect.calls.load());
    const ASYNC_SOCKET_CONNECT_RESULT result = connect.result.load();
    async_socket_destroy(connect.socket.load());
    // Some sandboxes answer every address themselves (a proxying network stack).
    if (result == ASYNC_SOCKET_CONNECT_OK || result == ASYNC_SOCKET_CONNECT_REFUSED)
        GTEST_SKIP() << "this machine's network answered 10.255.255.1: " << ASYNC_SOCKET_CONNECT_RESULT_to_string(result);
    EXPECT_TRUE(result == ASYNC_SOCKET_CONNECT_TIMEOUT || result == ASYNC_SOCKET_CONNECT_UNREACHABLE) << ASYNC_SOCKET_CONNECT_RESULT_to_string(result) << " " << connect.error.load();
}

// --- Creation failures ---------------------------------------------------------------------------

TEST_P(AcceptConnect, a_second_listener_on_the_same_port_is_address_in_use)
{
    OwnedListener first(listen_on("127.0.0.1"));
    ASYNC_SOCKET_LISTENER_HANDLE second = reinterpret_cast<ASYNC_SOCKET_LISTENER_HANDLE>(&second);
    int error = 0;
    EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_ADDRESS_IN_USE, async_socket_listener_create(engine, "127.0.0.1", async_socket_listener_get_port(first.get()), 0, &second, &error));
    EXPECT_EQ(EADDRINUSE, error);
    EXPECT_EQ(nullptr, second);
}

TEST_P(AcceptConnect, a_listener_on_an_address_of_no_local_interface_is_address_not_available)
{
    ASYNC_SOCKET_LISTENER_HANDLE listener = nullptr;
    int error = 0;
    // 192.0.2.1: TEST-NET-1 (RFC 5737), assigned to no machine.
    EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_ADDRESS_NOT_AVAILABLE, async_socket_listener_create(engine, "192.0.2.1", 0, 0, &listener, &error));
    EXPECT_EQ(EADDRNOTAVAIL, error);
    EXPECT_EQ(nullptr, listener);
}

TEST_P(AcceptConnect, bad_arguments_are_refused_synchronously_and_never_call_back)
{
    const size_t fds_before = open_fd_count();
    ASYNC_SOCKET_LISTENER_HANDLE listener = nullptr;
    int error = 0;
    const char* bad_addresses[] = {"", "localhost", "127.0.0", "256.0.0.1", "1.2.3.4:80", "::g", "[::1]", " 127.0.0.1"};
    for (const char* address : bad_addresses)
    {
        error = 0;
        EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_INVALID_ARGUMENT, async_socket_listener_create(engine, address, 0, 0, &listener, &error)) << '"' << address << '"';
        EXPECT_EQ(EINVAL, error);
        EXPECT_EQ(nullptr, listener);
    }
    EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_INVALID_ARGUMENT, async_socket_listener_create(nullptr, "127.0.0.1", 0, 0, &listener, &error));
    EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_INVALID_ARGUMENT, async_socket_listener_create(engine, nullptr, 0, 0, &listener, &error));
    EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_INVALID_ARGUMENT, async_socket_listener_create(engine, "127.0.0.1", 0, 0, nullptr, &error));
    EXPECT_EQ(ASYNC_SOCKET_LISTENER_CREATE_INVALID_ARGUMENT, async_socket_listener_create(engine, "127.0.0.1", 0, -1, &listener, nullptr));
    EXPECT_EQ(nullptr, listener);

    EXPECT_EQ(EINVAL, async_socket_listener_accept_async(nullptr, AcceptRecord::callback, nullptr));
    OwnedListener good(listen_on("127.0.0.1"));
    AcceptRecord accept;
    EXPECT_EQ(EINVAL, async_socket_listener_accept_async(good.get(), nullptr, &accept));
    EXPECT_EQ(0, async_socket_listener_get_port(nullptr));
    async_socket_listener_close(nullptr);
    async_socket_listener_destroy(nullptr);

    ConnectRecord connect;
    EXPECT_EQ(EINVAL, async_socket_connect_async(nullptr, "127.0.0.1", 1, 100, ConnectRecord::callback, &connect));
    EXPECT_EQ(EINVAL, async_socket_connect_async(engine, nullptr, 1, 100, ConnectRecord::callback, &connect));
    EXPECT_EQ(EINVAL, async_socket_connect_async(engine, "127.0.0.1", 1, 100, nullptr, &connect));
    EXPECT_EQ(EINVAL, async_socket_connect_async(engine, "127.0.0.1", 1, 0, ConnectRecord::callback, &connect));
    for (const char* address : bad_addresses)
        EXPECT_EQ(EINVAL, async_socket_connect_async(engine, address, 1, 100, ConnectRecord::callback, &connect)) << '"' << address << '"';
    good.destroy();
    std::this_thread::sleep_for(kQuiet);
    EXPECT_EQ(0, connect.calls.load());
    EXPECT_EQ(0, accept.calls.load());
    if (kPlatform.descriptors_countable)
    {
        EXPECT_EQ(fds_before, open_fd_count());
    }
}

TEST_P(AcceptConnect, enum_values_have_names)
{
    EXPECT_STREQ("ASYNC_SOCKET_LISTENER_CREATE_OK", ASYNC_SOCKET_LISTENER_CREATE_RESULT_to_string(ASYNC_SOCKET_LISTENER_CREATE_OK));
    EXPECT_STREQ("ASYNC_SOCKET_LISTENER_CREATE_ADDRESS_IN_USE", ASYNC_SOCKET_LISTENER_CREATE_RESULT_to_string(ASYNC_SOCKET_LISTENER_CREATE_ADDRESS_IN_USE));
    EXPECT_STREQ("ASYNC_SOCKET_LISTENER_CREATE_ERROR", ASYNC_SOCKET_LISTENER_CREATE_RESULT_to_string(ASYNC_SOCKET_LISTENER_CREATE_ERROR));
    EXPECT_STREQ("UNKNOWN", ASYNC_SOCKET_LISTENER_CREATE_RESULT_to_string(static_cast<ASYNC_SOCKET_LISTENER_CREATE_RESULT>(6)));
    EXPECT_STREQ("ASYNC_SOCKET_ACCEPT_OK", ASYNC_SOCKET_ACCEPT_RESULT_to_string(ASYNC_SOCKET_ACCEPT_OK));
    EXPECT_STREQ("ASYNC_SOCKET_ACCEPT_ABANDONED", ASYNC_SOCKET_ACCEPT_RESULT_to_string(ASYNC_SOCKET_ACCEPT_ABANDONED));
    EXPECT_STREQ("ASYNC_SOCKET_ACCEPT_CANCELLED", ASYNC_SOCKET_ACCEPT_RESULT_to_string(ASYNC_SOCKET_ACCEPT_CANCELLED));
    EXPECT_STREQ("UNKNOWN", ASYNC_SOCKET_ACCEPT_RESULT_to_string(static_cast<ASYNC_SOCKET_ACCEPT_RESULT>(4)));
    EXPECT_STREQ("ASYNC_SOCKET_CONNECT_REFUSED", ASYNC_SOCKET_CONNECT_RESULT_to_string(ASYNC_SOCKET_CONNECT_REFUSED));
    EXPECT_STREQ("ASYNC_SOCKET_CONNECT_ERROR", ASYNC_SOCKET_CONNECT_RESULT_to_string(ASYNC_SOCKET_CONNECT_ERROR));
    EXPECT_STREQ("ASYNC_SOCKET_CONNECT_CANCELLED", ASYNC_SOCKET_CONNECT_RESULT_to_string(ASYNC_SOCKET_CONNECT_CANCELLED));
    EXPECT_STREQ("ASYNC_SOCKET_CONNECT_NAME_NOT_FOUND", ASYNC_SOCKET_CONNECT_RESULT_to_string(ASYNC_SOCKET_CONNECT_NAME_NOT_FOUND));
    EXPECT_STREQ("UNKNOWN", ASYNC_SOCKET_CONNECT_RESULT_to_string(static_cast<ASYNC_SOCKET_CONNECT_RESULT>(7)));
    EXPECT_STREQ("UNKNOWN", ASYNC_SOCKET_CONNECT_RESULT_to_string(static_cast<ASYNC_SOCKET_CONNECT_RESULT>(-1)));
}

ASOCK_INSTANTIATE_CONTRACT(AcceptConnect);

}  // namespace
}  // namespace asock_test
