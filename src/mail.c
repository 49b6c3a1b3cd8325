/* mail.c - the invitation mail worker: sends the mail outbox (src/store_mail.c) through
 * SMTP with libcurl; see include/cx/mail.h.
 *
 * One thread, one message at a time (invitation mail is a few a second at most): it
 * looks for due mail every POLL_MS, builds each message (src/mail_render.c), hands it to
 * libcurl's SMTP on a multi handle so a stop can interrupt any wait at once, and records
 * the outcome in a statement of its own afterwards: nothing is locked while the server
 * is talked to. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <curl/curl.h>
#include <gnutls/crypto.h>

#include "cx/cxtime.h"
#include "cx/deliver.h"
#include "cx/log.h"
#include "cx/mail.h"

#define POLL_MS 500      /* how often due mail is looked for */
#define BATCH 4          /* mails taken per look */
#define REPLY_MAX 200    /* bytes of the server's last reply kept for last_error */
#define WHY_MAX 640

static atomic_ulong outcomes[CX_MAIL_OUT_N];

unsigned long cx_mail_count(enum cx_mail_outcome o)
{
	return o < CX_MAIL_OUT_N ? atomic_load(&outcomes[o]) : 0;
}

const char *cx_mail_outcome_name(enum cx_mail_outcome o)
{
	static const char *const names[CX_MAIL_OUT_N] = { "sent", "retry", "dead" };

	return o < CX_MAIL_OUT_N ? names[o] : "?";
}

struct cx_mail {
	struct cx_store *st;
	struct cx_mailq *q;
	CURLM *multi;
	pthread_t thread;
	atomic_int stop;
	char url[1024], from[CX_MAIL_ADDRESS_MAX + 1], mail_from[CX_MAIL_ADDRESS_MAX + 3];
	const char *user, *password;   /* the config's, which outlives the worker */
	int insecure;
	int64_t sched[CX_SCHEDULE_MAX];
	size_t nsched;
	uint64_t next_purge_us;
};

/* One message's SMTP session. */
struct session {
	const char *msg;
	size_t len, off;
	int data;                  /* the server asked for the message (DATA accepted) */
	curl_socket_t fd;          /* the session's socket, -1 when none */
	char reply[REPLY_MAX + 1]; /* its last refusal (a reply of 400 or more) */
	char errbuf[CURL_ERROR_SIZE];
};

static size_t on_read(char *buf, size_t size, size_t n, void *ctx)
{
	struct session *s = ctx;
	size_t k = s->len - s->off < size * n ? s->len - s->off : size * n;

	s->data = 1;
	memcpy(buf, s->msg + s->off, k);
	s->off += k;
	return k;
}

/* libcurl hands SMTP's reply lines to the header callback: the last refusal says why
 * (not the last line, which after a refusal is the answer to QUIT). */
static size_t on_reply(char *p, size_t size, size_t n, void *ctx)
{
	struct session *s = ctx;
	size_t len = size * n, k = len < REPLY_MAX ? len : REPLY_MAX;

	if (len < 3 || p[0] < '4' || p[0] > '5')
		return len;
	memcpy(s->reply, p, k);
	s->reply[k] = '\0';
	for (char *c = s->reply; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			*c = ' ';
	while (k > 0 && s->reply[k - 1] == ' ')
		s->reply[--k] = '\0';
	return len;
}

/* The session's socket is tracked so a stop can shut it: libcurl, told to drop an SMTP
 * transfer midway, first waits (up to the timeout) for the server to answer the end of
 * the message it never finished sending. */
static int on_sockopt(void *ctx, curl_socket_t fd, curlsocktype purpose)
{
	((struct session *)ctx)->fd = fd;
	return CURL_SOCKOPT_OK;
}

static int on_close(void *ctx, curl_socket_t fd)
{
	struct session *s = ctx;

	if (s->fd == fd)
		s->fd = -1;
	return close(fd);
}

static uint32_t rnd32(void)
{
	uint32_t r = 0;

	gnutls_rnd(GNUTLS_RND_NONCE, &r, sizeof(r));
	return r;
}

static int reply_code(const struct session *s)
{
	const char *r = s->reply;

	return r[0] >= '2' && r[0] <= '5' && r[1] >= '0' && r[1] <= '9' && r[2] >= '0' &&
	       r[2] <= '9' ? (r[0] - '0') * 100 + (r[1] - '0') * 10 + (r[2] - '0') : 0;
}

static CURL *handle(struct cx_mail *m, struct session *s, struct curl_slist *rcpt)
{
	CURL *h = curl_easy_init();

	if (!h)
		return NULL;
	curl_easy_setopt(h, CURLOPT_URL, m->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(h, CURLOPT_USE_SSL, m->insecure ? (long)CURLUSESSL_TRY : (long)CURLUSESSL_ALL);
	curl_easy_setopt(h, CURLOPT_PROXY, "");   /* no proxy from the environment */
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)CX_MAIL_CONNECT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)CX_MAIL_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, m->mail_from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(h, CURLOPT_READDATA, s);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)s->len);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_reply);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, s);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, s->errbuf);
	/* a session per mail, so its socket is this handle's (on_sockopt, on_close) */
	curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
	curl_easy_setopt(h, CURLOPT_SOCKOPTDATA, s);
	curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, on_close);
	curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, s);
	if (m->user[0]) {
		curl_easy_setopt(h, CURLOPT_USERNAME, m->user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, m->password);
	}
	return h;
}

/* Run h (session s) on m's multi handle until it ends (its result into *res: 0) or a stop
 * (-1). */
static int perform(struct cx_mail *m, CURL *h, struct session *s, CURLcode *res)
{
	int running = 1, rc = -1;
	CURLMsg *msg;
	int left;

	if (curl_multi_add_handle(m->multi, h) != CURLM_OK) {
		*res = CURLE_OUT_OF_MEMORY;   /* an attempt that failed: retried on the schedule */
		return 0;
	}
	while (!atomic_load(&m->stop)) {
		curl_multi_perform(m->multi, &running);
		if (!running)
			break;
		curl_multi_poll(m->multi, NULL, 0, 1000, NULL);
	}
	while (!running && (msg = curl_multi_info_read(m->multi, &left)))
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == h) {
			*res = msg->data.result;
			rc = 0;
		}
	if (running && s->fd != -1)
		shutdown(s->fd, SHUT_RDWR);   /* stopped midway: nothing left to wait for */
	curl_multi_remove_handle(m->multi, h);
	return rc;
}

/* Why attempt s failed (result res), in words an operator acts on, into why. */
static void explain(const struct cx_mail *m, const struct session *s, CURLcode res, char *why)
{
	const char *what = s->errbuf[0] ? s->errbuf : curl_easy_strerror(res);
	int n;

	if (res == CURLE_USE_SSL_FAILED && !m->insecure)
		n = snprintf(why, WHY_MAX, "TLS is required and the server offers no STARTTLS (%s); "
			 "use smtps:// or a server with STARTTLS, or --smtp-allow-insecure for a "
			 "relay on this machine", what);
	else if (res == CURLE_LOGIN_DENIED)
		n = snprintf(why, WHY_MAX, "the server refused the login (--smtp-user, "
			 "CXD_SMTP_PASSWORD): %s", s->reply[0] ? s->reply : what);
	else if (reply_code(s) >= 400)   /* curl's words say when, unless they only say "weird" */
		n = snprintf(why, WHY_MAX, "the server answered \"%s\" (%s)", s->reply,
			     s->errbuf[0] ? s->errbuf : s->data ? "to the message" : what);
	else
		n = snprintf(why, WHY_MAX, "%s", what);
	if (n < 0)
		snprintf(why, WHY_MAX, "the mail was not sent");
	for (char *c = why; *c; c++)
		if ((unsigned char)*c < 0x20)
			*c = ' ';
}

/* Send due mail d: its outcome, the reason into why when not sent; -1 when a stop cut the
 * session short (the mail stays pending). */
static int send_one(struct cx_mail *m, const struct cx_mail_due *d, char *why)
{
	struct cx_mail_msg msg = { .to = d->to, .subject = d->subject, .text = d->text,
				   .html = d->html, .nonce = d->nonce, .survey = d->survey };
	struct session s = { .fd = -1 };
	struct curl_slist *rcpt = NULL;
	char to[CX_MAIL_ADDRESS_MAX + 3];
	char *text = NULL;
	CURL *h = NULL;
	CURLcode res = CURLE_OK;
	int code, rc;

	snprintf(to, sizeof(to), "<%s>", d->to);
	if (!cx_mail_address_valid(d->to)) {   /* a row not queued by cx_mailstore_queue */
		snprintf(why, WHY_MAX, "not an address cxd sends to");
		return CX_MAIL_DEAD;
	}
	if (!(text = cx_mail_message(&msg, m->from, cx_time_now(), &s.len)) ||
	    !(rcpt = curl_slist_append(NULL, to)) || !(h = handle(m, &s, rcpt))) {
		snprintf(why, WHY_MAX, "out of memory");
		rc = CX_MAIL_RETRY;
		goto out;
	}
	s.msg = text;
	if (perform(m, h, &s, &res)) {
		rc = -1;
		goto out;
	}
	if (res == CURLE_OK) {
		rc = CX_MAIL_SENT;
		goto out;
	}
	explain(m, &s, res, why);
	code = reply_code(&s);
	/* refused for good: the sender or the recipient (MAIL, RCPT: a send error), or the
	 * message (the reply to its end, once DATA was accepted); not a login or a greeting */
	rc = code >= 500 && (res == CURLE_SEND_ERROR || (res == CURLE_WEIRD_SERVER_REPLY &&
							  s.data)) ? CX_MAIL_DEAD : CX_MAIL_RETRY;
out:
	if (h)
		curl_easy_cleanup(h);
	curl_slist_free_all(rcpt);
	free(text);
	return rc;
}

static void record(struct cx_mail *m, const struct cx_mail_due *d, int o, const char *why,
		   int64_t at_ms)
{
	int tries = d->attempts + 1;
	int64_t next = at_ms;
	struct cx_error err;

	if (o == CX_MAIL_RETRY && tries > (int)m->nsched)
		o = CX_MAIL_DEAD;
	if (o == CX_MAIL_RETRY)
		next = cx_time_now_ms() + cx_deliver_jitter(m->sched[tries - 1], rnd32());
	atomic_fetch_add(&outcomes[o], 1);
	if (o == CX_MAIL_DEAD)
		cx_log_info("mail %lld (survey %s) is dead after %d attempt%s: %s", (long long)d->id,
			    d->survey, tries, tries == 1 ? "" : "s", why);
	else if (o == CX_MAIL_RETRY)
		cx_log_info("mail %lld (survey %s): attempt %d failed, again in %lld ms: %s",
			    (long long)d->id, d->survey, tries, (long long)(next - at_ms), why);
	if (cx_mailq_record(m->q, d->id, (enum cx_mail_outcome)o, at_ms, next,
			    o == CX_MAIL_SENT ? NULL : why, &err))
		/* not recorded: it stays pending and is sent again (at least once) */
		cx_log_error("mail %lld: %s", (long long)d->id, err.message);
}

/* Send what is due now; the number of mails looked at. */
static size_t look(struct cx_mail *m)
{
	struct cx_mail_due due[BATCH];
	struct cx_error err;
	size_t n, i;

	if (cx_mailq_due(m->q, cx_time_now_ms(), due, BATCH, &n, &err)) {
		cx_log_error("mail: %s", err.message);
		return 0;
	}
	for (i = 0; i < n; i++) {
		char why[WHY_MAX] = "";
		int64_t at = cx_time_now_ms();
		int o = atomic_load(&m->stop) ? -1 : send_one(m, &due[i], why);

		if (o >= 0)
			record(m, &due[i], o, why, at);
		cx_mail_due_release(&due[i]);
	}
	return n;
}

/* Delete sent and dead mail past the retention, hourly, a batch per statement. */
static void purge(struct cx_mail *m)
{
	uint64_t now = cx_time_mono_us();
	struct cx_error err;
	int64_t n = 0;

	if (now < m->next_purge_us)
		return;
	m->next_purge_us = now + 3600ull * 1000000;
	do {
		if (cx_mailq_purge(m->q, cx_time_now_ms() - CX_MAIL_RETENTION_MS, 1000, &n, &err)) {
			cx_log_error("mail: %s", err.message);
			return;
		}
	} while (n == 1000 && !atomic_load(&m->stop));
}

static void *run(void *arg)
{
	struct cx_mail *m = arg;

	while (!atomic_load(&m->stop)) {
		purge(m);
		if (look(m) < BATCH && !atomic_load(&m->stop))
			curl_multi_poll(m->multi, NULL, 0, POLL_MS, NULL);
	}
	return NULL;
}

/* m->url: the configured URL, with the From domain as the name cxd greets the server
 * with (libcurl takes it from the URL's path; its default "localhost" is refused by
 * some servers). */
static int make_url(struct cx_mail *m, const char *url)
{
	const char *host = strstr(url, "://");
	const char *domain = strchr(m->from, '@') + 1;
	int n;

	if (host && !strchr(host + 3, '/'))
		n = snprintf(m->url, sizeof(m->url), "%s/%s", url, domain);
	else
		n = snprintf(m->url, sizeof(m->url), "%s", url);
	return n < 0 || (size_t)n >= sizeof(m->url) ? -1 : 0;
}

int cx_mail_start(struct cx_mail **out, struct cx_store *st, const struct cx_config *cfg,
		  struct cx_error *err)
{
	struct cx_mail *m;

	*out = NULL;
	if (!cfg->smtp_url[0])
		return 0;
	if (!cx_mail_address_valid(cfg->smtp_from))
		return cx_error_set(err, 400, "invalid_config", "smtp_from", "--smtp-from '%.254s' "
				    "is not an address cxd sends from (local@domain)", cfg->smtp_from);
	if (!(m = calloc(1, sizeof(*m))))
		return cx_error_set(err, 503, "internal", NULL, "out of memory");
	m->st = st;
	m->insecure = cfg->smtp_allow_insecure;
	m->user = cfg->smtp_user;
	m->password = cfg->smtp_password;
	snprintf(m->from, sizeof(m->from), "%.254s", cfg->smtp_from);
	snprintf(m->mail_from, sizeof(m->mail_from), "<%.254s>", cfg->smtp_from);
	if (make_url(m, cfg->smtp_url) ||
	    cx_deliver_parse_schedule(cfg->mail_schedule, m->sched, CX_SCHEDULE_MAX, &m->nsched)) {
		free(m);
		return cx_error_set(err, 400, "invalid_config", NULL, "bad --smtp-url or "
				    "--mail-retry-schedule");
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(m);
		return cx_error_set(err, 503, "internal", NULL, "cannot initialise libcurl");
	}
	if (!(m->multi = curl_multi_init())) {
		cx_error_set(err, 503, "internal", NULL, "out of memory");
		goto fail;
	}
	if (cx_mailq_open(st, &m->q, err))
		goto fail;
	if (pthread_create(&m->thread, NULL, run, m) != 0) {
		cx_error_set(err, 503, "internal", NULL, "cannot start the mail thread");
		goto fail;
	}
	cx_log_info("invitation mail goes out through %s%s as %s", strstr(cfg->smtp_url, "@") ?
		    "the configured server" : cfg->smtp_url,
		    m->insecure ? " (plain SMTP allowed)" : "", m->from);
	*out = m;
	return 0;
fail:
	cx_mailq_close(m->q);
	if (m->multi)
		curl_multi_cleanup(m->multi);
	free(m);
	curl_global_cleanup();
	return -1;
}

void cx_mail_stop(struct cx_mail *m)
{
	if (!m)
		return;
	atomic_store(&m->stop, 1);
	curl_multi_wakeup(m->multi);
	pthread_join(m->thread, NULL);
	cx_mailq_close(m->q);
	curl_multi_cleanup(m->multi);
	free(m);
	curl_global_cleanup();
}
