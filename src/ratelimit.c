/* ratelimit.c - see include/cx/ratelimit.h. A chained hash table under one mutex. */
#include <arpa/inet.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cx/ratelimit.h"

#define SLOTS 4096

struct bucket {
	struct bucket *next;
	double tokens, last;
	char who[];
};

struct cx_ratelimit {
	double rate, burst;
	size_t max_keys, nkeys;
	pthread_mutex_t mu;
	struct bucket *slots[SLOTS];
};

static unsigned slot_of(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % SLOTS;
}

struct cx_ratelimit *cx_ratelimit_new(double rate, double burst, size_t max_keys)
{
	struct cx_ratelimit *rl = calloc(1, sizeof(*rl));

	if (!rl)
		return NULL;
	rl->rate = rate;
	rl->burst = burst < 1 ? 1 : burst;
	rl->max_keys = max_keys;
	pthread_mutex_init(&rl->mu, NULL);
	return rl;
}

void cx_ratelimit_free(struct cx_ratelimit *rl)
{
	if (!rl)
		return;
	for (size_t i = 0; i < SLOTS; i++)
		while (rl->slots[i]) {
			struct bucket *b = rl->slots[i];

			rl->slots[i] = b->next;
			free(b);
		}
	pthread_mutex_destroy(&rl->mu);
	free(rl);
}

static double refill(const struct cx_ratelimit *rl, const struct bucket *b, double now)
{
	return fmin(rl->burst, b->tokens + (now - b->last) * rl->rate);
}

/* Drop every bucket that is full again (its owner has been idle long enough). */
static void sweep(struct cx_ratelimit *rl, double now)
{
	for (size_t i = 0; i < SLOTS; i++)
		for (struct bucket **p = &rl->slots[i]; *p;) {
			if (refill(rl, *p, now) >= rl->burst) {
				struct bucket *dead = *p;

				*p = dead->next;
				free(dead);
				rl->nkeys--;
			} else {
				p = &(*p)->next;
			}
		}
}

unsigned cx_ratelimit_take(struct cx_ratelimit *rl, const char *who, double now)
{
	struct bucket *b;
	unsigned slot, wait = 0;

	if (!rl || rl->rate <= 0)
		return 0;
	slot = slot_of(who);
	pthread_mutex_lock(&rl->mu);
	for (b = rl->slots[slot]; b && strcmp(b->who, who) != 0; b = b->next)
		;
	if (!b) {
		if (rl->nkeys >= rl->max_keys)
			sweep(rl, now);
		if (rl->nkeys >= rl->max_keys || !(b = malloc(sizeof(*b) + strlen(who) + 1)))
			goto out;   /* untracked: let it through */
		strcpy(b->who, who);
		b->tokens = rl->burst;
		b->last = now;
		b->next = rl->slots[slot];
		rl->slots[slot] = b;
		rl->nkeys++;
	}
	b->tokens = refill(rl, b, now);
	b->last = now;
	if (b->tokens >= 1.0)
		b->tokens -= 1.0;
	else
		wait = (unsigned)ceil((1.0 - b->tokens) / rl->rate);
out:
	pthread_mutex_unlock(&rl->mu);
	return wait;
}

void cx_ratelimit_address_key(const char *client, char *out, size_t len)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];

	if (inet_pton(AF_INET6, client, a) != 1) {
		snprintf(out, len, "%s", client);
		return;
	}
	if (memcmp(a, mapped, sizeof(mapped)) == 0) {
		inet_ntop(AF_INET, a + 12, text, sizeof(text));
		snprintf(out, len, "%s", text);
		return;
	}
	memset(a + 8, 0, 8);
	inet_ntop(AF_INET6, a, text, sizeof(text));
	snprintf(out, len, "%s/64", text);
}
