"""Integration tests for export (JSON, NDJSON, CSV; paging; constant memory) and for
erasure and redaction (rollups equal a recomputation from the remaining rows)."""
import csv
import io
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
from cxdtest import Server, rss_kb  # noqa: E402
from test_api import random_response, STAGES  # noqa: E402
import scoring  # noqa: E402

TRICKY = ["plain", "with, comma", 'with "quotes"', "two\nlines", "=SUM(A1:A9)", "+1 555 0100",
          "-minus", "@mention", "\tTabbed", "ünïcödé ✓", "cr\r\nlf"]


class ExportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server().start()
        cls.srv.post_json("/v1/surveys", {"id": "ex", "title": "Export"})
        rng = random.Random(5)
        cls.rows = []
        for i in range(1500):
            r = random_response(rng, "ex")
            r["customer"] = "c%d" % (i % 40)
            if i % 3 == 0:
                r["comment"] = TRICKY[i % len(TRICKY)]
            if i % 5 == 0:
                r["attributes"] = {"order": "A-%d" % i, "note": "=cmd"}
            cls.rows.append(r)
        st, _, body = cls.srv.post_json("/v1/responses", cls.rows)
        assert st == 201, body
        cls.ids = body["ids"]

    @classmethod
    def tearDownClass(cls):
        cls.srv.assert_clean_exit(unittest.TestCase())

    def test_json_and_ndjson(self):
        st, h, data = self.srv.get_bytes("/v1/surveys/ex/responses")
        self.assertEqual(st, 200)
        body = json.loads(data)
        got = body["responses"]
        self.assertEqual([g["id"] for g in got], self.ids)
        self.assertIsNone(body["next_cursor"])
        for g, r in zip(got, self.rows):
            self.assertEqual(g["comment"], r.get("comment"))
            self.assertEqual(g["nps"], r.get("nps"))
            self.assertEqual(g["customer"], r["customer"])
            self.assertEqual(g["attributes"], r.get("attributes"))
        st, h, data = self.srv.get_bytes("/v1/surveys/ex/responses?format=ndjson")
        self.assertEqual(h["content-type"], "application/x-ndjson")
        lines = data.decode().splitlines()
        self.assertEqual([json.loads(x)["id"] for x in lines], self.ids)

    def test_csv_round_trips_and_defuses_formulas(self):
        st, h, data = self.srv.get_bytes("/v1/surveys/ex/responses?format=csv")
        self.assertEqual(st, 200)
        self.assertTrue(h["content-type"].startswith("text/csv"))
        table = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
        self.assertEqual(table[0][:4], ["id", "submitted_at", "received_at", "stage"])
        self.assertEqual(len(table) - 1, len(self.rows))
        col = {name: i for i, name in enumerate(table[0])}
        for line, r in zip(table[1:], self.rows):
            comment = r.get("comment", "")
            if comment[:1] in ("=", "+", "-", "@", "\t", "\r"):
                comment = "'" + comment    # no spreadsheet will run it
            self.assertEqual(line[col["comment"]], comment)
            self.assertEqual(line[col["nps"]], str(r["nps"]) if "nps" in r else "")
            self.assertEqual(line[col["customer"]], r["customer"])
        for line in table[1:]:
            for cell in line:
                self.assertFalse(cell[:1] in ("=", "+", "@"), cell)

    def test_paging_filters_and_errors(self):
        seen, cursor = [], None
        while True:
            st, _, data = self.srv.get_bytes("/v1/surveys/ex/responses?limit=400" + ("&cursor=" + cursor if cursor else ""))
            body = json.loads(data)
            seen += [g["id"] for g in body["responses"]]
            cursor = body["next_cursor"]
            if not cursor:
                break
        self.assertEqual(seen, self.ids)
        st, _, data = self.srv.get_bytes("/v1/surveys/ex/responses?stage=purchase&format=ndjson")
        got = [json.loads(x) for x in data.decode().splitlines()]
        self.assertEqual(len(got), sum(1 for r in self.rows if r["stage"] == "purchase"))
        for qs, code in (("?format=xml", "invalid_format"), ("?limit=0", "invalid_limit"),
                         ("?cursor=abc", "invalid_cursor"), ("?stage=nope", "invalid_stage"),
                         ("?sort=id", "unknown_parameter")):
            st, _, body = self.srv.get("/v1/surveys/ex/responses" + qs)
            self.assertEqual((st, body["error"]["code"]), (422, code), qs)
        self.assertEqual(self.srv.get("/v1/surveys/none/responses")[0], 404)


class ExportScaleTest(unittest.TestCase):
    ROWS = int(os.environ.get("CX_EXPORT_ROWS", "1000000"))

    def test_export_memory_stays_flat(self):
        """Export 1M responses as CSV while watching cxd's RSS. The rows are written
        straight into the database file (this tests the export, not the ingest)."""
        # AddressSanitizer keeps freed memory in a quarantine (256 MiB by default), which
        # would read as growth here: keep it small so RSS shows what cxd really holds
        asan = os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=4:thread_local_quarantine_size_kb=64"
        srv = Server(env={"ASAN_OPTIONS": asan}).start()
        srv.post_json("/v1/surveys", {"id": "big", "title": "Big"})
        key = srv.key
        srv.assert_clean_exit(self)
        db = sqlite3.connect(srv.db)
        db.execute("BEGIN")
        db.executemany("INSERT INTO responses(survey, stage, touchpoint, nps, comment, submitted_at, "
                       "received_at) VALUES ('big', 'purchase', 'web', ?, ?, ?, ?)",
                       ((i % 11, "comment %d, with a comma" % i, 1790000000 + i, (1790000000 + i) * 1000)
                        for i in range(self.ROWS)))
        db.execute("COMMIT")
        db.close()
        srv = Server(db=srv.db, tmp=srv.tmp, key=key, env={"ASAN_OPTIONS": asan}).start()
        time.sleep(0.2)
        base = rss_kb(srv.proc.pid)
        c = srv.conn(timeout=300)
        c.request("GET", "/v1/surveys/big/responses?format=csv", headers=srv.auth())
        r = c.getresponse()
        peak, n, last = base, 0, b""
        while True:
            chunk = r.read(1 << 16)
            if not chunk:
                break
            n += (last + chunk).count(b"\r\n")   # a CRLF may straddle two reads
            last = b"\r" if chunk.endswith(b"\r") else b""
            peak = max(peak, rss_kb(srv.proc.pid))
        c.close()
        self.assertEqual(n, self.ROWS + 1)   # header + every row
        self.assertLess(peak - base, 32 * 1024, "RSS grew by %d KiB while streaming" % (peak - base))
        print("export: %d rows, RSS %d KiB before, %d KiB at most while streaming" % (self.ROWS, base, peak))
        srv.assert_clean_exit(self)


class ErasureTest(unittest.TestCase):
    def test_erase_customer_and_recompute(self):
        srv = Server().start()
        for sid in ("e1", "e2"):
            srv.post_json("/v1/surveys", {"id": sid, "title": sid})
        rng = random.Random(9)
        rows = []
        for i in range(900):
            r = random_response(rng, "e1" if i % 3 else "e2")
            r["customer"] = "cust-%d" % (i % 25)
            r["response_id"] = "k%d" % i
            rows.append(r)
        st, _, body = srv.post_json("/v1/responses", rows)
        self.assertEqual(st, 201, body)
        victim = "cust-7"
        st, _, body = srv.request("DELETE", "/v1/customers/" + victim)
        self.assertEqual(st, 200, body)
        self.assertEqual(body, {"customer": victim, "erased": sum(1 for r in rows if r["customer"] == victim)})
        left = [r for r in rows if r["customer"] != victim]
        for sid in ("e1", "e2"):
            mine = [r for r in left if r["survey"] == sid]
            st, _, sc = srv.get("/v1/surveys/%s/scores?by=stage,touchpoint" % sid)
            groups = {(g["group"]["stage"], g["group"]["touchpoint"]): g for g in sc["groups"]}
            keys = {(r["stage"], r["touchpoint"]) for r in mine}
            self.assertEqual(set(groups), keys)   # no emptied group left behind
            for k in keys:
                want = scoring.group_scores([r for r in mine if (r["stage"], r["touchpoint"]) == k])
                have = {f: groups[k][f] for f in ("responses", "nps", "csat", "ces")}
                self.assertTrue(scoring.close(have, want), (k, have, want))
        # rollups (all four levels) equal a recount of the remaining rows, once counted
        srv.wait_counted()
        db = sqlite3.connect("file:%s?mode=ro" % srv.db, uri=True)
        n = db.execute("SELECT count(*) FROM responses").fetchone()[0]
        self.assertEqual(n, len(left))
        self.assertEqual(db.execute("SELECT count(*) FROM responses WHERE customer = ?", (victim,)).fetchone()[0], 0)
        for table in ("rollups", "rollups_month", "rollups_quarter", "rollups_total"):
            self.assertEqual(db.execute("SELECT sum(responses), sum(nps9 + nps10) FROM " + table).fetchone(),
                             (n, db.execute("SELECT count(*) FROM responses WHERE nps >= 9").fetchone()[0]))
            self.assertEqual(db.execute("SELECT count(*) FROM %s WHERE responses <= 0" % table).fetchone()[0], 0)
        db.close()
        # the erased responses' idempotency keys are gone too: a retry stores anew
        gone = next(r for r in rows if r["customer"] == victim)
        st, _, body = srv.post_json("/v1/responses", [gone])
        self.assertEqual((st, body["replayed"]), (201, 0))
        st, _, body = srv.request("DELETE", "/v1/customers/nobody")
        self.assertEqual(body["erased"], 0)
        st, _, body = srv.request("DELETE", "/v1/customers/bad%20%22id")
        self.assertEqual(st, 422)
        srv.assert_clean_exit(self)

    def test_redact_comment(self):
        srv = Server().start()
        srv.post_json("/v1/surveys", {"id": "rd", "title": "rd"})
        st, _, body = srv.post_json("/v1/responses", {"survey": "rd", "stage": "purchase", "touchpoint": "web",
                                                      "nps": 2, "comment": "my phone is 555-0100"})
        rid = body["id"]
        st, _, body = srv.request("DELETE", "/v1/responses/%d/comment" % rid)
        self.assertEqual((st, body), (200, {"id": rid, "redacted": True}))
        st, _, body = srv.get("/v1/surveys/rd/responses")
        self.assertIsNone(body["responses"][0]["comment"])
        self.assertEqual(body["responses"][0]["nps"], 2)      # the scores stay
        self.assertEqual(srv.request("DELETE", "/v1/responses/%d/comment" % rid)[0], 404)
        self.assertEqual(srv.request("DELETE", "/v1/responses/abc/comment")[0], 404)
        srv.assert_clean_exit(self)


def file_bytes(db):
    """The bytes of the database and of its -wal and -shm files (those that exist)."""
    out = {}
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            with open(db + suffix, "rb") as f:
                out[suffix or "db"] = f.read()
    return out


class ErasureLeavesNoTraceTest(unittest.TestCase):
    """Issue 11, safe 4. Mutations this catches: no wal_checkpoint(TRUNCATE) after an
    erasure (the rows stay in -wal); PRAGMA secure_delete=OFF (the deleted cells and
    overflow pages stay readable in the .db file); routing on the decoded path (an id
    with '/' is stored but DELETE /v1/customers/a%2Fb is a 404)."""

    IDS = ["a/b", "two words", "x+y", "urn:cust:42", "me@example.com", "c/d e+f:g@h", "..", ".", "/", "-_. :/@+"]

    def setUp(self):
        self.srv = Server().start()
        self.srv.post_json("/v1/surveys", {"id": "pv", "title": "pv"})

    def tearDown(self):
        self.srv.assert_clean_exit(self)

    def post(self, customer, tag, rng, idem=None):
        r = random_response(rng, "pv")
        r["customer"] = customer
        # a comment near the 4,000-byte cap and wide attributes, each carrying the tag: a
        # row over 4,061 bytes, so part of it lives in an overflow page
        r["comment"] = (("COMMENT-%s " % tag) * 400)[:3990]
        r["attributes"] = {"k%d" % i: "ATTR-%s-%d" % (tag, i) for i in range(10)}
        if idem:
            r["response_id"] = idem
        st, _, body = self.srv.post_json("/v1/responses", r)
        self.assertEqual(st, 201, body)
        return body["id"]

    def test_every_storable_id_can_be_erased(self):
        rng = random.Random(4)
        for i, cid in enumerate(self.IDS):
            for _ in range(3):
                self.post(cid, "t%d" % i, rng)
        self.post("keeper", "keep", rng)
        for cid in self.IDS:
            path = "/v1/customers/" + urllib.parse.quote(cid, safe="")
            st, _, body = self.srv.request("DELETE", path)
            self.assertEqual((st, body), (200, {"customer": cid, "erased": 3}), cid)
        # dots as %2E (so that no client collapses them), the rest as they are
        self.post("..", "dots", rng)
        st, _, body = self.srv.request("DELETE", "/v1/customers/%2E%2E")
        self.assertEqual((st, body), (200, {"customer": "..", "erased": 1}))
        # '+' and ':' '@' need no escaping in a path: sent raw they mean themselves
        self.post("p+q:r@s", "raw", rng)
        st, _, body = self.srv.request("DELETE", "/v1/customers/p+q:r@s")
        self.assertEqual((st, body), (200, {"customer": "p+q:r@s", "erased": 1}))
        db = sqlite3.connect("file:%s?mode=ro" % self.srv.db, uri=True)
        self.assertEqual(db.execute("SELECT customer FROM responses").fetchall(), [("keeper",)])
        db.close()

    def test_no_copy_in_db_wal_or_shm(self):
        rng = random.Random(8)
        ids = [self.post("victim/1", "VICTIM", rng, idem="idem-VICTIM-%d" % i) for i in range(40)]
        redacted = self.post("keeper", "REDACTME", rng)
        self.post("keeper", "KEEPME", rng)
        before = file_bytes(self.srv.db)
        self.assertTrue(any(b"COMMENT-VICTIM" in v for v in before.values()), "the test must see the data first")
        st, _, body = self.srv.request("DELETE", "/v1/customers/victim%2F1")
        self.assertEqual((st, body), (200, {"customer": "victim/1", "erased": len(ids)}))
        st, _, body = self.srv.request("DELETE", "/v1/responses/%d/comment" % redacted)
        self.assertEqual(st, 200, body)
        # read while the server still runs: the answer came after the scrub
        after = file_bytes(self.srv.db)
        for name, data in after.items():
            for needle in (b"COMMENT-VICTIM", b"ATTR-VICTIM", b"victim/1", b"idem-VICTIM", b"COMMENT-REDACTME"):
                self.assertFalse(needle in data, "%s still holds %r" % (name, needle))
        self.assertEqual(len(after.get("-wal", b"")), 0, "the WAL is truncated after an erasure")
        self.assertIn(b"COMMENT-KEEPME", after["db"])   # what was not erased is all there
        db = sqlite3.connect("file:%s?mode=ro" % self.srv.db, uri=True)
        self.assertGreater(db.execute("SELECT max(length(comment) + length(attributes)) FROM responses").fetchone()[0],
                           4061, "rows large enough for overflow pages")
        db.close()
        self.assertIn("erasure: customer victim/1, 40 responses erased", self.srv.stderr())
        self.assertIn("erasure: comment of response %d redacted" % redacted, self.srv.stderr())

    def test_deliveries_and_cases_go_with_the_customer(self):
        """Issue 12: webhook payloads and follow-up cases copy a response's customer and
        comment, so erasure must reach them, and redaction must take the comment out of
        queued payloads. Rows are written straight into the file here (the same shape
        the outbox and the case action write). Mutations this catches: dropping the
        erasure hooks from cx_store_erase_customer or cx_store_redact_comment."""
        rng = random.Random(12)
        vid = self.post("victim/2", "VICTIM2", rng)
        kid = self.post("keeper", "REDACT2", rng)
        db = sqlite3.connect(self.srv.db, isolation_level=None, timeout=10)
        db.execute("INSERT INTO endpoints(id, url, secret, created_at, updated_at) VALUES "
                   "('ep', 'https://example.com/h', 'whsec_x', 0, 0)")
        for i, (rid, cust, comment) in enumerate([(vid, "victim/2", "COMMENT-VICTIM2"),
                                                  (kid, "keeper", "COMMENT-REDACT2")]):
            payload = json.dumps({"type": "response.created", "timestamp": "2026-11-26T00:00:00.000Z",
                                  "data": {"response": {"id": rid, "customer": cust, "comment": comment}}})
            db.execute("INSERT INTO deliveries(msg_id, endpoint, type, customer, response_id, payload, "
                       "next_at, created_at) VALUES (?, 'ep', 'response.created', ?, ?, ?, 0, 0)",
                       ("msg_%d" % i, cust, rid, payload))
        cid = db.execute("INSERT INTO cases(survey, rule, response_id, customer, stage, touchpoint, "
                         "opened_at, updated_at) VALUES ('pv', 'r', ?, 'victim/2', 'purchase', 'web', 0, 0)",
                         (vid,)).lastrowid
        db.execute("INSERT INTO case_events(case_id, seq, at, kind, note) VALUES (?, 1, 0, 'note', "
                   "'NOTE-VICTIM2')", (cid,))
        db.close()
        st, _, body = self.srv.request("DELETE", "/v1/customers/victim%2F2")
        self.assertEqual((st, body), (200, {"customer": "victim/2", "erased": 1}))
        st, _, body = self.srv.request("DELETE", "/v1/responses/%d/comment" % kid)
        self.assertEqual(st, 200, body)
        db = sqlite3.connect("file:%s?mode=ro" % self.srv.db, uri=True)
        self.assertEqual(db.execute("SELECT count(*) FROM deliveries WHERE customer = 'victim/2'").fetchone()[0], 0)
        self.assertEqual(db.execute("SELECT count(*) FROM cases").fetchone()[0], 0)
        self.assertEqual(db.execute("SELECT count(*) FROM case_events").fetchone()[0], 0)
        kept = json.loads(db.execute("SELECT payload FROM deliveries WHERE customer = 'keeper'").fetchone()[0])
        self.assertNotIn("comment", kept["data"]["response"])
        self.assertEqual(kept["data"]["response"]["customer"], "keeper")
        db.close()
        for name, data in file_bytes(self.srv.db).items():
            for needle in (b"COMMENT-VICTIM2", b"NOTE-VICTIM2", b"victim/2", b"COMMENT-REDACT2"):
                self.assertFalse(needle in data, "%s still holds %r" % (name, needle))

    def test_a_reader_holding_the_wal_makes_it_pending(self):
        """A reader that keeps an old snapshot (here another process's open transaction)
        stops the checkpoint: the answer must not claim the WAL is clean."""
        rng = random.Random(5)
        self.post("held", "HELD", rng)
        reader = sqlite3.connect(self.srv.db, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM responses").fetchone()
        st, h, body = self.srv.request("DELETE", "/v1/customers/held")
        self.assertEqual((st, body["error"]["code"], h.get("retry-after")), (503, "erasure_pending", "1"))
        reader.execute("COMMIT")
        reader.close()
        st, _, body = self.srv.request("DELETE", "/v1/customers/held")   # the retry scrubs
        self.assertEqual((st, body), (200, {"customer": "held", "erased": 0}))
        for name, data in file_bytes(self.srv.db).items():
            self.assertFalse(b"COMMENT-HELD" in data, name)


class RunbookErasureReplayTest(unittest.TestCase):
    """deploy/RUNBOOK.md's replay of logged erasures after a restore, run as written
    (only the journal is the server's stderr file here, and the port is the test's).
    Customers "." and ".." were left behind by the replay that sent them unencoded (curl
    collapses dot segments: it asked for /v1/customers/ and /v1/): this test failed then."""

    def test_replay_after_restore(self):
        here = os.path.dirname(os.path.abspath(__file__))
        with open(os.path.join(here, "../../deploy/RUNBOOK.md")) as f:
            book = f.read()
        part = book[book.index("**Erasure and backups.**"):]
        script = part[part.index("```sh\n") + 6:part.index("```", part.index("```sh\n") + 6)]
        srv = Server().start()
        srv.post_json("/v1/surveys", {"id": "rb", "title": "rb"})
        rng = random.Random(2)
        ids = {}
        for c in ("a/b c", "x+y@z", ".", "..", "plain"):
            r = random_response(rng, "rb")
            r.update(customer=c, comment="comment of " + c)
            ids[c] = srv.post_json("/v1/responses", r)[2]["id"]
        backup = os.path.join(srv.tmp, "backup.db")
        r = subprocess.run([cxdtest.CXD, "backup", backup, "--db", srv.db], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        for path in ("/v1/customers/a%2Fb%20c", "/v1/customers/x+y@z", "/v1/customers/%2E", "/v1/customers/%2E%2E",
                     "/v1/responses/%d/comment" % ids["plain"]):
            self.assertEqual(srv.request("DELETE", path)[0], 200, path)
        journal = os.path.join(srv.tmp, "journal.txt")
        with open(journal, "w") as f:
            f.write(srv.stderr())
        srv.assert_clean_exit(self)
        os.replace(backup, srv.db)            # the restore
        for suffix in ("-wal", "-shm"):
            if os.path.exists(srv.db + suffix):
                os.unlink(srv.db + suffix)
        srv = Server(db=srv.db, tmp=srv.tmp, key=srv.key).start()
        script = script.replace("journalctl -u cxd -o cat", "cat " + journal).replace(":8080/", ":%d/" % srv.port)
        r = subprocess.run(["bash", "-c", script], env=dict(os.environ, ADMIN_KEY=srv.key),
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = [json.loads(x) for x in r.stdout.splitlines()]
        self.assertEqual(sorted(out[:-1], key=lambda x: x.get("customer", "")),   # (sort -u's order is the locale's)
                         [{"customer": ".", "erased": 1}, {"customer": "..", "erased": 1},
                          {"customer": "a/b c", "erased": 1}, {"customer": "x+y@z", "erased": 1}])
        self.assertEqual(out[-1:], [{"id": ids["plain"], "redacted": True}])
        db = sqlite3.connect("file:%s?mode=ro" % srv.db, uri=True)
        self.assertEqual(db.execute("SELECT customer, comment FROM responses").fetchall(), [("plain", None)])
        db.close()
        srv.assert_clean_exit(self)


class PathEncodingTest(unittest.TestCase):
    """Issue 11, safe 7: a path is routed as sent; %00 and broken escapes are a 400."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server().start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.assert_clean_exit(unittest.TestCase())

    def status_of(self, path):
        out = self.srv.raw(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" % path).encode()
                           + self.srv.auth_line() + b"\r\n")
        head, _, body = out.partition(b"\r\n\r\n")
        return int(head.split()[1]), body

    def test_nul_and_bad_escapes_are_refused(self):
        for path in ("/healthz%00/v1/keys", "/healthz%00", "/v1/surveys/a%zz", "/v1/surveys/%",
                     "/v1/surveys/a%4", "/v1/customers/x%00y"):
            st, body = self.status_of(path)
            self.assertEqual(st, 400, path)
            self.assertEqual(json.loads(body)["error"]["code"], "invalid_path", path)
        self.assertEqual(self.status_of("/healthz")[0], 200)
        # a separator sent as %2F is data, not a separator
        self.assertEqual(self.status_of("/v1%2Fsurveys")[0], 404)


if __name__ == "__main__":
    cxdtest.main("privacy")
