#include "cgf256.h"

#include <stdlib.h>
#include <string.h>

#ifdef __linux__
#include <sys/mman.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CGF256_X86 1
#endif

// ---------------------------------------------------------------------------------------------
// Field tables.

static uint8_t mul_table[256][256];     // mul_table[a][b] = a * b
static uint8_t nibble_low[256][16];     // nibble_low[c][x] = c * x
static uint8_t nibble_high[256][16];    // nibble_high[c][x] = c * (x << 4)
static int tables_ready;

static uint8_t slow_multiply(uint8_t a, uint8_t b) {
    unsigned product = 0, shifted = a;
    while (b) {
        if (b & 1) product ^= shifted;
        shifted <<= 1;
        if (shifted & 0x100) shifted ^= 0x11B;
        b >>= 1;
    }
    return (uint8_t)product;
}

static void build_tables(void) {
    if (__atomic_load_n(&tables_ready, __ATOMIC_ACQUIRE)) return;
    // Idempotent: racing builders write identical bytes.
    for (int a = 0; a < 256; a++)
        for (int b = 0; b < 256; b++) mul_table[a][b] = slow_multiply((uint8_t)a, (uint8_t)b);
    for (int c = 0; c < 256; c++)
        for (int x = 0; x < 16; x++) {
            nibble_low[c][x] = mul_table[c][x];
            nibble_high[c][x] = mul_table[c][x << 4];
        }
    __atomic_store_n(&tables_ready, 1, __ATOMIC_RELEASE);
}

// ---------------------------------------------------------------------------------------------
// Loop structure shared by the vector kernels.
//
// Blocks are taken in tiles of TILE_BLOCKS; within a tile, one vector-wide column slice of every
// block (TILE_BLOCKS * vector bytes, at most 32 KiB) stays in the first-level cache while up to
// GROUP queries at a time accumulate into registers. So each database line comes from memory
// once per pass however many queries there are, and each load serves up to GROUP queries.

#define MAX_GROUP 16
#define TILE_BLOCKS 512
#define STREAM_QUERIES 4
#define AVX512_MINIMUM_QUERIES 24
// Query counts the few-queries kernels take (one register group: see DEFINE_FEW_KERNEL).
#define FEW_QUERIES_256 8
#define FEW_QUERIES_512 16

// `out` points at column `begin` of query 0's answer (see cgf256_answer).
static void portable_columns(const uint8_t *db, size_t num_blocks, size_t block_size,
                             const uint8_t *transposed, size_t num_queries,
                             uint8_t *out, size_t out_stride, size_t begin, size_t end) {
    for (size_t j = 0; j < num_blocks; j++) {
        const uint8_t *source = db + j * block_size + begin;
        for (size_t q = 0; q < num_queries; q++) {
            uint8_t c = transposed[j * num_queries + q];
            if (!c) continue;
            const uint8_t *row = mul_table[c];
            uint8_t *destination = out + q * out_stride;
            for (size_t i = 0; i < end - begin; i++) destination[i] ^= row[source[i]];
        }
    }
}

#ifdef CGF256_X86

typedef void (*columns_kernel)(const uint8_t *, size_t, size_t, const uint8_t *, size_t, uint8_t *, size_t, size_t, size_t);

// The columns past the last whole vector of each block (a bucket's size is rarely a multiple of
// the vector width). Copied, zero-padded to one vector per block, they go through the same vector
// kernel; only if that copy cannot be allocated do they take the byte-at-a-time table kernel,
// which on small buckets (a combined-mode database's are a few hundred bytes) would otherwise
// cost as much as all the whole vectors together.
static void tail_columns(const uint8_t *db, size_t num_blocks, size_t block_size, const uint8_t *transposed,
                         size_t num_queries, uint8_t *out, size_t out_stride, size_t begin, size_t end,
                         size_t width, columns_kernel kernel) {
    size_t tail = end - begin;
    uint8_t *padded = calloc(num_blocks * width + num_queries * width, 1);
    if (!padded) {
        portable_columns(db, num_blocks, block_size, transposed, num_queries, out, out_stride, begin, end);
        return;
    }
    uint8_t *answers = padded + num_blocks * width;
    for (size_t j = 0; j < num_blocks; j++) memcpy(padded + j * width, db + j * block_size + begin, tail);
    kernel(padded, num_blocks, width, transposed, num_queries, answers, width, 0, width);
    for (size_t q = 0; q < num_queries; q++)
        for (size_t i = 0; i < tail; i++) out[q * out_stride + i] ^= answers[q * width + i];
    free(padded);
}

// The end of every vector kernel: the columns past its last whole vector, through tail_columns.
#define VECTOR_TAIL(NAME, WIDTH)                                                                         \
    if (vector_end < end)                                                                                \
        tail_columns(db, num_blocks, block_size, transposed, num_queries, out + (vector_end - begin),    \
                     out_stride, vector_end, end, WIDTH, NAME);

// One vector kernel per instruction set, from one template: VEC is the vector type, WIDTH its
// bytes, PREPARE derives per-load values from the source vector, MUL multiplies it by constant c.
//
// With few queries the accumulators (queries x columns) fit the caches, so the database is read
// front to back, block by block (STREAM). With more, each vector-wide column slice of a tile of
// blocks is combined into GROUP register accumulators at a time (TILED): 8 with 16 vector
// registers (more spill: 12 measured at half the speed), 16 with AVX-512's 32. Each load serves
// up to GROUP queries.
#define DEFINE_KERNEL(NAME, TARGET, VEC, WIDTH, GROUP, LOAD, STORE, XOR, ZERO, PREPARE, MUL)               \
    __attribute__((target(TARGET))) static void NAME(const uint8_t *db, size_t num_blocks, size_t block_size, \
                                                     const uint8_t *transposed, size_t num_queries,          \
                                                     uint8_t *out, size_t out_stride, size_t begin, size_t end) { \
        size_t vector_end = begin + (end - begin) / WIDTH * WIDTH;                                           \
        if (num_queries < STREAM_QUERIES) {                                                                  \
            for (size_t j = 0; j < num_blocks; j++) {                                                        \
                const uint8_t *row = db + j * block_size;                                                    \
                for (size_t q = 0; q < num_queries; q++) {                                                   \
                    uint8_t c0 = transposed[j * num_queries + q];                                            \
                    if (!c0) continue;                                                                       \
                    const uint8_t *c = &c0;                                                                  \
                    uint8_t *destination = out + q * out_stride - begin;                                     \
                    for (size_t column = begin; column < vector_end; column += WIDTH) {                      \
                        VEC source = LOAD(row + column);                                                     \
                        PREPARE                                                                              \
                        STORE(destination + column, XOR(LOAD(destination + column), MUL(c[0])));             \
                    }                                                                                        \
                }                                                                                            \
            }                                                                                                \
        } else {                                                                                             \
            for (size_t tile = 0; tile < num_blocks; tile += TILE_BLOCKS) {                                  \
                size_t tile_end = tile + TILE_BLOCKS < num_blocks ? tile + TILE_BLOCKS : num_blocks;         \
                for (size_t column = begin; column < vector_end; column += WIDTH) {                          \
                    for (size_t q0 = 0; q0 < num_queries; q0 += GROUP) {                                     \
                        size_t group = num_queries - q0 < GROUP ? num_queries - q0 : GROUP;                  \
                        VEC acc[MAX_GROUP];                                                                   \
                        for (size_t g = 0; g < GROUP; g++) acc[g] = ZERO;                                    \
                        for (size_t j = tile; j < tile_end; j++) {                                           \
                            VEC source = LOAD(db + j * block_size + column);                                 \
                            PREPARE                                                                          \
                            const uint8_t *c = transposed + j * num_queries + q0;                           \
                            switch (group) {                                                                 \
                            case 16: acc[15] = XOR(acc[15], MUL(c[15])); /* fallthrough */                   \
                            case 15: acc[14] = XOR(acc[14], MUL(c[14])); /* fallthrough */                   \
                            case 14: acc[13] = XOR(acc[13], MUL(c[13])); /* fallthrough */                   \
                            case 13: acc[12] = XOR(acc[12], MUL(c[12])); /* fallthrough */                   \
                            case 12: acc[11] = XOR(acc[11], MUL(c[11])); /* fallthrough */                   \
                            case 11: acc[10] = XOR(acc[10], MUL(c[10])); /* fallthrough */                   \
                            case 10: acc[9] = XOR(acc[9], MUL(c[9])); /* fallthrough */                      \
                            case 9: acc[8] = XOR(acc[8], MUL(c[8])); /* fallthrough */                       \
                            case 8: acc[7] = XOR(acc[7], MUL(c[7])); /* fallthrough */                       \
                            case 7: acc[6] = XOR(acc[6], MUL(c[6])); /* fallthrough */                       \
                            case 6: acc[5] = XOR(acc[5], MUL(c[5])); /* fallthrough */                       \
                            case 5: acc[4] = XOR(acc[4], MUL(c[4])); /* fallthrough */                       \
                            case 4: acc[3] = XOR(acc[3], MUL(c[3])); /* fallthrough */                       \
                            case 3: acc[2] = XOR(acc[2], MUL(c[2])); /* fallthrough */                       \
                            case 2: acc[1] = XOR(acc[1], MUL(c[1])); /* fallthrough */                       \
                            default: acc[0] = XOR(acc[0], MUL(c[0]));                                        \
                            }                                                                                \
                        }                                                                                    \
                        for (size_t g = 0; g < group; g++) {                                                 \
                            uint8_t *destination = out + (q0 + g) * out_stride + (column - begin);           \
                            STORE(destination, XOR(LOAD(destination), acc[g]));                              \
                        }                                                                                    \
                    }                                                                                        \
                }                                                                                            \
            }                                                                                                \
        }                                                                                                    \
        VECTOR_TAIL(NAME, WIDTH)                                                                             \
    }

#define LOAD128(p) _mm_loadu_si128((const __m128i *)(p))
#define STORE128(p, v) _mm_storeu_si128((__m128i *)(p), v)
#define LOAD256(p) _mm256_loadu_si256((const __m256i *)(p))
#define STORE256(p, v) _mm256_storeu_si256((__m256i *)(p), v)
#define LOAD512(p) _mm512_loadu_si512((const void *)(p))
#define STORE512(p, v) _mm512_storeu_si512((void *)(p), v)

// Nibble tables: c * b = low[c][b & 15] ^ high[c][b >> 4].
#define PREPARE_NIBBLES_128                                                                    \
    __m128i low_nibbles = _mm_and_si128(source, _mm_set1_epi8(0x0F));                          \
    __m128i high_nibbles = _mm_and_si128(_mm_srli_epi16(source, 4), _mm_set1_epi8(0x0F));
#define MUL_NIBBLES_128(c)                                                                     \
    _mm_xor_si128(_mm_shuffle_epi8(LOAD128(nibble_low[c]), low_nibbles),                      \
                  _mm_shuffle_epi8(LOAD128(nibble_high[c]), high_nibbles))

#define PREPARE_NIBBLES_256                                                                    \
    __m256i low_nibbles = _mm256_and_si256(source, _mm256_set1_epi8(0x0F));                    \
    __m256i high_nibbles = _mm256_and_si256(_mm256_srli_epi16(source, 4), _mm256_set1_epi8(0x0F));
#define MUL_NIBBLES_256(c)                                                                               \
    _mm256_xor_si256(_mm256_shuffle_epi8(_mm256_broadcastsi128_si256(LOAD128(nibble_low[c])), low_nibbles), \
                     _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(LOAD128(nibble_high[c])), high_nibbles))

// gf2p8mulb multiplies bytes modulo x^8 + x^4 + x^3 + x + 1: DP5's field exactly.
#define PREPARE_NOTHING
#define MUL_GFNI_256(c) _mm256_gf2p8mul_epi8(source, _mm256_set1_epi8((char)(c)))
#define MUL_GFNI_512(c) _mm512_gf2p8mul_epi8(source, _mm512_set1_epi8((char)(c)))

DEFINE_KERNEL(ssse3_columns, "ssse3", __m128i, 16, 8, LOAD128, STORE128, _mm_xor_si128, _mm_setzero_si128(),
              PREPARE_NIBBLES_128, MUL_NIBBLES_128)
DEFINE_KERNEL(avx2_columns, "avx2", __m256i, 32, 8, LOAD256, STORE256, _mm256_xor_si256, _mm256_setzero_si256(),
              PREPARE_NIBBLES_256, MUL_NIBBLES_256)
DEFINE_KERNEL(gfni_avx2_columns, "avx2,gfni", __m256i, 32, 8, LOAD256, STORE256, _mm256_xor_si256, _mm256_setzero_si256(),
              PREPARE_NOTHING, MUL_GFNI_256)
DEFINE_KERNEL(gfni_avx512_columns, "avx512f,avx512bw,gfni", __m512i, 64, 16, LOAD512, STORE512, _mm512_xor_si512,
              _mm512_setzero_si512(), PREPARE_NOTHING, MUL_GFNI_512)

// Few queries (at most one register group of them): the database is streamed front to back,
// FEW_ROWS blocks side by side. For each vector-wide column the queries' accumulators take that
// column of all FEW_ROWS blocks before they are written back, so the answers' loads and stores
// are shared by FEW_ROWS source vectors; the factors (each coefficient broadcast to a vector) are
// made once per tile of blocks, and the multiplies take them straight from the first-level cache.
// Each of the FEW_ROWS streams runs sequentially through its block, which the hardware
// prefetchers follow; a software prefetch PREFETCH_AHEAD bytes ahead carries each stream over
// the 4 KiB page boundaries where those prefetchers stop.
// Measured on the 2-core AMD EPYC (Zen 4) this project runs on, 256 MiB database, both cores:
// 8 rows and 1 KiB ahead were among the fastest at 1 and 8 queries (4 and 16 rows, 0 to 2 KiB
// ahead, within the machine's noise at 1 query; 8 queries up to a third slower).
//
// Up to SINGLE_STREAM_QUERIES queries the answers fit the first-level cache, and the database is
// read as one stream, block after block (the blocks are contiguous), with a non-temporal
// prefetch SINGLE_STREAM_AHEAD bytes ahead: what a plain read of the memory does. Both cores
// streaming eight blocks side by side each (16 streams) read 0.91-0.94x as fast as a plain
// read in the same run at one query; one stream each read 0.97-1.00x (pairs of passes measured
// back to back, 40 pairs, three runs). With more queries the answers' loads and stores through
// the caches cost more than the extra streams, and the side-by-side tiles stay.
#define FEW_ROWS 8
#define PREFETCH_AHEAD 1024
#define SINGLE_STREAM_QUERIES 2
#define SINGLE_STREAM_AHEAD 4096

// The switch cases for query counts FIRST + 1 to FIRST + 4, then for 1 to 8 and 1 to 16.
#define FEW_CASES_4(FIRST, TILE, ROWS, ...)                                                              \
    case (FIRST) + 1: TILE(__VA_ARGS__, ROWS, (FIRST) + 1, PREFETCH_AHEAD, 0); break;                    \
    case (FIRST) + 2: TILE(__VA_ARGS__, ROWS, (FIRST) + 2, PREFETCH_AHEAD, 0); break;                    \
    case (FIRST) + 3: TILE(__VA_ARGS__, ROWS, (FIRST) + 3, PREFETCH_AHEAD, 0); break;                    \
    case (FIRST) + 4: TILE(__VA_ARGS__, ROWS, (FIRST) + 4, PREFETCH_AHEAD, 0); break;
#define FEW_CASES_8(TILE, ROWS, ...) FEW_CASES_4(0, TILE, ROWS, __VA_ARGS__) FEW_CASES_4(4, TILE, ROWS, __VA_ARGS__)
#define FEW_CASES_16(TILE, ROWS, ...)                                                                    \
    FEW_CASES_8(TILE, ROWS, __VA_ARGS__) FEW_CASES_4(8, TILE, ROWS, __VA_ARGS__) FEW_CASES_4(12, TILE, ROWS, __VA_ARGS__)

// TILE is inlined with constant ROWS and QUERIES, so its loops unroll and the accumulators stay
// in registers. Called only with num_queries <= GROUP.
#define DEFINE_FEW_KERNEL(NAME, TARGET, VEC, WIDTH, GROUP, CASES, LOAD, STORE, XOR, SET1, MULV)                  \
    __attribute__((target(TARGET), always_inline)) static inline void NAME##_tile(                               \
        const uint8_t *base, size_t block_size, const VEC *factors, uint8_t *out, size_t out_stride,            \
        size_t begin, size_t vector_end, size_t ROWS, size_t QUERIES, size_t AHEAD, int NON_TEMPORAL) {         \
        for (size_t column = begin; column < vector_end; column += WIDTH) {                                     \
            VEC acc[GROUP];                                                                                     \
            uint8_t *destination = out + (column - begin);                                                      \
            for (size_t g = 0; g < QUERIES; g++) acc[g] = LOAD(destination + g * out_stride);                   \
            for (size_t r = 0; r < ROWS; r++) {                                                                 \
                const uint8_t *source_bytes = base + r * block_size + column;                                   \
                if (NON_TEMPORAL)                                                                               \
                    _mm_prefetch((const char *)(source_bytes + AHEAD), _MM_HINT_NTA);                           \
                else                                                                                            \
                    _mm_prefetch((const char *)(source_bytes + AHEAD), _MM_HINT_T0);                            \
                VEC source = LOAD(source_bytes);                                                                \
                for (size_t g = 0; g < QUERIES; g++) acc[g] = XOR(acc[g], MULV(source, factors[r * GROUP + g])); \
            }                                                                                                   \
            for (size_t g = 0; g < QUERIES; g++) STORE(destination + g * out_stride, acc[g]);                   \
        }                                                                                                       \
    }                                                                                                           \
    __attribute__((target(TARGET))) static void NAME(const uint8_t *db, size_t num_blocks, size_t block_size,   \
                                                     const uint8_t *transposed, size_t num_queries,            \
                                                     uint8_t *out, size_t out_stride, size_t begin, size_t end) { \
        size_t vector_end = begin + (end - begin) / WIDTH * WIDTH;                                             \
        VEC factors[FEW_ROWS * GROUP];                                                                          \
        if (num_queries <= SINGLE_STREAM_QUERIES) {                                                             \
            for (size_t j = 0; j < num_blocks; j++) {                                                           \
                for (size_t g = 0; g < num_queries; g++) factors[g] = SET1((char)transposed[j * num_queries + g]); \
                const uint8_t *row = db + j * block_size;                                                       \
                if (num_queries == 1)                                                                           \
                    NAME##_tile(row, block_size, factors, out, out_stride, begin, vector_end, 1, 1,             \
                                SINGLE_STREAM_AHEAD, 1);                                                        \
                else                                                                                            \
                    NAME##_tile(row, block_size, factors, out, out_stride, begin, vector_end, 1, 2,             \
                                SINGLE_STREAM_AHEAD, 1);                                                        \
            }                                                                                                   \
            VECTOR_TAIL(NAME, WIDTH)                                                                            \
            return;                                                                                             \
        }                                                                                                       \
        for (size_t tile = 0; tile < num_blocks; tile += FEW_ROWS) {                                            \
            size_t rows = num_blocks - tile < FEW_ROWS ? num_blocks - tile : FEW_ROWS;                          \
            for (size_t r = 0; r < rows; r++)                                                                   \
                for (size_t g = 0; g < num_queries; g++)                                                        \
                    factors[r * GROUP + g] = SET1((char)transposed[(tile + r) * num_queries + g]);              \
            const uint8_t *base = db + tile * block_size;                                                       \
            if (rows == FEW_ROWS) {                                                                             \
                switch (num_queries) {                                                                          \
                    CASES(NAME##_tile, FEW_ROWS, base, block_size, factors, out, out_stride, begin, vector_end)  \
                }                                                                                               \
            } else {                                                                                            \
                for (size_t r = 0; r < rows; r++) {                                                             \
                    switch (num_queries) {                                                                      \
                        CASES(NAME##_tile, 1, base + r * block_size, block_size, factors + r * GROUP, out,       \
                              out_stride, begin, vector_end)                                                    \
                    }                                                                                           \
                }                                                                                               \
            }                                                                                                   \
        }                                                                                                       \
        VECTOR_TAIL(NAME, WIDTH)                                                                                \
    }

#define MULV_GFNI_256(source, factor) _mm256_gf2p8mul_epi8(source, factor)
#define MULV_GFNI_512(source, factor) _mm512_gf2p8mul_epi8(source, factor)

DEFINE_FEW_KERNEL(gfni_avx2_few, "avx2,gfni", __m256i, 32, 8, FEW_CASES_8, LOAD256, STORE256, _mm256_xor_si256,
                  _mm256_set1_epi8, MULV_GFNI_256)
DEFINE_FEW_KERNEL(gfni_avx512_few, "avx512f,avx512bw,gfni", __m512i, 64, 16, FEW_CASES_16, LOAD512, STORE512,
                  _mm512_xor_si512, _mm512_set1_epi8, MULV_GFNI_512)

#endif

// ---------------------------------------------------------------------------------------------
// Dispatch.

int cgf256_kernel_available(cgf256_kernel kernel) {
    switch (kernel) {
    case CGF256_PORTABLE: return 1;
#ifdef CGF256_X86
    case CGF256_SSSE3: return __builtin_cpu_supports("ssse3");
    case CGF256_AVX2: return __builtin_cpu_supports("avx2");
    case CGF256_GFNI_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("gfni");
    case CGF256_GFNI_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("gfni");
#endif
    default: return 0;
    }
}

cgf256_kernel cgf256_best_kernel(void) {
    for (int kernel = CGF256_KERNEL_COUNT - 1; kernel > CGF256_PORTABLE; kernel--)
        if (cgf256_kernel_available((cgf256_kernel)kernel)) return (cgf256_kernel)kernel;
    return CGF256_PORTABLE;
}

const char *cgf256_kernel_name(cgf256_kernel kernel) {
    static const char *names[CGF256_KERNEL_COUNT] = {"portable", "ssse3", "avx2", "gfni-avx2", "gfni-avx512"};
    return (unsigned)kernel < CGF256_KERNEL_COUNT ? names[kernel] : "unknown";
}

// Whether `kernel` streams the blocks for `num_queries` queries (the portable kernel, the vector
// kernels' STREAM path, the few-queries kernels) rather than tiling them. cgf256_answer
// dispatches on it and cgf256_tile_blocks reports it, so the two cannot disagree.
static int streams_blocks(cgf256_kernel kernel, size_t num_queries) {
    switch (kernel) {
    case CGF256_SSSE3:
    case CGF256_AVX2: return num_queries < STREAM_QUERIES;
    case CGF256_GFNI_AVX2: return num_queries <= FEW_QUERIES_256;
    case CGF256_GFNI_AVX512: return num_queries <= FEW_QUERIES_512;
    default: return 1;
    }
}

size_t cgf256_tile_blocks(cgf256_kernel kernel, size_t num_queries) {
    return streams_blocks(kernel, num_queries) ? 0 : TILE_BLOCKS;
}

int cgf256_answer(cgf256_kernel kernel,
                  const uint8_t *db, size_t num_blocks, size_t block_size,
                  const uint8_t *coefficients, size_t num_queries,
                  uint8_t *out, size_t out_stride, size_t column_begin, size_t column_end,
                  uint8_t *scratch) {
    if (!cgf256_kernel_available(kernel)) return -1;
    if (column_end > block_size) column_end = block_size;
    if (num_blocks == 0 || num_queries == 0 || column_begin >= column_end) return 0;
    build_tables();
    for (size_t q = 0; q < num_queries; q++)
        for (size_t j = 0; j < num_blocks; j++) scratch[j * num_queries + q] = coefficients[q * num_blocks + j];
    switch (kernel) {
#ifdef CGF256_X86
    case CGF256_SSSE3:
        ssse3_columns(db, num_blocks, block_size, scratch, num_queries, out, out_stride, column_begin, column_end);
        break;
    case CGF256_AVX2:
        avx2_columns(db, num_blocks, block_size, scratch, num_queries, out, out_stride, column_begin, column_end);
        break;
    case CGF256_GFNI_AVX2:
        if (streams_blocks(kernel, num_queries)) {
            gfni_avx2_few(db, num_blocks, block_size, scratch, num_queries, out, out_stride, column_begin, column_end);
            break;
        }
        gfni_avx2_columns(db, num_blocks, block_size, scratch, num_queries, out, out_stride, column_begin, column_end);
        break;
    case CGF256_GFNI_AVX512:
        // Up to a register group of queries (what concurrent single-query lookups coalesce into)
        // the database streams through the few-queries kernel: at 8 queries it measured 5x
        // faster than the tiled kernels, whose tile walks 512 blocks a column at a time.
        if (streams_blocks(kernel, num_queries)) {
            gfni_avx512_few(db, num_blocks, block_size, scratch, num_queries, out, out_stride, column_begin, column_end);
            break;
        }
        // Below about 24 queries the 256-bit tiled form measured faster (AMD Zen 4, `dp5-bench`):
        // such passes are bound by memory, not by multiplies, and 512-bit loads gain nothing there.
        if (num_queries < AVX512_MINIMUM_QUERIES && cgf256_kernel_available(CGF256_GFNI_AVX2)) {
            gfni_avx2_columns(db, num_blocks, block_size, scratch, num_queries, out, out_stride, column_begin, column_end);
            break;
        }
        gfni_avx512_columns(db, num_blocks, block_size, scratch, num_queries, out, out_stride, column_begin, column_end);
        break;
#endif
    default:
        portable_columns(db, num_blocks, block_size, scratch, num_queries, out, out_stride, column_begin, column_end);
    }
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Database memory.

#define HUGE_PAGE ((size_t)2 << 20)

static size_t whole_huge_pages(size_t bytes) { return (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE; }

void *cgf256_database_alloc(size_t bytes) {
    if (bytes == 0) bytes = 1;
#ifdef __linux__
    // Over-map by one huge page and trim both ends, so the kept range starts on a 2 MiB boundary
    // (a huge page can only back an aligned 2 MiB range).
    size_t length = whole_huge_pages(bytes), mapped = length + HUGE_PAGE;
    void *raw = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    uintptr_t start = ((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    size_t head = start - (uintptr_t)raw, tail = mapped - head - length;
    if (head) munmap(raw, head);
    if (tail) munmap((void *)(start + length), tail);
    // Advice only: where transparent huge pages are off ("never") the memory stays in 4 KiB pages.
    (void)madvise((void *)start, length, MADV_HUGEPAGE);
    return (void *)start;
#else
    void *pointer = NULL;
    if (posix_memalign(&pointer, 4096, bytes) != 0) return NULL;
    memset(pointer, 0, bytes);
    return pointer;
#endif
}

void cgf256_database_free(void *pointer, size_t bytes) {
    if (!pointer) return;
    if (bytes == 0) bytes = 1;
#ifdef __linux__
    munmap(pointer, whole_huge_pages(bytes));
#else
    free(pointer);
#endif
}
