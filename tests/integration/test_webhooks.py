"""Webhook endpoints and the delivery worker (issue 12), against a real receiver.

The receiver is Python's http.server on 127.0.0.1 in a thread; it checks every signature
itself, by the Standard Webhooks rules (HMAC-SHA256 of "id.timestamp.body" with the
base64-decoded whsec_ key, base64 again), with nothing from cxd's C code. Each test gives
its endpoint a path of its own and a script of answers (500, 429 + Retry-After, 410, a
hang, a redirect, a huge body), then watches what arrives and what the API reports.
Deliveries are queued with POST /v1/endpoints/ID/test (a `webhook.test` event).
"""
import base64
import hashlib
import hmac
import http.server
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
from cxdtest import Server  # noqa: E402

SCHEDULE = "200ms,400ms,2s"   # dead after 4 attempts, about 2.6 s
FLAGS = ["--webhook-allow-private", "--webhook-allow-http", "--webhook-retry-schedule", SCHEDULE,
         "--webhook-timeout", "2", "--no-access-log"]


def verify(secret, msg_id, ts, body, header):
    """The Standard Webhooks check: True if any v1 signature of header matches secret."""
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, b"%s.%s.%s" % (msg_id.encode(), ts.encode(), body), hashlib.sha256)
    want = base64.b64encode(mac.digest()).decode()
    return any(s.startswith("v1,") and hmac.compare_digest(s[3:], want) for s in header.split(" "))


class Receiver:
    """Records every request; answers each path by its script (a list of actions, the last
    one repeated): an int status, ("retry_after", status, value), ("hang", seconds),
    ("redirect", location), ("huge", bytes)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.got = []            # (path, headers dict lower-case, body, time)
        self.scripts = {}
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with rec.lock:
                    rec.got.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                                    time.monotonic()))
                    script = rec.scripts.setdefault(self.path, [200])
                    act = script.pop(0) if len(script) > 1 else script[0]
                try:
                    self.act(act)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def act(self, act):
                if isinstance(act, int):
                    self.send_response(act)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                elif act[0] == "retry_after":
                    self.send_response(act[1])
                    self.send_header("Retry-After", act[2])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif act[0] == "hang":
                    time.sleep(act[1])
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif act[0] == "redirect":
                    self.send_response(302)
                    self.send_header("Location", act[1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif act[0] == "huge":
                    self.send_response(200)
                    self.send_header("Content-Length", str(act[1]))
                    self.end_headers()
                    chunk = b"x" * 65536
                    for _ in range(act[1] // len(chunk)):
                        self.wfile.write(chunk)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def script(self, path, actions):
        with self.lock:
            self.scripts[path] = list(actions)

    def requests(self, path):
        with self.lock:
            return [g for g in self.got if g[0] == path]

    def wait(self, path, n, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.requests(path)
            if len(r) >= n:
                return r
            time.sleep(0.02)
        return self.requests(path)


class WebhookTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rx = Receiver()
        cls.srv = Server(args=FLAGS).start()

    @classmethod
    def tearDownClass(cls):
        cls.rx.httpd.shutdown()
        cls.srv.assert_clean_exit(unittest.TestCase())

    def endpoint(self, eid, path, **extra):
        body = {"id": eid, "url": self.rx.url(path), "events": ["webhook.test"]}
        body.update(extra)
        st, _, ep = self.srv.post_json("/v1/endpoints", body)
        self.assertEqual(st, 201, ep)
        self.assertTrue(ep["secret"].startswith("whsec_"))
        return ep

    def send_test(self, eid):
        st, _, d = self.srv.post_json("/v1/endpoints/%s/test" % eid, None)
        self.assertEqual(st, 201, d)
        return d

    def delivery(self, did):
        st, _, d = self.srv.get("/v1/deliveries/%d" % did)
        self.assertEqual(st, 200, d)
        return d

    def wait_state(self, did, state, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            d = self.delivery(did)
            if d["state"] == state:
                return d
            time.sleep(0.05)
        self.fail("delivery %d not %s: %r" % (did, state, d))

    def test_delivered_once_with_signed_headers(self):
        ep = self.endpoint("once", "/once")
        d = self.send_test("once")
        self.assertEqual((d["state"], d["type"], d["endpoint"]), ("pending", "webhook.test", "once"))
        got = self.rx.wait("/once", 1)
        self.assertEqual(len(got), 1)
        _, h, body, _ = got[0]
        self.assertEqual(h["webhook-id"], d["webhook_id"])
        self.assertTrue(h["webhook-id"].startswith("msg_"))
        self.assertLess(abs(int(h["webhook-timestamp"]) - time.time()), 10)
        self.assertTrue(verify(ep["secret"], h["webhook-id"], h["webhook-timestamp"], body,
                               h["webhook-signature"]), h)
        self.assertEqual(h["content-type"], "application/json")
        self.assertTrue(h["user-agent"].startswith("cxd/"), h)
        ev = json.loads(body)
        self.assertEqual(ev["type"], "webhook.test")
        self.assertRegex(ev["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(ev["data"]["endpoint"], "once")
        d = self.wait_state(d["id"], "delivered")
        self.assertEqual([(a["n"], a["status"], a["error"]) for a in d["attempts"]], [(1, 200, None)])
        self.assertEqual(d["payload"], body.decode())
        time.sleep(0.5)
        self.assertEqual(len(self.rx.requests("/once")), 1, "delivered twice")
        st, _, e = self.srv.get("/v1/endpoints/once")
        self.assertEqual((e["health"]["delivered"], e["health"]["pending"], e["health"]["failing"]),
                         (1, 0, False))
        self.assertNotIn("secret", e)

    def test_a_burst_is_sent_once_each_while_its_records_wait(self):
        """Issue 14: finished attempts are recorded together, up to 20 ms later; meanwhile
        their rows still say pending, and no look may send them again (mutation tried:
        without the check of the attempts not yet recorded, deliveries arrive twice)."""
        self.endpoint("burst", "/burst")
        ids = {self.send_test("burst")["webhook_id"] for _ in range(150)}
        got = self.rx.wait("/burst", 150)
        time.sleep(0.5)
        got = self.rx.requests("/burst")
        self.assertEqual(sorted(g[1]["webhook-id"] for g in got), sorted(ids))
        st, _, e = self.srv.get("/v1/endpoints/burst")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and e["health"]["delivered"] < 150:
            time.sleep(0.05)
            st, _, e = self.srv.get("/v1/endpoints/burst")
        self.assertEqual((e["health"]["delivered"], e["health"]["pending"]), (150, 0))

    def test_500_then_200_is_retried_with_the_same_id(self):
        self.endpoint("flaky", "/flaky")
        self.rx.script("/flaky", [500, 200])
        d = self.send_test("flaky")
        got = self.rx.wait("/flaky", 2)
        self.assertEqual(len(got), 2)
        self.assertEqual(got[0][1]["webhook-id"], got[1][1]["webhook-id"])
        self.assertGreaterEqual(got[1][3] - got[0][3], 0.15)   # 200 ms -20%
        d = self.wait_state(d["id"], "delivered")
        self.assertEqual([a["status"] for a in d["attempts"]], [500, 200])
        self.assertIn("HTTP 500", d["attempts"][0]["error"])

    def test_retry_after_is_honoured(self):
        self.endpoint("busy", "/busy")
        self.rx.script("/busy", [("retry_after", 429, "1"), 200])
        d = self.send_test("busy")
        got = self.rx.wait("/busy", 2)
        self.assertEqual(len(got), 2)
        self.assertGreaterEqual(got[1][3] - got[0][3], 0.95)   # not the schedule's 200 ms
        self.wait_state(d["id"], "delivered")

    def test_410_disables_the_endpoint(self):
        """A 410 disables the endpoint; events that happen meanwhile are still queued (held,
        not sent) and go out on resume: nothing is lost to a receiver's mistaken 410.
        Mutation: leaving disabled endpoints out of the subscriber lookup (as before)."""
        self.srv.post_json("/v1/surveys", {"id": "gone-s", "title": "t", "touchpoints": {"purchase": ["web"]}})
        self.endpoint("gone", "/gone", events=["webhook.test", "response.created"], surveys=["gone-s"])
        self.rx.script("/gone", [410, 200])
        d = self.send_test("gone")
        self.rx.wait("/gone", 1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            e = self.srv.get("/v1/endpoints/gone")[2]
            if e["state"] == "disabled":
                break
            time.sleep(0.05)
        self.assertEqual(e["state"], "disabled")
        self.assertIn("410", e["state_reason"])
        time.sleep(0.8)
        self.assertEqual(len(self.rx.requests("/gone")), 1, "sent to a disabled endpoint")
        self.assertEqual(self.delivery(d["id"])["state"], "pending")
        st, _, err = self.srv.post_json("/v1/endpoints/gone/test", None)
        self.assertEqual((st, err["error"]["code"]), (409, "endpoint_disabled"))
        st, _, r = self.srv.post_json("/v1/responses", {"survey": "gone-s", "stage": "purchase",
                                                         "touchpoint": "web", "nps": 3})
        self.assertEqual(st, 201, r)
        time.sleep(0.5)
        self.assertEqual(len(self.rx.requests("/gone")), 1, "sent to a disabled endpoint")
        self.rx.script("/gone", [200, 200])
        st, _, e = self.srv.post_json("/v1/endpoints/gone/resume", None)
        self.assertEqual((st, e["state"], e["state_reason"]), (200, "active", None))
        self.wait_state(d["id"], "delivered")
        self.rx.wait("/gone", 3)
        self.assertEqual(len(self.rx.requests("/gone")), 3)   # the 410, then both held events
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self.srv.get("/v1/endpoints/gone")[2]["health"]["pending"]:
            time.sleep(0.05)
        st, _, page = self.srv.get("/v1/endpoints/gone/deliveries?state=delivered")
        self.assertEqual(sorted(x["type"] for x in page["deliveries"]), ["response.created", "webhook.test"])
        self.assertEqual([x["response_id"] for x in page["deliveries"] if x["type"] == "response.created"],
                         [r["id"]])

    def test_a_hanging_receiver_times_out_and_blocks_no_one(self):
        self.endpoint("hang", "/hang")
        self.endpoint("quick", "/quick")
        self.rx.script("/hang", [("hang", 4)])
        hung = [self.send_test("hang") for _ in range(6)]
        self.rx.wait("/hang", 4)
        t0 = time.monotonic()
        q = self.send_test("quick")
        self.rx.wait("/quick", 1, timeout=2)
        self.assertEqual(len(self.rx.requests("/quick")), 1)
        self.assertLess(time.monotonic() - t0, 1.5)
        self.wait_state(q["id"], "delivered", timeout=2)
        time.sleep(0.3)
        self.assertEqual(len(self.rx.requests("/hang")), 4, "more than 4 in flight to one endpoint")
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            d = self.delivery(hung[0]["id"])
            if d["attempts"]:
                break
            time.sleep(0.1)
        self.assertIsNone(d["attempts"][0]["status"])
        self.assertIn("timed out", d["attempts"][0]["error"])
        self.assertLess(d["attempts"][0]["duration_ms"], 3500)
        self.srv.post_json("/v1/endpoints/hang/pause", None)

    def test_redirect_is_not_followed(self):
        self.endpoint("redir", "/redir")
        self.rx.script("/redir", [("redirect", self.rx.url("/target"))])
        d = self.send_test("redir")
        self.rx.wait("/redir", 1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not self.delivery(d["id"])["attempts"]:
            time.sleep(0.05)
        d = self.delivery(d["id"])
        self.assertEqual(d["attempts"][0]["status"], 302)
        self.assertIn("redirect", d["attempts"][0]["error"])
        self.assertEqual(self.rx.requests("/target"), [])
        self.srv.post_json("/v1/endpoints/redir/pause", None)

    def test_a_huge_answer_is_not_read_whole(self):
        self.endpoint("huge", "/huge")
        self.rx.script("/huge", [("huge", 64 << 20)])
        before = cxdtest.rss_kb(self.srv.proc.pid)
        d = self.send_test("huge")
        d = self.wait_state(d["id"], "delivered")
        self.assertEqual(d["attempts"][0]["status"], 200)
        self.assertLess(cxdtest.rss_kb(self.srv.proc.pid) - before, 16 * 1024)

    def test_rotation_signs_with_both_secrets_during_the_overlap(self):
        old = "whsec_" + base64.b64encode(b"k" * 32).decode()
        self.endpoint("rot", "/rot", secret=old)
        st, _, r = self.srv.post_json("/v1/endpoints/rot/rotate", {"overlap_s": 2})
        self.assertEqual(st, 200, r)
        new = r["secret"]
        self.assertNotEqual(new, old)
        self.assertAlmostEqual(r["previous_valid_until"], time.time() + 2, delta=2)
        self.assertIsNotNone(self.srv.get("/v1/endpoints/rot")[2]["secret_rotating_until"])
        self.send_test("rot")
        _, h, body, _ = self.rx.wait("/rot", 1)[0]
        sigs = h["webhook-signature"].split(" ")
        self.assertEqual(len(sigs), 2)
        for s in (old, new):
            self.assertTrue(verify(s, h["webhook-id"], h["webhook-timestamp"], body, h["webhook-signature"]))
        self.assertTrue(verify(new, h["webhook-id"], h["webhook-timestamp"], body, sigs[0]))
        time.sleep(3.1)
        self.send_test("rot")
        _, h, body, _ = self.rx.wait("/rot", 2)[1]
        self.assertEqual(len(h["webhook-signature"].split(" ")), 1)
        self.assertTrue(verify(new, h["webhook-id"], h["webhook-timestamp"], body, h["webhook-signature"]))
        self.assertFalse(verify(old, h["webhook-id"], h["webhook-timestamp"], body, h["webhook-signature"]))
        self.assertIsNone(self.srv.get("/v1/endpoints/rot")[2]["secret_rotating_until"])

    def test_pause_holds_and_resume_sends(self):
        self.endpoint("pz", "/pz")
        st, _, e = self.srv.post_json("/v1/endpoints/pz/pause", None)
        self.assertEqual((st, e["state"]), (200, "paused"))
        d = self.send_test("pz")
        time.sleep(0.6)
        self.assertEqual(self.rx.requests("/pz"), [])
        self.assertEqual(self.srv.get("/v1/endpoints/pz")[2]["health"]["pending"], 1)
        self.srv.post_json("/v1/endpoints/pz/resume", None)
        self.rx.wait("/pz", 1)
        self.wait_state(d["id"], "delivered")

    def test_dead_after_the_schedule_and_retry_revives(self):
        self.endpoint("dead", "/dead")
        self.rx.script("/dead", [500])
        d1 = self.send_test("dead")
        d2 = self.send_test("dead")
        # ids start with the time (base 62, ASCII order): new ones append to the index
        self.assertLessEqual(d1["webhook_id"][:12], d2["webhook_id"][:12])
        self.assertNotEqual(d1["webhook_id"], d2["webhook_id"])
        d = self.wait_state(d1["id"], "dead", timeout=10)
        self.assertEqual(len(d["attempts"]), 4)   # the first, then one per step of the schedule
        self.wait_state(d2["id"], "dead", timeout=10)
        st, _, page = self.srv.get("/v1/endpoints/dead/deliveries?state=dead&limit=1")
        self.assertEqual(st, 200)
        self.assertEqual([x["id"] for x in page["deliveries"]], [d2["id"]])
        st, _, page2 = self.srv.get("/v1/endpoints/dead/deliveries?state=dead&limit=1&after=" + page["next"])
        self.assertEqual([x["id"] for x in page2["deliveries"]], [d1["id"]])
        self.assertEqual(self.srv.get("/v1/endpoints/dead")[2]["health"]["dead"], 2)
        # an operator sees it in the log too, with what to do
        self.assertIn("webhook delivery %d to endpoint dead is dead after 4 attempts (HTTP 500" % d1["id"],
                      self.srv.stderr())
        n = len(self.rx.requests("/dead"))
        self.rx.script("/dead", [200])
        st, _, r = self.srv.post_json("/v1/deliveries/%d/retry" % d1["id"], None)
        self.assertEqual((st, r["state"]), (200, "pending"))
        d = self.wait_state(d1["id"], "delivered")
        self.assertEqual(len(d["attempts"]), 5)
        delivered_at = d["delivered_at_ms"]
        st, _, r = self.srv.post_json("/v1/deliveries/%d/retry" % d1["id"], None)   # once more
        self.assertEqual((st, r["state"], r["delivered_at_ms"]), (200, "pending", None))
        d = self.wait_state(d1["id"], "delivered")
        self.assertGreaterEqual(d["delivered_at_ms"], delivered_at)
        st, _, r = self.srv.post_json("/v1/endpoints/dead/retry", None)
        self.assertEqual((st, r), (200, {"retried": 1}))
        self.wait_state(d2["id"], "delivered")
        ids = {g[1]["webhook-id"] for g in self.rx.requests("/dead")}
        self.assertEqual(ids, {d1["webhook_id"], d2["webhook_id"]})
        self.assertEqual(len(self.rx.requests("/dead")), n + 3)

    def test_endpoint_api(self):
        srv = self.srv
        bad = [
            ({"id": "a b", "url": self.rx.url("/x")}, "invalid_id"),
            ({"id": "x1"}, "invalid_url"),
            ({"id": "x1", "url": "not a url"}, "invalid_url"),
            ({"id": "x1", "url": "ftp://example.com/"}, "invalid_url"),
            ({"id": "x1", "url": self.rx.url("/x"), "events": ["nope"]}, "invalid_events"),
            ({"id": "x1", "url": self.rx.url("/x"), "surveys": "all"}, "invalid_surveys"),
            ({"id": "x1", "url": self.rx.url("/x"), "secret": "whsec_short"}, "invalid_webhook_secret"),
            ({"id": "x1", "url": self.rx.url("/x"), "colour": 1}, "unknown_field"),
            ([], "invalid_endpoint"),
        ]
        for body, code in bad:
            with self.subTest(body=body):
                st, _, err = srv.post_json("/v1/endpoints", body)
                self.assertEqual((st, err["error"]["code"]), (422, code), err)
        ep = self.endpoint("api", "/api", surveys=["checkout"], description="desk")
        self.assertEqual((ep["surveys"], ep["description"], ep["state"]), (["checkout"], "desk", "active"))
        st, _, err = srv.post_json("/v1/endpoints", {"id": "api", "url": self.rx.url("/api")})
        self.assertEqual((st, err["error"]["code"]), (409, "endpoint_exists"))
        st, _, e = srv.request("PUT", "/v1/endpoints/api", {"url": self.rx.url("/api2"),
                                                            "events": ["case.opened"]})
        self.assertEqual(st, 200, e)
        self.assertEqual((e["url"], e["events"], e["surveys"], e["description"]),
                         (self.rx.url("/api2"), ["case.opened"], None, None))
        st, _, err = srv.request("PUT", "/v1/endpoints/api", {"url": self.rx.url("/a"), "secret": ep["secret"]})
        self.assertEqual((st, err["error"]["code"]), (422, "unknown_field"))
        self.assertEqual(srv.get("/v1/endpoints/nope")[0], 404)
        self.assertEqual(srv.request("PUT", "/v1/endpoints/nope", {"url": self.rx.url("/a")})[0], 404)
        self.assertIn("api", [x["id"] for x in srv.get("/v1/endpoints")[2]["endpoints"]])
        for q, code in (("state=lost", "invalid_state"), ("limit=0", "invalid_limit"),
                        ("after=x", "invalid_cursor"), ("colour=1", "unknown_parameter")):
            st, _, err = srv.get("/v1/endpoints/api/deliveries?" + q)
            self.assertEqual((st, err["error"]["code"]), (422, code))
        self.assertEqual(srv.get("/v1/deliveries/999999")[0], 404)
        self.assertEqual(srv.get("/v1/deliveries/abc")[0], 404)
        st, _, err = srv.post_json("/v1/endpoints/api/rotate", {"overlap_s": -1})
        self.assertEqual((st, err["error"]["code"]), (422, "invalid_overlap"))
        # a rule that sends to it keeps it (the rules part writes rules; here, the row itself)
        db = sqlite3.connect(srv.db, timeout=10)
        db.execute("INSERT INTO rules(survey, id, position, definition, created_at, updated_at) "
                   "VALUES ('checkout', 'detractors', 1, ?, 0, 0)",
                   (json.dumps({"actions": [{"type": "webhook", "endpoint": "api"}]}),))
        db.commit()
        st, _, err = srv.request("DELETE", "/v1/endpoints/api")
        self.assertEqual((st, err["error"]["code"]), (409, "endpoint_in_use"))
        self.assertIn("checkout/detractors", err["error"]["message"])
        db.execute("DELETE FROM rules")
        db.commit()
        db.close()
        self.assertEqual(srv.request("DELETE", "/v1/endpoints/api")[0], 200)
        self.assertEqual(srv.get("/v1/endpoints/api")[0], 404)
        st, _, m = srv.get("/metrics")
        self.assertIn('cxd_webhook_deliveries_total{outcome="delivered"}', m)
        self.assertIn("cxd_webhook_pending ", m)
        self.assertIn("cxd_webhook_oldest_pending_seconds ", m)
        self.assertIn('cxd_webhook_endpoints{state="active"}', m)


class RetentionTest(unittest.TestCase):
    """--webhook-retention: delivered deliveries (and their attempts) go once older than it;
    pending ones stay whatever their age. Mutation: purging pending rows too (the paused
    endpoint's delivery vanishes); no purge (the delivered one stays)."""

    def test_delivered_go_pending_stay(self):
        rx = Receiver()
        srv = Server(args=FLAGS + ["--webhook-retention", "2s"]).start()
        try:
            for eid in ("kept", "held"):
                st, _, ep = srv.post_json("/v1/endpoints", {"id": eid, "url": rx.url("/" + eid),
                                                            "events": ["webhook.test"]})
                self.assertEqual(st, 201, ep)
            st, _, done = srv.post_json("/v1/endpoints/kept/test", None)
            self.assertEqual(st, 201, done)
            rx.wait("/kept", 1)
            self.assertEqual(srv.request("POST", "/v1/endpoints/held/pause")[0], 200)
            st, _, held = srv.post_json("/v1/endpoints/held/test", None)
            self.assertEqual(st, 201, held)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and srv.get("/v1/deliveries/%d" % done["id"])[0] == 200:
                time.sleep(0.2)
            self.assertEqual(srv.get("/v1/deliveries/%d" % done["id"])[0], 404, "delivered row kept")
            time.sleep(2.5)   # older than the retention now, but pending
            st, _, d = srv.get("/v1/deliveries/%d" % held["id"])
            self.assertEqual((st, d["state"]), (200, "pending"))
            db = sqlite3.connect("file:%s?mode=ro" % srv.db, uri=True)
            self.assertEqual(db.execute("SELECT count(*) FROM delivery_attempts WHERE delivery = ?",
                                        (done["id"],)).fetchone()[0], 0)
            db.close()
            self.assertIn("deleted 1 delivered or dead deliveries", srv.stderr())
            srv.assert_clean_exit(self)
        finally:
            rx.httpd.shutdown()
            if srv.proc.poll() is None:
                srv.proc.kill()

    def test_bad_values_exit_2(self):
        for bad in ("0", "-1d", "1w", "3651d", "x", "5dd"):
            p = subprocess.run([cxdtest.CXD, "--webhook-retention", bad, "--db", "/nonexistent/x"],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(p.returncode, 2, bad)
            self.assertIn("--webhook-retention", p.stderr)


class PolicyTest(unittest.TestCase):
    """Without the flags: https only, and no private addresses."""

    def test_refusals(self):
        srv = Server(args=["--no-access-log"]).start()
        try:
            for url, code in (("http://example.com/hook", "endpoint_insecure"),
                              ("https://127.0.0.1/hook", "endpoint_private"),
                              ("https://10.1.2.3/hook", "endpoint_private"),
                              ("https://192.168.0.1/hook", "endpoint_private"),
                              ("https://169.254.169.254/latest", "endpoint_private"),
                              ("https://[::1]:8443/hook", "endpoint_private"),
                              ("https://[::ffff:127.0.0.1]/hook", "endpoint_private"),
                              ("https://localhost/hook", cxdtest.localhost_refusal()),
                              ("https://user:pw@example.com/hook", "invalid_url")):
                with self.subTest(url=url):
                    st, _, err = srv.post_json("/v1/endpoints", {"id": "p", "url": url})
                    self.assertEqual((st, err["error"]["code"], err["error"].get("field")),
                                     (422, code, "url"), err)
        finally:
            srv.assert_clean_exit(self)

    def test_bad_flag_values_are_refused(self):
        for args in (["--webhook-retry-schedule", "5s,,1m"], ["--webhook-retry-schedule", "25h"],
                     ["--webhook-timeout", "0"], ["--webhook-concurrency", "0"]):
            with self.subTest(args=args):
                r = subprocess.run([cxdtest.CXD] + args, capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(args[0], r.stderr)

    def test_http_allowed_but_not_private(self):
        srv = Server(args=["--no-access-log", "--webhook-allow-http"]).start()
        try:
            st, _, err = srv.post_json("/v1/endpoints", {"id": "p", "url": "http://127.0.0.1:9/"})
            self.assertEqual((st, err["error"]["code"]), (422, "endpoint_private"))
        finally:
            srv.assert_clean_exit(self)


# The outbox as schema 010 + 012 wrote it (before 017): msg_id UNIQUE, deliveries_due.
OLD_DELIVERIES = """
CREATE TABLE deliveries (
  id INTEGER PRIMARY KEY, msg_id TEXT NOT NULL UNIQUE, endpoint TEXT NOT NULL, type TEXT NOT NULL,
  survey TEXT, customer TEXT, response_id INTEGER, rule TEXT, case_id INTEGER, payload TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
  attempts INTEGER NOT NULL DEFAULT 0, budget_from INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER NOT NULL, created_at INTEGER NOT NULL, last_at INTEGER, last_status INTEGER,
  last_error TEXT, delivered_at INTEGER);
CREATE INDEX deliveries_due ON deliveries(next_at) WHERE state = 'pending';
CREATE INDEX deliveries_by_endpoint ON deliveries(endpoint, id);
CREATE INDEX deliveries_by_customer ON deliveries(customer) WHERE customer IS NOT NULL;
CREATE INDEX deliveries_by_response ON deliveries(response_id) WHERE response_id IS NOT NULL;
CREATE INDEX deliveries_due_by_endpoint ON deliveries(endpoint, next_at) WHERE state = 'pending';
CREATE TABLE delivery_attempts (
  delivery INTEGER NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE, n INTEGER NOT NULL,
  at INTEGER NOT NULL, duration_ms INTEGER, status INTEGER, error TEXT,
  PRIMARY KEY (delivery, n)) WITHOUT ROWID;
"""


class MigrationTest(unittest.TestCase):
    def test_017_keeps_every_delivery_and_attempt(self):
        """A database whose outbox was written before schema 017 (issue 14: msg_id no longer
        UNIQUE, deliveries_due gone, the table rebuilt): every row and attempt survives the
        upgrade, and the pending ones are then sent with their old webhook-id and a valid
        signature. Mutation tried: dropping delivery_attempts after `deliveries` (the
        cascade empties it) fails the attempts check."""
        rx = Receiver()
        srv = Server(args=FLAGS).start()
        try:
            eps = {}
            for eid in ("sent", "held"):
                st, _, eps[eid] = srv.post_json("/v1/endpoints", {"id": eid, "url": rx.url("/" + eid),
                                                                  "events": ["webhook.test"]})
                self.assertEqual(st, 201, eps[eid])
            rx.script("/sent", [500, 200])
            st, _, sent = srv.post_json("/v1/endpoints/sent/test", None)
            self.assertEqual(st, 201, sent)
            self.assertEqual(len(rx.wait("/sent", 2)), 2)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and srv.get("/v1/deliveries/%d" % sent["id"])[2]["state"] != "delivered":
                time.sleep(0.05)
            self.assertEqual(srv.request("POST", "/v1/endpoints/held/pause")[0], 200)
            held = [srv.post_json("/v1/endpoints/held/test", None)[2] for _ in range(3)]
            srv.assert_clean_exit(self)
        finally:
            if srv.proc.poll() is None:
                srv.proc.kill()
        db = sqlite3.connect(srv.db)   # back to the outbox before schema 017
        rows = db.execute("SELECT * FROM deliveries ORDER BY id").fetchall()
        attempts = db.execute("SELECT * FROM delivery_attempts ORDER BY delivery, n").fetchall()
        self.assertEqual((len(rows), len(attempts)), (4, 2))
        db.executescript("DROP TABLE delivery_attempts; DROP TABLE deliveries;" + OLD_DELIVERIES)
        db.executemany("INSERT INTO deliveries VALUES (%s)" % ",".join("?" * len(rows[0])), rows)
        db.executemany("INSERT INTO delivery_attempts VALUES (?,?,?,?,?,?)", attempts)
        db.execute("DROP INDEX invitations_response")   # (018, which runs again after it)
        db.execute("DROP TABLE rollup_mark")   # (019, likewise)
        db.execute("DELETE FROM schema_migrations WHERE version >= 17")
        db.commit()
        db.close()
        srv2 = Server(db=srv.db, tmp=srv.tmp, key=srv.key, args=FLAGS).start()
        try:
            self.assertIn("applied migration 017_outbox_lean", srv2.stderr())
            db = sqlite3.connect("file:%s?mode=ro" % srv.db, uri=True)
            self.assertEqual(db.execute("SELECT * FROM deliveries ORDER BY id").fetchall(), rows)
            self.assertEqual(db.execute("SELECT * FROM delivery_attempts ORDER BY delivery, n").fetchall(),
                             attempts)
            idx = {r[1]: r[2] for r in db.execute("PRAGMA index_list(deliveries)")}
            db.close()
            self.assertEqual(sorted(idx), ["deliveries_by_customer", "deliveries_by_endpoint",
                                           "deliveries_by_response", "deliveries_due_by_endpoint"])
            self.assertEqual(srv2.post_json("/v1/endpoints/held/resume", None)[0], 200)
            got = rx.wait("/held", 3)
            self.assertEqual(sorted(g[1]["webhook-id"] for g in got), sorted(h["webhook_id"] for h in held))
            for g in got:
                self.assertTrue(verify(eps["held"]["secret"], g[1]["webhook-id"], g[1]["webhook-timestamp"],
                                       g[2], g[1]["webhook-signature"]))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and any(
                    srv2.get("/v1/deliveries/%d" % h["id"])[2]["state"] != "delivered" for h in held):
                time.sleep(0.05)
            self.assertEqual([srv2.get("/v1/deliveries/%d" % h["id"])[2]["state"] for h in held],
                             ["delivered"] * 3)
            self.assertEqual(len(rx.requests("/sent")), 2)   # the delivered one is not sent again
        finally:
            srv2.assert_clean_exit(self)
            rx.httpd.shutdown()


class CrashTest(unittest.TestCase):
    def test_kill_9_in_flight_loses_nothing(self):
        rx = Receiver()
        srv = Server(args=FLAGS).start()
        st, _, ep = srv.post_json("/v1/endpoints", {"id": "k", "url": rx.url("/k"), "events": ["webhook.test"]})
        self.assertEqual(st, 201)
        rx.script("/k", [("hang", 3), 200])
        st, _, d = srv.post_json("/v1/endpoints/k/test", None)
        self.assertEqual(st, 201)
        rx.wait("/k", 1)
        srv.proc.send_signal(signal.SIGKILL)
        srv.wait_killed()
        srv2 = Server(db=srv.db, tmp=srv.tmp, key=srv.key, args=FLAGS).start()
        try:
            got = rx.wait("/k", 2)
            self.assertEqual(len(got), 2)
            self.assertEqual(got[0][1]["webhook-id"], got[1][1]["webhook-id"])
            self.assertEqual(got[1][1]["webhook-id"], d["webhook_id"])
            self.assertTrue(verify(ep["secret"], d["webhook_id"], got[1][1]["webhook-timestamp"], got[1][2],
                                   got[1][1]["webhook-signature"]))
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                dd = srv2.get("/v1/deliveries/%d" % d["id"])[2]
                if dd["state"] == "delivered":
                    break
                time.sleep(0.05)
            self.assertEqual(dd["state"], "delivered")
        finally:
            srv2.assert_clean_exit(self)
            rx.httpd.shutdown()

    def test_the_address_is_checked_again_at_connect_time(self):
        """An endpoint saved under --webhook-allow-private, served by a cxd without it (as
        if its DNS name had changed to a private address): no connection is made."""
        rx = Receiver()
        srv = Server(args=FLAGS).start()
        srv.post_json("/v1/endpoints", {"id": "c", "url": rx.url("/c"), "events": ["webhook.test"]})
        srv.assert_clean_exit(self)
        srv2 = Server(db=srv.db, tmp=srv.tmp, key=srv.key,
                      args=[a for a in FLAGS if a != "--webhook-allow-private"]).start()
        try:
            st, _, d = srv2.post_json("/v1/endpoints/c/test", None)
            self.assertEqual(st, 201)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                dd = srv2.get("/v1/deliveries/%d" % d["id"])[2]
                if dd["attempts"]:
                    break
                time.sleep(0.05)
            self.assertIsNone(dd["attempts"][0]["status"])
            self.assertIn("private address", dd["attempts"][0]["error"])
            self.assertEqual(dd["state"], "pending")
            self.assertEqual(rx.requests("/c"), [])
        finally:
            srv2.assert_clean_exit(self)
            rx.httpd.shutdown()

    def test_stop_abandons_in_flight_and_keeps_it_pending(self):
        rx = Receiver()
        srv = Server(args=FLAGS + ["--webhook-timeout", "30"]).start()
        srv.post_json("/v1/endpoints", {"id": "s", "url": rx.url("/s"), "events": ["webhook.test"]})
        rx.script("/s", [("hang", 20), 200])
        st, _, d = srv.post_json("/v1/endpoints/s/test", None)
        self.assertEqual(st, 201)
        rx.wait("/s", 1)
        t0 = time.monotonic()
        srv.assert_clean_exit(self)
        self.assertLess(time.monotonic() - t0, 3, "a hanging receiver held up the stop")
        srv2 = Server(db=srv.db, tmp=srv.tmp, key=srv.key, args=FLAGS).start()
        try:
            got = rx.wait("/s", 2)
            self.assertEqual([g[1]["webhook-id"] for g in got], [d["webhook_id"]] * 2)
        finally:
            srv2.assert_clean_exit(self)
            rx.httpd.shutdown()


if __name__ == "__main__":
    cxdtest.main("webhooks")
