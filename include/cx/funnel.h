/* funnel.h - the response funnel's figures: from invitations minted to links opened,
 * answered and answered with a comment (issue 13; the counts come from cx_store_funnel).
 *
 * Formulas (README, "The funnel"), each a share of its own denominator with a Wilson
 * score interval at 95% (z = CX_Z95, include/cx/score.h's cx_score_wilson):
 *   open_rate     = opened / minted
 *   response_rate = answered / minted
 *   comment_rate  = commented / answered
 * A rate whose denominator is 0 has no value and no interval (JSON null), never 0.
 */
#ifndef CX_FUNNEL_H
#define CX_FUNNEL_H

#include <stdint.h>
#include <jansson.h>

#include "cx/store.h"

/* At most this many groups in one answer (422 too_many_groups past it). */
#define CX_FUNNEL_MAX_GROUPS 1000

struct cx_rate {
	int64_t k, n;         /* successes, trials (the denominator) */
	double value, lo, hi; /* fractions in [0, 1]; all 0 when n = 0 */
};

/* The share k / n and its Wilson interval; 0, or -1 when n <= 0 or k is not in [0, n]
 * (out then holds k and n, the rest 0). */
int cx_funnel_rate(int64_t k, int64_t n, struct cx_rate *out);

/* {"value", "low", "high", "n"} for k of n; value, low and high null when there is no
 * rate. New reference (NULL when out of memory). */
json_t *cx_funnel_rate_json(int64_t k, int64_t n);

/* {"minted", "opened", "answered", "commented", "open_rate", "response_rate",
 * "comment_rate"} for r, preceded by r's grouping labels named in dims
 * (CX_DIM_STAGE | CX_DIM_TOUCHPOINT | CX_DIM_CHANNEL; null for none). New reference. */
json_t *cx_funnel_row_json(const struct cx_funnel_row *r, unsigned dims);

#endif
