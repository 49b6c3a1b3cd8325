"""The hosted survey page in a real browser, as a respondent meets it: personal links
opened in headless Chromium (tests/browser/page.mjs: Debian's chromium, playwright-core,
axe-core) at phone width (390 px) and desktop width (1280 px) in English, Russian, Bulgarian
and Arabic (right to left), answered with the keyboard only: Tab into the score group,
arrow keys to 9, Tab to the button, Enter; Tab to the reason, type it, Tab, Enter; the
thank-you page. Asserted: every step's axe-core audit is clean, nothing is logged to the
console (a CSP violation would be), no request fails, no horizontal scroll at the width nor
at 320 or 360 px, the focused score shows a focus ring on a target of at least 44x44 px, the page's
lang and dir, and the answers stored (score 9 and the typed reason, per language) read back
through the API. Also a public survey's page (CSAT 1-5, /s/SURVEY?stage=..&touchpoint=..)
answered the same way at 390 px, its anonymous answer and reason stored.

Screenshots of each step per language and width go to CX_SCREENSHOT_DIR (default: a temp
directory) as page-LANG-STEP-WIDTH.png.
"""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
from cxdtest import Server  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER = os.path.join(HERE, "..", "browser")
SCRIPT = os.path.join(BROWSER, "page.mjs")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NODE = shutil.which("node")
SHOTS = os.environ.get("CX_SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="cxd-page-shots-")
LANGS = {"en": "en", "ru": "ru", "bg": "bg", "ar": "ar"}
REASONS = {"en": "The courier was on time", "ru": "\u041a\u0443\u0440\u044c\u0435\u0440 \u043f\u0440\u0438\u0435\u0445\u0430\u043b \u0432\u043e\u0432\u0440\u0435\u043c\u044f",
           "bg": "\u041a\u0443\u0440\u0438\u0435\u0440\u044a\u0442 \u0434\u043e\u0439\u0434\u0435 \u043d\u0430\u0432\u0440\u0435\u043c\u0435", "ar": "\u0648\u0635\u0644 \u0627\u0644\u0645\u0646\u062f\u0648\u0628 \u0641\u064a \u0627\u0644\u0648\u0642\u062a"}
WIDTHS = (390, 1280)
SCORE = 9


class PageBrowserTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = [what for what, ok in (("chromium (apt-get install chromium)", CHROMIUM),
                                         ("node (apt-get install nodejs npm)", NODE),
                                         ("tests/browser/node_modules (npm ci --prefix tests/browser)",
                                          os.path.isdir(os.path.join(BROWSER, "node_modules"))))
                   if not ok]
        if missing:   # a failure, not a skip (test.sh installs all three)
            raise RuntimeError("the page browser test needs " + ", ".join(missing))
        cls.srv = Server().start()
        st, _, body = cls.srv.post_json("/v1/surveys", {
            "id": "deliv", "title": "Parcel delivery", "stages": ["delivery"],
            "touchpoints": {"delivery": ["courier"]}})
        assert st == 201, body
        cls.runs, cls.nonces = {}, {}
        for w in WIDTHS:
            links = {}
            for lang in LANGS:
                st, _, body = cls.srv.post_json("/v1/surveys/deliv/invitations", {
                    "webhook": False, "invitations": [{"customer": "%s-%d" % (lang, w),
                                                       "stage": "delivery", "touchpoint": "courier",
                                                       "lang": lang}]})
                assert st == 200, body
                inv = body["invitations"][0]
                links[lang] = urllib.parse.urlparse(inv["url"]).path
                cls.nonces[(lang, w)] = inv["id"]
            job = {"base": "http://127.0.0.1:%d" % cls.srv.port, "width": w, "score": SCORE,
                   "links": links, "reasons": REASONS, "shots": SHOTS, "prefix": "page"}
            run = subprocess.run([NODE, SCRIPT, json.dumps(job)], capture_output=True, text=True,
                                 timeout=600, cwd=BROWSER, env=dict(os.environ, CHROMIUM=CHROMIUM))
            try:
                cls.runs[w] = json.loads(run.stdout.strip().splitlines()[-1])
            except (IndexError, ValueError):
                raise RuntimeError("page.mjs at %d px gave no report (exit %d):\n%s\n%s" % (
                    w, run.returncode, run.stdout[-2000:], run.stderr[-4000:]))

        # a public survey's page (CSAT 1-5) from a QR code, in English at phone width
        st, _, body = cls.srv.post_json("/v1/surveys", {
            "id": "cafe", "title": "Cafe Lumen", "public": True, "stages": ["visit"],
            "touchpoints": {"visit": ["table-4"]}, "question": "csat"})
        assert st == 201, body
        cls.public = cls.run_page({"base": "http://127.0.0.1:%d" % cls.srv.port, "width": 390,
                                   "score": 4, "low": 1, "reasons": REASONS, "shots": SHOTS,
                                   "prefix": "public",
                                   "links": {"en": "/s/cafe?stage=visit&touchpoint=table-4"}})

    @classmethod
    def run_page(cls, job):
        run = subprocess.run([NODE, SCRIPT, json.dumps(job)], capture_output=True, text=True,
                             timeout=600, cwd=BROWSER, env=dict(os.environ, CHROMIUM=CHROMIUM))
        try:
            return json.loads(run.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise RuntimeError("page.mjs gave no report (exit %d):\n%s\n%s" % (
                run.returncode, run.stdout[-2000:], run.stderr[-4000:]))

    def test_public_page(self):
        r = self.public["langs"]["en"]
        self.assertNotIn("crash", r)
        self.assertEqual(r["steps"][0]["afterArrows"]["checked"], "4")
        self.assertIn("step=thanks", r["steps"][2]["facts"]["url"])
        for i, step in enumerate(r["steps"]):
            self.assertEqual(step["axe"], [], "step %d" % (i + 1))
            self.assertLessEqual(step["scroll360"], 0)
        self.assertEqual((r["console"], r["failed"]), ([], []))
        db = sqlite3.connect(self.srv.db)
        rows = db.execute("SELECT csat, nps, comment, customer FROM responses WHERE survey = 'cafe'").fetchall()
        db.close()
        self.assertEqual(rows, [(4, None, REASONS["en"], None)])

    @classmethod
    def tearDownClass(cls):
        cls.srv.assert_clean_exit(unittest.TestCase())

    def each(self):
        for w in WIDTHS:
            for lang in LANGS:
                yield w, lang, self.runs[w]["langs"][lang]

    def test_finished(self):
        for w in WIDTHS:
            self.assertNotIn("crash", self.runs[w])
        for w, lang, r in self.each():
            with self.subTest(width=w, lang=lang):
                self.assertNotIn("crash", r)
                self.assertEqual(len(r["steps"]), 3)

    def test_keyboard_only_answer_is_stored(self):
        db = sqlite3.connect(self.srv.db)
        for w, lang, r in self.each():
            with self.subTest(width=w, lang=lang):
                s1 = r["steps"][0]
                self.assertEqual(s1["afterTab"]["focused"], "score")   # Tab reaches the group
                self.assertEqual(s1["afterArrows"]["checked"], str(SCORE))
                self.assertEqual(s1["afterArrows"]["focusedValue"], str(SCORE))
                self.assertEqual(s1["button"]["focused"], "BUTTON")
                self.assertEqual(r["steps"][1]["afterTab"]["focused"], "comment")
                self.assertIn("step=thanks", r["steps"][2]["facts"]["url"])
                row = db.execute(
                    "SELECT r.nps, r.comment, i.opened_at IS NOT NULL, i.commented FROM invitations i "
                    "JOIN responses r ON r.id = i.response_id WHERE i.nonce = ?",
                    (self.nonces[(lang, w)],)).fetchone()
                self.assertEqual(row, (SCORE, REASONS[lang], 1, 1))
        db.close()
        st, _, body = self.srv.get("/v1/surveys/deliv/scores")
        self.assertEqual(body["groups"][0]["nps"]["promoters"], len(WIDTHS) * len(LANGS))

    def test_language_and_direction(self):
        for w, lang, r in self.each():
            with self.subTest(width=w, lang=lang):
                for step in r["steps"]:
                    f = step.get("facts") or step["afterTab"]
                    self.assertEqual(f["lang"], lang)
                    self.assertEqual(f["dir"], "rtl" if lang == "ar" else "ltr")
                    self.assertEqual(f["h1"], 1)
                    self.assertTrue(f["title"])

    def test_accessible_and_fits(self):
        for w, lang, r in self.each():
            with self.subTest(width=w, lang=lang):
                for i, step in enumerate(r["steps"]):
                    self.assertEqual(step["axe"], [], "step %d" % (i + 1))
                    self.assertLessEqual(step["scroll360"], 0, "step %d scrolls at 320 or 360 px" % (i + 1))
                    f = step.get("facts") or step["afterTab"]
                    self.assertLessEqual(f["scrollWidth"], f["clientWidth"])
                ring = r["steps"][0]["afterArrows"]
                self.assertTrue(ring["ring"].startswith("solid"), ring)   # a visible focus ring
                self.assertGreaterEqual(ring["box"]["w"], 44)
                self.assertGreaterEqual(ring["box"]["h"], 44)
                self.assertGreaterEqual(r["steps"][0]["button"]["box"]["h"], 44)
                self.assertEqual(r["console"], [])
                self.assertEqual(r["failed"], [])


if __name__ == "__main__":
    cxdtest.main("page_browser")
