#!/usr/bin/env python3
"""Checks DP5 combined-mode values computed by the Swift implementation against py_ecc, an
independent BLS12-381 implementation.

Usage: bls_crosscheck.py SK_HEX PUBKEY_HEX EPOCH SIGMA_HEX HASHED_EPOCH_HEX GT_HEX
Prints one line per check ("OK name" or "FAIL name: detail") and exits 1 on any failure.
"""
import hashlib
import sys

from py_ecc.bls import G2Basic
from py_ecc.bls.hash_to_curve import hash_to_G2
from py_ecc.bls.point_compression import compress_G1, compress_G2
from py_ecc.optimized_bls12_381 import FQ12, G1, G2, field_modulus, multiply, pairing

DST = b"DP5-COMBINED-V1-EPOCH_BLS12381G2_XMD:SHA-256_SSWU_RO_"


class DP5EpochSuite(G2Basic):
    DST = DST


def g2_bytes(point):
    c1, c0 = compress_G2(point)
    return c1.to_bytes(48, "big") + c0.to_bytes(48, "big")


def tower_bytes(value):
    """py_ecc's Fp12 = Fp[w]/(w^12 - 2w^6 + 2) into the tower order c0.b0.a0, c0.b0.a1, ..., c1.b2.a1.

    With u = w^6 - 1 and v = w^2, the tower coefficient a0 + a1 u of w^k (k = 2j + i for ci.bj)
    is (a0 - a1) w^k + a1 w^(k+6)."""
    coefficients = [int(c) % field_modulus for c in value.coeffs]
    out = b""
    for i in (0, 1):
        for j in range(3):
            k = 2 * j + i
            a1 = coefficients[k + 6]
            a0 = (coefficients[k] + a1) % field_modulus
            out += a0.to_bytes(48, "big") + a1.to_bytes(48, "big")
    return out


def main():
    sk_hex, pub_hex, epoch, sigma_hex, hashed_hex, gt_hex = sys.argv[1:7]
    sk = int(sk_hex, 16)
    message = int(epoch).to_bytes(4, "big")
    failures = 0

    def check(name, ok, detail=""):
        nonlocal failures
        print(("OK " if ok else "FAIL ") + name + ("" if ok else ": " + detail))
        failures += 0 if ok else 1

    pub = compress_G1(multiply(G1, sk)).to_bytes(48, "big")
    check("public key", pub.hex() == pub_hex, pub.hex())
    check("sigma verifies as an IETF BLS signature", DP5EpochSuite.Verify(bytes.fromhex(pub_hex), message, bytes.fromhex(sigma_hex)))
    expected_sigma = DP5EpochSuite.Sign(sk, message)
    check("sigma equals py_ecc's signature", expected_sigma.hex() == sigma_hex, expected_sigma.hex())
    hashed = g2_bytes(hash_to_G2(message, DST, hashlib.sha256))
    check("hash_to_G2 of the epoch", hashed.hex() == hashed_hex, hashed.hex())
    # py_ecc computes f_{|x|,Q}(P) without the conjugation for the negative x: the inverse of the
    # draft's pairing, which in the cyclotomic subgroup is the conjugate (w -> -w).
    value = pairing(G2, G1)
    conjugate = FQ12([c if n % 2 == 0 else -c for n, c in enumerate(value.coeffs)])
    check("e(g1, g2) in the tower's byte order", tower_bytes(conjugate).hex() == gt_hex)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
