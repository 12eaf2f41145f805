// Operations and the other items that travel through a loop: the unit of work of asock.
//
// An operation (Op) is one receive, send, accept or connect of a handle, run by a backend, or
// one start of a timer, run by the loop's heap of deadlines. It carries its own completion (a
// callback and a context) and completes exactly once. A request (cancel) is an Op too: it
// travels to the handle's loop like the operations, in order with them. Adding an operation
// kind adds an ItemKind, a case in the backends' start and a completion in the loop.
#pragma once

#include <netinet/in.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "asock/async_socket.h"
#include "asock/async_socket_listener.h"
#include "asock/async_socket_deadline.h"
#include "asock/async_timer.h"
#include "detail/cancellation.h"
#include "detail/timer_heap.h"

namespace asock::detail {

struct Handle;

enum class ItemKind : uint8_t
{
    // Operations (Op).
    receive,
    send,
    accept,
    connect,
    // An operation the loop runs itself: one start of a timer (its deadline in the loop's heap).
    timer,
    // Requests, in order with the operations of their handle: end the pending reads (receives,
    // accepts, a timer's start) / the connect early. Freed once carried out.
    cancel_reads,
    cancel_connect,
    // Requests embedded in a handle.
    open_notice,   // deliver on_open_complete (a socket's)
    close_waiter,  // a thread that does not run the handle's loop closes it and waits (CloseWaiter)
};

inline constexpr bool is_op(ItemKind kind) noexcept { return kind <= ItemKind::cancel_connect; }

// Intrusive link shared by everything a loop queues: an item is in at most one list at a time
// (a loop's inbox, its local list, or a handle's queue).
struct Item
{
    Item* next = nullptr;
    ItemKind kind = ItemKind::receive;
    uint8_t flags = 0;  // an operation's (Op::kOrphaned, ...); kept here, where there is room
};

// Each handle has two queues of operations, one per direction, and a backend holds at most one
// operation of each at a time (the first), which keeps each direction in order without links.
enum Direction : uint8_t
{
    kReads = 0,   // receives, accepts
    kWrites = 1,  // sends, the connect
};

inline constexpr Direction direction_of(ItemKind kind) noexcept
{
    return kind == ItemKind::receive || kind == ItemKind::accept || kind == ItemKind::timer ? kReads : kWrites;
}

// Buffers kept inside an operation; more than this many cost one extra allocation.
inline constexpr uint32_t kInlineBuffers = 4;
// A timed receive (Op::kTimed) keeps one buffer inline and its deadline where the others were.
inline constexpr uint32_t kInlineTimedBuffers = 1;

// A receive's or a send's buffers: the library's own copy of the caller's buffer descriptors
// (the caller may reuse its ASYNC_SOCKET_BUFFER array as soon as the call returns). Sends
// advance through it as bytes go out: iov is the first buffer not yet fully sent (its base and
// length already adjusted), count the buffers left from there.
struct IoBuffers
{
    iovec* iov;
    uint32_t count;
    iovec* heap;  // when the buffers did not fit inline
    union
    {
        iovec inline_iov[kInlineBuffers];
        struct
        {
            iovec inline_iov[kInlineTimedBuffers];
            TimerNode deadline;
        } timed;
    };
};

struct Op;

// A connect's peer, deadline and the request its cancellation posts (nullptr without one).
struct ConnectTarget
{
    union
    {
        sockaddr_in v4;
        sockaddr_in6 v6;
        // A longer address (AF_UNIX; address_length > sizeof(sockaddr_in6)) is on the heap:
        // its pointer, kept as bytes so that the union stays 4-aligned and the op 128 bytes.
        unsigned char heap[sizeof(sockaddr*)];
    } address;
    socklen_t address_length;
    TimerNode deadline;
    Op* cancel_request;
    bool on_heap() const noexcept { return address_length > sizeof(sockaddr_in6); }
    sockaddr* heap_address() const noexcept
    {
        sockaddr* pointer;
        std::memcpy(&pointer, address.heap, sizeof(pointer));
        return pointer;
    }
    void set_heap_address(sockaddr* pointer) noexcept { std::memcpy(address.heap, &pointer, sizeof(pointer)); }
    const sockaddr* peer() const noexcept { return on_heap() ? heap_address() : reinterpret_cast<const sockaddr*>(&address); }
};

// The cancel_connect request of a connect that has a cancellation: registered with it by the
// loop when the connect is queued; the cancellation's cancel posts it (posted, under the
// cancellation's mutex) with a reference on the handle.
struct CancelRequest
{
    CancelLink link;
    Cancellation* cancellation;  // the request holds a reference on it
    bool registered;             // the loop's register succeeded (else: cancelled already)
    bool posted;
};

struct Op : Item
{
    // Item::flags.
    static constexpr uint8_t kOrphaned = 1;  // a close completed it while a backend still held it:
                                             // its report only gives the memory back
    static constexpr uint8_t kTimedOut = 2;  // its deadline passed and the backend was told to end it
    static constexpr uint8_t kCancelled = 4; // a cancel request ended it (or is ending it)
    static constexpr uint8_t kTimed = 8;     // a receive of async_socket_receive_timed_async

    bool has(uint8_t flag) const noexcept { return (flags & flag) != 0; }  // any of the flags given
    void set(uint8_t flag) noexcept { flags = static_cast<uint8_t>(flags | flag); }

    Handle* handle = nullptr;
    union
    {
        ON_ASYNC_SOCKET_SEND_COMPLETE on_send;
        ON_ASYNC_SOCKET_RECEIVE_COMPLETE on_receive;
        ON_ASYNC_SOCKET_ACCEPT_COMPLETE on_accept;
        ON_ASYNC_SOCKET_CONNECT_COMPLETE on_connect;
        ON_ASYNC_TIMER_COMPLETE on_timer;
        ON_ASYNC_SOCKET_RECEIVE_TIMED_COMPLETE on_receive_timed;
    };
    void* context = nullptr;
    union
    {
        IoBuffers io;           // receive, send
        ConnectTarget connect;  // connect
        TimerNode timer;        // timer
        CancelRequest cancel;   // cancel_connect
    };
};

// Operations come from recycled blocks of this size (op_pool.cpp): keep it small.
static_assert(sizeof(Op) <= 128, "an operation is one 128-byte block");

inline Op* as_op(Item* item) noexcept { return static_cast<Op*>(item); }
// The deadline an operation may have in its loop's heap (nullptr: none).
inline TimerNode* deadline_of(Op& op) noexcept
{
    switch (op.kind)
    {
    case ItemKind::connect:
        return &op.connect.deadline;
    case ItemKind::timer:
        return &op.timer;
    case ItemKind::receive:
        return op.has(Op::kTimed) ? &op.io.timed.deadline : nullptr;
    default:
        return nullptr;
    }
}

// A FIFO of items linked through Item::next.
class ItemQueue
{
public:
    bool empty() const noexcept { return head_ == nullptr; }
    Item* front() const noexcept { return head_; }

    void push_back(Item* item) noexcept
    {
        item->next = nullptr;
        if (tail_ == nullptr)
            head_ = item;
        else
            tail_->next = item;
        tail_ = item;
    }

    // Appends a chain already linked through next, ending in last.
    void append_chain(Item* first, Item* last) noexcept
    {
        if (first == nullptr)
            return;
        if (tail_ == nullptr)
            head_ = first;
        else
            tail_->next = first;
        tail_ = last;
    }

    // Takes item out wherever it is (the first, usually). False when it is not in the queue.
    bool remove(Item* item) noexcept
    {
        Item* previous = nullptr;
        for (Item* at = head_; at != nullptr; previous = at, at = at->next)
        {
            if (at != item)
                continue;
            (previous == nullptr ? head_ : previous->next) = at->next;
            if (tail_ == at)
                tail_ = previous;
            at->next = nullptr;
            return true;
        }
        return false;
    }
    Item* pop_front() noexcept
    {
        Item* item = head_;
        if (item == nullptr)
            return nullptr;
        head_ = item->next;
        if (head_ == nullptr)
            tail_ = nullptr;
        item->next = nullptr;
        return item;
    }

    // Moves every item for which take(item) is true into out, keeping the order of both.
    template <typename Predicate>
    void extract_if(Predicate take, ItemQueue& out) noexcept
    {
        ItemQueue kept;
        while (Item* item = pop_front())
        {
            if (take(item))
                out.push_back(item);
            else
                kept.push_back(item);
        }
        *this = kept;
    }

private:
    Item* head_ = nullptr;
    Item* tail_ = nullptr;
};

// Allocates an operation able to hold buffer_count buffers (inline_capacity of them inline), from a per-thread cache so that
// steady state does not touch the heap. nullptr when out of memory.
Op* op_alloc(uint32_t buffer_count, uint32_t inline_capacity = kInlineBuffers) noexcept;
void op_free(Op* op) noexcept;

}  // namespace asock::detail
