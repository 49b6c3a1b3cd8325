/* Unit tests for score.c against hand-computed values (see the comments for the math).
 *
 * Mutations tried (each failed here, then was reverted): CSAT top-3-box (satisfied =
 * 3, 4 and 5; before csat_with_threes no test held a 3, so it passed), CSAT top-1-box,
 * NPS promoters from 8 and passives from 6, CES "easy" from 4 and from 6: each is caught
 * by each_answer_on_its_side, which puts one answer at every value of each scale. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "cx/score.h"
#include "check_main.h"

#define EPS 1e-6

START_TEST(nps_single_promoter)
{
	struct cx_hist h = { .responses = 1, .nps = { [10] = 1 } };
	struct cx_nps o;

	ck_assert_int_eq(cx_score_nps(&h, &o), 0);
	ck_assert_int_eq(o.n, 1);
	ck_assert_int_eq(o.promoters, 1);
	ck_assert_double_eq_tol(o.score, 100.0, EPS);
	/* p = 1, d = 0: var = (1 - 1) / 1 = 0 */
	ck_assert_double_eq_tol(o.lo, 100.0, EPS);
	ck_assert_double_eq_tol(o.hi, 100.0, EPS);
}
END_TEST

START_TEST(nps_all_detractors)
{
	struct cx_hist h = { .nps = { 1, 1, 1, 1, 0, 0, 2 } };   /* six answers 0-6 */
	struct cx_nps o;

	ck_assert_int_eq(cx_score_nps(&h, &o), 0);
	ck_assert_int_eq(o.n, 6);
	ck_assert_int_eq(o.detractors, 6);
	ck_assert_int_eq(o.passives, 0);
	ck_assert_double_eq_tol(o.score, -100.0, EPS);
	ck_assert_double_eq_tol(o.lo, -100.0, EPS);
	ck_assert_double_eq_tol(o.hi, -100.0, EPS);
}
END_TEST

START_TEST(nps_mixed)
{
	/* 5 promoters (9, 10), 3 passives (7, 8), 2 detractors (0, 6): p=.5 d=.2
	 * score 30; var = (.7 - .09) / 10 = .061; half = 1.96 * sqrt(.061) = 48.4075 pts */
	struct cx_hist h = { .nps = { [0] = 1, [6] = 1, [7] = 2, [8] = 1, [9] = 3, [10] = 2 } };
	struct cx_nps o;

	ck_assert_int_eq(cx_score_nps(&h, &o), 0);
	ck_assert_int_eq(o.promoters, 5);
	ck_assert_int_eq(o.passives, 3);
	ck_assert_int_eq(o.detractors, 2);
	ck_assert_double_eq_tol(o.score, 30.0, EPS);
	ck_assert_double_eq_tol(o.lo, -18.407539501852565, 1e-9);
	ck_assert_double_eq_tol(o.hi, 78.40753950185257, 1e-9);
}
END_TEST

START_TEST(nps_clamped_to_range)
{
	/* 1 promoter, 1 detractor: score 0, half = 1.96 * sqrt(1 / 2) * 100 > 100 */
	struct cx_hist h = { .nps = { [0] = 1, [10] = 1 } };
	struct cx_nps o;

	ck_assert_int_eq(cx_score_nps(&h, &o), 0);
	ck_assert_double_eq_tol(o.score, 0.0, EPS);
	ck_assert_double_eq_tol(o.lo, -100.0, EPS);
	ck_assert_double_eq_tol(o.hi, 100.0, EPS);
}
END_TEST

START_TEST(empty_metrics)
{
	struct cx_hist h = { .responses = 3, .nps = { [9] = 3 } };
	struct cx_csat c;
	struct cx_ces e;

	ck_assert_int_eq(cx_score_csat(&h, &c), -1);
	ck_assert_int_eq(c.n, 0);
	ck_assert_int_eq(cx_score_ces(&h, &e), -1);
	ck_assert_int_eq(e.n, 0);
}
END_TEST

START_TEST(csat_wilson)
{
	/* 8 of 10 at 4-5: 80 %; Wilson 95 % = [49.0162, 94.3318]; mean (2*2 + 3*0 + 4*3 + 5*5)/10 */
	struct cx_hist h = { .csat = { 0, 2, 0, 3, 5 } };
	struct cx_csat o;

	ck_assert_int_eq(cx_score_csat(&h, &o), 0);
	ck_assert_int_eq(o.n, 10);
	ck_assert_int_eq(o.satisfied, 8);
	ck_assert_double_eq_tol(o.score, 80.0, EPS);
	ck_assert_double_eq_tol(o.mean, 4.1, EPS);
	ck_assert_double_eq_tol(o.lo, 49.016247153664175, 1e-9);
	ck_assert_double_eq_tol(o.hi, 94.33178485456249, 1e-9);
}
END_TEST

START_TEST(csat_single_answer)
{
	/* n = 1, satisfied: Wilson lower bound 1 / (1 + z^2) = 20.6549 %, upper 100 % */
	struct cx_hist h = { .csat = { [4] = 1 } };
	struct cx_csat o;

	ck_assert_int_eq(cx_score_csat(&h, &o), 0);
	ck_assert_double_eq_tol(o.score, 100.0, EPS);
	ck_assert_double_eq_tol(o.lo, 20.654931437723747, 1e-9);
	ck_assert_double_eq_tol(o.hi, 100.0, EPS);
}
END_TEST

START_TEST(csat_with_threes)
{
	/* 1, 2, 3 x4, 4 x2, 5 x2: satisfied (4-5) 4 of 10 = 40 %; the 3s are not satisfied
	 * (top-2-box, not top-3-box: that would be 80 %); mean (1 + 2 + 12 + 8 + 10) / 10;
	 * Wilson 95 % of 4/10 = [16.8180, 68.7326] */
	struct cx_hist h = { .csat = { 1, 1, 4, 2, 2 } };
	struct cx_csat o;

	ck_assert_int_eq(cx_score_csat(&h, &o), 0);
	ck_assert_int_eq(o.n, 10);
	ck_assert_int_eq(o.satisfied, 4);
	ck_assert_double_eq_tol(o.score, 40.0, EPS);
	ck_assert_double_eq_tol(o.mean, 3.3, EPS);
	ck_assert_double_eq_tol(o.lo, 16.818032970623616, 1e-9);
	ck_assert_double_eq_tol(o.hi, 68.73262302663417, 1e-9);
}
END_TEST

START_TEST(csat_only_threes)
{
	/* five neutral answers: nobody satisfied, 0 %; Wilson of 0/5 = [0, 43.4482] */
	struct cx_hist h = { .csat = { [2] = 5 } };
	struct cx_csat o;

	ck_assert_int_eq(cx_score_csat(&h, &o), 0);
	ck_assert_int_eq(o.satisfied, 0);
	ck_assert_double_eq_tol(o.score, 0.0, EPS);
	ck_assert_double_eq_tol(o.mean, 3.0, EPS);
	ck_assert_double_eq_tol(o.lo, 0.0, EPS);
	ck_assert_double_eq_tol(o.hi, 43.44824647831748, 1e-9);
}
END_TEST

/* One answer at each value of each scale, alone: on which side of each boundary it falls.
 * NPS 0-6 detractor, 7-8 passive, 9-10 promoter; CSAT 4-5 satisfied; CES 5-7 easy. */
START_TEST(each_answer_on_its_side)
{
	for (int v = 0; v <= 10; v++) {
		struct cx_hist h = { .responses = 1 };
		struct cx_nps o;

		h.nps[v] = 1;
		ck_assert_int_eq(cx_score_nps(&h, &o), 0);
		ck_assert_msg(o.promoters == (v >= 9) && o.passives == (v == 7 || v == 8) &&
			      o.detractors == (v <= 6), "NPS answer %d on the wrong side", v);
		ck_assert_double_eq_tol(o.score, v >= 9 ? 100.0 : v >= 7 ? 0.0 : -100.0, EPS);
	}
	for (int v = 1; v <= 5; v++) {
		struct cx_hist h = { .responses = 1 };
		struct cx_csat o;

		h.csat[v - 1] = 1;
		ck_assert_int_eq(cx_score_csat(&h, &o), 0);
		ck_assert_msg(o.satisfied == (v >= 4), "CSAT answer %d on the wrong side", v);
		ck_assert_double_eq_tol(o.score, v >= 4 ? 100.0 : 0.0, EPS);
		ck_assert_double_eq_tol(o.mean, (double)v, EPS);
	}
	for (int v = 1; v <= 7; v++) {
		struct cx_hist h = { .responses = 1 };
		struct cx_ces o;

		h.ces[v - 1] = 1;
		ck_assert_int_eq(cx_score_ces(&h, &o), 0);
		ck_assert_msg(o.easy == (v >= 5), "CES answer %d on the wrong side", v);
		ck_assert_double_eq_tol(o.easy_pct, v >= 5 ? 100.0 : 0.0, EPS);
		ck_assert_double_eq_tol(o.mean, (double)v, EPS);
	}
}
END_TEST

START_TEST(ces_interval)
{
	/* one answer at each of 1..7: mean 4, s = sqrt(28 / 6), half = 1.96 s / sqrt 7 */
	struct cx_hist h = { .ces = { 1, 1, 1, 1, 1, 1, 1 } };
	struct cx_ces o;

	ck_assert_int_eq(cx_score_ces(&h, &o), 0);
	ck_assert_int_eq(o.n, 7);
	ck_assert_int_eq(o.easy, 3);
	ck_assert_double_eq_tol(o.mean, 4.0, EPS);
	ck_assert_double_eq_tol(o.easy_pct, 300.0 / 7.0, EPS);
	ck_assert_int_eq(o.has_ci, 1);
	ck_assert_double_eq_tol(o.lo, 2.3996961078815633, 1e-9);
	ck_assert_double_eq_tol(o.hi, 5.600303892118436, 1e-9);
}
END_TEST

START_TEST(ces_single_answer_has_no_interval)
{
	struct cx_hist h = { .ces = { [6] = 1 } };
	struct cx_ces o;
	json_t *j;

	ck_assert_int_eq(cx_score_ces(&h, &o), 0);
	ck_assert_double_eq_tol(o.mean, 7.0, EPS);
	ck_assert_int_eq(o.has_ci, 0);
	j = cx_score_json(&h);
	ck_assert(json_is_null(json_object_get(json_object_get(j, "ces"), "ci95")));
	json_decref(j);
}
END_TEST

START_TEST(json_nulls_for_unanswered)
{
	struct cx_hist h = { .responses = 2 };
	json_t *j = cx_score_json(&h);

	ck_assert_int_eq(json_integer_value(json_object_get(j, "responses")), 2);
	ck_assert(json_is_null(json_object_get(j, "nps")));
	ck_assert(json_is_null(json_object_get(j, "csat")));
	ck_assert(json_is_null(json_object_get(j, "ces")));
	json_decref(j);
}
END_TEST

START_TEST(hist_add)
{
	struct cx_hist a = { .responses = 1, .nps = { [3] = 1 } };
	struct cx_hist b = { .responses = 2, .nps = { [3] = 1 }, .ces = { [0] = 2 } };

	cx_hist_add(&a, &b);
	ck_assert_int_eq(a.responses, 3);
	ck_assert_int_eq(a.nps[3], 2);
	ck_assert_int_eq(a.ces[0], 2);
}
END_TEST

CX_CHECK_MAIN("score", NULL, NULL, nps_single_promoter, nps_all_detractors, nps_mixed,
	      nps_clamped_to_range, empty_metrics, csat_wilson, csat_single_answer, csat_with_threes,
	      csat_only_threes, each_answer_on_its_side, ces_interval,
	      ces_single_answer_has_no_interval, json_nulls_for_unanswered, hist_add)
