"""Integration tests for ingest: batches (JSON array, NDJSON), idempotent retries, the
bounded write queue. The real binary on a free port."""
import json
import os
import random
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
from cxdtest import Server  # noqa: E402
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


if __name__ == "__main__":
    cxdtest.main("ingest")
