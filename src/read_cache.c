/* read_cache.c - the read cache in front of cached routes; see include/cx/read_cache.h */
#include <stdio.h>
#include <string.h>

#include "cx/app.h"
#include "cx/cache.h"
#include "cx/cxtime.h"
#include "cx/read_cache.h"
#include "cx/routes.h"

static const char *const hit_headers[] = { "X-Cache", "hit", NULL };
static const char *const miss_headers[] = { "X-Cache", "miss", NULL };

struct key_buf {
	char *s;
	size_t n, cap;
	int overflow;
};

/* Append s length-prefixed ("5:hello"), so no value can pass for another's boundary. */
static void add(struct key_buf *b, const char *s)
{
	size_t len = strlen(s), n = len, i = 0;
	char digits[24];

	do {
		digits[i++] = (char)('0' + n % 10);
		n /= 10;
	} while (n);
	if (b->overflow || b->n + i + 1 + len + 1 > b->cap) {
		b->overflow = 1;
		return;
	}
	while (i)
		b->s[b->n++] = digits[--i];
	b->s[b->n++] = ':';
	memcpy(b->s + b->n, s, len);
	b->n += len;
	b->s[b->n] = '\0';
}

static int add_param(void *ctx, const char *name, const char *value)
{
	struct key_buf *b = ctx;

	/* `?from` (absent to the handler: the default) and `?from=` (empty: refused) both
	 * arrive here as "": such a request is not cached rather than given the other's answer */
	if (!*value) {
		b->overflow = 1;
		return 1;
	}
	add(b, name);
	add(b, value);
	return b->overflow;
}

int cx_read_cache_serve(struct cx_req *req, struct cx_read_cache_ask *ask)
{
	struct key_buf b = { ask->key, 0, sizeof(ask->key), 0 };
	char head[96];
	unsigned status;
	char *body;
	size_t len;

	ask->on = 0;
	if (!req->app->cache)
		return 0;
	snprintf(head, sizeof(head), "%d|%s|%lld|", cx_routes_index(req->route), req->key.id,
		 (long long)(cx_time_now() / 60));
	add(&b, head);
	add(&b, req->path);
	if (b.overflow || cx_req_query_each(req, add_param, &b) || b.overflow)
		return 0;
	/* the version is read before the handler's query starts: see cx_store_data_version */
	ask->version = cx_store_data_version(req->app->store);
	ask->on = 1;
	if (!cx_cache_get(req->app->cache, ask->key, ask->version, &status, &body, &len))
		return 0;
	cx_reply_bytes_take(req, status, "application/json", body, len);
	req->reply.headers = hit_headers;
	return 1;
}

void cx_read_cache_keep(struct cx_req *req, const struct cx_read_cache_ask *ask)
{
	const struct cx_reply *r = &req->reply;

	if (!ask->on || r->status != 200 || !r->body || r->headers || r->location ||
	    !r->content_type || strcmp(r->content_type, "application/json") != 0)
		return;
	cx_cache_put(req->app->cache, ask->key, ask->version, r->status, r->body, r->len);
	req->reply.headers = miss_headers;
}
