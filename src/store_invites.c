/* store_invites.c - link keys, invitations and the fatigue settings (schema 013); see
 * include/cx/store.h ("asking customers") and src/store_invite.h. STUB: H1 writes it. */
#include <stdlib.h>
#include <string.h>

#include "store_invite.h"

static int todo(struct cx_error *err)
{
	return cx_error_set(err, 501, "not_implemented", NULL, "not implemented yet");
}

int cx_store_link_key_active(struct cx_store *st, char *kid, unsigned char *secret,
			     struct cx_error *err)
{
	(void)st, (void)kid, (void)secret;
	return todo(err);
}

int cx_store_link_key_get(struct cx_store *st, const char *kid, unsigned char *secret)
{
	(void)st, (void)kid, (void)secret;
	return -1;
}

int cx_store_link_key_fn(void *st, const char *kid, unsigned char *secret)
{
	return cx_store_link_key_get(st, kid, secret);
}

json_t *cx_store_link_keys_list(struct cx_store *st, struct cx_error *err)
{
	(void)st;
	todo(err);
	return NULL;
}

int cx_store_link_key_rotate(struct cx_store *st, json_t **key, struct cx_error *err)
{
	(void)st, (void)key;
	return todo(err);
}

int cx_store_link_key_delete(struct cx_store *st, const char *kid, struct cx_error *err)
{
	(void)st, (void)kid;
	return todo(err);
}

int cx_store_fatigue_get(struct cx_store *st, struct cx_fatigue *out, struct cx_error *err)
{
	(void)st, (void)err;
	memset(out, 0, sizeof(*out));
	return 0;
}

int cx_store_fatigue_put(struct cx_store *st, const struct cx_fatigue *f, struct cx_error *err)
{
	(void)st, (void)f;
	return todo(err);
}

int cx_store_invitations_mint(struct cx_store *st, const struct cx_survey *s,
			      struct cx_invitation *inv, size_t n, const char *public_url,
			      int64_t now, struct cx_error *err)
{
	(void)st, (void)s, (void)inv, (void)n, (void)public_url, (void)now;
	return todo(err);
}

void cx_invitation_release(struct cx_invitation *inv)
{
	cx_link_claims_release(&inv->claims);
	free(inv->url);
	inv->url = NULL;
}

int cx_invitestore_fatigue(struct cx_store *st, sqlite3 *db, const struct cx_survey *s,
			   const char *customer, int64_t now, int at_answer,
			   int64_t exclude_response, struct cx_fatigue_verdict *v,
			   const char **scope, struct cx_error *err)
{
	(void)st, (void)db, (void)s, (void)customer, (void)now, (void)at_answer;
	(void)exclude_response, (void)scope, (void)err;
	v->reason = NULL;
	v->eligible_at = 0;
	return 0;
}

int cx_invitestore_erase_customer(struct cx_store *st, const char *customer,
				  struct cx_error *err)
{
	(void)st, (void)customer, (void)err;
	return 0;
}
