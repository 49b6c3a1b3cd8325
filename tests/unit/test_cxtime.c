/* Unit tests for cxtime.c: RFC 3339 and day arithmetic. */
#include <check.h>

#include "cx/cxtime.h"
#include "check_main.h"

START_TEST(rfc3339_forms)
{
	int64_t t;

	ck_assert_int_eq(cx_time_parse_rfc3339("1970-01-01T00:00:00Z", &t), 0);
	ck_assert_int_eq(t, 0);
	ck_assert_int_eq(cx_time_parse_rfc3339("2026-11-20T10:00:00+02:00", &t), 0);
	ck_assert_int_eq(t, 1795161600);
	ck_assert_int_eq(cx_time_parse_rfc3339("2026-11-20T03:00:00.123456-05:00", &t), 0);
	ck_assert_int_eq(t, 1795161600);
	ck_assert_int_eq(cx_time_parse_rfc3339("2024-02-29t08:00:00z", &t), 0);
	ck_assert_int_eq(cx_time_parse_rfc3339("1970-01-01T02:00:00+02:00", &t), 0);
	ck_assert_int_eq(t, 0);
	ck_assert_int_eq(cx_time_parse_rfc3339("9999-12-31T23:59:59Z", &t), 0);
}
END_TEST

START_TEST(rfc3339_rejects)
{
	static const char *const bad[] = {
		"", "2026-11-20", "2026-11-20T10:00:00", "2026-13-01T00:00:00Z",
		"2026-02-29T00:00:00Z", "2026-11-20T24:00:00Z", "2026-11-20T10:60:00Z",
		"2026-11-20T10:00:00+2:00", "2026-11-20T10:00:00Zjunk", "1969-12-31T23:59:59Z",
		"2026-11-20T10:00:00.Z", "２026-11-20T10:00:00Z", "2026-11-20T10:00:00+24:00",
		/* in range as written, outside it as an instant (found by fuzz_time) */
		"1970-01-01T00:01:00+02:00", "9999-12-31T23:30:00-01:00",
	};
	int64_t t;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(cx_time_parse_rfc3339(bad[i], &t) == -1, "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(days)
{
	int64_t d;
	char buf[16];

	ck_assert_int_eq(cx_time_parse_day("2026-11-23", &d), 0);
	ck_assert_int_eq(d, 1795392000 / 86400);
	ck_assert_int_eq(cx_time_parse_day("2026-11-23T00:00:00Z", &d), 0);
	ck_assert_int_eq(cx_time_parse_day("2026-11-23T00:00:01Z", &d), -1);
	ck_assert_int_eq(cx_time_parse_day("2026-11-3", &d), -1);
	cx_time_format_day(20415, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2025-11-23");
	ck_assert_int_eq(cx_time_day_of(86399), 0);
	ck_assert_int_eq(cx_time_day_of(86400), 1);
	ck_assert_int_eq(cx_time_day_of(-1), -1);
	{
		char ts[32];

		cx_time_format_rfc3339(1795161600, ts, sizeof(ts));
		ck_assert_str_eq(ts, "2026-11-20T08:00:00Z");
	}
}
END_TEST

CX_CHECK_MAIN("cxtime", NULL, NULL, rfc3339_forms, rfc3339_rejects, days)
