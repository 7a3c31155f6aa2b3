#!/usr/bin/env python3
"""A pacing TCP proxy for the slow-link tests: every connection to its
port is relayed to TARGET, each direction at about RATE bytes/s, with
small socket buffers so that the kernel hides little of the slow link.
Prints "listening on PORT" once ready; exits on SIGTERM or after
--max-seconds.

  pacer.py TARGETHOST TARGETPORT --rate BYTES_PER_S [--max-seconds S]
"""
import argparse
import signal
import socket
import sys
import threading
import time

BUF = 16384
CHUNK = 4096


def pipe(src, dst, rate, stop):
    start = time.monotonic()
    sent = 0
    try:
        while not stop.is_set():
            b = src.recv(CHUNK)
            if not b:
                break
            dst.sendall(b)
            sent += len(b)
            # The link's own speed: this sleep is the emulation.
            ahead = sent / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
            if time.monotonic() - start > 5:
                start, sent = time.monotonic(), 0
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def small(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUF)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUF)


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--rate", type=int, required=True)
    ap.add_argument("--max-seconds", type=float, default=120)
    a = ap.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *x: stop.set())
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    small(ls)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    ls.settimeout(0.2)
    print("listening on %d" % ls.getsockname()[1], flush=True)
    end = time.monotonic() + a.max_seconds
    while not stop.is_set() and time.monotonic() < end:
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        small(c)
        t = socket.socket()
        small(t)
        try:
            t.connect((a.host, a.port))
        except OSError:
            c.close()
            continue
        for x, y in ((c, t), (t, c)):
            threading.Thread(target=pipe, args=(x, y, a.rate, stop),
                             daemon=True).start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
