// BLS12-381 arithmetic for DP5's combined mode: the field tower, G1/G2, compressed encodings with
// subgroup checks, RFC 9380 hash-to-G2 (after expand_message_xmd, which the caller computes) and the
// optimal ate pairing with precomputed lines for a fixed G2 argument.
//
// Conventions (docs/dp5-combined.md):
// - Fp2 = Fp[u]/(u^2+1), Fp6 = Fp2[v]/(v^3-(u+1)), Fp12 = Fp6[w]/(w^2-v).
// - The curve parameter is x = -0xd201000000010000 (negative). The pairing is
//   e(P, Q) = f_{x,Q}(P)^((p^12-1)/r) with f_{x,Q} = conj(f_{|x|,Q}), as the IRTF
//   pairing-friendly-curves draft defines it for BLS12-381; py_ecc's `pairing` returns the inverse.
// - GT bytes: the 12 Fp coefficients c0.b0.a0, c0.b0.a1, c0.b1.a0, ..., c1.b2.a1, 48 bytes big-endian each.
// - Points cross this interface as affine words: x, y (Montgomery limbs) and an identity flag;
//   callers treat them as opaque.
//
// Secret scalars are used only by bls_g1_mul and bls_g2_mul, which run in constant time
// (fixed 4-bit windows, table lookups by masked scans). Everything else handles public data.
#ifndef CBLS12381_H
#define CBLS12381_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BLS_SCALAR_BYTES 32
#define BLS_G1_COMPRESSED_BYTES 48
#define BLS_G2_COMPRESSED_BYTES 96
#define BLS_GT_BYTES 576
#define BLS_HASH_UNIFORM_BYTES 256
#define BLS_G1_WORDS 13
#define BLS_G2_WORDS 25
/// 68 Miller-loop steps (63 doublings, 5 additions), three Fp2 coefficients each.
#define BLS_G2_PREPARED_WORDS (68 * 36)

typedef enum {
    BLS_OK = 0,
    /// Wrong flag bits, or a coordinate not below p (a non-canonical encoding).
    BLS_ERR_ENCODING = 1,
    BLS_ERR_NOT_ON_CURVE = 2,
    BLS_ERR_NOT_IN_SUBGROUP = 3,
    /// A well-formed encoding of the point at infinity.
    BLS_ERR_IDENTITY = 4,
} bls_status;

/// 1 when 0 < scalar < r (32 bytes big-endian), else 0.
int bls_scalar_is_valid(const uint8_t scalar[BLS_SCALAR_BYTES]);

void bls_g1_generator(uint64_t out[BLS_G1_WORDS]);
void bls_g2_generator(uint64_t out[BLS_G2_WORDS]);

/// scalar * point, constant time in the scalar (any 256-bit value; reduced implicitly mod r).
void bls_g1_mul(uint64_t out[BLS_G1_WORDS], const uint64_t point[BLS_G1_WORDS], const uint8_t scalar[BLS_SCALAR_BYTES]);
void bls_g2_mul(uint64_t out[BLS_G2_WORDS], const uint64_t point[BLS_G2_WORDS], const uint8_t scalar[BLS_SCALAR_BYTES]);

void bls_g1_compress(uint8_t out[BLS_G1_COMPRESSED_BYTES], const uint64_t point[BLS_G1_WORDS]);
void bls_g2_compress(uint8_t out[BLS_G2_COMPRESSED_BYTES], const uint64_t point[BLS_G2_WORDS]);
/// The affine coordinates x.c0, x.c1, y.c0, y.c1, 48 bytes big-endian each (zeros for the identity).
void bls_g2_coordinates(uint8_t out[192], const uint64_t point[BLS_G2_WORDS]);

/// Decodes a compressed point and checks it is on the curve and in the prime-order subgroup.
/// The identity decodes (into `out`) but returns BLS_ERR_IDENTITY so callers can refuse it.
bls_status bls_g1_decompress(uint64_t out[BLS_G1_WORDS], const uint8_t in[BLS_G1_COMPRESSED_BYTES]);
bls_status bls_g2_decompress(uint64_t out[BLS_G2_WORDS], const uint8_t in[BLS_G2_COMPRESSED_BYTES]);

/// hash_to_curve for BLS12381G2_XMD:SHA-256_SSWU_RO_ given uniform = expand_message_xmd(msg, DST, 256).
void bls_hash_to_g2(uint64_t out[BLS_G2_WORDS], const uint8_t uniform[BLS_HASH_UNIFORM_BYTES]);

/// The Miller-loop lines of a fixed G2 point, for any number of later pairings with it.
void bls_g2_prepare(uint64_t out[BLS_G2_PREPARED_WORDS], const uint64_t q[BLS_G2_WORDS]);
void bls_pairing_prepared(uint8_t out[BLS_GT_BYTES], const uint64_t p[BLS_G1_WORDS], const uint64_t prepared[BLS_G2_PREPARED_WORDS]);
void bls_pairing(uint8_t out[BLS_GT_BYTES], const uint64_t p[BLS_G1_WORDS], const uint64_t q[BLS_G2_WORDS]);

/// GT helpers for tests: out = a^scalar; 0 when `a` is not 12 canonical coefficients.
int bls_gt_pow(uint8_t out[BLS_GT_BYTES], const uint8_t a[BLS_GT_BYTES], const uint8_t scalar[BLS_SCALAR_BYTES]);

#ifdef __cplusplus
}
#endif

#endif
