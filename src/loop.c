/* loop.c - for each new response: the `response.created` event, then the survey's rules
 * in position order, their webhook deliveries and follow-up cases; see include/cx/loop.h.
 *
 * Everything is written through cx_store_emit / cx_store_case_open on the writer's
 * connection, inside the response's transaction: it commits or vanishes with it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/loop.h"
#include "cx/rule.h"

static json_t *answer(int v)
{
	return v >= 0 ? json_integer(v) : json_null();
}

/* R of the event payloads: every field of the response, absent answers null. */
static json_t *response_json(const struct cx_response *r, int64_t id)
{
	json_t *attrs = r->attributes ? json_loads(r->attributes, 0, NULL) : NULL;

	return json_pack("{s:I, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:o, s:o, s:o, s:s?, s:o, s:I}",
			 "id", (json_int_t)id, "survey", r->survey, "stage", r->stage,
			 "touchpoint", r->touchpoint, "channel", r->channel, "segment", r->segment,
			 "customer", r->customer, "nps", answer(r->nps), "csat", answer(r->csat),
			 "ces", answer(r->ces), "comment", r->comment,
			 "attributes", attrs ? attrs : json_null(),
			 "submitted_at", (json_int_t)r->submitted_at);
}

/* {"response": R, "survey": {"id", "name"}, "stage", "touchpoint"} */
static json_t *event_data(struct cx_store *st, const struct cx_response *r, int64_t id)
{
	json_t *name = cx_store_survey_title(st, r->survey);

	return json_pack("{s:o, s:{s:s, s:o}, s:s?, s:s?}", "response", response_json(r, id),
			 "survey", "id", r->survey, "name", name ? name : json_null(),
			 "stage", r->stage, "touchpoint", r->touchpoint);
}

/* The response's event data, made once for all its events: the object and its text. */
struct shared {
	json_t *data;
	char *text;   /* json_dumps of data as the bodies print it */
};

static int shared_make(struct cx_store *st, const struct cx_response *r, int64_t id,
		       struct shared *sh)
{
	if (!sh->data && !(sh->data = event_data(st, r, id)))
		return -1;
	if (!sh->text && !(sh->text = json_dumps(sh->data, JSON_COMPACT |
						  JSON_REAL_PRECISION(12))))
		return -1;
	return 0;
}

/* data's text with the member spliced in before its closing brace (json_dumps prints
 * members in insertion order, "rule" last) */
char *cx_loop_data_with_rule(const char *text, const char *rule_id, const char *rule_name)
{
	json_t *o = json_pack("{s:s, s:s}", "id", rule_id, "name", rule_name);
	char *member = o ? json_dumps(o, JSON_COMPACT) : NULL;
	size_t n = strlen(text);
	char *out = NULL;

	json_decref(o);
	/* data always has members ("response", "survey", ...), so a comma goes before "rule" */
	if (member && n >= 2 && text[n - 1] == '}' && (out = malloc(n + strlen(member) + 16)))
		sprintf(out, "%.*s,\"rule\":%s}", (int)(n - 1), text, member);
	free(member);
	return out;
}

/* The rule's actions for response id (r): a delivery per webhook action (the payload of
 * `response.created` plus "rule"), a case for a case action. */
static int run_actions(struct cx_store *st, const struct cx_rule *rule,
		       const struct cx_response *r, int64_t id, struct shared *sh,
		       struct cx_error *err)
{
	struct cx_event ev = { .type = "response.matched_rule", .survey = r->survey,
			       .customer = r->customer, .response_id = id, .rule = rule->id,
			       .at_ms = r->received_ms };
	char *text = NULL;
	int rc = 0;

	for (size_t i = 0; i < rule->nactions && rc == 0; i++) {
		const struct cx_rule_action *a = &rule->actions[i];
		int64_t case_id;
		int opened;

		if (a->type == CX_ACTION_CASE) {
			rc = cx_store_case_open(st, r, id, rule->id, a->assignee, &case_id, &opened,
						err);
			continue;
		}
		if (!text && (shared_make(st, r, id, sh) || !(text = cx_loop_data_with_rule(sh->text, rule->id,
											      rule->name)))) {
			rc = cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
			break;
		}
		ev.data_text = text;
		rc = cx_store_emit(st, &ev, a->endpoint, NULL, err);
	}
	free(text);
	return rc;
}

int cx_loop_on_response(struct cx_store *st, const struct cx_response *r, int64_t id,
			struct cx_error *err)
{
	struct cx_event ev = { .type = "response.created", .survey = r->survey,
			       .customer = r->customer, .response_id = id,
			       .at_ms = r->received_ms };
	const struct cx_ruleset *set = NULL;
	struct shared sh = { 0 };
	int rc = 0;

	/* the data (a copy of the survey, R) is built only when someone gets it */
	if (cx_store_emit_wanted(st, ev.type, r->survey)) {
		if (shared_make(st, r, id, &sh)) {
			rc = cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
			goto out;
		}
		ev.data = sh.data;
		ev.data_text = sh.text;
		if ((rc = cx_store_emit(st, &ev, NULL, NULL, err)))
			goto out;
	}
	/* the snapshot of this moment: a rule changed after this line counts from the next
	 * response on */
	set = cx_store_rules_acquire(st, r->survey);
	for (size_t i = 0; set && i < set->n && rc == 0; i++) {
		const struct cx_rule *rule = &set->rules[i];

		if (!rule->enabled || !cx_rule_match(rule, r))
			continue;
		rc = run_actions(st, rule, r, id, &sh, err);
		if (rule->stop)
			break;
	}
out:
	cx_store_rules_release(st, set);
	json_decref(sh.data);
	free(sh.text);
	/* the writer undoes a refused (4xx) job only when it had a savepoint; a response
	 * without one would stay written: anything failing here loses the transaction */
	if (rc && err->status < 500)
		err->status = 503;
	return rc ? -1 : 0;
}
