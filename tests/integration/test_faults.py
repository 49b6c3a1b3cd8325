"""Fault tests: the disk filling up (the process's file-size limit, set and lifted on the
running cxd with prlimit), and hostile clients. Writes get 503 with Retry-After, reads go
on, nothing half-written stays, and cxd recovers by itself when the fault clears."""
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from cxdtest import CXD, Server  # noqa: E402
from test_api import random_response  # noqa: E402


def prlimit(pid, fsize):
    """Set the soft file-size limit of a running process (the hard one stays unlimited,
    so lifting it again needs no privilege)."""
    subprocess.run(["prlimit", "--pid", str(pid), "--fsize=%s:unlimited" % fsize], check=True, timeout=10)


class DiskFullTest(unittest.TestCase):
    def test_full_disk_is_503_then_recovers(self):
        srv = Server().start()
        srv.post_json("/v1/surveys", {"id": "df", "title": "Disk full"})
        rng = random.Random(8)
        acked = []
        for _ in range(20):
            st, _, body = srv.post_json("/v1/responses", random_response(rng, "df"))
            self.assertEqual(st, 201)
            acked.append(body["id"])
        size = os.path.getsize(srv.db) + os.path.getsize(srv.db + "-wal")
        prlimit(srv.proc.pid, size)        # the "disk" is full from here on
        statuses = []
        big = [dict(random_response(rng, "df"), comment="x" * 3000) for _ in range(200)]
        for _ in range(20):
            st, h, body = srv.post_json("/v1/responses", big)
            statuses.append(st)
            if st == 201:
                acked += body["ids"]
            else:
                self.assertEqual((st, body["error"]["code"], h["retry-after"]), (503, "storage_unavailable", "1"))
        self.assertIn(503, statuses)
        st, _, body = srv.get("/v1/surveys/df/scores")   # reads keep working
        self.assertEqual(st, 200)
        self.assertEqual(body["groups"][0]["responses"], len(acked))
        prlimit(srv.proc.pid, "unlimited")  # space again: no restart needed
        st, _, body = srv.post_json("/v1/responses", big)
        self.assertEqual(st, 201, body)
        acked += body["ids"]
        srv.assert_clean_exit(self)
        conn = sqlite3.connect("file:%s?mode=ro" % srv.db, uri=True)
        ids = {r[0] for r in conn.execute("SELECT id FROM responses")}
        conn.close()
        self.assertEqual(ids, set(acked))    # every 201 there, nothing from a refused batch
        check = subprocess.run([CXD, "check", "--db", srv.db], capture_output=True, text=True, timeout=60)
        self.assertEqual(check.returncode, 0, check.stdout)


class HostileClientTest(unittest.TestCase):
    """Attackers connect from 127.0.0.2, the honest client from 127.0.0.1."""

    def attacker(self, port):
        s = socket.socket()
        s.bind(("127.0.0.2", 0))
        s.connect(("127.0.0.1", port))
        return s

    def test_slow_and_idle_clients_do_not_starve_others(self):
        srv = Server(args=["--per-ip-connections", "8", "--max-connections", "64", "--timeout", "3"]).start()
        srv.post_json("/v1/surveys", {"id": "h", "title": "h"})
        socks = []
        for i in range(8):   # slow-loris: headers and bodies trickled, chunked bodies that never end
            s = self.attacker(srv.port)
            kind = i % 4
            if kind == 0:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")              # headers never finish
            elif kind == 1:
                s.sendall(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          + srv.auth_line() + b"Content-Length: 100000\r\n\r\n{")     # body never finishes
            elif kind == 2:
                s.sendall(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
                          + srv.auth_line() + b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n")
            socks.append(s)
        extra = [self.attacker(srv.port) for _ in range(20)]   # over the per-address limit
        t0 = time.monotonic()
        honest = []
        while time.monotonic() - t0 < 5:     # trickle one byte a second on the slow ones
            for s in socks[:4]:
                try:
                    s.send(b"X")
                except OSError:
                    pass
            st, _, _ = srv.post_json("/v1/responses", {"survey": "h", "stage": "purchase", "touchpoint": "web", "nps": 5})
            honest.append(st)
            time.sleep(0.5)
        self.assertTrue(all(st == 201 for st in honest), honest)
        closed = 0
        for s in extra:                        # the extra ones were turned away at once
            s.settimeout(2)
            try:
                closed += s.recv(1) == b""
            except (ConnectionResetError, socket.timeout):
                closed += 1
        self.assertEqual(closed, len(extra))
        for s in socks + extra:
            s.close()
        self.assertLess(int(open("/proc/%d/status" % srv.proc.pid).read().split("VmRSS:")[1].split()[0]), 200000)
        srv.assert_clean_exit(self)

    def test_garbage_and_pipelining(self):
        srv = Server().start()
        for junk in (b"\x16\x03\x01\x02\x00" + os.urandom(512),           # a TLS hello to a plain port
                     b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 5000 + b"\r\n",   # too many headers
                     b"POST /v1/responses HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                     b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 50 + os.urandom(1000)):
            srv.raw(junk, read_timeout=2)
        self.assertEqual(srv.get("/healthz")[0], 200)
        srv.assert_clean_exit(self)


if __name__ == "__main__":
    import warnings
    warnings.simplefilter("ignore", ResourceWarning)
    result = unittest.main(exit=False, verbosity=2).result
    bad = len(result.failures) + len(result.errors)
    print("faults: %d passed, %d failed" % (result.testsRun - bad, bad))
    sys.exit(1 if bad or result.testsRun == 0 else 0)
