// The wait-for graph of closes made from callbacks (detail/wait_graph.h).
#include "detail/wait_graph.h"

#include <mutex>

namespace asock::detail {

struct WaitGraphAccess
{
    static std::mutex& mutex() noexcept
    {
        static std::mutex instance;
        return instance;
    }

    static WaitEdge*& edges() noexcept
    {
        static WaitEdge* head = nullptr;
        return head;
    }

    // Depth first over the edges leaving node; each edge is followed once per search (marked
    // visited), so the search ends whatever shape the graph has.
    static bool reaches(const void* node, const void* target) noexcept
    {
        for (WaitEdge* edge = edges(); edge != nullptr; edge = edge->next_)
        {
            if (edge->visited_ || edge->from_ != node)
                continue;
            edge->visited_ = true;
            if (edge->to_ == target || reaches(edge->to_, target))
                return true;
        }
        return false;
    }

    static void clear_marks() noexcept
    {
        for (WaitEdge* edge = edges(); edge != nullptr; edge = edge->next_)
            edge->visited_ = false;
    }
};

bool WaitEdge::add(const void* from, const void* to) noexcept
{
    remove();
    std::lock_guard<std::mutex> lock(WaitGraphAccess::mutex());
    const bool cycle = from == to || WaitGraphAccess::reaches(to, from);
    WaitGraphAccess::clear_marks();
    if (cycle)
        return false;
    from_ = from;
    to_ = to;
    next_ = WaitGraphAccess::edges();
    WaitGraphAccess::edges() = this;
    registered_ = true;
    return true;
}

void WaitEdge::add_unchecked(const void* from, const void* to) noexcept
{
    remove();
    std::lock_guard<std::mutex> lock(WaitGraphAccess::mutex());
    from_ = from;
    to_ = to;
    next_ = WaitGraphAccess::edges();
    WaitGraphAccess::edges() = this;
    registered_ = true;
}

bool WaitEdge::reaches(const void* from, const void* to) noexcept
{
    std::lock_guard<std::mutex> lock(WaitGraphAccess::mutex());
    const bool found = WaitGraphAccess::reaches(from, to);
    WaitGraphAccess::clear_marks();
    return found;
}

void WaitEdge::remove() noexcept
{
    if (!registered_)
        return;
    std::lock_guard<std::mutex> lock(WaitGraphAccess::mutex());
    for (WaitEdge** link = &WaitGraphAccess::edges(); *link != nullptr; link = &(*link)->next_)
    {
        if (*link != this)
            continue;
        *link = next_;
        break;
    }
    registered_ = false;
}

WaitEdge::~WaitEdge() { remove(); }

void wait_graph_lock_for_fork() noexcept { WaitGraphAccess::mutex().lock(); }

void wait_graph_unlock_after_fork() noexcept { WaitGraphAccess::mutex().unlock(); }

}  // namespace asock::detail
