/* The fault points of the fault-injection seam: the one list (an X-macro). Every allocation
   and (through src/linux/detail/sys.h) every system call of the library asks the seam about
   its point first; fault.h makes the C++ enum FaultPoint and the default errors from this
   list, fault_control.h the numbers a test uses (ASOCK_FAULT_POINT_...), fault.cpp the names.
   A new point is one line here, at the end (tests and logs number the points in this order).

   ASOCK_FAULT_POINT(NAME, name, default_errno): NAME after ASOCK_FAULT_POINT_ in C, name in
   C++ (FaultPoint::name) and in messages ("sys_sendmsg"), and the error a failing system
   call at the point reports unless a test chooses another (asock_fault_set_errno). The
   defaults are errors the call really reports, picked so that the caller's own handling of
   the failure runs. A failing allocation has no errno: ENOMEM is only its placeholder.

   No include guard: the includer defines ASOCK_FAULT_POINT, includes this file, and undefines
   the macro again. C and C++ include it (an errno name is never expanded by the C side). */

/* Allocations. */
ASOCK_FAULT_POINT(SOCKET_ALLOC, socket_alloc, ENOMEM)
ASOCK_FAULT_POINT(OP_ALLOC, op_alloc, ENOMEM)               /* any operation (or C++ handler), before the cache is asked */
ASOCK_FAULT_POINT(THREAD_START, thread_start, ENOMEM)       /* a loop's thread */
ASOCK_FAULT_POINT(OP_BLOCK_ALLOC, op_block_alloc, ENOMEM)   /* operation memory from the heap: the thread's cache and the depot are empty */
ASOCK_FAULT_POINT(OP_IOV_ALLOC, op_iov_alloc, ENOMEM)       /* the buffer array of an operation with more than kInlineBuffers buffers */
ASOCK_FAULT_POINT(ENGINE_ALLOC, engine_alloc, ENOMEM)       /* the engine object */
ASOCK_FAULT_POINT(LOOP_ALLOC, loop_alloc, ENOMEM)           /* the loops and the engine's array of them */
ASOCK_FAULT_POINT(BACKEND_ALLOC, backend_alloc, ENOMEM)     /* a loop's backend object */
ASOCK_FAULT_POINT(STASH_ALLOC, stash_alloc, ENOMEM)         /* io_uring: room to keep completions reaped during a close for later */

/* System calls. */
/* close: EIO after closing for real: Linux releases the descriptor whatever close returns,
   and a caller must never retry it. */
ASOCK_FAULT_POINT(SYS_CLOSE, sys_close, EIO)
/* sendmsg, or send for one buffer (epoll): the send fails (ASYNC_SOCKET_SEND_ERROR) and so
   do later ones. */
ASOCK_FAULT_POINT(SYS_SENDMSG, sys_sendmsg, ENOBUFS)
/* recvmsg, or recv for one buffer (epoll): the receive fails (ASYNC_SOCKET_RECEIVE_ERROR),
   later ones work. */
ASOCK_FAULT_POINT(SYS_RECVMSG, sys_recvmsg, ENOMEM)
ASOCK_FAULT_POINT(SYS_GETSOCKOPT, sys_getsockopt, ENOTSOCK)  /* open's check of the handle's type fails */
ASOCK_FAULT_POINT(SYS_SHUTDOWN, sys_shutdown, ENOTCONN)      /* after shutting down for real (the peer left in between) */
ASOCK_FAULT_POINT(SYS_EPOLL_CREATE, sys_epoll_create, EMFILE)  /* epoll_create1: out of descriptors */
/* epoll_ctl: no kernel memory for the registration (ENOSPC would be max_user_watches). */
ASOCK_FAULT_POINT(SYS_EPOLL_CTL, sys_epoll_ctl, ENOMEM)
ASOCK_FAULT_POINT(SYS_EPOLL_WAIT, sys_epoll_wait, EINTR)       /* a signal: the caller waits again */
ASOCK_FAULT_POINT(SYS_EVENTFD, sys_eventfd, EMFILE)
ASOCK_FAULT_POINT(SYS_EVENTFD_READ, sys_eventfd_read, EAGAIN)  /* nothing to drain (someone drained it first) */
/* eventfd write: EAGAIN after writing for real: only a saturated counter fails a write, and
   a saturated counter is a wake-up already pending. */
ASOCK_FAULT_POINT(SYS_EVENTFD_WRITE, sys_eventfd_write, EAGAIN)
/* io_uring_queue_init_params: locked-memory limit or no kernel memory. */
ASOCK_FAULT_POINT(URING_SETUP, uring_setup, ENOMEM)
/* io_uring_submit: no memory for the requests: they stay queued in the ring. */
ASOCK_FAULT_POINT(URING_SUBMIT, uring_submit, EAGAIN)
ASOCK_FAULT_POINT(URING_SUBMIT_AND_WAIT, uring_submit_and_wait, EINTR)  /* io_uring_submit_and_wait: a signal during the wait */
/* io_uring_get_events, io_uring_submit_and_get_events: completions overflowed and could not
   all be flushed yet. */
ASOCK_FAULT_POINT(URING_GET_EVENTS, uring_get_events, EBUSY)
ASOCK_FAULT_POINT(URING_WAIT_CQE, uring_wait_cqe, EINTR)        /* io_uring_wait_cqe: a signal: the caller waits again */
ASOCK_FAULT_POINT(URING_SYNC_CANCEL, uring_sync_cancel, EINTR)  /* io_uring_register_sync_cancel: a signal: the caller asks again */
ASOCK_FAULT_POINT(URING_ENABLE_RINGS, uring_enable_rings, EINTR)  /* IORING_REGISTER_ENABLE_RINGS: a signal: the caller asks again */

/* Listeners and connects (async_socket_listener.h). */
ASOCK_FAULT_POINT(LISTENER_ALLOC, listener_alloc, ENOMEM)  /* a listener object */
ASOCK_FAULT_POINT(CONNECT_ALLOC, connect_alloc, ENOMEM)    /* the socket a connect makes */
ASOCK_FAULT_POINT(SYS_SOCKET, sys_socket, EMFILE)          /* out of descriptors */
ASOCK_FAULT_POINT(SYS_SETSOCKOPT, sys_setsockopt, ENOBUFS)
ASOCK_FAULT_POINT(SYS_BIND, sys_bind, EADDRINUSE)          /* another socket has the port */
ASOCK_FAULT_POINT(SYS_LISTEN, sys_listen, EADDRINUSE)
ASOCK_FAULT_POINT(SYS_GETSOCKNAME, sys_getsockname, ENOBUFS)
/* accept4 (epoll): the accept completes with ERROR; the listener stays usable. */
ASOCK_FAULT_POINT(SYS_ACCEPT, sys_accept, EMFILE)
/* connect (epoll): no route: the connect completes with UNREACHABLE. */
ASOCK_FAULT_POINT(SYS_CONNECT, sys_connect, ENETUNREACH)
/* Timers and cancellations (async_timer.h, async_cancellation.h). */
ASOCK_FAULT_POINT(TIMER_ALLOC, timer_alloc, ENOMEM)                /* a timer object */
ASOCK_FAULT_POINT(CANCELLATION_ALLOC, cancellation_alloc, ENOMEM)  /* a cancellation object */
/* Name resolution and connect by name (async_resolve.h). */
ASOCK_FAULT_POINT(RESOLVE_ALLOC, resolve_alloc, ENOMEM)                  /* a lookup */
/* A lookup's addresses (on a helper thread): the lookup completes ERROR (ENOMEM). */
ASOCK_FAULT_POINT(RESOLVE_ANSWER_ALLOC, resolve_answer_alloc, ENOMEM)
/* A helper thread of the resolver: the lookup fails at its start when no helper is left. */
ASOCK_FAULT_POINT(RESOLVER_THREAD_START, resolver_thread_start, EAGAIN)
/* getaddrinfo: a temporary failure of the name servers (EAI_AGAIN): ERROR, error EAGAIN. */
ASOCK_FAULT_POINT(SYS_GETADDRINFO, sys_getaddrinfo, EAGAIN)
ASOCK_FAULT_POINT(CONNECT_BY_NAME_ALLOC, connect_by_name_alloc, ENOMEM)  /* a connect by name */
