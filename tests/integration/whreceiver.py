"""A Standard Webhooks receiver for the integration tests, written from the specification
(https://www.standardwebhooks.com, "Verifying webhooks"), independently of cxd's C code:
it uses Python's hmac, hashlib and base64 only.

A message is authentic when one of the space-separated entries of `webhook-signature`
is "v1," + base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")), where
key is the base64 decoding of the secret after its "whsec_" prefix, compared in
constant time, and `webhook-timestamp` (unix seconds) is within 5 minutes of now.

    rx = Receiver(secrets={"/a": ["whsec_..."]}).start()   # a thread on 127.0.0.1
    url = rx.url("/a")
    rx.set_mode("fail")                  # every request answered 500 from now on
    rx.set_mode("throttle", retry_after=2)
    rx.records()                         # every request so far (Record), in order
    rx.stop()

Modes, switchable at any time (set_mode(mode, path=None): a path overrides the default):
  ok        200
  fail      500
  throttle  429 with Retry-After: N (retry_after=N seconds)
  gone      410
  hang      the request is read and recorded, then never answered: the connection is
            held until the mode changes (or stop), then closed without a reply
  down      not listening: the listening socket is closed and every open connection
            is cut (set_mode to another mode listens again on the same port)
  slow      200 after delay_ms milliseconds
Requests are recorded in every mode but down (nothing arrives), before they are answered.

Run as a program it is a standalone receiver (python3 whreceiver.py --port 0 --mode ok
--secret whsec_...), printing "listening on http://127.0.0.1:PORT/" and one JSON line per
request on stdout (--quiet: none, and nothing kept: a fast sink for benchmarks).
tests/integration/test_whreceiver.py checks it against the specification's test vector."""
import base64
import hashlib
import hmac
import http.server
import json
import socket
import socketserver
import sys
import threading
import time

TOLERANCE_S = 5 * 60
MODES = ("ok", "fail", "throttle", "gone", "hang", "down", "slow")


def secret_key(secret):
    """The HMAC key of a `whsec_` secret: the base64 decoding of what follows the prefix."""
    if secret.startswith("whsec_"):
        secret = secret[len("whsec_"):]
    return base64.b64decode(secret)


def sign(secret, msg_id, timestamp, body):
    """The v1 signature ("v1,<base64>") of body (bytes or str) as the specification
    defines it; for tests that need a correctly signed message of their own."""
    if isinstance(body, str):
        body = body.encode()
    content = ("%s.%s." % (msg_id, timestamp)).encode() + body
    mac = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(secrets, headers, body, now=None):
    """(ok, reason) for one message: headers a dict with lower-case names, body the raw
    bytes, secrets the endpoint's valid secrets (any may have signed). Follows the
    specification: all three headers present, timestamp within TOLERANCE_S of now, and
    one of the space-separated v1 signatures equal (constant time) to the expected one
    under one of the secrets. Other versions (v1a, ...) are ignored."""
    msg_id, ts, sigs = (headers.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not msg_id or not ts or not sigs:
        return False, "missing header"
    try:
        t = int(ts)
    except ValueError:
        return False, "bad timestamp %r" % ts
    now = time.time() if now is None else now
    if abs(now - t) > TOLERANCE_S:
        return False, "timestamp %d out of tolerance (now %d)" % (t, now)
    want = [sign(s, msg_id, ts, body).split(",", 1)[1] for s in secrets]
    for entry in sigs.split(" "):
        version, _, sig = entry.partition(",")
        if version != "v1":
            continue
        for w in want:
            if hmac.compare_digest(w.encode(), sig.encode()):
                return True, "ok"
    return False, "no matching v1 signature in %r" % sigs


class Record:
    """One request as received: time (time.time() on arrival), path, webhook-id,
    webhook-timestamp, the signature header, verified and why, the raw and parsed body
    (None when not JSON), and the answer given (status, or None: hung or cut)."""
    __slots__ = ("at", "path", "msg_id", "timestamp", "signature", "verified", "reason",
                 "raw", "body", "status", "mode", "headers")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))

    def as_dict(self):
        d = {k: getattr(self, k) for k in self.__slots__ if k not in ("raw", "headers")}
        return d

    def __repr__(self):
        return "Record(%r)" % self.as_dict()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, as a real receiver
    server_version = "whreceiver/1"

    def log_message(self, *a):   # quiet
        pass

    def setup(self):
        super().setup()
        self.server.rx._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.rx._track(self.connection, False)

    def do_POST(self):
        rx = self.server.rx
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        path = self.path
        mode, arg, gen = rx._mode_for(path)
        ok, reason = verify(rx.secrets_for(path), headers, raw)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        rec = Record(at=time.time(), path=path, msg_id=headers.get("webhook-id"),
                     timestamp=headers.get("webhook-timestamp"),
                     signature=headers.get("webhook-signature"), verified=ok, reason=reason,
                     raw=raw, body=body, status=None, mode=mode, headers=headers)
        rx._record(rec)
        if mode in ("hang", "down"):
            rx._wait_change(gen)
            self.close_connection = True
            return
        if mode == "slow":
            time.sleep(arg / 1000.0)
        status = {"ok": 200, "slow": 200, "fail": 500, "throttle": 429, "gone": 410}[mode]
        payload = b'{"ok":true}' if status == 200 else b'{"error":"%s"}' % mode.encode()
        rec.status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if mode == "throttle":
            self.send_header("Retry-After", str(arg))
        self.end_headers()
        self.wfile.write(payload)

    do_PUT = do_POST


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def handle_error(self, request, client_address):
        pass   # a client (cxd) killed or gone mid-request: expected here, not news


class Receiver:
    """The receiver: a threaded HTTP server on 127.0.0.1 (port 0: a free one, kept across
    down/up). secrets: {path: [whsec_...]} and/or default=[...] for any other path."""

    def __init__(self, secrets=None, default=None, port=0, keep_raw=True, keep=True):
        self._secrets = dict(secrets or {})
        self._default = list(default or [])
        self.port = port
        self.keep_raw = keep_raw
        self.keep = keep          # False: count requests, keep no Record (benchmarks)
        self.received = 0
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._records = []
        self._mode = ("ok", None)
        self._path_modes = {}
        self._gen = 0            # bumped on every mode change: hung handlers let go
        self._server = None
        self._thread = None
        self._conns = set()

    # --- configuration
    def set_secret(self, path, secrets):
        """The secrets valid for path (a list: during a rotation, both)."""
        with self._lock:
            self._secrets[path] = list(secrets)

    def secrets_for(self, path):
        with self._lock:
            return list(self._secrets.get(path.split("?")[0], self._default))

    def url(self, path="/hook"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def set_mode(self, mode, path=None, retry_after=1, delay_ms=100):
        """Switch behaviour now (see the module's docstring). `down` applies to the whole
        receiver; per-path modes override the default one for that path."""
        if mode not in MODES:
            raise ValueError(mode)
        arg = retry_after if mode == "throttle" else delay_ms if mode == "slow" else None
        with self._cond:
            if path is None:
                self._mode = (mode, arg)
            else:
                self._path_modes[path] = (mode, arg)
            self._gen += 1
            self._cond.notify_all()
        if path is None:
            if mode == "down":
                self._close_listener()
            elif self._server is None and self._thread is not None:
                self._listen()

    def clear_path_modes(self):
        with self._cond:
            self._path_modes.clear()
            self._gen += 1
            self._cond.notify_all()

    def _mode_for(self, path):
        with self._lock:
            m, a = self._path_modes.get(path.split("?")[0], self._mode)
            if self._mode[0] == "down":
                m, a = self._mode
            return m, a, self._gen

    def _wait_change(self, gen):
        with self._cond:
            while self._gen == gen and not self._stopping:
                self._cond.wait(1.0)

    # --- records
    def _record(self, rec):
        if not self.keep_raw:
            rec.raw = None
        with self._cond:
            self.received += 1
            if self.keep:
                self._records.append(rec)
            self._cond.notify_all()

    def records(self, path=None):
        """A copy of the requests received so far (all, or for one path)."""
        with self._lock:
            return [r for r in self._records if path is None or r.path == path]

    def count(self):
        with self._lock:
            return len(self._records)

    def wait_for(self, pred, timeout=30.0):
        """Wait until pred(records) is true (checked on every new request and every 0.2 s);
        returns the last value of pred."""
        deadline = time.monotonic() + timeout
        while True:
            v = pred(self.records())
            if v or time.monotonic() >= deadline:
                return v
            with self._cond:
                self._cond.wait(min(0.2, max(0.0, deadline - time.monotonic())))

    # --- life
    _stopping = False

    def _track(self, sock, add):
        with self._lock:
            (self._conns.add if add else self._conns.discard)(sock)

    def _listen(self):
        srv = _Server(("127.0.0.1", self.port), _Handler)
        srv.rx = self
        self.port = srv.server_address[1]
        t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._server, self._thread = srv, t
        t.start()

    def _close_listener(self):
        srv, self._server = self._server, None
        if srv is not None:
            srv.shutdown()
            srv.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:   # cut every open (keep-alive or hung) connection
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def start(self):
        self._listen()
        return self

    def stop(self):
        with self._cond:
            self._stopping = True
            self._gen += 1
            self._cond.notify_all()
        self._close_listener()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# --- self-test: the specification's test vector and a round trip of our own
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = '{"test": 2432232314}'
SPEC_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mode", default="ok", choices=[m for m in MODES if m != "down"])
    ap.add_argument("--retry-after", type=int, default=1)
    ap.add_argument("--delay-ms", type=int, default=100)
    ap.add_argument("--secret", action="append", default=[])
    ap.add_argument("--quiet", action="store_true", help="no line per request (benchmarks)")
    a = ap.parse_args(argv)
    rx = Receiver(default=a.secret, keep_raw=False, keep=not a.quiet).start()
    rx.set_mode(a.mode, retry_after=a.retry_after, delay_ms=a.delay_ms)
    print("listening on http://127.0.0.1:%d/" % rx.port, flush=True)
    seen = 0
    try:
        while True:
            time.sleep(0.2)
            if a.quiet:
                continue
            recs = rx.records()
            for r in recs[seen:]:
                print(json.dumps(r.as_dict()), flush=True)
            seen = len(recs)
    except KeyboardInterrupt:
        pass
    finally:
        rx.stop()


if __name__ == "__main__":
    _main(sys.argv[1:])
