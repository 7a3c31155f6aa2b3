#!/usr/bin/env python3
"""Hostile helpers of tests/hardening.bats.  Every loop is bounded in count
and time; exit 0 when the helper ran (whatever the relay did), 1 when it
could not, 64 on bad usage.

  harden.py forge PID KIND [--count N] [--seconds S]
      Take over the master<->worker channel of worker PID (descriptor 3)
      with pidfd_getfd(2), as root, and send what KIND says:
        badname   a PROC_PORT_REQ whose name and address forge a log line
        badaddr   a PROC_PORT_REQ whose address is a terminal escape
        registered  a PROC_REGISTERED out of turn (no port was granted)
        withfd    a PROC_IDLE carrying a descriptor
        flood     --count messages of an unknown type, as fast as the
                  channel takes them
      Prints "result sent=N error=E".
  harden.py silent HOST PORT --source ADDR --count N --seconds S
                   [--reopen] [--check-after T] [--ready FILE]
      Hold N connections from ADDR that never send a byte; with --reopen
      replace those the relay closes.  Prints "held_after=X" T seconds in
      (after opening), then "result opened=N closed=K max_held=M".
  harden.py flood HOST PORT --seconds S [--hello-text TEXT]
      Reconnect as fast as possible: connect, send 64 bytes of 0xff (or the
      yamux SYN frame carrying TEXT as a hello), read until the relay
      closes, again.  Prints "result connections=N".
  harden.py maps PID
      The writable shared mappings of PID ("rw-s"), one a line.
  harden.py scribble PID ADDR
      Write the 32-bit value 1 (a live pid: init) at ADDR (hex) of PID's
      memory, as a worker that writes its shared memory could.
  harden.py replay PID M1FILE [--ik] [--record] --addr ADDR [--name N]
      As the worker PID (stopped by the caller), send the master a
      recorded message 1 (M1FILE: preamble, length, message 1), then a
      made-up first record (--record), then a port request; prints
      "hs_rep=FLAGS [keys=0|1] port_ok=0|1".

  harden.py find PID HEX
      Count the occurrences of the bytes HEX in PID's private writable
      memory (heap, data, stack); prints "found=N".

The channel's message is struct proc_msg of include/proc.h, PROC_MSG_SIZE
bytes, little-endian: keep msg() in step with it.  HARDEN_PROC_MSG_SIZE=272
sends the layout of relays built before pm_len and pm_data (to show that
the tests fail there).
"""
import argparse
import ctypes
import errno
import os
import select
import socket
import struct
import sys
import time

PROC_MSG_SIZE = 948
PROC_PORT_OK, PROC_HS_REP, PROC_HS_KEYS = 2, 6, 8
PROC_PORT_REQ, PROC_REGISTERED, PROC_IDLE = 32, 33, 34
PROC_HS_REQ, PROC_HS_REC = 35, 36
SYS_PIDFD_GETFD = 438


def msg(typ, slot=0, port=0, flags=0, name=b"", addr=b"", reason=b"",
        data=b""):
    m = (struct.pack("<IIII", typ, slot, port, flags) +
         name.ljust(64, b"\0")[:64] + addr.ljust(64, b"\0")[:64] +
         reason.ljust(128, b"\0")[:128] + struct.pack("<I", len(data)) +
         data.ljust(672, b"\0")[:672])
    assert len(m) == PROC_MSG_SIZE
    return m[:int(os.environ.get("HARDEN_PROC_MSG_SIZE", PROC_MSG_SIZE))]


def steal(pid, target_fd=3):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    pidfd = os.pidfd_open(pid)
    fd = libc.syscall(SYS_PIDFD_GETFD, pidfd, target_fd, 0)
    err = ctypes.get_errno()
    os.close(pidfd)
    if fd < 0:
        raise OSError(err, os.strerror(err))
    return socket.socket(fileno=fd)


def forge(a):
    s = steal(a.pid)
    sent, err = 0, "none"
    deadline = time.monotonic() + a.seconds
    try:
        if a.kind == "badname":
            s.send(msg(PROC_PORT_REQ, name=b"x\nFORGED master info: pwned",
                       addr=b"127.0.0.1:1\nFORGED master info: pwned"))
            sent = 1
        elif a.kind == "badaddr":
            s.send(msg(PROC_PORT_REQ, name=b"ok",
                       addr=b"\x1b]0;pwned\x07\x1b[31m"))
            sent = 1
        elif a.kind == "registered":
            s.send(msg(PROC_REGISTERED, port=12345))
            sent = 1
        elif a.kind == "withfd":
            r, w = os.pipe()
            s.sendmsg([msg(PROC_IDLE, reason=b"x")],
                      [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                        struct.pack("i", r))])
            os.close(r)
            os.close(w)
            sent = 1
        elif a.kind == "flood":
            m = msg(99, reason=b"flood")
            s.setblocking(False)
            while sent < a.count and time.monotonic() < deadline:
                try:
                    s.send(m)
                    sent += 1
                except BlockingIOError:
                    select.select([], [s], [], 0.05)
        else:
            print("harden.py: unknown kind %s" % a.kind, file=sys.stderr)
            return 64
    except OSError as e:
        err = errno.errorcode.get(e.errno, str(e.errno))
    print("result sent=%d error=%s" % (sent, err), flush=True)
    s.close()
    return 0


def silent(a):
    start = time.monotonic()
    deadline = start + a.seconds
    socks = {}
    opened = closed = max_held = 0
    checked = a.check_after <= 0
    ready_done = False
    p = select.epoll()

    def open_one():
        nonlocal opened
        c = socket.socket(socket.AF_INET6 if ":" in a.host else
                          socket.AF_INET)
        c.bind((a.source, 0))
        c.setblocking(False)
        e = c.connect_ex((a.host, a.port))
        if e not in (0, errno.EINPROGRESS):
            c.close()
            return
        socks[c.fileno()] = c
        p.register(c.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
        opened += 1

    for _ in range(a.count):
        open_one()
    while time.monotonic() < deadline:
        for fd, ev in p.poll(0.05):
            c = socks.get(fd)
            if c is None:
                continue
            try:
                if c.recv(1) != b"":
                    continue
            except BlockingIOError:
                continue
            except OSError:
                pass
            p.unregister(fd)
            del socks[fd]
            c.close()
            closed += 1
        max_held = max(max_held, len(socks))
        if not checked and time.monotonic() - start >= a.check_after:
            print("held_after=%d" % len(socks), flush=True)
            checked = True
        if a.ready and not ready_done:
            with open(a.ready, "w") as f:
                f.write("%d\n" % len(socks))
            ready_done = True
        if a.reopen and opened < a.count * 50:
            while len(socks) < a.count:
                n = len(socks)
                open_one()
                if len(socks) == n:
                    break
    print("result opened=%d closed=%d max_held=%d" % (opened, closed,
                                                      max_held), flush=True)
    for c in socks.values():
        c.close()
    return 0


def flood(a):
    if a.hello_text:
        hello = a.hello_text.encode().decode("unicode_escape").encode()
        data = struct.pack(">BBHII", 0, 0, 1, 1, len(hello)) + hello
    else:
        data = b"\xff" * 64
    n = 0
    deadline = time.monotonic() + a.seconds
    while time.monotonic() < deadline and n < 100000:
        c = None
        try:
            c = socket.create_connection((a.host, a.port), timeout=2)
            c.sendall(data)
            while c.recv(4096):
                pass
        except OSError:
            pass
        finally:
            if c is not None:
                c.close()
        n += 1
    print("result connections=%d" % n, flush=True)
    return 0


def mappings(pid, want):
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split(None, 5)
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            path = parts[5].strip() if len(parts) > 5 else ""
            if want(parts[1], path):
                yield lo, hi, parts[1], path


def maps(a):
    for lo, hi, perms, path in mappings(a.pid, lambda p, _: p == "rw-s"):
        print("%x-%x %s %s" % (lo, hi, perms, path))
    return 0


def scribble(a):
    with open("/proc/%d/mem" % a.pid, "r+b", buffering=0) as f:
        f.seek(int(a.addr, 16))
        f.write(struct.pack("<i", 1))
    return 0


def find(a):
    needle = bytes.fromhex(a.hex)
    found = 0
    with open("/proc/%d/mem" % a.pid, "rb", buffering=0) as f:
        for lo, hi, perms, path in mappings(
                a.pid, lambda p, _: p.startswith("rw") and p[3] == "p"):
            try:
                f.seek(lo)
                found += f.read(hi - lo).count(needle)
            except OSError:
                pass
    print("found=%d" % found)
    return 0


def replay(a):
    """A compromised worker (its channel stolen, the worker stopped) sends
    the master a recorded message 1 and then what a worker would send
    next.  Prints what the master answered."""
    with open(a.m1, "rb") as f:
        m1 = f.read()[10:]          # past the preamble and the length
    s = steal(a.pid)
    s.settimeout(5)
    got = []
    s.send(msg(PROC_HS_REQ, flags=1 if a.ik else 2, data=m1))

    def answer():
        try:
            b = s.recv(PROC_MSG_SIZE)
        except OSError:
            return None
        if len(b) < 16:
            return None             # EOF: the master killed the worker
        typ, _, _, flags = struct.unpack("<IIII", b[:16])
        (ln,) = struct.unpack("<I", b[272:276])
        return typ, flags, ln
    r = answer()
    got.append("hs_rep=%s" % (r[1] if r and r[0] == PROC_HS_REP else "none"))
    # Claim the session: with a first record made up, then without one.
    if a.record:
        s.send(msg(PROC_HS_REC, data=os.urandom(80)))
        r = answer()
        got.append("keys=%d" % (r is not None and r[0] == PROC_HS_KEYS))
    s.send(msg(PROC_PORT_REQ, name=a.name.encode(), addr=a.addr.encode()))
    r = answer()
    got.append("port_ok=%d" % (r is not None and r[0] == PROC_PORT_OK))
    print(" ".join(got), flush=True)
    s.close()
    return 0


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("forge")
    f.add_argument("pid", type=int)
    f.add_argument("kind")
    f.add_argument("--count", type=int, default=1000)
    f.add_argument("--seconds", type=float, default=10)
    s = sub.add_parser("silent")
    s.add_argument("host")
    s.add_argument("port", type=int)
    s.add_argument("--source", required=True)
    s.add_argument("--count", type=int, default=64)
    s.add_argument("--seconds", type=float, default=5)
    s.add_argument("--reopen", action="store_true")
    s.add_argument("--check-after", type=float, default=0)
    s.add_argument("--ready")
    fl = sub.add_parser("flood")
    fl.add_argument("host")
    fl.add_argument("port", type=int)
    fl.add_argument("--seconds", type=float, default=3)
    fl.add_argument("--hello-text")
    m = sub.add_parser("maps")
    m.add_argument("pid", type=int)
    sc = sub.add_parser("scribble")
    sc.add_argument("pid", type=int)
    sc.add_argument("addr")
    fi = sub.add_parser("find")
    fi.add_argument("pid", type=int)
    fi.add_argument("hex")
    r = sub.add_parser("replay")
    r.add_argument("pid", type=int)
    r.add_argument("m1")
    r.add_argument("--ik", action="store_true")
    r.add_argument("--record", action="store_true")
    r.add_argument("--name", default="")
    r.add_argument("--addr", required=True)
    a = ap.parse_args()
    return {"forge": forge, "silent": silent, "flood": flood, "maps": maps,
            "scribble": scribble, "find": find, "replay": replay}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
