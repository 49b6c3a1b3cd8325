"""The dashboard in a real browser: cxd with demo data, headless Chromium (Debian's
`chromium`, installed by test.sh) renders the page, and the rendered DOM is checked against
the API: one journey mark per stage in the survey's order, the API's top pain point on the
page, no errors logged. A screenshot is saved (CX_SCREENSHOT, default build dir)."""
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

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOT = os.environ.get("CX_SCREENSHOT", os.path.join(tempfile.gettempdir(), "cxd-dashboard.png"))


def chromium(url, *extra):
    profile = tempfile.mkdtemp(prefix="cxd-chromium-")
    try:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--user-data-dir=" + profile, "--window-size=1400,1500", "--virtual-time-budget=15000",
             "--enable-logging=stderr", "--v=0", *extra, url],
            capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


class DashboardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not CHROMIUM:   # test.sh installs Debian's chromium; without it this is a failure
            raise RuntimeError("chromium not found: apt-get install chromium")
        cls.srv = Server(args=["--demo"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.assert_clean_exit(unittest.TestCase())

    def test_dashboard_renders_the_journey(self):
        # a read key for the page, passed as the URL fragment (never sent to the server)
        st, _, key = self.srv.post_json("/v1/keys", {"role": "read", "label": "dashboard test"})
        self.assertEqual(st, 201, key)
        url = "http://127.0.0.1:%d/#key=%s" % (self.srv.port, key["secret"])
        st, h, html = self.srv.get("/")
        self.assertEqual(st, 200)
        self.assertIn("text/html", h["content-type"])
        run = chromium(url, "--dump-dom")
        dom = run.stdout
        self.assertIn('data-ready="1"', dom, run.stderr[-3000:])
        self.assertIn('data-errors="0"', dom)
        stages = self.srv.get("/v1/surveys/shop")[2]["stages"]
        marks = re.findall(r'class="stage-mark" data-stage="([^"]+)"', dom)
        self.assertEqual(marks, stages)          # one mark per stage, in journey order
        journey = self.srv.get("/v1/surveys/shop/journey")[2]
        top = journey["pain_points"][0]
        self.assertEqual((top["stage"], top["touchpoint"]), ("purchase", "payment"))
        pains = re.findall(r'class="pain" data-touchpoint="([^"]+)"', dom)
        self.assertEqual(pains[0], top["touchpoint"])
        self.assertIn(top["reason"], dom.replace("&amp;", "&"))
        self.assertEqual(len(re.findall(r'class="tile" data-touchpoint=', dom)),
                         sum(len(s["touchpoints"]) for s in journey["stages"]))
        for line in run.stderr.splitlines():   # nothing the page logged as an error
            self.assertFalse("CONSOLE" in line and ("Uncaught" in line or "rror" in line), line)

        shot = chromium(url, "--screenshot=" + SHOT)
        self.assertEqual(shot.returncode, 0, shot.stderr[-2000:])
        with open(SHOT, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        self.assertGreater(os.path.getsize(SHOT), 50000)   # a rendered page, not a blank one

    def test_dashboard_route(self):
        for path in ("/", "/dashboard"):
            st, h, body = self.srv.get(path)
            self.assertEqual(st, 200)
            self.assertIn("<title>cxd", body)
        st, _, _ = self.srv.request("POST", "/", body=b"x", headers={"Content-Type": "text/plain"})
        self.assertEqual(st, 405)


if __name__ == "__main__":
    cxdtest.main("dashboard")
