// glibc's allocator settings (mallopt), which Swift's Glibc module does not bring in.
#ifndef CMALLOCTUNING_H
#define CMALLOCTUNING_H

// Any C library header defines __GLIBC__ on glibc.
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

/// Has the allocator keep up to `trim_threshold` bytes of freed memory at the top of each arena
/// rather than return it to the system, and serve blocks below `mmap_threshold` bytes from its
/// arenas. Returns 1 when both settings took, 0 otherwise (and where there is no glibc).
static inline int cmalloctuning_keep_freed_memory(int trim_threshold, int mmap_threshold) {
#if defined(__GLIBC__)
    return mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1 && mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1;
#else
    (void)trim_threshold;
    (void)mmap_threshold;
    return 0;
#endif
}

#endif
