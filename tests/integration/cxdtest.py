"""Helpers for integration tests: start the real cxd binary on a free port and talk HTTP.

Nothing is mocked: each Server is the built binary with a real SQLite file in a temporary
directory. stderr goes to a file that tests read (access log, sanitizer reports).
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import atexit
import sys
import unittest
import warnings

_started = []


@atexit.register
def _kill_leftovers():
    """A failed test must not leave a cxd running."""
    for p in _started:
        if p.poll() is None:
            p.kill()

CXD = os.environ.get("CXD_BIN", os.path.join(os.path.dirname(__file__), "../../build/cxd"))
DATA = os.environ.get("CX_TEST_DATA", os.path.join(os.path.dirname(__file__), "../data"))
SCHEMA = os.environ.get("CX_SCHEMA_DIR", os.path.join(os.path.dirname(__file__), "../../schema"))


FSFAULT = os.environ.get("CX_FSFAULT", os.path.join(os.path.dirname(__file__), "../../build/tests/fsfault.so"))


def fault_env(db, ctl):
    """Environment that runs cxd over tests/faults/fsfault.c: file-system faults on the
    files of `db`, chosen by what the test writes into the control file `ctl`."""
    asan = os.environ.get("ASAN_OPTIONS", "")
    return {"LD_PRELOAD": FSFAULT, "FSFAULT_DB": db, "FSFAULT_CTL": ctl,
            # the shim loads before the sanitizer runtime, which would otherwise refuse
            "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"}


def set_fault(ctl, what):
    """Switch the injected fault of a running cxd ("" clears it)."""
    with open(ctl + ".tmp", "w") as f:
        f.write(what)
    os.replace(ctl + ".tmp", ctl)


def rss_kb(pid):
    """Resident memory of process pid in KiB (VmRSS), 0 if the kernel does not say."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def self_signed_cert(tmp):
    """A self-signed certificate for localhost and 127.0.0.1 in tmp: (cert path, key path)."""
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("openssl req failed: " + r.stderr)
    return cert, key


def tls_server():
    """A started Server on HTTPS with a new self-signed certificate (those are its only
    flags); (server, cert path) for clients that must trust it."""
    srv = Server()
    cert, key = self_signed_cert(srv.tmp)
    srv.args = ["--tls-cert", cert, "--tls-key", key]
    return srv.start(), cert


class Server:
    def __init__(self, db=None, args=(), env=None, tmp=None, key=None):
        self.tmp = tmp or tempfile.mkdtemp(prefix="cxd-it-")
        self.db = db or os.path.join(self.tmp, "cxd.db")
        self.args = list(args)
        if not any(a.startswith("--rate") for a in self.args):
            self.args += ["--rate-ip", "0", "--rate-key", "0"]   # load tests; RateTest sets its own
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.port = None
        self.key = key   # the admin key made on a database's first start (read from DB.admin-key)
        self.log_path = os.path.join(self.tmp, "stderr-%d.log" % time.monotonic_ns())

    def start(self):
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(
            [CXD, "--listen", "127.0.0.1:0", "--db", self.db] + self.args,
            stdout=subprocess.DEVNULL, stderr=self.log, env=self.env)
        _started.append(self.proc)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            err = self.stderr()
            m = re.search(r"listening on https?://127\.0\.0\.1:(\d+)/", err)
            if m:
                self.port = int(m.group(1))
                k = re.search(r"secret \(shown once\): (cxd_\S+)", err)   # stderr a terminal
                f = re.search(r"its secret is in (.+) \(mode 0600", err)   # else: DB.admin-key
                if k:
                    self.key = k.group(1)
                elif f:
                    with open(f.group(1)) as kf:
                        self.key = kf.read().strip()
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("cxd exited early:\n" + self.stderr())
            time.sleep(0.02)
        raise RuntimeError("cxd did not start:\n" + self.stderr())

    def stderr(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stop cxd; returns its exit code. Sanitizer reports fail the caller's check."""
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        self.log.close()
        return code

    def wait_killed(self, timeout=30):
        """Wait for a cxd that was killed (or is being killed) to end; its exit code."""
        code = self.proc.wait(timeout=timeout)
        if not self.log.closed:
            self.log.close()
        return code

    def assert_clean_exit(self, testcase):
        code = self.stop()
        err = self.stderr()
        tail = err[-6000:]
        testcase.assertFalse("Sanitizer" in err or "runtime error" in err, tail)
        testcase.assertEqual(code, 0, err[-4000:])
        testcase.assertIn("stopped cleanly", err)

    def wait_counted(self, timeout=10):
        """Wait until the rollups count every committed response (the writer counts them
        after their commit, every 20 ms: schema 019's mark reaches the highest id)."""
        import sqlite3
        deadline = time.monotonic() + timeout
        while True:
            db = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True)
            done = db.execute("SELECT (SELECT upto FROM rollup_mark) >= "
                              "(SELECT coalesce(max(id), 0) FROM responses)").fetchone()[0]
            db.close()
            if done:
                return
            if time.monotonic() > deadline:
                raise AssertionError("the rollups did not catch up in %s s" % timeout)
            time.sleep(0.01)

    def conn(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def auth(self):
        return {"Authorization": "Bearer " + self.key} if self.key else {}

    def request(self, method, path, body=None, headers=None, conn=None, auth=True):
        """One request (with the admin key unless auth=False or headers name another);
        returns (status, headers dict (lower-case), parsed JSON or text)."""
        c = conn or self.conn()
        hdrs = dict(self.auth() if auth else {})
        hdrs.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        c.request(method, path, body=body, headers=hdrs)
        r = c.getresponse()
        raw = r.read()
        h = {k.lower(): v for k, v in r.getheaders()}
        if conn is None:
            c.close()
        ctype = h.get("content-type", "")
        data = json.loads(raw) if ctype.startswith("application/json") and raw else raw.decode("utf-8", "replace")
        return r.status, h, data

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def get_bytes(self, path):
        """GET with the admin key; (status, headers dict (lower-case), body bytes as sent)."""
        c = self.conn()
        c.request("GET", path, headers=self.auth())
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def post_json(self, path, obj, **kw):
        return self.request("POST", path, body=obj, **kw)

    def post_form(self, path, fields, headers=None, **kw):
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        h.update(headers or {})
        body = urllib.parse.urlencode(fields).encode() if isinstance(fields, (dict, list)) else fields
        return self.request("POST", path, body=body, headers=h, **kw)

    def auth_line(self):
        """The Authorization header line for raw requests."""
        return ("Authorization: Bearer %s\r\n" % self.key).encode() if self.key else b""

    def raw(self, data, read_timeout=5.0):
        """Send raw bytes on a fresh socket; return whatever comes back before close/timeout."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=read_timeout)
        try:
            s.sendall(data)
            out = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                if not chunk:
                    break
                out += chunk
            return out
        finally:
            s.close()


def tally(result):
    """(passed, failed, skipped, failing subtests, fixture errors) of a unittest result,
    counted in tests: a test with three failing subtests is one failed test (counting
    each entry of result.failures, as before, gave "-2 passed"); an unexpected success
    fails its test; a test is skipped only when it skipped itself (a skipped subtest does
    not skip its test); an error in setUpClass/setUpModule is no test, and counted apart."""
    failed, subtests, fixtures = set(), 0, 0
    for test, _ in result.failures + result.errors + [(t, None) for t in result.unexpectedSuccesses]:
        parent = getattr(test, "test_case", None)   # a unittest.case._SubTest
        if parent is not None:
            subtests += 1
            failed.add(parent.id())
        elif isinstance(test, unittest.TestCase):
            failed.add(test.id())
        else:                                       # _ErrorHolder: a class or module fixture
            fixtures += 1
    skipped = {t.id() for t, _ in result.skipped
               if getattr(t, "test_case", None) is None and isinstance(t, unittest.TestCase)} - failed
    passed = result.testsRun - len(failed) - len(skipped)
    return passed, len(failed), len(skipped), subtests, fixtures


def main(name):
    """The end of every test_*.py: run its tests verbosely, print "NAME: N passed, N failed"
    (and the skipped tests, failing subtests and fixture errors, if any), exit 1 on any
    failure, error or unexpected success, or when no test ran at all.

    Mutation tried: the old count (every entry of result.failures one failed test)
    printed "demo: -2 passed, 5 failed, 2 skipped" for five tests of which one had
    three failing subtests; now "demo: 2 passed, 2 failed (3 failing subtests), 1
    skipped, 1 fixture error (setUpClass/setUpModule)", and exits 1."""
    warnings.simplefilter("ignore", ResourceWarning)
    # warnings="": keep these filters (None would make the runner reset them to "default")
    result = unittest.main(exit=False, verbosity=2, warnings="").result
    passed, failed, skipped, subtests, fixtures = tally(result)
    print("%s: %d passed, %d failed%s%s%s" % (
        name, passed, failed, " (%d failing subtests)" % subtests if subtests else "",
        ", %d skipped" % skipped if skipped else "",
        ", %d fixture error%s (setUpClass/setUpModule)" % (fixtures, "s" * (fixtures != 1)) if fixtures else ""))
    sys.exit(1 if failed or fixtures or result.testsRun == 0 else 0)


def localhost_refusal():
    """The code cxd refuses an endpoint at https://localhost/ with on this machine: it is
    private where `localhost` resolves, unresolvable where it does not (a fresh debootstrap
    root has no /etc/hosts). Refused either way; the test must not depend on which."""
    import socket
    try:
        socket.getaddrinfo("localhost", 443)
        return "endpoint_private"
    except socket.gaierror:
        return "endpoint_unresolvable"
