"""Crash test: post responses under load (single, batches, idempotent retries), kill cxd
with SIGKILL at random moments, restart, and prove that every response that got a 201 is
stored exactly once and that `cxd check` finds the rollups equal to a recomputation.
Then the same with kills at the moments of a commit that matter (injected by
tests/faults/fsfault.c): halfway through writing the WAL, after writing it but before
the sync, after the sync but before any reply, and in the middle of a checkpoint; every
request left without an answer is retried after the restart and must be stored exactly
once. The commit kills also lose, as a power cut would, every write no sync covered
(FSFAULT_POWERLOSS): a SIGKILL alone keeps the page cache. tests/integration/
test_powerloss.py cuts the power at random moments.

The load threads (Load) fail the test on any answer but 200/201, on any exception of
their own (an assertion in record(), a bad reply), and on a connection error while cxd is
up; only once the test has announced the kill (Load.dying) does a broken connection end a
thread quietly. Every join is bounded, and a failure anywhere in the kill loop kills cxd
and stops the load (finally), so a failing test fails at once instead of hanging until
meson's timeout.

Mutations tried (each run against this file, then reverted):
- src/store.c `PRAGMA synchronous=NORMAL`: CommitKillTest fails ("kill-at-write: 348 of
  348 acknowledged responses lost"); before the kills dropped unsynced writes, every test
  here passed with it;
- src/api_responses.c answering 503 to every 50th post: CrashTest fails ("answered 503");
  the old threads ignored non-2xx answers and the file passed (CommitKillTest's rounds
  send fewer than 50 requests each, so it does not meet this mutant);
- tests/faults/fsfault.c never killing in kill-in-checkpoint, so the kill loop raises
  (TimeoutExpired): the test errors after 66 s; the old one never ended (its non-daemon
  load threads were never stopped) until meson's 900 s timeout.

Bounded: CRASH_KILLS (default 6) random kills, each after 0.3-1.5 s of load, and
COMMIT_KILL_ROUNDS (default 2) rounds of the four commit kills."""
import http.client
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
from cxdtest import CXD, Server, fault_env, set_fault  # noqa: E402
from test_api import random_response  # noqa: E402

KILLS = int(os.environ.get("CRASH_KILLS", "6"))
COMMIT_KILL_ROUNDS = int(os.environ.get("COMMIT_KILL_ROUNDS", "2"))

# What a client sees when the server dies under it.
CONNECTION_ERRORS = (OSError, http.client.HTTPException)


class Load:
    """`n` threads each running body(load, rng) against a server until stop is set. A
    thread that raises records the error in `errors` (the test fails on it), except a
    connection error after `dying` is set: the kill the test announced."""

    def __init__(self, body, n, rng):
        self.body, self.stop, self.dying, self.errors = body, threading.Event(), threading.Event(), []
        self.threads = [threading.Thread(target=self._run, args=(rng.random(),), daemon=True)
                        for _ in range(n)]

    def _run(self, seed):
        try:
            self.body(self, random.Random(seed))
        except CONNECTION_ERRORS as e:
            if not self.dying.is_set():
                self.errors.append("connection error while cxd was up: %r\n%s" % (e, traceback.format_exc()))
        except BaseException:   # an assertion in the thread: the test's, not swallowed
            self.errors.append("load thread failed: " + traceback.format_exc())
            self.stop.set()

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def check(self, testcase):
        """Fail now if a thread has failed already (fail fast, before the kill)."""
        if self.errors:
            testcase.fail("%d load thread error(s); the first:\n%s" % (len(self.errors), self.errors[0]))

    def finish(self, testcase, timeout=30):
        """Stop the threads, join them within `timeout` seconds, fail on any error."""
        self.stop.set()
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = sum(t.is_alive() for t in self.threads)
        self.check(testcase)
        testcase.assertEqual(alive, 0, "load threads still running %d s after the kill" % timeout)


def expect_ok(st, reply):
    """A load request's answer: 200 (a replay) or 201, anything else fails the test."""
    if st not in (200, 201):
        raise AssertionError("answered %d: %.500r" % (st, reply))


class Ledger:
    """What the clients were told: response_id -> row id for every 201/200 (`acked`), and
    the requests that got no answer (`unsure`, by request number), to retry."""

    def __init__(self, testcase):
        self.t, self.acked, self.unsure, self.lock, self.seq = testcase, {}, {}, threading.Lock(), 0

    def next_request(self, r, survey):
        """A new request body: a single response (55 %), a batch of 2-40 (35 %) or an
        NDJSON import of 500 lines (10 %), noted as unsure until answered."""
        with self.lock:
            self.seq += 1
            n = self.seq
        x = r.random()
        if x < 0.55:
            body = dict(random_response(r, survey), response_id="s%d" % n)
        else:
            body = [dict(random_response(r, survey), response_id="b%d-%d" % (n, i))
                    for i in range(r.randint(2, 40) if x < 0.9 else 500)]
        with self.lock:
            self.unsure[n] = body
        return n, body

    def send(self, server, body, conn=None):
        """POST body (as NDJSON when a list of 500); the status and reply."""
        if isinstance(body, list) and len(body) == 500:
            st, _, reply = server.request(
                "POST", "/v1/responses", conn=conn,
                body=b"".join(json.dumps(i).encode() + b"\n" for i in body),
                headers={"Content-Type": "application/x-ndjson"})
        else:
            st, _, reply = server.post_json("/v1/responses", body, conn=conn)
        return st, reply

    def record(self, n, body, st, reply):
        expect_ok(st, reply)
        ids = reply["ids"] if isinstance(body, list) else [reply["id"]]
        items = body if isinstance(body, list) else [body]
        self.t.assertEqual(len(ids), len(items), reply)
        with self.lock:
            for i, item in zip(ids, items):
                self.t.assertEqual(self.acked.setdefault(item["response_id"], i), i)
            self.unsure.pop(n, None)

    def loader(self, server, survey, timeout=10):
        """A Load body posting until stopped."""
        def body(load, r):
            c = server.conn(timeout=timeout)
            try:
                while not load.stop.is_set():
                    n, req = self.next_request(r, survey)
                    st, reply = self.send(server, req, conn=c)
                    self.record(n, req, st, reply)
            finally:
                c.close()
        return body

    def retry_unsure(self, server):
        """The clients retry what got no answer: each must now be 200 (it had been
        committed: a replay) or 201. Returns (retried, replayed)."""
        retried = replayed = 0
        for n, body in sorted(self.unsure.items()):
            st, reply = self.send(server, body)
            self.record(n, body, st, reply)
            retried += 1
            replayed += st == 200
        return retried, replayed

    def stored(self, db):
        """response_id -> row id as stored (the idempotency table), and the row ids."""
        conn = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        try:
            keys = dict(conn.execute("SELECT key, response_id FROM idempotency"))
            rows = {r[0] for r in conn.execute("SELECT id FROM responses")}
        finally:
            conn.close()
        return keys, rows

    def assert_none_lost(self, db, what):
        keys, rows = self.stored(db)
        lost = sorted(k for k, i in self.acked.items() if keys.get(k) != i or i not in rows)
        if lost:
            self.t.fail("%s: %d of %d acknowledged responses lost (response_id %s)"
                        % (what, len(lost), len(self.acked), ", ".join(lost[:5])))

    def recover(self, server, db, what):
        """After a restart: nothing acknowledged is lost, then the clients retry what got
        no answer (see retry_unsure). Returns (retried, replayed)."""
        self.assert_none_lost(db, what)
        return self.retry_unsure(server)

    def assert_exactly_once(self, db):
        """At the end: each acknowledged response_id stored once, as acknowledged, and no
        other row (no duplicates)."""
        keys, rows = self.stored(db)
        self.t.assertGreater(len(self.acked), 100, "the load did not get going")
        self.t.assertEqual(keys, self.acked)
        self.t.assertEqual(rows, set(self.acked.values()))


def stop_server(srv):
    """Kill srv if it is still running (a failing test must not leave it serving)."""
    if srv.proc and srv.proc.poll() is None:
        srv.proc.kill()
    if srv.proc:
        srv.wait_killed(timeout=30)


class CrashTest(unittest.TestCase):
    def test_sigkill_under_load_loses_nothing(self):
        srv = Server().start()
        self.assertEqual(srv.post_json("/v1/surveys", {"id": "crash", "title": "Crash"})[0], 201)
        key, db, tmp = srv.key, srv.db, srv.tmp
        acked = {}          # response id -> response_id key we sent
        lock = threading.Lock()
        rng = random.Random(1234)
        seq = [0]

        def loader(server):
            return lambda load, r: body(server, load, r)

        def body(server, load, r):
            c = server.conn(timeout=5)
            try:
                work(server, load, r, c)
            finally:
                c.close()

        def work(server, load, r, c):
            while not load.stop.is_set():
                with lock:
                    seq[0] += 1
                    n = seq[0]
                if r.random() < 0.7:
                    item = dict(random_response(r, "crash"), response_id="s%d" % n)
                    st, _, reply = server.post_json("/v1/responses", item, conn=c)
                    expect_ok(st, reply)
                    with lock:
                        acked[reply["id"]] = item["response_id"]
                else:
                    items = [dict(random_response(r, "crash"), response_id="b%d-%d" % (n, i))
                             for i in range(r.randint(2, 50))]
                    st, _, reply = server.post_json("/v1/responses", items, conn=c)
                    expect_ok(st, reply)
                    with lock:
                        for i, item in zip(reply["ids"], items):
                            acked[i] = item["response_id"]

        load = None
        try:
            for k in range(KILLS):
                load = Load(loader(srv), 6, rng).start()
                time.sleep(rng.uniform(0.3, 1.5))
                load.check(self)
                load.dying.set()
                srv.proc.kill()                      # SIGKILL: no chance to clean up
                srv.wait_killed(timeout=30)
                load.finish(self)
                srv = Server(db=db, tmp=tmp, key=key).start()   # recovery on restart
            srv.assert_clean_exit(self)
        finally:
            if load:
                load.stop.set()
            stop_server(srv)

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
        env = dict(fault_env(db, ctl), FSFAULT_POWERLOSS="1")   # a kill also drops unsynced writes
        srv = Server(db=db, tmp=tmp, env=env).start()
        self.assertEqual(srv.post_json("/v1/surveys", {"id": "ck", "title": "Commit kills"})[0], 201)
        key = srv.key
        ledger = Ledger(self)
        rng = random.Random(77)
        modes = ["kill-at-write", "kill-before-sync", "kill-after-sync",
                 "kill-in-checkpoint"] * COMMIT_KILL_ROUNDS
        retried = replayed = 0
        load = None
        try:
            for mode in modes:
                load = Load(ledger.loader(srv, "ck"), 4, rng).start()
                time.sleep(rng.uniform(0.2, 0.6))
                load.check(self)
                load.dying.set()
                set_fault(ctl, mode)
                self.assertEqual(srv.wait_killed(timeout=60), -9, mode)   # killed by the shim
                load.finish(self)
                set_fault(ctl, "")
                srv = Server(db=db, tmp=tmp, key=key, env=env).start()
                r, p = ledger.recover(srv, db, mode)
                retried, replayed = retried + r, replayed + p
            srv.assert_clean_exit(self)
        finally:
            if load:
                load.stop.set()
            stop_server(srv)

        ledger.assert_exactly_once(db)
        self.assertGreater(replayed, 0, "no kill fell after a commit")
        self.assertLess(replayed, retried, "no kill fell before a commit")
        check = subprocess.run([CXD, "check", "--db", db], capture_output=True, text=True, timeout=120)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        print("commit kills: %d kills (%s), %d responses acknowledged, %d unanswered requests "
              "retried (%d had been committed: replayed), 0 lost, 0 duplicated"
              % (len(modes), ", ".join(sorted(set(modes))), len(ledger.acked), retried, replayed))


class BackupTest(unittest.TestCase):
    def test_backup_while_serving_and_check(self):
        srv = Server().start()
        srv.post_json("/v1/surveys", {"id": "bk", "title": "Backup"})
        posted = [0]

        def body(load, r):
            c = srv.conn()
            try:
                while not load.stop.is_set():
                    items = [random_response(r, "bk") for _ in range(100)]
                    st, _, reply = srv.post_json("/v1/responses", items, conn=c)
                    if st != 201:
                        raise AssertionError("answered %d: %.300r" % (st, reply))
                    posted[0] += 100
            finally:
                c.close()

        load = Load(body, 1, random.Random(3)).start()
        try:
            time.sleep(1.0)
            dest = os.path.join(srv.tmp, "backup.db")
            b = subprocess.run([CXD, "backup", dest, "--db", srv.db], capture_output=True, text=True, timeout=120)
        finally:
            load.finish(self)
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
