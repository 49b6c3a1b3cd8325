/* store_rules.c - a survey's rules (stub: issue 12, the rules part fills it in). */
#include <stdlib.h>

#include "store_loop.h"

struct cx_rulestore {
	struct cx_store *st;
};

int cx_rulestore_open(struct cx_store *st, struct cx_rulestore **out, struct cx_error *err)
{
	struct cx_rulestore *rs = calloc(1, sizeof(*rs));

	*out = NULL;
	if (!rs)
		return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	rs->st = st;
	*out = rs;
	return 0;
}

void cx_rulestore_close(struct cx_rulestore *rs)
{
	free(rs);
}
