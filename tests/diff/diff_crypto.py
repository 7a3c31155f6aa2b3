#!/usr/bin/env python3
"""Differential test of relay's crypto primitives against independent
implementations: X25519, ChaCha20, Poly1305 and ChaCha20-Poly1305 from
Python's `cryptography` package (OpenSSL), BLAKE2s from hashlib, HMAC from
hmac, base64 from base64, SHA-256 from hashlib.

    diff_crypto.py CRYPTODRV [--seed N] [--scale F]

Thousands of random cases go to `cryptodrv prim` in one batch; every
answer must match.  Exit 0 when all do, 1 on the first mismatch (printed
with the seed to reproduce it), 77 when `cryptography` is missing.
"""
import base64
import hashlib
import hmac
import os
import random
import subprocess
import sys
import time

try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import (
        X25519PrivateKey, X25519PublicKey)
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    from cryptography.hazmat.primitives.poly1305 import Poly1305
except ImportError as e:
    print(f"skip: the python 'cryptography' package is missing ({e})")
    sys.exit(77)


def h(b):
    return b.hex() if b else "-"


def raw(pub):
    return pub.public_bytes(serialization.Encoding.Raw,
                            serialization.PublicFormat.Raw)


def x25519(k, u):
    """None when OpenSSL refuses the all-zero result."""
    try:
        return X25519PrivateKey.from_private_bytes(k).exchange(
            X25519PublicKey.from_public_bytes(u))
    except ValueError:
        return None


def chacha20(key, nonce, counter, msg):
    c = Cipher(algorithms.ChaCha20(key, counter.to_bytes(4, "little") +
                                   nonce), mode=None).encryptor()
    return c.update(msg) + c.finalize()


def hkdf(ck, ikm):
    """Noise section 4.3."""
    tk = hmac.new(ck, ikm, hashlib.blake2s).digest()
    o1 = hmac.new(tk, b"\x01", hashlib.blake2s).digest()
    o2 = hmac.new(tk, o1 + b"\x02", hashlib.blake2s).digest()
    o3 = hmac.new(tk, o2 + b"\x03", hashlib.blake2s).digest()
    return o1, o2, o3


def canonical_b64_key(s):
    """The 32 bytes if s is the one standard spelling of a key, else None."""
    if len(s) != 44:
        return None
    try:
        b = base64.b64decode(s, validate=True)
    except ValueError:
        return None
    if len(b) != 32 or base64.b64encode(b).decode() != s:
        return None
    return b


def length(rnd, hi):
    """Lengths that hit the edges: small, block multiples +-1, large."""
    r = rnd.random()
    if r < 0.3:
        return rnd.randrange(0, 70)
    if r < 0.6:
        return max(0, rnd.choice((64, 128, 256, 512, 1024, 4096)) *
                   rnd.randrange(1, 3) + rnd.randrange(-2, 3))
    return rnd.randrange(0, hi)


def build(rnd, scale):
    """The cases: (command line, expected answer, description)."""
    cases = []

    def n(k):
        return max(1, int(k * scale))

    for _ in range(n(1500)):
        k, u = rnd.randbytes(32), rnd.randbytes(32)
        want = x25519(k, u)
        cases.append((f"x {h(k)} {h(u)}",
                      want.hex() if want else None, "x25519"))
    # low-order points among random scalars
    for u in ("00" * 32, "01" + "00" * 31,
              "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
              "ec" + "ff" * 30 + "7f"):
        k = rnd.randbytes(32)
        assert x25519(k, bytes.fromhex(u)) is None
        cases.append((f"x {h(k)} {u}", None, "x25519 low order"))
    for _ in range(n(500)):
        k = rnd.randbytes(32)
        cases.append((f"xb {h(k)}", raw(X25519PrivateKey.from_private_bytes(
            k).public_key()).hex(), "x25519 base"))
    for _ in range(n(2000)):
        key, nonce = rnd.randbytes(32), rnd.randbytes(12)
        ad = rnd.randbytes(rnd.choice((0, 0, 1, 12, 13, 16, 17, 64,
                                       rnd.randrange(0, 300))))
        pt = rnd.randbytes(length(rnd, 5000))
        ct = ChaCha20Poly1305(key).encrypt(nonce, pt, ad)
        cases.append((f"seal {h(key)} {h(nonce)} {h(ad)} {h(pt)}",
                      ct.hex(), "aead seal"))
        cases.append((f"open {h(key)} {h(nonce)} {h(ad)} {h(ct)}",
                      h(pt), "aead open"))
        # one flipped bit anywhere: refused (and checked by OpenSSL too)
        bad = bytearray(ct)
        bit = rnd.randrange(len(bad) * 8)
        bad[bit // 8] ^= 1 << (bit % 8)
        try:
            ChaCha20Poly1305(key).decrypt(nonce, bytes(bad), ad)
            raise AssertionError("OpenSSL accepted a tampered message")
        except InvalidTag:
            pass
        cases.append((f"open {h(key)} {h(nonce)} {h(ad)} {h(bytes(bad))}",
                      None, "aead open tampered"))
        if ad:
            cases.append((f"open {h(key)} {h(nonce)} {h(ad[:-1])} {h(ct)}",
                          None, "aead open wrong ad"))
    for _ in range(n(600)):
        key, nonce = rnd.randbytes(32), rnd.randbytes(12)
        msg = rnd.randbytes(length(rnd, 9000))
        # stay below the 32-bit counter's wrap: OpenSSL carries into the
        # nonce there, RFC 8439 does not define it (test_crypto checks ours)
        ctr = rnd.choice((0, 1, rnd.randrange(0, 2**32 - 200)))
        cases.append((f"chacha {h(key)} {h(nonce)} {ctr} {h(msg)}",
                      h(chacha20(key, nonce, ctr, msg)), "chacha20"))
    for _ in range(n(1000)):
        key = rnd.randbytes(32)
        msg = rnd.randbytes(length(rnd, 5000))
        cases.append((f"poly {h(key)} {h(msg)}",
                      Poly1305.generate_tag(key, msg).hex(), "poly1305"))
    for _ in range(n(2000)):
        outlen = rnd.choice((32, 32, 16, 1, rnd.randrange(1, 33)))
        key = rnd.randbytes(rnd.choice((0, 0, 32, rnd.randrange(1, 33))))
        msg = rnd.randbytes(length(rnd, 3000))
        cases.append((f"b2s {outlen} {h(key)} {h(msg)}",
                      hashlib.blake2s(msg, digest_size=outlen,
                                      key=key).hexdigest(), "blake2s"))
    for _ in range(n(600)):
        key = rnd.randbytes(rnd.choice((0, 32, 64, 65, rnd.randrange(0, 130))))
        msg = rnd.randbytes(length(rnd, 600))
        cases.append((f"hmac {h(key)} {h(msg)}",
                      hmac.new(key, msg, hashlib.blake2s).hexdigest(),
                      "hmac-blake2s"))
    for _ in range(n(400)):
        ck = rnd.randbytes(32)
        ikm = rnd.randbytes(rnd.choice((0, 32, rnd.randrange(0, 100))))
        cases.append((f"hkdf {h(ck)} {h(ikm)}",
                      " ".join(o.hex() for o in hkdf(ck, ikm)), "hkdf"))
    for _ in range(n(1000)):
        k = rnd.randbytes(32)
        s = base64.b64encode(k).decode()
        cases.append((f"b64 {h(k)}", s, "base64 encode"))
        cases.append((f"unb64 {s}", k.hex(), "base64 decode"))
        # one character replaced: accepted exactly when still canonical
        t = list(s)
        t[rnd.randrange(44)] = chr(rnd.choice(
            (rnd.randrange(33, 127), ord(rnd.choice("AQgw=+/")))))
        t = "".join(t)
        want = canonical_b64_key(t)
        cases.append((f"unb64 {t}", want.hex() if want else None,
                      "base64 decode mutated"))
        fp = "SHA256:" + base64.b64encode(
            hashlib.sha256(k).digest()).decode().rstrip("=")
        cases.append((f"fp {h(k)}", fp, "fingerprint"))
    for _ in range(n(200)):
        sec = rnd.randbytes(rnd.randrange(1, 200))
        cases.append((f"psk {h(sec)}",
                      hashlib.blake2s(b"relay-psk-1" + sec).hexdigest(),
                      "psk"))
    rnd.shuffle(cases)
    return cases


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 64
    drv = args[0]
    seed = int(time.time() * 1000) % 2**31
    scale = 1.0
    if "--seed" in args:
        seed = int(args[args.index("--seed") + 1])
    if "--scale" in args:
        scale = float(args[args.index("--scale") + 1])
    rnd = random.Random(seed)
    cases = build(rnd, scale)
    inp = "".join(c + "\n" for c, _, _ in cases)
    p = subprocess.run([drv, "prim"], input=inp, capture_output=True,
                       text=True, timeout=300)
    if p.returncode != 0:
        print(f"cryptodrv failed ({p.returncode}): {p.stderr.strip()}")
        return 1
    out = p.stdout.split("\n")
    counts = {}
    for i, (cmd, want, what) in enumerate(cases):
        got = out[i] if i < len(out) else "<no answer>"
        if want is None:
            ok = got == "FAIL" or got.startswith("FAIL ")
            if what.startswith("x25519"):
                ok = got == "FAIL " + "00" * 32
        else:
            ok = got == want
        if not ok:
            print(f"MISMATCH ({what}), seed {seed}, case {i}:\n"
                  f"  command: {cmd[:300]}\n  ours:    {got[:300]}\n"
                  f"  theirs:  {(want or 'FAIL')[:300]}")
            return 1
        counts[what] = counts.get(what, 0) + 1
    print(f"ok: {len(cases)} cases agree (seed {seed}): " +
          ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
