"""Webhook chaos: the proof of issue 12's "never lost" promise.

An independent Standard Webhooks receiver (whreceiver.py: Python's hmac and base64 from
the specification, nothing from cxd's C) verifies every signature and records every
request while responses are posted from several threads. The receiver is switched at
random through fail (500), throttle (429 + Retry-After), hang (never answers), down (not
listening) and ok, and cxd is killed with SIGKILL at random moments (and, in some rounds,
by tests/faults/fsfault.c right before or right after a commit's sync, with unsynced
writes dropped as by a power cut), then restarted on the same database. The acknowledged
responses are kept by test_crash.Ledger (the clients retry what got no answer). Then the
receiver stays ok and cxd drains its outbox (dead deliveries, whose short retry budget
the chaos may exhaust, are retried through the API: dead-lettered is not lost). Asserted:

- every request's signature verifies (and its timestamp is within 5 minutes);
- the events delivered (answered 200) are exactly those the committed rows call for:
  every committed response (read from the database after the run) has its
  `response.created` on the subscribed endpoint and, when it matches the rule (nps <= 6),
  its `response.matched_rule` on the rule's endpoint; nothing for a row that was never
  committed, no other type, no other endpoint. So every acknowledged (201/200) response
  is delivered (acknowledged is a subset of committed, checked by the Ledger), and a
  response committed whose 201 was lost to the kill is delivered too;
- duplicates are allowed, but every copy of an event carries the same webhook-id: one id
  per (response, type, endpoint), one (response, type, endpoint) per id;
- cxd's own outbox agrees: one delivery row per event, all delivered, the same msg_id;
- a 429's Retry-After is honoured: within one life of cxd, no attempt of that message
  comes sooner;
- halfway the endpoint's secret is rotated (overlap 1 h): from then on, across the kills,
  every request carries a v1 signature by the new secret and one by the old.

GoneTest: an endpoint answering 410 is disabled, holds its events (no more attempts,
across a SIGKILL too), and resuming it delivers every held event with its webhook-id.

RetryTimingTest: without load or kills (where the backlog hides timing), a 429's
Retry-After and the schedule's steps after a 500 are waited for.

Bounded: CHAOS_KILLS (default 8) rounds of 0.5-2 s load each; the whole file takes about
2 minutes under ASan (most of it the drain: the worker sends about 40 deliveries/s per
endpoint).

Mutations tried on the merge of wp/rules, wp/deliver and wp/cases (each built, run, and
reverted):
- src/deliver.c finish(): every answer (or none) marks the delivery delivered, i.e. marked
  delivered before the receiver said 2xx: ChaosTest fails ("89 events of acknowledged
  responses never delivered", CHAOS_KILLS=3) and GoneTest fails (never disabled);
- src/deliver.c xfer_new(): a new webhook-id (cx_whsig_msg_id) for every attempt, signed
  with it: ChaosTest fails ("one event sent under several webhook-ids", from the hang
  phases and the kills) and GoneTest fails (the 410'd events resent under new ids);
- src/writer.c: the outbox written after the response's commit, in a transaction of its
  own (cx_loop_on_response moved out of write_job into a second transaction after
  cx_store_commit): ChaosTest fails ("57 events of acknowledged responses never
  delivered", CHAOS_KILLS=6: the kill-after-sync and SIGKILL rounds fall between the two);
- src/deliver.c finish(): Retry-After ignored (the schedule's step instead):
  RetryTimingTest fails ("retried sooner than Retry-After", gaps of 0.1-0.4 s); ChaosTest
  alone did not catch it: under its backlog every retry comes seconds late anyway.
- src/deliver.c sign(): the previous secret left out during a rotation's overlap:
  ChaosTest fails ("797 requests not signed by the secret(s) due", CHAOS_KILLS=4).
Re-run at 17:10 on the merge as of 17:04 (faster worker), with the defaults here: the first
mutation fails ChaosTest with 646 events lost, the outbox-after-commit one with 20."""
import base64
import os
import random
import sqlite3
import sys
import tempfile
import time
import unittest
from collections import Counter, defaultdict

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
from cxdtest import Server, fault_env, set_fault  # noqa: E402
from test_api import random_response  # noqa: E402
from test_crash import Ledger, Load, stop_server  # noqa: E402
import whreceiver  # noqa: E402

KILLS = int(os.environ.get("CHAOS_KILLS", "8"))
SCHEDULE = "100ms,200ms,400ms,800ms,1s,1s,1s,1s,1s,1s"
FLAGS = ["--webhook-allow-private", "--webhook-allow-http", "--webhook-retry-schedule", SCHEDULE]
RETRY_AFTER = 1          # seconds, in the receiver's 429s
SURVEY = "chaos"
CREATED, RULED = "/created", "/rule"    # the receiver's paths of the two endpoints
DRAIN_S = float(os.environ.get("CHAOS_DRAIN_S", "420"))


class ChaosLedger(Ledger):
    """test_crash's Ledger with lighter requests (a single response 70 %, a batch of 2-10
    30 %) and a short pause between them: every response makes one or two deliveries,
    and the outbox must drain within the test's bounds."""
    pause = float(os.environ.get("CHAOS_PAUSE", "0.02"))

    def next_request(self, r, survey):
        time.sleep(self.pause)
        with self.lock:
            self.seq += 1
            n = self.seq
        if r.random() < 0.7:
            body = dict(random_response(r, survey), response_id="s%d" % n)
        else:
            body = [dict(random_response(r, survey), response_id="b%d-%d" % (n, i))
                    for i in range(r.randint(2, 10))]
        with self.lock:
            self.unsure[n] = body
        return n, body


def new_secret():
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def db_rows(db, sql, args=()):
    conn = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=30)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def outbox_states(db):
    return dict(db_rows(db, "SELECT state, count(*) FROM deliveries GROUP BY state"))


def make_endpoint(test, srv, rx, eid, path, events):
    """An endpoint at rx's path; its secret becomes the one the receiver checks."""
    st, _, ep = srv.post_json("/v1/endpoints", {"id": eid, "url": rx.url(path), "events": events,
                                               "secret": new_secret()})
    test.assertEqual(st, 201, ep)
    test.assertTrue(ep["secret"].startswith("whsec_"), ep)
    rx.set_secret(path, [ep["secret"]])
    return ep


def event_key(rec):
    """(response id, type, receiver path) of a received request."""
    b = rec.body
    return (str(b["data"]["response"]["id"]), b["type"], rec.path)


def drain(test, srv, db, endpoints, timeout=DRAIN_S):
    """Wait until the outbox has nothing pending; retry every dead delivery through the API
    (POST /v1/endpoints/{id}/retry) and wait again. Returns how many were retried."""
    retried = 0
    deadline = time.monotonic() + timeout
    while True:
        s = outbox_states(db)
        if not s.get("pending"):
            if not s.get("dead"):
                return retried
            for e in endpoints:
                st, _, r = srv.request("POST", "/v1/endpoints/%s/retry" % e)
                test.assertEqual(st, 200, r)
                retried += r["retried"]
        if time.monotonic() > deadline:
            test.fail("the outbox did not drain in %d s: %r" % (timeout, s))
        time.sleep(0.25)


class ChaosTest(unittest.TestCase):
    def test_kill_and_receiver_chaos_lose_nothing(self):
        rng = random.Random(int(os.environ.get("CHAOS_SEED", "1212")))
        tmp = tempfile.mkdtemp(prefix="cxd-it-")
        db, ctl = os.path.join(tmp, "cxd.db"), os.path.join(tmp, "fault")
        env = dict(fault_env(db, ctl), FSFAULT_POWERLOSS="1")
        rx = whreceiver.Receiver().start()
        srv = Server(db=db, tmp=tmp, env=env, args=FLAGS).start()
        key = srv.key
        self.assertEqual(srv.post_json("/v1/surveys", {"id": SURVEY, "title": "Chaos"})[0], 201)
        old_secret = make_endpoint(self, srv, rx, "created", CREATED, ["response.created"])["secret"]
        rotation = None      # (time, new secret): halfway, the secret is rotated with an overlap
        make_endpoint(self, srv, rx, "ruled", RULED, [])
        st, _, rule = srv.post_json("/v1/surveys/%s/rules" % SURVEY, {
            "id": "detractor", "name": "Detractor", "when": {"nps": {"max": 6}},
            "actions": [{"type": "webhook", "endpoint": "ruled"}]})
        self.assertEqual(st, 201, rule)

        ledger = ChaosLedger(self)
        lives = [(time.time(), None)]     # (start, end) of each life of cxd
        modes_used, kills_used = defaultdict(int), defaultdict(int)
        load = None
        try:
            for k in range(KILLS):
                if k == KILLS // 2:
                    st, _, rot = srv.post_json("/v1/endpoints/created/rotate", {"overlap_s": 3600})
                    self.assertEqual(st, 200, rot)
                    rx.set_secret(CREATED, [old_secret, rot["secret"]])
                    rotation = (time.time(), rot["secret"])
                load = Load(ledger.loader(srv, SURVEY), 4, rng).start()
                until = time.monotonic() + rng.uniform(0.5, 2.0)
                while time.monotonic() < until:     # the receiver misbehaves meanwhile
                    mode = rng.choice(["ok", "ok", "fail", "throttle", "hang", "down"])
                    rx.set_mode(mode, retry_after=RETRY_AFTER)
                    modes_used[mode] += 1
                    time.sleep(min(rng.uniform(0.1, 0.6), max(0.0, until - time.monotonic())))
                load.check(self)
                load.dying.set()
                how = rng.choice(["sigkill", "sigkill", "kill-before-sync", "kill-after-sync"])
                kills_used[how] += 1
                if how == "sigkill":
                    srv.proc.kill()
                else:
                    set_fault(ctl, how)
                    deadline = time.monotonic() + 10
                    while srv.proc.poll() is None and time.monotonic() < deadline:
                        time.sleep(0.01)
                    if srv.proc.poll() is None:   # nothing synced in 10 s: kill it anyway
                        srv.proc.kill()
                srv.wait_killed(timeout=60)
                lives[-1] = (lives[-1][0], time.time())
                load.finish(self)
                set_fault(ctl, "")
                srv = Server(db=db, tmp=tmp, key=key, env=env, args=FLAGS).start()
                lives.append((time.time(), None))
                ledger.recover(srv, db, "round %d (%s)" % (k, how))
            rx.set_mode("ok")
            t0 = time.monotonic()
            retried_dead = drain(self, srv, db, ["created", "ruled"])
            drain_s = time.monotonic() - t0
            health = {e: srv.get("/v1/endpoints/" + e)[2] for e in ("created", "ruled")}
            srv.assert_clean_exit(self)
        finally:
            if load:
                load.stop.set()
            stop_server(srv)
            rx.stop()

        ledger.assert_exactly_once(db)
        self.check_deliveries(db, ledger, rx.records(), lives)
        self.check_rotation(rx.records(CREATED), old_secret, rotation)
        for e, h in health.items():
            self.assertEqual(h["state"], "active", h)
            self.assertEqual(h["health"]["pending"], 0, h)
        print("webhook chaos: %d kills (%s), receiver modes %s, %d responses acknowledged, "
              "%d requests received, %d dead deliveries retried by the API, drained in %.1f s"
              % (KILLS, dict(kills_used), dict(modes_used), len(ledger.acked), len(rx.records()),
                 retried_dead, drain_s))

    def check_rotation(self, recs, old, rotation):
        """Before the rotation every request verifies with the old secret; after it (kills
        and restarts included), with the new secret alone and, during the overlap, with the
        old one alone too: two v1 signatures."""
        self.assertIsNotNone(rotation, "no rotation happened (CHAOS_KILLS < 1?)")
        at, new = rotation
        wrong = []
        for r in recs:
            if r.at < at - 0.5:
                want = [("old", old)]
            elif r.at > at + 0.5:
                want = [("new", new), ("old, in the overlap", old)]
            else:
                continue   # a request in flight while the rotation committed
            for name, secret in want:
                if not whreceiver.verify([secret], r.headers, r.raw, now=int(r.timestamp))[0]:
                    wrong.append((r.msg_id, name, r.signature))
        self.assertEqual(wrong[:3], [], "%d requests not signed by the secret(s) due" % len(wrong))
        self.assertTrue(any(r.at > at + 0.5 for r in recs), "nothing sent after the rotation")

    def check_deliveries(self, db, ledger, recs, lives):
        rows = {str(i): nps for i, nps in db_rows(db, "SELECT id, nps FROM responses WHERE survey = ?",
                                                  (SURVEY,))}
        expected = {(i, "response.created", CREATED) for i in rows}
        expected |= {(i, "response.matched_rule", RULED) for i, nps in rows.items()
                     if nps is not None and nps <= 6}
        self.assertTrue(set(map(str, ledger.acked.values())) <= set(rows))

        bad = [r for r in recs if not r.verified or not isinstance(r.body, dict)]
        self.assertEqual(bad, [], "%d requests failed verification or were not JSON; the first: %r"
                         % (len(bad), bad[:1]))
        ids, keys, answered = defaultdict(set), defaultdict(set), set()
        for r in recs:
            k = event_key(r)
            ids[k].add(r.msg_id)
            keys[r.msg_id].add(k)
            if r.status == 200:
                answered.add(k)
        two_ids = sorted((k, sorted(v)) for k, v in ids.items() if len(v) > 1)
        self.assertEqual(two_ids[:3], [], "%d events sent under several webhook-ids" % len(two_ids))
        two_keys = sorted((i, sorted(v)) for i, v in keys.items() if len(v) > 1)
        self.assertEqual(two_keys[:3], [], "%d webhook-ids for several events" % len(two_keys))
        uncommitted = sorted(k for k in ids if k not in expected)
        self.assertEqual(uncommitted[:10], [], "%d events sent that no committed row calls for "
                         "(or to the wrong endpoint)" % len(uncommitted))
        lost = sorted(expected - answered)
        acked = set(map(str, ledger.acked.values()))
        lost_acked = [k for k in lost if k[0] in acked]
        self.assertEqual(lost_acked[:10], [], "%d events of acknowledged responses never delivered"
                         % len(lost_acked))
        self.assertEqual(lost[:10], [], "%d events of committed (unacknowledged) responses never "
                         "delivered" % len(lost))

        # cxd's outbox: one row per event, all delivered, with the id the receiver saw
        ob = db_rows(db, "SELECT response_id, type, endpoint, msg_id, state FROM deliveries")
        path_of = {"created": CREATED, "ruled": RULED}
        mine = {(str(r), t, path_of[e]): (m, s) for r, t, e, m, s in ob}
        self.assertEqual(len(mine), len(ob), "two outbox rows for one event")
        self.assertEqual(set(mine), expected)
        self.assertEqual({k: v[1] for k, v in mine.items() if v[1] != "delivered"}, {})
        self.assertEqual({k: v[0] for k, v in mine.items() if ids[k] != {v[0]}}, {},
                         "the outbox's msg_id is not the webhook-id received")

        # Retry-After: within one life of cxd, no attempt sooner than announced
        by_id = defaultdict(list)
        for r in recs:
            by_id[r.msg_id].append(r)
        early = []
        for mid, rs in by_id.items():
            for a, b in zip(rs, rs[1:]):
                same_life = any(s <= a.at and (e is None or b.at <= e) for s, e in lives)
                if a.status == 429 and same_life and b.at - a.at < RETRY_AFTER - 0.05:
                    early.append((mid, round(b.at - a.at, 3)))
        self.assertEqual(early, [], "attempts sooner than the 429's Retry-After")
        # the payloads say what the rows say
        for r in recs[:2000]:
            d = r.body["data"]
            i = str(d["response"]["id"])
            self.assertEqual(d["response"]["nps"], rows[i], r)
            self.assertEqual(d["survey"]["id"], SURVEY, r)
            if r.body["type"] == "response.matched_rule":
                self.assertEqual(d["rule"]["id"], "detractor", r)
        dups = sum(len(rs) for rs in by_id.values()) - len(by_id)
        answers = Counter(str(r.status) if r.status else "none (%s)" % r.mode for r in recs)
        print("webhook chaos: %d events expected, %d delivered, %d requests in all (%d repeats of "
              "an id; answers %s), %d acknowledged responses, %d committed rows"
              % (len(expected), len(answered & expected), len(recs), dups, dict(answers), len(acked),
                 len(rows)))


class RetryTimingTest(unittest.TestCase):
    """Without load or kills (the chaos's backlog hides timing): a 429's Retry-After is
    waited for, and a 500 is retried after the schedule's step (+-20 %), both with the
    same webhook-id."""

    def test_retry_after_and_schedule(self):
        rx = whreceiver.Receiver().start()
        srv = Server(args=FLAGS).start()
        try:
            self.assertEqual(srv.post_json("/v1/surveys", {"id": SURVEY, "title": "Timing"})[0], 201)
            make_endpoint(self, srv, rx, "t", CREATED, ["response.created"])
            rx.set_mode("throttle", retry_after=RETRY_AFTER)
            r = random.Random(9)
            self.assertEqual(srv.post_json("/v1/responses", [random_response(r, SURVEY)
                                                              for _ in range(3)])[0], 201)
            self.assertTrue(rx.wait_for(lambda recs: len(recs) >= 9, 30), rx.records())
            rx.set_mode("fail")
            n = rx.count()
            self.assertTrue(rx.wait_for(lambda recs: len(recs) >= n + 9, 30), rx.records())
            rx.set_mode("ok")
            drain(self, srv, db=srv.db, endpoints=["t"])
            srv.assert_clean_exit(self)
        finally:
            stop_server(srv)
            rx.stop()
        by_id = defaultdict(list)
        for x in rx.records():
            by_id[x.msg_id].append(x)
        self.assertEqual(len(by_id), 3, "one webhook-id per event")
        steps = [s.strip() for s in SCHEDULE.split(",")]
        step_s = [float(s[:-2]) / 1000 if s.endswith("ms") else float(s[:-1]) for s in steps]
        early, fails, throttled = [], 0, 0
        for mid, rs in by_id.items():
            self.assertTrue(all(x.verified for x in rs))
            self.assertEqual(rs[-1].status, 200)
            for a, b in zip(rs, rs[1:]):
                gap = b.at - a.at
                throttled += a.status == 429
                if a.status == 429 and gap < RETRY_AFTER - 0.05:
                    early.append((mid, "429", round(gap, 3)))
                if a.status == 500:
                    # the attempt count includes the 429s: the step is the attempts' index
                    k = rs.index(a)
                    if gap < 0.8 * step_s[min(k, len(step_s) - 1)] - 0.02:
                        early.append((mid, "500 after attempt %d" % (k + 1), round(gap, 3)))
                    fails += 1
        self.assertEqual(early, [], "retried sooner than Retry-After or the schedule")
        self.assertGreaterEqual((throttled, fails), (6, 6), "too few retries to judge")
        print("retry timing: %d requests for 3 events" % len(rx.records()))


class GoneTest(unittest.TestCase):
    def test_410_disables_and_resume_delivers_the_held_events(self):
        rx = whreceiver.Receiver().start()
        srv = Server(args=FLAGS).start()
        db, tmp, key = srv.db, srv.tmp, srv.key
        try:
            self.assertEqual(srv.post_json("/v1/surveys", {"id": SURVEY, "title": "Gone"})[0], 201)
            make_endpoint(self, srv, rx, "g", CREATED, ["response.created"])
            rx.set_mode("gone")
            r = random.Random(5)
            st, _, reply = srv.post_json("/v1/responses", [random_response(r, SURVEY) for _ in range(30)])
            self.assertEqual(st, 201, reply)
            held = set(map(str, reply["ids"]))
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                ep = srv.get("/v1/endpoints/g")[2]
                if ep["state"] == "disabled":
                    break
                time.sleep(0.1)
            self.assertEqual(ep["state"], "disabled", ep)
            self.assertTrue(ep["state_reason"], ep)
            time.sleep(0.5)
            n = rx.count()
            self.assertGreaterEqual(n, 1)
            self.assertTrue(all(x.status == 410 for x in rx.records()))
            time.sleep(2.0)     # several retry intervals: nothing more is sent
            self.assertEqual(rx.count(), n, "attempts to a disabled endpoint")
            pending = srv.get("/v1/endpoints/g/deliveries?state=pending&limit=100")[2]["deliveries"]
            self.assertEqual({str(d["response_id"]) for d in pending}, held)

            # the state survives a SIGKILL; still nothing is sent
            srv.proc.kill()
            srv.wait_killed()
            srv = Server(db=db, tmp=tmp, key=key, args=FLAGS).start()
            self.assertEqual(srv.get("/v1/endpoints/g")[2]["state"], "disabled")
            time.sleep(1.5)
            self.assertEqual(rx.count(), n, "attempts to a disabled endpoint after a restart")

            # responses while disabled are queued and held too: a mistaken 410 loses nothing
            st, _, later = srv.post_json("/v1/responses", [random_response(r, SURVEY) for _ in range(5)])
            self.assertEqual(st, 201, later)
            queued_while_disabled = db_rows(db, "SELECT count(*) FROM deliveries WHERE response_id IN (%s)"
                                            % ",".join(map(str, later["ids"])))[0][0]
            self.assertEqual(queued_while_disabled, 5)
            held |= {str(i) for i in later["ids"]}

            rx.set_mode("ok")
            st, _, ep = srv.request("POST", "/v1/endpoints/g/resume")
            self.assertEqual((st, ep["state"]), (200, "active"), ep)
            self.assertTrue(rx.wait_for(lambda recs: held <= {event_key(x)[0] for x in recs
                                                               if x.status == 200}, 30),
                            "held events not delivered after resume")
            drain(self, srv, db, ["g"])
            srv.assert_clean_exit(self)
        finally:
            stop_server(srv)
            rx.stop()
        recs = rx.records()
        self.assertTrue(all(x.verified for x in recs))
        ids = defaultdict(set)
        for x in recs:
            ids[event_key(x)].add(x.msg_id)
        self.assertEqual([(k, v) for k, v in ids.items() if len(v) > 1][:3], [],
                         "events sent under several webhook-ids")
        print("gone: %d requests answered 410 before the endpoint was disabled, %d held events "
              "delivered after resume, %d deliveries queued for the 5 responses posted while disabled"
              % (n, len(held), queued_while_disabled))


if __name__ == "__main__":
    cxdtest.main("webhook_chaos")
