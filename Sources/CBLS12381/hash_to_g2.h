// Internal: RFC 9380 hash-to-G2 after expand_message_xmd.
#ifndef BLS12381_HASH_TO_G2_H
#define BLS12381_HASH_TO_G2_H

#include "curves.h"

void g2_clear_cofactor(g2_jacobian *r, const g2_jacobian *p);
void hash_to_g2_from_uniform(g2_jacobian *r, const uint8_t uniform[256]);

#endif
