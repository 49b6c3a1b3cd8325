"""The embeddable widget (GET /widget.js) and the README's plain HTML form, on host pages
of other origins, in a real browser.

cxd runs with a public survey whose allowed_origins lists one host origin (a Python HTTP
server on another port of 127.0.0.1); a second host server's origin is not listed.
tests/browser/widget.mjs drives Debian's headless Chromium at phone (390 px) and desktop
(1280 px) widths with the keyboard only and reports facts; the tests here assert on them
and on what the API stored (export with a read key):

- answer: the widget does not take the focus on load; Tab reaches its score buttons; 9 and
  Enter show the reason box (focused), a typed comment, Tab to Send, Enter: exactly one
  response per run with nps 9, the comment, stage/touchpoint/channel; thanks shown; the
  answer remembered for the session (no card after a reload); no console message at all;
  axe-core (WCAG 2 A/AA + best practice) finds nothing with the card open or thanked; the
  host page's hostile CSS (display:none on aside/fieldset/button/textarea) does not reach
  it;
- refused: on the unlisted origin the card says it could not send, one console.warn from
  the widget (plus Chromium's own CORS error), nothing stored;
- dismiss: Escape closes the card and a reload does not bring it back;
- form: the README's <form> snippet, taken from the README itself, filled by keyboard
  (arrow keys in the radio group), submitted with Enter, lands on the thank-you page and
  the response is stored with nps 9 and the comment;
- the script's own headers: JavaScript type, cacheable with an ETag and a 304, small.

Screenshots: CX_SCREENSHOT (desktop) and -phone, each with -reason, -thanks, -error.
Tried against: the widget without a shadow root (the hostile CSS hides the card: answer
fails), with innerHTML of the survey's texts (no test: none is used), with the score posted
at the click and the comment later (two posts: answer fails on `posts`).
"""
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
from cxdtest import Server  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER = os.path.join(HERE, "..", "browser")
SCRIPT = os.path.join(BROWSER, "widget.mjs")
README = os.path.join(HERE, "..", "..", "README.md")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NODE = shutil.which("node")
SHOT = os.environ.get("CX_SCREENSHOT", os.path.join(tempfile.gettempdir(), "cxd-widget.png"))
WIDTHS = {390: re.sub(r"(\.png)?$", "-phone.png", SHOT, count=1), 1280: SHOT}

HOST = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Shop: order placed</title>
<style>
  body { margin: 0; font: 18px Georgia, serif; color: #222; background: #fafafa; }
  main { padding: 24px; }
  /* a careless host stylesheet: none of it may reach the widget */
  aside, fieldset, button, textarea, legend { display: none !important; }
  * { letter-spacing: 4px !important; }
</style></head>
<body><main><h1>Thank you for your order</h1>
<p>Order A-17 is on its way. <a href="/orders">Your orders</a></p></main>
<script src="%(cxd)s/widget.js" data-survey="checkout" data-stage="purchase"
        data-touchpoint="web-checkout" data-channel="web" data-segment="new" data-lang="en"
        async></script>
</body></html>
"""

FORM_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Shop: feedback</title></head>
<body><main><h1>Tell us how it went</h1>
%(form)s
</main></body></html>
"""

HOST_RU = HOST.replace('data-channel="web" data-segment="new" data-lang="en"',
                       'data-question="csat" data-lang="ru"').replace('lang="en"', 'lang="ru"')

THANKS = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Thanks</title><link rel="icon" href="data:,">
</head><body><main><h1>Thanks for your feedback</h1></main></body></html>"""


def readme_form():
    """The <form> of the README's "Widget and HTML form" subsection, exactly as written."""
    text = open(README, encoding="utf-8").read()
    sec = text.split("#### Widget and HTML form", 1)[1].split("\n#### ", 1)[0]
    m = re.search(r"<form .*?</form>", sec, re.S)
    assert m, "no <form> in the README's subsection"
    return m.group(0)


class Host:
    """Static pages on 127.0.0.1:<free port>: another origin than cxd's."""

    def __init__(self, pages):
        self.dir = tempfile.mkdtemp(prefix="cxd-host-")
        for name, body in pages.items():
            with open(os.path.join(self.dir, name), "w", encoding="utf-8") as f:
                f.write(body)
        handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(  # noqa: E731
            *a, directory=self.dir, **kw)
        http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.origin = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def write(self, name, body):
        with open(os.path.join(self.dir, name), "w", encoding="utf-8") as f:
            f.write(body)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class WidgetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = [what for what, ok in (("chromium", CHROMIUM), ("node", NODE),
                                         ("tests/browser/node_modules (npm ci --prefix tests/browser)",
                                          os.path.isdir(os.path.join(BROWSER, "node_modules"))))
                   if not ok]
        if missing:
            raise RuntimeError("the widget test needs " + ", ".join(missing))
        cls.srv = Server().start()
        cxd = "http://127.0.0.1:%d" % cls.srv.port
        cls.host = Host({})
        cls.other = Host({})
        for h in (cls.host, cls.other):
            h.write("host.html", HOST % {"cxd": cxd})
            h.write("host-ru.html", HOST_RU % {"cxd": cxd})
            h.write("thanks.html", THANKS)
            h.write("form.html", FORM_PAGE % {"form": readme_form().replace(
                "http://127.0.0.1:8080", cxd)})
        st, _, body = cls.srv.post_json("/v1/surveys", {
            "id": "checkout", "title": "Checkout experience", "public": True,
            "touchpoints": {"purchase": ["web-checkout"]},
            "channels": ["web", "qr"], "segments": ["new"],
            "allowed_origins": [cls.host.origin],
            "thank_you_url": cls.host.origin + "/thanks.html"})
        assert st == 201, body
        st, _, k = cls.srv.post_json("/v1/keys", {"role": "read"})
        assert st == 201, k
        cls.read = k["secret"]
        cls.runs = {}
        for w, shot in WIDTHS.items():
            comment = "Quick checkout at %d px" % w
            cls.runs[("answer", w)] = (comment, cls.browse(cls.host.origin + "/host.html", w,
                                                           "answer", comment, shot))
        for sc, host in (("refused", cls.other), ("dismiss", cls.host)):
            shot = WIDTHS[390] if sc == "refused" else None
            cls.runs[(sc, 390)] = ("", cls.browse(host.origin + "/host.html", 390, sc,
                                                  "Refused comment", shot))
        cls.runs[("skip", 390)] = ("", cls.browse(cls.host.origin + "/host-ru.html", 390,
                                                  "skip", "не отправлено",
                                                  re.sub(r"\.png$", "-ru.png", WIDTHS[390]),
                                                  score=4))
        # a QR code's SVG, drawn by Chromium (zbarimg does not read SVG)
        st, _, svg = cls.srv.get_bytes("/v1/surveys/checkout/qr?stage=purchase&"
                                       "touchpoint=web-checkout&channel=web&size=6")
        assert st == 200, svg
        cls.host.write("qr.svg", svg.decode())
        cls.svg_shot = re.sub(r"\.png$", "-qr-svg.png", SHOT)
        cls.runs[("svg", 1280)] = ("", cls.browse(cls.host.origin + "/qr.svg", 1280, "svg", "",
                                                 cls.svg_shot))
        comment = "Form comment: ok"
        cls.runs[("form", 1280)] = (comment, cls.browse(
            cls.host.origin + "/form.html", 1280, "form", comment,
            re.sub(r"\.png$", "-form.png", SHOT)))

    @classmethod
    def tearDownClass(cls):
        cls.host.stop()
        cls.other.stop()
        cls.srv.assert_clean_exit(unittest.TestCase())

    @classmethod
    def browse(cls, page, width, scenario, comment, shot, score=9):
        job = {"page": page, "width": width, "scenario": scenario, "comment": comment,
               "shot": shot, "score": score}
        run = subprocess.run([NODE, SCRIPT, json.dumps(job)], capture_output=True, text=True,
                             timeout=600, cwd=BROWSER, env=dict(os.environ, CHROMIUM=CHROMIUM))
        try:
            return json.loads(run.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise RuntimeError("widget.mjs gave no report (exit %d):\n%s\n%s" % (
                run.returncode, run.stdout[-2000:], run.stderr[-4000:]))

    def stored(self):
        st, _, body = self.srv.get("/v1/surveys/checkout/responses?format=json",
                                   headers={"Authorization": "Bearer " + self.read})
        self.assertEqual(st, 200, body)
        return body["responses"]

    def run_of(self, scenario, width):
        comment, r = self.runs[(scenario, width)]
        self.assertNotIn("crash", r, r.get("crash"))
        return comment, r

    def test_answer_by_keyboard(self):
        rows = self.stored()
        for w in WIDTHS:
            with self.subTest(width=w):
                comment, r = self.run_of("answer", w)
                self.assertFalse(r["focusOnLoad"]["inWidget"], r["focusOnLoad"])
                self.assertEqual(r["focusOnLoad"]["tag"], "body")
                c = r["card"]
                self.assertEqual(c["position"], "fixed")
                self.assertEqual(c["spacing"], "normal")   # the host's `* {...}` stays out
                self.assertEqual(c["buttons"], [str(i) for i in range(11)])
                self.assertIn("How likely are you to recommend us", c["text"])
                self.assertTrue(0 <= c["rect"]["l"] and c["rect"]["r"] <= c["vw"] and
                                0 <= c["rect"]["t"] and c["rect"]["b"] <= c["vh"], c)
                self.assertLessEqual(c["scrollW"], c["vw"])   # no sideways scrolling
                self.assertLessEqual(r["tabs"], 14)
                self.assertEqual(r["afterScore"]["tag"], "textarea")   # the next step
                self.assertIn("main reason for your score", r["cardReason"]["text"])
                self.assertEqual(r["afterComment1"]["text"], "Skip")
                self.assertEqual(r["afterComment2"]["text"], "Send")
                self.assertIn("Thank you for your feedback", r["done"]["text"])
                self.assertTrue(r["doneFocus"]["inWidget"])
                self.assertIsNone(r["afterReload"])      # answered: not asked again
                self.assertEqual(r["posts"], ["http://127.0.0.1:%d/v1/surveys/checkout/responses"
                                              % self.srv.port])   # one post, the public route
                self.assertEqual(r["console"], [])
                self.assertEqual(r["axe"], [])
                self.assertEqual(r["axeDone"], [])
                mine = [x for x in rows if x["comment"] == comment]
                self.assertEqual(len(mine), 1, rows)
                x = mine[0]
                self.assertEqual((x["nps"], x["csat"], x["ces"], x["stage"], x["touchpoint"],
                                  x["channel"], x["segment"], x["customer"]),
                                 (9, None, None, "purchase", "web-checkout", "web", "new", None))

    def test_refused_origin(self):
        _, r = self.run_of("refused", 390)
        self.assertIn("could not be sent", r["done"]["err"])
        self.assertEqual(r["axeDone"], [])
        warns = [m for m in r["console"] if m.startswith("warning:")]
        self.assertEqual(len(warns), 1, r["console"])
        self.assertIn("cxd widget", warns[0])
        others = [m for m in r["console"] if not m.startswith("warning:")]
        for m in others:   # Chromium's own report of the refused preflight, nothing else
            self.assertTrue("CORS" in m or "Failed to load resource" in m, m)
        self.assertFalse([x for x in self.stored() if x["comment"] == "Refused comment"])

    def test_skip_csat_russian(self):
        """data-question=csat, data-lang=ru: 1-5 in Russian; Skip sends the score alone."""
        _, r = self.run_of("skip", 390)
        self.assertEqual(r["card"]["buttons"], ["1", "2", "3", "4", "5"])
        self.assertEqual(r["card"]["lang"], "ru")
        self.assertIn("Насколько вы довольны", r["card"]["text"])
        self.assertEqual(r["afterComment1"]["text"], "Пропустить")
        self.assertIn("Спасибо", r["done"]["text"])
        self.assertEqual(r["console"], [])
        self.assertEqual(r["axe"], [])
        mine = [x for x in self.stored() if x["csat"] is not None]
        self.assertEqual(len(mine), 1, mine)
        self.assertEqual((mine[0]["csat"], mine[0]["nps"], mine[0]["comment"],
                          mine[0]["channel"]), (4, None, None, None))

    def test_qr_svg_in_chromium(self):
        """The SVG as a browser draws it decodes to the page's URL."""
        _, r = self.run_of("svg", 1280)
        self.assertEqual(r["svgSize"], [(37 + 8) * 6] * 2)   # size=6 px per module
        zbar = shutil.which("zbarimg")
        self.assertTrue(zbar, "zbarimg (zbar-tools) is needed")
        got = subprocess.run([zbar, "--raw", "-q", self.svg_shot], capture_output=True,
                             timeout=60).stdout.decode().strip()
        self.assertEqual(got, "http://127.0.0.1:%d/s/checkout?stage=purchase&touchpoint="
                         "web-checkout&channel=web" % self.srv.port)

    def test_dismiss(self):
        _, r = self.run_of("dismiss", 390)
        self.assertIsNotNone(r["card"])
        self.assertIsNone(r["afterEscape"])
        self.assertIsNone(r["afterReload"])
        self.assertEqual(r["console"], [])
        self.assertEqual(r["posts"], [])

    def test_readme_form(self):
        comment, r = self.run_of("form", 1280)
        self.assertEqual((r["firstRadio"]["name"], r["firstRadio"]["value"]), ("nps", "0"))
        self.assertEqual((r["radio"]["name"], r["radio"]["value"]), ("nps", "9"))
        self.assertEqual(r["inTextarea"]["tag"], "textarea")
        self.assertEqual(r["submit"]["tag"], "button")
        self.assertEqual(r["axe"], [])
        self.assertEqual(r["landed"], self.host.origin + "/thanks.html", r["landedText"])
        self.assertEqual(r["console"], [])
        mine = [x for x in self.stored() if x["comment"] == comment]
        self.assertEqual(len(mine), 1)
        self.assertEqual((mine[0]["nps"], mine[0]["stage"], mine[0]["touchpoint"],
                          mine[0]["channel"]), (9, "purchase", "web-checkout", None))

    def test_script_headers(self):
        st, h, body = self.srv.get_bytes("/widget.js")
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "text/javascript; charset=utf-8")
        self.assertEqual(h["cache-control"], "public, max-age=3600")
        self.assertRegex(h["etag"], r'^"[0-9a-f]{16}"$')
        self.assertEqual(body, open(os.path.join(HERE, "..", "..", "web", "widget.js"), "rb").read())
        self.assertLess(len(body), 10 * 1024)
        self.assertNotIn(b"innerHTML", body)
        st, h2, body = self.srv.request("GET", "/widget.js", auth=False,
                                        headers={"If-None-Match": h["etag"]})
        self.assertEqual((st, body), (304, ""))
        self.assertEqual(h2["etag"], h["etag"])
        st, _, body = self.srv.request("GET", "/widget.js", auth=False,
                                       headers={"If-None-Match": '"0000000000000000"'})
        self.assertEqual(st, 200)


if __name__ == "__main__":
    cxdtest.main("widget")
