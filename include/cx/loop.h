/* loop.h - what happens when a response arrives: the survey's rules are matched and their
 * actions (webhook deliveries, follow-up cases) and the `response.created` event are
 * written in the response's own transaction (issue 12).
 */
#ifndef CX_LOOP_H
#define CX_LOOP_H

#include <stdint.h>

#include "cx/error.h"
#include "cx/store.h"
#include "cx/validate.h"

/* Writer thread, inside the open transaction, right after r was appended as response id
 * (not for an idempotent replay). 0, or -1 with a 503 in err: the transaction is lost. */
int cx_loop_on_response(struct cx_store *st, const struct cx_response *r, int64_t id,
			struct cx_error *err);

/* The text json_dumps(JSON_COMPACT) prints for the object data_text is the text of (a
 * non-empty object, printed with JSON_COMPACT) once "rule": {"id": rule_id, "name":
 * rule_name} is appended to it: a `response.matched_rule` event's data, from the text of
 * `response.created`'s without printing R again. malloc'd; NULL when out of memory. */
char *cx_loop_data_with_rule(const char *data_text, const char *rule_id, const char *rule_name);

#endif
