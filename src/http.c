/* http.c - the HTTP server on libmicrohttpd; see include/cx/http.h.
 *
 * Threading: a pool of cfg->threads epoll threads. Handlers never block on the disk: a
 * POST that waits for the writer suspends its connection (MHD_suspend_connection) and
 * the writer thread resumes it after the commit (cx_req_finish), so the pool keeps
 * serving other connections meanwhile.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cx/app.h"
#include "cx/cxtime.h"
#include "cx/http.h"
#include "cx/log.h"
#include "cx/metrics.h"
#include "cx/routes.h"

/* TLS 1.2 and 1.3 only (GnuTLS priority string): 1.0 and 1.1 are refused at handshake. */
#define CX_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct cx_http {
	struct MHD_Daemon *daemon;
	char *tls_cert, *tls_key;   /* PEM text given to libmicrohttpd */
	struct cx_app *app;
	size_t line_limit;      /* one NDJSON line: the single-body limit */
	atomic_long inflight;   /* requests between first callback and completion */
};

struct form_field {
	char *key;
	char *val;
	size_t len;
};

enum phase { PH_NEW = 0, PH_BODY, PH_PENDING, PH_SENT };

/* Per-request state: req is first so that a struct cx_req * converts back. */
struct http_req {
	struct cx_req req;
	struct cx_http *http;
	struct MHD_Connection *conn;
	enum phase phase;
	uint64_t start_us;
	char *path;
	size_t received;
	int too_large;
	size_t body_cap;
	size_t lineno;          /* NDJSON lines seen */
	int line_dropping;      /* the current NDJSON line is over the limit */
	struct MHD_PostProcessor *pp;
	struct form_field fields[CX_FORM_FIELDS_MAX];
	size_t nfields;
	struct cx_error form_err;
	int form_failed;
	pthread_mutex_t mu;     /* guards done/suspended against the writer thread */
	int done, suspended;
	unsigned status;
	uint64_t bytes;
};

static struct http_req *impl_of(struct cx_req *req)
{
	return (struct http_req *)req;
}

/* --- request accessors (struct cx_req_ops) --- */

const char *cx_req_query(struct cx_req *req, const char *name)
{
	return req->ops->query(req, name);
}

const char *cx_req_header(struct cx_req *req, const char *name)
{
	return req->ops->header(req, name);
}

int cx_req_query_each(struct cx_req *req, int (*fn)(void *ctx, const char *key,
						     const char *value), void *ctx)
{
	return req->ops->query_each(req, fn, ctx);
}

void cx_req_finish(struct cx_req *req)
{
	req->ops->finish(req);
}

static const char *mhd_query(struct cx_req *req, const char *name)
{
	return MHD_lookup_connection_value(impl_of(req)->conn, MHD_GET_ARGUMENT_KIND, name);
}

static const char *mhd_header(struct cx_req *req, const char *name)
{
	return MHD_lookup_connection_value(impl_of(req)->conn, MHD_HEADER_KIND, name);
}

struct each_ctx {
	int (*fn)(void *ctx, const char *key, const char *value);
	void *ctx;
	int rc;
};

static enum MHD_Result each_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				const char *value)
{
	struct each_ctx *e = cls;

	e->rc = e->fn(e->ctx, key, value ? value : "");
	return e->rc ? MHD_NO : MHD_YES;
}

static int mhd_query_each(struct cx_req *req, int (*fn)(void *ctx, const char *key,
							 const char *value), void *ctx)
{
	struct each_ctx e = { fn, ctx, 0 };

	MHD_get_connection_values(impl_of(req)->conn, MHD_GET_ARGUMENT_KIND, each_arg, &e);
	return e.rc;
}

static void mhd_finish(struct cx_req *req);

/* Open client connections, all daemons (MHD_OPTION_NOTIFY_CONNECTION). */
static atomic_uint open_connections;

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
			  enum MHD_ConnectionNotificationCode code)
{
	(void)cls;
	(void)conn;
	(void)socket_ctx;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		atomic_fetch_add(&open_connections, 1);
	else if (code == MHD_CONNECTION_NOTIFY_CLOSED)
		atomic_fetch_sub(&open_connections, 1);
}

int cx_http_alone(void)
{
	return atomic_load(&open_connections) <= 1;
}

static const struct cx_req_ops mhd_ops = { mhd_query, mhd_header, mhd_query_each, mhd_finish };

/* --- replies --- */

/* 1 if a handler's extra headers include `name`. */
static int names_header(const struct cx_reply *r, const char *name)
{
	for (const char *const *h = r->headers; h && h[0] && h[1]; h += 2)
		if (strcasecmp(h[0], name) == 0)
			return 1;
	return 0;
}

static void reply_reset(struct cx_reply *r)
{
	free(r->body);
	free(r->location);
	free(r->link);
	if (r->stream_free && r->stream_ctx)
		r->stream_free(r->stream_ctx);
	memset(r, 0, sizeof(*r));
}

void cx_reply_stream(struct cx_req *req, unsigned status, const char *content_type,
		     ssize_t (*produce)(void *ctx, char *buf, size_t max), void *ctx,
		     void (*free_ctx)(void *ctx))
{
	struct cx_reply *r = &req->reply;

	reply_reset(r);
	r->status = status;
	r->content_type = content_type;
	r->produce = produce;
	r->stream_ctx = ctx;
	r->stream_free = free_ctx;
}

struct stream {   /* what MHD's callbacks get */
	ssize_t (*produce)(void *ctx, char *buf, size_t max);
	void *ctx;
	void (*free_ctx)(void *ctx);
	uint64_t *sent;   /* the request's byte count (for the access log) */
};

/* Runs on the connection's thread, never after the request's on_completed: `sent` is
 * still the request's when it is touched. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	ssize_t n = s->produce(s->ctx, buf, max);

	if (n > 0)
		*s->sent += (uint64_t)n;
	return n > 0 ? n : n == 0 ? MHD_CONTENT_READER_END_OF_STREAM
			   : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_done(void *cls)
{
	struct stream *s = cls;

	if (s->free_ctx)
		s->free_ctx(s->ctx);
	free(s);
}

void cx_reply_json_take(struct cx_req *req, unsigned status, json_t *root)
{
	struct cx_reply *r = &req->reply;

	reply_reset(r);
	r->status = status;
	r->content_type = "application/json";
	r->body = root ? json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
	json_decref(root);
	if (!r->body) {
		r->status = 500;
		r->body = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\","
				 "\"field\":null}}");
	}
	r->len = r->body ? strlen(r->body) : 0;
}

void cx_reply_error(struct cx_req *req, const struct cx_error *err)
{
	cx_metrics_rejected(err->code);
	if (req->error_page)   /* a browser's form post: a page, not JSON (routes.c sets it) */
		req->error_page(req, err);
	else
		cx_reply_json_take(req, (unsigned)err->status, cx_error_json(err));
	req->reply.retry_after = err->retry_after;
}

void cx_reply_html(struct cx_req *req, unsigned status, const char *html)
{
	struct cx_reply *r = &req->reply;

	reply_reset(r);
	r->status = status;
	r->content_type = "text/html; charset=utf-8";
	r->body = strdup(html);
	r->len = r->body ? strlen(r->body) : 0;
}

void cx_reply_bytes(struct cx_req *req, unsigned status, const char *content_type,
		    const void *body, size_t len)
{
	char *copy = malloc(len ? len : 1);

	if (copy)
		memcpy(copy, body, len);
	cx_reply_bytes_take(req, status, content_type, copy, copy ? len : 0);
}

void cx_reply_bytes_take(struct cx_req *req, unsigned status, const char *content_type,
			 char *body, size_t len)
{
	struct cx_reply *r = &req->reply;

	reply_reset(r);
	r->status = status;
	r->content_type = content_type;
	r->body = body;
	r->len = len;
}

void cx_reply_redirect(struct cx_req *req, const char *location)
{
	struct cx_reply *r = &req->reply;

	reply_reset(r);
	r->status = 303;
	r->location = strdup(location);
	r->content_type = "text/plain; charset=utf-8";
	r->body = strdup("See Other\n");
	r->len = r->body ? strlen(r->body) : 0;
}

static void reply_too_large(struct http_req *hr)
{
	struct cx_error err;

	cx_error_set(&err, 413, "body_too_large", NULL,
		     "the body is larger than the limit of %zu bytes", hr->req.body_limit);
	cx_reply_error(&hr->req, &err);
}

static enum MHD_Result send_reply(struct http_req *hr)
{
	struct cx_reply *r = &hr->req.reply;
	struct MHD_Response *resp;
	enum MHD_Result ok;
	char num[24];

	if (r->status == 0) {
		struct cx_error err;

		cx_error_set(&err, 500, "internal", NULL, "no reply was produced");
		cx_reply_error(&hr->req, &err);
	}
	if (r->produce) {
		struct stream *st = malloc(sizeof(*st));

		if (!st)
			return MHD_NO;
		*st = (struct stream){ r->produce, r->stream_ctx, r->stream_free, &hr->bytes };
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_read,
							 st, stream_done);
		if (!resp) {
			free(st);
			return MHD_NO;
		}
		r->stream_ctx = NULL;   /* the response owns it now */
		r->produce = NULL;
	} else {
		resp = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
		if (!resp)
			return MHD_NO;
		r->body = NULL;   /* the response owns it now */
	}
	if (r->content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
	if (!names_header(r, MHD_HTTP_HEADER_CACHE_CONTROL))   /* (widget.js may be cached) */
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	/* on every response, errors included (the dashboard adds its own CSP) */
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	if (r->location)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
	if (r->disposition)
		MHD_add_response_header(resp, "Content-Disposition", r->disposition);
	if (r->link)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LINK, r->link);
	if (r->next_cursor[0])
		MHD_add_response_header(resp, "X-Next-Cursor", r->next_cursor);
	if (hr->req.cors_origin[0]) {
		MHD_add_response_header(resp, "Access-Control-Allow-Origin", hr->req.cors_origin);
		MHD_add_response_header(resp, "Vary", "Origin");
		if (hr->req.cors_preflight) {
			MHD_add_response_header(resp, "Access-Control-Allow-Methods", r->allow);
			MHD_add_response_header(resp, "Access-Control-Allow-Headers",
						"Content-Type, Authorization, Idempotency-Key");
			MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
		}
	}
	for (const char *const *h = r->headers; h && h[0] && h[1]; h += 2)
		MHD_add_response_header(resp, h[0], h[1]);
	if (r->allow[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	if (r->retry_after) {
		snprintf(num, sizeof(num), "%u", r->retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, num);
	}
	hr->status = r->status;
	hr->bytes = r->len;   /* 0 for a stream, which counts what it sends (stream_read) */
	hr->phase = PH_SENT;
	ok = MHD_queue_response(hr->conn, r->status, resp);
	MHD_destroy_response(resp);
	return ok;
}

/* The resume happens after the unlock: once resumed, a worker may send the reply and free
 * hr at once, so nothing of hr may be touched after MHD_resume_connection(). Before it, hr
 * is safe: a suspended request cannot complete. */
static void mhd_finish(struct cx_req *req)
{
	struct http_req *hr = impl_of(req);
	struct MHD_Connection *conn = hr->conn;
	int resume;

	pthread_mutex_lock(&hr->mu);
	hr->done = 1;
	resume = hr->suspended;
	pthread_mutex_unlock(&hr->mu);
	if (resume)
		MHD_resume_connection(conn);
}

/* --- bodies --- */

static enum MHD_Result form_iter(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *filename, const char *content_type,
				 const char *transfer_encoding, const char *data, uint64_t off,
				 size_t size)
{
	struct http_req *hr = cls;
	struct form_field *f = NULL;

	if (hr->form_failed)
		return MHD_YES;
	if (off == 0) {
		for (size_t i = 0; i < hr->nfields; i++)
			if (strcmp(hr->fields[i].key, key) == 0) {
				cx_error_set(&hr->form_err, 422, "duplicate_field", key,
					     "field '%.60s' appears more than once", key);
				hr->form_failed = 1;
				return MHD_YES;
			}
		if (hr->nfields == CX_FORM_FIELDS_MAX) {
			cx_error_set(&hr->form_err, 422, "too_many_fields", NULL,
				     "a form may have at most %d fields", CX_FORM_FIELDS_MAX);
			hr->form_failed = 1;
			return MHD_YES;
		}
		f = &hr->fields[hr->nfields++];
		f->key = strdup(key);
	} else {
		f = &hr->fields[hr->nfields - 1];
	}
	if (f->len + size > CX_FORM_VALUE_MAX) {
		cx_error_set(&hr->form_err, 422, "field_too_long", key,
			     "form field '%.60s' is longer than %d bytes", key, CX_FORM_VALUE_MAX);
		hr->form_failed = 1;
		return MHD_YES;
	}
	char *v = realloc(f->val, f->len + size + 1);

	if (!v || !f->key) {
		cx_error_set(&hr->form_err, 503, "out_of_memory", NULL, "out of memory");
		hr->form_failed = 1;
		return MHD_YES;
	}
	memcpy(v + f->len, data, size);
	f->len += size;
	v[f->len] = '\0';
	f->val = v;
	return MHD_YES;
}

/* Fields collected by the post processor into a JSON object of strings. */
static int form_to_json(struct http_req *hr)
{
	json_t *obj = json_object();

	for (size_t i = 0; i < hr->nfields; i++) {
		struct form_field *f = &hr->fields[i];
		json_t *v = json_stringn(f->val ? f->val : "", f->len);
		json_t *k = json_string(f->key);   /* validates the key's UTF-8 */

		if (!v || !k || memchr(f->val ? f->val : "", '\0', f->len)) {
			json_decref(v);
			json_decref(k);
			json_decref(obj);
			return cx_error_set(&hr->form_err, 422, "invalid_encoding",
					    k ? f->key : NULL, "form fields must be UTF-8 text");
		}
		json_decref(k);
		json_object_set_new(obj, f->key, v);
	}
	hr->req.form = obj;
	return 0;
}

/* Append to the request's buffer (a JSON body, or the NDJSON line being read). */
static void buf_append(struct http_req *hr, const char *data, size_t size)
{
	if (hr->req.body_len + size + 1 > hr->body_cap) {
		size_t cap = hr->body_cap ? hr->body_cap : 1024;

		while (cap < hr->req.body_len + size + 1)
			cap *= 2;
		char *p = realloc(hr->req.body, cap);

		if (!p) {
			hr->too_large = 1;
			return;
		}
		hr->req.body = p;
		hr->body_cap = cap;
	}
	memcpy(hr->req.body + hr->req.body_len, data, size);
	hr->req.body_len += size;
	hr->req.body[hr->req.body_len] = '\0';
}

static void end_line(struct http_req *hr)
{
	hr->lineno++;
	if (hr->line_dropping)
		cx_routes_line(&hr->req, NULL, 0, hr->lineno);
	else
		cx_routes_line(&hr->req, hr->req.body ? hr->req.body : "", hr->req.body_len,
			       hr->lineno);
	hr->req.body_len = 0;
	hr->line_dropping = 0;
}

/* NDJSON: hand over each complete line as it arrives; only one line is ever buffered. */
static void ndjson_feed(struct http_req *hr, const char *data, size_t size)
{
	while (size) {
		const char *nl = memchr(data, '\n', size);
		size_t take = nl ? (size_t)(nl - data) : size;

		if (!hr->line_dropping && hr->req.body_len + take > hr->http->line_limit) {
			hr->line_dropping = 1;
			hr->req.body_len = 0;
		}
		if (!hr->line_dropping)
			buf_append(hr, data, take);
		if (nl) {
			end_line(hr);
			take++;
		}
		data += take;
		size -= take;
	}
}

static void body_append(struct http_req *hr, const char *data, size_t size)
{
	switch (hr->req.body_kind) {
	case CX_BODY_NONE:   /* a body where none is expected is ignored (but counted) */
		return;
	case CX_BODY_FORM:
		if (hr->pp && MHD_post_process(hr->pp, data, size) != MHD_YES && !hr->form_failed) {
			cx_error_set(&hr->form_err, 400, "invalid_form", NULL,
				     "the form body is not valid application/x-www-form-urlencoded");
			hr->form_failed = 1;
		}
		return;
	case CX_BODY_NDJSON:
		ndjson_feed(hr, data, size);
		return;
	case CX_BODY_JSON:
		buf_append(hr, data, size);
		return;
	}
}

/* --- the request cycle --- */

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int cx_path_valid(const char *raw)
{
	for (const unsigned char *p = (const unsigned char *)raw; *p; p++) {
		if (*p <= 0x20 || *p == 0x7f)
			return 0;
		if (*p != '%')
			continue;
		if (hexval((char)p[1]) < 0 || hexval((char)p[2]) < 0 || (p[1] == '0' && p[2] == '0'))
			return 0;
		p += 2;
	}
	return 1;
}

void cx_path_unescape(char *segment)
{
	MHD_http_unescape(segment);   /* '+' stays '+' in a path; only %XX is decoded */
}

enum cx_method cx_method_of(const char *m)
{
	static const struct { const char *name; enum cx_method m; } t[] = {
		{ "GET", CX_GET }, { "HEAD", CX_HEAD }, { "POST", CX_POST }, { "PUT", CX_PUT },
		{ "DELETE", CX_DELETE }, { "OPTIONS", CX_OPTIONS }, { "PATCH", CX_PATCH },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(m, t[i].name) == 0)
			return t[i].m;
	return CX_OTHER;
}

static int declared_too_large(struct http_req *hr)
{
	const char *cl = MHD_lookup_connection_value(hr->conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);

	return cl && strtoull(cl, NULL, 10) > hr->req.body_limit;
}

int cx_listed(const char *list, const char *addr)
{
	size_t n = strlen(addr);

	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ",");

		if (len == n && strncmp(p, addr, n) == 0)
			return 1;
		p += len + (p[len] == ',');
	}
	return 0;
}

/* The client: the peer, or, when the peer is a trusted proxy, the rightmost address of
 * X-Forwarded-For that is not one of our proxies (the left part is the client's to forge). */
static void client_address(struct http_req *hr, const char *trusted)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(hr->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const char *xff;
	char *copy, *tok;

	snprintf(hr->req.client, sizeof(hr->req.client), "unknown");
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;

		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, hr->req.client,
				  sizeof(hr->req.client));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, hr->req.client,
				  sizeof(hr->req.client));
	}
	if (!trusted[0] || !cx_listed(trusted, hr->req.client))
		return;
	xff = MHD_lookup_connection_value(hr->conn, MHD_HEADER_KIND, "X-Forwarded-For");
	if (!xff || !(copy = strdup(xff)))
		return;
	while ((tok = strrchr(copy, ',')) || copy[0]) {
		char *addr = tok ? tok + 1 : copy;

		while (*addr == ' ')
			addr++;
		if (*addr && !cx_listed(trusted, addr)) {
			snprintf(hr->req.client, sizeof(hr->req.client), "%.63s", addr);
			break;
		}
		if (!tok)
			break;
		*tok = '\0';
	}
	free(copy);
}

/* MHD's URI log callback: the first thing that runs for a request, with the request
 * target exactly as the client sent it. The request state is made here so that routing
 * sees the raw path: libmicrohttpd percent-decodes the URL before the access handler,
 * which would turn a %2F inside a path segment into a separator and cut a path at %00.
 * The route table splits the raw path and decodes each segment itself (cx_path_*). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct cx_http *h = cls;
	struct http_req *hr = calloc(1, sizeof(*hr));

	if (!hr)
		return NULL;
	if (!uri)   /* a request line without a target: MHD answers it 400 itself */
		uri = "";
	if (!(hr->path = strndup(uri, strcspn(uri, "?")))) {
		free(hr);
		return NULL;
	}
	atomic_fetch_add(&h->inflight, 1);
	hr->http = h;
	hr->conn = conn;
	hr->start_us = cx_time_mono_us();
	pthread_mutex_init(&hr->mu, NULL);
	hr->req.path = hr->path;
	return hr;
}

/* The rest of the request state, on the access handler's first call. */
static void begin(struct cx_http *h, struct http_req *hr, const char *method)
{
	const char *accept;

	hr->req.ops = &mhd_ops;
	hr->req.app = h->app;
	hr->req.impl = hr;
	hr->req.method = cx_method_of(method);
	hr->req.method_str = hr->req.method == CX_OTHER ? "OTHER" : method;
	client_address(hr, h->app->cfg.trusted_proxies);
	accept = MHD_lookup_connection_value(hr->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	hr->req.wants_json = accept && strstr(accept, "application/json") != NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct cx_http *h = cls;
	struct http_req *hr = *con_cls;

	if (!hr)
		return MHD_NO;   /* on_uri ran out of memory */
	if (hr->phase == PH_NEW) {
		begin(h, hr, method);
		if (cx_routes_prepare(&hr->req, MHD_lookup_connection_value(
			    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE)) != 0)
			return send_reply(hr);    /* 404, 405 or 415 before any body */
		if (declared_too_large(hr)) {
			reply_too_large(hr);
			return send_reply(hr);
		}
		if (hr->req.body_kind == CX_BODY_FORM)
			hr->pp = MHD_create_post_processor(conn, 16 * 1024, form_iter, hr);
		hr->phase = PH_BODY;
		return MHD_YES;
	}
	if (hr->phase == PH_SENT) {   /* rejected early: drop whatever body follows */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t size = *upload_data_size;

		*upload_data_size = 0;
		hr->received += size;
		if (hr->received > hr->req.body_limit)
			hr->too_large = 1;   /* keep reading (and dropping) to the end */
		if (!hr->too_large)
			body_append(hr, upload_data, size);
		return MHD_YES;
	}
	if (hr->phase == PH_PENDING) {   /* resumed by the writer */
		if (hr->req.on_resume)
			hr->req.on_resume(&hr->req);
		return send_reply(hr);
	}

	if (hr->too_large) {
		reply_too_large(hr);
		return send_reply(hr);
	}
	if (hr->req.body_kind == CX_BODY_NDJSON && (hr->req.body_len || hr->line_dropping))
		end_line(hr);   /* the last line needs no newline */
	if (hr->req.body_kind == CX_BODY_FORM && !hr->form_failed)
		form_to_json(hr);
	if (hr->form_failed || (hr->req.body_kind == CX_BODY_FORM && !hr->req.form)) {
		cx_reply_error(&hr->req, &hr->form_err);
		return send_reply(hr);
	}
	if (cx_routes_dispatch(&hr->req) == CX_DONE)
		return send_reply(hr);

	pthread_mutex_lock(&hr->mu);
	hr->phase = PH_PENDING;
	if (!hr->done) {
		hr->suspended = 1;
		MHD_suspend_connection(conn);
		pthread_mutex_unlock(&hr->mu);
		return MHD_YES;
	}
	pthread_mutex_unlock(&hr->mu);
	if (hr->req.on_resume)
		hr->req.on_resume(&hr->req);
	return send_reply(hr);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct cx_http *h = cls;
	struct http_req *hr = *con_cls;

	if (!hr)
		return;
	*con_cls = NULL;
	if (hr->req.method_str) {   /* (not for a request that never reached the handler) */
		uint64_t us = cx_time_mono_us() - hr->start_us;
		unsigned status = hr->phase == PH_SENT ? hr->status : 0;

		cx_log_access(hr->req.method_str, hr->req.path, status, hr->bytes, us);
		cx_metrics_request(cx_routes_index(hr->req.route), status, us);
	}
	if (hr->pp)
		MHD_destroy_post_processor(hr->pp);
	for (size_t i = 0; i < hr->nfields; i++) {
		free(hr->fields[i].key);
		free(hr->fields[i].val);
	}
	json_decref(hr->req.form);
	if (hr->req.stream_ctx && hr->req.stream_free)
		hr->req.stream_free(hr->req.stream_ctx);
	for (int i = 0; i < CX_MAX_PARAMS; i++)
		free(hr->req.params[i]);
	free(hr->req.body);
	reply_reset(&hr->req.reply);
	cx_key_release(&hr->req.key);
	free(hr->path);
	pthread_mutex_destroy(&hr->mu);
	free(hr);
	atomic_fetch_sub(&h->inflight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	cx_log_info("http: %s", msg);
}

static void free_tls(struct cx_http *h)
{
	if (h->tls_key)   /* wipe the private key before giving the memory back */
		memset(h->tls_key, 0, strlen(h->tls_key));
	free(h->tls_key);
	free(h->tls_cert);
}

/* The whole of a PEM file, NUL-terminated; NULL with err set if it cannot be read. */
static char *read_pem(const char *path, struct cx_error *err)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || n > (1 << 20) ||
	    fseek(f, 0, SEEK_SET) || !(buf = malloc((size_t)n + 1)) ||
	    fread(buf, 1, (size_t)n, f) != (size_t)n) {
		cx_error_set(err, 503, "tls_file", NULL, "cannot read TLS file '%s'", path);
		free(buf);
		buf = NULL;
	} else {
		buf[n] = '\0';
	}
	if (f)
		fclose(f);
	return buf;
}

int cx_http_start(struct cx_http **out, struct cx_app *app, const struct cx_config *cfg,
		  uint16_t *port, struct cx_error *err)
{
	char *cert = NULL, *key = NULL;
	struct cx_http *h = calloc(1, sizeof(*h));
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;

	if (!h)
		return cx_error_set(err, 503, "internal", NULL, "out of memory");
	memset(&ss, 0, sizeof(ss));
	if (strchr(cfg->listen_host, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(cfg->port);
		inet_pton(AF_INET6, cfg->listen_host, &a->sin6_addr);
		flags |= MHD_USE_IPv6;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(cfg->port);
		inet_pton(AF_INET, cfg->listen_host, &a->sin_addr);
	}
	h->app = app;
	h->line_limit = cfg->body_limit;
	if (cfg->tls_cert[0]) {
		if (!(cert = read_pem(cfg->tls_cert, err)) || !(key = read_pem(cfg->tls_key, err))) {
			free(cert);
			free(h);
			return -1;
		}
		flags |= MHD_USE_TLS;
	}
	{
		/* the logger first (so MHD's own messages go through it), TLS only with TLS */
		struct MHD_OptionItem opts[20];
		int n = 0;

		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL };
		if (cert) {
			opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, cert };
			opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, key };
			opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
							     (void *)CX_TLS_PRIORITIES };
		}
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, h };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0, &ss };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE, cfg->threads, NULL };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections, NULL };
		/* behind a proxy every client has the proxy's address: the cap would be on
		 * the proxy (libmicrohttpd counts peers, not X-Forwarded-For) */
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_PER_IP_CONNECTION_LIMIT,
						     cfg->trusted_proxies[0] ? 0 : cfg->per_ip_connections,
						     NULL };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT, cfg->timeout_s, NULL };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_MEMORY_LIMIT,
						     (intptr_t)cfg->conn_memory, NULL };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, h };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection,
						     NULL };
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
		h->daemon = MHD_start_daemon(flags, cfg->port, NULL, NULL, on_request, h,
					     MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	}
	h->tls_cert = cert;   /* kept for the daemon's life: MHD may refer to them */
	h->tls_key = key;
	if (!h->daemon) {
		free_tls(h);
		free(h);
		return cx_error_set(err, 503, "listen_failed", NULL,
				    "cannot listen on %s port %u (in use, not an address of this "
				    "machine, or a TLS certificate and key that do not load)",
				    cfg->listen_host, cfg->port);
	}
	info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
	*port = info ? info->port : cfg->port;
	*out = h;
	return 0;
}

void cx_http_stop(struct cx_http *h, unsigned grace_ms)
{
	uint64_t deadline;

	if (!h)
		return;
	/* No MHD_quiesce_daemon() here: on an epoll daemon with its own threads (what
	 * MHD_USE_AUTO picks on Linux) it races with the workers' own removal of the listen
	 * socket from their epoll sets, and libmicrohttpd 0.9.75 then aborts the process
	 * ("Failed to remove listen FD from epoll set", MHD_PANIC; seen once here, in
	 * test_loop_hostile). So connections are still accepted during the grace period and
	 * served as usual (the writer runs until after this returns); the wait ends when
	 * nothing is in flight or at the deadline, and MHD_stop_daemon closes the rest. */
	deadline = cx_time_mono_us() + (uint64_t)grace_ms * 1000u;
	while (atomic_load(&h->inflight) > 0 && cx_time_mono_us() < deadline)
		usleep(10 * 1000);
	if (atomic_load(&h->inflight) > 0)
		cx_log_info("shutdown: %ld requests still in flight after %u ms, closing them",
			    atomic_load(&h->inflight), grace_ms);
	MHD_stop_daemon(h->daemon);
	free_tls(h);
	free(h);
}
