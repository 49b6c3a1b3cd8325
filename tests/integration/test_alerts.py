"""Alerts (issue 12): responses posted over the API in the two windows, the check run over
the API (and by the scheduler), and every finding, event payload and delivery row checked
against an independent computation of the README's rules (tests/integration/scoring.py).

Windows (default --alert-window 7): now = the 7 UTC days up to and including today,
then = the 7 days before. The data (fixed, no randomness):
  purchase/web-checkout  good then, bad now (NPS and CSAT): drops at the touchpoint and
                         the stage, and a new pain point
  purchase/pos           steady
  awareness/ads          NPS slightly lower (not significant), CES clearly lower; and, the
                         day before the previous window, 200 perfect answers that would make
                         the NPS drop significant if the window leaked
  consideration/chat     a huge drop, but only 20 answers on each side (< --alert-min-n)
  retention/support      a significant rise: never an alert
  advocacy/referral      bad in both windows: a pain point, but not a new one
"""
import datetime as dt
import json
import math
import os
import re
import sqlite3
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
from cxdtest import Server  # noqa: E402
import scoring  # noqa: E402

Z = scoring.Z
TODAY = dt.datetime.now(dt.timezone.utc).date()
W = 7
DROPPED, PAIN = "journey.score_dropped", "journey.pain_point_found"

SURVEY = {"id": "shop", "title": "Shop",
          "touchpoints": {"awareness": ["ads"], "consideration": ["chat"],
                          "purchase": ["web-checkout", "pos"], "retention": ["support"],
                          "advocacy": ["referral"]}}
STEADY = [9, 10, 8, 7, 9, 10, 6, 9, 10, 8]
# (stage, touchpoint) -> {period: (n, nps cycle, csat cycle, ces cycle)}
PLAN = {
    ("purchase", "web-checkout"): {"then": (60, [9, 10, 9, 10, 8, 9, 10, 7, 9, 10], [5, 4, 5, 4, 5], None),
                                   "now": (60, [2, 5, 6, 9, 3, 6, 10, 4, 6, 8], [2, 3, 4, 2, 5], None)},
    ("purchase", "pos"): {"then": (60, STEADY, [4, 5, 4, 5, 3], [5, 6, 7, 6, 5]),
                          "now": (60, STEADY, [4, 5, 4, 5, 3], [5, 6, 7, 6, 5])},
    ("awareness", "ads"): {"then": (60, STEADY, None, [6, 7, 7, 6, 7]),
                           "now": (60, [9, 10, 8, 7, 9, 6, 6, 9, 10, 8], None, [3, 4, 2, 5, 3])},
    ("consideration", "chat"): {"then": (20, [10, 9, 10, 8], None, None), "now": (20, [0, 3, 1, 6], None, None)},
    ("retention", "support"): {"then": (60, [6, 7, 8, 9, 5, 6, 7, 8, 9, 10], None, None),
                               "now": (60, [9, 10, 10, 9, 10, 10, 9, 10, 8, 10], None, None)},
    ("advocacy", "referral"): {"then": (60, [0, 3, 5, 6, 2, 6, 7, 4, 1, 6], None, None),
                               "now": (60, [0, 3, 5, 6, 2, 6, 7, 4, 1, 6], None, None)},
}
EXPECTED = {   # what the rules give for PLAN, worked out by hand (the model must agree)
    DROPPED + "|shop|purchase||nps", DROPPED + "|shop|purchase|web-checkout|nps",
    DROPPED + "|shop|purchase||csat", DROPPED + "|shop|purchase|web-checkout|csat",
    DROPPED + "|shop|awareness||ces", DROPPED + "|shop|awareness|ads|ces",
    PAIN + "|shop|purchase|web-checkout|nps",
}
NOW_FROM = TODAY - dt.timedelta(days=W - 1)        # first day of the current window
THEN_FROM = NOW_FROM - dt.timedelta(days=W)


def day_s(d):
    return int(dt.datetime(d.year, d.month, d.day, tzinfo=dt.timezone.utc).timestamp())


def stamp(d, hour=12, minute=0, second=0):
    return "%sT%02d:%02d:%02dZ" % (d.isoformat(), hour, minute, second)


def make_rows():
    """Every response, tagged with its window; the first and last of each window sit on
    its boundaries (00:00:00 of its first day, 23:59:59 of its last)."""
    rows = []
    for (stage, tp), periods in PLAN.items():
        for period, (n, nps, csat, ces) in periods.items():
            first = NOW_FROM if period == "now" else THEN_FROM
            for i in range(n):
                d = first + dt.timedelta(days=i % W)
                when = stamp(d, i % 24)
                if i == 0:
                    when = stamp(first, 0, 0, 0)
                elif i == n - 1:   # (today's last second: less than a day ahead, allowed)
                    when = stamp(first + dt.timedelta(days=W - 1), 23, 59, 59)
                row = {"survey": "shop", "stage": stage, "touchpoint": tp, "nps": nps[i % len(nps)],
                       "submitted_at": when, "period": period}
                if csat:
                    row["csat"] = csat[i % len(csat)]
                if ces:
                    row["ces"] = ces[i % len(ces)]
                rows.append(row)
    outside = THEN_FROM - dt.timedelta(days=1)   # the day before: in neither window
    rows += [{"survey": "shop", "stage": "awareness", "touchpoint": "ads", "nps": 10, "ces": 7,
              "submitted_at": stamp(outside, 23, 59, 59), "period": "outside"} for _ in range(200)]
    return rows


def z_ces(a, b):
    """(mean_a, mean_b, z or None): Welch, as the README says; None when n < 2."""
    if len(a) < 2 or len(b) < 2:
        return None
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    va = sum((v - ma) ** 2 for v in a) / (len(a) - 1) / len(a)
    vb = sum((v - mb) ** 2 for v in b) / (len(b) - 1) / len(b)
    se = math.sqrt(va + vb)
    return ma, mb, ((mb - ma) / se if se > 0 else None)


TESTS = {"nps": scoring.z_nps, "csat": scoring.z_csat, "ces": z_ces}


def values(rows, metric):
    return [r[metric] for r in rows if r.get(metric) is not None]


def is_pain(tp_rows, all_rows, min_n):
    """The README's pain point rule on NPS (the headline: NPS is answered): (pain?, cmp)."""
    tp = values(tp_rows, "nps")
    rest = [r["nps"] for r in all_rows if r not in tp_rows and r.get("nps") is not None]
    cmp = scoring.z_nps(rest, tp) if tp and rest else None
    if not cmp or cmp[2] is None:
        return False, cmp
    return len(tp) >= min_n and abs(cmp[2]) > Z and cmp[1] < cmp[0], cmp


def model(rows, min_n=30):
    """Every finding the README's rules give: {key: (type, stage, touchpoint, metric, facts)}."""
    now = [r for r in rows if r["period"] == "now"]
    then = [r for r in rows if r["period"] == "then"]
    out = {}
    cells = sorted({(r["stage"], r["touchpoint"]) for r in rows})
    groups = [(s, None) for s in sorted({s for s, _ in cells})] + cells
    for stage, tp in groups:
        def mine(rs):
            return [r for r in rs if r["stage"] == stage and (tp is None or r["touchpoint"] == tp)]
        for metric, test in TESTS.items():
            a, b = values(mine(then), metric), values(mine(now), metric)
            cmp = test(a, b) if a and b else None
            if (cmp and cmp[2] is not None and abs(cmp[2]) > Z and cmp[1] < cmp[0]
                    and len(a) >= min_n and len(b) >= min_n):
                out["%s|shop|%s|%s|%s" % (DROPPED, stage, tp or "", metric)] = (
                    DROPPED, stage, tp, metric, {"then": cmp[0], "now": cmp[1], "z": cmp[2],
                                                 "n_then": len(a), "n_now": len(b)})
        if tp is not None:
            pain_now, cmp = is_pain(mine(now), now, min_n)
            pain_then, _ = is_pain(mine(then), then, min_n)
            if pain_now and not pain_then:
                before = values(mine(then), "nps")
                out["%s|shop|%s|%s|nps" % (PAIN, stage, tp)] = (
                    PAIN, stage, tp, "nps", {"rest": cmp[0], "now": cmp[1], "z": cmp[2],
                                             "n_now": len(values(mine(now), "nps")),
                                             "n_rest": len([r for r in now if r not in mine(now) and r.get("nps") is not None]),
                                             "then": scoring.nps(before)["score"] if before else None,
                                             "n_then": len(before)})
    return out


def add_endpoint(srv, eid, events, surveys=None):
    """An endpoint made over the API, paused: its deliveries stay queued for the test to
    read (the server runs with WEBHOOK_FLAGS; nothing listens on port 9)."""
    body = {"id": eid, "url": "http://127.0.0.1:9/" + eid, "events": events}
    if surveys is not None:
        body["surveys"] = surveys
    st, _, got = srv.post_json("/v1/endpoints", body)
    assert st == 201, got
    st, _, got = srv.request("POST", "/v1/endpoints/%s/pause" % eid)
    assert st == 200, got


WEBHOOK_FLAGS = ["--webhook-allow-http", "--webhook-allow-private"]


def table(db, sql, args=()):
    con = sqlite3.connect(db, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def post_rows(srv, rows):
    items = [{k: v for k, v in r.items() if k != "period"} for r in rows]
    st, _, body = srv.post_json("/v1/responses", items)
    assert st == 201, body


class AlertsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rows = make_rows()
        cls.expected = model(cls.rows)
        cls.srv = Server(args=["--alert-interval", "0"] + WEBHOOK_FLAGS).start()
        st, _, body = cls.srv.post_json("/v1/surveys", SURVEY)
        assert st == 201, body
        st, _, body = cls.srv.post_json("/v1/surveys", {"id": "quiet", "title": "Nobody answered"})
        assert st == 201, body
        post_rows(cls.srv, cls.rows)
        add_endpoint(cls.srv, "all-journey", [DROPPED, PAIN])
        add_endpoint(cls.srv, "pain-shop", [PAIN], ["shop"])
        add_endpoint(cls.srv, "drops-elsewhere", [DROPPED, PAIN], ["quiet"])
        add_endpoint(cls.srv, "responses-only", ["response.created"])
        st, _, cls.first = cls.srv.post_json("/v1/alerts/run", None)
        assert st == 200, cls.first

    @classmethod
    def tearDownClass(cls):
        cls.srv.assert_clean_exit(unittest.TestCase())

    def test_the_model_finds_what_the_data_was_made_for(self):
        # guards the independent computation itself: it must find exactly the planned drops
        self.assertEqual(set(self.expected), EXPECTED)

    def test_run_emits_exactly_the_expected_findings(self):
        got = {f["key"]: f for f in self.first["findings"]}
        self.assertEqual(set(got), EXPECTED)
        self.assertEqual(self.first["emitted"], len(EXPECTED))
        for key, (typ, stage, tp, metric, facts) in self.expected.items():
            f = got[key]
            with self.subTest(key=key):
                self.assertTrue(f["emitted"])
                self.assertEqual(f["type"], typ)
                self.assertEqual(f["first_at"], f["last_at"])
                d = f["data"]
                self.assertEqual(d["survey"], {"id": "shop", "name": "Shop"})
                self.assertEqual((d["stage"], d["touchpoint"], d["metric"]), (stage, tp, metric))
                self.assertEqual((d["then"]["from"], d["then"]["to"]),
                                 (day_s(THEN_FROM), day_s(NOW_FROM)))
                self.assertEqual((d["now"]["from"], d["now"]["to"]),
                                 (day_s(NOW_FROM), day_s(TODAY + dt.timedelta(days=1))))
                self.assertAlmostEqual(d["now"]["score"], facts["now"], places=3)
                self.assertEqual(d["now"]["n"], facts["n_now"])
                self.assertEqual(d["then"]["n"], facts["n_then"])
                self.assertAlmostEqual(d["z"], facts["z"], places=3)
                self.assertIn("significant at 95%", d["reason"])
                self.assertIn("z = %.2f" % facts["z"], d["reason"])
                if typ == DROPPED:
                    self.assertLess(d["z"], -Z)
                    self.assertAlmostEqual(d["then"]["score"], facts["then"], places=3)
                    self.assertAlmostEqual(d["delta"], facts["now"] - facts["then"], places=3)
                    fmt = "%.2f" if metric == "ces" else "%.1f%%" if metric == "csat" else "%.1f"
                    where = stage + (" / " + tp if tp else "")
                    self.assertTrue(d["reason"].startswith(
                        "%s at %s fell from %s (n=%d) to %s (n=%d)" % (
                            metric.upper(), where, fmt % facts["then"], facts["n_then"],
                            fmt % facts["now"], facts["n_now"])), d["reason"])
                else:
                    self.assertAlmostEqual(d["rest"]["score"], facts["rest"], places=3)
                    self.assertEqual(d["rest"]["n"], facts["n_rest"])
                    self.assertAlmostEqual(d["gap"], facts["rest"] - facts["now"], places=3)
                    self.assertAlmostEqual(d["then"]["score"], facts["then"], places=3)
                    self.assertAlmostEqual(d["delta"], facts["now"] - facts["then"], places=3)
                    self.assertTrue(d["reason"].startswith(
                        "NPS at %s / %s is a new pain point: %.1f (n=%d) against %.1f" % (
                            stage, tp, facts["now"], facts["n_now"], facts["rest"])), d["reason"])

    def test_deliveries_go_to_the_subscribed_endpoints_only(self):
        rows = table(self.srv.db, "SELECT endpoint, type, survey, payload, state FROM deliveries "
                                  "WHERE type LIKE 'journey.%' ORDER BY id")
        want = sorted([("all-journey", k.split("|")[0], k) for k in EXPECTED] +
                      [("pain-shop", PAIN, k) for k in EXPECTED if k.startswith(PAIN)])
        got = []
        for endpoint, typ, survey, payload, state in rows:
            body = json.loads(payload)
            self.assertEqual(body["type"], typ)
            self.assertEqual(survey, "shop")
            self.assertRegex(body["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            d = body["data"]
            key = "%s|shop|%s|%s|%s" % (typ, d["stage"], d["touchpoint"] or "", d["metric"])
            finding = next(f for f in self.first["findings"] if f["key"] == key)
            self.assertEqual(d, finding["data"])
            got.append((endpoint, typ, key))
        self.assertEqual(sorted(got), want)
        for f in self.first["findings"]:
            self.assertEqual(f["deliveries"], 2 if f["type"] == PAIN else 1, f["key"])

    def test_findings_table_holds_each_key_once(self):
        rows = table(self.srv.db, "SELECT key, type, survey, detail, first_at, last_at FROM alert_findings")
        self.assertEqual({r[0] for r in rows}, EXPECTED)
        for key, typ, survey, detail, first_at, last_at in rows:
            self.assertEqual((typ, survey), (key.split("|")[0], "shop"))
            self.assertEqual(json.loads(detail)["metric"], key.split("|")[4])

    def test_run_again_emits_nothing_new(self):
        before = table(self.srv.db, "SELECT count(*) FROM deliveries")[0][0]
        st, _, again = self.srv.post_json("/v1/alerts/run", None)
        self.assertEqual(st, 200, again)
        self.assertEqual(again["emitted"], 0)
        self.assertEqual({f["key"] for f in again["findings"]}, EXPECTED)   # still findings...
        self.assertFalse(any(f["emitted"] for f in again["findings"]))   # ...in their cooldown
        self.assertTrue(all(f["deliveries"] == 0 for f in again["findings"]))
        self.assertEqual(table(self.srv.db, "SELECT count(*) FROM deliveries")[0][0], before)
        firsts = {f["key"]: f["first_at"] for f in self.first["findings"]}
        self.assertEqual({f["key"]: f["last_at"] for f in again["findings"]}, firsts)

    def test_list_newest_first_paged_and_filtered(self):
        st, _, body = self.srv.get("/v1/alerts")
        self.assertEqual(st, 200, body)
        self.assertEqual({a["key"] for a in body["alerts"]}, EXPECTED)
        self.assertIsNone(body["next"])
        lasts = [a["last_at"] for a in body["alerts"]]
        self.assertEqual(lasts, sorted(lasts, reverse=True))
        by_key = {f["key"]: f["data"] for f in self.first["findings"]}
        for a in body["alerts"]:
            self.assertEqual(a["data"], by_key[a["key"]])
            self.assertEqual((a["type"], a["survey"]), (a["key"].split("|")[0], "shop"))
        # pages of 2 cover every finding once, in the same order
        seen, after = [], None
        for _ in range(10):
            qs = "?limit=2" + ("&after=" + urllib.parse.quote(after, safe="") if after else "")
            st, _, page = self.srv.get("/v1/alerts" + qs)
            self.assertEqual(st, 200, page)
            self.assertLessEqual(len(page["alerts"]), 2)
            seen += [a["key"] for a in page["alerts"]]
            after = page["next"]
            if not after:
                break
        self.assertEqual(seen, [a["key"] for a in body["alerts"]])
        st, _, pains = self.srv.get("/v1/alerts?type=" + PAIN)
        self.assertEqual([a["key"] for a in pains["alerts"]], [k for k in seen if k.startswith(PAIN)])
        st, _, none = self.srv.get("/v1/alerts?survey=quiet")
        self.assertEqual((st, none), (200, {"alerts": [], "next": None}))

    def test_bad_parameters_and_roles(self):
        for qs, code in (("?limit=0", "invalid_limit"), ("?limit=201", "invalid_limit"),
                         ("?limit=x", "invalid_limit"), ("?after=nope", "invalid_cursor"),
                         ("?after=-1:x", "invalid_cursor"), ("?type=case.opened", "invalid_type"),
                         ("?survey=a%20b", "invalid_survey"), ("?since=1", "unknown_parameter")):
            with self.subTest(qs=qs):
                st, _, body = self.srv.get("/v1/alerts" + qs)
                self.assertEqual((st, body["error"]["code"]), (422, code), body)
        st, _, key = self.srv.post_json("/v1/keys", {"role": "read"})
        self.assertEqual(st, 201, key)
        hdr = {"Authorization": "Bearer " + key["secret"]}
        for method, path in (("GET", "/v1/alerts"), ("POST", "/v1/alerts/run")):
            st, _, body = self.srv.request(method, path, headers=hdr)
            self.assertEqual((st, body["error"]["code"]), (403, "forbidden"), body)
        st, _, body = self.srv.request("POST", "/v1/alerts/run?dry=1")
        self.assertEqual((st, body["error"]["code"], body["error"]["field"]), (422, "unknown_parameter", "dry"))
        st, _, body = self.srv.request("GET", "/v1/alerts", auth=False)
        self.assertEqual(st, 401)
        st, _, body = self.srv.request("GET", "/v1/alerts/run")
        self.assertEqual(st, 405)

    def test_metrics_count_emitted_alerts(self):
        st, _, text = self.srv.get("/metrics")
        self.assertEqual(st, 200)
        drops = sum(1 for k in EXPECTED if k.startswith(DROPPED))
        self.assertIn('cxd_alerts_emitted_total{type="journey.score_dropped"} %d' % drops, text)
        self.assertIn('cxd_alerts_emitted_total{type="journey.pain_point_found"} 1', text)


class SchedulerTest(unittest.TestCase):
    def test_interval_emits_without_the_api_and_cooldown_expires(self):
        srv = Server(args=["--alert-interval", "1", "--alert-cooldown", "3"] + WEBHOOK_FLAGS).start()
        try:
            srv.post_json("/v1/surveys", SURVEY)
            add_endpoint(srv, "all-journey", [DROPPED, PAIN])
            post_rows(srv, make_rows())
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if table(srv.db, "SELECT count(*) FROM alert_findings")[0][0] == len(EXPECTED):
                    break
                time.sleep(0.2)
            found = table(srv.db, "SELECT key, first_at, last_at FROM alert_findings")
            self.assertEqual({k for k, _, _ in found}, EXPECTED)
            self.assertEqual(table(srv.db, "SELECT count(*) FROM deliveries")[0][0], len(EXPECTED))
            self.assertRegex(srv.stderr(), r"alert journey\.score_dropped \(1 delivery\): NPS at "
                                           r"purchase / web-checkout fell from")
            # the cooldown (3 s) passes and they are still findings: emitted once more each
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if table(srv.db, "SELECT count(*) FROM deliveries")[0][0] >= 2 * len(EXPECTED):
                    break
                time.sleep(0.2)
            again = {k: (f, l) for k, f, l in table(srv.db, "SELECT key, first_at, last_at FROM alert_findings")}
            self.assertEqual(table(srv.db, "SELECT count(*) FROM deliveries")[0][0], 2 * len(EXPECTED))
            for key, first_at, last_at in found:
                self.assertEqual(again[key][0], first_at)
                self.assertGreaterEqual(again[key][1] - last_at, 3)
        finally:
            srv.assert_clean_exit(self)

    def test_concurrent_runs_emit_each_finding_once(self):
        """The scheduler (every second) and four clients calling run at once: the database
        lock serializes the records, so each finding goes out exactly once."""
        srv = Server(args=["--alert-interval", "1"] + WEBHOOK_FLAGS).start()
        try:
            srv.post_json("/v1/surveys", SURVEY)
            add_endpoint(srv, "all-journey", [DROPPED, PAIN])
            post_rows(srv, make_rows())
            emitted, statuses = [], []

            def hammer():
                for _ in range(8):
                    st, _, body = srv.post_json("/v1/alerts/run", None)
                    statuses.append(st)
                    if st == 200:
                        emitted.extend(f["key"] for f in body["findings"] if f["emitted"])
            threads = [threading.Thread(target=hammer) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            time.sleep(1.5)   # one more scheduled run after the clients
            self.assertEqual(set(statuses), {200})
            rows = table(srv.db, "SELECT payload FROM deliveries")
            keys = []
            for (payload,) in rows:
                b = json.loads(payload)
                d = b["data"]
                keys.append("%s|shop|%s|%s|%s" % (b["type"], d["stage"], d["touchpoint"] or "", d["metric"]))
            self.assertEqual(sorted(keys), sorted(EXPECTED))
            self.assertLessEqual(len(emitted), len(EXPECTED))
            self.assertEqual(len(emitted), len(set(emitted)))
        finally:
            srv.assert_clean_exit(self)

    def test_stop_is_prompt_while_the_scheduler_waits(self):
        srv = Server().start()   # default: the first run an hour away
        time.sleep(0.3)          # the scheduler is waiting by now
        t = time.monotonic()
        srv.assert_clean_exit(self)
        self.assertLess(time.monotonic() - t, 3)

    def test_bad_flags_are_refused(self):
        for flag, val in (("--alert-interval", "-1"), ("--alert-window", "0"),
                          ("--alert-window", "367"), ("--alert-cooldown", "0"),
                          ("--alert-min-n", "0"), ("--alert-interval", "x")):
            with self.subTest(flag=flag, val=val):
                r = cxdtest.subprocess.run([cxdtest.CXD, flag, val], capture_output=True,
                                           text=True, timeout=30)
                self.assertEqual(r.returncode, 2)
                self.assertIn(flag, r.stderr)


if __name__ == "__main__":
    unittest.main()
