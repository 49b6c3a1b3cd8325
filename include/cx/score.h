/* score.h - CX scores and their 95% intervals from answer histograms.
 *
 * Formulas (README, "Scores"):
 *   NPS  = 100 * (promoters(9-10) - detractors(0-6)) / n, interval
 *          100 * ((p - d) +- 1.96 * sqrt((p + d - (p - d)^2) / n)), clamped to [-100, 100].
 *   CSAT = 100 * share of 4-5 answers, Wilson score interval; mean of 1-5.
 *   CES  = mean of 1-7, interval mean +- 1.96 * s / sqrt(n), s the sample standard
 *          deviation (n - 1), null when n < 2; easy_pct = 100 * share of 5-7 answers.
 * A metric with n = 0 is absent (JSON null), never 0.
 */
#ifndef CX_SCORE_H
#define CX_SCORE_H

#include <stdint.h>
#include <jansson.h>

#define CX_Z95 1.959963984540054

/* Counts per answer value. Index = value (nps 0-10) or value - 1 (csat, ces). */
struct cx_hist {
	int64_t responses;
	int64_t nps[11];
	int64_t csat[5];
	int64_t ces[7];
};

struct cx_nps {
	int64_t n, promoters, passives, detractors;
	double score, lo, hi;
};
struct cx_csat {
	int64_t n, satisfied;
	double score, mean, lo, hi;
};
struct cx_ces {
	int64_t n, easy;
	double mean, easy_pct, lo, hi;
	int has_ci;   /* 0 when n < 2 */
};

/* Each returns 0 when the metric has answers, -1 when n = 0 (out is then zeroed). */
int cx_score_nps(const struct cx_hist *h, struct cx_nps *out);
int cx_score_csat(const struct cx_hist *h, struct cx_csat *out);
int cx_score_ces(const struct cx_hist *h, struct cx_ces *out);

/* Wilson score interval for k successes in n trials, as fractions; n > 0. */
void cx_score_wilson(int64_t k, int64_t n, double z, double *lo, double *hi);

/* Add b into a. */
void cx_hist_add(struct cx_hist *a, const struct cx_hist *b);

/* {"responses", "nps", "csat", "ces"} for h, metrics null when empty; new reference. */
json_t *cx_score_json(const struct cx_hist *h);

#endif
