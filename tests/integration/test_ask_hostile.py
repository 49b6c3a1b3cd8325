"""Hostile tests of asking customers (issue 13) against the real binary: what a stranger
holding a link, a mail scanner and a careless operator can make cxd do with personal links
and the hosted page. Each test here failed before the fix its commit names.
"""
import os
import re
import sqlite3
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from cxdtest import Server  # noqa: E402


class AskHostileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(args=["--edit-window", "60s"]).start()
        s = cls.srv
        # an open survey: a keyed post may add touchpoints to it, a link's answer may not
        assert s.post_json("/v1/surveys", {
            "id": "open", "title": "Open", "stages": ["delivery"], "open_touchpoints": True,
            "touchpoints": {"delivery": ["courier", "pickup"]},
            "channels": ["email", "sms"], "segments": ["vip", "basic"]})[0] == 201
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.srv.assert_clean_exit(unittest.TestCase())

    # --- helpers ---
    def mint(self, survey="open", **kw):
        AskHostileTest.n += 1
        inv = {"customer": "h-%d" % AskHostileTest.n, "stage": "delivery", "touchpoint": "courier"}
        inv.update(kw)
        st, _, body = self.srv.post_json("/v1/surveys/%s/invitations" % survey,
                                         {"invitations": [inv], "webhook": False})
        self.assertEqual(st, 200, body)
        self.assertEqual(body["invitations"][0]["status"], "minted", body)
        return urllib.parse.urlparse(body["invitations"][0]["url"]).path, inv["customer"]

    def put_open(self, touchpoints=("courier", "pickup"), channels=("email", "sms"),
                 segments=("vip", "basic")):
        st, _, body = self.srv.request("PUT", "/v1/surveys/open", body={
            "title": "Open", "stages": ["delivery"], "open_touchpoints": True,
            "touchpoints": {"delivery": list(touchpoints)}, "channels": list(channels),
            "segments": list(segments)})
        self.assertEqual(st, 200, body)

    def get(self, path):
        return self.srv.request("GET", path, auth=False)

    def post(self, path, fields):
        return self.srv.post_form(path, fields, auth=False)

    def q(self, sql, *args):
        db = sqlite3.connect(self.srv.db)
        rows = db.execute(sql, args).fetchall()
        db.close()
        return rows

    def writer_jobs(self):
        """Jobs the writer has committed so far (the commit batch sizes' sum)."""
        st, _, text = self.srv.get("/metrics")
        self.assertEqual(st, 200)
        return int(re.search(r"^cxd_commit_batch_size_sum (\d+)$", text, re.M).group(1))

    def writer_sync(self):
        """Returns once every job queued before it was committed (the writer is FIFO)."""
        st, _, body = self.srv.post_json("/v1/surveys/open/responses", {
            "stage": "delivery", "touchpoint": "courier", "nps": 5})
        self.assertEqual(st, 201, body)

    def assertBroken(self, resp):
        st, h, body = resp
        self.assertEqual(st, 404, body[:600])
        self.assertTrue(h.get("content-type", "").startswith("text/html"), h)
        self.assertIn("This link doesn", body)

    # --- a link whose place left the survey's map since it was minted ---
    def test_link_to_a_removed_touchpoint_does_not_add_it_back(self):
        """An operator drops a touchpoint (or a channel, a segment) from the survey; links
        minted for it before must not put it back by being answered (minting never adds a
        touchpoint, and a link's answer is a browser's without a key), nor tell the
        respondent the map: they are links that no longer work."""
        try:
            cases = [("touchpoint", dict(touchpoint="pickup"), dict(touchpoints=["courier"])),
                     ("channel", dict(channel="sms"), dict(channels=["email"])),
                     ("segment", dict(segment="vip"), dict(segments=["basic"]))]
            for name, inv, change in cases:
                with self.subTest(name):
                    self.put_open()
                    path, customer = self.mint(**inv)
                    self.put_open(**change)
                    self.assertBroken(self.get(path))
                    self.assertBroken(self.get(path + "?score=9"))
                    self.assertBroken(self.post(path, {"score": "9"}))
                    self.assertBroken(self.post(path, {"score": "9", "comment": "why"}))
                    self.writer_sync()
                    self.assertEqual(self.q("SELECT count(*) FROM responses WHERE customer = ?",
                                            customer), [(0,)])
                    st, _, s = self.srv.get("/v1/surveys/open")
                    self.assertEqual(s["touchpoints"], {"delivery": change.get(
                        "touchpoints", ["courier", "pickup"])}, s)
        finally:
            self.put_open()

    # --- the funnel's "opened" ---
    def test_a_flood_of_gets_of_one_link_is_one_write(self):
        """Each GET of a link noted its first view through the writer: one transaction (an
        fsync) per GET, for anyone holding the link (a scanner, a stranger). The first view
        is noted once; later GETs of the same link cost the writer nothing."""
        path, customer = self.mint()
        self.assertEqual(self.get(path)[0], 200)
        self.writer_sync()
        before = self.writer_jobs()
        errors = []

        def hammer():
            c = self.srv.conn()
            try:
                for _ in range(50):
                    c.request("GET", path)
                    r = c.getresponse()
                    r.read()
                    if r.status != 200:
                        errors.append(r.status)
            finally:
                c.close()

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.writer_sync()
        self.assertEqual(errors, [])
        # (writer_sync's own response is 1 job; a few more would be evictions, not 200)
        self.assertLessEqual(self.writer_jobs() - before, 3)
        rows = self.q("SELECT opened_at FROM invitations WHERE customer = ?", customer)
        self.assertEqual(len(rows), 1)
        self.assertIsNotNone(rows[0][0])

    # --- erasure ---
    def test_a_view_after_erasure_does_not_bring_the_customer_back(self):
        """DELETE /v1/customers/{id} deletes their invitations; a later GET of an old link
        (a mail scanner fetching it again, a forwarded mail) must not write a new row naming
        the erased customer."""
        path, customer = self.mint()
        st, h, _ = self.post(path, {"score": "9"})   # answered, never viewed by GET
        self.assertEqual(st, 303)
        self.assertEqual(len(self.q("SELECT 1 FROM invitations WHERE customer = ?", customer)), 1)
        st, _, body = self.srv.request("DELETE", "/v1/customers/%s" % customer)
        self.assertEqual(st, 200, body)
        self.assertEqual(self.q("SELECT count(*) FROM invitations WHERE customer = ?", customer),
                         [(0,)])
        self.assertEqual(self.get(path)[0], 200)   # the link itself is still signed
        self.writer_sync()
        self.assertEqual(self.q("SELECT count(*) FROM invitations WHERE customer = ?", customer),
                         [(0,)])

    # --- logs ---
    def test_the_access_log_does_not_hold_working_links(self):
        """A personal link is a bearer capability (whoever has it answers as the customer)
        and its payload names the customer and attributes: the access log (shipped to
        log collectors) keeps only the route and the key id."""
        path, customer = self.mint(attributes={"order": "A-17-secret"})
        token = path[len("/i/"):]
        kid, payload, mac = token.split(".")
        self.assertEqual(self.get(path)[0], 200)
        self.assertEqual(self.get(path + "?score=3&lang=en")[0], 200)
        self.assertEqual(self.post(path, {"score": "3"})[0], 303)
        self.assertEqual(self.get("/i/%s.%s.%s" % (kid, payload[:-2] + "AA", mac))[0], 404)
        time.sleep(0.2)
        log = self.srv.stderr()
        self.assertIn("GET /i/", log)
        for part in (payload[:40], payload[-40:], mac[:20], mac[-20:]):
            lines = [l for l in log.splitlines() if part in l]
            self.assertEqual(lines[:1], [], "the log holds the link")


    # --- QR codes of a public survey that lists no channels ---
    def test_qr_code_of_a_survey_without_channels_can_be_answered(self):
        """A public survey that lists no channels takes none from its page (a post without a
        key may not invent labels), yet its QR code named channel=qr: every answer to the
        code was a 422. The code names no channel then; the page refuses a channel it
        would not store already on GET, as it does for a listed survey's unlisted one."""
        st, _, body = self.srv.post_json("/v1/surveys", {
            "id": "bistro", "title": "Bistro", "public": True, "stages": ["visit"],
            "touchpoints": {"visit": ["table-1"]}})
        self.assertEqual(st, 201, body)
        st, _, j = self.srv.get("/v1/surveys/bistro/qr?stage=visit&touchpoint=table-1"
                                "&format=json")
        self.assertEqual(st, 200, j)
        url = urllib.parse.urlparse(j["url"])
        self.assertNotIn("channel", url.query)
        st, _, page = self.get(url.path + "?" + url.query)
        self.assertEqual(st, 200, page[:300])
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
        fields["score"] = "8"
        st, h, body = self.post(url.path, fields)
        self.assertEqual(st, 303, body[:2000])
        self.assertEqual(self.q("SELECT stage, touchpoint, channel, nps FROM responses "
                                "WHERE survey = 'bistro'"), [("visit", "table-1", None, 8)])
        for name in ("channel", "segment"):
            with self.subTest(name):
                st, _, e = self.srv.get("/v1/surveys/bistro/qr?stage=visit&touchpoint=table-1"
                                        "&%s=qr" % name)
                self.assertEqual((st, e["error"]["code"], e["error"]["field"]),
                                 (422, "unknown_" + name, name), e)
                st, h, page = self.get("/s/bistro?stage=visit&touchpoint=table-1&%s=qr" % name)
                self.assertEqual(st, 404, page[:300])
                self.assertTrue(h.get("content-type", "").startswith("text/html"))
                self.assertNotIn("<form", page)
        # a link's channel on such a survey is its minting key's business: it still works
        path, _ = self.mint(survey="bistro", stage="visit", touchpoint="table-1",
                            channel="email", segment="vip")
        self.assertEqual(self.get(path)[0], 200)
        self.assertEqual(self.post(path, {"score": "7"})[0], 303)

class PageRateLimitTest(unittest.TestCase):
    """The hosted page keeps the hardening's per-address rate limit, and a person's browser
    that hits it gets the page's own 429 page (HTML, the strict CSP, Retry-After), on GET
    and POST of /s/ and /i/, not a JSON body or an unstyled form error page."""

    def test_rate_limited_pages_are_pages(self):
        srv = Server(args=["--rate-ip", "1/3", "--rate-key", "0"]).start()
        try:
            st, _, body = srv.post_json("/v1/surveys", {
                "id": "pub", "title": "Pub", "public": True, "stages": ["visit"],
                "touchpoints": {"visit": ["table"]}})
            self.assertEqual(st, 201, body)
            asks = [("GET", "/s/pub?stage=visit&touchpoint=table", None),
                    ("POST", "/s/pub", {"stage": "visit", "touchpoint": "table", "score": "5"}),
                    ("GET", "/i/kabc.def.ghi", None),
                    ("POST", "/i/kabc.def.ghi", {"score": "5"})]
            limited = []
            for _ in range(3):   # the burst of 3 is spent on the first round
                for method, path, fields in asks:
                    if fields is None:
                        r = srv.request(method, path, auth=False)
                    else:
                        r = srv.post_form(path, fields, auth=False)
                    if r[0] == 429:
                        limited.append((method, path, r))
            self.assertEqual(sorted({(m, p) for m, p, _ in limited}),
                             sorted({(m, p) for m, p, _ in asks}))
            for method, path, (st, h, body) in limited:
                with self.subTest(method=method, path=path):
                    self.assertTrue(h.get("content-type", "").startswith("text/html"), h)
                    self.assertIn("default-src 'none'", h.get("content-security-policy", ""))
                    self.assertEqual(h.get("cache-control"), "no-store")
                    self.assertTrue(h.get("retry-after"), h)
                    self.assertEqual(body.count("<h1>"), 1, body[:400])
                    self.assertIn('<html lang="en"', body)
            self.assertEqual(sqlite3.connect(srv.db).execute(
                "SELECT count(*) FROM responses").fetchone()[0], 1)   # the one let through
        finally:
            code = srv.stop()
            err = srv.stderr()
            self.assertFalse("Sanitizer" in err or "runtime error" in err, err[-3000:])
            self.assertEqual(code, 0)


if __name__ == "__main__":
    unittest.main()
