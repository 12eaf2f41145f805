// asock-loadgen: a closed-loop load generator for an echo server. It does not use asock: it
// is a plain single-threaded epoll client, so that it measures the server and nothing else.
//
//   asock-loadgen --port N [--host 127.0.0.1] --connections C --size S --seconds D [--warmup W]
//                 [--server-pid PID]
//
// It first opens the C connections; then each one sends a message of S bytes (a pattern that
// differs per message), waits until all S bytes have come back, checks them byte for byte,
// records the round trip and sends the next message. Round trips completed during the first
// W seconds are not counted; then the run measures for D seconds and prints one line of JSON:
//
//   {"connections":C,"size":S,"seconds":D,"round_trips":N,"round_trips_per_sec":X,
//    "mib_per_sec":Y,"p50_us":A,"p99_us":B,"errors":E}
//
// mib_per_sec counts the payload echoed (S bytes per round trip, one direction). Any
// connection error or byte mismatch is an error: the run stops at once, still prints its
// JSON line and exits with status 1.
//
// With --server-pid, the JSON also has "server_cpu_s" (the CPU time all threads of that
// process used during the measured window) and "server_cpu_us_per_rt" (that per round trip).
// The benchmarks (bench/) build this same source as bench-loadgen.
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
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
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
    long server_pid = 0; // 0: no CPU measurement
};

struct Connection
{
    int fd = -1;
    unsigned id = 0;
    uint64_t message = 0;           // sequence number of the message in flight
    size_t size = 0;
    const unsigned char* out = nullptr; // the message in flight (in the pattern table)
    std::vector<unsigned char> in;
    size_t sent = 0;
    size_t received = 0;
    // Edge-triggered epoll: a direction is tried again only after an event says it may have
    // changed. This saves the recv that would only return EAGAIN after every send.
    bool readable = true;
    bool writable = true;
    Clock::time_point started;
};

// CPU time used so far by every thread of a process, in seconds; nullopt if it cannot be read.
// The first field of /proc/PID/task/TID/schedstat is the thread's time on a CPU in
// nanoseconds; /proc/PID/stat (utime + stime, in clock ticks of usually 10 ms) is the fallback
// for kernels without schedstat.
std::optional<double> process_cpu_seconds(long pid)
{
    const std::filesystem::path process = "/proc/" + std::to_string(pid);
    std::error_code error;
    double nanoseconds = 0;
    bool found = false;
    for (const auto& task : std::filesystem::directory_iterator(process / "task", error))
    {
        std::ifstream schedstat(task.path() / "schedstat");
        double on_cpu = 0;
        if (schedstat >> on_cpu)
        {
            nanoseconds += on_cpu;
            found = true;
        }
    }
    if (found)
        return nanoseconds / 1e9;

    std::ifstream stat(process / "stat");
    std::string line;
    if (!std::getline(stat, line) || line.rfind(')') == std::string::npos)
        return std::nullopt;
    // After the command name (in parentheses, may hold spaces) come fields 3, 4, ...;
    // utime and stime are fields 14 and 15.
    std::istringstream fields(line.substr(line.rfind(')') + 1));
    std::string skipped;
    for (int field = 3; field < 14; ++field)
        fields >> skipped;
    double utime = 0, stime = 0;
    if (!(fields >> utime >> stime))
        return std::nullopt;
    return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// What the connections send: byte j of the table is j * 7 + (j >> 8), and message m of
// connection c is the `size` bytes at offset (m * 13 + c * 101) % 256. Consecutive messages
// of a connection start 13 bytes apart (mod 256), so they differ in every byte (by 90 to 92),
// and no message is ever written: filling a fresh pattern per message cost the loadgen more
// than its system calls at 1000 connections x 16 KiB, and the loadgen must not be what
// limits the server.
std::vector<unsigned char> make_pattern_table(size_t size)
{
    std::vector<unsigned char> table(size + 256);
    for (size_t j = 0; j < table.size(); ++j)
        table[j] = static_cast<unsigned char>(j * 7 + (j >> 8));
    return table;
}

void start_message(Connection& connection, const std::vector<unsigned char>& patterns)
{
    ++connection.message;
    connection.out = patterns.data() + (connection.message * 13 + connection.id * 101) % 256;
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
            c.size = static_cast<size_t>(options_.size);
            c.in.resize(c.size);
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
            start_message(c, patterns_);
            if (!pump(c))
                return finish();
        }

        std::vector<epoll_event> events(connections_.size());
        for (;;)
        {
            const auto now = Clock::now();
            if (!cpu_at_start_ && now >= measure_from_)
                cpu_at_start_ = server_cpu_seconds();
            if (now >= measure_until_)
                break;
            const auto next = now < measure_from_ ? measure_from_ : measure_until_;
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count();
            const int n = epoll_wait(epoll, events.data(), static_cast<int>(events.size()),
                                     static_cast<int>(std::clamp<long long>(left + 1, 1, 100)));
            if (n < 0 && errno != EINTR)
                return fail("epoll_wait");
            for (int i = 0; i < n; ++i)
            {
                Connection& c = *static_cast<Connection*>(events[i].data.ptr);
                c.readable |= (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
                c.writable |= (events[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0;
                if (!pump(c))
                    return finish();
            }
        }
        cpu_at_end_ = server_cpu_seconds();
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

    enum class Step
    {
        progress,
        blocked, // would block, or nothing to do in that direction
        error,
    };

    // Moves a connection forward as far as the socket allows: edge-triggered, so each
    // direction is pushed until it would block or has nothing to do. False on an error.
    bool pump(Connection& c)
    {
        for (;;)
        {
            const Step sent = send_some(c);
            const Step received = sent == Step::error ? Step::error : receive_some(c);
            if (sent == Step::error || received == Step::error)
                return false;
            if (sent == Step::blocked && received == Step::blocked)
                return true;
        }
    }

    Step send_some(Connection& c)
    {
        if (!c.writable || c.sent == c.size)
            return Step::blocked;
        const ssize_t n = send(c.fd, c.out + c.sent, c.size - c.sent, MSG_NOSIGNAL);
        if (n > 0)
        {
            c.sent += static_cast<size_t>(n);
            return Step::progress;
        }
        if (errno == EINTR)
            return Step::progress;
        if (errno == EAGAIN)
        {
            c.writable = false;
            return Step::blocked;
        }
        std::fprintf(stderr, "asock-loadgen: send on connection %u: %s\n", c.id, std::strerror(errno));
        ++errors_;
        return Step::error;
    }

    // Receives echoed bytes; only bytes already sent can come back, so there is nothing to
    // wait for (and no recv to make) while everything sent has been received.
    Step receive_some(Connection& c)
    {
        if (!c.readable || c.received == c.sent)
            return Step::blocked;
        const size_t wanted = c.sent - c.received;
        const ssize_t n = recv(c.fd, c.in.data() + c.received, wanted, 0);
        if (n < 0 && errno == EINTR)
            return Step::progress;
        if (n < 0 && errno == EAGAIN)
        {
            c.readable = false;
            return Step::blocked;
        }
        if (n <= 0)
        {
            std::fprintf(stderr, "asock-loadgen: receive on connection %u: %s\n", c.id,
                         n == 0 ? "connection closed by the server" : std::strerror(errno));
            ++errors_;
            return Step::error;
        }
        if (std::memcmp(c.in.data() + c.received, c.out + c.received, static_cast<size_t>(n)) != 0)
        {
            std::fprintf(stderr, "asock-loadgen: connection %u: echoed bytes differ from the bytes sent\n", c.id);
            ++errors_;
            return Step::error;
        }
        c.received += static_cast<size_t>(n);
        // A short read emptied the socket: the next byte to arrive raises a new edge.
        c.readable = static_cast<size_t>(n) == wanted;
        if (c.received == c.size)
            complete_message(c);
        return Step::progress;
    }

    void complete_message(Connection& c)
    {
        const auto now = Clock::now();
        if (now >= measure_from_ && now < measure_until_)
            latencies_ns_.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(now - c.started).count());
        // Everything sent came back, so the socket holds nothing more to read.
        c.readable = false;
        start_message(c, patterns_);
    }

    std::optional<double> server_cpu_seconds() const
    {
        return options_.server_pid > 0 ? process_cpu_seconds(options_.server_pid) : std::nullopt;
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
                    "\"mib_per_sec\":%.2f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"errors\":%ld",
                    options_.connections, options_.size, options_.seconds, latencies_ns_.size(), per_sec, mib, p50, p99,
                    errors_);
        print_server_cpu(round_trips);
        std::printf("}\n");
        std::fflush(stdout);
        return errors_ == 0 ? 0 : 1;
    }

    // The server's CPU fields of the JSON, when --server-pid was given. A run stopped before
    // the end of its window has no figure: 0 then.
    void print_server_cpu(double round_trips)
    {
        if (options_.server_pid <= 0)
            return;
        const double cpu = cpu_at_start_ && cpu_at_end_ ? *cpu_at_end_ - *cpu_at_start_ : 0.0;
        const double per_rt_us = round_trips > 0 ? cpu * 1e6 / round_trips : 0.0;
        std::printf(",\"server_cpu_s\":%.6f,\"server_cpu_us_per_rt\":%.3f", cpu, per_rt_us);
    }

    const Options options_;
    const std::vector<unsigned char> patterns_ = make_pattern_table(static_cast<size_t>(options_.size));
    std::vector<Connection> connections_;
    std::vector<int64_t> latencies_ns_;
    long errors_ = 0;
    Clock::time_point measure_from_;
    Clock::time_point measure_until_;
    std::optional<double> cpu_at_start_;
    std::optional<double> cpu_at_end_;
};

int usage()
{
    std::fprintf(stderr,
                 "usage: asock-loadgen --port N [--host 127.0.0.1] --connections C --size S --seconds D [--warmup W]\n"
                 "                     [--server-pid PID]\n");
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
        else if (name == "--server-pid")
            options.server_pid = std::strtol(value, nullptr, 10);
        else
            return usage();
    }
    if (options.port < 1 || options.port > 65535 || options.connections < 1 || options.connections > 10000 ||
        options.size < 1 || options.size > (64L << 20) || !(options.seconds > 0 && options.seconds <= 3600) ||
        !(options.warmup >= 0 && options.warmup <= 3600) || options.server_pid < 0)
        return usage();
    return Run(options).execute();
}
