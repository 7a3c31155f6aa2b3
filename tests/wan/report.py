#!/usr/bin/env python3
"""Print the tables of `make bench-wan` from its JSON lines.

usage: report.py RESULTS.jsonl

One table per loss rate.  Each figure: the median over rounds of direct and
of the tunnelled target, and the median of the per-round ratios
target/direct (both measured over the same link in the same round).  Runs
with errors are left out of the medians and listed below the tables.
"""
import json
import statistics
import sys

TARGETS = [
    ("relay", "relay"),
    ("relay-noise", "relay, encrypted (keys)"),
    ("go-yamux", "Go hashicorp/yamux"),
]


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
    if abs(v) >= 10000:
        return f"{v:,.0f}"
    return f"{v:.{prec}f}"


def failed(r):
    """Bytes not all verified, or a ping-pong without one round trip."""
    if r.get("errors"):
        return True
    return r.get("mode") == "rtt" and not r.get("count")


def med(xs):
    return statistics.median(xs) if xs else None


def paired(rows, loss, case, key, target, scale=1.0):
    """(direct median, target median, median of per-round ratios, n)."""
    by_round = {}
    for r in rows:
        if (r.get("case") != case or r.get("loss") != loss or
                failed(r) or key not in r):
            continue
        by_round.setdefault(r["round"], {})[r.get("label")] = \
            r[key] * scale
    d = [v["direct"] for v in by_round.values() if "direct" in v]
    t = [v[target] for v in by_round.values() if target in v]
    ratios = [v[target] / v["direct"] for v in by_round.values()
              if v.get("direct") and target in v]
    return med(d), med(t), med(ratios), len(t)


def table(lines):
    head = ("figure", "direct", "tunnelled", "ratio")
    w = [max(len(r[i]) for r in lines + [head]) for i in range(4)]
    def line(r):
        return (f"| {r[0]:<{w[0]}} | {r[1]:>{w[1]}} | {r[2]:>{w[2]}} | "
                f"{r[3]:>{w[3]}} |")
    out = [line(head), "|" + "|".join("-" * (x + 2) for x in w) + "|"]
    out += [line(r) for r in lines]
    return "\n".join(out)


def report_loss(rows, loss):
    lab = next((r for r in rows if r.get("case") == "lab" and
                r.get("loss") == loss), {})
    link = next((r for r in rows if r.get("case") == "link" and
                 r.get("loss") == loss), {})
    mem = next((r for r in rows if r.get("case") == "mem" and
                r.get("loss") == loss), {})
    present = [t for t in TARGETS
               if any(r.get("label") == t[0] and r.get("loss") == loss
                      for r in rows)]
    print(f"## loss {loss} %: {lab.get('link', '?')}")
    print()
    print(f"- machine: {lab.get('kernel', '?')}, {lab.get('cpu', '?')}")
    print(f"- lab: {lab.get('addresses', '?')}; congestion control "
          f"{lab.get('cc', '?')} (host {lab.get('host_cc', '?')}, allowed "
          f"in namespaces: {lab.get('host_allowed_cc', '?')}); tcp_rmem "
          f"{lab.get('tcp_rmem', '?')}; tcp_wmem {lab.get('tcp_wmem', '?')}")
    print(f"- ping RTT across the link (min/avg/max/mdev ms): "
          f"{lab.get('ping_min_avg_max_mdev_ms') or 'n/a'}")
    if link:
        parts = []
        for d, name in (("ab", "near>far"), ("ba", "far>near")):
            fw = link.get(f"{d}_forwarded", 0)
            lo = link.get(f"{d}_lost", 0)
            wire = fw + lo
            parts.append(
                f"{name}: {fw} packets, lost {lo} "
                f"({100 * lo / wire if wire else 0:.3f} %), queue drops "
                f"{link.get(f'{d}_queue_dropped', 0)}, release lateness "
                f"p50/p99/max {link.get(f'{d}_late_p50_us')}/"
                f"{link.get(f'{d}_late_p99_us')}/"
                f"{link.get(f'{d}_late_max_us')} us")
        print(f"- link counters during the runs: {'; '.join(parts)}")
        wall = link.get("wall_s") or 0
        cpu = (link.get("ab_cpu_s") or 0) + (link.get("ba_cpu_s") or 0)
        print(f"- wanlink CPU: {cpu:.1f} s in {wall:.0f} s "
              f"({100 * cpu / wall if wall else 0:.0f} % of one core); "
              f"TUN drops (unmodelled) near {link.get('near_tun_tx_dropped')}"
              f", far {link.get('far_tun_tx_dropped')}; vCPU steal "
              f"{link.get('steal_pct')} %")
    if lab.get("go_skip"):
        print(f"- no Go rows: {lab['go_skip']}")
    print()

    lines = []
    figures = [
        ("bulk echo, 1 connection (MiB/s)", "bulk1", "mib_per_s", 1.0, 1),
        ("bulk echo, 8 connections (MiB/s, total)", "bulk8", "mib_per_s",
         1.0, 1),
        ("64 B ping-pong p50, idle link (ms)", "rtt_idle", "p50_us", 1e-3,
         2),
        ("64 B ping-pong p99, idle link (ms)", "rtt_idle", "p99_us", 1e-3,
         2),
        ("64 B ping-pong p50 beside 4 bulk (ms)", "rtt_loaded", "p50_us",
         1e-3, 2),
        ("64 B ping-pong p99 beside 4 bulk (ms)", "rtt_loaded", "p99_us",
         1e-3, 2),
        ("  the 4 bulk beside it (MiB/s, total)", "rtt_loaded_bulk",
         "mib_per_s", 1.0, 1),
    ]
    for label, case, key, scale, prec in figures:
        for t, tname in present:
            d, v, ratio, n = paired(rows, loss, case, key, t, scale)
            lines.append((f"{label}, {tname} [{n}]", fmt(d, prec),
                          fmt(v, prec),
                          "-" if ratio is None else f"{ratio:.2f}"))
    if mem:
        direct = mem.get("direct")
        for t, tname in present:
            if t == "go-yamux":
                lines.append((f"peak RSS (VmHWM, KiB), {tname} relay",
                              "-", fmt(mem.get("go-yamux"), 0), "-"))
                lines.append((f"peak RSS (VmHWM, KiB), {tname} backend",
                              fmt(direct, 0), fmt(mem.get("go-echo"), 0),
                              "-"))
            else:
                lines.append((f"peak RSS (VmHWM, KiB), {tname} worker",
                              "-", fmt(mem.get(t), 0), "-"))
                lines.append((f"peak RSS (VmHWM, KiB), {tname} echoserver",
                              fmt(direct, 0), fmt(mem.get(f"{t}-echo"), 0),
                              "-"))
    print(table(lines))
    print()
    print("[n] rounds with every byte verified; ratio = tunnelled/direct "
          "(median of per-round ratios); the direct column of the RSS rows "
          "is relaybench serve, the direct echo server.")
    print()


def main(argv):
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 64
    rows = load(argv[0])
    bench = next((r for r in rows if r.get("case") == "bench"), {})
    end = next((r for r in rows if r.get("case") == "end"), {})
    print(f"# relay vs direct TCP over an emulated WAN link "
          f"({'quick' if bench.get('quick') else 'full'} run, "
          f"{bench.get('rounds', '?')} round(s), {bench.get('date', '')}, "
          f"{end.get('seconds', '?')} s)")
    print()
    print(f"bulk runs write for {bench.get('bulk_s')} s; idle ping-pong "
          f"{bench.get('idle_n')} round trips; loaded ping-pong "
          f"{bench.get('loaded_s')} s beside 4 bulk connections.")
    print()
    losses = []
    for r in rows:
        if r.get("case") == "lab" and r.get("loss") not in losses:
            losses.append(r.get("loss"))
    for loss in losses:
        report_loss(rows, loss)
    bad = [r for r in rows if r.get("case") not in ("bench", "end", "lab",
                                                    "link", "mem")
           and failed(r)]
    if bad:
        print(f"{len(bad)} run(s) FAILED (not in the medians):")
        for r in bad:
            if r.get("errors"):
                what = (f"{r.get('bytes', '?')} bytes verified, failures "
                        f"{json.dumps(r.get('failures'))}")
            else:
                what = (f"no round trip completed in {r.get('seconds')} s "
                        f"({r.get('warmup')} unmeasured)")
            print(f"  loss {r.get('loss')} % {r.get('case')} against "
                  f"{r.get('label')}, round {r.get('round')}: {what}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
