/* Unit tests for trend.c: bucket boundaries (weeks start Monday) and filling a series. */
#include <check.h>

#include "cx/cxtime.h"
#include "cx/trend.h"
#include "check_main.h"

static int64_t d(int y, unsigned m, unsigned day)
{
	return cx_time_days_from_civil(y, m, day);
}

START_TEST(bucket_starts)
{
	/* 2026-11-23 is a Monday, 2026-11-29 a Sunday */
	ck_assert_int_eq(cx_trend_start(CX_BUCKET_WEEK, d(2026, 11, 23)), d(2026, 11, 23));
	ck_assert_int_eq(cx_trend_start(CX_BUCKET_WEEK, d(2026, 11, 29)), d(2026, 11, 23));
	ck_assert_int_eq(cx_trend_start(CX_BUCKET_WEEK, d(2026, 11, 30)), d(2026, 11, 30));
	ck_assert_int_eq(cx_trend_start(CX_BUCKET_WEEK, d(1970, 1, 1)), d(1969, 12, 29));
	ck_assert_int_eq(cx_trend_start(CX_BUCKET_MONTH, d(2024, 2, 29)), d(2024, 2, 1));
	ck_assert_int_eq(cx_trend_next(CX_BUCKET_MONTH, d(2024, 12, 1)), d(2025, 1, 1));
	ck_assert_int_eq(cx_trend_next(CX_BUCKET_MONTH, d(2024, 1, 1)), d(2024, 2, 1));
	ck_assert_int_eq(cx_trend_start(CX_BUCKET_DAY, d(2026, 11, 23)), d(2026, 11, 23));
}
END_TEST

START_TEST(counts)
{
	ck_assert_int_eq(cx_trend_count(CX_BUCKET_DAY, d(2026, 11, 1), d(2026, 12, 1), 1000), 30);
	/* Wed 2026-11-04 .. Thu 2026-11-19: weeks of Nov 2, 9, 16 */
	ck_assert_int_eq(cx_trend_count(CX_BUCKET_WEEK, d(2026, 11, 4), d(2026, 11, 19), 1000), 3);
	ck_assert_int_eq(cx_trend_count(CX_BUCKET_MONTH, d(2026, 1, 15), d(2026, 3, 2), 1000), 3);
	/* a huge range stops counting just past the limit */
	ck_assert_int_eq(cx_trend_count(CX_BUCKET_DAY, 0, d(2026, 1, 1), 1000), 1001);
	ck_assert_int_eq(cx_trend_count(CX_BUCKET_DAY, 5, 5, 1000), 0);
}
END_TEST

struct got {
	int64_t v[64];
	int n;
};

static int record(void *ctx, int64_t bucket)
{
	struct got *g = ctx;

	g->v[g->n++] = bucket;
	return 0;
}

START_TEST(fill_missing_buckets)
{
	int64_t from = d(2026, 11, 2), to = d(2026, 11, 30);   /* four Monday weeks */
	int64_t present[] = { d(2026, 11, 9), d(2026, 11, 23) };
	struct got g = { .n = 0 };

	ck_assert_int_eq(cx_trend_fill(CX_BUCKET_WEEK, from, to, present, 2, record, &g), 0);
	ck_assert_int_eq(g.n, 2);
	ck_assert_int_eq(g.v[0], d(2026, 11, 2));
	ck_assert_int_eq(g.v[1], d(2026, 11, 16));

	g.n = 0;   /* an empty series gets every bucket; a full one none */
	ck_assert_int_eq(cx_trend_fill(CX_BUCKET_DAY, d(2026, 2, 27), d(2026, 3, 2), NULL, 0,
				       record, &g), 0);
	ck_assert_int_eq(g.n, 3);
	ck_assert_int_eq(g.v[2], d(2026, 3, 1));
	{
		int64_t all[] = { d(2026, 2, 27), d(2026, 2, 28), d(2026, 3, 1) };

		g.n = 0;
		cx_trend_fill(CX_BUCKET_DAY, d(2026, 2, 27), d(2026, 3, 2), all, 3, record, &g);
		ck_assert_int_eq(g.n, 0);
	}
}
END_TEST

CX_CHECK_MAIN("trend", NULL, NULL, bucket_starts, counts, fill_missing_buckets)
