#!/usr/bin/env python3
"""A backend that speaks the relay's encrypted sessions (docs/PROTOCOL.md,
"Encrypted sessions (Noise)"), for tests/noise.bats.  The Noise state
machine and the record layer are those of tests/diff/diff_noise.py (written
from the spec on python3-cryptography and hashlib, no code shared with the
C); the yamux session inside the records is tests/lib/yamuxpeer.py's.

  noisepeer.py MODE HOST PORT (--key FILE --relay-key PUB | --secret-file FILE)
               [options]

Transport:
  --key FILE --relay-key PUB   Noise_IK: our private key file (base64 line),
                               the relay's public key we pin (base64, or a
                               file holding it)
  --secret-file FILE           Noise_NNpsk0 keyed from the file's bytes
  --claim-pub PUB              IK: send PUB as our static key while doing
                               the DH with FILE's private key (someone who
                               knows an authorized public key, not its
                               private key)

Modes:
  serve     handshake, register (the hello: --name, --port), print the
            tunnel address as the first line of stdout, then ACK and echo
            every tunnel stream until the relay closes the session or
            --hold seconds pass; prints "closed" when the relay closed it.
  tamper    like serve, but once --go FILE exists (at once without --go)
            send one bad record (--how: "flip" one byte of a record,
            "len16" an authentic record of an empty plaintext, i.e. length
            16, "len0" a length field of 0); prints "tampered", then
            "closed=1 after SECS s" if the relay closed the connection
            within --timeout ("closed=0" otherwise, exit 1).
  filler    like serve, but once --go FILE exists send --count records of
            one WindowUpdate each (delta 0, stream 1: a no-op), prints
            "filler done N" and goes on serving (the relay's receiving
            cipher must rekey after every 2^20 records).
  knock     --count handshakes one after the other (message 1, the reply,
            close); prints "knocks N accepted A refused R rejected J".
  replay    send the bytes of --from FILE verbatim (a saved message 1 or a
            whole saved session), read until the relay closes or --timeout;
            prints "received N bytes", "reply-length L" (the length field
            the relay sent first, -1 if none), "reply-e HEX" (the ephemeral
            key of its message 2), "closed=0|1".
  garbage   the preamble (IK's or NNpsk0's), then with --bytes N <= 160 a
            length field and N random bytes, with N > 160 N random bytes;
            prints like replay.  --zeros: N zero bytes instead (an
            all-zero, low-order ephemeral key).

Recording: --save-m1 FILE (the preamble, length and message 1),
           --save-sent FILE (every byte written to the relay),
           --save-recv FILE (every byte the relay sent).
Other:     --name N --port P --hold S --timeout S --go FILE
           --record-size N (plaintext per record, default 16384, max 65519)
           --split N (write at most N bytes at a time, TCP_NODELAY: the
           preamble, messages and records split anywhere)
           --m1-payload N (IK: N random bytes of payload in message 1)
           --no-hello (register the original way inside the records:
           WindowUpdate with SYN, no hello)

Outcomes of the handshake (modes serve and tamper), on stdout, exit 69:
  "refused REASON"                   message 2 carried "error: REASON"
  "rejected relay-key PUB pinned SHA256:.. relay SHA256:.."
                                     a 0-length reply (IK: with the key)
  "rejected"                         the same in NNpsk0
  "refused error: ..."               the registration stream's refusal
  "closed before message 2"
Exit 0 when the mode ran, 1 on an unexpected failure, 64 usage, 77 when
python3-cryptography is missing.
"""
import argparse
import base64
import hashlib
import os
import socket
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "diff"))
sys.path.insert(0, HERE)

import diff_noise as dn  # noqa: E402  (exits 77 without cryptography)
import yamuxpeer as yp  # noqa: E402

PREAMBLE = {"IK": b"RELAYIK1", "NNpsk0": b"RELAYNP1"}
REKEY = 2**20
EX_REFUSED = 69


class Refused(Exception):
    pass


def b64key(text):
    raw = base64.b64decode(text.strip(), validate=True)
    if len(raw) != 32:
        raise ValueError("not a 32-byte key")
    return raw


def load_key(arg):
    """A key given as base64 or as a file holding the base64 line."""
    if os.path.exists(arg):
        with open(arg) as f:
            return b64key(f.read())
    return b64key(arg)


def fingerprint(pub):
    return "SHA256:" + base64.b64encode(
        hashlib.sha256(pub).digest()).decode().rstrip("=")


def psk_of(path):
    with open(path, "rb") as f:
        secret = f.read()
    # PROTOCOL.md: less one trailing "\n" or "\r\n".
    if secret.endswith(b"\r\n"):
        secret = secret[:-2]
    elif secret.endswith(b"\n"):
        secret = secret[:-1]
    return hashlib.blake2s(b"relay-psk-1" + secret).digest()


class Impostor(dn.Handshake):
    """IK message 1 that shows `claimed` as the static key while the DHs
    use our real private key: the relay must not authenticate it."""

    def __init__(self, claimed, *a, **kw):
        super().__init__(*a, **kw)
        self.claimed = claimed

    def write(self, payload):
        assert self.pattern == "IK" and self.msg == 0
        out = dn.pub_of(self.e)
        self.mix_hash(out)
        self.dh_token("es")
        out += self.enc_hash(self.claimed)
        self.dh_token("ss")
        out += self.enc_hash(payload)
        self.msg += 1
        return out


class Recorder:
    def __init__(self, path):
        self.f = open(path, "ab") if path else None

    def add(self, b):
        if self.f:
            self.f.write(b)
            self.f.flush()


def read_exact(sock, n, rec):
    b = b""
    while len(b) < n:
        c = sock.recv(n - len(b))
        if not c:
            break
        rec.add(c)
        b += c
    return b


class NoiseSocket:
    """What yamuxpeer.Peer needs of a socket (sendall, recv, shutdown,
    close), over the records of an encrypted session."""

    def __init__(self, a):
        self.a = a
        self.pattern = "IK" if a.key else "NNpsk0"
        self.prologue = PREAMBLE[self.pattern]
        self.sent = Recorder(a.save_sent)
        self.got = Recorder(a.save_recv)
        self.tamper = None
        self.max_pt = a.record_size
        self.relay_pub = None

    def raw_send(self, b):
        self.sent.add(b)
        step = self.a.split or len(b)
        for i in range(0, len(b), step):
            self.sock.sendall(b[i:i + step])

    def connect(self):
        a = self.a
        self.sock = socket.create_connection((a.host, a.port_),
                                             timeout=a.timeout)
        if a.split:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        e = os.urandom(32)
        if self.pattern == "IK":
            s = load_key(a.key)
            rs = load_key(a.relay_key)
            cls = dn.Handshake
            args = ()
            if a.claim_pub:
                cls, args = Impostor, (load_key(a.claim_pub),)
            hs = cls(*args, "IK", True, self.prologue, s=s, rs=rs, e=e)
        else:
            hs = dn.Handshake("NNpsk0", True, self.prologue,
                              psk=psk_of(a.secret_file), e=e)
        m1 = self.prologue + dn.frame(hs.write(os.urandom(a.m1_payload)))
        if a.save_m1:
            with open(a.save_m1, "wb") as f:
                f.write(m1)
        self.raw_send(m1)
        head = read_exact(self.sock, 2, self.got)
        if len(head) < 2:
            raise Refused("closed before message 2")
        (n,) = struct.unpack(">H", head)
        if n == 0:
            if self.pattern == "IK":
                key = read_exact(self.sock, 32, self.got)
                if len(key) != 32:
                    raise Refused("rejected without the relay's key "
                                  "(%d bytes)" % len(key))
                raise Refused("rejected relay-key %s pinned %s relay %s" % (
                    base64.b64encode(key).decode(), fingerprint(rs),
                    fingerprint(key)))
            raise Refused("rejected")
        m2 = read_exact(self.sock, n, self.got)
        if len(m2) != n:
            raise Refused("closed inside message 2")
        try:
            payload = hs.read(m2)
        except dn.InvalidTag:
            raise Refused("message 2 did not authenticate")
        if payload:
            raise Refused("refused " + payload.decode(errors="replace"))
        self.tx, rx = hs.split()
        self.sock.settimeout(None)
        self.rfile = self.sock.makefile("rb", buffering=0)
        self.reader = dn.Reader(self, rx, REKEY)

    def read(self, n):
        """The raw stream, for dn.Reader (and --save-recv)."""
        b = self.rfile.read(n)
        if b:
            self.got.add(b)
        return b

    def sendall(self, data):
        for i in range(0, len(data), self.max_pt):
            if self.tamper == "len16":
                rec = b"\x00\x10" + self.tx.encrypt(b"", b"")
            elif self.tamper == "len0":
                rec = b"\x00\x00"
            else:
                rec = bytearray(dn.seal(self.tx, data[i:i + self.max_pt],
                                        REKEY))
            if self.tamper == "flip":
                pos = 2 + (os.urandom(1)[0] % (len(rec) - 2))
                rec[pos] ^= 1 << (os.urandom(1)[0] % 8)
            self.tamper = None
            self.raw_send(bytes(rec))

    def send_records(self, pts):
        """One record per plaintext, written in large pieces."""
        out = []
        for pt in pts:
            out.append(dn.seal(self.tx, pt, REKEY))
            if len(out) >= 20000:
                self.raw_send(b"".join(out))
                out = []
        if out:
            self.raw_send(b"".join(out))

    def recv(self, n):
        try:
            pt = self.reader.record()
        except dn.Failure:
            return b""          # EOF (or a bad length: the session is over)
        except dn.InvalidTag:
            print("a record from the relay did not authenticate",
                  file=sys.stderr, flush=True)
            raise OSError("bad record")
        return pt

    def shutdown(self, how):
        self.sock.shutdown(how)

    def close(self):
        try:
            self.rfile.close()
        except AttributeError:
            pass
        self.sock.close()

    def setsockopt(self, *a):
        self.sock.setsockopt(*a)


def blind(a):
    """Modes replay and garbage: bytes out, whatever comes back."""
    sock = socket.create_connection((a.host, a.port_), timeout=a.timeout)
    sent = Recorder(a.save_sent)
    if a.mode == "replay":
        with open(a.from_, "rb") as f:
            out = f.read()
    else:
        pattern = "IK" if a.key or not a.secret_file else "NNpsk0"
        junk = bytes(a.bytes) if a.zeros else os.urandom(a.bytes)
        out = PREAMBLE[pattern] + (dn.frame(junk) if a.bytes <= 160
                                   else junk)
    sent.add(out)
    try:
        sock.sendall(out)
    except OSError:
        pass
    got = b""
    closed = False
    deadline = time.monotonic() + a.timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            b = sock.recv(65536)
        except socket.timeout:
            break
        except OSError:
            closed = True
            break
        if not b:
            closed = True
            break
        got += b
    sock.close()
    if a.save_recv:
        with open(a.save_recv, "wb") as f:
            f.write(got)
    yp.say("received %d bytes" % len(got))
    yp.say("reply-length %d" % (struct.unpack(">H", got[:2])[0]
                                if len(got) >= 2 else -1))
    if len(got) >= 34:
        yp.say("reply-e %s" % got[2:34].hex())
    yp.say("closed=%d" % closed)
    return 0


def knock(a):
    n = {"accepted": 0, "refused": 0, "rejected": 0}
    for _ in range(a.count):
        ns = NoiseSocket(a)
        try:
            ns.connect()
            n["accepted"] += 1
        except Refused as e:
            n["refused" if str(e).startswith("refused") else "rejected"] += 1
        except OSError:
            n["rejected"] += 1
        ns.sock.close()
    yp.say("knocks %d accepted %d refused %d rejected %d" % (
        a.count, n["accepted"], n["refused"], n["rejected"]))
    return 0


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("mode", choices=("serve", "tamper", "filler", "knock",
                                     "replay", "garbage"))
    ap.add_argument("host")
    ap.add_argument("port_", type=int)
    ap.add_argument("--key")
    ap.add_argument("--relay-key")
    ap.add_argument("--secret-file")
    ap.add_argument("--claim-pub")
    ap.add_argument("--name")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--hold", type=float, default=300.0)
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--go")
    ap.add_argument("--from", dest="from_")
    ap.add_argument("--bytes", type=int, default=96)
    ap.add_argument("--save-m1")
    ap.add_argument("--save-sent")
    ap.add_argument("--save-recv")
    ap.add_argument("--record-size", type=int, default=16384)
    ap.add_argument("--split", type=int, default=0)
    ap.add_argument("--m1-payload", type=int, default=0)
    ap.add_argument("--how", choices=("flip", "len16", "len0"),
                    default="flip")
    ap.add_argument("--count", type=int, default=2**20 + 100)
    ap.add_argument("--no-hello", action="store_true")
    ap.add_argument("--zeros", action="store_true")
    try:
        a = ap.parse_args()
    except SystemExit as e:
        return 64 if e.code else 0
    if a.mode in ("replay", "garbage"):
        if a.mode == "replay" and not a.from_:
            print("noisepeer.py: replay needs --from FILE", file=sys.stderr)
            return 64
        return blind(a)
    if bool(a.key) == bool(a.secret_file) or bool(a.key) != bool(
            a.relay_key) or not 1 <= a.record_size <= 65519:
        print("noisepeer.py: give --key and --relay-key, or --secret-file",
              file=sys.stderr)
        return 64
    if a.mode == "knock":
        return knock(a)
    # What yamuxpeer.Peer.register reads of its options.
    a.plain, a.syn_data, a.syn_junk = a.no_hello, False, False
    ns = NoiseSocket(a)
    try:
        ns.connect()
    except Refused as e:
        yp.say(str(e))
        return EX_REFUSED
    except OSError as e:
        yp.say("closed before message 2 (%s)" % e)
        return EX_REFUSED
    p = yp.Peer(a, sock=ns)
    reply = p.register()
    if reply.startswith("error") or ":" not in reply:
        yp.say("refused %s" % (reply or "(nothing)"))
        return EX_REFUSED
    # Ready for tunnel streams before the relay can see our end of the
    # registration stream.
    p.on_open = lambda sid: p.ack(sid)
    yp.start_echo(p)
    yp.say(reply)
    p.send(yp.frame(yp.T_WINUPD, yp.F_FIN, 1, 0))
    if a.mode == "serve":
        if p.wait(lambda: p.closed, a.hold):
            yp.say("closed")
        return 0
    deadline = time.monotonic() + a.timeout
    while a.go and not os.path.exists(a.go) and not p.closed:
        if time.monotonic() > deadline:
            yp.say("no %s within %g s" % (a.go, a.timeout))
            return 1
        time.sleep(0.02)
    if a.mode == "filler":
        one = yp.frame(yp.T_WINUPD, 0, 1, 0)
        with p.wlock:
            ns.send_records(one for _ in range(a.count))
        yp.say("filler done %d" % a.count)
        if p.wait(lambda: p.closed, a.hold):
            yp.say("closed")
        return 0
    with p.wlock:
        ns.tamper = a.how
    t0 = time.monotonic()
    p.send(yp.frame(yp.T_PING, yp.F_SYN, 0, 77))
    yp.say("tampered")
    if p.wait(lambda: p.closed, a.timeout):
        yp.say("closed=1 after %.3f s" % (time.monotonic() - t0))
        return 0
    yp.say("closed=0")
    return 1


if __name__ == "__main__":
    sys.exit(main())
