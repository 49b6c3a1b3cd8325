/* read_cache.h - the read cache (cache.h) in front of the routes that ask for it.
 *
 * A route marked cached in the table (routes.c) is answered from the cache when the same
 * key asked the same question (path and query parameters) in the same minute and nothing
 * was committed since; otherwise its handler runs and a 200 JSON answer is kept. The
 * caller's key is part of the question: what a key may see is decided by the handler, so
 * one key's answer is never served to another. The minute is part of it because "today"
 * and the default ranges move with the clock. Answers carry `X-Cache: hit` or `miss`.
 */
#ifndef CX_READ_CACHE_H
#define CX_READ_CACHE_H

#include <stdint.h>

#include "cx/http.h"

#define CX_READ_CACHE_KEY_MAX 2048

struct cx_read_cache_ask {
	char key[CX_READ_CACHE_KEY_MAX];
	uint64_t version;
	int on;   /* 0: not cached (no cache, key too long, a parameter without a value) */
};

/* 1 if req was answered from the cache (its reply is set); else fills ask for keep(). */
int cx_read_cache_serve(struct cx_req *req, struct cx_read_cache_ask *ask);
/* After the handler answered: keep a 200 JSON reply with no extra headers. */
void cx_read_cache_keep(struct cx_req *req, const struct cx_read_cache_ask *ask);

#endif
