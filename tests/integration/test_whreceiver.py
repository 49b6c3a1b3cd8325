"""The test receiver (whreceiver.py) checks itself: its verification against the Standard
Webhooks specification's test vector and against signatures made here, and every mode
over real HTTP on 127.0.0.1. No cxd: the other webhook tests rely on this one being right.

Mutations tried (each reverted): verify() comparing against the secret without base64
decoding it: test_spec_vector fails; verify() ignoring the timestamp: test_tolerance
fails; the hang mode answering 200 after the change: test_modes fails ("answered")."""
import base64
import http.client
import json
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
import whreceiver as wh  # noqa: E402


def post(rx, path, body, secret, msg_id="msg_1", ts=None, timeout=5, sig=None):
    ts = int(time.time()) if ts is None else ts
    raw = json.dumps(body).encode()
    c = http.client.HTTPConnection("127.0.0.1", rx.port, timeout=timeout)
    try:
        c.request("POST", path, body=raw, headers={
            "Content-Type": "application/json", "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": sig or wh.sign(secret, msg_id, ts, raw)})
        r = c.getresponse()
        r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}
    finally:
        c.close()


class VerifyTest(unittest.TestCase):
    def h(self, sig, msg_id=wh.SPEC_ID, ts=wh.SPEC_TS):
        return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sig}

    def test_spec_vector(self):
        self.assertEqual(wh.sign(wh.SPEC_SECRET, wh.SPEC_ID, wh.SPEC_TS, wh.SPEC_BODY), wh.SPEC_SIG)
        ok, why = wh.verify([wh.SPEC_SECRET], self.h(wh.SPEC_SIG), wh.SPEC_BODY.encode(), now=wh.SPEC_TS)
        self.assertTrue(ok, why)

    def test_tampering_fails(self):
        body = wh.SPEC_BODY.encode()
        for what, secrets, h, b in (
                ("body", [wh.SPEC_SECRET], self.h(wh.SPEC_SIG), b'{"test": 2432232315}'),
                ("id", [wh.SPEC_SECRET], self.h(wh.SPEC_SIG, msg_id="msg_other"), body),
                ("timestamp", [wh.SPEC_SECRET], self.h(wh.SPEC_SIG, ts=wh.SPEC_TS + 1), body),
                ("secret", ["whsec_" + base64.b64encode(b"x" * 24).decode()], self.h(wh.SPEC_SIG), body),
                ("version", [wh.SPEC_SECRET], self.h("v1a," + wh.SPEC_SIG[3:]), body),
                ("missing", [wh.SPEC_SECRET], {"webhook-id": wh.SPEC_ID}, body)):
            with self.subTest(what):
                self.assertFalse(wh.verify(secrets, h, b, now=wh.SPEC_TS)[0])

    def test_tolerance(self):
        body = wh.SPEC_BODY.encode()
        for dt, ok in ((-300, True), (300, True), (301, False), (-301, False)):
            with self.subTest(dt=dt):
                self.assertEqual(wh.verify([wh.SPEC_SECRET], self.h(wh.SPEC_SIG), body,
                                           now=wh.SPEC_TS + dt)[0], ok)

    def test_any_of_several_signatures_and_secrets(self):
        other = "whsec_" + base64.b64encode(os.urandom(24)).decode()
        body = wh.SPEC_BODY.encode()
        good = wh.SPEC_SIG
        bad = wh.sign(other, wh.SPEC_ID, wh.SPEC_TS, body)
        for sig in (bad + " " + good, good + " " + bad, "v1a,xyz " + good):
            self.assertTrue(wh.verify([wh.SPEC_SECRET], self.h(sig), body, now=wh.SPEC_TS)[0], sig)
        # a rotation: the receiver knows both secrets, one signature suffices
        self.assertTrue(wh.verify([other, wh.SPEC_SECRET], self.h(good), body, now=wh.SPEC_TS)[0])
        self.assertFalse(wh.verify([other], self.h(good), body, now=wh.SPEC_TS)[0])
        # a secret without the prefix decodes the same
        self.assertTrue(wh.verify([wh.SPEC_SECRET[6:]], self.h(good), body, now=wh.SPEC_TS)[0])


class ModesTest(unittest.TestCase):
    def setUp(self):
        self.secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        self.rx = wh.Receiver(secrets={"/a": [self.secret]}).start()

    def tearDown(self):
        self.rx.stop()

    def test_records_and_verifies(self):
        st, _ = post(self.rx, "/a", {"type": "t", "n": 1}, self.secret, msg_id="msg_a")
        self.assertEqual(st, 200)
        st, _ = post(self.rx, "/a", {"n": 2}, self.secret, msg_id="msg_b", sig="v1,AAAA")
        self.assertEqual(st, 200)
        st, _ = post(self.rx, "/a", {"n": 3}, self.secret, msg_id="msg_c", ts=int(time.time()) - 400)
        r = self.rx.records("/a")
        self.assertEqual([x.msg_id for x in r], ["msg_a", "msg_b", "msg_c"])
        self.assertEqual([x.verified for x in r], [True, False, False])
        self.assertEqual(r[0].body, {"type": "t", "n": 1})
        self.assertEqual(r[0].status, 200)

    def test_modes(self):
        rx, s = self.rx, self.secret
        for mode, status in (("fail", 500), ("gone", 410), ("ok", 200)):
            rx.set_mode(mode)
            self.assertEqual(post(rx, "/a", {}, s)[0], status, mode)
        rx.set_mode("throttle", retry_after=7)
        st, h = post(rx, "/a", {}, s)
        self.assertEqual((st, h.get("retry-after")), (429, "7"))
        rx.set_mode("slow", delay_ms=300)
        t0 = time.monotonic()
        self.assertEqual(post(rx, "/a", {}, s)[0], 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        # a path of its own overrides the default mode
        rx.set_mode("ok")
        rx.set_mode("fail", path="/a")
        self.assertEqual(post(rx, "/a", {}, s)[0], 500)
        self.assertEqual(post(rx, "/b", {}, s)[0], 200)
        rx.clear_path_modes()
        # hang: recorded, never answered while hanging; cut without an answer afterwards
        rx.set_mode("hang")
        n = rx.count()
        with self.assertRaises(socket.timeout):
            post(rx, "/a", {}, s, msg_id="msg_hang", timeout=0.5)
        self.assertEqual(rx.records()[n].msg_id, "msg_hang")
        self.assertIsNone(rx.records()[n].status)
        c = socket.create_connection(("127.0.0.1", rx.port), timeout=5)
        c.sendall(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        self.assertTrue(rx.wait_for(lambda recs: len(recs) == n + 2, 5))
        rx.set_mode("ok")
        self.assertEqual(c.recv(100), b"", "a hung request answered")
        c.close()
        # down: not listening at all, then up again on the same port
        port = rx.port
        rx.set_mode("down")
        with self.assertRaises(ConnectionRefusedError):
            post(rx, "/a", {}, s)
        rx.set_mode("ok")
        self.assertEqual(rx.port, port)
        self.assertEqual(post(rx, "/a", {}, s)[0], 200)

    def test_down_cuts_open_connections(self):
        c = http.client.HTTPConnection("127.0.0.1", self.rx.port, timeout=5)
        raw = b"{}"
        ts = int(time.time())
        hdrs = {"webhook-id": "msg_k", "webhook-timestamp": str(ts),
                "webhook-signature": wh.sign(self.secret, "msg_k", ts, raw)}
        c.request("POST", "/a", body=raw, headers=hdrs)
        self.assertEqual(c.getresponse().read(), b'{"ok":true}')
        self.rx.set_mode("down")
        with self.assertRaises((OSError, http.client.HTTPException)):
            c.request("POST", "/a", body=raw, headers=hdrs)   # the kept-alive connection
            c.getresponse().read()
        c.close()
        self.assertEqual(self.rx.count(), 1)


if __name__ == "__main__":
    cxdtest.main("whreceiver")
