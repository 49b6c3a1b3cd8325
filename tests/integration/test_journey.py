"""Integration tests for /journey (stages in order, changes, pain points) against an
independent computation on data whose pain point is known."""
import datetime as dt
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
from cxdtest import Server  # noqa: E402
import scoring  # noqa: E402

STAGES = ["awareness", "interest", "consideration", "purchase", "retention", "advocacy"]
TOUCH = {"awareness": ["ads", "search"], "interest": ["website"], "consideration": ["reviews", "chat"],
         "purchase": ["checkout", "payment"], "retention": ["delivery", "support"], "advocacy": ["referral"]}
TODAY = dt.datetime.now(dt.timezone.utc).date()


def make_rows(rng):
    rows = []
    for period, (lo, hi) in (("now", (1, 29)), ("then", (31, 59))):
        for stage, tps in TOUCH.items():
            for tp in tps:
                n = 80 if period == "now" else 60
                for _ in range(n):
                    if (stage, tp) == ("purchase", "payment") and period == "now":
                        nps = rng.choice([0, 1, 2, 3, 4, 5, 6, 6, 7, 9])   # the pain point
                    elif stage == "retention" and period == "now":
                        nps = rng.choice([8, 9, 10, 10])                    # got better
                    else:
                        nps = rng.choice([3, 6, 7, 8, 9, 9, 10, 10])
                    day = TODAY - dt.timedelta(days=rng.randint(lo, hi))
                    row = {"survey": "jr", "stage": stage, "touchpoint": tp, "nps": nps,
                           "csat": rng.randint(2, 5), "segment": rng.choice(["new", "returning"]),
                           "submitted_at": "%sT%02d:00:00Z" % (day.isoformat(), rng.randint(0, 23)),
                           "period": period}
                    if rng.random() < 0.15:
                        row["comment"] = "comment %d about %s" % (len(rows), tp)
                        row["customer"] = "cust-%d" % len(rows)
                    rows.append(row)
    return rows


class JourneyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server().start()
        cls.srv.post_json("/v1/surveys", {"id": "jr", "title": "Journey"})
        cls.rows = make_rows(random.Random(11))
        items = [{k: v for k, v in r.items() if k != "period"} for r in cls.rows]
        for i in range(0, len(items), 5000):
            st, _, body = cls.srv.post_json("/v1/responses", items[i:i + 5000])
            assert st == 201, body

    @classmethod
    def tearDownClass(cls):
        cls.srv.assert_clean_exit(unittest.TestCase())

    def journey(self, qs=""):
        st, _, body = self.srv.get("/v1/surveys/jr/journey" + qs)
        self.assertEqual(st, 200, body)
        return body

    def test_stages_in_order_with_scores_and_changes(self):
        frm = (TODAY - dt.timedelta(days=30)).isoformat()
        to = TODAY.isoformat()
        body = self.journey("?from=%s&to=%s" % (frm, to))
        self.assertEqual([s["stage"] for s in body["stages"]], STAGES)
        self.assertEqual(body["previous"], {"from": (TODAY - dt.timedelta(days=60)).isoformat(), "to": frm})
        now = [r for r in self.rows if r["period"] == "now"]
        then = [r for r in self.rows if r["period"] == "then"]
        for s in body["stages"]:
            mine = [r for r in now if r["stage"] == s["stage"]]
            prev = [r for r in then if r["stage"] == s["stage"]]
            self.assertEqual(s["responses"], len(mine))
            self.assertTrue(scoring.close(s["nps"], scoring.nps([r["nps"] for r in mine])))
            a, b, z = scoring.z_nps([r["nps"] for r in prev], [r["nps"] for r in mine])
            ch = s["change"]["nps"]
            self.assertAlmostEqual(ch["then"], a, places=3)
            self.assertAlmostEqual(ch["now"], b, places=3)
            self.assertAlmostEqual(ch["delta"], b - a, places=3)
            self.assertAlmostEqual(ch["z"], z, places=3)
            self.assertEqual(ch["significant"], abs(z) > 1.959963984540054)
            a, b, z = scoring.z_csat([r["csat"] for r in prev], [r["csat"] for r in mine])
            self.assertAlmostEqual(s["change"]["csat"]["z"], z, places=3)
            self.assertEqual([t["touchpoint"] for t in s["touchpoints"]], sorted(TOUCH[s["stage"]]))
            for t in s["touchpoints"]:
                tp = [r["nps"] for r in mine if r["touchpoint"] == t["touchpoint"]]
                self.assertTrue(scoring.close(t["nps"], scoring.nps(tp)))
        retention = body["stages"][STAGES.index("retention")]["change"]["nps"]
        self.assertTrue(retention["significant"] and retention["delta"] > 0, retention)

    def test_pain_point_found_with_reason(self):
        body = self.journey("?from=%s&to=%s" % ((TODAY - dt.timedelta(days=30)).isoformat(), TODAY.isoformat()))
        pains = body["pain_points"]
        self.assertGreaterEqual(len(pains), 1, body)
        first = pains[0]
        self.assertEqual((first["stage"], first["touchpoint"], first["metric"]), ("purchase", "payment", "nps"))
        now = [r for r in self.rows if r["period"] == "now"]
        tp = [r["nps"] for r in now if (r["stage"], r["touchpoint"]) == ("purchase", "payment")]
        rest = [r["nps"] for r in now if (r["stage"], r["touchpoint"]) != ("purchase", "payment")]
        a, b, z = scoring.z_nps(rest, tp)
        self.assertAlmostEqual(first["score"], b, places=3)
        self.assertAlmostEqual(first["rest_score"], a, places=3)
        self.assertAlmostEqual(first["gap"], a - b, places=3)
        self.assertAlmostEqual(first["z"], z, places=3)
        self.assertEqual(first["n"], len(tp))
        self.assertIn("payment", first["reason"])
        self.assertIn("%.1f" % b, first["reason"])
        gaps = [p["gap"] for p in pains]
        self.assertEqual(gaps, sorted(gaps, reverse=True))
        # every listed pain point passes the rule, computed independently
        for p in pains:
            mine = [r["nps"] for r in now if (r["stage"], r["touchpoint"]) == (p["stage"], p["touchpoint"])]
            others = [r["nps"] for r in now if (r["stage"], r["touchpoint"]) != (p["stage"], p["touchpoint"])]
            a, b, z = scoring.z_nps(others, mine)
            self.assertTrue(len(mine) >= 30 and z < -1.959963984540054)

    def test_min_n_and_filters(self):
        rng = "from=%s&to=%s" % ((TODAY - dt.timedelta(days=30)).isoformat(), TODAY.isoformat())
        self.assertEqual(self.journey("?" + rng + "&min_n=1000")["pain_points"], [])
        seg = self.journey("?" + rng + "&segment=new")
        now_new = [r for r in self.rows if r["period"] == "now" and r["segment"] == "new"]
        self.assertEqual(sum(s["responses"] for s in seg["stages"]), len(now_new))
        self.assertEqual(seg["filters"], {"segment": "new", "channel": None})
        default = self.journey()
        self.assertEqual(default["to"], (TODAY + dt.timedelta(days=1)).isoformat())

    def comments(self, qs):
        st, _, body = self.srv.get("/v1/surveys/jr/comments" + qs)
        self.assertEqual(st, 200, body)
        return body

    def test_comments_newest_first_paged(self):
        want = [r for r in self.rows if "comment" in r]
        seen, cursor = [], None
        for _ in range(100):
            body = self.comments("?limit=37" + ("&cursor=" + cursor if cursor else ""))
            seen += body["comments"]
            cursor = body["next_cursor"]
            if not cursor:
                break
        self.assertEqual(len(seen), len(want))
        self.assertEqual(len({c["id"] for c in seen}), len(want))
        keys = [(c["submitted_at"], c["id"]) for c in seen]
        self.assertEqual(keys, sorted(keys, reverse=True))
        self.assertEqual(sorted(c["comment"] for c in seen), sorted(r["comment"] for r in want))
        # filters: detractors at one touchpoint
        body = self.comments("?stage=purchase&touchpoint=payment&max_nps=6&limit=200")
        mine = [r for r in want if (r["stage"], r["touchpoint"]) == ("purchase", "payment") and r["nps"] <= 6]
        self.assertEqual(len(body["comments"]), len(mine))
        c = body["comments"][0]
        self.assertEqual(set(c), {"id", "submitted_at", "stage", "touchpoint", "channel", "segment",
                                  "customer", "nps", "csat", "ces", "comment"})
        self.assertTrue(all(x["nps"] <= 6 for x in body["comments"]))
        for qs, code in (("?cursor=zz", "invalid_cursor"), ("?limit=0", "invalid_limit"),
                         ("?limit=201", "invalid_limit"), ("?max_nps=11", "invalid_max_nps"),
                         ("?stage=x", "invalid_stage"), ("?sort=asc", "unknown_parameter")):
            st, _, body = self.srv.get("/v1/surveys/jr/comments" + qs)
            self.assertEqual((st, body["error"]["code"]), (422, code), qs)

    def test_errors(self):
        for qs, code in (("?min_n=0", "invalid_min_n"), ("?from=x", "invalid_time"),
                         ("?from=2026-01-02&to=2026-01-01", "invalid_range"), ("?by=stage", "unknown_parameter"),
                         ("?from=2000-01-01&to=2026-01-01", "invalid_range")):
            st, _, body = self.srv.get("/v1/surveys/jr/journey" + qs)
            self.assertEqual((st, body["error"]["code"]), (422, code), qs)
        st, _, body = self.srv.get("/v1/surveys/nope/journey")
        self.assertEqual(st, 404)


if __name__ == "__main__":
    cxdtest.main("journey")
