#!/usr/bin/env python3
"""Whether io_uring's NAPI busy poll (Linux 6.9, IORING_REGISTER_NAPI) can apply to a loopback
TCP connection: SO_INCOMING_NAPI_ID of the accepted socket after data arrived (0: the socket has
no NAPI instance, so there is nothing for the ring to busy-poll), and whether the kernel accepts
the NAPI registration on a ring at all."""
import ctypes
import socket
import struct

SO_INCOMING_NAPI_ID = 56
SYS_IO_URING_SETUP, SYS_IO_URING_REGISTER = 425, 427
IORING_REGISTER_NAPI = 27

listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(1)
client = socket.create_connection(listener.getsockname())
server, _ = listener.accept()
client.sendall(b"x" * 64)
assert server.recv(64)
napi_id = server.getsockopt(socket.SOL_SOCKET, SO_INCOMING_NAPI_ID)
print(f"loopback SO_INCOMING_NAPI_ID: {napi_id}" + (" (no NAPI instance)" if napi_id == 0 else ""))

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
params = ctypes.create_string_buffer(120)  # struct io_uring_params, zeroed
ring_fd = libc.syscall(SYS_IO_URING_SETUP, 8, params)
if ring_fd < 0:
    print(f"io_uring_setup failed: errno {ctypes.get_errno()}")
else:
    # struct io_uring_napi { __u32 busy_poll_to; __u8 prefer_busy_poll; __u8 pad[3]; __u64 resv; }
    napi = ctypes.create_string_buffer(struct.pack("=IB3xQ", 50, 0, 0))
    result = libc.syscall(SYS_IO_URING_REGISTER, ring_fd, IORING_REGISTER_NAPI, napi, 1)
    error = ctypes.get_errno()
    print("IORING_REGISTER_NAPI: " + ("accepted" if result == 0 else f"refused, errno {error}"))
