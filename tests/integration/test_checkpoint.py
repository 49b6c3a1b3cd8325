"""WAL checkpoints run on their own thread (issue 14): a single client posting one response
after another keeps the write-ahead log bounded (SQLite's 1000-frame threshold, reached
about every 170 commits here), the checkpoints copy the pages back into the database file
while the posts go on, and the database checks out.

It fails if checkpoints stop happening (the log grows by every commit: about 60 MB over
this test) or if the data they copy is wrong (cxd check)."""
import http.client
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402

POSTS = 2500


class CheckpointTest(unittest.TestCase):
    def test_wal_stays_bounded_under_single_posts(self):
        srv = cxdtest.Server().start()
        try:
            self.assertEqual(srv.post_json("/v1/surveys", {"id": "wal", "title": "WAL"})[0], 201)
            start_size = os.path.getsize(srv.db)
            c = srv.conn()
            wal = srv.db + "-wal"
            biggest = 0
            for i in range(POSTS):
                st, _, out = srv.request("POST", "/v1/responses",
                                         {"survey": "wal", "stage": ["awareness", "purchase", "retention"][i % 3],
                                          "touchpoint": "t%d" % (i % 7), "customer": "c%d" % i, "nps": i % 11,
                                          "comment": "x" * (i % 300)}, conn=c)
                self.assertEqual(st, 201, out)
                if i % 50 == 0:
                    biggest = max(biggest, os.path.getsize(wal))
            c.close()
            biggest = max(biggest, os.path.getsize(wal))
            db_size = os.path.getsize(srv.db)
            st, _, scores = srv.get("/v1/surveys/wal/scores")
            self.assertEqual(scores["groups"][0]["responses"], POSTS)
            print("checkpoint: %d single posts, WAL at most %.1f MB, database file %.1f MB"
                  % (POSTS, biggest / 1e6, db_size / 1e6))
            self.assertLess(biggest, 16e6, "the WAL grew without checkpoints")
            self.assertGreater(db_size, start_size + 300e3, "nothing was copied back into the database file")
        finally:
            srv.assert_clean_exit(self)
        check = subprocess.run([cxdtest.CXD, "check", "--db", srv.db], capture_output=True,
                               text=True, timeout=120)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)


if __name__ == "__main__":
    unittest.main()
