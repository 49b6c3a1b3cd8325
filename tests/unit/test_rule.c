/* Unit tests for rule.c: parsing and validation (every error names its field), every
 * condition kind, score bands at their edges, AND semantics, and JSON round trips. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cx/rule.h"
#include "cx/store.h"
#include "check_main.h"

static const char *const stages[] = { "awareness", "purchase", "advocacy" };

static struct cx_survey survey(void)
{
	struct cx_survey s;

	memset(&s, 0, sizeof(s));
	strcpy(s.id, "checkout");
	s.nstages = 3;
	for (size_t i = 0; i < 3; i++)
		s.stages[i] = (char *)stages[i];
	return s;
}

/* Parse text (a JSON rule) against the test survey; 0 or -1 with err. */
static int parse(const char *text, struct cx_rule *r, struct cx_error *err)
{
	struct cx_survey s = survey();
	json_error_t jerr;
	json_t *body = json_loads(text, 0, &jerr);
	int rc;

	ck_assert_msg(body != NULL, "bad test JSON: %s: %s", jerr.text, text);
	rc = cx_rule_from_json(body, NULL, &s, r, err);
	json_decref(body);
	return rc;
}

/* text must be refused with code and field. */
static void refused(const char *text, const char *code, const char *field)
{
	struct cx_rule r;
	struct cx_error err = { 0 };

	ck_assert_msg(parse(text, &r, &err) == -1, "accepted: %s", text);
	ck_assert_int_eq(err.status, 422);
	ck_assert_msg(strcmp(err.code, code) == 0, "%s: code %s, want %s", text, err.code, code);
	ck_assert_msg(strcmp(err.field, field) == 0, "%s: field '%s', want '%s'", text, err.field,
		      field);
	cx_rule_release(&r);
}

/* A rule of `when` (a JSON object's text) with one webhook action. */
static void with_when(const char *when, struct cx_rule *r)
{
	char text[4096];
	struct cx_error err = { 0 };

	snprintf(text, sizeof(text), "{\"id\": \"r\", \"name\": \"R\", \"when\": %s, \"actions\": "
		 "[{\"type\": \"webhook\", \"endpoint\": \"desk\"}]}", when);
	ck_assert_msg(parse(text, r, &err) == 0, "%s: %s", when, err.message);
}

static struct cx_response response(void)
{
	struct cx_response r;

	memset(&r, 0, sizeof(r));
	strcpy(r.survey, "checkout");
	r.stage = "purchase";
	r.touchpoint = "payment";
	r.nps = r.csat = r.ces = -1;
	return r;
}

/* Does rule `when` match resp? */
static int matches(const char *when, const struct cx_response *resp)
{
	struct cx_rule r;
	int m;

	with_when(when, &r);
	m = cx_rule_match(&r, resp);
	cx_rule_release(&r);
	return m;
}

START_TEST(parse_full)
{
	struct cx_rule r;
	struct cx_error err = { 0 };

	ck_assert_int_eq(parse("{\"id\": \"detractor-purchase\", \"name\": \"Detractor\", "
			       "\"enabled\": false, \"stop\": true, \"position\": 2, \"when\": "
			       "{\"nps\": {\"max\": 6}, \"csat\": {\"min\": 2, \"max\": 4}, "
			       "\"ces\": {\"min\": 5}, \"stages\": [\"purchase\"], "
			       "\"touchpoints\": [\"payment\", \"new one\"], \"channels\": [\"web\"], "
			       "\"segments\": [\"smb\"], \"has_comment\": true, \"has_customer\": "
			       "false}, \"actions\": [{\"type\": \"webhook\", \"endpoint\": \"desk\"}, "
			       "{\"type\": \"case\", \"assignee\": \"payments-team\"}]}", &r, &err),
			 0);
	ck_assert_str_eq(r.id, "detractor-purchase");
	ck_assert_int_eq(r.enabled, 0);
	ck_assert_int_eq(r.stop, 1);
	ck_assert_int_eq(r.position, 2);
	ck_assert(r.nps.on && r.nps.min == 0 && r.nps.max == 6);
	ck_assert(r.csat.on && r.csat.min == 2 && r.csat.max == 4);
	ck_assert(r.ces.on && r.ces.min == 5 && r.ces.max == 7);
	ck_assert_int_eq(r.touchpoints.n, 2);
	ck_assert_int_eq(r.has_comment, 1);
	ck_assert_int_eq(r.has_customer, 0);
	ck_assert_int_eq(r.nactions, 2);
	ck_assert_int_eq(r.actions[0].type, CX_ACTION_WEBHOOK);
	ck_assert_str_eq(r.actions[0].endpoint, "desk");
	ck_assert_int_eq(r.actions[1].type, CX_ACTION_CASE);
	ck_assert_str_eq(r.actions[1].assignee, "payments-team");
	cx_rule_release(&r);
}
END_TEST

START_TEST(parse_defaults)
{
	struct cx_rule r;
	struct cx_error err = { 0 };

	ck_assert_int_eq(parse("{\"id\": \"all\", \"name\": \"All\", \"actions\": "
			       "[{\"type\": \"case\"}]}", &r, &err), 0);
	ck_assert_int_eq(r.enabled, 1);
	ck_assert_int_eq(r.stop, 0);
	ck_assert_int_eq(r.position, 0);
	ck_assert(!r.nps.on && !r.stages.on && r.has_comment == -1 && r.has_customer == -1);
	ck_assert_ptr_null(r.actions[0].assignee);
	cx_rule_release(&r);
}
END_TEST

#define OK_ACTION "\"actions\": [{\"type\": \"webhook\", \"endpoint\": \"desk\"}]"
#define HEAD "{\"id\": \"r\", \"name\": \"R\", "

START_TEST(parse_errors)
{
	refused("[]", "invalid_rule", "");
	refused("{\"name\": \"R\", " OK_ACTION "}", "missing_field", "id");
	refused("{\"id\": \"a b\", \"name\": \"R\", " OK_ACTION "}", "invalid_id", "id");
	refused("{\"id\": \"r\", " OK_ACTION "}", "missing_field", "name");
	refused(HEAD "\"name2\": 1, " OK_ACTION "}", "unknown_field", "name2");
	refused("{\"id\": \"r\", \"name\": \"\", " OK_ACTION "}", "invalid_name", "name");
	refused(HEAD "\"enabled\": 1, " OK_ACTION "}", "invalid_rule", "enabled");
	refused(HEAD "\"position\": 0, " OK_ACTION "}", "invalid_position", "position");
	refused(HEAD "\"position\": 65, " OK_ACTION "}", "invalid_position", "position");
	refused(HEAD "\"when\": [], " OK_ACTION "}", "invalid_rule", "when");
	refused(HEAD "\"when\": {\"score\": 1}, " OK_ACTION "}", "unknown_field", "when.score");
	refused(HEAD "\"when\": {\"nps\": {}}, " OK_ACTION "}", "invalid_condition", "when.nps");
	refused(HEAD "\"when\": {\"nps\": {\"max\": 11}}, " OK_ACTION "}", "invalid_condition",
		"when.nps.max");
	refused(HEAD "\"when\": {\"nps\": {\"min\": -1}}, " OK_ACTION "}", "invalid_condition",
		"when.nps.min");
	refused(HEAD "\"when\": {\"nps\": {\"max\": 6.5}}, " OK_ACTION "}", "invalid_condition",
		"when.nps.max");
	refused(HEAD "\"when\": {\"nps\": {\"below\": 6}}, " OK_ACTION "}", "unknown_field",
		"when.nps.below");
	refused(HEAD "\"when\": {\"nps\": {\"min\": 9, \"max\": 6}}, " OK_ACTION "}",
		"invalid_condition", "when.nps");
	refused(HEAD "\"when\": {\"csat\": {\"min\": 0}}, " OK_ACTION "}", "invalid_condition",
		"when.csat.min");
	refused(HEAD "\"when\": {\"csat\": {\"max\": 6}}, " OK_ACTION "}", "invalid_condition",
		"when.csat.max");
	refused(HEAD "\"when\": {\"ces\": {\"max\": 8}}, " OK_ACTION "}", "invalid_condition",
		"when.ces.max");
	refused(HEAD "\"when\": {\"stages\": []}, " OK_ACTION "}", "invalid_condition",
		"when.stages");
	refused(HEAD "\"when\": {\"stages\": \"purchase\"}, " OK_ACTION "}", "invalid_condition",
		"when.stages");
	refused(HEAD "\"when\": {\"stages\": [\"purchase\", \"checkout\"]}, " OK_ACTION "}",
		"unknown_stage", "when.stages[1]");
	refused(HEAD "\"when\": {\"touchpoints\": [\"ok\", \"bad\\n\"]}, " OK_ACTION "}",
		"invalid_label", "when.touchpoints[1]");
	refused(HEAD "\"when\": {\"channels\": [5]}, " OK_ACTION "}", "invalid_label",
		"when.channels[0]");
	refused(HEAD "\"when\": {\"segments\": [\"\"]}, " OK_ACTION "}", "invalid_label",
		"when.segments[0]");
	refused(HEAD "\"when\": {\"has_comment\": \"yes\"}, " OK_ACTION "}", "invalid_rule",
		"when.has_comment");
	refused(HEAD "\"when\": {\"has_customer\": 1}, " OK_ACTION "}", "invalid_rule",
		"when.has_customer");
	refused(HEAD "\"when\": {}}", "missing_field", "actions");
	refused(HEAD "\"actions\": []}", "invalid_action", "actions");
	refused(HEAD "\"actions\": [\"webhook\"]}", "invalid_action", "actions[0]");
	refused(HEAD "\"actions\": [{\"type\": \"email\"}]}", "invalid_action", "actions[0].type");
	refused(HEAD "\"actions\": [{\"type\": \"webhook\"}]}", "invalid_action",
		"actions[0].endpoint");
	refused(HEAD "\"actions\": [{\"type\": \"webhook\", \"endpoint\": \"a/b\"}]}",
		"invalid_action", "actions[0].endpoint");
	refused(HEAD "\"actions\": [{\"type\": \"webhook\", \"endpoint\": \"a\"}, {\"type\": "
		"\"webhook\", \"endpoint\": \"a\"}]}", "invalid_action", "actions[1].endpoint");
	refused(HEAD "\"actions\": [{\"type\": \"case\"}, {\"type\": \"case\"}]}",
		"invalid_action", "actions[1].type");
	refused(HEAD "\"actions\": [{\"type\": \"case\", \"assignee\": \"\"}]}", "invalid_action",
		"actions[0].assignee");
	refused(HEAD "\"actions\": [{\"type\": \"case\", \"url\": \"x\"}]}", "unknown_field",
		"actions[0].url");
	refused(HEAD "\"actions\": [{\"type\": \"case\", \"endpoint\": \"x\"}]}", "invalid_action",
		"actions[0].endpoint");
	refused(HEAD "\"actions\": [{\"type\": \"webhook\", \"endpoint\": \"x\", \"assignee\": "
		"\"y\"}]}", "invalid_action", "actions[0].assignee");
}
END_TEST

/* Each limit can be reached, and one more is refused. */
START_TEST(parse_limits)
{
	char text[8192], list[4096];
	struct cx_rule r;
	struct cx_error err = { 0 };
	size_t used;

	for (int n = CX_RULE_LIST_MAX; n <= CX_RULE_LIST_MAX + 1; n++) {
		used = 0;
		for (int i = 0; i < n; i++)
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s\"t%d\"",
						 i ? "," : "", i);
		snprintf(text, sizeof(text), HEAD "\"when\": {\"touchpoints\": [%s]}, " OK_ACTION
			 "}", list);
		if (n == CX_RULE_LIST_MAX) {
			ck_assert_int_eq(parse(text, &r, &err), 0);
			ck_assert_int_eq(r.touchpoints.n, CX_RULE_LIST_MAX);
			cx_rule_release(&r);
		} else {
			refused(text, "too_many_items", "when.touchpoints");
		}
	}
	for (int n = CX_RULE_ACTIONS_MAX; n <= CX_RULE_ACTIONS_MAX + 1; n++) {
		used = 0;
		for (int i = 0; i < n; i++)
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s{\"type\": "
						 "\"webhook\", \"endpoint\": \"e%d\"}", i ? "," : "",
						 i);
		snprintf(text, sizeof(text), HEAD "\"actions\": [%s]}", list);
		if (n == CX_RULE_ACTIONS_MAX) {
			ck_assert_int_eq(parse(text, &r, &err), 0);
			ck_assert_int_eq(r.nactions, CX_RULE_ACTIONS_MAX);
			cx_rule_release(&r);
		} else {
			refused(text, "too_many_actions", "actions");
		}
	}
}
END_TEST

START_TEST(path_id)
{
	struct cx_rule r;
	struct cx_error err = { 0 };
	json_t *body = json_pack("{s:s, s:[{s:s}]}", "name", "R", "actions", "type", "case");

	ck_assert_int_eq(cx_rule_from_json(body, "from-path", NULL, &r, &err), 0);
	ck_assert_str_eq(r.id, "from-path");
	cx_rule_release(&r);
	json_object_set_new(body, "id", json_string("other"));
	ck_assert_int_eq(cx_rule_from_json(body, "from-path", NULL, &r, &err), -1);
	ck_assert_str_eq(err.code, "id_mismatch");
	cx_rule_release(&r);
	json_decref(body);
}
END_TEST

/* A band holds from min to max inclusive; one past either edge does not. */
START_TEST(band_edges)
{
	struct cx_response resp = response();

	resp.nps = 6;
	ck_assert(matches("{\"nps\": {\"max\": 6}}", &resp));
	resp.nps = 7;
	ck_assert(!matches("{\"nps\": {\"max\": 6}}", &resp));
	resp.nps = 0;
	ck_assert(matches("{\"nps\": {\"max\": 6}}", &resp));
	resp.nps = 9;
	ck_assert(matches("{\"nps\": {\"min\": 9}}", &resp));
	resp.nps = 8;
	ck_assert(!matches("{\"nps\": {\"min\": 9}}", &resp));
	resp.nps = 10;
	ck_assert(matches("{\"nps\": {\"min\": 9}}", &resp));
	resp.nps = 7;
	ck_assert(matches("{\"nps\": {\"min\": 7, \"max\": 8}}", &resp));
	resp.nps = 8;
	ck_assert(matches("{\"nps\": {\"min\": 7, \"max\": 8}}", &resp));
	resp.nps = 9;
	ck_assert(!matches("{\"nps\": {\"min\": 7, \"max\": 8}}", &resp));
	resp.csat = 2;
	ck_assert(matches("{\"csat\": {\"max\": 2}}", &resp));
	resp.csat = 3;
	ck_assert(!matches("{\"csat\": {\"max\": 2}}", &resp));
	resp.csat = 1;
	ck_assert(matches("{\"csat\": {\"min\": 1, \"max\": 1}}", &resp));
	resp.ces = 3;
	ck_assert(matches("{\"ces\": {\"max\": 3}}", &resp));
	resp.ces = 4;
	ck_assert(!matches("{\"ces\": {\"max\": 3}}", &resp));
	resp.ces = 7;
	ck_assert(matches("{\"ces\": {\"min\": 7}}", &resp));
}
END_TEST

/* A metric condition needs that answer: an unanswered metric never matches. */
START_TEST(band_needs_answer)
{
	struct cx_response resp = response();

	ck_assert(!matches("{\"nps\": {\"max\": 10}}", &resp));
	ck_assert(!matches("{\"nps\": {\"min\": 0}}", &resp));
	ck_assert(!matches("{\"csat\": {\"max\": 5}}", &resp));
	ck_assert(!matches("{\"ces\": {\"min\": 1}}", &resp));
	resp.csat = 3;   /* another metric answered does not help */
	ck_assert(!matches("{\"nps\": {\"max\": 10}}", &resp));
	ck_assert(matches("{}", &resp));
}
END_TEST

START_TEST(lists)
{
	struct cx_response resp = response();

	ck_assert(matches("{\"stages\": [\"awareness\", \"purchase\"]}", &resp));
	ck_assert(!matches("{\"stages\": [\"advocacy\"]}", &resp));
	ck_assert(matches("{\"touchpoints\": [\"payment\"]}", &resp));
	ck_assert(!matches("{\"touchpoints\": [\"Payment\"]}", &resp));   /* exact */
	/* channel and segment: absent on the response, so a condition on them fails */
	ck_assert(!matches("{\"channels\": [\"web\"]}", &resp));
	ck_assert(!matches("{\"segments\": [\"smb\"]}", &resp));
	resp.channel = "web";
	resp.segment = "smb";
	ck_assert(matches("{\"channels\": [\"email\", \"web\"]}", &resp));
	ck_assert(!matches("{\"channels\": [\"email\"]}", &resp));
	ck_assert(matches("{\"segments\": [\"smb\"]}", &resp));
	ck_assert(!matches("{\"segments\": [\"enterprise\"]}", &resp));
}
END_TEST

START_TEST(flags)
{
	struct cx_response resp = response();

	ck_assert(!matches("{\"has_comment\": true}", &resp));
	ck_assert(matches("{\"has_comment\": false}", &resp));
	ck_assert(!matches("{\"has_customer\": true}", &resp));
	ck_assert(matches("{\"has_customer\": false}", &resp));
	resp.comment = "slow checkout";
	resp.customer = "c-1";
	ck_assert(matches("{\"has_comment\": true}", &resp));
	ck_assert(!matches("{\"has_comment\": false}", &resp));
	ck_assert(matches("{\"has_customer\": true}", &resp));
	ck_assert(!matches("{\"has_customer\": false}", &resp));
}
END_TEST

/* Every condition present must hold: dropping any one of them from a match, by changing
 * the response, fails the rule. */
START_TEST(and_semantics)
{
	const char *when = "{\"nps\": {\"max\": 6}, \"csat\": {\"max\": 2}, \"ces\": {\"min\": 5}, "
			   "\"stages\": [\"purchase\"], \"touchpoints\": [\"payment\"], "
			   "\"channels\": [\"web\"], \"segments\": [\"smb\"], \"has_comment\": true, "
			   "\"has_customer\": true}";
	struct cx_response ok = response(), r;

	ok.nps = 3;
	ok.csat = 1;
	ok.ces = 6;
	ok.channel = "web";
	ok.segment = "smb";
	ok.comment = "bad";
	ok.customer = "c-9";
	ck_assert(matches(when, &ok));
	r = ok; r.nps = 7;               ck_assert(!matches(when, &r));
	r = ok; r.csat = 3;              ck_assert(!matches(when, &r));
	r = ok; r.ces = 4;               ck_assert(!matches(when, &r));
	r = ok; r.stage = "advocacy";    ck_assert(!matches(when, &r));
	r = ok; r.touchpoint = "email";  ck_assert(!matches(when, &r));
	r = ok; r.channel = "app";       ck_assert(!matches(when, &r));
	r = ok; r.segment = NULL;        ck_assert(!matches(when, &r));
	r = ok; r.comment = NULL;        ck_assert(!matches(when, &r));
	r = ok; r.customer = NULL;       ck_assert(!matches(when, &r));
}
END_TEST

/* What the store keeps and what the API shows parse back to the same rule. */
START_TEST(json_round_trip)
{
	struct cx_rule r, back, copy;
	struct cx_error err = { 0 };
	json_t *def, *full, *full2;

	ck_assert_int_eq(parse(HEAD "\"stop\": true, \"when\": {\"nps\": {\"max\": 6}, "
			       "\"stages\": [\"purchase\"], \"has_comment\": true}, \"actions\": "
			       "[{\"type\": \"case\", \"assignee\": \"team\"}, {\"type\": "
			       "\"webhook\", \"endpoint\": \"desk\"}]}", &r, &err), 0);
	r.position = 1;   /* as the store numbers it */
	def = cx_rule_definition_json(&r);
	ck_assert_ptr_null(json_object_get(def, "id"));
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(json_object_get(def,
			 "when"), "nps"), "min")), 0);
	ck_assert_int_eq(cx_rule_from_json(def, "r", NULL, &back, &err), 0);
	back.position = 1;
	full = cx_rule_to_json(&r);
	full2 = cx_rule_to_json(&back);
	ck_assert(json_equal(full, full2));
	ck_assert_int_eq(cx_rule_copy(&copy, &r), 0);
	json_decref(full2);
	full2 = cx_rule_to_json(&copy);
	ck_assert(json_equal(full, full2));
	/* and the full JSON (with position and times) can be PUT back */
	cx_rule_release(&back);
	ck_assert_int_eq(cx_rule_from_json(full, "r", NULL, &back, &err), 0);
	json_decref(def);
	json_decref(full);
	json_decref(full2);
	cx_rule_release(&r);
	cx_rule_release(&back);
	cx_rule_release(&copy);
}
END_TEST

/* --- the store's snapshots (store_rules.c) --- */

/* Open the store in dir, made first when `make`. */
static struct cx_store *open_store(char *dir, int make)
{
	char path[256];
	struct cx_store *st;
	struct cx_error err = { 0 };

	if (make)
		ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/cxd.db", dir);
	ck_assert_msg(cx_store_open(&st, path, 1, &err) == 0, "%s", err.message);
	return st;
}

/* A rule with a case action (no endpoint to look up) and `name`, at position pos. */
static void put(struct cx_store *st, const char *id, const char *name, int pos)
{
	struct cx_rule r;
	struct cx_error err = { 0 };
	json_t *body = json_pack("{s:s, s:s, s:[{s:s}]}", "id", id, "name", name, "actions",
				 "type", "case");

	ck_assert_int_eq(cx_rule_from_json(body, NULL, NULL, &r, &err), 0);
	r.position = pos;
	ck_assert_msg(cx_store_rule_put(st, "s", &r, 0, NULL, NULL, &err) == 0, "%s", err.message);
	cx_rule_release(&r);
	json_decref(body);
}

/* A set once acquired does not change, and outlives the changes after it. */
START_TEST(store_snapshots)
{
	char dir[] = "/tmp/cx-rule-test-XXXXXX", cmd[300];
	struct cx_store *st = open_store(dir, 1);
	const struct cx_ruleset *one, *two, *now;
	struct cx_error err = { 0 };

	ck_assert_ptr_null(cx_store_rules_acquire(st, "s"));
	put(st, "a", "first", 0);
	one = cx_store_rules_acquire(st, "s");
	put(st, "b", "second", 1);
	two = cx_store_rules_acquire(st, "s");
	ck_assert_int_eq(cx_store_rule_delete(st, "s", "a", &err), 0);
	ck_assert_int_eq(cx_store_rule_delete(st, "s", "a", &err), -1);
	ck_assert_str_eq(err.code, "unknown_rule");
	ck_assert_int_eq(one->n, 1);
	ck_assert_str_eq(one->rules[0].name, "first");
	ck_assert_int_eq(two->n, 2);
	ck_assert_str_eq(two->rules[0].id, "b");
	ck_assert_int_eq(two->rules[1].position, 2);
	cx_store_rules_release(st, one);
	cx_store_rules_release(st, two);
	now = cx_store_rules_acquire(st, "s");
	ck_assert(now->n == 1 && strcmp(now->rules[0].id, "b") == 0 && now->rules[0].position == 1);
	cx_store_rules_release(st, now);
	ck_assert_int_eq(cx_store_rule_delete(st, "s", "b", &err), 0);
	ck_assert_ptr_null(cx_store_rules_acquire(st, "s"));   /* an empty survey has none */
	put(st, "c", "third", 0);
	cx_store_close(st);
	st = open_store(dir, 0);   /* reopened: the sets are loaded from the file */
	now = cx_store_rules_acquire(st, "s");
	ck_assert(now && now->n == 1 && strcmp(now->rules[0].name, "third") == 0);
	cx_store_rules_release(st, now);
	cx_store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

struct reader {
	struct cx_store *st;
	volatile int stop;
	long sets, bad;
};

/* Every set the reader sees is whole: positions 1..n, each rule named by its position's
 * generation. */
static void *read_sets(void *arg)
{
	struct reader *rd = arg;

	while (!rd->stop) {
		const struct cx_ruleset *set = cx_store_rules_acquire(rd->st, "s");

		for (size_t i = 0; set && i < set->n; i++)
			if (set->rules[i].position != (int)i + 1 || !set->rules[i].name ||
			    set->n > CX_RULES_MAX)
				rd->bad++;
		rd->sets++;
		cx_store_rules_release(rd->st, set);
	}
	return NULL;
}

START_TEST(store_changes_under_readers)
{
	char dir[] = "/tmp/cx-rule-test-XXXXXX", cmd[300], id[16];
	struct cx_store *st = open_store(dir, 1);
	struct reader rd = { .st = st };
	struct cx_error err = { 0 };
	pthread_t t[2];

	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, read_sets, &rd);
	for (int i = 0; i < 150; i++) {
		snprintf(id, sizeof(id), "r%d", i % 10);
		if (i % 3 == 2)
			cx_store_rule_delete(st, "s", id, &err);
		else
			put(st, id, i % 2 ? "odd" : "even", i % 4 == 0 ? 1 : 0);
	}
	rd.stop = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(rd.bad, 0);
	ck_assert_int_gt(rd.sets, 0);
	cx_store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

CX_CHECK_MAIN("rule", NULL, NULL, parse_full, parse_defaults, parse_errors, parse_limits, path_id,
	      band_edges, band_needs_answer, lists, flags, and_semantics, json_round_trip,
	      store_snapshots, store_changes_under_readers)
