/* alerts.c - the alerts check and its scheduler; see include/cx/alerts.h.
 *
 * Per survey the check reads two answers from the store (the (stage, touchpoint) cells of
 * each window, through cx_store_scores: rollups, never the responses), sums them into
 * stages and the whole survey, decides with the journey's tests, and hands every finding
 * of the run to cx_store_alerts_record, which applies the cooldown and queues the events
 * in one transaction. Work per survey is O(cells log cells), at most CX_MAX_CELLS cells
 * (a survey past that is skipped with a log line, as the journey view refuses it).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cx/alerts.h"
#include "cx/cxtime.h"
#include "cx/log.h"
#include "cx/metrics.h"

#define KEY_MAX 320   /* type | survey (64) | stage (64) | touchpoint (64) | metric */

static const char *const metric_names[] = { "nps", "csat", "ces" };
static const char *const metric_labels[] = { "NPS", "CSAT", "CES" };

struct cx_alerts_params cx_alerts_params_of(const struct cx_config *cfg, int64_t now)
{
	return (struct cx_alerts_params){
		.now = now, .window_days = cfg->alert_window_days, .min_n = cfg->alert_min_n,
		.cooldown_s = cfg->alert_cooldown_s,
	};
}

/* --- the decisions --- */

int cx_alerts_is_drop(const struct cx_hist *then, const struct cx_hist *now, enum cx_metric m,
		      int64_t min_n, struct cx_compare *out)
{
	if (cx_journey_compare(then, now, m, out))
		return 0;
	return out->na >= min_n && out->nb >= min_n && out->significant && out->delta < 0;
}

int cx_alerts_is_new_pain(const struct cx_hist *tp_now, const struct cx_hist *all_now,
			  const struct cx_hist *tp_then, const struct cx_hist *all_then,
			  enum cx_metric m, int64_t min_n, struct cx_compare *out)
{
	struct cx_compare before;

	if (!cx_journey_is_pain(tp_now, all_now, m, min_n, out))
		return 0;
	return !cx_journey_is_pain(tp_then, all_then, m, min_n, &before);
}

/* --- findings --- */

struct finding {
	char key[KEY_MAX];
	const char *type;
	char survey[CX_ID_MAX + 1];
	json_t *data;
};

struct run {
	struct cx_store *st;
	const struct cx_alerts_params *p;
	int64_t now_from, now_to, then_from;   /* days: [then_from, now_from), [now_from, now_to) */
	struct finding *v;
	size_t n, cap;
};

static double r4(double v)
{
	return round(v * 10000.0) / 10000.0;
}

static const char *fmt_score(char *buf, size_t len, enum cx_metric m, double v)
{
	snprintf(buf, len, m == CX_METRIC_CES ? "%.2f" : m == CX_METRIC_CSAT ? "%.1f%%" : "%.1f", v);
	return buf;
}

static const char *fmt_gap(char *buf, size_t len, enum cx_metric m, double v)
{
	snprintf(buf, len, m == CX_METRIC_CES ? "%.2f points" : m == CX_METRIC_CSAT ?
		 "%.1f percentage points" : "%.1f points", v);
	return buf;
}

/* {"from", "to", "score", "n"} of one window; score null without answers. */
static json_t *side_json(int64_t from_day, int64_t to_day, int has, double score, int64_t n)
{
	return json_pack("{s:I, s:I, s:o, s:I}", "from", (json_int_t)(from_day * 86400),
			 "to", (json_int_t)(to_day * 86400), "score",
			 has ? json_real(r4(score)) : json_null(), "n", (json_int_t)n);
}

/* The metric's score and n in h; 0 when answered. */
static int score_of(const struct cx_hist *h, enum cx_metric m, double *score, int64_t *n)
{
	struct cx_nps nps;
	struct cx_csat csat;
	struct cx_ces ces;

	*score = 0;
	*n = 0;
	if (m == CX_METRIC_NPS && cx_score_nps(h, &nps) == 0)
		*score = nps.score, *n = nps.n;
	else if (m == CX_METRIC_CSAT && cx_score_csat(h, &csat) == 0)
		*score = csat.score, *n = csat.n;
	else if (m == CX_METRIC_CES && cx_score_ces(h, &ces) == 0)
		*score = ces.mean, *n = ces.n;
	return *n > 0 ? 0 : -1;
}

/* A new finding with its key and the data every type shares; NULL when out of memory. */
static struct finding *add(struct run *r, const struct cx_survey *s, const char *type,
			   const char *stage, const char *touchpoint, enum cx_metric m)
{
	struct finding *f;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct finding *p = realloc(r->v, cap * sizeof(*p));

		if (!p)
			return NULL;
		r->v = p;
		r->cap = cap;
	}
	f = &r->v[r->n];
	f->type = type;
	snprintf(f->key, sizeof(f->key), "%s|%s|%s|%s|%s", type, s->id, stage,
		 touchpoint ? touchpoint : "", metric_names[m]);
	snprintf(f->survey, sizeof(f->survey), "%s", s->id);
	f->data = json_pack("{s:{s:s, s:s}, s:s, s:s?, s:s}", "survey", "id", s->id, "name",
			    s->title ? s->title : s->id, "stage", stage, "touchpoint", touchpoint,
			    "metric", metric_names[m]);
	if (!f->data)
		return NULL;
	r->n++;
	return f;
}

static int add_drop(struct run *r, const struct cx_survey *s, const char *stage,
		    const char *touchpoint, enum cx_metric m, const struct cx_compare *c)
{
	struct finding *f = add(r, s, CX_ALERT_DROPPED, stage, touchpoint, m);
	char where[2 * CX_ID_MAX + 8], a[32], b[32], gap[48], reason[512];

	if (!f)
		return -1;
	snprintf(where, sizeof(where), "%s%s%s", stage, touchpoint ? " / " : "",
		 touchpoint ? touchpoint : "");
	snprintf(reason, sizeof(reason), "%s at %s fell from %s (n=%lld) to %s (n=%lld), %s, "
		 "z = %.2f, significant at 95%%", metric_labels[m], where,
		 fmt_score(a, sizeof(a), m, c->a), (long long)c->na, fmt_score(b, sizeof(b), m, c->b),
		 (long long)c->nb, fmt_gap(gap, sizeof(gap), m, -c->delta), c->z);
	json_object_set_new(f->data, "then", side_json(r->then_from, r->now_from, 1, c->a, c->na));
	json_object_set_new(f->data, "now", side_json(r->now_from, r->now_to, 1, c->b, c->nb));
	json_object_set_new(f->data, "delta", json_real(r4(c->delta)));
	json_object_set_new(f->data, "z", json_real(r4(c->z)));
	json_object_set_new(f->data, "reason", json_string(reason));
	return 0;
}

/* c compares touchpoint e now (b) with the rest of the journey now (a); e->then is the
 * touchpoint in the previous window. */
static int add_pain(struct run *r, const struct cx_survey *s, const struct cx_journey_cell *e,
		    enum cx_metric m, const struct cx_compare *c)
{
	struct finding *f = add(r, s, CX_ALERT_PAIN, e->stage, e->touchpoint, m);
	char a[32], b[32], t[32], gap[48], before[160], reason[640];
	double then_score;
	int64_t then_n;
	int had = score_of(&e->then, m, &then_score, &then_n) == 0;

	if (!f)
		return -1;
	if (had)
		snprintf(before, sizeof(before), "in the previous period it scored %s (n=%lld) and "
			 "was not one", fmt_score(t, sizeof(t), m, then_score), (long long)then_n);
	else
		snprintf(before, sizeof(before), "nobody answered it in the previous period");
	snprintf(reason, sizeof(reason), "%s at %s / %s is a new pain point: %s (n=%lld) "
		 "against %s for the rest of the journey (n=%lld), %s lower, z = %.2f, significant "
		 "at 95%%; %s", metric_labels[m], e->stage, e->touchpoint,
		 fmt_score(b, sizeof(b), m, c->b), (long long)c->nb, fmt_score(a, sizeof(a), m, c->a),
		 (long long)c->na, fmt_gap(gap, sizeof(gap), m, -c->delta), c->z, before);
	json_object_set_new(f->data, "then", side_json(r->then_from, r->now_from, had, then_score,
						       then_n));
	json_object_set_new(f->data, "now", side_json(r->now_from, r->now_to, 1, c->b, c->nb));
	json_object_set_new(f->data, "delta", had ? json_real(r4(c->b - then_score)) : json_null());
	json_object_set_new(f->data, "z", json_real(r4(c->z)));
	json_object_set_new(f->data, "rest", json_pack("{s:f, s:I}", "score", r4(c->a), "n",
						       (json_int_t)c->na));
	json_object_set_new(f->data, "gap", json_real(r4(-c->delta)));
	json_object_set_new(f->data, "reason", json_string(reason));
	return 0;
}

/* Drops of every metric between two histograms. */
static int drops(struct run *r, const struct cx_survey *s, const char *stage,
		 const char *touchpoint, const struct cx_hist *then, const struct cx_hist *now)
{
	for (int m = 0; m < 3; m++) {
		struct cx_compare c;

		if (cx_alerts_is_drop(then, now, (enum cx_metric)m, r->p->min_n, &c) &&
		    add_drop(r, s, stage, touchpoint, (enum cx_metric)m, &c))
			return -1;
	}
	return 0;
}

/* The findings of one survey's cells, sorted by stage, in journey order. */
static int judge(struct run *r, const struct cx_survey *s, const struct cx_journey_cells *c)
{
	struct cx_hist all_now = { 0 }, all_then = { 0 };
	int headline;
	size_t i = 0;

	for (size_t k = 0; k < c->n; k++) {
		cx_hist_add(&all_now, &c->v[k].now);
		cx_hist_add(&all_then, &c->v[k].then);
	}
	headline = cx_journey_headline(&all_now);
	while (i < c->n) {
		struct cx_hist now = { 0 }, then = { 0 };
		size_t lo = i;

		for (; i < c->n && strcmp(c->v[i].stage, c->v[lo].stage) == 0; i++) {
			cx_hist_add(&now, &c->v[i].now);
			cx_hist_add(&then, &c->v[i].then);
		}
		if (drops(r, s, c->v[lo].stage, NULL, &then, &now))
			return -1;
		for (size_t k = lo; k < i; k++) {
			const struct cx_journey_cell *e = &c->v[k];
			struct cx_compare cmp;

			if (drops(r, s, e->stage, e->touchpoint, &e->then, &e->now))
				return -1;
			if (headline >= 0 &&
			    cx_alerts_is_new_pain(&e->now, &all_now, &e->then, &all_then,
						  (enum cx_metric)headline, r->p->min_n, &cmp) &&
			    add_pain(r, s, e, (enum cx_metric)headline, &cmp))
				return -1;
		}
	}
	return 0;
}

/* Read one survey's two windows and judge them; a survey too large for the cell cap is
 * skipped (logged), as the journey view refuses it. */
static int check_survey(struct run *r, const struct cx_survey *s, struct cx_error *err)
{
	struct cx_scores_query q = {
		.survey = s->id, .from_day = r->now_from, .to_day = r->now_to,
		.dims = CX_DIM_STAGE | CX_DIM_TOUCHPOINT,
	};
	struct cx_journey_cells c;
	int rc = -1;

	cx_journey_cells_init(&c, s);
	if (cx_store_scores(r->st, &q, cx_journey_cells_on_scores, &c, err))
		goto failed;
	q.from_day = r->then_from;
	q.to_day = r->now_from;
	c.then = 1;
	if (cx_store_scores(r->st, &q, cx_journey_cells_on_scores, &c, err))
		goto failed;
	cx_journey_cells_sort(&c);
	if (judge(r, s, &c) == 0)
		rc = 0;
	else
		cx_error_set(err, 503, "out_of_memory", NULL, "out of memory");
	goto out;
failed:
	if (c.too_many) {
		cx_log_error("alerts: survey '%s' skipped: more than %d (stage, touchpoint) cells",
			     s->id, CX_MAX_CELLS);
		rc = 0;
	} else if (!err->status) {
		cx_error_set(err, 503, "out_of_memory", NULL, "out of memory");
	}
out:
	cx_journey_cells_release(&c);
	return rc;
}

static json_t *finding_json(const struct cx_alert *a)
{
	return json_pack("{s:s, s:s, s:b, s:i, s:I, s:I, s:O}", "key", a->key, "type", a->type,
			 "emitted", a->emitted, "deliveries", a->queued, "first_at",
			 (json_int_t)a->first_at, "last_at", (json_int_t)a->last_at, "data", a->data);
}

/* Record r's findings (cooldown, events) and describe them into *out. */
static int record(struct run *r, json_t **out, struct cx_error *err)
{
	struct cx_alert *v = calloc(r->n + 1, sizeof(*v));
	json_t *list = json_array();
	const char *reason;
	int emitted = 0;

	if (!v || !list) {
		free(v);
		json_decref(list);
		return cx_error_set(err, 503, "out_of_memory", NULL, "out of memory");
	}
	for (size_t i = 0; i < r->n; i++)
		v[i] = (struct cx_alert){ .key = r->v[i].key, .type = r->v[i].type,
					  .survey = r->v[i].survey, .data = r->v[i].data };
	if (cx_store_alerts_record(r->st, v, r->n, r->p->now, r->p->cooldown_s, err)) {
		free(v);
		json_decref(list);
		return -1;
	}
	for (size_t i = 0; i < r->n; i++) {
		json_array_append_new(list, finding_json(&v[i]));
		if (!v[i].emitted)
			continue;
		emitted++;
		cx_metrics_alert(v[i].type);
		reason = json_string_value(json_object_get(v[i].data, "reason"));
		cx_log_info("alert %s (%d deliver%s): %s", v[i].type, v[i].queued,
			    v[i].queued == 1 ? "y" : "ies", reason ? reason : v[i].key);
	}
	free(v);
	*out = json_pack("{s:i, s:o}", "emitted", emitted, "findings", list);
	return *out ? 0 : cx_error_set(err, 503, "out_of_memory", NULL, "out of memory");
}

int cx_alerts_run(struct cx_store *st, const struct cx_alerts_params *p, json_t **out,
		  struct cx_error *err)
{
	struct run r = { .st = st, .p = p };
	json_t *surveys = cx_store_survey_list(st), *def;
	size_t i;
	int rc = -1;

	*out = NULL;
	memset(err, 0, sizeof(*err));
	r.now_to = cx_time_day_of(p->now) + 1;
	r.now_from = r.now_to - p->window_days;
	r.then_from = r.now_from - p->window_days;
	json_array_foreach(surveys, i, def) {
		struct cx_survey s;
		const char *id = json_string_value(json_object_get(def, "id"));

		if (p->cancel && atomic_load(p->cancel)) {
			cx_error_set(err, 503, "shutting_down", NULL, "the alerts check was stopped");
			goto out;
		}
		if (!id || cx_store_survey_get(st, id, &s))
			continue;   /* (gone since the list was taken) */
		rc = check_survey(&r, &s, err);
		cx_survey_release(&s);
		if (rc)
			goto out;
	}
	rc = record(&r, out, err);
out:
	json_decref(surveys);
	for (size_t k = 0; k < r.n; k++)
		json_decref(r.v[k].data);
	free(r.v);
	return rc;
}

/* --- the scheduler --- */

struct cx_alerts_sched {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;     /* on CLOCK_MONOTONIC: a clock change moves no run */
	atomic_int stop;
	struct cx_store *st;
	int64_t interval_s;
	struct cx_alerts_params p;
};

static int due(const struct timespec *at)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > at->tv_sec || (now.tv_sec == at->tv_sec && now.tv_nsec >= at->tv_nsec);
}

static void run_once(struct cx_alerts_sched *s)
{
	struct cx_alerts_params p = s->p;
	struct cx_error err;
	json_t *out = NULL;

	p.now = cx_time_now();
	p.cancel = &s->stop;
	if (cx_alerts_run(s->st, &p, &out, &err)) {
		if (!atomic_load(&s->stop))
			cx_log_error("alerts: the check failed: %s", err.message);
		return;
	}
	json_decref(out);
}

static void *sched_main(void *arg)
{
	struct cx_alerts_sched *s = arg;
	struct timespec at;

	clock_gettime(CLOCK_MONOTONIC, &at);
	at.tv_sec += s->interval_s;
	pthread_mutex_lock(&s->mu);
	while (!atomic_load(&s->stop)) {
		if (!due(&at)) {
			pthread_cond_timedwait(&s->cv, &s->mu, &at);
			continue;   /* woken, timed out or spurious: look again */
		}
		pthread_mutex_unlock(&s->mu);
		run_once(s);
		pthread_mutex_lock(&s->mu);
		at.tv_sec += s->interval_s;
		if (due(&at)) {   /* the run took longer than the interval: none piles up */
			clock_gettime(CLOCK_MONOTONIC, &at);
			at.tv_sec += s->interval_s;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int cx_alerts_start(struct cx_alerts_sched **out, struct cx_store *st, int64_t interval_s,
		    const struct cx_alerts_params *p)
{
	struct cx_alerts_sched *s;
	pthread_condattr_t ca;

	*out = NULL;
	if (interval_s <= 0)
		return 0;
	if (!(s = calloc(1, sizeof(*s))))
		return -1;
	s->st = st;
	s->interval_s = interval_s;
	s->p = *p;
	atomic_init(&s->stop, 0);
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&s->thread, NULL, sched_main, s)) {
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->mu);
		free(s);
		return -1;
	}
	*out = s;
	return 0;
}

void cx_alerts_stop(struct cx_alerts_sched *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	atomic_store(&s->stop, 1);
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
