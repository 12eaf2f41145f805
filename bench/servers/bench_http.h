/* What the benchmark HTTP servers (bench-http-*) share beside bench_server.h: the request and
   response buffers of a connection and what to do with the bytes received, so that they
   differ only in how they move bytes. Parsing and the response are examples/http_plaintext.h,
   the same as the asock example server's.

   A connection has a bounded 16 KiB request buffer and a response buffer. Each time bytes
   arrive (appended at in + in_length), bench_http_answer() answers every complete request at
   the start of the input (pipelining: one response per request, appended to out) and keeps
   the rest of an incomplete one for the next receive. The server then sends out[0, out_length)
   in one write (the rest when the socket takes less), and once it is all out calls
   bench_http_sent(), which says what comes next: receive, answer again (the response buffer
   had filled up before every request was answered) or close.

   A malformed request, or one that does not fit in the request buffer, gets "400 Bad Request"
   and the connection is closed after it; "Connection: close" gets its 200, then the close.
   Requests after one that closes the connection are not answered. */
#ifndef ASOCK_BENCH_HTTP_H
#define ASOCK_BENCH_HTTP_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BENCH_HTTP_REQUEST_BUFFER (16 * 1024)
/* About 115 responses: more than a batch of wrk's pipelined requests at depth 16. */
#define BENCH_HTTP_RESPONSE_BUFFER (16 * 1024)

typedef struct BENCH_HTTP
{
    size_t in_length;  /* bytes in `in`: the start of an unanswered request, or none */
    size_t out_length; /* bytes in `out` to send */
    int unanswered;    /* complete requests wait in `in`: `out` filled up first */
    int closing;       /* close once `out` is sent */
    unsigned char in[BENCH_HTTP_REQUEST_BUFFER];
    unsigned char out[BENCH_HTTP_RESPONSE_BUFFER];
} BENCH_HTTP;

/* What a server does once the whole response buffer is sent. */
typedef enum BENCH_HTTP_NEXT
{
    BENCH_HTTP_RECEIVE, /* receive more (into in + in_length, BENCH_HTTP_REQUEST_BUFFER - in_length bytes) */
    BENCH_HTTP_ANSWER,  /* call bench_http_answer() again and send what it made */
    BENCH_HTTP_CLOSE,   /* close the connection */
} BENCH_HTTP_NEXT;

/* A connection's state before its first receive. */
void bench_http_init(BENCH_HTTP* http);

/* Answers the complete requests in `in` while `out` has room (server: the Server header's
   value). Returns out_length: the bytes to send, 0 when the input holds no complete request
   (receive more). Call it only when `out` is empty (everything sent). */
size_t bench_http_answer(BENCH_HTTP* http, const char* server);

/* Call once out[0, out_length) is all sent: empties `out` and says what comes next. */
BENCH_HTTP_NEXT bench_http_sent(BENCH_HTTP* http);

/* Before closing on BENCH_HTTP_CLOSE: shuts the sending side down and reads (without waiting)
   what the peer sent after the last answered request. A close with unread bytes would send a
   reset, and the peer could lose the response before reading it (the 400 of a request too
   large for the buffer, or the requests pipelined after a "Connection: close"). */
void bench_http_shutdown(int fd);

#ifdef __cplusplus
}
#endif

#endif /* ASOCK_BENCH_HTTP_H */
