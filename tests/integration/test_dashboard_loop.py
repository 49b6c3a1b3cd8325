"""The dashboard's part of closing the loop (issue 12, item 7), in a real browser.

cxd runs on a small survey; follow-up cases are seeded as rows of the `cases` table
(schema/010_loop.sql) with known ages and statuses, two webhook endpoints are made over
the API (one paused). tests/browser/loop.mjs drives Debian's headless Chromium at 390 and
1400 px with an agent, a read and an admin key and reports what the page showed and did;
the tests here hold those facts against the API:

- the cases beside the comments: every case that is not closed, in the API's order, with
  its age in words ("3 h", "2 d"), status, assignee, customer, score and comment; paged by
  the API's cursor; a heat-map touchpoint narrows them;
- an agent key marks a case contacted (keyboard) and then closed (mouse): the row changes,
  and the API has the case closed with both changes in its history by that key; a change
  the server refuses is shown in words on its row;
- a read key sees the cases with no buttons and a reason in words; the server refuses its
  PATCH; every key's role is asked of GET /v1/keys/self once per page load;
- an admin key sees the endpoints' health, the paused one as paused with its reason and
  the API's counts; no other key sees the panel, nor asks for the endpoints;
- at 360 and 1920 px too, the agent's and the admin's page fit and pass axe;
- axe-core (WCAG 2.1 A and AA) finds nothing, no horizontal scroll, no CSP violation,
  nothing on the console and no refused request for any key (read, agent, admin, first
  visit and reload alike; only the agent's deliberate 404 PATCH), layout shift under 0.1.

Mutations tried, one at a time, each caught by its own test and no other: hours shown up
to 3 days ("50 h", test_cases_listed_with_age_and_status and test_cases_page_on; the read
key's list too); buttons for every key (test_read_key_cannot_change_cases); a changed row
drawn from the old case, not the server's answer (test_agent_marks_contacted_then_closed);
every endpoint drawn as active (test_admin_sees_endpoint_health). Run against wp/dash
merged with wp/cases and wp/deliver, under ASan and UBSan.

Screenshots: CX_SCREENSHOT names the desktop agent view; the same name with -phone, -read,
-admin, -admin-phone, -read-phone beside it, and the cards alone: -cases, -cases-phone,
-endpoints, -endpoints-phone.
"""
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import cxdtest  # noqa: E402
from cxdtest import Server  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER = os.path.join(HERE, "..", "browser")
SCRIPT = os.path.join(BROWSER, "loop.mjs")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NODE = shutil.which("node")
SHOT = os.environ.get("CX_SCREENSHOT", os.path.join(tempfile.gettempdir(), "cxd-dashboard-loop.png"))
WIDTHS = (390, 1400)      # every step
LAYOUT = (360, 1920)      # the agent's and the admin's page, measured and audited
TOUCH = {"purchase": ["web-checkout", "phone"], "delivery": ["courier", "locker"]}
PAGE = 8   # the page's cases per page
H, D = 3600, 86400
# (age at the start in seconds, status, assignee): ages sit mid-hour or mid-day, so that
# their words hold however long the test takes
SEEDS = [(3 * H + 600, "open", "payments-team"), (2 * D + 3 * H, "open", None),
         (12 * D + H, "contacted", "support"), (5 * H + 900, "resolved", "payments-team"),
         (D + 2 * H, "open", "support"), (6 * D + 5 * H, "contacted", None),
         (20 * H + 600, "open", "payments-team"), (4 * D + 2 * H, "resolved", "support"),
         (2 * H + 600, "open", None), (9 * D + H, "open", "payments-team"),
         (3 * D + H, "contacted", "support"), (30 * D + H, "open", None),
         (7 * H + 900, "closed", "support"), (15 * D + 3 * H, "open", "payments-team")]
STATUS = {"open": "Open", "contacted": "Contacted", "resolved": "Resolved", "closed": "Closed"}


def age_words(s):
    """The page's rule: whole seconds, minutes, hours or days, rounded down."""
    s = max(0, int(s))
    return ("%d s" % s if s < 60 else "%d min" % (s // 60) if s < H else
            "%d h" % (s // H) if s < D else "%d d" % (s // D))


def run_job(job):
    """loop.mjs's report for one job."""
    run = subprocess.run([NODE, SCRIPT, json.dumps(job)], capture_output=True, text=True,
                         timeout=600, cwd=BROWSER, env=dict(os.environ, CHROMIUM=CHROMIUM))
    try:
        return json.loads(run.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise RuntimeError("loop.mjs at %d px gave no report (exit %d):\n%s\n%s" % (
            job["width"], run.returncode, run.stdout[-2000:], run.stderr[-4000:]))


def shot(suffix):
    return re.sub(r"(\.png)?$", suffix + ".png", SHOT, count=1)


class DashboardLoopTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = [what for what, ok in (("chromium (apt-get install chromium)", CHROMIUM),
                                         ("node (apt-get install nodejs npm)", NODE),
                                         ("tests/browser/node_modules (npm ci --prefix tests/browser)",
                                          os.path.isdir(os.path.join(BROWSER, "node_modules"))))
                   if not ok]
        if missing:   # test.sh installs all three; without them this is a failure, not a skip
            raise RuntimeError("the dashboard test needs " + ", ".join(missing))
        flags = ["--webhook-allow-private", "--webhook-allow-http"]
        srv = Server(args=flags).start()
        st, _, body = srv.post_json("/v1/surveys", {"id": "shop", "title": "Shop", "stages": list(TOUCH),
                                                    "touchpoints": TOUCH, "channels": ["web", "store"]})
        assert st == 201, body
        st, _, body = srv.post_json("/v1/surveys", {"id": "other", "title": "Other"})
        assert st == 201, body
        cls.responses = cls.post_responses(srv)
        cls.keys = {"admin": srv.key}
        for role in ("read", "agent"):
            st, _, k = srv.post_json("/v1/keys", {"role": role, "label": "dashboard loop test"})
            assert st == 201, k
            cls.keys[role] = k["secret"]
            cls.keys[role + "_id"] = k["id"]
        # two endpoints on a port nobody listens on: one active (failing, below), one paused
        for e in ({"id": "support-desk", "url": "http://127.0.0.1:9/hooks/cxd", "description": "the help desk",
                   "events": ["case.opened"]},
                  {"id": "referrals", "url": "http://127.0.0.1:9/referrals", "events": ["response.matched_rule"],
                   "surveys": ["shop"]}):
            st, _, body = srv.post_json("/v1/endpoints", e)
            assert st == 201, body
        st, _, body = srv.request("POST", "/v1/endpoints/referrals/pause")
        assert st == 200 and body["state"] == "paused", body
        # the cases, written into the stopped server's database as the rules part would
        srv.stop()
        cls.now = int(time.time())
        cls.case_ids = cls.seed_cases(srv.db)
        cls.srv = Server(db=srv.db, tmp=srv.tmp, key=srv.key, args=flags).start()
        # a test event to the active endpoint: refused, so it is failing with one pending
        st, _, body = cls.srv.request("POST", "/v1/endpoints/support-desk/test")
        assert st == 201, body
        deadline = time.monotonic() + 30
        while not cls.srv.get("/v1/endpoints/support-desk")[2]["health"]["failing"]:
            assert time.monotonic() < deadline, "the test delivery was never tried"
            time.sleep(0.1)
        cls.runs = {}
        for i, w in enumerate(WIDTHS):
            cls.runs[w] = cls.browse(w, cls.case_ids["work"][i])
        cls.layout = {w: run_job({"base": "http://127.0.0.1:%d" % cls.srv.port, "width": w, "keys": cls.keys,
                                  "only": ["agent", "admin"]}) for w in LAYOUT}

    @classmethod
    def tearDownClass(cls):
        cls.srv.assert_clean_exit(unittest.TestCase())

    @classmethod
    def post_responses(cls, srv):
        """One detractor with a comment and a customer per seeded case (shop), a few
        passives and promoters, and one detractor of another survey; their ids in order."""
        rows, stages = [], [(s, t) for s in TOUCH for t in TOUCH[s]]
        for i, _ in enumerate(SEEDS):
            s, t = stages[i % len(stages)]
            rows.append({"survey": "shop", "stage": s, "touchpoint": t, "nps": i % 7, "channel": "web",
                         "customer": "cust-%03d" % i, "comment": "Comment %d: the parcel came late at %s." % (i, t)})
        for i in range(10):
            s, t = stages[i % len(stages)]
            rows.append({"survey": "shop", "stage": s, "touchpoint": t, "nps": 7 + i % 4, "channel": "store"})
        rows.append({"survey": "other", "stage": "purchase", "touchpoint": "phone", "nps": 1,
                     "customer": "cust-other", "comment": "another survey"})
        st, _, body = srv.post_json("/v1/responses", rows)
        assert st == 201, body
        return [dict(r, id=i) for r, i in zip(rows, body["ids"])]

    @classmethod
    def seed_cases(cls, db):
        """Rows of `cases` (and their `opened` event): SEEDS for shop, one for the other
        survey; the ids, and the two open cases the agent works (one per width)."""
        con = sqlite3.connect(db)
        ids = []
        with con:
            for (age, status, assignee), r in zip(SEEDS, cls.responses):
                opened = cls.now - age
                done = {"contacted": ("first_contact_at",), "resolved": ("first_contact_at", "resolved_at"),
                        "closed": ("first_contact_at", "resolved_at", "closed_at")}.get(status, ())
                cur = con.execute(
                    "INSERT INTO cases(survey, rule, response_id, customer, stage, touchpoint, channel, segment, "
                    "status, assignee, opened_at, first_contact_at, resolved_at, closed_at, updated_at) "
                    "VALUES (?, 'detractor', ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?)",
                    (r["survey"], r["id"], r["customer"], r["stage"], r["touchpoint"], r["channel"], status,
                     assignee, opened, *[opened + 60 if c in done else None
                                         for c in ("first_contact_at", "resolved_at", "closed_at")], opened + 60))
                ids.append(cur.lastrowid)
                con.execute("INSERT INTO case_events(case_id, seq, at, actor, kind, to_value) "
                            "VALUES (?, 1, ?, 'rule:detractor', 'opened', 'open')", (cur.lastrowid, opened))
            other = cls.responses[-1]
            con.execute("INSERT INTO cases(survey, rule, response_id, customer, stage, touchpoint, status, "
                        "opened_at, updated_at) VALUES ('other', 'detractor', ?, ?, 'purchase', 'phone', "
                        "'open', ?, ?)", (other["id"], other["customer"], cls.now - H, cls.now - H))
        con.close()
        # the agent works the two youngest open cases: both on the first page at each width
        young = sorted((age, i) for i, (age, st, _) in zip(ids, SEEDS) if st == "open")
        return {"all": ids, "work": [young[0][1], young[1][1]]}

    @classmethod
    def browse(cls, width, work):
        phone = width < 700
        job = {"base": "http://127.0.0.1:%d" % cls.srv.port, "width": width, "keys": cls.keys, "work": work,
               "missing": 999999, "touchpoint": "courier",
               "shots": {"agent": shot("-phone") if phone else SHOT,
                         "admin": shot("-admin-phone") if phone else shot("-admin"),
                         "read": shot("-read-phone") if phone else shot("-read"),
                         # the two cards alone, to look at closely
                         "agent-cases": shot("-cases-phone" if phone else "-cases"),
                         "admin-endpoints": shot("-endpoints-phone" if phone else "-endpoints")}}
        # what the API says just before, for the page to match
        cls.expected = getattr(cls, "expected", {})
        cls.expected[width] = {"cases": cls.list_cases(), "at": time.time()}
        return run_job(job)

    @classmethod
    def list_cases(cls, query="survey=shop&status=open,contacted,resolved"):
        """Every case the query selects, following `next` (100 a page)."""
        cases, after = [], None
        while True:
            st, _, body = cls.srv.get("/v1/cases?%s&limit=100%s" % (query, "&after=" + after if after else ""))
            assert st == 200, body
            cases += body["cases"]
            after = body["next"]
            if not after:
                return cases

    def each(self, role=None):
        for w in WIDTHS:
            r = self.runs[w]
            yield w, (r.get(role) if role else r)

    def test_browser_script_finished(self):
        for w, r in self.each():
            with self.subTest(width=w):
                self.assertNotIn("crash", r)
                for role in ("agent", "read", "admin"):
                    self.assertIn(role, r)

    # --- what every key's page is like ---

    def test_clean_accessible_and_fits(self):
        for w, r in self.each():
            for role in ("agent", "read", "admin"):
                with self.subTest(width=w, role=role):
                    v = r[role]
                    self.assertEqual(v["axe"], [], json.dumps(v["axe"], indent=1))
                    self.assertEqual(v["csp"], [], "CSP violations")
                    self.assertEqual(v["errors"], "0", v["banner"])
                    self.assertLessEqual(v["scrollWidth"], v["viewport"], "the page scrolls sideways")
                    self.assertEqual(v["wide"], [], "elements past the window's edge")
                    self.assertLess(v["cls"], 0.1)
                    # the cases card sits beside the comments on a wide screen, under them on a phone
                    cc, cm = v["casesCard"], v["commentsCard"]
                    if w >= 1100:
                        self.assertAlmostEqual(cc["t"], cm["t"], delta=1)
                        self.assertGreater(cc["l"], cm["r"])
                    else:
                        self.assertGreaterEqual(cc["t"], cm["b"])
        for w, r in self.each("agent"):
            with self.subTest(width=w, after="working a case"):
                self.assertEqual(r["axeAfter"], [], json.dumps(r["axeAfter"], indent=1))

    def test_layout_at_360_and_1920(self):
        for w in LAYOUT:
            r = self.layout[w]
            with self.subTest(width=w):
                self.assertNotIn("crash", r)
            for role in ("agent", "admin"):
                with self.subTest(width=w, role=role):
                    v = r[role]
                    self.assertEqual(v["axe"], [], json.dumps(v["axe"], indent=1))
                    self.assertEqual((v["csp"], v["errors"]), ([], "0"))
                    self.assertLessEqual(v["scrollWidth"], v["viewport"], "the page scrolls sideways")
                    self.assertEqual(v["wide"], [])
                    self.assertLess(v["cls"], 0.1)
                    self.assertEqual(len(v["cases"]), PAGE)
                    self.assertEqual(v["endpointsShown"], role == "admin")
                    self.assertEqual(v["console"], [])
                    self.assertEqual(v["failed"], [])
                    for x in v["cases"] + v["endpoints"]:   # every row inside the window
                        self.assertTrue(x["box"]["l"] >= 0 and x["box"]["r"] <= v["viewport"], x)

    def test_console_clean_for_every_role(self):
        for w, r in self.each():
            with self.subTest(width=w):
                for role in ("admin", "read"):   # first visit and a reload
                    self.assertEqual(r[role]["console"], [], role)
                    self.assertEqual(r[role]["consoleAfterReload"], [], role)
                    self.assertEqual(r[role]["failed"], [], role)
                self.assertEqual(r["agent"]["consoleWorked"], [])
                # the agent's last step is a change the server refuses (404): the only one
                self.assertEqual(r["agent"]["failed"], ["404 PATCH /v1/cases/999999"])
                self.assertEqual(r["agent"]["console"], [
                    "error: Failed to load resource: the server responded with a status of 404 (Not Found)"])

    def test_role_asked_of_keys_self_once_per_load(self):
        for w, r in self.each():
            for role in ("agent", "read", "admin"):
                with self.subTest(width=w, role=role):
                    loads = [r[role]["first"]] + ([r[role]["reload"]["requests"]] if "reload" in r[role] else [])
                    self.assertEqual(len(loads), 1 if role == "agent" else 2)
                    for asked in loads:
                        self.assertEqual(asked.count("GET /v1/keys/self"), 1, asked)
                        self.assertEqual(asked.count("GET /v1/endpoints"), 1 if role == "admin" else 0, asked)
        for w in LAYOUT:
            for role in ("agent", "admin"):
                with self.subTest(width=w, role=role):
                    self.assertEqual(self.layout[w][role]["first"].count("GET /v1/keys/self"), 1)

    # --- the cases ---

    def check_rows(self, rows, cases, at):
        self.assertEqual([x["id"] for x in rows], [c["id"] for c in cases])
        for x, c in zip(rows, cases):
            self.assertEqual(x["status"], c["status"])
            self.assertEqual(x["state"], STATUS[c["status"]])
            self.assertEqual(x["age"], age_words(at - c["opened_at"]), (x, c))
            self.assertIn("case %d" % c["id"], x["who"])
            self.assertIn("assigned to " + c["assignee"] if c["assignee"] else "unassigned", x["who"])
            self.assertEqual(x["comment"], c["response"]["comment"])
            self.assertIn("NPS %d" % c["response"]["nps"], x["meta"])
            self.assertIn("%s / %s" % (c["stage"], c["touchpoint"]), x["meta"])
            self.assertIn(c["customer"], x["meta"])

    def test_cases_listed_with_age_and_status(self):
        for w, r in self.each("agent"):
            with self.subTest(width=w):
                want = self.expected[w]["cases"]
                self.assertEqual(len(want), len(SEEDS) - 1 - (w != WIDTHS[0]))   # not closed; not "other"
                self.assertEqual({c["survey"] for c in want}, {"shop"})
                self.check_rows(r["cases"], want[:PAGE], self.expected[w]["at"])
                # seeded ages in words, whatever the order
                words = {x["id"]: x["age"] for x in r["more"]["cases"]}
                for cid, (age, status, _) in zip(self.case_ids["all"], SEEDS):
                    if cid in words:
                        self.assertEqual(words[cid], age_words(age), cid)
                self.assertIn("3 h", words.values())
                self.assertIn("2 d", words.values())
                cases = [p for p in r["first"] if p.startswith("GET /v1/cases?")]
                self.assertEqual(len(cases), 1, r["first"])
                q = dict(x.split("=", 1) for x in cases[0].split("?", 1)[1].split("&"))
                self.assertEqual((q["survey"], q["status"]), ("shop", "open%2Ccontacted%2Cresolved"))
                self.assertIn("not closed yet", r["casesScope"])

    def test_cases_page_on(self):
        for w, r in self.each("agent"):
            with self.subTest(width=w):
                want = self.expected[w]["cases"]
                self.assertTrue(r["casesMore"])
                m = r["more"]
                self.assertEqual(len(m["requests"]), 1, m["requests"])
                self.assertIn("after=", m["requests"][0])
                self.check_rows(m["cases"], want, self.expected[w]["at"])
                self.assertFalse(m["casesMore"])
                self.assertIn("Showing %d cases (all of them)" % len(want), m["casesCount"])

    def test_touchpoint_narrows_the_cases(self):
        for w, r in self.each("agent"):
            with self.subTest(width=w):
                t = r["tile"]
                calls = [p for p in t["requests"] if p.startswith("GET /v1/cases?")]
                self.assertEqual(len(calls), 1, t["requests"])
                self.assertIn("stage=delivery&touchpoint=courier", calls[0])
                want = self.list_cases("survey=shop&status=open,contacted,resolved&stage=delivery&touchpoint=courier")
                self.assertEqual([x["id"] for x in t["cases"]], [c["id"] for c in want][:PAGE])
                self.assertTrue(t["cases"])
                self.assertIn("delivery / courier", t["casesScope"])

    def test_agent_marks_contacted_then_closed(self):
        for i, (w, r) in enumerate(self.each("agent")):
            with self.subTest(width=w):
                work = self.case_ids["work"][i]
                before = [x for x in r["before"]["cases"] if x["id"] == work][0]
                self.assertEqual(before["buttons"], ["Mark contacted", "Mark resolved", "Close"])
                c = r["contacted"]
                self.assertEqual(c["requests"], ["PATCH /v1/cases/%d" % work])
                row = [x for x in c["cases"] if x["id"] == work][0]
                self.assertEqual((row["status"], row["state"]), ("contacted", "Contacted"))
                self.assertEqual(row["buttons"], ["Mark resolved", "Close"])
                self.assertEqual(c["status"], "Case %d is now contacted." % work)
                self.assertEqual(c["focused"], "Mark resolved|case-%d" % work)   # focus stays on the row
                k = r["closed"]
                self.assertEqual(k["requests"], ["PATCH /v1/cases/%d" % work])
                row = [x for x in k["cases"] if x["id"] == work][0]
                self.assertEqual((row["status"], row["state"], row["buttons"]), ("closed", "Closed", []))
                self.assertEqual(k["focused"], "case-%d" % work)
                # the API agrees, and knows who did it
                st, _, case = self.srv.get("/v1/cases/%d" % work)
                self.assertEqual(st, 200)
                self.assertEqual(case["status"], "closed")
                self.assertIsNotNone(case["first_contact_at"])
                self.assertIsNotNone(case["closed_at"])
                changes = [(h["kind"], h["from"], h["to"], h["actor"]) for h in case["history"] if h["kind"] == "status"]
                self.assertEqual([c[:3] for c in changes], [("status", "open", "contacted"), ("status", "contacted", "closed")])
                self.assertTrue(all(self.keys["agent_id"] in (c[3] or "") for c in changes), changes)

    def test_refused_change_in_words(self):
        st, _, body = self.srv.request("PATCH", "/v1/cases/999999", body={"status": "contacted"})
        self.assertEqual(st, 404)
        for w, r in self.each("agent"):
            with self.subTest(width=w):
                f = r["refused"]
                self.assertEqual(f["requests"], ["PATCH /v1/cases/999999"])
                self.assertEqual(f["error"], "Case 999999 was not changed: " + body["error"]["message"])

    def test_read_key_cannot_change_cases(self):
        st, _, body = self.srv.request("PATCH", "/v1/cases/%d" % self.case_ids["all"][1], body={"status": "closed"},
                                       headers={"Authorization": "Bearer " + self.keys["read"]})
        self.assertEqual(st, 403, body)
        for w, r in self.each("read"):
            with self.subTest(width=w):
                self.assertTrue(r["cases"])
                # (at 390 px the read key came after one case was closed, at 1400 after two)
                seen = self.expected[WIDTHS[1]]["cases"] if w == WIDTHS[0] else self.list_cases()
                self.check_rows(r["cases"], seen[:PAGE], time.time())
                for v in (r, r["reload"]):
                    self.assertEqual([x["buttons"] for x in v["cases"]], [[]] * len(v["cases"]))
                    self.assertIn("can read cases but not change them", v["casesNote"])
                    self.assertIn("needs an agent key", v["casesNote"])
                for asked in (r["first"], r["reload"]["requests"]):   # its role from keys/self, each load
                    self.assertIn("GET /v1/keys/self", asked)
                    self.assertNotIn("GET /v1/endpoints", asked)
        for w, r in self.each("agent"):
            with self.subTest(width=w, role="agent"):
                self.assertIsNone(r["casesNote"])

    # --- the endpoints ---

    def test_admin_sees_endpoint_health(self):
        st, _, body = self.srv.get("/v1/endpoints")
        self.assertEqual(st, 200)
        api = {e["id"]: e for e in body["endpoints"]}
        for w, r in self.each("admin"):
            with self.subTest(width=w):
                self.assertTrue(r["endpointsShown"])
                shown = {e["id"]: e for e in r["endpoints"]}
                self.assertEqual(sorted(shown), sorted(api))
                p = shown["referrals"]
                self.assertEqual(p["state"], "paused")
                self.assertIn("Paused", p["badges"])
                self.assertTrue(p["why"].startswith("Paused: "), p)
                if api["referrals"]["state_reason"]:
                    self.assertIn(api["referrals"]["state_reason"], p["why"])
                self.assertIn("Nothing is sent to it until it is resumed", p["why"])
                self.assertEqual(p["badges"], ["Paused", "Nothing sent yet"])
                self.assertIsNone(p["lastError"])
                a = shown["support-desk"]
                self.assertEqual(a["badges"], ["Active", "Failing"])
                self.assertIsNone(a["why"])
                self.assertEqual(a["figures"]["Pending"], "1")
                self.assertRegex(a["figures"]["Oldest pending"], r"^\d+ (s|min)$")
                self.assertRegex(a["figures"]["Last attempt"], r" ago, no answer$")
                self.assertTrue(a["lastError"].startswith("Last error: Failed to connect to 127.0.0.1 port 9"), a)
                for e in shown.values():
                    h = api[e["id"]]["health"]
                    self.assertEqual(e["figures"]["Pending"], format(h["pending"], ","))
                    self.assertEqual(e["figures"]["Dead"], format(h["dead"], ","))
                    self.assertIn("Failing" if h["failing"] else "Last delivery OK" if h["last_attempt_at"]
                                  else "Nothing sent yet", e["badges"])
                self.assertEqual("2 endpoints, 2 paused, disabled or failing.", r["endpointsCount"])
                self.assertIn("GET /v1/endpoints", r["first"])

    def test_others_do_not_see_endpoints(self):
        for w, r in self.each():
            for role in ("agent", "read"):
                with self.subTest(width=w, role=role):
                    self.assertFalse(r[role]["endpointsShown"])
                    self.assertEqual(r[role]["endpoints"], [])

    def test_screenshots(self):
        for path in (SHOT, shot("-phone"), shot("-admin"), shot("-admin-phone"), shot("-read-phone")):
            with self.subTest(path=path):
                with open(path, "rb") as f:
                    self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
                self.assertGreater(os.path.getsize(path), 50000)   # a rendered page, not a blank one


class EmptyStatesTest(unittest.TestCase):
    """No cases and no endpoints: both said in words, for an admin key."""

    @classmethod
    def setUpClass(cls):
        if not (CHROMIUM and NODE and os.path.isdir(os.path.join(BROWSER, "node_modules"))):
            raise RuntimeError("the dashboard test needs chromium, node and tests/browser/node_modules")
        cls.srv = Server().start()
        st, _, body = cls.srv.post_json("/v1/surveys", {"id": "shop", "title": "Shop", "stages": list(TOUCH),
                                                        "touchpoints": TOUCH})
        assert st == 201, body
        st, _, body = cls.srv.post_json("/v1/responses", [{"survey": "shop", "stage": "purchase", "touchpoint": "phone",
                                                           "nps": 3, "comment": "slow"}])
        assert st == 201, body
        cls.out = run_job({"base": "http://127.0.0.1:%d" % cls.srv.port, "width": 390,
                           "keys": {"admin": cls.srv.key}, "only": ["admin"]})

    @classmethod
    def tearDownClass(cls):
        cls.srv.assert_clean_exit(unittest.TestCase())

    def test_empty_states_in_words(self):
        a = self.out["admin"]
        self.assertEqual(a["cases"], [])
        self.assertEqual(a["casesCount"], "No open cases for this survey.")
        self.assertTrue(a["endpointsShown"])
        self.assertEqual(a["endpoints"], [])
        self.assertEqual(a["endpointsCount"], "No webhook endpoints.")
        self.assertEqual(a["axe"], [])
        self.assertEqual(a["console"], [])


if __name__ == "__main__":
    cxdtest.main("dashboard_loop")
