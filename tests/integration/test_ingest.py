"""Integration tests for ingest: batches (JSON array, NDJSON), idempotent retries, the
bounded write queue. The real binary on a free port."""
import json
import os
import random
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
from cxdtest import Server, rss_kb  # noqa: E402
from test_api import random_response  # noqa: E402


def ndjson(items):
    return ("\n".join(json.dumps(i) for i in items) + "\n").encode()


class BatchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(args=["--batch-limit", "4m"]).start()
        for sid in ("b", "other"):
            st, _, body = cls.srv.post_json("/v1/surveys", {"id": sid, "title": sid})
            assert st == 201, body

    @classmethod
    def tearDownClass(cls):
        cls.srv.assert_clean_exit(unittest.TestCase())

    def total(self, survey="b"):
        return self.srv.get("/v1/surveys/%s/scores" % survey)[2]["groups"][0]["responses"]

    def post_ndjson(self, data, headers=None):
        h = {"Content-Type": "application/x-ndjson"}
        h.update(headers or {})
        return self.srv.request("POST", "/v1/responses", body=data, headers=h)

    def test_json_array(self):
        rng = random.Random(1)
        items = [random_response(rng, "b") for _ in range(250)]
        before = self.total()
        st, _, body = self.srv.post_json("/v1/responses", items)
        self.assertEqual(st, 201, body)
        self.assertEqual(body["count"], 250)
        self.assertEqual(len(set(body["ids"])), 250)
        self.assertEqual(self.total(), before + 250)

    def test_ndjson_streamed(self):
        rng = random.Random(2)
        items = [random_response(rng, "b") for _ in range(3000)]
        before = self.total()
        data = ndjson(items).replace(b"\n", b"\n\n", 5)   # blank lines are skipped
        st, _, body = self.post_ndjson(data[:-1])          # and the last needs no newline
        self.assertEqual(st, 201, body)
        self.assertEqual(body["count"], 3000)
        self.assertEqual(self.total(), before + 3000)

    def test_ndjson_chunked(self):
        rng = random.Random(3)
        data = ndjson([random_response(rng, "b") for _ in range(500)])
        c = self.srv.conn()
        pieces = [data[i:i + 777] for i in range(0, len(data), 777)]   # lines cut anywhere
        c.request("POST", "/v1/responses", body=iter(pieces),
                  headers=dict(self.srv.auth(), **{"Content-Type": "application/x-ndjson"}), encode_chunked=True)
        r = c.getresponse()
        body = json.loads(r.read())
        c.close()
        self.assertEqual(r.status, 201, body)
        self.assertEqual(body["count"], 500)

    def test_all_or_nothing_with_item_errors(self):
        rng = random.Random(4)
        items = [random_response(rng, "b") for _ in range(100)]
        items[7]["nps"] = 11
        items[42]["stage"] = "nowhere"
        before = self.total()
        for send in (lambda: self.srv.post_json("/v1/responses", items),
                     lambda: self.post_ndjson(ndjson(items))):
            st, _, body = send()
            self.assertEqual(st, 422, body)
            self.assertEqual(body["error"]["code"], "invalid_batch")
            got = [(e["index"], e["code"], e["field"]) for e in body["items"]]
            self.assertEqual(got, [(7, "invalid_score", "nps"), (42, "invalid_stage", "stage")])
        self.assertEqual(self.total(), before)

    def test_ndjson_bad_lines(self):
        good = json.dumps(random_response(random.Random(5), "b"))
        data = "\n".join([good, "{not json", '{"survey": "b", "survey": "b"}', "[1]",
                          "x" * 70000, good]).encode()
        before = self.total()
        st, _, body = self.post_ndjson(data)
        self.assertEqual(st, 422, body)
        got = [(e["index"], e["line"], e["code"]) for e in body["items"]]
        self.assertEqual(got, [(1, 2, "invalid_json"), (2, 3, "invalid_json"),
                               (3, 4, "invalid_response"), (4, 5, "line_too_long")])
        self.assertEqual(self.total(), before)

    def test_batch_limits(self):
        item = json.dumps({"survey": "b", "stage": "purchase", "touchpoint": "web", "nps": 5})
        st, _, body = self.post_ndjson(("\n".join([item] * 10001)).encode())
        self.assertEqual(st, 413, body)
        self.assertEqual(body["error"]["code"], "batch_too_large")
        st, _, body = self.srv.post_json("/v1/responses", [json.loads(item)] * 10001)
        self.assertEqual(st, 413, body)
        st, _, body = self.post_ndjson(b"\n\n")
        self.assertEqual((st, body["error"]["code"]), (422, "empty_batch"))
        st, _, body = self.srv.post_json("/v1/responses", [])
        self.assertEqual((st, body["error"]["code"]), (422, "empty_batch"))
        # over --batch-limit 4m: refused on the declared length, before any body is read
        out = self.srv.raw(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Type: "
                           b"application/x-ndjson\r\n" + self.srv.auth_line() +
                           b"Content-Length: 4194305\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 413"), out[:200])
        self.assertIn(b'"body_too_large"', out)
        st, _, body = self.srv.request("POST", "/v1/responses", body=b"5",
                                       headers={"Content-Type": "application/json"})
        self.assertEqual((st, body["error"]["code"]), (400, "invalid_json"))   # a bare value is no document

    def test_chunked_batch_over_limit(self):
        before = self.total()
        c = self.srv.conn()
        c.putrequest("POST", "/v1/responses")
        c.putheader("Authorization", "Bearer " + self.srv.key)
        c.putheader("Content-Type", "application/x-ndjson")
        c.putheader("Transfer-Encoding", "chunked")
        c.endheaders()
        line = (json.dumps({"survey": "b", "stage": "purchase", "touchpoint": "web", "nps": 1}) + "\n").encode()
        chunk = line * 1000
        for _ in range(4 * 1024 * 1024 // len(chunk) + 2):   # just over --batch-limit 4m
            c.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        c.send(b"0\r\n\r\n")
        r = c.getresponse()
        body = json.loads(r.read())
        c.close()
        self.assertEqual((r.status, body["error"]["code"]), (413, "body_too_large"))
        self.assertEqual(self.total(), before)

    def test_ten_thousand_items(self):
        rng = random.Random(6)
        items = [random_response(rng, "b") for _ in range(10000)]
        before = self.total()
        st, _, body = self.post_ndjson(ndjson(items))
        self.assertEqual(st, 201, body)
        self.assertEqual(self.total(), before + 10000)

    # --- idempotency ---

    def test_idempotency_key_header(self):
        r = {"survey": "b", "stage": "purchase", "touchpoint": "web", "nps": 9}
        h = {"Idempotency-Key": "order-1001"}
        before = self.total()
        st, _, first = self.srv.post_json("/v1/responses", r, headers=h)
        self.assertEqual(st, 201, first)
        st, _, again = self.srv.post_json("/v1/responses", dict(r), headers=h)
        self.assertEqual(st, 200, again)
        self.assertEqual(again, {"id": first["id"], "replayed": True})
        st, _, body = self.srv.post_json("/v1/responses", dict(r, nps=3), headers=h)
        self.assertEqual(st, 409, body)
        self.assertEqual(body["error"]["code"], "idempotency_conflict")
        self.assertEqual(self.total(), before + 1)
        # scoped to the survey: the same key elsewhere is a new response
        st, _, body = self.srv.post_json("/v1/responses", dict(r, survey="other"), headers=h)
        self.assertEqual(st, 201, body)
        st, _, body = self.srv.post_json("/v1/responses", r, headers={"Idempotency-Key": "bad key!"})
        self.assertEqual((st, body["error"]["code"]), (422, "invalid_idempotency_key"))

    def test_concurrent_retries_count_once(self):
        r = {"survey": "b", "stage": "retention", "touchpoint": "app", "csat": 4}
        before = self.total()
        results = []

        def send():
            results.append(self.srv.post_json("/v1/responses", r, headers={"Idempotency-Key": "race-7"}))

        threads = [threading.Thread(target=send) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        statuses = sorted(st for st, _, _ in results)
        self.assertEqual(statuses, [200] * 11 + [201])
        self.assertEqual(len({b["id"] for _, _, b in results}), 1)
        self.assertEqual(self.total(), before + 1)

    def test_batch_retry_with_response_ids(self):
        rng = random.Random(7)
        items = [dict(random_response(rng, "b"), response_id="imp-%d" % i) for i in range(50)]
        before = self.total()
        st, _, first = self.srv.post_json("/v1/responses", items)
        self.assertEqual(st, 201, first)
        st, _, again = self.post_ndjson(ndjson(items))
        self.assertEqual(st, 200, again)
        self.assertEqual(again["ids"], first["ids"])
        self.assertEqual(again["replayed"], 50)
        extra = dict(random_response(rng, "b"), response_id="imp-new")
        st, _, mixed = self.srv.post_json("/v1/responses", items[:3] + [extra])
        self.assertEqual(st, 201, mixed)
        self.assertEqual(mixed["replayed"], 3)
        self.assertEqual(self.total(), before + 51)
        items[10]["nps"] = (items[10].get("nps", 0) + 1) % 11
        items[10].setdefault("nps", 1)
        st, _, body = self.srv.post_json("/v1/responses", items)
        self.assertEqual(st, 409, body)
        self.assertEqual(body["items"][0]["index"], 10)
        self.assertEqual(self.total(), before + 51)

    def test_batch_with_idempotency_header(self):
        rng = random.Random(8)
        items = [random_response(rng, "b") for _ in range(20)]
        before = self.total()
        st, _, first = self.srv.post_json("/v1/responses", items, headers={"Idempotency-Key": "upload-9"})
        self.assertEqual(st, 201)
        st, _, again = self.srv.post_json("/v1/responses", items, headers={"Idempotency-Key": "upload-9"})
        self.assertEqual(st, 200)
        self.assertEqual(again["ids"], first["ids"])
        self.assertEqual(self.total(), before + 20)


class QueueTest(unittest.TestCase):
    def test_full_queue_is_503_and_acknowledged_rows_are_exact(self):
        srv = Server(args=["--queue-limit", "1", "--threads", "4"]).start()
        srv.post_json("/v1/surveys", {"id": "q", "title": "q"})
        results, lock = [], threading.Lock()

        def worker(seed):
            rng = random.Random(seed)
            c = srv.conn()
            for _ in range(30):
                st, h, body = srv.post_json("/v1/responses", random_response(rng, "q"), conn=c)
                with lock:
                    results.append((st, h.get("retry-after"), body))
            c.close()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ok = [b["id"] for st, _, b in results if st == 201]
        full = [(ra, b) for st, ra, b in results if st == 503]
        self.assertEqual(len(ok) + len(full), len(results), [r for r in results if r[0] not in (201, 503)][:3])
        self.assertGreater(len(full), 0, "no 503 with --queue-limit 1 under 24 writers")
        for ra, b in full:
            self.assertEqual(ra, "1")
            self.assertEqual(b["error"]["code"], "queue_full")
        self.assertEqual(srv.get("/v1/surveys/q/scores")[2]["groups"][0]["responses"], len(ok))
        srv.assert_clean_exit(self)

    def test_idempotency_survives_restart(self):
        srv = Server().start()
        srv.post_json("/v1/surveys", {"id": "q", "title": "q"})
        r = {"survey": "q", "stage": "purchase", "touchpoint": "web", "nps": 9}
        st, _, first = srv.post_json("/v1/responses", r, headers={"Idempotency-Key": "k1"})
        self.assertEqual(st, 201)
        srv.assert_clean_exit(self)
        srv2 = Server(db=srv.db, tmp=srv.tmp, key=srv.key).start()
        st, _, again = srv2.post_json("/v1/responses", r, headers={"Idempotency-Key": "k1"})
        self.assertEqual((st, again["id"]), (200, first["id"]))
        srv2.assert_clean_exit(self)


PRIVATE_STAGES = ["secret-stage-alpha", "secret-stage-beta"]
GOOD = {"stage": "purchase", "touchpoint": "web", "nps": 9}


def headers_only(srv, path, ctype, length, extra=b"", timeout=3.0):
    """Send a request's headers announcing `length` body bytes and none of the body; return
    (the answer's bytes, seconds until the first of them). A server that waits for the body
    sends nothing, and the read times out with b""."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)
    try:
        s.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: " + ctype.encode() +
                  b"\r\nContent-Length: %d\r\n" % length + extra + b"\r\n")
        t0 = time.monotonic()
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except socket.timeout:
            pass
        return out, time.monotonic() - t0
    finally:
        s.close()


def body_of(raw):
    return raw.partition(b"\r\n\r\n")[2]


class AnonymousTest(unittest.TestCase):
    """Issue 11, safe 3: who may post is decided at the headers, before the body is read,
    and no answer to an anonymous client says anything about a private survey.
    Mutations tried: skipping admit_anonymous (policy.c: every decision left to after the
    body) fails test_batches_refused_at_the_headers, test_private_and_missing_read_the_same
    and test_twenty_big_batches_at_once; admitting anonymous NDJSON fails
    test_batches_refused_at_the_headers; validating an item before checking the key's
    survey list (api_responses.c scoped_item) fails test_ingest_key_sees_no_other_survey."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server().start()   # --batch-limit 16 MiB, --body-limit 64 KiB (defaults)
        for body in ({"id": "pub", "title": "Public", "public": True, "allowed_origins": ["https://shop.example"],
                      "stages": ["interest", "purchase"],
                      "touchpoints": {"interest": ["web", "app"], "purchase": ["web", "app"]}},
                     {"id": "priv", "title": "Private", "stages": PRIVATE_STAGES,
                      "allowed_origins": ["https://secret.example"]}):
            st, _, got = cls.srv.post_json("/v1/surveys", body)
            assert st == 201, got

    @classmethod
    def tearDownClass(cls):
        cls.srv.assert_clean_exit(unittest.TestCase())

    def anon(self, path, body, headers=None):
        return self.srv.request("POST", path, body=body, headers=headers, auth=False)

    def total(self, survey):
        groups = self.srv.get("/v1/surveys/%s/scores" % survey)[2]["groups"]
        return groups[0]["responses"] if groups else 0

    def test_batches_refused_at_the_headers(self):
        big = 16 * 1024 * 1024
        for path in ("/v1/surveys/priv/responses", "/v1/surveys/pub/responses", "/v1/surveys/nope/responses",
                     "/v1/responses"):
            with self.subTest(path=path):
                out, secs = headers_only(self.srv, path, "application/x-ndjson", big)
                self.assertTrue(out.startswith(b"HTTP/1.1 401"), out[:200])
                self.assertLess(secs, 1.0)
                self.assertEqual(json.loads(body_of(out))["error"]["code"], "unauthorized")
                self.assertNotIn(b"secret-stage", out)
        # a private survey's single form is refused at the headers too
        out, secs = headers_only(self.srv, "/v1/surveys/priv/responses", "application/x-www-form-urlencoded", 60000,
                                 b"Accept: application/json\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 401"), out[:200])
        # an anonymous body over --body-limit is refused on its declared length
        out, _ = headers_only(self.srv, "/v1/surveys/pub/responses", "application/json", 70000)
        self.assertTrue(out.startswith(b"HTTP/1.1 413"), out[:200])

    def test_twenty_big_batches_at_once(self):
        """20 anonymous 16 MiB NDJSON posts at once: each answered 401 at its headers, the
        connection closed without the body being read, the server's memory flat."""
        line = (json.dumps(dict(GOOD, survey="priv")) + "\n").encode()
        chunk = line * (65536 // len(line))
        total = 16 * 1024 * 1024
        pid = self.srv.proc.pid
        before = rss_kb(pid)
        peak = [before]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_kb(pid))
                time.sleep(0.01)

        results = []

        def post(i):
            path = "/v1/responses" if i % 2 else "/v1/surveys/priv/responses"
            s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
            sent, t0 = 0, time.monotonic()
            try:
                s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
                          b"Content-Length: %d\r\n\r\n" % (path.encode(), total))
                try:
                    while sent < total:
                        sent += s.send(chunk[:min(len(chunk), total - sent)])
                except OSError:
                    pass   # the server closed: it does not want the rest
                out = b""
                try:
                    while True:
                        got = s.recv(65536)
                        if not got:
                            break
                        out += got
                except OSError:
                    pass
                results.append((out[:12], sent, time.monotonic() - t0))
            finally:
                s.close()

        sampler = threading.Thread(target=sample)
        sampler.start()
        threads = [threading.Thread(target=post, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stop.set()
        sampler.join()
        self.assertEqual(len(results), 20)
        for head, sent, secs in results:
            self.assertEqual(head, b"HTTP/1.1 401", (head, sent))
            self.assertLess(sent, total // 2, "the server read most of a 16 MiB anonymous body")
            self.assertLess(secs, 5.0)
        grown_mb = (peak[0] - before) / 1024
        print("20 anonymous 16 MiB batches: RSS %d -> peak %d KiB (+%.1f MiB); client bytes accepted "
              "before the close: max %d, slowest answer %.3f s"
              % (before, peak[0], grown_mb, max(r[1] for r in results), max(r[2] for r in results)))
        self.assertLess(grown_mb, 24, "memory grew with anonymous batches")

    def test_anonymous_json_array_refused(self):
        before = self.total("pub")
        st, _, body = self.anon("/v1/surveys/pub/responses", [GOOD, GOOD])
        self.assertEqual((st, body["error"]["code"]), (401, "unauthorized"))
        self.assertIn("batch", body["error"]["message"])
        self.assertEqual(self.total("pub"), before)

    def test_private_and_missing_read_the_same(self):
        bad = {"stage": "nowhere", "touchpoint": "web", "nps": 99}
        answers = []
        for sid in ("priv", "nope"):
            for body, h in ((dict(bad, survey=sid), {}),
                            (b"stage=nowhere&touchpoint=web&nps=99", {"Content-Type": "application/x-www-form-urlencoded",
                                                                      "Accept": "application/json"})):
                st, _, got = self.anon("/v1/surveys/%s/responses" % sid, body, h)
                self.assertEqual(st, 401, got)
                answers.append(got)
                self.assertNotIn("secret-stage", json.dumps(got))
        self.assertEqual(answers[0], answers[2])   # private and missing: the same answer
        self.assertEqual(answers[1], answers[3])
        # even a browser's error page says nothing about the private survey
        st, h, page = self.anon("/v1/surveys/priv/responses", b"stage=x&touchpoint=web&nps=1",
                                {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"})
        self.assertEqual(st, 401)
        self.assertNotIn("secret", page)
        # a public survey's 422 may list its own stages
        st, _, got = self.anon("/v1/surveys/pub/responses", dict(bad, survey="pub", nps=5))
        self.assertEqual((st, got["error"]["code"]), (422, "invalid_stage"))
        # a body naming another survey than the URL is refused before that survey is looked at
        st, _, got = self.anon("/v1/surveys/pub/responses", dict(GOOD, survey="priv", stage="nowhere"))
        self.assertEqual((st, got["error"]["code"]), (422, "survey_mismatch"))
        self.assertNotIn("secret-stage", json.dumps(got))

    def test_ingest_key_sees_no_other_survey(self):
        st, _, made = self.srv.post_json("/v1/keys", {"role": "ingest", "surveys": ["pub"]})
        hdr = {"Authorization": "Bearer " + made["secret"]}
        for path in ("/v1/responses", "/v1/surveys/priv/responses"):
            st, _, got = self.srv.request("POST", path, body={"survey": "priv", "stage": "nowhere",
                                                              "touchpoint": "web", "nps": 1},
                                          headers=hdr, auth=False)
            self.assertEqual((st, got["error"]["code"]), (403, "forbidden"), path)
            self.assertNotIn("secret-stage", json.dumps(got))

    def test_anonymous_single_posts_work(self):
        before = self.total("pub")
        st, _, got = self.anon("/v1/surveys/pub/responses", GOOD)   # the survey comes from the URL
        self.assertEqual(st, 201, got)
        st, _, got = self.anon("/v1/surveys/pub/responses", dict(GOOD, survey="pub"))
        self.assertEqual(st, 201, got)
        st, h, _ = self.anon("/v1/surveys/pub/responses", b"stage=purchase&touchpoint=web&csat=4",
                             {"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://shop.example"})
        self.assertEqual((st, h["access-control-allow-origin"]), (201, "https://shop.example"))
        self.assertEqual(self.total("pub"), before + 3)

    def test_keyed_paths_unchanged(self):
        before = self.total("priv")
        items = [dict(GOOD, survey="priv", stage=PRIVATE_STAGES[i % 2]) for i in range(30)]
        st, _, got = self.srv.request("POST", "/v1/responses", body=ndjson(items),
                                      headers={"Content-Type": "application/x-ndjson"})
        self.assertEqual((st, got["count"]), (201, 30))
        st, _, got = self.srv.post_json("/v1/responses", items)
        self.assertEqual((st, got["count"]), (201, 30))
        # and a keyed batch may use the survey's URL, items naming it or not
        url_items = [dict(GOOD, stage=PRIVATE_STAGES[0])] * 5 + [dict(GOOD, survey="priv", stage=PRIVATE_STAGES[1])]
        st, _, got = self.srv.request("POST", "/v1/surveys/priv/responses", body=ndjson(url_items),
                                      headers={"Content-Type": "application/x-ndjson"})
        self.assertEqual((st, got["count"]), (201, 6))
        self.assertEqual(self.total("priv"), before + 66)
        st, _, got = self.srv.post_json("/v1/surveys/priv/responses", [dict(GOOD, survey="pub")])
        self.assertEqual((st, got["items"][0]["code"]), (422, "survey_mismatch"))
        st, _, got = self.srv.post_json("/v1/surveys/nope/responses", GOOD)
        self.assertEqual((st, got["error"]["code"]), (404, "unknown_survey"))


class IdempotencyScopeTest(unittest.TestCase):
    """Issue 11, safe 6: idempotency keys belong to the client that sent them.
    Mutations tried: binding scope '' for every client in store.c (the keys shared again)
    fails test_anonymous_cannot_claim_a_keyed_clients_key; answering an anonymous replay
    with its id fails test_anonymous_replay_reveals_no_id; restoring the id in the 409
    message fails test_anonymous_cannot_claim_a_keyed_clients_key; letting legacy rows
    conflict, or anonymous clients match them, fails test_legacy_rows_after_migration."""

    @classmethod
    def setUpClass(cls):
        # two anonymous clients, told apart by a trusted proxy's X-Forwarded-For
        cls.srv = Server(args=["--trusted-proxies", "127.0.0.1"]).start()
        st, _, got = cls.srv.post_json("/v1/surveys", {"id": "shop", "title": "Shop", "public": True,
                                                        "touchpoints": {"purchase": ["web"], "interest": ["app"]}})
        assert st == 201, got
        cls.keys = []
        for _ in range(2):
            st, _, made = cls.srv.post_json("/v1/keys", {"role": "ingest"})
            cls.keys.append({"Authorization": "Bearer " + made["secret"]})

    @classmethod
    def tearDownClass(cls):
        cls.srv.assert_clean_exit(unittest.TestCase())

    def post(self, who, body, key, path="/v1/responses"):
        h = {"Idempotency-Key": key}
        if isinstance(who, dict):
            h.update(who)
            return self.srv.request("POST", path, body=body, headers=h, auth=False)
        h["X-Forwarded-For"] = who   # an anonymous client at that address
        return self.srv.request("POST", "/v1/surveys/shop/responses", body=body, headers=h, auth=False)

    def test_anonymous_cannot_claim_a_keyed_clients_key(self):
        real = {"survey": "shop", "stage": "purchase", "touchpoint": "web", "nps": 10, "customer": "c-1001"}
        squat = {"survey": "shop", "stage": "purchase", "touchpoint": "web", "nps": 0}
        st, _, got = self.post("198.51.100.7", squat, "order-1001")
        self.assertEqual(st, 201, got)
        squat_id = got["id"]
        st, _, got = self.post(self.keys[0], real, "order-1001")
        self.assertEqual(st, 201, got)   # not a 409: the anonymous claim is in another namespace
        self.assertNotEqual(got["id"], squat_id)
        real_id = got["id"]
        st, _, got = self.post(self.keys[0], real, "order-1001")
        self.assertEqual((st, got), (200, {"id": real_id, "replayed": True}))
        # another key is another client: its order-1001 is its own
        st, _, got = self.post(self.keys[1], dict(real, nps=7), "order-1001")
        self.assertEqual(st, 201, got)
        # a conflict names no response
        st, _, got = self.post(self.keys[0], dict(real, nps=3), "order-1001")
        self.assertEqual((st, got["error"]["code"]), (409, "idempotency_conflict"))
        self.assertNotRegex(got["error"]["message"].replace("order-1001", ""), r"\d")
        st, _, got = self.post("198.51.100.7", dict(squat, nps=1), "order-1001")
        self.assertEqual((st, got["error"]["code"]), (409, "idempotency_conflict"))
        self.assertNotRegex(json.dumps(got).replace("order-1001", ""), r"\d")

    def test_anonymous_replay_reveals_no_id(self):
        r = {"stage": "interest", "touchpoint": "app", "csat": 5}
        st, _, first = self.post("198.51.100.8", r, "form-abc")
        self.assertEqual(st, 201, first)
        st, _, again = self.post("198.51.100.8", r, "form-abc")
        self.assertEqual((st, again), (200, {"replayed": True}))
        # another address: another namespace, a new response
        st, _, other = self.post("198.51.100.9", r, "form-abc")
        self.assertEqual(st, 201, other)
        self.assertNotEqual(other["id"], first["id"])
        # a browser's double submit still gets its thank-you page
        form = {"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": "198.51.100.10"}
        for want in (201, 200):
            st, h, page = self.srv.request("POST", "/v1/surveys/shop/responses",
                                           body=b"stage=interest&touchpoint=app&csat=4&response_id=f-1",
                                           headers=form, auth=False)
            self.assertEqual(st, want, page)
            self.assertIn("Thank you", page)

    def test_legacy_rows_after_migration(self):
        """A database from before schema 009: its keys have no client; a keyed retry across
        the upgrade is still a replay, an anonymous one is not."""
        import sqlite3
        srv = Server().start()
        srv.post_json("/v1/surveys", {"id": "old", "title": "Old", "public": True,
                                      "touchpoints": {"purchase": ["web"]}})
        r = {"survey": "old", "stage": "purchase", "touchpoint": "web", "nps": 6}
        st, _, first = srv.post_json("/v1/responses", r, headers={"Idempotency-Key": "pre-upgrade"})
        self.assertEqual(st, 201)
        srv.assert_clean_exit(self)
        db = sqlite3.connect(srv.db)   # back to the schema-8 shape, the key without a client
        db.executescript("""
            CREATE TABLE idem_old (survey TEXT NOT NULL, key TEXT NOT NULL, fingerprint INTEGER NOT NULL,
              response_id INTEGER NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (survey, key)) WITHOUT ROWID;
            INSERT INTO idem_old SELECT survey, key, fingerprint, response_id, created_at FROM idempotency;
            DROP TABLE idempotency;
            ALTER TABLE idem_old RENAME TO idempotency;
            CREATE INDEX idempotency_age ON idempotency(created_at);
            DROP TABLE delivery_attempts; DROP TABLE deliveries; DROP TABLE endpoints; DROP TABLE rules;
            DROP TABLE case_events; DROP TABLE cases; DROP TABLE alert_findings;
            ALTER TABLE surveys DROP COLUMN root_causes;
            DROP TABLE link_keys; DROP TABLE invitations; DROP TABLE settings;
            DROP TABLE survey_hosted; DROP TABLE mail_outbox; DROP TABLE rollups_total;
            DROP TABLE rollup_mark;
            DELETE FROM schema_migrations WHERE version >= 9;""")
        db.commit()
        db.close()
        srv2 = Server(db=srv.db, tmp=srv.tmp, key=srv.key).start()
        self.assertIn("applied migration 009_idempotency_scope", srv2.stderr())
        st, _, again = srv2.post_json("/v1/responses", r, headers={"Idempotency-Key": "pre-upgrade"})
        self.assertEqual((st, again), (200, {"id": first["id"], "replayed": True}))
        # but a legacy row never blocks a keyed client: it may have been a squatter's
        st, _, mine = srv2.post_json("/v1/responses", dict(r, nps=1), headers={"Idempotency-Key": "pre-upgrade"})
        self.assertEqual(st, 201, mine)
        st, _, again = srv2.post_json("/v1/responses", dict(r, nps=1), headers={"Idempotency-Key": "pre-upgrade"})
        self.assertEqual((st, again), (200, {"id": mine["id"], "replayed": True}))
        st, _, anon = srv2.request("POST", "/v1/surveys/old/responses", body=r, auth=False,
                                   headers={"Idempotency-Key": "pre-upgrade"})
        self.assertEqual(st, 201, anon)   # an anonymous client never matches a row of unknown origin
        srv2.assert_clean_exit(self)
        db = sqlite3.connect(srv.db)
        self.assertEqual(sorted(db.execute("SELECT scope FROM idempotency")),
                         [("",), ("anon:127.0.0.1",), ("key:" + srv.key.split("_")[1],)])
        # migration 015 counted the response from before it in rollups_total, the writer the rest
        self.assertEqual(db.execute("SELECT sum(responses), sum(nps6), sum(nps1) FROM rollups_total").fetchone(),
                         (3, 2, 1))
        self.assertEqual(db.execute("SELECT count(*) FROM responses").fetchone()[0], 3)
        db.close()


class HealthzRateTest(unittest.TestCase):
    def test_probe_never_gets_429(self):
        """Issue 11, newcomer 8: a client that exhausted its address's bucket still gets
        /healthz (mutation tried: taking the bucket for every route fails this)."""
        srv = Server(args=["--rate-ip", "3/3", "--rate-key", "0"]).start()
        got = [srv.get("/dashboard")[0] for _ in range(6)]
        self.assertIn(429, got)
        self.assertEqual([srv.get("/healthz")[0] for _ in range(20)], [200] * 20)
        self.assertEqual(srv.get("/v1/surveys")[0], 429)   # the rest is still limited
        srv.assert_clean_exit(self)


class FormPageTest(unittest.TestCase):
    """Issue 11, newcomer 6: a browser's form post that fails gets an HTML page; API
    clients keep JSON. Mutations tried: never setting req->error_page (routes.c) fails
    the three page tests; leaving '<' unescaped (form_page.c) fails
    test_validation_error_page."""

    BROWSER = {"Content-Type": "application/x-www-form-urlencoded",
               "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}

    @classmethod
    def setUpClass(cls):
        cls.srv = Server().start()
        for body in ({"id": "pub", "title": "Public", "public": True, "allowed_origins": ["https://shop.example"],
                      "touchpoints": {"purchase": ["web"]}},
                     {"id": "priv", "title": "Private", "allowed_origins": ["https://secret.example"]}):
            st, _, got = cls.srv.post_json("/v1/surveys", body)
            assert st == 201, got

    @classmethod
    def tearDownClass(cls):
        cls.srv.assert_clean_exit(unittest.TestCase())

    def form(self, path, body, headers=None, auth=False):
        h = dict(self.BROWSER)
        h.update(headers or {})
        return self.srv.request("POST", path, body=body, headers=h, auth=auth)

    def parse(self, page):
        import html.parser

        class P(html.parser.HTMLParser):
            def __init__(self):
                super().__init__()
                self.tags, self.text, self.links, self.lang, self.stack = [], {}, [], None, []

            def handle_starttag(self, tag, attrs):
                a = dict(attrs)
                self.tags.append(tag)
                self.stack.append(tag)
                if tag == "html":
                    self.lang = a.get("lang")
                if tag == "a":
                    self.links.append(a.get("href"))

            def handle_endtag(self, tag):
                if self.stack and self.stack[-1] == tag:
                    self.stack.pop()

            def handle_data(self, data):
                if self.stack:
                    self.text[self.stack[-1]] = self.text.get(self.stack[-1], "") + data

        p = P()
        p.feed(page)
        return p

    def test_validation_error_page(self):
        ref = 'https://shop.example/survey?a=1&b="><script>alert(1)</script>'
        st, h, page = self.form("/v1/surveys/pub/responses", b"stage=purchase&touchpoint=web&nps=11",
                                {"Referer": ref})
        self.assertEqual(st, 422, page)
        self.assertEqual(h["content-type"], "text/html; charset=utf-8")
        self.assertNotIn("<script", page)   # everything from the request is escaped
        self.assertNotIn('b="', page)      # the quote cannot end the href
        p = self.parse(page)
        self.assertEqual(p.lang, "en")
        self.assertTrue(p.text.get("title", "").startswith("Error: "))
        self.assertIn("h1", p.tags)
        self.assertIn("0 to 10", page)               # the field, in words
        self.assertIn("nps must be", p.text.get("li", "") + page)
        self.assertIn(ref, p.links)                  # back to the form (unescaped by the parser)

    def test_no_referer_links_to_the_public_surveys_site(self):
        st, _, page = self.form("/v1/surveys/pub/responses", b"stage=purchase&touchpoint=web")
        self.assertEqual(st, 422)
        p = self.parse(page)
        self.assertIn("https://shop.example/", p.links)
        self.assertIn("Back button", page)

    def test_refusals_are_pages_too_and_say_nothing_about_a_private_survey(self):
        st, h, page = self.form("/v1/surveys/priv/responses", b"stage=purchase&touchpoint=web&nps=3")
        self.assertEqual((st, h["content-type"]), (401, "text/html; charset=utf-8"))
        self.assertNotIn("secret.example", page)
        self.assertIn("<h1>", page)
        st, _, page = self.form("/v1/surveys/pub/responses",
                                b"stage=purchase&stage=purchase&touchpoint=web&nps=3")
        self.assertEqual(st, 422)
        self.assertIn("more than once", page)
        out, _ = headers_only(self.srv, "/v1/surveys/pub/responses", "application/x-www-form-urlencoded", 10 ** 6)
        self.assertTrue(out.startswith(b"HTTP/1.1 413"), out[:100])
        self.assertIn(b"text/html", out.partition(b"\r\n\r\n")[0])

    def test_api_clients_keep_json(self):
        st, h, body = self.form("/v1/surveys/pub/responses", b"stage=purchase&touchpoint=web&nps=11",
                                {"Accept": "application/json"})
        self.assertEqual((st, body["error"]["code"]), (422, "invalid_score"))
        st, h, body = self.srv.request("POST", "/v1/surveys/pub/responses", body={"stage": "purchase", "touchpoint": "web",
                                                                                 "nps": 11}, auth=False)
        self.assertEqual((st, body["error"]["code"]), (422, "invalid_score"))


if __name__ == "__main__":
    cxdtest.main("ingest")
