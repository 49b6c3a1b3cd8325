"""QR codes of a public survey's hosted page: GET /v1/surveys/{id}/qr.

Each code is decoded back (zbarimg reads the PNG; the SVG is rasterised here from its
<path> and read by zbarimg too) and must be exactly the page's URL, every value
percent-encoded, under --public-url (or http://LISTEN:PORT without it). Every refusal has
its own test: unknown survey, private survey, missing or unknown stage/touchpoint/channel/
segment, bad lang/format/size/ecc/margin, an unknown parameter, no key, a read key; and the
PNG's size bound at the largest size.

Tried against: a URL built without percent-encoding the touchpoint (test_png_decodes_
to_url fails: zbarimg reads the raw spaces), the quiet zone left out of the PNG (zbarimg
still reads it, but test_png_dimensions fails), the size bound removed (test_size_bound:
200 with a 5,600 px image).
"""
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import urllib.parse
import xml.etree.ElementTree as ET
import zlib

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
from cxdtest import Server  # noqa: E402

ZBAR = shutil.which("zbarimg")
BASE = "https://cx.example.com/base"
TP = "till 3/front door+@:"          # every label character the API allows that must be escaped
SURVEY = {"id": "shop", "title": "Shop", "public": True,
          "touchpoints": {"purchase": ["web-checkout", TP], "retention": ["parcel"]},
          "channels": ["qr", "web", "poster"], "segments": ["new", "vip club"]}
LONG = "+/ @:" * 12 + "+/ @"     # 64 characters, each escaped to 3
BIG = {"id": "b" * 64, "title": "Big", "public": True, "stages": ["s" * 64],
       "touchpoints": {"s" * 64: [LONG]}, "channels": [LONG], "segments": [LONG]}


def q(**kw):
    return urllib.parse.urlencode(kw, quote_via=urllib.parse.quote)


def expected(base, survey, **params):
    """The URL by the rules in the README, written independently of src/qr.c."""
    def enc(v):
        return "".join(c if re.match(r"[A-Za-z0-9._~-]", c) else
                       "".join("%%%02X" % b for b in c.encode()) for c in v)
    return base + "/s/" + enc(survey) + "?" + "&".join(
        "%s=%s" % (k, enc(v)) for k, v in params.items())


def decode(png_bytes):
    with tempfile.NamedTemporaryFile(suffix=".png") as f:
        f.write(png_bytes)
        f.flush()
        r = subprocess.run([ZBAR, "--raw", "-q", f.name], capture_output=True, timeout=60)
        return r.stdout.decode().rstrip("\n")


def png_info(data):
    """(width, height, bit depth, colour type) from the IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    w, h, depth, ctype = struct.unpack(">IIBB", data[16:26])
    return w, h, depth, ctype


def png_from_modules(dark, size, scale=4):
    """A 1-bit grayscale PNG of a size x size module grid (a set of (x, y) dark modules)."""
    px = size * scale
    raw = b""
    for y in range(px):
        bits = [0 if (x // scale, y // scale) in dark else 1 for x in range(px)]
        row = bytearray((px + 7) // 8)
        for x, b in enumerate(bits):
            if b:
                row[x >> 3] |= 0x80 >> (x & 7)
        raw += b"\0" + bytes(row)

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", px, px, 1, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def svg_modules(svg_text):
    """Parse the SVG: (viewBox size, set of dark modules from its path, title, root attrs)."""
    root = ET.fromstring(svg_text.encode())
    ns = "{http://www.w3.org/2000/svg}"
    vb = root.get("viewBox").split()
    assert vb[:2] == ["0", "0"] and vb[2] == vb[3], vb
    size = int(vb[2])
    d = root.find(ns + "path").get("d")
    dark = set()
    for x, y, n, n2 in re.findall(r"M(\d+) (\d+)h(\d+)v1h-(\d+)z", d):
        assert n == n2
        for i in range(int(n)):
            dark.add((int(x) + i, int(y)))
    assert re.fullmatch(r"(M\d+ \d+h\d+v1h-\d+z)*", d), d[:200]
    return size, dark, root.find(ns + "title").text, root


@unittest.skipUnless(ZBAR, "zbarimg (zbar-tools) is not installed")
class QrTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(args=["--public-url", BASE]).start()
        st, _, body = cls.srv.post_json("/v1/surveys", SURVEY)
        assert st == 201, body
        st, _, body = cls.srv.post_json("/v1/surveys", BIG)
        assert st == 201, body
        st, _, body = cls.srv.post_json("/v1/surveys", {"id": "private", "title": "P",
                                                         "touchpoints": {"purchase": ["a"]}})
        assert st == 201, body
        cls.keys = {}
        for role in ("read", "ingest", "agent"):
            st, _, body = cls.srv.post_json("/v1/keys", {"role": role})
            assert st == 201, body
            cls.keys[role] = body["secret"]

    @classmethod
    def tearDownClass(cls):
        cls.srv.assert_clean_exit(unittest.TestCase())

    def get(self, path, **kw):
        return self.srv.get_bytes(path) if not kw else self.srv.get(path, **kw)

    def test_png_decodes_to_url(self):
        for params, want in [
            (dict(stage="purchase", touchpoint=TP),
             dict(stage="purchase", touchpoint=TP, channel="qr")),
            (dict(stage="purchase", touchpoint="web-checkout", channel="poster",
                  segment="vip club", lang="pt-BR", ecc="H"),
             dict(stage="purchase", touchpoint="web-checkout", channel="poster",
                  segment="vip club", lang="pt-BR")),
            (dict(stage="retention", touchpoint="parcel", ecc="L", size="3", margin="4"),
             dict(stage="retention", touchpoint="parcel", channel="qr")),
        ]:
            st, h, data = self.get("/v1/surveys/shop/qr?" + q(format="png", **params))
            self.assertEqual(st, 200, data[:300])
            self.assertEqual(h["content-type"], "image/png")
            url = expected(BASE, "shop", **want)
            self.assertEqual(decode(data), url)
            if params["touchpoint"] == TP:
                self.assertIn("till%203%2Ffront%20door%2B%40%3A", url)   # really escaped
            # and the JSON form names the same URL
            st, _, j = self.srv.get("/v1/surveys/shop/qr?" + q(format="json", **params))
            self.assertEqual((st, j["url"]), (200, url))

    def test_png_headers_and_filename(self):
        st, h, data = self.get("/v1/surveys/shop/qr?" + q(format="png", stage="purchase",
                                                         touchpoint=TP))
        self.assertEqual(st, 200)
        self.assertEqual(h["content-disposition"],
                         'inline; filename="qr-shop-purchase-till_3_front_door___.png"')
        self.assertEqual(h["x-content-type-options"], "nosniff")
        st, h, _ = self.get("/v1/surveys/shop/qr?" + q(stage="purchase", touchpoint=TP))
        self.assertEqual(h["content-type"], "image/svg+xml")
        self.assertEqual(h["content-disposition"],
                         'inline; filename="qr-shop-purchase-till_3_front_door___.svg"')

    def test_png_dimensions(self):
        """size pixels per module, margin modules of quiet zone on each side, 1-bit gray."""
        for size, margin in [(1, 0), (5, 4), (8, 10)]:
            st, _, j = self.srv.get("/v1/surveys/shop/qr?" + q(
                format="json", stage="purchase", touchpoint="web-checkout"))
            modules = j["modules"]
            self.assertEqual(modules, 17 + 4 * j["version"])
            st, _, data = self.get("/v1/surveys/shop/qr?" + q(
                format="png", stage="purchase", touchpoint="web-checkout", size=size,
                margin=margin))
            self.assertEqual(st, 200)
            self.assertEqual(png_info(data), ((modules + 2 * margin) * size,
                                              (modules + 2 * margin) * size, 1, 0))

    def test_svg_well_formed_and_decodes(self):
        params = dict(stage="purchase", touchpoint=TP, segment="new")
        st, h, data = self.get("/v1/surveys/shop/qr?" + q(size=2, margin=3, **params))
        self.assertEqual((st, h["content-type"]), (200, "image/svg+xml"))
        size, dark, title, root = svg_modules(data.decode())
        st, _, j = self.srv.get("/v1/surveys/shop/qr?" + q(format="json", **params))
        url = expected(BASE, "shop", stage="purchase", touchpoint=TP, channel="qr",
                       segment="new")
        self.assertEqual(j["url"], url)
        self.assertEqual(size, j["modules"] + 2 * 3)
        self.assertEqual(root.get("width"), str(size * 2))
        self.assertEqual(root.get("shape-rendering"), "crispEdges")
        self.assertEqual(title, url)   # the '&'s were escaped, or ET would have failed
        self.assertTrue(all(3 <= x < size - 3 and 3 <= y < size - 3 for x, y in dark))
        # the three finder patterns' corners are dark
        m = j["modules"]
        for x, y in [(0, 0), (m - 1, 0), (0, m - 1)]:
            self.assertIn((x + 3, y + 3), dark)
        self.assertEqual(decode(png_from_modules(dark, size)), url)
        # the same symbol as the PNG's
        _, _, png = self.get("/v1/surveys/shop/qr?" + q(format="png", size=1, margin=3,
                                                        **params))
        self.assertEqual(png_info(png)[0], size)

    def test_default_base_is_listen_address(self):
        srv = Server().start()
        try:
            st, _, body = srv.post_json("/v1/surveys", SURVEY)
            self.assertEqual(st, 201, body)
            st, _, data = srv.get_bytes("/v1/surveys/shop/qr?" + q(
                format="png", stage="purchase", touchpoint="web-checkout"))
            self.assertEqual(st, 200)
            self.assertEqual(decode(data), expected(
                "http://127.0.0.1:%d" % srv.port, "shop", stage="purchase",
                touchpoint="web-checkout", channel="qr"))
        finally:
            srv.assert_clean_exit(self)

    def assertError(self, path, status, code, field=None, key=None):
        hdrs = {"Authorization": "Bearer " + key} if isinstance(key, str) else None
        st, _, body = self.srv.get(path, headers=hdrs, auth=key is not False)
        self.assertEqual(st, status, (path, body))
        self.assertEqual(body["error"]["code"], code, body)
        if field is not None:
            self.assertEqual(body["error"].get("field"), field, body)
        return body["error"]

    def test_refusals(self):
        ok = dict(stage="purchase", touchpoint="web-checkout")
        self.assertError("/v1/surveys/nope/qr?" + q(**ok), 404, "unknown_survey")
        e = self.assertError("/v1/surveys/private/qr?" + q(stage="purchase", touchpoint="a"),
                             409, "survey_not_public")
        self.assertIn('"public": true', e["message"])
        for params, code, field in [
            (dict(touchpoint="web-checkout"), "missing_parameter", "stage"),
            (dict(stage="purchase"), "missing_parameter", "touchpoint"),
            (dict(ok, stage="nosuch"), "invalid_stage", "stage"),
            (dict(ok, stage="retention"), "unknown_touchpoint", "touchpoint"),
            (dict(ok, touchpoint="nosuch"), "unknown_touchpoint", "touchpoint"),
            (dict(ok, touchpoint="bad\u00e9"), "invalid_label", "touchpoint"),
            (dict(ok, channel="email"), "unknown_channel", "channel"),
            (dict(ok, segment="old"), "unknown_segment", "segment"),
            (dict(ok, lang="en_US"), "invalid_lang", "lang"),
            (dict(ok, lang="x" * 36), "invalid_lang", "lang"),
            (dict(ok, format="gif"), "invalid_format", "format"),
            (dict(ok, size="0"), "invalid_size", "size"),
            (dict(ok, size="33"), "invalid_size", "size"),
            (dict(ok, size="-1"), "invalid_size", "size"),
            (dict(ok, size="8px"), "invalid_size", "size"),
            (dict(ok, size="99999999999"), "invalid_size", "size"),
            (dict(ok, margin="17"), "invalid_margin", "margin"),
            (dict(ok, ecc="X"), "invalid_ecc", "ecc"),
            (dict(ok, ecc="MM"), "invalid_ecc", "ecc"),
            (dict(ok, colour="red"), "unknown_parameter", None),
        ]:
            self.assertError("/v1/surveys/shop/qr?" + q(**params), 422, code, field)

    def test_keys(self):
        path = "/v1/surveys/shop/qr?" + q(stage="purchase", touchpoint="web-checkout")
        self.assertError(path, 401, "unauthorized", key=False)
        for role in ("read", "ingest", "agent"):
            self.assertError(path, 403, "forbidden", key=self.keys[role])

    def test_size_bound(self):
        """The largest size and margin never make a PNG over 4096 px: a big code at size 32
        is refused with the size that fits, which then works."""
        big = dict(stage="s" * 64, touchpoint=LONG, channel=LONG, segment=LONG, ecc="H",
                   margin=16, lang="a" * 35)
        path = "/v1/surveys/%s/qr?" % ("b" * 64)
        st, _, j = self.srv.get(path + q(format="json", **big))
        self.assertEqual(st, 200, j)
        self.assertGreater(len(j["url"]), 700)
        total = j["modules"] + 32
        self.assertGreater(total * 32, 4096)
        e = self.assertError(path + q(format="png", size=32, **big), 422,
                             "invalid_size", "size")
        fit = 4096 // total
        self.assertIn("size=%d" % fit, e["message"])
        st, _, data = self.get(path + q(format="png", size=fit, **big))
        self.assertEqual(st, 200)
        w = png_info(data)[0]
        self.assertLessEqual(w, 4096)
        self.assertEqual(w, total * fit)
        self.assertEqual(decode(data), j["url"])
        # the SVG at the same size: text, drawn at any size, never large
        st, _, data = self.get(path + q(size=32, **big))
        self.assertEqual(st, 200)
        self.assertLess(len(data), 400000)


if __name__ == "__main__":
    cxdtest.main("qr")
