// Internal: short-Weierstrass (a = 0) arithmetic in Jacobian coordinates, instantiated for G1
// (over Fp) and G2 (over Fp2) by g1.c and g2.c. Before including, define
//   FIELD (fp or fp2), CURVE (g1 or g2) and CURVE_B (the constant b of y^2 = x^3 + b).
// A point (X, Y, Z) is (X/Z^2, Y/Z^3); Z = 0 is the identity.
#define BLS_CAT(a, b) a##b
#define BLS_XCAT(a, b) BLS_CAT(a, b)
#define F(name) BLS_XCAT(FIELD, _##name)
#define C(name) BLS_XCAT(CURVE, _##name)
#define FE FIELD
#define JAC C(jacobian)
#define AFF C(affine)

typedef struct { FE x, y, z; } JAC;
/// The words that cross the public interface: x, y, then 1 for the identity.
typedef struct { FE x, y; uint64_t infinity; } AFF;

static inline void C(set_identity)(JAC *r) {
    memset(r, 0, sizeof *r);
    F(set_one)(&r->x);
    F(set_one)(&r->y);
}

static inline void C(from_affine)(JAC *r, const AFF *a) {
    r->x = a->x;
    r->y = a->y;
    F(set_one)(&r->z);
    if (a->infinity) C(set_identity)(r);
}

static inline uint64_t C(is_identity)(const JAC *a) { return F(is_zero)(&a->z); }

static inline void C(to_affine)(AFF *r, const JAC *a) {
    memset(r, 0, sizeof *r);
    if (C(is_identity)(a)) {
        r->infinity = 1;
        return;
    }
    FE zi, zi2, zi3;
    F(inv)(&zi, &a->z);
    F(sqr)(&zi2, &zi);
    F(mul)(&zi3, &zi2, &zi);
    F(mul)(&r->x, &a->x, &zi2);
    F(mul)(&r->y, &a->y, &zi3);
}

/// y^2 == x^3 + b for an affine point (the identity counts as on the curve).
static inline int C(affine_is_on_curve)(const AFF *a) {
    if (a->infinity) return 1;
    FE lhs, rhs;
    F(sqr)(&lhs, &a->y);
    F(sqr)(&rhs, &a->x);
    F(mul)(&rhs, &rhs, &a->x);
    F(add)(&rhs, &rhs, &CURVE_B);
    return (int)F(eq)(&lhs, &rhs);
}

static inline void C(neg)(JAC *r, const JAC *a) {
    r->x = a->x;
    F(neg)(&r->y, &a->y);
    r->z = a->z;
}

// dbl-2009-l: M = 3 X^2, S = 4 X Y^2, X3 = M^2 - 2S, Y3 = M (S - X3) - 8 Y^4, Z3 = 2 Y Z.
static inline void C(dbl)(JAC *r, const JAC *a) {
    FE xx, yy, yyyy, s, m, t, x3, y3, z3;
    F(sqr)(&xx, &a->x);
    F(sqr)(&yy, &a->y);
    F(sqr)(&yyyy, &yy);
    F(add)(&s, &a->x, &yy);
    F(sqr)(&s, &s);
    F(sub)(&s, &s, &xx);
    F(sub)(&s, &s, &yyyy);
    F(dbl)(&s, &s);
    F(dbl)(&m, &xx);
    F(add)(&m, &m, &xx);
    F(sqr)(&x3, &m);
    F(dbl)(&t, &s);
    F(sub)(&x3, &x3, &t);
    F(sub)(&t, &s, &x3);
    F(mul)(&y3, &m, &t);
    F(dbl)(&t, &yyyy);
    F(dbl)(&t, &t);
    F(dbl)(&t, &t);
    F(sub)(&y3, &y3, &t);
    F(mul)(&z3, &a->y, &a->z);
    F(dbl)(&z3, &z3);
    r->x = x3;
    r->y = y3;
    r->z = z3;
}

// add-2007-bl with the identity cases selected by masks. The doubling case (equal inputs) takes a
// branch; the constant-time scalar multiplication below never reaches it.
static inline void C(add)(JAC *r, const JAC *a, const JAC *b) {
    FE z1z1, z2z2, u1, u2, s1, s2, h, i, j, rr, v, t, x3, y3, z3;
    F(sqr)(&z1z1, &a->z);
    F(sqr)(&z2z2, &b->z);
    F(mul)(&u1, &a->x, &z2z2);
    F(mul)(&u2, &b->x, &z1z1);
    F(mul)(&s1, &a->y, &b->z);
    F(mul)(&s1, &s1, &z2z2);
    F(mul)(&s2, &b->y, &a->z);
    F(mul)(&s2, &s2, &z1z1);
    F(sub)(&h, &u2, &u1);
    F(sub)(&rr, &s2, &s1);
    uint64_t a_inf = C(is_identity)(a), b_inf = C(is_identity)(b);
    if (F(is_zero)(&h) & F(is_zero)(&rr) & (a_inf ^ 1) & (b_inf ^ 1)) {
        C(dbl)(r, a);
        return;
    }
    F(dbl)(&i, &h);
    F(sqr)(&i, &i);
    F(mul)(&j, &h, &i);
    F(dbl)(&rr, &rr);
    F(mul)(&v, &u1, &i);
    F(sqr)(&x3, &rr);
    F(sub)(&x3, &x3, &j);
    F(sub)(&x3, &x3, &v);
    F(sub)(&x3, &x3, &v);
    F(sub)(&t, &v, &x3);
    F(mul)(&y3, &rr, &t);
    F(mul)(&t, &s1, &j);
    F(dbl)(&t, &t);
    F(sub)(&y3, &y3, &t);
    F(add)(&z3, &a->z, &b->z);
    F(sqr)(&z3, &z3);
    F(sub)(&z3, &z3, &z1z1);
    F(sub)(&z3, &z3, &z2z2);
    F(mul)(&z3, &z3, &h);
    // a = identity -> b; b = identity -> a.
    F(cmov)(&x3, &b->x, a_inf);
    F(cmov)(&y3, &b->y, a_inf);
    F(cmov)(&z3, &b->z, a_inf);
    F(cmov)(&x3, &a->x, b_inf);
    F(cmov)(&y3, &a->y, b_inf);
    F(cmov)(&z3, &a->z, b_inf);
    r->x = x3;
    r->y = y3;
    r->z = z3;
}

static inline void C(cmov)(JAC *r, const JAC *a, uint64_t flag) {
    F(cmov)(&r->x, &a->x, flag);
    F(cmov)(&r->y, &a->y, flag);
    F(cmov)(&r->z, &a->z, flag);
}

/// scalar (32 bytes big-endian) * a in constant time: 4-bit fixed windows, masked table scans.
static inline void C(mul_ct)(JAC *r, const JAC *a, const uint8_t scalar[32]) {
    JAC table[16], acc, entry;
    C(set_identity)(&table[0]);
    table[1] = *a;
    for (int i = 2; i < 16; i++) {
        if (i % 2 == 0) C(dbl)(&table[i], &table[i / 2]);
        else C(add)(&table[i], &table[i - 1], a);
    }
    C(set_identity)(&acc);
    for (int n = 0; n < 64; n++) {
        for (int k = 0; k < 4; k++) C(dbl)(&acc, &acc);
        uint64_t digit = (scalar[n / 2] >> ((n % 2) ? 0 : 4)) & 0xF;
        C(set_identity)(&entry);
        for (uint64_t i = 0; i < 16; i++) C(cmov)(&entry, &table[i], (uint64_t)((i ^ digit) == 0));
        C(add)(&acc, &acc, &entry);
    }
    *r = acc;
}

/// k * a for a public 64-bit k (double and add, variable time).
static inline void C(mul_u64)(JAC *r, const JAC *a, uint64_t k) {
    JAC acc;
    C(set_identity)(&acc);
    for (int i = 63; i >= 0; i--) {
        C(dbl)(&acc, &acc);
        if ((k >> i) & 1) C(add)(&acc, &acc, a);
    }
    *r = acc;
}

/// k * a for a public multi-word k (little-endian words), variable time.
static inline void C(mul_public)(JAC *r, const JAC *a, const uint64_t *k, int words) {
    JAC acc;
    C(set_identity)(&acc);
    for (int i = words * 64 - 1; i >= 0; i--) {
        C(dbl)(&acc, &acc);
        if ((k[i / 64] >> (i % 64)) & 1) C(add)(&acc, &acc, a);
    }
    *r = acc;
}

/// Projective equality: X1 Z2^2 = X2 Z1^2 and Y1 Z2^3 = Y2 Z1^3.
static inline int C(eq)(const JAC *a, const JAC *b) {
    uint64_t ai = C(is_identity)(a), bi = C(is_identity)(b);
    if (ai | bi) return (int)(ai & bi);
    FE z1z1, z2z2, l, rgt, t;
    F(sqr)(&z1z1, &a->z);
    F(sqr)(&z2z2, &b->z);
    F(mul)(&l, &a->x, &z2z2);
    F(mul)(&rgt, &b->x, &z1z1);
    if (!F(eq)(&l, &rgt)) return 0;
    F(mul)(&t, &z2z2, &b->z);
    F(mul)(&l, &a->y, &t);
    F(mul)(&t, &z1z1, &a->z);
    F(mul)(&rgt, &b->y, &t);
    return (int)F(eq)(&l, &rgt);
}

#undef F
#undef C
#undef FE
#undef JAC
#undef AFF
