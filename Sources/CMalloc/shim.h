#ifndef RESOLVERD_CMALLOC_SHIM_H
#define RESOLVERD_CMALLOC_SHIM_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <link.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

/// Asks glibc's allocator to hand memory back to the system once `bytes` lie free at the top of a heap. Setting
/// the threshold by hand also ends glibc's habit of raising it and the mapping threshold as large blocks come
/// and go: blocks of 128 KiB or more keep mappings of their own, returned whole when freed. Returns 1 on
/// success, like mallopt.
static inline int resolverd_set_malloc_trim_threshold(size_t bytes) {
    return mallopt(M_TRIM_THRESHOLD, (int)bytes);
}

/// Pages out the executable segments of the first object dl_iterate_phdr reports, which is the program itself.
static inline int resolverd_page_out_program_code_callback(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    long *result = (long *)data;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (int index = 0; index < info->dlpi_phnum; index++) {
        const ElfW(Phdr) *header = &info->dlpi_phdr[index];
        if (header->p_type != PT_LOAD || !(header->p_flags & PF_X)) continue;
        uintptr_t start = (uintptr_t)(info->dlpi_addr + header->p_vaddr) & ~(page - 1);
        uintptr_t end = (uintptr_t)(info->dlpi_addr + header->p_vaddr + header->p_memsz);
        if (madvise((void *)start, end - start, MADV_PAGEOUT) != 0) {
            *result = -errno;
            return 1;
        }
        *result += (long)(end - start);
    }
    return 1;
}

/// Asks the kernel to page out the executable's code now (MADV_PAGEOUT, Linux 5.4 and later): pages the process
/// still runs come back on their next use, the others stay out. Returns the bytes advised, or -errno when the
/// kernel refused.
static inline long resolverd_page_out_program_code(void) {
    long result = 0;
    dl_iterate_phdr(resolverd_page_out_program_code_callback, &result);
    return result;
}

#endif
