"""Power-loss test: cut the power under load and prove that every acknowledged response
(a 201, or a 200 replay) survives, that each unanswered request is stored at most once
(its retry is a 201 or a 200 replay), and that `cxd check` and SQLite's integrity check
are clean after every cut.

A SIGKILL alone proves little about durability: the kernel keeps the page cache, so a
commit that was written but never synced survives it. Here cxd runs over
tests/faults/fsfault.c with FSFAULT_POWERLOSS=1: the shim keeps an undo log of every
write and truncation of the database and its WAL since that file's last fdatasync, and on
"power-cut-mid-write" (written to its control file at a random moment under load; the cut
comes at the first moment after it that some write is not synced yet, so each cut has
something to lose) it reverts each file to exactly what its last sync left, then SIGKILLs
cxd. The -shm (shared memory) is
removed, as power loss would wipe it. So only what SQLite actually synced survives, as on
a real machine whose disk honours fsync.

With synchronous=FULL in WAL mode SQLite syncs the WAL at every commit, before cxd
answers, so nothing acknowledged can be lost. With synchronous=NORMAL the WAL is synced
only at checkpoints, and a cut loses every commit since the last one.

Mutations tried (each run against this file, then reverted):
- src/store.c `PRAGMA synchronous=NORMAL`: fails at the first cut in each of three runs
  ("power cut 1: 1112 of 3966 acknowledged responses lost"); before this file every test
  in the suite passed with it. test_crash.py's CommitKillTest now fails too;
- src/store.c `PRAGMA synchronous=OFF`: fails ("power cut 1: 2965 of 2965 acknowledged
  responses lost");
- plain "power-cut" (the cut at any moment, also when everything is synced): 8 of 12
  cuts under load undid nothing, so a run of 5 could prove nothing (about 1 in 8 runs);
  hence power-cut-mid-write, and each cut must have undone at least one write;
- the shim tracking writes by inode without forgetting a removed file (SQLite deletes the
  -journal and the -wal reuses its inode number): the cuts reverted nothing ("undid 0
  writes") and ShimTest's NORMAL case failed (200 of 200 commits kept): ShimTest is what
  proves the shim still drops unsynced writes.

Bounded: POWER_CUTS (default 5) cuts, each after 0.3-1.2 s of load from 4 threads."""
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
from cxdtest import CXD, FSFAULT, Server, fault_env, set_fault  # noqa: E402
from test_crash import Ledger, Load, stop_server  # noqa: E402

CUTS = int(os.environ.get("POWER_CUTS", "5"))

# Run under the shim by ShimTest: SQLite (Python's) in WAL mode with the given synchronous
# level commits `n` rows one by one, says how many were committed, then cuts the power.
SQLITE_CHILD = r"""
import os, sqlite3, sys, time
db, ctl, level, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
c = sqlite3.connect(db, isolation_level=None)
c.execute("PRAGMA journal_mode=WAL")
c.execute("PRAGMA synchronous=" + level)
c.execute("CREATE TABLE IF NOT EXISTS t (i INTEGER PRIMARY KEY, v BLOB)")
for i in range(n):
    c.execute("INSERT INTO t (v) VALUES (?)", (os.urandom(200),))
print(c.execute("SELECT count(*) FROM t").fetchone()[0], flush=True)
with open(ctl, "w") as f:
    f.write("power-cut")
time.sleep(10)   # the shim's watcher kills us within 2 ms
"""


class ShimTest(unittest.TestCase):
    """The shim itself, without cxd: what a cut keeps and drops is exactly what was
    synced, and it tells synchronous=FULL from NORMAL. If the shim stopped reverting, the
    NORMAL case here would fail (and PowerLossTest would prove nothing)."""

    def run_child(self, code, *args, tmp):
        db, ctl = os.path.join(tmp, "x.db"), os.path.join(tmp, "fault")
        env = dict(os.environ, LD_PRELOAD=FSFAULT, FSFAULT_DB=db, FSFAULT_CTL=ctl, FSFAULT_POWERLOSS="1")
        p = subprocess.run([sys.executable, "-c", code, db, ctl, *args], env=env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, -9, p.stderr)
        self.assertIn("fsfault: power cut: undid", p.stderr)
        return db, p.stdout

    def test_writes_since_the_last_sync_are_undone(self):
        tmp = tempfile.mkdtemp(prefix="cxd-it-")
        code = r"""
import os, sys, time
db, ctl = sys.argv[1], sys.argv[2]
fd = os.open(db, os.O_RDWR | os.O_CREAT, 0o600)
os.pwrite(fd, b"synced-0123456789", 0)
os.fdatasync(fd)                          # on the disk from here
os.pwrite(fd, b"LOST", 7)                 # overwrite, not synced
os.write(fd, b"appended")                 # at the file offset (0): overwrite, not synced
os.pwrite(fd, b"-tail-not-synced", 17)    # grows the file, not synced
os.ftruncate(fd, 5)                       # cuts into synced bytes, not synced
os.pwrite(fd, b"after-truncate", 40)      # a hole, not synced
wal = os.open(db + "-wal", os.O_RDWR | os.O_CREAT, 0o600)
os.write(wal, b"wal-synced")
os.fsync(wal)
os.write(wal, b"-wal-lost")
shm = os.open(db + "-shm", os.O_RDWR | os.O_CREAT, 0o600)
os.write(shm, b"shared memory is not tracked")
with open(ctl, "w") as f:
    f.write("power-cut")
time.sleep(10)
"""
        db, _ = self.run_child(code, tmp=tmp)
        with open(db, "rb") as f:
            self.assertEqual(f.read(), b"synced-0123456789")
        with open(db + "-wal", "rb") as f:
            self.assertEqual(f.read(), b"wal-synced")
        with open(db + "-shm", "rb") as f:
            self.assertEqual(f.read(), b"shared memory is not tracked")

    def test_sqlite_full_keeps_every_commit_normal_does_not(self):
        for level in ("FULL", "NORMAL"):
            with self.subTest(level=level):
                tmp = tempfile.mkdtemp(prefix="cxd-it-")
                db, out = self.run_child(SQLITE_CHILD, level, "200", tmp=tmp)
                self.assertEqual(int(out), 200)          # 200 commits returned
                os.unlink(db + "-shm")
                conn = sqlite3.connect(db)
                try:
                    self.assertEqual(conn.execute("PRAGMA integrity_check").fetchone()[0], "ok")
                    tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 't'").fetchone()[0]
                    kept = conn.execute("SELECT count(*) FROM t").fetchone()[0] if tables else 0
                finally:
                    conn.close()
                if level == "FULL":
                    self.assertEqual(kept, 200)
                else:                                # WAL synced at checkpoints only
                    self.assertLess(kept, 200)


class PowerLossTest(unittest.TestCase):
    def check_db(self, db, when):
        conn = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        try:
            self.assertEqual(conn.execute("PRAGMA integrity_check").fetchone()[0], "ok", when)
        finally:
            conn.close()
        check = subprocess.run([CXD, "check", "--db", db], capture_output=True, text=True, timeout=120)
        self.assertEqual(check.returncode, 0, "%s: %s%s" % (when, check.stdout, check.stderr))

    def test_power_cut_loses_no_acknowledged_response(self):
        tmp = tempfile.mkdtemp(prefix="cxd-it-")
        db, ctl = os.path.join(tmp, "cxd.db"), os.path.join(tmp, "fault")
        env = dict(fault_env(db, ctl), FSFAULT_POWERLOSS="1")
        srv = Server(db=db, tmp=tmp, env=env).start()
        self.assertEqual(srv.post_json("/v1/surveys", {"id": "pl", "title": "Power loss"})[0], 201)
        key = srv.key
        ledger = Ledger(self)
        rng = random.Random(4242)
        undone, bytes_undone, retried, replayed = [], 0, 0, 0
        load = None
        try:
            for cut in range(1, CUTS + 1):
                load = Load(ledger.loader(srv, "pl"), 4, rng).start()
                time.sleep(rng.uniform(0.3, 1.2))
                load.check(self)
                load.dying.set()
                set_fault(ctl, "power-cut-mid-write")
                self.assertEqual(srv.wait_killed(timeout=30), -9, "the shim did not cut the power")
                load.finish(self)
                set_fault(ctl, "")
                m = re.search(r"fsfault: power cut: undid (\d+) writes \((\d+) bytes", srv.stderr())
                self.assertTrue(m, srv.stderr()[-2000:])
                undone.append(int(m.group(1)))
                self.assertGreater(undone[-1], 0, "cut %d undid nothing" % cut)
                bytes_undone += int(m.group(2))
                for leftover in (db + "-shm",):     # memory, not storage: gone with the power
                    if os.path.exists(leftover):
                        os.unlink(leftover)
                self.check_db(db, "after power cut %d" % cut)   # recovery alone, before cxd
                srv = Server(db=db, tmp=tmp, key=key, env=env).start()
                r, p = ledger.recover(srv, db, "power cut %d" % cut)
                retried, replayed = retried + r, replayed + p
            srv.assert_clean_exit(self)
        finally:
            if load:
                load.stop.set()
            stop_server(srv)

        ledger.assert_exactly_once(db)
        self.check_db(db, "at the end")
        print("power loss: %d cuts undid %s unsynced writes (%d bytes overwritten); %d responses "
              "acknowledged, 0 lost; %d unanswered requests retried (%d had been committed: replayed)"
              % (CUTS, "+".join(map(str, undone)), bytes_undone, len(ledger.acked), retried, replayed))


if __name__ == "__main__":
    cxdtest.main("powerloss")
