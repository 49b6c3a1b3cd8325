/* deliver.c - see include/cx/deliver.h */
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <curl/curl.h>
#include <gnutls/crypto.h>

#include "cx/cxtime.h"
#include "cx/deliver.h"
#include "cx/endpoint.h"
#include "cx/log.h"
#include "cx/store.h"
#include "cx/webhook_sign.h"
#include "cx_version.h"

#define SNIPPET 160   /* bytes of a failing answer kept for last_error */
/* Finished attempts are recorded together, one transaction for up to RECORD_MAX of them or
 * those of the last RECORD_MS: each record takes the database's write lock, and the
 * responses' writer that finds it taken waits until the record commits (src/store_busy.c;
 * the record itself waits for the writer in SQLite's sleeps, so it takes the gaps).
 * Batches of 32 instead of 256 shortened that wait but cut the deliveries sent to a third
 * (bench/NOTES.md). Recorded one
 * small transaction per finished batch, a fast receiver made hundreds of them a second
 * beside the responses' (issue 14: about 0.4x of the plain POST rate with the loop
 * active). An attempt not yet recorded when the process dies is sent again with the same
 * webhook-id, as at-least-once allows. */
#define RECORD_MAX 256
#define RECORD_MS 20

static atomic_ulong outcomes[CX_OUT_N];

unsigned long cx_deliver_count(enum cx_deliver_outcome o)
{
	return o < CX_OUT_N ? atomic_load(&outcomes[o]) : 0;
}

const char *cx_deliver_outcome_name(enum cx_deliver_outcome o)
{
	static const char *const names[CX_OUT_N] = { "delivered", "failed", "retry_after", "gone",
						     "dead" };

	return o < CX_OUT_N ? names[o] : "?";
}

int cx_deliver_parse_schedule(const char *s, int64_t *ms, size_t max, size_t *n)
{
	*n = 0;
	while (s && *s) {
		char *end;
		long long v;
		int64_t unit;

		if (!isdigit((unsigned char)*s) || *n == max)
			return -1;
		v = strtoll(s, &end, 10);
		if (v <= 0 || v > 86400000)
			return -1;
		if (strncmp(end, "ms", 2) == 0)
			unit = 1, end += 2;
		else if (*end == 's')
			unit = 1000, end++;
		else if (*end == 'm')
			unit = 60000, end++;
		else if (*end == 'h')
			unit = 3600000, end++;
		else
			return -1;
		if (v * unit > 86400000LL)
			return -1;
		ms[(*n)++] = v * unit;
		if (*end == ',' && end[1])
			end++;
		else if (*end)
			return -1;
		s = end;
	}
	return *n ? 0 : -1;
}

int64_t cx_deliver_jitter(int64_t base_ms, uint32_t rnd)
{
	/* 0.8 + 0.4 * rnd / 2^32, in integers: base * (4 * 2^32 + 2 * rnd) / (5 * 2^32) */
	__int128 num = (__int128)base_ms * ((__int128)4 * 4294967296LL + 2 * (__int128)rnd);

	return (int64_t)(num / ((__int128)5 * 4294967296LL));
}

int64_t cx_deliver_retry_after(const char *value, int64_t now_s)
{
	time_t t;

	if (!value)
		return -1;
	while (*value == ' ' || *value == '\t')
		value++;
	if (isdigit((unsigned char)*value)) {
		char *end;
		long long v = strtoll(value, &end, 10);

		while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
			end++;
		return *end ? -1 : v > 1000000000LL ? 1000000000LL : v;
	}
	if (!*value || (t = curl_getdate(value, NULL)) == -1)
		return -1;
	return t > now_s ? (int64_t)t - now_s : 0;
}

struct xfer;

struct cx_deliver {
	struct cx_store *st;
	struct cx_outbox_worker *w;
	CURLM *multi;
	pthread_t thread;
	atomic_int stop;
	int allow_http, allow_private;
	long timeout_s;
	unsigned concurrency;
	int64_t sched[CX_SCHEDULE_MAX];
	size_t nsched;
	int64_t maxstep;       /* the schedule's longest step: the most a Retry-After waits */
	int64_t retention_ms;  /* delivered and dead rows older than this are deleted */
	size_t rr;             /* where the next look starts in the list of endpoints */
	uint64_t next_purge_us;
	struct xfer **fly;     /* concurrency slots */
	unsigned nfly;
	struct cx_attempt *done;   /* finished, not yet recorded: concurrency + RECORD_MAX */
	size_t ndone;
	uint64_t done_since_us;    /* when the oldest of them finished */
};

struct xfer {
	struct cx_deliver *d;
	CURL *h;
	struct curl_slist *hdrs;
	int64_t id;
	char endpoint[72];
	char *payload;
	int attempts, budget_from;
	int64_t at_ms;
	uint64_t start_us;
	size_t got;
	char snippet[SNIPPET + 1];
	int64_t retry_after;   /* seconds, -1 = none */
	int blocked, too_big;
	char errbuf[CURL_ERROR_SIZE];
};

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct xfer *x = ctx;
	size_t len = size * n;

	if (x->got < SNIPPET) {
		size_t k = len < SNIPPET - x->got ? len : SNIPPET - x->got;

		memcpy(x->snippet + x->got, p, k);
		x->snippet[x->got + k] = '\0';
	}
	x->got += len;
	if (x->got > CX_DELIVER_BODY_MAX) {
		x->too_big = 1;
		return 0;   /* stop reading: the status is known already */
	}
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct xfer *x = ctx;
	size_t len = size * n;

	if (len > 5 && strncmp(p, "HTTP/", 5) == 0) {
		x->retry_after = -1;   /* a new answer (after a 100 Continue) */
	} else if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		char v[128];
		size_t k = len - 12 < sizeof(v) - 1 ? len - 12 : sizeof(v) - 1;

		memcpy(v, p + 12, k);
		v[k] = '\0';
		x->retry_after = cx_deliver_retry_after(v, cx_time_now());
	}
	return len;
}

/* Every connection's address is checked again here: DNS may have changed since the
 * endpoint was saved. */
static curl_socket_t open_socket(void *ctx, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct xfer *x = ctx;

	if (!x->d->allow_private && cx_endpoint_addr_forbidden(&a->addr)) {
		x->blocked = 1;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype, a->protocol);
}

static void xfer_free(struct xfer *x)
{
	if (!x)
		return;
	if (x->h) {
		curl_multi_remove_handle(x->d->multi, x->h);
		curl_easy_cleanup(x->h);
	}
	curl_slist_free_all(x->hdrs);
	free(x->payload);
	free(x);
}

static int add_header(struct curl_slist **l, const char *name, const char *value)
{
	char line[400];
	struct curl_slist *n;

	/* "Name:" with nothing after the colon removes a header curl would add (Expect) */
	snprintf(line, sizeof(line), "%s:%s%s", name, value[0] ? " " : "", value);
	if (!(n = curl_slist_append(*l, line)))
		return -1;
	*l = n;
	return 0;
}

/* The webhook-signature header for d now: the current secret, and the previous one while
 * its overlap lasts. */
static int sign(const struct cx_due *due, int64_t ts, char *out, size_t len)
{
	struct cx_whsig_key keys[2];
	size_t nkeys = 0;
	int rc;

	if (cx_whsig_secret_parse(due->secret, &keys[0], NULL))
		return -1;
	nkeys = 1;
	if (due->prev_secret[0] && due->prev_until > ts &&
	    cx_whsig_secret_parse(due->prev_secret, &keys[1], NULL) == 0)
		nkeys = 2;
	rc = cx_whsig_header(keys, nkeys, due->msg_id, ts, due->payload, strlen(due->payload),
			     out, len);
	cx_whsig_key_wipe(&keys[0]);
	cx_whsig_key_wipe(&keys[1]);
	return rc;
}

static struct xfer *xfer_new(struct cx_deliver *d, struct cx_due *due)
{
	struct xfer *x = calloc(1, sizeof(*x));
	char sig[2 * CX_WHSIG_SIG_SIZE], ts[24];
	int64_t now = cx_time_now();

	if (!x)
		return NULL;
	x->d = d;
	x->id = due->id;
	x->attempts = due->attempts;
	x->budget_from = due->budget_from;
	x->retry_after = -1;
	snprintf(x->endpoint, sizeof(x->endpoint), "%s", due->endpoint);
	snprintf(ts, sizeof(ts), "%lld", (long long)now);
	if (sign(due, now, sig, sizeof(sig)))
		goto fail;
	x->payload = due->payload;   /* taken: the transfer sends it */
	due->payload = NULL;
	if (
add_header(&x->hdrs, "Content-Type", "application/json") ||
	    add_header(&x->hdrs, "webhook-id", due->msg_id) ||
	    add_header(&x->hdrs, "webhook-timestamp", ts) ||
	    add_header(&x->hdrs, "webhook-signature", sig) ||
	    add_header(&x->hdrs, "Expect", "") || !(x->h = curl_easy_init()))
		goto fail;
	curl_easy_setopt(x->h, CURLOPT_URL, due->url);
	curl_easy_setopt(x->h, CURLOPT_PROTOCOLS_STR, d->allow_http ? "http,https" : "https");
	curl_easy_setopt(x->h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	curl_easy_setopt(x->h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(x->h, CURLOPT_PROXY, "");   /* no proxy from the environment */
	curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT, d->timeout_s);
	curl_easy_setopt(x->h, CURLOPT_TIMEOUT, d->timeout_s);
	curl_easy_setopt(x->h, CURLOPT_USERAGENT, "cxd/" CX_VERSION);
	curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
	curl_easy_setopt(x->h, CURLOPT_POST, 1L);
	curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, x->payload);
	curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(x->payload));
	curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(x->h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(x->h, CURLOPT_OPENSOCKETDATA, x);
	curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
	x->at_ms = cx_time_now_ms();
	x->start_us = cx_time_mono_us();
	if (curl_multi_add_handle(d->multi, x->h) != CURLM_OK)
		goto fail;
	return x;
fail:
	if (x->h) {
		curl_easy_cleanup(x->h);
		x->h = NULL;
	}
	xfer_free(x);
	return NULL;
}

static int in_flight(struct cx_deliver *d, int64_t id, const char *endpoint, unsigned *per)
{
	*per = 0;
	for (unsigned i = 0; i < d->nfly; i++) {
		if (d->fly[i]->id == id)
			return 1;
		if (strcmp(d->fly[i]->endpoint, endpoint) == 0)
			(*per)++;
	}
	return 0;
}

/* How many transfers an endpoint may have in flight for another to start now: a quarter
 * of the slots is kept for endpoints with nothing in flight (so endpoints that hang, each
 * holding its slots until the timeout, cannot take them all while another waits); second
 * and later transfers of an endpoint use the rest. */
static unsigned per_cap(const struct cx_deliver *d)
{
	return d->nfly < d->concurrency - d->concurrency / 4 ? CX_DELIVER_PER_ENDPOINT : 1;
}

/* Whether delivery id has an attempt not yet recorded (its row still says pending). */
static int unrecorded(const struct cx_deliver *d, int64_t id)
{
	for (size_t i = 0; i < d->ndone; i++)
		if (d->done[i].id == id)
			return 1;
	return 0;
}

/* Whether a transfer may start: a free slot, and room in d->done for its outcome. */
static int room(const struct cx_deliver *d)
{
	return d->nfly < d->concurrency && d->ndone + d->nfly < d->concurrency + RECORD_MAX;
}

/* 1 to send delivery id now, 0 to skip it, -1 when every slot is taken. */
static int want(void *ctx, int64_t id, const char *endpoint)
{
	struct cx_deliver *d = ctx;
	unsigned per;

	if (!room(d))
		return -1;
	return !in_flight(d, id, endpoint, &per) && per < per_cap(d) && !unrecorded(d, id);
}

static int take(void *ctx, struct cx_due *due)
{
	struct cx_deliver *d = ctx;
	struct xfer *x = xfer_new(d, due);

	if (x)
		d->fly[d->nfly++] = x;
	return room(d) ? 0 : -1;
}

static uint32_t rnd32(void)
{
	uint32_t r = 0;

	gnutls_rnd(GNUTLS_RND_NONCE, &r, sizeof(r));
	return r;
}

/* The outcome of finished transfer x (result res) into d->done. */
static void finish(struct cx_deliver *d, struct xfer *x, CURLcode res)
{
	struct cx_attempt *a = &d->done[d->ndone++];
	long code = 0;
	int tries = x->attempts + 1 - x->budget_from;
	int64_t now = cx_time_now_ms();
	char msg[300];

	if (d->ndone == 1)
		d->done_since_us = cx_time_mono_us();
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
	if (res != CURLE_OK && !(res == CURLE_WRITE_ERROR && x->too_big))
		code = 0;   /* no complete answer */
	memset(a, 0, sizeof(*a));
	a->id = x->id;
	a->endpoint = strdup(x->endpoint);
	a->at_ms = x->at_ms;
	a->duration_ms = (int64_t)((cx_time_mono_us() - x->start_us) / 1000);
	a->status = (int)code;
	if (code >= 200 && code <= 299) {
		a->outcome = CX_ATTEMPT_DELIVERED;
		a->next_at_ms = now;
		atomic_fetch_add(&outcomes[CX_OUT_DELIVERED], 1);
		return;
	}
	if (code == 0 && x->blocked)
		snprintf(msg, sizeof(msg), "refused: the host resolves to a private address "
			 "(--webhook-allow-private)");
	else if (code == 0)
		snprintf(msg, sizeof(msg), "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(res));
	else if (code >= 300 && code <= 399)
		snprintf(msg, sizeof(msg), "HTTP %ld: redirects are not followed", code);
	else
		snprintf(msg, sizeof(msg), "HTTP %ld%s%.160s", code, x->snippet[0] ? ": " : "",
			 x->snippet);
	for (char *p = msg; *p; p++)   /* a receiver's bytes, shown in JSON and logs */
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	a->error = strdup(msg);
	if (code == 410) {
		a->outcome = CX_ATTEMPT_GONE;
		a->next_at_ms = now + cx_deliver_jitter(d->sched[0], rnd32());
		atomic_fetch_add(&outcomes[CX_OUT_GONE], 1);
		cx_log_info("webhook endpoint %s answered 410 Gone: disabled", x->endpoint);
		return;
	}
	if (tries > (int)d->nsched) {
		a->outcome = CX_ATTEMPT_DEAD;
		a->next_at_ms = now;
		cx_log_info("webhook delivery %lld to endpoint %s is dead after %d attempts (%s); "
			    "POST /v1/deliveries/%lld/retry sends it again", (long long)x->id,
			    x->endpoint, tries, msg, (long long)x->id);
		atomic_fetch_add(&outcomes[CX_OUT_DEAD], 1);
		return;
	}
	a->outcome = CX_ATTEMPT_RETRY;
	if ((code == 429 || code == 503) && x->retry_after >= 0) {
		int64_t ms = x->retry_after * 1000;

		a->next_at_ms = now + (ms < d->maxstep ? ms : d->maxstep);
		atomic_fetch_add(&outcomes[CX_OUT_RETRY_AFTER], 1);
		return;
	}
	a->next_at_ms = now + cx_deliver_jitter(d->sched[tries - 1], rnd32());
	atomic_fetch_add(&outcomes[CX_OUT_FAILED], 1);
}

/* Record the finished attempts: all of them with force, else only when RECORD_MAX of them
 * wait or the oldest finished RECORD_MS ago. */
static void record(struct cx_deliver *d, int force)
{
	struct cx_error err;

	if (!d->ndone || (!force && d->ndone < RECORD_MAX &&
			  cx_time_mono_us() - d->done_since_us < RECORD_MS * 1000ull))
		return;
	if (cx_store_worker_record(d->w, d->done, d->ndone, &err))
		/* the attempts are lost; the deliveries stay pending and are sent again */
		cx_log_info("webhooks: %s", err.message);
	for (size_t i = 0; i < d->ndone; i++) {
		free((char *)d->done[i].endpoint);
		free((char *)d->done[i].error);
	}
	d->ndone = 0;
}

/* Finished transfers into d->done; how many. */
static unsigned reap(struct cx_deliver *d)
{
	unsigned n = 0;
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(d->multi, &left))) {
		struct xfer *x = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		finish(d, x, m->data.result);
		for (unsigned i = 0; i < d->nfly; i++)
			if (d->fly[i] == x) {
				d->fly[i] = d->fly[--d->nfly];
				break;
			}
		xfer_free(x);   /* m is invalid from here */
		n++;
	}
	return n;
}

/* Start due deliveries while slots are free: endpoint by endpoint, from a start that
 * moves on at each look so none is always served first, each up to its free slots
 * (per_cap). A look costs an index range per active endpoint, whatever the backlogs. */
static void look(struct cx_deliver *d)
{
	static char ids[CX_ENDPOINTS_MAX][72];   /* the worker thread's only */
	int64_t now = cx_time_now_ms();
	struct cx_error err;
	size_t n;

	if (cx_store_worker_active(d->w, ids, CX_ENDPOINTS_MAX, &n, &err)) {
		cx_log_info("webhooks: %s", err.message);
		return;
	}
	for (size_t i = 0; i < n && room(d); i++) {
		const char *ep = ids[(d->rr + i) % n];
		unsigned per, cap = per_cap(d), waiting = 0;

		in_flight(d, -1, ep, &per);
		if (per >= cap)
			continue;
		for (size_t j = 0; j < d->ndone; j++)
			waiting += d->done[j].endpoint && strcmp(d->done[j].endpoint, ep) == 0;
		/* its rows in flight or finished but not yet recorded are still pending, and due
		 * first: the limit looks past them */
		if (cx_store_worker_due(d->w, now, cap + waiting, ep, want, take, d, &err)) {
			cx_log_info("webhooks: %s", err.message);
			break;
		}
	}
	d->rr++;
}

/* Delete delivered and dead deliveries past the retention, a batch per transaction so the
 * writer never waits long for the lock; runs every quarter of the retention (at most
 * hourly, at least every second). */
static void purge(struct cx_deliver *d, uint64_t now_us)
{
	int64_t every_us = d->retention_ms * 250, total = 0, n = 0;
	struct cx_error err;

	if (now_us < d->next_purge_us)
		return;
	if (every_us > 3600000000LL)
		every_us = 3600000000LL;
	d->next_purge_us = now_us + (uint64_t)(every_us > 1000000 ? every_us : 1000000);
	do {
		if (cx_store_worker_purge(d->w, cx_time_now_ms() - d->retention_ms, 1000, &n,
					  &err)) {
			cx_log_info("webhooks: %s", err.message);
			break;
		}
		total += n;
	} while (n == 1000 && total < 50000 && !atomic_load(&d->stop));
	if (total)
		cx_log_info("webhooks: deleted %lld delivered or dead deliveries older than the "
			    "retention (--webhook-retention)", (long long)total);
}

/* Look for due deliveries every CX_DELIVER_POLL_MS, and at once whenever a transfer ended
 * (a backlog then flows at the receivers' pace, not one batch per poll). */
static void *run(void *arg)
{
	struct cx_deliver *d = arg;
	uint64_t last_poll = 0;
	unsigned ended = 0;
	int running;

	while (!atomic_load(&d->stop)) {
		uint64_t now = cx_time_mono_us();

		/* a look is an index range per active endpoint (schema 012), cheap whatever
		 * the backlogs: done as soon as a transfer ended, so a backlog flows at the
		 * receivers' pace (a throttle here held it to 4 per endpoint per poll) */
		if (d->nfly < d->concurrency &&
		    (ended || now - last_poll >= CX_DELIVER_POLL_MS * 1000ull)) {
			last_poll = now;
			look(d);
		}
		curl_multi_perform(d->multi, &running);
		ended = reap(d);
		record(d, 0);
		purge(d, now);
		if (!ended)   /* wakes for a transfer, a look, or the attempts to record */
			curl_multi_poll(d->multi, NULL, 0, d->ndone ? RECORD_MS : CX_DELIVER_POLL_MS,
					NULL);
	}
	/* what finished is recorded; what is still in flight stays pending */
	curl_multi_perform(d->multi, &running);
	reap(d);
	record(d, 1);
	while (d->nfly)
		xfer_free(d->fly[--d->nfly]);
	return NULL;
}

int cx_deliver_start(struct cx_deliver **out, struct cx_store *st,
		     const struct cx_config *cfg, struct cx_error *err)
{
	struct cx_deliver *d = calloc(1, sizeof(*d));

	*out = NULL;
	if (!d)
		return cx_error_set(err, 503, "internal", NULL, "out of memory");
	d->st = st;
	d->allow_http = cfg->webhook_allow_http;
	d->allow_private = cfg->webhook_allow_private;
	d->timeout_s = (long)cfg->webhook_timeout_s;
	d->concurrency = cfg->webhook_concurrency;
	d->retention_ms = cfg->webhook_retention_s * 1000;
	if (cx_deliver_parse_schedule(cfg->webhook_schedule, d->sched, CX_SCHEDULE_MAX,
				      &d->nsched)) {
		free(d);
		return cx_error_set(err, 400, "invalid_schedule", NULL, "bad retry schedule '%s'",
				    cfg->webhook_schedule);
	}
	for (size_t i = 0; i < d->nsched; i++)
		if (d->sched[i] > d->maxstep)
			d->maxstep = d->sched[i];
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(d);
		return cx_error_set(err, 503, "internal", NULL, "cannot initialise libcurl");
	}
	if (!(d->fly = calloc(d->concurrency, sizeof(*d->fly))) ||
	    !(d->done = calloc(d->concurrency + RECORD_MAX, sizeof(*d->done))) ||
	    !(d->multi = curl_multi_init())) {
		cx_error_set(err, 503, "internal", NULL, "out of memory");
		goto fail;
	}
	curl_multi_setopt(d->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)d->concurrency);
	if (cx_store_worker_open(st, &d->w, err))
		goto fail;
	if (pthread_create(&d->thread, NULL, run, d) != 0) {
		cx_error_set(err, 503, "internal", NULL, "cannot start the delivery thread");
		goto fail;
	}
	*out = d;
	return 0;
fail:
	cx_store_worker_close(d->w);
	if (d->multi)
		curl_multi_cleanup(d->multi);
	free(d->fly);
	free(d->done);
	free(d);
	curl_global_cleanup();
	return -1;
}

void cx_deliver_stop(struct cx_deliver *d)
{
	if (!d)
		return;
	atomic_store(&d->stop, 1);
	curl_multi_wakeup(d->multi);
	pthread_join(d->thread, NULL);
	cx_store_worker_close(d->w);
	curl_multi_cleanup(d->multi);
	free(d->fly);
	free(d->done);
	free(d);
	curl_global_cleanup();
}
