/* mail.h - invitation mail through SMTP (src/mail.c: libcurl's SMTP; src/store_mail.c:
 * the mail outbox, schema 014).
 *
 * A mail is queued in the transaction that mints its invitation, so it is sent if and only
 * if the invitation exists; a worker thread sends queued mail with libcurl (smtps://, or
 * smtp:// with STARTTLS required unless --smtp-allow-insecure), retrying on a schedule,
 * and records each attempt. Erasure deletes a customer's mail.
 */
#ifndef CX_MAIL_H
#define CX_MAIL_H

#include <stdint.h>

#include "cx/config.h"
#include "cx/error.h"
#include "cx/link.h"

struct cx_store;
struct cx_survey;
struct cx_mail;

#define CX_MAIL_ADDRESS_MAX 254

/* One message as queued (rendered at mint time). */
struct cx_mail_msg {
	const char *to;            /* a checked address (cx_mail_address_valid) */
	const char *subject;       /* one line */
	const char *text;          /* the plain text body */
	const char *html;          /* the HTML alternative (one-click score links), or NULL */
	const char *nonce;         /* the invitation it carries */
	const char *survey, *customer;
};

/* 1 if s is an address cxd will send to (local@domain, printable, no header tricks). */
int cx_mail_address_valid(const char *s);
/* Render survey s's invitation for claims c and link url: *subject, *text, *html are
 * malloc'd (the survey's templates, or the built-in ones in c's language); 0, or -1 when
 * out of memory. */
int cx_mail_render(const struct cx_survey *s, const struct cx_link_claims *c,
		   const char *url, char **subject, char **text, char **html);
/* Start/stop the sending worker (no-op without --smtp-url). */
int cx_mail_start(struct cx_mail **out, struct cx_store *st, const struct cx_config *cfg,
		  struct cx_error *err);
void cx_mail_stop(struct cx_mail *m);

#endif
