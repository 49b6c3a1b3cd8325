/* mail.h - invitation mail through SMTP (src/mail_render.c: addresses, texts and the RFC
 * 5322 message; src/mail.c: the sending worker, libcurl's SMTP; src/store_mail.c: the mail
 * outbox, schema 014).
 *
 * A mail is queued in the transaction that mints its invitation, so it is sent if and only
 * if the invitation exists; a worker thread sends queued mail with libcurl (smtps://, or
 * smtp:// with STARTTLS required unless --smtp-allow-insecure), retrying on a schedule
 * (--mail-retry-schedule), and records each attempt. Delivery is at least once: a mail is
 * marked sent only after the server accepted it, so a crash between the server's "250"
 * and that record sends it again (with the same Message-ID, which receivers may use to
 * drop the copy). A 5xx reply (but a refused login) makes the mail dead at once; a 4xx,
 * a refused TLS or a failed connection retries it. A sent mail keeps its envelope and
 * subject but not its bodies (the personal link); sent and dead rows are deleted after
 * CX_MAIL_RETENTION_MS. Erasure deletes a customer's mail.
 */
#ifndef CX_MAIL_H
#define CX_MAIL_H

#include <stddef.h>
#include <stdint.h>

#include "cx/config.h"
#include "cx/error.h"
#include "cx/link.h"

struct cx_store;
struct cx_survey;
struct cx_mail;

#define CX_MAIL_ADDRESS_MAX 254
#define CX_MAIL_SUBJECT_MAX 998        /* bytes of a rendered subject (longer: cut) */
#define CX_MAIL_TEXT_MAX 65536         /* bytes of a rendered text part */
#define CX_MAIL_HTML_MAX 524288        /* bytes of a rendered HTML part */
#define CX_MAIL_DEFAULT_SCHEDULE "1m,5m,30m,2h,6h"
#define CX_MAIL_TIMEOUT_S 60           /* one SMTP session, all of it */
#define CX_MAIL_CONNECT_TIMEOUT_S 10
#define CX_MAIL_RETENTION_MS (30LL * 86400 * 1000)

/* One message as queued (rendered at mint time). */
struct cx_mail_msg {
	const char *to;            /* a checked address (cx_mail_address_valid) */
	const char *subject;       /* one line */
	const char *text;          /* the plain text body */
	const char *html;          /* the HTML alternative (one-click score links), or NULL */
	const char *nonce;         /* the invitation it carries */
	const char *survey, *customer;
};

/* 1 if s is an address cxd will send to: ASCII local@domain of at most 254 bytes; the
 * local part a dot-atom (RFC 5322 atext and inner dots, at most 64 bytes: no quotes,
 * spaces, angle brackets, commas, control characters); the domain dot-separated labels of
 * letters, digits and inner hyphens with at least one dot, or exactly "localhost" (a relay
 * on this machine); no address literals, no non-ASCII (SMTPUTF8 is not used). Nothing it
 * accepts can end an SMTP command or a header line. */
int cx_mail_address_valid(const char *s);

/* Render survey s's invitation for claims c and link url: *subject, *text, *html are
 * malloc'd. The survey's email.subject / email.body, else the built-in texts in c's
 * language (en, ru, bg; else English), with {{link}}, {{title}} (the survey's title in
 * that language) and {{customer}} replaced. The subject is one line (control characters
 * become spaces), cut at CX_MAIL_SUBJECT_MAX bytes on a character boundary. The HTML part
 * is the text's paragraphs escaped, the link clickable, and a row of one-click score links
 * (url?score=N: NPS 0-10, CSAT 1-5, CES 1-7; the page opens with N chosen, records
 * nothing until submitted) before the paragraph holding the link.
 * 0; -1 when out of memory; -2 when the text or HTML would pass CX_MAIL_TEXT_MAX /
 * CX_MAIL_HTML_MAX (a template repeating its placeholders very often): nothing is then
 * allocated. */
int cx_mail_render(const struct cx_survey *s, const struct cx_link_claims *c,
		   const char *url, char **subject, char **text, char **html);

/* The RFC 5322 message for m from address `from` at unix time now: Date, From, To,
 * Subject (RFC 2047 encoded words when not plain short ASCII), Message-ID <nonce@domain
 * of from>, MIME-Version, multipart/alternative text/plain + text/html (or text/plain
 * alone when m->html is NULL), UTF-8, base64, CRLF, lines of at most 78 bytes. A new
 * malloc'd string (*len its length), or NULL when out of memory. */
char *cx_mail_message(const struct cx_mail_msg *m, const char *from, int64_t now,
		      size_t *len);

/* Start/stop the sending worker (no-op without --smtp-url). cx_mail_stop returns within
 * about a second even while a server hangs: the session in flight is abandoned and its
 * mail stays pending. */
int cx_mail_start(struct cx_mail **out, struct cx_store *st, const struct cx_config *cfg,
		  struct cx_error *err);
void cx_mail_stop(struct cx_mail *m);

/* Metrics: attempts by outcome since start, and the outbox's pending and dead mail. */
enum cx_mail_outcome { CX_MAIL_SENT = 0, CX_MAIL_RETRY, CX_MAIL_DEAD, CX_MAIL_OUT_N };
unsigned long cx_mail_count(enum cx_mail_outcome o);
const char *cx_mail_outcome_name(enum cx_mail_outcome o);
int cx_mail_stats(struct cx_store *st, int64_t *pending, int64_t *dead);

/* --- what an admin sees (GET /v1/mail, POST /v1/mail/{id}/retry; any thread, a
 * connection per call) --- */
/* Mail newest first (id descending) with id < before_id (INT64_MAX = from the newest), of
 * one state and/or survey when not NULL, at most limit: {"mail": [...], "next": id or
 * null}, new reference (never a body: they hold personal links). NULL with a 503. */
json_t *cx_mail_list(struct cx_store *st, const char *state, const char *survey,
		     int64_t before_id, unsigned limit, struct cx_error *err);
/* A dead mail is pending again, due now, its attempts counted from 0: 0, or 404
 * `not_found`, 409 `mail_not_dead` (pending is on its way; sent has no body any more). */
int cx_mail_retry(struct cx_store *st, int64_t id, struct cx_error *err);

/* --- the worker's side of the outbox (src/store_mail.c), on connections of its own --- */
struct cx_mailq;
struct cx_mail_due {
	int64_t id;
	int attempts;               /* attempts made before this one */
	char nonce[64], survey[65];
	char to[CX_MAIL_ADDRESS_MAX + 1];
	char *subject, *text, *html; /* malloc'd; html may be NULL */
};
int cx_mailq_open(struct cx_store *st, struct cx_mailq **out, struct cx_error *err);
void cx_mailq_close(struct cx_mailq *q);
/* Up to max pending mails due at now_ms, oldest due first, into out[]; *n of them (each
 * released with cx_mail_due_release). 0, or -1 with a 503. */
int cx_mailq_due(struct cx_mailq *q, int64_t now_ms, struct cx_mail_due *out, size_t max,
		 size_t *n, struct cx_error *err);
void cx_mail_due_release(struct cx_mail_due *d);
/* Record an attempt of pending mail id at at_ms: sent (bodies dropped), retry at
 * next_at_ms, or dead; error is the reason (NULL when sent). A mail erased meanwhile is
 * left alone. 0, or -1 with a 503. */
int cx_mailq_record(struct cx_mailq *q, int64_t id, enum cx_mail_outcome o, int64_t at_ms,
		    int64_t next_at_ms, const char *error, struct cx_error *err);
/* Delete up to max sent and dead mails made before before_ms; *deleted of them. */
int cx_mailq_purge(struct cx_mailq *q, int64_t before_ms, unsigned max, int64_t *deleted,
		   struct cx_error *err);

#endif
