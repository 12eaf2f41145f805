// asio-epoll-inproc / asio-io_uring-inproc: the in-process benchmark of standalone Asio
// (see inproc.h). The same source is built twice; the io_uring target defines
// ASIO_HAS_IO_URING and ASIO_DISABLE_EPOLL. The io_context runs on the main thread with the
// concurrency hint 1 (one thread runs it), as a single-threaded program would create it; Asio
// still takes its locks then (only ASIO_CONCURRENCY_HINT_UNSAFE drops them, which few use).
// The sockets are asio::ip::tcp::socket objects, as users hold them.
#include <asio.hpp>

#include <memory>

#include "inproc.h"

namespace {

using asio::ip::tcp;
using inproc::kMessageSize;
using inproc::kReceiveBufferSize;

void check(const asio::error_code& error, const char* what)
{
    if (error)
        inproc::fail(std::string(what) + ": " + error.message());
}

// ---- ping-pong ----

class PingPong
{
public:
    explicit PingPong(inproc::RoundTripPlan& plan) : plan_(plan), io_(1), a_(io_), b_(io_)
    {
        const inproc::SocketPair pair = inproc::make_tcp_pairs(1)[0];
        a_.assign(tcp::v4(), pair.a);
        b_.assign(tcp::v4(), pair.b);
    }

    void run()
    {
        b_receive();
        a_start_round_trip();
        io_.run();
    }

private:
    void a_start_round_trip()
    {
        inproc::fill_message(a_out_, plan_.index());
        a_sending_ = true;
        a_filled_ = 0;
        asio::async_write(a_, asio::buffer(a_out_), [this](const asio::error_code& error, std::size_t) {
            check(error, "A: write");
            a_sending_ = false;
            a_finish_if_done();
        });
        a_receive();
    }

    void a_receive()
    {
        a_.async_read_some(asio::buffer(a_in_ + a_filled_, kReceiveBufferSize - a_filled_),
                           [this](const asio::error_code& error, std::size_t bytes) {
                               check(error, "A: read");
                               a_filled_ += static_cast<uint32_t>(bytes);
                               if (a_filled_ < kMessageSize)
                                   a_receive();
                               else
                                   a_finish_if_done();
                           });
    }

    // A's round trip ends when the echo is complete and its own write has completed: only
    // then may a_out_ be rewritten.
    void a_finish_if_done()
    {
        if (a_sending_ || a_filled_ < kMessageSize)
            return;
        inproc::check_message(a_in_, a_filled_, plan_.index());
        if (plan_.finish_round_trip())
            io_.stop();  // B's read stays pending; the sockets' destructors cancel it
        else
            a_start_round_trip();
    }

    void b_receive()
    {
        b_.async_read_some(asio::buffer(b_in_ + b_filled_, kReceiveBufferSize - b_filled_),
                           [this](const asio::error_code& error, std::size_t bytes) {
                               check(error, "B: read");
                               b_filled_ += static_cast<uint32_t>(bytes);
                               if (b_filled_ < kMessageSize)
                                   b_receive();
                               else if (b_filled_ > kMessageSize)
                                   inproc::fail("B: more than one message arrived");
                               else
                                   b_echo();
                           });
    }

    // B echoes from its receive buffer, so it reads again only once the echo is written.
    void b_echo()
    {
        asio::async_write(b_, asio::buffer(b_in_, kMessageSize), [this](const asio::error_code& error, std::size_t) {
            check(error, "B: write");
            b_filled_ = 0;
            b_receive();
        });
    }

    inproc::RoundTripPlan& plan_;
    asio::io_context io_;
    tcp::socket a_;
    tcp::socket b_;
    bool a_sending_ = false;
    uint32_t a_filled_ = 0;
    uint32_t b_filled_ = 0;
    uint8_t a_out_[kMessageSize];
    uint8_t a_in_[kReceiveBufferSize];
    uint8_t b_in_[kReceiveBufferSize];
};

void ping_pong(const inproc::Options&, inproc::RoundTripPlan& plan)
{
    PingPong(plan).run();
}

// ---- sockets ----

void measure_sockets(const inproc::Options& options, inproc::SocketBytesMeter& meter)
{
    asio::io_context io(1);
    const std::vector<inproc::SocketPair> pairs = inproc::make_tcp_pairs(options.socket_count / 2);
    std::vector<std::unique_ptr<tcp::socket>> sockets;
    sockets.reserve(pairs.size() * 2);
    static uint8_t receive_buffer[kMessageSize];

    meter.start();
    for (const inproc::SocketPair& pair : pairs)
    {
        sockets.push_back(std::make_unique<tcp::socket>(io, tcp::v4(), pair.a));
        sockets.push_back(std::make_unique<tcp::socket>(io, tcp::v4(), pair.b));
    }
    meter.idle_reached();

    for (const std::unique_ptr<tcp::socket>& socket : sockets)
        socket->async_read_some(asio::buffer(receive_buffer), [](const asio::error_code& error, std::size_t) {
            if (!error)
                inproc::fail("an idle socket received data");
        });
    // io_uring: Asio batches SQEs and submits them from a queued operation; poll() runs it.
    io.poll();
    meter.pending_reached();

    sockets.clear();  // closing cancels the reads: their handlers run with operation_aborted
    io.run();
}

}  // namespace

int main(int argc, char** argv)
{
    return inproc::run(argc, argv, {false, ping_pong, measure_sockets});
}
