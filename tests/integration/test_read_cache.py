"""The read cache (issue 14): the same scores, journey or funnel question asked again with
no commit in between is answered from memory (X-Cache: hit) with the same bytes; every
commit - a response, an erasure, invitations minted on another connection - makes the
next read compute afresh, so a read after a write sees the write, also while other
clients keep the cache hot; one key's answer is never served to another key; the cache
stays within --read-cache; --read-cache 0 turns it off.

It fails if a hit can serve data older than an acknowledged write, if a scoped key gets an
answer it may not see because another key's answer was cached, or if the memory bound
does not hold."""
import os
import re
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402

SCORES = "/v1/surveys/rc/scores?by=stage"


def resp(stage="purchase", nps=9, customer=None):
    r = {"survey": "rc", "stage": stage, "touchpoint": "web", "channel": "email", "nps": nps}
    if customer:
        r["customer"] = customer
    return r


def total(body):
    return sum(g["responses"] for g in body["groups"])


def metric(srv, name):
    st, _, text = srv.get("/metrics")
    m = re.search(r"^%s (\d+)" % re.escape(name), text, re.M)
    return int(m.group(1)) if m else None


class ReadCacheTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = cxdtest.Server(args=["--read-cache", "256k"]).start()
        st, _, body = cls.srv.post_json("/v1/surveys", {"id": "rc", "title": "Read cache",
                                                        "channels": ["email"]})
        assert st == 201, body
        cls.srv.post_json("/v1/surveys", {"id": "other", "title": "Other"})
        for i in range(5):
            cls.srv.post_json("/v1/responses", resp(nps=i))

    @classmethod
    def tearDownClass(cls):
        cls.srv.assert_clean_exit(unittest.TestCase())

    def test_hit_is_the_same_answer(self):
        self.srv.post_json("/v1/responses", resp())   # a fresh version
        st1, h1, b1 = self.srv.get_bytes(SCORES)
        st2, h2, b2 = self.srv.get_bytes(SCORES)
        self.assertEqual((st1, st2), (200, 200))
        self.assertEqual(h1.get("x-cache"), "miss")
        self.assertEqual(h2.get("x-cache"), "hit")
        self.assertEqual(b1, b2)
        self.assertEqual(h2.get("content-type"), "application/json")
        # another question is another entry
        st, h, _ = self.srv.get_bytes(SCORES + "&from=2020-01-01")
        self.assertEqual((st, h.get("x-cache")), (200, "miss"))
        for path in ("/v1/surveys/rc/journey", "/v1/surveys/rc/funnel"):
            self.assertEqual(self.srv.get_bytes(path)[1].get("x-cache"), "miss", path)
            self.assertEqual(self.srv.get_bytes(path)[1].get("x-cache"), "hit", path)
        # errors are not kept
        for _ in range(2):
            st, h, _ = self.srv.get_bytes("/v1/surveys/rc/scores?by=nonsense")
            self.assertEqual(st, 422)
            self.assertIsNone(h.get("x-cache"))

    def test_counting_keeps_what_the_cache_holds(self):
        """The writer counts committed responses into the rollups up to 20 ms after their
        commit (schema 019), in a commit of its own that changes no answer: the answer read
        before it is still the answer after it (it was a miss: 'hit' != 'miss' under
        ThreadSanitizer's timing, where the count came between two reads)."""
        self.srv.post_json("/v1/responses", resp())
        st1, h1, b1 = self.srv.get_bytes(SCORES)   # the response is above the mark here
        self.srv.wait_counted()
        st2, h2, b2 = self.srv.get_bytes(SCORES)
        self.assertEqual((st1, st2, h1.get("x-cache"), h2.get("x-cache")), (200, 200, "miss", "hit"))
        self.assertEqual(b1, b2)

    def test_every_commit_is_seen(self):
        st, _, before = self.srv.get(SCORES)
        self.srv.get(SCORES)
        st, _, out = self.srv.post_json("/v1/responses", resp(customer="erase-me"))
        self.assertEqual(st, 201, out)
        st, h, after = self.srv.get(SCORES)
        self.assertEqual(h.get("x-cache"), "miss")
        self.assertEqual(total(after), total(before) + 1)
        # an erasure (the writer thread) is a commit too
        self.assertEqual(self.srv.get(SCORES)[1].get("x-cache"), "hit")
        st, _, _ = self.srv.request("DELETE", "/v1/customers/erase-me")
        self.assertEqual(st, 200)
        st, h, erased = self.srv.get(SCORES)
        self.assertEqual(h.get("x-cache"), "miss")
        self.assertEqual(total(erased), total(before))
        # invitations are minted on a connection of their own, not the writer's
        st, _, f1 = self.srv.get("/v1/surveys/rc/funnel")
        self.srv.get("/v1/surveys/rc/funnel")
        st, _, out = self.srv.post_json("/v1/surveys/rc/invitations",
                                        {"invitations": [{"customer": "inv-1", "stage": "purchase",
                                                          "touchpoint": "web", "channel": "email"}]})
        self.assertEqual(st, 200, out)
        st, h, f2 = self.srv.get("/v1/surveys/rc/funnel")
        self.assertEqual(h.get("x-cache"), "miss")
        self.assertEqual(f2["total"]["minted"], f1["total"]["minted"] + 1, f2)

    def test_read_after_write_under_load(self):
        """One client posts and reads back at once, 3 others keep asking the same question:
        every read after a 201 counts that response."""
        stop = threading.Event()
        errors = []

        def reader():
            c = self.srv.conn()
            while not stop.is_set():
                st, _, _ = self.srv.request("GET", SCORES, conn=c)
                if st != 200:
                    errors.append(st)
            c.close()

        readers = [threading.Thread(target=reader) for _ in range(3)]
        for t in readers:
            t.start()
        try:
            c = self.srv.conn()
            st, _, body = self.srv.request("GET", SCORES, conn=c)
            seen = total(body)
            hits = 0
            deadline = time.monotonic() + 4
            posted = 0
            while time.monotonic() < deadline:
                st, _, out = self.srv.request("POST", "/v1/responses", resp(nps=posted % 11), conn=c)
                self.assertEqual(st, 201, out)
                posted += 1
                st, h, body = self.srv.request("GET", SCORES, conn=c)
                self.assertEqual(st, 200)
                self.assertGreaterEqual(total(body), seen + 1, "a read after a 201 missed it")
                seen = total(body)
                st, h, again = self.srv.request("GET", SCORES, conn=c)
                hits += h.get("x-cache") == "hit"
                self.assertGreaterEqual(total(again), seen)
            c.close()
        finally:
            stop.set()
            for t in readers:
                t.join()
        self.assertEqual(errors, [])
        self.assertGreater(posted, 20)
        self.assertGreater(hits, 0, "the cache never answered")
        print("read cache: %d writes, each read back at once; %d repeated reads hit" % (posted, hits))

    def test_read_after_survey_change_under_load(self):
        """A survey's definition (its stages) is part of the journey's answer: after PUT
        /v1/surveys/{id} returns, the next journey lists the new stages, also while other
        clients keep asking (an answer computed from the old definition after the PUT's
        commit must not be kept as current)."""
        orders = [["a", "b", "c"], ["c", "b", "a"], ["b", "c", "a"]]
        st, _, out = self.srv.post_json("/v1/surveys", {"id": "rs", "title": "Stages",
                                                        "stages": orders[0]})
        self.assertEqual(st, 201, out)
        path = "/v1/surveys/rs/journey"
        stop = threading.Event()

        def reader():
            c = self.srv.conn()
            while not stop.is_set():
                self.srv.request("GET", path, conn=c)
            c.close()

        readers = [threading.Thread(target=reader) for _ in range(3)]
        for t in readers:
            t.start()
        stale = []
        try:
            c = self.srv.conn()
            deadline = time.monotonic() + 4
            n = 0
            while time.monotonic() < deadline:
                order = orders[n % len(orders)]
                n += 1
                st, _, out = self.srv.request("PUT", "/v1/surveys/rs",
                                              {"title": "Stages", "stages": order}, conn=c)
                self.assertEqual(st, 200, out)
                st, h, body = self.srv.request("GET", path, conn=c)
                self.assertEqual(st, 200)
                got = [s["stage"] for s in body["stages"]]
                if got != order:
                    stale.append((order, got, h.get("x-cache")))
            c.close()
        finally:
            stop.set()
            for t in readers:
                t.join()
        self.assertEqual(stale, [], "%d of %d reads after a PUT saw the old stages" % (len(stale), n))

    def test_a_bare_parameter_is_not_an_empty_one(self):
        """`?from` (absent: the default range, 200) and `?from=` (an empty date, 422) are
        two questions: the first's kept answer must not be served for the second."""
        for p in ("from", "tz", "segment"):
            path = "/v1/surveys/rc/scores?by=stage&" + p
            self.assertEqual(self.srv.get_bytes(path)[0], 200, path)
            self.srv.get_bytes(path)
            st, h, body = self.srv.get_bytes(path + "=")
            self.assertEqual((st, h.get("x-cache")), (422, None), (p, body))

    def test_one_keys_answer_is_not_anothers(self):
        self.srv.get(SCORES)
        self.assertEqual(self.srv.get(SCORES)[1].get("x-cache"), "hit")   # admin's answer is held
        st, _, k = self.srv.post_json("/v1/keys", {"role": "ingest", "surveys": ["rc"]})
        self.assertEqual(st, 201, k)
        for _ in range(2):   # who may ask is decided before the cache is looked at
            st, h, body = self.srv.get(SCORES, headers={"Authorization": "Bearer " + k["secret"]})
            self.assertEqual(st, 403, body)
            self.assertIsNone(h.get("x-cache"))
        st, _, k2 = self.srv.post_json("/v1/keys", {"role": "read"})
        other = {"Authorization": "Bearer " + k2["secret"]}
        st, h, body = self.srv.get(SCORES, headers=other)   # its own entry (keys move no version)
        self.assertEqual((st, h.get("x-cache")), (200, "miss"))
        self.srv.get(SCORES)   # the admin key's answer at this version
        st, h, body = self.srv.get(SCORES, headers=other)
        self.assertEqual((st, h.get("x-cache")), (200, "hit"))   # its own, kept

    def test_a_revoked_key_gets_no_kept_answer(self):
        """Keys live in their own connection (their commits do not move the data version):
        a deleted key is refused before the cache is looked at, its hot entry or not."""
        st, _, k = self.srv.post_json("/v1/keys", {"role": "read"})
        self.assertEqual(st, 201, k)
        auth = {"Authorization": "Bearer " + k["secret"]}
        self.srv.get(SCORES, headers=auth)
        st, h, _ = self.srv.get(SCORES, headers=auth)
        self.assertEqual((st, h.get("x-cache")), (200, "hit"))
        self.assertEqual(self.srv.request("DELETE", "/v1/keys/" + k["id"])[0], 200)
        st, h, body = self.srv.get(SCORES, headers=auth)
        self.assertEqual((st, h.get("x-cache")), (401, None), body)

    def test_memory_is_bounded(self):
        for d in range(1, 200):   # 200 different questions, about 1-2 KB each
            st, _, _ = self.srv.get("/v1/surveys/rc/scores?by=stage,touchpoint&from=2020-01-%02d"
                                    % (d % 28 + 1) + "&segment=s%d" % d)
            self.assertEqual(st, 200)
        held = metric(self.srv, "cxd_read_cache_bytes")
        self.assertIsNotNone(held)
        self.assertLessEqual(held, 256 * 1024)
        self.assertGreater(metric(self.srv, 'cxd_read_cache_total{result="hit"}'), 0)


class NoCacheTest(unittest.TestCase):
    def test_off(self):
        srv = cxdtest.Server(args=["--read-cache", "0"]).start()
        try:
            srv.post_json("/v1/surveys", {"id": "rc", "title": "RC"})
            for _ in range(2):
                st, h, _ = srv.get(SCORES)
                self.assertEqual(st, 200)
                self.assertIsNone(h.get("x-cache"))
        finally:
            srv.assert_clean_exit(self)


if __name__ == "__main__":
    unittest.main()
