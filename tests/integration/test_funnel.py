"""The response funnel (issue 13, item 7): GET /v1/surveys/{id}/funnel recomputed from the
raw invitation rows.

Thousands of rows of `invitations` (schema/013_invitations.sql) are written straight into
the database of a stopped cxd (as the mint and the hosted page would leave them), with
random opened/answered/commented states across stages, touchpoints, channels and days,
plus rows of another survey and rows that sit exactly on the range's edges. Every `by`
combination under every filter is then recomputed in Python (counts, rates and Wilson 95%
intervals with z = 1.959964, README "The funnel") and compared with the API to 1e-9,
groups in the API's order (stages in journey order, then names, none first).

Mutations tried, each caught here: minted_at <= to (test_range_edges), the range not shifted
by tz (test_tz_shifts_the_days), commented counted without an answer (every recomputation:
the seeded rows hold some), a filter dropped from the SQL (test_every_grouping_and_filter),
z = 1.96 (1e-9 comparison), groups cut at 1000 instead of refused (test_group_bound),
stages sorted by name (test_every_grouping_and_filter: "purchase" before "delivery").
"""
import calendar
import json
import math
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
from itertools import combinations

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
from cxdtest import Server  # noqa: E402

Z = 1.959963984540054   # the 97.5th percentile of the normal distribution (1.959964)
D = 86400
STAGES = ["purchase", "delivery", "return"]          # journey order (not by name)
TOUCH = {"purchase": ["web", "phone"], "delivery": ["courier", "locker"], "return": ["counter"]}
CHANNELS = ["email", "sms", "whatsapp", None]
DIMS = ("stage", "touchpoint", "channel")
N_ROWS = 4000
BIG = 1000   # CX_FUNNEL_MAX_GROUPS
HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER = os.path.join(HERE, "..", "browser")
SCRIPT = os.path.join(BROWSER, "funnel.mjs")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NODE = shutil.which("node")
SHOT = os.environ.get("CX_SCREENSHOT", os.path.join(tempfile.gettempdir(), "cxd-funnel.png"))
WIDTHS = (360, 390, 1400)


def fmt(ts):
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


def day_of(s):
    """'2026-11-03' -> unix seconds at its UTC midnight."""
    return calendar.timegm(time.strptime(s, "%Y-%m-%d"))


def wilson(k, n):
    p = k / n
    d = 1 + Z * Z / n
    c = (p + Z * Z / (2 * n)) / d
    h = Z / d * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return max(0.0, c - h), min(1.0, c + h)


def rate(k, n):
    if n == 0:
        return {"value": None, "low": None, "high": None, "n": 0}
    lo, hi = wilson(k, n)
    return {"value": k / n, "low": lo, "high": hi, "n": n}


def figures(c):
    m, o, a, k = c
    return {"minted": m, "opened": o, "answered": a, "commented": k, "open_rate": rate(o, m),
            "response_rate": rate(a, m), "comment_rate": rate(k, a)}


def recompute(rows, survey, lo, hi, dims, filters):
    """The funnel from raw rows: {key tuple: [minted, opened, answered, commented]}."""
    groups = {}
    for r in rows:
        if r["survey"] != survey or not lo <= r["minted_at"] < hi:
            continue
        if any(r[f] != v for f, v in filters.items()):
            continue
        key = tuple(r[d] for d in dims)
        g = groups.setdefault(key, [0, 0, 0, 0])
        g[0] += 1
        g[1] += r["opened_at"] is not None
        g[2] += r["answered_at"] is not None
        g[3] += bool(r["commented"]) and r["answered_at"] is not None
    return groups


def order_key(dims, key):
    out = []
    for d, v in zip(dims, key):
        if d == "stage":
            out.append((STAGES.index(v) if v in STAGES else len(STAGES), v or ""))
        else:
            out.append((v is not None, v or ""))
    if "stage" not in dims:
        out.insert(0, (len(STAGES), ""))
    return out


class FunnelTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        srv = Server().start()
        for sid in ("delivery", "other", "big"):
            st, _, body = srv.post_json("/v1/surveys", {"id": sid, "title": sid.title(), "stages": STAGES,
                                                        "touchpoints": TOUCH, "channels": [c for c in CHANNELS if c]})
            assert st == 201, body
        cls.keys = {"admin": srv.key}
        for name, k in (("read", {"role": "read"}), ("ingest", {"role": "ingest"}),
                        ("ingest_scoped", {"role": "ingest", "surveys": ["delivery"]}),
                        ("agent", {"role": "agent"})):
            st, _, body = srv.post_json("/v1/keys", dict(k, label="funnel test"))
            assert st == 201, body
            cls.keys[name] = body["secret"]
        srv.stop()
        cls.today = (int(time.time()) // D) * D
        cls.rows = cls.seed(srv.db)
        cls.srv = Server(db=srv.db, tmp=srv.tmp, key=srv.key).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.assert_clean_exit(unittest.TestCase())

    @classmethod
    def seed(cls, db):
        rnd = random.Random(13)
        rows = []
        cls.from_s, cls.to_s = cls.today - 40 * D, cls.today - 10 * D   # the explicit range

        def row(survey, minted, stage=None, tp=None, channel="?", opened=None, answered=None, commented=None):
            stage = stage or rnd.choice(STAGES + ["retired"] * (rnd.random() < 0.02))
            tp = tp or rnd.choice(TOUCH.get(stage, ["kiosk"]))
            channel = rnd.choice(CHANNELS) if channel == "?" else channel
            if opened is None:
                opened = rnd.random() < 0.6
                answered = (opened and rnd.random() < 0.55) or rnd.random() < 0.02   # a few without a view
                commented = answered and rnd.random() < 0.4
                if not answered and rnd.random() < 0.01:
                    commented = True   # inconsistent row: must not count as commented
            r = {"nonce": "n%06d" % len(rows), "survey": survey, "stage": stage, "touchpoint": tp,
                 "channel": channel, "customer": "c%05d" % rnd.randrange(3000), "minted_at": minted,
                 "expires_at": minted + 30 * D, "opened_at": minted + 60 if opened else None,
                 "answered_at": minted + 120 if answered else None, "response_id": None,
                 "commented": 1 if commented else 0}
            rows.append(r)
            return r

        for _ in range(N_ROWS):   # minted over [today - 50 d, today + 1 d)
            row("delivery", cls.today - 50 * D + rnd.randrange(51 * D))
        for _ in range(300):
            row("other", cls.today - 50 * D + rnd.randrange(51 * D))
        # the edges of the explicit range, on a touchpoint of their own
        for minted in (cls.from_s - 1, cls.from_s, cls.to_s - 1, cls.to_s):
            row("delivery", minted, "return", "edge", "sms", True, True, True)
        # "big": BIG + 1 touchpoints in the explicit range, one row each
        for i in range(BIG + 1):
            row("big", cls.from_s + i, "purchase", "tp%04d" % i, None, False, False, False)
        con = sqlite3.connect(db)
        with con:
            con.executemany("INSERT INTO invitations(nonce, survey, stage, touchpoint, channel, customer, "
                            "minted_at, expires_at, opened_at, answered_at, response_id, commented) VALUES "
                            "(:nonce, :survey, :stage, :touchpoint, :channel, :customer, :minted_at, "
                            ":expires_at, :opened_at, :answered_at, :response_id, :commented)", rows)
        con.close()
        return rows

    def funnel(self, query="", survey="delivery", key=None, status=200):
        h = {"Authorization": "Bearer " + key} if key else None
        st, _, body = self.srv.get("/v1/surveys/%s/funnel%s" % (survey, query), headers=h)
        self.assertEqual(st, status, body)
        return body

    def assert_figures(self, got, want, where):
        for k in ("minted", "opened", "answered", "commented"):
            self.assertEqual(got[k], want[k], (where, k))
        for k in ("open_rate", "response_rate", "comment_rate"):
            for f in ("value", "low", "high"):
                if want[k][f] is None:
                    self.assertIsNone(got[k][f], (where, k, f))
                else:
                    self.assertAlmostEqual(got[k][f], want[k][f], delta=1e-9, msg=(where, k, f))
            self.assertEqual(got[k]["n"], want[k]["n"], (where, k))

    def check(self, query, lo, hi, dims, filters, survey="delivery"):
        body = self.funnel(query, survey)
        want = recompute(self.rows, survey, lo, hi, dims, filters)
        self.assertEqual(body["by"], list(dims))
        total = [sum(g[i] for g in want.values()) for i in range(4)]
        self.assert_figures(body["total"], figures(total), (query, "total"))
        keys = sorted(want, key=lambda k: order_key(dims, k))
        if not dims:   # one group, the total (zeros when nothing matched)
            keys, want = [()], {(): total}
        self.assertEqual([tuple(g[d] for d in dims) for g in body["groups"]], keys, query)
        for g, k in zip(body["groups"], keys):
            self.assertEqual(set(g) - set(figures(want[k])), set(dims), query)
            self.assert_figures(g, figures(want[k]), (query, k))
        return body

    # --- the figures ---

    def test_every_grouping_and_filter(self):
        rng = "?from=%s&to=%s" % (fmt(self.from_s), fmt(self.to_s))
        filters = [{}, {"stage": "delivery"}, {"touchpoint": "courier"}, {"channel": "sms"},
                   {"stage": "purchase", "touchpoint": "web", "channel": "email"}]
        n = 0
        for size in range(4):
            for dims in combinations(DIMS, size):
                for f in filters:
                    q = rng + ("&by=" + ",".join(dims) if dims else "") + "".join(
                        "&%s=%s" % kv for kv in f.items())
                    with self.subTest(query=q):
                        body = self.check(q, self.from_s, self.to_s, dims, f)
                        self.assertEqual(body["filters"], {d: f.get(d) for d in DIMS})
                        n += len(body["groups"])
        self.assertGreater(n, 150)
        # the data really spans what is checked: states, a channel-less group, a retired stage
        body = self.funnel(rng + "&by=stage,channel")
        t = body["total"]
        self.assertGreater(t["minted"], 1500)
        self.assertTrue(0 < t["commented"] < t["answered"] < t["opened"] < t["minted"])
        self.assertIn(None, [g["channel"] for g in body["groups"]])
        self.assertEqual(body["groups"][-1]["stage"], "retired")
        self.assertEqual([g["stage"] for g in self.funnel(rng + "&by=stage")["groups"]],
                         ["purchase", "delivery", "return", "retired"])

    def test_brief_shape(self):
        body = self.funnel("?from=%s&to=%s&by=stage,channel" % (fmt(self.from_s), fmt(self.to_s)))
        self.assertEqual(set(body), {"survey", "from", "to", "tz", "by", "filters", "total", "groups"})
        self.assertEqual((body["survey"], body["from"], body["to"], body["tz"]),
                         ("delivery", fmt(self.from_s), fmt(self.to_s), "+00:00"))
        g = body["groups"][0]
        self.assertEqual(list(g), ["stage", "channel", "minted", "opened", "answered", "commented",
                                   "open_rate", "response_rate", "comment_rate"])
        self.assertEqual(set(g["response_rate"]), {"value", "low", "high", "n"})

    def test_range_edges(self):
        """A row minted at from 00:00:00 counts, one at to 00:00:00 does not."""
        q = "?from=%s&to=%s&touchpoint=edge" % (fmt(self.from_s), fmt(self.to_s))
        self.assertEqual(self.funnel(q)["total"]["minted"], 2)
        self.check(q, self.from_s, self.to_s, (), {"touchpoint": "edge"})
        # the day before and the day after: each picks up its own edge row
        q = "?from=%s&to=%s&touchpoint=edge" % (fmt(self.from_s - D), fmt(self.from_s))
        self.assertEqual(self.funnel(q)["total"]["minted"], 1)
        q = "?from=%s&to=%s&touchpoint=edge" % (fmt(self.to_s), fmt(self.to_s + D))
        self.assertEqual(self.funnel(q)["total"]["minted"], 1)
        # RFC 3339 midnights name the same days
        q = "?from=%sT00:00:00Z&to=%sT00:00:00Z&touchpoint=edge" % (fmt(self.from_s), fmt(self.to_s))
        self.assertEqual(self.funnel(q)["total"]["minted"], 2)

    def test_default_is_the_last_30_days(self):
        body = self.check("?by=stage", self.today - 29 * D, self.today + D, ("stage",), {})
        self.assertEqual((body["from"], body["to"]), (fmt(self.today - 29 * D), fmt(self.today + D)))
        body = self.check("?to=%s" % fmt(self.to_s), self.to_s - 30 * D, self.to_s, (), {})
        self.assertEqual(body["from"], fmt(self.to_s - 30 * D))

    def test_tz_shifts_the_days(self):
        for tz, minutes in (("%2B03:00", 180), ("-05:30", -330), ("Z", 0)):
            q = "?from=%s&to=%s&by=channel&tz=%s" % (fmt(self.from_s), fmt(self.to_s), tz)
            with self.subTest(tz=tz):
                body = self.check(q, self.from_s - minutes * 60, self.to_s - minutes * 60, ("channel",), {})
                self.assertEqual(body["tz"], {180: "+03:00", -330: "-05:30", 0: "+00:00"}[minutes])
        # local midnight at +03:00 is 21:00 UTC the day before: on from's day, the row minted
        # at from - 1 s counts too
        q = "?from=%s&to=%s&touchpoint=edge" % (fmt(self.from_s), fmt(self.from_s + D))
        self.assertEqual(self.funnel(q)["total"]["minted"], 1)
        self.assertEqual(self.funnel(q + "&tz=%2B03:00")["total"]["minted"], 2)

    def test_other_survey_apart(self):
        q = "?from=%s&to=%s&by=stage" % (fmt(self.from_s), fmt(self.to_s))
        self.check(q, self.from_s, self.to_s, ("stage",), {}, survey="other")
        body = self.funnel("?from=2020-01-01&to=2020-02-01&by=stage")   # nothing minted then
        self.assertEqual(body["groups"], [])
        self.assert_figures(body["total"], figures([0, 0, 0, 0]), "empty")
        body = self.funnel("?from=2020-01-01&to=2020-02-01")
        self.assertEqual(len(body["groups"]), 1)
        self.assertIsNone(body["total"]["response_rate"]["value"])

    def test_group_bound(self):
        base = "?from=%s&to=%s&by=touchpoint" % (fmt(self.from_s), fmt(self.to_s))
        st, _, body = self.srv.get("/v1/surveys/big/funnel" + base)
        self.assertEqual(st, 422, body)
        self.assertEqual((body["error"]["code"], body["error"]["field"]), ("too_many_groups", "by"))
        self.assertIn("1000", body["error"]["message"])
        # exactly the bound: the row minted last is the 1001st touchpoint, one second later
        q = "?from=%s&to=%s&by=touchpoint" % (fmt(self.from_s), fmt(self.to_s))
        con = sqlite3.connect(self.srv.db)
        with con:   # (a write from another process, beside the running cxd: WAL)
            con.execute("UPDATE invitations SET touchpoint = 'tp0000' WHERE survey = 'big' AND touchpoint = ?",
                        ("tp%04d" % BIG,))
        con.close()
        try:
            body = self.funnel(q, survey="big")
            self.assertEqual(len(body["groups"]), BIG)
            self.assertEqual(body["groups"][0]["minted"], 2)
            self.assertEqual(body["total"]["minted"], BIG + 1)
        finally:
            con = sqlite3.connect(self.srv.db)
            with con:
                con.execute("UPDATE invitations SET touchpoint = ? WHERE nonce = ?",
                            ("tp%04d" % BIG, [r for r in self.rows if r["survey"] == "big"][-1]["nonce"]))
            con.close()
        # without grouping, the same rows are one total
        self.assertEqual(self.funnel(q.replace("&by=touchpoint", ""), survey="big")["total"]["minted"], BIG + 1)

    # --- refusals ---

    def test_bad_queries_name_the_field(self):
        cases = [("by=segment", "invalid_by", "by"), ("by=stage,stage", "invalid_by", "by"),
                 ("by=" + "stage," * 20, "invalid_by", "by"), ("by=day", "invalid_by", "by"),
                 ("from=2026-13-01", "invalid_time", "from"), ("to=yesterday", "invalid_time", "to"),
                 ("from=2026-11-02T10:00:00Z", "invalid_time", "from"),
                 ("from=2026-11-02&to=2026-11-02", "invalid_range", "to"),
                 ("from=2026-11-03&to=2026-11-02", "invalid_range", "to"),
                 ("from=2000-01-01&to=2026-11-02", "invalid_range", "from"),
                 ("stage=nowhere", "invalid_stage", "stage"), ("touchpoint=%3Cscript%3E", "invalid_label", "touchpoint"),
                 ("channel=" + "x" * 65, "invalid_label", "channel"), ("tz=%2B03:10", "invalid_tz", "tz"),
                 ("tz=Europe/Sofia", "invalid_tz", "tz"), ("segment=vip", "unknown_parameter", "segment")]
        for q, code, field in cases:
            with self.subTest(query=q):
                st, _, body = self.srv.get("/v1/surveys/delivery/funnel?" + q)
                self.assertEqual(st, 422, body)
                self.assertEqual((body["error"]["code"], body["error"]["field"]), (code, field))
                self.assertTrue(body["error"]["message"])

    def test_unknown_survey(self):
        for key in ("admin", "read"):
            st, _, body = self.srv.get("/v1/surveys/nope/funnel", headers={"Authorization": "Bearer " + self.keys[key]})
            self.assertEqual((st, body["error"]["code"]), (404, "unknown_survey"))

    def test_who_may_read(self):
        st, _, body = self.srv.get("/v1/surveys/delivery/funnel", auth=False)
        self.assertEqual((st, body["error"]["code"]), (401, "unauthorized"))
        st, _, body = self.srv.get("/v1/surveys/delivery/funnel", headers={"Authorization": "Bearer cxd_nope"})
        self.assertEqual(st, 401)
        for key in ("ingest", "ingest_scoped"):   # even one scoped to this very survey
            with self.subTest(key=key):
                st, _, body = self.srv.get("/v1/surveys/delivery/funnel",
                                           headers={"Authorization": "Bearer " + self.keys[key]})
                self.assertEqual((st, body["error"]["code"]), (403, "forbidden"))
                # the same answer the scores API gives that key
                st2, _, body2 = self.srv.get("/v1/surveys/delivery/scores",
                                             headers={"Authorization": "Bearer " + self.keys[key]})
                self.assertEqual(st2, 403)
        for key in ("read", "agent", "admin"):
            with self.subTest(key=key):
                body = self.funnel("?by=stage", key=self.keys[key])
                self.assertGreater(body["total"]["minted"], 0)


def shot(suffix):
    return re.sub(r"(\.png)?$", suffix + ".png", SHOT, count=1)


def pct(v):
    """The page's rule: a share as a percentage with one decimal ("–" for none)."""
    return "–" if v is None else "%.1f%%" % (v * 100)


def rate_ci(r, unit="%"):
    return "–" if r["value"] is None else "%.1f–%.1f%s" % (r["low"] * 100, r["high"] * 100, unit)


class DashboardFunnelTest(unittest.TestCase):
    """The dashboard's funnel panel in Chromium at 360, 390 and 1400 px: the numbers on the
    page are the API's, it is a real table (caption, th scope), it is shown only for a survey
    that has invitations, axe finds nothing, nothing on the console, no sideways scroll.

    Mutations tried, each caught: the panel shown for every survey (test_hidden_without_
    invitations), the channel filter not passed on (test_channel_filter), the comment rate
    over minted instead of answered (test_numbers_are_the_apis), the table's row headers as
    td (test_real_table)."""

    @classmethod
    def setUpClass(cls):
        missing = [what for what, ok in (("chromium (apt-get install chromium)", CHROMIUM),
                                         ("node (apt-get install nodejs npm)", NODE),
                                         ("tests/browser/node_modules (npm ci --prefix tests/browser)",
                                          os.path.isdir(os.path.join(BROWSER, "node_modules"))))
                   if not ok]
        if missing:
            raise RuntimeError("the dashboard test needs " + ", ".join(missing))
        srv = Server().start()
        for sid, title in (("shop", "Shop"), ("plain", "Plain"), ("past", "Past")):
            st, _, body = srv.post_json("/v1/surveys", {"id": sid, "title": title, "stages": STAGES,
                                                        "touchpoints": TOUCH, "channels": ["email", "sms"]})
            assert st == 201, body
        rows = [{"survey": sid, "stage": st_, "touchpoint": TOUCH[st_][0], "nps": (i * 3) % 11, "channel": "email",
                 "segment": "vip" if i % 2 else "new", "comment": "answer %d" % i}
                for sid in ("shop", "plain", "past") for i, st_ in enumerate(STAGES * 4)]
        st, _, body = srv.post_json("/v1/responses", rows)
        assert st == 201, body
        st, _, body = srv.post_json("/v1/keys", {"role": "read", "label": "funnel dashboard"})
        assert st == 201, body
        cls.read = body["secret"]
        srv.stop()
        today = (int(time.time()) // D) * D
        rnd = random.Random(7)
        inv = []
        for i in range(700):
            stage = rnd.choice(STAGES[:2]) if i % 10 else "return"   # return: one channel only
            channel = "sms" if stage == "return" else rnd.choice(["email", "sms", None])
            opened = rnd.random() < 0.6
            answered = opened and rnd.random() < 0.5
            minted = today - rnd.randrange(20 * D)
            inv.append(("s%05d" % i, "shop", stage, TOUCH[stage][0], channel, "c%d" % i, minted, minted + 30 * D,
                        minted + 5 if opened else None, minted + 9 if answered else None,
                        1 if answered and rnd.random() < 0.4 else 0))
        for i in range(20):   # "past": links, but none in the last 30 days
            minted = today - 100 * D + i
            inv.append(("p%05d" % i, "past", "purchase", "web", "email", "c%d" % i, minted, minted + D,
                        minted + 5, None, 0))
        con = sqlite3.connect(srv.db)
        with con:
            con.executemany("INSERT INTO invitations(nonce, survey, stage, touchpoint, channel, customer, minted_at, "
                            "expires_at, opened_at, answered_at, commented) VALUES (?,?,?,?,?,?,?,?,?,?,?)", inv)
        con.close()
        cls.srv = Server(db=srv.db, tmp=srv.tmp, key=srv.key).start()
        cls.runs = {}
        for w in WIDTHS:
            phone = w < 700
            visits = [{"name": "shop", "survey": "shop", "shot": shot("-phone" if phone else "") if w != 360 else shot("-360"),
                       "cardShot": shot("-card-phone" if phone else "-card") if w != 360 else None},
                      {"name": "plain", "survey": "plain"},
                      {"name": "past", "survey": "past", "cardShot": shot("-past" + ("-phone" if phone else ""))},
                      {"name": "email", "survey": "shop", "channel": "email"},
                      {"name": "segment", "survey": "shop", "segment": "vip"}]
            cls.runs[w] = cls.run_job({"base": "http://127.0.0.1:%d" % cls.srv.port, "width": w, "key": cls.read,
                                       "visits": visits})

    @classmethod
    def tearDownClass(cls):
        cls.srv.assert_clean_exit(unittest.TestCase())

    @staticmethod
    def run_job(job):
        run = subprocess.run([NODE, SCRIPT, json.dumps(job)], capture_output=True, text=True, timeout=600,
                             cwd=BROWSER, env=dict(os.environ, CHROMIUM=CHROMIUM))
        try:
            return json.loads(run.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise RuntimeError("funnel.mjs at %d px gave no report (exit %d):\n%s\n%s" % (
                job["width"], run.returncode, run.stdout[-2000:], run.stderr[-4000:]))

    def each(self, name):
        for w in WIDTHS:
            self.assertNotIn("crash", self.runs[w], self.runs[w].get("crash"))
            yield w, self.runs[w]["visits"][name]

    def api(self, path):
        st, _, body = self.srv.get(path)
        self.assertEqual(st, 200, body)
        return body

    def asked(self, v, by):
        """The API's answer to the page's own (last) request for `by`."""
        want = [p for p in v["funnelRequests"] if p.endswith("&by=" + by)]
        self.assertTrue(want, v["funnelRequests"])
        return self.api(want[-1])

    def check_numbers(self, v):
        by_stage, by_channel = self.asked(v, "stage"), self.asked(v, "stage,channel")
        t = by_stage["total"]
        self.assertGreater(t["minted"], 0)
        steps = {s["step"]: s for s in v["steps"]}
        self.assertEqual([s["name"] for s in v["steps"]], ["Minted", "Opened", "Answered", "With a comment"])
        for k in ("minted", "opened", "answered", "commented"):
            self.assertEqual(steps[k]["count"], format(t[k], ","), k)
        for k, r in (("opened", "open_rate"), ("answered", "response_rate"), ("commented", "comment_rate")):
            self.assertTrue(steps[k]["rate"].startswith(pct(t[r]["value"]) + " of "), (k, steps[k]))
            self.assertEqual(steps[k]["ci"], "95% interval " + rate_ci(t[r]))
            self.assertAlmostEqual(steps[k]["bar"], t[k] / t["minted"], delta=0.02)
        self.assertIn("of answered", steps["commented"]["rate"])
        self.assertIn("response rate", steps["answered"]["rate"])
        # the table: each stage, then its channels when it has more than one; the total below
        want = []
        for g in by_stage["groups"]:
            chans = [c for c in by_channel["groups"] if c["stage"] == g["stage"]]
            name = g["stage"].capitalize()
            want.append(("", name, (chans[0]["channel"] or "no channel") + " only" if len(chans) == 1
                         else "all channels", g))
            if len(chans) > 1:
                want += [("sub", name, c["channel"] or "no channel", c) for c in chans]
        rows = v["table"]["body"]
        self.assertEqual(len(rows), len(want))
        for row, (cls, name, detail, g) in zip(rows, want):
            self.check_row(row["cells"], name, detail, g, cls)
            self.assertEqual(row["cls"], cls)
        self.check_row(v["table"]["foot"][0], "All stages", v["channel"] + " only" if v.get("channel")
                       else "all channels", t, "")
        return by_stage, by_channel

    def check_row(self, cells, name, detail, g, cls):
        th = cells[0]
        self.assertEqual((th["tag"], th["scope"]), ("TH", "row"))
        if cls == "sub":   # "email", heard as "Purchase, email"
            self.assertEqual((th["full"], th["small"]), (name + ", " + detail, None))
        else:
            self.assertEqual((th["text"], th["small"]), (name, detail))
        self.assertEqual(len(cells), 5)
        for c, k, r in zip(cells[1:], ("minted", "opened", "answered", "commented"),
                           (None, "open_rate", "response_rate", "comment_rate")):
            self.assertEqual((c["tag"], c["text"]), ("TD", format(g[k], ",")), (name, detail, k))
            self.assertEqual(c["r"], r and pct(g[r]["value"]), (name, detail, k))
            self.assertEqual(c["small"], None if not r or g[r]["value"] is None else rate_ci(g[r], ""), (name, detail, k))

    def test_numbers_are_the_apis(self):
        for w, v in self.each("shop"):
            with self.subTest(width=w):
                self.assertTrue(v["shown"])
                by_stage, by_channel = self.check_numbers(v)
                self.assertEqual([g["stage"] for g in by_stage["groups"]], STAGES)   # journey order
                self.assertIn(None, [g["channel"] for g in by_channel["groups"]])
                self.assertIn("invitations minted %s to %s" % (by_stage["from"], fmt(day_of(by_stage["to"]) - D)), v["scope"])
                self.assertEqual(v["note"], "")
                # the page asks for the dashboard's range: the last 30 days, today included
                self.assertEqual((by_stage["from"], by_stage["to"]),
                                 (fmt((int(time.time()) // D - 29) * D), fmt((int(time.time()) // D + 1) * D)))

    def test_real_table(self):
        for w, v in self.each("shop"):
            with self.subTest(width=w):
                t = v["table"]
                self.assertTrue(t["caption"])
                self.assertEqual([(h["tag"], h["scope"]) for h in t["head"]], [("TH", "col")] * 5)
                self.assertEqual([h["text"] for h in t["head"]],
                                 ["Stage", "Minted", "Opened", "Answered", "With a comment"])
                self.assertIn("95% interval", t["caption"])

    def test_clean_accessible_and_fits(self):
        for name in ("shop", "plain", "past", "email", "segment"):
            for w, v in self.each(name):
                with self.subTest(width=w, visit=name):
                    self.assertEqual(v["axe"], [], json.dumps(v["axe"], indent=1))
                    self.assertEqual((v["console"], v["failed"], v["csp"]), ([], [], []))
                    self.assertEqual(v["errors"], "0", v["banner"])
                    self.assertLessEqual(v["scrollWidth"], v["viewport"], "the page scrolls sideways")
                    self.assertEqual(v["wide"], [], "elements past the window's edge")

    def test_hidden_without_invitations(self):
        for w, v in self.each("plain"):
            with self.subTest(width=w):
                self.assertFalse(v["shown"])
                self.assertEqual(len(v["funnelRequests"]), 3, v["funnelRequests"])   # range, and ever
        for w, v in self.each("past"):
            with self.subTest(width=w):
                self.assertTrue(v["shown"])
                self.assertEqual(v["note"], "No invitations were minted in these dates.")
                self.assertEqual([s["count"] for s in v["steps"]], ["0"] * 4)
                self.assertIsNone(v["table"])

    def test_channel_filter(self):
        for w, v in self.each("email"):
            with self.subTest(width=w):
                v["channel"] = "email"
                by_stage, by_channel = self.check_numbers(v)
                self.assertEqual(by_stage["filters"]["channel"], "email")
                self.assertEqual({g["channel"] for g in by_channel["groups"]}, {"email"})
                self.assertIn("channel email", v["scope"])
                # fewer than the whole survey's
                self.assertLess(by_stage["total"]["minted"], self.runs[w]["visits"]["shop"]["steps"][0]["count"]
                                and int(self.runs[w]["visits"]["shop"]["steps"][0]["count"].replace(",", "")))

    def test_segment_is_not_a_funnel_filter(self):
        for w, v in self.each("segment"):
            with self.subTest(width=w):
                self.assertIn("does not filter by segment", v["note"])
                self.check_numbers(v)

    def test_screenshots(self):
        for path in (SHOT, shot("-phone"), shot("-360"), shot("-card"), shot("-card-phone"), shot("-past")):
            with self.subTest(path=path):
                with open(path, "rb") as f:
                    self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")


if __name__ == "__main__":
    cxdtest.main("funnel")
