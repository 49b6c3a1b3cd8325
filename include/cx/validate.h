/* validate.h - turning client bytes into a checked struct cx_response.
 *
 * Both JSON objects and form fields arrive here as a jansson object; `from_form` says that
 * values are strings to be read as numbers and that empty strings mean "not answered".
 * Every rule, with its error code, is listed in the README; tests/data/invalid has a case
 * per rule.
 */
#ifndef CX_VALIDATE_H
#define CX_VALIDATE_H

#include <stdint.h>
#include <jansson.h>

#include "cx/error.h"
#include "cx/survey.h"

#define CX_LABEL_MAX 64        /* touchpoint, channel, segment */
#define CX_CUSTOMER_MAX 128
#define CX_COMMENT_MAX 4000    /* bytes of UTF-8 */
#define CX_ATTRS_MAX 20
#define CX_ATTR_KEY_MAX 64
#define CX_ATTR_VALUE_MAX 256
#define CX_FUTURE_SKEW_S 86400 /* submitted_at may be at most a day ahead */
#define CX_IDEM_KEY_MAX 128

/* One validated response. Strings are owned (malloc) and freed by cx_response_release. */
struct cx_response {
	char survey[CX_ID_MAX + 1];
	char *stage, *touchpoint, *channel, *segment, *customer, *comment;
	char *attributes;       /* compact JSON object text, or NULL */
	int nps, csat, ces;     /* -1 = not answered */
	char *idem_key;         /* Idempotency-Key or response_id, or NULL */
	uint64_t fingerprint;   /* of every field the client sent, for idempotent retries */
	int64_t submitted_at;   /* unix seconds */
	int64_t received_ms;    /* unix milliseconds */
	int learn;              /* the touchpoint is not in the survey's map: a keyed client
				   adds it to an open survey (the store checks the cap) */
};

/* Looks up a survey by id; returns it (borrowed: valid until the next lookup through the
 * same ctx) or NULL when there is none. Callers keep a cache in ctx, so a batch of 10,000
 * responses to one survey looks it up once. */
typedef const struct cx_survey *(*cx_survey_lookup_fn)(void *ctx, const char *id);

/* Validate obj into *out. On failure returns -1 with *err set (status 422 or 404-free:
 * an unknown survey is a 422 `unknown_survey`) and *out released. now_s is the clock.
 * `keyed` says the client sent a valid API key: only then may a response name a touchpoint
 * outside the survey's journey map (when the survey has open_touchpoints; out->learn is
 * set). An anonymous client gets 422 `unknown_touchpoint` / `unknown_channel` /
 * `unknown_segment`, listing the allowed labels only when the survey is public. */
int cx_validate_response(const json_t *obj, int from_form, int keyed,
			 cx_survey_lookup_fn lookup, void *lookup_ctx, int64_t now_s,
			 struct cx_response *out, struct cx_error *err);
void cx_response_release(struct cx_response *r);

/* 1 if s (len bytes) is 1..max bytes of the label charset [A-Za-z0-9 _.:/@+-] */
int cx_valid_label(const char *s, size_t len, size_t max);
/* 1 if s is a valid idempotency key: 1-128 characters of [A-Za-z0-9_.:/@+=#-] */
int cx_valid_idem_key(const char *s);

#endif
