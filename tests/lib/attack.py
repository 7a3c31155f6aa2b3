#!/usr/bin/env python3
"""A hostile peer of the relay, for tests/security.bats: a raw yamux backend
(the yamux client: odd stream ids) that registers and then performs one
named attack, or an attacker of the control port or of a tunnel port.
Everything it does is bounded by --timeout; it prints what it observed and
exits 0 when the attack ran (whatever the relay did), 1 when it could not
(e.g. registration refused when it had to succeed), 64 on bad usage.

  attack.py ATTACK HOST PORT [options]

Output: "registered HOST:PORT local ADDR:PORT" (or "refused error: ...
local ADDR:PORT") once the relay has answered the registration (ADDR:PORT
is our end of the connection, as the relay logs it), then one line

  result goaway=CODES closed=0|1 after=SECS rst=N pongs=N ...

goaway: the GoAway codes the relay sent ("none" if none); closed: whether
the relay closed the connection (EOF or reset) within --timeout; after:
seconds from the attack's start to that close; rst: RSTs from the relay;
pongs: answers to our pings.  Attacks add their own fields.

Attacks as a backend (registers first, unless said otherwise):
  register    only register (plain or hello), then hold the session for
              --hold seconds answering pings and ACKing streams
  random      --bytes N pseudo-random bytes (--seed S), first byte 0xff
  truncated   7 bytes of a Data header, then silence (pings unanswered)
  maxlen      a Data frame of length 2^32-1 on the registration stream
  winoverflow a client of our own tunnel; its stream ACKed with a window
              update of 2^32-1; field client_end=eof|reset|open says how
              that client ended
  dupsyn      a second SYN for stream 1 (the registration stream, which we
              never close); with --before: hello split, SYN again before the
              newline (the relay sees it while registering)
  parity      a SYN for stream 2 (the relay's parity)
  secondfin   a client of our own tunnel; its stream ACKed, then FIN twice
  unknown     Data, WindowUpdate and RST for streams that were never opened,
              then a Ping; field alive=1 when the pong came
  pingflood   --count N pings as fast as possible, reading the pongs
  streams     open --count N streams (WindowUpdate+SYN, ids 3, 5, ...) as
              fast as possible; field sent=N (until the relay closed)
  unread      --count N clients of our own tunnel that send --bytes each and
              never read; we ACK their streams without granting window and
              send each --window bytes (the relay's --window, default 256
              KiB), then hold the session for --hold seconds; field sent
Attacks without registering:
  slowloris   --count N connections to the control port, each sending a
              hello one byte per --interval seconds; fields closed=K of N,
              first/last close times
  burst       --count N connections to the control port at once, held; the
              relay must close every one (refused, or dropped when the
              registration times out); fields connected, closed_by_relay
  clientflood --count N connections to the tunnel port HOST:PORT, held;
              fields closed (by the relay) and open

Options:
  --plain              register with WindowUpdate+SYN, no hello (hashicorp)
  --name NAME --port P name and port in the hello
  --hello-text TEXT    send TEXT (backslash escapes allowed) as the hello
  --count N --bytes N --seed S --interval SECS --hold SECS
  --timeout SECS       bound on the attack (default 10)
  --ready FILE         written once registered (before the attack)
"""
import argparse
import errno
import os
import random
import select
import socket
import struct
import sys
import threading
import time

HDR = struct.Struct(">BBHII")
T_DATA, T_WINUPD, T_PING, T_GOAWAY = 0, 1, 2, 3
F_SYN, F_ACK, F_FIN, F_RST = 1, 2, 4, 8
WINDOW = 256 * 1024


def frame(typ, flags, sid, length, payload=b""):
    return HDR.pack(0, typ, flags, sid, length) + payload


def build_hello(a):
    parts = ["relay-hello 1"]
    if a.name:
        parts.append("name=" + a.name)
    if a.port:
        parts.append("port=%d" % a.port)
    return (" ".join(parts) + "\n").encode()


class Session:
    """One TCP connection speaking yamux as the client; a reader thread
    records what the relay sends."""

    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(None)
        self.wlock = threading.Lock()
        self.cv = threading.Condition()
        self.goaway = []
        self.closed_at = None
        self.rst = 0
        self.pongs = 0
        self.data = {}
        self.fins = set()
        self.syns = []           # streams the relay opened, in order
        self.answer_pings = True
        self.auto_ack = False
        self.ack_window = 0      # window delta granted with our ACK
        self.write_error = None
        self.t = threading.Thread(target=self.reader, daemon=True)
        self.t.start()

    def send(self, b):
        with self.wlock:
            try:
                self.sock.sendall(b)
                return True
            except OSError as e:
                self.write_error = e
                return False

    def reader(self):
        buf = bytearray()
        try:
            while True:
                b = self.sock.recv(1 << 20)
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
                    self.on_frame(typ, fl, sid, ln, payload)
        except OSError:
            pass
        with self.cv:
            self.closed_at = time.monotonic()
            self.cv.notify_all()

    def on_frame(self, typ, fl, sid, ln, payload):
        reply = None
        with self.cv:
            if typ == T_GOAWAY:
                self.goaway.append(ln)
            elif typ == T_PING:
                if fl & F_SYN:
                    if self.answer_pings:
                        reply = frame(T_PING, F_ACK, 0, ln)
                else:
                    self.pongs += 1
            else:
                if fl & F_RST:
                    self.rst += 1
                if fl & F_SYN and sid % 2 == 0:
                    self.syns.append(sid)
                    if self.auto_ack:
                        reply = frame(T_WINUPD, F_ACK, sid, self.ack_window)
                if payload:
                    self.data.setdefault(sid, bytearray()).extend(payload)
                if fl & F_FIN:
                    self.fins.add(sid)
            self.cv.notify_all()
        if reply is not None:
            self.send(reply)

    def wait(self, pred, timeout):
        deadline = time.monotonic() + timeout
        with self.cv:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cv.wait(left)
            return True

    def register(self, a, timeout):
        """Open stream 1; returns the relay's answer (text up to its FIN)."""
        if a.hello_text is not None:
            hello = a.hello_text.encode().decode("unicode_escape").encode(
                "latin-1")
        elif a.plain:
            hello = None
        else:
            hello = build_hello(a)
        if hello is None:
            self.send(frame(T_WINUPD, F_SYN, 1, 0))
        else:
            self.send(frame(T_DATA, F_SYN, 1, len(hello), hello))
        self.wait(lambda: 1 in self.fins or self.closed_at is not None,
                  timeout)
        return bytes(self.data.get(1, b"")).decode(errors="replace")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def result(s, start, extra=""):
    with s.cv:
        codes = ",".join(str(c) for c in s.goaway) or "none"
        closed = s.closed_at is not None
        after = (s.closed_at - start) if closed else -1
        line = "result goaway=%s closed=%d after=%.2f rst=%d pongs=%d" % (
            codes, closed, after, s.rst, s.pongs)
    print((line + " " + extra).rstrip(), flush=True)


def tunnel_client(addr, timeout, rcvbuf=0):
    host, port = addr.rsplit(":", 1)
    host = host.strip("[]")
    c = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    if rcvbuf:
        # A small receive window: the relay's copy toward us stalls early.
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    c.settimeout(timeout)
    c.connect((host, int(port)))
    return c


def as_backend(a):
    s = Session(a.host, a.port_, a.timeout)
    if a.attack == "dupsyn" and a.before:
        # Half a hello, then a second SYN for the same stream.
        hello = b"relay-hello 1"
        print("local %s:%d" % s.sock.getsockname()[:2], flush=True)
        s.send(frame(T_DATA, F_SYN, 1, len(hello), hello))
        time.sleep(0.2)
        start = time.monotonic()
        s.send(frame(T_WINUPD, F_SYN, 1, 0))
        s.wait(lambda: s.closed_at is not None, a.timeout)
        result(s, start)
        return 0
    local = "%s:%d" % s.sock.getsockname()[:2]
    reply = s.register(a, a.timeout)
    if not reply.startswith("error") and ":" in reply:
        print("registered %s local %s" % (reply, local), flush=True)
    else:
        print("refused %s local %s" % (reply or "(nothing)", local),
              flush=True)
        start = time.monotonic()
        s.wait(lambda: s.closed_at is not None, a.timeout)
        result(s, start)
        return 0 if a.attack == "register" else 1
    if a.ready:
        with open(a.ready, "w") as f:
            f.write(reply + "\n")
    start = time.monotonic()
    closed = lambda: s.closed_at is not None
    extra = ""
    if a.attack == "register":
        s.auto_ack = True
        s.wait(closed, a.hold)
    elif a.attack == "random":
        rnd = random.Random(a.seed)
        junk = b"\xff" + bytes(rnd.getrandbits(8) for _ in range(a.bytes - 1))
        s.send(junk)
        s.wait(closed, a.timeout)
    elif a.attack == "truncated":
        s.answer_pings = False
        s.send(frame(T_DATA, 0, 1, 100)[:7])
        s.wait(closed, a.timeout)
    elif a.attack == "maxlen":
        s.send(frame(T_DATA, 0, 1, 0xFFFFFFFF) + os.urandom(4096))
        s.wait(closed, a.timeout)
    elif a.attack in ("winoverflow", "secondfin"):
        c = tunnel_client(reply, a.timeout)
        if not s.wait(lambda: s.syns or s.closed_at, a.timeout):
            print("error: the relay opened no stream", file=sys.stderr)
            return 1
        sid = s.syns[0]
        if a.attack == "winoverflow":
            s.send(frame(T_WINUPD, F_ACK, sid, 0xFFFFFFFF))
        else:
            s.send(frame(T_WINUPD, F_ACK, sid, 0))
            s.send(frame(T_WINUPD, F_FIN, sid, 0))
            time.sleep(0.1)
            s.send(frame(T_WINUPD, F_FIN, sid, 0))
        s.wait(closed, a.timeout)
        c.settimeout(max(0.1, a.timeout - (time.monotonic() - start)))
        end = "eof"
        try:
            while c.recv(65536):
                pass
        except socket.timeout:
            end = "open"
        except OSError:
            end = "reset"
        extra = "client_end=%s stream=%d" % (end, sid)
        c.close()
    elif a.attack == "dupsyn":
        s.send(frame(T_WINUPD, F_SYN, 1, 0))
        s.wait(closed, a.timeout)
    elif a.attack == "parity":
        s.send(frame(T_WINUPD, F_SYN, 2, 0))
        s.wait(closed, a.timeout)
    elif a.attack == "unknown":
        s.send(frame(T_DATA, 0, 1001, 1000, os.urandom(1000)))
        s.send(frame(T_DATA, F_FIN, 1003, 10, b"0123456789"))
        s.send(frame(T_WINUPD, 0, 1005, 4096))
        s.send(frame(T_WINUPD, F_RST, 1007, 0))
        s.send(frame(T_WINUPD, F_ACK, 1000, 0))
        s.send(frame(T_PING, F_SYN, 0, 77))
        alive = s.wait(lambda: s.pongs > 0 or s.closed_at, a.timeout) \
            and s.pongs > 0 and s.closed_at is None
        extra = "alive=%d" % alive
    elif a.attack == "pingflood":
        batch = 1000
        sent = 0
        while sent < a.count and s.closed_at is None:
            k = min(batch, a.count - sent)
            b = b"".join(frame(T_PING, F_SYN, 0, sent + i) for i in range(k))
            if not s.send(b):
                break
            sent += k
            if time.monotonic() - start > a.timeout:
                break
        s.wait(lambda: s.pongs >= sent or s.closed_at, a.timeout)
        extra = "sent=%d secs=%.2f" % (sent, time.monotonic() - start)
        # the session still answers after the flood?
        if s.closed_at is None:
            p = s.pongs
            s.send(frame(T_PING, F_SYN, 0, 4242))
            ok = s.wait(lambda: s.pongs > p or s.closed_at, a.timeout)
            extra += " alive=%d" % (ok and s.closed_at is None)
    elif a.attack == "streams":
        sent = 0
        sid = 3
        batch = 500
        while sent < a.count and s.closed_at is None:
            k = min(batch, a.count - sent)
            b = b"".join(frame(T_WINUPD, F_SYN, sid + 2 * i, 0)
                         for i in range(k))
            if not s.send(b):
                break
            sid += 2 * k
            sent += k
            if a.interval:
                time.sleep(a.interval)
        s.wait(lambda: s.rst >= sent or s.closed_at, a.timeout)
        extra = "sent=%d" % sent
        if s.closed_at is None:
            p = s.pongs
            s.send(frame(T_PING, F_SYN, 0, 4242))
            ok = s.wait(lambda: s.pongs > p or s.closed_at, a.timeout)
            extra += " alive=%d" % (ok and s.closed_at is None)
    elif a.attack == "unread":
        s.auto_ack = True
        s.ack_window = 0
        clients = []
        for _ in range(a.count):
            c = tunnel_client(reply, a.timeout, rcvbuf=4096)
            c.setblocking(False)
            clients.append(c)
        s.wait(lambda: len(s.syns) >= a.count or s.closed_at, a.timeout)
        junk = os.urandom(a.bytes)
        for c in clients:          # clients send, nobody reads them
            try:
                c.send(junk)
            except OSError:
                pass
        sent = 0
        chunk = os.urandom(16384)
        for sid in list(s.syns):   # the backend fills every window
            for _ in range(a.window // len(chunk)):
                if not s.send(frame(T_DATA, 0, sid, len(chunk), chunk)):
                    break
                sent += len(chunk)
        s.wait(closed, a.hold)
        extra = "sent=%d" % sent
        for c in clients:
            c.close()
    result(s, start, extra)
    s.close()
    return 0


def slowloris(a):
    socks = []
    hello = b"relay-hello 1 name=slow" + b"x" * 400
    hdr = frame(T_DATA, F_SYN, 1, len(hello))
    for _ in range(a.count):
        c = socket.create_connection((a.host, a.port_), timeout=a.timeout)
        c.setblocking(False)
        socks.append(c)
    start = time.monotonic()
    closes = {}
    # 12 header bytes one at a time, then the hello byte by byte: never done.
    stream = hdr + hello
    pos = 0
    while len(closes) < len(socks) and time.monotonic() - start < a.timeout:
        for i, c in enumerate(socks):
            if i in closes:
                continue
            try:
                if pos < len(stream):
                    c.send(stream[pos:pos + 1])
                r = c.recv(4096)
                if r == b"":
                    closes[i] = time.monotonic() - start
            except BlockingIOError:
                pass
            except OSError:
                closes[i] = time.monotonic() - start
        pos += 1
        time.sleep(a.interval)
    t = sorted(closes.values())
    print("result closed=%d of %d first=%.2f last=%.2f sent=%d" % (
        len(closes), len(socks), t[0] if t else -1, t[-1] if t else -1,
        min(pos, len(stream))), flush=True)
    for c in socks:
        c.close()
    return 0


def hold_many(a, what):
    """Open --count connections at once (non-blocking), hold them, and see
    how many the relay closes within --timeout."""
    start = time.monotonic()
    pending = {}
    ok = []
    failed = 0
    for _ in range(a.count):
        c = socket.socket()
        c.setblocking(False)
        e = c.connect_ex((a.host, a.port_))
        if e in (0, errno.EINPROGRESS):
            pending[c.fileno()] = c
        else:
            failed += 1
            c.close()
    p = select.epoll()
    for fd in pending:
        p.register(fd, select.EPOLLOUT)
    connected = {}
    closed = 0
    deadline = start + a.timeout
    while time.monotonic() < deadline and (pending or len(connected) > 0):
        for fd, ev in p.poll(0.1):
            if fd in pending:
                c = pending.pop(fd)
                err = c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    failed += 1
                    p.unregister(fd)
                    c.close()
                    continue
                connected[fd] = c
                p.modify(fd, select.EPOLLIN | select.EPOLLRDHUP)
            elif fd in connected:
                c = connected[fd]
                try:
                    r = c.recv(4096)
                    if r:
                        continue
                except OSError:
                    pass
                closed += 1
                p.unregister(fd)
                del connected[fd]
                c.close()
        if what == "clientflood" and not pending and \
                time.monotonic() - start > a.hold:
            break
    total = closed + len(connected)
    print("result connected=%d closed=%d open=%d failed=%d unfinished=%d "
          "secs=%.2f" % (total, closed, len(connected), failed, len(pending),
                         time.monotonic() - start), flush=True)
    for c in list(connected.values()) + list(pending.values()):
        c.close()
    return 0


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("attack")
    ap.add_argument("host")
    ap.add_argument("port_", type=int)
    ap.add_argument("--plain", action="store_true")
    ap.add_argument("--name")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--hello-text")
    ap.add_argument("--before", action="store_true")
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--bytes", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--interval", type=float, default=0.0)
    ap.add_argument("--hold", type=float, default=0.0)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--ready")
    ap.add_argument("--window", type=int, default=WINDOW)
    a = ap.parse_args()
    if a.attack == "slowloris":
        if not a.interval:
            a.interval = 0.2
        return slowloris(a)
    if a.attack in ("burst", "clientflood"):
        return hold_many(a, a.attack)
    if a.attack not in ("register", "random", "truncated", "maxlen",
                        "winoverflow", "dupsyn", "parity", "secondfin",
                        "unknown", "pingflood", "streams", "unread"):
        print("attack.py: unknown attack %s" % a.attack, file=sys.stderr)
        return 64
    return as_backend(a)


if __name__ == "__main__":
    sys.exit(main())
