/* Unit tests for endpoint.c's address policy and URL checks, and deliver.c's schedule,
 * jitter and Retry-After parsing. Addresses are written as text and parsed with
 * inet_pton, so each case reads as the range it tests. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "cx/deliver.h"
#include "cx/endpoint.h"
#include "check_main.h"

static int forbidden(const char *ip)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };

	if (inet_pton(AF_INET, ip, &a4.sin_addr) == 1)
		return cx_endpoint_addr_forbidden((struct sockaddr *)&a4);
	ck_assert_msg(inet_pton(AF_INET6, ip, &a6.sin6_addr) == 1, "bad test address %s", ip);
	return cx_endpoint_addr_forbidden((struct sockaddr *)&a6);
}

START_TEST(ipv4_ranges)
{
	static const char *const no[] = {
		"0.0.0.0", "0.1.2.3", "127.0.0.1", "127.255.255.254", "10.0.0.1", "10.255.255.255",
		"172.16.0.1", "172.31.255.255", "192.168.0.1", "192.168.255.255", "169.254.169.254",
		"100.64.0.1", "100.127.255.255", "224.0.0.1", "239.255.255.250", "240.0.0.1",
		"255.255.255.255",
	};
	static const char *const yes[] = {
		"1.1.1.1", "8.8.8.8", "9.255.255.255", "11.0.0.0", "172.15.255.255", "172.32.0.0",
		"192.167.255.255", "192.169.0.0", "169.253.255.255", "100.63.255.255", "100.128.0.0",
		"126.255.255.255", "128.0.0.1", "223.255.255.255", "93.184.216.34",
	};

	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ck_assert_msg(forbidden(no[i]), "%s allowed", no[i]);
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ck_assert_msg(!forbidden(yes[i]), "%s refused", yes[i]);
}
END_TEST

START_TEST(ipv6_ranges)
{
	static const char *const no[] = {
		"::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "febf::1", "fec0::1", "ff02::1",
		"ff05::1:3", "::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:192.168.1.1",
		"::ffff:169.254.169.254", "::ffff:100.64.0.1", "::ffff:0.0.0.0", "::127.0.0.1",
		"64:ff9b::10.0.0.1", "64:ff9b::7f00:1",
		/* the hostile pass: 6to4 of internal IPv4, local-use NAT64 (RFC 8215) */
		"2002:7f00:1::", "2002:a00:5::1", "2002:a9fe:a9fe::", "2002:c0a8:101::1",
		"64:ff9b:1::8.8.8.8", "64:ff9b:1:ffff::1",
	};
	static const char *const yes[] = {
		"2001:4860:4860::8888", "2606:4700::1111", "fbff::1", "fe00::1", "::ffff:8.8.8.8",
		"64:ff9b::8.8.8.8", "2001:db8::1", "2002:808:808::1", "64:ff9b:2::1",
	};

	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ck_assert_msg(forbidden(no[i]), "%s allowed", no[i]);
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ck_assert_msg(!forbidden(yes[i]), "%s refused", yes[i]);
}
END_TEST

START_TEST(other_families_refused)
{
	struct sockaddr sa = { .sa_family = AF_UNIX };

	ck_assert(cx_endpoint_addr_forbidden(&sa));
}
END_TEST

static const char *url_code(const char *url, int http, int priv)
{
	struct cx_error err = { 0 };

	if (cx_endpoint_check_url(url, http, priv, &err) == 0)
		return "";
	ck_assert_int_eq(err.status, 422);
	ck_assert_str_eq(err.field, "url");
	return err.code;
}

START_TEST(url_policy)
{
	ck_assert_str_eq(url_code("https://127.0.0.1/h", 0, 0), "endpoint_private");
	ck_assert_str_eq(url_code("https://127.0.0.1/h", 0, 1), "");
	ck_assert_str_eq(url_code("https://[::1]:8443/h", 0, 0), "endpoint_private");
	ck_assert_str_eq(url_code("https://[::ffff:10.0.0.1]/h", 0, 0), "endpoint_private");
	ck_assert_str_eq(url_code("https://10.0.0.1/h", 0, 1), "");
	ck_assert_str_eq(url_code("http://127.0.0.1/h", 0, 1), "endpoint_insecure");
	ck_assert_str_eq(url_code("http://127.0.0.1/h", 1, 1), "");
	ck_assert_str_eq(url_code("http://127.0.0.1/h", 1, 0), "endpoint_private");
	ck_assert_str_eq(url_code("https://u:p@127.0.0.1/h", 1, 1), "invalid_url");
	ck_assert_str_eq(url_code("https://u@127.0.0.1/h", 1, 1), "invalid_url");
	ck_assert_str_eq(url_code("ftp://127.0.0.1/h", 1, 1), "invalid_url");
	ck_assert_str_eq(url_code("gopher://127.0.0.1/h", 1, 1), "invalid_url");
	ck_assert_str_eq(url_code("127.0.0.1/h", 1, 1), "invalid_url");
	ck_assert_str_eq(url_code("", 1, 1), "invalid_url");
	ck_assert_str_eq(url_code("https://", 1, 1), "invalid_url");
	ck_assert_str_eq(url_code("https://host.invalid/h", 1, 1), "endpoint_unresolvable");
}
END_TEST

START_TEST(schedules)
{
	int64_t ms[CX_SCHEDULE_MAX];
	size_t n;

	ck_assert_int_eq(cx_deliver_parse_schedule(CX_DEFAULT_SCHEDULE, ms, CX_SCHEDULE_MAX, &n), 0);
	ck_assert_uint_eq(n, 10);
	ck_assert_int_eq(ms[0], 5000);
	ck_assert_int_eq(ms[2], 120000);
	ck_assert_int_eq(ms[5], 3600000);
	ck_assert_int_eq(ms[9], 8 * 3600000LL);
	ck_assert_int_eq(cx_deliver_parse_schedule("200ms,400ms,800ms", ms, CX_SCHEDULE_MAX, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(ms[0], 200);
	ck_assert_int_eq(ms[2], 800);
	ck_assert_int_eq(cx_deliver_parse_schedule("24h", ms, CX_SCHEDULE_MAX, &n), 0);
	static const char *const bad[] = { "", ",", "5s,", ",5s", "5", "5x", "0s", "-1s", "5s,,5s",
					   "25h", "1s 2s", "s", "99999999999999999999s" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(cx_deliver_parse_schedule(bad[i], ms, CX_SCHEDULE_MAX, &n) == -1,
			      "'%s' accepted", bad[i]);
	ck_assert_int_eq(cx_deliver_parse_schedule("1s,1s,1s", ms, 2, &n), -1);   /* too many */
}
END_TEST

START_TEST(jitter_bounds)
{
	ck_assert_int_eq(cx_deliver_jitter(10000, 0), 8000);
	ck_assert_int_eq(cx_deliver_jitter(10000, UINT32_MAX), 11999);
	ck_assert_int_eq(cx_deliver_jitter(10000, 1u << 31), 10000);
	for (uint32_t r = 0; r < 4000000000u; r += 12345677u) {
		int64_t j = cx_deliver_jitter(8 * 3600000LL, r);

		ck_assert(j >= 8 * 3600000LL * 8 / 10 && j <= 8 * 3600000LL * 12 / 10);
	}
}
END_TEST

START_TEST(retry_after)
{
	/* Sun, 06 Nov 1994 08:49:37 GMT is 784111777 (RFC 9110's example) */
	ck_assert_int_eq(cx_deliver_retry_after("1", 0), 1);
	ck_assert_int_eq(cx_deliver_retry_after(" 120\r\n", 0), 120);
	ck_assert_int_eq(cx_deliver_retry_after("0", 0), 0);
	ck_assert_int_eq(cx_deliver_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 - 30), 30);
	ck_assert_int_eq(cx_deliver_retry_after("Sun, 06 Nov 1994 08:49:37 GMT\r\n", 784111777 - 30),
			 30);
	ck_assert_int_eq(cx_deliver_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 + 5), 0);
	ck_assert_int_eq(cx_deliver_retry_after("soon", 0), -1);
	ck_assert_int_eq(cx_deliver_retry_after("", 0), -1);
	ck_assert_int_eq(cx_deliver_retry_after("12abc", 0), -1);
	ck_assert_int_eq(cx_deliver_retry_after("-5", 0), -1);
	ck_assert_int_eq(cx_deliver_retry_after(NULL, 0), -1);
}
END_TEST

START_TEST(definitions)
{
	struct cx_error err = { 0 };
	char secret[96];
	json_t *out, *body = json_pack("{s:s, s:s, s:[s], s:n}", "id", "desk", "url",
				       "https://127.0.0.1/h", "events", "case.opened", "surveys");

	ck_assert_int_eq(cx_endpoint_from_json(body, NULL, 0, 1, &out, secret, &err), 0);
	ck_assert_int_eq(strncmp(secret, "whsec_", 6), 0);
	ck_assert(json_is_null(json_object_get(out, "surveys")));
	ck_assert(json_is_null(json_object_get(out, "description")));
	json_decref(out);
	/* a PUT may not set the secret, nor name another id */
	ck_assert_int_eq(cx_endpoint_from_json(body, "other", 0, 1, &out, secret, &err), -1);
	ck_assert_str_eq(err.code, "invalid_id");
	json_object_set_new(body, "secret", json_string("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
	ck_assert_int_eq(cx_endpoint_from_json(body, "desk", 0, 1, &out, secret, &err), -1);
	ck_assert_str_eq(err.code, "unknown_field");
	ck_assert_int_eq(cx_endpoint_from_json(body, NULL, 0, 1, &out, secret, &err), 0);
	ck_assert_str_eq(secret, "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	json_decref(out);
	json_decref(body);
}
END_TEST

/* Found by the hostile pass: repeated list entries and control characters were stored. */
START_TEST(definitions_hostile)
{
	static const char *const bad[][2] = {
		{ "{\"id\": \"d\", \"url\": \"https://127.0.0.1/\", \"events\": "
		  "[\"case.opened\", \"case.opened\"]}", "invalid_events" },
		{ "{\"id\": \"d\", \"url\": \"https://127.0.0.1/\", \"surveys\": [\"a\", \"a\"]}",
		  "invalid_surveys" },
		{ "{\"id\": \"d\", \"url\": \"https://127.0.0.1/\", \"description\": \"a\\r\\nb\"}",
		  "invalid_description" },
		{ "{\"id\": \"d\", \"url\": \"https://127.0.0.1/\", \"description\": \"a\\u007f\"}",
		  "invalid_description" },
		{ "{\"id\": \"d\", \"url\": \"https://127.0.0.1/\", \"events\": [\"nope\"]}",
		  "invalid_events" },
	};
	char secret[96];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cx_error err = { 0 };
		json_t *out = NULL, *body = json_loads(bad[i][0], 0, NULL);

		ck_assert_ptr_nonnull(body);
		ck_assert_int_eq(cx_endpoint_from_json(body, NULL, 0, 1, &out, secret, &err), -1);
		ck_assert_str_eq(err.code, bad[i][1]);
		ck_assert_ptr_null(out);
		json_decref(body);
	}
}
END_TEST

CX_CHECK_MAIN("endpoint", NULL, NULL, ipv4_ranges, ipv6_ranges, other_families_refused, url_policy,
	      schedules, jitter_bounds, retry_after, definitions, definitions_hostile)
