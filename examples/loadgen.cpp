// asock-loadgen: a closed-loop load generator for an echo server. It does not use asock: it
// is a plain single-threaded epoll client, so that it measures the server and nothing else.
//
//   asock-loadgen --port N [--host 127.0.0.1] --connections C --size S --seconds D [--warmup W]
//
// Each of the C connections sends a message of S bytes (a pattern that differs per message),
// waits until all S bytes have come back, checks them byte for byte, records the round trip
// and sends the next message. Round trips completed during the first W seconds are not
// counted; then the run measures for D seconds and prints one line of JSON:
//
//   {"connections":C,"size":S,"seconds":D,"round_trips":N,"round_trips_per_sec":X,
//    "mib_per_sec":Y,"p50_us":A,"p99_us":B,"errors":E}
//
// mib_per_sec counts the payload echoed (S bytes per round trip, one direction). Any
// connection error or byte mismatch is an error: the run stops at once, still prints its
// JSON line and exits with status 1.
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options
{
    std::string host = "127.0.0.1";
    long port = -1;
    long connections = 1;
    long size = 64;
    double seconds = 3.0;
    double warmup = 0.5;
};

struct Connection
{
    int fd = -1;
    unsigned id = 0;
    uint64_t message = 0;           // sequence number of the message in flight
    std::vector<unsigned char> out; // the message in flight
    std::vector<unsigned char> in;
    size_t sent = 0;
    size_t received = 0;
    Clock::time_point started;
};

// Byte i of message m on connection c. Consecutive messages differ in every byte.
unsigned char pattern(unsigned c, uint64_t m, size_t i)
{
    return static_cast<unsigned char>(i * 7 + (i >> 8) + m * 13 + c * 101);
}

void start_message(Connection& connection)
{
    ++connection.message;
    for (size_t i = 0; i < connection.out.size(); ++i)
        connection.out[i] = pattern(connection.id, connection.message, i);
    connection.sent = 0;
    connection.received = 0;
    connection.started = Clock::now();
}

int connect_to(const Options& options)
{
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* addresses = nullptr;
    const std::string port = std::to_string(options.port);
    if (getaddrinfo(options.host.c_str(), port.c_str(), &hints, &addresses) != 0)
        return -1;
    int fd = -1;
    for (addrinfo* a = addresses; a != nullptr && fd < 0; a = a->ai_next)
    {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        timeval timeout{5, 0}; // bounds a blocking connect
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0)
        {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(addresses);
    if (fd < 0)
        return -1;
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

class Run
{
public:
    explicit Run(const Options& options) : options_(options) {}

    // Returns the process exit status.
    int execute()
    {
        const int epoll = epoll_create1(EPOLL_CLOEXEC);
        if (epoll < 0)
            return fail("epoll_create1");
        connections_.resize(static_cast<size_t>(options_.connections));
        for (size_t i = 0; i < connections_.size(); ++i)
        {
            Connection& c = connections_[i];
            c.id = static_cast<unsigned>(i);
            c.fd = connect_to(options_);
            if (c.fd < 0)
                return fail("connect");
            c.out.resize(static_cast<size_t>(options_.size));
            c.in.resize(static_cast<size_t>(options_.size));
            epoll_event event{};
            event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
            event.data.ptr = &c;
            if (epoll_ctl(epoll, EPOLL_CTL_ADD, c.fd, &event) != 0)
                return fail("epoll_ctl");
        }

        const auto begin = Clock::now();
        measure_from_ = begin + to_duration(options_.warmup);
        measure_until_ = measure_from_ + to_duration(options_.seconds);
        for (Connection& c : connections_)
        {
            start_message(c);
            if (!pump(c))
                return finish();
        }

        std::vector<epoll_event> events(connections_.size());
        for (;;)
        {
            const auto now = Clock::now();
            if (now >= measure_until_)
                break;
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(measure_until_ - now).count();
            const int n = epoll_wait(epoll, events.data(), static_cast<int>(events.size()),
                                     static_cast<int>(std::clamp<long long>(left + 1, 1, 100)));
            if (n < 0 && errno != EINTR)
                return fail("epoll_wait");
            for (int i = 0; i < n; ++i)
            {
                if (!pump(*static_cast<Connection*>(events[i].data.ptr)))
                    return finish();
            }
        }
        close(epoll);
        return finish();
    }

private:
    static Clock::duration to_duration(double seconds)
    {
        return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    }

    int fail(const char* what)
    {
        std::fprintf(stderr, "asock-loadgen: %s: %s\n", what, std::strerror(errno));
        ++errors_;
        return finish();
    }

    // Moves a connection forward as far as the socket allows (edge-triggered: until both
    // directions would block). False on an error.
    bool pump(Connection& c)
    {
        const size_t size = c.out.size();
        for (bool progress = true; progress;)
        {
            progress = false;
            if (c.sent < size)
            {
                const ssize_t n = send(c.fd, c.out.data() + c.sent, size - c.sent, MSG_NOSIGNAL);
                if (n > 0)
                {
                    c.sent += static_cast<size_t>(n);
                    progress = true;
                }
                else if (errno != EAGAIN && errno != EINTR)
                {
                    std::fprintf(stderr, "asock-loadgen: send on connection %u: %s\n", c.id, std::strerror(errno));
                    ++errors_;
                    return false;
                }
            }
            const ssize_t n = recv(c.fd, c.in.data() + c.received, size - c.received, 0);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            {
                std::fprintf(stderr, "asock-loadgen: receive on connection %u: %s\n", c.id,
                             n == 0 ? "connection closed by the server" : std::strerror(errno));
                ++errors_;
                return false;
            }
            if (n < 0)
                continue;
            progress = true;
            if (c.received + static_cast<size_t>(n) > c.sent ||
                std::memcmp(c.in.data() + c.received, c.out.data() + c.received, static_cast<size_t>(n)) != 0)
            {
                std::fprintf(stderr, "asock-loadgen: connection %u: echoed bytes differ from the bytes sent\n", c.id);
                ++errors_;
                return false;
            }
            c.received += static_cast<size_t>(n);
            if (c.received == size)
            {
                const auto now = Clock::now();
                if (now >= measure_from_ && now < measure_until_)
                    latencies_ns_.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(now - c.started).count());
                start_message(c);
            }
        }
        return true;
    }

    // Value at quantile q (0..1) of the latencies, in microseconds.
    double percentile_us(double q)
    {
        if (latencies_ns_.empty())
            return 0.0;
        const auto k = static_cast<size_t>(q * static_cast<double>(latencies_ns_.size() - 1) + 0.5);
        std::nth_element(latencies_ns_.begin(), latencies_ns_.begin() + static_cast<std::ptrdiff_t>(k), latencies_ns_.end());
        return static_cast<double>(latencies_ns_[k]) / 1000.0;
    }

    int finish()
    {
        for (Connection& c : connections_)
        {
            if (c.fd >= 0)
                close(c.fd);
            c.fd = -1;
        }
        // A run stopped early by an error measured for less than D seconds.
        const double measured = std::clamp(std::chrono::duration<double>(Clock::now() - measure_from_).count(), 0.0,
                                           options_.seconds);
        const double round_trips = static_cast<double>(latencies_ns_.size());
        const double per_sec = measured > 0 ? round_trips / measured : 0.0;
        const double mib = per_sec * static_cast<double>(options_.size) / (1024.0 * 1024.0);
        const double p50 = percentile_us(0.50);
        const double p99 = percentile_us(0.99);
        std::printf("{\"connections\":%ld,\"size\":%ld,\"seconds\":%g,\"round_trips\":%zu,\"round_trips_per_sec\":%.1f,"
                    "\"mib_per_sec\":%.2f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"errors\":%ld}\n",
                    options_.connections, options_.size, options_.seconds, latencies_ns_.size(), per_sec, mib, p50, p99,
                    errors_);
        std::fflush(stdout);
        return errors_ == 0 ? 0 : 1;
    }

    const Options options_;
    std::vector<Connection> connections_;
    std::vector<int64_t> latencies_ns_;
    long errors_ = 0;
    Clock::time_point measure_from_;
    Clock::time_point measure_until_;
};

int usage()
{
    std::fprintf(stderr,
                 "usage: asock-loadgen --port N [--host 127.0.0.1] --connections C --size S --seconds D [--warmup W]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv)
{
    Options options;
    for (int i = 1; i < argc; i += 2)
    {
        if (i + 1 >= argc)
            return usage();
        const std::string name = argv[i];
        const char* value = argv[i + 1];
        if (name == "--host")
            options.host = value;
        else if (name == "--port")
            options.port = std::strtol(value, nullptr, 10);
        else if (name == "--connections")
            options.connections = std::strtol(value, nullptr, 10);
        else if (name == "--size")
            options.size = std::strtol(value, nullptr, 10);
        else if (name == "--seconds")
            options.seconds = std::strtod(value, nullptr);
        else if (name == "--warmup")
            options.warmup = std::strtod(value, nullptr);
        else
            return usage();
    }
    if (options.port < 1 || options.port > 65535 || options.connections < 1 || options.connections > 10000 ||
        options.size < 1 || options.size > (64L << 20) || !(options.seconds > 0 && options.seconds <= 3600) ||
        !(options.warmup >= 0 && options.warmup <= 3600))
        return usage();
    return Run(options).execute();
}
