#!/usr/bin/env python3
"""A paced echo transfer: sends N pseudo-random bytes to HOST:PORT at about
RATE bytes/s while reading the echo, writes READY once the first echoed
bytes are back, and exits 0 only when every byte came back unchanged.

  paced.py HOST PORT N RATE READY
"""
import hashlib
import os
import socket
import sys
import threading
import time


def main():
    host, port, n, rate, ready = (sys.argv[1], int(sys.argv[2]),
                                  int(sys.argv[3]), int(sys.argv[4]),
                                  sys.argv[5])
    data = os.urandom(n)
    s = socket.create_connection((host, port), timeout=60)
    got = bytearray()
    err = []

    def reader():
        try:
            while len(got) < n:
                b = s.recv(1 << 20)
                if not b:
                    break
                if not got:
                    with open(ready, "w") as f:
                        f.write("ready\n")
                got.extend(b)
        except OSError as e:
            err.append(str(e))

    t = threading.Thread(target=reader)
    t.start()
    chunk = 65536
    start = time.monotonic()
    for off in range(0, n, chunk):
        s.sendall(data[off:off + chunk])
        # The pacing only stretches the transfer; nothing waits on it.
        ahead = (off + chunk) / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
    t.join(60)
    s.close()
    if err or bytes(got) != data:
        print("error: got %d of %d bytes %s" % (len(got), n, err), file=sys.stderr)
        return 1
    print("ok %d %s" % (n, hashlib.sha256(got).hexdigest()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
