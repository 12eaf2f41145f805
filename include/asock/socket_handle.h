/* asock: the platform's socket handle type, as the seed's platform layer declares it. */
#ifndef ASOCK_SOCKET_HANDLE_H
#define ASOCK_SOCKET_HANDLE_H

#ifdef _WIN32

/* On Windows the seed's platform passes SOCKETs around as void*. INVALID_SOCKET comes from
   winsock2.h; compare with (SOCKET_HANDLE)INVALID_SOCKET. */
typedef void* SOCKET_HANDLE;

#else

/* On Linux a socket is a file descriptor. */
typedef int SOCKET_HANDLE;

#ifndef INVALID_SOCKET
#define INVALID_SOCKET (-1)
#endif

#endif

#endif /* ASOCK_SOCKET_HANDLE_H */
