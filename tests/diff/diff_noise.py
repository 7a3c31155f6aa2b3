#!/usr/bin/env python3
"""Differential test of relay's Noise handshakes and record layer against
an independent implementation: the Noise state machine below is written
from the spec (revision 34) on top of Python's `cryptography` (X25519,
ChaCha20-Poly1305) and hashlib.blake2s, and shares no code with the C.

    diff_noise.py CRYPTODRV [--seed N] [--records N]

For IK and NNpsk0, with our C code as initiator and as responder (and an
IK responder whose static key sits behind the DH callback), it runs a
complete handshake with `cryptodrv noise` over pipes, checks the handshake
hash, payloads and learned keys, then sends records of random sizes that
the driver echoes, with the rekey interval lowered so that both directions
rekey several times.  Then the failures: a wrong pinned key, a wrong PSK, a
tampered or truncated handshake message, a tampered record, a record of a
bad length, each with the driver's exit status for it.
Exit 0 when everything agrees, 1 otherwise, 77 without `cryptography`.
"""
import hashlib
import hmac
import random
import struct
import subprocess
import sys
import threading
import time

try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import (
        X25519PrivateKey, X25519PublicKey)
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
except ImportError as e:
    print(f"skip: the python 'cryptography' package is missing ({e})")
    sys.exit(77)

MAX_NONCE = 2**64 - 1
EXIT_AUTH, EXIT_MALFORMED, EXIT_DH, EXIT_RECORD = 12, 11, 13, 3


class Failure(Exception):
    pass


# ---- the Noise framework, from the spec ----

def dh(priv, pub):
    return X25519PrivateKey.from_private_bytes(priv).exchange(
        X25519PublicKey.from_public_bytes(pub))


def pub_of(priv):
    return X25519PrivateKey.from_private_bytes(priv).public_key(
    ).public_bytes(serialization.Encoding.Raw,
                   serialization.PublicFormat.Raw)


def hash_(data):
    return hashlib.blake2s(data).digest()


def hkdf(ck, ikm, n):
    tk = hmac.new(ck, ikm, hashlib.blake2s).digest()
    out, prev = [], b""
    for i in range(1, n + 1):
        prev = hmac.new(tk, prev + bytes([i]), hashlib.blake2s).digest()
        out.append(prev)
    return out


def nonce(n):
    return b"\0\0\0\0" + struct.pack("<Q", n)


class CipherState:
    def __init__(self, k=None):
        self.k, self.n = k, 0

    def encrypt(self, ad, pt):
        if self.k is None:
            return pt
        if self.n == MAX_NONCE:
            raise Failure("nonce exhausted")
        ct = ChaCha20Poly1305(self.k).encrypt(nonce(self.n), pt, ad)
        self.n += 1
        return ct

    def decrypt(self, ad, ct):
        if self.k is None:
            return ct
        pt = ChaCha20Poly1305(self.k).decrypt(nonce(self.n), ct, ad)
        self.n += 1
        return pt

    def rekey(self):
        self.k = ChaCha20Poly1305(self.k).encrypt(
            nonce(MAX_NONCE), bytes(32), b"")[:32]


PATTERNS = {
    "IK": (["e", "es", "s", "ss"], ["e", "ee", "se"]),
    "NNpsk0": (["psk", "e"], ["e", "ee"]),
}


class Handshake:
    def __init__(self, pattern, initiator, prologue, s=None, rs=None,
                 psk=None, e=None):
        self.pattern, self.initiator = pattern, initiator
        self.s, self.rs, self.psk, self.e = s, rs, psk, e
        self.re = None
        name = f"Noise_{pattern}_25519_ChaChaPoly_BLAKE2s".encode()
        self.h = name.ljust(32, b"\0") if len(name) <= 32 else hash_(name)
        self.ck = self.h
        self.cs = CipherState()
        self.mix_hash(prologue)
        if pattern == "IK":
            self.mix_hash(rs if initiator else pub_of(s))
        self.msg = 0

    def mix_hash(self, data):
        self.h = hash_(self.h + data)

    def mix_key(self, ikm):
        self.ck, k = hkdf(self.ck, ikm, 2)
        self.cs = CipherState(k)

    def mix_key_and_hash(self, ikm):
        self.ck, th, k = hkdf(self.ck, ikm, 3)
        self.mix_hash(th)
        self.cs = CipherState(k)

    def enc_hash(self, pt):
        ct = self.cs.encrypt(self.h, pt)
        self.mix_hash(ct)
        return ct

    def dec_hash(self, ct):
        pt = self.cs.decrypt(self.h, ct)
        self.mix_hash(ct)
        return pt

    def dh_token(self, t):
        i = self.initiator
        keys = {"ee": (self.e, self.re),
                "es": (self.e, self.rs) if i else (self.s, self.re),
                "se": (self.s, self.re) if i else (self.e, self.rs),
                "ss": (self.s, self.rs)}[t]
        self.mix_key(dh(*keys))

    def write(self, payload):
        out = b""
        for t in PATTERNS[self.pattern][self.msg]:
            if t == "e":
                if self.e is None:
                    self.e = random.randbytes(32)
                out += pub_of(self.e)
                self.mix_hash(pub_of(self.e))
                if self.pattern.endswith("psk0"):
                    self.mix_key(pub_of(self.e))
            elif t == "s":
                out += self.enc_hash(pub_of(self.s))
            elif t == "psk":
                self.mix_key_and_hash(self.psk)
            else:
                self.dh_token(t)
        out += self.enc_hash(payload)
        self.msg += 1
        return out

    def read(self, m):
        for t in PATTERNS[self.pattern][self.msg]:
            if t == "e":
                self.re, m = m[:32], m[32:]
                self.mix_hash(self.re)
                if self.pattern.endswith("psk0"):
                    self.mix_key(self.re)
            elif t == "s":
                n = 48 if self.cs.k is not None else 32
                self.rs, m = self.dec_hash(m[:n]), m[n:]
            elif t == "psk":
                self.mix_key_and_hash(self.psk)
            else:
                self.dh_token(t)
        pt = self.dec_hash(m)
        self.msg += 1
        return pt

    def split(self):
        k1, k2 = hkdf(self.ck, b"", 2)
        c1, c2 = CipherState(k1), CipherState(k2)
        return (c1, c2) if self.initiator else (c2, c1)


# ---- the record layer, from its description in include/noise.h ----

def seal(cs, pt, interval):
    assert 1 <= len(pt) <= 65519
    ct = cs.encrypt(b"", pt)
    if cs.n % interval == 0:
        cs.rekey()
    return struct.pack(">H", len(ct)) + ct


class Reader:
    """Records from a byte stream, as the receiving end must see them."""

    def __init__(self, stream, cs, interval):
        self.f, self.cs, self.interval = stream, cs, interval

    def exact(self, n):
        b = b""
        while len(b) < n:
            c = self.f.read(n - len(b))
            if not c:
                raise Failure(f"EOF after {len(b)} of {n} bytes")
            b += c
        return b

    def record(self):
        (n,) = struct.unpack(">H", self.exact(2))
        if n < 17:
            raise Failure(f"record length {n}")
        pt = self.cs.decrypt(b"", self.exact(n))
        if self.cs.n % self.interval == 0:
            self.cs.rekey()
        return pt


# ---- sessions with the driver ----

def frame(m):
    return struct.pack(">H", len(m)) + m


def read_frame(f):
    h = f.read(2)
    if len(h) < 2:
        raise Failure("no handshake message from the driver")
    (n,) = struct.unpack(">H", h)
    m = f.read(n)
    if len(m) != n:
        raise Failure("short handshake message from the driver")
    return m


def spawn(drv, pattern, role, args):
    argv = [drv, "noise", pattern, role] + [f"{k}={v}" for k, v in
                                            args.items()]
    return subprocess.Popen(argv, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(p, timeout=30):
    try:
        p.stdin.close()
    except BrokenPipeError:
        pass
    try:
        rc = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise Failure("driver did not exit")
    err = p.stderr.read().decode(errors="replace").strip()
    p.stdout.close()
    p.stderr.close()
    return rc, err


def session(drv, rnd, pattern, c_role, nrec, interval, use_dh=False):
    """A full session, C on c_role, Python on the other side."""
    prologue = rnd.randbytes(rnd.randrange(0, 40))
    c_static, py_static = rnd.randbytes(32), rnd.randbytes(32)
    psk = rnd.randbytes(32)
    payload = rnd.randbytes(rnd.randrange(0, 200))
    args = {"prologue": prologue.hex() or "-", "rekey": interval,
            "seed": rnd.randrange(1, 2**31)}
    py_init = c_role == "responder"
    if pattern == "IK":
        # The initiator pins the responder's key.
        args["s"] = c_static.hex()
        if c_role == "initiator":
            args["rs"] = pub_of(py_static).hex()
            args["payload"] = payload.hex() or "-"
        if use_dh:
            args["dh"] = 1
        hs = Handshake("IK", py_init, prologue, s=py_static,
                       rs=pub_of(c_static) if py_init else None)
    else:
        args["psk"] = psk.hex()
        if c_role == "initiator":
            args["payload"] = payload.hex() or "-"
        hs = Handshake("NNpsk0", py_init, prologue, psk=psk)
    p = spawn(drv, pattern, c_role, args)
    try:
        if py_init:
            p.stdin.write(frame(hs.write(payload)))
            p.stdin.flush()
            got = hs.read(read_frame(p.stdout))
            want = payload + (pub_of(py_static) if pattern == "IK" else b"")
            if got != want:
                raise Failure("message 2 payload is not the echo")
        else:
            got = hs.read(read_frame(p.stdout))
            if got != payload:
                raise Failure("message 1 payload differs")
            if pattern == "IK" and hs.rs != pub_of(c_static):
                raise Failure("the initiator's static key differs")
            reply = rnd.randbytes(rnd.randrange(0, 100))
            p.stdin.write(frame(hs.write(reply)))
            p.stdin.flush()
        send, recv = hs.split()
        rd = Reader(p.stdout, recv, interval)
        first = rd.record()
        if first[:32] != hs.h:
            raise Failure("handshake hashes differ")
        echoed = first[32:]
        if not py_init and echoed != reply:
            raise Failure("the driver's first record lacks our payload")
        sizes = []
        for i in range(nrec):
            r = rnd.random()
            sizes.append(65519 if r < 0.05 else rnd.randrange(1, 40)
                         if r < 0.5 else rnd.randrange(1, 65520))
        msgs = [rnd.randbytes(n) for n in sizes]
        # A writer thread, so neither side blocks on a full pipe.
        def writer():
            try:
                buf = b"".join(seal(send, m, interval) for m in msgs)
                # in pieces of random sizes, to split records anywhere
                i = 0
                wr = random.Random(rnd.randrange(2**31))
                while i < len(buf):
                    n = wr.choice((1, 2, 3, 100, 5000, 70000))
                    p.stdin.write(buf[i:i + n])
                    p.stdin.flush()
                    i += n
                p.stdin.close()
            except BrokenPipeError:
                pass
        t = threading.Thread(target=writer)
        t.start()
        for i, m in enumerate(msgs):
            got = rd.record()
            if got != m:
                raise Failure(f"record {i} ({len(m)} bytes) echoed wrong")
        t.join()
        rc, err = finish(p)
        if rc != 0:
            raise Failure(f"driver exited {rc}: {err}")
        # every record after the first crossed (nrec + 1) // interval rekeys
        return send.n, recv.n
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def expect_exit(p, want, what):
    rc, err = finish(p)
    if rc != want:
        raise Failure(f"{what}: driver exited {rc} ({err}), expected {want}")


def failures(drv, rnd):
    """Each broken session ends with the driver's exit status for it."""
    n = 0
    s_c, s_py, other = rnd.randbytes(32), rnd.randbytes(32), rnd.randbytes(32)
    # IK: the backend (Python) pinned a key the relay (C) does not have.
    for use_dh in (0, 1):
        p = spawn(drv, "IK", "responder", {"s": s_c.hex(), "dh": use_dh})
        hs = Handshake("IK", True, b"", s=s_py, rs=pub_of(other))
        p.stdin.write(frame(hs.write(b"hello")))
        expect_exit(p, EXIT_AUTH, "IK wrong pinned key")
        n += 1
    # IK: the C initiator pinned a key; an impostor without it cannot
    # read message 1, and whatever it answers fails at the initiator.
    p = spawn(drv, "IK", "initiator", {"s": s_c.hex(),
                                       "rs": pub_of(s_py).hex()})
    impostor = Handshake("IK", False, b"", s=other)
    try:
        impostor.read(read_frame(p.stdout))
        raise Failure("Python read message 1 without the pinned key")
    except InvalidTag:
        pass
    p.stdin.write(frame(pub_of(rnd.randbytes(32)) + rnd.randbytes(16)))
    expect_exit(p, EXIT_AUTH, "IK impostor responder")
    # the real responder's message 2, altered in flight
    p = spawn(drv, "IK", "initiator", {"s": s_c.hex(),
                                       "rs": pub_of(s_py).hex()})
    hs = Handshake("IK", False, b"", s=s_py)
    hs.read(read_frame(p.stdout))
    m2 = bytearray(hs.write(b"welcome"))
    m2[rnd.randrange(len(m2))] ^= 1 << rnd.randrange(8)
    p.stdin.write(frame(bytes(m2)))
    expect_exit(p, EXIT_AUTH if m2[:32] != bytes(32) else EXIT_DH,
                "IK message 2 altered")
    n += 2
    # NNpsk0 with another PSK, both roles
    psk = rnd.randbytes(32)
    p = spawn(drv, "NNpsk0", "responder", {"psk": psk.hex()})
    hs = Handshake("NNpsk0", True, b"", psk=rnd.randbytes(32))
    p.stdin.write(frame(hs.write(b"")))
    expect_exit(p, EXIT_AUTH, "NNpsk0 wrong psk (responder)")
    p = spawn(drv, "NNpsk0", "initiator", {"psk": psk.hex()})
    m1 = read_frame(p.stdout)
    hs = Handshake("NNpsk0", False, b"", psk=rnd.randbytes(32))
    try:
        hs.read(m1)
        raise Failure("Python read a message under another PSK")
    except InvalidTag:
        pass
    p.stdin.write(frame(rnd.randbytes(48)))
    expect_exit(p, EXIT_AUTH, "NNpsk0 wrong psk (initiator)")
    n += 2
    # a different prologue
    p = spawn(drv, "NNpsk0", "responder", {"psk": psk.hex(),
                                           "prologue": "01"})
    hs = Handshake("NNpsk0", True, b"\x02", psk=psk)
    p.stdin.write(frame(hs.write(b"")))
    expect_exit(p, EXIT_AUTH, "different prologue")
    n += 1
    # truncated message 1: malformed, not an authentication failure
    p = spawn(drv, "IK", "responder", {"s": s_c.hex()})
    hs = Handshake("IK", True, b"", s=s_py, rs=pub_of(s_c))
    p.stdin.write(frame(hs.write(b"")[:95]))
    expect_exit(p, EXIT_MALFORMED, "truncated IK message 1")
    # a low-order ephemeral key (IK's es is the first DH with it)
    p = spawn(drv, "IK", "responder", {"s": s_c.hex()})
    p.stdin.write(frame(bytes(96)))
    expect_exit(p, EXIT_DH, "low-order ephemeral")
    n += 2
    # tampered and malformed records after a good handshake
    for case in ("flip", "short", "len16", "cut"):
        p = spawn(drv, "NNpsk0", "responder", {"psk": psk.hex()})
        hs = Handshake("NNpsk0", True, b"", psk=psk)
        p.stdin.write(frame(hs.write(b"")))
        p.stdin.flush()
        hs.read(read_frame(p.stdout))
        send, recv = hs.split()
        Reader(p.stdout, recv, 2**20).record()
        if case == "len16":
            # an authentic empty record, nonce 0: a valid tag over nothing
            rec = bytearray(b"\x00\x10" + send.encrypt(b"", b""))
        else:
            rec = bytearray(seal(send, b"some data", 2**20))
        if case == "flip":
            rec[rnd.randrange(2, len(rec))] ^= 1 << rnd.randrange(8)
        elif case == "short":
            rec[1] -= 1        # length one short: the tag misses a byte
        elif case == "cut":
            rec = rec[:-1]     # EOF inside the record
        try:
            p.stdin.write(bytes(rec))
        except BrokenPipeError:
            pass
        expect_exit(p, EXIT_RECORD, f"record {case}")
        n += 1
    return n


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 64
    drv = args[0]
    seed = int(time.time() * 1000) % 2**31
    nrec = 60
    if "--seed" in args:
        seed = int(args[args.index("--seed") + 1])
    if "--records" in args:
        nrec = int(args[args.index("--records") + 1])
    rnd = random.Random(seed)
    random.seed(rnd.randrange(2**31))
    done = []
    try:
        for pattern, c_role, use_dh in (
                ("IK", "initiator", False), ("IK", "responder", False),
                ("IK", "responder", True), ("NNpsk0", "initiator", False),
                ("NNpsk0", "responder", False)):
            interval = rnd.choice((3, 5, 7))
            sent, recvd = session(drv, rnd, pattern, c_role, nrec, interval,
                                  use_dh)
            if sent // interval < 2 or recvd // interval < 2:
                raise Failure("the rekey interval was not crossed")
            done.append(f"{pattern}/C {c_role}{' (dh callback)' if use_dh else ''}"
                        f": {nrec} records, {sent // interval} rekeys")
        # and the product's interval, 2^20 records (no rekey here)
        session(drv, rnd, "IK", "responder", 5, 2**20)
        nfail = failures(drv, rnd)
    except Failure as e:
        print(f"FAILED (seed {seed}): {e}")
        return 1
    except InvalidTag:
        print(f"FAILED (seed {seed}): a message or record from the driver "
              "did not authenticate in Python")
        return 1
    print(f"ok (seed {seed}): " + "; ".join(done) +
          f"; {nfail} broken sessions refused as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
