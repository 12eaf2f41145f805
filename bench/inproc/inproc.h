// The shared part of the in-process benchmarks: one program per library, all with the same
// modes, options and output, so that run_inproc.py drives them alike.
//
//   <program> --mode ping-pong --round-trips N   N round trips, for callgrind
//   <program> --mode allocations --round-trips N N warm-up round trips, then N counted
//   <program> --mode sockets --sockets N         live heap bytes per idle socket
//   [--backend io_uring|epoll]                   programs that have a choice (asock)
//
// A round trip: end A sends a kMessageSize-byte message over a loopback TCP connection
// (TCP_NODELAY, what users run), end B receives it and sends it back, A receives it and
// checks every byte. Both ends are driven by the library on one I/O thread.
//
// Each program prints one JSON object on stdout. Exit status: 0 done, 1 failure,
// 3 the figure cannot be measured here (a backend the kernel refuses, too few descriptors).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace inproc {

constexpr uint32_t kMessageSize = 64;
// Receives offer more room than one message, as a server's buffer does, so that a message
// that arrives whole is a short read (which tells a library the socket is drained).
constexpr uint32_t kReceiveBufferSize = 2 * kMessageSize;
constexpr int kExitUnavailable = 3;

enum class Mode
{
    ping_pong,
    allocations,
    sockets
};

struct Options
{
    Mode mode = Mode::ping_pong;
    uint64_t round_trips = 10000;
    uint32_t socket_count = 10000;
    std::string backend;  // empty: the library's default
};

// Prints "inproc: <what>" and exits with status 1 (from any thread: a benchmark whose
// library misbehaves has nothing left to measure).
[[noreturn]] void fail(const std::string& what);

// Prints the reason and exits with kExitUnavailable.
[[noreturn]] void unavailable(const std::string& why);

// The message of round trip `index`: every byte depends on the index, so that a stale,
// shifted or truncated message fails the check.
void fill_message(uint8_t* message, uint64_t index);
// Fails unless exactly `received` == kMessageSize bytes of the right message arrived.
void check_message(const uint8_t* message, uint32_t received, uint64_t index);

// The round trips a ping-pong runs, and the allocation counts around the measured ones.
// Used only on the I/O thread.
class RoundTripPlan
{
public:
    RoundTripPlan(uint64_t warm_up, uint64_t measured);

    // The round trip in progress (0-based).
    uint64_t index() const { return done_; }

    // Records the end of the round trip in progress; true when it was the last one.
    bool finish_round_trip();

    double allocations_per_round_trip() const;

private:
    uint64_t warm_up_;
    uint64_t total_;
    uint64_t done_ = 0;
    uint64_t allocations_at_start_ = 0;
    uint64_t allocations_at_end_ = 0;
};

struct SocketPair
{
    int a;
    int b;
};

// Connected loopback TCP pairs with TCP_NODELAY on both ends (blocking descriptors, as
// accept() and connect() return them: each library sets what it needs). The caller owns them.
std::vector<SocketPair> make_tcp_pairs(size_t count);

// Live heap bytes at the start of the socket measurement, once every socket is open and
// idle, and once each has a receive pending.
class SocketBytesMeter
{
public:
    void start();
    void idle_reached();
    void pending_reached();

    double idle_bytes_per_socket(uint32_t socket_count) const;
    double pending_bytes_per_socket(uint32_t socket_count) const;

private:
    int64_t at_start_ = 0;
    int64_t at_idle_ = 0;
    int64_t at_pending_ = 0;
};

// What one library's program provides. Both functions make their sockets with
// make_tcp_pairs, hand them to the library and release everything before returning.
struct Library
{
    // Whether --backend is accepted (its value is left to the functions to interpret).
    bool has_backends;
    // Runs the plan to its end, on the library's I/O thread.
    void (*ping_pong)(const Options& options, RoundTripPlan& plan);
    // Opens options.socket_count sockets on the library, calling the meter's three marks.
    // The pairs are made after the library's loop, as in a server, so that a table indexed
    // by descriptor (libuv's) grows with the sockets and is counted. Receives go into memory
    // the program owned before start(): it is not the library's.
    void (*measure_sockets)(const Options& options, SocketBytesMeter& meter);
};

// The whole program: parses the options, runs the mode, prints the figures.
int run(int argc, char** argv, const Library& library);

}  // namespace inproc
