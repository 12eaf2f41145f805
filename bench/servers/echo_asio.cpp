// bench-echo-asio-epoll / bench-echo-asio-uring: the benchmark echo server on standalone Asio,
// written the way Asio's own examples are: one io_context run by one thread, async_accept,
// async_read_some into a per-connection buffer, async_write of exactly the bytes received.
// The same source builds both peers; the uring one is compiled with ASIO_HAS_IO_URING and
// ASIO_DISABLE_EPOLL, which moves sockets from Asio's epoll reactor to its io_uring service.
#include <asio.hpp>

#include <array>
#include <cstdio>
#include <memory>

#include "bench_server.h"

namespace {

class Connection : public std::enable_shared_from_this<Connection>
{
public:
    Connection(asio::ip::tcp::socket socket, bool gather) : socket_(std::move(socket)), gather_(gather) {}

    void receive()
    {
        socket_.async_read_some(asio::buffer(buffer_),
                                [self = shared_from_this()](const asio::error_code& error, std::size_t bytes) {
                                    if (!error)
                                        self->echo(bytes);
                                });
    }

private:
    void echo(std::size_t bytes)
    {
        auto on_sent = [self = shared_from_this()](const asio::error_code& error, std::size_t) {
            if (!error)
                self->receive();
        };
        if (gather_)
        {
            const std::size_t head = bench_gather_head(bytes);
            const std::array<asio::const_buffer, 2> buffers{asio::buffer(buffer_.data(), head),
                                                            asio::buffer(buffer_.data() + head, bytes - head)};
            asio::async_write(socket_, buffers, std::move(on_sent));
        }
        else
        {
            asio::async_write(socket_, asio::buffer(buffer_, bytes), std::move(on_sent));
        }
    }

    asio::ip::tcp::socket socket_;
    const bool gather_;
    std::array<unsigned char, BENCH_BUFFER_SIZE> buffer_;
};

void accept(asio::ip::tcp::acceptor& acceptor, bool gather)
{
    acceptor.async_accept([&acceptor, gather](const asio::error_code& error, asio::ip::tcp::socket socket) {
        if (error == asio::error::operation_aborted)
            return;
        if (!error)
        {
            socket.set_option(asio::ip::tcp::no_delay(true));
            std::make_shared<Connection>(std::move(socket), gather)->receive();
        }
        accept(acceptor, gather);
    });
}

}  // namespace

int main(int argc, char** argv)
{
    BENCH_OPTIONS options;
    if (bench_parse_options(argc, argv, 0, &options) != 0)
        return 1;
    const int listener = bench_listen(options.port, 1);
    if (listener < 0)
        return 1;

    asio::io_context io(1);  // concurrency hint 1: one thread runs it, so Asio can skip locks
    asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::v4(), listener);
    asio::signal_set signals(io, SIGINT, SIGTERM);
    // stop() abandons the pending handlers; the connections they own are freed with the
    // io_context.
    signals.async_wait([&io](const asio::error_code&, int) { io.stop(); });
    accept(acceptor, options.gather != 0);
    bench_announce(listener);
    io.run();
    return 0;
}
