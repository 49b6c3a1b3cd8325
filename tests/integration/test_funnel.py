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
import math
import os
import random
import sqlite3
import sys
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


def fmt(ts):
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


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


if __name__ == "__main__":
    cxdtest.main("funnel")
