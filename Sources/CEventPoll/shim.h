#ifndef CEVENTPOLL_SHIM_H
#define CEVENTPOLL_SHIM_H
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>

/// Names the calling thread as `top -H` and `ps -T` show it (the kernel keeps 15 bytes).
static inline int pgio_name_this_thread(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}

// struct epoll_event is packed on x86_64; these wrappers keep it out of Swift.

static inline int pgio_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token) {
    struct epoll_event event;
    event.events = events;
    event.data.u64 = token;
    return epoll_ctl(epfd, op, fd, &event);
}

/// Waits like epoll_wait and copies each event's flags and token into two plain arrays.
static inline int pgio_epoll_wait(int epfd, uint32_t *flags, uint64_t *tokens, int capacity, int timeout_ms) {
    struct epoll_event events[64];
    if (capacity > 64) capacity = 64;
    int count = epoll_wait(epfd, events, capacity, timeout_ms);
    for (int i = 0; i < count; i++) {
        flags[i] = events[i].events;
        tokens[i] = events[i].data.u64;
    }
    return count;
}

static inline int pgio_errno(void) { return errno; }
#endif
