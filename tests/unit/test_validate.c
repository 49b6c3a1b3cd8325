/* Table-driven validation tests: every tests/data/invalid/NAME.json names the error code
 * (and field) it must produce; every tests/data/valid/NAME.json the values it must yield. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/validate.h"
#include "check_main.h"

#define NOW 1795392000   /* 2026-11-23T00:00:00Z */

static const char *data_dir(void)
{
	const char *d = getenv("CX_TEST_DATA");

	return d ? d : "tests/data";
}

/* The survey catalogue the cases are written against. */
static const struct cx_survey *lookup(void *ctx, const char *id)
{
	static const struct cx_survey checkout = {
		.id = "checkout", .title = "Checkout", .nstages = 6, .open_touchpoints = 1,
		.stages = { "awareness", "interest", "consideration", "purchase", "retention",
			    "advocacy" },
	};
	static const struct cx_survey onboarding = {
		.id = "onboarding", .title = "Onboarding", .nstages = 4, .open_touchpoints = 1,
		.stages = { "awareness", "consideration", "decision", "retention" },
	};

	if (strcmp(id, checkout.id) == 0)
		return &checkout;
	return strcmp(id, onboarding.id) == 0 ? &onboarding : NULL;
}

static int run_dir(const char *sub, int (*check_case)(const char *name, json_t *c))
{
	char path[1024];
	DIR *d;
	struct dirent *e;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", data_dir(), sub);
	d = opendir(path);
	ck_assert_msg(d != NULL, "cannot open %s", path);
	while ((e = readdir(d))) {
		json_error_t jerr;
		json_t *c;

		if (!strstr(e->d_name, ".json"))
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s", data_dir(), sub, e->d_name);
		c = json_load_file(path, 0, &jerr);
		ck_assert_msg(c != NULL, "%s: %s", path, jerr.text);
		n += check_case(e->d_name, c);
		json_decref(c);
	}
	closedir(d);
	return n;
}

static int check_invalid(const char *name, json_t *c)
{
	struct cx_response r;
	struct cx_error err = { 0 };
	const char *code = json_string_value(json_object_get(c, "code"));
	const char *field = json_string_value(json_object_get(c, "field"));
	int rc = cx_validate_response(json_object_get(c, "body"),
				      json_is_true(json_object_get(c, "form")), 1, lookup, NULL, NOW,
				      &r, &err);

	ck_assert_msg(rc == -1, "%s: accepted, expected %s", name, code);
	ck_assert_msg(err.status == 422, "%s: status %d", name, err.status);
	ck_assert_msg(strcmp(err.code, code) == 0, "%s: code %s, expected %s", name, err.code,
		      code);
	ck_assert_msg(strcmp(err.field, field ? field : "") == 0, "%s: field '%s', expected '%s'",
		      name, err.field, field ? field : "");
	ck_assert_msg(err.message[0] != '\0', "%s: no message", name);
	ck_assert_ptr_null(r.stage);   /* nothing half-filled is left behind */
	return 1;
}

static int check_valid(const char *name, json_t *c)
{
	struct cx_response r;
	struct cx_error err = { 0 };
	json_t *x = json_object_get(c, "expect");
	json_t *v;
	int rc = cx_validate_response(json_object_get(c, "body"),
				      json_is_true(json_object_get(c, "form")), 1, lookup, NULL, NOW,
				      &r, &err);

	ck_assert_msg(rc == 0, "%s: refused with %s (%s)", name, err.code, err.message);
	if ((v = json_object_get(x, "nps")))
		ck_assert_int_eq(r.nps, json_integer_value(v));
	if ((v = json_object_get(x, "csat")))
		ck_assert_int_eq(r.csat, json_integer_value(v));
	if ((v = json_object_get(x, "ces")))
		ck_assert_int_eq(r.ces, json_integer_value(v));
	if ((v = json_object_get(x, "comment")))
		ck_assert_str_eq(r.comment, json_string_value(v));
	if ((v = json_object_get(x, "attributes")))
		ck_assert_str_eq(r.attributes, json_string_value(v));
	if ((v = json_object_get(x, "submitted_at")))
		ck_assert_int_eq(r.submitted_at, json_integer_value(v));
	else
		ck_assert_int_eq(r.submitted_at, NOW);
	cx_response_release(&r);
	return 1;
}

START_TEST(invalid_cases)
{
	ck_assert_int_ge(run_dir("invalid", check_invalid), 40);
}
END_TEST

START_TEST(valid_cases)
{
	ck_assert_int_ge(run_dir("valid", check_valid), 5);
}
END_TEST

START_TEST(labels)
{
	ck_assert(cx_valid_label("support-call", 12, 64));
	ck_assert(cx_valid_label("a@b.c:d/e+f g", 13, 64));
	ck_assert(!cx_valid_label("", 0, 64));
	ck_assert(!cx_valid_label("a\0b", 3, 64));
	ck_assert(!cx_valid_label("tab\there", 8, 64));
	ck_assert(!cx_valid_label("ünïcode", strlen("ünïcode"), 64));
	ck_assert(!cx_valid_label("abcd", 4, 3));
}
END_TEST

START_TEST(survey_definitions)
{
	struct cx_survey s;
	struct cx_error err;
	json_t *j;

	j = json_pack("{s:s, s:s}", "id", "nps-2026", "title", "Relationship NPS");
	ck_assert_int_eq(cx_survey_from_json(j, NULL, &s, &err), 0);
	ck_assert_int_eq(s.nstages, 6);
	ck_assert_str_eq(s.stages[0], "awareness");
	ck_assert_str_eq(s.stages[5], "advocacy");
	cx_survey_release(&s);
	json_decref(j);

	j = json_pack("{s:s, s:[s, s, s]}", "title", "t", "stages", "a", "b", "c");
	ck_assert_int_eq(cx_survey_from_json(j, "via-path", &s, &err), 0);
	ck_assert_str_eq(s.id, "via-path");
	ck_assert_int_eq(cx_survey_stage_index(&s, "c"), 2);
	cx_survey_release(&s);
	json_decref(j);

	j = json_pack("{s:s, s:s, s:[s, s]}", "id", "x", "title", "t", "stages", "a", "a");
	ck_assert_int_eq(cx_survey_from_json(j, NULL, &s, &err), -1);
	ck_assert_str_eq(err.code, "invalid_stages");
	json_decref(j);

	j = json_pack("{s:s, s:s, s:s}", "id", "x", "title", "t", "thank_you_url",
		      "javascript:alert(1)");
	ck_assert_int_eq(cx_survey_from_json(j, NULL, &s, &err), -1);
	ck_assert_str_eq(err.code, "invalid_url");
	json_decref(j);

	j = json_pack("{s:s, s:s}", "id", "x", "title", "t");
	ck_assert_int_eq(cx_survey_from_json(j, "y", &s, &err), -1);
	ck_assert_str_eq(err.code, "id_mismatch");
	json_decref(j);

	j = json_pack("{s:s}", "id", "x");
	ck_assert_int_eq(cx_survey_from_json(j, NULL, &s, &err), -1);
	ck_assert_str_eq(err.code, "missing_field");
	ck_assert_str_eq(err.field, "title");
	json_decref(j);
}
END_TEST

/* The journey map: a survey parsed from JSON, then responses against it as an anonymous
 * and as a keyed client. */
static struct cx_survey map_survey;

static const struct cx_survey *map_lookup(void *ctx, const char *id)
{
	(void)ctx;
	return strcmp(id, map_survey.id) == 0 ? &map_survey : NULL;
}

static int post(const char *json, int keyed, struct cx_error *err, int *learn)
{
	json_t *obj = json_loads(json, 0, NULL);
	struct cx_response r;
	int rc = cx_validate_response(obj, 0, keyed, map_lookup, NULL, NOW, &r, err);

	*learn = rc == 0 ? r.learn : -1;
	if (rc == 0)
		cx_response_release(&r);
	json_decref(obj);
	return rc;
}

START_TEST(journey_map)
{
	static const char def[] =
		"{\"id\": \"m\", \"title\": \"M\", \"stages\": [\"a\", \"b\"], \"public\": %s,"
		" \"touchpoints\": {\"a\": [\"web\", \"pos\"]}, \"channels\": [\"email\"],"
		" \"open_touchpoints\": %s}";
	char buf[512];
	struct cx_error err;
	json_t *j;
	int learn;

	for (int open = 0; open < 2; open++) {
		for (int pub = 0; pub < 2; pub++) {
			snprintf(buf, sizeof(buf), def, pub ? "true" : "false", open ? "true" : "false");
			j = json_loads(buf, 0, NULL);
			ck_assert_int_eq(cx_survey_from_json(j, NULL, &map_survey, &err), 0);
			json_decref(j);
			ck_assert_int_eq(map_survey.ntouchpoints, 2);
			ck_assert_int_eq(map_survey.open_touchpoints, open);
			/* declared: everyone */
			ck_assert_int_eq(post("{\"survey\": \"m\", \"stage\": \"a\", \"touchpoint\": "
					      "\"pos\", \"nps\": 1}", 0, &err, &learn), 0);
			ck_assert_int_eq(learn, 0);
			/* new touchpoint: only keyed, only open */
			ck_assert_int_eq(post("{\"survey\": \"m\", \"stage\": \"a\", \"touchpoint\": "
					      "\"new\", \"nps\": 1}", 1, &err, &learn), open ? 0 : -1);
			ck_assert_int_eq(learn, open ? 1 : -1);
			if (pub) {   /* anonymous on a private survey: left to the 401 */
				ck_assert_int_eq(post("{\"survey\": \"m\", \"stage\": \"b\", \"touchpoint\": "
						      "\"web\", \"nps\": 1}", 0, &err, &learn), -1);
				ck_assert_str_eq(err.code, "unknown_touchpoint");   /* web is a's, not b's */
				ck_assert_int_eq(post("{\"survey\": \"m\", \"stage\": \"a\", \"touchpoint\": "
						      "\"new\", \"nps\": 1}", 0, &err, &learn), -1);
				ck_assert_str_eq(err.code, "unknown_touchpoint");
				ck_assert(strstr(err.message, "web, pos"));   /* public: the map is told */
				ck_assert_int_eq(post("{\"survey\": \"m\", \"stage\": \"a\", \"touchpoint\": "
						      "\"web\", \"channel\": \"sms\", \"nps\": 1}", 1, &err,
						      &learn), -1);
				ck_assert_str_eq(err.code, "unknown_channel");
			}
			cx_survey_release(&map_survey);
		}
	}
}
END_TEST

/* Fingerprints are stored with idempotency keys, so a retry after an upgrade must hash as
 * before: these values are the ones cxd computed when the numbers went through snprintf. */
START_TEST(fingerprint_pinned)
{
	static const struct { const char *json; uint64_t fp; } cases[] = {
		{ "{\"survey\":\"checkout\",\"stage\":\"purchase\",\"touchpoint\":\"web\","
		  "\"nps\":9}", 0x199d19f8c368e434ull },
		{ "{\"survey\":\"checkout\",\"stage\":\"purchase\",\"touchpoint\":\"web\","
		  "\"channel\":\"email\",\"segment\":\"new\",\"customer\":\"c-42\",\"nps\":0,"
		  "\"csat\":5,\"ces\":7,\"comment\":\"slow\",\"attributes\":{\"plan\":\"pro\"},"
		  "\"submitted_at\":\"2026-11-22T10:00:00Z\"}", 0x2b67afa315259850ull },
		{ "{\"survey\":\"checkout\",\"stage\":\"advocacy\",\"touchpoint\":\"app\","
		  "\"csat\":1,\"submitted_at\":\"1970-01-01T00:00:00Z\"}", 0x239a5a7acc1e7736ull },
		{ "{\"survey\":\"checkout\",\"stage\":\"awareness\",\"touchpoint\":\"web\","
		  "\"nps\":10,\"ces\":1,\"submitted_at\":\"2026-11-23T00:00:00Z\"}",
		  0x2fe425614435635full },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cx_response r;
		struct cx_error err;
		json_t *obj = json_loads(cases[i].json, 0, NULL);

		ck_assert_ptr_nonnull(obj);
		ck_assert_int_eq(cx_validate_response(obj, 0, 1, lookup, NULL, NOW, &r, &err), 0);
		ck_assert_msg(r.fingerprint == cases[i].fp, "case %zu: fingerprint %016llx", i,
			      (unsigned long long)r.fingerprint);
		cx_response_release(&r);
		json_decref(obj);
	}
}
END_TEST

CX_CHECK_MAIN("validate", NULL, NULL, invalid_cases, valid_cases, labels,
	      survey_definitions, journey_map, fingerprint_pinned)
