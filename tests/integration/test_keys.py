"""API keys on the database file: the command-line tools never create a database, `cxd keys
list` and `cxd keys revoke` work on the file (also while cxd serves), the first admin
secret goes only to a terminal or to a 0600 file, a start says how to get a key, every
bad key gets the same answer, and a revoked key stops working on every thread at once
(the stress test that failed 5 of 10 trials before the key cache was fixed)."""
import http.client
import json
import os
import pty
import re
import select
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
from cxdtest import CXD, Server  # noqa: E402

SECRET = re.compile(r"cxd_[a-z0-9]{12}_[a-z0-9]{32}")


def cxd(*args, env=None, timeout=60):
    return subprocess.run([CXD] + list(args), capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


def bearer(secret):
    return {"Authorization": "Bearer " + secret}


class ToolsTest(unittest.TestCase):
    """newcomer-5: a mistyped --db is refused, never created, by every tool."""

    def test_missing_database_is_refused_and_not_created(self):
        tmp = tempfile.mkdtemp(prefix="cxd-keys-")
        typo = os.path.join(tmp, "cxd.bd")
        dest = os.path.join(tmp, "backup.db")
        for args in (["check", "--db", typo], ["backup", dest, "--db", typo],
                     ["keys", "create", "--role", "admin", "--db", typo], ["keys", "list", "--db", typo],
                     ["keys", "revoke", "aaaaaaaaaaaa", "--db", typo], ["keys", "list", "--db=" + typo]):
            with self.subTest(args=args):
                r = cxd(*args)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn(typo, r.stderr)
                self.assertEqual(r.stdout, "")
                self.assertEqual(os.listdir(tmp), [], "a tool created a file")
        r = cxd("check", env={"CXD_DB": typo})   # the environment's path too
        self.assertEqual((r.returncode, typo in r.stderr, os.listdir(tmp)), (1, True, []))

    def test_tools_work_on_a_database_the_server_made(self):
        srv = Server().start()
        srv.assert_clean_exit(self)
        self.assertEqual(cxd("check", "--db", srv.db).returncode, 0)
        dest = os.path.join(srv.tmp, "copy.db")
        r = cxd("backup", dest, "--db", srv.db)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.getsize(dest) > 0)
        # every file cxd makes holds answers or secrets: owner-only whatever the umask
        # (mutation: without main.c's umask(077) the database and the backup are 0644)
        for path in (srv.db, dest):
            self.assertEqual(oct(os.stat(path).st_mode & 0o777), oct(0o600), path)

    def test_list_and_revoke_on_the_file(self):
        srv = Server().start()
        srv.post_json("/v1/surveys", {"id": "s1", "title": "s1"})
        made = {}
        for role, extra in (("read", []), ("ingest", ["--surveys", "s1,s2", "--label", "shop\x1b[31m widget"])):
            r = cxd("keys", "create", "--role", role, "--db", srv.db, *extra)   # while it serves
            self.assertEqual(r.returncode, 0, r.stderr)
            made[role] = r.stdout.strip()
        st, _, api = srv.post_json("/v1/keys", {"role": "read", "label": "from the API"})
        self.assertEqual(st, 201)
        secrets = [srv.key, made["read"], made["ingest"], api["secret"]]
        ids = [s.split("_")[1] for s in secrets]

        r = cxd("keys", "list", "--db", srv.db)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["ID", "ROLE", "SURVEYS", "CREATED", "LABEL"])
        rows = {line.split()[0]: line for line in lines[1:]}
        self.assertEqual(set(rows), set(ids))
        self.assertRegex(rows[ids[0]], r"admin\s+\(all\)\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+first admin key")
        self.assertRegex(rows[ids[2]], r'ingest\s+\["s1","s2"\]\s+\S+Z\s+shop\?\[31m widget$')   # no escape
        self.assertRegex(rows[ids[3]], r"read\s+\(all\)\s+\S+Z\s+from the API$")
        for s in secrets:
            self.assertNotIn(s.split("_")[2], r.stdout + r.stderr)   # never a secret
        r = cxd("keys", "list", "--json", "--db", srv.db)
        listed = json.loads(r.stdout)
        self.assertEqual([k["id"] for k in listed], ids)   # oldest first
        self.assertEqual(listed[2]["surveys"], ["s1", "s2"])
        self.assertTrue(all("secret" not in k and "hash" not in k for k in listed))

        # a revocation on the file counts at the server's next request
        self.assertEqual(srv.request("GET", "/v1/surveys", headers=bearer(made["read"]), auth=False)[0], 200)
        r = cxd("keys", "revoke", ids[1], "--db", srv.db)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(ids[1], r.stderr)
        self.assertEqual(srv.request("GET", "/v1/surveys", headers=bearer(made["read"]), auth=False)[0], 401)
        r = cxd("keys", "revoke", ids[1], "--db", srv.db)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no key '%s'" % ids[1], r.stderr)
        self.assertEqual(cxd("keys", "revoke", "nosuchkeyzzz", "--db", srv.db).returncode, 1)
        st, _, body = srv.get("/v1/keys")
        self.assertEqual(sorted(k["id"] for k in body["keys"]), sorted(ids[:1] + ids[2:]))
        for args in (["keys", "revoke", "--db", srv.db], ["keys", "revoke", "a", "b", "--db", srv.db],
                     ["keys", "list", "--db"], ["keys", "list", "extra", "--db", srv.db],
                     ["keys", "create", "--role", "read", "stray", "--db", srv.db], ["keys", "delete", "x"]):
            with self.subTest(args=args):
                r = cxd(*args)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn("usage: cxd keys", r.stderr)
        srv.assert_clean_exit(self)


class FirstKeyTest(unittest.TestCase):
    """safe-7 and newcomer-8: the first admin secret never lands in a log; a start on a
    database with keys says how to make one."""

    def test_without_a_terminal_the_secret_goes_to_a_0600_file(self):
        srv = Server().start()
        path = srv.db + ".admin-key"
        st = os.lstat(path)
        self.assertTrue(stat.S_ISREG(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        with open(path) as f:
            secret = f.read()
        self.assertRegex(secret, r"^cxd_[a-z0-9]{12}_[a-z0-9]{32}\n$")
        secret = secret.strip()
        self.assertEqual(srv.key, secret)
        err = srv.stderr()
        self.assertNotIn(secret, err)
        self.assertNotIn(secret.split("_")[2], err)
        self.assertIsNone(SECRET.search(err))
        self.assertIn("its secret is in %s (mode 0600" % path, err)
        self.assertEqual(srv.get("/v1/keys")[0], 200)
        srv.assert_clean_exit(self)

        srv.start()   # keys exist: no new one, and a hint
        err = srv.stderr()
        self.assertNotIn("no API keys yet", err)
        self.assertRegex(err, r"1 API key in %s; make one with: \S*cxd keys create --role admin --db %s\n"
                         % (re.escape(srv.db), re.escape(srv.db)))
        self.assertIn("the first admin key's secret is in " + path, err)
        self.assertIsNone(SECRET.search(err))
        with open(path) as f:
            self.assertEqual(f.read().strip(), secret)   # untouched
        srv.assert_clean_exit(self)
        r = cxd("keys", "create", "--role", "read", "--db", srv.db)
        self.assertEqual(r.returncode, 0, r.stderr)
        srv.start()
        self.assertIn("2 API keys in " + srv.db, srv.stderr())
        srv.assert_clean_exit(self)

    def test_an_old_file_or_symlink_is_replaced_not_written_through(self):
        srv = Server()
        victim = os.path.join(srv.tmp, "victim")
        with open(victim, "w") as f:
            f.write("precious\n")
        os.symlink(victim, srv.db + ".admin-key")
        with open(srv.db + ".admin-key.tmp", "w") as f:   # left by a crash
            f.write("stale\n")
        os.chmod(srv.db + ".admin-key.tmp", 0o644)
        srv.start()
        with open(victim) as f:
            self.assertEqual(f.read(), "precious\n")
        st = os.lstat(srv.db + ".admin-key")
        self.assertTrue(stat.S_ISREG(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertFalse(os.path.exists(srv.db + ".admin-key.tmp"))
        self.assertEqual(srv.get("/v1/surveys")[0], 200)
        srv.assert_clean_exit(self)

    def test_unwritable_key_file_stops_the_start_without_a_usable_key(self):
        srv = Server()
        os.mkdir(srv.db + ".admin-key.tmp")   # cannot be unlinked nor opened as a file
        r = subprocess.run([CXD, "--listen", "127.0.0.1:0", "--db", srv.db], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot write the first admin key to %s.admin-key" % srv.db, r.stderr)
        self.assertIsNone(SECRET.search(r.stderr))
        os.rmdir(srv.db + ".admin-key.tmp")
        r = cxd("keys", "list", "--json", "--db", srv.db)
        self.assertEqual(json.loads(r.stdout), [])   # the unknowable key was taken back

    def test_on_a_terminal_the_secret_is_shown_once_and_no_file_is_made(self):
        tmp = tempfile.mkdtemp(prefix="cxd-keys-")
        db = os.path.join(tmp, "cxd.db")
        master, slave = pty.openpty()
        p = subprocess.Popen([CXD, "--listen", "127.0.0.1:0", "--db", db, "--no-access-log"],
                             stdout=subprocess.DEVNULL, stderr=slave, stdin=subprocess.DEVNULL)
        os.close(slave)
        out, deadline = b"", time.monotonic() + 30
        try:
            while b"listening on" not in out and time.monotonic() < deadline:
                if select.select([master], [], [], 0.2)[0]:
                    out += os.read(master, 65536)
            text = out.decode()
            m = re.search(r"secret \(shown once\): (cxd_\S+)", text)
            self.assertTrue(m, text)
            port = int(re.search(r"listening on http://127\.0\.0\.1:(\d+)/", text).group(1))
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request("GET", "/v1/keys", headers=bearer(m.group(1)))
            self.assertEqual(c.getresponse().status, 200)
            c.close()
            self.assertFalse(os.path.exists(db + ".admin-key"))
        finally:
            p.send_signal(signal.SIGTERM)
            while p.poll() is None:   # keep draining the terminal until it exits
                if select.select([master], [], [], 0.2)[0]:
                    try:
                        os.read(master, 65536)
                    except OSError:
                        break
            p.wait(timeout=30)
            os.close(master)
        self.assertEqual(p.returncode, 0)


class BadKeyTest(unittest.TestCase):
    """safe-7: unknown, mistyped and revoked keys get one answer, so an attacker cannot
    learn which key ids exist."""

    def test_one_answer_for_every_bad_key(self):
        srv = Server().start()
        st, _, made = srv.post_json("/v1/keys", {"role": "read"})
        revoked = made["secret"]
        self.assertEqual(srv.request("DELETE", "/v1/keys/" + made["id"])[0], 200)
        kid = srv.key.split("_")[1]
        bad = {
            "unknown id": "cxd_aaaaaaaaaaaa_" + "a" * 32,
            "known id, wrong secret": "cxd_%s_%s" % (kid, "a" * 32),
            "known id, short secret": "cxd_%s_x" % kid,
            "revoked": revoked,
            "malformed": "cxd_!!!",
        }
        answers = {}
        for what, secret in bad.items():
            st, h, body = srv.request("GET", "/v1/surveys", headers=bearer(secret), auth=False)
            answers[what] = (st, body["error"]["code"], body["error"]["message"], h.get("content-length"))
        self.assertEqual(len(set(answers.values())), 1, answers)
        self.assertEqual(answers["unknown id"][:2], (401, "unauthorized"))
        # a role error speaks only of the caller's own key and the route
        st, _, made = srv.post_json("/v1/keys", {"role": "ingest"})
        st, _, body = srv.request("GET", "/v1/keys", headers=bearer(made["secret"]), auth=False)
        self.assertEqual((st, body["error"]["code"]), (403, "forbidden"))
        self.assertNotIn(kid, json.dumps(body))
        srv.assert_clean_exit(self)


class RevokeStressTest(unittest.TestCase):
    """safe-1: with -t 16, 64 concurrent first uses of a key made on the file while cxd
    serves, then DELETE /v1/keys/ID (or `cxd keys revoke`): every later request on every
    connection is 401. Before the fix, each thread that missed the cache inserted its own
    copy and the DELETE removed one: 5 of 10 trials kept a revoked key working."""
    TRIALS = int(os.environ.get("CX_REVOKE_TRIALS", "20"))
    USERS = 64

    @classmethod
    def setUpClass(cls):
        # all 64+ connections come from 127.0.0.1: lift the per-address cap (test_hostile tests it)
        cls.srv = Server(args=["-t", "16", "--no-access-log", "--per-ip-connections", "0"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.assert_clean_exit(unittest.TestCase())

    def connections(self):
        conns = [http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30) for _ in range(self.USERS)]
        for c in conns:
            c.connect()
        return conns

    def all_at_once(self, conns, headers):
        """One GET /v1/surveys per connection, sent together; the statuses."""
        go = threading.Barrier(len(conns))
        got = [None] * len(conns)

        def use(i):
            try:
                go.wait()
                conns[i].request("GET", "/v1/surveys", headers=headers)
                r = conns[i].getresponse()
                r.read()
                got[i] = r.status
            except Exception as e:   # reported, not swallowed: None fails the check below
                got[i] = repr(e)

        ts = [threading.Thread(target=use, args=(i,)) for i in range(len(conns))]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        return got

    def keep_using(self, headers, stop):
        c = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
        while not stop.is_set():
            c.request("GET", "/v1/surveys", headers=headers)
            c.getresponse().read()
        c.close()

    def trials(self, revoke):
        kept = []
        for trial in range(self.TRIALS):
            r = cxd("keys", "create", "--role", "read", "--db", self.srv.db)   # while serving
            self.assertEqual(r.returncode, 0, r.stderr)
            secret = r.stdout.strip()
            conns = self.connections()
            try:
                first = self.all_at_once(conns, bearer(secret))
                self.assertEqual(first, [200] * self.USERS, "trial %d: first uses" % trial)
                busy = threading.Event()
                hammer = threading.Thread(target=self.keep_using, args=(bearer(secret), busy))
                hammer.start()   # the key stays in use (and cached) while it is revoked
                try:
                    revoke(secret.split("_")[1])
                    conns[0].request("GET", "/v1/surveys", headers=bearer(secret))   # at once
                    r = conns[0].getresponse()
                    r.read()
                    after = [r.status] + self.all_at_once(conns, bearer(secret))   # and together
                finally:
                    busy.set()
                    hammer.join(60)
                after += self.all_at_once(self.connections(), bearer(secret))   # and new ones
                if after != [401] * (2 * self.USERS + 1):
                    kept.append((trial, sum(1 for s in after if s != 401)))
            finally:
                for c in conns:
                    c.close()
        self.assertEqual(kept, [], "(trial, requests let in after the revocation)")

    def test_delete_over_http(self):
        def revoke(kid):
            st, _, body = self.srv.request("DELETE", "/v1/keys/" + kid)
            self.assertEqual(st, 200, body)
        self.trials(revoke)

    def test_revoke_on_the_file(self):
        def revoke(kid):
            r = cxd("keys", "revoke", kid, "--db", self.srv.db)
            self.assertEqual(r.returncode, 0, r.stderr)
        self.trials(revoke)


if __name__ == "__main__":
    cxdtest.main("keys")
