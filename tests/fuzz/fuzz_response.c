/* libFuzzer target: client bytes as a response body, the way POST /v1/responses reads
 * them: one JSON document, NDJSON lines, or an urlencoded form (split here, validated
 * with from_form). Nothing may crash, leak or trip a sanitizer; every refusal must carry
 * a code, a message and a 4xx status. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cx/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct cx_survey *lookup(void *ctx, const char *id)
{
	static const struct cx_survey s = {
		.id = "checkout", .title = "t", .nstages = 6, .open_touchpoints = 1,
		.stages = { "awareness", "interest", "consideration", "purchase", "retention",
			    "advocacy" },
	};
	return strcmp(id, s.id) == 0 ? &s : NULL;
}

static void check(const json_t *obj, int from_form)
{
	struct cx_response r;
	struct cx_error err = { 0 };

	if (cx_validate_response(obj, from_form, 1, lookup, NULL, 1795392000, &r, &err) == 0) {
		cx_response_release(&r);
		return;
	}
	if (err.status < 400 || err.status > 499 || !err.code || !err.message[0])
		abort();
}

/* key=value&... into a JSON object of strings (no percent-decoding: the bytes as they are). */
static json_t *form(const char *s, size_t n)
{
	json_t *obj = json_object();
	size_t i = 0;

	while (i < n) {
		size_t end = i, eq;

		while (end < n && s[end] != '&')
			end++;
		for (eq = i; eq < end && s[eq] != '='; eq++)
			;
		if (eq < end) {
			char *k = strndup(s + i, eq - i);
			json_t *v = json_stringn(s + eq + 1, end - eq - 1);

			if (k && v && json_object_get(obj, k) == NULL)
				json_object_set(obj, k, v);
			json_decref(v);
			free(k);
		}
		i = end + 1;
	}
	return obj;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	json_error_t jerr;
	json_t *doc = json_loadb(s, size, JSON_REJECT_DUPLICATES, &jerr);
	json_t *f;
	size_t start = 0;

	if (doc) {
		if (json_is_array(doc)) {
			size_t i;
			json_t *v;

			json_array_foreach(doc, i, v)
				check(v, 0);
		} else {
			check(doc, 0);
		}
		json_decref(doc);
	}
	for (size_t i = 0; i <= size; i++)   /* NDJSON */
		if (i == size || s[i] == '\n') {
			json_t *line = json_loadb(s + start, i - start, JSON_REJECT_DUPLICATES, &jerr);

			if (line) {
				check(line, 0);
				json_decref(line);
			}
			start = i + 1;
		}
	f = form(s, size);
	check(f, 1);
	json_decref(f);
	return 0;
}
