/* cxtime.c - see include/cx/cxtime.h */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cx/cxtime.h"

/* Howard Hinnant's days_from_civil / civil_from_days. */
int64_t cx_time_days_from_civil(int y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
	z += 719468;
	const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	const unsigned doe = (unsigned)(z - era * 146097);
	const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

int64_t cx_time_month_start(int64_t day)
{
	int y;
	unsigned m, d;

	civil_from_days(day, &y, &m, &d);
	return cx_time_days_from_civil(y, m, 1);
}

int64_t cx_time_next_month(int64_t day)
{
	int y;
	unsigned m, d;

	civil_from_days(day, &y, &m, &d);
	return m == 12 ? cx_time_days_from_civil(y + 1, 1, 1) : cx_time_days_from_civil(y, m + 1, 1);
}

int64_t cx_time_week_start(int64_t day)
{
	int64_t r = (day + 3) % 7;   /* 1970-01-05 (day 4) was a Monday */

	return day - (r < 0 ? r + 7 : r);
}

int64_t cx_time_day_of(int64_t unix_s)
{
	return unix_s / 86400 - (unix_s % 86400 < 0);
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static unsigned days_in_month(int y, unsigned m)
{
	static const unsigned dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 ? 28u + (unsigned)leap : dm[m - 1];
}

/* "YYYY-MM-DD" at s; years 1970-9999. */
static int parse_date(const char *s, int *y, unsigned *m, unsigned *d)
{
	int yy, mm, dd;

	if (digits(s, 4, &yy) || s[4] != '-' || digits(s + 5, 2, &mm) || s[7] != '-' ||
	    digits(s + 8, 2, &dd))
		return -1;
	if (yy < 1970 || mm < 1 || mm > 12 || dd < 1 || (unsigned)dd > days_in_month(yy, (unsigned)mm))
		return -1;
	*y = yy;
	*m = (unsigned)mm;
	*d = (unsigned)dd;
	return 0;
}

int cx_time_parse_rfc3339(const char *s, int64_t *unix_s)
{
	int y, hh, mi, ss, oh, om;
	unsigned m, d;
	const char *p;
	int64_t offset = 0, t;

	if (strlen(s) < 20 || parse_date(s, &y, &m, &d))
		return -1;
	if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || digits(s + 11, 2, &hh) ||
	    s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &ss))
		return -1;
	if (hh > 23 || mi > 59 || ss > 60)   /* 60: a leap second, folded into the next */
		return -1;
	p = s + 19;
	if (*p == '.') {
		if (p[1] < '0' || p[1] > '9')
			return -1;
		for (p++; *p >= '0' && *p <= '9'; p++)
			if (p - s > 40)
				return -1;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		offset = 0;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && !digits(p + 1, 2, &oh) &&
		   p[3] == ':' && !digits(p + 4, 2, &om) && oh <= 23 && om <= 59) {
		offset = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
	} else {
		return -1;
	}
	t = cx_time_days_from_civil(y, m, d) * 86400 + hh * 3600 + mi * 60 + ss - offset;
	/* The offset may carry a date inside 1970-9999 outside it: 1970-01-01T00:30+01:00 is
	 * 1969, which no time here can be written as (found by tests/fuzz/fuzz_time). */
	if (t < 0 || t > cx_time_days_from_civil(9999, 12, 31) * 86400 + 86399)
		return -1;
	*unix_s = t;
	return 0;
}

int cx_time_parse_day(const char *s, int64_t *day)
{
	int y;
	unsigned m, d;
	int64_t t;

	if (strlen(s) == 10) {
		if (parse_date(s, &y, &m, &d))
			return -1;
		*day = cx_time_days_from_civil(y, m, d);
		return 0;
	}
	if (cx_time_parse_rfc3339(s, &t) || t % 86400 != 0)
		return -1;
	*day = t / 86400;
	return 0;
}

void cx_time_format_day(int64_t day, char *buf, size_t len)
{
	int y;
	unsigned m, d;

	civil_from_days(day, &y, &m, &d);
	snprintf(buf, len, "%04d-%02u-%02u", y, m, d);
}

void cx_time_format_rfc3339(int64_t unix_s, char *buf, size_t len)
{
	int64_t day = cx_time_day_of(unix_s);
	int64_t sec = unix_s - day * 86400;
	int y;
	unsigned m, d;

	civil_from_days(day, &y, &m, &d);
	snprintf(buf, len, "%04d-%02u-%02uT%02d:%02d:%02dZ", y, m, d, (int)(sec / 3600),
		 (int)(sec / 60 % 60), (int)(sec % 60));
}

int64_t cx_time_now(void)
{
	return (int64_t)time(NULL);
}

int64_t cx_time_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t cx_time_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
