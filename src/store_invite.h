/* store_invite.h - asking customers (issue 13), for the store's own files only (like
 * store_loop.h). The public side is in include/cx/store.h ("asking customers", "the
 * response funnel") and include/cx/mail.h.
 */
#ifndef CX_STORE_INVITE_H
#define CX_STORE_INVITE_H

#include <stdint.h>
#include <sqlite3.h>

#include "cx/error.h"
#include "cx/mail.h"
#include "cx/store.h"
#include "store_loop.h"

/* The part's state (src/store_invites.c: the link keys, cached), opened by cx_store_open
 * after the loop's parts and closed before them. */
struct cx_invitestore;
int cx_invitestore_open(struct cx_store *st, struct cx_invitestore **out,
			struct cx_error *err);
void cx_invitestore_close(struct cx_invitestore *is);
struct cx_invitestore *cx_store_invitestore(struct cx_store *st);

/* A survey's hosted-page fields (schema 013, table survey_hosted), read into s / written
 * from s on db inside the caller's transaction: the survey cache and cx_store_survey_put
 * call them beside the journey map and root causes (src/store_hosted.c). */
int cx_hosted_load(sqlite3 *db, struct cx_survey *s, struct cx_error *err);
int cx_hosted_save(sqlite3 *db, const struct cx_survey *s, struct cx_error *err);


/* The fatigue verdict for customer (service-wide rules, then survey s's) at now, read on
 * db inside its transaction. at_answer: only after_answer_days, not counting response
 * exclude_response (the link's own earlier answer; 0 = none). *scope is "service" or
 * "survey" when refused. 0, or -1 with a 503 (src/store_invites.c). */
int cx_invitestore_fatigue(struct cx_store *st, sqlite3 *db, const struct cx_survey *s,
			   const char *customer, int64_t now, int at_answer,
			   int64_t exclude_response, struct cx_fatigue_verdict *v,
			   const char **scope, struct cx_error *err);
/* Write the invitations row of claims c on db inside its transaction (nonce, survey,
 * stage, touchpoint, channel, segment, customer, minted_at = issued_at, expires_at): the
 * mint's new row, or with keep_existing the row an answer needs when it is missing (an
 * existing row is left as it is). 0, or -1 with a 503 (src/store_invites.c). */
int cx_invitestore_insert(struct cx_store *st, sqlite3 *db, const struct cx_link_claims *c,
			  int keep_existing, struct cx_error *err);
/* Erasure, on the writer's connection inside its transaction: every invitation of
 * customer (src/store_invites.c), every queued or sent mail to them (src/store_mail.c). */
int cx_invitestore_erase_customer(struct cx_store *st, const char *customer,
				  struct cx_error *err);
int cx_mailstore_erase_customer(struct cx_store *st, const char *customer,
				struct cx_error *err);
/* Queue m on db inside db's open transaction (the mint's), so the mail is sent if and
 * only if the invitation exists (src/store_mail.c). */
int cx_mailstore_queue(struct cx_store *st, sqlite3 *db, const struct cx_mail_msg *m,
		       struct cx_error *err);

#endif
