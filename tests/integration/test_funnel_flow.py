"""The response funnel end to end (issue 13): invitations minted over the API, links opened
and answered through the hosted page the way respondents do (GET, then a score, then a
reason), a mail scanner fetching links it will never answer; then
GET /v1/surveys/{id}/funnel is recomputed from what the test itself did (the raw events)
per stage, touchpoint and channel, counts and Wilson 95% intervals.

It fails if a view, an answer or a comment is not recorded where the funnel reads it (a
view lost, an answer recorded twice on the edit, a comment not marking the row), if the
scanner's HEAD counts as a view, or if the groups or intervals are wrong."""
import math
import os
import random
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402

Z = 1.959963984540054
SURVEY = {"id": "flow", "title": "Flow", "stages": ["purchase", "delivery"],
          "touchpoints": {"purchase": ["web", "store"], "delivery": ["courier"]},
          "channels": ["email", "sms"]}
PLACES = [("purchase", "web"), ("purchase", "store"), ("delivery", "courier")]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def rate(k, n):
    if n == 0:
        return None, None, None
    p = k / n
    d = 1 + Z * Z / n
    c = (p + Z * Z / (2 * n)) / d
    h = Z / d * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return p, max(0.0, c - h), min(1.0, c + h)


class FunnelFlowTest(unittest.TestCase):
    def setUp(self):
        self.srv = cxdtest.Server(args=["--rate-ip", "0"]).start()
        st, _, out = self.srv.post_json("/v1/surveys", SURVEY)
        self.assertEqual(st, 201, out)

    def tearDown(self):
        self.srv.assert_clean_exit(self)

    def path(self, url):
        return urllib.parse.urlsplit(url).path

    def test_funnel_from_real_flows(self):
        rnd = random.Random(13)
        items = []
        for i in range(90):
            stage, tp = rnd.choice(PLACES)
            items.append({"customer": "c-%d" % i, "stage": stage, "touchpoint": tp,
                          "channel": rnd.choice(["email", "sms"])})
        st, _, out = self.srv.post_json("/v1/surveys/flow/invitations", {"invitations": items})
        self.assertEqual((st, out["minted"]), (200, 90), out)
        want = {}   # (stage, touchpoint, channel) -> [minted, opened, answered, commented]
        for item, inv in zip(items, out["invitations"]):
            key = (item["stage"], item["touchpoint"], item["channel"])
            counts = want.setdefault(key, [0, 0, 0, 0])
            counts[0] += 1
            link = self.path(inv["url"])
            # a mail scanner HEADs every link: never a view
            self.assertEqual(self.srv.request("HEAD", link, auth=False)[0], 200)
            fate = rnd.random()
            if fate < 0.25:
                continue                                   # never opened
            for _ in range(rnd.randint(1, 3)):             # opened, maybe several times
                st, _, page = self.srv.request("GET", link, auth=False)
                self.assertEqual(st, 200, page)
            counts[1] += 1
            if fate < 0.5:
                continue                                   # opened, never answered
            score = rnd.randint(0, 10)
            st, hdrs, _ = self.srv.request("POST", link, body=("score=%d" % score).encode(),
                                           headers=FORM, auth=False)
            self.assertEqual(st, 303)
            counts[2] += 1
            if fate < 0.75:
                continue                                   # answered, no reason given
            body = urllib.parse.urlencode({"score": score, "comment": "reason %d" % score})
            st, _, _ = self.srv.request("POST", link, body=body.encode(), headers=FORM,
                                        auth=False)
            self.assertEqual(st, 303)                      # the edit: still one answer
            counts[3] += 1
        total = [sum(c[i] for c in want.values()) for i in range(4)]
        self.assertTrue(all(total), total)   # every step of the funnel occurs
        # the views go to the writer in the background: wait until they are all in
        deadline = time.monotonic() + 15
        while True:
            st, _, got = self.srv.get("/v1/surveys/flow/funnel?by=stage,touchpoint,channel")
            self.assertEqual(st, 200, got)
            if got["total"]["opened"] == total[1] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        names = ("minted", "opened", "answered", "commented")
        self.assertEqual([got["total"][n] for n in names], total)
        seen = {}
        for g in got["groups"]:
            key = (g["stage"], g["touchpoint"], g["channel"])
            seen[key] = [g[n] for n in names]
            m, o, a, k = seen[key]
            for field, (num, den) in (("open_rate", (o, m)), ("response_rate", (a, m)),
                                      ("comment_rate", (k, a))):
                value, low, high = rate(num, den)
                r = g[field]
                if value is None:
                    self.assertIsNone(r["value"])
                    continue
                for x, y in ((r["value"], value), (r["low"], low), (r["high"], high)):
                    self.assertAlmostEqual(x, y, places=9, msg="%s %s" % (key, field))
        self.assertEqual(seen, want)
        # the answers are responses, one per answered link, with the reasons as comments
        st, _, scores = self.srv.get("/v1/surveys/flow/scores")
        self.assertEqual(st, 200, scores)
        self.assertIn('"n": %d' % total[2], __import__("json").dumps(scores))


if __name__ == "__main__":
    cxdtest.main("funnel_flow")
