#!/usr/bin/env python3
"""bench/raw.py PORT KEY SECONDS: read after write, while other clients load cxd.

One client posts a response to survey checkout and at once asks for the scores, again and
again for SECONDS; each answer must count at least every response this client has had a
201 for (other clients' posts only add). Then the same question asked again right away
(a hit when nothing was committed in between). Prints one tab-separated line for
bench/report.py: RAW, pairs, stale reads, repeated reads answered from the cache."""
import http.client
import json
import sys
import time

port, key, secs = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
H = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
PATH = "/v1/surveys/checkout/scores"
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)


def call(method, path, body=None):
    c.request(method, path, body=body, headers=H)
    r = c.getresponse()
    return r.status, r.getheader("X-Cache"), r.read()


def total(raw):
    return sum(g["responses"] for g in json.loads(raw)["groups"])


_, _, raw = call("GET", PATH)
floor = total(raw)   # responses known to be stored: never may a read show fewer
pairs = stale = hits = 0
end = time.monotonic() + secs
body = json.dumps({"survey": "checkout", "stage": "purchase", "touchpoint": "web", "nps": 7})
while time.monotonic() < end:
    st, _, out = call("POST", "/v1/responses", body)
    if st != 201:
        continue   # a 503 under load is allowed; it stored nothing this client counts
    floor += 1
    st, _, raw = call("GET", PATH)
    pairs += 1
    seen = total(raw) if st == 200 else -1
    stale += seen < floor
    floor = max(floor, seen)
    st, xc, raw = call("GET", PATH)
    hits += xc == "hit"
    stale += st != 200 or total(raw) < floor
print("RAW\tcxd\t%d\t%d\t%d" % (pairs, stale, hits))
