#!/usr/bin/env python3
"""Print the table of `make bench` from its JSON lines.

usage: report.py [--strict] RESULTS.jsonl

Each figure: the median over rounds of direct and of relay, and the median
of the per-round ratios relay/direct (the targets are stated on those).
With --strict the exit status is 1 when a target is missed.
"""
import json
import statistics
import sys


def load(path):
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except ValueError:
                print(f"report.py: {path}:{n}: not JSON: {line[:80]}",
                      file=sys.stderr)
    return rows


def fmt(v, prec=1):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{prec}f}"


class Table:
    def __init__(self):
        self.lines = []
        self.met = 0
        self.missed = []

    def row(self, figure, direct, relay, ratio, target, ok, prec=1):
        met = "-" if ok is None else ("yes" if ok else "NO")
        if ok is not None:
            if ok:
                self.met += 1
            else:
                self.missed.append(figure)
        self.lines.append((figure, fmt(direct, prec), fmt(relay, prec),
                           "-" if ratio is None else f"{ratio:.2f}",
                           target, met))

    def show(self):
        head = ("figure", "direct", "relay", "ratio", "target", "met?")
        w = [max(len(r[i]) for r in self.lines + [head]) for i in range(6)]
        def line(r):
            return (f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:>{w[2]}}  "
                    f"{r[3]:>{w[3]}}  {r[4]:<{w[4]}}  {r[5]}")
        print(line(head))
        print("  ".join("-" * x for x in w))
        for r in self.lines:
            print(line(r))


def paired(rows, case, key, label="relay"):
    """Per round: (direct, label) values of key; medians and ratio median."""
    by_round = {}
    for r in rows:
        if r.get("case") != case or r.get("errors", 0):
            continue
        by_round.setdefault(r["round"], {})[r.get("label")] = r.get(key)
    d = [v["direct"] for v in by_round.values() if "direct" in v]
    e = [v[label] for v in by_round.values() if label in v]
    ratios = [v[label] / v["direct"] for v in by_round.values()
              if v.get("direct") and label in v]
    med = lambda xs: statistics.median(xs) if xs else None
    return med(d), med(e), med(ratios), len(ratios)


def main(argv):
    strict = "--strict" in argv
    args = [a for a in argv if a != "--strict"]
    if len(args) != 1:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 64
    rows = load(args[0])
    t = Table()
    setup = next((r for r in rows if r.get("case") == "setup"), {})

    def ratio_row(figure, case, key, op, target, prec=1, label="relay"):
        d, e, ratio, n = paired(rows, case, key, label)
        if target is None:
            t.row(f"  {figure}", d, e, ratio, "(info)", None, prec)
            return
        ok = False
        if ratio is not None:
            ok = ratio >= target if op == ">=" else ratio <= target
        t.row(f"{figure} [{n} rounds]", d, e, ratio, f"{op} {target}x", ok,
              prec)

    ratio_row("bulk echo, 1 connection (MiB/s)", "bulk1", "mib_per_s",
              ">=", 0.5)
    ratio_row("bulk echo, 16 connections (MiB/s)", "bulk16", "mib_per_s",
              ">=", 0.5)
    ratio_row("bulk echo, 1 connection, encrypted (MiB/s)", "bulk1",
              "mib_per_s", ">=", 0.3, label="noise")
    ratio_row("bulk echo, 16 connections, encrypted (MiB/s)", "bulk16",
              "mib_per_s", ">=", 0.3, label="noise")
    ratio_row("64 B ping-pong p50 (us)", "rtt64", "p50_us", "<=", 1.4)
    ratio_row("64 B ping-pong p99 (us)", "rtt64", "p99_us", "<=", 2)
    ratio_row("64 B ping-pong p99.9 (us)", "rtt64", "p999_us", "", None)
    ratio_row("connect-echo-close, 8 parallel (conn/s)", "connrate8",
              "per_s", ">=", 0.6)

    mem = {r.get("target"): r for r in rows if r.get("case") == "mem"}
    holds = {r.get("label"): r for r in rows if r.get("case") == "hold"}
    rm, dm = mem.get("relay"), mem.get("direct")
    if rm and dm:
        want = rm.get("want_clients", 10000)
        rc = rm["clients"] or 1
        dc = dm["clients"] or 1
        rel = ((rm["master_hold_kib"] + rm["worker_hold_kib"]) -
               (rm["master_idle_kib"] + rm["worker_idle_kib"])) / rc
        dire = (dm["hold_kib"] - dm["idle_kib"]) / dc
        t.row(f"PSS per idle client, master+worker (KiB) "
              f"[{rm['clients']} clients]", dire, rel, None, "<= 1 KiB",
              rel <= 1.0 and rm["clients"] >= want, 2)
        t.row("idle registered worker PSS (KiB)", None,
              rm["worker_idle_kib"], None, "<= 300 KiB",
              rm["worker_idle_kib"] <= 300, 0)
        t.row("  master PSS, idle (KiB)", None, rm["master_idle_kib"], None,
              "(info)", None, 0)
        t.row("  worker PSS after the traffic above (KiB)", None,
              rm["worker_after_traffic_kib"], None, "(info)", None, 0)
        t.row("  echoserver PSS per held client (KiB)", None,
              (rm["echoserver_hold_kib"] - rm["echoserver_idle_kib"]) / rc,
              None, "(info)", None, 2)
        t.row("  serve PSS holding them, direct (KiB)", dm["hold_kib"], None,
              None, "(info)", None, 0)
    else:
        t.row("memory", None, None, None, "", False)
    rh, dh = holds.get("relay"), holds.get("direct")
    if rh and dh:
        want = rh["conns"]
        def held(h):
            return f"{h['verified']}/{h['rechecked']}"
        t.row(f"clients held through one tunnel (verified/rechecked)",
              held(dh), held(rh), None, f">= {want}",
              rh["verified"] == want and rh["rechecked"] == want
              and rh["errors"] == 0)
        t.row("  clients opened per second while holding", dh["open_per_s"],
              rh["open_per_s"], rh["open_per_s"] / dh["open_per_s"]
              if dh["open_per_s"] else None, "(info)", None)
    scale = next((r for r in rows if r.get("case") == "scale"), None)
    if scale:
        n = scale["backends"]
        t.row("backends registered at once (encrypted), all echoing", None,
              f"{scale['registered']}/{scale['echoed']}", None, f">= {n}",
              scale["registered"] == n and scale["echoed"] == n)
        t.row(f"  time to register {n} at once (s)", None,
              scale["register_all_s"], None, "(info)", None, 2)
        t.row(f"  worker PSS, average of {scale['workers']} (KiB)", None,
              scale["worker_pss_avg_kib"], None, "(info)", None, 0)
    else:
        t.row("backends registered at once, all echoing", None,
              "skipped", None, ">= 500", None)
    reg = next((r for r in rows if r.get("case") == "register"), None)
    if reg and reg.get("count"):
        t.row(f"registration p50, connect to address (ms) "
              f"[{reg['count']}]", None, reg["p50_us"] / 1000, None,
              "< 1 ms", reg["p50_us"] < 1000 and not reg["errors"], 2)
        t.row("  registration p90 / max (ms)", None,
              f"{reg['p90_us'] / 1000:.2f} / {reg['max_us'] / 1000:.2f}",
              None, "(info)", None)
    else:
        t.row("registration p50 (ms)", None, None, None, "< 1 ms", False)
    reg = next((r for r in rows if r.get("case") == "register_noise"), None)
    if reg and reg.get("count"):
        t.row(f"registration p50 with the handshake (ms) "
              f"[{reg['count']}]", None, reg["p50_us"] / 1000, None,
              "<= 2 ms", reg["p50_us"] <= 2000 and not reg["errors"], 2)
        t.row("  with the handshake p90 / max (ms)", None,
              f"{reg['p90_us'] / 1000:.2f} / {reg['max_us'] / 1000:.2f}",
              None, "(info)", None)
    else:
        t.row("registration p50 with the handshake (ms)", None, None, None,
              "<= 2 ms", False)

    bad = [r for r in rows if r.get("errors")]
    print(f"relay vs direct echo on loopback, {setup.get('nproc', '?')} CPUs,"
          f" kernel {setup.get('kernel', '?')}, "
          f"{'quick' if setup.get('quick') else 'full'} run, "
          f"{setup.get('date', '')}")
    t.show()
    print(f"{t.met} of {t.met + len(t.missed)} targets met", end="")
    print(f"; missed: {', '.join(t.missed)}" if t.missed else "")
    if bad:
        print(f"{len(bad)} run(s) with errors (not in the medians):")
        for r in bad:
            print(f"  {r.get('case')} {r.get('label')} round "
                  f"{r.get('round')}: {json.dumps(r.get('failures'))}")
    return 1 if strict and t.missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
