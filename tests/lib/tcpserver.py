#!/usr/bin/env python3
"""Small TCP servers for the tests, run in the foreground until killed.

  tcpserver.py PORT MODE
    echo         echo every connection until the client's EOF, then close
    greet-close  send "hello\\n" and close at once (the server closes first)
    read-reply   read to EOF, then send "got N bytes\\n" and close
Prints "listening on 127.0.0.1:PORT" once ready.
"""
import socket
import sys
import threading


def handle(c, mode):
    try:
        if mode == "echo":
            while True:
                b = c.recv(65536)
                if not b:
                    break
                c.sendall(b)
        elif mode == "greet-close":
            c.sendall(b"hello\n")
        elif mode == "read-reply":
            n = 0
            while True:
                b = c.recv(65536)
                if not b:
                    break
                n += len(b)
            c.sendall(b"got %d bytes\n" % n)
    except OSError:
        pass
    finally:
        c.close()


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(128)
    print("listening on 127.0.0.1:%d" % s.getsockname()[1], flush=True)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c, mode), daemon=True).start()


if __name__ == "__main__":
    main()
