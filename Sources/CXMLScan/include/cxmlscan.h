// Byte scanning for PsEPR's XML reader: where character data stops being plain.
//
// Header-only and inline, so Swift callers get the loop inlined. SSE2 is part of every x86-64
// CPU; elsewhere the same answer comes a byte at a time.
#ifndef CXMLSCAN_H
#define CXMLSCAN_H

#include <stddef.h>
#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/// The offset of the first of the `count` bytes at `bytes` that is below 0x20 or above 0x7F, or
/// equal to `first`, `second` or `third`; `count` when there is none.
static inline size_t cxmlscan_plain_span(const uint8_t *bytes, size_t count, uint8_t first, uint8_t second,
                                         uint8_t third) {
    size_t index = 0;
#if defined(__SSE2__)
    const __m128i below_space = _mm_set1_epi8(0x1F);
    const __m128i first_lanes = _mm_set1_epi8((char)first);
    const __m128i second_lanes = _mm_set1_epi8((char)second);
    const __m128i third_lanes = _mm_set1_epi8((char)third);
    for (; index + 16 <= count; index += 16) {
        const __m128i lanes = _mm_loadu_si128((const __m128i *)(bytes + index));
        // As signed bytes, exactly 0x20...0x7F are greater than 0x1F.
        const unsigned printable = (unsigned)_mm_movemask_epi8(_mm_cmpgt_epi8(lanes, below_space));
        const __m128i equal = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(lanes, first_lanes), _mm_cmpeq_epi8(lanes, second_lanes)),
            _mm_cmpeq_epi8(lanes, third_lanes));
        const unsigned flagged = (~printable & 0xFFFFu) | (unsigned)_mm_movemask_epi8(equal);
        if (flagged != 0) return index + (size_t)__builtin_ctz(flagged);
    }
#endif
    for (; index < count; index++) {
        const uint8_t byte = bytes[index];
        if (byte < 0x20 || byte > 0x7F || byte == first || byte == second || byte == third) return index;
    }
    return count;
}

#endif
