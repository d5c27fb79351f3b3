// Internal: Fp in 6 x 64-bit Montgomery limbs (R = 2^384) and Fp2 = Fp[u]/(u^2+1).
// Inline so the compiler sees through the small helpers in the hot loops of every file.
// Everything here is constant time: no branches or indices depend on element values.
#ifndef BLS12381_FIELD_H
#define BLS12381_FIELD_H

#include <stdint.h>
#include <string.h>

typedef unsigned __int128 u128;
typedef struct { uint64_t l[6]; } fp;
typedef struct { fp c0, c1; } fp2;

#include "bls12381_constants.h"

/// All-ones when `bit` is 1, zero when 0.
static inline uint64_t mask_from_bit(uint64_t bit) { return (uint64_t)0 - bit; }

/// r = t - p if that does not borrow (with `top` the word above t), else t.
static inline void fp_reduce_once(fp *r, const uint64_t t[6], uint64_t top) {
    uint64_t s[6];
    uint64_t borrow = 0;
    for (int i = 0; i < 6; i++) {
        u128 d = (u128)t[i] - P_RAW[i] - borrow;
        s[i] = (uint64_t)d;
        borrow = (uint64_t)(d >> 64) & 1;
    }
    // Keep t when the subtraction borrowed past `top`.
    uint64_t keep = mask_from_bit((uint64_t)(borrow > top));
    for (int i = 0; i < 6; i++) r->l[i] = (t[i] & keep) | (s[i] & ~keep);
}

static inline void fp_add(fp *r, const fp *a, const fp *b) {
    uint64_t t[6];
    uint64_t carry = 0;
    for (int i = 0; i < 6; i++) {
        u128 s = (u128)a->l[i] + b->l[i] + carry;
        t[i] = (uint64_t)s;
        carry = (uint64_t)(s >> 64);
    }
    fp_reduce_once(r, t, carry);
}

static inline void fp_sub(fp *r, const fp *a, const fp *b) {
    uint64_t t[6];
    uint64_t borrow = 0;
    for (int i = 0; i < 6; i++) {
        u128 d = (u128)a->l[i] - b->l[i] - borrow;
        t[i] = (uint64_t)d;
        borrow = (uint64_t)(d >> 64) & 1;
    }
    uint64_t m = mask_from_bit(borrow);
    uint64_t carry = 0;
    for (int i = 0; i < 6; i++) {
        u128 s = (u128)t[i] + (P_RAW[i] & m) + carry;
        r->l[i] = (uint64_t)s;
        carry = (uint64_t)(s >> 64);
    }
}

static inline void fp_dbl(fp *r, const fp *a) { fp_add(r, a, a); }

static inline void fp_set_zero(fp *r) { memset(r, 0, sizeof *r); }

static inline uint64_t fp_is_zero(const fp *a) {
    uint64_t acc = 0;
    for (int i = 0; i < 6; i++) acc |= a->l[i];
    return (uint64_t)((acc | ((uint64_t)0 - acc)) >> 63) ^ 1;
}

static inline void fp_neg(fp *r, const fp *a) {
    fp zero;
    fp_set_zero(&zero);
    fp_sub(r, &zero, a);
}

static inline uint64_t fp_eq(const fp *a, const fp *b) {
    uint64_t acc = 0;
    for (int i = 0; i < 6; i++) acc |= a->l[i] ^ b->l[i];
    return (uint64_t)((acc | ((uint64_t)0 - acc)) >> 63) ^ 1;
}

/// r = flag ? a : r, for flag 0 or 1.
static inline void fp_cmov(fp *r, const fp *a, uint64_t flag) {
    uint64_t m = mask_from_bit(flag);
    for (int i = 0; i < 6; i++) r->l[i] = (r->l[i] & ~m) | (a->l[i] & m);
}

/// Montgomery multiplication (CIOS): r = a * b / 2^384 mod p.
static inline void fp_mul(fp *r, const fp *a, const fp *b) {
    uint64_t t[8] = {0};
    for (int i = 0; i < 6; i++) {
        u128 c = 0;
        for (int j = 0; j < 6; j++) {
            c += (u128)a->l[j] * b->l[i] + t[j];
            t[j] = (uint64_t)c;
            c >>= 64;
        }
        u128 s = (u128)t[6] + (uint64_t)c;
        t[6] = (uint64_t)s;
        t[7] = (uint64_t)(s >> 64);
        uint64_t m = t[0] * P_INV;
        c = (u128)m * P_RAW[0] + t[0];
        c >>= 64;
        for (int j = 1; j < 6; j++) {
            c += (u128)m * P_RAW[j] + t[j];
            t[j - 1] = (uint64_t)c;
            c >>= 64;
        }
        s = (u128)t[6] + (uint64_t)c;
        t[5] = (uint64_t)s;
        t[6] = t[7] + (uint64_t)(s >> 64);
    }
    fp_reduce_once(r, t, t[6]);
}

static inline void fp_sqr(fp *r, const fp *a) { fp_mul(r, a, a); }

/// r = a^e for a public exponent e of `words` 64-bit limbs (little-endian).
static inline void fp_pow(fp *r, const fp *a, const uint64_t *e, int words) {
    fp acc = FP_ONE, base = *a;
    for (int i = words * 64 - 1; i >= 0; i--) {
        fp_sqr(&acc, &acc);
        if ((e[i / 64] >> (i % 64)) & 1) fp_mul(&acc, &acc, &base);
    }
    *r = acc;
}

static inline void fp_inv(fp *r, const fp *a) { fp_pow(r, a, EXP_P_MINUS_2, 6); }

/// Raw (non-Montgomery) little-endian limbs to Montgomery form; `raw` must be below p.
static inline void fp_from_raw(fp *r, const uint64_t raw[6]) {
    fp t, r2;
    memcpy(t.l, raw, sizeof t.l);
    memcpy(r2.l, FP_R2, sizeof r2.l);
    fp_mul(r, &t, &r2);
}

static inline void fp_to_raw(uint64_t raw[6], const fp *a) {
    fp one_raw = {{1, 0, 0, 0, 0, 0}}, t;
    fp_mul(&t, a, &one_raw);
    memcpy(raw, t.l, sizeof t.l);
}

/// 1 when the raw limbs are below p.
static inline int raw_below_p(const uint64_t raw[6]) {
    for (int i = 5; i >= 0; i--) {
        if (raw[i] < P_RAW[i]) return 1;
        if (raw[i] > P_RAW[i]) return 0;
    }
    return 0;
}

/// 48 bytes big-endian to raw limbs.
static inline void raw_from_be48(uint64_t raw[6], const uint8_t in[48]) {
    for (int i = 0; i < 6; i++) {
        uint64_t w = 0;
        for (int j = 0; j < 8; j++) w = (w << 8) | in[(5 - i) * 8 + j];
        raw[i] = w;
    }
}

static inline void fp_to_be48(uint8_t out[48], const fp *a) {
    uint64_t raw[6];
    fp_to_raw(raw, a);
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 8; j++) out[(5 - i) * 8 + j] = (uint8_t)(raw[i] >> (56 - 8 * j));
}

/// 1 when a's canonical value exceeds (p-1)/2: the ZCash "lexicographically largest" y.
static inline int fp_is_lexicographically_largest(const fp *a) {
    uint64_t raw[6];
    fp_to_raw(raw, a);
    for (int i = 5; i >= 0; i--) {
        if (raw[i] > EXP_P_MINUS_1_DIV_2[i]) return 1;
        if (raw[i] < EXP_P_MINUS_1_DIV_2[i]) return 0;
    }
    return 0;
}

/// Square root for p = 3 mod 4; returns 1 when a is a square (and r its root), else 0.
static inline int fp_sqrt(fp *r, const fp *a) {
    fp s, check;
    fp_pow(&s, a, EXP_P_PLUS_1_DIV_4, 6);
    fp_sqr(&check, &s);
    *r = s;
    return (int)fp_eq(&check, a);
}

// ---- Fp2 ----

static inline void fp2_add(fp2 *r, const fp2 *a, const fp2 *b) { fp_add(&r->c0, &a->c0, &b->c0); fp_add(&r->c1, &a->c1, &b->c1); }
static inline void fp2_sub(fp2 *r, const fp2 *a, const fp2 *b) { fp_sub(&r->c0, &a->c0, &b->c0); fp_sub(&r->c1, &a->c1, &b->c1); }
static inline void fp2_dbl(fp2 *r, const fp2 *a) { fp2_add(r, a, a); }
static inline void fp2_neg(fp2 *r, const fp2 *a) { fp_neg(&r->c0, &a->c0); fp_neg(&r->c1, &a->c1); }
static inline void fp2_conj(fp2 *r, const fp2 *a) { r->c0 = a->c0; fp_neg(&r->c1, &a->c1); }
static inline void fp2_set_zero(fp2 *r) { memset(r, 0, sizeof *r); }
static inline void fp2_set_one(fp2 *r) { r->c0 = FP_ONE; fp_set_zero(&r->c1); }
static inline uint64_t fp2_is_zero(const fp2 *a) { return fp_is_zero(&a->c0) & fp_is_zero(&a->c1); }
static inline uint64_t fp2_eq(const fp2 *a, const fp2 *b) { return fp_eq(&a->c0, &b->c0) & fp_eq(&a->c1, &b->c1); }
static inline void fp2_cmov(fp2 *r, const fp2 *a, uint64_t flag) { fp_cmov(&r->c0, &a->c0, flag); fp_cmov(&r->c1, &a->c1, flag); }

static inline void fp2_mul(fp2 *r, const fp2 *a, const fp2 *b) {
    fp t0, t1, sa, sb, m;
    fp_mul(&t0, &a->c0, &b->c0);
    fp_mul(&t1, &a->c1, &b->c1);
    fp_add(&sa, &a->c0, &a->c1);
    fp_add(&sb, &b->c0, &b->c1);
    fp_mul(&m, &sa, &sb);
    fp_sub(&r->c0, &t0, &t1);
    fp_sub(&m, &m, &t0);
    fp_sub(&r->c1, &m, &t1);
}

static inline void fp2_sqr(fp2 *r, const fp2 *a) {
    fp s, d, p01;
    fp_add(&s, &a->c0, &a->c1);
    fp_sub(&d, &a->c0, &a->c1);
    fp_mul(&p01, &a->c0, &a->c1);
    fp_mul(&r->c0, &s, &d);
    fp_dbl(&r->c1, &p01);
}

static inline void fp2_mul_fp(fp2 *r, const fp2 *a, const fp *b) { fp_mul(&r->c0, &a->c0, b); fp_mul(&r->c1, &a->c1, b); }

/// r = a * (u + 1), the cubic non-residue xi that defines Fp6.
static inline void fp2_mul_by_xi(fp2 *r, const fp2 *a) {
    fp c0, c1;
    fp_sub(&c0, &a->c0, &a->c1);
    fp_add(&c1, &a->c0, &a->c1);
    r->c0 = c0;
    r->c1 = c1;
}

static inline void fp2_inv(fp2 *r, const fp2 *a) {
    fp n, t;
    fp_sqr(&n, &a->c0);
    fp_sqr(&t, &a->c1);
    fp_add(&n, &n, &t);
    fp_inv(&n, &n);
    fp_mul(&r->c0, &a->c0, &n);
    fp_mul(&t, &a->c1, &n);
    fp_neg(&r->c1, &t);
}

/// r = a^e for a public exponent of `words` limbs.
static inline void fp2_pow(fp2 *r, const fp2 *a, const uint64_t *e, int words) {
    fp2 acc, base = *a;
    fp2_set_one(&acc);
    for (int i = words * 64 - 1; i >= 0; i--) {
        fp2_sqr(&acc, &acc);
        if ((e[i / 64] >> (i % 64)) & 1) fp2_mul(&acc, &acc, &base);
    }
    *r = acc;
}

/// RFC 9380 sgn0 for Fp2.
static inline int fp2_sgn0(const fp2 *a) {
    uint64_t r0[6], r1[6];
    fp_to_raw(r0, &a->c0);
    fp_to_raw(r1, &a->c1);
    int sign0 = (int)(r0[0] & 1);
    int zero0 = fp_is_zero(&a->c0) ? 1 : 0;
    int sign1 = (int)(r1[0] & 1);
    return sign0 | (zero0 & sign1);
}

/// Square root in Fp2 (p = 3 mod 4); returns 1 and sets r when a is a square, else 0. Public data only.
int fp2_sqrt(fp2 *r, const fp2 *a);

#endif
