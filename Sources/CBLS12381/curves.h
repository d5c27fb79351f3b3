// Internal: G1 over Fp (y^2 = x^3 + 4) and G2 on the M-type twist over Fp2 (y^2 = x^3 + 4(u+1)),
// both from curve_template.h, and the psi endomorphism of the twist.
#ifndef BLS12381_CURVES_H
#define BLS12381_CURVES_H

#include "field.h"

static inline void fp_set_one(fp *r) { *r = FP_ONE; }

#define FIELD fp
#define CURVE g1
#define CURVE_B B_G1
#include "curve_template.h"
#undef FIELD
#undef CURVE
#undef CURVE_B

#define FIELD fp2
#define CURVE g2
#define CURVE_B B_G2
#include "curve_template.h"
#undef FIELD
#undef CURVE
#undef CURVE_B

/// psi = untwist o Frobenius o twist: (x, y) -> (conj(x) cx, conj(y) cy); Z is conjugated.
static inline void g2_psi(g2_jacobian *r, const g2_jacobian *a) {
    fp2 x, y, z;
    fp2_conj(&x, &a->x);
    fp2_mul(&x, &x, &PSI_CX);
    fp2_conj(&y, &a->y);
    fp2_mul(&y, &y, &PSI_CY);
    fp2_conj(&z, &a->z);
    r->x = x;
    r->y = y;
    r->z = z;
}

/// [x] a for the (negative) curve parameter x.
static inline void g2_mul_by_x(g2_jacobian *r, const g2_jacobian *a) {
    g2_mul_u64(r, a, BLS_X_ABS);
    g2_neg(r, r);
}

static inline int g1_is_in_subgroup(const g1_jacobian *a) {
    g1_jacobian t;
    g1_mul_public(&t, a, R_RAW, 4);
    return (int)g1_is_identity(&t);
}

/// Scott, "A note on group membership tests for G1, G2 and GT on BLS pairing-friendly curves":
/// a point of the twist is in G2 exactly when psi(Q) = [x] Q.
static inline int g2_is_in_subgroup(const g2_jacobian *a) {
    g2_jacobian l, r;
    g2_psi(&l, a);
    g2_mul_by_x(&r, a);
    return g2_eq(&l, &r);
}

#endif
