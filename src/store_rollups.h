/* store_rollups.h - the all-time rollup level (table rollups_total, schema 015) and the
 * deferred counting of responses (rollup_mark, schema 019), for the store's own files
 * only (like store_map.h: nothing outside src/store*.c includes this).
 *
 * rollups_total holds one row per (survey, stage, touchpoint, channel, segment) with the
 * same histogram as the quarter-hour, daily and monthly levels, written by the writer in
 * the same transaction as them (one upsert per key per commit, rows an erasure empties
 * deleted), so it always equals the sum of the monthly rows and `cxd check` verifies it
 * against the responses like the other levels.
 */
#ifndef CX_STORE_ROLLUPS_H
#define CX_STORE_ROLLUPS_H

#include <stdint.h>
#include <sqlite3.h>

#include "cx/error.h"

#include "cx/rollup.h"
#include "cx/store.h"

/* The upsert of one key's counts into rollups_total (new string, the caller frees it; NULL
 * when out of memory). Its parameters are numbered like store.c's other rollup upserts so
 * one binding serves all four: ?1 survey, ?3-?6 stage, touchpoint, channel, segment, ?7
 * responses, ?8-?30 the 23 histogram cells; ?2 (their period) is not used. */
char *cx_rollups_total_upsert_sql(void);

/* Writer, inside its transaction: delete k's row if an erasure took it to zero responses
 * (so the groups always match the rows). 0, or -1 with the error on db. */
int cx_rollups_total_drop_empty(sqlite3 *db, const struct cx_rollup_key *k);

/* Whether q can be answered from rollups_total: all time (no from, no to), no bucket,
 * UTC days. */
int cx_rollups_total_serves(const struct cx_scores_query *q);

/* --- deferred counts (schema 019): the rollups count the responses up to a mark --- */

/* What the rollups do not count yet, kept by store.c for the writer family: `upto` is
 * rollup_mark.upto as last committed (every response with an id at or under it is
 * counted, none above), `pending` the responses appended above it since the last
 * catch-up (a hint for when to run one; the mark is the truth). */
struct cx_rollup_lag {
	int64_t upto;
	int64_t pending;
	int counting;   /* the writer's connection is committing a catch-up (store.c's WAL
			   hook leaves the data version alone: no answer changes) */
};
struct cx_rollup_lag *cx_store_rollup_lag(struct cx_store *st);

/* Writer family, inside the open transaction: count r in the transaction's rollups with
 * delta +1 or -1 (written at commit, like an erasure's); 0, or -1 when out of memory. The
 * caller decides whether the mark covers r: an amendment moves a counted response's
 * counts (-1 for the old values, +1 for the new), the catch-up counts the rows above the
 * mark (src/store.c). */
int cx_store_rollup_count(struct cx_store *st, const struct cx_response *r, int delta);

/* At open, after the migrations and the writer's statements: read the mark and, when
 * `count` (the server; never a command beside it, whose mark would go stale in the
 * server), count whatever a crash left above it (when that fails, on a full disk, it
 * logs why and leaves them to the writer thread). 0, or -1 with a 503 in err when the
 * mark cannot be read. */
int cx_rollups_open(struct cx_store *st, int count, struct cx_error *err);

/* Read rollup_mark.upto into the lag (inside a writer transaction, so it stays true for
 * the rest of it): another process may have moved it. 0, or -1 (SQLite's error on the
 * writer's connection). */
int cx_rollups_read_mark(struct cx_store *st);

/* A scores read's last UNION ALL arm: the responses above the mark, one rollup-shaped row
 * each (`d` the SQL of its day, then stage, touchpoint, channel, segment, responses and
 * the 23 histogram cells, as the rollup tables' columns), for survey ?1 and `filters`;
 * with `ranged`, only those submitted in [?13, ?14) seconds. Found through the rowid (the
 * ids above the mark), never an index of all the survey's rows. Written into buf (len
 * bytes); returns what snprintf returns. */
int cx_rollups_pending_select(char *buf, size_t len, const char *d, int ranged,
			      const char *filters);

#endif
