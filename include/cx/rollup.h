/* rollup.h - in-memory accumulation of rollup histograms, keyed like the rollups table.
 *
 * Keys are per quarter hour (the finest rollup level); the day and month rows are derived
 * from them. The writer adds every response of a transaction here and, just before the
 * commit, writes one upsert per distinct key and level instead of one per response: a group commit of 10,000
 * responses touching 50 keys costs 50 rollup writes. Keys whose count went back to zero
 * (a job undone) are skipped. Not thread-safe: one accumulator per writer.
 */
#ifndef CX_ROLLUP_H
#define CX_ROLLUP_H

#include <stddef.h>
#include <stdint.h>

#include "cx/score.h"
#include "cx/validate.h"

struct cx_rollup_key {
	const char *survey, *stage, *touchpoint;
	const char *channel, *segment;   /* "" when absent */
	int64_t quarter;                 /* quarter hour: unix seconds / 900 */
	int64_t day;                     /* its UTC day */
};

struct cx_rollup_acc;

struct cx_rollup_acc *cx_rollup_new(void);
void cx_rollup_free(struct cx_rollup_acc *acc);
/* Add one response under its key with weight +1 (or -1 to take it back out).
 * 0, or -1 when out of memory. */
int cx_rollup_add(struct cx_rollup_acc *acc, const struct cx_response *r, int weight);
/* Call fn for every key, in no particular order; stops at the first non-zero return. */
int cx_rollup_each(struct cx_rollup_acc *acc,
		   int (*fn)(void *ctx, const struct cx_rollup_key *key, const struct cx_hist *h),
		   void *ctx);
/* Forget everything (keeps the memory for the next job). */
void cx_rollup_clear(struct cx_rollup_acc *acc);
size_t cx_rollup_count(const struct cx_rollup_acc *acc);

#endif
