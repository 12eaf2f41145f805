// What the tests of name resolution and connect by name share (contract/resolve_test.cpp,
// contract/happy_eyeballs_test.cpp, fault/resolve_seam_test.cpp): the record of a lookup, an
// accepting listener, and a listener whose backlog is full (a connect to it never answers).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "asock/async_cancellation.h"
#include "asock/async_resolve.h"
#include "asock/async_socket_deadline.h"
#include "contract/contract_fixture.h"

namespace asock_test {

// What one lookup's callback reported (the addresses copied: they live only in the callback).
struct ResolveRecord
{
    std::atomic<int> calls{0};
    std::atomic<ASYNC_RESOLVE_RESULT> result{ASYNC_RESOLVE_ERROR};
    std::atomic<int> error{-1};
    std::atomic<std::thread::id> thread{};
    std::vector<ASYNC_RESOLVED_ADDRESS> addresses;  // written before done
    std::function<void()> inside;                   // runs inside the callback, if set
    Counter done;

    static void callback(void* context, ASYNC_RESOLVE_RESULT resolve_result, const ASYNC_RESOLVED_ADDRESS* found, uint32_t count, int resolve_error)
    {
        auto* self = static_cast<ResolveRecord*>(context);
        self->addresses.assign(found, found + count);
        self->result = resolve_result;
        self->error = resolve_error;
        self->thread = std::this_thread::get_id();
        if (self->inside)
            self->inside();
        self->calls++;
        self->done.add();
    }

    bool has(const char* address) const
    {
        for (const ASYNC_RESOLVED_ADDRESS& entry : addresses)
        {
            if (std::strcmp(entry.address, address) == 0)
                return true;
        }
        return false;
    }
};

// A listener on address (port 0: the system picks) that accepts up to `accepts` connections,
// counting them; accepted sockets are destroyed with the listener.
class AcceptingListener
{
public:
    AcceptingListener(EXECUTION_ENGINE_HANDLE engine, const char* address, uint16_t port = 0, int accepts = 1)
    {
        int error = 0;
        created_ = async_socket_listener_create(engine, address, port, 0, &listener_, &error);
        for (int i = 0; i < accepts && listener_ != nullptr; ++i)
            EXPECT_EQ(0, async_socket_listener_accept_async(listener_, AcceptingListener::on_accept, this));
    }
    AcceptingListener(const AcceptingListener&) = delete;
    AcceptingListener& operator=(const AcceptingListener&) = delete;
    ~AcceptingListener()
    {
        async_socket_listener_destroy(listener_);  // its accepts complete before the sockets go
        std::lock_guard<std::mutex> lock(mutex_);
        for (ASYNC_SOCKET_HANDLE socket : accepted_)
            async_socket_destroy(socket);
    }
    bool ok() const { return created_ == ASYNC_SOCKET_LISTENER_CREATE_OK; }
    ASYNC_SOCKET_LISTENER_CREATE_RESULT created() const { return created_; }
    uint16_t port() const { return async_socket_listener_get_port(listener_); }
    Counter accepted;

private:
    static void on_accept(void* context, ASYNC_SOCKET_ACCEPT_RESULT result, ASYNC_SOCKET_HANDLE socket, int)
    {
        auto* self = static_cast<AcceptingListener*>(context);
        if (result != ASYNC_SOCKET_ACCEPT_OK)
            return;
        {
            std::lock_guard<std::mutex> lock(self->mutex_);
            self->accepted_.push_back(socket);
        }
        self->accepted.add();
    }

    ASYNC_SOCKET_LISTENER_CREATE_RESULT created_ = ASYNC_SOCKET_LISTENER_CREATE_ERROR;
    std::mutex mutex_;
    std::vector<ASYNC_SOCKET_HANDLE> accepted_;
    ASYNC_SOCKET_LISTENER_HANDLE listener_ = nullptr;
};

// A listener (backlog 1) that never accepts, its queue filled with connections: on Linux a SYN
// to a full backlog is dropped, so a further connect hangs until its timeout. full() says
// whether that was reached (a system that refuses such SYNs instead cannot give it).
class FullBacklogListener
{
public:
    FullBacklogListener(EXECUTION_ENGINE_HANDLE engine, const char* address, uint16_t port = 0)
    {
        int error = 0;
        if (async_socket_listener_create(engine, address, port, 1, &listener_, &error) != ASYNC_SOCKET_LISTENER_CREATE_OK)
            return;
        for (int i = 0; i < 16; ++i)
        {
            const ASYNC_SOCKET_CONNECT_RESULT result = connect_one(engine, address);
            if (result == ASYNC_SOCKET_CONNECT_OK)
                continue;
            full_ = result == ASYNC_SOCKET_CONNECT_TIMEOUT;
            return;
        }
    }
    FullBacklogListener(const FullBacklogListener&) = delete;
    FullBacklogListener& operator=(const FullBacklogListener&) = delete;
    ~FullBacklogListener()
    {
        for (ASYNC_SOCKET_HANDLE socket : queued_)
            async_socket_destroy(socket);
        async_socket_listener_destroy(listener_);
    }
    bool full() const { return full_; }
    uint16_t port() const { return async_socket_listener_get_port(listener_); }

private:
    // OK: the connect got through (it waits in the queue, kept); TIMEOUT: the queue is full.
    ASYNC_SOCKET_CONNECT_RESULT connect_one(EXECUTION_ENGINE_HANDLE engine, const char* address)
    {
        ConnectRecord record;
        if (async_socket_connect_async(engine, address, port(), 150, ConnectRecord::callback, &record) != 0 || !record.done.wait_for(1))
            return ASYNC_SOCKET_CONNECT_ERROR;
        if (record.result == ASYNC_SOCKET_CONNECT_OK)
            queued_.push_back(record.socket);
        return record.result;
    }

    ASYNC_SOCKET_LISTENER_HANDLE listener_ = nullptr;
    std::vector<ASYNC_SOCKET_HANDLE> queued_;
    bool full_ = false;
};

// A port on address where nothing listens (a listener's port, the listener gone).
inline uint16_t closed_port(EXECUTION_ENGINE_HANDLE engine, const char* address)
{
    AcceptingListener listener(engine, address, 0, 0);
    return listener.ok() ? listener.port() : 0;
}

inline double elapsed_ms(std::chrono::steady_clock::time_point since)
{
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace asock_test
