"""Follow-up cases over the API (issue 12, cases part): who may do what (admin, agent, read,
ingest), changes and their history, notes, the listing's filters and cursor, `case.closed`
queued in the change's transaction, erasure, /metrics, and the journey's follow-up figures
(time to first contact and to close, recovery with its Wilson interval) recomputed here
independently from the rows this test made.

The rules part opens cases from rules; until it is merged, cases are made by inserting
rows into the database file with sqlite3 while cxd runs (the store reads the file)."""
import datetime as dt
import math
import os
import sqlite3
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
from cxdtest import Server  # noqa: E402

NOW = int(time.time())
BASE = NOW - 5 * 86400          # the journey's cases open around here
Z95 = 1.959963984540054


def bearer(secret):
    return {"Authorization": "Bearer " + secret}


def rfc3339(t):
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def nearest_rank(values, p):
    v = sorted(values)
    if not v:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(v)))
    return v[rank - 1]


def wilson(k, n):
    p = k / n
    d = 1 + Z95 * Z95 / n
    c = (p + Z95 * Z95 / (2 * n)) / d
    h = Z95 * math.sqrt(p * (1 - p) / n + Z95 * Z95 / (4 * n * n)) / d
    return 100 * (c - h), 100 * (c + h)


class CasesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server().start()
        srv = cls.srv
        st, _, body = srv.post_json("/v1/surveys", {
            "id": "checkout", "title": "Checkout",
            "touchpoints": {"purchase": ["pay", "ship"], "retention": ["support"]},
            "root_causes": ["late-delivery", "card-declined"]})
        assert st == 201, body
        st, _, body = srv.post_json("/v1/surveys", {"id": "support", "title": "Support"})
        assert st == 201, body
        st, _, body = srv.post_json("/v1/surveys", {"id": "jr", "title": "Journey",
                                                    "touchpoints": {"purchase": ["pay", "ship"]}})
        assert st == 201, body
        cls.keys = {}
        for role in ("agent", "read", "ingest"):
            st, _, body = srv.post_json("/v1/keys", {"role": role, "label": role})
            assert st == 201, body
            assert body["role"] == role, body
            cls.keys[role] = body
        cls.keys["admin"] = {"secret": srv.key, "id": srv.key[4:16]}
        cls.db = sqlite3.connect(srv.db, timeout=10, isolation_level=None)

    @classmethod
    def tearDownClass(cls):
        cls.db.close()
        cls.srv.assert_clean_exit(unittest.TestCase())

    # --- helpers ---

    def as_(self, role, method, path, body=None):
        return self.srv.request(method, path, body=body, auth=False,
                                headers=bearer(self.keys[role]["secret"]))

    def respond(self, customer, nps, at, touchpoint="pay", stage="purchase", survey="checkout",
                csat=None):
        r = {"stage": stage, "touchpoint": touchpoint, "customer": customer,
             "submitted_at": rfc3339(at)}
        if nps is not None:
            r["nps"] = nps
        if csat is not None:
            r["csat"] = csat
        st, _, body = self.srv.post_json("/v1/surveys/%s/responses" % survey, r)
        self.assertEqual(st, 201, body)
        return body["id"]

    def make_case(self, customer, opened, status="open", contact=None, resolved=None,
                  closed=None, touchpoint="pay", stage="purchase", survey="checkout",
                  rule="detractor", assignee=None, response_id=None):
        cur = self.db.execute(
            "INSERT INTO cases(survey, rule, response_id, customer, stage, touchpoint, channel, "
            "status, assignee, opened_at, first_contact_at, resolved_at, closed_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, 'web', ?, ?, ?, ?, ?, ?, ?)",
            (survey, rule, response_id, customer, stage, touchpoint, status, assignee, opened,
             contact, resolved, closed, opened))
        cid = cur.lastrowid
        self.db.execute("INSERT INTO case_events(case_id, seq, at, actor, kind, to_value) "
                        "VALUES (?, 1, ?, ?, 'opened', 'open')", (cid, opened, "rule:" + rule))
        return cid

    # --- roles ---

    def test_roles(self):
        rid = self.respond("role-1", 2, NOW - 100)
        cid = self.make_case("role-1", NOW - 50, response_id=rid)
        path = "/v1/cases/%d" % cid
        for role, get, change in (("admin", 200, True), ("agent", 200, True),
                                  ("read", 200, False), ("ingest", 403, False)):
            with self.subTest(role=role):
                self.assertEqual(self.as_(role, "GET", "/v1/cases")[0], get)
                self.assertEqual(self.as_(role, "GET", path)[0], get)
                st, _, body = self.as_(role, "PATCH", path, {"assignee": role})
                self.assertEqual(st, 200 if change else 403, body)
                st, _, body = self.as_(role, "POST", path + "/notes", {"text": "by " + role})
                self.assertEqual(st, 201 if change else 403, body)
                if not change:
                    self.assertEqual(body["error"]["code"], "forbidden")
        self.assertEqual(self.srv.get("/v1/cases", auth=False)[0], 401)
        # an agent reads everything a read key reads, and administers nothing
        for method, p, body, want in (
                ("GET", "/v1/surveys/checkout/journey", None, 200),
                ("GET", "/v1/surveys/checkout/comments", None, 200),
                ("GET", "/metrics", None, 200),
                ("POST", "/v1/keys", {"role": "admin"}, 403),
                ("GET", "/v1/keys", None, 403),
                ("POST", "/v1/surveys", {"id": "x", "title": "x"}, 403),
                ("PUT", "/v1/surveys/checkout", {"title": "x"}, 403),
                ("DELETE", "/v1/customers/role-1", None, 403),
                ("POST", "/v1/surveys/checkout/responses",
                 {"stage": "purchase", "touchpoint": "pay", "nps": 1}, 403)):
            with self.subTest(method=method, path=p):
                self.assertEqual(self.as_("agent", method, p, body)[0], want)
        # (endpoints are the deliver part's routes: refused to an agent, or not yet there)
        self.assertIn(self.as_("agent", "POST", "/v1/endpoints", {"id": "x"})[0], (403, 404))
        # the history names the key that made each change
        _, _, c = self.as_("read", "GET", path)
        actors = [h["actor"] for h in c["history"] if h["kind"] == "assignee"]
        self.assertEqual(actors, [self.keys["admin"]["id"], self.keys["agent"]["id"]])
        self.assertEqual([n["author"] for n in c["notes"]],
                         [self.keys["admin"]["id"], self.keys["agent"]["id"]])
        self.assertEqual(c["assignee"], "agent")
        self.assertEqual(c["response"]["nps"], 2)
        # key roles: agent is one, others are not
        st, _, body = self.srv.post_json("/v1/keys", {"role": "superuser"})
        self.assertEqual((st, body["error"]["code"]), (422, "invalid_role"))

    # --- changes ---

    def test_lifecycle_times_and_history(self):
        cid = self.make_case("life-1", NOW - 1000)
        path = "/v1/cases/%d" % cid
        t0 = int(time.time())
        st, _, c = self.as_("agent", "PATCH", path, {"status": "contacted", "assignee": "ana"})
        self.assertEqual(st, 200, c)
        self.assertEqual((c["status"], c["assignee"]), ("contacted", "ana"))
        self.assertGreaterEqual(c["first_contact_at"], t0)
        self.assertIsNone(c["closed_at"])
        first = c["first_contact_at"]
        st, _, c = self.as_("agent", "PATCH", path, {"status": "resolved",
                                                     "root_cause": "late-delivery"})
        self.assertEqual((st, c["status"], c["root_cause"]), (200, "resolved", "late-delivery"))
        self.assertGreaterEqual(c["resolved_at"], first)
        st, _, c = self.as_("agent", "PATCH", path, {"status": "closed"})
        self.assertEqual(st, 200, c)
        self.assertGreaterEqual(c["closed_at"], c["resolved_at"])
        self.assertEqual(c["age_s"], c["closed_at"] - c["opened_at"])
        st, _, c = self.as_("agent", "PATCH", path, {"status": "open"})   # reopened
        self.assertEqual(st, 200, c)
        self.assertIsNone(c["closed_at"])
        self.assertEqual(c["first_contact_at"], first)   # only the first time
        st, _, c = self.as_("agent", "PATCH", path, {"assignee": None, "root_cause": None})
        self.assertEqual((st, c["assignee"], c["root_cause"]), (200, None, None))
        _, _, c = self.as_("read", "GET", path)
        got = [(h["kind"], h["from"], h["to"]) for h in c["history"]]
        self.assertEqual(got, [
            ("opened", None, "open"),
            ("status", "open", "contacted"), ("assignee", None, "ana"),
            ("status", "contacted", "resolved"), ("root_cause", None, "late-delivery"),
            ("status", "resolved", "closed"),
            ("status", "closed", "open"),
            ("assignee", "ana", None), ("root_cause", "late-delivery", None)])
        # a change to nothing new records nothing
        self.as_("agent", "PATCH", path, {"status": "open"})
        _, _, c2 = self.as_("read", "GET", path)
        self.assertEqual(len(c2["history"]), len(c["history"]))

    def test_bad_changes(self):
        cid = self.make_case("bad-1", NOW - 10)
        path = "/v1/cases/%d" % cid
        for body, code in (({"state": "open"}, "unknown_field"),
                           ({"status": "reopened"}, "invalid_status"),
                           ({"status": 3}, "invalid_status"),
                           ({"assignee": ""}, "invalid_assignee"),
                           ({"assignee": "x" * 65}, "invalid_assignee"),
                           ({"assignee": "a\nb"}, "invalid_assignee"),
                           ({"root_cause": "weather"}, "unknown_root_cause"),
                           ([1], "invalid_case_change")):
            with self.subTest(body=body):
                st, _, b = self.as_("agent", "PATCH", path, body)
                self.assertEqual((st, b["error"]["code"]), (422, code), b)
        st, _, b = self.srv.request("PATCH", path, body=b"{nope",
                                    headers={"Content-Type": "application/json"})
        self.assertEqual((st, b["error"]["code"]), (400, "invalid_json"))
        for p in ("/v1/cases/999999", "/v1/cases/abc", "/v1/cases/-1", "/v1/cases/0"):
            with self.subTest(path=p):
                self.assertEqual(self.as_("agent", "PATCH", p, {"status": "open"})[0], 404)
                self.assertEqual(self.as_("read", "GET", p)[0], 404)
        _, _, c = self.as_("read", "GET", path)
        self.assertEqual(c["status"], "open")
        self.assertEqual(len(c["history"]), 1)   # nothing of the refused changes

    def test_reopen_conflict(self):
        old = self.make_case("conf-1", NOW - 500, status="closed", closed=NOW - 400)
        new = self.make_case("conf-1", NOW - 300)
        other_rule = self.make_case("conf-1", NOW - 450, status="closed", closed=NOW - 420,
                                    rule="promoter")
        st, _, b = self.as_("agent", "PATCH", "/v1/cases/%d" % old, {"status": "contacted"})
        self.assertEqual((st, b["error"]["code"]), (409, "case_conflict"), b)
        # another rule's case is no conflict; other fields of a closed case may change
        self.assertEqual(self.as_("agent", "PATCH", "/v1/cases/%d" % other_rule,
                                  {"status": "open"})[0], 200)
        self.assertEqual(self.as_("agent", "PATCH", "/v1/cases/%d" % old,
                                  {"assignee": "bo"})[0], 200)
        self.assertEqual(self.as_("agent", "PATCH", "/v1/cases/%d" % new,
                                  {"status": "closed"})[0], 200)
        self.assertEqual(self.as_("agent", "PATCH", "/v1/cases/%d" % old,
                                  {"status": "contacted"})[0], 200)

    def test_case_closed_is_queued_with_the_change(self):
        self.db.execute("INSERT OR IGNORE INTO endpoints(id, url, events, secret, created_at, "
                        "updated_at) VALUES ('desk', 'https://desk.example/h', "
                        "'[\"case.closed\"]', 'whsec_dGVzdA==', 1, 1)")
        rid = self.respond("close-1", 1, NOW - 90)
        cid = self.make_case("close-1", NOW - 60, response_id=rid)

        def queued():
            return self.db.execute("SELECT count(*) FROM deliveries WHERE type = 'case.closed' "
                                   "AND case_id = ?", (cid,)).fetchone()[0]
        self.assertEqual(self.as_("agent", "PATCH", "/v1/cases/%d" % cid,
                                  {"status": "resolved"})[0], 200)
        self.assertEqual(queued(), 0)
        self.assertEqual(self.as_("agent", "PATCH", "/v1/cases/%d" % cid,
                                  {"status": "closed"})[0], 200)
        self.assertEqual(queued(), 1)
        payload = self.db.execute("SELECT json_extract(payload, '$.data.case.status'), "
                                  "json_extract(payload, '$.data.response.id'), "
                                  "json_extract(payload, '$.data.response.customer'), endpoint, "
                                  "response_id FROM deliveries WHERE case_id = ?",
                                  (cid,)).fetchone()
        self.assertEqual(payload, ("closed", rid, "close-1", "desk", rid))
        self.as_("agent", "PATCH", "/v1/cases/%d" % cid, {"status": "closed"})   # no change
        self.assertEqual(queued(), 1)

    # --- notes ---

    def test_notes(self):
        cid = self.make_case("note-1", NOW - 10)
        path = "/v1/cases/%d/notes" % cid
        st, _, n = self.as_("agent", "POST", path, {"text": "called, no answer"})
        self.assertEqual(st, 201, n)
        self.assertEqual((n["author"], n["text"]), (self.keys["agent"]["id"], "called, no answer"))
        self.assertEqual(self.as_("agent", "POST", path, {"text": "\u20ac" * 4000})[0], 201)
        for body, code in (({"text": ""}, "invalid_note"), ({"text": "x" * 4001}, "invalid_note"),
                           ({"text": 5}, "invalid_note"), ({}, "invalid_note"),
                           ({"text": "x", "at": 1}, "unknown_field")):
            with self.subTest(body=str(body)[:40]):
                st, _, b = self.as_("agent", "POST", path, body)
                self.assertEqual((st, b["error"]["code"]), (422, code))
        self.assertEqual(self.as_("agent", "POST", "/v1/cases/999999/notes", {"text": "x"})[0], 404)
        _, _, c = self.as_("read", "GET", "/v1/cases/%d" % cid)
        self.assertEqual([x["text"][:6] for x in c["notes"]], ["called", "\u20ac" * 6])
        # at most 1000 notes per case
        self.db.execute("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s "
                        "WHERE i < 998) INSERT INTO case_events(case_id, seq, at, actor, kind, "
                        "note) SELECT ?, 100 + i, 1, 'x', 'note', 'n' FROM s", (cid,))
        st, _, b = self.as_("agent", "POST", path, {"text": "one too many"})
        self.assertEqual((st, b["error"]["code"]), (422, "too_many_notes"))

    def test_concurrent_notes_while_ingesting(self):
        """Notes and changes on connections of their own, beside the writer under load: every
        one lands once, none waits forever or fails."""
        cid = self.make_case("busy-1", NOW - 10)
        results, errors = [], []

        def agent(n):
            conn = self.srv.conn()
            for i in range(10):
                st, _, b = self.srv.request("POST", "/v1/cases/%d/notes" % cid, conn=conn,
                                            body={"text": "t%d-%d" % (n, i)}, auth=False,
                                            headers=bearer(self.keys["agent"]["secret"]))
                results.append(st)
                st, _, b = self.srv.request("PATCH", "/v1/cases/%d" % cid, conn=conn,
                                            body={"assignee": "a%d" % n}, auth=False,
                                            headers=bearer(self.keys["agent"]["secret"]))
                results.append(st)
            conn.close()

        def ingest():
            try:
                for i in range(100):
                    self.respond("busy-%d" % (i % 7), i % 11, NOW - i)
            except AssertionError as e:
                errors.append(e)
        threads = [threading.Thread(target=agent, args=(n,)) for n in range(4)]
        threads.append(threading.Thread(target=ingest))
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        self.assertTrue(all(r in (200, 201) for r in results), results)
        self.assertEqual(len(results), 80)
        _, _, c = self.as_("read", "GET", "/v1/cases/%d" % cid)
        self.assertEqual(sorted(n["text"] for n in c["notes"]),
                         sorted("t%d-%d" % (n, i) for n in range(4) for i in range(10)))

    def test_redacted_comment_leaves_the_case(self):
        rid = self.srv.post_json("/v1/surveys/checkout/responses", {
            "stage": "purchase", "touchpoint": "pay", "nps": 0, "customer": "redact-1",
            "comment": "call me on 555-0100"})[2]["id"]
        cid = self.make_case("redact-1", NOW - 5, response_id=rid)
        _, _, c = self.as_("read", "GET", "/v1/cases/%d" % cid)
        self.assertEqual(c["response"]["comment"], "call me on 555-0100")
        st, _, b = self.srv.request("DELETE", "/v1/responses/%d/comment" % rid)
        self.assertEqual(st, 200, b)
        _, _, c = self.as_("read", "GET", "/v1/cases/%d" % cid)
        self.assertEqual((c["status"], c["response"]["comment"], c["response"]["nps"]),
                         ("open", None, 0))

    # --- listing ---

    def test_listing_filters_and_cursor(self):
        made = []
        for i in range(25):
            status = ("open", "contacted", "resolved", "closed")[i % 4]
            made.append(self.make_case(
                "list-%d" % i, NOW - 1000 + (i // 2) * 10, status=status, survey="support",
                touchpoint="chat" if i % 3 else "phone", stage="retention",
                assignee="team-a" if i % 2 else None,
                contact=NOW if status != "open" else None,
                closed=NOW if status == "closed" else None))
        self.assertGreater(len(made), 0)
        rows = {r[0]: r for r in self.db.execute(
            "SELECT id, opened_at, status, touchpoint, assignee FROM cases WHERE survey = "
            "'support'")}
        newest_first = sorted(rows, key=lambda i: (rows[i][1], i), reverse=True)
        seen, after = [], None
        pages = 0
        while True:
            qs = "/v1/cases?survey=support&limit=7" + ("&after=" + after if after else "")
            st, _, body = self.as_("read", "GET", qs)
            self.assertEqual(st, 200, body)
            self.assertLessEqual(len(body["cases"]), 7)
            seen += [c["id"] for c in body["cases"]]
            pages += 1
            after = body["next"]
            if not after:
                break
        self.assertEqual(seen, newest_first)
        self.assertEqual(pages, 4)
        for qs, want in (
                ("status=open,contacted", lambda r: r[2] in ("open", "contacted")),
                ("status=closed", lambda r: r[2] == "closed"),
                ("touchpoint=phone", lambda r: r[3] == "phone"),
                ("assignee=team-a", lambda r: r[4] == "team-a"),
                ("older_than_s=950", lambda r: r[1] <= NOW - 950),
                ("newer_than_s=945", lambda r: r[1] >= NOW - 945),
                ("stage=retention&status=resolved", lambda r: r[2] == "resolved")):
            with self.subTest(qs=qs):
                st, _, body = self.as_("read", "GET", "/v1/cases?survey=support&limit=500&" + qs)
                self.assertEqual(st, 200, body)
                got = [c["id"] for c in body["cases"]]
                # (older/newer: the server's clock moved on a little since NOW)
                self.assertEqual(got, [i for i in newest_first if want(rows[i])], qs)
                self.assertIsNone(body["next"])
        st, _, body = self.as_("read", "GET", "/v1/cases?survey=support")
        self.assertEqual(len(body["cases"]), len(rows))   # default limit 100 (all, here)
        for qs, code in (("status=bogus", "invalid_status"), ("status=", "invalid_status"),
                         ("limit=0", "invalid_limit"), ("limit=501", "invalid_limit"),
                         ("limit=x", "invalid_limit"), ("after=xyz", "invalid_cursor"),
                         ("after=1.0", "invalid_cursor"), ("older_than_s=-1", "invalid_age"),
                         ("newer_than_s=1e3", "invalid_age"), ("touchpoint=%0A", "invalid_label"),
                         ("survey=a%20b", "invalid_id"), ("stage=", "invalid_stage"),
                         ("assignee=" + "x" * 65, "invalid_label"),
                         ("sort=age", "unknown_parameter")):
            with self.subTest(qs=qs):
                st, _, body = self.as_("read", "GET", "/v1/cases?" + qs)
                self.assertEqual((st, body["error"]["code"]), (422, code))

    # --- erasure ---

    def test_erasure_deletes_cases(self):
        rid = self.respond("erase-1", 0, NOW - 30)
        cid = self.make_case("erase-1", NOW - 20, response_id=rid)
        self.as_("agent", "POST", "/v1/cases/%d/notes" % cid, {"text": "private"})
        st, _, body = self.srv.request("DELETE", "/v1/customers/erase-1")
        self.assertEqual(st, 200, body)
        self.assertEqual(self.as_("read", "GET", "/v1/cases/%d" % cid)[0], 404)
        self.assertEqual(self.db.execute("SELECT count(*) FROM case_events WHERE case_id = ?",
                                         (cid,)).fetchone()[0], 0)

    # --- metrics ---

    def test_metrics(self):
        self.make_case("metric-1", NOW - 10, survey="support", rule="metrics")
        counts = dict(self.db.execute("SELECT status, count(*) FROM cases GROUP BY status"))
        _, _, text = self.as_("read", "GET", "/metrics")
        for status in ("open", "contacted", "resolved"):
            self.assertIn('cxd_cases_open{status="%s"} %d\n' % (status, counts.get(status, 0)),
                          text)
        closed = self.db.execute("SELECT count(*), sum(closed_at - opened_at) FROM cases WHERE "
                                 "status = 'closed'").fetchone()
        self.assertIn("cxd_case_time_to_close_seconds_count %d\n" % closed[0], text)
        self.assertIn("cxd_case_time_to_close_seconds_sum %d\n" % (closed[1] or 0), text)

    # --- the journey's figures, recomputed ---

    def test_journey_figures(self):
        # the survey "checkout", stage purchase: cases opened around BASE
        facts = []   # (touchpoint, customer, status, opened, contact, closed)

        def case(cust, tp, opened, contact=None, closed=None):
            status = "closed" if closed else ("contacted" if contact else "open")
            rid = self.respond(cust, 1, opened - 60, touchpoint=tp, survey="jr")
            self.make_case(cust, opened, status=status, contact=contact, closed=closed,
                           touchpoint=tp, response_id=rid, rule="journey", survey="jr")
            facts.append((tp, cust, status, opened, contact, closed))

        # (closed earlier, same customer and cell: the most recent closed case counts)
        case("j-a", "pay", BASE, BASE + 50, BASE + 500)
        case("j-b", "pay", BASE + 10, BASE + 40, BASE + 1000)
        case("j-c", "pay", BASE + 20, BASE + 320, BASE + 3620)
        case("j-d", "pay", BASE + 30, BASE + 90, BASE + 7230)
        case("j-f", "pay", BASE + 40, BASE + 1040)
        case("j-g", "pay", BASE + 50)
        case("j-e", "ship", BASE + 60, BASE + 660, BASE + 86460)
        case("j-a", "ship", BASE + 70, BASE + 100, BASE + 400)
        # a second, later closed case of j-a at pay (another rule: both may exist)
        rid = self.respond("j-a", 1, BASE + 600, survey="jr")
        self.make_case("j-a", BASE + 700, status="closed", contact=BASE + 800, closed=BASE + 2000,
                       response_id=rid, rule="journey-2", survey="jr")
        facts.append(("pay", "j-a", "closed", BASE + 700, BASE + 800, BASE + 2000))
        # a case outside the period, and one of another survey: not counted
        self.make_case("j-old", BASE - 40 * 86400, status="closed", contact=BASE - 40 * 86400 + 5,
                       closed=BASE - 40 * 86400 + 10, survey="jr")
        self.make_case("j-b", BASE + 5, status="closed", closed=BASE + 6, survey="support",
                       touchpoint="pay")
        # answers after the cases closed (over the API, as customers would)
        self.respond("j-a", 3, BASE + 1000, survey="jr")          # after case 1 (500), before case 2 (2000)
        self.respond("j-a", 9, BASE + 2500, survey="jr")          # after case 2: recovered
        self.respond("j-b", None, BASE + 1100, csat=5, survey="jr")   # no NPS: not an answer here
        self.respond("j-b", 5, BASE + 1200, survey="jr")          # not recovered
        self.respond("j-b", 10, BASE + 1300, survey="jr")         # (only the first answer counts)
        self.respond("j-d", 10, BASE + 7000, survey="jr")         # before its close: does not count
        self.respond("j-d", 7, BASE + 8000, survey="jr")          # passive: recovered
        self.respond("j-e", 10, BASE + 90000, survey="jr")        # ship: recovered
        self.respond("j-a", 4, BASE + 450, touchpoint="ship", survey="jr")   # ship case of j-a: closed
        #                                              at 400, then 4: not recovered
        # j-c never answers again

        answers = {}
        for cust, nps, at in self.db.execute(
                "SELECT customer, nps, submitted_at FROM responses WHERE survey = 'jr' "
                "AND nps IS NOT NULL ORDER BY submitted_at, id"):
            answers.setdefault(cust, []).append((at, nps))

        def expected(rows):
            to_contact = [c - o for _, _, _, o, c, _ in rows if c]
            to_close = [x - o for _, _, s, o, _, x in rows if s == "closed"]
            latest = {}
            for _, cust, s, _, _, x in rows:
                if s == "closed" and (cust not in latest or x > latest[cust]):
                    latest[cust] = x
            n = k = 0
            for cust, x in latest.items():
                later = [v for at, v in answers.get(cust, []) if at > x]
                if later:
                    n += 1
                    k += later[0] >= 7
            rec = {"n": n, "recovered": k}
            if n:
                rec["share"] = round(100.0 * k / n, 2)
                rec["ci95"] = [round(v, 2) for v in wilson(k, n)]
            return {"opened": len(rows), "contacted": len(to_contact),
                    "closed": len(to_close),
                    "time_to_first_contact_s": {"n": len(to_contact),
                                                "median": nearest_rank(to_contact, 50),
                                                "p90": nearest_rank(to_contact, 90)},
                    "time_to_close_s": {"n": len(to_close), "median": nearest_rank(to_close, 50),
                                        "p90": nearest_rank(to_close, 90)},
                    "recovery": rec}

        frm = dt.datetime.fromtimestamp(BASE - 86400, dt.timezone.utc).date().isoformat()
        to = (dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=1)).isoformat()
        st, _, body = self.as_("read", "GET", "/v1/surveys/jr/journey?from=%s&to=%s" % (frm, to))
        self.assertEqual(st, 200, body)
        stage = next(s for s in body["stages"] if s["stage"] == "purchase")
        checks = [("stage", stage["cases"], facts)]
        for tp in stage["touchpoints"]:
            checks.append((tp["touchpoint"], tp["cases"],
                           [f for f in facts if f[0] == tp["touchpoint"]]))
        for name, got, rows in checks:
            want = expected(rows)
            with self.subTest(cell=name):
                got = dict(got)
                rec = got.pop("recovery")
                wrec = want.pop("recovery")
                self.assertEqual(got, want)
                self.assertEqual((rec["n"], rec["recovered"]), (wrec["n"], wrec["recovered"]))
                self.assertAlmostEqual(rec["share"], wrec["share"], places=2)
                self.assertAlmostEqual(rec["ci95"][0], wrec["ci95"][0], places=2)
                self.assertAlmostEqual(rec["ci95"][1], wrec["ci95"][1], places=2)
        # the journey's own rows, by hand: pay has j-a (most recent: 9 after 2000),
        # j-b (5), j-d (7) answering again -> 2 of 3; ship: j-e (10), j-a (4) -> 1 of 2
        pay = next(t for t in stage["touchpoints"] if t["touchpoint"] == "pay")["cases"]
        ship = next(t for t in stage["touchpoints"] if t["touchpoint"] == "ship")["cases"]
        self.assertEqual((pay["opened"], pay["contacted"], pay["closed"]), (7, 6, 5))
        self.assertEqual((pay["recovery"]["n"], pay["recovery"]["recovered"]), (3, 2))
        self.assertEqual((ship["recovery"]["n"], ship["recovery"]["recovered"]), (2, 1))
        # stage: j-a's most recent closed case there is pay's (2000) -> 9; so 3 of 4
        self.assertEqual((stage["cases"]["recovery"]["n"],
                          stage["cases"]["recovery"]["recovered"]), (4, 3))
        # a stage without cases says so with zeros and nulls
        ret = next(s for s in body["stages"] if s["stage"] == "awareness")["cases"]
        self.assertEqual((ret["opened"], ret["time_to_close_s"]["median"], ret["recovery"]["share"]),
                         (0, None, None))


class RuleOpensCasesTest(unittest.TestCase):
    """The rules part and the cases part together, over HTTP: a rule's case action opens
    one case per customer and rule while one is not closed, one per response without a
    customer, none for a response that does not match; closing lets the next detractor
    open a new one. Mutations this catches: loop.c skipping case actions; the
    one-open-case check dropped (a second case for c-1); assignee not taken from the
    action."""

    def test_rule_case_action(self):
        srv = Server().start()
        st, _, body = srv.post_json("/v1/surveys", {"id": "shop", "title": "Shop",
                                                    "touchpoints": {"purchase": ["pay"], "advocacy": ["review"]}})
        self.assertEqual(st, 201, body)
        st, _, body = srv.post_json("/v1/surveys/shop/rules", {
            "id": "detractor-purchase", "name": "Detractor at purchase",
            "when": {"nps": {"max": 6}, "stages": ["purchase"]},
            "actions": [{"type": "case", "assignee": "payments-team"}]})
        self.assertEqual(st, 201, body)

        def post(nps, customer=None, stage="purchase", tp="pay"):
            r = {"survey": "shop", "stage": stage, "touchpoint": tp, "nps": nps, "comment": "n%d" % nps}
            if customer:
                r["customer"] = customer
            st, _, body = srv.post_json("/v1/responses", r)
            self.assertEqual(st, 201, body)
            return body["id"]

        first = post(3, "c-1")
        post(5, "c-1")                      # c-1 already has an open case of this rule
        post(9, "c-2")                      # a promoter: no case
        post(2, "c-3", "advocacy", "review")  # another stage: no case
        anon = [post(0), post(6)]           # no customer: a case each
        st, _, body = srv.get("/v1/cases?survey=shop")
        self.assertEqual(st, 200, body)
        cases = body["cases"]
        self.assertEqual(sorted((c["customer"], c["response_id"]) for c in cases if c["customer"]),
                         [("c-1", first)])
        self.assertEqual(sorted(c["response_id"] for c in cases if not c["customer"]), sorted(anon))
        self.assertTrue(all(c["assignee"] == "payments-team" and c["rule"] == "detractor-purchase"
                            and c["status"] == "open" for c in cases), cases)
        c1 = next(c for c in cases if c["customer"] == "c-1")
        self.assertEqual((c1["stage"], c1["touchpoint"], c1["response"]["nps"]), ("purchase", "pay", 3))
        st, _, full = srv.get("/v1/cases/%d" % c1["id"])
        self.assertEqual([h["kind"] for h in full["history"]][:2], ["opened", "response"], full["history"])
        st, _, body = srv.request("PATCH", "/v1/cases/%d" % c1["id"], body={"status": "closed"})
        self.assertEqual(st, 200, body)
        again = post(1, "c-1")              # closed: the next detractor opens a new case
        st, _, body = srv.get("/v1/cases?survey=shop&status=open")
        self.assertIn(again, [c["response_id"] for c in body["cases"] if c["customer"] == "c-1"])
        srv.assert_clean_exit(self)


if __name__ == "__main__":
    cxdtest.main("cases")
