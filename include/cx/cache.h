/* cache.h - answers to repeated read queries, kept until the data changes.
 *
 * A dashboard asks the same few questions (scores by stage, the journey, the funnel) again
 * and again. The cache keeps each answer under its query and the data version it was
 * computed at (cx_store_data_version, which every commit moves on), so the same question
 * asked again with no commit in between costs a hash look-up and a copy, not a query. An
 * answer computed at an older version is never served: after a 201 the next read misses
 * and sees the write. Memory is bounded (max_bytes over keys and bodies); a body larger
 * than an eighth of it is not kept. Thread-safe (one mutex, held for a look-up or copy).
 */
#ifndef CX_CACHE_H
#define CX_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct cx_cache;

struct cx_cache_stats {
	uint64_t hits, misses;
	size_t entries, bytes, max_bytes;
};

/* NULL when max_bytes is 0 (no cache: every call below accepts NULL and does nothing). */
struct cx_cache *cx_cache_new(size_t max_bytes);
void cx_cache_free(struct cx_cache *c);
/* 1 and a malloc'd copy of the body (*body, *len, *status) if key is held at `version`,
 * else 0 (counted as a miss). */
int cx_cache_get(struct cx_cache *c, const char *key, uint64_t version, unsigned *status,
		 char **body, size_t *len);
/* Keep a copy of the answer to key computed at `version`. An answer older than what the
 * cache has seen is dropped; a newer version first drops every older answer. */
void cx_cache_put(struct cx_cache *c, const char *key, uint64_t version, unsigned status,
		  const char *body, size_t len);
void cx_cache_stats(struct cx_cache *c, struct cx_cache_stats *out);

#endif
