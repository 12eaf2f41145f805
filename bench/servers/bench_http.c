/* The shared part of the benchmark HTTP servers: see bench_http.h. */
#define _GNU_SOURCE /* gmtime_r in http_plaintext.h */

#include "bench_http.h"

#include <string.h>
#include <sys/socket.h>

#include "http_plaintext.h"

void bench_http_init(BENCH_HTTP* http)
{
    http->in_length = http->out_length = 0;
    http->unanswered = http->closing = 0;
}

/* Appends the 400 response if `out` has room (else leaves the request for the next call). */
static int answer_bad_request(BENCH_HTTP* http)
{
    static const char response[] = HTTP_BAD_REQUEST;
    if (sizeof(http->out) - http->out_length < sizeof(response) - 1)
        return 0;
    memcpy(http->out + http->out_length, response, sizeof(response) - 1);
    http->out_length += sizeof(response) - 1;
    http->closing = 1;
    return 1;
}

size_t bench_http_answer(BENCH_HTTP* http, const char* server)
{
    size_t response_length = 0;
    const char* response = http_ok_response(server, &response_length);
    size_t used = 0; /* bytes of `in` answered */
    http->unanswered = 0;
    while (!http->closing)
    {
        HTTP_REQUEST request;
        const HTTP_PARSE_RESULT result = http_parse_request(http->in + used, http->in_length - used, &request);
        if (result == HTTP_PARSE_MORE && !(used == 0 && http->in_length == sizeof(http->in)))
            break; /* the start of a request that fits: receive the rest */
        if (result != HTTP_PARSE_DONE) /* malformed, or too large for the request buffer */
        {
            http->unanswered = !answer_bad_request(http);
            break;
        }
        if (sizeof(http->out) - http->out_length < response_length)
        {
            http->unanswered = 1;
            break;
        }
        memcpy(http->out + http->out_length, response, response_length);
        http->out_length += response_length;
        used += request.length;
        http->closing = !request.keep_alive;
    }
    if (http->closing)
        http->in_length = 0; /* nothing after the last answer is read */
    else if (used > 0)
    {
        memmove(http->in, http->in + used, http->in_length - used);
        http->in_length -= used;
    }
    return http->out_length;
}

BENCH_HTTP_NEXT bench_http_sent(BENCH_HTTP* http)
{
    http->out_length = 0;
    if (http->closing)
        return BENCH_HTTP_CLOSE;
    return http->unanswered ? BENCH_HTTP_ANSWER : BENCH_HTTP_RECEIVE;
}

void bench_http_shutdown(int fd)
{
    unsigned char discarded[4096];
    shutdown(fd, SHUT_WR);
    while (recv(fd, discarded, sizeof(discarded), MSG_DONTWAIT) > 0)
        ;
}
