#!/usr/bin/env python3
"""bench/loop.py - the "rules and endpoints active" part of bench/run.

  loop.py setup PORT KEY RECEIVER_URL   3 endpoints on RECEIVER_URL (nginx answering 204)
                                        and 10 rules on survey "checkout", through the API
  loop.py outbox DB                     "delivered pending dead first_ms last_ms": the
                                        outbox's counts and its deliveries' first and last
                                        delivered_at (ms), read-only

The rules against ../shared/bench/post.lua's load (stage n%6, nps n%11, csat n%5+1, ces
n%7+1, every response with a comment, channel web, segment new, a customer id): four
match some responses (about 11 %, 3 %, 29 % and 100 % of them: "every comment goes to the
support desk"), six never match but are evaluated for every response. One endpoint is
subscribed to response.created (every response), the other two are rule targets only:
about 2.4 deliveries per response.
"""
import json
import sqlite3
import sys
import urllib.request

ENDPOINTS = [("desk", "/hooks/desk", []), ("referral", "/hooks/referral", []),
             ("stream", "/hooks/stream", ["response.created"])]
RULES = [
    ("detractor-purchase", {"nps": {"max": 6}, "stages": ["purchase"]}, "desk"),
    ("promoter-advocacy", {"nps": {"min": 9}, "stages": ["advocacy"]}, "referral"),
    ("hard-effort", {"ces": {"max": 2}}, "desk"),
    ("comments", {"has_comment": True}, "desk"),
    ("vip-detractor", {"nps": {"max": 6}, "segments": ["vip"]}, "desk"),
    ("phone", {"channels": ["phone"]}, "desk"),
    ("kiosk", {"touchpoints": ["kiosk"]}, "desk"),
    ("anonymous-low-csat", {"csat": {"max": 2}, "has_customer": False}, "desk"),
    ("no-comment-detractor", {"nps": {"max": 3}, "has_comment": False}, "desk"),
    ("returning-promoter", {"nps": {"min": 9}, "segments": ["returning"]}, "referral"),
]


def call(port, key, method, path, body):
    req = urllib.request.Request("http://127.0.0.1:%s%s" % (port, path), method=method,
                                 data=json.dumps(body).encode(),
                                 headers={"Authorization": "Bearer " + key,
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        sys.exit("loop.py: %s %s answered %d: %s" % (method, path, e.code, e.read()[:300]))


def setup(port, key, url):
    for eid, path, events in ENDPOINTS:
        call(port, key, "POST", "/v1/endpoints", {"id": eid, "url": url.rstrip("/") + path,
                                                  "events": events})
    for rid, when, ep in RULES:
        call(port, key, "POST", "/v1/surveys/checkout/rules",
             {"id": rid, "name": rid, "when": when, "actions": [{"type": "webhook", "endpoint": ep}]})


def outbox(db):
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=30)
    try:
        s = dict(c.execute("SELECT state, count(*) FROM deliveries GROUP BY state"))
        lo, hi = c.execute("SELECT min(delivered_at), max(delivered_at) FROM deliveries").fetchone()
    finally:
        c.close()
    print(s.get("delivered", 0), s.get("pending", 0), s.get("dead", 0), lo or 0, hi or 0)


if __name__ == "__main__":
    if sys.argv[1:2] == ["setup"]:
        setup(*sys.argv[2:5])
    elif sys.argv[1:2] == ["outbox"]:
        outbox(sys.argv[2])
    else:
        sys.exit(__doc__)
