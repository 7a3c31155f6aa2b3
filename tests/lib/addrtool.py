#!/usr/bin/env python3
"""Helpers of tests/addr.bats: client addresses through the relay.

  addrtool.py ppv2 HEX
      parse HEX as a PROXY protocol v2 header followed by a stream's bytes
      (written from HAProxy's proxy-protocol.txt, independently of the
      relay's code); prints "cmd=PROXY fam=TCP4|TCP6 src=A:P dst=A:P
      len=N rest=HEX" (IPv6 addresses as [A]:P), exits 1 when it is not
      a well-formed v2 header.
  addrtool.py client HOST PORT --src ADDR [--sport N] [--text TEXT]
                               [--expect TEXT] [--halfclose]
                               --ready FILE [--timeout T]
      connect from ADDR (port N, or any), send TEXT (half-close after it
      if asked), read the answer (--expect, by default the echo of TEXT),
      write the local "ADDR:PORT" (IPv6 "[ADDR]:PORT") to FILE, then wait
      until the peer closes or T s have passed.
  addrtool.py closed HOST PORT [--timeout T]
      connect, send nothing, and expect the other side to close (EOF or
      reset, even one that beats connect() back) within T s; prints
      "closed eof|reset".
  addrtool.py rst HOST PORT --count N
      N connections, each closed with a reset (SO_LINGER 0) right after
      connect, before the relay can read its address.
  addrtool.py target PORT MODE --dir DIR
      a target for relayexpose on 127.0.0.1:PORT; prints "listening" once
      ready.  MODE record: each connection's bytes up to the client's EOF
      (or 5 s) go to DIR/conn.N as hex, then "ok\\n" is sent and the
      connection closed.  MODE reject: every connection is closed at once
      with a reset, as a server that refuses the header would, and counted
      in DIR/rejected.
"""
import argparse
import ipaddress
import os
import socket
import struct
import sys
import threading
import time

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def hostport(fam, addr, port):
    if fam == "TCP6":
        return "[%s]:%d" % (addr, port)
    return "%s:%d" % (addr, port)


def ppv2(hexdata):
    b = bytes.fromhex(hexdata)
    if len(b) < 16 or b[:12] != SIG:
        print("no v2 signature")
        return 1
    ver, cmd = b[12] >> 4, b[12] & 15
    fam, proto = b[13] >> 4, b[13] & 15
    (length,) = struct.unpack(">H", b[14:16])
    if ver != 2 or cmd not in (0, 1):
        print("bad version/command %#x" % b[12])
        return 1
    if len(b) < 16 + length:
        print("truncated: %d of %d" % (len(b), 16 + length))
        return 1
    body, rest = b[16:16 + length], b[16 + length:]
    if cmd == 0:
        print("cmd=LOCAL len=%d rest=%s" % (16 + length, rest.hex()))
        return 0
    if proto != 1 or fam not in (1, 2):
        print("not TCP over IPv4/IPv6: %#x" % b[13])
        return 1
    alen = 4 if fam == 1 else 16
    if length < 2 * alen + 4:
        print("address block too short")
        return 1
    src = ipaddress.ip_address(body[:alen])
    dst = ipaddress.ip_address(body[alen:2 * alen])
    sport, dport = struct.unpack(">HH", body[2 * alen:2 * alen + 4])
    name = "TCP4" if fam == 1 else "TCP6"
    print("cmd=PROXY fam=%s src=%s dst=%s len=%d rest=%s" % (
        name, hostport(name, src, sport), hostport(name, dst, dport),
        16 + length, rest.hex()))
    return 0


def client(a):
    fam = socket.AF_INET6 if ":" in a.src else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.bind((a.src, a.sport))
    s.settimeout(a.timeout)
    s.connect((a.host, a.port))
    text = a.text.encode()
    want = (a.expect if a.expect is not None else a.text).encode()
    s.sendall(text)
    if a.halfclose:
        s.shutdown(socket.SHUT_WR)
    got = b""
    while len(got) < len(want):
        b = s.recv(65536)
        if not b:
            break
        got += b
    if got != want:
        print("echo differs: %r" % got)
        return 1
    la = s.getsockname()
    with open(a.ready + ".tmp", "w") as f:
        f.write(("[%s]:%d" if fam == socket.AF_INET6 else "%s:%d")
                % (la[0], la[1]) + "\n")
    os.rename(a.ready + ".tmp", a.ready)
    try:
        s.recv(1)
    except OSError:
        pass
    return 0


def closed(a):
    s = socket.socket()
    s.settimeout(a.timeout)
    try:
        s.connect((a.host, a.port))
        b = s.recv(65536)
        while b:
            b = s.recv(65536)
        print("closed eof")
    except ConnectionResetError:
        print("closed reset")
    except socket.timeout:
        print("still open after %g s" % a.timeout)
        return 1
    return 0


def rst(a):
    for _ in range(a.count):
        s = socket.socket()
        s.connect((a.host, a.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     struct.pack("ii", 1, 0))
        s.close()
    print("reset %d" % a.count)
    return 0


def target(a):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", a.port))
    ls.listen(64)
    print("listening", flush=True)
    n = [0]
    lock = threading.Lock()

    def record(c, i):
        c.settimeout(5)
        data = b""
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                data += b
        except OSError:
            pass
        path = os.path.join(a.dir, "conn.%d" % i)
        with open(path + ".tmp", "w") as f:
            f.write(data.hex() + "\n")
        os.rename(path + ".tmp", path)
        try:
            c.sendall(b"ok\n")
        except OSError:
            pass
        c.close()

    while True:
        c, _ = ls.accept()
        with lock:
            n[0] += 1
            i = n[0]
        if a.mode == "reject":
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
            c.close()
            with open(os.path.join(a.dir, "rejected"), "w") as f:
                f.write("%d\n" % i)
        else:
            threading.Thread(target=record, args=(c, i), daemon=True).start()


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("mode")
    ap.add_argument("args", nargs="*")
    ap.add_argument("--src", default="127.0.0.1")
    ap.add_argument("--sport", type=int, default=0)
    ap.add_argument("--text", default="hello")
    ap.add_argument("--expect")
    ap.add_argument("--halfclose", action="store_true")
    ap.add_argument("--ready")
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--dir", default=".")
    a = ap.parse_args()
    if a.mode == "ppv2" and len(a.args) == 1:
        return ppv2(a.args[0])
    if a.mode in ("client", "rst", "closed") and len(a.args) == 2:
        a.host, a.port = a.args[0], int(a.args[1])
        return {"client": client, "rst": rst, "closed": closed}[a.mode](a)
    if a.mode == "target" and len(a.args) == 2:
        a.port, a.mode = int(a.args[0]), a.args[1]
        target(a)
        return 0
    ap.error("bad arguments")
    return 64


if __name__ == "__main__":
    sys.exit(main())
