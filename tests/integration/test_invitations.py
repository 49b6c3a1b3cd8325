"""Minting personal links (POST /v1/surveys/{id}/invitations), the link keys API, the
fatigue rules and the invitation.created webhook, against the real cxd binary.

Every returned link is decoded here in Python (KID.PAYLOAD.MAC, base64url JSON claims) and
checked against what was asked; thousands of invitations are minted with fatigue rules on
and every skipped one (its rule, reason and eligible_at) is recomputed by an independent
model of the rules written from the README, not from the C code; invitation.created
reaches tests/integration/whreceiver.py, an independent Standard Webhooks receiver.
"""
import base64
import json
import os
import random
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cxdtest import Server  # noqa: E402
import whreceiver  # noqa: E402

DAY = 86400
WH_FLAGS = ["--webhook-allow-private", "--webhook-allow-http", "--no-access-log"]


def bearer(secret):
    return {"Authorization": "Bearer " + secret}


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def token_of(url, base):
    assert url.startswith(base + "/i/"), (url, base)
    return url[len(base) + 3:]


def claims_of(token):
    """The claims of a link token, read the way any client of the format would."""
    parts = token.split(".")
    assert len(parts) == 3, token
    kid, payload, mac = parts
    assert kid.startswith("k") and kid.isalnum(), kid
    assert len(b64url_decode(mac)) == 32   # HMAC-SHA256
    assert "=" not in payload and "+" not in payload and "/" not in payload
    return kid, json.loads(b64url_decode(payload))


def survey(sid, **extra):
    body = {"id": sid, "title": sid, "stages": ["purchase", "delivery"],
            "touchpoints": {"purchase": ["web", "shop"], "delivery": ["parcel"]}}
    body.update(extra)
    return body


def item(customer, **kw):
    d = {"customer": customer, "stage": "delivery", "touchpoint": "parcel"}
    d.update(kw)
    return d


class MintTest(unittest.TestCase):
    """One cxd for the API's shapes, errors and keys (no fatigue rules set)."""

    @classmethod
    def setUpClass(cls):
        cls.rx = whreceiver.Receiver().start()
        cls.srv = Server(args=WH_FLAGS).start()
        cls.base = "http://127.0.0.1:%d" % cls.srv.port   # --listen port 0: the bound one
        srv = cls.srv
        for body in (survey("shop", channels=["email", "sms"], segments=["smb", "retail"]),
                     survey("other")):
            st, _, b = srv.post_json("/v1/surveys", body)
            assert st == 201, b
        cls.keys = {}
        for name, body in (("ingest", {"role": "ingest"}), ("read", {"role": "read"}),
                           ("other_only", {"role": "ingest", "surveys": ["other"]})):
            st, _, b = srv.post_json("/v1/keys", body)
            assert st == 201, b
            cls.keys[name] = b["secret"]
        st, _, ep = srv.post_json("/v1/endpoints", {"id": "inv", "url": cls.rx.url("/inv"),
                                                    "events": ["invitation.created"]})
        assert st == 201, ep
        cls.rx.set_secret("/inv", [ep["secret"]])
        st, _, ep2 = srv.post_json("/v1/endpoints", {"id": "inv-other",
                                                     "url": cls.rx.url("/other"),
                                                     "events": ["invitation.created"],
                                                     "surveys": ["other"]})
        assert st == 201, ep2
        cls.rx.set_secret("/other", [ep2["secret"]])
        cls.db = sqlite3.connect("file:%s?mode=ro" % srv.db, uri=True)

    @classmethod
    def tearDownClass(cls):
        cls.db.close()
        cls.srv.stop()
        cls.rx.stop()
        err = cls.srv.stderr()
        assert "Sanitizer" not in err and "runtime error" not in err, err[-4000:]

    def mint(self, items, sid="shop", headers=None, **body):
        body = dict(body, invitations=items)
        kw = {"headers": headers, "auth": False} if headers else {}
        return self.srv.post_json("/v1/surveys/%s/invitations" % sid, body, **kw)

    def invitations(self, where="1", args=()):
        return self.db.execute("SELECT count(*) FROM invitations WHERE " + where,
                               args).fetchone()[0]

    def active_kid(self):
        st, _, body = self.srv.get("/v1/link-keys")
        self.assertEqual(st, 200, body)
        return [k["kid"] for k in body["keys"] if k["active"]][0]

    def test_mint_and_decode_every_link(self):
        before = time.time()
        items = [item("cust-1", stage="purchase", touchpoint="web", channel="email",
                      segment="smb", attributes={"order": "A-1", "note": "Ünïcode ok"},
                      lang="bg", expires_in=3600, email="ana@example.com"),
                 item("cust-2", expires_at=int(before) + 2 * DAY),
                 item("cust-3", lang="pt-BR")]
        st, h, body = self.mint(items, headers=bearer(self.keys["ingest"]))
        after = time.time()
        self.assertEqual(st, 200, body)
        self.assertEqual((body["minted"], body["skipped"]), (3, 0))
        self.assertEqual(len(body["invitations"]), 3)
        kid = self.active_kid()
        ids = set()
        for i, (asked, got) in enumerate(zip(items, body["invitations"])):
            self.assertEqual(set(got), {"index", "customer", "status", "id", "url",
                                        "expires_at"})
            self.assertEqual((got["index"], got["customer"], got["status"]),
                             (i, asked["customer"], "minted"))
            tkid, c = claims_of(token_of(got["url"], self.base))
            self.assertEqual(tkid, kid)
            self.assertEqual(c["v"], 1)
            self.assertEqual(c["s"], "shop")
            self.assertEqual(c["st"], asked["stage"])
            self.assertEqual(c["tp"], asked["touchpoint"])
            self.assertEqual(c["c"], asked["customer"])
            self.assertEqual(c.get("ch"), asked.get("channel"))
            self.assertEqual(c.get("sg"), asked.get("segment"))
            self.assertEqual(c.get("l"), asked.get("lang"))
            self.assertEqual(c.get("a"), asked.get("attributes"))
            self.assertEqual(c["n"], got["id"])
            self.assertEqual(len(c["n"]), 22)
            self.assertTrue(int(before) <= c["iat"] <= after, c)
            self.assertEqual(c["exp"], got["expires_at"])
            if "expires_in" in asked:
                self.assertEqual(c["exp"], c["iat"] + asked["expires_in"])
            elif "expires_at" in asked:
                self.assertEqual(c["exp"], asked["expires_at"])
            else:   # the default --link-ttl, 30 days
                self.assertEqual(c["exp"], c["iat"] + 30 * DAY)
            ids.add(c["n"])
            self.assertEqual(self.invitations("nonce = ? AND customer = ? AND survey = 'shop' "
                                              "AND stage = ? AND touchpoint = ? AND "
                                              "minted_at = ? AND expires_at = ?",
                                              (c["n"], c["c"], c["st"], c["tp"], c["iat"],
                                               c["exp"])), 1)
        self.assertEqual(len(ids), 3)

        # the receiver got one invitation.created per invitation, signed, with the link
        want = {g["id"]: (a, g) for a, g in zip(items, body["invitations"])}
        recs = self.wait_records("/inv", lambda r: r.body["data"]["invitation"]["id"] in want, 3)
        for r in recs:
            self.assertTrue(r.verified, r.reason)
            self.assertEqual(r.body["type"], "invitation.created")
            inv = r.body["data"]["invitation"]
            asked, got = want[inv["id"]]
            _, c = claims_of(token_of(got["url"], self.base))
            self.assertEqual(inv, {
                "id": got["id"], "survey": "shop", "stage": asked["stage"],
                "touchpoint": asked["touchpoint"], "channel": asked.get("channel"),
                "segment": asked.get("segment"), "customer": asked["customer"],
                "lang": asked.get("lang"), "attributes": asked.get("attributes"),
                "email": asked.get("email"), "url": got["url"],
                "expires_at": got["expires_at"], "minted_at": c["iat"]})
        # the endpoint that lists only survey "other" got none of them
        self.assertFalse([r for r in self.rx.records("/other")
                          if r.body["data"]["invitation"]["id"] in want])

    def wait_records(self, path, pred, n, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = [r for r in self.rx.records(path) if r.body and pred(r)]
            if len(got) >= n:
                self.assertEqual(len(got), n)
                return got
            time.sleep(0.05)
        self.fail("expected %d deliveries at %s, got %d" % (n, path, len(got)))

    def test_webhook_false_and_survey_filter(self):
        st, _, body = self.mint([item("quiet-1")], webhook=False)
        self.assertEqual(st, 200, body)
        st, _, other = self.mint([item("loud-1")], sid="other")
        self.assertEqual(st, 200, other)
        oid = other["invitations"][0]["id"]
        # the "other" endpoint and the all-surveys one both get the other survey's
        self.wait_records("/other", lambda r: r.body["data"]["invitation"]["id"] == oid, 1)
        self.wait_records("/inv", lambda r: r.body["data"]["invitation"]["id"] == oid, 1)
        qid = body["invitations"][0]["id"]
        self.assertEqual(self.db.execute("SELECT count(*) FROM deliveries WHERE payload LIKE ?",
                                         ("%" + qid + "%",)).fetchone()[0], 0)
        self.assertEqual(self.invitations("nonce = ?", (qid,)), 1)

    def test_links_name_the_public_url(self):
        srv = Server(args=["--public-url", "https://cx.example/fb", "--no-access-log"]).start()
        try:
            self.assertEqual(srv.post_json("/v1/surveys", survey("s"))[0], 201)
            st, _, body = srv.post_json("/v1/surveys/s/invitations",
                                        {"invitations": [item("p-1")]})
            self.assertEqual(st, 200, body)
            url = body["invitations"][0]["url"]
            self.assertTrue(url.startswith("https://cx.example/fb/i/k"), url)
            claims_of(token_of(url, "https://cx.example/fb"))
        finally:
            srv.assert_clean_exit(self)

    def test_errors(self):
        before = self.invitations()
        long = "x" * 129
        cases = [
            ({"invitations": [item("ok"), {"stage": "delivery", "touchpoint": "parcel"}]},
             422, "missing_field", "invitations[1].customer"),
            ({"invitations": [item(long)]}, 422, "invalid_label", "invitations[0].customer"),
            ({"invitations": [item("a\u0001b")]}, 422, "invalid_label",
             "invitations[0].customer"),
            ({"invitations": [item("c", stage="refund")]}, 422, "invalid_stage",
             "invitations[0].stage"),
            ({"invitations": [item("c", touchpoint="web")]}, 422, "unknown_touchpoint",
             "invitations[0].touchpoint"),
            ({"invitations": [item("c", channel="fax")]}, 422, "unknown_channel",
             "invitations[0].channel"),
            ({"invitations": [item("c", segment="vip")]}, 422, "unknown_segment",
             "invitations[0].segment"),
            ({"invitations": [item("c", channel="x" * 65)]}, 422, "invalid_label",
             "invitations[0].channel"),
            ({"invitations": [item("c", attributes=["a"])]}, 422, "invalid_attributes",
             "invitations[0].attributes"),
            ({"invitations": [item("c", attributes={"n": 1})]}, 422, "invalid_attributes",
             "invitations[0].attributes"),
            ({"invitations": [item("c", attributes={"bad name": "v"})]}, 422,
             "invalid_attributes", "invitations[0].attributes"),
            ({"invitations": [item("c", attributes={"k%d" % i: "v" for i in range(21)})]},
             422, "invalid_attributes", "invitations[0].attributes"),
            # 20 attributes of 60 bytes: each valid, together past the link's 1024 bytes
            ({"invitations": [item("c", attributes={"k%02d" % i: "v" * 60
                                                     for i in range(20)})]},
             422, "invalid_attributes", "invitations[0].attributes"),
            ({"invitations": [item("c", lang="english")]}, 422, "invalid_lang",
             "invitations[0].lang"),
            ({"invitations": [item("c", lang="EN")]}, 422, "invalid_lang",
             "invitations[0].lang"),
            ({"invitations": [item("c", expires_in=59)]}, 422, "invalid_expiry",
             "invitations[0].expires_in"),
            ({"invitations": [item("c", expires_in=365 * DAY + 1)]}, 422, "invalid_expiry",
             "invitations[0].expires_in"),
            ({"invitations": [item("c", expires_in="3600")]}, 422, "invalid_expiry",
             "invitations[0].expires_in"),
            ({"invitations": [item("c", expires_at=int(time.time()) - 10)]}, 422,
             "invalid_expiry", "invitations[0].expires_at"),
            ({"invitations": [item("c", expires_at=1, expires_in=3600)]}, 422,
             "invalid_expiry", "invitations[0].expires_at"),
            ({"invitations": [item("c", email="not-an-address")]}, 422, "invalid_email",
             "invitations[0].email"),
            ({"invitations": [item("c", colour="red")]}, 422, "unknown_field",
             "invitations[0].colour"),
            ({"invitations": [item("c"), "c2"]}, 422, "invalid_invitation", None),
            ({"invitations": []}, 422, "invalid_invitations", "invitations"),
            ({"invitations": {"customer": "c"}}, 422, "invalid_invitations", "invitations"),
            ({}, 422, "invalid_invitations", "invitations"),
            ({"invitations": [item("c")], "extra": 1}, 422, "unknown_field", "extra"),
            ({"invitations": [item("c")], "webhook": "yes"}, 422, "invalid_field", "webhook"),
            ({"invitations": [item("c", email="ana@example.com")], "send_email": True}, 422,
             "mail_not_configured", "send_email"),
            ({"invitations": [item("c%d" % i) for i in range(1001)]}, 413,
             "too_many_invitations", "invitations"),
        ]
        for body, status, code, field in cases:
            with self.subTest(code=code, field=field):
                st, _, got = self.srv.post_json("/v1/surveys/shop/invitations", body)
                self.assertEqual(st, status, got)
                self.assertEqual(got["error"]["code"], code, got)
                if field:
                    self.assertEqual(got["error"]["field"], field, got)
        # a message names the value
        st, _, got = self.mint([item("c", touchpoint="web")])
        self.assertIn("'web'", got["error"]["message"])
        # the whole request is checked first: a bad last item writes nothing
        st, _, got = self.mint([item("first-ok"), item("second-ok"), item("x", stage="no")])
        self.assertEqual(st, 422)
        self.assertEqual(got["error"]["field"], "invitations[2].stage")
        self.assertEqual(self.invitations(), before)
        # 1000 is allowed
        st, _, got = self.mint([item("bulk-%d" % i) for i in range(1000)], webhook=False)
        self.assertEqual(st, 200, got)
        self.assertEqual(got["minted"], 1000)
        self.assertEqual(self.invitations(), before + 1000)
        # not JSON
        st, _, got = self.srv.request("POST", "/v1/surveys/shop/invitations", body=b"{",
                                      headers={"Content-Type": "application/json"})
        self.assertEqual(st, 400, got)

    def test_who_may_mint(self):
        body = {"invitations": [item("who-1")]}
        path = "/v1/surveys/shop/invitations"
        self.assertEqual(self.srv.post_json(path, body, auth=False)[0], 401)
        st, _, got = self.srv.post_json(path, body, headers=bearer(self.keys["read"]),
                                        auth=False)
        self.assertEqual(st, 403, got)
        # a key limited to survey "other" may not mint for "shop": as on .../responses
        st, _, got = self.srv.post_json(path, body, headers=bearer(self.keys["other_only"]),
                                        auth=False)
        self.assertEqual(st, 403, got)
        self.assertEqual(got["error"]["code"], "forbidden")
        st2, _, resp = self.srv.post_json("/v1/surveys/shop/responses",
                                          {"stage": "delivery", "touchpoint": "parcel",
                                           "nps": 9}, headers=bearer(self.keys["other_only"]),
                                          auth=False)
        self.assertEqual((st2, resp["error"]["code"]), (st, got["error"]["code"]))
        st, _, got = self.srv.post_json("/v1/surveys/other/invitations", body,
                                        headers=bearer(self.keys["other_only"]), auth=False)
        self.assertEqual(st, 200, got)
        st, _, got = self.srv.post_json("/v1/surveys/nope/invitations", body)
        self.assertEqual((st, got["error"]["code"]), (404, "unknown_survey"))
        self.assertEqual(self.invitations("customer = 'who-1'"), 1)
        # link keys and fatigue settings are the admin's
        for key in ("ingest", "read"):
            for method, p, b in (("GET", "/v1/link-keys", None), ("POST", "/v1/link-keys", None),
                                 ("DELETE", "/v1/link-keys/kx", None),
                                 ("GET", "/v1/settings/fatigue", None),
                                 ("PUT", "/v1/settings/fatigue", {"max_invitations": 1,
                                                                 "per_days": 1})):
                st, _, got = self.srv.request(method, p, body=b, headers=bearer(self.keys[key]),
                                              auth=False)
                self.assertEqual(st, 403, (method, p, key, got))
        self.assertEqual(self.srv.get("/v1/settings/fatigue")[2],
                         {"max_invitations": 0, "per_days": 0, "after_answer_days": 0})

    def test_fatigue_settings_errors(self):
        for body, field in (({"max_invitations": 3}, "fatigue"),
                            ({"max_invitations": 1, "per_days": 3651}, "fatigue"),
                            ({"max_invitations": -1, "per_days": 1}, "fatigue"),
                            ({"after_answer_days": "7"}, "fatigue"),
                            ({"often": 1}, "fatigue"),
                            ([1], None)):
            with self.subTest(body=body):
                st, _, got = self.srv.request("PUT", "/v1/settings/fatigue", body)
                self.assertEqual((st, got["error"]["code"]), (422, "invalid_fatigue"), got)
                self.assertEqual(got["error"]["field"], field)
        # nothing of them was kept (the other tests here mint with no rules)
        self.assertEqual(self.srv.get("/v1/settings/fatigue")[2],
                         {"max_invitations": 0, "per_days": 0, "after_answer_days": 0})

    def test_link_keys_rotation(self):
        st, _, old = self.mint([item("rot-1")])
        self.assertEqual(st, 200, old)
        old_url = old["invitations"][0]["url"]
        old_kid = claims_of(token_of(old_url, self.base))[0]
        self.assertEqual(self.active_kid(), old_kid)
        st, _, key = self.srv.post_json("/v1/link-keys", None)
        self.assertEqual(st, 201, key)
        self.assertEqual(set(key), {"kid", "created_at", "active"})
        self.assertTrue(key["active"])
        self.assertNotEqual(key["kid"], old_kid)
        st, _, listed = self.srv.get("/v1/link-keys")
        self.assertEqual(st, 200)
        for k in listed["keys"]:
            self.assertEqual(set(k), {"kid", "created_at", "active"})   # never a secret
        by_kid = {k["kid"]: k["active"] for k in listed["keys"]}
        self.assertEqual((by_kid[old_kid], by_kid[key["kid"]]), (False, True))
        self.assertEqual(sum(by_kid.values()), 1)
        st, _, new = self.mint([item("rot-2")])
        new_url = new["invitations"][0]["url"]
        self.assertEqual(claims_of(token_of(new_url, self.base))[0], key["kid"])
        page_works = self.page_status(old_url) != 501
        if page_works:   # H2's page: the old link still opens after the rotation
            self.assertEqual(self.page_status(old_url), 200)
        st, _, got = self.srv.request("DELETE", "/v1/link-keys/" + key["kid"])
        self.assertEqual((st, got["error"]["code"]), (409, "link_key_active"))
        self.assertEqual(self.srv.request("DELETE", "/v1/link-keys/kNoSuchKey")[0], 404)
        st, _, got = self.srv.request("DELETE", "/v1/link-keys/" + old_kid)
        self.assertEqual(st, 204, got)
        self.assertNotIn(old_kid, [k["kid"] for k in self.srv.get("/v1/link-keys")[2]["keys"]])
        self.assertEqual(self.srv.request("DELETE", "/v1/link-keys/" + old_kid)[0], 404)
        if page_works:   # its links stop working; the new key's keep working
            self.assertNotEqual(self.page_status(old_url), 200)
            self.assertEqual(self.page_status(new_url), 200)

    def page_status(self, url):
        path = url[len(self.base):]
        return self.srv.request("GET", path, auth=False, headers={"Accept": "text/html"})[0]

    def test_tampered_link_is_refused(self):
        st, _, body = self.mint([item("tamper-1", expires_in=600)])
        url = body["invitations"][0]["url"]
        if self.page_status(url) == 501:
            self.skipTest("the hosted page (GET /i/TOKEN) is not there yet")
        self.assertEqual(self.page_status(url), 200)
        kid, payload, mac = token_of(url, self.base).split(".")
        claims = json.loads(b64url_decode(payload))
        claims["c"] = "someone-else"
        forged = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":"))
                                          .encode()).decode().rstrip("=")
        for bad in (forged, payload[:-1] + ("A" if payload[-1] != "A" else "B")):
            st = self.page_status("%s/i/%s.%s.%s" % (self.base, kid, bad, mac))
            self.assertNotEqual(st, 200)
            self.assertLess(st, 500)

    def test_metrics(self):
        text = self.srv.get("/metrics")[2]
        before = int(text.split('cxd_invitations_total{result="minted"} ')[1].split()[0])
        st, _, body = self.mint([item("m-1"), item("m-2")])
        self.assertEqual(st, 200)
        text = self.srv.get("/metrics")[2]
        self.assertIn('cxd_invitations_total{result="minted"} %d\n' % (before + 2), text)
        self.assertIn('cxd_invitations_total{result="skipped"} ', text)


class EraseTest(unittest.TestCase):
    def test_erasure_removes_invitations_and_their_deliveries(self):
        rx = whreceiver.Receiver().start()
        rx.set_mode("fail")   # deliveries stay queued (pending) while the customer is erased
        srv = Server(args=WH_FLAGS).start()
        try:
            self.assertEqual(srv.post_json("/v1/surveys", survey("s"))[0], 201)
            st, _, ep = srv.post_json("/v1/endpoints", {"id": "e", "url": rx.url("/e"),
                                                        "events": ["invitation.created"]})
            self.assertEqual(st, 201, ep)
            st, _, body = srv.post_json("/v1/surveys/s/invitations", {"invitations": [
                item("gone-1"), item("gone-1", stage="purchase", touchpoint="web"),
                item("kept-1")]})
            self.assertEqual((st, body["minted"]), (200, 3), body)
            st, _, got = srv.request("DELETE", "/v1/customers/gone-1")
            self.assertEqual(st, 200, got)
        finally:
            code = srv.stop()
            rx.stop()
        self.assertEqual(code, 0)
        db = sqlite3.connect(srv.db)
        q = lambda sql, *a: db.execute(sql, a).fetchone()[0]  # noqa: E731
        self.assertEqual(q("SELECT count(*) FROM invitations WHERE customer = 'gone-1'"), 0)
        self.assertEqual(q("SELECT count(*) FROM invitations WHERE customer = 'kept-1'"), 1)
        self.assertEqual(q("SELECT count(*) FROM deliveries WHERE customer = 'gone-1'"), 0)
        self.assertEqual(q("SELECT count(*) FROM deliveries WHERE payload LIKE '%gone-1%'"), 0)
        self.assertEqual(q("SELECT count(*) FROM deliveries WHERE customer = 'kept-1' AND "
                           "type = 'invitation.created'"), 1)
        db.close()


class Model:
    """The fatigue rules as the README states them, over the history this test made."""

    def __init__(self, service, surveys):
        self.service = service   # (N, D, A)
        self.surveys = surveys   # sid -> (N, D, A)
        self.mints = []          # (customer, survey, minted_at)
        self.answers = []        # (customer, survey, received_at unix s)

    @staticmethod
    def decide(rule, mints, answers, now):
        n, d, a = rule
        reason = eligible = None
        if n:
            inside = sorted((m for m in mints if m > now - d * DAY), reverse=True)
            if len(inside) >= n:
                reason, eligible = "max_invitations", inside[n - 1] + d * DAY
        if a and answers:
            until = max(answers) + a * DAY
            if now < until and (reason is None or until > eligible):
                reason, eligible = "answered_recently", until
        return reason, eligible

    def verdict(self, customer, sid, now):
        sv = self.decide(self.service, [m for c, s, m in self.mints if c == customer],
                         [t for c, s, t in self.answers if c == customer], now)
        uv = self.decide(self.surveys[sid],
                         [m for c, s, m in self.mints if c == customer and s == sid],
                         [t for c, s, t in self.answers if c == customer and s == sid], now)
        if sv[0] and (not uv[0] or sv[1] >= uv[1]):
            return "service", sv[0], sv[1]
        if uv[0]:
            return "survey", uv[0], uv[1]
        return None


class FatigueAtScaleTest(unittest.TestCase):
    """3,000 invitations over 500 customers and 2 surveys, in 6 requests, with a service
    rule (2 per 30 days, none within 3 days of an answer) and a rule per survey; answers
    posted between the requests. Every outcome is predicted by Model."""

    def test_thousands_recomputed(self):
        rnd = random.Random(13)
        srv = Server(args=["--no-access-log"]).start()
        try:
            rules = {"s1": (0, 0, 10), "s2": (1, 7, 0)}
            for sid, (n, d, a) in rules.items():
                st, _, b = srv.post_json("/v1/surveys", survey(sid, fatigue={
                    "max_invitations": n, "per_days": d, "after_answer_days": a}))
                self.assertEqual(st, 201, b)
            st, _, b = srv.request("PUT", "/v1/settings/fatigue",
                                   {"max_invitations": 2, "per_days": 30, "after_answer_days": 3})
            self.assertEqual(st, 200, b)
            self.assertEqual(srv.get("/v1/settings/fatigue")[2],
                             {"max_invitations": 2, "per_days": 30, "after_answer_days": 3})
            model = Model((2, 30, 3), rules)
            db = sqlite3.connect("file:%s?mode=ro" % srv.db, uri=True)
            customers = ["cust-%03d" % i for i in range(500)]
            expires_in = 7 * DAY
            total = skipped_n = 0
            reasons = set()
            for req in range(6):
                if req in (2, 4):   # answers between requests: after_answer_days bites
                    self.answer(srv, db, model, rnd.sample(customers, 60), rnd)
                sid = "s1" if req % 2 == 0 else "s2"
                # a fresh customer first, so every request mints one and shows its `now`
                items = [item("fresh-%d" % req, expires_in=expires_in)]
                items += [item(rnd.choice(customers), expires_in=expires_in) for _ in range(499)]
                st, _, body = srv.post_json("/v1/surveys/%s/invitations" % sid,
                                            {"invitations": items, "webhook": False})
                self.assertEqual(st, 200, body)
                outs = body["invitations"]
                self.assertEqual(len(outs), 500)
                now = outs[0]["expires_at"] - expires_in
                for i, (asked, got) in enumerate(zip(items, outs)):
                    want = model.verdict(asked["customer"], sid, now)
                    self.assertEqual(got["index"], i)
                    self.assertEqual(got["customer"], asked["customer"])
                    if want is None:
                        self.assertEqual(got["status"], "minted", (req, i, got))
                        self.assertEqual(got["expires_at"] - expires_in, now)
                        model.mints.append((asked["customer"], sid, now))
                    else:
                        self.assertEqual(got["status"], "skipped", (req, i, got, want))
                        self.assertEqual((got["rule"], got["reason"], got["eligible_at"]), want,
                                         (req, i, got))
                        self.assertNotIn("url", got)
                        skipped_n += 1
                        reasons.add(want[:2])
                total += len(outs)
                self.assertEqual(body["minted"] + body["skipped"], 500)
                self.assertEqual(body["skipped"], sum(o["status"] == "skipped" for o in outs))
            self.assertEqual(total, 3000)
            # every kind of refusal happened, and many were refused
            self.assertEqual(reasons, {("service", "max_invitations"),
                                       ("service", "answered_recently"),
                                       ("survey", "max_invitations"),
                                       ("survey", "answered_recently")})
            self.assertGreater(skipped_n, 1000)
            # the rows are exactly the model's mints
            rows = sorted(db.execute("SELECT customer, survey, minted_at FROM invitations"))
            self.assertEqual(rows, sorted(model.mints))
            db.close()
        finally:
            srv.assert_clean_exit(self)

    def answer(self, srv, db, model, who, rnd):
        for c in who:
            sid = rnd.choice(["s1", "s2"])
            st, _, b = srv.post_json("/v1/surveys/%s/responses" % sid, {
                "stage": "delivery", "touchpoint": "parcel", "nps": rnd.randint(0, 10),
                "customer": c})
            self.assertEqual(st, 201, b)
            # the rules count the server's receipt time (unix ms), floored to seconds
            received = db.execute("SELECT received_at FROM responses WHERE id = ?",
                                  (b["id"],)).fetchone()[0]
            model.answers.append((c, sid, received // 1000))


if __name__ == "__main__":
    unittest.main()
