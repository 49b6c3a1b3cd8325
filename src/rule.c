/* rule.c - a rule's definition: parse, validate, match, JSON; see include/cx/rule.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/rule.h"

static const char *const rule_fields[] = {
	"id", "name", "enabled", "position", "stop", "when", "actions",
	"created_at", "updated_at",   /* read-only: accepted and ignored, so a GET can be PUT back */
};
static const char *const when_fields[] = {
	"nps", "csat", "ces", "stages", "touchpoints", "channels", "segments", "has_comment",
	"has_customer",
};

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

static int listed(const char *key, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(key, names[i]) == 0)
			return 1;
	return 0;
}

/* 422 unknown_field for the first key of obj not in names; field is prefix + key. */
static int known_fields(const json_t *obj, const char *prefix, const char *const *names,
			size_t n, struct cx_error *err)
{
	const char *key;
	json_t *v;
	char field[80];

	json_object_foreach((json_t *)obj, key, v) {
		if (listed(key, names, n))
			continue;
		snprintf(field, sizeof(field), "%s%.60s", prefix, key);
		return cx_error_set(err, 422, "unknown_field", field, "unknown field '%s'", field);
	}
	return 0;
}

static int oom(struct cx_error *err)
{
	return cx_error_set(err, 503, "out_of_memory", NULL, "out of memory");
}

static int valid_text(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return 0;
	}
	return 1;
}

static int parse_id(const json_t *body, const char *path_id, struct cx_rule *out,
		    struct cx_error *err)
{
	const json_t *v = json_object_get(body, "id");
	const char *id;

	if (!v && !path_id)
		return cx_error_set(err, 422, "missing_field", "id", "id is required");
	if (v && (!json_is_string(v) || !cx_survey_valid_id(json_string_value(v))))
		return cx_error_set(err, 422, "invalid_id", "id", "id must be 1-%d characters of "
				    "A-Z a-z 0-9 _ . -", CX_ID_MAX);
	id = v ? json_string_value(v) : path_id;
	if (path_id && strcmp(id, path_id) != 0)
		return cx_error_set(err, 422, "id_mismatch", "id", "the body's id '%.64s' is not "
				    "the path's '%.64s'", id, path_id);
	if (!cx_survey_valid_id(id))
		return cx_error_set(err, 422, "invalid_id", "id", "id must be 1-%d characters of "
				    "A-Z a-z 0-9 _ . -", CX_ID_MAX);
	snprintf(out->id, sizeof(out->id), "%s", id);
	return 0;
}

static int parse_name(const json_t *body, struct cx_rule *out, struct cx_error *err)
{
	const json_t *v = json_object_get(body, "name");

	if (!v)
		return cx_error_set(err, 422, "missing_field", "name", "name is required");
	if (!json_is_string(v) || json_string_length(v) < 1 ||
	    json_string_length(v) > CX_RULE_NAME_MAX ||
	    !valid_text(json_string_value(v), json_string_length(v)))
		return cx_error_set(err, 422, "invalid_name", "name", "name must be 1-%d bytes of "
				    "text without control characters", CX_RULE_NAME_MAX);
	return (out->name = strdup(json_string_value(v))) ? 0 : oom(err);
}

/* An optional boolean; *out = dflt when absent. */
static int parse_bool(const json_t *obj, const char *name, const char *field, int dflt,
		      int *out, struct cx_error *err)
{
	const json_t *v = json_object_get(obj, name);

	*out = dflt;
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return cx_error_set(err, 422, "invalid_rule", field, "%s must be true or false",
				    field);
	*out = json_is_true(v);
	return 0;
}

static int parse_position(const json_t *body, struct cx_rule *out, struct cx_error *err)
{
	const json_t *v = json_object_get(body, "position");

	out->position = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > CX_RULES_MAX)
		return cx_error_set(err, 422, "invalid_position", "position", "position must be a "
				    "whole number from 1 to %d", CX_RULES_MAX);
	out->position = (int)json_integer_value(v);
	return 0;
}

/* A metric band {"min"?, "max"?} within [lo, hi]. */
static int parse_band(const json_t *when, const char *metric, int lo, int hi,
		      struct cx_band *out, struct cx_error *err)
{
	const json_t *v = json_object_get(when, metric);
	static const char *const band_fields[] = { "min", "max" };
	char prefix[40], field[48];
	const char *ends[2] = { "min", "max" };
	int *vals[2] = { &out->min, &out->max };

	memset(out, 0, sizeof(*out));
	if (!v)
		return 0;
	snprintf(prefix, sizeof(prefix), "when.%s.", metric);
	snprintf(field, sizeof(field), "when.%s", metric);
	if (!json_is_object(v) || json_object_size(v) == 0)
		return cx_error_set(err, 422, "invalid_condition", field, "%s must be an object "
				    "with min, max or both (from %d to %d)", field, lo, hi);
	if (known_fields(v, prefix, band_fields, 2, err))
		return -1;
	out->min = lo;
	out->max = hi;
	for (int i = 0; i < 2; i++) {
		const json_t *e = json_object_get(v, ends[i]);

		if (!e)
			continue;
		snprintf(field, sizeof(field), "when.%s.%s", metric, ends[i]);
		if (!json_is_integer(e) || json_integer_value(e) < lo || json_integer_value(e) > hi)
			return cx_error_set(err, 422, "invalid_condition", field, "%s must be a "
					    "whole number from %d to %d", field, lo, hi);
		*vals[i] = (int)json_integer_value(e);
	}
	if (out->min > out->max) {
		snprintf(field, sizeof(field), "when.%s", metric);
		return cx_error_set(err, 422, "invalid_condition", field, "%s: min %d is above "
				    "max %d", field, out->min, out->max);
	}
	out->on = 1;
	return 0;
}

static void free_list(struct cx_label_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	memset(l, 0, sizeof(*l));
}

/* A list of 1-CX_RULE_LIST_MAX labels; stages must be stages of survey (when given). */
static int parse_list(const json_t *when, const char *name, const struct cx_survey *survey,
		      struct cx_label_list *out, struct cx_error *err)
{
	const json_t *v = json_object_get(when, name), *e;
	char field[48];
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!v)
		return 0;
	snprintf(field, sizeof(field), "when.%s", name);
	if (!json_is_array(v) || json_array_size(v) == 0)
		return cx_error_set(err, 422, "invalid_condition", field, "%s must be a list of "
				    "1-%d labels", field, CX_RULE_LIST_MAX);
	if (json_array_size(v) > CX_RULE_LIST_MAX)
		return cx_error_set(err, 422, "too_many_items", field, "%s has %zu items; the "
				    "limit is %d", field, json_array_size(v), CX_RULE_LIST_MAX);
	if (!(out->items = calloc(json_array_size(v), sizeof(char *))))
		return oom(err);
	out->on = 1;
	json_array_foreach(v, i, e) {
		const char *s = json_string_value(e);

		snprintf(field, sizeof(field), "when.%s[%zu]", name, i);
		if (!json_is_string(e) || !cx_valid_label(s, json_string_length(e), CX_LABEL_MAX))
			return cx_error_set(err, 422, "invalid_label", field, "%s must be 1-%d "
					    "characters of A-Z a-z 0-9 and space _ . : / @ + -",
					    field, CX_LABEL_MAX);
		if (survey && strcmp(name, "stages") == 0 && cx_survey_stage_index(survey, s) < 0)
			return cx_error_set(err, 422, "unknown_stage", field, "survey '%s' has no "
					    "stage '%.64s'", survey->id, s);
		if (!(out->items[out->n] = strdup(s)))
			return oom(err);
		out->n++;
	}
	return 0;
}

static int parse_when(const json_t *body, const struct cx_survey *survey, struct cx_rule *out,
		      struct cx_error *err)
{
	const json_t *when = json_object_get(body, "when");

	if (!when)
		return 0;   /* no condition: matches every response */
	if (!json_is_object(when))
		return cx_error_set(err, 422, "invalid_rule", "when", "when must be an object of "
				    "conditions ({} matches every response)");
	if (known_fields(when, "when.", when_fields, NELEMS(when_fields), err) ||
	    parse_band(when, "nps", 0, 10, &out->nps, err) ||
	    parse_band(when, "csat", 1, 5, &out->csat, err) ||
	    parse_band(when, "ces", 1, 7, &out->ces, err) ||
	    parse_list(when, "stages", survey, &out->stages, err) ||
	    parse_list(when, "touchpoints", NULL, &out->touchpoints, err) ||
	    parse_list(when, "channels", NULL, &out->channels, err) ||
	    parse_list(when, "segments", NULL, &out->segments, err) ||
	    parse_bool(when, "has_comment", "when.has_comment", -1, &out->has_comment, err) ||
	    parse_bool(when, "has_customer", "when.has_customer", -1, &out->has_customer, err))
		return -1;
	return 0;
}

/* {"type": "webhook", "endpoint": id}: action i of out. */
static int parse_webhook(const json_t *a, size_t i, struct cx_rule *out, struct cx_error *err)
{
	const json_t *ep = json_object_get(a, "endpoint");
	const char *id = json_string_value(ep);
	char field[48];

	snprintf(field, sizeof(field), "actions[%zu].endpoint", i);
	if (!id || !cx_survey_valid_id(id))
		return cx_error_set(err, 422, "invalid_action", field, "a webhook action names an "
				    "endpoint id (1-%d characters of A-Z a-z 0-9 _ . -)", CX_ID_MAX);
	for (size_t k = 0; k < i; k++)
		if (out->actions[k].endpoint && strcmp(out->actions[k].endpoint, id) == 0)
			return cx_error_set(err, 422, "invalid_action", field, "endpoint '%s' is "
					    "named twice", id);
	snprintf(field, sizeof(field), "actions[%zu].assignee", i);
	if (json_object_get(a, "assignee"))
		return cx_error_set(err, 422, "invalid_action", field, "a webhook action has no "
				    "assignee");
	out->actions[i].type = CX_ACTION_WEBHOOK;
	return (out->actions[i].endpoint = strdup(id)) ? 0 : oom(err);
}

/* {"type": "case", "assignee"?: label}: action i of out; at most one per rule. */
static int parse_case(const json_t *a, size_t i, struct cx_rule *out, struct cx_error *err)
{
	const json_t *as = json_object_get(a, "assignee");
	char field[48];

	snprintf(field, sizeof(field), "actions[%zu].type", i);
	for (size_t k = 0; k < i; k++)
		if (out->actions[k].type == CX_ACTION_CASE)
			return cx_error_set(err, 422, "invalid_action", field, "a rule opens at "
					    "most one case");
	snprintf(field, sizeof(field), "actions[%zu].endpoint", i);
	if (json_object_get(a, "endpoint"))
		return cx_error_set(err, 422, "invalid_action", field, "a case action names no "
				    "endpoint");
	out->actions[i].type = CX_ACTION_CASE;
	if (!as || json_is_null(as))
		return 0;
	snprintf(field, sizeof(field), "actions[%zu].assignee", i);
	if (!json_is_string(as) ||
	    !cx_valid_label(json_string_value(as), json_string_length(as), CX_LABEL_MAX))
		return cx_error_set(err, 422, "invalid_action", field, "assignee must be 1-%d "
				    "characters of A-Z a-z 0-9 and space _ . : / @ + -",
				    CX_LABEL_MAX);
	return (out->actions[i].assignee = strdup(json_string_value(as))) ? 0 : oom(err);
}

static int parse_action(const json_t *a, size_t i, struct cx_rule *out, struct cx_error *err)
{
	static const char *const action_fields[] = { "type", "endpoint", "assignee" };
	const char *type = json_string_value(json_object_get(a, "type"));
	char prefix[32], field[48];

	snprintf(prefix, sizeof(prefix), "actions[%zu].", i);
	snprintf(field, sizeof(field), "actions[%zu]", i);
	if (!json_is_object(a))
		return cx_error_set(err, 422, "invalid_action", field, "%s must be an object with "
				    "a type: webhook or case", field);
	if (known_fields(a, prefix, action_fields, NELEMS(action_fields), err))
		return -1;
	if (type && strcmp(type, "webhook") == 0)
		return parse_webhook(a, i, out, err);
	if (type && strcmp(type, "case") == 0)
		return parse_case(a, i, out, err);
	snprintf(field, sizeof(field), "actions[%zu].type", i);
	return cx_error_set(err, 422, "invalid_action", field, "%s must be \"webhook\" or "
			    "\"case\"", field);
}

static int parse_actions(const json_t *body, struct cx_rule *out, struct cx_error *err)
{
	const json_t *v = json_object_get(body, "actions"), *a;
	size_t i;

	if (!v)
		return cx_error_set(err, 422, "missing_field", "actions", "actions is required: "
				    "a rule does at least one thing");
	if (!json_is_array(v) || json_array_size(v) == 0)
		return cx_error_set(err, 422, "invalid_action", "actions", "actions must be a "
				    "list of 1-%d actions", CX_RULE_ACTIONS_MAX);
	if (json_array_size(v) > CX_RULE_ACTIONS_MAX)
		return cx_error_set(err, 422, "too_many_actions", "actions", "a rule has at most "
				    "%d actions; this one has %zu", CX_RULE_ACTIONS_MAX,
				    json_array_size(v));
	if (!(out->actions = calloc(json_array_size(v), sizeof(*out->actions))))
		return oom(err);
	json_array_foreach(v, i, a) {
		out->nactions = i + 1;
		if (parse_action(a, i, out, err))
			return -1;
	}
	return 0;
}

int cx_rule_from_json(const json_t *body, const char *path_id, const struct cx_survey *survey,
		      struct cx_rule *out, struct cx_error *err)
{
	memset(out, 0, sizeof(*out));
	out->has_comment = out->has_customer = -1;
	if (!json_is_object(body)) {
		cx_error_set(err, 422, "invalid_rule", NULL, "a rule is a JSON object");
		goto fail;
	}
	if (known_fields(body, "", rule_fields, NELEMS(rule_fields), err) ||
	    parse_id(body, path_id, out, err) || parse_name(body, out, err) ||
	    parse_bool(body, "enabled", "enabled", 1, &out->enabled, err) ||
	    parse_bool(body, "stop", "stop", 0, &out->stop, err) ||
	    parse_position(body, out, err) || parse_when(body, survey, out, err) ||
	    parse_actions(body, out, err))
		goto fail;
	return 0;
fail:
	cx_rule_release(out);
	return -1;
}

static json_t *band_json(const struct cx_band *b)
{
	return json_pack("{s:i, s:i}", "min", b->min, "max", b->max);
}

static json_t *list_json(const struct cx_label_list *l)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < l->n; i++)
		json_array_append_new(a, json_string(l->items[i]));
	return a;
}

static json_t *when_json(const struct cx_rule *r)
{
	json_t *w = json_object();

	if (!w)
		return NULL;
	if (r->nps.on)
		json_object_set_new(w, "nps", band_json(&r->nps));
	if (r->csat.on)
		json_object_set_new(w, "csat", band_json(&r->csat));
	if (r->ces.on)
		json_object_set_new(w, "ces", band_json(&r->ces));
	if (r->stages.on)
		json_object_set_new(w, "stages", list_json(&r->stages));
	if (r->touchpoints.on)
		json_object_set_new(w, "touchpoints", list_json(&r->touchpoints));
	if (r->channels.on)
		json_object_set_new(w, "channels", list_json(&r->channels));
	if (r->segments.on)
		json_object_set_new(w, "segments", list_json(&r->segments));
	if (r->has_comment >= 0)
		json_object_set_new(w, "has_comment", json_boolean(r->has_comment));
	if (r->has_customer >= 0)
		json_object_set_new(w, "has_customer", json_boolean(r->has_customer));
	return w;
}

static json_t *actions_json(const struct cx_rule *r)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < r->nactions; i++) {
		const struct cx_rule_action *act = &r->actions[i];

		if (act->type == CX_ACTION_WEBHOOK)
			json_array_append_new(a, json_pack("{s:s, s:s}", "type", "webhook",
							   "endpoint", act->endpoint));
		else
			json_array_append_new(a, json_pack("{s:s, s:s?}", "type", "case",
							   "assignee", act->assignee));
	}
	return a;
}

json_t *cx_rule_definition_json(const struct cx_rule *r)
{
	return json_pack("{s:s, s:b, s:b, s:o, s:o}", "name", r->name, "enabled", r->enabled,
			 "stop", r->stop, "when", when_json(r), "actions", actions_json(r));
}

json_t *cx_rule_to_json(const struct cx_rule *r)
{
	return json_pack("{s:s, s:s, s:b, s:i, s:b, s:o, s:o, s:I, s:I}", "id", r->id, "name",
			 r->name, "enabled", r->enabled, "position", r->position, "stop", r->stop,
			 "when", when_json(r), "actions", actions_json(r), "created_at",
			 (json_int_t)r->created_at, "updated_at", (json_int_t)r->updated_at);
}

static int band_holds(const struct cx_band *b, int answer)
{
	return !b->on || (answer >= 0 && answer >= b->min && answer <= b->max);
}

static int list_holds(const struct cx_label_list *l, const char *value)
{
	if (!l->on)
		return 1;
	if (!value)
		return 0;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->items[i], value) == 0)
			return 1;
	return 0;
}

static int flag_holds(int want, const char *value)
{
	return want < 0 || want == (value != NULL && value[0] != '\0');
}

int cx_rule_match(const struct cx_rule *r, const struct cx_response *resp)
{
	return band_holds(&r->nps, resp->nps) && band_holds(&r->csat, resp->csat) &&
	       band_holds(&r->ces, resp->ces) && list_holds(&r->stages, resp->stage) &&
	       list_holds(&r->touchpoints, resp->touchpoint) &&
	       list_holds(&r->channels, resp->channel) && list_holds(&r->segments, resp->segment) &&
	       flag_holds(r->has_comment, resp->comment) &&
	       flag_holds(r->has_customer, resp->customer);
}

static int copy_list(struct cx_label_list *dst, const struct cx_label_list *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->on = src->on;
	if (!src->n)
		return 0;
	if (!(dst->items = calloc(src->n, sizeof(char *))))
		return -1;
	for (; dst->n < src->n; dst->n++)
		if (!(dst->items[dst->n] = strdup(src->items[dst->n])))
			return -1;
	return 0;
}

int cx_rule_copy(struct cx_rule *dst, const struct cx_rule *src)
{
	*dst = *src;
	dst->name = NULL;
	dst->actions = NULL;
	dst->nactions = 0;
	memset(&dst->stages, 0, sizeof(dst->stages));
	memset(&dst->touchpoints, 0, sizeof(dst->touchpoints));
	memset(&dst->channels, 0, sizeof(dst->channels));
	memset(&dst->segments, 0, sizeof(dst->segments));
	if (!(dst->name = strdup(src->name)) || copy_list(&dst->stages, &src->stages) ||
	    copy_list(&dst->touchpoints, &src->touchpoints) ||
	    copy_list(&dst->channels, &src->channels) ||
	    copy_list(&dst->segments, &src->segments))
		goto fail;
	if (src->nactions && !(dst->actions = calloc(src->nactions, sizeof(*dst->actions))))
		goto fail;
	for (; dst->nactions < src->nactions; dst->nactions++) {
		const struct cx_rule_action *a = &src->actions[dst->nactions];
		struct cx_rule_action *b = &dst->actions[dst->nactions];

		b->type = a->type;
		if ((a->endpoint && !(b->endpoint = strdup(a->endpoint))) ||
		    (a->assignee && !(b->assignee = strdup(a->assignee))))
			goto fail;
	}
	return 0;
fail:
	cx_rule_release(dst);
	return -1;
}

void cx_rule_release(struct cx_rule *r)
{
	free(r->name);
	free_list(&r->stages);
	free_list(&r->touchpoints);
	free_list(&r->channels);
	free_list(&r->segments);
	for (size_t i = 0; i < r->nactions; i++) {
		free(r->actions[i].endpoint);
		free(r->actions[i].assignee);
	}
	free(r->actions);
	memset(r, 0, sizeof(*r));
	r->has_comment = r->has_customer = -1;
}
