/* http.h - the HTTP server (src/http.c, the only file that includes microhttpd.h).
 *
 * http.c reads a request, enforces the transport limits (body size while it streams in,
 * chunked or not; connection count, connections per address, timeout, per-connection
 * memory; TLS 1.2 or later), turns urlencoded forms into a JSON object of strings with
 * libmicrohttpd's post processor, and hands a struct cx_req, with the path as the client
 * sent it, to the route table. Every reply carries nosniff, no-referrer and DENY framing
 * headers; the access log counts the bytes a streamed body actually sent. A handler answers with cx_reply_*(); a handler that
 * waits for the writer returns CX_PENDING and someone later calls cx_req_finish().
 */
#ifndef CX_HTTP_H
#define CX_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "cx/auth.h"
#include "cx/config.h"
#include "cx/error.h"

struct cx_app;
struct cx_http;
struct cx_req;
struct cx_route;

enum cx_method {
	CX_GET = 1, CX_HEAD = 2, CX_POST = 4, CX_PUT = 8, CX_DELETE = 16,
	CX_OPTIONS = 32, CX_PATCH = 64, CX_OTHER = 128,
};

enum cx_handled { CX_DONE = 0, CX_PENDING = 1 };

enum cx_body_kind { CX_BODY_NONE = 0, CX_BODY_JSON, CX_BODY_FORM, CX_BODY_NDJSON };

#define CX_MAX_PARAMS 3
#define CX_FORM_FIELDS_MAX 64
#define CX_FORM_VALUE_MAX 8192

struct cx_reply {
	unsigned status;
	const char *content_type;   /* static string */
	char *body;                 /* malloc'd, owned by the reply */
	size_t len;
	char *location;             /* malloc'd or NULL */
	unsigned retry_after;       /* seconds, 0 = none */
	char allow[64];             /* Allow header for 405, "" = none */
	const char *const *headers; /* static extra headers: name, value, ..., NULL; or NULL */
	/* a streamed body (cx_reply_stream) instead of `body` */
	ssize_t (*produce)(void *ctx, char *buf, size_t max);
	void *stream_ctx;
	void (*stream_free)(void *ctx);
	const char *disposition;    /* static Content-Disposition, or disposition_buf, or NULL */
	char disposition_buf[256];  /* a per-reply Content-Disposition (a file name) */
	char *link;                 /* malloc'd Link header (a next page), or NULL */
	char next_cursor[48];       /* X-Next-Cursor header, "" = none */
};

/* Where a request's fields come from and where its outcome goes. http.c's reads
 * libmicrohttpd's connection and resumes it; the request fuzzer (tests/fuzz/fuzz_request.c)
 * supplies its own, so the route table and every handler run without a socket. */
struct cx_req_ops {
	const char *(*query)(struct cx_req *req, const char *name);
	const char *(*header)(struct cx_req *req, const char *name);
	int (*query_each)(struct cx_req *req, int (*fn)(void *ctx, const char *key,
							 const char *value), void *ctx);
	void (*finish)(struct cx_req *req);
};

struct cx_req {
	const struct cx_req_ops *ops;
	struct cx_app *app;
	const struct cx_route *route; /* set by cx_routes_prepare() */
	enum cx_method method;
	const char *method_str;
	const char *path;
	char *params[CX_MAX_PARAMS];  /* path captures, in order */
	enum cx_body_kind body_kind;
	size_t body_limit;            /* bytes this request's body may have (set by routes) */
	char *body;                   /* NUL-terminated copy of a JSON body */
	size_t body_len;
	void *stream_ctx;             /* a streaming handler's state (NDJSON lines) ... */
	void (*stream_free)(void *ctx); /* ... and how to free it if the request dies */
	void (*on_resume)(struct cx_req *req); /* builds the reply of a CX_PENDING request on
						 its worker thread, before it is sent */
	json_t *form;                 /* urlencoded fields (strings), when body_kind is FORM */
	int wants_json;               /* Accept names application/json */
	void (*error_page)(struct cx_req *req, const struct cx_error *err); /* if set,
					 cx_reply_error() answers with it instead of JSON */
	struct cx_key key;            /* the caller's key (role CX_ROLE_NONE on public routes) */
	char client[64];              /* the client's address (X-Forwarded-For from a trusted
				         proxy, else the peer) */
	char cors_origin[256];        /* if set, the reply carries Access-Control-Allow-Origin */
	int cors_preflight;           /* ... and the preflight headers */
	struct cx_reply reply;
	void *impl;                   /* the ops' per-request state (http.c's, or a fuzzer's) */
};

/* Paths: req->path is the path exactly as the client sent it (percent-encoded). The route
 * table splits it at '/' and then decodes each captured segment, so that an id holding a
 * '/' (sent as %2F) stays one segment. cx_path_valid: 1 unless the path holds a byte
 * that may not appear in one (controls, space, DEL), a '%' not followed by two hex
 * digits, or %00 (which would cut the decoded text short). cx_path_unescape decodes a
 * segment of a valid path in place ('+' is not a space in a path). */
int cx_path_valid(const char *raw);
void cx_path_unescape(char *segment);

/* The method named by a request line's first word (CX_OTHER for any other). */
enum cx_method cx_method_of(const char *name);
/* Query parameter value, NULL if absent (through req->ops, as are the three below). */
const char *cx_req_query(struct cx_req *req, const char *name);
/* Call fn for every query parameter, stopping at the first non-zero return. */
int cx_req_query_each(struct cx_req *req, int (*fn)(void *ctx, const char *key,
						     const char *value), void *ctx);
/* 1 if origin is in a comma-separated list. */
int cx_listed(const char *list, const char *item);
/* Request header value, NULL if absent. */
const char *cx_req_header(struct cx_req *req, const char *name);

/* Set the reply. Each takes ownership of what it is given, even on failure. */
void cx_reply_json_take(struct cx_req *req, unsigned status, json_t *root);
void cx_reply_error(struct cx_req *req, const struct cx_error *err);
void cx_reply_html(struct cx_req *req, unsigned status, const char *html);
/* A copy of len bytes of body (which may hold NULs, e.g. gzip) with this content type. */
void cx_reply_bytes(struct cx_req *req, unsigned status, const char *content_type,
		    const void *body, size_t len);
/* The same as cx_reply_bytes, taking a malloc'd body instead of copying it. */
void cx_reply_bytes_take(struct cx_req *req, unsigned status, const char *content_type,
			 char *body, size_t len);
void cx_reply_redirect(struct cx_req *req, const char *location);
/* A body of unknown length, sent chunked as produce() makes it: produce fills up to max
 * bytes of buf and returns how many, 0 at the end, or -1 on an error (the connection is
 * then cut, so the client sees a truncated body rather than a wrong one). It runs on a
 * worker thread whenever the client can take more, so memory stays constant however long
 * the body is. free_ctx(ctx) runs once when the reply is done or abandoned. */
void cx_reply_stream(struct cx_req *req, unsigned status, const char *content_type,
		     ssize_t (*produce)(void *ctx, char *buf, size_t max), void *ctx,
		     void (*free_ctx)(void *ctx));

/* From any thread, once, for a request whose handler returned CX_PENDING: the outcome is
 * known; req->on_resume (if set) then runs on a worker thread to build the reply. */
void cx_req_finish(struct cx_req *req);

/* Start listening with the limits in cfg; the bound port is in *port on return. */
int cx_http_start(struct cx_http **out, struct cx_app *app, const struct cx_config *cfg,
		  uint16_t *port, struct cx_error *err);
/* Wait up to grace_ms for in-flight requests (new ones are still accepted meanwhile: see
 * http.c for why there is no MHD_quiesce_daemon), then close everything. */
void cx_http_stop(struct cx_http *h, unsigned grace_ms);
/* 1 when at most one client connection is open: a request committing on its own thread
 * (writer.h's leader) then keeps no other connection waiting behind it. */
int cx_http_alone(void);

#endif
