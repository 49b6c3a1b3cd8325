/* journey.h - the statistics behind the journey view: is a change between two periods
 * real, and which touchpoints are pain points.
 *
 * Every test is a two-sided z-test at 95% (|z| > 1.96) on the difference of two
 * independent scores:
 *   NPS   z = (S2 - S1) / sqrt(V1 + V2), V = 100^2 (p + d - (p - d)^2) / n
 *   CSAT  two-proportion z-test with the pooled share of 4-5 answers
 *   CES   Welch: z = (m2 - m1) / sqrt(s1^2 / n1 + s2^2 / n2), n >= 2 on both sides
 * A test whose standard error is 0 (every answer the same on both sides) reports z = null
 * and not significant.
 *
 * Pain point rule: a touchpoint (within its stage) with at least min_n answers of the
 * survey's headline metric (NPS; CSAT when nobody answered NPS) whose score is
 * significantly below the score of all the other answers in the same filter (the rest of
 * the journey: comparing with the rest, not with an overall that contains the touchpoint
 * itself, keeps the two samples independent). Ranked by the gap, largest first.
 */
#ifndef CX_JOURNEY_H
#define CX_JOURNEY_H

#include <stdint.h>
#include <jansson.h>

#include "cx/case.h"
#include "cx/score.h"
#include "cx/store.h"

/* The most groups one read answer may hold: scores (groups x time buckets) and /journey
 * ((stage, touchpoint) cells). Past it: 422 too_many_groups, decided before any JSON. */
#define CX_MAX_CELLS 10000

enum cx_metric { CX_METRIC_NPS = 0, CX_METRIC_CSAT, CX_METRIC_CES };

struct cx_compare {
	double a, b;        /* the two scores (NPS points, CSAT %, CES mean) */
	int64_t na, nb;     /* their answer counts */
	double delta;       /* b - a */
	double z;
	int has_z;          /* 0 when the standard error is 0 */
	int significant;    /* |z| > 1.96 */
};

/* Compare metric m between histograms a and b. Returns -1 (out zeroed) when either side
 * has no answers for m (or, for CES, fewer than 2). */
int cx_journey_compare(const struct cx_hist *a, const struct cx_hist *b, enum cx_metric m,
		       struct cx_compare *out);

/* h minus part, cell by cell (the rest of the journey once a touchpoint is taken out). */
void cx_hist_sub(struct cx_hist *h, const struct cx_hist *part);

/* Does this touchpoint qualify as a pain point against the rest? 1 yes, 0 no; *out holds
 * the comparison (a = rest, b = touchpoint) whenever both sides have answers. */
int cx_journey_is_pain(const struct cx_hist *touchpoint, const struct cx_hist *all,
		       enum cx_metric m, int64_t min_n, struct cx_compare *out);

/* The metric pain points are judged on: NPS if any answer has it, else CSAT, else -1. */
int cx_journey_headline(const struct cx_hist *all);

/* {"then", "now", "delta", "z", "significant"} for a change, or null; new reference. */
json_t *cx_compare_change_json(const struct cx_compare *c, int ok);

extern const char cx_journey_test_name[];

/* An index of journey cells by (stage, touchpoint): a hash table with linear probing, so
 * building a journey of n cells costs O(n) lookups whatever n is (the old linear scan per
 * cell was O(n^2): 8.4 s for 40,000 touchpoints). The index keeps the caller's key
 * pointers, which must outlive it. `probes` counts slot visits, for tests. */
struct cx_cell_entry;
struct cx_cell_index {
	struct cx_cell_entry *slots;
	size_t nslots, n;
	uint64_t probes;
};
void cx_cell_index_init(struct cx_cell_index *ix);
/* The value stored for (stage, touchpoint), or -1. */
long cx_cell_index_get(struct cx_cell_index *ix, const char *stage, const char *touchpoint);
/* Store value for a key not yet present; 0, or -1 when out of memory. */
int cx_cell_index_put(struct cx_cell_index *ix, const char *stage, const char *touchpoint,
		      long value);
void cx_cell_index_release(struct cx_cell_index *ix);

/* A survey's (stage, touchpoint) cells in two periods, as the journey view and the alerts
 * check read them: filled from cx_store_scores (cx_journey_cells_on_scores is its
 * callback), found through a cx_cell_index, at most CX_MAX_CELLS of them. */
struct cx_journey_cell {
	char *stage, *touchpoint;
	int rank;                      /* the stage's place in the journey; unlisted last */
	struct cx_hist now, then;
	struct cx_case_stats cases;    /* follow-up cases opened in the period (journey view) */
};
struct cx_journey_cells {
	const struct cx_survey *survey;
	struct cx_journey_cell *v;
	size_t n, cap;
	struct cx_cell_index ix;
	int then;                      /* 1: the callback fills `then`, else `now` */
	int too_many;                  /* a cell past CX_MAX_CELLS was asked for */
};
void cx_journey_cells_init(struct cx_journey_cells *c, const struct cx_survey *survey);
/* The cell of (stage, touchpoint), added empty if new; NULL when out of memory or past
 * CX_MAX_CELLS (too_many set). The index keys point into the cells' own strings. */
struct cx_journey_cell *cx_journey_cell_of(struct cx_journey_cells *c, const char *stage,
					   const char *touchpoint);
/* A cx_group_fn (ctx: the cells): the group's histogram into its cell's `now` or `then`;
 * groups without a stage or touchpoint are skipped. */
int cx_journey_cells_on_scores(void *ctx, const struct cx_group_key *key,
			       const struct cx_hist *h);
/* Journey order: stage rank, then stage name, then touchpoint name. */
void cx_journey_cells_sort(struct cx_journey_cells *c);
void cx_journey_cells_release(struct cx_journey_cells *c);

#endif
