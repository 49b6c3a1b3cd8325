"""The dashboard in a real browser, as a newcomer meets it.

cxd runs with demo data; tests/browser/dashboard.mjs drives Debian's headless Chromium
(playwright-core from npm, `npm ci --prefix tests/browser`) at phone and desktop widths
and reports what the page did; the tests here assert on those facts against the API:

- the key: no key, a wrong one, a revoked one and an ingest key each end at the in-page
  key form (never a blocking prompt) with a reason in plain words; a read key shows data;
  "Change key" works while the data stays;
- layout at 360, 390, 1400 and 1920 px: every stage label visible and no two overlapping,
  95% whiskers wider than the dots and drawn over them, the last trend week labelled and
  nothing clipped, no horizontal scrolling, "To" the inclusive end (the API's `to` - 1);
- what a click does: a heat-map tile (by mouse) and a pain point (by keyboard) show that
  touchpoint's comments, comments page on by cursor, channel and segment filters reach the
  API, a typed date makes one load, 30/90-day buttons keep aria-pressed right, the CSV
  export downloads the range, a failed load's banner clears on the next good one;
- axe-core (WCAG 2.1 A and AA) finds nothing, layout shift stays under 0.1, nothing is
  logged to the console, no request is refused (403) and none fails (favicon included);
  the key's role is asked of GET /v1/keys/self once per load;
- the page's own headers: CSP with its script and style hashes, no framing, no referrer,
  gzip when the client takes it.

Screenshots: CX_SCREENSHOT (desktop) and the same name with -phone (390 px).

Tried against: the page before issue 11 (window.prompt, no key form: every browser test
fails, the headers test on its inline style attribute); and four mutations of the new page
at once, each caught by its own test: no date debounce (test_typed_date_loads_once: 4
loads for one typed date), "To" showing the exclusive end (test_to_is_inclusive), caps 8 px
wide (test_whiskers_wider_than_dots), unanswered touchpoints drawn as answered buttons
(test_answerless_touchpoints).
"""
import base64
import datetime
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
from cxdtest import Server  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER = os.path.join(HERE, "..", "browser")
SCRIPT = os.path.join(BROWSER, "dashboard.mjs")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NODE = shutil.which("node")
SHOT = os.environ.get("CX_SCREENSHOT", os.path.join(tempfile.gettempdir(), "cxd-dashboard.png"))
PHONE_SHOT = re.sub(r"(\.png)?$", "-phone.png", SHOT, count=1)
FULL = (390, 1400)        # every scenario
LAYOUT = (360, 1920)      # load, measure, audit


def day(d):
    return d.isoformat()


def overlap(a, b, slack=0.5):
    return (min(a["r"], b["r"]) - max(a["l"], b["l"]) > slack and
            min(a["b"], b["b"]) - max(a["t"], b["t"]) > slack)


def inside(inner, outer, slack=0.5):
    return (inner["l"] >= outer["l"] - slack and inner["r"] <= outer["r"] + slack and
            inner["t"] >= outer["t"] - slack and inner["b"] <= outer["b"] + slack)


def params(path):
    return dict(p.split("=", 1) for p in path.split("?", 1)[1].split("&")) if "?" in path else {}


class DashboardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = [what for what, ok in (("chromium (apt-get install chromium)", CHROMIUM),
                                         ("node (apt-get install nodejs npm)", NODE),
                                         ("tests/browser/node_modules (npm ci --prefix tests/browser)",
                                          os.path.isdir(os.path.join(BROWSER, "node_modules"))))
                   if not ok]
        if missing:   # test.sh installs all three; without them this is a failure, not a skip
            raise RuntimeError("the dashboard test needs " + ", ".join(missing))
        # the demo data first (`cxd demo`: 100,000 responses take a while under the
        # sanitizers), then the server on it
        tmp = tempfile.mkdtemp(prefix="cxd-dash-")
        db = os.path.join(tmp, "cxd.db")
        subprocess.run([cxdtest.CXD, "demo", "--db", db], check=True, timeout=600,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cls.srv = Server(db=db, tmp=tmp).start()
        cls.keys = {"read": cls.key("read"), "ingest": cls.key("ingest"),
                    "wrong": "cxd_aaaaaaaaaaaa_" + "b" * 32}
        st, _, k = cls.srv.post_json("/v1/keys", {"role": "read", "label": "revoked"})
        st2, _, _ = cls.srv.request("DELETE", "/v1/keys/" + k["id"])
        assert (st, st2) == (201, 200), (st, st2)
        cls.keys["revoked"] = k["secret"]
        cls.today = datetime.datetime.now(datetime.timezone.utc).date()
        cls.type_to = cls.today - datetime.timedelta(days=5)
        cls.runs = {}
        for w in FULL + LAYOUT:
            shot = SHOT if w == 1400 else PHONE_SHOT if w == 390 else None
            cls.runs[w] = cls.browse(w, shot, layout_only=w in LAYOUT)

    @classmethod
    def tearDownClass(cls):
        cls.srv.assert_clean_exit(unittest.TestCase())

    @classmethod
    def key(cls, role):
        st, _, k = cls.srv.post_json("/v1/keys", {"role": role, "label": "dashboard test"})
        assert st == 201, k
        return k["secret"]

    @classmethod
    def browse(cls, width, shot, layout_only):
        job = {"base": "http://127.0.0.1:%d" % cls.srv.port, "width": width, "keys": cls.keys,
               "typeTo": day(cls.type_to), "shot": shot, "layoutOnly": layout_only}
        run = subprocess.run([NODE, SCRIPT, json.dumps(job)], capture_output=True, text=True,
                             timeout=600, cwd=BROWSER, env=dict(os.environ, CHROMIUM=CHROMIUM))
        try:
            out = json.loads(run.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise RuntimeError("dashboard.mjs at %d px gave no report (exit %d):\n%s\n%s" % (
                width, run.returncode, run.stdout[-2000:], run.stderr[-4000:]))
        return out   # (a step that failed is in out["crash"]: see test_browser_script_finished)

    def each(self, widths=FULL + LAYOUT):
        return [(w, self.runs[w]) for w in widths]

    def test_browser_script_finished(self):
        for w, r in self.each():
            with self.subTest(width=w):   # (when not, the facts after the failed step are missing)
                self.assertNotIn("crash", r)

    # --- the key ---

    def test_no_key_shows_the_form_at_once(self):
        for w, r in self.each(FULL):
            with self.subTest(width=w):
                k = r["nokey"]
                self.assertEqual(k["state"], "key", k)
                self.assertTrue(k["form"], k)
                self.assertFalse(k["dash"])
                self.assertEqual(k["dialogs"], 0)          # no window.prompt: nothing blocks
                self.assertLess(k["ms"], 10000)
                self.assertEqual(k["focused"], "key-input")
                self.assertIn("needs an API key", k["reason"])
                self.assertEqual(k["axe"], [], "axe on the key form")

    def test_wrong_and_revoked_keys_say_why(self):
        for w, r in self.each(FULL):
            with self.subTest(width=w):
                for case in ("wrong", "revoked"):
                    k = r[case]
                    self.assertEqual((k["state"], k["form"], k["dash"], k["dialogs"]), ("key", True, False, 0), k)
                    self.assertIn("not accepted", k["reason"])
                    self.assertIn("revoked", k["reason"])
                    self.assertEqual(k["fragmentLeft"], "")   # #key= is taken out of the address bar
                # the server answers one message for an unknown and a wrong key, and so does the page
                self.assertEqual(r["wrong"]["reason"], r["revoked"]["reason"])

    def test_ingest_key_can_only_post(self):
        for w, r in self.each(FULL):
            with self.subTest(width=w):
                k = r["ingest"]
                self.assertEqual((k["state"], k["form"], k["dialogs"]), ("key", True, 0), k)
                self.assertIn("ingest key: it can only post responses", k["reason"])
                self.assertIn("Paste a read key", k["reason"])

    def test_change_key(self):
        for w, r in self.each(FULL):
            with self.subTest(width=w):
                c = r["steps"]["change"]
                self.assertTrue(c["form"])
                self.assertEqual(c["focused"], "key-input")
                self.assertIn("ingest key", c["ingestReason"])
                self.assertTrue(c["dashStill"], "a refused new key must not take the data away")
                self.assertEqual(c["after"], "ready")
                self.assertEqual(r["read"]["dialogsEnd"], 0)

    # --- the data, clean ---

    def test_read_key_shows_data_cleanly(self):
        survey = self.srv.get("/v1/surveys/shop")[2]
        for w, r in self.each():
            with self.subTest(width=w):
                d = r["read"]
                self.assertEqual(d["dialogs"], 0)
                self.assertEqual(d["errors"], "0")
                self.assertEqual(d["consoleBefore"], [], "console errors or warnings")
                self.assertEqual(d["forbidden"], [], "refused requests")
                self.assertEqual(d["first"].count("/v1/keys/self"), 1, d["first"])   # the key's role
                self.assertNotIn("/v1/endpoints", d["first"])   # (an admin's only)
                self.assertEqual(d["failedBefore"], [], "404s or failed requests")
                self.assertEqual(d["csp"], [], "CSP violations")
                self.assertEqual([m["stage"] for m in d["marks"]], survey["stages"])
                self.assertEqual(d["tables"][0], len(survey["stages"]), "the journey as a table")
                self.assertGreater(d["tables"][1], 3, "the trend as a table")
                if w in FULL:
                    self.assertEqual(d["consoleAfter"], [], "console errors after the clicks")
                    self.assertEqual(d["forbiddenAfter"], [])
                    self.assertEqual(d["selfAsked"], 1, "the role is asked once per load, not per step")
                    self.assertEqual(d["failedAfter"], [])

    def test_axe_finds_nothing(self):
        for w, r in self.each():
            with self.subTest(width=w):
                self.assertEqual(r["read"]["axe"], [], json.dumps(r["read"]["axe"], indent=1))

    def test_layout_shift(self):
        for w, r in self.each():
            with self.subTest(width=w):
                self.assertLess(r["read"]["cls"], 0.1)

    def test_heat_map_and_pain_points_match_the_api(self):
        j = self.srv.get("/v1/surveys/shop/journey")[2]
        tiles = [(s["stage"], t["touchpoint"]) for s in j["stages"] for t in s["touchpoints"]]
        for w, r in self.each(FULL):
            with self.subTest(width=w):
                d = r["read"]
                self.assertEqual([(t["stage"], t["touchpoint"]) for t in d["tiles"]], tiles)
                self.assertTrue(all(t["tag"] == "BUTTON" for t in d["tiles"]), "tiles must be buttons")
                top = j["pain_points"][0]
                self.assertEqual((d["pains"][0]["stage"], d["pains"][0]["touchpoint"]), (top["stage"], top["touchpoint"]))
                self.assertTrue(all(p["tag"] == "BUTTON" for p in d["pains"]))
                text = d["pains"][0]["text"]
                # the metric's answers (a tile's count is every response; they differ)
                self.assertIn("%s %s answers" % (format(top["n"], ","), top["metric"].upper()), text)
                self.assertIn("(%s %s answers)" % (format(top["rest_n"], ","), top["metric"].upper()), text)
                self.assertIn("points lower", text)
                self.assertIn("z = %s" % ("%.2f" % top["z"]).replace("-", "\u2212"), text)
                self.assertIn("significant at 95%", text)

    def test_answerless_touchpoints(self):
        for w, r in self.each(FULL):
            with self.subTest(width=w):
                self.assertEqual(r["emptyErrors"], "0")
                self.assertIn({"tag": "DIV", "text": "kioskno answers yet"}, r["empty"])
                self.assertIn({"tag": "P", "text": "no touchpoints yet"}, r["empty"])

    # --- layout ---

    def test_stage_labels_visible_and_apart(self):
        for w, r in self.each():
            with self.subTest(width=w):
                d = r["read"]
                labels = [m["label"] for m in d["marks"]]
                self.assertTrue(all(labels))
                for i, a in enumerate(labels):
                    self.assertGreater(a["w"], 10, a)
                    self.assertTrue(inside(a, d["journey"]["box"]), (a, d["journey"]["box"]))
                    self.assertTrue(a["l"] >= 0 and a["r"] <= d["viewport"]["w"], a)
                    for b in labels[i + 1:]:
                        self.assertFalse(overlap(a, b), (a, b))
                texts = d["journey"]["texts"]     # and no figure on the chart covers another
                for i, a in enumerate(texts):
                    for b in texts[i + 1:]:
                        self.assertFalse(overlap(a, b, slack=1), (a, b))
                self.assertLessEqual(d["scrollWidth"], d["viewport"]["w"], "the page scrolls sideways")

    def test_whiskers_wider_than_dots(self):
        for w, r in self.each():
            with self.subTest(width=w):
                for m in r["read"]["marks"]:
                    self.assertEqual(len(m["caps"]), 2, m)
                    dot = max(m["dot"]["w"], m["dot"]["h"])
                    for c in m["caps"]:
                        self.assertGreater(max(c["w"], c["h"]), dot + 6, m)
                    self.assertTrue(m["capsOnTop"], "caps drawn after (over) the dot")

    def test_trend_last_week_and_nothing_clipped(self):
        t = self.srv.get("/v1/surveys/shop/scores?by=week&from=%s&to=%s" % (
            day(self.today - datetime.timedelta(days=29)), day(self.today + datetime.timedelta(days=1))))[2]
        last = t["groups"][-1]["group"]["week"][5:]
        for w, r in self.each():
            with self.subTest(width=w):
                tr = r["read"]["trend"]
                weeks = [x for x in tr["texts"] if x["cls"] == "week"]
                self.assertEqual(weeks[-1]["text"], last)
                for x in tr["texts"]:
                    self.assertTrue(inside(x, tr["box"]), (x, tr["box"]))
                    self.assertTrue(x["l"] >= 0 and x["r"] <= r["read"]["viewport"]["w"], x)
                for i, a in enumerate(weeks):
                    for b in weeks[i + 1:]:
                        self.assertFalse(overlap(a, b), (a, b))

    def test_to_is_inclusive(self):
        tomorrow = day(self.today + datetime.timedelta(days=1))
        for w, r in self.each():
            with self.subTest(width=w):
                d = r["read"]
                self.assertEqual(d["to"], day(self.today))
                self.assertEqual(d["from"], day(self.today - datetime.timedelta(days=29)))
                journey = [p for p in d["first"] if "/journey?" in p]
                self.assertEqual(params(journey[0])["to"], tomorrow)
                self.assertIn("to %s (both included)" % day(self.today), d["kpiSub"])

    # --- what the controls do ---

    def test_tile_click_shows_its_comments(self):
        for w, r in self.each(FULL):
            with self.subTest(width=w):
                s = r["steps"]["tile"]
                calls = [params(p) for p in s["requests"] if "/comments?" in p]
                self.assertEqual(len(calls), 1, s["requests"])
                self.assertEqual((calls[0]["stage"], calls[0]["touchpoint"]), (s["stage"], s["touchpoint"]))
                self.assertTrue(s["comments"])
                for m in s["comments"]:
                    self.assertIn("%s / %s" % (s["stage"], s["touchpoint"]), m)
                self.assertEqual(s["focused"], "comments-h")

    def test_pain_point_by_keyboard_shows_its_comments(self):
        for w, r in self.each(FULL):
            with self.subTest(width=w):
                s = r["steps"]["pain"]
                calls = [params(p) for p in s["requests"] if "/comments?" in p]
                self.assertEqual((calls[0]["stage"], calls[0]["touchpoint"]), (s["stage"], s["touchpoint"]))
                for m in s["comments"]:
                    self.assertIn("%s / %s" % (s["stage"], s["touchpoint"]), m)

    def test_everything_clickable_is_reached_by_tab(self):
        for w, r in self.each(FULL):
            with self.subTest(width=w):
                reached = r["steps"]["tab"]
                for t in r["read"]["tiles"]:
                    self.assertIn("tile|" + t["touchpoint"], reached)
                for p in r["read"]["pains"]:
                    self.assertIn("pain|" + p["touchpoint"], reached)
                for id_ in ("export", "changekey", "channel", "segment", "from", "to", "comments-more"):
                    self.assertTrue(any(x.endswith("|" + id_) for x in reached), id_)

    def test_comment_paging(self):
        for w, r in self.each(FULL):
            with self.subTest(width=w):
                s = r["steps"]["more"]
                self.assertGreater(s["after"], s["before"])
                self.assertEqual(len(s["requests"]), 1)
                self.assertIn("cursor=", s["requests"][0])

    def test_channel_and_segment_filters(self):
        for w, r in self.each(FULL):
            with self.subTest(width=w):
                s = r["steps"]["filters"]
                self.assertIn(s["channel"], r["read"]["channels"])
                journeys = [params(p) for p in s["requests"] if "/journey?" in p]
                trends = [params(p) for p in s["requests"] if "/scores?" in p]
                self.assertEqual([j.get("channel") for j in journeys], [s["channel"]] * 2)
                self.assertEqual([j.get("segment") for j in journeys], [None, s["segment"]])
                self.assertEqual(trends[-1].get("segment"), s["segment"])
                self.assertEqual(trends[-1].get("channel"), s["channel"])
                comments = [params(p) for p in s["requests"] if "/comments?" in p]
                self.assertTrue(comments, s["requests"])   # the API filters the comments
                self.assertEqual((comments[-1].get("channel"), comments[-1].get("segment")),
                                 (s["channel"], s["segment"]))
                self.assertTrue(s["comments"])
                for m in s["comments"]:
                    self.assertIn(" \u00b7 %s \u00b7 %s \u00b7 " % (s["channel"], s["segment"]), m)

    def test_typed_date_loads_once(self):
        for w, r in self.each(FULL):
            with self.subTest(width=w):
                s = r["steps"]["typed"]
                journeys = [params(p) for p in s["requests"] if "/journey?" in p]
                self.assertEqual(len(journeys), 1, s["requests"])
                self.assertEqual(journeys[0]["to"], day(self.type_to + datetime.timedelta(days=1)))
                self.assertEqual(s["to"], day(self.type_to))
                self.assertEqual(s["pressed"], ["30:false", "90:false"])   # a custom range

    def test_presets_pressed(self):
        for w, r in self.each(FULL):
            with self.subTest(width=w):
                self.assertEqual(r["read"]["pressed"], ["30:true", "90:false"])
                s = r["steps"]["ninety"]
                self.assertEqual(s["pressed"], ["30:false", "90:true"])
                self.assertEqual(s["to"], day(self.today))
                self.assertEqual(s["from"], day(self.today - datetime.timedelta(days=89)))

    def test_csv_export(self):
        frm = day(self.today - datetime.timedelta(days=29))
        st, h, body = self.srv.get("/v1/surveys/shop/responses?format=csv&from=%s&to=%s" % (
            frm, day(self.type_to + datetime.timedelta(days=1))))
        self.assertEqual(st, 200)
        rows = len([x for x in body.split("\r\n") if x])
        for w, r in self.each(FULL):
            with self.subTest(width=w):
                s = r["steps"]["export"]
                self.assertEqual(s["name"], "cxd-shop-%s-to-%s.csv" % (frm, day(self.type_to)))
                self.assertTrue(s["head"].startswith("id,submitted_at,"), s["head"])
                self.assertEqual(s["lines"], rows)
                self.assertIn("Saved", s["status"])

    def test_error_banner_announced_and_cleared(self):
        for w, r in self.each(FULL):
            with self.subTest(width=w):
                b = r["steps"]["banner"]
                self.assertEqual(r["read"]["bannerRole"], "alert")
                self.assertIn("injected failure", b["shown"])
                self.assertTrue(b["visible"])
                self.assertEqual(b["after"], "")
                self.assertFalse(b["visibleAfter"])

    def test_screenshots(self):
        for path in (SHOT, PHONE_SHOT):
            with open(path, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
            self.assertGreater(os.path.getsize(path), 50000)   # a rendered page, not a blank one

    # --- the page's headers, without a browser ---

    def test_dashboard_routes(self):
        for path in ("/", "/dashboard"):
            st, h, body = self.srv.get(path, auth=False)
            self.assertEqual(st, 200)
            self.assertIn("<title>cxd", body)
        st, _, _ = self.srv.request("POST", "/", body=b"x", headers={"Content-Type": "text/plain"})
        self.assertEqual(st, 405)
        st, h, body = self.srv.get("/favicon.ico", auth=False)
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "image/svg+xml")
        self.assertIn("<svg", body)

    def test_security_headers(self):
        st, h, html = self.srv.get("/", auth=False)
        csp = dict((d.strip().split(" ", 1) + [""])[:2] for d in h["content-security-policy"].split(";"))
        self.assertEqual(csp["default-src"], "'none'")
        self.assertEqual(csp["connect-src"], "'self'")
        self.assertEqual(csp["img-src"], "'self' data:")
        self.assertEqual(csp["frame-ancestors"], "'none'")
        self.assertEqual(csp["base-uri"], "'none'")
        self.assertEqual(csp["form-action"], "'self'")
        self.assertNotIn("unsafe", h["content-security-policy"])
        for tag, directive in (("script", "script-src"), ("style", "style-src")):
            bodies = re.findall(r"<%s>(.*?)</%s>" % (tag, tag), html, re.S)
            self.assertEqual(len(bodies), 1)
            digest = base64.b64encode(hashlib.sha256(bodies[0].encode()).digest()).decode()
            self.assertEqual(csp[directive], "'sha256-%s'" % digest)
        # a CSP by hash allows no inline attributes: none may be in the page
        self.assertIsNone(re.search(r"<[^>]+\s(style|on[a-z]+)\s*=", html))
        self.assertEqual(h["x-frame-options"], "DENY")
        self.assertEqual(h["x-content-type-options"], "nosniff")
        self.assertEqual(h["referrer-policy"], "no-referrer")

    def test_gzip(self):
        _, _, plain = self.srv.get("/", auth=False)
        for ae, gz in (("gzip", True), ("gzip, deflate, br", True), ("br;q=1.0, gzip;q=0.8", True),
                       ("*", True), ("gzip;q=0", False), ("identity", False), ("*, gzip;q=0", False),
                       (None, False)):
            with self.subTest(accept_encoding=ae):
                c = self.srv.conn()
                c.request("GET", "/", headers={"Accept-Encoding": ae} if ae else {})
                resp = c.getresponse()
                raw = resp.read()
                c.close()
                self.assertEqual(resp.status, 200)
                self.assertEqual(resp.getheader("Vary"), "Accept-Encoding")
                self.assertEqual(resp.getheader("Content-Encoding"), "gzip" if gz else None)
                self.assertEqual((gzip.decompress(raw) if gz else raw).decode(), plain)
                if gz:
                    self.assertLess(len(raw), len(plain.encode()) / 2)


if __name__ == "__main__":
    cxdtest.main("dashboard")
