// Internal: the optimal ate pairing.
#ifndef BLS12381_PAIRING_H
#define BLS12381_PAIRING_H

#include "curves.h"
#include "tower.h"

#define MILLER_STEPS 68

/// One Miller-loop line, independent of P: l(P) = a + (b xP) v + (c yP) v w.
typedef struct { fp2 a, b, c; } miller_line;

void miller_prepare(miller_line lines[MILLER_STEPS], const g2_affine *q);
/// f_{x,Q}(P) for the negative x: the conjugate of f_{|x|,Q}(P).
void miller_loop_prepared(fp12 *f, const g1_affine *p, const miller_line lines[MILLER_STEPS]);
void final_exponentiation(fp12 *r, const fp12 *f);

#endif
