#!/usr/bin/env python3
"""A test client: sends data to HOST:PORT, reads the echo, checks it.

  tcpclient.py echo HOST PORT [--bytes N] [--seed S] [--chunk C] [--halfclose]
      send N pseudo-random bytes (all 256 values), read N bytes back, compare;
      with --halfclose, shut down the write side after sending and expect EOF
      after the echo.  Prints "ok N sha256" or exits 1 with a reason.
  tcpclient.py parallel HOST PORT --clients K [--bytes N]
      K concurrent echo clients (threads); all must succeed.
  tcpclient.py expect-close HOST PORT [--timeout T]
      connect and expect the relay to close the connection (EOF or reset)
      within T seconds without sending anything; prints the elapsed time.
  tcpclient.py send-close HOST PORT [--hex HEX] [--random N [--seed S]]
                                    [--text TEXT] [--timeout T]
      connect, send HEX, then N random bytes, then TEXT (backslash escapes
      allowed; nothing given: stay silent), then read and discard
      whatever comes back until the peer closes (EOF or reset) within T s.
      Prints "closed after SECS s local ADDR:PORT received N bytes".
  tcpclient.py hold HOST PORT --ready FILE [--bytes N] [--timeout T]
      connect, do one echo round trip of N bytes, write the local ADDR:PORT
      to FILE, then wait (sending nothing) for the peer to close within T s.
  tcpclient.py flood HOST PORT --bytes N --progress FILE [--stall S]
                               [--timeout T]
      send N bytes and never read; whenever a send makes no progress for S s,
      write "stalled SENT" to FILE (else "sending SENT"); keep the connection
      until N bytes are sent or T s have passed.  Exits 0.
  tcpclient.py hold-after-echo HOST PORT --bytes N --ready-file FILE
      connect, send N bytes while reading their echo (no deadlock however
      large N is), check it, write the local ADDR:PORT to FILE, then block
      sending nothing until the peer closes (exit 0, or 1 if it sent
      anything more) or the process is killed.
  tcpclient.py lazy-read HOST PORT --ready FILE --go FILE [--rcvbuf N]
                                   [--halfclose] [--text TEXT] [--timeout T]
      connect (with a small receive buffer), send TEXT, half-close if asked,
      write the local ADDR:PORT to FILE, read nothing until GO exists, then
      read to the end.  Prints "got N SHA256 end=eof|reset|timeout".
  tcpclient.py reset-after HOST PORT --ready FILE --go FILE [--text TEXT]
                                     [--halfclose]
      connect, send TEXT, half-close if asked, write the local ADDR:PORT to
      FILE, wait for GO, then close with a reset (SO_LINGER 0).
"""
import argparse
import hashlib
import os
import random
import socket
import struct
import sys
import threading
import time


def pattern(n, seed):
    rnd = random.Random(seed)
    base = bytes(range(256)) * 256          # every byte value
    out = bytearray()
    while len(out) < n:
        k = rnd.randrange(len(base))
        out += base[k:] + base[:k]
    return bytes(out[:n])


def echo_once(host, port, n, seed, chunk, halfclose, timeout):
    """Send n bytes and read their echo, both at once: a client that
    blocks in send() while the echo fills its receive buffer deadlocks
    through any flow-controlled path (TCP's own included, once the bytes
    in flight pass what the buffers on the way hold)."""
    import selectors
    data = pattern(n, seed)
    s = socket.create_connection((host, port), timeout=timeout)
    got = bytearray()
    sent = 0
    shut = False
    s.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    try:
        while True:
            if sent >= n and halfclose and not shut:
                s.shutdown(socket.SHUT_WR)
                shut = True
            if sent >= n and len(got) >= n and not halfclose:
                break
            if sent >= n:
                sel.modify(s, selectors.EVENT_READ)
            if not sel.select(timeout=timeout):
                raise RuntimeError("timed out (sent %d, echoed %d of %d)"
                                   % (sent, len(got), n))
            if sent < n:
                try:
                    sent += s.send(data[sent:sent + chunk])
                except BlockingIOError:
                    pass
            try:
                b = s.recv(1 << 20)
                if not b:
                    break
                got += b
                if halfclose and len(got) > n:
                    raise RuntimeError("data after the echo")
            except BlockingIOError:
                pass
    finally:
        sel.close()
        s.close()
    if bytes(got) != data:
        raise RuntimeError("echo differs: sent %d bytes, got %d" % (n, len(got)))
    return hashlib.sha256(got).hexdigest()


def write_file(path, text):
    """Write atomically, so a poller never sees half a line."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, path)


def wait_close(s, timeout):
    """Read until EOF or reset; return the bytes received before it."""
    s.settimeout(timeout)
    got = 0
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout()
        s.settimeout(left)
        try:
            b = s.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return got
        if not b:
            return got
        got += len(b)


def send_close(a):
    # --hex, then --random, then --text, in that order; none: silence.
    data = b""
    if a.hex is not None:
        data += bytes.fromhex(a.hex)
    if a.random is not None:
        rnd = random.Random(a.seed)
        data += bytes(rnd.randrange(256) for _ in range(a.random))
    if a.text is not None:
        data += a.text.encode().decode("unicode_escape").encode("latin-1")
    t0 = time.monotonic()
    s = socket.create_connection((a.host, a.port), timeout=a.timeout)
    local = "%s:%d" % s.getsockname()[:2]
    try:
        if data:
            s.sendall(data)
        got = wait_close(s, a.timeout)
    except (ConnectionResetError, BrokenPipeError):
        got = 0
    except socket.timeout:
        print("error: %s not closed within %.1f s" % (local, a.timeout),
              file=sys.stderr)
        return 1
    finally:
        s.close()
    print("closed after %.3f s local %s received %d bytes" %
          (time.monotonic() - t0, local, got))
    return 0


def hold(a):
    data = pattern(a.bytes, a.seed)
    s = socket.create_connection((a.host, a.port), timeout=a.timeout)
    local = "%s:%d" % s.getsockname()[:2]
    try:
        s.sendall(data)
        got = bytearray()
        while len(got) < len(data):
            b = s.recv(65536)
            if not b:
                print("error: closed before the echo", file=sys.stderr)
                return 1
            got += b
        if bytes(got) != data:
            print("error: echo differs", file=sys.stderr)
            return 1
        write_file(a.ready, local)
        t0 = time.monotonic()
        try:
            n = wait_close(s, a.timeout)
        except socket.timeout:
            print("error: not closed within %.1f s" % a.timeout,
                  file=sys.stderr)
            return 1
        if n:
            print("error: %d unexpected bytes" % n, file=sys.stderr)
            return 1
    finally:
        s.close()
    print("closed after %.3f s" % (time.monotonic() - t0))
    return 0


def echo_interleaved(s, data, chunk):
    """Send data while reading its echo; return what came back."""
    import selectors
    n = len(data)
    sent = 0
    got = bytearray()
    s.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    try:
        while len(got) < n:
            if sent >= n:
                sel.modify(s, selectors.EVENT_READ)
            if not sel.select(timeout=60):
                raise RuntimeError("no progress for 60 s (sent %d, got %d)"
                                   % (sent, len(got)))
            if sent < n:
                try:
                    sent += s.send(data[sent:sent + chunk])
                except BlockingIOError:
                    pass
            try:
                b = s.recv(1 << 20)
                if not b:
                    raise RuntimeError("closed after %d of %d echoed bytes"
                                       % (len(got), n))
                got += b
            except BlockingIOError:
                pass
    finally:
        sel.close()
        s.setblocking(True)
    return bytes(got)


def hold_after_echo(a):
    data = pattern(a.bytes, a.seed)
    s = socket.create_connection((a.host, a.port), timeout=30)
    local = "%s:%d" % s.getsockname()[:2]
    try:
        try:
            got = echo_interleaved(s, data, a.chunk)
        except (RuntimeError, OSError) as e:
            print("error: %s" % e, file=sys.stderr)
            return 1
        if got != data:
            print("error: echo differs (%d bytes back of %d)" %
                  (len(got), len(data)), file=sys.stderr)
            return 1
        write_file(a.ready_file, local)
        s.settimeout(None)
        n = 0
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                n += len(b)
        except (ConnectionResetError, BrokenPipeError):
            pass
    finally:
        s.close()
    if n:
        print("error: %d unexpected bytes" % n, file=sys.stderr)
        return 1
    print("closed by the peer")
    return 0


def flood(a):
    chunk = pattern(1 << 20, a.seed)
    deadline = time.monotonic() + a.timeout
    s = socket.create_connection((a.host, a.port), timeout=a.timeout)
    s.settimeout(a.stall)
    sent = 0
    state = None
    try:
        while sent < a.bytes and time.monotonic() < deadline:
            want = min(len(chunk), a.bytes - sent)
            try:
                sent += s.send(chunk[:want])
                new = "sending"
            except socket.timeout:
                new = "stalled"
            if new != state or new == "stalled":
                write_file(a.progress, "%s %d" % (new, sent))
                state = new
        write_file(a.progress, "done %d" % sent)
    except OSError as e:
        write_file(a.progress, "error %d %s" % (sent, e))
    finally:
        s.close()
    print("sent %d" % sent)
    return 0


def wait_file(path, timeout):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def lazy_connect(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if a.rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, a.rcvbuf)
    s.settimeout(a.timeout)
    s.connect((a.host, a.port))
    if a.text:
        s.sendall(a.text.encode().decode("unicode_escape").encode("latin-1"))
    if a.halfclose:
        s.shutdown(socket.SHUT_WR)
    write_file(a.ready, "%s:%d" % s.getsockname()[:2])
    if not wait_file(a.go, a.timeout):
        print("error: no go file", file=sys.stderr)
        sys.exit(1)
    return s


def lazy_read(a):
    s = lazy_connect(a)
    h = hashlib.sha256()
    n = 0
    end = "eof"
    try:
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            h.update(b)
            n += len(b)
    except socket.timeout:
        end = "timeout"
    except ConnectionResetError:
        end = "reset"
    print("got %d %s end=%s" % (n, h.hexdigest(), end), flush=True)
    return 0


def reset_after(a):
    s = lazy_connect(a)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                 struct.pack("ii", 1, 0))
    s.close()
    print("reset", flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode")
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--bytes", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--chunk", type=int, default=65536)
    ap.add_argument("--clients", type=int, default=1)
    ap.add_argument("--halfclose", action="store_true")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--random", type=int)
    ap.add_argument("--hex")
    ap.add_argument("--text")
    ap.add_argument("--ready")
    ap.add_argument("--progress")
    ap.add_argument("--stall", type=float, default=0.5)
    ap.add_argument("--ready-file")
    ap.add_argument("--go")
    ap.add_argument("--rcvbuf", type=int, default=0)
    a = ap.parse_args()
    if a.mode == "echo":
        try:
            h = echo_once(a.host, a.port, a.bytes, a.seed, a.chunk,
                          a.halfclose, a.timeout)
        except Exception as e:
            print("error: %s" % e, file=sys.stderr)
            return 1
        print("ok %d %s" % (a.bytes, h))
        return 0
    if a.mode == "parallel":
        errors = []

        def run(i):
            try:
                echo_once(a.host, a.port, a.bytes, i, a.chunk, False,
                          a.timeout)
            except Exception as e:
                errors.append("client %d: %s" % (i, e))
        ts = [threading.Thread(target=run, args=(i,)) for i in range(a.clients)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            print("\n".join(errors), file=sys.stderr)
            return 1
        print("ok %d clients" % a.clients)
        return 0
    if a.mode == "expect-close":
        t0 = time.monotonic()
        s = socket.create_connection((a.host, a.port), timeout=a.timeout)
        s.settimeout(a.timeout)
        try:
            b = s.recv(4096)
            if b:
                print("error: got data %r" % b[:64], file=sys.stderr)
                return 1
        except ConnectionResetError:
            pass
        except socket.timeout:
            print("error: not closed within %.1f s" % a.timeout, file=sys.stderr)
            return 1
        print("closed after %.3f s" % (time.monotonic() - t0))
        return 0
    if a.mode == "send-close":
        return send_close(a)
    if a.mode == "hold":
        return hold(a)
    if a.mode == "flood":
        return flood(a)
    if a.mode == "hold-after-echo":
        return hold_after_echo(a)
    if a.mode == "lazy-read":
        return lazy_read(a)
    if a.mode == "reset-after":
        return reset_after(a)
    ap.error("unknown mode")


if __name__ == "__main__":
    sys.exit(main())
