#!/usr/bin/env python3
"""bench/report.py: the one table of bench/run, from peers.sh's raw.tsv and run's extra.tsv."""
import datetime
import os
import platform
import statistics as st
import sys
from collections import defaultdict

raw, extra, rss_post, rss_import, peers_md = sys.argv[1:6]
here = os.path.dirname(os.path.abspath(__file__))

R = defaultdict(list)   # (system, load) -> [dict]
for line in open(raw):
    s, load, rep, rps, p50, p99, n2, se, srv, box, n = line.rstrip("\n").split("\t")
    R[(s, load)].append(dict(rps=float(rps), p50=float(p50), p99=float(p99), err=int(n2) + max(int(se), 0)))
X = {}
imp = None
outbox, drained = {}, None   # phase 3b: the loop's outbox after each load, and its drain
rawc = None                  # phase 3c: read after write under load
importing = None             # phase 5b: batches answered 201 while a lone client posted
for line in open(extra):
    f = line.rstrip("\n").split("\t")
    if f[0] == "IMPORT":
        imp = dict(rows=int(f[2]), secs=float(f[4]) - float(f[3]), ok=int(f[5]))
        continue
    if f[0] == "OUTBOX":
        outbox[f[1]] = dict(sent=int(f[3]) - int(f[2]), pending=int(f[4]), dead=int(f[5]), dur=float(f[6]))
        continue
    if f[0] == "RAW":
        rawc = dict(pairs=int(f[2]), stale=int(f[3]), hits=int(f[4]))
        continue
    if f[0] == "IMPORTING":
        importing = int(f[1])
        continue
    if f[0] == "DRAIN":
        drained = dict(pending=int(f[1]), secs=float(f[3]) - float(f[2]), delivered=int(f[4]),
                       left=int(f[5]), dead=int(f[6]))
        continue
    kv = dict(x.split("=") for x in f[2].split()[1:])
    dur = int(kv["duration_us"]) / 1e6
    X[(f[1], f[0])] = dict(rps=int(kv["requests"]) / dur if dur else 0, p50=int(kv["p50_us"]) / 1000,
                           p99=int(kv["p99_us"]) / 1000, err=int(kv["non2xx"]) + max(int(kv["sockerr"]), 0),
                           max=int(kv.get("max_us", 0)) / 1000)
    if "cpu_ticks" in kv and int(kv["requests"]):   # the server's CPU (user + system) per request
        X[(f[1], f[0])]["cpu_us"] = int(kv["cpu_ticks"]) * 1e6 / int(kv["clk_tck"]) / int(kv["requests"])


def get(system, load, field):
    if (system, load) in X:
        return X[(system, load)][field]
    v = [r[field] for r in R.get((system, load), [])]
    return st.median(v) if v else None


def fmt(v, digits=0):
    return "-" if v is None else ("{:,.%df}" % digits).format(v)


def ratio(a, b):
    return "-" if not a or not b else "%.2fx" % (a / b) if a / b < 10 else "%.0fx" % (a / b)


# phase 3e: POST c1 with each system on a fresh copy of its 100k seed, medians of the rounds
eq = {sy: [x for (s2, load), x in X.items() if s2 == sy and load.startswith("POST1E")] for sy in ("cxd", "go")}
eq_row = None
if eq["cxd"] and eq["go"]:
    m = {sy: {f: st.median(x[f] for x in eq[sy]) for f in ("rps", "p50", "p99")} for sy in eq}
    eq_row = ("| POST one JSON response, 1 conn, each on a fresh copy of its 100k seed (median of %d rounds each; "
                "go p50 / p99 %s / %s ms) | %s | %s | | | %s | | | %s / %s |" % (
                    min(len(eq["cxd"]), len(eq["go"])), fmt(m["go"]["p50"], 3), fmt(m["go"]["p99"], 3), fmt(m["cxd"]["rps"]),
                    fmt(m["go"]["rps"]), ratio(m["cxd"]["rps"], m["go"]["rps"]),
                    fmt(m["cxd"]["p50"], 3), fmt(m["cxd"]["p99"], 3)))
rows = []
for load, label in (("POST32", "POST one JSON response, 32 conns"), ("POST256", "POST one JSON response, 256 conns"),
                    ("POST1", "POST one JSON response, 1 conn"), ("GET16", "GET scores by=stage, 100k rows, 16 conns (cxd: read cache on)")):
    c, g, f, n = (get(s, load, "rps") for s in ("cxd", "go", "fastapi", "nginx"))
    rows.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s / %s |" % (
        label, fmt(c), fmt(g), fmt(f), fmt(n), ratio(c, g), ratio(c, f), ratio(c, n),
        fmt(get("cxd", load, "p50"), 3), fmt(get("cxd", load, "p99"), 3)))
    if load == "POST1" and eq_row:   # beside peers.sh's c1, which comes after the c32 loads
        rows.append(eq_row)
scale = sorted({int(k[1].split("@")[1]) for k in X if k[1].startswith("GET16@")})
for tag, what in (("GET16@", "cached"), ("GET16U@", "uncached: --read-cache 0")):
    base = X.get(("cxd", "%s%d" % (tag, scale[0])), {}).get("rps") if scale else None
    for n in scale:
        x = X.get(("cxd", "%s%d" % (tag, n)))
        if not x:
            continue
        rows.append("| GET scores by=stage, %s rows, 16 conns, %s | %s | | | %s | | | %s | %s of %s / %s |" % (
            fmt(n), what, fmt(x["rps"]), fmt(get("nginx", "GET16", "rps")),
            ratio(x["rps"], get("nginx", "GET16", "rps")),
            "%.0f%%" % (100 * x["rps"] / base) if base else "-", fmt(scale[0]), fmt(x["p50"], 3) + " / " + fmt(x["p99"], 3)))
x = X.get(("cxd", "POST1I"))
if x:
    rows.append("| POST one JSON response, 1 conn, while 500k responses import beside it (%s/50 batches 201) | %s | | | | | | | %s / %s, worst %s |" % (
        importing if importing is not None else "?", fmt(x["rps"]), fmt(x["p50"], 3), fmt(x["p99"], 3), fmt(x["max"], 1)))
if imp:
    rows.append("| NDJSON import, 1M responses (100 x 10k, 2 at a time) | %s resp/s | | | | | | | %.1f s, %d/100 batches 201 |" % (
        fmt(imp["rows"] / imp["secs"]), imp["secs"], imp["ok"]))

errors = {s: sum(r["err"] for (sy, _), rs in R.items() if sy == s for r in rs) + sum(x["err"] for (sy, _), x in X.items() if sy == s)
          for s in ("cxd", "go", "fastapi", "nginx")}


def ceilings_table():
    """Phase 3d: the HTTP layer's own ceilings beside cxd, in the same minutes."""
    names = (("nginx", "nginx answering 204 (no body read into an application)"),
             ("mhd", "libmicrohttpd answering 201 in the final call (no work)"),
             ("mhd_handoff", "libmicrohttpd with cxd's hand-off: suspend, resume from a second thread (no work)"),
             ("cxd", "cxd: parse, validate, group commit at synchronous=FULL"))
    if not any(("cxd", "CEIL%d" % c) in X for c in (32, 256)):
        return
    print("\n**The HTTP layer's ceilings** (POST one JSON response, the same requests; CPU per "
          "request is the server's user + system time over the load; loaded one after the other "
          "in the same minutes):\n")
    print("| server | c32 req/s | c32 / nginx | c32 CPU us/req | c256 req/s | c256 / nginx | c256 CPU us/req |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for s, label in names:
        cells = []
        for c in (32, 256):
            x, ng = X.get((s, "CEIL%d" % c)), X.get(("nginx", "CEIL%d" % c))
            cells += [fmt(x["rps"]) if x else "-", ratio(x["rps"], ng["rps"]) if x and ng else "-",
                      fmt(x.get("cpu_us"), 1) if x else "-"]
        print("| %s | %s |" % (label, " | ".join(cells)))


def loop_table():
    """Phase 3b: the same POST loads without and with rules and endpoints active."""
    if outbox:
        print("\n**POST with rules and endpoints active** (10 rules on the survey, 4 matching, 3 "
              "endpoints, one subscribed to response.created: about 2.4 deliveries per response; "
              "the receiver is nginx answering 204 on 127.0.0.1), beside the same loads on the same "
              "cxd and database just before, without rules or endpoints:\n")
        print("| load | plain cxd req/s | with rules + endpoints | ratio | p50 / p99 ms | deliveries sent/s during the load | backlog after it (pending) | dead |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for c in (32, 256, 1):
            k = "POST%dL" % c
            if k not in outbox:
                continue
            plain, loop = get("cxd", "POST%dP" % c, "rps"), get("cxd", k, "rps")
            o = outbox[k]
            print("| POST one JSON response, %d conn%s | %s | %s | %s | %s / %s | %s | %s | %d |" % (
                c, "s" * (c != 1), fmt(plain), fmt(loop), "%.2f" % (loop / plain) if plain and loop else "-",
                fmt(get("cxd", k, "p50"), 3), fmt(get("cxd", k, "p99"), 3),
                fmt(o["sent"] / o["dur"]), fmt(o["pending"]), o["dead"]))
        if drained:
            d = drained
            sent = d["pending"] - d["left"]
            print("\nAfter the last load: a backlog of %s deliveries; %s after %.0f s (%s sent/s), "
                  "%s delivered in all, %d dead." % (
                      fmt(d["pending"]), "drained" if not d["left"] else "%s still pending" % fmt(d["left"]),
                      d["secs"], fmt(sent / d["secs"]) if d["secs"] > 0.5 else "-",
                      fmt(d["delivered"]), d["dead"]))


cpu = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t") if os.path.exists("/proc/cpuinfo") else "?"
print("# cxd benchmark results\n")
print("Run %s on %s, %d cores (%s), kernel %s. Produced by `bench/run`; every system got the same "
      "requests in the same run, loads on 127.0.0.1 only.\n" % (
          datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), platform.node() or "?",
          os.cpu_count(), cpu, platform.release()))
if os.environ.get("LOOP_ONLY") == "1":
    loop_table()
    sys.exit(0)
sql = os.path.join(os.path.dirname(raw), "sqlite.tsv")
if os.path.exists(sql):   # peers.sh's sqlite_limit runs: batch 1 at synchronous=FULL = fsyncs/s
    f1 = [float(l.split("\t")[4]) for l in open(sql) if l.split("\t")[:2] == ["1", "2"]]
    if f1:
        print("The disk: %s commits/s of one row at synchronous=FULL (sqlite_limit, batch 1: one "
              "fsync each), the ceiling of any durable service that commits each request on its "
              "own.\n" % fmt(st.median(f1)))
print("| load | cxd req/s | go | fastapi | nginx 204 | cxd/go | cxd/fastapi | cxd/nginx | cxd p50 / p99 ms |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
print("\n".join(rows))
ceilings_table()
loop_table()
print("\nPeak RSS of cxd (VmHWM): %s MiB after the POST loads, %s MiB after the NDJSON import." % (
    fmt(int(rss_post) / 1024, 1), fmt(int(rss_import) / 1024, 1)))
print("Errors (non-2xx or socket) over all loads: %s." % ", ".join("%s %d" % kv for kv in errors.items()))
print("Every POST answered 201 was committed with synchronous=FULL before the answer.")
if rawc:
    print("Read after write under load (one client posting and reading the scores back at once "
          "while wrk posts at 32 connections): %s pairs, %d reads missing an acknowledged write; "
          "%s of the repeated reads answered from the cache." % (
              fmt(rawc["pairs"]), rawc["stale"], "%.0f%%" % (100 * rawc["hits"] / rawc["pairs"]) if rawc["pairs"] else "-"))
print("\n<details><summary>peers.sh output (medians, CPU%, SQLite ceilings)</summary>\n")
print(open(peers_md).read())
print("</details>\n")
notes = os.path.join(here, "NOTES.md")
if os.path.exists(notes):
    print(open(notes).read())
