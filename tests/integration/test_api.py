"""Integration tests: the real cxd binary on a free port, spoken to over HTTP."""
import datetime as dt
import glob
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
from cxdtest import CXD, DATA, SCHEMA, Server  # noqa: E402
import scoring  # noqa: E402

STAGES = ["awareness", "interest", "consideration", "purchase", "retention", "advocacy"]
TOUCHPOINTS = ["web", "app", "support-call", "delivery"]
CHANNELS = [None, "web", "email", "app"]
SEGMENTS = [None, "new", "returning"]
TODAY = dt.datetime.now(dt.timezone.utc).date()
JSON_ACCEPT = {"Accept": "application/json"}
SCHEMA_VERSION = len(glob.glob(os.path.join(SCHEMA, "[0-9][0-9][0-9]_*.sql")))


def random_response(rng, survey="checkout"):
    r = {"survey": survey, "stage": rng.choice(STAGES), "touchpoint": rng.choice(TOUCHPOINTS)}
    for k, choices in (("channel", CHANNELS), ("segment", SEGMENTS)):
        v = rng.choice(choices)
        if v:
            r[k] = v
    if rng.random() < 0.8:
        r["nps"] = rng.randint(0, 10)
    if rng.random() < 0.6:
        r["csat"] = rng.randint(1, 5)
    if rng.random() < 0.5:
        r["ces"] = rng.randint(1, 7)
    if not any(k in r for k in ("nps", "csat", "ces")) or rng.random() < 0.2:
        r["comment"] = rng.choice(["slow", "great", "ok ✓", "won't come back"])
    day = TODAY - dt.timedelta(days=rng.randint(0, 40))
    r["submitted_at"] = "%sT%02d:%02d:00Z" % (day.isoformat(), rng.randint(0, 23), rng.randint(0, 59))
    return r


def day_of(r):
    return dt.date.fromisoformat(r["submitted_at"][:10])


def bucket_of(r, kind):
    d = day_of(r)
    if kind == "week":
        return (d - dt.timedelta(days=d.weekday())).isoformat()
    if kind == "month":
        return d.replace(day=1).isoformat()
    return d.isoformat()


class ServiceTest(unittest.TestCase):
    """One server for the API tests; each test defines what it needs."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(args=["--body-limit", "64k"]).start()
        st, _, body = cls.srv.post_json("/v1/surveys", {
            "id": "checkout", "title": "Checkout", "thank_you_url": "https://shop.example/thanks"})
        assert st == 201, body
        st, _, body = cls.srv.post_json("/v1/surveys", {
            "id": "onboarding", "title": "Onboarding",
            "stages": ["awareness", "consideration", "decision", "retention"]})
        assert st == 201, body

    @classmethod
    def tearDownClass(cls):
        cls.srv.assert_clean_exit(unittest.TestCase())

    def total(self, survey="checkout"):
        st, _, body = self.srv.get("/v1/surveys/%s/scores" % survey)
        self.assertEqual(st, 200, body)
        return body["groups"][0]["responses"]

    def assert_error(self, result, status, code, field=None):
        st, h, body = result
        self.assertEqual(st, status, body)
        self.assertTrue(h["content-type"].startswith("application/json"), h)
        self.assertEqual(body["error"]["code"], code, body)
        self.assertTrue(body["error"]["message"])
        if field is not None:
            self.assertEqual(body["error"]["field"], field, body)
        return h

    # --- surveys ---

    def test_surveys(self):
        st, _, body = self.srv.get("/v1/surveys/checkout")
        self.assertEqual(st, 200)
        self.assertEqual(body["stages"], STAGES)
        self.assertEqual(body["thank_you_url"], "https://shop.example/thanks")
        st, _, body = self.srv.get("/v1/surveys")
        self.assertIn("onboarding", [s["id"] for s in body["surveys"]])
        self.assert_error(self.srv.post_json("/v1/surveys", {"id": "checkout", "title": "x"}),
                          409, "survey_exists", "id")
        st, _, body = self.srv.request("PUT", "/v1/surveys/temp", body={"title": "Temp", "stages": ["a", "b"]})
        self.assertEqual(st, 201, body)
        st, _, body = self.srv.request("PUT", "/v1/surveys/temp", body={"title": "Temp 2", "stages": ["b", "a"]})
        self.assertEqual(st, 200, body)
        self.assertEqual(self.srv.get("/v1/surveys/temp")[2]["stages"], ["b", "a"])
        self.assert_error(self.srv.get("/v1/surveys/nope"), 404, "unknown_survey")
        self.assert_error(self.srv.post_json("/v1/surveys", {"id": "bad id", "title": "x"}), 422, "invalid_id", "id")
        self.assert_error(self.srv.post_json("/v1/surveys", {"id": "x", "title": "x", "stages": []}),
                          422, "invalid_stages", "stages")
        self.assert_error(self.srv.post_json("/v1/surveys", {"id": "x", "title": "x", "thank_you_url": "ftp://x"}),
                          422, "invalid_url", "thank_you_url")

    # --- responses ---

    def test_json_response(self):
        before = self.total()
        st, h, body = self.srv.post_json("/v1/responses", {
            "survey": "checkout", "stage": "purchase", "touchpoint": "web", "channel": "web",
            "segment": "new", "customer": "c-1", "nps": 10, "csat": 5, "ces": 6,
            "comment": "Quick and easy", "attributes": {"order": "A-17"}})
        self.assertEqual(st, 201, body)
        self.assertIsInstance(body["id"], int)
        self.assertEqual(self.total(), before + 1)

    def test_form_response_redirects(self):
        before = self.total()
        st, h, body = self.srv.post_form("/v1/responses", {
            "survey": "checkout", "stage": "retention", "touchpoint": "app", "nps": "7",
            "csat": "", "comment": "fine, thanks", "attributes[plan]": "pro"})
        self.assertEqual(st, 303, body)
        self.assertEqual(h["location"], "https://shop.example/thanks")
        self.assertEqual(self.total(), before + 1)

    def test_form_without_thank_you_url_gets_a_page(self):
        st, h, body = self.srv.post_form("/v1/responses", {
            "survey": "onboarding", "stage": "decision", "touchpoint": "app", "ces": "3"})
        self.assertEqual(st, 201, body)
        self.assertIn("text/html", h["content-type"])
        self.assertIn("Thank you", body)
        st, h, body = self.srv.post_form("/v1/responses", {
            "survey": "onboarding", "stage": "decision", "touchpoint": "app", "ces": "4"},
            headers={"Accept": "application/json"})
        self.assertEqual(st, 201, body)
        self.assertIsInstance(body["id"], int)

    def test_invalid_cases_over_http_store_nothing(self):
        before = self.total()
        cases = sorted(glob.glob(os.path.join(DATA, "invalid", "*.json")))
        self.assertGreater(len(cases), 40)
        for path in cases:
            with open(path) as f:
                case = json.load(f)
            if not isinstance(case["body"], dict):
                continue   # over HTTP a JSON array is a batch (see test_ingest.py)
            with self.subTest(case=os.path.basename(path)):
                body = case["body"]
                if case["form"]:   # as an API client: a browser gets a page (test_forms.py)
                    res = self.srv.post_form("/v1/responses", body, headers=JSON_ACCEPT)
                else:
                    res = self.srv.post_json("/v1/responses", body)
                self.assert_error(res, 422, case["code"], case["field"])
        self.assertEqual(self.total(), before)

    def test_malformed_json_is_400(self):
        before = self.total()
        for path in sorted(glob.glob(os.path.join(DATA, "malformed", "*"))):
            with open(path, "rb") as f:
                raw = f.read()
            with self.subTest(case=os.path.basename(path)):
                self.assert_error(self.srv.request("POST", "/v1/responses", body=raw,
                                                   headers={"Content-Type": "application/json"}),
                                  400, "invalid_json")
        self.assertEqual(self.total(), before)

    def test_form_encoding_errors(self):
        h = JSON_ACCEPT   # as an API client: a browser gets a page (test_forms.py)
        self.assert_error(self.srv.post_form("/v1/responses", b"survey=checkout&stage=purchase&touchpoint=web&comment=%FF%FE&nps=1", h),
                          422, "invalid_encoding")
        self.assert_error(self.srv.post_form("/v1/responses", b"survey=checkout&survey=checkout&stage=purchase&touchpoint=web&nps=1", h),
                          422, "duplicate_field", "survey")
        many = "&".join("f%d=1" % i for i in range(70)).encode()
        self.assert_error(self.srv.post_form("/v1/responses", many, h), 422, "too_many_fields")
        long_value = b"survey=checkout&stage=purchase&touchpoint=web&nps=1&comment=" + b"a" * 9000
        self.assert_error(self.srv.post_form("/v1/responses", long_value, h), 422, "field_too_long", "comment")

    # --- transport errors ---

    def test_routes_and_methods(self):
        self.assert_error(self.srv.get("/nope"), 404, "not_found")
        self.assert_error(self.srv.get("/v1/surveys/checkout/nope"), 404, "not_found")
        h = self.assert_error(self.srv.request("DELETE", "/v1/responses"), 405, "method_not_allowed")
        self.assertEqual(h["allow"], "POST")
        h = self.assert_error(self.srv.request("PATCH", "/v1/surveys/checkout"), 405, "method_not_allowed")
        self.assertIn("GET", h["allow"])
        self.assertIn("PUT", h["allow"])
        st, h, _ = self.srv.request("OPTIONS", "/v1/surveys")
        self.assertEqual(st, 204)
        self.assertIn("POST", h["allow"])

    def test_paths_that_are_not_utf8(self):
        # Found by tests/fuzz/fuzz_request: an error quoting a non-UTF-8 path had no JSON
        # body and came back as a 500. Escaped or raw, each answer is a JSON error.
        for method, path, status, code in (
                (b"GET", b"/v1/%AA", 404, "not_found"),
                (b"GET", b"/v1/surveys/%FF%FE/scores", 404, "unknown_survey"),
                (b"GET", b"/v1/surveys/\xaa\xbb", 404, "unknown_survey"),
                (b"DELETE", b"/v1/keys/%C0%AF%ED%A0%80x", 404, "not_found"),
                (b"DELETE", b"/v1/responses/%F4%90%80%80/comment", 404, "not_found"),
                (b"GET", b"/v1/surveys/checkout/scores?stage=%E2%82", 422, "invalid_stage")):
            with self.subTest(path=path):
                out = self.srv.raw(method + b" " + path + b" HTTP/1.1\r\nHost: x\r\n" + self.srv.auth_line() +
                                   b"Connection: close\r\n\r\n")
                head, _, body = out.partition(b"\r\n\r\n")
                self.assertTrue(head.startswith(b"HTTP/1.1 %d" % status), head[:80])
                self.assertEqual(json.loads(body)["error"]["code"], code)

    def test_unsupported_media_type(self):
        for ctype in ("text/plain", "application/xml", "multipart/form-data; boundary=x",
                      "application/json; charset=latin1"):
            with self.subTest(ctype=ctype):
                self.assert_error(self.srv.request("POST", "/v1/responses", body=b"{}",
                                                   headers={"Content-Type": ctype}),
                                  415, "unsupported_media_type")
        self.assert_error(self.srv.request("POST", "/v1/responses", body=b"{}"), 415, "unsupported_media_type")
        st, _, _ = self.srv.request("POST", "/v1/responses", body=b'{"survey":"checkout","stage":"purchase","touchpoint":"web","nps":1}',
                                    headers={"Content-Type": "Application/JSON; charset=UTF-8"})
        self.assertEqual(st, 201)

    def test_body_limit_declared(self):
        before = self.total()
        big = json.dumps({"survey": "checkout", "stage": "purchase", "touchpoint": "web",
                          "nps": 1, "comment": "x" * 70000}).encode()
        self.assert_error(self.srv.request("POST", "/v1/responses", body=big,
                                           headers={"Content-Type": "application/json"}),
                          413, "body_too_large")
        self.assertEqual(self.total(), before)

    def test_body_limit_chunked(self):
        """A chunked body has no Content-Length: the limit is counted as it streams."""
        before = self.total()
        c = self.srv.conn()
        c.putrequest("POST", "/v1/surveys")
        c.putheader("Authorization", "Bearer " + self.srv.key)
        c.putheader("Content-Type", "application/json")
        c.putheader("Transfer-Encoding", "chunked")
        c.endheaders()
        chunk = b"x" * 8192
        for _ in range(10):   # 80 KiB in chunks, no Content-Length
            c.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        c.send(b"0\r\n\r\n")
        r = c.getresponse()
        body = json.loads(r.read())
        c.close()
        self.assertEqual(r.status, 413)
        self.assertEqual(body["error"]["code"], "body_too_large")
        self.assertEqual(self.total(), before)

    def test_chunked_within_limit(self):
        body = json.dumps({"survey": "checkout", "stage": "advocacy", "touchpoint": "web", "nps": 10}).encode()
        c = self.srv.conn()
        c.request("POST", "/v1/responses", body=iter([body[:10], body[10:]]),
                  headers=dict(self.srv.auth(), **{"Content-Type": "application/json"}), encode_chunked=True)
        r = c.getresponse()
        self.assertEqual(r.status, 201, r.read())
        c.close()

    def test_garbage_does_not_hurt(self):
        for junk in (b"\x00\x01\x02garbage\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                     b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                     b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                     b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: " + b"b" * 100000 + b"\r\n\r\n"):
            self.srv.raw(junk, read_timeout=2)
        st, _, body = self.srv.get("/healthz")
        self.assertEqual(st, 200)
        self.assertEqual(body["status"], "ok")

    def test_keep_alive_pipelining(self):
        req = (b'POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
               self.srv.auth_line() + b'Content-Length: %d\r\n\r\n%s')
        body = b'{"survey":"checkout","stage":"interest","touchpoint":"web","csat":3}'
        out = self.srv.raw((req % (len(body), body)) * 3 + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(out.count(b"HTTP/1.1 201"), 3, out)
        self.assertEqual(out.count(b"HTTP/1.1 200"), 1, out)

    # --- scores ---

    def test_scores_match_independent_computation(self):
        self.srv.post_json("/v1/surveys", {"id": "scored", "title": "Scored"})
        rng = random.Random(20261123)
        rows = []
        for i in range(800):
            r = random_response(rng, "scored")
            if i % 3 == 0:   # a third as HTML forms
                fields = {k: str(v) for k, v in r.items()}
                st, _, body = self.srv.post_form("/v1/responses", fields, headers={"Accept": "application/json"})
            else:
                st, _, body = self.srv.post_json("/v1/responses", r)
            self.assertEqual(st, 201, body)
            rows.append(r)

        dims = ["stage", "touchpoint", "channel", "segment"]
        queries = [("", None), ("stage", None), ("stage,touchpoint", None), ("channel,segment", None),
                   ("touchpoint", "week"), ("stage", "day"), ("segment", "month"), ("", "week")]
        frm = (TODAY - dt.timedelta(days=20)).isoformat()
        to = (TODAY - dt.timedelta(days=3)).isoformat()
        for by_dims, bucket in queries:
            # a range holding whole months reads them from the monthly rollups and its
            # edges from the daily ones: both must add up to the same as the rows
            wide = {"from": (TODAY - dt.timedelta(days=70)).isoformat(),
                    "to": (TODAY + dt.timedelta(days=1)).isoformat()}
            for filt in ({}, {"stage": "purchase"}, {"touchpoint": "web", "from": frm, "to": to},
                         {"channel": "email", "segment": "new"}, wide, dict(wide, stage="retention")):
                by = ",".join(x for x in (by_dims, bucket) if x)
                qs = "&".join(["by=" + by] if by else [] + []) + "".join("&%s=%s" % kv for kv in filt.items())
                with self.subTest(by=by, filt=filt):
                    st, _, body = self.srv.get("/v1/surveys/scored/scores?" + qs.lstrip("&"))
                    self.assertEqual(st, 200, body)
                    self.check_groups(rows, body, [d for d in dims if d in by_dims.split(",")], bucket, filt)

    def check_groups(self, rows, body, gdims, bucket, filt):
        lo, hi = filt.get("from"), filt.get("to")
        if bucket:   # a trend covers [from, to): by default the 30 days up to today
            hi = hi or (TODAY + dt.timedelta(days=1)).isoformat()
            lo = lo or (dt.date.fromisoformat(hi) - dt.timedelta(days=30)).isoformat()

        def keep(r):
            if lo and day_of(r).isoformat() < lo:
                return False
            if hi and day_of(r).isoformat() >= hi:
                return False
            return all(r.get(k) == v for k, v in filt.items() if k not in ("from", "to"))

        expect = {}
        for r in filter(keep, rows):
            key = tuple(r.get(d) for d in gdims) + ((bucket_of(r, bucket),) if bucket else ())
            expect.setdefault(key, []).append(r)
        # the journey map's touchpoints are listed answered or not (n = 0)
        mapped = set()
        if "touchpoint" in gdims and not {"channel", "segment"} & set(gdims):
            for stage, tps in self.srv.get("/v1/surveys/scored")[2]["touchpoints"].items():
                for tp in tps:
                    if filt.get("stage", stage) == stage and filt.get("touchpoint", tp) == tp:
                        mapped.add(tuple(stage if d == "stage" else tp for d in gdims))
        if not bucket:
            for key in mapped:
                expect.setdefault(key, [])
        if bucket:   # no holes: every series gets every bucket of the range
            series = ({k[:-1] for k in expect} | mapped) or ({()} if not gdims else set())
            b = dt.date.fromisoformat(bucket_of({"submitted_at": lo + "T00:00:00Z"}, bucket))
            while b.isoformat() < hi:
                for sk in series:
                    expect.setdefault(sk + (b.isoformat(),), [])
                b = (b + dt.timedelta(days=1 if bucket == "day" else 7) if bucket != "month"
                     else (b.replace(day=28) + dt.timedelta(days=4)).replace(day=1))
        got = {}
        for g in body["groups"]:
            key = tuple(g["group"][d] for d in gdims) + ((g["group"][bucket],) if bucket else ())
            self.assertNotIn(key, got, "group listed twice")
            got[key] = g
        if not gdims and not bucket:
            expect.setdefault((), [])
        if gdims == ["stage"] and not bucket and "stage" not in filt:
            for s in STAGES:
                expect.setdefault((s,), [])
        self.assertEqual(sorted(map(str, got)), sorted(map(str, expect)))
        for key, grp in expect.items():
            want = scoring.group_scores(grp)
            have = {k: got[key][k] for k in ("responses", "nps", "csat", "ces")}
            self.assertTrue(scoring.close(have, want), "group %s:\n have %s\n want %s" % (key, have, want))
        if "stage" in gdims:   # journey order
            order = [STAGES.index(g["group"]["stage"]) for g in body["groups"]]
            self.assertEqual(order, sorted(order))
        if bucket:           # each series in time order
            for sk in {k[:-1] for k in got}:
                times = [g["group"][bucket] for g in body["groups"]
                         if tuple(g["group"][d] for d in gdims) == sk]
                self.assertEqual(times, sorted(times))

    def test_trends_in_a_time_zone(self):
        """tz shifts the bucket boundaries to local midnight (read from the quarter-hour
        rollups); checked against the same rows bucketed in Python."""
        self.srv.post_json("/v1/surveys", {"id": "tzs", "title": "Time zones"})
        rng = random.Random(77)
        rows = [random_response(rng, "tzs") for _ in range(400)]
        for r in rows:   # minutes spread over the whole hour, so quarter boundaries matter
            r["submitted_at"] = r["submitted_at"][:14] + "%02d:%02dZ" % (rng.randint(0, 59), rng.randint(0, 59))
        st, _, body = self.srv.post_json("/v1/responses", rows)
        self.assertEqual(st, 201, body)
        frm = (TODAY - dt.timedelta(days=35)).isoformat()
        to = (TODAY + dt.timedelta(days=1)).isoformat()
        for tz, minutes in (("%2B03:00", 180), ("-05:30", -330), ("%2B05:45", 345), ("Z", 0)):
            for bucket in ("day", "week", "month"):
                with self.subTest(tz=tz, bucket=bucket):
                    st, _, body = self.srv.get("/v1/surveys/tzs/scores?by=stage,%s&from=%s&to=%s&tz=%s"
                                               % (bucket, frm, to, tz))
                    self.assertEqual(st, 200, body)
                    local = []
                    for r in rows:
                        t = dt.datetime.fromisoformat(r["submitted_at"].replace("Z", "+00:00"))
                        d = (t + dt.timedelta(minutes=minutes)).date()
                        if frm <= d.isoformat() < to:
                            local.append(dict(r, submitted_at=d.isoformat() + "T00:00:00Z"))
                    self.check_groups(local, body, ["stage"], bucket, {"from": frm, "to": to})

    def test_scores_parameters(self):
        base = "/v1/surveys/checkout/scores"
        self.assert_error(self.srv.get("/v1/surveys/none/scores"), 404, "unknown_survey")
        self.assert_error(self.srv.get(base + "?by=stage,day,week"), 422, "invalid_by", "by")
        self.assert_error(self.srv.get(base + "?by=color"), 422, "invalid_by", "by")
        self.assert_error(self.srv.get(base + "?by=stage,stage"), 422, "invalid_by", "by")
        self.assert_error(self.srv.get(base + "?from=yesterday"), 422, "invalid_time", "from")
        self.assert_error(self.srv.get(base + "?from=2026-01-02&to=2026-01-01"), 422, "invalid_range")
        self.assert_error(self.srv.get(base + "?stage=checkout"), 422, "invalid_stage", "stage")
        self.assert_error(self.srv.get(base + "?touchpoint=%3Cx%3E"), 422, "invalid_label", "touchpoint")
        self.assert_error(self.srv.get(base + "?colour=red"), 422, "unknown_parameter", "colour")
        for tz in ("%2B03:10", "%2B15:00", "03:00", "UTC", "%2B3:00"):
            self.assert_error(self.srv.get(base + "?by=day&tz=" + tz), 422, "invalid_tz", "tz")
        self.assert_error(self.srv.get(base + "?by=day&from=2020-01-01&to=2023-01-01"), 422, "too_many_buckets", "by")
        st, _, body = self.srv.get(base + "?by=day&from=2020-01-01&to=2022-09-27")   # exactly 1000 days
        self.assertEqual((st, len(body["groups"])), (200, 1000))
        # weeks start on Monday; empty buckets are listed with null scores
        st, _, body = self.srv.get("/v1/surveys/onboarding/scores?by=week&from=2000-01-05&to=2000-01-20")
        self.assertEqual([g["group"]["week"] for g in body["groups"]], ["2000-01-03", "2000-01-10", "2000-01-17"])
        self.assertTrue(all(g["responses"] == 0 and g["nps"] is None for g in body["groups"]))
        st, _, body = self.srv.get("/v1/surveys/onboarding/scores?by=stage,week&from=2000-01-05&to=2000-01-20")
        self.assertEqual((st, body["groups"]), (200, []))   # no series: nothing to fill
        st, _, body = self.srv.get("/v1/surveys/onboarding/scores?by=month&from=2000-01-15&to=2000-03-02")
        self.assertEqual([g["group"]["month"] for g in body["groups"]], ["2000-01-01", "2000-02-01", "2000-03-01"])
        st, _, body = self.srv.get("/v1/surveys/onboarding/scores?by=stage&from=2000-01-01&to=2000-01-02")
        self.assertEqual(st, 200)
        self.assertEqual([g["group"]["stage"] for g in body["groups"]],
                         ["awareness", "consideration", "decision", "retention"])
        for g in body["groups"]:
            self.assertEqual(g["responses"], 0)
            self.assertIsNone(g["nps"])
            self.assertIsNone(g["csat"])
            self.assertIsNone(g["ces"])

    # --- concurrency and operations ---

    def test_concurrent_posts_all_acknowledged(self):
        self.srv.post_json("/v1/surveys", {"id": "load", "title": "Load"})
        ids, errors = [], []
        lock = threading.Lock()

        def worker(seed):
            rng = random.Random(seed)
            c = self.srv.conn()
            for _ in range(40):
                st, _, body = self.srv.post_json("/v1/responses", random_response(rng, "load"), conn=c)
                with lock:
                    (ids.append(body["id"]) if st == 201 else errors.append((st, body)))
            c.close()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(len(set(ids)), 640)
        self.assertEqual(self.total("load"), 640)

    def test_metrics(self):
        import re as _re

        def scrape():
            st, h, text = self.srv.get("/metrics")
            self.assertEqual(st, 200)
            self.assertTrue(h["content-type"].startswith("text/plain; version=0.0.4"))
            return {m.group(1): float(m.group(2))
                    for m in _re.finditer(r"^(cxd_[^ {]+(?:\{[^}]*\})?) (\S+)$", text, _re.M)}

        before = scrape()
        self.srv.post_json("/v1/responses", {"survey": "checkout", "stage": "purchase", "touchpoint": "web", "nps": 4})
        self.srv.request("GET", "/v1/surveys", auth=False)            # a 401
        time.sleep(0.1)   # a request is counted when it completes, just after its answer
        after = scrape()
        key = 'cxd_requests_total{route="POST /v1/responses",status="2xx"}'
        self.assertEqual(after[key] - before.get(key, 0), 1)
        self.assertEqual(after['cxd_rejected_total{reason="unauthorized"}'] -
                         before['cxd_rejected_total{reason="unauthorized"}'], 1)
        self.assertGreaterEqual(after["cxd_commit_batch_size_count"], before["cxd_commit_batch_size_count"] + 1)
        self.assertGreater(after["cxd_database_bytes"], 0)
        self.assertIn("cxd_write_queue_depth", after)
        self.assertGreater(after['cxd_request_duration_seconds_bucket{le="+Inf"}'], 0)
        self.assertEqual(self.srv.request("GET", "/metrics", auth=False)[0], 401)

    def access_lines(self, since, pattern, timeout=2.0):
        """The access-log lines matching `pattern` written after offset `since` of cxd's
        stderr (the line is written once the reply is done: wait for it)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = re.findall(pattern, self.srv.stderr()[since:])
            if lines or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)

    def test_health_and_access_log(self):
        """Only lines this test's own requests wrote count: the log is read from where it
        stood before them, and the 404 goes to a path no other request uses. Mutations
        tried: cx_log_access logging /healthz only once (earlier tests' lines made the old
        check pass; now "no access line"), and logging 0 bytes (the old check took any
        number; now the byte count must be the reply's Content-Length). An earlier test's
        last line may still be on its way (a line is written just after its reply: seen
        once, test_garbage_does_not_hurt's /healthz landing after `since`), so the log must
        be still for 200 ms before the offset is taken."""
        since, still = len(self.srv.stderr()), time.monotonic()
        deadline = still + 5
        while time.monotonic() - still < 0.2 and time.monotonic() < deadline:
            time.sleep(0.05)
            now = len(self.srv.stderr())
            if now != since:
                since, still = now, time.monotonic()
        st, h, body = self.srv.get("/healthz")
        self.assertEqual(st, 200)
        self.assertEqual(body["schema_version"], SCHEMA_VERSION)
        lines = self.access_lines(since, r"access GET /healthz (\d+) (\d+) \d+us")
        self.assertEqual(lines, [("200", h["content-length"])], "no access line for this request")
        marker = "/no-such-page-%d" % time.monotonic_ns()
        st, h, _ = self.srv.get(marker)
        self.assertEqual(st, 404)
        lines = self.access_lines(since, r"access GET %s (\d+) (\d+) \d+us" % re.escape(marker))
        self.assertEqual(lines, [("404", h["content-length"])], "no access line for " + marker)


class LifecycleTest(unittest.TestCase):
    """Command line, restarts, crashes and upgrades: each with its own server."""

    def run_cxd(self, *args, env=None):
        return subprocess.run([CXD, *args], capture_output=True, text=True, timeout=30,
                              env=dict(os.environ, **(env or {})))

    def test_help_version_and_bad_flags(self):
        r = self.run_cxd("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--listen", r.stdout)
        self.assertIn("CXD_DB", r.stdout)
        r = self.run_cxd("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^cxd \d+\.\d+\.\d+\n$")
        for args in (["--frobnicate"], ["--threads", "zero"], ["--body-limit", "1"], ["extra"]):
            r = self.run_cxd(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        r = self.run_cxd(env={"CXD_MAX_CONNECTIONS": "lots"})
        self.assertEqual(r.returncode, 2)
        self.assertIn("CXD_MAX_CONNECTIONS", r.stderr)

    def test_unopenable_database(self):
        r = self.run_cxd("--db", "/nonexistent/dir/cx.db", "--listen", "127.0.0.1:0")
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent/dir/cx.db", r.stderr)
        srv = Server()
        with open(srv.db, "w") as f:
            f.write("not a database " * 20)
        r = self.run_cxd("--db", srv.db, "--listen", "127.0.0.1:0")
        self.assertEqual(r.returncode, 1)
        self.assertIn(srv.db, r.stderr)

    def test_port_in_use(self):
        a = Server().start()
        r = self.run_cxd("--db", os.path.join(a.tmp, "other.db"), "--listen", "127.0.0.1:%d" % a.port)
        self.assertEqual(r.returncode, 1)
        self.assertIn(str(a.port), r.stderr)
        a.assert_clean_exit(self)

    def post_many(self, srv, n, survey="keep", seed=1):
        rng = random.Random(seed)
        c = srv.conn()
        acked = []
        for _ in range(n):
            st, _, body = srv.post_json("/v1/responses", random_response(rng, survey), conn=c)
            if st == 201:
                acked.append(body["id"])
        c.close()
        return acked

    def count(self, srv, survey="keep"):
        return srv.get("/v1/surveys/%s/scores" % survey)[2]["groups"][0]["responses"]

    def test_restart_keeps_every_acknowledged_response(self):
        srv = Server().start()
        srv.post_json("/v1/surveys", {"id": "keep", "title": "Keep"})
        acked = self.post_many(srv, 300)
        self.assertEqual(len(acked), 300)
        srv.assert_clean_exit(self)
        srv2 = Server(db=srv.db, tmp=srv.tmp, key=srv.key).start()
        self.assertEqual(self.count(srv2), 300)
        self.assertEqual(srv2.get("/v1/surveys/keep")[0], 200)
        srv2.assert_clean_exit(self)

    def test_sigkill_loses_nothing_acknowledged(self):
        srv = Server().start()
        srv.post_json("/v1/surveys", {"id": "keep", "title": "Keep"})
        acked, stop = [], threading.Event()

        def writer(seed):
            rng = random.Random(seed)
            c = srv.conn(timeout=5)
            while not stop.is_set():
                try:
                    st, _, body = srv.post_json("/v1/responses", random_response(rng, "keep"), conn=c)
                except Exception:
                    return
                if st == 201:
                    acked.append(body["id"])

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        srv.proc.kill()          # SIGKILL mid-load
        srv.proc.wait()
        stop.set()
        for t in threads:
            t.join()
        self.assertGreater(len(acked), 50)
        srv2 = Server(db=srv.db, tmp=srv.tmp, key=srv.key).start()
        self.assertGreaterEqual(self.count(srv2), len(acked))
        # every acknowledged id exists as a row (read the file directly, read-only)
        db = sqlite3.connect("file:%s?mode=ro" % srv.db, uri=True)
        have = {r[0] for r in db.execute("SELECT id FROM responses")}
        rolled = db.execute("SELECT sum(responses) FROM rollups").fetchone()[0]
        db.close()
        self.assertEqual(set(acked) - have, set())
        self.assertEqual(rolled, len(have))   # rollups agree with the rows
        srv2.assert_clean_exit(self)

    def test_upgrade_from_schema_1(self):
        """A database written by a build that only had 001_init is upgraded in place."""
        srv = Server()
        db = sqlite3.connect(srv.db)
        with open(os.path.join(SCHEMA, "001_init.sql")) as f:
            db.executescript(f.read())
        db.executescript("""
            CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL);
            INSERT INTO schema_migrations VALUES (1, 'init', 1700000000);
            INSERT INTO surveys VALUES ('old', 'Old', '["awareness","purchase"]', NULL, 1700000000, 1700000000);
        """)
        rows = [("purchase", "web", 10, 5, None), ("purchase", "web", 2, None, 3), ("awareness", "ad", None, 4, 6)]
        for i, (stage, tp, n, c, e) in enumerate(rows):
            db.execute("INSERT INTO responses(survey, stage, touchpoint, nps, csat, ces, submitted_at, received_at) "
                       "VALUES ('old', ?, ?, ?, ?, ?, ?, ?)", (stage, tp, n, c, e, 1790000000 + i, 1790000000000))
        db.commit()
        db.close()
        srv.start()
        self.assertIn("applied migration 002_rollups", srv.stderr())
        self.assertEqual(srv.get("/healthz")[2]["schema_version"], SCHEMA_VERSION)
        st, _, body = srv.get("/v1/surveys/old/scores?by=stage")
        self.assertEqual(st, 200, body)
        groups = {g["group"]["stage"]: g for g in body["groups"]}
        self.assertEqual(groups["purchase"]["responses"], 2)
        self.assertEqual(groups["purchase"]["nps"]["score"], 0.0)
        self.assertEqual(groups["awareness"]["ces"]["mean"], 6.0)
        self.assertEqual([g["group"]["stage"] for g in body["groups"]], ["awareness", "purchase"])
        srv.assert_clean_exit(self)

    def test_sigterm_finishes_in_flight_requests(self):
        srv = Server().start()
        srv.post_json("/v1/surveys", {"id": "keep", "title": "Keep"})
        body = json.dumps({"survey": "keep", "stage": "purchase", "touchpoint": "web", "nps": 8}).encode()
        c = srv.conn()
        c.putrequest("POST", "/v1/responses")
        c.putheader("Authorization", "Bearer " + srv.key)
        c.putheader("Content-Type", "application/json")
        c.putheader("Content-Length", str(len(body)))
        c.endheaders()
        c.send(body[:20])          # the request is in flight...
        time.sleep(0.3)
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        c.send(body[20:])          # ...and still completes after SIGTERM
        r = c.getresponse()
        self.assertEqual(r.status, 201, r.read())
        c.close()
        self.assertEqual(srv.proc.wait(timeout=15), 0)
        self.assertIn("stopped cleanly", srv.stderr())
        with self.assertRaises(OSError):   # and nothing new is accepted
            srv.get("/healthz")
        srv2 = Server(db=srv.db, tmp=srv.tmp, key=srv.key).start()
        self.assertEqual(self.count(srv2), 1)
        srv2.assert_clean_exit(self)

    def test_locked_database_is_503_then_recovers(self):
        srv = Server().start()
        srv.post_json("/v1/surveys", {"id": "keep", "title": "Keep"})
        resp = {"survey": "keep", "stage": "purchase", "touchpoint": "web", "nps": 8}
        lock = sqlite3.connect(srv.db, timeout=1, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")   # another process holds the write lock
        st, h, body = srv.post_json("/v1/responses", resp)
        self.assertEqual(st, 503, body)
        self.assertEqual(body["error"]["code"], "storage_unavailable")
        self.assertEqual(h["retry-after"], "1")
        st, _, body = srv.get("/v1/surveys/keep/scores")   # reads keep working
        self.assertEqual(st, 200)
        lock.execute("ROLLBACK")
        lock.close()
        st, _, body = srv.post_json("/v1/responses", resp)
        self.assertEqual(st, 201, body)
        self.assertEqual(self.count(srv), 1)   # the refused one was not stored
        srv.assert_clean_exit(self)

    def test_newer_schema_is_refused(self):
        srv = Server()
        db = sqlite3.connect(srv.db)
        db.executescript("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL);"
                         "INSERT INTO schema_migrations VALUES (99, 'future', 0);")
        db.close()
        r = subprocess.run([CXD, "--db", srv.db, "--listen", "127.0.0.1:0"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("newer", r.stderr)

    def test_connection_limit_and_timeout(self):
        """--max-connections 4: a fifth client waits (in the kernel's backlog) until
        --timeout closes the idle ones, then it is served."""
        import socket
        srv = Server(args=["--max-connections", "4", "--timeout", "2"]).start()
        idle = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(4)]
        time.sleep(0.3)
        fifth = srv.conn(timeout=0.8)
        with self.assertRaises(socket.timeout):
            fifth.request("GET", "/healthz")
            fifth.getresponse()
        fifth.close()
        time.sleep(2.5)   # the idle four are closed after --timeout 2
        for s in idle:
            self.assertEqual(s.recv(1), b"")
            s.close()
        st, _, _ = srv.get("/healthz")
        self.assertEqual(st, 200)
        srv.assert_clean_exit(self)

if __name__ == "__main__":
    cxdtest.main("integration")
