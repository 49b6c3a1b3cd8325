"""Rules (issue 12): the /v1/surveys/{id}/rules API (order, positions, validation with the
field named, the limits), and what a rule does to a new response: the deliveries it writes
in the response's own transaction (read back from the `deliveries` table), never for a
refused job or an idempotent replay, and a rule disabled or deleted stops matching at once.

Webhook endpoints belong to another part (the deliver part's API): these tests write
endpoint rows into the database file with sqlite3, as that API would.
"""
import json
import os
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
from cxdtest import Server  # noqa: E402


def add_endpoint(db, eid, events=(), surveys=None):
    """An endpoint row, as POST /v1/endpoints would write it."""
    now = int(time.time())
    with sqlite3.connect(db, timeout=30) as c:
        c.execute("INSERT INTO endpoints(id, url, events, surveys, secret, created_at, updated_at) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?)",
                  (eid, "https://hooks.example/" + eid, json.dumps(list(events)),
                   json.dumps(surveys) if surveys is not None else None,
                   "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", now, now))
    c.close()


def deliveries(db, where="1", args=()):
    """Rows of the deliveries table (read-only), oldest first, payload parsed."""
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=30)
    c.row_factory = sqlite3.Row
    rows = [dict(r) for r in c.execute("SELECT * FROM deliveries WHERE %s ORDER BY id" % where, args)]
    c.close()
    for r in rows:
        r["payload"] = json.loads(r["payload"])
    return rows


def rule(rid, when=None, actions=None, **kw):
    r = {"id": rid, "name": "Rule " + rid, "when": when if when is not None else {},
         "actions": actions if actions is not None else [{"type": "webhook", "endpoint": "support-desk"}]}
    r.update(kw)
    return r


class RulesApiTest(unittest.TestCase):
    """CRUD, order, validation and limits on one server."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server().start()
        st, _, body = cls.srv.post_json("/v1/surveys", {"id": "shop", "title": "Shop"})
        assert st == 201, body
        for i in range(20):
            add_endpoint(cls.srv.db, "ep%d" % i)
        add_endpoint(cls.srv.db, "support-desk")

    @classmethod
    def tearDownClass(cls):
        cls.srv.assert_clean_exit(unittest.TestCase())

    def setUp(self):
        self.survey = "s-" + self._testMethodName[5:][:50]
        st, _, body = self.srv.post_json("/v1/surveys", {"id": self.survey, "title": "T"})
        self.assertEqual(st, 201, body)
        self.base = "/v1/surveys/%s/rules" % self.survey

    def assert_error(self, res, status, code, field=None):
        st, _, body = res
        self.assertEqual(st, status, body)
        self.assertEqual(body["error"]["code"], code, body)
        if field is not None:
            self.assertEqual(body["error"].get("field"), field, body)

    def ids(self):
        st, _, body = self.srv.get(self.base)
        self.assertEqual(st, 200, body)
        self.assertEqual([r["position"] for r in body["rules"]], list(range(1, len(body["rules"]) + 1)))
        return [r["id"] for r in body["rules"]]

    def test_create_get_list_order(self):
        st, _, body = self.srv.post_json(self.base, rule("a", {"nps": {"max": 6}, "stages": ["purchase"]},
                                                         [{"type": "webhook", "endpoint": "support-desk"},
                                                          {"type": "case", "assignee": "payments-team"}]))
        self.assertEqual(st, 201, body)
        self.assertEqual(body["position"], 1)
        self.assertEqual(body["when"], {"nps": {"min": 0, "max": 6}, "stages": ["purchase"]})
        self.assertEqual(body["actions"][1], {"type": "case", "assignee": "payments-team"})
        self.assertIs(body["enabled"], True)
        self.assertIs(body["stop"], False)
        self.assertIsInstance(body["created_at"], int)
        for rid in ("b", "c"):
            self.assertEqual(self.srv.post_json(self.base, rule(rid))[0], 201)
        self.assertEqual(self.ids(), ["a", "b", "c"])
        st, _, body = self.srv.post_json(self.base, rule("first", position=1))
        self.assertEqual((st, body["position"]), (201, 1))
        self.assertEqual(self.ids(), ["first", "a", "b", "c"])
        st, _, body = self.srv.post_json(self.base, rule("mid", position=3))
        self.assertEqual(self.ids(), ["first", "a", "mid", "b", "c"])
        st, _, body = self.srv.get(self.base + "/mid")
        self.assertEqual((st, body["id"], body["position"]), (200, "mid", 3))
        # a read key may GET, not write
        st, _, key = self.srv.post_json("/v1/keys", {"role": "read"})
        read = {"Authorization": "Bearer " + key["secret"]}
        self.assertEqual(self.srv.get(self.base, headers=read)[0], 200)
        self.assertEqual(self.srv.get(self.base + "/mid", headers=read)[0], 200)
        self.assert_error(self.srv.post_json(self.base, rule("x"), headers=read), 403, "forbidden")
        self.assert_error(self.srv.request("DELETE", self.base + "/mid", headers=read), 403, "forbidden")

    def test_put_replaces_and_moves(self):
        for rid in "abcd":
            self.srv.post_json(self.base, rule(rid))
        st, _, body = self.srv.request("PUT", self.base + "/b", body=rule("b", {"csat": {"max": 2}}, name="B!"))
        self.assertEqual(st, 200, body)
        self.assertEqual((body["name"], body["position"], body["when"]), ("B!", 2, {"csat": {"min": 1, "max": 2}}))
        self.assertEqual(self.ids(), ["a", "b", "c", "d"])   # no position: keeps its place
        st, _, body = self.srv.request("PUT", self.base + "/a", body=dict(rule("a"), position=4))
        self.assertEqual((st, body["position"]), (200, 4))
        self.assertEqual(self.ids(), ["b", "c", "d", "a"])
        st, _, body = self.srv.request("PUT", self.base + "/d", body=dict(rule("d"), position=1))
        self.assertEqual(self.ids(), ["d", "b", "c", "a"])
        # a GET can be PUT back as it is (id, position and times included)
        st, _, got = self.srv.get(self.base + "/c")
        st, _, back = self.srv.request("PUT", self.base + "/c", body=got)
        self.assertEqual(st, 200, back)
        self.assertEqual({k: v for k, v in back.items() if k != "updated_at"},
                         {k: v for k, v in got.items() if k != "updated_at"})
        # the body's id may be left out, but not differ
        body = rule("c")
        del body["id"]
        self.assertEqual(self.srv.request("PUT", self.base + "/c", body=body)[0], 200)
        self.assert_error(self.srv.request("PUT", self.base + "/c", body=rule("zz")), 422, "id_mismatch", "id")
        # PUT of a new id creates it (last, or where asked)
        st, _, body = self.srv.request("PUT", self.base + "/e", body=rule("e"))
        self.assertEqual((st, body["position"]), (201, 5))
        self.assert_error(self.srv.request("PUT", self.base + "/f", body=dict(rule("f"), position=7)),
                          422, "invalid_position", "position")
        self.assert_error(self.srv.request("PUT", self.base + "/e", body=dict(rule("e"), position=6)),
                          422, "invalid_position", "position")
        self.assertEqual(self.ids(), ["d", "b", "c", "a", "e"])

    def test_delete_renumbers(self):
        for rid in "abc":
            self.srv.post_json(self.base, rule(rid))
        st, _, body = self.srv.request("DELETE", self.base + "/b")
        self.assertEqual((st, body), (200, {"id": "b", "deleted": True}))
        self.assertEqual(self.ids(), ["a", "c"])
        self.assert_error(self.srv.request("DELETE", self.base + "/b"), 404, "unknown_rule")
        self.assert_error(self.srv.get(self.base + "/b"), 404, "unknown_rule")

    def test_not_found_and_conflict(self):
        for method, path, body in (("GET", "/v1/surveys/nope/rules", None),
                                   ("POST", "/v1/surveys/nope/rules", rule("a")),
                                   ("GET", "/v1/surveys/nope/rules/a", None),
                                   ("PUT", "/v1/surveys/nope/rules/a", rule("a")),
                                   ("DELETE", "/v1/surveys/nope/rules/a", None)):
            with self.subTest(method=method, path=path):
                self.assert_error(self.srv.request(method, path, body=body), 404, "unknown_survey")
        self.assertEqual(self.srv.post_json(self.base, rule("a"))[0], 201)
        self.assert_error(self.srv.post_json(self.base, rule("a")), 409, "rule_exists", "id")
        self.assert_error(self.srv.post_json(self.base, rule("b", position=3)), 422, "invalid_position", "position")

    def test_validation_names_the_field(self):
        cases = [
            (rule("a", actions=[{"type": "webhook", "endpoint": "support-desk"},
                                {"type": "webhook", "endpoint": "nobody"}]),
             "unknown_endpoint", "actions[1].endpoint"),
            (rule("a", {"stages": ["purchase", "checkout"]}), "unknown_stage", "when.stages[1]"),
            (rule("a", {"nps": {"min": 9, "max": 6}}), "invalid_condition", "when.nps"),
            (rule("a", {"csat": {"max": 6}}), "invalid_condition", "when.csat.max"),
            (rule("a", {"ces": {"min": 0}}), "invalid_condition", "when.ces.min"),
            (rule("a", {"touchpoints": ["bad\tlabel"]}), "invalid_label", "when.touchpoints[0]"),
            (rule("a", {"colour": "red"}), "unknown_field", "when.colour"),
            (rule("a", actions=[]), "invalid_action", "actions"),
            (rule("a", actions=[{"type": "sms"}]), "invalid_action", "actions[0].type"),
            (rule("a bad"), "invalid_id", "id"),
            ({"id": "a", "actions": [{"type": "case"}]}, "missing_field", "name"),
            ([], "invalid_rule", None),
        ]
        for body, code, field in cases:
            with self.subTest(code=code, field=field):
                self.assert_error(self.srv.post_json(self.base, body), 422, code, field)
        self.assertEqual(self.ids(), [])
        # touchpoints, channels and segments may be any label; stages must be the survey's
        st, _, body = self.srv.post_json(self.base, rule("ok", {"stages": ["purchase", "advocacy"],
                                                                "touchpoints": ["never-seen"],
                                                                "channels": ["web"], "segments": ["smb"]}))
        self.assertEqual(st, 201, body)
        st, _, body = self.srv.request("POST", self.base, body=b"{", headers={"Content-Type": "application/json"})
        self.assertEqual((st, body["error"]["code"]), (400, "invalid_json"))

    def test_limits(self):
        """64 rules, 16 actions, 64 items per list can be reached; one more is a 422."""
        for i in range(64):
            st, _, body = self.srv.post_json(self.base, rule("r%d" % i))
            self.assertEqual(st, 201, body)
        self.assert_error(self.srv.post_json(self.base, rule("r64")), 422, "too_many_rules")
        self.assertEqual(len(self.ids()), 64)
        # replacing one of 64 is fine, and so is moving it
        st, _, body = self.srv.request("PUT", self.base + "/r63", body=dict(rule("r63"), position=1))
        self.assertEqual((st, body["position"]), (200, 1), body)
        self.assert_error(self.srv.request("PUT", self.base + "/r64", body=rule("r64")), 422, "too_many_rules")
        self.srv.request("DELETE", self.base + "/r0")
        acts = [{"type": "webhook", "endpoint": "ep%d" % i} for i in range(16)]
        st, _, body = self.srv.post_json(self.base, rule("acts", actions=acts))
        self.assertEqual((st, len(body.get("actions", []))), (201, 16), body)
        self.assert_error(self.srv.request("PUT", self.base + "/acts",
                                           body=rule("acts", actions=acts + [{"type": "case"}])),
                          422, "too_many_actions", "actions")
        for key in ("stages", "touchpoints", "channels", "segments"):
            with self.subTest(key=key):
                items = ["l%d" % i for i in range(65)]
                if key == "stages":   # the survey's stages: a repeated stage is still one of them
                    items = ["purchase"] * 65
                self.assert_error(self.srv.request("PUT", self.base + "/acts",
                                                   body=rule("acts", {key: items}, acts)),
                                  422, "too_many_items", "when." + key)
                st, _, body = self.srv.request("PUT", self.base + "/acts", body=rule("acts", {key: items[:64]}, acts))
                self.assertEqual((st, len(body["when"][key])), (200, 64), body)


class DeliveriesTest(unittest.TestCase):
    """What matching rules write, read from the deliveries table."""

    def setUp(self):
        self.srv = Server().start()
        self.db = self.srv.db
        st, _, body = self.srv.post_json("/v1/surveys", {"id": "shop", "title": "Shop floor"})
        self.assertEqual(st, 201, body)
        add_endpoint(self.db, "support-desk")
        add_endpoint(self.db, "payments")
        add_endpoint(self.db, "firehose", events=["response.created"])
        add_endpoint(self.db, "other-survey", events=["response.created"], surveys=["elsewhere"])
        self.base = "/v1/surveys/shop/rules"

    def tearDown(self):
        self.srv.assert_clean_exit(self)

    def post(self, **fields):
        resp = dict({"survey": "shop", "stage": "purchase", "touchpoint": "web"}, **fields)
        st, _, body = self.srv.post_json("/v1/responses", resp)
        self.assertIn(st, (200, 201), body)
        return body.get("id")

    def matched(self, rule_id=None):
        rows = deliveries(self.db, "type = 'response.matched_rule'")
        return [r for r in rows if rule_id is None or r["rule"] == rule_id]

    def test_matching_responses_get_deliveries(self):
        st, _, body = self.srv.post_json(self.base, rule(
            "detractor-purchase", {"nps": {"max": 6}, "stages": ["purchase"]},
            [{"type": "webhook", "endpoint": "support-desk"}, {"type": "webhook", "endpoint": "payments"},
             {"type": "case", "assignee": "payments-team"}], name="Detractor at purchase"))
        self.assertEqual(st, 201, body)
        hit = self.post(nps=6, customer="c-1", comment="card refused twice", channel="web",
                        segment="smb", attributes={"order": "42"}, submitted_at="2026-09-21T10:00:00Z")
        misses = [self.post(nps=7), self.post(nps=0, stage="awareness"), self.post(csat=1)]
        hit2 = self.post(nps=0, touchpoint="pos")
        rows = self.matched()
        self.assertEqual(sorted((r["response_id"], r["endpoint"]) for r in rows),
                         sorted((i, e) for i in (hit, hit2) for e in ("payments", "support-desk")))
        for r in rows:
            self.assertEqual((r["type"], r["rule"], r["survey"], r["state"]),
                             ("response.matched_rule", "detractor-purchase", "shop", "pending"))
            self.assertTrue(r["msg_id"].startswith("msg_"))
            self.assertEqual(r["payload"]["type"], "response.matched_rule")
        self.assertEqual(len({r["msg_id"] for r in rows}), 4)
        first = [r for r in rows if r["response_id"] == hit][0]
        self.assertEqual(first["customer"], "c-1")
        data = first["payload"]["data"]
        self.assertEqual(data["rule"], {"id": "detractor-purchase", "name": "Detractor at purchase"})
        self.assertEqual(data["survey"], {"id": "shop", "name": "Shop floor"})
        self.assertEqual((data["stage"], data["touchpoint"]), ("purchase", "web"))
        self.assertEqual(data["response"], {
            "id": hit, "survey": "shop", "stage": "purchase", "touchpoint": "web", "channel": "web",
            "segment": "smb", "customer": "c-1", "nps": 6, "csat": None, "ces": None,
            "comment": "card refused twice", "attributes": {"order": "42"}, "submitted_at": 1789984800})
        # response.created: every response, to the endpoint subscribed, not to the one
        # limited to another survey
        created = deliveries(self.db, "type = 'response.created'")
        self.assertEqual([(r["endpoint"], r["response_id"]) for r in created],
                         [("firehose", i) for i in [hit] + misses + [hit2]])
        self.assertNotIn("rule", created[0]["payload"]["data"])
        self.assertEqual(created[0]["payload"]["data"]["response"], data["response"])
        self.assertIsNone(created[0]["rule"])

    def test_refused_job_and_replay_write_nothing(self):
        self.srv.post_json(self.base, rule("all-detractors", {"nps": {"max": 6}}))
        # a batch with one refused item is refused whole: no deliveries for any of it
        st, _, body = self.srv.post_json("/v1/responses", [
            {"survey": "shop", "stage": "purchase", "touchpoint": "web", "nps": 1},
            {"survey": "shop", "stage": "purchase", "touchpoint": "web", "nps": 11}])
        self.assertEqual(st, 422, body)
        self.assertEqual(deliveries(self.db), [])
        # a refused single response: none either
        st, _, body = self.srv.post_json("/v1/responses", {"survey": "shop", "stage": "nowhere", "nps": 1})
        self.assertEqual(st, 422, body)
        self.assertEqual(deliveries(self.db), [])
        # a good batch: one delivery per matching item
        st, _, body = self.srv.post_json("/v1/responses", [
            {"survey": "shop", "stage": "purchase", "touchpoint": "web", "nps": n} for n in (1, 9, 5)])
        self.assertEqual(st, 201, body)
        self.assertEqual([r["response_id"] for r in self.matched()], [body["ids"][0], body["ids"][2]])
        # an idempotent replay writes no second delivery (nor a second response.created)
        before = len(deliveries(self.db))
        for attempt in range(3):
            st, _, b = self.srv.post_json("/v1/responses", {"survey": "shop", "stage": "purchase",
                                                            "touchpoint": "web", "nps": 2,
                                                            "response_id": "order-77"})
            self.assertEqual(st, 201 if attempt == 0 else 200, b)
        self.assertEqual(len(deliveries(self.db)), before + 2)   # matched + created, once
        self.assertEqual(len(deliveries(self.db, "response_id = ?", (b["id"],))), 2)

    def test_disabled_or_deleted_rule_stops_at_once(self):
        self.srv.post_json(self.base, rule("d", {"nps": {"max": 6}}))
        a = self.post(nps=3)
        r = rule("d", {"nps": {"max": 6}}, enabled=False)
        self.assertEqual(self.srv.request("PUT", self.base + "/d", body=r)[0], 200)
        b = self.post(nps=3)
        r["enabled"] = True
        self.srv.request("PUT", self.base + "/d", body=r)
        c = self.post(nps=3)
        self.assertEqual(self.srv.request("DELETE", self.base + "/d")[0], 200)
        d = self.post(nps=3)
        self.assertEqual([x["response_id"] for x in self.matched()], [a, c])
        self.assertEqual(len(deliveries(self.db, "type = 'response.created'")), 4)
        del b, d

    def test_order_and_stop(self):
        # "every comment goes to the support desk", after a rule that stops the walk
        self.srv.post_json(self.base, rule("comments", {"has_comment": True}))
        self.srv.post_json(self.base, rule("vip", {"segments": ["vip"]},
                                           [{"type": "webhook", "endpoint": "payments"}],
                                           stop=True, position=1))
        vip = self.post(comment="hello", segment="vip")
        plain = self.post(comment="hello")
        none = self.post(nps=3)
        got = [(r["response_id"], r["rule"], r["endpoint"]) for r in self.matched()]
        self.assertEqual(got, [(vip, "vip", "payments"), (plain, "comments", "support-desk")])
        del none

    def test_a_delivery_that_cannot_be_written_loses_the_response(self):
        """The deliveries are written in the response's transaction: when they cannot be,
        the response is not stored either (503, retry), and nothing half-written stays."""
        self.srv.post_json(self.base, rule("d", {"nps": {"max": 6}}))
        count = lambda: sqlite3.connect("file:%s?mode=ro" % self.db, uri=True).execute(
            "SELECT count(*) FROM responses").fetchone()[0]
        with sqlite3.connect(self.db, timeout=30) as c:   # only the rule's delivery is written
            c.execute("DELETE FROM endpoints WHERE events <> '[]'")
        with sqlite3.connect(self.db, timeout=30) as c:   # the outbox out of reach
            c.execute("ALTER TABLE deliveries RENAME TO deliveries_away")
        self.post(nps=9)   # no match: nothing to write, stored
        before = count()
        for body in ({"survey": "shop", "stage": "purchase", "touchpoint": "web", "nps": 2},
                     [{"survey": "shop", "stage": "purchase", "touchpoint": "web", "nps": 8},
                      {"survey": "shop", "stage": "purchase", "touchpoint": "web", "nps": 2}]):
            st, h, got = self.srv.post_json("/v1/responses", body)
            self.assertEqual(st, 503, got)
            self.assertEqual(h.get("retry-after"), "1")
        self.assertEqual(count(), before)
        with sqlite3.connect(self.db, timeout=30) as c:
            c.execute("ALTER TABLE deliveries_away RENAME TO deliveries")
        rid = self.post(nps=2)   # and the writer goes on
        self.assertEqual(count(), before + 1)
        self.assertEqual([r["response_id"] for r in self.matched()], [rid])

    def test_rules_survive_a_restart(self):
        self.srv.post_json(self.base, rule("one", {"has_customer": True}))
        self.srv.post_json(self.base, rule("two", {"csat": {"max": 2}}, position=1))
        self.srv.assert_clean_exit(self)
        self.srv.start()
        st, _, body = self.srv.get(self.base)
        self.assertEqual([r["id"] for r in body["rules"]], ["two", "one"])
        rid = self.post(customer="c-5", csat=2)
        self.assertEqual(sorted(r["rule"] for r in self.matched() if r["response_id"] == rid), ["one", "two"])


if __name__ == "__main__":
    cxdtest.main("rules")
