#!/usr/bin/env python3
"""A plain TCP echo server for the tests: the local service behind a
forwarding backend.

  echod.py [PORT]     listen on 127.0.0.1:PORT (default 0 = any free port),
                      print the port as the first stdout line (flushed), then
                      echo every connection in its own thread; a client's
                      half-close is passed on (shutdown of our write side).
"""
import socket
import sys
import threading


def serve(c):
    try:
        while True:
            b = c.recv(1 << 18)
            if not b:
                c.shutdown(socket.SHUT_WR)
                break
            c.sendall(b)
    except OSError:
        pass
    finally:
        c.close()


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(128)
    print(ls.getsockname()[1], flush=True)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
