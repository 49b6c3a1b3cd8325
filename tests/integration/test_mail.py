"""Invitation mail (issue 13 item 6): cxd sends queued mail through a REAL SMTP server the
test starts (aiosmtpd), with libcurl's SMTP.

Mail is queued by the mint (POST /v1/surveys/{id}/invitations with "send_email": true);
the worker's tests also write rows into mail_outbox directly (cxd stopped, like a mint
that committed just before a crash), so they test the worker whatever the mint does.
"""
import email
import json
import email.header
import email.policy
import os
import signal
import socket
import sqlite3
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest

try:
    from aiosmtpd.controller import Controller
except ImportError:   # meson's python3 may be another interpreter than Debian's
    sys.path.append("/usr/lib/python3/dist-packages")
    from aiosmtpd.controller import Controller

FROM = "cx@example.com"
FAST = ["--mail-retry-schedule", "200ms,300ms"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Sink:
    """An SMTP server on 127.0.0.1:port keeping what it is sent. `refuse[rcpt]` is a list
    of replies given to that recipient's next DATA ends ("451 ..." / "550 ..."), one per
    attempt; `reject_rcpt` holds recipients refused at RCPT with 550."""

    def __init__(self, port=None, tls_context=None):
        self.port = port or free_port()
        self.messages = []        # (mail_from, rcpt_tos, bytes)
        self.rcpts = []           # every RCPT TO seen, accepted or not
        self.refuse = {}
        self.reject_rcpt = set()
        self.lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                with sink.lock:
                    sink.rcpts.append(address)
                if address in sink.reject_rcpt:
                    return "550 5.1.1 no such user"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):
                with sink.lock:
                    for r in envelope.rcpt_tos:
                        if sink.refuse.get(r):
                            return sink.refuse[r].pop(0)
                    sink.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                                          envelope.original_content or envelope.content))
                return "250 Message accepted for delivery"

        extra = {"tls_context": tls_context, "require_starttls": True} if tls_context else {}
        self.ctl = Controller(Handler(), hostname="127.0.0.1", port=self.port, **extra)

    def start(self):
        self.ctl.start()
        return self

    def stop(self):
        self.ctl.stop()

    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    def to(self, addr):
        with self.lock:
            return [m for m in self.messages if addr in m[1]]

    def wait(self, addr, n=1, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.to(addr)
            if len(got) >= n:
                return got
            time.sleep(0.05)
        raise AssertionError("%d mail(s) to %s expected, got %d" % (n, addr, len(self.to(addr))))


def insert_mail(db, to, nonce, customer="c-1", survey="delivery", subject="Your feedback",
                text="Hello\n\nhttp://x/i/T\n", html="<p>Hello</p>", next_at=0):
    con = sqlite3.connect(db)
    with con:
        cur = con.execute(
            "INSERT INTO mail_outbox(nonce, survey, customer, to_addr, subject, text_body, "
            "html_body, next_at, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (nonce, survey, customer, to, subject, text, html, next_at, int(time.time() * 1000)))
        mid = cur.lastrowid
    con.close()
    return mid


def row(db, mid):
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    r = con.execute("SELECT * FROM mail_outbox WHERE id = ?", (mid,)).fetchone()
    con.close()
    return dict(r) if r else None


def wait_row(db, mid, pred, timeout=15):
    deadline = time.monotonic() + timeout
    r = None
    while time.monotonic() < deadline:
        r = row(db, mid)
        if r and pred(r):
            return r
        time.sleep(0.05)
    raise AssertionError("mail %d never reached the state wanted: %r" % (mid, r))


def migrated_db():
    """A new database with every migration applied (cxd started once and stopped)."""
    srv = cxdtest.Server().start()
    srv.stop()
    return srv


def server(tmp_srv, sink_url, *extra, insecure=True, env=None):
    args = ["--smtp-url", sink_url, "--smtp-from", FROM] + FAST + list(extra)
    if insecure:
        args.append("--smtp-allow-insecure")
    return cxdtest.Server(db=tmp_srv.db, tmp=tmp_srv.tmp, key=tmp_srv.key, args=args, env=env)


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


class WorkerTest(unittest.TestCase):
    """The worker, fed rows written straight into mail_outbox."""

    def setUp(self):
        self.sink = Sink().start()
        self.base = migrated_db()
        self.srv = None

    def tearDown(self):
        if self.srv and self.srv.proc.poll() is None:
            self.srv.assert_clean_exit(self)
        self.sink.stop()

    def test_sent_once_with_headers_parts_and_encoded_subject(self):
        subject = "Доставка: как мы справились? " + "длинная тема " * 6
        text = "Здравствуйте!\n\nhttps://cx.example/i/TOKEN\n\n" + "x" * 1500 + "\n"
        html = "<p>Здравствуйте!</p>" + "".join(
            '<a href="https://cx.example/i/TOKEN?score=%d">%d</a>' % (i, i) for i in range(11))
        mid = insert_mail(self.base.db, "ana@example.com", "N0nce-_abc", subject=subject,
                          text=text, html=html)
        self.srv = server(self.base, self.sink.url()).start()
        mail_from, rcpts, raw = self.sink.wait("ana@example.com")[0]
        self.assertEqual(mail_from, FROM)
        self.assertEqual(rcpts, ["ana@example.com"])
        # the wire form: CRLF only, no line over 998 (or 78: base64 and folded words)
        self.assertNotIn(b"\n", raw.replace(b"\r\n", b""))
        self.assertTrue(all(len(l) <= 78 for l in raw.split(b"\r\n")), raw[:400])
        self.assertIn(b"=?UTF-8?B?", raw)   # RFC 2047
        m = parse(raw)
        self.assertEqual(m["From"], FROM)
        self.assertEqual(m["To"], "ana@example.com")
        self.assertEqual(str(m["Subject"]), subject)
        self.assertEqual(m["Message-ID"], "<N0nce-_abc@example.com>")
        self.assertEqual(m["MIME-Version"], "1.0")
        self.assertTrue(m["Date"])
        self.assertEqual(m.get_content_type(), "multipart/alternative")
        plain = m.get_body(("plain",))
        rich = m.get_body(("html",))
        self.assertEqual(plain.get_content().replace("\r\n", "\n"), text)
        self.assertEqual(rich.get_content(), html)
        self.assertEqual(plain.get_content_charset(), "utf-8")
        r = wait_row(self.base.db, mid, lambda r: r["state"] == "sent")
        self.assertEqual(r["attempts"], 1)
        self.assertIsNotNone(r["sent_at"])
        self.assertEqual(r["text_body"], "")      # the link is not kept once sent
        self.assertIsNone(r["html_body"])
        time.sleep(0.8)   # a few more looks: sent once
        self.assertEqual(len(self.sink.to("ana@example.com")), 1)
        st, _, body = self.srv.get("/metrics")
        self.assertEqual(st, 200)
        self.assertIn('cxd_mail_total{outcome="sent"} 1', body)
        self.assertIn("cxd_mail_pending 0", body)

    def test_text_only_mail(self):
        mid = insert_mail(self.base.db, "bo@example.com", "n2", html=None, text="only text")
        self.srv = server(self.base, self.sink.url()).start()
        m = parse(self.sink.wait("bo@example.com")[0][2])
        self.assertEqual(m.get_content_type(), "text/plain")
        self.assertEqual(m.get_content().strip(), "only text")
        wait_row(self.base.db, mid, lambda r: r["state"] == "sent")

    def test_451_then_accepted_is_retried_and_delivered_once(self):
        self.sink.refuse["cy@example.com"] = ["451 4.3.0 try later"]
        mid = insert_mail(self.base.db, "cy@example.com", "n3")
        self.srv = server(self.base, self.sink.url()).start()
        self.sink.wait("cy@example.com")
        r = wait_row(self.base.db, mid, lambda r: r["state"] == "sent")
        self.assertEqual(r["attempts"], 2)
        time.sleep(0.8)
        self.assertEqual(len(self.sink.to("cy@example.com")), 1)
        self.assertIn('attempt 1 failed, again in', self.srv.stderr())
        self.assertIn('the server answered "451 4.3.0 try later" (to the message)',
                      self.srv.stderr())
        self.assertIsNone(r["last_error"])
        _, _, body = self.srv.get("/metrics")
        self.assertIn('cxd_mail_total{outcome="retry"} 1', body)

    def test_550_is_dead_at_once(self):
        self.sink.reject_rcpt.add("nobody@example.com")
        mid = insert_mail(self.base.db, "nobody@example.com", "n4")
        self.srv = server(self.base, self.sink.url()).start()
        r = wait_row(self.base.db, mid, lambda r: r["state"] != "pending")
        self.assertEqual(r["state"], "dead")
        self.assertEqual(r["attempts"], 1)
        self.assertIn("550", r["last_error"])
        self.assertIn("no such user", r["last_error"])
        time.sleep(1.0)   # past the whole retry schedule: never tried again
        self.assertEqual(self.sink.rcpts.count("nobody@example.com"), 1)
        self.assertIn("mail %d (survey delivery) is dead after 1 attempt" % mid, self.srv.stderr())
        _, _, body = self.srv.get("/metrics")
        self.assertIn('cxd_mail_total{outcome="dead"} 1', body)
        self.assertIn("cxd_mail_dead 1", body)

    def test_admin_sees_a_dead_mail_and_sends_it_again(self):
        """GET /v1/mail shows why a mail died (never its body); POST .../retry sends a dead
        one again once the cause is fixed, and only a dead one."""
        self.sink.reject_rcpt.add("later@example.com")
        mid = insert_mail(self.base.db, "later@example.com", "n9", customer="c-9")
        ok = insert_mail(self.base.db, "fine@example.com", "n10")
        self.srv = server(self.base, self.sink.url()).start()
        wait_row(self.base.db, mid, lambda r: r["state"] == "dead")
        wait_row(self.base.db, ok, lambda r: r["state"] == "sent")
        st, _, out = self.srv.get("/v1/mail?state=dead")
        self.assertEqual(st, 200, out)
        self.assertEqual([m["id"] for m in out["mail"]], [mid])
        dead = out["mail"][0]
        self.assertEqual((dead["to"], dead["customer"], dead["invitation"], dead["attempts"]),
                         ("later@example.com", "c-9", "n9", 1))
        self.assertIn("550", dead["last_error"])
        self.assertNotIn("http://x/i/T", json.dumps(out))   # no body: it holds the link
        st, _, page = self.srv.get("/v1/mail?limit=1")
        self.assertEqual(([m["id"] for m in page["mail"]], page["next"]), ([ok], ok))
        st, _, page = self.srv.get("/v1/mail?limit=1&after=%d" % ok)
        self.assertEqual(([m["id"] for m in page["mail"]], page["next"]), ([mid], None))
        for bad, field in (("state=lost", "state"), ("limit=0", "limit"), ("after=x", "after"),
                           ("survey=a%20b", "survey"), ("x=1", "x")):
            st, _, err = self.srv.get("/v1/mail?" + bad)
            self.assertEqual((st, err["error"]["field"]), (422, field), bad)
        st, _, err = self.srv.request("POST", "/v1/mail/%d/retry" % ok)
        self.assertEqual((st, err["error"]["code"]), (409, "mail_not_dead"))
        self.assertEqual(self.srv.request("POST", "/v1/mail/424242/retry")[0], 404)
        self.sink.reject_rcpt.discard("later@example.com")   # the mailbox exists now
        st, _, out = self.srv.request("POST", "/v1/mail/%d/retry" % mid)
        self.assertEqual((st, out), (200, {"id": mid, "state": "pending"}))
        self.sink.wait("later@example.com")
        r = wait_row(self.base.db, mid, lambda r: r["state"] == "sent")
        self.assertEqual(r["attempts"], 1)

    def test_a_5xx_after_data_is_dead_too(self):
        self.sink.refuse["big@example.com"] = ["554 5.6.0 message refused"]
        mid = insert_mail(self.base.db, "big@example.com", "n5")
        self.srv = server(self.base, self.sink.url()).start()
        r = wait_row(self.base.db, mid, lambda r: r["state"] != "pending")
        self.assertEqual((r["state"], r["attempts"]), ("dead", 1))
        self.assertIn("554", r["last_error"])

    def test_4xx_every_time_is_dead_after_the_schedule(self):
        self.sink.refuse["busy@example.com"] = ["452 4.3.1 busy"] * 10
        mid = insert_mail(self.base.db, "busy@example.com", "n6")
        self.srv = server(self.base, self.sink.url()).start()
        r = wait_row(self.base.db, mid, lambda r: r["state"] != "pending")
        self.assertEqual(r["state"], "dead")
        self.assertEqual(r["attempts"], 3)   # the first, then one per step of "200ms,300ms"
        self.assertEqual(len(self.sink.refuse["busy@example.com"]), 7)
        self.assertEqual(self.sink.to("busy@example.com"), [])

    def test_hostile_row_is_never_sent(self):
        """A row not queued by cxd (an address that would inject a second RCPT) is dead,
        and nothing reaches the server."""
        mid = insert_mail(self.base.db, "a@b.example>\r\nRCPT TO:<x@y.example", "n7")
        self.srv = server(self.base, self.sink.url()).start()
        r = wait_row(self.base.db, mid, lambda r: r["state"] != "pending")
        self.assertEqual(r["state"], "dead")
        self.assertEqual(self.sink.rcpts, [])

    def test_server_down_first_then_delivered_and_survives_sigkill(self):
        port = free_port()
        mid = insert_mail(self.base.db, "dee@example.com", "n8")
        self.srv = server(self.base, "smtp://127.0.0.1:%d" % port,
                          "--mail-retry-schedule", "300ms,300ms,300ms,300ms,300ms,300ms").start()
        r = wait_row(self.base.db, mid, lambda r: r["attempts"] >= 1)
        self.assertEqual(r["state"], "pending")
        self.assertTrue(r["last_error"], r)
        # killed with the mail pending: nothing is lost
        self.srv.proc.kill()
        self.srv.wait_killed()
        late = Sink(port).start()
        try:
            self.srv = server(self.base, late.url()).start()
            late.wait("dee@example.com")
            r = wait_row(self.base.db, mid, lambda r: r["state"] == "sent")
            self.assertGreaterEqual(r["attempts"], 2)
            time.sleep(0.8)
            self.assertEqual(len(late.to("dee@example.com")), 1)
            self.srv.assert_clean_exit(self)
        finally:
            late.stop()

    def test_server_comes_up_while_cxd_runs(self):
        port = free_port()
        mid = insert_mail(self.base.db, "eve@example.com", "n9")
        self.srv = server(self.base, "smtp://127.0.0.1:%d" % port,
                          "--mail-retry-schedule", "300ms,300ms,300ms,300ms,300ms,300ms").start()
        wait_row(self.base.db, mid, lambda r: r["attempts"] >= 1)
        late = Sink(port).start()
        try:
            late.wait("eve@example.com")
            wait_row(self.base.db, mid, lambda r: r["state"] == "sent")
        finally:
            late.stop()

    def test_erasure_removes_queued_mail(self):
        port = free_port()   # nothing listens: the mail stays queued
        keep = insert_mail(self.base.db, "kim@example.com", "na", customer="c-keep")
        gone = insert_mail(self.base.db, "gus@example.com", "nb", customer="c-gone")
        gone2 = insert_mail(self.base.db, "gus@example.com", "nc", customer="c-gone")
        self.srv = server(self.base, "smtp://127.0.0.1:%d" % port,
                          "--mail-retry-schedule", "1h").start()
        wait_row(self.base.db, gone, lambda r: r["attempts"] >= 1)
        st, _, body = self.srv.request("DELETE", "/v1/customers/c-gone")
        self.assertIn(st, (200, 202, 204), body)
        self.assertIsNone(row(self.base.db, gone))
        self.assertIsNone(row(self.base.db, gone2))
        self.assertIsNotNone(row(self.base.db, keep))

    def test_plain_server_refused_without_allow_insecure_and_password_hidden(self):
        secret = "pw-Very-Secret-7731"
        mid = insert_mail(self.base.db, "fay@example.com", "nd")
        self.srv = server(self.base, self.sink.url(), "--smtp-user", "mailer", insecure=False,
                          env={"CXD_SMTP_PASSWORD": secret}).start()
        r = wait_row(self.base.db, mid, lambda r: r["attempts"] >= 1)
        self.assertEqual(r["state"], "pending")   # retried: the server may get STARTTLS
        self.assertIn("STARTTLS", r["last_error"])
        self.assertIn("--smtp-allow-insecure", r["last_error"])
        time.sleep(0.6)
        self.assertEqual(self.sink.messages, [])
        self.assertEqual(self.sink.rcpts, [])     # nothing sent in the clear
        _, _, metrics = self.srv.get("/metrics")
        self.assertNotIn(secret, metrics)
        self.srv.assert_clean_exit(self)
        self.assertNotIn(secret, self.srv.stderr())
        con = sqlite3.connect(self.base.db)
        dump = "\n".join(con.iterdump())
        con.close()
        self.assertNotIn(secret, dump)
        self.srv = None

    def test_starttls_with_an_untrusted_certificate_is_refused(self):
        """STARTTLS is used when offered, and its certificate checked: a self-signed one
        (no CA knows it) is refused, and nothing is sent."""
        import ssl
        cert, key = cxdtest.self_signed_cert(self.base.tmp)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        tls = Sink(tls_context=ctx).start()
        try:
            mid = insert_mail(self.base.db, "hal@example.com", "nf")
            self.srv = server(self.base, tls.url(), insecure=False).start()
            r = wait_row(self.base.db, mid, lambda r: r["attempts"] >= 1)
            self.assertEqual(r["state"], "pending")
            self.assertRegex(r["last_error"].lower(), "certificate|ssl|tls")
            self.assertNotIn("offers no STARTTLS", r["last_error"])   # it did offer it
            self.assertEqual(tls.rcpts, [])
        finally:
            tls.stop()

    def test_stop_is_prompt_while_the_server_hangs(self):
        lst = socket.socket()
        lst.bind(("127.0.0.1", 0))
        lst.listen(5)
        port = lst.getsockname()[1]
        mid = insert_mail(self.base.db, "gil@example.com", "ne")
        try:
            self.srv = server(self.base, "smtp://127.0.0.1:%d" % port).start()
            lst.settimeout(10)
            conn, _ = lst.accept()   # connected; the greeting never comes
            t0 = time.monotonic()
            self.srv.assert_clean_exit(self)
            self.assertLess(time.monotonic() - t0, 5)
            self.assertEqual(row(self.base.db, mid)["state"], "pending")
            conn.close()
        finally:
            lst.close()
        self.srv = None


class ConfigTest(unittest.TestCase):
    def test_bad_from_and_schedule_are_refused_at_start(self):
        for args in (["--smtp-url", "smtp://127.0.0.1:1", "--smtp-from", "x@y"],
                     ["--smtp-url", "smtp://127.0.0.1:1", "--smtp-from", FROM,
                      "--mail-retry-schedule", "soon"]):
            srv = cxdtest.Server(args=args)
            with self.assertRaises(RuntimeError):
                srv.start()
            srv.wait_killed()

    def test_no_mail_without_smtp_url(self):
        srv = cxdtest.Server().start()
        _, _, body = srv.get("/metrics")
        self.assertNotIn("cxd_mail_total", body)
        srv.assert_clean_exit(self)


SURVEY = {"id": "delivery", "title": "Delivery <b>&</b> you",
          "stages": ["purchase", "delivery"],
          "touchpoints": {"delivery": ["courier"]}}


class MintTest(unittest.TestCase):
    """The whole path: the mint queues mail in its transaction, the worker sends it."""

    def setUp(self):
        self.sink = Sink().start()
        self.srv = cxdtest.Server(args=["--smtp-url", self.sink.url(), "--smtp-from", FROM,
                                        "--smtp-allow-insecure", "--public-url",
                                        "https://cx.example.com"] + FAST).start()

    def tearDown(self):
        self.srv.assert_clean_exit(self)
        self.sink.stop()

    def mint(self, survey, items, **extra):
        body = dict({"send_email": True, "invitations": items}, **extra)
        st, _, out = self.srv.post_json("/v1/surveys/%s/invitations" % survey, body)
        if st == 501:
            self.skipTest("the mint (POST /v1/surveys/{id}/invitations) is not merged here")
        return st, out

    def test_nps_mail_has_the_personal_link_and_eleven_score_links(self):
        st, _, out = self.srv.request("PUT", "/v1/surveys/delivery", body=SURVEY)
        self.assertIn(st, (200, 201), out)
        st, out = self.mint("delivery", [{"customer": "c-42", "stage": "delivery",
                                          "touchpoint": "courier", "email": "ana@example.com",
                                          "lang": "ru"}])
        self.assertIn(st, (200, 201), out)
        url = out["invitations"][0]["url"]
        m = parse(self.sink.wait("ana@example.com")[0][2])
        self.assertIn("Delivery <b>&</b> you", str(m["Subject"]))   # the built-in, in Russian
        self.assertIn("как мы справились", str(m["Subject"]))
        text = m.get_body(("plain",)).get_content()
        html = m.get_body(("html",)).get_content()
        self.assertIn(url, text)
        self.assertIn("Delivery &lt;b&gt;&amp;&lt;/b&gt; you", html)
        self.assertNotIn("<b>&</b>", html)
        for n in range(11):
            self.assertIn('href="%s?score=%d"' % (url, n), html)
        self.assertNotIn("?score=11", html)
        self.assertEqual(html.count('aria-label="Оценка'), 11)

    def test_survey_template_and_no_mail_for_a_refused_invitation(self):
        s = dict(SURVEY, id="shop", question="csat",
                 email={"subject": "Hi {{customer}}, rate {{title}}",
                        "body": "Dear {{customer}},\n\nplease rate us: {{link}}\n"})
        st, _, out = self.srv.request("PUT", "/v1/surveys/shop", body=s)
        self.assertIn(st, (200, 201), out)
        st, out = self.mint("shop", [{"customer": "c-7", "stage": "delivery",
                                      "touchpoint": "courier", "email": "bo@example.com"}])
        self.assertIn(st, (200, 201), out)
        url = out["invitations"][0]["url"]
        m = parse(self.sink.wait("bo@example.com")[0][2])
        self.assertEqual(str(m["Subject"]), "Hi c-7, rate Delivery <b>&</b> you")
        self.assertEqual(m.get_body(("plain",)).get_content().replace("\r\n", "\n"),
                         "Dear c-7,\n\nplease rate us: %s\n" % url)
        html = m.get_body(("html",)).get_content()
        self.assertEqual(html.count("?score="), 5)   # CSAT 1-5
        # a hostile address is refused and nothing is queued for it
        st, out = self.mint("shop", [{"customer": "c-8", "stage": "delivery",
                                      "touchpoint": "courier",
                                      "email": "a@b.example>\r\nRCPT TO:<x@y.example>"}])
        self.assertGreaterEqual(st, 400, out)
        time.sleep(0.8)
        self.assertFalse(any("x@y.example" in r for r in self.sink.rcpts))

    def test_a_template_too_large_to_send_is_a_422_and_mints_nothing(self):
        # 16 KiB of {{link}} makes more than the 64 KiB a text part may have: the mint says
        # so (it was a 503 "out of memory" once), and nothing is minted or queued
        s = dict(SURVEY, id="huge", email={"body": "{{link}}" * 2000})
        st, _, out = self.srv.request("PUT", "/v1/surveys/huge", body=s)
        self.assertIn(st, (200, 201), out)
        st, out = self.mint("huge", [{"customer": "c-9", "stage": "delivery",
                                      "touchpoint": "courier", "email": "cy@example.com"}])
        self.assertEqual(st, 422, out)
        self.assertEqual(out["error"]["code"], "mail_too_large")
        self.assertEqual(out["error"]["field"], "email.body")
        st, out = self.mint("huge", [{"customer": "c-9", "stage": "delivery",
                                      "touchpoint": "courier"}], send_email=False)
        self.assertIn(st, (200, 201), out)
        self.assertEqual(out["minted"], 1)   # the first attempt left no invitation behind
        time.sleep(0.8)
        self.assertNotIn("cy@example.com", self.sink.rcpts)


if __name__ == "__main__":
    cxdtest.main("mail")
