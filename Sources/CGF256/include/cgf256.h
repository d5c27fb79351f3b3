// GF(2^8) multiply-accumulate kernels for DP5's IT-PIR (polynomial 0x11B).
//
// The one operation: for queries q < num_queries and columns c in [column_begin, column_end),
//     out[q * out_stride + (c - column_begin)] ^= XOR over j < num_blocks of
//                                                 coefficients[q * num_blocks + j] * db[j * block_size + c]
// i.e. every query's answer is the database's blocks combined with that query's coefficients.
// Callers split a pass between threads by blocks (each thread adding into an output of its own)
// and by columns (DP5Core's PIREngine: whole tiles, see cgf256_tile_blocks, and the last tiles
// cut into column strips); for one whole answer pass out = answer, out_stride = block_size,
// columns [0, block_size).
#ifndef CGF256_H
#define CGF256_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Kernels, slowest first. Every kernel gives exactly the portable kernel's results.
typedef enum {
    CGF256_PORTABLE = 0,     // 256 x 256 product table, one byte at a time (the original's method)
    CGF256_SSSE3 = 1,        // 16-byte nibble-table shuffles (pshufb)
    CGF256_AVX2 = 2,         // 32-byte nibble-table shuffles (vpshufb)
    CGF256_GFNI_AVX2 = 3,    // 32-byte gf2p8mulb
    CGF256_GFNI_AVX512 = 4,  // 64-byte gf2p8mulb
    CGF256_KERNEL_COUNT = 5
} cgf256_kernel;

/// Whether this CPU (and operating system) can run `kernel`.
int cgf256_kernel_available(cgf256_kernel kernel);

/// The fastest kernel this CPU can run.
cgf256_kernel cgf256_best_kernel(void);

/// A short name for `kernel`, e.g. "gfni-avx512".
const char *cgf256_kernel_name(cgf256_kernel kernel);

/// The operation above. `scratch` must hold num_blocks * num_queries bytes (the coefficients,
/// transposed so one block's coefficients for every query sit together). Returns 0, or -1 if
/// `kernel` is not available here.
int cgf256_answer(cgf256_kernel kernel,
                  const uint8_t *db, size_t num_blocks, size_t block_size,
                  const uint8_t *coefficients, size_t num_queries,
                  uint8_t *out, size_t out_stride, size_t column_begin, size_t column_end,
                  uint8_t *scratch);

/// How many blocks the kernel `cgf256_answer` picks for `num_queries` queries combines before it
/// adds them into the answers (so it reads and writes every answer row once per tile), or 0 if it
/// streams the blocks through answers it keeps in the caches. A pass cut into pieces of whole
/// tiles therefore moves no more answer bytes than one uncut pass; smaller pieces each move them
/// again.
size_t cgf256_tile_blocks(cgf256_kernel kernel, size_t num_queries);

/// `bytes` zeroed bytes for a database that passes stream through, aligned to 2 MiB and, on
/// Linux, advised onto transparent huge pages (`madvise(MADV_HUGEPAGE)`): a pass over 256 MiB
/// then walks 128 pages instead of 65,536. NULL if the memory cannot be had. Free it with
/// `cgf256_database_free(pointer, bytes)`.
void *cgf256_database_alloc(size_t bytes);

/// Frees what `cgf256_database_alloc(bytes)` returned.
void cgf256_database_free(void *pointer, size_t bytes);

#ifdef __cplusplus
}
#endif

#endif
