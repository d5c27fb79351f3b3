// The Fp6 and Fp12 levels of the tower, with the sparse line multiplication of the Miller loop.
#include "tower.h"

void fp6_add(fp6 *r, const fp6 *a, const fp6 *b) {
    fp2_add(&r->c0, &a->c0, &b->c0);
    fp2_add(&r->c1, &a->c1, &b->c1);
    fp2_add(&r->c2, &a->c2, &b->c2);
}

void fp6_sub(fp6 *r, const fp6 *a, const fp6 *b) {
    fp2_sub(&r->c0, &a->c0, &b->c0);
    fp2_sub(&r->c1, &a->c1, &b->c1);
    fp2_sub(&r->c2, &a->c2, &b->c2);
}

static void fp6_neg(fp6 *r, const fp6 *a) {
    fp2_neg(&r->c0, &a->c0);
    fp2_neg(&r->c1, &a->c1);
    fp2_neg(&r->c2, &a->c2);
}

// Karatsuba over Fp2: 6 multiplications.
void fp6_mul(fp6 *r, const fp6 *a, const fp6 *b) {
    fp2 v0, v1, v2, s, t, m, c0, c1, c2;
    fp2_mul(&v0, &a->c0, &b->c0);
    fp2_mul(&v1, &a->c1, &b->c1);
    fp2_mul(&v2, &a->c2, &b->c2);
    // c0 = v0 + xi ((a1 + a2)(b1 + b2) - v1 - v2)
    fp2_add(&s, &a->c1, &a->c2);
    fp2_add(&t, &b->c1, &b->c2);
    fp2_mul(&m, &s, &t);
    fp2_sub(&m, &m, &v1);
    fp2_sub(&m, &m, &v2);
    fp2_mul_by_xi(&m, &m);
    fp2_add(&c0, &v0, &m);
    // c1 = (a0 + a1)(b0 + b1) - v0 - v1 + xi v2
    fp2_add(&s, &a->c0, &a->c1);
    fp2_add(&t, &b->c0, &b->c1);
    fp2_mul(&m, &s, &t);
    fp2_sub(&m, &m, &v0);
    fp2_sub(&m, &m, &v1);
    fp2_mul_by_xi(&t, &v2);
    fp2_add(&c1, &m, &t);
    // c2 = (a0 + a2)(b0 + b2) - v0 - v2 + v1
    fp2_add(&s, &a->c0, &a->c2);
    fp2_add(&t, &b->c0, &b->c2);
    fp2_mul(&m, &s, &t);
    fp2_sub(&m, &m, &v0);
    fp2_sub(&m, &m, &v2);
    fp2_add(&c2, &m, &v1);
    r->c0 = c0;
    r->c1 = c1;
    r->c2 = c2;
}

// (b0 + b1 v + b2 v^2) v = xi b2 + b0 v + b1 v^2
void fp6_mul_by_v(fp6 *r, const fp6 *a) {
    fp2 t;
    fp2_mul_by_xi(&t, &a->c2);
    r->c2 = a->c1;
    r->c1 = a->c0;
    r->c0 = t;
}

// a * (x + y v)
static void fp6_mul_by_01(fp6 *r, const fp6 *a, const fp2 *x, const fp2 *y) {
    fp2 t, c0, c1, c2;
    // c0 = a0 x + xi a2 y
    fp2_mul(&c0, &a->c0, x);
    fp2_mul(&t, &a->c2, y);
    fp2_mul_by_xi(&t, &t);
    fp2_add(&c0, &c0, &t);
    // c1 = a0 y + a1 x
    fp2_mul(&c1, &a->c0, y);
    fp2_mul(&t, &a->c1, x);
    fp2_add(&c1, &c1, &t);
    // c2 = a1 y + a2 x
    fp2_mul(&c2, &a->c1, y);
    fp2_mul(&t, &a->c2, x);
    fp2_add(&c2, &c2, &t);
    r->c0 = c0;
    r->c1 = c1;
    r->c2 = c2;
}

// a * (y v)
static void fp6_mul_by_1(fp6 *r, const fp6 *a, const fp2 *y) {
    fp2 c0, c1, c2;
    fp2_mul(&c0, &a->c2, y);
    fp2_mul_by_xi(&c0, &c0);
    fp2_mul(&c1, &a->c0, y);
    fp2_mul(&c2, &a->c1, y);
    r->c0 = c0;
    r->c1 = c1;
    r->c2 = c2;
}

static void fp6_inv(fp6 *r, const fp6 *a) {
    fp2 t0, t1, t2, s, n;
    // t0 = a0^2 - xi a1 a2; t1 = xi a2^2 - a0 a1; t2 = a1^2 - a0 a2
    fp2_sqr(&t0, &a->c0);
    fp2_mul(&s, &a->c1, &a->c2);
    fp2_mul_by_xi(&s, &s);
    fp2_sub(&t0, &t0, &s);
    fp2_sqr(&t1, &a->c2);
    fp2_mul_by_xi(&t1, &t1);
    fp2_mul(&s, &a->c0, &a->c1);
    fp2_sub(&t1, &t1, &s);
    fp2_sqr(&t2, &a->c1);
    fp2_mul(&s, &a->c0, &a->c2);
    fp2_sub(&t2, &t2, &s);
    // n = a0 t0 + xi (a2 t1 + a1 t2)
    fp2_mul(&n, &a->c2, &t1);
    fp2_mul(&s, &a->c1, &t2);
    fp2_add(&n, &n, &s);
    fp2_mul_by_xi(&n, &n);
    fp2_mul(&s, &a->c0, &t0);
    fp2_add(&n, &n, &s);
    fp2_inv(&n, &n);
    fp2_mul(&r->c0, &t0, &n);
    fp2_mul(&r->c1, &t1, &n);
    fp2_mul(&r->c2, &t2, &n);
}

void fp12_set_one(fp12 *r) {
    memset(r, 0, sizeof *r);
    r->c0.c0.c0 = FP_ONE;
}

int fp12_eq(const fp12 *a, const fp12 *b) {
    const fp *x = (const fp *)a, *y = (const fp *)b;
    uint64_t eq = 1;
    for (int i = 0; i < 12; i++) eq &= fp_eq(&x[i], &y[i]);
    return (int)eq;
}

int fp12_is_one(const fp12 *a) {
    fp12 one;
    fp12_set_one(&one);
    return fp12_eq(a, &one);
}

void fp12_mul(fp12 *r, const fp12 *a, const fp12 *b) {
    fp6 t0, t1, s, t;
    fp6_mul(&t0, &a->c0, &b->c0);
    fp6_mul(&t1, &a->c1, &b->c1);
    fp6_add(&s, &a->c0, &a->c1);
    fp6_add(&t, &b->c0, &b->c1);
    fp6_mul(&s, &s, &t);
    fp6_sub(&s, &s, &t0);
    fp6_sub(&r->c1, &s, &t1);
    fp6_mul_by_v(&t1, &t1);
    fp6_add(&r->c0, &t0, &t1);
}

// (A0 + A1 w)^2 = (A0 + A1)(A0 + v A1) - t - v t + 2 t w, with t = A0 A1.
void fp12_sqr(fp12 *r, const fp12 *a) {
    fp6 t, s, vt, u;
    fp6_mul(&t, &a->c0, &a->c1);
    fp6_add(&s, &a->c0, &a->c1);
    fp6_mul_by_v(&u, &a->c1);
    fp6_add(&u, &u, &a->c0);
    fp6_mul(&s, &s, &u);
    fp6_sub(&s, &s, &t);
    fp6_mul_by_v(&vt, &t);
    fp6_sub(&r->c0, &s, &vt);
    fp6_add(&r->c1, &t, &t);
}

// (x + y t)^2 in Fp4 = Fp2[t]/(t^2 - xi): (x^2 + xi y^2) + 2 x y t.
static void fp4_sqr(fp2 *r0, fp2 *r1, const fp2 *x, const fp2 *y) {
    fp2 x2, y2, t;
    fp2_sqr(&x2, x);
    fp2_sqr(&y2, y);
    fp2_mul_by_xi(&t, &y2);
    fp2_add(r0, &x2, &t);
    fp2_add(&t, x, y);
    fp2_sqr(&t, &t);
    fp2_sub(&t, &t, &x2);
    fp2_sub(r1, &t, &y2);
}

// 3 x - 2 g and 3 x + 2 g.
static void three_minus_two(fp2 *r, const fp2 *x, const fp2 *g) {
    fp2 t;
    fp2_sub(&t, x, g);
    fp2_dbl(&t, &t);
    fp2_add(r, &t, x);
}

static void three_plus_two(fp2 *r, const fp2 *x, const fp2 *g) {
    fp2 t;
    fp2_add(&t, x, g);
    fp2_dbl(&t, &t);
    fp2_add(r, &t, x);
}

// Granger and Scott, "Faster squaring in the cyclotomic subgroup of sixth degree extensions":
// with t = w^3, f = A + B w + C w^2 over Fp4, A = g0 + g3 t, B = g1 + g4 t, C = g2 + g5 t
// (g_k the coefficient of w^k), and for f in the cyclotomic subgroup
//   f^2 = (3A^2 - 2 conj A) + (3 t C^2 + 2 conj B) w + (3B^2 - 2 conj C) w^2.
// Checked against fp12_sqr by the tests (the pairing's vectors and properties).
void fp12_cyclotomic_sqr(fp12 *r, const fp12 *a) {
    const fp2 g0 = a->c0.c0, g1 = a->c1.c0, g2 = a->c0.c1, g3 = a->c1.c1, g4 = a->c0.c2, g5 = a->c1.c2;
    fp2 x0, x1, y0, y1, z0, z1, t;
    fp4_sqr(&x0, &x1, &g0, &g3);
    fp4_sqr(&y0, &y1, &g2, &g5);
    fp4_sqr(&z0, &z1, &g1, &g4);
    three_minus_two(&r->c0.c0, &x0, &g0);
    three_plus_two(&r->c1.c1, &x1, &g3);
    fp2_mul_by_xi(&t, &y1);
    three_plus_two(&r->c1.c0, &t, &g1);
    three_minus_two(&r->c0.c2, &y0, &g4);
    three_minus_two(&r->c0.c1, &z0, &g2);
    three_plus_two(&r->c1.c2, &z1, &g5);
}

void fp12_conj(fp12 *r, const fp12 *a) {
    r->c0 = a->c0;
    fp6_neg(&r->c1, &a->c1);
}

// (A0 + A1 w)^-1 = (A0 - A1 w) / (A0^2 - v A1^2)
void fp12_inv(fp12 *r, const fp12 *a) {
    fp6 t0, t1;
    fp6_mul(&t0, &a->c0, &a->c0);
    fp6_mul(&t1, &a->c1, &a->c1);
    fp6_mul_by_v(&t1, &t1);
    fp6_sub(&t0, &t0, &t1);
    fp6_inv(&t0, &t0);
    fp6_mul(&r->c0, &a->c0, &t0);
    fp6_mul(&t1, &a->c1, &t0);
    fp6_neg(&r->c1, &t1);
}

// Coefficient (ci, bj) multiplies w^(2j + i); (a w^k)^p = conj(a) gamma_k w^k.
void fp12_frobenius(fp12 *r, const fp12 *a) {
    static const fp2 *gammas[6] = {NULL, &FROB_GAMMA_1, &FROB_GAMMA_2, &FROB_GAMMA_3, &FROB_GAMMA_4, &FROB_GAMMA_5};
    const fp2 *in[6] = {&a->c0.c0, &a->c1.c0, &a->c0.c1, &a->c1.c1, &a->c0.c2, &a->c1.c2};
    fp2 *out[6] = {&r->c0.c0, &r->c1.c0, &r->c0.c1, &r->c1.c1, &r->c0.c2, &r->c1.c2};
    fp2 tmp[6];
    for (int k = 0; k < 6; k++) {
        fp2_conj(&tmp[k], in[k]);
        if (k > 0) fp2_mul(&tmp[k], &tmp[k], gammas[k]);
    }
    for (int k = 0; k < 6; k++) *out[k] = tmp[k];
}

// f * (L0 + L1 w) with L0 = a + b v, L1 = c v:
//   c0 = f0 L0 + v f1 L1, c1 = (f0 + f1)(L0 + L1) - f0 L0 - f1 L1, L0 + L1 = a + (b + c) v.
void fp12_mul_by_line(fp12 *r, const fp12 *f, const fp2 *a, const fp2 *b, const fp2 *c) {
    fp6 t0, t1, s;
    fp2 bc;
    fp6_mul_by_01(&t0, &f->c0, a, b);
    fp6_mul_by_1(&t1, &f->c1, c);
    fp2_add(&bc, b, c);
    fp6_add(&s, &f->c0, &f->c1);
    fp6_mul_by_01(&s, &s, a, &bc);
    fp6_sub(&s, &s, &t0);
    fp6_sub(&r->c1, &s, &t1);
    fp6_mul_by_v(&t1, &t1);
    fp6_add(&r->c0, &t0, &t1);
}

void fp12_to_bytes(uint8_t out[576], const fp12 *a) {
    const fp *coefficients = (const fp *)a;  // c0.b0.a0, c0.b0.a1, c0.b1.a0, ... in memory order
    for (int i = 0; i < 12; i++) fp_to_be48(out + 48 * i, &coefficients[i]);
}

int fp12_from_bytes(fp12 *r, const uint8_t in[576]) {
    fp *coefficients = (fp *)r;
    for (int i = 0; i < 12; i++) {
        uint64_t raw[6];
        raw_from_be48(raw, in + 48 * i);
        if (!raw_below_p(raw)) return 0;
        fp_from_raw(&coefficients[i], raw);
    }
    return 1;
}
