/* trend.c - see include/cx/trend.h */
#include "cx/cxtime.h"
#include "cx/trend.h"

int64_t cx_trend_start(enum cx_bucket b, int64_t day)
{
	return b == CX_BUCKET_WEEK ? cx_time_week_start(day)
	       : b == CX_BUCKET_MONTH ? cx_time_month_start(day) : day;
}

int64_t cx_trend_next(enum cx_bucket b, int64_t bucket)
{
	return b == CX_BUCKET_WEEK ? bucket + 7
	       : b == CX_BUCKET_MONTH ? cx_time_next_month(bucket) : bucket + 1;
}

int64_t cx_trend_count(enum cx_bucket b, int64_t from, int64_t to, int64_t max)
{
	int64_t n = 0;

	for (int64_t d = cx_trend_start(b, from); d < to && n <= max; d = cx_trend_next(b, d))
		n++;
	return n;
}

int cx_trend_fill(enum cx_bucket b, int64_t from, int64_t to, const int64_t *days, size_t n,
		  int (*missing)(void *ctx, int64_t bucket), void *ctx)
{
	size_t k = 0;
	int rc;

	for (int64_t d = cx_trend_start(b, from); d < to; d = cx_trend_next(b, d)) {
		while (k < n && days[k] < d)
			k++;
		if (k < n && days[k] == d)
			continue;
		if ((rc = missing(ctx, d)))
			return rc;
	}
	return 0;
}
