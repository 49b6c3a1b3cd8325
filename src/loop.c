/* loop.c - rules and events for each new response (stub: issue 12, the rules part fills it
 * in); see include/cx/loop.h. */
#include "cx/loop.h"

int cx_loop_on_response(struct cx_store *st, const struct cx_response *r, int64_t id,
			struct cx_error *err)
{
	(void)st;
	(void)r;
	(void)id;
	(void)err;
	return 0;
}
