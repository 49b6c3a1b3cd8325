/* journey.c - see include/cx/journey.h */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cx/journey.h"

const char cx_journey_test_name[] =
	"two-sided z-test at 95% on the difference of two independent scores (NPS: variance "
	"(p + d - (p - d)^2) / n; CSAT: pooled two-proportion; CES: Welch)";

static double r4(double v)
{
	return round(v * 10000.0) / 10000.0;
}

void cx_hist_sub(struct cx_hist *h, const struct cx_hist *part)
{
	h->responses -= part->responses;
	for (int i = 0; i < 11; i++)
		h->nps[i] -= part->nps[i];
	for (int i = 0; i < 5; i++)
		h->csat[i] -= part->csat[i];
	for (int i = 0; i < 7; i++)
		h->ces[i] -= part->ces[i];
}

/* Score, n and the variance of the score (in the score's own units) of metric m. */
static int moments(const struct cx_hist *h, enum cx_metric m, double *score, int64_t *n,
		   double *var)
{
	struct cx_nps nps;
	struct cx_csat csat;
	struct cx_ces ces;

	switch (m) {
	case CX_METRIC_NPS:
		if (cx_score_nps(h, &nps))
			return -1;
		{
			double p = (double)nps.promoters / (double)nps.n;
			double d = (double)nps.detractors / (double)nps.n;

			*var = 10000.0 * (p + d - (p - d) * (p - d)) / (double)nps.n;
		}
		*score = nps.score, *n = nps.n;
		return 0;
	case CX_METRIC_CSAT:
		if (cx_score_csat(h, &csat))
			return -1;
		*score = csat.score, *n = csat.n;
		*var = 0;   /* pooled below */
		return 0;
	case CX_METRIC_CES:
		if (cx_score_ces(h, &ces) || ces.n < 2)
			return -1;
		{
			double ss = 0;

			for (int v = 1; v <= 7; v++)
				ss += (double)h->ces[v - 1] * ((double)v - ces.mean) * ((double)v - ces.mean);
			*var = ss / (double)(ces.n - 1) / (double)ces.n;
		}
		*score = ces.mean, *n = ces.n;
		return 0;
	}
	return -1;
}

int cx_journey_compare(const struct cx_hist *a, const struct cx_hist *b, enum cx_metric m,
		       struct cx_compare *out)
{
	double va, vb, se;

	memset(out, 0, sizeof(*out));
	if (moments(a, m, &out->a, &out->na, &va) || moments(b, m, &out->b, &out->nb, &vb))
		return -1;
	out->delta = out->b - out->a;
	if (m == CX_METRIC_CSAT) {
		double p = (out->a * (double)out->na + out->b * (double)out->nb) / 100.0 /
			   (double)(out->na + out->nb);

		se = 100.0 * sqrt(p * (1.0 - p) * (1.0 / (double)out->na + 1.0 / (double)out->nb));
	} else {
		se = sqrt(va + vb);
	}
	if (se > 0) {
		out->z = out->delta / se;
		out->has_z = 1;
		out->significant = fabs(out->z) > CX_Z95;
	}
	return 0;
}

int cx_journey_headline(const struct cx_hist *all)
{
	struct cx_nps nps;
	struct cx_csat csat;

	if (cx_score_nps(all, &nps) == 0)
		return CX_METRIC_NPS;
	return cx_score_csat(all, &csat) == 0 ? CX_METRIC_CSAT : -1;
}

int cx_journey_is_pain(const struct cx_hist *touchpoint, const struct cx_hist *all,
		       enum cx_metric m, int64_t min_n, struct cx_compare *out)
{
	struct cx_hist rest = *all;

	cx_hist_sub(&rest, touchpoint);
	if (cx_journey_compare(&rest, touchpoint, m, out))
		return 0;
	return out->nb >= min_n && out->significant && out->delta < 0;
}

json_t *cx_compare_change_json(const struct cx_compare *c, int ok)
{
	if (!ok)
		return json_null();
	return json_pack("{s:f, s:f, s:f, s:o, s:b}", "then", r4(c->a), "now", r4(c->b),
			 "delta", r4(c->delta), "z", c->has_z ? json_real(r4(c->z)) : json_null(),
			 "significant", c->significant);
}

struct cx_cell_entry {
	const char *stage, *touchpoint;   /* NULL stage = empty slot */
	uint64_t hash;
	long value;
};

static uint64_t cell_hash(const char *stage, const char *touchpoint)
{
	uint64_t h = 14695981039346656037ull;

	for (const unsigned char *p = (const unsigned char *)stage; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	h = (h ^ 0xff) * 1099511628211ull;   /* no byte of a label: "a","bc" != "ab","c" */
	for (const unsigned char *p = (const unsigned char *)touchpoint; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return h ^ (h >> 29);
}

void cx_cell_index_init(struct cx_cell_index *ix)
{
	memset(ix, 0, sizeof(*ix));
}

/* The slot of key, or the empty slot where it would go; nslots is a power of two. */
static struct cx_cell_entry *slot_of(struct cx_cell_index *ix, const char *stage,
				     const char *touchpoint, uint64_t h)
{
	size_t mask = ix->nslots - 1;

	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		struct cx_cell_entry *e = &ix->slots[i];

		ix->probes++;
		if (!e->stage || (e->hash == h && strcmp(e->stage, stage) == 0 &&
				  strcmp(e->touchpoint, touchpoint) == 0))
			return e;
	}
}

long cx_cell_index_get(struct cx_cell_index *ix, const char *stage, const char *touchpoint)
{
	struct cx_cell_entry *e;

	if (!ix->nslots)
		return -1;
	e = slot_of(ix, stage, touchpoint, cell_hash(stage, touchpoint));
	return e->stage ? e->value : -1;
}

static int grow(struct cx_cell_index *ix)
{
	struct cx_cell_index bigger = { .nslots = ix->nslots ? ix->nslots * 2 : 64 };

	if (!(bigger.slots = calloc(bigger.nslots, sizeof(*bigger.slots))))
		return -1;
	for (size_t i = 0; i < ix->nslots; i++) {
		struct cx_cell_entry *e = &ix->slots[i];

		if (e->stage)
			*slot_of(&bigger, e->stage, e->touchpoint, e->hash) = *e;
	}
	free(ix->slots);
	ix->slots = bigger.slots;
	ix->nslots = bigger.nslots;
	ix->probes += bigger.probes;
	return 0;
}

int cx_cell_index_put(struct cx_cell_index *ix, const char *stage, const char *touchpoint,
		      long value)
{
	uint64_t h = cell_hash(stage, touchpoint);
	struct cx_cell_entry *e;

	if ((ix->n + 1) * 2 > ix->nslots && grow(ix))   /* load factor at most 1/2 */
		return -1;
	e = slot_of(ix, stage, touchpoint, h);
	if (!e->stage)
		ix->n++;
	*e = (struct cx_cell_entry){ stage, touchpoint, h, value };
	return 0;
}

void cx_cell_index_release(struct cx_cell_index *ix)
{
	free(ix->slots);
	memset(ix, 0, sizeof(*ix));
}

/* --- a survey's cells in two periods --- */

void cx_journey_cells_init(struct cx_journey_cells *c, const struct cx_survey *survey)
{
	memset(c, 0, sizeof(*c));
	c->survey = survey;
	cx_cell_index_init(&c->ix);
}

struct cx_journey_cell *cx_journey_cell_of(struct cx_journey_cells *c, const char *stage,
					   const char *touchpoint)
{
	long at = cx_cell_index_get(&c->ix, stage, touchpoint);
	struct cx_journey_cell *e;
	int rank;

	if (at >= 0)
		return &c->v[at];
	if (c->n >= CX_MAX_CELLS) {
		c->too_many = 1;
		return NULL;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;
		struct cx_journey_cell *p = realloc(c->v, cap * sizeof(*p));

		if (!p)
			return NULL;
		c->v = p;
		c->cap = cap;
	}
	e = &c->v[c->n];
	memset(e, 0, sizeof(*e));
	rank = cx_survey_stage_index(c->survey, stage);
	e->rank = rank < 0 ? 1 << 20 : rank;
	if (!(e->stage = strdup(stage)) || !(e->touchpoint = strdup(touchpoint)) ||
	    cx_cell_index_put(&c->ix, e->stage, e->touchpoint, (long)c->n)) {
		free(e->stage);
		free(e->touchpoint);
		return NULL;
	}
	c->n++;
	return e;
}

int cx_journey_cells_on_scores(void *ctx, const struct cx_group_key *key,
			       const struct cx_hist *h)
{
	struct cx_journey_cells *c = ctx;
	struct cx_journey_cell *e;

	if (!key->stage || !key->touchpoint)
		return 0;
	if (!(e = cx_journey_cell_of(c, key->stage, key->touchpoint)))
		return -1;
	*(c->then ? &e->then : &e->now) = *h;
	return 0;
}

static int by_stage_then_name(const void *a, const void *b)
{
	const struct cx_journey_cell *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (strcmp(x->stage, y->stage))
		return strcmp(x->stage, y->stage);
	return strcmp(x->touchpoint, y->touchpoint);
}

void cx_journey_cells_sort(struct cx_journey_cells *c)
{
	if (c->n > 1)
		qsort(c->v, c->n, sizeof(c->v[0]), by_stage_then_name);
}

void cx_journey_cells_release(struct cx_journey_cells *c)
{
	cx_cell_index_release(&c->ix);
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].stage);
		free(c->v[i].touchpoint);
		cx_case_stats_release(&c->v[i].cases);
	}
	free(c->v);
	memset(c, 0, sizeof(*c));
}
