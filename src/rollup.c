/* rollup.c - see include/cx/rollup.h. An open-addressing hash table of keys to
 * histograms; keys are copied into one string per entry. */
#include <stdlib.h>
#include <string.h>

#include "cx/cxtime.h"
#include "cx/rollup.h"

struct entry {
	char *blob;              /* survey\0stage\0touchpoint\0channel\0segment\0 */
	size_t blob_len;
	int64_t quarter;         /* unix seconds / 900 */
	uint64_t hash;
	struct cx_hist hist;
};

struct cx_rollup_acc {
	struct entry *slots;
	size_t cap, used;        /* cap is a power of two */
};

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 1099511628211ull;
	}
	return h;
}

struct cx_rollup_acc *cx_rollup_new(void)
{
	struct cx_rollup_acc *acc = calloc(1, sizeof(*acc));

	if (acc && !(acc->slots = calloc(64, sizeof(*acc->slots)))) {
		free(acc);
		return NULL;
	}
	if (acc)
		acc->cap = 64;
	return acc;
}

void cx_rollup_clear(struct cx_rollup_acc *acc)
{
	for (size_t i = 0; i < acc->cap; i++) {
		free(acc->slots[i].blob);
		acc->slots[i].blob = NULL;
	}
	acc->used = 0;
}

void cx_rollup_free(struct cx_rollup_acc *acc)
{
	if (!acc)
		return;
	cx_rollup_clear(acc);
	free(acc->slots);
	free(acc);
}

size_t cx_rollup_count(const struct cx_rollup_acc *acc)
{
	return acc->used;
}

static struct entry *find(struct entry *slots, size_t cap, uint64_t hash, const char *blob,
			  size_t len, int64_t quarter)
{
	size_t i = (size_t)hash & (cap - 1);

	while (slots[i].blob) {
		struct entry *e = &slots[i];

		if (e->hash == hash && e->quarter == quarter && e->blob_len == len &&
		    memcmp(e->blob, blob, len) == 0)
			return e;
		i = (i + 1) & (cap - 1);
	}
	return &slots[i];   /* the empty slot where it belongs */
}

static int grow(struct cx_rollup_acc *acc)
{
	size_t cap = acc->cap * 2;
	struct entry *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -1;
	for (size_t i = 0; i < acc->cap; i++)
		if (acc->slots[i].blob)
			*find(slots, cap, acc->slots[i].hash, acc->slots[i].blob,
			      acc->slots[i].blob_len, acc->slots[i].quarter) = acc->slots[i];
	free(acc->slots);
	acc->slots = slots;
	acc->cap = cap;
	return 0;
}

int cx_rollup_add(struct cx_rollup_acc *acc, const struct cx_response *r, int weight)
{
	const char *parts[5] = { r->survey, r->stage, r->touchpoint,
				 r->channel ? r->channel : "", r->segment ? r->segment : "" };
	size_t lens[5], len = 0;
	char buf[512], *blob = buf;
	int64_t quarter = r->submitted_at / 900 - (r->submitted_at % 900 < 0);
	struct entry *e;
	uint64_t hash;

	for (int i = 0; i < 5; i++)
		len += (lens[i] = strlen(parts[i])) + 1;
	if (len > sizeof(buf) && !(blob = malloc(len)))
		return -1;
	for (size_t i = 0, off = 0; i < 5; off += lens[i++] + 1)
		memcpy(blob + off, parts[i], lens[i] + 1);
	hash = fnv1a(fnv1a(14695981039346656037ull, blob, len), &quarter, sizeof(quarter));
	if ((acc->used + 1) * 4 > acc->cap * 3 && grow(acc))
		goto oom;
	e = find(acc->slots, acc->cap, hash, blob, len, quarter);
	if (!e->blob) {
		memset(e, 0, sizeof(*e));
		if (!(e->blob = malloc(len)))
			goto oom;
		memcpy(e->blob, blob, len);
		e->blob_len = len;
		e->quarter = quarter;
		e->hash = hash;
		acc->used++;
	}
	e->hist.responses += weight;
	if (r->nps >= 0)
		e->hist.nps[r->nps] += weight;
	if (r->csat >= 1)
		e->hist.csat[r->csat - 1] += weight;
	if (r->ces >= 1)
		e->hist.ces[r->ces - 1] += weight;
	if (blob != buf)
		free(blob);
	return 0;
oom:
	if (blob != buf)
		free(blob);
	return -1;
}

static const struct cx_hist zero_hist;

int cx_rollup_each(struct cx_rollup_acc *acc,
		   int (*fn)(void *ctx, const struct cx_rollup_key *key, const struct cx_hist *h),
		   void *ctx)
{
	for (size_t i = 0; i < acc->cap; i++) {
		struct entry *e = &acc->slots[i];
		struct cx_rollup_key k;
		const char *p;
		int rc;

		/* (a changed answer moves counts between scores with responses at 0) */
		if (!e->blob || memcmp(&e->hist, &zero_hist, sizeof(zero_hist)) == 0)
			continue;
		p = e->blob;
		k.survey = p;
		k.stage = (p += strlen(p) + 1);
		k.touchpoint = (p += strlen(p) + 1);
		k.channel = (p += strlen(p) + 1);
		k.segment = p + strlen(p) + 1;
		k.quarter = e->quarter;
		k.day = cx_time_day_of(e->quarter * 900);
		if ((rc = fn(ctx, &k, &e->hist)))
			return rc;
	}
	return 0;
}
