// Square roots in Fp2, used on public data only (decompression, hash-to-curve).
#include "field.h"

int fp2_is_square(const fp2 *a) {
    fp n, t, legendre, minus_one;
    fp_sqr(&n, &a->c0);
    fp_sqr(&t, &a->c1);
    fp_add(&n, &n, &t);
    fp_pow(&legendre, &n, EXP_P_MINUS_1_DIV_2, 6);
    fp_neg(&minus_one, &FP_ONE);
    return !fp_eq(&legendre, &minus_one);
}

// Adj and Rodríguez-Henríquez, "Square root computation over even extension fields", Algorithm 9
// (q = 3 mod 4). The result is verified by squaring, so a wrong branch can never return a non-root.
int fp2_sqrt(fp2 *r, const fp2 *a) {
    if (fp2_is_zero(a)) {
        fp2_set_zero(r);
        return 1;
    }
    fp2 a1, alpha, x0, x, conj_alpha, check;
    fp2_pow(&a1, a, EXP_P_MINUS_3_DIV_4, 6);
    fp2_sqr(&alpha, &a1);
    fp2_mul(&alpha, &alpha, a);
    fp2_mul(&x0, &a1, a);
    fp2 minus_one;
    fp2_set_one(&minus_one);
    fp2_neg(&minus_one, &minus_one);
    fp2_conj(&conj_alpha, &alpha);
    fp2 norm;
    fp2_mul(&norm, &conj_alpha, &alpha);
    if (fp2_eq(&norm, &minus_one)) return 0;
    if (fp2_eq(&alpha, &minus_one)) {
        // x = u * x0
        fp t = x0.c0;
        fp_neg(&x.c0, &x0.c1);
        x.c1 = t;
    } else {
        fp2 b, one;
        fp2_set_one(&one);
        fp2_add(&b, &one, &alpha);
        fp2_pow(&b, &b, EXP_P_MINUS_1_DIV_2, 6);
        fp2_mul(&x, &b, &x0);
    }
    fp2_sqr(&check, &x);
    if (!fp2_eq(&check, a)) return 0;
    *r = x;
    return 1;
}
