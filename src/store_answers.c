/* store_answers.c - answers to personal links and the hosted page's second step, and a
 * link's first view (schema 013); see include/cx/store.h ("asking customers"). STUB: H2
 * writes it. */
#include "store_invite.h"

static int todo(struct cx_error *err)
{
	return cx_error_set(err, 501, "not_implemented", NULL, "not implemented yet");
}

int cx_store_link_answer(struct cx_store *st, const struct cx_response *r,
			 const struct cx_link_claims *c, int64_t window_s, int64_t now,
			 int64_t *id, enum cx_answer_outcome *outcome, struct cx_error *err)
{
	(void)st, (void)r, (void)c, (void)window_s, (void)now, (void)id, (void)outcome;
	return todo(err);
}

int cx_store_response_amend(struct cx_store *st, int64_t id, const struct cx_response *r,
			    int64_t window_s, int64_t now, enum cx_answer_outcome *outcome,
			    struct cx_error *err)
{
	(void)st, (void)id, (void)r, (void)window_s, (void)now, (void)outcome;
	return todo(err);
}

int cx_store_invitation_opened(struct cx_store *st, const struct cx_link_claims *c,
			       int64_t now, struct cx_error *err)
{
	(void)st, (void)c, (void)now, (void)err;
	return 0;
}
