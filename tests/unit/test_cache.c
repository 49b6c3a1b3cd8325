/* Unit tests for cache.c: hits only at the version an answer was kept at, a newer version
 * drops every older answer, an older put never replaces newer data, the byte bound holds
 * (least recently used goes first), and concurrent use from several threads. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/cache.h"
#include "check_main.h"

static int get(struct cx_cache *c, const char *key, uint64_t v, char *out, size_t cap)
{
	unsigned status = 0;
	char *body = NULL;
	size_t len = 0;
	int hit = cx_cache_get(c, key, v, &status, &body, &len);

	if (hit) {
		ck_assert_uint_eq(status, 200);
		ck_assert_uint_eq(strlen(body), len);
		snprintf(out, cap, "%s", body);
		free(body);
	} else {
		ck_assert_ptr_null(body);
	}
	return hit;
}

START_TEST(hit_at_same_version_only)
{
	struct cx_cache *c = cx_cache_new(1 << 20);
	char buf[64];
	struct cx_cache_stats st;

	ck_assert_int_eq(get(c, "a", 1, buf, sizeof(buf)), 0);
	cx_cache_put(c, "a", 1, 200, "{\"n\":1}", 7);
	ck_assert_int_eq(get(c, "a", 1, buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "{\"n\":1}");
	ck_assert_int_eq(get(c, "b", 1, buf, sizeof(buf)), 0);
	ck_assert_int_eq(get(c, "a", 2, buf, sizeof(buf)), 0);   /* a commit since */
	cx_cache_stats(c, &st);
	ck_assert_uint_eq(st.hits, 1);
	ck_assert_uint_eq(st.misses, 3);
	ck_assert_uint_eq(st.entries, 1);
	cx_cache_free(c);
}
END_TEST

START_TEST(newer_version_drops_older)
{
	struct cx_cache *c = cx_cache_new(1 << 20);
	char buf[64];
	struct cx_cache_stats st;

	cx_cache_put(c, "a", 1, 200, "one", 3);
	cx_cache_put(c, "b", 1, 200, "bee", 3);
	cx_cache_put(c, "a", 2, 200, "two", 3);
	cx_cache_stats(c, &st);
	ck_assert_uint_eq(st.entries, 1);   /* b (version 1) went with the new version */
	ck_assert_int_eq(get(c, "a", 2, buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "two");
	/* a reader that started before commit 2 finishes late: its answer is not kept */
	cx_cache_put(c, "b", 1, 200, "old", 3);
	ck_assert_int_eq(get(c, "b", 1, buf, sizeof(buf)), 0);
	ck_assert_int_eq(get(c, "b", 2, buf, sizeof(buf)), 0);
	/* the same key again at the same version: the newer copy */
	cx_cache_put(c, "a", 2, 200, "2bis", 4);
	ck_assert_int_eq(get(c, "a", 2, buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "2bis");
	cx_cache_stats(c, &st);
	ck_assert_uint_eq(st.entries, 1);
	cx_cache_free(c);
}
END_TEST

START_TEST(bounded_lru)
{
	size_t max = 16384;
	struct cx_cache *c = cx_cache_new(max);
	char key[32], body[1000], buf[8];
	struct cx_cache_stats st;

	memset(body, 'x', sizeof(body));
	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		cx_cache_put(c, key, 7, 200, body, sizeof(body));
		if (i == 3)   /* touch k0: the least recently used is k1 now */
			ck_assert_int_eq(get(c, "k0", 7, buf, 1), 1);
		cx_cache_stats(c, &st);
		ck_assert_uint_le(st.bytes, max);
	}
	cx_cache_stats(c, &st);
	ck_assert_uint_gt(st.entries, 5);
	ck_assert_uint_lt(st.entries, 17);
	ck_assert_int_eq(get(c, "k199", 7, buf, 1), 1);   /* the newest stays */
	ck_assert_int_eq(get(c, "k1", 7, buf, 1), 0);
	/* larger than an eighth of the cache: never kept */
	{
		char *big = calloc(1, max / 8 + 1);

		memset(big, 'y', max / 8);
		cx_cache_put(c, "big", 7, 200, big, max / 8);
		ck_assert_int_eq(get(c, "big", 7, buf, 1), 0);
		free(big);
	}
	cx_cache_free(c);
}
END_TEST

START_TEST(off_is_null)
{
	char buf[8];

	ck_assert_ptr_null(cx_cache_new(0));
	cx_cache_put(NULL, "a", 1, 200, "x", 1);
	ck_assert_int_eq(get(NULL, "a", 1, buf, sizeof(buf)), 0);
	cx_cache_free(NULL);
}
END_TEST

struct worker {
	struct cx_cache *c;
	int id;
};

static void *hammer(void *arg)
{
	struct worker *w = arg;
	char key[32], body[64], *got;
	unsigned status;
	size_t len;

	for (int i = 0; i < 20000; i++) {
		uint64_t v = (uint64_t)(i / 1000);   /* versions move on while others read */

		snprintf(key, sizeof(key), "q%d", i % 37);
		snprintf(body, sizeof(body), "v%llu-%s", (unsigned long long)v, key);
		if (cx_cache_get(w->c, key, v, &status, &got, &len)) {
			ck_assert_str_eq(got, body);   /* never another version's or key's */
			free(got);
		} else {
			cx_cache_put(w->c, key, v, 200, body, strlen(body));
		}
	}
	return NULL;
}

START_TEST(threads)
{
	struct cx_cache *c = cx_cache_new(4096);
	pthread_t t[4];
	struct worker w[4];
	struct cx_cache_stats st;

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ c, i };
		pthread_create(&t[i], NULL, hammer, &w[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	cx_cache_stats(c, &st);
	ck_assert_uint_le(st.bytes, 4096);
	ck_assert_uint_gt(st.hits, 0);
	cx_cache_free(c);
}
END_TEST

CX_CHECK_MAIN("cache", NULL, NULL, hit_at_same_version_only, newer_version_drops_older,
	      bounded_lru, off_is_null, threads)
