/* cache.c - answers kept until the data changes; see include/cx/cache.h
 *
 * Chained hash table (FNV-1a) with a least-recently-used list through every entry. All
 * entries belong to one data version: a put at a newer version empties the table first,
 * so a stale answer is never found and its memory goes back at once.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cx/cache.h"

#define NBUCKETS 1024u   /* a power of two */

struct entry {
	struct entry *chain;         /* next in the bucket */
	struct entry *prev, *next;   /* LRU list, most recent first */
	uint64_t hash;
	unsigned status;
	size_t len, size;            /* body length; bytes charged to the cache */
	char *body;
	char key[];
};

struct cx_cache {
	pthread_mutex_t mu;
	struct entry *buckets[NBUCKETS];
	struct entry *lru_head, *lru_tail;
	uint64_t version;            /* every entry's */
	size_t bytes, max_bytes, entries;
	uint64_t hits, misses;
};

static uint64_t hash_of(const char *s)
{
	uint64_t h = 14695981039346656037ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

struct cx_cache *cx_cache_new(size_t max_bytes)
{
	struct cx_cache *c;

	if (max_bytes == 0 || !(c = calloc(1, sizeof(*c))))
		return NULL;
	pthread_mutex_init(&c->mu, NULL);
	c->max_bytes = max_bytes;
	return c;
}

static void lru_unlink(struct cx_cache *c, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->lru_head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->lru_tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push(struct cx_cache *c, struct entry *e)
{
	e->prev = NULL;
	e->next = c->lru_head;
	if (c->lru_head)
		c->lru_head->prev = e;
	c->lru_head = e;
	if (!c->lru_tail)
		c->lru_tail = e;
}

static struct entry **slot_of(struct cx_cache *c, const char *key, uint64_t h)
{
	struct entry **p = &c->buckets[h & (NBUCKETS - 1)];

	while (*p && ((*p)->hash != h || strcmp((*p)->key, key) != 0))
		p = &(*p)->chain;
	return p;
}

static void drop(struct cx_cache *c, struct entry **slot)
{
	struct entry *e = *slot;

	*slot = e->chain;
	lru_unlink(c, e);
	c->bytes -= e->size;
	c->entries--;
	free(e->body);
	free(e);
}

static void drop_all(struct cx_cache *c)
{
	for (unsigned i = 0; i < NBUCKETS; i++)
		while (c->buckets[i])
			drop(c, &c->buckets[i]);
}

void cx_cache_free(struct cx_cache *c)
{
	if (!c)
		return;
	drop_all(c);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

int cx_cache_get(struct cx_cache *c, const char *key, uint64_t version, unsigned *status,
		 char **body, size_t *len)
{
	uint64_t h;
	struct entry *e;
	char *copy = NULL;

	if (!c)
		return 0;
	h = hash_of(key);
	pthread_mutex_lock(&c->mu);
	e = c->version == version ? *slot_of(c, key, h) : NULL;
	if (e && (copy = malloc(e->len + 1))) {
		memcpy(copy, e->body, e->len + 1);
		*status = e->status;
		*len = e->len;
		lru_unlink(c, e);
		lru_push(c, e);
		c->hits++;
	} else {
		c->misses++;
	}
	pthread_mutex_unlock(&c->mu);
	*body = copy;
	return copy != NULL;
}

void cx_cache_put(struct cx_cache *c, const char *key, uint64_t version, unsigned status,
		  const char *body, size_t len)
{
	size_t klen, size;
	uint64_t h;
	struct entry *e, **slot;

	if (!c)
		return;
	klen = strlen(key);
	size = sizeof(*e) + klen + 1 + len + 1;
	if (size > c->max_bytes / 8 || !(e = malloc(sizeof(*e) + klen + 1)))
		return;
	if (!(e->body = malloc(len + 1))) {
		free(e);
		return;
	}
	memcpy(e->key, key, klen + 1);
	memcpy(e->body, body, len);
	e->body[len] = '\0';
	e->len = len;
	e->size = size;
	e->status = status;
	e->hash = h = hash_of(key);
	e->prev = e->next = e->chain = NULL;

	pthread_mutex_lock(&c->mu);
	if (version < c->version) {   /* computed before a commit this cache has seen */
		pthread_mutex_unlock(&c->mu);
		free(e->body);
		free(e);
		return;
	}
	if (version > c->version) {
		drop_all(c);
		c->version = version;
	}
	slot = slot_of(c, key, h);
	if (*slot)   /* two readers missed at once: keep the newer copy */
		drop(c, slot);
	while (c->bytes + size > c->max_bytes && c->lru_tail) {
		struct entry *old = c->lru_tail;

		drop(c, slot_of(c, old->key, old->hash));
	}
	slot = slot_of(c, key, h);   /* the chain may have changed */
	*slot = e;
	lru_push(c, e);
	c->bytes += size;
	c->entries++;
	pthread_mutex_unlock(&c->mu);
}

void cx_cache_stats(struct cx_cache *c, struct cx_cache_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	out->hits = c->hits;
	out->misses = c->misses;
	out->entries = c->entries;
	out->bytes = c->bytes;
	out->max_bytes = c->max_bytes;
	pthread_mutex_unlock(&c->mu);
}
