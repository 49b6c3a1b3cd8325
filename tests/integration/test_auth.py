"""Keys and roles: every route against every role (a table of expected statuses), key
management over HTTP and on the command line, and survey-limited ingest keys."""
import json
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
from cxdtest import CXD, Server  # noqa: E402

RESP = {"survey": "s1", "stage": "purchase", "touchpoint": "web", "nps": 9}

# route -> expected status for (no key, wrong key, ingest, read, agent, admin); a 2xx/4xx other
# than 401/403 means the key got through to the handler.
RULE = {"id": "r-%s", "name": "detractors", "when": {"nps": {"max": 6}}, "actions": [{"type": "case"}]}

TABLE = [
    ("GET", "/healthz", None, (200, 200, 200, 200, 200, 200)),
    ("GET", "/", None, (200, 200, 200, 200, 200, 200)),
    ("GET", "/dashboard", None, (200, 200, 200, 200, 200, 200)),
    ("GET", "/favicon.ico", None, (200, 200, 200, 200, 200, 200)),
    ("GET", "/v1/surveys", None, (401, 401, 403, 200, 200, 200)),
    ("GET", "/v1/surveys/s1", None, (401, 401, 403, 200, 200, 200)),
    ("POST", "/v1/surveys", {"id": "new-%s", "title": "t"}, (401, 401, 403, 403, 403, 201)),
    ("PUT", "/v1/surveys/s1", {"title": "again"}, (401, 401, 403, 403, 403, 200)),
    ("GET", "/v1/surveys/s1/scores", None, (401, 401, 403, 200, 200, 200)),
    ("GET", "/v1/surveys/s1/journey", None, (401, 401, 403, 200, 200, 200)),
    ("GET", "/v1/surveys/s1/comments", None, (401, 401, 403, 200, 200, 200)),
    ("GET", "/v1/surveys/s1/responses", None, (401, 401, 403, 200, 200, 200)),
    ("POST", "/v1/responses", RESP, (401, 401, 201, 403, 403, 201)),
    ("POST", "/v1/surveys/s1/responses", RESP, (401, 401, 201, 403, 403, 201)),   # s1 is private
    ("DELETE", "/v1/customers/nobody", None, (401, 401, 403, 403, 403, 200)),
    ("DELETE", "/v1/responses/999999/comment", None, (401, 401, 403, 403, 403, 404)),
    ("GET", "/v1/keys", None, (401, 401, 403, 403, 403, 200)),
    ("POST", "/v1/keys", {"role": "read"}, (401, 401, 403, 403, 403, 201)),
    ("DELETE", "/v1/keys/aaaaaaaaaaaa", None, (401, 401, 403, 403, 403, 404)),
    ("GET", "/v1/keys/self", None, (401, 401, 200, 200, 200, 200)),   # any key: itself
    ("DELETE", "/v1/keys/self", None, (401, 401, 403, 403, 403, 404)),   # the key with id "self"
    ("POST", "/v1/keys/self", None, (405, 405, 405, 405, 405, 405)),
    # issue 12: agent works cases; rules, endpoints, deliveries and alerts are admin's
    ("GET", "/metrics", None, (401, 401, 403, 200, 200, 200)),
    ("GET", "/v1/cases", None, (401, 401, 403, 200, 200, 200)),
    ("GET", "/v1/cases/999999", None, (401, 401, 403, 404, 404, 404)),
    ("PATCH", "/v1/cases/999999", {"status": "contacted"}, (401, 401, 403, 403, 404, 404)),
    ("POST", "/v1/cases/999999/notes", {"text": "called back"}, (401, 401, 403, 403, 404, 404)),
    ("GET", "/v1/surveys/s1/rules", None, (401, 401, 403, 200, 200, 200)),
    ("POST", "/v1/surveys/s1/rules", RULE, (401, 401, 403, 403, 403, 201)),
    ("GET", "/v1/surveys/s1/rules/none", None, (401, 401, 403, 404, 404, 404)),
    ("PUT", "/v1/surveys/s1/rules/r-put", dict(RULE, id="r-put"), (401, 401, 403, 403, 403, 201)),
    ("DELETE", "/v1/surveys/s1/rules/none", None, (401, 401, 403, 403, 403, 404)),
    ("POST", "/v1/endpoints", {"id": "e-%s", "url": "https://127.0.0.1/hook"}, (401, 401, 403, 403, 403, 422)),
    ("GET", "/v1/endpoints", None, (401, 401, 403, 403, 403, 200)),
    ("GET", "/v1/endpoints/none", None, (401, 401, 403, 403, 403, 404)),
    ("PUT", "/v1/endpoints/none", {"url": "https://127.0.0.1/hook"}, (401, 401, 403, 403, 403, 422)),
    ("DELETE", "/v1/endpoints/none", None, (401, 401, 403, 403, 403, 404)),
    ("POST", "/v1/endpoints/none/pause", None, (401, 401, 403, 403, 403, 404)),
    ("POST", "/v1/endpoints/none/resume", None, (401, 401, 403, 403, 403, 404)),
    ("POST", "/v1/endpoints/none/rotate", None, (401, 401, 403, 403, 403, 404)),
    ("POST", "/v1/endpoints/none/retry", None, (401, 401, 403, 403, 403, 404)),
    ("POST", "/v1/endpoints/none/test", None, (401, 401, 403, 403, 403, 404)),
    ("GET", "/v1/endpoints/none/deliveries", None, (401, 401, 403, 403, 403, 404)),
    ("GET", "/v1/deliveries/999999", None, (401, 401, 403, 403, 403, 404)),
    ("POST", "/v1/deliveries/999999/retry", None, (401, 401, 403, 403, 403, 404)),
    ("GET", "/v1/alerts", None, (401, 401, 403, 403, 403, 200)),
    ("POST", "/v1/alerts/run", None, (401, 401, 403, 403, 403, 200)),
    # issue 13: ingest keys mint invitations; link keys, fatigue settings and QR codes are
    # admin's; the funnel is read like scores; pages and the widget are for anyone
    ("POST", "/v1/surveys/s1/invitations", {"invitations": []}, (401, 401, 422, 403, 403, 422)),
    ("GET", "/v1/surveys/s1/funnel", None, (401, 401, 403, 200, 200, 200)),
    ("GET", "/v1/surveys/s1/qr?stage=purchase&touchpoint=web", None, (401, 401, 403, 403, 403, 409)),
    ("GET", "/v1/link-keys", None, (401, 401, 403, 403, 403, 200)),
    ("POST", "/v1/link-keys", None, (401, 401, 403, 403, 403, 201)),
    ("DELETE", "/v1/link-keys/knone", None, (401, 401, 403, 403, 403, 404)),
    ("GET", "/v1/settings/fatigue", None, (401, 401, 403, 403, 403, 200)),
    ("PUT", "/v1/settings/fatigue", {"max_invitations": 0}, (401, 401, 403, 403, 403, 200)),
    ("GET", "/widget.js", None, (200, 200, 200, 200, 200, 200)),
    ("GET", "/v1/mail", None, (401, 401, 403, 403, 403, 200)),
    ("POST", "/v1/mail/999999/retry", None, (401, 401, 403, 403, 403, 404)),
    ("GET", "/i/knone.e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", None, (404, 404, 404, 404, 404, 404)),
    ("POST", "/i/knone.e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "score=9", (404, 404, 404, 404, 404, 404)),
    ("GET", "/s/s1?stage=purchase&touchpoint=web", None, (404, 404, 404, 404, 404, 404)),   # private
    ("POST", "/s/s1", "stage=purchase&touchpoint=web&score=9", (404, 404, 404, 404, 404, 404)),
]


def routes_in_table():
    """(method, pattern) of every route in src/routes.c's table."""
    src = open(os.path.join(os.path.dirname(__file__), "..", "..", "src", "routes.c")).read()
    return re.findall(r'\{ CX_(GET|POST|PUT|DELETE|PATCH),\s+"([^"]+)"', src)


class AuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server().start()
        assert cls.srv.key and cls.srv.key.startswith("cxd_"), "no first admin key printed"
        for sid in ("s1", "s2"):
            cls.srv.post_json("/v1/surveys", {"id": sid, "title": sid})
        cls.keys = {}
        for role in ("ingest", "read", "agent"):
            st, _, body = cls.srv.post_json("/v1/keys", {"role": role, "label": role + " key"})
            assert st == 201, body
            cls.keys[role] = body["secret"]

    @classmethod
    def tearDownClass(cls):
        cls.srv.assert_clean_exit(unittest.TestCase())

    def call(self, method, path, body, secret, n):
        headers = {"Authorization": "Bearer " + secret} if secret else {}
        if isinstance(body, str):   # a browser's form
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = body.encode()
        if isinstance(body, dict) and "id" in body and "%s" in body["id"]:
            body = dict(body, id=body["id"] % n)
        return self.srv.request(method, path, body=body, headers=headers, auth=False)

    def test_route_by_role_table(self):
        wrong = self.srv.key[:-4] + "zzzz"
        secrets = (None, wrong, self.keys["ingest"], self.keys["read"], self.keys["agent"], self.srv.key)
        n = 0
        for method, path, body, want in TABLE:
            for who, secret, status in zip(("none", "wrong", "ingest", "read", "agent", "admin"), secrets, want):
                n += 1
                with self.subTest(route=method + " " + path, key=who):
                    st, _, got = self.call(method, path, body, secret, n)
                    self.assertEqual(st, status, got)
                    if st in (401, 403):
                        self.assertEqual(got["error"]["code"], {401: "unauthorized", 403: "forbidden"}[st])

    def test_every_route_is_in_the_table(self):
        """A new route without a row here would go untested for who may call it."""
        def covers(pattern, path):
            return re.fullmatch(re.escape(pattern).replace(re.escape("{}"), "[^/]+"),
                                path.split("?")[0]) is not None
        routes = routes_in_table()
        self.assertGreater(len(routes), 50)
        for method, pattern in routes:
            with self.subTest(route=method + " " + pattern):
                self.assertTrue(any(m == method and covers(pattern, p) for m, p, _, _ in TABLE),
                                "no row in TABLE for %s %s" % (method, pattern))

    def test_keys_self_is_the_callers_own_key(self):
        made = {}
        for role in ("ingest", "read", "agent"):
            st, _, listing = self.srv.get("/v1/keys")
            made[role] = next(k for k in listing["keys"] if k.get("label") == role + " key")
        st, _, lim = self.srv.post_json("/v1/keys", {"role": "ingest", "surveys": ["s2"], "label": "only s2"})
        self.assertEqual(st, 201, lim)
        cases = [(self.keys[r], made[r]) for r in made] + [(lim["secret"], lim)]
        for secret, want in cases:
            with self.subTest(role=want["role"], label=want.get("label")):
                st, hdrs, me = self.srv.request("GET", "/v1/keys/self", auth=False,
                                                headers={"Authorization": "Bearer " + secret})
                self.assertEqual(st, 200, me)
                self.assertEqual(me["id"], secret.split("_")[1])
                self.assertEqual(me["id"], want["id"])
                self.assertEqual(me["role"], want["role"])
                self.assertEqual(me["label"], want["label"])
                self.assertEqual(me["surveys"], want.get("surveys"))
                self.assertEqual(me["created_at"], want["created_at"])
                self.assertEqual(set(me), {"id", "role", "surveys", "label", "created_at"})
                text = json.dumps(me)
                self.assertNotIn(secret, text)
                self.assertNotIn(secret.split("_")[2], text)   # not the secret part either
        st, _, me = self.srv.get("/v1/keys/self")   # the admin key
        self.assertEqual((st, me["role"], me["id"]), (200, "admin", self.srv.key.split("_")[1]))
        self.assertNotIn("hash", me)
        self.assertNotIn("secret", me)
        # a revoked key is a stranger at once
        st, _, tmp = self.srv.post_json("/v1/keys", {"role": "read"})
        self.assertEqual(self.srv.request("DELETE", "/v1/keys/" + tmp["id"])[0], 200)
        st, _, body = self.srv.request("GET", "/v1/keys/self", auth=False,
                                       headers={"Authorization": "Bearer " + tmp["secret"]})
        self.assertEqual((st, body["error"]["code"]), (401, "unauthorized"))

    def test_malformed_authorization(self):
        for h in ("Basic abc", "Bearer", "Bearer cxd_", "Bearer cxd_!!!!!!!!!!!!_x", "Bearer " + "x" * 500,
                  "bearer " + self.srv.key[:10]):
            st, _, body = self.srv.request("GET", "/v1/surveys", headers={"Authorization": h}, auth=False)
            self.assertEqual(st, 401, h)

    def test_keys_are_listed_without_secrets_and_deleted(self):
        st, _, made = self.srv.post_json("/v1/keys", {"role": "read", "label": "temp"})
        self.assertEqual(st, 201)
        st, _, listing = self.srv.get("/v1/keys")
        entry = next(k for k in listing["keys"] if k["id"] == made["id"])
        self.assertNotIn("secret", entry)
        self.assertNotIn(made["secret"], str(listing))
        hdr = {"Authorization": "Bearer " + made["secret"]}
        self.assertEqual(self.srv.request("GET", "/v1/surveys", headers=hdr, auth=False)[0], 200)
        st, _, body = self.srv.request("DELETE", "/v1/keys/" + made["id"])
        self.assertEqual((st, body["deleted"]), (200, True))
        self.assertEqual(self.srv.request("GET", "/v1/surveys", headers=hdr, auth=False)[0], 401)
        for bad, code in (({"role": "root"}, "invalid_role"), ({"role": "read", "surveys": ["s1"]}, "invalid_surveys"),
                          ({"role": "ingest", "surveys": []}, "invalid_surveys"), ({"role": "read", "x": 1}, "unknown_field")):
            st, _, body = self.srv.post_json("/v1/keys", bad)
            self.assertEqual((st, body["error"]["code"]), (422, code), bad)

    def test_ingest_key_limited_to_surveys(self):
        st, _, made = self.srv.post_json("/v1/keys", {"role": "ingest", "surveys": ["s2"]})
        hdr = {"Authorization": "Bearer " + made["secret"]}
        st, _, body = self.srv.request("POST", "/v1/responses", body=dict(RESP, survey="s2"), headers=hdr, auth=False)
        self.assertEqual(st, 201, body)
        st, _, body = self.srv.request("POST", "/v1/responses", body=RESP, headers=hdr, auth=False)
        self.assertEqual((st, body["error"]["code"]), (403, "forbidden"))
        st, _, body = self.srv.request("POST", "/v1/responses", body=[dict(RESP, survey="s2"), RESP],
                                       headers=hdr, auth=False)
        self.assertEqual(st, 403, body)   # one forbidden item refuses the batch

    def test_demo_command_refuses_an_existing_demo(self):
        """`cxd demo` on a database that holds the demo survey exits 1 and says so, without
        first logging "filling ... with demo data (100,000 responses ...)" as it did."""
        srv = Server().start()
        st, _, body = srv.post_json("/v1/surveys", {"id": "shop", "title": "Shop"})
        self.assertEqual(st, 201, body)
        srv.assert_clean_exit(self)
        r = subprocess.run([CXD, "demo", "--db", srv.db], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("the demo survey 'shop' is already in %s; nothing was added" % srv.db, r.stderr)
        self.assertNotIn("filling", r.stderr)

    def test_command_line_keys(self):
        srv = Server()
        make = [CXD, "keys", "create", "--role", "admin", "--label", "ops", "--db", srv.db]
        r = subprocess.run(make, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)   # only the server creates a database
        self.assertIn("no database at '%s'" % srv.db, r.stderr)
        self.assertFalse(os.path.exists(srv.db))
        srv.start().assert_clean_exit(self)
        r = subprocess.run(make, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        secret = r.stdout.strip()
        self.assertRegex(secret, r"^cxd_[a-z0-9]{12}_[a-z0-9]{32}$")
        srv.key = secret
        srv.start()
        self.assertNotIn("no API keys yet", srv.stderr())   # a key exists: none is made on start
        self.assertEqual(srv.get("/v1/keys")[0], 200)
        r2 = subprocess.run([CXD, "keys", "create", "--role", "read", "--db", srv.db],
                            capture_output=True, text=True, timeout=30)   # while it runs
        self.assertEqual(r2.returncode, 0, r2.stderr)
        hdr = {"Authorization": "Bearer " + r2.stdout.strip()}
        self.assertEqual(srv.request("GET", "/v1/surveys", headers=hdr, auth=False)[0], 200)
        for args in (["keys", "create", "--role", "god", "--db", srv.db], ["keys", "make"], ["keys"]):
            r = subprocess.run([CXD] + args, capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2, args)
        srv.assert_clean_exit(self)
        import sqlite3
        with open(srv.db, "rb") as f:
            self.assertNotIn(secret.encode(), f.read())   # only hashes are stored
        db = sqlite3.connect(srv.db)
        self.assertEqual({len(h) for (h,) in db.execute("SELECT hash FROM api_keys")}, {32})
        db.close()


class RateTest(unittest.TestCase):
    def test_per_address_bucket_empties_and_refills(self):
        srv = Server(args=["--rate-ip", "5/5", "--rate-key", "0"]).start()
        got = [srv.get("/dashboard")[0] for _ in range(5)]   # (/healthz is exempt)
        self.assertEqual(got, [200] * 5)
        st, h, body = srv.get("/v1/surveys")
        self.assertEqual((st, body["error"]["code"], h["retry-after"]), (429, "rate_limited", "1"))
        time.sleep(1.3)   # 5/s: a token or more is back
        self.assertEqual(srv.get("/dashboard")[0], 200)
        srv.assert_clean_exit(self)

    def test_per_key(self):
        srv = Server(args=["--rate-ip", "0", "--rate-key", "3/3"]).start()
        st, _, other = srv.post_json("/v1/keys", {"role": "read"})   # takes one of admin's three
        self.assertEqual(st, 201)
        self.assertEqual([srv.get("/v1/surveys")[0] for _ in range(2)], [200, 200])
        self.assertEqual(srv.get("/v1/surveys")[0], 429)
        hdr = {"Authorization": "Bearer " + other["secret"]}
        self.assertEqual(srv.request("GET", "/v1/surveys", headers=hdr, auth=False)[0], 200)
        srv.assert_clean_exit(self)

    def test_forwarded_for_only_from_trusted_proxies(self):
        def burst(srv, xff):
            return [srv.request("GET", "/dashboard", headers={"X-Forwarded-For": xff})[0] for _ in range(3)]

        srv = Server(args=["--rate-ip", "2/2", "--rate-key", "0", "--trusted-proxies", "127.0.0.1,::1"]).start()
        self.assertEqual(burst(srv, "203.0.113.5"), [200, 200, 429])
        self.assertEqual(burst(srv, "203.0.113.6"), [200, 200, 429])   # another client, its own bucket
        # a forged left part does not help: the rightmost untrusted address counts
        self.assertEqual(srv.request("GET", "/dashboard", headers={"X-Forwarded-For": "1.1.1.1, 203.0.113.5"})[0], 429)
        srv.assert_clean_exit(self)
        srv = Server(args=["--rate-ip", "2/2", "--rate-key", "0"]).start()   # no trusted proxy
        self.assertEqual(burst(srv, "203.0.113.7")[:2] + burst(srv, "203.0.113.8")[:1], [200, 200, 429])
        srv.assert_clean_exit(self)

    def test_per_address_connection_limit(self):
        import socket
        srv = Server(args=["--per-ip-connections", "2"]).start()
        held = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(2)]
        time.sleep(0.3)
        third = socket.create_connection(("127.0.0.1", srv.port))
        third.settimeout(3)
        try:
            closed = third.recv(1) == b""
        except ConnectionResetError:
            closed = True
        self.assertTrue(closed, "a third connection from one address was kept")
        for s in held + [third]:
            s.close()
        time.sleep(0.2)
        self.assertEqual(srv.get("/healthz")[0], 200)
        srv.assert_clean_exit(self)


class CorsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(args=["--cors-origins", "https://dash.example"]).start()
        st, _, body = cls.srv.post_json("/v1/surveys", {"id": "pub", "title": "Public form", "public": True,
                                                        "allowed_origins": ["https://shop.example"],
                                                        "touchpoints": {"purchase": ["web"]},
                                                        "thank_you_url": "https://shop.example/thanks"})
        assert st == 201 and body["public"] is True, body
        cls.srv.post_json("/v1/surveys", {"id": "priv", "title": "Private"})

    @classmethod
    def tearDownClass(cls):
        cls.srv.assert_clean_exit(unittest.TestCase())

    def anon(self, method, path, body=None, headers=None):
        return self.srv.request(method, path, body=body, headers=headers, auth=False)

    def test_public_survey_takes_posts_without_a_key(self):
        # anonymous posts name their survey in the URL (test_ingest.py AnonymousTest has more)
        r = dict(RESP, survey="pub")
        url = "/v1/surveys/pub/responses"
        st, h, body = self.anon("POST", url, r)
        self.assertEqual(st, 201, body)
        self.assertNotIn("access-control-allow-origin", h)
        st, h, body = self.anon("POST", url, r, {"Origin": "https://shop.example"})
        self.assertEqual(st, 201, body)
        self.assertEqual(h["access-control-allow-origin"], "https://shop.example")
        self.assertEqual(h["vary"], "Origin")
        st, h, body = self.anon("POST", url, r, {"Origin": "https://evil.example"})
        self.assertEqual((st, body["error"]["code"]), (403, "forbidden"))
        self.assertNotIn("access-control-allow-origin", h)
        st, _, body = self.anon("POST", "/v1/surveys/priv/responses", dict(RESP, survey="priv"))
        self.assertEqual((st, body["error"]["code"]), (401, "unauthorized"))
        st, _, body = self.anon("POST", "/v1/responses", r)   # needs a key now
        self.assertEqual((st, body["error"]["code"]), (401, "unauthorized"))
        st, _, body = self.anon("POST", url, [r, dict(RESP, survey="priv")])
        self.assertEqual(st, 401)   # no batches without a key
        # a plain HTML form from the shop's page
        st, h, _ = self.anon("POST", url, b"stage=purchase&touchpoint=web&nps=8",
                             {"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://shop.example"})
        self.assertEqual((st, h["location"]), (303, "https://shop.example/thanks"))
        # reads still need a key
        self.assertEqual(self.anon("GET", "/v1/surveys/pub/scores")[0], 401)

    def test_preflights(self):
        ok = {"Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
              "Access-Control-Request-Headers": "content-type"}
        st, h, _ = self.anon("OPTIONS", "/v1/responses", headers=ok)
        self.assertEqual(st, 204)
        self.assertEqual(h["access-control-allow-origin"], "https://shop.example")
        self.assertIn("POST", h["access-control-allow-methods"])
        self.assertIn("Authorization", h["access-control-allow-headers"])
        self.assertIn("access-control-max-age", h)
        st, h, body = self.anon("OPTIONS", "/v1/responses", headers=dict(ok, Origin="https://evil.example"))
        self.assertEqual((st, body["error"]["code"]), (403, "cors_refused"))
        self.assertNotIn("access-control-allow-origin", h)
        # anonymous forms post to the survey's own URL
        st, h, _ = self.anon("OPTIONS", "/v1/surveys/pub/responses", headers=ok)
        self.assertEqual((st, h.get("access-control-allow-origin")), (204, "https://shop.example"))
        st, h, _ = self.anon("OPTIONS", "/v1/surveys/priv/responses", headers=ok)
        self.assertEqual(st, 403)
        # a shop may post, not read: the survey's origins do not open the read routes
        st, _, _ = self.anon("OPTIONS", "/v1/surveys/pub/scores", headers=ok)
        self.assertEqual(st, 403)
        # a dashboard origin from --cors-origins may call the read routes with a key
        dash = {"Origin": "https://dash.example", "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization"}
        st, h, _ = self.anon("OPTIONS", "/v1/surveys/pub/scores", headers=dash)
        self.assertEqual((st, h["access-control-allow-origin"]), (204, "https://dash.example"))
        st, h, _ = self.srv.request("GET", "/v1/surveys/pub/scores", headers={"Origin": "https://dash.example"})
        self.assertEqual((st, h.get("access-control-allow-origin")), (200, "https://dash.example"))
        st, h, _ = self.srv.request("GET", "/v1/surveys/pub/scores", headers={"Origin": "https://evil.example"})
        self.assertEqual(st, 200)
        self.assertNotIn("access-control-allow-origin", h)

    def test_survey_fields_validated(self):
        for bad, code in (({"public": "yes"}, "invalid_public"),
                          ({"allowed_origins": ["https://a.example/path"]}, "invalid_origins"),
                          ({"allowed_origins": "https://a.example"}, "invalid_origins"),
                          ({"allowed_origins": ["ftp://a.example"]}, "invalid_origins")):
            st, _, body = self.srv.post_json("/v1/surveys", dict({"id": "x1", "title": "x"}, **bad))
            self.assertEqual((st, body["error"]["code"]), (422, code), bad)


class TlsTest(unittest.TestCase):
    def test_https_with_a_generated_certificate(self):
        srv, cert = cxdtest.tls_server()
        self.assertIn("listening on https://", srv.stderr())
        base = "https://127.0.0.1:%d" % srv.port
        r = subprocess.run(["curl", "-s", "--cacert", cert, base + "/healthz"], capture_output=True, text=True, timeout=30)
        self.assertEqual(json.loads(r.stdout)["status"], "ok")
        r = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", "--cacert", cert, "-H", "Authorization: Bearer " + srv.key,
                            base + "/v1/surveys"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.stdout.splitlines()[-1], "200")
        r = subprocess.run(["curl", "-s", base + "/healthz"], capture_output=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)   # an untrusted certificate is refused
        r = subprocess.run(["curl", "-s", "-m", "3", "http://127.0.0.1:%d/healthz" % srv.port],
                           capture_output=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)   # no plain HTTP on a TLS port
        srv.assert_clean_exit(self)

    def test_tls_misconfiguration(self):
        srv = Server()
        r = subprocess.run([CXD, "--db", srv.db, "--listen", "127.0.0.1:0", "--tls-cert", "/nonexistent.pem",
                            "--tls-key", "/nonexistent.pem"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent.pem", r.stderr)
        r = subprocess.run([CXD, "--tls-cert", "x.pem"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    cxdtest.main("auth")
