/* libFuzzer target: a whole request as a client writes it, through the route table and
 * every handler, against a real SQLite database and the real writer thread.
 *
 * Input, a small HTTP-like text (the seed corpus in tests/fuzz/corpus_request shows it):
 *
 *     METHOD /path?query
 *     Header: value
 *     ...
 *     <blank line>
 *     body
 *
 * The path is passed raw, as http.c does (the route table decodes each segment); each
 * query key and value is percent-decoded with libmicrohttpd's own MHD_http_unescape, as
 * the server does; forms are split into fields and NDJSON into
 * lines the way http.c hands them over. Requests without an Authorization header carry
 * the admin key, so the fuzzer reaches the handlers rather than stopping at 401
 * ("Authorization: none" sends none).
 *
 * Every reply must have a status cxd documents (a 500 is a bug); an error must be JSON
 * with a code and a message (or, for a browser's form post, an HTML page with a heading); a streamed body is read to its end. Nothing may crash, leak
 * or trip a sanitizer. The database lives in a temporary directory for the whole run, so
 * the state a request sees depends on the ones before it; an input that fails is replayed
 * on a fresh database by tests/fuzz/replay.c (tests/data/fuzz/request).
 */
#include <microhttpd.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cx/app.h"
#include "cx/http.h"
#include "cx/routes.h"
#include "service.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 32
#define MAX_STREAM (64u << 20)

struct kv {
	char *key, *value;
};

struct fuzz_req {
	struct kv query[MAX_FIELDS], headers[MAX_FIELDS];
	size_t nquery, nheaders;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int finished;
};

static struct fuzz_service *svc;

/* --- struct cx_req_ops over the parsed input --- */

static struct fuzz_req *fr_of(struct cx_req *req)
{
	return req->impl;
}

static const char *find(const struct kv *kv, size_t n, const char *name, int nocase)
{
	for (size_t i = 0; i < n; i++)
		if ((nocase ? strcasecmp(kv[i].key, name) : strcmp(kv[i].key, name)) == 0)
			return kv[i].value;
	return NULL;
}

static const char *fz_query(struct cx_req *req, const char *name)
{
	return find(fr_of(req)->query, fr_of(req)->nquery, name, 0);
}

static const char *fz_header(struct cx_req *req, const char *name)
{
	return find(fr_of(req)->headers, fr_of(req)->nheaders, name, 1);
}

static int fz_query_each(struct cx_req *req, int (*fn)(void *, const char *, const char *),
			 void *ctx)
{
	struct fuzz_req *fr = fr_of(req);
	int rc = 0;

	for (size_t i = 0; i < fr->nquery && rc == 0; i++)
		rc = fn(ctx, fr->query[i].key, fr->query[i].value);
	return rc;
}

/* Called by the writer thread after the commit, as http.c's resumes the connection. */
static void fz_finish(struct cx_req *req)
{
	struct fuzz_req *fr = fr_of(req);

	pthread_mutex_lock(&fr->mu);
	fr->finished = 1;
	pthread_cond_signal(&fr->cv);
	pthread_mutex_unlock(&fr->mu);
}

static const struct cx_req_ops fuzz_ops = { fz_query, fz_header, fz_query_each, fz_finish };

/* --- the input --- */

/* A NUL-terminated, percent-decoded copy of s[0..n). */
static char *unescaped(const char *s, size_t n)
{
	char *c = strndup(s, n);

	if (c)
		MHD_http_unescape(c);
	return c;
}

/* Call fn(ctx, key, value) for each key=value of an urlencoded string, both decoded and
 * malloc'd (fn owns them; NULL if out of memory), until fn returns non-zero. */
static void each_pair(const char *s, size_t n, int (*fn)(void *ctx, char *key, char *value),
		      void *ctx)
{
	for (size_t i = 0; i < n;) {
		size_t end = i, eq;

		while (end < n && s[end] != '&')
			end++;
		for (eq = i; eq < end && s[eq] != '='; eq++)
			;
		if (end > i && fn(ctx, unescaped(s + i, eq - i),
				  eq < end ? unescaped(s + eq + 1, end - eq - 1) : strdup("")))
			return;
		i = end + 1;
	}
}

static int add_query(void *ctx, char *key, char *value)
{
	struct fuzz_req *fr = ctx;

	if (fr->nquery == MAX_FIELDS || !key || !value) {
		free(key);
		free(value);
		return fr->nquery == MAX_FIELDS;
	}
	fr->query[fr->nquery++] = (struct kv){ key, value };
	return 0;
}

/* Split "Name: value" lines up to the blank line; returns where the body starts. */
static size_t parse_headers(struct fuzz_req *fr, const char *s, size_t n, size_t i)
{
	while (i < n) {
		size_t end = i, colon;

		while (end < n && s[end] != '\n')
			end++;
		if (end == i)
			return i + 1;
		for (colon = i; colon < end && s[colon] != ':'; colon++)
			;
		if (colon < end && fr->nheaders < MAX_FIELDS) {
			size_t v = colon + 1;
			struct kv *kv = &fr->headers[fr->nheaders++];

			while (v < end && s[v] == ' ')
				v++;
			kv->key = strndup(s + i, colon - i);
			kv->value = strndup(s + v, end - v);
		}
		i = end + 1;
	}
	return n;
}

/* The form body as http.c gives it to handlers: a JSON object of string fields; NULL for a
 * form http.c would refuse before dispatch (duplicate, too many or too long fields). */
static int add_field(void *ctx, char *k, char *v)
{
	json_t **obj = ctx;

	if (!k || !v || json_object_get(*obj, k) || strlen(v) > CX_FORM_VALUE_MAX ||
	    json_object_size(*obj) == CX_FORM_FIELDS_MAX ||
	    json_object_set_new(*obj, k, json_string(v))) {
		json_decref(*obj);
		*obj = NULL;
	}
	free(k);
	free(v);
	return *obj == NULL;
}

static json_t *form_of(const char *s, size_t n)
{
	json_t *obj = json_object();

	if (obj)
		each_pair(s, n, add_field, &obj);
	return obj;
}

static void feed_lines(struct cx_req *req, const char *s, size_t n)
{
	size_t start = 0, lineno = 0;

	for (size_t i = 0; i <= n; i++)
		if (i == n ? i > start : s[i] == '\n') {
			size_t len = i - start;
			char *line = len > req->app->cfg.body_limit ? NULL : strndup(s + start, len);

			cx_routes_line(req, line, line ? len : 0, ++lineno);
			free(line);
			start = i + 1;
		}
}

/* --- what every reply must be --- */

static void check_reply(struct cx_req *req)
{
	static const unsigned ok[] = { 200, 201, 204, 303, 304, 400, 401, 403, 404, 405, 409, 410, 413,
				       415, 422, 429, 503 };
	struct cx_reply *r = &req->reply;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]) && ok[i] != r->status; i++)
		;
	if (i == sizeof(ok) / sizeof(ok[0])) {
		fprintf(stderr, "fuzz_request: status %u: %.300s\n", r->status,
			r->body ? r->body : "");
		abort();
	}
	if (r->status >= 400 && r->content_type && strncmp(r->content_type, "text/html", 9) == 0) {
		/* a browser's form post gets an error page (src/form_page.c) */
		if (!r->body || strncmp(r->body, "<!doctype html>", 15) != 0 || !strstr(r->body, "<h1>"))
			abort();
	} else if (r->status >= 400) {
		json_t *doc = r->body ? json_loads(r->body, 0, NULL) : NULL;
		json_t *e = json_object_get(doc, "error");

		if (!json_is_string(json_object_get(e, "code")) ||
		    !json_is_string(json_object_get(e, "message")))
			abort();
		json_decref(doc);
	}
	if (r->produce) {
		static char buf[64 * 1024];
		size_t total = 0;
		ssize_t got;

		while ((got = r->produce(r->stream_ctx, buf, sizeof(buf))) > 0)
			if ((total += (size_t)got) > MAX_STREAM)
				break;
		if (got < 0)
			abort();
	}
}

static void release(struct cx_req *req, struct fuzz_req *fr)
{
	struct cx_reply *r = &req->reply;

	for (size_t i = 0; i < fr->nquery; i++) {
		free(fr->query[i].key);
		free(fr->query[i].value);
	}
	for (size_t i = 0; i < fr->nheaders; i++) {
		free(fr->headers[i].key);
		free(fr->headers[i].value);
	}
	json_decref(req->form);
	if (req->stream_ctx && req->stream_free)
		req->stream_free(req->stream_ctx);
	for (int i = 0; i < CX_MAX_PARAMS; i++)
		free(req->params[i]);
	free(req->body);
	free(r->body);
	free(r->location);
	free(r->link);
	if (r->stream_free && r->stream_ctx)
		r->stream_free(r->stream_ctx);
	cx_key_release(&req->key);
	pthread_mutex_destroy(&fr->mu);
	pthread_cond_destroy(&fr->cv);
}

static void run(const char *s, size_t n)
{
	struct fuzz_req fr = { .nquery = 0 };
	struct cx_req req = { .ops = &fuzz_ops, .app = &svc->app, .impl = &fr };
	size_t line = 0, sp, q, body;
	char *path, *method;
	const char *accept, *auth;

	pthread_mutex_init(&fr.mu, NULL);
	pthread_cond_init(&fr.cv, NULL);
	while (line < n && s[line] != '\n')
		line++;
	for (sp = 0; sp < line && s[sp] != ' '; sp++)
		;
	method = strndup(s, sp);
	req.method = cx_method_of(method ? method : "");
	req.method_str = req.method == CX_OTHER || !method ? "OTHER" : method;
	for (q = sp < line ? sp + 1 : line; q < line && s[q] != '?' && s[q] != ' '; q++)
		;
	/* raw, as http.c hands it over: the route table decodes each segment itself */
	path = strndup(s + (sp < line ? sp + 1 : line), q - (sp < line ? sp + 1 : line));
	req.path = path ? path : "";
	if (q < line && s[q] == '?') {
		size_t qe = q + 1;

		while (qe < line && s[qe] != ' ')
			qe++;
		each_pair(s + q + 1, qe - q - 1, add_query, &fr);
	}
	body = parse_headers(&fr, s, n, line + 1);
	auth = fz_header(&req, "Authorization");
	if (!auth && fr.nheaders < MAX_FIELDS)
		fr.headers[fr.nheaders++] = (struct kv){ strdup("Authorization"), strdup(svc->bearer) };
	for (size_t i = 0; auth && strcmp(auth, "none") == 0 && i < fr.nheaders; i++)
		if (fr.headers[i].value == auth)   /* an anonymous request: hide the header */
			fr.headers[i].key[0] = '\0';
	snprintf(req.client, sizeof(req.client), "127.0.0.1");
	accept = fz_header(&req, "Accept");
	req.wants_json = accept && strstr(accept, "application/json") != NULL;

	if (cx_routes_prepare(&req, fz_header(&req, "Content-Type")) == 0) {
		const char *b = s + body;
		size_t blen = n - body;
		int refused = 0;

		if (blen > req.body_limit) {
			refused = 1;   /* http.c answers 413 before dispatch */
		} else if (req.body_kind == CX_BODY_JSON) {
			req.body = strndup(b, blen);
			req.body_len = req.body ? strlen(req.body) : 0;
		} else if (req.body_kind == CX_BODY_FORM) {
			refused = !(req.form = form_of(b, blen));
		} else if (req.body_kind == CX_BODY_NDJSON) {
			feed_lines(&req, b, blen);
		}
		if (!refused && cx_routes_dispatch(&req) == CX_PENDING) {
			pthread_mutex_lock(&fr.mu);
			while (!fr.finished)
				pthread_cond_wait(&fr.cv, &fr.mu);
			pthread_mutex_unlock(&fr.mu);
			if (req.on_resume)
				req.on_resume(&req);
		}
		if (!refused)
			check_reply(&req);
	} else {
		check_reply(&req);
	}
	if (getenv("FUZZ_VERBOSE"))   /* what each input got, to see what a corpus reaches */
		fprintf(stderr, "%s %.100s -> %u %.200s\n", req.method_str, req.path,
			req.reply.status, req.reply.body ? req.reply.body : "");
	release(&req, &fr);
	free(path);
	free(method);
	if (req.method == CX_DELETE)
		fuzz_service_keep_admin_key();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	svc = fuzz_service();
	run((const char *)data, size);
	return 0;
}
