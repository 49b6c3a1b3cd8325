#!/usr/bin/env python3
"""bench/ndjson.py DIR FILES LINES: write FILES NDJSON files of LINES responses each."""
import json
import os
import sys

out, files, lines = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
stages = ["awareness", "interest", "consideration", "purchase", "retention", "advocacy"]
os.makedirs(out, exist_ok=True)
n = 0
for f in range(files):
    with open(os.path.join(out, "batch-%04d.ndjson" % f), "w") as fh:
        for _ in range(lines):
            n += 1
            fh.write(json.dumps({"survey": "checkout", "stage": stages[n % 6], "touchpoint": "web",
                                 "channel": ["web", "email", "app"][n % 3], "segment": ["new", "returning"][n % 2],
                                 "customer": "imp%d" % n, "nps": n % 11, "csat": n % 5 + 1, "ces": n % 7 + 1,
                                 "comment": "imported"}, separators=(",", ":")) + "\n")
