#ifndef RESOLVERD_CMALLOC_SHIM_H
#define RESOLVERD_CMALLOC_SHIM_H
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/auxv.h>
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

/// Asks the kernel to page out the executable's code now (MADV_PAGEOUT, Linux 5.4 and later): pages the process
/// still runs come back on their next use, the others stay out. The program's headers come from the auxiliary
/// vector; their own entry (PT_PHDR) gives the load address. Returns the bytes advised, or -errno when the kernel
/// refused (-ENOENT when the headers could not be found).
static inline long resolverd_page_out_program_code(void) {
    const ElfW(Phdr) *headers = (const ElfW(Phdr) *)getauxval(AT_PHDR);
    unsigned long count = getauxval(AT_PHNUM);
    if (headers == NULL || count == 0) return -ENOENT;
    uintptr_t bias = 0;
    int found = 0;
    for (unsigned long index = 0; index < count; index++) {
        if (headers[index].p_type == PT_PHDR) {
            bias = (uintptr_t)headers - (uintptr_t)headers[index].p_vaddr;
            found = 1;
        }
    }
    if (!found) return -ENOENT;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    long advised = 0;
    for (unsigned long index = 0; index < count; index++) {
        const ElfW(Phdr) *header = &headers[index];
        if (header->p_type != PT_LOAD || !(header->p_flags & PF_X)) continue;
        uintptr_t start = (bias + (uintptr_t)header->p_vaddr) & ~(page - 1);
        uintptr_t end = bias + (uintptr_t)header->p_vaddr + (uintptr_t)header->p_memsz;
        if (madvise((void *)start, end - start, MADV_PAGEOUT) != 0) return -errno;
        advised += (long)(end - start);
    }
    return advised;
}

#endif
