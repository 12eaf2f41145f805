// Operations and the other items that travel through a loop: the unit of work of asock.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

#include "asock/async_socket.h"

namespace asock::detail {

struct Socket;

enum class ItemKind : uint8_t
{
    send,
    receive,
    open_notice,    // deliver on_open_complete (embedded in the socket)
    close_request,  // a close asked for by a thread that does not own the socket (embedded)
    release,        // a destroy asked for on another loop's thread: free when safe (embedded)
    task,           // work that is not a socket's: a listener's or a connect's step (Task)
};

// Intrusive link shared by everything a loop queues: an item is in at most one list at a
// time (a loop's inbox, its local list, or a socket's operation queue). The socket it
// belongs to is found from its kind (socket_of, in socket.h): operations point to it, the
// other items are parts of the socket itself, which saves a pointer in each.
struct Item
{
    Item* next = nullptr;
    ItemKind kind = ItemKind::send;
};

// A step of a listener or a connect (detail/net.h) handed to a loop: the loop calls
// run(owner) on its thread. Embedded in its owner, which keeps it alive while it is queued.
struct Task : Item
{
    Task(void (*function)(void*) noexcept, void* task_owner) noexcept : run(function), owner(task_owner) { kind = ItemKind::task; }

    void (*const run)(void* owner) noexcept;
    void* const owner;
};

// Buffers kept inside an operation; more than this many cost one extra allocation.
inline constexpr uint32_t kInlineBuffers = 4;

// One send or receive. Its iovec array is the library's own copy of the caller's buffer
// descriptors (the caller may reuse its ASYNC_SOCKET_BUFFER array as soon as the call returns).
struct Op : Item
{
    Socket* socket = nullptr;
    union
    {
        ON_ASYNC_SOCKET_SEND_COMPLETE on_send;
        ON_ASYNC_SOCKET_RECEIVE_COMPLETE on_receive;
    };
    void* context = nullptr;
    // Sends advance through the array as bytes go out: iov is the first buffer not yet fully
    // sent (its base and length already adjusted), iov_count the buffers left from there.
    iovec* iov = nullptr;
    uint32_t iov_count = 0;
    // io_uring only: close completed this operation while the kernel still held it; the
    // completion queue entry that is still to come only gives the memory back.
    bool orphaned = false;
    iovec* heap_iov = nullptr;  // when the buffers did not fit inline
    iovec inline_iov[kInlineBuffers];
};

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

    // Takes the whole queue, leaving this one empty.
    ItemQueue take_all() noexcept
    {
        ItemQueue all = *this;
        head_ = tail_ = nullptr;
        return all;
    }

private:
    Item* head_ = nullptr;
    Item* tail_ = nullptr;
};

inline Op* as_op(Item* item) noexcept { return static_cast<Op*>(item); }

// Allocates an operation able to hold buffer_count buffers, from a per-thread cache so that
// steady state does not touch the heap. nullptr when out of memory.
Op* op_alloc(uint32_t buffer_count) noexcept;
void op_free(Op* op) noexcept;

}  // namespace asock::detail
