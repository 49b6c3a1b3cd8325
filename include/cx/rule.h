/* rule.h - a survey's rule: when a new response matches its conditions, its actions run
 * (webhook deliveries, a follow-up case). Parsing, validation, matching and JSON; storage
 * is in store.h ("rules"), the walk over a survey's rules in loop.h.
 *
 * Rule JSON (the README, "### Rules", documents it):
 *   {"id", "name", "enabled", "position", "stop",
 *    "when": {"nps"|"csat"|"ces": {"min"?, "max"?}, "stages"?, "touchpoints"?,
 *             "channels"?, "segments"?: [label, ...], "has_comment"?, "has_customer"?: bool},
 *    "actions": [{"type": "webhook", "endpoint": id}, {"type": "case", "assignee"?: label}]}
 * Every condition present must hold (AND); a metric condition needs that answer; a list
 * condition holds when the response's value is one of the list.
 *
 * Limits (CX_RULES_MAX rules per survey, CX_RULE_ACTIONS_MAX actions per rule,
 * CX_RULE_LIST_MAX items per list) keep the walk done for every response bounded.
 */
#ifndef CX_RULE_H
#define CX_RULE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "cx/error.h"
#include "cx/survey.h"
#include "cx/validate.h"

#define CX_RULES_MAX 64          /* per survey */
#define CX_RULE_ACTIONS_MAX 16   /* per rule */
#define CX_RULE_LIST_MAX 64      /* items in each of stages, touchpoints, channels, segments */
#define CX_RULE_NAME_MAX 200     /* bytes of UTF-8 */

/* A score band: holds when the answer is present and in [min, max]. */
struct cx_band {
	int on;          /* 0 = no condition on this metric */
	int min, max;    /* inclusive, within the metric's scale */
};

/* A list condition: holds when the value is present and one of items. */
struct cx_label_list {
	int on;          /* 0 = no condition */
	size_t n;
	char **items;
};

enum cx_action_type { CX_ACTION_WEBHOOK = 1, CX_ACTION_CASE = 2 };

struct cx_rule_action {
	enum cx_action_type type;
	char *endpoint;  /* webhook: the endpoint id */
	char *assignee;  /* case: the assignee label, or NULL */
};

/* One rule. Strings are owned (malloc) and freed by cx_rule_release. */
struct cx_rule {
	char id[CX_ID_MAX + 1];
	char *name;
	int enabled, stop;
	int position;                      /* 1-based; 0 = not given (POST: append) */
	struct cx_band nps, csat, ces;
	struct cx_label_list stages, touchpoints, channels, segments;
	int has_comment, has_customer;     /* -1 = no condition, else 0 or 1 */
	size_t nactions;
	struct cx_rule_action *actions;
	int64_t created_at, updated_at;    /* unix seconds; set by the store */
};

/* Validate body into *out (release it after, also on failure). `path_id`, if not NULL, is
 * the rule id from the URL (PUT): the body's id may then be left out but must match.
 * `survey`, if not NULL, is the survey the rule belongs to: stages must be among its
 * stages (422 `unknown_stage`). Errors are 422 with the offending field named, e.g.
 * "when.nps.max", "actions[1].endpoint". Whether endpoints exist is the store's check. */
int cx_rule_from_json(const json_t *body, const char *path_id, const struct cx_survey *survey,
		      struct cx_rule *out, struct cx_error *err);
/* The definition the store keeps (name, enabled, stop, when, actions; no id, position or
 * times); new reference, NULL when out of memory. */
json_t *cx_rule_definition_json(const struct cx_rule *r);
/* The full rule JSON of the API; new reference, NULL when out of memory. */
json_t *cx_rule_to_json(const struct cx_rule *r);
/* 1 if every condition of r holds for resp (enabled is not looked at), else 0. */
int cx_rule_match(const struct cx_rule *r, const struct cx_response *resp);
/* Deep copy; 0, or -1 when out of memory (dst released). */
int cx_rule_copy(struct cx_rule *dst, const struct cx_rule *src);
/* Free what r owns (not r itself) and zero it. */
void cx_rule_release(struct cx_rule *r);

/* A survey's rules in evaluation order, immutable once published (store.h: rules). */
struct cx_ruleset {
	size_t n;
	struct cx_rule *rules;
};

#endif
