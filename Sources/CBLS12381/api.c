// The public interface of include/cbls12381.h: encodings, scalar multiplication, hashing, pairing.
// ZCash compressed encodings: the top three bits of the first byte are flags (0x80 compressed,
// 0x40 infinity, 0x20 "y is the lexicographically largest root"); G2 puts x.c1 before x.c0.
#include "cbls12381.h"
#include "hash_to_g2.h"
#include "pairing.h"

_Static_assert(sizeof(g1_affine) == BLS_G1_WORDS * 8, "G1 word layout");
_Static_assert(sizeof(g2_affine) == BLS_G2_WORDS * 8, "G2 word layout");
_Static_assert(sizeof(miller_line) * MILLER_STEPS == BLS_G2_PREPARED_WORDS * 8, "prepared layout");

// Constant time: the scalar is a private key. Valid when scalar - r borrows and some word is set.
int bls_scalar_is_valid(const uint8_t scalar[32]) {
    uint64_t nonzero = 0, borrow = 0;
    for (int i = 0; i < 4; i++) {
        uint64_t w = 0;
        for (int j = 0; j < 8; j++) w = (w << 8) | scalar[(3 - i) * 8 + j];
        nonzero |= w;
        u128 d = (u128)w - R_RAW[i] - borrow;
        borrow = (uint64_t)(d >> 64) & 1;
    }
    uint64_t is_nonzero = (nonzero | ((uint64_t)0 - nonzero)) >> 63;
    return (int)(borrow & is_nonzero);
}

void bls_g1_generator(uint64_t out[BLS_G1_WORDS]) {
    g1_affine g = {G1_GEN_X, G1_GEN_Y, 0};
    memcpy(out, &g, sizeof g);
}

void bls_g2_generator(uint64_t out[BLS_G2_WORDS]) {
    g2_affine g = {G2_GEN_X, G2_GEN_Y, 0};
    memcpy(out, &g, sizeof g);
}

void bls_g1_mul(uint64_t out[BLS_G1_WORDS], const uint64_t point[BLS_G1_WORDS], const uint8_t scalar[32]) {
    g1_affine a;
    g1_jacobian j;
    memcpy(&a, point, sizeof a);
    g1_from_affine(&j, &a);
    g1_mul_ct(&j, &j, scalar);
    g1_to_affine(&a, &j);
    memcpy(out, &a, sizeof a);
}

void bls_g2_mul(uint64_t out[BLS_G2_WORDS], const uint64_t point[BLS_G2_WORDS], const uint8_t scalar[32]) {
    g2_affine a;
    g2_jacobian j;
    memcpy(&a, point, sizeof a);
    g2_from_affine(&j, &a);
    g2_mul_ct(&j, &j, scalar);
    g2_to_affine(&a, &j);
    memcpy(out, &a, sizeof a);
}

void bls_g1_compress(uint8_t out[48], const uint64_t point[BLS_G1_WORDS]) {
    g1_affine a;
    memcpy(&a, point, sizeof a);
    if (a.infinity) {
        memset(out, 0, 48);
        out[0] = 0xc0;
        return;
    }
    fp_to_be48(out, &a.x);
    out[0] |= 0x80;
    if (fp_is_lexicographically_largest(&a.y)) out[0] |= 0x20;
}

static int fp2_is_lexicographically_largest(const fp2 *a) {
    if (!fp_is_zero(&a->c1)) return fp_is_lexicographically_largest(&a->c1);
    return fp_is_lexicographically_largest(&a->c0);
}

void bls_g2_compress(uint8_t out[96], const uint64_t point[BLS_G2_WORDS]) {
    g2_affine a;
    memcpy(&a, point, sizeof a);
    if (a.infinity) {
        memset(out, 0, 96);
        out[0] = 0xc0;
        return;
    }
    fp_to_be48(out, &a.x.c1);
    fp_to_be48(out + 48, &a.x.c0);
    out[0] |= 0x80;
    if (fp2_is_lexicographically_largest(&a.y)) out[0] |= 0x20;
}

void bls_g2_coordinates(uint8_t out[192], const uint64_t point[BLS_G2_WORDS]) {
    g2_affine a;
    memcpy(&a, point, sizeof a);
    fp_to_be48(out, &a.x.c0);
    fp_to_be48(out + 48, &a.x.c1);
    fp_to_be48(out + 96, &a.y.c0);
    fp_to_be48(out + 144, &a.y.c1);
}

/// Flags and the identity. Returns BLS_OK to go on decoding, or the final status.
static bls_status decode_flags(const uint8_t *in, size_t length, int *sign) {
    uint8_t flags = in[0] & 0xe0;
    if (!(flags & 0x80)) return BLS_ERR_ENCODING;
    if (flags & 0x40) {
        if (flags & 0x20) return BLS_ERR_ENCODING;
        if (in[0] & 0x1f) return BLS_ERR_ENCODING;
        for (size_t i = 1; i < length; i++)
            if (in[i]) return BLS_ERR_ENCODING;
        return BLS_ERR_IDENTITY;
    }
    *sign = (flags & 0x20) != 0;
    return BLS_OK;
}

/// A 48-byte big-endian coordinate with the flag bits of its first byte cleared.
static int decode_coordinate(fp *r, const uint8_t in[48], int clear_flags) {
    uint8_t buffer[48];
    memcpy(buffer, in, 48);
    if (clear_flags) buffer[0] &= 0x1f;
    uint64_t raw[6];
    raw_from_be48(raw, buffer);
    if (!raw_below_p(raw)) return 0;
    fp_from_raw(r, raw);
    return 1;
}

bls_status bls_g1_decompress(uint64_t out[BLS_G1_WORDS], const uint8_t in[48]) {
    g1_affine a;
    memset(&a, 0, sizeof a);
    int sign = 0;
    bls_status status = decode_flags(in, 48, &sign);
    if (status == BLS_ERR_IDENTITY) {
        a.infinity = 1;
        memcpy(out, &a, sizeof a);
    }
    if (status != BLS_OK) return status;
    if (!decode_coordinate(&a.x, in, 1)) return BLS_ERR_ENCODING;
    fp rhs;
    fp_sqr(&rhs, &a.x);
    fp_mul(&rhs, &rhs, &a.x);
    fp_add(&rhs, &rhs, &B_G1);
    if (!fp_sqrt(&a.y, &rhs)) return BLS_ERR_NOT_ON_CURVE;
    if (fp_is_lexicographically_largest(&a.y) != sign) fp_neg(&a.y, &a.y);
    g1_jacobian j;
    g1_from_affine(&j, &a);
    if (!g1_is_in_subgroup(&j)) return BLS_ERR_NOT_IN_SUBGROUP;
    memcpy(out, &a, sizeof a);
    return BLS_OK;
}

bls_status bls_g2_decompress(uint64_t out[BLS_G2_WORDS], const uint8_t in[96]) {
    g2_affine a;
    memset(&a, 0, sizeof a);
    int sign = 0;
    bls_status status = decode_flags(in, 96, &sign);
    if (status == BLS_ERR_IDENTITY) {
        a.infinity = 1;
        memcpy(out, &a, sizeof a);
    }
    if (status != BLS_OK) return status;
    if (!decode_coordinate(&a.x.c1, in, 1) || !decode_coordinate(&a.x.c0, in + 48, 0)) return BLS_ERR_ENCODING;
    fp2 rhs;
    fp2_sqr(&rhs, &a.x);
    fp2_mul(&rhs, &rhs, &a.x);
    fp2_add(&rhs, &rhs, &B_G2);
    if (!fp2_sqrt(&a.y, &rhs)) return BLS_ERR_NOT_ON_CURVE;
    if (fp2_is_lexicographically_largest(&a.y) != sign) fp2_neg(&a.y, &a.y);
    g2_jacobian j;
    g2_from_affine(&j, &a);
    if (!g2_is_in_subgroup(&j)) return BLS_ERR_NOT_IN_SUBGROUP;
    memcpy(out, &a, sizeof a);
    return BLS_OK;
}

void bls_hash_to_g2(uint64_t out[BLS_G2_WORDS], const uint8_t uniform[256]) {
    g2_jacobian j;
    g2_affine a;
    hash_to_g2_from_uniform(&j, uniform);
    g2_to_affine(&a, &j);
    memcpy(out, &a, sizeof a);
}

void bls_g2_prepare(uint64_t out[BLS_G2_PREPARED_WORDS], const uint64_t q[BLS_G2_WORDS]) {
    g2_affine a;
    memcpy(&a, q, sizeof a);
    miller_line lines[MILLER_STEPS];
    memset(lines, 0, sizeof lines);
    if (!a.infinity) miller_prepare(lines, &a);
    memcpy(out, lines, sizeof lines);
}

void bls_pairing_prepared(uint8_t out[BLS_GT_BYTES], const uint64_t p[BLS_G1_WORDS], const uint64_t prepared[BLS_G2_PREPARED_WORDS]) {
    g1_affine a;
    memcpy(&a, p, sizeof a);
    miller_line lines[MILLER_STEPS];
    memcpy(lines, prepared, sizeof lines);
    fp12 f;
    // Prepared lines of the identity are all zero; either identity argument gives 1.
    if (a.infinity || fp2_is_zero(&lines[0].c)) {
        fp12_set_one(&f);
    } else {
        miller_loop_prepared(&f, &a, lines);
        final_exponentiation(&f, &f);
    }
    fp12_to_bytes(out, &f);
}

void bls_pairing(uint8_t out[BLS_GT_BYTES], const uint64_t p[BLS_G1_WORDS], const uint64_t q[BLS_G2_WORDS]) {
    uint64_t prepared[BLS_G2_PREPARED_WORDS];
    bls_g2_prepare(prepared, q);
    bls_pairing_prepared(out, p, prepared);
}

int bls_gt_pow(uint8_t out[BLS_GT_BYTES], const uint8_t a[BLS_GT_BYTES], const uint8_t scalar[32]) {
    fp12 base, acc;
    if (!fp12_from_bytes(&base, a)) return 0;
    fp12_set_one(&acc);
    for (int i = 0; i < 256; i++) {
        fp12_sqr(&acc, &acc);
        if ((scalar[i / 8] >> (7 - i % 8)) & 1) fp12_mul(&acc, &acc, &base);
    }
    fp12_to_bytes(out, &acc);
    return 1;
}
