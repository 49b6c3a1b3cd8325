/* Unit tests for ratelimit.c on a made-up clock. */
#include <check.h>
#include <stdio.h>

#include "cx/ratelimit.h"
#include "check_main.h"

START_TEST(burst_then_refill)
{
	struct cx_ratelimit *rl = cx_ratelimit_new(2.0, 4.0, 100);   /* 2/s, burst 4 */

	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(cx_ratelimit_take(rl, "a", 10.0), 0);
	ck_assert_uint_eq(cx_ratelimit_take(rl, "a", 10.0), 1);       /* empty: wait 1 s */
	ck_assert_uint_eq(cx_ratelimit_take(rl, "b", 10.0), 0);       /* others unaffected */
	ck_assert_uint_eq(cx_ratelimit_take(rl, "a", 10.5), 0);       /* 0.5 s = 1 token */
	ck_assert_uint_eq(cx_ratelimit_take(rl, "a", 10.5), 1);
	ck_assert_uint_eq(cx_ratelimit_take(rl, "a", 100.0), 0);      /* refilled, capped at 4 */
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(cx_ratelimit_take(rl, "a", 100.0), 0);
	ck_assert_uint_ne(cx_ratelimit_take(rl, "a", 100.0), 0);
	cx_ratelimit_free(rl);
}
END_TEST

START_TEST(slow_rate_waits_longer)
{
	struct cx_ratelimit *rl = cx_ratelimit_new(0.1, 1.0, 100);    /* one per 10 s */

	ck_assert_uint_eq(cx_ratelimit_take(rl, "x", 0.0), 0);
	ck_assert_uint_eq(cx_ratelimit_take(rl, "x", 1.0), 9);
	cx_ratelimit_free(rl);
}
END_TEST

START_TEST(off_and_bounded)
{
	struct cx_ratelimit *off = cx_ratelimit_new(0, 0, 10);
	struct cx_ratelimit *rl = cx_ratelimit_new(1.0, 1.0, 2);
	char who[16];

	for (int i = 0; i < 100; i++)
		ck_assert_uint_eq(cx_ratelimit_take(off, "x", 0.0), 0);
	ck_assert_uint_eq(cx_ratelimit_take(rl, "a", 0.0), 0);
	ck_assert_uint_eq(cx_ratelimit_take(rl, "b", 0.0), 0);
	ck_assert_uint_eq(cx_ratelimit_take(rl, "c", 0.0), 0);   /* table full: untracked */
	ck_assert_uint_ne(cx_ratelimit_take(rl, "a", 0.0), 0);   /* a is still tracked */
	for (int i = 0; i < 50; i++) {                            /* idle ones make room */
		snprintf(who, sizeof(who), "k%d", i);
		ck_assert_uint_eq(cx_ratelimit_take(rl, who, 1000.0 + i * 10), 0);
	}
	cx_ratelimit_free(off);
	cx_ratelimit_free(rl);
}
END_TEST

/* An IPv6 client rotating through its /64 must not get a fresh bucket per address
 * (mutation: the key left as the full address). */
START_TEST(ipv6_counts_as_its_64)
{
	char a[64], b[64];

	cx_ratelimit_address_key("2001:db8:1:2::1", a, sizeof(a));
	cx_ratelimit_address_key("2001:db8:1:2:ffff:eeee:dddd:cccc", b, sizeof(b));
	ck_assert_str_eq(a, "2001:db8:1:2::/64");
	ck_assert_str_eq(b, a);
	cx_ratelimit_address_key("2001:db8:1:3::1", b, sizeof(b));
	ck_assert_str_ne(b, a);
	cx_ratelimit_address_key("::ffff:192.0.2.7", a, sizeof(a));
	ck_assert_str_eq(a, "192.0.2.7");
	cx_ratelimit_address_key("192.0.2.7", a, sizeof(a));
	ck_assert_str_eq(a, "192.0.2.7");
	cx_ratelimit_address_key("unknown", a, sizeof(a));
	ck_assert_str_eq(a, "unknown");
}
END_TEST

CX_CHECK_MAIN("ratelimit", NULL, NULL, burst_then_refill, slow_rate_waits_longer,
	      off_and_bounded, ipv6_counts_as_its_64)
