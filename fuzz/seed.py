#!/usr/bin/env python3
"""Seeds each target's corpus (fuzz/corpus/<broker>/) with the fixture's own files, one seed
per file: the first byte is the file's index in the harness's order (sorted walk, manifest
left out), the rest its bytes, so libFuzzer starts from valid payloads of every shape."""
import os, sys

root = os.path.dirname(os.path.abspath(__file__))
for broker in ["tradezero", "tastytrade", "clearstreet", "etrade", "architect"]:
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
    out = os.path.join(root, "corpus", broker)
    os.makedirs(out, exist_ok=True)
    for i, p in enumerate(files):
        with open(p, "rb") as f, open(os.path.join(out, f"seed-{i:02}"), "wb") as o:
            o.write(bytes([i]) + f.read())
    print(f"{broker}: {len(files)} seeds", file=sys.stderr)
