#ifndef RESOLVERD_CMALLOC_SHIM_H
#define RESOLVERD_CMALLOC_SHIM_H
#include <malloc.h>
#include <stddef.h>

/// Asks glibc's allocator to hand memory back to the system once `bytes` lie free at the top of a heap. Setting
/// the threshold by hand also ends glibc's habit of raising it and the mapping threshold as large blocks come
/// and go: blocks of 128 KiB or more keep mappings of their own, returned whole when freed. Returns 1 on
/// success, like mallopt.
static inline int resolverd_set_malloc_trim_threshold(size_t bytes) {
    return mallopt(M_TRIM_THRESHOLD, (int)bytes);
}

#endif
