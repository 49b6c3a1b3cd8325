/* store_loop.h - closing the loop (issue 12), for the store's own files only (like
 * store_map.h: nothing outside src/store*.c includes this). The public side is in
 * include/cx/store.h ("outbox", "webhook endpoints and deliveries", "rules", "follow-up
 * cases", "alerts" blocks).
 *
 * Each part keeps its state in a struct of its own, hung on struct cx_store: opened by
 * cx_store_open after the migrations (outbox first: the others queue events through it),
 * closed by cx_store_close before the store's connections. Each file owns its struct.
 */
#ifndef CX_STORE_LOOP_H
#define CX_STORE_LOOP_H

#include <stdint.h>
#include <sqlite3.h>

#include "cx/error.h"
#include "cx/store.h"

/* --- what the parts may reach of the store (src/store.c) --- */
/* The writer thread's connection: only for the writer family, inside its transaction. */
sqlite3 *cx_store_wdb(struct cx_store *st);
/* A new connection to st's file with the store's settings (busy timeout, synchronous=FULL,
 * foreign_keys, secure_delete); NULL with a 503 in err. The caller closes it. A writing
 * one is woken for the write lock (src/store_busy.c). */
sqlite3 *cx_store_connect(struct cx_store *st, int readonly, struct cx_error *err);
/* The same, writing, for a background worker that commits often (webhook records, the
 * mail queue): it waits for the write lock in SQLite's own sleeps (1, 2, 5 ms ...) and so
 * takes the gaps; woken at every group commit, the webhook deliverer took the lock from
 * the responses' writer after each one (ingest with the loop: 5.5k -> 3.1k/s at c32). */
sqlite3 *cx_store_connect_worker(struct cx_store *st, struct cx_error *err);
/* The statement for `sql` on db. `sql` must be a string literal (or other storage that
 * lives as long as the store): its address names the statement. On the writer's
 * connection the statement is prepared once and kept by the store (*owned = 0); on any
 * other connection it is prepared for this use (*owned = 1). NULL when it cannot be
 * prepared. Hand it back with cx_store_stmt_done() (reset and unbound, or finalized). */
sqlite3_stmt *cx_store_stmt(struct cx_store *st, sqlite3 *db, const char *sql, int *owned);
void cx_store_stmt_done(sqlite3_stmt *q, int owned);
/* A 503 `storage_unavailable` naming `what` and the cause (returns -1). */
int cx_store_db_fail(struct cx_store *st, sqlite3 *db, struct cx_error *err,
		     const char *what);

/* --- the parts --- */
struct cx_outbox;      /* src/store_outbox.c */
struct cx_rulestore;   /* src/store_rules.c */
struct cx_casestore;   /* src/store_cases.c */
int cx_outbox_open(struct cx_store *st, struct cx_outbox **out, struct cx_error *err);
void cx_outbox_close(struct cx_outbox *ob);
int cx_rulestore_open(struct cx_store *st, struct cx_rulestore **out, struct cx_error *err);
void cx_rulestore_close(struct cx_rulestore *rs);
int cx_casestore_open(struct cx_store *st, struct cx_casestore **out, struct cx_error *err);
void cx_casestore_close(struct cx_casestore *cs);
struct cx_outbox *cx_store_outbox(struct cx_store *st);
struct cx_rulestore *cx_store_rulestore(struct cx_store *st);
struct cx_casestore *cx_store_casestore(struct cx_store *st);

/* Queue ev on connection db, inside db's open transaction (any connection: the writer's,
 * or the one of the code changing a case or recording an alert), so the deliveries
 * commit or vanish with what caused them. See cx_store_emit() for the rest. */
int cx_outbox_insert(struct cx_store *st, sqlite3 *db, const struct cx_event *ev,
		     const char *endpoint, int *queued, struct cx_error *err);

/* Erasure, on the writer's connection inside the erasure's transaction: delete every
 * delivery (and its attempts) and every case (and its history) of customer; take the
 * comment out of the payloads of response_id's deliveries. */
int cx_outbox_erase_customer(struct cx_store *st, const char *customer, struct cx_error *err);
int cx_outbox_redact_response(struct cx_store *st, int64_t response_id, struct cx_error *err);
int cx_casestore_erase_customer(struct cx_store *st, const char *customer,
				struct cx_error *err);

/* A survey's root_causes (schema 011), read into s / written from s on db, inside the
 * caller's transaction: cx_store_survey_put and the survey cache call them beside the
 * journey map's load and save (src/store_cases.c). */
int cx_casestore_root_causes_load(sqlite3 *db, struct cx_survey *s, struct cx_error *err);
int cx_casestore_root_causes_save(sqlite3 *db, const struct cx_survey *s,
				  struct cx_error *err);

#endif
