/* store_rollups.h - the all-time rollup level (table rollups_total, schema 015), for the
 * store's own files only (like store_map.h: nothing outside src/store*.c includes this).
 *
 * rollups_total holds one row per (survey, stage, touchpoint, channel, segment) with the
 * same histogram as the quarter-hour, daily and monthly levels, written by the writer in
 * the same transaction as them (one upsert per key per commit, rows an erasure empties
 * deleted), so it always equals the sum of the monthly rows and `cxd check` verifies it
 * against the responses like the other levels.
 */
#ifndef CX_STORE_ROLLUPS_H
#define CX_STORE_ROLLUPS_H

#include <sqlite3.h>

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

/* The FROM and WHERE of a scores read from rollups_total: ?1 the survey, then `filters`
 * (the filter clauses on ?8-?11, each starting with " AND"). Written into buf (len
 * bytes); returns what snprintf returns. */
int cx_rollups_total_from(char *buf, size_t len, const char *filters);

#endif
