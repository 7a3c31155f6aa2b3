#!/usr/bin/env python3
"""A recording TCP proxy: every connection to its port is relayed to
TARGETHOST:TARGETPORT unchanged, and the bytes of each direction are
appended, as they pass, to PREFIX.N.up (client to target) and PREFIX.N.down
(target to client), N counting connections from 1.  Prints "listening on
PORT" once ready; exits on SIGTERM or after --max-seconds.  With
--flip-up N or --flip-down N it also alters one bit of byte N (from 0) of
that direction of every connection: an attacker on the path.

  recproxy.py TARGETHOST TARGETPORT --out PREFIX [--max-seconds S]
              [--flip-up N] [--flip-down N]
"""
import argparse
import signal
import socket
import sys
import threading
import time


def pipe(src, dst, path, stop, flip):
    off = 0
    with open(path, "ab") as f:
        try:
            while not stop.is_set():
                b = src.recv(65536)
                if not b:
                    break
                if flip is not None and off <= flip < off + len(b):
                    b = bytearray(b)
                    b[flip - off] ^= 0x10
                    b = bytes(b)
                off += len(b)
                f.write(b)
                f.flush()
                dst.sendall(b)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            # A reset on one side becomes the end of both.
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-seconds", type=float, default=300)
    ap.add_argument("--flip-up", type=int)
    ap.add_argument("--flip-down", type=int)
    a = ap.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *x: stop.set())
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    ls.settimeout(0.2)
    print("listening on %d" % ls.getsockname()[1], flush=True)
    end = time.monotonic() + a.max_seconds
    n = 0
    while not stop.is_set() and time.monotonic() < end:
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        t = socket.socket()
        try:
            t.connect((a.host, a.port))
        except OSError:
            c.close()
            continue
        n += 1
        for x, y, d, flip in ((c, t, "up", a.flip_up),
                              (t, c, "down", a.flip_down)):
            threading.Thread(target=pipe,
                             args=(x, y, "%s.%d.%s" % (a.out, n, d), stop,
                                   flip),
                             daemon=True).start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
