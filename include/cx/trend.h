/* trend.h - time buckets for trends: where a day, week (Monday first) or month bucket
 * starts, the next one, how many a range holds, and which are missing from a series.
 * Days are day numbers (days since 1970-01-01) in whatever time zone the caller means.
 */
#ifndef CX_TREND_H
#define CX_TREND_H

#include <stddef.h>
#include <stdint.h>

#include "cx/store.h"

#define CX_MAX_BUCKETS 1000

/* The first day of the bucket holding day, and the first day of the bucket after. */
int64_t cx_trend_start(enum cx_bucket b, int64_t day);
int64_t cx_trend_next(enum cx_bucket b, int64_t bucket);
/* Buckets from the one holding `from` to the last starting before `to`, counting no
 * further than max + 1 (so a huge range costs nothing). */
int64_t cx_trend_count(enum cx_bucket b, int64_t from, int64_t to, int64_t max);
/* For one series whose buckets present are days[0..n) (ascending bucket starts), call
 * missing(ctx, bucket) for every bucket of [from, to) it lacks, in order. Stops and
 * returns the first non-zero return of missing. */
int cx_trend_fill(enum cx_bucket b, int64_t from, int64_t to, const int64_t *days, size_t n,
		  int (*missing)(void *ctx, int64_t bucket), void *ctx);

#endif
