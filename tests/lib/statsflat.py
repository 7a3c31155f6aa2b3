#!/usr/bin/env python3
"""Flatten `relaystat --json` into one line per row, for grep and awk.

  statsflat.py [FILE]      (default: standard input)

  relay backends_now=N backends_total=N registrations_refused=N workers_idle=N
        max_backends=N max_clients=N
  backend port=P name=NAME key=KEY pid=N addr=ADDR clients_now=N
        clients_total=N untracked=N in=N out=N since=MS rows=N
  client port=P name=NAME pid=N addr=ADDR tunnel=P in=N out=N since=MS

A client line carries its backend's port, name and pid (port=, name=, pid=)
and its own tunnel_port (tunnel=), so a row listed under the wrong backend
shows.  An empty name or key (no key: a plain or shared-secret session) is
"-".  Every number must be a JSON integer and every
documented key present: anything else exits 1 with the reason.
"""
import json
import sys

RELAY = ("backends_now", "backends_total", "registrations_refused",
         "workers_idle", "max_backends", "max_clients")
BACKEND = ("tunnel_port", "name", "key", "address", "pid", "since_ms",
           "clients_now", "clients_total", "clients_untracked", "bytes_in",
           "bytes_out", "rtt_us", "clients")
CLIENT = ("address", "tunnel_port", "since_ms", "bytes_in", "bytes_out")


def need(obj, keys, what):
    for k in keys:
        if k not in obj:
            sys.exit("statsflat: %s has no %r" % (what, k))


def num(obj, k, what):
    v = obj[k]
    if type(v) is not int or v < 0:
        sys.exit("statsflat: %s %r is not a non-negative integer: %r"
                 % (what, k, v))
    return v


def word(s):
    if type(s) is not str:
        sys.exit("statsflat: not a string: %r" % (s,))
    if s == "":
        return "-"
    if any(c.isspace() for c in s):
        sys.exit("statsflat: white space in %r" % s)
    return s


def main():
    f = open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin
    doc = json.load(f)
    need(doc, ("relay", "backends"), "document")
    r = doc["relay"]
    need(r, RELAY, "relay")
    print("relay " + " ".join("%s=%d" % (k, num(r, k, "relay"))
                              for k in RELAY))
    for b in doc["backends"]:
        need(b, BACKEND, "backend")
        what = "backend %s" % b.get("tunnel_port")
        name = word(b["name"])
        port = num(b, "tunnel_port", what)
        pid = num(b, "pid", what)
        print("backend port=%d name=%s key=%s pid=%d addr=%s clients_now=%d "
              "clients_total=%d untracked=%d in=%d out=%d since=%d rows=%d"
              % (port, name, word(b["key"]), pid, word(b["address"]),
                 num(b, "clients_now", what),
                 num(b, "clients_total", what),
                 num(b, "clients_untracked", what), num(b, "bytes_in", what),
                 num(b, "bytes_out", what), num(b, "since_ms", what),
                 len(b["clients"])))
        for c in b["clients"]:
            need(c, CLIENT, "client of " + what)
            cw = "client %s" % c.get("address")
            print("client port=%d name=%s pid=%d addr=%s tunnel=%d in=%d "
                  "out=%d since=%d"
                  % (port, name, pid, word(c["address"]),
                     num(c, "tunnel_port", cw), num(c, "bytes_in", cw),
                     num(c, "bytes_out", cw), num(c, "since_ms", cw)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
