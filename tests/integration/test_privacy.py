"""Integration tests for export (JSON, NDJSON, CSV; paging; constant memory) and for
erasure and redaction (rollups equal a recomputation from the remaining rows)."""
import csv
import io
import json
import os
import random
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
from cxdtest import Server  # noqa: E402
from test_api import random_response, STAGES  # noqa: E402
import scoring  # noqa: E402

TRICKY = ["plain", "with, comma", 'with "quotes"', "two\nlines", "=SUM(A1:A9)", "+1 555 0100",
          "-minus", "@mention", "\tTabbed", "ünïcödé ✓", "cr\r\nlf"]


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


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

    def get_raw(self, path):
        c = self.srv.conn()
        c.request("GET", path, headers=self.srv.auth())
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data

    def test_json_and_ndjson(self):
        st, h, data = self.get_raw("/v1/surveys/ex/responses")
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
        st, h, data = self.get_raw("/v1/surveys/ex/responses?format=ndjson")
        self.assertEqual(h["content-type"], "application/x-ndjson")
        lines = data.decode().splitlines()
        self.assertEqual([json.loads(x)["id"] for x in lines], self.ids)

    def test_csv_round_trips_and_defuses_formulas(self):
        st, h, data = self.get_raw("/v1/surveys/ex/responses?format=csv")
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
            st, _, data = self.get_raw("/v1/surveys/ex/responses?limit=400" + ("&cursor=" + cursor if cursor else ""))
            body = json.loads(data)
            seen += [g["id"] for g in body["responses"]]
            cursor = body["next_cursor"]
            if not cursor:
                break
        self.assertEqual(seen, self.ids)
        st, _, data = self.get_raw("/v1/surveys/ex/responses?stage=purchase&format=ndjson")
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
        # rollups (all three levels) equal a recount of the remaining rows
        db = sqlite3.connect("file:%s?mode=ro" % srv.db, uri=True)
        n = db.execute("SELECT count(*) FROM responses").fetchone()[0]
        self.assertEqual(n, len(left))
        self.assertEqual(db.execute("SELECT count(*) FROM responses WHERE customer = ?", (victim,)).fetchone()[0], 0)
        for table in ("rollups", "rollups_month", "rollups_quarter"):
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


if __name__ == "__main__":
    cxdtest.main("privacy")
