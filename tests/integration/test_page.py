"""Integration tests for the hosted survey page (/i/TOKEN, /s/SURVEY) against the real
binary: tampered, expired and reused links, a mail scanner, the public page's sealed second
step, language choice, escaping, bad input, and `cxd check` after edits.

Expired and forged links are signed here in Python with the database's own link key
(read from the SQLite file), exactly as link.h describes the format, so a test can make a
link the API would never mint (expired, another kid, changed bytes)."""
import base64
import hashlib
import hmac
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
from cxdtest import Server  # noqa: E402

WINDOW = 3   # --edit-window, seconds

EVIL = "Caf\u00e9 <script>alert(1)</script> \"q\" 'a' & co"


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class PageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(args=["--edit-window", "%ds" % WINDOW]).start()
        s = cls.srv
        assert s.post_json("/v1/surveys", {
            "id": "shop", "title": EVIL, "stages": ["delivery"],
            "touchpoints": {"delivery": ["courier", "pickup"]},
            "texts": {"ru": {"question": "\u0421\u0432\u043e\u0439 \u0432\u043e\u043f\u0440\u043e\u0441 \u043f\u0440\u043e {title}?"}}})[0] == 201
        assert s.post_json("/v1/surveys", {
            "id": "pub", "title": "Pub", "public": True, "stages": ["visit"],
            "touchpoints": {"visit": ["table", "counter"]}, "channels": ["qr", "web"],
            "question": "csat"})[0] == 201
        assert s.post_json("/v1/surveys", {
            "id": "priv", "title": "Private", "stages": ["visit"],
            "touchpoints": {"visit": ["table"]}})[0] == 201
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.srv.assert_clean_exit(unittest.TestCase())

    # --- helpers ---
    def mint(self, survey="shop", **kw):
        PageTest.n += 1
        inv = {"customer": "c-%d" % PageTest.n, "stage": "delivery", "touchpoint": "courier"}
        if survey == "pub":
            inv.update(stage="visit", touchpoint="table")
        inv.update(kw)
        st, _, body = self.srv.post_json("/v1/surveys/%s/invitations" % survey,
                                         {"invitations": [inv], "webhook": False})
        self.assertEqual(st, 200, body)
        self.assertEqual(body["invitations"][0]["status"], "minted", body)
        url = body["invitations"][0]["url"]
        return urllib.parse.urlparse(url).path, body["invitations"][0]["id"]

    def key(self):
        db = sqlite3.connect(self.srv.db)
        kid, secret = db.execute("SELECT kid, secret FROM link_keys WHERE active = 1").fetchone()
        db.close()
        return kid, bytes(secret)

    def sign(self, claims, kid=None, secret=None):
        k, s = self.key()
        kid, secret = kid or k, secret or s
        payload = b64u(json.dumps(claims, separators=(",", ":")).encode())
        mac = hmac.new(secret, ("%s.%s" % (kid, payload)).encode(), hashlib.sha256).digest()
        return "/i/%s.%s.%s" % (kid, payload, b64u(mac))

    def claims(self, **kw):
        PageTest.n += 1
        now = int(time.time())
        c = {"v": 1, "s": "shop", "st": "delivery", "tp": "courier", "c": "k-%d" % PageTest.n,
             "n": b64u(os.urandom(16)), "iat": now - 100, "exp": now + 3600}
        c.update(kw)
        return c

    def get(self, path, headers=None):
        return self.srv.request("GET", path, headers=headers, auth=False)

    def post(self, path, fields, headers=None):
        return self.srv.post_form(path, fields, headers=headers, auth=False)

    def responses(self, survey="shop"):
        db = sqlite3.connect(self.srv.db)
        rows = db.execute("SELECT id, nps, csat, comment FROM responses WHERE survey = ? "
                          "ORDER BY id", (survey,)).fetchall()
        db.close()
        return rows

    def invitation(self, nonce):
        db = sqlite3.connect(self.srv.db)
        row = db.execute("SELECT opened_at, answered_at, response_id, commented FROM "
                         "invitations WHERE nonce = ?", (nonce,)).fetchone()
        db.close()
        return row

    def nps_groups(self, survey="shop", touchpoint=None):
        st, _, body = self.srv.get("/v1/surveys/%s/scores%s" % (
            survey, "?touchpoint=" + touchpoint if touchpoint else ""))
        self.assertEqual(st, 200, body)
        g = body["groups"][0] if body["groups"] else None
        return g if g and g["responses"] else None

    def assertPage(self, status, resp, text=None, lang=None):
        st, h, body = resp
        self.assertEqual(st, status, body[:2000] if isinstance(body, str) else body)
        self.assertTrue(h.get("content-type", "").startswith("text/html"), h)
        self.assertEqual(h.get("cache-control"), "no-store")
        csp = h.get("content-security-policy", "")
        self.assertIn("default-src 'none'", csp)
        self.assertIn("style-src 'sha256-", csp)
        self.assertNotIn("script-src", csp)
        self.assertEqual(body.count("<h1>"), 1, body)
        self.assertIn("<meta name=\"viewport\"", body)
        if text:
            self.assertIn(text, body)
        if lang:
            self.assertIn('<html lang="%s"' % lang, body)
        return body

    # --- links ---
    def test_tampered_links_are_one_page_and_store_nothing(self):
        path, _ = self.mint()
        token = path[3:]
        kid, payload, mac = token.split(".")
        # one byte of the payload (its JSON still valid base64url), one of the MAC, another kid
        p = bytearray(unb64u(payload))
        p[p.index(b'"c":"') + 5] ^= 0x01
        variants = {
            "payload": "%s.%s.%s" % (kid, b64u(bytes(p)), mac),
            "mac": "%s.%s.%s" % (kid, payload, ("A" if mac[0] != "A" else "B") + mac[1:]),
            "kid": "kZZZZZZZZ.%s.%s" % (payload, mac),
            "other-secret": self.sign(json.loads(unb64u(payload)), secret=b"x" * 32)[3:],
            "malformed": "not-a-token",
            "two-parts": "%s.%s" % (kid, payload),
            "long": "k" + "A" * 5000,
        }
        before = self.responses()
        pages = set()
        for name, tok in variants.items():
            with self.subTest(name):
                body = self.assertPage(404, self.get("/i/" + tok), "This link doesn&#39;t work", "en")
                pages.add(body)
                self.assertPage(404, self.post("/i/" + tok, {"score": "10", "comment": "x"}),
                                "This link doesn&#39;t work")
        # nothing in the page tells the three cases apart
        self.assertEqual(len(pages), 1)
        self.assertEqual(self.responses(), before)
        # and the real link still works
        self.assertPage(200, self.get(path), 'name="score"')

    def test_expired_link(self):
        c = self.claims(exp=int(time.time()) - 5)
        path = self.sign(c)
        self.assertPage(410, self.get(path), "This link has expired")
        self.assertPage(410, self.post(path, {"score": "9"}), "This link has expired")
        self.assertPage(410, self.get(path + "?lang=bg"), "\u0412\u0440\u044a\u0437\u043a\u0430\u0442\u0430 \u0435 \u0438\u0437\u0442\u0435\u043a\u043b\u0430", "bg")
        self.assertIsNone(self.invitation(c["n"]))
        # the same claims unexpired answer fine (the signature, not the row, is the check)
        c2 = dict(c, exp=int(time.time()) + 60)
        st, h, _ = self.post(self.sign(c2), {"score": "9"})
        self.assertEqual(st, 303)
        self.assertEqual(self.invitation(c2["n"])[2], self.responses()[-1][0])

    def test_answer_edit_and_window(self):
        path, nonce = self.mint(customer="reuse-1", touchpoint="pickup")   # its own group
        st, h, body = self.get(path + "?score=9")
        self.assertIn('id="s9" value="9" checked', body)
        self.assertEqual(body.count(" checked"), 1)
        self.assertEqual(self.nps_groups(touchpoint="pickup"), None)   # a GET stores nothing
        # step 1
        st, h, _ = self.post(path, {"score": "9"})
        self.assertEqual(st, 303)
        self.assertEqual(h["location"], path + "?step=2&score=9&lang=en")
        g = self.nps_groups(touchpoint="pickup")
        self.assertEqual((g["responses"], g["nps"]["promoters"]), (1, 1))
        # step 2 page and the reason
        body = self.assertPage(200, self.get(h["location"]), "What is the main reason")
        self.assertIn('<label class="reason" for="comment">', body)
        self.assertIn('name="score" value="9"', body)
        st, h, _ = self.post(path, {"score": "9", "comment": "fast courier"})
        self.assertEqual(st, 303)
        self.assertEqual(h["location"], path + "?step=thanks&lang=en")
        self.assertPage(200, self.get(h["location"]), "Thank you!")
        rows = self.responses()
        self.assertEqual(rows[-1][1:], (9, None, "fast courier"))
        inv = self.invitation(nonce)
        self.assertIsNotNone(inv[0])            # opened
        self.assertEqual(inv[2], rows[-1][0])   # answered by that response
        self.assertEqual(inv[3], 1)             # with a comment
        # a second answer within the window edits the first: still one response
        st, h, _ = self.post(path, {"score": "2"})
        self.assertEqual(st, 303)
        g = self.nps_groups(touchpoint="pickup")
        self.assertEqual((g["responses"], g["nps"]["promoters"], g["nps"]["detractors"]), (1, 0, 1))
        self.assertEqual(self.responses()[-1][1:], (2, None, "fast courier"))
        # after the window: refused politely, nothing changes
        time.sleep(WINDOW + 1.2)
        self.assertPage(409, self.post(path, {"score": "10", "comment": "late"}),
                        "You already answered")
        self.assertEqual(self.responses()[-1][1:], (2, None, "fast courier"))
        # and the link's page says so (no form), also with a one-click score
        for suffix in ("", "?score=10", "?step=2&score=10"):
            body = self.assertPage(200, self.get(path + suffix), "You already answered")
            self.assertNotIn("<form", body)
        g = self.nps_groups(touchpoint="pickup")
        self.assertEqual((g["responses"], g["nps"]["detractors"]), (1, 1))
        self.check_consistent()

    def check_consistent(self):
        r = subprocess.run([cxdtest.CXD, "check", "--db", self.srv.db], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("rollups agree", r.stderr)

    def test_mail_scanner_stores_nothing(self):
        links = [self.mint() for _ in range(3)]
        before = self.responses()
        for i, (path, _) in enumerate(links):
            for suffix in [""] + ["?score=%d" % v for v in range(11)] + ["?score=99", "?score=-1",
                                                                          "?step=2&score=10", "?step=thanks"]:
                if i < 2:
                    st, _, _ = self.get(path + suffix)
                    self.assertEqual(st, 200)
                c = self.srv.conn()
                c.request("HEAD", path + suffix)
                r = c.getresponse()
                r.read()
                c.close()
                self.assertEqual(r.status, 200)
        self.assertEqual(self.responses(), before)
        time.sleep(0.3)   # the view is recorded in the background
        for i, (_, nonce) in enumerate(links):
            row = self.invitation(nonce)
            self.assertIsNone(row[1])
            if i < 2:
                self.assertIsNotNone(row[0], "a GET is a view")
            else:
                self.assertIsNone(row[0], "a HEAD is not a view")
        # out-of-range scores choose nothing
        st, _, body = self.get(links[0][0] + "?score=11")
        self.assertNotIn(" checked", body)

    def test_bad_input(self):
        path, nonce = self.mint()
        for fields in ({"score": "11"}, {"score": "-1"}, {"score": "abc"}, {}, {"score": ""},
                       {"score": "9" * 50}):
            with self.subTest(fields):
                self.assertPage(422, self.post(path, fields), "Please choose a score first.")
        st, h, body = self.srv.request("POST", path, body=b'{"score": 9}', auth=False,
                                       headers={"Content-Type": "application/json"})
        self.assertEqual(st, 415)
        st, h, body = self.srv.request("POST", path, body=b'{"score": 9}\n', auth=False,
                                       headers={"Content-Type": "application/x-ndjson"})
        self.assertEqual(st, 415)
        # a body over --body-limit (64 KiB default) is refused with a page
        st, h, body = self.post(path, {"score": "9", "comment": "x" * 200000})
        self.assertEqual(st, 413)
        self.assertIn("text/html", h["content-type"])
        # a comment over 4000 bytes is refused by the validator (the page says why)
        self.assertPage(422, self.post(path, {"score": "9", "comment": "y" * 4001}), "4000")
        self.assertEqual(self.invitation(nonce)[1], None)
        # control characters in the comment
        self.assertPage(422, self.post(path, {"score": "9", "comment": "a\x01b"}))
        self.assertEqual(self.invitation(nonce)[1], None)
        for p in ("/i/", "/i/%00", "/i/..%2F..", "/i/" + "%ff" * 10, "/s/", "/s/%2e%2e"):
            with self.subTest(p):
                st, h, _ = self.get(p)
                self.assertIn(st, (400, 404))

    def test_escaping(self):
        path, _ = self.mint(attributes={"order": "<b>'x'</b>"})
        for body in (self.get(path)[2], self.get(path + "?step=2&score=3")[2],
                     self.get(path + "?lang=ru")[2]):
            self.assertNotIn("<script>alert", body)
            self.assertIn("Caf\u00e9 &lt;script&gt;alert(1)&lt;/script&gt; &quot;q&quot; &#39;a&#39; &amp; co", body)
            self.assertNotIn("<b>", body)
        # a lang parameter with markup never reaches the page
        st, _, body = self.get(path + "?lang=%22%3E%3Cscript%3E")
        self.assertIn('<html lang="en"', body)
        self.assertNotIn("<script>", body)

    def test_language_choice(self):
        path, _ = self.mint(lang="ru")
        plain, _ = self.mint()
        cases = [
            (plain, {}, "en", "How likely are you to recommend"),
            (plain + "?lang=bg", {}, "bg", "\u041a\u043e\u043b\u043a\u043e \u0432\u0435\u0440\u043e\u044f\u0442\u043d\u043e"),
            (plain, {"Accept-Language": "fr-CH, fr;q=0.9, bg;q=0.8, ru;q=0.5, *;q=0.1"}, "bg", None),
            (plain, {"Accept-Language": "de;q=0.2, ru-RU;q=0.7, bg;q=0.6"}, "ru", None),
            (plain, {"Accept-Language": "bg;q=0, fr"}, "en", None),
            (plain, {"Accept-Language": "junk;;;q=x, ;q=1, bg;q=2, ar;q=0.3"}, "ar", None),
            (plain, {"Accept-Language": ", ".join(["x%d" % i for i in range(30)] + ["bg"])}, "en", None),
            (path, {"Accept-Language": "bg"}, "ru", "\u0421\u0432\u043e\u0439 \u0432\u043e\u043f\u0440\u043e\u0441"),
            (path + "?lang=bg", {"Accept-Language": "ru"}, "bg", None),
            (path + "?lang=xx", {}, "ru", None),
            (plain + "?lang=ar", {}, "ar", "dir=\"rtl\""),
        ]
        for p, hdrs, lang, text in cases:
            with self.subTest(p=p, hdrs=hdrs):
                self.assertPage(200, self.get(p, headers=hdrs), text, lang)
        # the language survives the steps
        st, h, _ = self.post(path, {"score": "7", "lang": "ru"})
        self.assertIn("lang=ru", h["location"])
        self.assertPage(200, self.get(h["location"]),
                        "\u041a\u0430\u043a\u043e\u0432\u0430 \u0433\u043b\u0430\u0432\u043d\u0430\u044f \u043f\u0440\u0438\u0447\u0438\u043d\u0430", "ru")

    def test_fatigued_answer_is_refused_politely(self):
        s = self.srv
        self.assertEqual(s.post_json("/v1/surveys", {
            "id": "tired", "title": "Tired", "stages": ["delivery"],
            "touchpoints": {"delivery": ["courier"]},
            "fatigue": {"after_answer_days": 5}})[0], 201)
        first, _ = self.mint("tired", customer="same")
        second, nonce2 = self.mint("tired", customer="same")   # minted before any answer
        self.assertEqual(self.post(first, {"score": "8"})[0], 303)
        self.assertPage(409, self.post(second, {"score": "1"}), "We received your feedback recently")
        self.assertEqual([r[1] for r in self.responses("tired")], [8])
        self.assertIsNone(self.invitation(nonce2)[1])
        # the first link's own edit is no "answer elsewhere"
        self.assertEqual(self.post(first, {"score": "6", "comment": "ok"})[0], 303)
        self.assertEqual([r[1:] for r in self.responses("tired")], [(6, None, "ok")])

    def test_thank_you_url(self):
        self.assertEqual(self.srv.post_json("/v1/surveys", {
            "id": "ty", "title": "TY", "public": True, "stages": ["visit"],
            "touchpoints": {"visit": ["desk"]},
            "thank_you_url": "https://shop.example:8443/thanks?from=cxd"})[0], 201)
        st, h, _ = self.post("/s/ty", {"stage": "visit", "touchpoint": "desk", "score": "10"})
        self.assertEqual(st, 303)
        st, h, body = self.get(h["location"])
        self.assertIn("form-action 'self' https://shop.example:8443", h["content-security-policy"])
        self.assertIn('href="https://shop.example:8443/thanks?from=cxd"', body)   # Skip
        edit = re.search(r'name="edit" value="([^"]+)"', body).group(1)
        st, h, _ = self.post("/s/ty", {"edit": edit, "score": "10", "comment": "nice"})
        self.assertEqual((st, h["location"]), (303, "https://shop.example:8443/thanks?from=cxd"))
        # step 1 pages allow only 'self'
        st, h, _ = self.get("/s/ty?stage=visit&touchpoint=desk")
        self.assertTrue(h["content-security-policy"].endswith("form-action 'self'"))

    # --- a public survey's page ---
    def test_public_page_flow(self):
        base = "/s/pub?stage=visit&touchpoint=table&channel=qr"
        body = self.assertPage(200, self.get(base + "&score=4"), "How satisfied are you with Pub?")
        self.assertIn('id="s4" value="4" checked', body)
        self.assertNotIn('value="6"', body)   # CSAT: 1-5
        for hidden in ('name="stage" value="visit"', 'name="touchpoint" value="table"',
                       'name="channel" value="qr"'):
            self.assertIn(hidden, body)
        self.assertEqual(self.responses("pub"), [])
        rid = re.search(r'name="rid" value="([A-Za-z0-9_-]{22})"', body).group(1)
        self.assertNotIn(rid, self.get(base)[2])   # a new one per rendering
        form = {"stage": "visit", "touchpoint": "table", "channel": "qr", "score": "4", "rid": rid}
        st, h, _ = self.post("/s/pub", form)
        self.assertEqual(st, 303)
        loc = h["location"]
        # a double submit of the same rendering stores one answer (and goes to the same step)
        st, h2, _ = self.post("/s/pub", form)
        self.assertEqual(st, 303)
        self.assertEqual(h2["location"].split(".")[1], loc.split(".")[1])   # the same id sealed
        q = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query)
        edit = q["edit"][0]
        self.assertEqual(q["score"], ["4"])
        rows = self.responses("pub")
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0][2], 4)
        body = self.assertPage(200, self.get(loc), "What is the main reason")
        self.assertIn('name="edit" value="%s"' % edit, body)
        # forged seals: a changed id, a changed MAC, another survey's seal
        kid, rid, exp, mac = edit.split(".")
        forged = ["%s.%d.%s.%s" % (kid, int(rid) + 1, exp, mac),
                  "%s.%s.%s.%s" % (kid, rid, int(exp) + 999, mac),
                  "%s.%s.%s.%s" % (kid, rid, exp, ("A" if mac[0] != "A" else "B") + mac[1:]),
                  "garbage", ""]
        for f in forged:
            with self.subTest(f):
                st, _, _ = self.post("/s/pub", {"edit": f, "score": "1", "comment": "forged"})
                self.assertIn(st, (400, 422) if f == "" else (400,))
        self.assertEqual(self.responses("pub")[0][2:], (4, None))
        # the real seal adds the reason (and may change the score)
        st, h, _ = self.post("/s/pub", {"edit": edit, "score": "5", "comment": "friendly"})
        self.assertEqual(st, 303)
        self.assertEqual(h["location"], "/s/pub?step=thanks&lang=en")
        self.assertEqual(self.responses("pub")[0][2:], (5, "friendly"))
        g = self.nps_groups("pub")
        self.assertEqual(g["responses"], 1)
        # after the window the seal is expired: refused, nothing changes
        time.sleep(WINDOW + 1.2)
        self.assertPage(409, self.post("/s/pub", {"edit": edit, "score": "1", "comment": "late"}),
                        "You already answered")
        self.assertPage(409, self.get(loc), "You already answered")
        self.assertEqual(self.responses("pub")[0][2:], (5, "friendly"))
        self.check_consistent()

    def test_public_page_refusals(self):
        notfound = self.assertPage(404, self.get("/s/priv?stage=visit&touchpoint=table"),
                                   "This survey is not available")
        self.assertEqual(self.get("/s/nosuch?stage=visit&touchpoint=table")[2], notfound)
        for p, field in (("/s/pub", "stage"), ("/s/pub?stage=visit", "touchpoint"),
                         ("/s/pub?stage=nope&touchpoint=table", "stage"),
                         ("/s/pub?stage=visit&touchpoint=nope", "touchpoint"),
                         ("/s/pub?stage=visit&touchpoint=table&channel=sms", "channel")):
            with self.subTest(p):
                self.assertPage(404, self.get(p), field + ": not one of")
        # posts: a private or unknown survey is the same 404 page, and stores nothing
        for sid in ("priv", "nosuch"):
            body = self.assertPage(404, self.post("/s/" + sid, {"stage": "visit",
                                                               "touchpoint": "table",
                                                               "score": "5"}))
            self.assertIn("This survey is not available", body)
        self.assertEqual(self.responses("priv"), [])
        n = len(self.responses("pub"))
        self.assertPage(422, self.post("/s/pub", {"stage": "visit", "touchpoint": "nope",
                                                  "score": "5"}), "touchpoint")
        self.assertPage(422, self.post("/s/pub", {"stage": "visit", "touchpoint": "table",
                                                  "score": "6"}), "Please choose a score")
        self.assertEqual(len(self.responses("pub")), n)


if __name__ == "__main__":
    cxdtest.main("page")
