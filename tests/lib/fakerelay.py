#!/usr/bin/env python3
"""A lying relay (the yamux server) for our backends: it takes one backend's
registration, answers it, then opens one stream per CASE with a client
address header that is good or bad in a given way, and reports what the
backend did with it.  Everything is bounded by --timeout.

  fakerelay.py [--old] [--timeout T] CASE...

Prints "listening PORT" once it listens on 127.0.0.1 (give PORT to the
backend), "hello LINE" for the backend's hello, then per case
"case NAME result=rst|echo:HEX|fin|timeout" (echo: all the backend sent
back before its FIN), and "done" at the end (the backend's session still
up).  The answer to the hello is "127.0.0.1:9 addr=1", or without addr=1
as an older relay answers with --old.

Cases (the client is 192.0.2.7:40000, the tunnel 127.0.0.1:9000):
  good4      the header on the SYN frame, then "hello", FIN
  joined     the header and "joined" on the SYN frame, FIN
  good6      an IPv6 header ([2001:db8::7]:40000 -> [::1]:9000), "six", FIN
  badsig     a wrong signature
  oversize   a length of 256 (a TLV block after the addresses)
  tlv        TCP4 with 3 bytes of TLV: longer than the bound the relay sends
  local      the LOCAL command (no address)
  udp        UDP over IPv4
  split      the header's first 20 bytes on the SYN frame, the rest after
  split6     an IPv6 header's first 30 bytes on the SYN frame, the rest
             after it
  short      10 bytes on the SYN frame, then FIN
  winupd     SYN on a WindowUpdate, the header after it
  empty      SYN on an empty Data frame, then FIN
  plain      (with --old) SYN on a WindowUpdate, then a well-formed header
             and "hi": the backend must echo all of it, header included
"""
import argparse
import socket
import struct
import sys
import threading
import time

HDR = struct.Struct(">BBHII")
T_DATA, T_WINUPD, T_PING, T_GOAWAY = 0, 1, 2, 3
F_SYN, F_ACK, F_FIN, F_RST = 1, 2, 4, 8
SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def frame(typ, flags, sid, length, payload=b""):
    return HDR.pack(0, typ, flags, sid, length) + payload


def data(sid, payload, flags=0):
    return frame(T_DATA, flags, sid, len(payload), payload)


def v4hdr(body_extra=b"", length=None, cmd=0x21, fam=0x11):
    body = (socket.inet_aton("192.0.2.7") + socket.inet_aton("127.0.0.1") +
            struct.pack(">HH", 40000, 9000) + body_extra)
    ln = len(body) if length is None else length
    return SIG + bytes([cmd, fam]) + struct.pack(">H", ln) + body


def v6hdr():
    body = (socket.inet_pton(socket.AF_INET6, "2001:db8::7") +
            socket.inet_pton(socket.AF_INET6, "::1") +
            struct.pack(">HH", 40000, 9000))
    return SIG + b"\x21\x21" + struct.pack(">H", len(body)) + body


def case_frames(name, sid):
    h = v4hdr()
    if name == "good4":
        return [data(sid, h, F_SYN), data(sid, b"hello"),
                frame(T_WINUPD, F_FIN, sid, 0)]
    if name == "joined":
        return [data(sid, h + b"joined", F_SYN),
                frame(T_WINUPD, F_FIN, sid, 0)]
    if name == "good6":
        return [data(sid, v6hdr(), F_SYN), data(sid, b"six"),
                frame(T_WINUPD, F_FIN, sid, 0)]
    if name == "badsig":
        return [data(sid, b"\x0c" + h[1:] + b"x", F_SYN)]
    if name == "oversize":
        return [data(sid, v4hdr(b"\x00" * 244), F_SYN)]
    if name == "tlv":
        return [data(sid, v4hdr(b"\x04\x00\x00"), F_SYN)]
    if name == "local":
        return [data(sid, SIG + b"\x20\x00\x00\x00" + b"x" * 12, F_SYN)]
    if name == "udp":
        return [data(sid, v4hdr(fam=0x12), F_SYN)]
    if name == "split":
        return [data(sid, h[:20], F_SYN), data(sid, h[20:] + b"x")]
    if name == "split6":
        h6 = v6hdr()
        return [data(sid, h6[:30], F_SYN), data(sid, h6[30:] + b"x")]
    if name == "short":
        return [data(sid, h[:10], F_SYN), frame(T_WINUPD, F_FIN, sid, 0)]
    if name == "winupd":
        return [frame(T_WINUPD, F_SYN, sid, 0), data(sid, h + b"x")]
    if name == "empty":
        return [frame(T_DATA, F_SYN, sid, 0), frame(T_WINUPD, F_FIN, sid, 0)]
    if name == "plain":
        return [frame(T_WINUPD, F_SYN, sid, 0), data(sid, h + b"hi"),
                frame(T_WINUPD, F_FIN, sid, 0)]
    raise SystemExit("unknown case %s" % name)


class Relay:
    def __init__(self, sock):
        self.sock = sock
        self.wlock = threading.Lock()
        self.cv = threading.Condition()
        self.data = {}
        self.fins = set()
        self.rsts = set()
        self.closed = False
        self.pongs = set()
        threading.Thread(target=self.reader, daemon=True).start()

    def send(self, b):
        with self.wlock:
            self.sock.sendall(b)

    def reader(self):
        buf = bytearray()
        try:
            while True:
                b = self.sock.recv(65536)
                if not b:
                    break
                buf += b
                while len(buf) >= 12:
                    ver, typ, fl, sid, ln = HDR.unpack_from(buf, 0)
                    need = 12 + (ln if typ == T_DATA else 0)
                    if len(buf) < need:
                        break
                    payload = bytes(buf[12:need])
                    del buf[:need]
                    if typ == T_PING:
                        if fl & F_SYN:
                            self.send(frame(T_PING, F_ACK, 0, ln))
                        with self.cv:
                            if fl & F_ACK:
                                self.pongs.add(ln)
                            self.cv.notify_all()
                        continue
                    with self.cv:
                        if payload:
                            self.data.setdefault(sid, b"")
                            self.data[sid] += payload
                        if fl & F_FIN:
                            self.fins.add(sid)
                        if fl & F_RST:
                            self.rsts.add(sid)
                        self.cv.notify_all()
                    if typ == T_DATA and payload:
                        # Keep the backend's window open.
                        self.send(frame(T_WINUPD, 0, sid, len(payload)))
        except OSError:
            pass
        with self.cv:
            self.closed = True
            self.cv.notify_all()

    def wait(self, pred, timeout):
        end = time.monotonic() + timeout
        with self.cv:
            while not pred():
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.cv.wait(left)
            return True


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("cases", nargs="+")
    ap.add_argument("--old", action="store_true")
    ap.add_argument("--answer", help="the registration answer, in hex")
    ap.add_argument("--timeout", type=float, default=20.0)
    a = ap.parse_args()
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    print("listening %d" % ls.getsockname()[1], flush=True)
    ls.settimeout(a.timeout)
    c, _ = ls.accept()
    r = Relay(c)
    if not r.wait(lambda: b"\n" in r.data.get(1, b"") or r.closed,
                  a.timeout):
        print("no hello")
        return 1
    print("hello %s" % r.data[1].decode(errors="replace").strip(),
          flush=True)
    answer = b"127.0.0.1:9" + (b"" if a.old else b" addr=1")
    if a.answer is not None:
        answer = bytes.fromhex(a.answer)
    r.send(frame(T_WINUPD, F_ACK, 1, 0) + data(1, answer) +
           frame(T_WINUPD, F_FIN, 1, 0))
    sid = 2
    for name in a.cases:
        for f in case_frames(name, sid):
            r.send(f)
        s = sid
        done = r.wait(lambda: s in r.rsts or s in r.fins or r.closed, 5)
        if not done or r.closed:
            res = "timeout" if not done else "closed"
        elif s in r.rsts:
            res = "rst"
        elif s in r.data:
            res = "echo:" + r.data[s].hex()
        else:
            res = "fin"
        print("case %s result=%s" % (name, res), flush=True)
        sid += 2
    # The session is still up: a ping is answered.
    r.send(frame(T_PING, F_SYN, 0, 77))
    up = r.wait(lambda: 77 in r.pongs or r.closed, 5)
    print("done" if up and not r.closed else "closed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
