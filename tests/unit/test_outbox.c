/* Unit tests for the bodies of webhook deliveries printed once per response (issue 14):
 * cx_outbox_body with the data's text given, and cx_loop_data_with_rule, must give the
 * bytes json_dumps gives for the whole object, since the body is what is signed and what
 * docs/webhooks.md shows. The data here has what R can carry: non-ASCII and escaped text,
 * reals, nulls, nested attributes. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "cx/loop.h"
#include "src/store_outbox.h"
#include "check_main.h"

#define FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(12))

static json_t *sample(void)
{
	json_t *d = json_loads("{\"response\": {\"id\": 42, \"survey\": \"checkout\", \"stage\": "
			       "\"purchase\", \"nps\": 3, \"csat\": null, \"comment\": \"caf\\u00e9 "
			       "\\\"slow\\\"\\n\\ttab/\\u0001 \\ud83d\\ude00\", \"attributes\": "
			       "{\"price\": 0.1, \"big\": 1e300, \"list\": [1, 2.5, null, true], "
			       "\"z\": {}}, \"submitted_at\": 1795732717}, \"survey\": {\"id\": "
			       "\"checkout\", \"name\": \"Checkout \\u2013 2026\"}, \"stage\": "
			       "\"purchase\", \"touchpoint\": \"web\"}", 0, NULL);

	ck_assert_ptr_nonnull(d);
	return d;
}

static char *whole(const char *type, int64_t ms, json_t *data)
{
	struct cx_event ev = { .type = type, .at_ms = ms, .data = data };

	return cx_outbox_body(&ev);
}

START_TEST(body_from_text_is_byte_for_byte)
{
	json_t *d = sample();
	char *text = json_dumps(d, FLAGS), *a, *b;
	struct cx_event ev = { .type = "response.created", .at_ms = 1795732717004, .data_text = text };

	a = whole("response.created", 1795732717004, d);
	b = cx_outbox_body(&ev);
	ck_assert_ptr_nonnull(a);
	ck_assert_str_eq(b, a);
	ck_assert_ptr_nonnull(strstr(a, "\"timestamp\":\"2026-11-26T"));
	ck_assert_ptr_nonnull(strstr(a, ".004Z\""));
	free(b);
	ev.type = "a\"type";   /* escaped as jansson does (no event type needs it) */
	free(a);
	a = whole(ev.type, ev.at_ms, d);
	b = cx_outbox_body(&ev);
	ck_assert_str_eq(b, a);
	free(a);
	free(b);
	free(text);
	json_decref(d);
}
END_TEST

START_TEST(rule_spliced_is_byte_for_byte)
{
	json_t *d = sample();
	char *text = json_dumps(d, FLAGS), *spliced, *want, *a, *b;
	struct cx_event ev = { .type = "response.matched_rule", .at_ms = 1795732717999 };

	spliced = cx_loop_data_with_rule(text, "detractor-\"x\"", "Détracteurs \\ achat");
	json_object_set_new(d, "rule", json_pack("{s:s, s:s}", "id", "detractor-\"x\"", "name",
						  "Détracteurs \\ achat"));
	want = json_dumps(d, FLAGS);
	ck_assert_str_eq(spliced, want);
	ev.data_text = spliced;
	a = whole(ev.type, ev.at_ms, d);
	b = cx_outbox_body(&ev);
	ck_assert_str_eq(b, a);
	free(a);
	free(b);
	free(want);
	free(spliced);
	free(text);
	json_decref(d);
}
END_TEST

CX_CHECK_MAIN("outbox", NULL, NULL, body_from_text_is_byte_for_byte, rule_spliced_is_byte_for_byte)
