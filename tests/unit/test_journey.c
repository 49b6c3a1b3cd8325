/* Unit tests for journey.c: change significance and the pain-point rule on constructed
 * histograms whose answers are known (values worked out in the comments). */
#include <check.h>
#include <stdio.h>
#include <math.h>

#include "cx/journey.h"
#include "check_main.h"

START_TEST(nps_change_significant)
{
	/* a: 50 promoters, 30 passives, 20 detractors: 30; b: 20/30/50: -30.
	 * V = 10000 (.7 - .09) / 100 = 61 each; z = -60 / sqrt(122) = -5.4321 */
	struct cx_hist a = { .nps = { [0] = 20, [8] = 30, [10] = 50 } };
	struct cx_hist b = { .nps = { [0] = 50, [8] = 30, [10] = 20 } };
	struct cx_compare c;

	ck_assert_int_eq(cx_journey_compare(&a, &b, CX_METRIC_NPS, &c), 0);
	ck_assert_double_eq_tol(c.a, 30.0, 1e-9);
	ck_assert_double_eq_tol(c.b, -30.0, 1e-9);
	ck_assert_double_eq_tol(c.delta, -60.0, 1e-9);
	ck_assert_double_eq_tol(c.z, -5.432144762551092, 1e-9);
	ck_assert(c.significant);
}
END_TEST

START_TEST(csat_change_not_significant)
{
	/* 80 % vs 70 % of 100 each: pooled .75, se = 100 sqrt(.75 .25 .02) = 6.1237,
	 * z = -1.633: not significant at 95 % */
	struct cx_hist a = { .csat = { 0, 20, 0, 40, 40 } };
	struct cx_hist b = { .csat = { 0, 30, 0, 35, 35 } };
	struct cx_compare c;

	ck_assert_int_eq(cx_journey_compare(&a, &b, CX_METRIC_CSAT, &c), 0);
	ck_assert_double_eq_tol(c.delta, -10.0, 1e-9);
	ck_assert_double_eq_tol(c.z, -1.6329931618554523, 1e-9);
	ck_assert(!c.significant);
}
END_TEST

START_TEST(ces_change_welch)
{
	/* a: 50 x 6 + 50 x 4 (mean 5), b: 50 x 5 + 50 x 3 (mean 4); s^2 = 100 / 99 each,
	 * z = -1 / sqrt(2 (100 / 99) / 100) = -7.0356 */
	struct cx_hist a = { .ces = { [3] = 50, [5] = 50 } };
	struct cx_hist b = { .ces = { [2] = 50, [4] = 50 } };
	struct cx_compare c;

	ck_assert_int_eq(cx_journey_compare(&a, &b, CX_METRIC_CES, &c), 0);
	ck_assert_double_eq_tol(c.z, -7.035623639735144, 1e-9);
	ck_assert(c.significant);
}
END_TEST

START_TEST(degenerate_and_empty)
{
	struct cx_hist ten = { .nps = { [10] = 10 } }, none = { 0 };
	struct cx_hist one_ces = { .ces = { [6] = 1 } };
	struct cx_compare c;

	ck_assert_int_eq(cx_journey_compare(&ten, &ten, CX_METRIC_NPS, &c), 0);
	ck_assert_int_eq(c.has_z, 0);          /* no spread at all: no test */
	ck_assert(!c.significant);
	ck_assert_int_eq(cx_journey_compare(&none, &ten, CX_METRIC_NPS, &c), -1);
	ck_assert_int_eq(cx_journey_compare(&one_ces, &one_ces, CX_METRIC_CES, &c), -1);
}
END_TEST

START_TEST(pain_point_rule)
{
	/* rest: 400 answers, 200 promoters / 100 passives / 100 detractors: NPS 25.
	 * x: 40 answers, all detractors: NPS -100, z = -125 / sqrt(10000 (.75 - .0625) / 400)
	 * = -30.15. y: 40 answers shaped like the rest: not a pain point. */
	struct cx_hist x = { .nps = { [0] = 40 } };
	struct cx_hist y = { .nps = { [0] = 10, [8] = 10, [10] = 20 } };
	struct cx_hist all = { .nps = { [0] = 100, [8] = 100, [10] = 200 } };
	struct cx_compare c;

	cx_hist_add(&all, &x);
	cx_hist_add(&all, &y);
	/* the rest of x is everything else, y included: 210 pro, 110 pas, 110 det of 430 */
	ck_assert_int_eq(cx_journey_is_pain(&x, &all, CX_METRIC_NPS, 30, &c), 1);
	ck_assert_int_eq(c.nb, 40);
	ck_assert_int_eq(c.na, 440);
	ck_assert_double_eq_tol(c.b, -100.0, 1e-9);
	ck_assert(c.z < -20);
	ck_assert_int_eq(cx_journey_is_pain(&x, &all, CX_METRIC_NPS, 41, &c), 0);  /* min_n */
	ck_assert_int_eq(cx_journey_is_pain(&y, &all, CX_METRIC_NPS, 30, &c), 0);
	ck_assert(!c.significant || c.delta > 0);
}
END_TEST

START_TEST(headline_metric)
{
	struct cx_hist n = { .nps = { [5] = 1 }, .csat = { [0] = 1 } };
	struct cx_hist c = { .csat = { [0] = 1 } };
	struct cx_hist e = { .ces = { [0] = 1 } };

	ck_assert_int_eq(cx_journey_headline(&n), CX_METRIC_NPS);
	ck_assert_int_eq(cx_journey_headline(&c), CX_METRIC_CSAT);
	ck_assert_int_eq(cx_journey_headline(&e), -1);
}
END_TEST

/* The journey's cell index is linear: n inserts and 2n lookups visit O(n) slots in all.
 * The scan it replaced visited n^2/2 (40,000 touchpoints: 8 x 10^8 string compares). */
START_TEST(cell_index_linear)
{
	enum { N = 20000 };
	static char names[N][24];
	struct cx_cell_index ix;

	cx_cell_index_init(&ix);
	for (long i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "tp-%ld", i);
		ck_assert_int_eq(cx_cell_index_get(&ix, i % 2 ? "a" : "b", names[i]), -1);
		ck_assert_int_eq(cx_cell_index_put(&ix, i % 2 ? "a" : "b", names[i], i), 0);
	}
	for (long i = 0; i < N; i++)
		ck_assert_int_eq(cx_cell_index_get(&ix, i % 2 ? "a" : "b", names[i]), i);
	ck_assert_int_eq(cx_cell_index_get(&ix, "a", "tp-0"), -1);   /* stage is part of the key */
	ck_assert_int_eq(cx_cell_index_get(&ix, "atp-", "1"), -1);
	/* 3N operations plus rehashing; a quadratic scan needs ~N^2/2 = 2e8 */
	ck_assert_msg(ix.probes < 20ull * N, "%llu probes for %d cells",
		      (unsigned long long)ix.probes, N);
	cx_cell_index_release(&ix);
}
END_TEST

CX_CHECK_MAIN("journey", NULL, NULL, nps_change_significant, csat_change_not_significant,
	      ces_change_welch, degenerate_and_empty, pain_point_rule, headline_metric,
	      cell_index_linear)
