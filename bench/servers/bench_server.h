/* What the benchmark echo servers share, so that they differ only in the I/O library:
   the command line, the listening socket and the ready line the runner waits for. The HTTP
   servers (bench-http-*, bench_http.h) use the same command line without --gather.

   Every server: --port N (0 = any free port), --gather (echo each message as two buffers,
   the first min(16, n) bytes and the rest, in one gathered send), ONE I/O thread, a 64 KiB
   buffer per connection, TCP_NODELAY on accepted sockets, and a clean exit (status 0) on
   SIGTERM/SIGINT. */
#ifndef ASOCK_BENCH_SERVER_H
#define ASOCK_BENCH_SERVER_H

#include <stddef.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BENCH_BUFFER_SIZE (64 * 1024)

/* Options only some servers take (a bit mask for bench_parse_options). */
#define BENCH_OPTION_BACKEND 1u   /* --backend NAME */
#define BENCH_OPTION_BUSY_POLL 2u /* --busy-poll MICROSECONDS */
#define BENCH_OPTION_NO_GATHER 4u /* --gather is refused (the HTTP servers) */

typedef struct BENCH_OPTIONS
{
    int port;
    int gather;
    const char* backend; /* NULL when not given */
    unsigned busy_poll_us;
} BENCH_OPTIONS;

/* Parses the command line. Returns 0, or prints the usage and returns non-zero for an
   unknown option, a missing or bad value, or an option not in `accepted`. */
int bench_parse_options(int argc, char** argv, unsigned accepted, BENCH_OPTIONS* options);

/* A socket listening on 127.0.0.1:port (SO_REUSEADDR, backlog SOMAXCONN), non-blocking if
   asked. Returns the fd, or -1 after printing why. Also ignores SIGPIPE: a client that goes
   away in the middle of an echo must end its connection, not the server. */
int bench_listen(int port, int nonblocking);

/* Prints the ready line "listening on 127.0.0.1:PORT" and flushes it: the runner reads it
   from a pipe to learn the port. */
void bench_announce(int listener);

/* TCP_NODELAY: an echo is one small write; Nagle would hold it back for the peer's ACK. */
void bench_set_nodelay(int fd);

/* How many bytes of an n-byte echo go in the first of the two buffers in --gather mode. */
size_t bench_gather_head(size_t n);

/* The bytes [from, end) of buffer as iovecs, split in two at head when head is inside
   (--gather: head = bench_gather_head(end); else head = end). Returns the count, 1 or 2. */
int bench_echo_iovecs(unsigned char* buffer, size_t from, size_t head, size_t end, struct iovec out[2]);

#ifdef __cplusplus
}
#endif

#endif /* ASOCK_BENCH_SERVER_H */
