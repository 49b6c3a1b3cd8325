/* api_page.c - the hosted survey page: a personal link's /i/TOKEN and a public survey's
 * /s/SURVEY?stage=..&touchpoint=.. (HTML in src/page.c).
 *
 * A GET never records an answer: mail scanners fetch every link, so `?score=N` only
 * pre-selects N and the respondent still presses the button. A link's GET notes its first
 * view (the funnel's "opened"; a scanner's fetch counts too), a HEAD nothing. Answers go
 * through the writer like any response: a link's first POST is its answer (the nonce is
 * the idempotency key), later ones within --edit-window edit it; a public page's first POST
 * appends an anonymous response and hands the browser a sealed, expiring right to edit it
 * (the second step's comment). Every POST is answered with a redirect (Post/Redirect/Get),
 * so a reload never posts again.
 *
 * A link that is malformed, signed by an unknown key or with a wrong signature, or whose
 * survey is gone, gets one and the same 404 page (nothing is learned from which); an
 * expired one a 410 page. An unknown and a private survey's /s/ page are the same 404.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/app.h"
#include "cx/cxtime.h"
#include "cx/link.h"
#include "cx/page.h"
#include "cx/policy.h"
#include "cx/routes.h"

/* One page POST: lives until the writer answered and the reply is built (req->stream_ctx). */
struct answer {
	struct cx_write_job job;   /* first: the writer hands it back */
	struct cx_req *req;
	struct cx_survey s;
	struct cx_link_claims claims;
	struct cx_response r;
	int have_s, have_claims, have_r;
	int64_t id;
	int score, step2;
	char lang[CX_PAGE_LANG_MAX];
	char scope[CX_IDEM_SCOPE_MAX];
};

static void answer_free(void *p)
{
	struct answer *a = p;

	if (a->have_s)
		cx_survey_release(&a->s);
	if (a->have_claims)
		cx_link_claims_release(&a->claims);
	if (a->have_r)
		cx_response_release(&a->r);
	free(a);
}

/* Set the reply to html (taken), with the page's CSP. */
static void page_reply(struct cx_req *req, unsigned status, char *html, const char *form_target)
{
	if (!html) {
		cx_reply_html(req, 503, "<!doctype html><title>Try again</title><p>Please try "
			      "again in a moment.</p>\n");
		req->reply.headers = cx_page_headers(NULL);
		req->reply.retry_after = 1;
		return;
	}
	cx_reply_html(req, status, html);
	free(html);
	req->reply.headers = cx_page_headers(form_target);
}

static void message_reply(struct cx_req *req, unsigned status, const struct cx_survey *s,
			  const char *lang, const char *kind, const char *detail)
{
	struct cx_page_view v = { .s = s, .lang = lang, .score = -1 };

	page_reply(req, status, cx_page_message(&v, kind, detail), NULL);
}

/* The language of a page before any survey is known (an error page). */
static void plain_lang(struct cx_req *req, char lang[CX_PAGE_LANG_MAX])
{
	const char *q = cx_req_query(req, "lang");

	if (!q && req->form)
		q = json_string_value(json_object_get(req->form, "lang"));
	cx_page_choose_lang(NULL, q, NULL, cx_req_header(req, "Accept-Language"), lang);
}

void cx_api_page_error(struct cx_req *req, const struct cx_error *err)
{
	char lang[CX_PAGE_LANG_MAX];
	const char *kind = err->status == 404 || err->status == 401 || err->status == 403
			   ? "notfound" : err->status == 429 || err->status >= 500 ? "retry"
			   : "error";

	plain_lang(req, lang);
	message_reply(req, (unsigned)err->status, NULL, lang, kind,
		      strcmp(kind, "error") == 0 ? err->message : NULL);
	req->reply.retry_after = err->retry_after;
}

/* A score of text for question q: the number, or -1 when absent or out of range. */
static int parse_score(const char *text, enum cx_question q)
{
	int lo, hi, v = 0;

	cx_page_score_range(q, &lo, &hi);
	if (!text || !*text || strlen(text) > 2)
		return -1;
	for (const char *c = text; *c; c++) {
		if (*c < '0' || *c > '9')
			return -1;
		v = v * 10 + (*c - '0');
	}
	return v >= lo && v <= hi ? v : -1;
}

static const char *form_str(struct cx_req *req, const char *name)
{
	return req->form ? json_string_value(json_object_get(req->form, name)) : NULL;
}

/* "/i/TOKEN" or "/s/SURVEY" plus a query, for a redirect or a link (ids and tokens are
 * URL-safe: base64url, '.', and [A-Za-z0-9_.-]). */
static char *path_with(const char *kind, const char *id, const char *query)
{
	size_t len = strlen(kind) + strlen(id) + strlen(query) + 8;
	char *out = malloc(len);

	if (out)
		snprintf(out, len, "/%s/%s%s%s", kind, id, *query ? "?" : "", query);
	return out;
}

/* Where a finished answer goes: the survey's thank-you URL, else our thank-you page. */
static char *thanks_target(const struct cx_survey *s, const char *kind, const char *id,
			   const char *lang)
{
	char q[64];

	if (s->thank_you_url)
		return strdup(s->thank_you_url);
	snprintf(q, sizeof(q), "step=thanks&lang=%s", lang);
	return path_with(kind, id, q);
}

static void redirect_take(struct cx_req *req, char *location)
{
	if (!location) {
		message_reply(req, 503, NULL, "en", "retry", NULL);
		return;
	}
	cx_reply_redirect(req, location);
	free(location);
}

/* A page's stage, touchpoint, channel and segment (a public page's fields, or a link's
 * claims when link): NULL if they fit the survey's map, else what is wrong (for the page). */
static const char *public_place(const struct cx_survey *s, const char *stage,
				const char *touchpoint, const char *channel, const char *segment,
				int link)
{
	if (!stage || !*stage || cx_survey_stage_index(s, stage) < 0)
		return "stage: not one of this survey's stages";
	if (!touchpoint || !*touchpoint || !cx_survey_has_touchpoint(s, stage, touchpoint))
		return "touchpoint: not one of this stage's touchpoints";
	/* (a survey that lists none takes none from a public page, the validator's rule for
	 * posts without a key; a link's were checked by its minting key) */
	if (channel && *channel && ((!s->channels && !link) ||
				    !cx_survey_label_listed(s->channels, s->nchannels, channel)))
		return "channel: not one of this survey's channels";
	if (segment && *segment && ((!s->segments && !link) ||
				    !cx_survey_label_listed(s->segments, s->nsegments, segment)))
		return "segment: not one of this survey's segments";
	return NULL;
}

/* --- personal links --- */

static void link_failed(struct cx_req *req, enum cx_link_status st)
{
	char lang[CX_PAGE_LANG_MAX];

	plain_lang(req, lang);
	if (st == CX_LINK_EXPIRED)
		message_reply(req, 410, NULL, lang, "expired", NULL);
	else   /* malformed, unknown key, bad signature, survey gone: the same page */
		message_reply(req, 404, NULL, lang, "broken", NULL);
}

/* Verify the token of req's path and load its survey into a; 0, or -1 with the reply set. */
static int link_open(struct cx_req *req, struct answer *a)
{
	enum cx_link_status st = cx_link_verify(req->params[0], cx_time_now(),
						cx_store_link_key_fn, req->app->store, &a->claims);
	const char *query_lang = cx_req_query(req, "lang");

	/* (a verified token is base64url and dots only; it goes back into Location headers
	 * and forms, so say so here rather than trust it) */
	if (st == CX_LINK_OK && req->params[0][strspn(req->params[0], "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			"abcdefghijklmnopqrstuvwxyz0123456789-_.")] != '\0') {
		cx_link_claims_release(&a->claims);
		st = CX_LINK_MALFORMED;
	}
	if (st != CX_LINK_OK) {
		link_failed(req, st);
		return -1;
	}
	a->have_claims = 1;
	if (cx_store_survey_get(req->app->store, a->claims.survey, &a->s) != 0) {
		link_failed(req, CX_LINK_BAD_SIGNATURE);
		return -1;
	}
	a->have_s = 1;
	/* the place it names must still be in the survey's map: an answer never adds a
	 * touchpoint back (a keyed post to an open survey would) nor names a channel or
	 * segment the survey no longer lists, and tells nothing of the map; such a link is as
	 * broken as one whose survey is gone */
	if (public_place(&a->s, a->claims.stage, a->claims.touchpoint, a->claims.channel,
			 a->claims.segment, 1)) {
		link_failed(req, CX_LINK_BAD_SIGNATURE);
		return -1;
	}
	if (!query_lang)
		query_lang = form_str(req, "lang");
	cx_page_choose_lang(&a->s, query_lang, a->claims.lang,
			    cx_req_header(req, "Accept-Language"), a->lang);
	return 0;
}

/* The first view of a link, recorded in the background: the GET does not wait for it. */
struct opened {
	struct cx_write_job job;   /* first */
	struct cx_link_claims claims;
};

static void opened_done(struct cx_write_job *job)
{
	free(job);
}

/* Links whose first view was handed to the writer already: without it every GET of a link
 * (a scanner, anyone holding it, 100 a second per address) was a write transaction and its
 * fsync. Direct-mapped by a hash of the nonce (random), so lossy and bounded: a link pushed
 * out by another costs one more no-op write when viewed again. */
#define OPENED_SEEN 4096
static char opened_seen[OPENED_SEEN][CX_LINK_NONCE_LEN + 1];
static pthread_mutex_t opened_mu = PTHREAD_MUTEX_INITIALIZER;

static size_t opened_slot(const char *nonce)
{
	uint32_t h = 2166136261u;   /* FNV-1a */

	for (const char *p = nonce; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % OPENED_SEEN;
}

/* 1 if nonce's view was noted already; else 0, and it is noted as being noted now */
static int opened_before(const char *nonce)
{
	size_t i = opened_slot(nonce);
	int seen;

	pthread_mutex_lock(&opened_mu);
	seen = strcmp(opened_seen[i], nonce) == 0;
	if (!seen)
		snprintf(opened_seen[i], sizeof(opened_seen[i]), "%s", nonce);
	pthread_mutex_unlock(&opened_mu);
	return seen;
}

static void opened_forget(const char *nonce)
{
	size_t i = opened_slot(nonce);

	pthread_mutex_lock(&opened_mu);
	if (strcmp(opened_seen[i], nonce) == 0)
		opened_seen[i][0] = '\0';
	pthread_mutex_unlock(&opened_mu);
}

static void note_opened(struct cx_req *req, const struct cx_link_claims *c)
{
	struct opened *o;
	struct cx_error err;

	if (opened_before(c->nonce))
		return;
	if (!(o = calloc(1, sizeof(*o)))) {
		opened_forget(c->nonce);
		return;
	}
	o->claims = *c;
	o->claims.attributes = NULL;   /* not needed, and owned by c */
	o->job.kind = CX_JOB_OPENED;
	o->job.claims = &o->claims;
	o->job.n = 1;
	o->job.done = opened_done;
	o->job.no_lead = 1;   /* the page does not wait for its view to be counted */
	if (cx_writer_submit(req->app->writer, &o->job, &err)) {
		opened_forget(c->nonce);   /* a busy writer loses a view, never an answer */
		free(o);
	}
}

enum cx_handled cx_api_page_link_get(struct cx_req *req)
{
	struct answer a = { 0 };
	const char *step = cx_req_query(req, "step");
	char hidden_score[12], *action = NULL, *skip = NULL;
	struct cx_page_field fields[2] = { { "lang", NULL }, { "score", NULL } };
	struct cx_page_view v = { .hidden = fields, .nhidden = 2 };
	struct cx_error err;
	int64_t answered_at;

	if (link_open(req, &a))
		goto out;
	v.s = &a.s;
	v.lang = a.lang;
	fields[0].value = a.lang;
	v.score = parse_score(cx_req_query(req, "score"), a.s.question);
	if (step && strcmp(step, "thanks") == 0) {
		message_reply(req, 200, &a.s, a.lang, "thanks", NULL);
		goto out;
	}
	if (cx_store_link_answered(req->app->store, a.claims.nonce, &answered_at, &err) == 1 &&
	    cx_time_now() - answered_at > req->app->cfg.edit_window_s) {
		message_reply(req, 200, &a.s, a.lang, "answered", NULL);   /* (a view already) */
		goto out;
	}
	if (!(action = path_with("i", req->params[0], "")) ||
	    !(skip = thanks_target(&a.s, "i", req->params[0], a.lang))) {
		message_reply(req, 503, &a.s, a.lang, "retry", NULL);
		goto out;
	}
	v.action = action;
	if (step && strcmp(step, "2") == 0 && v.score >= 0) {
		snprintf(hidden_score, sizeof(hidden_score), "%d", v.score);
		fields[1].value = hidden_score;
		v.skip_url = skip;
		page_reply(req, 200, cx_page_reason(&v), a.s.thank_you_url);
	} else {
		page_reply(req, 200, cx_page_question(&v), NULL);
	}
	if (req->method == CX_GET)   /* a HEAD is not a view */
		note_opened(req, &a.claims);
out:
	free(action);
	free(skip);
	if (a.have_s)
		cx_survey_release(&a.s);
	if (a.have_claims)
		cx_link_claims_release(&a.claims);
	return CX_DONE;
}

static struct answer *answer_of(struct cx_req *req)
{
	struct answer *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->req = req;
	a->score = -1;
	req->stream_ctx = a;
	req->stream_free = answer_free;
	return a;
}

static const struct cx_survey *own_survey(void *ctx, const char *id)
{
	struct answer *a = ctx;

	return strcmp(id, a->s.id) == 0 ? &a->s : NULL;
}

static const char *metric_of(enum cx_question q)
{
	return q == CX_Q_NPS ? "nps" : q == CX_Q_CSAT ? "csat" : "ces";
}

/* The response a link's answer makes: everything from the claims, the score and comment
 * from the form, validated like a keyed client's (the signature is the authorization). */
static int link_response(struct cx_req *req, struct answer *a, struct cx_error *err)
{
	const struct cx_link_claims *c = &a->claims;
	const char *comment = form_str(req, "comment");
	json_t *obj = json_pack("{s:s, s:s, s:s, s:s, s:i}", "survey", c->survey, "stage",
				c->stage, "touchpoint", c->touchpoint, "customer", c->customer,
				metric_of(a->s.question), a->score);
	int rc;

	if (!obj)
		return cx_error_set(err, 503, "out_of_memory", NULL, "out of memory");
	if (c->channel[0])
		json_object_set_new(obj, "channel", json_string(c->channel));
	if (c->segment[0])
		json_object_set_new(obj, "segment", json_string(c->segment));
	if (comment && *comment)
		json_object_set_new(obj, "comment", json_string(comment));
	if (c->attributes)
		json_object_set_new(obj, "attributes", json_loads(c->attributes, 0, NULL));
	rc = cx_validate_response(obj, 0, 1, own_survey, a, cx_time_now(), &a->r, err);
	json_decref(obj);
	if (rc)
		return -1;
	a->have_r = 1;
	a->r.received_ms = cx_time_now_ms();
	if (!(a->r.idem_key = strdup(c->nonce)))
		return cx_error_set(err, 503, "out_of_memory", NULL, "out of memory");
	return 0;
}

static void on_written(struct cx_write_job *job)
{
	cx_req_finish(((struct answer *)job)->req);
}

/* A writer job's refusal as a page. */
static void write_failed(struct cx_req *req, struct answer *a)
{
	const struct cx_error *e = &a->job.err;

	if (e->status >= 500)
		message_reply(req, (unsigned)e->status, &a->s, a->lang, "retry", NULL);
	else
		message_reply(req, (unsigned)e->status, &a->s, a->lang, "error", e->message);
	req->reply.retry_after = e->retry_after;
}

/* After the writer: the outcome as a page or a redirect (on a worker thread). */
static void link_reply(struct cx_req *req)
{
	struct answer *a = req->stream_ctx;
	char q[64];

	if (!a->job.ok) {
		write_failed(req, a);
	} else if (a->job.outcome == CX_ANSWER_CLOSED) {
		message_reply(req, 409, &a->s, a->lang, "answered", NULL);
	} else if (a->job.outcome == CX_ANSWER_FATIGUED) {
		message_reply(req, 409, &a->s, a->lang, "fatigued", NULL);
	} else if (a->step2) {
		redirect_take(req, thanks_target(&a->s, "i", req->params[0], a->lang));
	} else {
		snprintf(q, sizeof(q), "step=2&score=%d&lang=%s", a->score, a->lang);
		redirect_take(req, path_with("i", req->params[0], q));
	}
}

/* Step 1 again with a notice, status 422: no usable score came (the place fields, if
 * any, are carried over). */
static enum cx_handled ask_again(struct cx_req *req, struct answer *a, const char *notice)
{
	struct cx_page_field fields[5] = {
		{ "stage", form_str(req, "stage") }, { "touchpoint", form_str(req, "touchpoint") },
		{ "channel", form_str(req, "channel") }, { "segment", form_str(req, "segment") },
		{ "lang", a->lang } };
	struct cx_page_view v = { .s = &a->s, .lang = a->lang, .hidden = fields, .nhidden = 5,
				  .score = -1, .notice = notice };
	int link = strncmp(req->path, "/i/", 3) == 0;
	char *action = path_with(link ? "i" : "s", link ? req->params[0] : a->s.id, "");

	if (!action) {
		message_reply(req, 503, &a->s, a->lang, "retry", NULL);
		return CX_DONE;
	}
	v.action = action;
	page_reply(req, 422, cx_page_question(&v), NULL);
	free(action);
	return CX_DONE;
}

/* The comment of a page's second step: 0, or -1 with err (the validator's rules). */
static int check_comment(const char *comment, struct cx_error *err)
{
	size_t n = comment ? strlen(comment) : 0;

	if (n > CX_COMMENT_MAX)
		return cx_error_set(err, 422, "comment_too_long", "comment", "comment is %zu "
				    "bytes; the limit is %d bytes of UTF-8", n, CX_COMMENT_MAX);
	for (size_t i = 0; i < n;) {
		size_t len = cx_page_utf8_len((const unsigned char *)comment + i, n - i);
		unsigned char ch = (unsigned char)comment[i];

		if (len == 0 || (ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') || ch == 0x7f)
			return cx_error_set(err, 422, "invalid_comment", "comment", "comment must "
					    "be UTF-8 text without control characters");
		i += len;
	}
	return 0;
}

static enum cx_handled submit(struct cx_req *req, struct answer *a, void (*reply)(struct cx_req *))
{
	struct cx_error err;

	a->job.items = &a->r;
	a->job.n = 1;
	a->job.ids = &a->id;
	a->job.edit_window_s = req->app->cfg.edit_window_s;
	a->job.done = on_written;
	req->on_resume = reply;
	if (cx_writer_submit(req->app->writer, &a->job, &err)) {
		req->on_resume = NULL;
		message_reply(req, (unsigned)err.status, &a->s, a->lang, "retry", NULL);
		req->reply.retry_after = err.retry_after;
		return CX_DONE;
	}
	return CX_PENDING;
}

enum cx_handled cx_api_page_link_post(struct cx_req *req)
{
	struct answer *a = answer_of(req);
	struct cx_error err;

	if (!a) {
		message_reply(req, 503, NULL, "en", "retry", NULL);
		return CX_DONE;
	}
	if (link_open(req, a))
		return CX_DONE;
	a->score = parse_score(form_str(req, "score"), a->s.question);
	a->step2 = json_object_get(req->form, "comment") != NULL;
	if (a->score < 0)
		return ask_again(req, a, cx_page_text(a->lang, "choose"));
	if (link_response(req, a, &err)) {
		message_reply(req, (unsigned)err.status, &a->s, a->lang,
			      err.status >= 500 ? "retry" : "error", err.message);
		return CX_DONE;
	}
	a->job.kind = CX_JOB_ANSWER;
	a->job.claims = &a->claims;
	return submit(req, a, link_reply);
}

/* --- a public survey's page --- */

/* The survey of /s/{id}, public; 0, or -1 with the (same) 404 page for unknown and
 * private ones. */
static int public_open(struct cx_req *req, struct answer *a, const char *lang_given)
{
	if (cx_store_survey_get(req->app->store, req->params[0], &a->s) == 0) {
		a->have_s = 1;
		if (a->s.is_public) {
			cx_page_choose_lang(&a->s, lang_given, NULL,
					    cx_req_header(req, "Accept-Language"), a->lang);
			return 0;
		}
	}
	plain_lang(req, a->lang);
	message_reply(req, 404, NULL, a->lang, "notfound", NULL);
	return -1;
}

static const char *seal_purpose(const char *survey, char *buf, size_t len)
{
	snprintf(buf, len, "amend:%s", survey);
	return buf;
}

/* The response id sealed in edit for survey: 0 with *id; else -1 with the reply set (a
 * forged or damaged seal: 400; an expired one: 409, the answer can no longer change). */
static int unseal_edit(struct cx_req *req, struct answer *a, const char *edit, int64_t *id)
{
	char purpose[CX_ID_MAX + 8], value[32], *end;
	enum cx_link_status st = cx_link_unseal(seal_purpose(a->s.id, purpose, sizeof(purpose)),
						edit, cx_time_now(), cx_store_link_key_fn,
						req->app->store, value, sizeof(value));

	if (st == CX_LINK_OK) {
		long long v = strtoll(value, &end, 10);

		if (*end == '\0' && v > 0) {
			*id = v;
			return 0;
		}
		st = CX_LINK_MALFORMED;
	}
	if (st == CX_LINK_EXPIRED)
		message_reply(req, 409, &a->s, a->lang, "answered", NULL);
	else
		message_reply(req, 400, &a->s, a->lang, "broken", NULL);
	return -1;
}

enum cx_handled cx_api_page_survey_get(struct cx_req *req)
{
	struct answer a = { 0 };
	const char *step = cx_req_query(req, "step"), *edit = cx_req_query(req, "edit");
	const char *stage = cx_req_query(req, "stage"), *tp = cx_req_query(req, "touchpoint");
	const char *channel = cx_req_query(req, "channel"), *segment = cx_req_query(req, "segment");
	const char *problem;
	char hidden_score[12], *action = NULL, *skip = NULL;
	struct cx_page_field fields[6];
	struct cx_page_view v = { .hidden = fields };
	char rid[CX_LINK_NONCE_LEN + 1];
	int64_t id;

	if (public_open(req, &a, cx_req_query(req, "lang")))
		goto out;
	v.s = &a.s;
	v.lang = a.lang;
	v.score = parse_score(cx_req_query(req, "score"), a.s.question);
	if (step && strcmp(step, "thanks") == 0) {
		message_reply(req, 200, &a.s, a.lang, "thanks", NULL);
		goto out;
	}
	if (!(action = path_with("s", a.s.id, "")) ||
	    !(skip = thanks_target(&a.s, "s", a.s.id, a.lang))) {
		message_reply(req, 503, &a.s, a.lang, "retry", NULL);
		goto out;
	}
	v.action = action;
	if (edit) {   /* step 2: the sealed right to add a reason to the answer just sent */
		if (unseal_edit(req, &a, edit, &id))
			goto out;
		snprintf(hidden_score, sizeof(hidden_score), "%d", v.score);
		fields[0] = (struct cx_page_field){ "edit", edit };
		fields[1] = (struct cx_page_field){ "score", v.score >= 0 ? hidden_score : NULL };
		fields[2] = (struct cx_page_field){ "lang", a.lang };
		v.nhidden = 3;
		v.skip_url = skip;
		page_reply(req, 200, cx_page_reason(&v), a.s.thank_you_url);
		goto out;
	}
	if ((problem = public_place(&a.s, stage, tp, channel, segment, 0))) {
		message_reply(req, 404, &a.s, a.lang, "invalid", problem);
		goto out;
	}
	fields[0] = (struct cx_page_field){ "stage", stage };
	fields[1] = (struct cx_page_field){ "touchpoint", tp };
	fields[2] = (struct cx_page_field){ "channel", channel && *channel ? channel : NULL };
	fields[3] = (struct cx_page_field){ "segment", segment && *segment ? segment : NULL };
	fields[4] = (struct cx_page_field){ "lang", a.lang };
	/* this rendering's idempotency key: a double submit stores one answer */
	fields[5] = (struct cx_page_field){ "rid", cx_link_nonce(rid) == 0 ? rid : NULL };
	v.nhidden = 6;
	page_reply(req, 200, cx_page_question(&v), NULL);
out:
	free(action);
	free(skip);
	if (a.have_s)
		cx_survey_release(&a.s);
	return CX_DONE;
}

static void public_reply(struct cx_req *req)
{
	struct answer *a = req->stream_ctx;
	unsigned char secret[CX_LINK_SECRET_LEN];
	char kid[CX_LINK_KID_MAX], purpose[CX_ID_MAX + 8], value[24], q[600], *seal;
	struct cx_error err;

	if (!a->job.ok) {
		write_failed(req, a);
		return;
	}
	if (a->job.kind == CX_JOB_AMEND) {
		if (a->job.outcome == CX_ANSWER_EDITED)
			redirect_take(req, thanks_target(&a->s, "s", a->s.id, a->lang));
		else
			message_reply(req, 409, &a->s, a->lang, "answered", NULL);
		return;
	}
	/* step 1 stored: step 2 may edit it until the window closes, with a sealed id */
	snprintf(value, sizeof(value), "%" PRId64, a->id);
	if (cx_store_link_key_active(req->app->store, kid, secret, &err) ||
	    !(seal = cx_link_seal(seal_purpose(a->s.id, purpose, sizeof(purpose)), value,
				  cx_time_now() + req->app->cfg.edit_window_s, kid, secret))) {
		memset(secret, 0, sizeof(secret));
		/* the answer is stored; only the reason cannot be added */
		redirect_take(req, thanks_target(&a->s, "s", a->s.id, a->lang));
		return;
	}
	memset(secret, 0, sizeof(secret));
	snprintf(q, sizeof(q), "edit=%s&score=%d&lang=%s", seal, a->score, a->lang);
	free(seal);
	redirect_take(req, path_with("s", a->s.id, q));
}

/* Step 2 of a public page: the reason (and the score again) replace the sealed answer's. */
static enum cx_handled public_amend(struct cx_req *req, struct answer *a, const char *edit)
{
	const char *comment = form_str(req, "comment");
	struct cx_error err;
	int64_t id;

	if (unseal_edit(req, a, edit, &id))
		return CX_DONE;
	if (a->score < 0 || check_comment(comment, &err)) {
		if (a->score < 0)
			cx_error_set(&err, 422, "invalid_score", "score", "the score is missing or "
				     "out of range");
		message_reply(req, 422, &a->s, a->lang, "error", err.message);
		return CX_DONE;
	}
	memset(&a->r, 0, sizeof(a->r));
	a->have_r = 1;
	snprintf(a->r.survey, sizeof(a->r.survey), "%s", a->s.id);
	a->r.nps = a->s.question == CX_Q_NPS ? a->score : -1;
	a->r.csat = a->s.question == CX_Q_CSAT ? a->score : -1;
	a->r.ces = a->s.question == CX_Q_CES ? a->score : -1;
	if (comment && *comment && !(a->r.comment = strdup(comment))) {
		message_reply(req, 503, &a->s, a->lang, "retry", NULL);
		return CX_DONE;
	}
	a->job.kind = CX_JOB_AMEND;
	a->job.target_id = id;
	return submit(req, a, public_reply);
}

enum cx_handled cx_api_page_survey_post(struct cx_req *req)
{
	struct answer *a = answer_of(req);
	const char *edit = form_str(req, "edit"), *channel, *segment, *problem, *rid;
	struct cx_error err;
	json_t *obj;
	int rc;

	if (!a) {
		message_reply(req, 503, NULL, "en", "retry", NULL);
		return CX_DONE;
	}
	if (public_open(req, a, form_str(req, "lang")))
		return CX_DONE;
	a->score = parse_score(form_str(req, "score"), a->s.question);
	if (edit)
		return public_amend(req, a, edit);
	channel = form_str(req, "channel");
	segment = form_str(req, "segment");
	if ((problem = public_place(&a->s, form_str(req, "stage"), form_str(req, "touchpoint"),
				    channel, segment, 0))) {
		message_reply(req, 422, &a->s, a->lang, "invalid", problem);
		return CX_DONE;
	}
	if (a->score < 0)
		return ask_again(req, a, cx_page_text(a->lang, "choose"));
	obj = json_pack("{s:s, s:s, s:s, s:i}", "survey", a->s.id, "stage",
			form_str(req, "stage"), "touchpoint", form_str(req, "touchpoint"),
			metric_of(a->s.question), a->score);
	if (obj && channel && *channel)
		json_object_set_new(obj, "channel", json_string(channel));
	if (obj && segment && *segment)
		json_object_set_new(obj, "segment", json_string(segment));
	rc = obj ? cx_validate_response(obj, 0, 0, own_survey, a, cx_time_now(), &a->r, &err)
		 : cx_error_set(&err, 503, "out_of_memory", NULL, "out of memory");
	json_decref(obj);
	if (rc) {
		message_reply(req, (unsigned)err.status, &a->s, a->lang,
			      err.status >= 500 ? "retry" : "error", err.message);
		return CX_DONE;
	}
	a->have_r = 1;
	a->r.received_ms = cx_time_now_ms();
	rid = form_str(req, "rid");
	if (rid && strlen(rid) <= CX_LINK_NONCE_LEN && cx_valid_idem_key(rid) &&
	    !(a->r.idem_key = strdup(rid))) {
		message_reply(req, 503, &a->s, a->lang, "retry", NULL);
		return CX_DONE;
	}
	a->job.kind = CX_JOB_APPEND;
	cx_policy_idem_scope(req, a->scope, sizeof(a->scope));
	a->job.idem_scope.name = a->scope;
	return submit(req, a, public_reply);
}
