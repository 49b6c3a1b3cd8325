/* error.h - one error shape for the whole service.
 *
 * A struct cx_error maps one to one onto the JSON error body
 *   {"error": {"code": "...", "message": "...", "field": "..."}}
 * and carries the HTTP status it is answered with. `code` is stable (clients match on
 * it, the README lists them); `message` is for people and may change.
 */
#ifndef CX_ERROR_H
#define CX_ERROR_H

#include <jansson.h>

struct cx_error {
	int status;          /* HTTP status: 400, 404, 405, 409, 413, 415, 422, 503 ... */
	const char *code;    /* static string, e.g. "invalid_nps" */
	char field[80];      /* offending field or parameter, "" if none */
	char message[256];
	unsigned retry_after; /* seconds for Retry-After, 0 = no header */
};

/* Fill *err and return -1, so callers can write `return cx_error_set(...)`.
 * err may be NULL (the error is then dropped). */
int cx_error_set(struct cx_error *err, int status, const char *code, const char *field,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The JSON body for err; a new reference, NULL only on allocation failure. */
json_t *cx_error_json(const struct cx_error *err);

#endif
