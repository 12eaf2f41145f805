// Operations and the other items that travel through a loop: the unit of work of asock.
//
// An operation (Op) is one receive, send, accept or connect of a handle. It carries its own
// completion (a callback and a context) and, while a backend executes it, the backend reports
// it back exactly once with a result. Adding an operation kind adds an ItemKind, a case in the
// backends' start and a completion in the loop; nothing else.
#pragma once

#include <netinet/in.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

#include "asock/async_socket.h"
#include "asock/async_socket_listener.h"
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
    // Requests embedded in a handle.
    open_notice,   // deliver on_open_complete (a socket's)
    close_waiter,  // a thread that does not run the handle's loop closes it and waits (CloseWaiter)
};

inline constexpr bool is_op(ItemKind kind) noexcept { return kind <= ItemKind::connect; }

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
    return kind == ItemKind::receive || kind == ItemKind::accept ? kReads : kWrites;
}

// Buffers kept inside an operation; more than this many cost one extra allocation.
inline constexpr uint32_t kInlineBuffers = 4;

// A receive's or a send's buffers: the library's own copy of the caller's buffer descriptors
// (the caller may reuse its ASYNC_SOCKET_BUFFER array as soon as the call returns). Sends
// advance through it as bytes go out: iov is the first buffer not yet fully sent (its base and
// length already adjusted), count the buffers left from there.
struct IoBuffers
{
    iovec* iov;
    uint32_t count;
    iovec* heap;  // when the buffers did not fit inline
    iovec inline_iov[kInlineBuffers];
};

// A connect's peer and deadline.
struct ConnectTarget
{
    union
    {
        sockaddr_in v4;
        sockaddr_in6 v6;
    } address;
    socklen_t address_length;
    TimerNode deadline;
};

struct Op : Item
{
    // Item::flags.
    static constexpr uint8_t kOrphaned = 1;  // a close completed it while a backend still held it:
                                             // its report only gives the memory back
    static constexpr uint8_t kTimedOut = 2;  // its deadline passed and the backend was told to end it

    bool has(uint8_t flag) const noexcept { return (flags & flag) != 0; }
    void set(uint8_t flag) noexcept { flags = static_cast<uint8_t>(flags | flag); }

    Handle* handle = nullptr;
    union
    {
        ON_ASYNC_SOCKET_SEND_COMPLETE on_send;
        ON_ASYNC_SOCKET_RECEIVE_COMPLETE on_receive;
        ON_ASYNC_SOCKET_ACCEPT_COMPLETE on_accept;
        ON_ASYNC_SOCKET_CONNECT_COMPLETE on_connect;
    };
    void* context = nullptr;
    union
    {
        IoBuffers io;           // receive, send
        ConnectTarget connect;  // connect
    };
};

// Operations come from recycled blocks of this size (op_pool.cpp): keep it small.
static_assert(sizeof(Op) <= 128, "an operation is one 128-byte block");

inline Op* as_op(Item* item) noexcept { return static_cast<Op*>(item); }

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

// Allocates an operation able to hold buffer_count buffers, from a per-thread cache so that
// steady state does not touch the heap. nullptr when out of memory.
Op* op_alloc(uint32_t buffer_count) noexcept;
void op_free(Op* op) noexcept;

}  // namespace asock::detail
