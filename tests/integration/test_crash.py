"""Crash test: post responses under load (single, batches, idempotent retries), kill cxd
with SIGKILL at random moments, restart, and prove that every response that got a 201 is
stored exactly once and that `cxd check` finds the rollups equal to a recomputation.
Then the same with kills at the moments of a commit that matter (injected by
tests/faults/fsfault.c): halfway through writing the WAL, after writing it but before
the sync, after the sync but before any reply, and in the middle of a checkpoint; every
request left without an answer is retried after the restart and must be stored exactly
once.

Bounded: CRASH_KILLS (default 6) random kills, each after 0.3-1.5 s of load, and
COMMIT_KILL_ROUNDS (default 2) rounds of the four commit kills."""
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
from cxdtest import CXD, Server, fault_env, set_fault  # noqa: E402
from test_api import random_response  # noqa: E402

KILLS = int(os.environ.get("CRASH_KILLS", "6"))
COMMIT_KILL_ROUNDS = int(os.environ.get("COMMIT_KILL_ROUNDS", "2"))


class CrashTest(unittest.TestCase):
    def test_sigkill_under_load_loses_nothing(self):
        srv = Server().start()
        srv.post_json("/v1/surveys", {"id": "crash", "title": "Crash"})
        key, db, tmp = srv.key, srv.db, srv.tmp
        acked = {}          # response id -> response_id key we sent (or None)
        lock = threading.Lock()
        rng = random.Random(1234)
        seq = [0]

        def load(server, stop, seed):
            r = random.Random(seed)
            try:
                c = server.conn(timeout=5)
                while not stop.is_set():
                    with lock:
                        seq[0] += 1
                        n = seq[0]
                    if r.random() < 0.7:
                        item = dict(random_response(r, "crash"), response_id="s%d" % n)
                        st, _, body = server.post_json("/v1/responses", item, conn=c)
                        if st in (200, 201):
                            with lock:
                                acked[body["id"]] = item["response_id"]
                    else:
                        items = [dict(random_response(r, "crash"), response_id="b%d-%d" % (n, i))
                                 for i in range(r.randint(2, 50))]
                        st, _, body = server.post_json("/v1/responses", items, conn=c)
                        if st in (200, 201):
                            with lock:
                                for i, rid in zip(body["ids"], items):
                                    acked[i] = rid["response_id"]
            except Exception:
                return   # the server died under us: that is the point

        for k in range(KILLS):
            stop = threading.Event()
            threads = [threading.Thread(target=load, args=(srv, stop, rng.random())) for _ in range(6)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.3, 1.5))
            srv.proc.kill()                      # SIGKILL: no chance to clean up
            srv.proc.wait()
            stop.set()
            for t in threads:
                t.join()
            srv = Server(db=db, tmp=tmp, key=key).start()   # recovery on restart
        srv.assert_clean_exit(self)

        conn = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        rows = dict(conn.execute("SELECT id, customer FROM responses"))
        keys = dict(conn.execute("SELECT response_id, key FROM idempotency"))
        conn.close()
        self.assertGreater(len(acked), 100, "the load did not get going")
        lost = [i for i in acked if i not in rows]
        self.assertEqual(lost, [], "acknowledged responses lost")
        for i, rid in acked.items():    # exactly once: the key maps back to this very row
            self.assertEqual(keys.get(i), rid)
        self.assertEqual(len(keys), len(set(keys.values())))
        check = subprocess.run([CXD, "check", "--db", db], capture_output=True, text=True, timeout=120)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        print("crash: %d kills, %d acknowledged responses, %d rows, 0 lost" % (KILLS, len(acked), len(rows)))


class CommitKillTest(unittest.TestCase):
    def test_kills_inside_the_commit_lose_and_duplicate_nothing(self):
        tmp = tempfile.mkdtemp(prefix="cxd-it-")
        db, ctl = os.path.join(tmp, "cxd.db"), os.path.join(tmp, "fault")
        env = fault_env(db, ctl)
        srv = Server(db=db, tmp=tmp, env=env).start()
        srv.post_json("/v1/surveys", {"id": "ck", "title": "Commit kills"})
        key = srv.key
        acked = {}      # response_id -> row id, from a 201 or a 200 replay
        unsure = {}     # request number -> body sent that got no answer
        lock = threading.Lock()
        rng = random.Random(77)
        seq = [0]

        def record(body, reply):
            ids = reply["ids"] if isinstance(body, list) else [reply["id"]]
            items = body if isinstance(body, list) else [body]
            with lock:
                for i, item in zip(ids, items):
                    self.assertEqual(acked.setdefault(item["response_id"], i), i)

        def load(server, stop, seed):
            r = random.Random(seed)
            try:
                c = server.conn(timeout=10)
                while not stop.is_set():
                    with lock:
                        seq[0] += 1
                        n = seq[0]
                    x = r.random()
                    if x < 0.55:
                        body = dict(random_response(r, "ck"), response_id="s%d" % n)
                    else:
                        body = [dict(random_response(r, "ck"), response_id="b%d-%d" % (n, i))
                                for i in range(r.randint(2, 40) if x < 0.9 else 500)]
                    with lock:
                        unsure[n] = body
                    if isinstance(body, list) and len(body) == 500:   # an NDJSON import
                        st, _, reply = server.request(
                            "POST", "/v1/responses", conn=c,
                            body=b"".join(json.dumps(i).encode() + b"\n" for i in body),
                            headers={"Content-Type": "application/x-ndjson"})
                    else:
                        st, _, reply = server.post_json("/v1/responses", body, conn=c)
                    if st in (200, 201):
                        record(body, reply)
                        with lock:
                            del unsure[n]
            except Exception:
                return   # killed under us: the request stays in `unsure`

        modes = ["kill-at-write", "kill-before-sync", "kill-after-sync",
                 "kill-in-checkpoint"] * COMMIT_KILL_ROUNDS
        retried = replayed = 0
        for mode in modes:
            stop = threading.Event()
            threads = [threading.Thread(target=load, args=(srv, stop, rng.random())) for _ in range(4)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.2, 0.6))
            set_fault(ctl, mode)
            self.assertEqual(srv.proc.wait(timeout=60), -9, mode)   # killed by the shim
            stop.set()
            for t in threads:
                t.join()
            set_fault(ctl, "")
            srv = Server(db=db, tmp=tmp, key=key, env=env).start()
            for n, body in sorted(unsure.items()):   # the client retries what got no answer
                st, _, reply = srv.post_json("/v1/responses", body)
                self.assertIn(st, (200, 201), reply)
                record(body, reply)
                retried += 1
                replayed += st == 200
            unsure.clear()
        srv.assert_clean_exit(self)

        conn = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        rows = {r[0] for r in conn.execute("SELECT id FROM responses")}
        keys = dict(conn.execute("SELECT key, response_id FROM idempotency"))
        conn.close()
        self.assertGreater(len(acked), 100, "the load did not get going")
        self.assertGreater(replayed, 0, "no kill fell after a commit")
        self.assertLess(replayed, retried, "no kill fell before a commit")
        self.assertEqual(keys, acked)          # each response_id stored once, as acknowledged
        self.assertEqual(rows, set(acked.values()))   # and nothing else: no duplicates
        check = subprocess.run([CXD, "check", "--db", db], capture_output=True, text=True, timeout=120)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        print("commit kills: %d kills (%s), %d responses acknowledged, %d unanswered requests "
              "retried (%d had been committed: replayed), 0 lost, 0 duplicated"
              % (len(modes), ", ".join(sorted(set(modes))), len(acked), retried, replayed))


class BackupTest(unittest.TestCase):
    def test_backup_while_serving_and_check(self):
        srv = Server().start()
        srv.post_json("/v1/surveys", {"id": "bk", "title": "Backup"})
        stop = threading.Event()
        posted = [0]

        def load():
            r = random.Random(3)
            c = srv.conn()
            while not stop.is_set():
                items = [random_response(r, "bk") for _ in range(100)]
                if srv.post_json("/v1/responses", items, conn=c)[0] == 201:
                    posted[0] += 100

        t = threading.Thread(target=load)
        t.start()
        time.sleep(1.0)
        dest = os.path.join(srv.tmp, "backup.db")
        b = subprocess.run([CXD, "backup", dest, "--db", srv.db], capture_output=True, text=True, timeout=120)
        stop.set()
        t.join()
        self.assertEqual(b.returncode, 0, b.stderr)
        conn = sqlite3.connect("file:%s?mode=ro" % dest, uri=True)
        n = conn.execute("SELECT count(*) FROM responses").fetchone()[0]
        self.assertEqual(conn.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        conn.close()
        self.assertGreater(n, 0)
        self.assertLessEqual(n, posted[0])
        check = subprocess.run([CXD, "check", "--db", dest], capture_output=True, text=True, timeout=120)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertEqual(json.loads(check.stdout)["rollups"]["rows_missing_or_different"], 0)
        # check reports a damaged rollup and exits 1
        conn = sqlite3.connect(dest)
        conn.execute("UPDATE rollups SET nps0 = nps0 + 1 WHERE (survey, day) IN "
                     "(SELECT survey, day FROM rollups LIMIT 1)")
        conn.commit()
        conn.close()
        check = subprocess.run([CXD, "check", "--db", dest], capture_output=True, text=True, timeout=120)
        self.assertEqual(check.returncode, 1)
        self.assertGreater(json.loads(check.stdout)["rollups"]["rows_missing_or_different"], 0)
        srv.assert_clean_exit(self)


if __name__ == "__main__":
    cxdtest.main("crash")
