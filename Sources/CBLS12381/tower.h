// Internal: Fp6 = Fp2[v]/(v^3 - xi), Fp12 = Fp6[w]/(w^2 - v), xi = u + 1.
#ifndef BLS12381_TOWER_H
#define BLS12381_TOWER_H

#include "field.h"

typedef struct { fp2 c0, c1, c2; } fp6;
typedef struct { fp6 c0, c1; } fp12;

void fp6_add(fp6 *r, const fp6 *a, const fp6 *b);
void fp6_sub(fp6 *r, const fp6 *a, const fp6 *b);
void fp6_mul(fp6 *r, const fp6 *a, const fp6 *b);
void fp6_mul_by_v(fp6 *r, const fp6 *a);

void fp12_set_one(fp12 *r);
int fp12_is_one(const fp12 *a);
int fp12_eq(const fp12 *a, const fp12 *b);
void fp12_mul(fp12 *r, const fp12 *a, const fp12 *b);
void fp12_sqr(fp12 *r, const fp12 *a);
/// Squaring in the cyclotomic subgroup (after the easy part of the final exponentiation).
void fp12_cyclotomic_sqr(fp12 *r, const fp12 *a);
void fp12_inv(fp12 *r, const fp12 *a);
void fp12_conj(fp12 *r, const fp12 *a);
/// r = a^p.
void fp12_frobenius(fp12 *r, const fp12 *a);
/// r = f * (a + b v + c v w): the sparse value of one Miller-loop line.
void fp12_mul_by_line(fp12 *r, const fp12 *f, const fp2 *a, const fp2 *b, const fp2 *c);

void fp12_to_bytes(uint8_t out[576], const fp12 *a);
/// 0 when a coefficient is not below p.
int fp12_from_bytes(fp12 *r, const uint8_t in[576]);

#endif
