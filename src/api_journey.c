/* api_journey.c - GET /v1/surveys/{id}/journey: the survey's stages in journey order,
 * their touchpoints (every touchpoint of the journey map, answered or not: n = 0 shows a
 * gap in coverage), the change against the previous period of equal length, and the pain
 * points (rules and tests in include/cx/journey.h).
 *
 * Work is O(cells log cells): cells are found through a hash index, sorted once. At most
 * CX_MAX_CELLS cells (422 too_many_groups past it, before any JSON is built).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/app.h"
#include "cx/case.h"
#include "cx/cxtime.h"
#include "cx/journey.h"
#include "cx/routes.h"

#define DEFAULT_DAYS 30
#define MAX_DAYS 3660
#define DEFAULT_MIN_N 30

static const char *const params[] = { "from", "to", "segment", "channel", "min_n" };
static const char *const metric_names[] = { "nps", "csat", "ces" };

/* A follow-up case opened in the period counts in its cell. */
static int on_case(void *ctx, const struct cx_case_fact *f)
{
	struct cx_journey_cells *c = ctx;
	struct cx_journey_cell *e = cx_journey_cell_of(c, f->stage, f->touchpoint);

	return !e || cx_case_stats_add(&e->cases, f) ? -1 : 0;
}

/* Every touchpoint of the map under a listed stage gets a cell, answered or not. */
static int seed_map(struct cx_journey_cells *c)
{
	const struct cx_survey *s = c->survey;

	for (size_t i = 0; i < s->ntouchpoints; i++)
		if (cx_survey_stage_index(s, s->touchpoints[i].stage) >= 0 &&
		    !cx_journey_cell_of(c, s->touchpoints[i].stage, s->touchpoints[i].name))
			return -1;
	return 0;
}

static int parse(struct cx_req *req, const struct cx_survey *s, struct cx_scores_query *q,
		 int64_t *min_n, struct cx_error *err)
{
	const char *from = cx_req_query(req, "from"), *to = cx_req_query(req, "to");
	const char *mn = cx_req_query(req, "min_n");
	const char *labels[] = { "segment", "channel" };
	const char **slots[] = { &q->segment, &q->channel };
	char *end;

	if (cx_api_known_params(req, params, sizeof(params) / sizeof(params[0]), err))
		return -1;
	q->to_day = cx_time_day_of(cx_time_now()) + 1;
	if (to && cx_time_parse_day(to, &q->to_day))
		return cx_error_set(err, 422, "invalid_time", "to", "to must be a date (2026-11-23) "
				    "or an RFC 3339 time at midnight UTC");
	q->from_day = q->to_day - DEFAULT_DAYS;
	if (from && cx_time_parse_day(from, &q->from_day))
		return cx_error_set(err, 422, "invalid_time", "from", "from must be a date "
				    "(2026-11-01) or an RFC 3339 time at midnight UTC");
	if (q->from_day >= q->to_day)
		return cx_error_set(err, 422, "invalid_range", "to", "to must be after from");
	if (q->to_day - q->from_day > MAX_DAYS)
		return cx_error_set(err, 422, "invalid_range", "from", "a journey covers at most "
				    "%d days", MAX_DAYS);
	for (int i = 0; i < 2; i++)
		if (cx_api_label_param(req, labels[i], slots[i], err))
			return -1;
	*min_n = DEFAULT_MIN_N;
	if (mn && ((*min_n = strtoll(mn, &end, 10)) < 1 || *end || *min_n > 1000000))
		return cx_error_set(err, 422, "invalid_min_n", "min_n",
				    "min_n must be a whole number from 1 to 1000000");
	q->survey = s->id;
	q->dims = CX_DIM_STAGE | CX_DIM_TOUCHPOINT;
	return 0;
}

/* Scores of h plus, per metric, the change from `then`. */
static json_t *scored(const struct cx_hist *now, const struct cx_hist *then)
{
	json_t *o = cx_score_json(now), *change = json_object();

	for (int m = 0; m < 3; m++) {
		struct cx_compare c;
		int ok = cx_journey_compare(then, now, (enum cx_metric)m, &c) == 0;

		json_object_set_new(change, metric_names[m], cx_compare_change_json(&c, ok));
	}
	json_object_set_new(o, "change", change);
	return o;
}

static json_t *stage_json(const char *stage, const struct cx_journey_cells *c, size_t lo, size_t hi)
{
	struct cx_hist now = { 0 }, then = { 0 };
	struct cx_case_stats cases = { 0 };
	json_t *tps = json_array(), *o;

	for (size_t i = lo; i < hi; i++) {
		json_t *t = json_pack("{s:s}", "touchpoint", c->v[i].touchpoint);
		json_t *sc = scored(&c->v[i].now, &c->v[i].then);

		json_object_update(t, sc);
		json_decref(sc);
		cx_case_stats_merge(&cases, &c->v[i].cases);   /* (before the cell's are sorted) */
		json_object_set_new(t, "cases", cx_case_stats_json(&c->v[i].cases));
		json_array_append_new(tps, t);
		cx_hist_add(&now, &c->v[i].now);
		cx_hist_add(&then, &c->v[i].then);
	}
	o = json_pack("{s:s}", "stage", stage);
	{
		json_t *sc = scored(&now, &then);

		json_object_update(o, sc);
		json_decref(sc);
	}
	json_object_set_new(o, "cases", cx_case_stats_json(&cases));
	json_object_set_new(o, "touchpoints", tps);
	cx_case_stats_release(&cases);
	return o;
}

struct pain {
	const struct cx_journey_cell *cell;
	struct cx_compare cmp;
};

static int by_gap(const void *a, const void *b)
{
	const struct pain *x = a, *y = b;

	return x->cmp.delta < y->cmp.delta ? -1 : x->cmp.delta > y->cmp.delta;
}

static json_t *pain_points(const struct cx_journey_cells *c, const struct cx_hist *all, int64_t min_n)
{
	int m = cx_journey_headline(all);
	struct pain *p = calloc(c->n + 1, sizeof(*p));
	json_t *out = json_array();
	size_t np = 0;

	if (m < 0 || !p) {
		free(p);
		return out;
	}
	for (size_t i = 0; i < c->n; i++)
		if (cx_journey_is_pain(&c->v[i].now, all, (enum cx_metric)m, min_n, &p[np].cmp))
			p[np++].cell = &c->v[i];
	qsort(p, np, sizeof(*p), by_gap);   /* most negative delta (largest gap) first */
	for (size_t i = 0; i < np; i++) {
		const struct cx_compare *k = &p[i].cmp;
		char reason[400];

		snprintf(reason, sizeof(reason), "%s %.1f%s at %s / %s (n=%lld) against %.1f%s for "
			 "the rest of the journey (n=%lld): %.1f %s lower, z = %.2f, significant at 95%%",
			 m == CX_METRIC_NPS ? "NPS" : "CSAT", k->b, m == CX_METRIC_NPS ? "" : "%",
			 p[i].cell->stage, p[i].cell->touchpoint, (long long)k->nb, k->a,
			 m == CX_METRIC_NPS ? "" : "%", (long long)k->na, -k->delta,
			 m == CX_METRIC_NPS ? "points" : "percentage points", k->z);
		json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:f, s:I, s:f, s:I, s:f, s:f, s:s}",
			"stage", p[i].cell->stage, "touchpoint", p[i].cell->touchpoint,
			"metric", metric_names[m], "score", round(k->b * 10000) / 10000,
			"n", (json_int_t)k->nb, "rest_score", round(k->a * 10000) / 10000,
			"rest_n", (json_int_t)k->na, "gap", round(-k->delta * 10000) / 10000,
			"z", round(k->z * 10000) / 10000, "reason", reason));
	}
	free(p);
	return out;
}

static json_t *period_json(int64_t from, int64_t to)
{
	char f[16], t[16];

	cx_time_format_day(from, f, sizeof(f));
	cx_time_format_day(to, t, sizeof(t));
	return json_pack("{s:s, s:s}", "from", f, "to", t);
}

static json_t *journey_json(const struct cx_survey *s, struct cx_journey_cells *c,
			    const struct cx_scores_query *q, int64_t min_n)
{
	struct cx_hist all = { 0 }, all_then = { 0 };
	json_t *stages = json_array(), *out, *overall;
	size_t i = 0;

	cx_journey_cells_sort(c);
	for (size_t k = 0; k < c->n; k++) {
		cx_hist_add(&all, &c->v[k].now);
		cx_hist_add(&all_then, &c->v[k].then);
	}
	/* every stage of the survey, in order, answered or not; then any stage the data has
	 * that the survey no longer defines */
	for (size_t st = 0; st < s->nstages; st++) {
		size_t lo = i;

		while (i < c->n && strcmp(c->v[i].stage, s->stages[st]) == 0)
			i++;
		json_array_append_new(stages, stage_json(s->stages[st], c, lo, i));
	}
	while (i < c->n) {
		size_t lo = i;

		while (i < c->n && strcmp(c->v[i].stage, c->v[lo].stage) == 0)
			i++;
		json_array_append_new(stages, stage_json(c->v[lo].stage, c, lo, i));
	}
	overall = scored(&all, &all_then);
	out = period_json(q->from_day, q->to_day);
	json_object_set_new(out, "survey", json_string(s->id));
	json_object_set_new(out, "previous", period_json(2 * q->from_day - q->to_day, q->from_day));
	json_object_set_new(out, "filters", json_pack("{s:s?, s:s?}", "segment", q->segment,
						      "channel", q->channel));
	json_object_set_new(out, "min_n", json_integer(min_n));
	json_object_set_new(out, "test", json_string(cx_journey_test_name));
	json_object_set_new(out, "overall", overall);
	json_object_set_new(out, "stages", stages);
	json_object_set_new(out, "pain_points", pain_points(c, &all, min_n));
	return out;
}

enum cx_handled cx_api_journey(struct cx_req *req)
{
	struct cx_survey s;
	struct cx_scores_query q = { 0 };
	struct cx_journey_cells c;
	struct cx_error err = { 0 };
	int64_t min_n = 0, days;

	if (cx_api_path_survey(req, &s))
		return CX_DONE;
	cx_journey_cells_init(&c, &s);
	if (parse(req, &s, &q, &min_n, &err)) {
		cx_reply_error(req, &err);
		goto out;
	}
	if (seed_map(&c) || cx_store_scores(req->app->store, &q, cx_journey_cells_on_scores, &c, &err))
		goto failed;
	days = q.to_day - q.from_day;      /* the previous period of equal length */
	q.to_day = q.from_day;
	q.from_day -= days;
	c.then = 1;
	if (cx_store_scores(req->app->store, &q, cx_journey_cells_on_scores, &c, &err))
		goto failed;
	q.from_day = q.to_day;
	q.to_day = q.from_day + days;
	if (cx_store_case_facts(req->app->store, s.id, q.from_day * 86400, q.to_day * 86400,
				q.channel, q.segment, on_case, &c, &err))
		goto failed;
	cx_reply_json_take(req, 200, journey_json(&s, &c, &q, min_n));
	goto out;
failed:
	if (c.too_many)
		cx_error_set(&err, 422, "too_many_groups", NULL, "the journey would hold more "
			     "than %d (stage, touchpoint) cells; filter on a channel or segment or "
			     "narrow from/to", CX_MAX_CELLS);
	else if (!err.status)
		cx_error_set(&err, 503, "out_of_memory", NULL, "out of memory");
	cx_reply_error(req, &err);
out:
	cx_journey_cells_release(&c);
	cx_survey_release(&s);
	return CX_DONE;
}
