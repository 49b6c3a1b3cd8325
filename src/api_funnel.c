/* api_funnel.c - GET /v1/surveys/{id}/funnel: invitations minted, links opened, answered
 * and answered with a comment, with their rates and 95% intervals (include/cx/funnel.h),
 * in total and per stage, touchpoint and/or channel.
 *
 * The query speaks the scores API's language: from/to are days ([from, to) of the
 * invitations' minted_at, local days when tz is given), the last 30 days by default, at
 * most MAX_DAYS; filters stage, touchpoint, channel; by = any of stage, touchpoint,
 * channel. An answer holds at most CX_FUNNEL_MAX_GROUPS groups: the collection stops as
 * soon as the data passes it and the answer is 422 too_many_groups (never a cut list).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/app.h"
#include "cx/cxtime.h"
#include "cx/funnel.h"
#include "cx/routes.h"

#define DEFAULT_DAYS 30
#define MAX_DAYS 3660

static const char *const dim_names[] = { "stage", "touchpoint", "channel" };
static const char *const known_params[] = { "from", "to", "tz", "by", "stage", "touchpoint",
					    "channel" };

struct funnel_req {
	struct cx_funnel_query q;
	int64_t from_day, to_day;
	int tz_minutes;
};

struct group {
	struct cx_funnel_row row;   /* labels owned (strdup) */
	int stage_rank;
};

struct collect {
	const struct cx_survey *survey;
	struct group *v;
	size_t n, cap;
	int too_many;
	int oom;
};

/* by=stage,channel: each of stage, touchpoint, channel at most once. */
static int parse_by(const char *by, unsigned *dims, struct cx_error *err)
{
	char buf[64];
	char *save = NULL, *tok;

	*dims = 0;
	if (!by || !by[0])
		return 0;
	if (strlen(by) >= sizeof(buf))
		return cx_error_set(err, 422, "invalid_by", "by", "by is too long");
	snprintf(buf, sizeof(buf), "%s", by);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned bit = 0;

		for (unsigned i = 0; i < 3; i++)
			if (strcmp(tok, dim_names[i]) == 0)
				bit = 1u << i;
		if (!bit)
			return cx_error_set(err, 422, "invalid_by", "by", "by takes stage, "
					    "touchpoint and channel; got '%.40s'", tok);
		if (bit & *dims)
			return cx_error_set(err, 422, "invalid_by", "by", "'%.40s' is named twice",
					    tok);
		*dims |= bit;
	}
	return 0;
}

static int parse(struct cx_req *req, const struct cx_survey *s, struct funnel_req *f,
		 struct cx_error *err)
{
	const char *from = cx_req_query(req, "from"), *to = cx_req_query(req, "to");

	if (cx_api_known_params(req, known_params, sizeof(known_params) / sizeof(known_params[0]),
				err))
		return -1;
	if (cx_api_parse_tz(cx_req_query(req, "tz"), &f->tz_minutes))
		return cx_error_set(err, 422, "invalid_tz", "tz", "tz must be a UTC offset such as "
				    "+03:00, -05:30 or Z, in quarter hours, at most 14 hours");
	f->to_day = cx_time_day_of(cx_time_now() + f->tz_minutes * 60) + 1;   /* local today */
	if (to && cx_time_parse_day(to, &f->to_day))
		return cx_error_set(err, 422, "invalid_time", "to", "to must be a date "
				    "(2026-11-23) or an RFC 3339 time at midnight UTC");
	f->from_day = f->to_day - DEFAULT_DAYS;
	if (from && cx_time_parse_day(from, &f->from_day))
		return cx_error_set(err, 422, "invalid_time", "from", "from must be a date "
				    "(2026-11-01) or an RFC 3339 time at midnight UTC");
	if (f->from_day >= f->to_day)
		return cx_error_set(err, 422, "invalid_range", "to", "to must be after from");
	if (f->to_day - f->from_day > MAX_DAYS)
		return cx_error_set(err, 422, "invalid_range", "from", "a funnel covers at most "
				    "%d days", MAX_DAYS);
	f->q.survey = s->id;
	f->q.from_s = f->from_day * 86400 - (int64_t)f->tz_minutes * 60;
	f->q.to_s = f->to_day * 86400 - (int64_t)f->tz_minutes * 60;
	f->q.stage = cx_req_query(req, "stage");
	if (f->q.stage && cx_survey_stage_index(s, f->q.stage) < 0)
		return cx_error_set(err, 422, "invalid_stage", "stage",
				    "'%.64s' is not a stage of survey '%s'", f->q.stage, s->id);
	if (cx_api_label_param(req, "touchpoint", &f->q.touchpoint, err) ||
	    cx_api_label_param(req, "channel", &f->q.channel, err))
		return -1;
	return parse_by(cx_req_query(req, "by"), &f->q.dims, err);
}

static char *dup_opt(const char *s, int *oom)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		*oom = 1;
	return d;
}

static int on_row(void *ctx, const struct cx_funnel_row *r)
{
	struct collect *c = ctx;
	struct group *g;
	int rank;

	if (c->n >= CX_FUNNEL_MAX_GROUPS) {   /* stop reading: the answer is refused anyway */
		c->too_many = 1;
		return -1;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct group *v = realloc(c->v, cap * sizeof(*v));

		if (!v) {
			c->oom = 1;
			return -1;
		}
		c->v = v;
		c->cap = cap;
	}
	g = &c->v[c->n++];
	g->row = *r;
	g->row.stage = dup_opt(r->stage, &c->oom);
	g->row.touchpoint = dup_opt(r->touchpoint, &c->oom);
	g->row.channel = dup_opt(r->channel, &c->oom);
	rank = r->stage ? cx_survey_stage_index(c->survey, r->stage) : -1;
	g->stage_rank = rank >= 0 ? rank : (int)c->survey->nstages;   /* old stages last */
	return c->oom ? -1 : 0;
}

static int cmp_label(const char *a, const char *b)
{
	return (a && b) ? strcmp(a, b) : (a != NULL) - (b != NULL);   /* none first */
}

/* Stages in journey order, then touchpoints and channels by name. */
static int by_journey(const void *a, const void *b)
{
	const struct group *x = a, *y = b;
	int c;

	if (x->stage_rank != y->stage_rank)
		return x->stage_rank < y->stage_rank ? -1 : 1;
	if ((c = cmp_label(x->row.stage, y->row.stage)) ||
	    (c = cmp_label(x->row.touchpoint, y->row.touchpoint)))
		return c;
	return cmp_label(x->row.channel, y->row.channel);
}

static json_t *answer_json(const struct funnel_req *f, const struct collect *c)
{
	struct cx_funnel_row total = { 0 };
	json_t *by = json_array(), *groups = json_array(), *out;
	char from[16], to[16], tz[24];

	for (unsigned i = 0; i < 3; i++)
		if (f->q.dims & (1u << i))
			json_array_append_new(by, json_string(dim_names[i]));
	for (size_t i = 0; i < c->n; i++) {
		total.minted += c->v[i].row.minted;
		total.opened += c->v[i].row.opened;
		total.answered += c->v[i].row.answered;
		total.commented += c->v[i].row.commented;
		json_array_append_new(groups, cx_funnel_row_json(&c->v[i].row, f->q.dims));
	}
	cx_time_format_day(f->from_day, from, sizeof(from));
	cx_time_format_day(f->to_day, to, sizeof(to));
	snprintf(tz, sizeof(tz), "%c%02d:%02d", f->tz_minutes < 0 ? '-' : '+',
		 abs(f->tz_minutes) / 60, abs(f->tz_minutes) % 60);
	out = json_pack("{s:s, s:s, s:s, s:s, s:o, s:{s:s?, s:s?, s:s?}, s:o, s:o}",
			"survey", f->q.survey, "from", from, "to", to, "tz", tz, "by", by,
			"filters", "stage", f->q.stage, "touchpoint", f->q.touchpoint,
			"channel", f->q.channel, "total", cx_funnel_row_json(&total, 0),
			"groups", groups);
	return out;
}

enum cx_handled cx_api_funnel(struct cx_req *req)
{
	struct cx_survey s;
	struct funnel_req f = { 0 };
	struct collect c = { 0 };
	struct cx_error err = { 0 };
	json_t *out;

	if (cx_api_path_survey(req, &s))
		return CX_DONE;
	c.survey = &s;
	if (parse(req, &s, &f, &err))
		goto fail;
	if (cx_store_funnel(req->app->store, &f.q, on_row, &c, &err)) {
		if (c.too_many)
			cx_error_set(&err, 422, "too_many_groups", "by", "the funnel would hold more "
				     "than %d groups; narrow from/to, filter on a stage, touchpoint "
				     "or channel, or group by fewer dimensions",
				     CX_FUNNEL_MAX_GROUPS);
		else if (c.oom || !err.status)
			cx_error_set(&err, 503, "out_of_memory", NULL, "out of memory");
		goto fail;
	}
	if (c.n > 1)
		qsort(c.v, c.n, sizeof(c.v[0]), by_journey);
	if (!(out = answer_json(&f, &c))) {
		cx_error_set(&err, 503, "out_of_memory", NULL, "out of memory");
		goto fail;
	}
	cx_reply_json_take(req, 200, out);
	goto done;
fail:
	cx_reply_error(req, &err);
done:
	for (size_t i = 0; i < c.n; i++) {
		free((char *)c.v[i].row.stage);
		free((char *)c.v[i].row.touchpoint);
		free((char *)c.v[i].row.channel);
	}
	free(c.v);
	cx_survey_release(&s);
	return CX_DONE;
}
