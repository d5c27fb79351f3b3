// Square roots in Fp2, used on public data only (decompression, hash-to-curve).
#include "field.h"

// Through Fp: for a = a0 + a1 u with a1 != 0, n = sqrt(a0^2 + a1^2), x0 = sqrt((a0 ± n)/2) and
// x1 = a1 / (2 x0) give (x0 + x1 u)^2 = a (x0^2 - x1^2 = a0 follows from n^2 = a0^2 + a1^2).
// Three or four Fp exponentiations instead of two in Fp2. The result is verified by squaring,
// so no branch can return a non-root.
int fp2_sqrt(fp2 *r, const fp2 *a) {
    fp2 x, check;
    if (fp_is_zero(&a->c1)) {
        // a in Fp: its root is in Fp, or u times the root of -a0 (-1 is a non-square mod p).
        fp s, negated;
        if (fp_sqrt(&s, &a->c0)) {
            x.c0 = s;
            fp_set_zero(&x.c1);
        } else {
            fp_neg(&negated, &a->c0);
            if (!fp_sqrt(&s, &negated)) return 0;
            fp_set_zero(&x.c0);
            x.c1 = s;
        }
    } else {
        fp norm, t, n, half_sum, x0, twice, inv;
        fp_sqr(&norm, &a->c0);
        fp_sqr(&t, &a->c1);
        fp_add(&norm, &norm, &t);
        if (!fp_sqrt(&n, &norm)) return 0;
        fp_add(&half_sum, &a->c0, &n);
        fp_mul(&half_sum, &half_sum, &FP_HALF);
        if (!fp_sqrt(&x0, &half_sum)) {
            fp_sub(&half_sum, &a->c0, &n);
            fp_mul(&half_sum, &half_sum, &FP_HALF);
            if (!fp_sqrt(&x0, &half_sum)) return 0;
        }
        fp_dbl(&twice, &x0);
        fp_inv(&inv, &twice);
        x.c0 = x0;
        fp_mul(&x.c1, &a->c1, &inv);
    }
    fp2_sqr(&check, &x);
    if (!fp2_eq(&check, a)) return 0;
    *r = x;
    return 1;
}
