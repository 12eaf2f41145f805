/* HTTP/1.1 for the "plaintext" shape of the TechEmpower benchmarks: a strict parser of request
   heads and the fixed "Hello, World!" response, in plain C11 with no I/O. The asock example
   server (http_server.c) and every HTTP server of the benchmark (bench/servers/http_*.c*)
   share it, so that they differ only in how they move bytes.

   What is accepted (RFC 9112, section 2 and 3, without what this shape never needs):
     request-line = method SP request-target SP "HTTP/1." ("0" / "1") CRLF
     method       = 1..16 token characters
     target       = 1..8192 visible ASCII characters (0x21..0x7e)
     header       = field-name ":" OWS field-value CRLF   (name: token characters; value:
                    visible characters, SP, HTAB and bytes >= 0x80; at most 64 headers)
     an empty line (CRLF) ends the head.
   A body is accepted with a valid Content-Length (the request then includes it) and refused
   with Transfer-Encoding (this server does not decode chunks). A bare LF, a missing colon, a
   space before the colon, a second or a bad Content-Length, a control character: malformed.
   "Connection: close" (or HTTP/1.0 without "Connection: keep-alive") ends the connection after
   the response. */
#ifndef ASOCK_EXAMPLES_HTTP_PLAINTEXT_H
#define ASOCK_EXAMPLES_HTTP_PLAINTEXT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define HTTP_MAX_METHOD 16
#define HTTP_MAX_TARGET 8192
#define HTTP_MAX_HEADERS 64

typedef enum HTTP_PARSE_RESULT
{
    HTTP_PARSE_DONE,      /* a whole request: its length and keep_alive are set */
    HTTP_PARSE_MORE,      /* a valid beginning: more bytes are needed */
    HTTP_PARSE_MALFORMED, /* answer 400 and close */
} HTTP_PARSE_RESULT;

typedef struct HTTP_REQUEST
{
    size_t length;  /* bytes of the request, head and body */
    int keep_alive; /* 0: close the connection after the response */
} HTTP_REQUEST;

static inline int http_is_token(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static inline int http_is_value_byte(unsigned char c) { return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f); }

/* Whether the size bytes at text equal the lower-case word (ASCII case-insensitively). */
static inline int http_equals(const unsigned char* text, size_t size, const char* word)
{
    if (strlen(word) != size)
        return 0;
    for (size_t i = 0; i < size; ++i)
    {
        unsigned char c = text[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if (c != (unsigned char)word[i])
            return 0;
    }
    return 1;
}

/* Whether a Connection value (a comma-separated list of tokens) holds the word. */
static inline int http_list_has(const unsigned char* value, size_t size, const char* word)
{
    size_t i = 0;
    while (i < size)
    {
        while (i < size && (value[i] == ' ' || value[i] == '\t' || value[i] == ','))
            ++i;
        const size_t start = i;
        while (i < size && value[i] != ',' && value[i] != ' ' && value[i] != '\t')
            ++i;
        if (i > start && http_equals(value + start, i - start, word))
            return 1;
    }
    return 0;
}

/* Parses the request at the start of data[0, size). */
static inline HTTP_PARSE_RESULT http_parse_request(const void* bytes, size_t size, HTTP_REQUEST* request)
{
    const unsigned char* data = (const unsigned char*)bytes;
    size_t i = 0;
    /* request-line */
    while (i < size && http_is_token(data[i]))
        ++i;
    if (i == size)
        return i <= HTTP_MAX_METHOD ? HTTP_PARSE_MORE : HTTP_PARSE_MALFORMED;
    if (i == 0 || i > HTTP_MAX_METHOD || data[i] != ' ')
        return HTTP_PARSE_MALFORMED;
    const size_t target = ++i;
    while (i < size && data[i] >= 0x21 && data[i] <= 0x7e)
        ++i;
    if (i - target > HTTP_MAX_TARGET)
        return HTTP_PARSE_MALFORMED;
    if (i == size)
        return HTTP_PARSE_MORE;
    if (i == target || data[i] != ' ')
        return HTTP_PARSE_MALFORMED;
    ++i;
    static const char version[] = "HTTP/1.";
    for (size_t k = 0; k < sizeof(version) - 1; ++k, ++i)
    {
        if (i == size)
            return HTTP_PARSE_MORE;
        if (data[i] != (unsigned char)version[k])
            return HTTP_PARSE_MALFORMED;
    }
    if (i == size)
        return HTTP_PARSE_MORE;
    if (data[i] != '0' && data[i] != '1')
        return HTTP_PARSE_MALFORMED;
    const int minor = data[i++] - '0';
    if (i + 2 > size)
        return (i == size || data[i] == '\r') ? HTTP_PARSE_MORE : HTTP_PARSE_MALFORMED;
    if (data[i] != '\r' || data[i + 1] != '\n')
        return HTTP_PARSE_MALFORMED;
    i += 2;

    /* headers */
    int close = minor == 0;
    int has_length = 0;
    size_t body = 0;
    for (unsigned count = 0;; ++count)
    {
        if (i == size)
            return HTTP_PARSE_MORE;
        if (data[i] == '\r')
        {
            if (i + 1 == size)
                return HTTP_PARSE_MORE;
            if (data[i + 1] != '\n')
                return HTTP_PARSE_MALFORMED;
            i += 2;
            break;
        }
        if (count == HTTP_MAX_HEADERS)
            return HTTP_PARSE_MALFORMED;
        const size_t name = i;
        while (i < size && http_is_token(data[i]))
            ++i;
        if (i == size)
            return i - name <= HTTP_MAX_TARGET ? HTTP_PARSE_MORE : HTTP_PARSE_MALFORMED;
        if (i == name || data[i] != ':')
            return HTTP_PARSE_MALFORMED;
        const size_t name_size = i - name;
        ++i;
        while (i < size && (data[i] == ' ' || data[i] == '\t'))
            ++i;
        const size_t value = i;
        while (i < size && http_is_value_byte(data[i]))
            ++i;
        if (i - value > HTTP_MAX_TARGET)
            return HTTP_PARSE_MALFORMED;
        if (i == size || (data[i] == '\r' && i + 1 == size))
            return HTTP_PARSE_MORE;
        if (data[i] != '\r' || data[i + 1] != '\n')
            return HTTP_PARSE_MALFORMED;
        size_t value_size = i - value;
        while (value_size > 0 && (data[value + value_size - 1] == ' ' || data[value + value_size - 1] == '\t'))
            --value_size;
        i += 2;
        const unsigned char* field = data + value;
        if (http_equals(data + name, name_size, "connection"))
        {
            if (http_list_has(field, value_size, "close"))
                close = 1;
            else if (http_list_has(field, value_size, "keep-alive"))
                close = 0;
        }
        else if (http_equals(data + name, name_size, "content-length"))
        {
            if (has_length || value_size == 0 || value_size > 9)
                return HTTP_PARSE_MALFORMED; /* more than 999,999,999 bytes: refused anyway */
            body = 0;
            for (size_t k = 0; k < value_size; ++k)
            {
                if (field[k] < '0' || field[k] > '9')
                    return HTTP_PARSE_MALFORMED;
                body = body * 10 + (size_t)(field[k] - '0');
            }
            has_length = 1;
        }
        else if (http_equals(data + name, name_size, "transfer-encoding"))
        {
            return HTTP_PARSE_MALFORMED;
        }
    }
    if (size - i < body)
        return HTTP_PARSE_MORE;
    request->length = i + body;
    request->keep_alive = !close;
    return HTTP_PARSE_DONE;
}

/* The response to every request, with the current Date (IMF-fixdate, refreshed once a second,
   per thread). server: the Server header's value. Returns the response and sets *length. */
static inline const char* http_ok_response(const char* server, size_t* length)
{
    static _Thread_local time_t made_at = (time_t)-1;
    static _Thread_local char response[256];
    static _Thread_local size_t response_length;
    const time_t now = time(NULL);
    if (now != made_at)
    {
        struct tm parts;
        static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        gmtime_r(&now, &parts);
        char date[40];
        /* snprintf's bound: the fields are small, a 4-digit year. */
        snprintf(date, sizeof(date), "%s, %02d %s %04d %02d:%02d:%02d GMT", days[parts.tm_wday % 7], parts.tm_mday,
                 months[parts.tm_mon % 12], (parts.tm_year + 1900) % 10000, parts.tm_hour, parts.tm_min, parts.tm_sec);
        const int written = snprintf(response, sizeof(response),
                                     "HTTP/1.1 200 OK\r\nServer: %s\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
                                     "Date: %s\r\n\r\nHello, World!",
                                     server, date);
        response_length = written > 0 && (size_t)written < sizeof(response) ? (size_t)written : 0;
        made_at = now;
    }
    *length = response_length;
    return response;
}

/* The answer to a malformed or oversized request; the connection is closed after it. */
#define HTTP_BAD_REQUEST "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

#endif /* ASOCK_EXAMPLES_HTTP_PLAINTEXT_H */
