// The optimal ate pairing on BLS12-381: Miller loop over |x| = 0xd201000000010000 with the lines of
// the twisted point precomputed, conjugated for the negative x, then f^((p^12 - 1)/r).
//
// Lines, derived for the M-type twist with untwist (x, y) -> (x w^-2, y w^-3): the tangent at T
// (Jacobian X, Y, Z) evaluated at P is, after scaling by w^3 and by 2 Y Z^3 (both killed by the
// final exponentiation),  (3X^3 - 2Y^2) + (-3 X^2 Z^2 xP) v + (2 Y Z^3 yP) v w.
// The line through T and affine Q (H = xQ Z^2 - X, R = yQ Z^3 - Y, Z3 = Z H), scaled by Z H, is
//   (R xQ - yQ Z3) + (-R xP) v + (Z3 yP) v w.
#include "pairing.h"

static void doubling_step(miller_line *line, g2_jacobian *t) {
    fp2 xx, yy, zz, m, tmp;
    fp2_sqr(&xx, &t->x);
    fp2_sqr(&yy, &t->y);
    fp2_sqr(&zz, &t->z);
    fp2_dbl(&m, &xx);
    fp2_add(&m, &m, &xx);  // 3 X^2
    // a = M X - 2 Y^2
    fp2_mul(&line->a, &m, &t->x);
    fp2_dbl(&tmp, &yy);
    fp2_sub(&line->a, &line->a, &tmp);
    // b = -M Z^2
    fp2_mul(&line->b, &m, &zz);
    fp2_neg(&line->b, &line->b);
    g2_dbl(t, t);
    // c = Z3 Z^2 with Z3 = 2 Y Z the new Z
    fp2_mul(&line->c, &t->z, &zz);
}

static void addition_step(miller_line *line, g2_jacobian *t, const g2_affine *q) {
    fp2 zz, zzz, u2, s2, h, rr, hh, hhh, v, x3, y3, z3, tmp;
    fp2_sqr(&zz, &t->z);
    fp2_mul(&zzz, &zz, &t->z);
    fp2_mul(&u2, &q->x, &zz);
    fp2_mul(&s2, &q->y, &zzz);
    fp2_sub(&h, &u2, &t->x);
    fp2_sub(&rr, &s2, &t->y);
    fp2_sqr(&hh, &h);
    fp2_mul(&hhh, &hh, &h);
    fp2_mul(&v, &t->x, &hh);
    fp2_sqr(&x3, &rr);
    fp2_sub(&x3, &x3, &hhh);
    fp2_sub(&x3, &x3, &v);
    fp2_sub(&x3, &x3, &v);
    fp2_sub(&tmp, &v, &x3);
    fp2_mul(&y3, &rr, &tmp);
    fp2_mul(&tmp, &t->y, &hhh);
    fp2_sub(&y3, &y3, &tmp);
    fp2_mul(&z3, &t->z, &h);
    // a = R xQ - yQ Z3, b = -R, c = Z3
    fp2_mul(&line->a, &rr, &q->x);
    fp2_mul(&tmp, &q->y, &z3);
    fp2_sub(&line->a, &line->a, &tmp);
    fp2_neg(&line->b, &rr);
    line->c = z3;
    t->x = x3;
    t->y = y3;
    t->z = z3;
}

void miller_prepare(miller_line lines[MILLER_STEPS], const g2_affine *q) {
    g2_jacobian t;
    g2_from_affine(&t, q);
    int n = 0;
    for (int i = 62; i >= 0; i--) {
        doubling_step(&lines[n++], &t);
        if ((BLS_X_ABS >> i) & 1) addition_step(&lines[n++], &t, q);
    }
}

static void evaluate_line(fp12 *f, const miller_line *line, const g1_affine *p) {
    fp2 b, c;
    fp2_mul_fp(&b, &line->b, &p->x);
    fp2_mul_fp(&c, &line->c, &p->y);
    fp12_mul_by_line(f, f, &line->a, &b, &c);
}

void miller_loop_prepared(fp12 *f, const g1_affine *p, const miller_line lines[MILLER_STEPS]) {
    fp12_set_one(f);
    int n = 0;
    for (int i = 62; i >= 0; i--) {
        if (i != 62) fp12_sqr(f, f);
        evaluate_line(f, &lines[n++], p);
        if ((BLS_X_ABS >> i) & 1) evaluate_line(f, &lines[n++], p);
    }
    fp12_conj(f, f);
}

/// r = a^|x| in the cyclotomic subgroup.
static void cyclotomic_pow_x_abs(fp12 *r, const fp12 *a) {
    fp12 acc = *a;
    for (int i = 62; i >= 0; i--) {
        fp12_cyclotomic_sqr(&acc, &acc);
        if ((BLS_X_ABS >> i) & 1) fp12_mul(&acc, &acc, a);
    }
    *r = acc;
}

static void cyclotomic_pow(fp12 *r, const fp12 *a, const uint64_t *e, int words) {
    fp12 acc;
    fp12_set_one(&acc);
    for (int i = words * 64 - 1; i >= 0; i--) {
        fp12_cyclotomic_sqr(&acc, &acc);
        if ((e[i / 64] >> (i % 64)) & 1) fp12_mul(&acc, &acc, a);
    }
    *r = acc;
}

// Easy part f^((p^6 - 1)(p^2 + 1)); hard part exactly (p^4 - p^2 + 1)/r as
//   ((x-1)^2/3) (x + p) (x^2 + p^2 - 1) + 1  (checked by scripts/gen-bls12381-constants.py).
void final_exponentiation(fp12 *r, const fp12 *f) {
    fp12 m, t, a, b, c;
    fp12_conj(&t, f);
    fp12_inv(&m, f);
    fp12_mul(&m, &t, &m);
    fp12_frobenius(&t, &m);
    fp12_frobenius(&t, &t);
    fp12_mul(&m, &t, &m);
    // a = m^((x-1)^2/3)
    cyclotomic_pow(&a, &m, HARD_EXP_RAW, 2);
    // b = a^(x + p) = conj(a^|x|) a^p
    cyclotomic_pow_x_abs(&t, &a);
    fp12_conj(&t, &t);
    fp12_frobenius(&b, &a);
    fp12_mul(&b, &b, &t);
    // c = b^(x^2 + p^2 - 1) = (b^|x|)^|x| b^(p^2) conj(b)
    cyclotomic_pow_x_abs(&t, &b);
    cyclotomic_pow_x_abs(&t, &t);
    fp12_frobenius(&c, &b);
    fp12_frobenius(&c, &c);
    fp12_mul(&c, &c, &t);
    fp12_conj(&t, &b);
    fp12_mul(&c, &c, &t);
    fp12_mul(r, &c, &m);
}
