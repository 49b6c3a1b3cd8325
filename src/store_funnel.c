/* store_funnel.c - the response funnel from table invitations (schema 013); see
 * include/cx/store.h. STUB: H4 writes it. */
#include "store_invite.h"

int cx_store_funnel(struct cx_store *st, const struct cx_funnel_query *q,
		    int (*fn)(void *ctx, const struct cx_funnel_row *r), void *ctx,
		    struct cx_error *err)
{
	(void)st, (void)q, (void)fn, (void)ctx;
	return cx_error_set(err, 501, "not_implemented", NULL, "not implemented yet");
}
