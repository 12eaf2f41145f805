// The C++ API of accept and connect (asock::listener, asock::connect) on every backend of the
// platform: handlers and coroutines yield open sockets or std::error_codes; the listener is
// RAII.
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>
#include <string>
#include <system_error>

#include "asock/asock.hpp"
#include "contract/accept_connect_helpers.h"
#include "cpp/cpp_fixture.h"

namespace asock_test {
namespace {

using namespace std::chrono_literals;

class CppAcceptConnect : public CppContract
{
};

// What a connection handler received.
struct ConnectionRecord
{
    asock::connection connection;
    std::atomic<int> calls{0};
    Counter done;

    auto handler()
    {
        return [this](asock::connection c) {
            connection = std::move(c);
            calls++;
            done.add();
        };
    }
};

// Sends bytes on one socket and receives them on the other, with handlers.
void expect_bytes_flow(asock::socket& from, asock::socket& to, const std::string& text)
{
    Counter sent;
    std::atomic<bool> sent_ok{false};
    ASSERT_FALSE(from.send(std::as_bytes(std::span(text)), [&](asock::io_result r) {
        sent_ok = static_cast<bool>(r);
        sent.add();
    }));
    std::string received(text.size(), '\0');
    size_t got = 0;
    while (got < text.size())
    {
        Counter done;
        asock::io_result result{asock::result::error, 0};
        ASSERT_FALSE(to.receive(std::as_writable_bytes(std::span(received)).subspan(got), [&](asock::io_result r) {
            result = r;
            done.add();
        }));
        ASSERT_TRUE(done.wait_for(1));
        ASSERT_TRUE(result) << result.error().message();
        got += result.bytes;
    }
    EXPECT_EQ(text, received);
    ASSERT_TRUE(sent.wait_for(1));
    EXPECT_TRUE(sent_ok.load());
}

TEST_P(CppAcceptConnect, handlers_receive_connected_open_sockets)
{
    asock::engine e = cpp_engine();
    asock::listener server(e, "127.0.0.1", 0);
    ASSERT_TRUE(server);
    ASSERT_NE(0, server.port());
    ConnectionRecord accepted;
    ConnectionRecord connected;
    ASSERT_FALSE(server.accept(accepted.handler()));
    ASSERT_FALSE(asock::connect(e, "127.0.0.1", server.port(), 5s, connected.handler()));
    ASSERT_TRUE(accepted.done.wait_for(1));
    ASSERT_TRUE(connected.done.wait_for(1));
    ASSERT_TRUE(accepted.connection) << accepted.connection.error.message();
    ASSERT_TRUE(connected.connection) << connected.connection.error.message();
    ASSERT_TRUE(accepted.connection.socket);
    ASSERT_TRUE(connected.connection.socket);
    expect_bytes_flow(connected.connection.socket, accepted.connection.socket, "ping");
    expect_bytes_flow(accepted.connection.socket, connected.connection.socket, "pong");
}

// --- Coroutines ------------------------------------------------------------------------------------

struct EchoServerState
{
    asock::connection accepted;
    asock::io_result received{asock::result::error, 0};
    asock::io_result sent{asock::result::error, 0};
    std::array<std::byte, 64> buffer{};
    Counter done;
};

asock::task echo_once(asock::listener& server, EchoServerState& state)
{
    state.accepted = co_await server.accept();
    if (state.accepted)
    {
        state.received = co_await state.accepted.socket.receive(std::span(state.buffer));
        if (state.received)
            state.sent = co_await state.accepted.socket.send(std::span<const std::byte>(state.buffer).first(state.received.bytes));
    }
    state.done.add();
}

struct ClientState
{
    asock::connection connected;
    asock::io_result sent{asock::result::error, 0};
    asock::io_result received{asock::result::error, 0};
    std::array<std::byte, 64> buffer{};
    Counter done;
};

asock::task call_once(asock::engine& e, const char* address, uint16_t port, ClientState& state)
{
    state.connected = co_await asock::connect(e, address, port, 5s);
    if (state.connected)
    {
        static const char hello[] = "hello";
        state.sent = co_await state.connected.socket.send(std::as_bytes(std::span(hello, 5)));
        if (state.sent)
            state.received = co_await state.connected.socket.receive(std::span(state.buffer));
    }
    state.done.add();
}

void run_coroutine_round_trip(asock::engine& e, const char* address)
{
    asock::listener server(e, address, 0);
    EchoServerState server_state;
    ClientState client_state;
    echo_once(server, server_state);
    call_once(e, address, server.port(), client_state);
    ASSERT_TRUE(client_state.done.wait_for(1));
    ASSERT_TRUE(server_state.done.wait_for(1));
    ASSERT_TRUE(client_state.connected) << client_state.connected.error.message();
    ASSERT_TRUE(server_state.accepted) << server_state.accepted.error.message();
    EXPECT_EQ(5u, server_state.sent.bytes);
    ASSERT_EQ(5u, client_state.received.bytes);
    EXPECT_EQ(0, std::memcmp(client_state.buffer.data(), "hello", 5));
}

TEST_P(CppAcceptConnect, coroutines_await_an_accept_and_a_connect_over_ipv4)
{
    asock::engine e = cpp_engine();
    run_coroutine_round_trip(e, "127.0.0.1");
}

TEST_P(CppAcceptConnect, coroutines_await_an_accept_and_a_connect_over_ipv6)
{
    if (!ipv6_loopback_available())
        GTEST_SKIP() << "no IPv6 loopback (::1) on this machine";
    asock::engine e = cpp_engine();
    run_coroutine_round_trip(e, "::1");
}

asock::task connect_only(asock::engine& e, const char* address, uint16_t port, std::chrono::milliseconds timeout, ClientState& state)
{
    state.connected = co_await asock::connect(e, address, port, timeout);
    state.done.add();
}

TEST_P(CppAcceptConnect, a_refused_connect_yields_connection_refused)
{
    asock::engine e = cpp_engine();
    UnusedPort unused;
    ClientState awaited;
    connect_only(e, "127.0.0.1", unused.port(), 5s, awaited);
    ASSERT_TRUE(awaited.done.wait_for(1));
    EXPECT_FALSE(awaited.connected);
    EXPECT_FALSE(awaited.connected.socket);
    EXPECT_EQ(std::errc::connection_refused, awaited.connected.error);

    ConnectionRecord handled;
    ASSERT_FALSE(asock::connect(e, "127.0.0.1", unused.port(), 5s, handled.handler()));
    ASSERT_TRUE(handled.done.wait_for(1));
    EXPECT_EQ(std::errc::connection_refused, handled.connection.error);
}

TEST_P(CppAcceptConnect, a_connect_that_gets_no_answer_yields_timed_out)
{
    asock::engine e = cpp_engine();
    asock::listener server(e, "127.0.0.1", 0, 1);
    FullBacklog backlog(server.port());
    if (!backlog.full())
        GTEST_SKIP() << "the listener's accept queue did not fill on this machine";
    ClientState awaited;
    connect_only(e, "127.0.0.1", server.port(), 200ms, awaited);
    ASSERT_TRUE(awaited.done.wait_for(1));
    EXPECT_EQ(std::errc::timed_out, awaited.connected.error);
}

TEST_P(CppAcceptConnect, a_listener_on_a_port_in_use_throws_address_in_use_or_reports_it)
{
    asock::engine e = cpp_engine();
    asock::listener first(e, "127.0.0.1", 0);
    try
    {
        asock::listener second(e, "127.0.0.1", first.port());
        ADD_FAILURE() << "no exception";
    }
    catch (const std::system_error& failure)
    {
        EXPECT_EQ(std::errc::address_in_use, failure.code());
    }
    std::error_code error;
    asock::listener third = asock::listener::listen(e, "127.0.0.1", first.port(), 0, error);
    EXPECT_FALSE(third);
    EXPECT_EQ(std::errc::address_in_use, error);
}

TEST_P(CppAcceptConnect, invalid_arguments_are_refused_and_their_handlers_never_run)
{
    asock::engine e = cpp_engine();
    EXPECT_THROW(asock::listener(e, "not an address", 0), std::system_error);
    std::error_code error;
    EXPECT_FALSE(asock::listener::listen(e, "127.0.0.1", 0, -1, error));
    EXPECT_EQ(std::errc::invalid_argument, error);

    auto owned = std::make_shared<int>(1);
    std::weak_ptr<int> watch = owned;
    std::atomic<int> calls{0};
    EXPECT_EQ(std::errc::invalid_argument, asock::connect(e, "nowhere", 80, 1s, [&calls, p = std::move(owned)](asock::connection) { calls++; }));
    EXPECT_TRUE(watch.expired()) << "the refused handler was not destroyed";
    EXPECT_EQ(std::errc::invalid_argument, asock::connect(e, "127.0.0.1", 80, 0ms, [&calls](asock::connection) { calls++; }));

    ClientState awaited;
    connect_only(e, "127.0.0.1", 80, -5ms, awaited);
    ASSERT_TRUE(awaited.done.wait_for(1));  // refused at once: resumed without suspending
    EXPECT_EQ(std::errc::invalid_argument, awaited.connected.error);

    asock::listener empty;
    EXPECT_EQ(std::errc::invalid_argument, empty.accept([&calls](asock::connection) { calls++; }));
    std::this_thread::sleep_for(150ms);
    EXPECT_EQ(0, calls.load());
}

TEST_P(CppAcceptConnect, the_destructor_abandons_pending_accepts_before_it_returns)
{
    asock::engine e = cpp_engine();
    ConnectionRecord first;
    ConnectionRecord second;
    {
        asock::listener server(e, "127.0.0.1", 0);
        ASSERT_FALSE(server.accept(first.handler()));
        ASSERT_FALSE(server.accept(second.handler()));
    }
    EXPECT_EQ(1, first.calls.load());
    EXPECT_EQ(1, second.calls.load());
    EXPECT_EQ(make_error_code(asock::result::abandoned), first.connection.error);
    EXPECT_EQ(make_error_code(asock::result::abandoned), second.connection.error);
}

asock::task accept_only(asock::listener& server, EchoServerState& state)
{
    state.accepted = co_await server.accept();
    state.done.add();
}

TEST_P(CppAcceptConnect, close_resumes_an_awaiting_accept_once_with_abandoned_and_later_accepts_are_refused)
{
    asock::engine e = cpp_engine();
    asock::listener server(e, "127.0.0.1", 0);
    EchoServerState state;
    accept_only(server, state);
    server.close();
    ASSERT_TRUE(state.done.wait_for(1));
    EXPECT_EQ(make_error_code(asock::result::abandoned), state.accepted.error);
    EXPECT_EQ(1u, state.done.value());

    std::atomic<int> calls{0};
    EXPECT_EQ(make_error_code(asock::result::abandoned), server.accept([&calls](asock::connection) { calls++; }));
    EchoServerState refused;
    accept_only(server, refused);
    ASSERT_TRUE(refused.done.wait_for(1));
    EXPECT_EQ(make_error_code(asock::result::abandoned), refused.accepted.error);
    EXPECT_EQ(0, calls.load());
}

TEST_P(CppAcceptConnect, a_listener_moves_and_keeps_accepting)
{
    asock::engine e = cpp_engine();
    asock::listener original(e, "127.0.0.1", 0);
    const uint16_t port = original.port();
    asock::listener moved(std::move(original));
    EXPECT_FALSE(original);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
    EXPECT_EQ(port, moved.port());
    EXPECT_EQ(0, original.port());
    ConnectionRecord accepted;
    ConnectionRecord connected;
    ASSERT_FALSE(moved.accept(accepted.handler()));
    ASSERT_FALSE(asock::connect(e, "127.0.0.1", port, 5s, connected.handler()));
    ASSERT_TRUE(accepted.done.wait_for(1));
    ASSERT_TRUE(connected.done.wait_for(1));
    EXPECT_TRUE(accepted.connection);
    EXPECT_TRUE(connected.connection);
}

// asock::listener::listen_per_loop (SRS_ASOCK_PER_LOOP_13_001..005 through the C++ API), on an
// engine of two loops: accepts started from handlers re-arm where they ran, every connection is
// accepted once and works, the destructor abandons the pending accepts of every socket, and a
// bad address or a port in use is reported and leaves an empty listener.
#ifdef _WIN32
constexpr bool kAcceptsRunOnTheirLoop = false;  // one listener on the threadpool
#else
constexpr bool kAcceptsRunOnTheirLoop = true;  // each socket's accepts on its own loop's thread
#endif

struct PerLoopServer
{
    asock::listener listener;
    std::mutex mutex;
    std::vector<asock::connection> connections;
    std::set<std::thread::id> threads;  // where the accept handlers ran
    std::atomic<int> not_ok{0};
    std::atomic<int> count{0};
    Counter accepted;
    int wanted = 0;

    void accept_next()
    {
        EXPECT_FALSE(listener.accept([this](asock::connection c) {
            const bool ok = static_cast<bool>(c);
            {
                std::lock_guard<std::mutex> lock(mutex);
                if (ok)
                {
                    connections.push_back(std::move(c));
                    threads.insert(std::this_thread::get_id());
                }
            }
            if (!ok)
            {
                not_ok++;
                accepted.add();
                return;
            }
            // Every loop keeps an accept pending (a re-armed accept waits on its own loop, and
            // the system may hash any number of the connections to either loop); the last
            // ones are abandoned by the close at the end.
            if (++count < wanted)
                accept_next();
            accepted.add();
        }));
    }
};

TEST_P(CppAcceptConnect, a_per_loop_listener_accepts_every_connection_once_and_its_sockets_work)
{
    asock::engine e = asock::engine::adopt(make_engine(GetParam(), 2));
    std::error_code error;
    PerLoopServer server;
    server.listener = asock::listener::listen_per_loop(e, "127.0.0.1", 0, 64, error);
    ASSERT_FALSE(error) << error.message();
    ASSERT_TRUE(server.listener);
    const uint16_t port = server.listener.port();
    ASSERT_NE(0, port);
    constexpr int kConnections = 24;  // all hashed to one socket: a chance of 2^-23
    server.wanted = kConnections;
    server.accept_next();
    server.accept_next();
    std::vector<std::unique_ptr<ConnectionRecord>> clients;
    for (int i = 0; i < kConnections; ++i)
    {
        clients.push_back(std::make_unique<ConnectionRecord>());
        ASSERT_FALSE(asock::connect(e, "127.0.0.1", port, 5s, clients.back()->handler()));
    }
    for (auto& client : clients)
    {
        ASSERT_TRUE(client->done.wait_for(1));
        ASSERT_TRUE(client->connection) << client->connection.error.message();
    }
    ASSERT_TRUE(server.accepted.wait_for(kConnections));
    std::this_thread::sleep_for(50ms);  // a duplicate completion would arrive by now
    EXPECT_EQ(static_cast<size_t>(kConnections), server.accepted.value());
    EXPECT_EQ(0, server.not_ok.load());
    std::unique_lock<std::mutex> lock(server.mutex);
    ASSERT_EQ(static_cast<size_t>(kConnections), server.connections.size());
    if (kAcceptsRunOnTheirLoop)
    {
        EXPECT_EQ(2u, server.threads.size()) << "the accepts did not run on both loops: one listening socket?";
    }
    // Each accepted socket sends its own 3-byte name; every client receives exactly one name,
    // and no two the same: each accepted socket is connected to one distinct client.
    std::set<std::string> sent;
    Counter sends;
    std::atomic<int> sends_ok{0};
    std::vector<std::string> names(kConnections);
    for (int j = 0; j < kConnections; ++j)
    {
        names[j] = "s" + std::to_string(10 + j);  // 3 bytes
        sent.insert(names[j]);
        ASSERT_FALSE(server.connections[j].socket.send(std::as_bytes(std::span(names[j])), [&](asock::io_result r) {
            sends_ok += r ? 1 : 0;
            sends.add();
        }));
    }
    std::set<std::string> received;
    for (auto& client : clients)
    {
        std::string name(3, '\0');
        size_t got = 0;
        while (got < name.size())
        {
            Counter done;
            asock::io_result result{asock::result::error, 0};
            ASSERT_FALSE(client->connection.socket.receive(std::as_writable_bytes(std::span(name)).subspan(got), [&](asock::io_result r) {
                result = r;
                done.add();
            }));
            ASSERT_TRUE(done.wait_for(1));
            ASSERT_TRUE(result && result.bytes > 0) << result.error().message();
            got += result.bytes;
        }
        received.insert(name);
    }
    EXPECT_EQ(sent, received);
    ASSERT_TRUE(sends.wait_for(kConnections));
    EXPECT_EQ(kConnections, sends_ok.load());
    lock.unlock();
    server.listener.close();  // its abandoned accepts run now, while the server is still whole
}

TEST_P(CppAcceptConnect, a_per_loop_listener_is_refused_on_bad_arguments_and_a_port_in_use)
{
    asock::engine e = asock::engine::adopt(make_engine(GetParam(), 2));
    std::error_code error;
    asock::listener bad = asock::listener::listen_per_loop(e, "not an address", 0, 0, error);
    EXPECT_FALSE(bad);
    EXPECT_EQ(std::errc::invalid_argument, error);
    asock::listener first(e, "127.0.0.1", 0);
    asock::listener second = asock::listener::listen_per_loop(e, "127.0.0.1", first.port(), 0, error);
    EXPECT_FALSE(second);
    EXPECT_EQ(std::errc::address_in_use, error);
}

TEST_P(CppAcceptConnect, a_per_loop_listeners_destructor_abandons_every_pending_accept_before_it_returns)
{
    asock::engine e = asock::engine::adopt(make_engine(GetParam(), 2));
    ConnectionRecord records[4];
    {
        std::error_code error;
        asock::listener server = asock::listener::listen_per_loop(e, "127.0.0.1", 0, 0, error);
        ASSERT_TRUE(server) << error.message();
        for (auto& record : records)
            ASSERT_FALSE(server.accept(record.handler()));
    }
    for (auto& record : records)
    {
        EXPECT_EQ(1, record.calls.load());
        EXPECT_EQ(make_error_code(asock::result::abandoned), record.connection.error);
    }
}

ASOCK_INSTANTIATE_CONTRACT(CppAcceptConnect);

}  // namespace
}  // namespace asock_test
