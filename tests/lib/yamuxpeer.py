#!/usr/bin/env python3
"""A raw yamux backend (the yamux client: odd stream ids) for the data-path
tests.  It registers with the relay, prints "registered HOST:PORT" (or
"refused TEXT"), then plays one role.  Everything is bounded by --timeout;
it prints what it saw as "key=value" lines and exits 0 when the role ran,
1 when it could not (registration refused when it had to work), 64 on bad
usage.

  yamuxpeer.py MODE HOST PORT [options]

Registration (before every mode):
  default        the hello on a Data frame carrying SYN ("relay-hello 1")
  --plain        WindowUpdate with SYN, no hello (hashicorp's way)
  --syn-data     SYN on an empty Data frame, no hello (rust-yamux's way)
  --syn-junk     SYN on a Data frame whose payload is not a hello
  --addr         ask for client addresses (hello key addr=1)

Modes (streams are those the relay opens, one per tunnel client):
  register   only register, then hold the session --hold seconds (ACK
             and echo every stream)
  closer     for each of --streams streams: ACK, send --bytes bytes of a
             known pattern within the window, then FIN (not with --no-fin);
             once all are sent, close the TCP connection in good order.
             Prints "sent SID N sha256" per stream, then "closed".
  lateack    ACK and echo every stream, except stream number --late (in the
             order they come), which is ACKed only after --delay seconds
  silent     ACK every stream, grant window, never send on it; prints
             "open SID" and "rst SID" as they come
  flood      ACK every stream, send --bytes on each within the window (no
             FIN); prints "rst SID" for streams the relay resets and writes
             "SID SENT" lines to --progress FILE as it goes
  goaway     after registering send GoAway(0), then hold; prints the number
             of streams the relay opened afterwards ("syns=N")
  badframe   stop reading (small receive buffer), write --ready, wait for
             --go FILE, send a frame of version 7, then read everything to
             EOF; prints "goaway=CODES frames_ok=0|1"
  synflood   no registration: a hello without its newline, then --count
             SYNs; prints "closed=0|1"
  record     ACK every stream and record what comes on it; once --streams
             streams have ended (FIN or RST), print for each
             "stream SID syn=TYPE synlen=N end=fin|rst data=HEX" (TYPE and
             N of the frame that carried the SYN, data all of its payload)

Options: --name N --port P --bytes N --streams K --late K --delay S
         --hold S --count N --ready FILE --go FILE --progress FILE
         --timeout S --no-fin
"""
import argparse
import hashlib
import os
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


def pattern(n):
    base = bytes(range(256))
    return (base * (n // 256 + 1))[:n]


def say(*a):
    print(*a, flush=True)


class Peer:
    def __init__(self, a, sock=None):
        """sock: a connected socket-like object to run the session over
        (noisepeer.py passes its encrypted transport); default, a plain TCP
        connection to a.host:a.port_."""
        self.a = a
        if sock is None:
            fam = socket.AF_INET6 if ":" in a.host else socket.AF_INET
            sock = socket.socket(fam, socket.SOCK_STREAM)
            if a.mode == "badframe":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(a.timeout)
            sock.connect((a.host, a.port_))
            sock.settimeout(None)
        self.sock = sock
        self.wlock = threading.Lock()
        self.cv = threading.Condition()
        self.reading = threading.Event()
        self.reading.set()
        self.closed = False
        self.goaway = []
        self.frames_ok = True
        self.window = {}        # sid -> bytes we may still send
        self.data = {}          # sid -> bytes received
        self.fins = set()
        self.rsts = set()
        self.opened = []        # relay streams, in order
        self.syn = {}           # sid -> (type, length) of its SYN frame
        self.on_open = None
        self.on_data = None
        self.t = threading.Thread(target=self.reader, daemon=True)
        self.t.start()

    def send(self, b):
        with self.wlock:
            try:
                self.sock.sendall(b)
                return True
            except OSError:
                return False

    def reader(self):
        buf = bytearray()
        try:
            while True:
                self.reading.wait()
                b = self.sock.recv(1 << 20)
                if not b:
                    break
                buf += b
                while len(buf) >= 12:
                    ver, typ, fl, sid, ln = HDR.unpack_from(buf, 0)
                    if ver != 0 or typ > T_GOAWAY:
                        self.frames_ok = False
                        buf.clear()
                        break
                    need = 12 + (ln if typ == T_DATA else 0)
                    if len(buf) < need:
                        break
                    payload = bytes(buf[12:need])
                    del buf[:need]
                    self.on_frame(typ, fl, sid, ln, payload)
        except OSError:
            pass
        with self.cv:
            self.closed = True
            self.cv.notify_all()

    def on_frame(self, typ, fl, sid, ln, payload):
        replies = []
        opened = None
        with self.cv:
            if typ == T_GOAWAY:
                self.goaway.append(ln)
            elif typ == T_PING:
                if fl & F_SYN:
                    replies.append(frame(T_PING, F_ACK, 0, ln))
            else:
                if fl & F_SYN and sid % 2 == 0:
                    self.opened.append(sid)
                    self.syn[sid] = (typ, ln)
                    self.window[sid] = WINDOW
                    self.data[sid] = bytearray()
                    opened = sid
                if typ == T_WINUPD and sid in self.window:
                    self.window[sid] += ln
                if payload:
                    self.data.setdefault(sid, bytearray()).extend(payload)
                if fl & F_FIN:
                    self.fins.add(sid)
                if fl & F_RST:
                    self.rsts.add(sid)
            self.cv.notify_all()
        for r in replies:
            self.send(r)
        if opened is not None and self.on_open is not None:
            self.on_open(opened)
        if payload and self.on_data is not None:
            self.on_data(sid, payload)

    def wait(self, pred, timeout):
        deadline = time.monotonic() + timeout
        with self.cv:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cv.wait(left)
            return True

    def register(self):
        a = self.a
        if a.plain:
            self.send(frame(T_WINUPD, F_SYN, 1, 0))
        elif a.syn_data:
            self.send(frame(T_DATA, F_SYN, 1, 0))
        elif a.syn_junk:
            junk = b"GET / HTTP/1.0\r\n"
            self.send(frame(T_DATA, F_SYN, 1, len(junk), junk))
        else:
            parts = ["relay-hello 1"]
            if a.name:
                parts.append("name=" + a.name)
            if a.port:
                parts.append("port=%d" % a.port)
            if getattr(a, "addr", False):
                parts.append("addr=1")
            hello = (" ".join(parts) + "\n").encode()
            self.send(frame(T_DATA, F_SYN, 1, len(hello), hello))
        self.wait(lambda: 1 in self.fins or self.closed, a.timeout)
        return bytes(self.data.get(1, b"")).decode(errors="replace")

    def ack(self, sid, grant=0):
        self.send(frame(T_WINUPD, F_ACK, sid, grant))

    def consumed(self, sid, n):
        self.send(frame(T_WINUPD, 0, sid, n))

    def write_stream(self, sid, data, deadline, progress=None):
        """Send data on sid within the window the relay grants."""
        off = 0
        while off < len(data):
            with self.cv:
                while (self.window.get(sid, 0) == 0 and sid not in self.rsts
                       and not self.closed):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return off
                    self.cv.wait(min(left, 0.2))
                if sid in self.rsts or self.closed:
                    return off
                n = min(self.window[sid], 65536, len(data) - off)
                self.window[sid] -= n
            if not self.send(frame(T_DATA, 0, sid, n, data[off:off + n])):
                return off
            off += n
            if progress:
                progress(sid, off)
        return off


def start_echo(p):
    """Echo every stream's data back within the relay's window, from a
    writer thread (the reader must never wait for a window)."""
    q = []
    cv = threading.Condition()

    def writer():
        while True:
            with cv:
                while not q:
                    cv.wait()
                sid, payload = q.pop(0)
            p.write_stream(sid, payload, time.monotonic() + p.a.timeout)

    def on_data(sid, payload):
        p.consumed(sid, len(payload))
        with cv:
            q.append((sid, payload))
            cv.notify()
    threading.Thread(target=writer, daemon=True).start()
    p.on_data = on_data


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("mode")
    ap.add_argument("host")
    ap.add_argument("port_", type=int)
    ap.add_argument("--plain", action="store_true")
    ap.add_argument("--syn-data", action="store_true")
    ap.add_argument("--syn-junk", action="store_true")
    ap.add_argument("--addr", action="store_true")
    ap.add_argument("--name")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bytes", type=int, default=WINDOW)
    ap.add_argument("--streams", type=int, default=1)
    ap.add_argument("--late", type=int, default=1)
    ap.add_argument("--delay", type=float, default=1.0)
    ap.add_argument("--hold", type=float, default=5.0)
    ap.add_argument("--count", type=int, default=1100)
    ap.add_argument("--ready")
    ap.add_argument("--go")
    ap.add_argument("--progress")
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--no-fin", action="store_true")
    a = ap.parse_args()
    modes = ("register", "closer", "lateack", "silent", "flood", "goaway",
             "badframe", "synflood", "record")
    if a.mode not in modes:
        print("yamuxpeer.py: unknown mode %s" % a.mode, file=sys.stderr)
        return 64
    p = Peer(a)
    start = time.monotonic()
    deadline = start + a.timeout

    if a.mode == "synflood":
        hello = b"relay-hello 1 name=flood"
        p.send(frame(T_DATA, F_SYN, 1, len(hello), hello))
        b = b"".join(frame(T_WINUPD, F_SYN, 3 + 2 * i, 0)
                     for i in range(a.count))
        p.send(b)
        closed = p.wait(lambda: p.closed, a.timeout)
        say("closed=%d" % closed)
        return 0

    reply = p.register()
    if reply.startswith("error") or ":" not in reply:
        say("refused %s" % (reply or "(nothing)"))
        return 0 if a.mode == "register" else 1
    say("registered %s" % reply)
    # Our side of the registration stream, as hashicorp closes it.
    p.send(frame(T_WINUPD, F_FIN, 1, 0))
    if a.ready and a.mode != "badframe":
        with open(a.ready, "w") as f:
            f.write(reply + "\n")

    if a.mode == "register":
        p.on_open = lambda sid: p.ack(sid)
        start_echo(p)
        p.wait(lambda: p.closed, a.hold)
    elif a.mode == "closer":
        p.on_open = lambda sid: p.ack(sid)
        data = pattern(a.bytes)
        digest = hashlib.sha256(data).hexdigest()
        done = 0
        while done < a.streams and time.monotonic() < deadline:
            if not p.wait(lambda: len(p.opened) > done or p.closed,
                          deadline - time.monotonic()):
                break
            if p.closed:
                break
            sid = p.opened[done]
            n = p.write_stream(sid, data, deadline)
            if not a.no_fin:
                p.send(frame(T_WINUPD, F_FIN, sid, 0))
            say("sent %d %d %s" % (sid, n, digest))
            done += 1
        # In good order: our FIN to the relay, then the close.
        try:
            p.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        p.wait(lambda: p.closed, 2.0)
        p.sock.close()
        say("closed")
    elif a.mode == "lateack":
        count = [0]

        def opened(sid):
            count[0] += 1
            if count[0] == a.late:
                threading.Timer(a.delay, lambda: p.ack(sid)).start()
            else:
                p.ack(sid)
        p.on_open = opened
        start_echo(p)
        p.wait(lambda: p.closed, a.hold)
        say("opened=%d closed=%d" % (len(p.opened), p.closed))
    elif a.mode == "silent":
        def opened(sid):
            p.ack(sid)
            say("open %d" % sid)
        p.on_open = opened
        seen = set()
        end = time.monotonic() + a.hold
        while time.monotonic() < end and not p.closed:
            p.wait(lambda: p.rsts - seen or p.closed, end - time.monotonic())
            for sid in sorted(p.rsts - seen):
                say("rst %d" % sid)
                seen.add(sid)
    elif a.mode == "flood":
        data = pattern(a.bytes)
        plock = threading.Lock()

        def progress(sid, n):
            if a.progress:
                with plock:
                    with open(a.progress, "a") as f:
                        f.write("%d %d\n" % (sid, n))

        def opened(sid):
            p.ack(sid)
            threading.Thread(target=p.write_stream,
                             args=(sid, data, deadline, progress),
                             daemon=True).start()
        p.on_open = opened
        seen = set()
        end = time.monotonic() + a.hold
        while time.monotonic() < end and not p.closed:
            p.wait(lambda: p.rsts - seen or p.closed, end - time.monotonic())
            for sid in sorted(p.rsts - seen):
                say("rst %d" % sid)
                seen.add(sid)
    elif a.mode == "goaway":
        p.send(frame(T_GOAWAY, 0, 0, 0))
        n0 = len(p.opened)
        p.on_open = lambda sid: p.ack(sid)
        p.wait(lambda: p.closed, a.hold)
        say("syns=%d" % (len(p.opened) - n0))
    elif a.mode == "badframe":
        p.on_open = lambda sid: p.ack(sid)
        p.reading.clear()
        if a.ready:
            with open(a.ready, "w") as f:
                f.write(reply + "\n")
        while a.go and not os.path.exists(a.go) and \
                time.monotonic() < deadline:
            time.sleep(0.02)
        p.send(HDR.pack(7, 0, 0, 0, 0))
        p.reading.set()
        p.wait(lambda: p.closed, a.timeout)
        say("goaway=%s frames_ok=%d" % (
            ",".join(str(c) for c in p.goaway) or "none", p.frames_ok))
    elif a.mode == "record":
        p.on_open = lambda sid: p.ack(sid)

        def ended():
            return len([s for s in p.opened if s in p.fins or
                        s in p.rsts]) >= a.streams or p.closed
        if not p.wait(ended, a.timeout):
            say("timeout")
            return 1
        for sid in p.opened:
            if sid not in p.fins and sid not in p.rsts:
                continue
            typ, ln = p.syn[sid]
            say("stream %d syn=%d synlen=%d end=%s data=%s" % (
                sid, typ, ln, "rst" if sid in p.rsts else "fin",
                bytes(p.data.get(sid, b"")).hex()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
