#!/usr/bin/env python3
"""Writes the seed corpus of asock_api_fuzzer (tests/fuzz/corpus/): a dozen small programs in
the byte code that api_fuzzer.cpp interprets, each a starting point the fuzzer mutates.

    python3 tests/fuzz/make_corpus.py   # rewrites tests/fuzz/corpus/*

The byte code (one opcode byte, taken modulo 24, then its arguments; see Interpreter::step):
    0 create engine  b: slot b%2, loops 1+(b>>1 & 1), backend (b>>2)%3: default, io_uring, epoll
    1 drop engine    b: slot b%2
    2 create socket  b: slot b%3, engine (b>>2)%2, kind (b>>3)%6: 0-2 AF_UNIX, 3 TCP,
                        4 datagram (open must refuse it), 5 INVALID_SOCKET
    3 open           b: slot b%3; 0x80 NULL socket, 0x40 NULL callback
    4 send / 5 receive  target (slot %3), flags (1 NULL callback, 2 NULL socket, (f>>2)&3 what
                        the callback does next: nothing, close, receive, send; 0x10 the callback
                        destroys the socket), shape (%8: 0 NULL array, 1 no buffers, 2 a NULL
                        buffer, 3 an empty buffer, 4 a huge count, 5 many tiny buffers, 6 shared
                        and overlapping buffers (sends), 7 a few buffers; 0x80 KiB-sized ones),
                        size byte, one length byte per buffer, then a send's data (its first
                        256 bytes; a pattern after them)
    6 close b / 7 destroy b
    8 peer writes    slot, size (0x80: (size & 0x7f) KiB), data (the first 256 bytes)
    9 peer shuts its writing side / 10 peer closes / 11 peer resets   slot
   12 peer pauses (b&1) or resumes reading   b, slot
   13 sleep b%8 * 250 us / 14 wait up to b%10 ms for the operations to complete
   15 inject a failure   point (% the number of fault points), skip (%16)
   16 every call with NULL arguments
   17 busy poll          engine b%2, 50 * (b%4) us
   18 create timer       b: slot b%3, engine (b>>2)%2
   19 start timer        slot, d: delay d%8 ms, 0x08 NULL callback (must be refused), (d>>4)&3
                         what the callback does: nothing, restart (1 ms), cancel, destroy the timer
   20 cancel timer b / 21 destroy timer b
   22 timed receive      as receive (5), with a timeout byte (%8 ms, 0: none) after the flags
   23 cancel receives    slot
"""
import os

CREATE_ENGINE, DROP_ENGINE, CREATE_SOCKET, OPEN, SEND, RECEIVE, CLOSE, DESTROY = range(8)
PEER_WRITE, PEER_SHUTDOWN, PEER_CLOSE, PEER_RESET, PEER_PAUSE, SLEEP, WAIT, FAULT = range(8, 16)
NULL_ARGUMENTS, BUSY_POLL = 16, 17
CREATE_TIMER, START_TIMER, CANCEL_TIMER, DESTROY_TIMER, TIMED_RECEIVE, CANCEL_RECEIVES = range(18, 24)
TIMER_NOTHING, TIMER_RESTART, TIMER_CANCEL, TIMER_DESTROY = range(4)

DEFAULT, IO_URING, EPOLL = 0, 1, 2
UNIX, TCP, DATAGRAM, INVALID = 0, 3, 4, 5
NOTHING, CLOSE_NEXT, RECEIVE_NEXT, SEND_NEXT = 0, 1, 2, 3

# Fault points, as numbered in tests/support/fault_injection.h.
OP_ALLOC, SYS_SENDMSG, SYS_RECVMSG, URING_SUBMIT_AND_WAIT, SYS_EPOLL_WAIT = 1, 10, 11, 22, 16
TIMER_ALLOC = 36


def engine(slot=0, backend=EPOLL, loops=1):
    return [CREATE_ENGINE, slot | (loops - 1) << 1 | backend << 2]


def socket(slot=0, engine_slot=0, kind=UNIX):
    return [CREATE_SOCKET, slot | engine_slot << 2 | kind << 3]


def open_(slot=0):
    return [OPEN, slot]


def send(slot, data, then=NOTHING, destroy=False, pieces=1):
    flags = then << 2 | (0x10 if destroy else 0)
    lengths = [len(data) // pieces] * (pieces - 1)
    lengths.append(len(data) - sum(lengths))
    return [SEND, slot, flags, 7, pieces - 1] + [n - 1 for n in lengths] + list(data)


def receive(slot, size=64, then=NOTHING, destroy=False, pieces=1, shape=7):
    flags = then << 2 | (0x10 if destroy else 0)
    return [RECEIVE, slot, flags, shape, pieces - 1] + [size - 1] * pieces


def invalid(op, slot, shape, size_byte=0, flags=0):
    """A send or receive that must be refused (shapes 0 to 4), with the bytes it reads."""
    buffers = 1 + size_byte % 4 if shape in (2, 3) else 1
    data = [0x41] * buffers if op == SEND and shape in (2, 3) else []
    return [op, slot, flags, shape, size_byte] + [0] * buffers + data


def timer(slot=0, engine_slot=0):
    return [CREATE_TIMER, slot | engine_slot << 2]


def start_timer(slot=0, delay=0, then=TIMER_NOTHING):
    return [START_TIMER, slot, delay % 8 | then << 4]


def timed_receive(slot, timeout, size=64, then=NOTHING):
    return [TIMED_RECEIVE, slot, then << 2, timeout, 7, 0, size - 1]


def peer_write(slot, data):
    return [PEER_WRITE, slot, len(data)] + list(data)


def wait(ms=9):
    return [WAIT, ms]


SEEDS = {
    "echo_epoll": engine(backend=EPOLL) + socket() + open_() + receive(0) + peer_write(0, b"hello") + wait()
    + send(0, b"world") + wait() + [DESTROY, 0],
    "echo_io_uring": engine(backend=IO_URING) + socket() + open_() + receive(0) + peer_write(0, b"hello") + wait()
    + send(0, b"world") + wait() + [DESTROY, 0],
    # The sends of 1,000+ tiny buffers come last: their length bytes run past the input's end.
    "two_loops_many_buffers": engine(backend=DEFAULT, loops=2) + socket(0) + socket(1) + open_(0) + open_(1)
    + receive(1, size=8, pieces=6) + peer_write(1, b"x" * 40) + wait() + [SEND, 0, 0, 5, 250],
    "close_with_pending": engine(backend=IO_URING) + socket() + open_() + [PEER_PAUSE, 1, 0] + receive(0)
    + [SEND, 0, 0, 0x87, 3, 255, 255, 255, 255] + [0x5A] * 256 + [SLEEP, 4] + [CLOSE, 0] + wait(),
    "callback_closes": engine(backend=EPOLL) + socket() + open_() + receive(0, then=CLOSE_NEXT) + receive(0)
    + send(0, b"pending") + peer_write(0, b"!") + wait(),
    "callback_destroys": engine(backend=IO_URING) + socket() + open_() + receive(0) + receive(0, destroy=True)
    + peer_write(0, b"bye") + wait() + peer_write(0, b"and more") + wait(),
    "tcp_reset": engine(backend=EPOLL) + socket(kind=TCP) + open_() + receive(0) + send(0, b"data" * 10)
    + [PEER_RESET, 0] + wait() + send(0, b"after"),
    "peer_shuts_down": engine(backend=IO_URING) + socket() + open_() + peer_write(0, b"last words")
    + [PEER_SHUTDOWN, 0] + receive(0, size=4) + receive(0) + receive(0) + wait() + send(0, b"still sending"),
    "invalid_arguments": engine(backend=EPOLL) + socket() + open_() + [OPEN, 0x40] + [OPEN, 0]
    + invalid(SEND, 0, 0, 9) + invalid(RECEIVE, 0, 1) + invalid(SEND, 0, 2, 3) + invalid(RECEIVE, 0, 3, 2)
    + invalid(SEND, 0, 4, 1) + invalid(RECEIVE, 0, 4, 0) + send(0, b"x")[:2] + [1, 7, 0, 0, ord("x")]
    + [NULL_ARGUMENTS] + socket(1, kind=DATAGRAM) + open_(1) + socket(2, kind=INVALID),
    "injected_failures": engine(backend=EPOLL) + socket() + open_() + [FAULT, SYS_RECVMSG, 0] + receive(0)
    + peer_write(0, b"abc") + wait() + receive(0) + wait() + [FAULT, OP_ALLOC, 1] + send(0, b"1") + send(0, b"2")
    + send(0, b"3") + wait() + [FAULT, SYS_SENDMSG, 0] + send(0, b"4") + send(0, b"5") + wait(),
    "engine_dropped_first": engine(backend=IO_URING) + socket() + open_() + [DROP_ENGINE, 0]
    + receive(0, destroy=True) + peer_write(0, b"z") + wait(),
    "busy_poll_chain": engine(backend=DEFAULT) + [BUSY_POLL, 0, 2] + socket() + open_()
    + receive(0, then=SEND_NEXT) + send(0, b"ping", then=RECEIVE_NEXT) + peer_write(0, b"pong" * 4) + wait()
    + [FAULT, URING_SUBMIT_AND_WAIT, 2] + peer_write(0, b"more") + wait(),
    "timers_restart_cancel": engine(backend=EPOLL) + timer(0) + timer(1) + start_timer(0, 3, TIMER_RESTART)
    + start_timer(1, 1, TIMER_CANCEL) + start_timer(0, 2) + [CANCEL_TIMER, 1] + wait() + start_timer(1, 0)
    + [SLEEP, 7] + [DESTROY_TIMER, 0],
    "timer_destroys_itself": engine(backend=IO_URING) + timer(0) + start_timer(0, 1, TIMER_DESTROY)
    + start_timer(0, 0) + [SLEEP, 7] + [DROP_ENGINE, 0] + timer(1) + [START_TIMER, 1, 0x08],
    "timed_receives": engine(backend=IO_URING) + socket() + open_() + timed_receive(0, 1) + timed_receive(0, 0)
    + timed_receive(0, 3, then=RECEIVE_NEXT) + [SLEEP, 7] + peer_write(0, b"late bytes") + wait()
    + [CANCEL_RECEIVES, 0] + timed_receive(0, 0) + peer_write(0, b"kept") + wait(),
    "cancel_racing_data": engine(backend=EPOLL, loops=2) + socket() + open_() + timed_receive(0, 0)
    + receive(0) + peer_write(0, b"race") + [CANCEL_RECEIVES, 0] + wait() + [FAULT, OP_ALLOC, 0]
    + [CANCEL_RECEIVES, 0] + [FAULT, TIMER_ALLOC, 0] + timer(2) + timer(2) + start_timer(2, 4) + [DESTROY_TIMER, 2],
}


def main():
    directory = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(directory, exist_ok=True)
    for name, program in SEEDS.items():
        with open(os.path.join(directory, name), "wb") as seed:
            seed.write(bytes(b & 0xFF for b in program))
    print(f"wrote {len(SEEDS)} seeds to {directory}")


if __name__ == "__main__":
    main()
