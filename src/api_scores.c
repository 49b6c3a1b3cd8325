/* api_scores.c - GET /v1/surveys/{id}/scores: filters and groupings over the rollups.
 *
 * SQL sums the rollup histograms per group (store.c); this file checks the query, orders
 * the groups (stages in the survey's journey order) and turns histograms into scores.
 * An answer holds at most CX_MAX_CELLS groups (series x buckets, counting the empty ones a
 * trend lists): the collection stops as soon as the data passes it, and the count is
 * checked again before any bucket is filled or any JSON is built (422 too_many_groups).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/app.h"
#include "cx/cxtime.h"
#include "cx/journey.h"
#include "cx/routes.h"
#include "cx/trend.h"

static const char *const dim_names[] = { "stage", "touchpoint", "channel", "segment" };
static const char *const bucket_names[] = { NULL, "day", "week", "month" };
static const char *const known_params[] = {
	"from", "to", "stage", "touchpoint", "channel", "segment", "by", "tz",
};

struct group {
	char *key[4];           /* stage, touchpoint, channel, segment; NULL = none */
	int64_t bucket_day;
	struct cx_hist hist;
	int stage_rank;
	size_t seq;
};

struct collect {
	const struct cx_survey *survey;
	struct group *groups;
	size_t n, cap;
	int too_many;        /* the store's groups alone passed CX_MAX_CELLS */
};

/* by=stage,touchpoint,...,day|week|month */
static int parse_by(const char *by, struct cx_scores_query *q, struct cx_error *err)
{
	char buf[128];
	char *save = NULL, *tok;

	if (!by || !by[0])
		return 0;
	if (strlen(by) >= sizeof(buf))
		return cx_error_set(err, 422, "invalid_by", "by", "by is too long");
	snprintf(buf, sizeof(buf), "%s", by);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned bit = 0;
		int bucket = 0;

		for (unsigned i = 0; i < 4; i++)
			if (strcmp(tok, dim_names[i]) == 0)
				bit = 1u << i;
		for (int b = 1; b <= 3; b++)
			if (strcmp(tok, bucket_names[b]) == 0)
				bucket = b;
		if (!bit && !bucket)
			return cx_error_set(err, 422, "invalid_by", "by", "by takes stage, "
					    "touchpoint, channel, segment and one of day, week, "
					    "month; got '%.40s'", tok);
		if ((bit & q->dims) || (bucket && q->bucket))
			return cx_error_set(err, 422, "invalid_by", "by", "'%.40s' repeats a "
					    "grouping or adds a second time bucket", tok);
		q->dims |= bit;
		q->bucket = (enum cx_bucket)(bucket ? bucket : (int)q->bucket);
	}
	return 0;
}

/* tz=+03:00 / -05:30 / Z: a UTC offset in whole quarter hours, at most 14 hours
 * (include/cx/routes.h; the funnel takes it too). */
int cx_api_parse_tz(const char *tz, int *minutes)
{
	int h, m;
	char sign, tail;

	*minutes = 0;
	if (!tz || strcmp(tz, "Z") == 0)
		return 0;
	if (strlen(tz) != 6 || sscanf(tz, "%c%2d:%2d%c", &sign, &h, &m, &tail) != 3 ||
	    (sign != '+' && sign != '-' && sign != ' ') || tz[3] != ':' || h > 14 || m > 59 ||
	    m % 15 || h * 60 + m > 14 * 60)
		return -1;
	*minutes = (sign == '-' ? -1 : 1) * (h * 60 + m);   /* ' ' is an unescaped '+' */
	return 0;
}

static int parse_filters(struct cx_req *req, const struct cx_survey *s,
			 struct cx_scores_query *q, struct cx_error *err)
{
	static const char *const labels[] = { "touchpoint", "channel", "segment" };
	const char **slots[] = { &q->touchpoint, &q->channel, &q->segment };
	const char *from = cx_req_query(req, "from"), *to = cx_req_query(req, "to");

	if (cx_api_known_params(req, known_params, sizeof(known_params) / sizeof(known_params[0]),
				err))
		return -1;
	if (cx_api_parse_tz(cx_req_query(req, "tz"), &q->tz_minutes))
		return cx_error_set(err, 422, "invalid_tz", "tz", "tz must be a UTC offset such as "
				    "+03:00, -05:30 or Z, in quarter hours, at most 14 hours");
	q->from_day = INT64_MIN;
	q->to_day = INT64_MAX;
	if (from && cx_time_parse_day(from, &q->from_day))
		return cx_error_set(err, 422, "invalid_time", "from", "from must be a date "
				    "(2026-11-23) or an RFC 3339 time at midnight UTC");
	if (to && cx_time_parse_day(to, &q->to_day))
		return cx_error_set(err, 422, "invalid_time", "to", "to must be a date "
				    "(2026-11-23) or an RFC 3339 time at midnight UTC");
	if (q->from_day >= q->to_day)
		return cx_error_set(err, 422, "invalid_range", "to", "to must be after from");
	q->stage = cx_req_query(req, "stage");
	if (q->stage && cx_survey_stage_index(s, q->stage) < 0)
		return cx_error_set(err, 422, "invalid_stage", "stage",
				    "'%.64s' is not a stage of survey '%s'", q->stage, s->id);
	for (int i = 0; i < 3; i++)
		if (cx_api_label_param(req, labels[i], slots[i], err))
			return -1;
	return parse_by(cx_req_query(req, "by"), q, err);
}

static int stage_rank(const struct cx_survey *s, const char *stage)
{
	int i = stage ? cx_survey_stage_index(s, stage) : -1;

	return i >= 0 ? i : (int)s->nstages;   /* stages no longer defined sort last */
}

static struct group *add_group(struct collect *c)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;
		struct group *g = realloc(c->groups, cap * sizeof(*g));

		if (!g)
			return NULL;
		c->groups = g;
		c->cap = cap;
	}
	memset(&c->groups[c->n], 0, sizeof(c->groups[0]));
	c->groups[c->n].seq = c->n;
	return &c->groups[c->n++];
}

static int on_group(void *ctx, const struct cx_group_key *key, const struct cx_hist *h)
{
	struct collect *c = ctx;
	const char *k[4] = { key->stage, key->touchpoint, key->channel, key->segment };
	struct group *g;

	if (c->n >= CX_MAX_CELLS) {   /* stop reading: the answer would be refused anyway */
		c->too_many = 1;
		return -1;
	}
	if (!(g = add_group(c)))
		return -1;
	for (int i = 0; i < 4; i++)
		g->key[i] = k[i] ? strdup(k[i]) : NULL;
	g->bucket_day = key->bucket_day;
	g->hist = *h;
	g->stage_rank = stage_rank(c->survey, key->stage);
	return 0;
}

static int cmp_key(const char *a, const char *b)
{
	return (a && b) ? strcmp(a, b) : (a != NULL) - (b != NULL);   /* none first */
}

/* Stages in journey order, then the other dimensions by name, then time. */
static int same_series(const struct group *x, const struct group *y)
{
	if (x->stage_rank != y->stage_rank)
		return x->stage_rank < y->stage_rank ? -1 : 1;
	for (int i = 0; i < 4; i++) {
		int c = cmp_key(x->key[i], y->key[i]);

		if (c)
			return c;
	}
	return 0;
}

static int series_cmp(const void *a, const void *b)
{
	return same_series(a, b);
}

static int by_journey(const void *a, const void *b)
{
	const struct group *x = a, *y = b;
	int c = same_series(x, y);

	if (c)
		return c;
	return x->bucket_day < y->bucket_day ? -1 : (x->bucket_day > y->bucket_day);
}

struct filling {
	struct collect *c;
	size_t template;     /* index of a group of the series being filled */
	int failed;
};

static int add_empty(void *ctx, int64_t bucket)
{
	struct filling *f = ctx;
	struct group *g = add_group(f->c);
	const struct group *t;

	if (!g)
		return -1;
	t = &f->c->groups[f->template];   /* after add_group: the array may have moved */
	*g = *t;
	memset(&g->hist, 0, sizeof(g->hist));
	for (int j = 0; j < 4; j++)
		g->key[j] = t->key[j] ? strdup(t->key[j]) : NULL;
	g->bucket_day = bucket;
	return 0;
}

/* Trends have no holes: every series (one per combination of the other dimensions) gets
 * every bucket of [from, to), empty ones with responses 0 and null scores. Groups must be
 * sorted by_journey; the result is too. */
static int fill_buckets(struct collect *c, enum cx_bucket b, int64_t from, int64_t to)
{
	size_t have = c->n;
	int64_t *days = malloc((have ? have : 1) * sizeof(*days));

	if (!days)
		return -1;
	for (size_t i = 0; i < have;) {
		struct filling f = { .c = c, .template = i };
		size_t end = i;

		while (end < have && same_series(&c->groups[i], &c->groups[end]) == 0) {
			days[end - i] = c->groups[end].bucket_day;
			end++;
		}
		if (cx_trend_fill(b, from, to, days, end - i, add_empty, &f)) {
			free(days);
			return -1;
		}
		i = end;
	}
	free(days);
	if (c->n > 1)
		qsort(c->groups, c->n, sizeof(c->groups[0]), by_journey);
	return 0;
}

/* by=stage alone lists every stage of the journey, answered or not. */
static void fill_stages(struct collect *c)
{
	size_t have = c->n;

	for (size_t i = 0; i < c->survey->nstages; i++) {
		size_t k;

		for (k = 0; k < have; k++)
			if (c->groups[k].key[0] && strcmp(c->groups[k].key[0], c->survey->stages[i]) == 0)
				break;
		if (k == have) {
			struct group *g = add_group(c);

			if (!g)
				return;
			g->key[0] = strdup(c->survey->stages[i]);
			g->stage_rank = (int)i;
		}
	}
}

/* 1 if probe is among the groups fill_touchpoints added (at most CX_TOUCHPOINTS_MAX). */
static int added(const struct collect *c, size_t from, const struct group *probe)
{
	for (size_t i = from; i < c->n; i++)
		if (same_series(&c->groups[i], probe) == 0)
			return 1;
	return 0;
}

/* by=touchpoint (with or without stage and a time bucket) lists every touchpoint of the
 * journey map that the filters admit, answered or not: a gap in coverage shows as n = 0.
 * -1 past CX_MAX_CELLS, -2 out of memory.
 * Groups must be sorted by_journey; found by binary search, so the work is
 * O((groups + touchpoints) log groups). Channel or segment groupings are left as they are
 * (which channel would an unanswered touchpoint be listed under?). */
static int fill_touchpoints(struct collect *c, const struct cx_scores_query *q, int64_t first)
{
	const struct cx_survey *s = c->survey;
	size_t have = c->n;

	if (!(q->dims & CX_DIM_TOUCHPOINT) || (q->dims & (CX_DIM_CHANNEL | CX_DIM_SEGMENT)))
		return 0;
	for (size_t i = 0; i < s->ntouchpoints; i++) {
		const struct cx_touchpoint *t = &s->touchpoints[i];
		struct group probe = { 0 }, *g;
		int rank = cx_survey_stage_index(s, t->stage);

		if (rank < 0 || (q->stage && strcmp(q->stage, t->stage) != 0) ||
		    (q->touchpoint && strcmp(q->touchpoint, t->name) != 0))
			continue;
		probe.key[0] = (q->dims & CX_DIM_STAGE) ? t->stage : NULL;
		probe.key[1] = t->name;
		probe.stage_rank = (q->dims & CX_DIM_STAGE) ? rank : (int)s->nstages;
		if (have && bsearch(&probe, c->groups, have, sizeof(probe), series_cmp))
			continue;
		if (added(c, have, &probe))
			continue;   /* the same name in two stages, grouped by touchpoint only */
		if (c->n >= CX_MAX_CELLS)
			return -1;
		if (!(g = add_group(c)))
			return -2;
		g->key[0] = probe.key[0] ? strdup(probe.key[0]) : NULL;
		g->key[1] = strdup(t->name);
		g->stage_rank = probe.stage_rank;
		g->bucket_day = first;
	}
	if (c->n > 1)
		qsort(c->groups, c->n, sizeof(c->groups[0]), by_journey);
	return 0;
}

/* Groups the answer will hold: series x buckets for a trend, else the groups. */
static int64_t cells(const struct collect *c, const struct cx_scores_query *q, int64_t from,
		     int64_t to)
{
	int64_t series = 0;

	if (q->bucket == CX_BUCKET_NONE)
		return (int64_t)c->n;
	for (size_t i = 0; i < c->n; i++)
		series += i == 0 || same_series(&c->groups[i - 1], &c->groups[i]) != 0;
	return (series ? series : 1) * cx_trend_count(q->bucket, from, to, CX_MAX_BUCKETS);
}

/* The buckets a trend lists: [from, to) as asked; without `to`, up to and including today;
 * without `from`, the 30 days before `to`. More than 1,000 buckets is refused. The query
 * itself is narrowed to the same range, so the groups and the buckets agree. */
static int trend_range(struct cx_scores_query *q, int64_t *from, int64_t *to,
		       struct cx_error *err)
{
	int64_t n;

	if (q->bucket == CX_BUCKET_NONE)
		return 0;
	*to = q->to_day != INT64_MAX ? q->to_day
	      : cx_time_day_of(cx_time_now() + q->tz_minutes * 60) + 1;   /* local today */
	*from = q->from_day != INT64_MIN ? q->from_day : *to - 30;
	if (*from >= *to)
		return cx_error_set(err, 422, "invalid_range", "from", "without to, the trend ends "
				    "today: from must be before tomorrow");
	n = cx_trend_count(q->bucket, *from, *to, CX_MAX_BUCKETS);
	if (n > CX_MAX_BUCKETS)
		return cx_error_set(err, 422, "too_many_buckets", "by", "the range holds more than "
				    "%d %s buckets; narrow from/to or use a coarser bucket",
				    CX_MAX_BUCKETS, bucket_names[q->bucket]);
	q->from_day = *from;
	q->to_day = *to;
	return 0;
}

static json_t *group_json(const struct group *g, const struct cx_scores_query *q)
{
	json_t *key = json_object(), *out = json_pack("{s:o}", "group", key);

	for (unsigned i = 0; i < 4; i++)
		if (q->dims & (1u << i))
			json_object_set_new(key, dim_names[i], g->key[i] ? json_string(g->key[i])
									 : json_null());
	if (q->bucket) {
		char day[16];

		cx_time_format_day(g->bucket_day, day, sizeof(day));
		json_object_set_new(key, bucket_names[q->bucket], json_string(day));
	}
	json_t *scores = cx_score_json(&g->hist);

	json_object_update(out, scores);
	json_decref(scores);
	return out;
}

static json_t *query_json(const struct cx_scores_query *q)
{
	json_t *by = json_array(), *out;
	char from[16], to[16], tz[24];

	for (unsigned i = 0; i < 4; i++)
		if (q->dims & (1u << i))
			json_array_append_new(by, json_string(dim_names[i]));
	if (q->bucket)
		json_array_append_new(by, json_string(bucket_names[q->bucket]));
	if (q->from_day != INT64_MIN)
		cx_time_format_day(q->from_day, from, sizeof(from));
	if (q->to_day != INT64_MAX)
		cx_time_format_day(q->to_day, to, sizeof(to));
	out = json_pack("{s:s, s:s?, s:s?, s:o, s:{s:s?, s:s?, s:s?, s:s?}}",
			"survey", q->survey,
			"from", q->from_day != INT64_MIN ? from : NULL,
			"to", q->to_day != INT64_MAX ? to : NULL,
			"by", by, "filters", "stage", q->stage, "touchpoint", q->touchpoint,
			"channel", q->channel, "segment", q->segment);
	snprintf(tz, sizeof(tz), "%c%02d:%02d", q->tz_minutes < 0 ? '-' : '+',
		 abs(q->tz_minutes) / 60, abs(q->tz_minutes) % 60);
	json_object_set_new(out, "tz", json_string(tz));
	return out;
}

static struct cx_error *too_many_groups(struct cx_error *err)
{
	cx_error_set(err, 422, "too_many_groups", "by", "the answer would hold more than %d "
		     "groups (groups x time buckets); narrow from/to, filter on a stage, "
		     "touchpoint, channel or segment, group by fewer dimensions or use a "
		     "coarser bucket", CX_MAX_CELLS);
	return err;
}

enum cx_handled cx_api_scores(struct cx_req *req)
{
	struct cx_survey s;
	struct cx_scores_query q = { 0 };
	struct collect c = { 0 };
	struct cx_error err = { 0 };
	json_t *out, *groups;
	int64_t from = 0, to = 0;
	int rc;

	if (cx_api_path_survey(req, &s))
		return CX_DONE;
	q.survey = s.id;
	c.survey = &s;
	if (parse_filters(req, &s, &q, &err) || trend_range(&q, &from, &to, &err)) {
		cx_reply_error(req, &err);
		goto out;
	}
	if (cx_store_scores(req->app->store, &q, on_group, &c, &err)) {
		if (c.too_many)
			too_many_groups(&err);
		else if (!err.status)
			cx_error_set(&err, 503, "out_of_memory", NULL, "out of memory");
		cx_reply_error(req, &err);
		goto out;
	}
	if (q.dims == CX_DIM_STAGE && q.bucket == CX_BUCKET_NONE && !q.stage)
		fill_stages(&c);
	if (c.n > 1)
		qsort(c.groups, c.n, sizeof(c.groups[0]), by_journey);
	rc = fill_touchpoints(&c, &q, q.bucket ? cx_trend_start(q.bucket, from) : 0);
	if (rc == -2) {
		cx_error_set(&err, 503, "out_of_memory", NULL, "out of memory");
		cx_reply_error(req, &err);
		goto out;
	}
	if (rc || cells(&c, &q, from, to) > CX_MAX_CELLS) {
		cx_reply_error(req, too_many_groups(&err));
		goto out;
	}
	if (q.bucket != CX_BUCKET_NONE && c.n == 0 && q.dims == 0) {
		struct group *g = add_group(&c);   /* the one series of an undivided trend */

		if (g)
			g->bucket_day = cx_trend_start(q.bucket, from);
	}
	if (q.bucket != CX_BUCKET_NONE && fill_buckets(&c, q.bucket, from, to)) {
		cx_error_set(&err, 503, "out_of_memory", NULL, "out of memory");
		cx_reply_error(req, &err);
		goto out;
	}
	out = query_json(&q);
	groups = json_array();
	for (size_t i = 0; i < c.n; i++)
		json_array_append_new(groups, group_json(&c.groups[i], &q));
	json_object_set_new(out, "groups", groups);
	cx_reply_json_take(req, 200, out);
out:
	for (size_t i = 0; i < c.n; i++)
		for (int k = 0; k < 4; k++)
			free(c.groups[i].key[k]);
	free(c.groups);
	cx_survey_release(&s);
	return CX_DONE;
}
