// RFC 9380 hash_to_curve for BLS12381G2_XMD:SHA-256_SSWU_RO_, from the 256 uniform bytes of
// expand_message_xmd: hash_to_field (§5.2), simplified SWU on the 3-isogenous curve E2' (§6.6.2),
// the 3-isogeny map (Appendix E.3) and cofactor clearing with psi (Appendix G.3). The inputs are
// public (the epoch), so the square-root branches do not need to be constant time.
#include "hash_to_g2.h"

/// 64 bytes big-endian, reduced mod p: hi * 2^256 + lo.
static void fp_from_be64_reduced(fp *r, const uint8_t in[64]) {
    uint64_t hi[6] = {0}, lo[6] = {0};
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 8; j++) {
            hi[i] = (hi[i] << 8) | in[(3 - i) * 8 + j];
            lo[i] = (lo[i] << 8) | in[32 + (3 - i) * 8 + j];
        }
    }
    fp h, l;
    fp_from_raw(&h, hi);
    fp_from_raw(&l, lo);
    fp_mul(&h, &h, &FP_2POW256);
    fp_add(r, &h, &l);
}

static void sswu_rhs(fp2 *r, const fp2 *x) {
    fp2 t;
    fp2_sqr(&t, x);
    fp2_mul(&t, &t, x);
    fp2 ax;
    fp2_mul(&ax, &SSWU_A, x);
    fp2_add(&t, &t, &ax);
    fp2_add(r, &t, &SSWU_B);
}

/// Simplified SWU onto E2': y^2 = x^3 + A' x + B'.
static void map_to_curve_sswu(fp2 *x, fp2 *y, const fp2 *u) {
    fp2 u2, zu2, tv1, x1, gx1, x2, gx2, one;
    fp2_set_one(&one);
    fp2_sqr(&u2, u);
    fp2_mul(&zu2, &SSWU_Z, &u2);
    // tv1 = inv0(Z^2 u^4 + Z u^2)
    fp2_sqr(&tv1, &zu2);
    fp2_add(&tv1, &tv1, &zu2);
    int exceptional = (int)fp2_is_zero(&tv1);
    if (!exceptional) fp2_inv(&tv1, &tv1);
    // x1 = (-B / A) (1 + tv1), or B / (Z A) when tv1 = 0
    if (exceptional) {
        x1 = SSWU_B_OVER_ZA;
    } else {
        fp2_add(&x1, &one, &tv1);
        fp2_mul(&x1, &x1, &SSWU_MINUS_B_OVER_A);
    }
    sswu_rhs(&gx1, &x1);
    fp2_mul(&x2, &zu2, &x1);
    sswu_rhs(&gx2, &x2);
    // A failed square root stops after its first Fp exponentiation (the norm's root).
    if (fp2_sqrt(y, &gx1)) {
        *x = x1;
    } else {
        fp2_sqrt(y, &gx2);  // gx2 is a square whenever gx1 is not
        *x = x2;
    }
    if (fp2_sgn0(u) != fp2_sgn0(y)) fp2_neg(y, y);
}

static void horner(fp2 *r, const fp2 *const *k, int degree, const fp2 *x) {
    fp2 acc = *k[degree];
    for (int i = degree - 1; i >= 0; i--) {
        fp2_mul(&acc, &acc, x);
        fp2_add(&acc, &acc, k[i]);
    }
    *r = acc;
}

/// The 3-isogeny E2' -> E2, output in Jacobian coordinates (no inversion); denominators of zero
/// give Z = 0, the identity, as RFC 9380 requires.
static void iso_map(g2_jacobian *r, const fp2 *x, const fp2 *y) {
    static const fp2 *const xnum[4] = {&ISO_XNUM_0, &ISO_XNUM_1, &ISO_XNUM_2, &ISO_XNUM_3};
    static const fp2 *const xden[3] = {&ISO_XDEN_0, &ISO_XDEN_1, &ISO_XDEN_2};
    static const fp2 *const ynum[4] = {&ISO_YNUM_0, &ISO_YNUM_1, &ISO_YNUM_2, &ISO_YNUM_3};
    static const fp2 *const yden[4] = {&ISO_YDEN_0, &ISO_YDEN_1, &ISO_YDEN_2, &ISO_YDEN_3};
    fp2 xn, xd, yn, yd, t, yd2, xd3;
    horner(&xn, xnum, 3, x);
    horner(&xd, xden, 2, x);
    horner(&yn, ynum, 3, x);
    horner(&yd, yden, 3, x);
    // Z = xd yd, X = xn xd yd^2, Y = y yn xd^3 yd^2
    fp2_mul(&r->z, &xd, &yd);
    fp2_sqr(&yd2, &yd);
    fp2_mul(&t, &xn, &xd);
    fp2_mul(&r->x, &t, &yd2);
    fp2_sqr(&xd3, &xd);
    fp2_mul(&xd3, &xd3, &xd);
    fp2_mul(&t, y, &yn);
    fp2_mul(&t, &t, &xd3);
    fp2_mul(&r->y, &t, &yd2);
}

/// RFC 9380 Appendix G.3 with c1 = x: h_eff * P via psi.
void g2_clear_cofactor(g2_jacobian *r, const g2_jacobian *p) {
    g2_jacobian t1, t2, t3, np;
    g2_mul_by_x(&t1, p);
    g2_psi(&t2, p);
    g2_dbl(&t3, p);
    g2_psi(&t3, &t3);
    g2_psi(&t3, &t3);
    g2_neg(&np, &t2);
    g2_add(&t3, &t3, &np);
    g2_add(&t2, &t1, &t2);
    g2_mul_by_x(&t2, &t2);
    g2_add(&t3, &t3, &t2);
    g2_neg(&np, &t1);
    g2_add(&t3, &t3, &np);
    g2_neg(&np, p);
    g2_add(r, &t3, &np);
}

void hash_to_g2_from_uniform(g2_jacobian *r, const uint8_t uniform[256]) {
    fp2 u0, u1, x, y;
    fp_from_be64_reduced(&u0.c0, uniform);
    fp_from_be64_reduced(&u0.c1, uniform + 64);
    fp_from_be64_reduced(&u1.c0, uniform + 128);
    fp_from_be64_reduced(&u1.c1, uniform + 192);
    g2_jacobian q0, q1, sum;
    map_to_curve_sswu(&x, &y, &u0);
    iso_map(&q0, &x, &y);
    map_to_curve_sswu(&x, &y, &u1);
    iso_map(&q1, &x, &y);
    g2_add(&sum, &q0, &q1);
    g2_clear_cofactor(r, &sum);
}
