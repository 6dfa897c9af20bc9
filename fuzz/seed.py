#!/usr/bin/env python3
"""Seeds each target's corpus (fuzz/corpus/<broker>/) with the fixture's own files, one seed
per file: the first byte is the file's index in the harness's order (sorted walk, manifest
left out), the rest its bytes, so libFuzzer starts from valid payloads of every shape."""
import os, sys

root = os.path.dirname(os.path.abspath(__file__))
BROKERS = ["tradezero", "tastytrade", "clearstreet", "etrade", "architect"]


def fixture_files(broker):
    """The broker's quirks fixture files in the harness's order (sorted walk, no manifest)."""
    fixture = os.path.join(root, "..", "fixtures", broker, "quirks")
    files = []

    def walk(d):
        for name in sorted(os.listdir(d)):
            p = os.path.join(d, name)
            if os.path.isdir(p):
                walk(p)
            elif os.path.relpath(p, fixture) != "manifest.json":
                files.append(p)

    walk(fixture)
    return files


for broker in BROKERS:
    files = fixture_files(broker)
    out = os.path.join(root, "corpus", broker)
    os.makedirs(out, exist_ok=True)
    for i, p in enumerate(files):
        with open(p, "rb") as f, open(os.path.join(out, f"seed-{i:02}"), "wb") as o:
            o.write(bytes([i]) + f.read())
    print(f"{broker}: {len(files)} seeds", file=sys.stderr)

# Number seeds: each fixture file again with every number (bare or quoted) replaced by one
# hostile spelling, so the fuzzer starts from the values that overflow or mislead a parser:
# huge (past 10^20, past Decimal's 28 digits), tiny, exponent notation, and non-ASCII digits.
import re

HOSTILE = [
    "99999999999999999999",                # just below the 10^20 bound
    "100000000000000000000",               # at it
    "79228162514264337593543950336",       # one past Decimal::MAX
    "-1e400", "1e-400", "2.5E+19", "1e20",
    "0.000000000000000000000000000001",    # more decimals than Decimal(38, 8) keeps
    "１２３",                               # full-width digits
    "12٫5",                                # Arabic decimal separator
    "1_000",
]
NUMBER = re.compile(r'(?<=[:\[,>"])\s*-?\d+(\.\d+)?([eE][+-]?\d+)?(?=\s*[,\]}<"])')
for broker in BROKERS:
    files = fixture_files(broker)
    out = os.path.join(root, "corpus", broker)
    n = 0
    for i, p in enumerate(files):
        text = open(p, encoding="utf-8").read()
        for j, value in enumerate(HOSTILE):
            changed = NUMBER.sub(value, text)
            if changed != text:
                with open(os.path.join(out, f"seed-{i:02}-num{j:02}"), "wb") as o:
                    o.write(bytes([i]) + changed.encode("utf-8"))
                n += 1
    print(f"{broker}: {n} number seeds", file=sys.stderr)
