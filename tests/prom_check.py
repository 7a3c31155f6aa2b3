#!/usr/bin/env python3
"""Strict checker for the Prometheus text exposition format (version 0.0.4).

usage: prom_check.py [-e FAMILY]... [FILE]

Reads FILE (default: standard input) and checks, stricter than Prometheus
itself, what a node_exporter textfile collector relies on:
  - every sample line is  name{label="value",...} value [timestamp]
    with valid metric and label names, escapes only \\\\ \\" \\n in label
    values, no label name twice, a float value (NaN, +Inf, -Inf allowed);
  - every family has exactly one # HELP and one # TYPE line, both before its
    first sample, and its samples are contiguous;
  - TYPE is counter or gauge; a counter's name ends in _total and its
    values are not negative;
  - no series (name and label set) appears twice;
  - the text is UTF-8 and ends with a newline.
-e FAMILY (repeatable) also requires that family to have at least one sample.

Exit status: 0 valid, 1 invalid (one line per problem on stderr), 2 usage.
"""
import re
import sys

METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|Inf|inf)\Z"
    r"|NaN\Z")
TIMESTAMP = re.compile(r"-?[0-9]+\Z")
TYPES = ("counter", "gauge")


class Problems:
    def __init__(self):
        self.list = []

    def add(self, lineno, msg):
        self.list.append("line %d: %s" % (lineno, msg) if lineno else msg)


def parse_labels(text, pos, lineno, probs):
    """Parse {a="b",...} starting at text[pos] == '{'.

    Returns (labels as a tuple of pairs, position after '}') or None."""
    labels = []
    seen = set()
    pos += 1
    if pos < len(text) and text[pos] == "}":
        return (), pos + 1
    while True:
        m = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*").match(text, pos)
        if not m:
            probs.add(lineno, "bad label name at column %d" % (pos + 1))
            return None
        name = m.group(0)
        if name.startswith("__"):
            probs.add(lineno, "reserved label name %r" % name)
        if name in seen:
            probs.add(lineno, "label %r twice" % name)
        seen.add(name)
        pos = m.end()
        if text[pos:pos + 2] != '="':
            probs.add(lineno, "expected =\" after label %r" % name)
            return None
        pos += 2
        value = []
        while True:
            if pos >= len(text):
                probs.add(lineno, "unterminated value of label %r" % name)
                return None
            ch = text[pos]
            if ch == "\\":
                esc = text[pos + 1:pos + 2]
                if esc not in ("\\", '"', "n"):
                    probs.add(lineno, "bad escape \\%s in label %r"
                              % (esc, name))
                    return None
                value.append("\n" if esc == "n" else esc)
                pos += 2
            elif ch == '"':
                pos += 1
                break
            elif ch == "\n":
                probs.add(lineno, "raw newline in label %r" % name)
                return None
            else:
                value.append(ch)
                pos += 1
        labels.append((name, "".join(value)))
        if pos < len(text) and text[pos] == ",":
            pos += 1
            # Prometheus tolerates a trailing comma; we do not.
            if pos < len(text) and text[pos] == "}":
                probs.add(lineno, "trailing comma in labels")
                return None
            continue
        if pos < len(text) and text[pos] == "}":
            return tuple(sorted(labels)), pos + 1
        probs.add(lineno, "expected , or } after label %r" % name)
        return None


def help_escapes_ok(doc):
    """A HELP docstring may only escape a backslash or a newline."""
    i = 0
    while i < len(doc):
        if doc[i] == "\\":
            if doc[i + 1:i + 2] not in ("\\", "n"):
                return False
            i += 2
        else:
            i += 1
    return True


def check(text, expect=()):
    probs = Problems()
    help_of = {}    # family -> line of its HELP
    type_of = {}    # family -> type
    samples = {}    # family -> number of samples
    series = {}     # (name, labels) -> line
    closed = set()  # families whose sample block has ended
    current = None  # family of the previous sample line

    if text and not text.endswith("\n"):
        probs.add(0, "no newline at the end")
    for lineno, line in enumerate(text.split("\n")[:-1] if text else [], 1):
        if line.strip() == "":
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                if line[:7] not in ("# HELP ", "# TYPE "):
                    probs.add(lineno, "malformed %s line" % parts[1])
                    continue
                if len(parts) < 3 or not METRIC.match(parts[2]):
                    probs.add(lineno, "bad metric name in %s" % parts[1])
                    continue
                name = parts[2]
                if samples.get(name):
                    probs.add(lineno, "%s of %s after its samples"
                              % (parts[1], name))
                if parts[1] == "HELP":
                    if name in help_of:
                        probs.add(lineno, "second HELP for %s" % name)
                    doc = parts[3] if len(parts) > 3 else ""
                    if not help_escapes_ok(doc):
                        probs.add(lineno, "bad escape in HELP of %s"
                                  % name)
                    help_of[name] = lineno
                else:
                    if name in type_of:
                        probs.add(lineno, "second TYPE for %s" % name)
                    t = parts[3] if len(parts) > 3 else ""
                    if t not in TYPES:
                        probs.add(lineno, "TYPE of %s is %r, not one of %s"
                                  % (name, t, "/".join(TYPES)))
                    elif t == "counter" and not name.endswith("_total"):
                        probs.add(lineno, "counter %s does not end in _total"
                                  % name)
                    type_of[name] = t
            continue
        m = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*").match(line)
        if not m:
            probs.add(lineno, "bad metric name")
            continue
        name = m.group(0)
        pos = m.end()
        labels = ()
        if pos < len(line) and line[pos] == "{":
            parsed = parse_labels(line, pos, lineno, probs)
            if parsed is None:
                continue
            labels, pos = parsed
        rest = line[pos:]
        if not rest.startswith(" "):
            probs.add(lineno, "expected a space before the value")
            continue
        fields = rest[1:].split(" ")
        if len(fields) not in (1, 2) or not FLOAT.match(fields[0]):
            probs.add(lineno, "bad value %r" % rest[1:])
            continue
        if len(fields) == 2 and not TIMESTAMP.match(fields[1]):
            probs.add(lineno, "bad timestamp %r" % fields[1])
        if name not in help_of:
            probs.add(lineno, "sample of %s before its HELP" % name)
        if name not in type_of:
            probs.add(lineno, "sample of %s before its TYPE" % name)
        elif type_of[name] == "counter" and fields[0] not in ("NaN",) \
                and float(fields[0]) < 0:
            probs.add(lineno, "negative counter %s" % name)
        if name != current:
            if current is not None:
                closed.add(current)
            if name in closed:
                probs.add(lineno, "samples of %s are not contiguous" % name)
            current = name
        key = (name, labels)
        if key in series:
            probs.add(lineno, "duplicate series (first on line %d)"
                      % series[key])
        else:
            series[key] = lineno
        samples[name] = samples.get(name, 0) + 1
    for name in sorted(set(help_of) ^ set(type_of)):
        probs.add(0, "%s has %s but no %s" % (
            name, "HELP" if name in help_of else "TYPE",
            "TYPE" if name in help_of else "HELP"))
    for name in expect:
        if not samples.get(name):
            probs.add(0, "no sample of %s" % name)
    return probs.list


def main(argv):
    expect = []
    args = argv[1:]
    files = []
    while args:
        a = args.pop(0)
        if a in ("-e", "--expect") and args:
            expect.append(args.pop(0))
        elif a in ("-h", "--help"):
            print(__doc__.strip())
            return 0
        elif a.startswith("-") and a != "-":
            sys.stderr.write("usage: prom_check.py [-e FAMILY]... [FILE]\n")
            return 2
        else:
            files.append(a)
    if len(files) > 1:
        sys.stderr.write("usage: prom_check.py [-e FAMILY]... [FILE]\n")
        return 2
    try:
        if not files or files[0] == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(files[0], "rb") as f:
                data = f.read()
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        sys.stderr.write("not UTF-8: %s\n" % e)
        return 1
    except OSError as e:
        sys.stderr.write("%s\n" % e)
        return 2
    probs = check(text, expect)
    for p in probs:
        sys.stderr.write(p + "\n")
    return 1 if probs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
