/* error.c - see include/cx/error.h */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cx/error.h"

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if the bytes there are not one:
 * no overlong forms, no surrogates, nothing above U+10FFFF (what jansson accepts). */
static size_t utf8_len(const unsigned char *s)
{
	unsigned c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;

		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;

		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 &&
		       (s[3] & 0xc0) == 0x80 ? 4 : 0;
	}
	return 0;
}

/* Messages quote what clients sent, which need not be UTF-8, and truncation can split a
 * character: each byte that does not start a valid sequence becomes '?', so the error
 * always has a JSON body (found by tests/fuzz/fuzz_request: a 404 for a path with byte
 * 0xAA was a 500). */
static void utf8_scrub(char *s)
{
	while (*s) {
		size_t n = utf8_len((unsigned char *)s);

		if (n == 0) {
			*s++ = '?';
		} else {
			s += n;
		}
	}
}

int cx_error_set(struct cx_error *err, int status, const char *code, const char *field,
		 const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	memset(err, 0, sizeof(*err));
	err->status = status;
	err->code = code;
	if (field)
		snprintf(err->field, sizeof(err->field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	utf8_scrub(err->field);
	utf8_scrub(err->message);
	return -1;
}

json_t *cx_error_json(const struct cx_error *err)
{
	json_t *e = json_pack("{s:s, s:s}", "code", err->code ? err->code : "internal",
			      "message", err->message);

	if (!e)
		return NULL;
	if (err->field[0])
		json_object_set_new(e, "field", json_string(err->field));
	else
		json_object_set_new(e, "field", json_null());
	return json_pack("{s:o}", "error", e);
}
