// bench-http-asio-epoll: the benchmark HTTP server on standalone Asio, written the way Asio's
// own examples are: one io_context run by one thread, async_accept, async_read_some into the
// free end of the connection's request buffer, the answers to every complete request
// (bench_http.h) and one async_write of the whole batch; then read again (or answer again, or
// close).
#include <asio.hpp>

#include <memory>

#include "bench_http.h"
#include "bench_server.h"

namespace {

constexpr const char* kServerName = "asio";

class Connection : public std::enable_shared_from_this<Connection>
{
public:
    explicit Connection(asio::ip::tcp::socket socket) : socket_(std::move(socket)) { bench_http_init(&http_); }

    void receive()
    {
        socket_.async_read_some(asio::buffer(http_.in + http_.in_length, sizeof(http_.in) - http_.in_length),
                                [self = shared_from_this()](const asio::error_code& error, std::size_t bytes) {
                                    if (error)
                                        return;
                                    self->http_.in_length += bytes;
                                    self->respond();
                                });
    }

private:
    // Sends the answers to what the input holds, or receives more when it holds no request.
    void respond()
    {
        if (bench_http_answer(&http_, kServerName) == 0)
        {
            receive();
            return;
        }
        asio::async_write(socket_, asio::buffer(http_.out, http_.out_length),
                          [self = shared_from_this()](const asio::error_code& error, std::size_t) {
                              if (!error)
                                  self->sent();
                          });
    }

    void sent()
    {
        switch (bench_http_sent(&http_))
        {
        case BENCH_HTTP_CLOSE:
            bench_http_shutdown(socket_.native_handle());
            {
                asio::error_code ignored;
                socket_.close(ignored);
            }
            break;
        case BENCH_HTTP_ANSWER:
            respond();
            break;
        case BENCH_HTTP_RECEIVE:
            receive();
            break;
        }
    }

    asio::ip::tcp::socket socket_;
    BENCH_HTTP http_;
};

void accept(asio::ip::tcp::acceptor& acceptor)
{
    acceptor.async_accept([&acceptor](const asio::error_code& error, asio::ip::tcp::socket socket) {
        if (error == asio::error::operation_aborted)
            return;
        if (!error)
        {
            socket.set_option(asio::ip::tcp::no_delay(true));
            std::make_shared<Connection>(std::move(socket))->receive();
        }
        accept(acceptor);
    });
}

}  // namespace

int main(int argc, char** argv)
{
    BENCH_OPTIONS options;
    if (bench_parse_options(argc, argv, BENCH_OPTION_NO_GATHER, &options) != 0)
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
    accept(acceptor);
    bench_announce(listener);
    io.run();
    return 0;
}
