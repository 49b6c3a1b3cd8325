/* store.h - everything cxd keeps, behind one interface.
 *
 * The SQLite implementation (src/store.c, API keys in src/store_keys.c) is the only code
 * that includes sqlite3.h and it owns every SQL statement. Promises:
 *  - Durability: cx_store_commit() returns 0 only after the transaction is on disk
 *    (WAL, synchronous=FULL). Nothing is acknowledged before that.
 *  - One writer: the append/commit calls are for the single writer thread (writer.h).
 *    Survey definitions use their own connection and wait on SQLite's lock.
 *  - Readers never block the writer: score reads take a connection from a pool of
 *    read-only connections (WAL snapshot reads).
 *  - Every call is thread-safe except the writer-thread family, which must be called from
 *    one thread at a time.
 * A second implementation (PostgreSQL) is meant to sit behind this same header.
 */
#ifndef CX_STORE_H
#define CX_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "cx/auth.h"
#include "cx/error.h"
#include "cx/fatigue.h"
#include "cx/link.h"
#include "cx/survey.h"
#include "cx/validate.h"
#include "cx/score.h"

struct cx_store;

/* Migrations compiled in from schema/NNN_name.sql (see tools/embed_schema.py). */
struct cx_migration {
	int version;
	const char *name;
	const char *sql;
};
extern const struct cx_migration cx_migrations[];
extern const size_t cx_migrations_count;

/* Open or create the database at path and apply pending migrations (each in its own
 * transaction, recorded in schema_migrations). `readers` read connections are opened.
 * On failure returns -1 with a message naming the path in err. */
int cx_store_open(struct cx_store **out, const char *path, unsigned readers,
		  struct cx_error *err);
/* The same with flags: CX_STORE_MUST_EXIST refuses a path with no file behind it (404
 * `no_database`, naming the path) instead of creating a database there. Only the server
 * creates databases; the command-line tools open them with this flag. */
#define CX_STORE_MUST_EXIST 1u
int cx_store_open_flags(struct cx_store **out, const char *path, unsigned readers,
			unsigned flags, struct cx_error *err);
/* Close every connection (checkpointing the WAL). No call may be in flight. */
void cx_store_close(struct cx_store *st);
/* Highest applied migration version. */
int cx_store_schema_version(struct cx_store *st);

/* --- surveys (cached in memory; any thread) --- */
/* Insert s, or replace it when `replace`; *created tells which happened. A plain insert
 * of an existing id fails with 409 `survey_exists`. */
int cx_store_survey_put(struct cx_store *st, const struct cx_survey *s, int replace,
			int *created, struct cx_error *err);
/* Copy survey `id` into *out (release it after); 0 if found, -1 if not. */
int cx_store_survey_get(struct cx_store *st, const char *id, struct cx_survey *out);
/* Survey `id` as cached, without a copy (the hot path: one per response), or NULL. It
 * never changes (a new definition replaces it in the cache) and stays valid until
 * cx_store_survey_unref (NULL is fine there). */
const struct cx_survey *cx_store_survey_ref(struct cx_store *st, const char *id);
void cx_store_survey_unref(const struct cx_survey *s);
/* Survey `id`'s title as a new JSON string, or NULL when there is no such survey (what
 * an event payload names a survey by: no copy of the whole definition). */
json_t *cx_store_survey_title(struct cx_store *st, const char *id);
/* 1 if some public survey lists origin among its allowed origins. */
int cx_store_origin_public(struct cx_store *st, const char *origin);
/* JSON array of every survey, ordered by id; new reference. */
json_t *cx_store_survey_list(struct cx_store *st);

/* --- journey map (src/store_map.c, part of the SQLite implementation; schema 008) ---
 * A survey's map (struct cx_survey: touchpoints, channels, segments, open_touchpoints) is
 * stored and cached with it: cx_store_survey_get returns it.
 *  - cx_store_survey_put with `replace` refuses, changing nothing, a definition that drops
 *    a stage holding responses (409 `stage_in_use`) or a declared touchpoint holding
 *    responses (409 `touchpoint_in_use`); the message names them. It replaces the declared
 *    touchpoints; learned ones stay.
 *  - cx_store_append of a response with `learn` set adds its touchpoint to the map in the
 *    same transaction ("learned"), or, when the survey already has CX_TOUCHPOINTS_MAX,
 *    fails with 422 `too_many_touchpoints` having written nothing. The cached map is
 *    re-read after the commit.
 *  - cx_store_append checks every response against the definition in the file, in its
 *    own transaction (validation read the cache, and a PUT may have committed since):
 *    a stage the survey no longer lists is 422 `invalid_stage`, a touchpoint outside the
 *    map without `learn` (or of a survey no longer open) 422 `unknown_touchpoint`. */

/* --- the writer thread's family --- */
int cx_store_begin(struct cx_store *st, struct cx_error *err);
/* A job is a group of responses that stands or falls together. With `savepoint` it can be
 * undone after some of it was written; without, it must be one response whose append
 * either fully happens or fails without writing anything. */
int cx_store_job_begin(struct cx_store *st, int savepoint, struct cx_error *err);
/* Keep or undo the job (its rows, idempotency keys and rollup counts). The responses a
 * kept job appended must stay valid until cx_store_commit() or cx_store_rollback(). */
void cx_store_job_end(struct cx_store *st, int keep);
/* Whose idempotency keys these are: the client's namespace (`name`, e.g. "key:<id>"), and
 * whether keys recorded before namespaces existed (schema 009: scope '') count as the
 * client's own too (`legacy`). A NULL scope (or name) means { "", 0 }. */
struct cx_idem_scope {
	const char *name;
	int legacy;
};
/* Insert r and count it for its rollup row; *id is the new response id. When r carries an
 * idempotency key already stored for its survey in `scope` with the same fingerprint,
 * nothing is written, *id is the original and *replayed = 1; with another fingerprint it
 * fails with 409 `idempotency_conflict` (naming no response). The same key in another
 * scope is another key. Other failures: 422 (the item is refused, the transaction goes on)
 * or 503 (the transaction is lost). */
int cx_store_append(struct cx_store *st, const struct cx_response *r,
		    const struct cx_idem_scope *scope, int64_t *id, int *replayed,
		    struct cx_error *err);
/* Delete idempotency keys recorded before before_s; the count deleted, or -1. */
int cx_store_purge_idempotency(struct cx_store *st, int64_t before_s);
/* Write the transaction's rollup counts (one upsert per key), commit; 0 once durable. On
 * failure the transaction is rolled back and err is a 503. */
int cx_store_commit(struct cx_store *st, struct cx_error *err);
void cx_store_rollback(struct cx_store *st);
/* A response's rollup counts are not written in its commit but later, for many at once
 * (schema 019): how many responses were appended since the last catch-up, and the
 * catch-up itself (transactions of its own, outside any other; no fsync of its own: the
 * counts follow from the rows). Reads are exact either way: they add the responses the
 * rollups do not count yet. 0 and *counted (when not NULL) the responses counted, or -1
 * with a 503 in err (nothing is lost: the next catch-up, or the next start, counts them). */
int64_t cx_store_rollups_pending(struct cx_store *st);
int cx_store_rollups_catch_up(struct cx_store *st, int64_t *counted, struct cx_error *err);
/* The same, in transactions of a few thousand responses, asking give_way(ctx, left) after
 * each (left: about how many of this process's responses remain uncounted): non-zero stops
 * there, with the rest left for the next catch-up (cx_store_rollups_pending() > 0). */
int cx_store_rollups_catch_up_until(struct cx_store *st, int (*give_way)(void *ctx, int64_t left),
				    void *ctx, int64_t *counted, struct cx_error *err);

/* --- scores (any thread) --- */
enum cx_dim {
	CX_DIM_STAGE = 1,
	CX_DIM_TOUCHPOINT = 2,
	CX_DIM_CHANNEL = 4,
	CX_DIM_SEGMENT = 8,
};
enum cx_bucket { CX_BUCKET_NONE = 0, CX_BUCKET_DAY, CX_BUCKET_WEEK, CX_BUCKET_MONTH };

struct cx_scores_query {
	const char *survey;
	int64_t from_day, to_day;   /* [from_day, to_day) in days since epoch */
	const char *stage, *touchpoint, *channel, *segment; /* NULL = any */
	unsigned dims;              /* enum cx_dim bits */
	enum cx_bucket bucket;
	int tz_minutes;             /* days are local to this UTC offset (a multiple of 15);
				       0 = UTC. Non-zero reads the quarter-hour rollups. */
};

/* One group of a scores answer: keys are NULL when not grouped on (or, for channel and
 * segment, when the responses had none); bucket_day is the first day of the bucket. */
struct cx_group_key {
	const char *stage, *touchpoint, *channel, *segment;
	int64_t bucket_day;
};
typedef int (*cx_group_fn)(void *ctx, const struct cx_group_key *key,
			   const struct cx_hist *h);

/* Sum the rollups over q's filter, calling fn once per group (ordered by the grouping
 * columns; a query without dims or bucket yields exactly one group). A non-zero return
 * from fn stops the walk and is returned. An all-time query (from_day INT64_MIN, to_day
 * INT64_MAX, no bucket, UTC) reads one all-time row per group, so its cost does not grow
 * with the time the data spans; any other reads the monthly rows of the whole months in
 * range and the daily rows of the rest (the quarter-hour rows with a tz). */
int cx_store_scores(struct cx_store *st, const struct cx_scores_query *q, cx_group_fn fn,
		    void *ctx, struct cx_error *err);

/* --- operations --- */
/* Recompute every rollup level from the responses and compare with what is stored.
 * Returns the number of differing rollup rows (0 = consistent) or -1; *report (new
 * reference) describes the differences per level. */
/* A number every commit to the database (by this process) moves on: equal values mean
 * no commit happened in between (the read cache, cache.h, keys answers by it). */
uint64_t cx_store_data_version(struct cx_store *st);
long cx_store_check(struct cx_store *st, json_t **report, struct cx_error *err);
/* Copy the database to dest with SQLite's online backup (readers and the writer go on
 * meanwhile); written to dest.tmp and renamed into place. */
int cx_store_backup(struct cx_store *st, const char *dest, struct cx_error *err);
/* Bytes of the database file and its WAL. */
int64_t cx_store_size(struct cx_store *st);

/* --- API keys (any thread; src/store_keys.c) ---
 * The database file is the truth: keys made or revoked on it by another process (`cxd
 * keys` while cxd serves) count too. Lookups are cached; the cache is checked against the
 * file at least every CX_STORE_KEY_RECHECK_MS. */
#define CX_STORE_KEY_RECHECK_MS 50
int cx_store_key_put(struct cx_store *st, const struct cx_key *k, struct cx_error *err);
/* Copy key `id` into *out (release it after); 0 if found, -1 if not, -2 if the store
 * cannot tell (the database cannot be read; treat as not found). Once cx_store_key_delete() of the key has returned in this process, every
 * call that starts afterwards returns -1; for a delete by another process, every call that
 * starts CX_STORE_KEY_RECHECK_MS after its commit. A key made anywhere is found at once. */
int cx_store_key_get(struct cx_store *st, const char *id, struct cx_key *out);
/* Every key, oldest first, without secrets (cx_key_json); new reference, NULL on failure. */
json_t *cx_store_key_list(struct cx_store *st);
/* 1 deleted, 0 no such key, -1 error. */
int cx_store_key_delete(struct cx_store *st, const char *id, struct cx_error *err);
/* How many keys the database holds, -1 on failure. */
int cx_store_key_count(struct cx_store *st);

/* --- export (any thread) --- */
struct cx_export_query {
	const char *survey;
	int64_t from_s, to_s;           /* submitted_at in [from_s, to_s) */
	const char *stage, *touchpoint; /* NULL = any */
	const char *channel, *segment;  /* NULL = any */
};
struct cx_export_row {
	int64_t id, submitted_at, received_ms;
	const char *stage, *touchpoint, *channel, *segment, *customer, *comment, *attributes;
	int nps, csat, ces;             /* -1 = not answered */
};
/* Up to `limit` responses with id > after_id, ascending id (a stable order that new
 * responses only extend). Each call takes a read connection for its chunk only. */
int cx_store_export(struct cx_store *st, const struct cx_export_query *q, int64_t after_id,
		    unsigned limit, int (*fn)(void *ctx, const struct cx_export_row *r), void *ctx,
		    struct cx_error *err);

/* --- erasure (the writer thread's family: inside cx_store_begin/commit) --- */
/* Delete every response of `customer` in every survey, with their idempotency keys, and
 * take them out of the rollups at commit; *count is how many. */
int cx_store_erase_customer(struct cx_store *st, const char *customer, int64_t *count,
			    struct cx_error *err);
/* Remove the comment of response id; *count is 1 if there was one, else 0. */
int cx_store_redact_comment(struct cx_store *st, int64_t id, int64_t *count,
			    struct cx_error *err);
/* Writer thread, after the commit of an erasure or redaction: checkpoint the WAL into the
 * database and truncate it to zero bytes, so that no copy of the deleted rows is left in
 * the -wal file (secure_delete, set on every connection, has zeroed them in the database
 * file). Waits up to the busy timeout for readers; 503 `erasure_pending` if they still
 * hold old frames (the deletion itself stands; repeating the request scrubs again). */
int cx_store_scrub_wal(struct cx_store *st, struct cx_error *err);

/* --- comments (any thread) --- */
struct cx_comments_query {
	const char *survey;
	int64_t from_s, to_s;          /* submitted_at in [from_s, to_s), unix seconds */
	const char *stage, *touchpoint; /* NULL = any */
	const char *channel, *segment;  /* NULL = any */
	int max_nps;                   /* -1 = any; else only answers with nps <= max_nps */
	int64_t after_time, after_id;  /* keyset cursor: older than (time, id); INT64_MAX = start */
	unsigned limit;
};
struct cx_comment {
	int64_t id, submitted_at;
	const char *stage, *touchpoint, *channel, *segment, *customer, *comment;
	int nps, csat, ces;            /* -1 = not answered */
};
/* Newest first (submitted_at, then id, descending); fn is called per comment. */
int cx_store_comments(struct cx_store *st, const struct cx_comments_query *q,
		      int (*fn)(void *ctx, const struct cx_comment *c), void *ctx,
		      struct cx_error *err);

/* --- the outbox (src/store_outbox.c; schema 010) ---
 * Every webhook delivery is a row written in the same transaction as what caused it, so a
 * 201 for a response means its deliveries are on disk too; the delivery worker
 * (deliver.h) sends them, at least once, with the same webhook-id on every attempt. */
struct cx_event {
	const char *type;        /* "response.created", "response.matched_rule", "case.opened",
				    "case.closed", "journey.score_dropped", ... */
	const char *survey;      /* endpoints' survey filter; NULL = none */
	const char *customer;    /* erasure finds deliveries by it; NULL = none */
	int64_t response_id;     /* 0 = none (redaction finds deliveries by it) */
	int64_t case_id;         /* 0 = none */
	const char *rule;        /* NULL = none */
	int64_t at_ms;           /* when it happened: the payload's `timestamp` */
	json_t *data;            /* the payload's `data` object (borrowed) */
	const char *data_text;   /* NULL, or `data` already serialized as the body carries it
				    (JSON_COMPACT | JSON_REAL_PRECISION(12)): used instead */
};
/* Writer family, inside the open transaction: queue ev for `endpoint` (an endpoint id: a
 * rule's action), or, with endpoint NULL, for every endpoint subscribed to ev->type (and
 * to ev->survey, when the endpoint lists surveys). The body is
 *   {"type": ev->type, "timestamp": RFC 3339 of ev->at_ms, "data": ev->data}
 * and each delivery gets its own webhook-id (msg_...). A paused or disabled endpoint's
 * deliveries are held (queued, not sent) until it is resumed; an unknown one gets nothing. *queued (may be NULL) is the number of deliveries written. Fails
 * only with a 503 (the transaction is lost). */
int cx_store_emit(struct cx_store *st, const struct cx_event *ev, const char *endpoint,
		  int *queued, struct cx_error *err);

/* Writer family: 1 if some endpoint would get an event of `type` for `survey` from
 * cx_store_emit(..., NULL, ...) (so the caller can skip building its data), else 0. */
int cx_store_emit_wanted(struct cx_store *st, const char *type, const char *survey);

/* --- webhook endpoints and deliveries (src/store_outbox.c; schema 010) --- */
/* Any thread; each call uses a connection of its own (admin routes are rare). Endpoints
 * and deliveries travel as JSON in the API's shapes (README, "Webhooks"). `def` is a
 * validated definition (cx_endpoint_from_json): id, url, description, events, surveys.
 * Errors: 404 `not_found`, 409 `endpoint_exists` / `endpoint_in_use`, 503. */
int cx_store_endpoint_create(struct cx_store *st, const json_t *def, const char *secret,
			     struct cx_error *err);
int cx_store_endpoint_replace(struct cx_store *st, const json_t *def, struct cx_error *err);
/* The endpoint JSON with its "health"; NULL with err (404 or 503). */
json_t *cx_store_endpoint_get(struct cx_store *st, const char *id, struct cx_error *err);
/* {"endpoints": [...]} by id; NULL with err. */
json_t *cx_store_endpoint_list(struct cx_store *st, struct cx_error *err);
/* Refused (409 `endpoint_in_use`, naming them) while a rule's webhook action names it;
 * else the endpoint goes with its deliveries. */
int cx_store_endpoint_delete(struct cx_store *st, const char *id, struct cx_error *err);
/* state "active" (also makes its pending deliveries due now) or "paused". */
int cx_store_endpoint_set_state(struct cx_store *st, const char *id, const char *state,
				const char *reason, struct cx_error *err);
/* The current secret becomes the previous one, valid until prev_until (unix s). */
int cx_store_endpoint_rotate(struct cx_store *st, const char *id, const char *secret,
			     int64_t prev_until, struct cx_error *err);
/* Every dead delivery of id pending again now, with a fresh schedule; *n how many. */
int cx_store_endpoint_retry_dead(struct cx_store *st, const char *id, int64_t *n,
				 struct cx_error *err);
/* Queue a `webhook.test` event for endpoint id (through cx_outbox_insert on a connection
 * of its own); the delivery JSON, or NULL with err (404, 409 `endpoint_disabled`). */
json_t *cx_store_endpoint_test(struct cx_store *st, const char *id, struct cx_error *err);
/* Deliveries of endpoint id, newest first, id < before (INT64_MAX: from the newest);
 * state NULL = any. {"deliveries": [...], "next": "<id>"|null}. */
json_t *cx_store_deliveries(struct cx_store *st, const char *endpoint, const char *state,
			    int64_t before, unsigned limit, struct cx_error *err);
/* One delivery with "payload" and "attempts"; NULL with err (404). */
json_t *cx_store_delivery_get(struct cx_store *st, int64_t id, struct cx_error *err);
/* Pending now with a fresh schedule; the delivery JSON, NULL with err. */
json_t *cx_store_delivery_retry(struct cx_store *st, int64_t id, struct cx_error *err);
/* For /metrics: pending deliveries, the created_at (ms) of the oldest one (0: none), and
 * endpoints by state (active, paused, disabled). -1 on failure. */
int cx_store_outbox_stats(struct cx_store *st, int64_t *pending, int64_t *oldest_ms,
			  int64_t by_state[3]);

/* The delivery worker's side (src/deliver.c; one thread): a read connection to find due
 * deliveries and a write connection to record attempts. */
struct cx_outbox_worker;
struct cx_due {
	int64_t id;
	char msg_id[32];
	char endpoint[72];
	char *url, *payload;       /* malloc'd; the callback may take them (set to NULL) */
	char secret[96], prev_secret[96];
	int64_t prev_until;        /* unix s; prev_secret signs too while it is in the future */
	int attempts, budget_from;
};
enum cx_attempt_outcome {
	CX_ATTEMPT_DELIVERED,      /* a 2xx: delivered */
	CX_ATTEMPT_RETRY,          /* pending, due again at next_at_ms */
	CX_ATTEMPT_GONE,           /* a 410: the endpoint is disabled, the delivery pending */
	CX_ATTEMPT_DEAD,           /* out of tries */
};
struct cx_attempt {
	int64_t id;                /* the delivery */
	const char *endpoint;
	int64_t at_ms, duration_ms, next_at_ms;
	int status;                /* HTTP status, 0 = no answer */
	const char *error;         /* NULL on success */
	enum cx_attempt_outcome outcome;
};
int cx_store_worker_open(struct cx_store *st, struct cx_outbox_worker **out,
			 struct cx_error *err);
void cx_store_worker_close(struct cx_outbox_worker *w);
/* The ids of the active endpoints (at most max), in id order. */
int cx_store_worker_active(struct cx_outbox_worker *w, char (*ids)[72], size_t max,
			   size_t *n, struct cx_error *err);
/* For each pending delivery of `endpoint` (if active) due at now_ms, oldest due first, at
 * most max_rows: want(ctx, id, endpoint) says whether to read it whole (0 skips it: in
 * flight already), then fn gets it; either returns -1 to stop. One endpoint at a time, on
 * an index of its own pending rows: another endpoint's backlog costs this look nothing. */
int cx_store_worker_due(struct cx_outbox_worker *w, int64_t now_ms, unsigned max_rows,
			const char *endpoint,
			int (*want)(void *ctx, int64_t id, const char *endpoint),
			int (*fn)(void *ctx, struct cx_due *d), void *ctx, struct cx_error *err);
/* Delete at most max_rows delivered or dead deliveries (with their attempts) whose last
 * change (delivered, or last attempt) is older than before_ms, oldest first, in one
 * transaction; *deleted is how many. Pending deliveries are never deleted. */
int cx_store_worker_purge(struct cx_outbox_worker *w, int64_t before_ms, unsigned max_rows,
			  int64_t *deleted, struct cx_error *err);
/* Record n finished attempts in one transaction (each gets a delivery_attempts row). */
int cx_store_worker_record(struct cx_outbox_worker *w, const struct cx_attempt *a, size_t n,
			   struct cx_error *err);

/* --- rules (src/store_rules.c; schema 010) --- */
/* A survey's rules live in the `rules` table. The store also keeps, per survey, an immutable
 * snapshot of its rules in position order, replaced whole (never changed in place) after a
 * change commits: the writer walks it for every response without reading the database,
 * and never sees a half-changed list. Changes go through a connection of their own, one at
 * a time, and wait on SQLite's lock like survey definitions. The survey's existence is the
 * caller's check. Any thread. Definitions in cx/rule.h. */
struct cx_rule;
struct cx_ruleset;
/* survey's rules in position order, or NULL when it has none; cheap (a mutex and a
 * reference count). The set stays valid and unchanged until cx_store_rules_release. */
const struct cx_ruleset *cx_store_rules_acquire(struct cx_store *st, const char *survey);
void cx_store_rules_release(struct cx_store *st, const struct cx_ruleset *rs);
/* Store r as a rule of survey: with `create`, a new rule (409 `rule_exists` if its id is
 * taken); else create or replace it (*created, may be NULL, tells which). r->position 0
 * appends a new rule and keeps a replaced one in its place; else it is the rule's place,
 * 1..n (n + 1 for a new rule; 422 `invalid_position` beyond), the others move and are
 * renumbered 1..n. 422 `too_many_rules` past CX_RULES_MAX, 422 `unknown_endpoint` (field
 * actions[i].endpoint) for a webhook action naming no endpoint. *out (may be NULL) is the
 * rule as stored (release it). */
int cx_store_rule_put(struct cx_store *st, const char *survey, const struct cx_rule *r,
		      int create, int *created, struct cx_rule *out, struct cx_error *err);
/* Delete rule id of survey (the others renumbered); 404 `unknown_rule` if none. */
int cx_store_rule_delete(struct cx_store *st, const char *survey, const char *id,
			 struct cx_error *err);
/* The rules whose webhook actions name endpoint: [{"survey", "id"}, ...] ordered by survey
 * then position; new reference, NULL when out of memory. */
json_t *cx_store_rules_naming_endpoint(struct cx_store *st, const char *endpoint);

/* --- follow-up cases (src/store_cases.c; schema 010) --- */
/* Writer family, inside the open transaction: a rule's "case" action for new response id
 * (r): open a case (status open, assignee may be NULL) and emit `case.opened`, unless
 * r's customer already has a case of this survey and rule that is not closed: then
 * nothing is opened, *opened = 0 and *case_id is that case (the response is noted in its
 * history). Fails only with a 503 (the transaction is lost). */
int cx_store_case_open(struct cx_store *st, const struct cx_response *r, int64_t id,
		       const char *rule, const char *assignee, int64_t *case_id, int *opened,
		       struct cx_error *err);

/* Working cases (any thread; each call opens a connection of its own). Case JSON is the
 * API contract's: {"id", "survey", "rule", "response_id", "customer", "stage",
 * "touchpoint", "channel", "segment", "status", "assignee", "root_cause", "opened_at",
 * "first_contact_at", "resolved_at", "closed_at", "updated_at", "age_s", "response":
 * {"nps", "csat", "ces", "comment", "submitted_at"} or null}. A missing case is 404
 * `not_found`; storage failures 503. */
struct cx_case_query {
	unsigned statuses;                 /* bits 1 << enum cx_case_status; 0 = any */
	const char *survey, *stage, *touchpoint, *assignee;   /* NULL = any */
	int64_t opened_max, opened_min;    /* opened_at <= max / >= min; 0 = no bound */
	int64_t after_opened, after_id;    /* keyset cursor: older than (opened_at, id);
					      after_id 0 = from the newest */
	unsigned limit;
};
/* Newest first (opened_at, then id, descending): *cases is a new JSON array of at most
 * q->limit cases; *more is 1 when another page follows (its cursor is the last case's). */
int cx_store_cases_list(struct cx_store *st, const struct cx_case_query *q, json_t **cases,
			int *more, struct cx_error *err);
/* The case with its "notes" ([{"at", "author", "text"}]) and "history" ([{"at", "actor",
 * "kind", "from", "to"}], the last 2000 events, oldest first). */
int cx_store_case_get(struct cx_store *st, int64_t id, json_t **out, struct cx_error *err);
/* Apply ch in one BEGIN IMMEDIATE transaction, as `actor` (a key id): one history event
 * per field that changes, the times of case.h, `case.closed` queued when the status
 * becomes closed. 422 `unknown_root_cause` (not in the survey's root_causes), 409
 * `case_conflict` (reopening while the customer has another case of the rule that is not
 * closed). *out is the case after the change. */
struct cx_case_change;
int cx_store_case_update(struct cx_store *st, int64_t id, const struct cx_case_change *ch,
			 const char *actor, json_t **out, struct cx_error *err);
/* Add a note (1..CX_CASE_NOTE_MAX characters, checked by the caller) by `actor`; 422
 * `too_many_notes` past CX_CASE_NOTES_MAX. *note is {"at", "author", "text"}. */
int cx_store_case_note(struct cx_store *st, int64_t id, const char *text, const char *actor,
		       json_t **note, struct cx_error *err);
/* Every case of survey opened in [from_s, to_s) (and of channel / segment when not NULL),
 * as facts for the journey's figures (case.h); a non-zero return of fn stops the walk and
 * is returned. */
struct cx_case_fact;
int cx_store_case_facts(struct cx_store *st, const char *survey, int64_t from_s,
			int64_t to_s, const char *channel, const char *segment,
			int (*fn)(void *ctx, const struct cx_case_fact *f), void *ctx,
			struct cx_error *err);
/* For /metrics: cases not closed by status (open, contacted, resolved), and the time to
 * close: count and sum over every closed case, nearest-rank quantiles over the cases
 * closed in the last window_s seconds (window_n of them; quantiles 0 when none). */
struct cx_case_metrics {
	int64_t not_closed[3];
	int64_t closed, closed_sum_s;
	int64_t window_n, q50, q90, q99;
};
int cx_store_case_metrics(struct cx_store *st, int64_t window_s, struct cx_case_metrics *m,
			  struct cx_error *err);

/* --- alerts (src/store_alerts.c; schema 010) ---
 * What the alerts check (alerts.h) found, once per cooldown: table alert_findings keyed by
 * "<type>|<survey>|<stage>|<touchpoint>|<metric>". Both calls are thread-safe and use
 * connections of their own (never the writer's). */
struct cx_alert {
	const char *key, *type, *survey;
	json_t *data;             /* the event's `data` (borrowed) */
	/* filled in by cx_store_alerts_record, and by the list: */
	int emitted;              /* 1 = recorded and its event queued by this call */
	int queued;               /* deliveries written for it by this call */
	int64_t first_at, last_at; /* unix s: first emitted, last emitted (the stored row) */
};
/* In ONE transaction: for each of v[0..n) whose key was never emitted, or last emitted at
 * least cooldown_s before now: write its row (first_at kept, last_at = now, detail =
 * data) and queue its event {type, survey, data} for every endpoint subscribed to the type
 * (cx_outbox_insert, endpoint NULL), so a finding is recorded if and only if its
 * deliveries are. The others are left alone (emitted = 0; first_at/last_at show when it
 * was emitted). All or nothing: -1 with a 503 writes nothing. Two concurrent calls are
 * serialized by the database lock, so a key is never emitted twice within a cooldown. */
int cx_store_alerts_record(struct cx_store *st, struct cx_alert *v, size_t n, int64_t now,
			   int64_t cooldown_s, struct cx_error *err);
/* Findings newest first (last_at descending, then key ascending), after the keyset
 * cursor (after_key NULL = from the start), optionally of one survey and/or type, at most
 * limit. fn's finding (data included) is valid during the call only (json_incref data to
 * keep it); a non-zero return stops the walk and is returned. */
struct cx_alerts_query {
	const char *survey, *type;    /* NULL = any */
	int64_t after_at;
	const char *after_key;
	unsigned limit;
};
int cx_store_alerts_list(struct cx_store *st, const struct cx_alerts_query *q,
			 int (*fn)(void *ctx, const struct cx_alert *a), void *ctx,
			 struct cx_error *err);


/* --- asking customers: link keys, invitations, fatigue settings (src/store_invites.c;
 * schema 013). Any thread unless marked writer family. --- */
/* The active link key (made on first use): kid and secret. 0, or -1 with a 503. */
int cx_store_link_key_active(struct cx_store *st, char *kid, unsigned char *secret,
			     struct cx_error *err);
/* The secret of kid (any key not deleted): 0, or -1 if there is none. Cached; a key
 * deleted in this process is unknown to every call starting after the delete returned. */
int cx_store_link_key_get(struct cx_store *st, const char *kid, unsigned char *secret);
/* A cx_link_key_fn over the store (ctx = the store). */
int cx_store_link_key_fn(void *st, const char *kid, unsigned char *secret);
/* [{"kid", "created_at", "active"}], oldest first; new reference (no secrets). */
json_t *cx_store_link_keys_list(struct cx_store *st, struct cx_error *err);
/* Make a new key and make it the active one; *key is its {"kid","created_at","active"}. */
int cx_store_link_key_rotate(struct cx_store *st, json_t **key, struct cx_error *err);
/* Delete kid: links signed with it stop working. 404 `not_found`; 409 `link_key_active`
 * for the active key (rotate first). */
int cx_store_link_key_delete(struct cx_store *st, const char *kid, struct cx_error *err);
/* The service-wide fatigue rules (all off until set). */
int cx_store_fatigue_get(struct cx_store *st, struct cx_fatigue *out, struct cx_error *err);
int cx_store_fatigue_put(struct cx_store *st, const struct cx_fatigue *f,
			 struct cx_error *err);

/* One invitation to mint (in) and what became of it (out). */
struct cx_invitation {
	/* in: validated by the caller (stage, touchpoint, channel, segment against the survey) */
	struct cx_link_claims claims;  /* survey, stage, touchpoint, channel, segment, customer,
					  lang, attributes, expires_at; nonce and issued_at are
					  set by the store */
	const char *email;             /* the customer's address (checked), or NULL: it goes
					  in the invitation.created event ... */
	int send_email;                /* ... and, when this is 1, a mail is queued to it */
	int emit_webhook;              /* queue an invitation.created event */
	/* out */
	int minted;                    /* 1 = minted; 0 = skipped by a fatigue rule */
	char *url;                     /* minted: the personal link (malloc'd) */
	const char *skip_reason;       /* skipped: "max_invitations" / "answered_recently" */
	const char *skip_scope;        /* skipped: "service" or "survey" (whose rule) */
	int64_t eligible_at;           /* skipped: unix s when the customer can be asked again */
};
/* Mint inv[0..n) for survey s in ONE transaction: each in order checked against the
 * service-wide and the survey's fatigue rules (an invitation minted earlier in the same
 * call counts), recorded in `invitations`, signed with the active key, its
 * invitation.created event queued (cx_outbox_insert) and its mail queued when asked; all
 * or nothing (-1 with a 503 writes nothing). public_url is the links' base. */
int cx_store_invitations_mint(struct cx_store *st, const struct cx_survey *s,
			      struct cx_invitation *inv, size_t n, const char *public_url,
			      int64_t now, struct cx_error *err);
void cx_invitation_release(struct cx_invitation *inv);

/* Writer family. The outcome of an answer to a link (or an edit of a page's answer). */
enum cx_answer_outcome {
	CX_ANSWER_NEW = 0,      /* a new response (*id); the loop's rules run for it */
	CX_ANSWER_EDITED,       /* the earlier answer (*id) was changed, within the window */
	CX_ANSWER_CLOSED,       /* answered before, and the edit window has passed */
	CX_ANSWER_FATIGUED,     /* refused by after_answer_days (an answer elsewhere since) */
};
/* r answers the link of c: a first answer inserts r (cx_store_append, idempotency key =
 * the nonce) and records answered_at/response_id/commented on the invitation row (made
 * from c if missing); a later one, within window_s of the first, replaces the first
 * answer's scores and comment (rollups moved, the loop does not run again); after it,
 * CX_ANSWER_CLOSED and nothing is written. */
int cx_store_link_answer(struct cx_store *st, const struct cx_response *r,
			 const struct cx_link_claims *c, int64_t window_s, int64_t now,
			 int64_t *id, enum cx_answer_outcome *outcome, struct cx_error *err);
/* Replace the scores and comment of response id with r's (the hosted page's second step,
 * whose form carries a sealed response id): CX_ANSWER_EDITED, or CX_ANSWER_CLOSED when
 * the response is older than window_s or gone. Rollups move with the scores. */
int cx_store_response_amend(struct cx_store *st, int64_t id, const struct cx_response *r,
			    int64_t window_s, int64_t now, enum cx_answer_outcome *outcome,
			    struct cx_error *err);
/* Note the first view of c's link (opened_at, if not set). A link without its row (its
 * customer erased) writes nothing: a view never brings an erased customer back. */
int cx_store_invitation_opened(struct cx_store *st, const struct cx_link_claims *c,
			       int64_t now, struct cx_error *err);
/* Any thread (a connection of its own): 1 with *answered_at if the link of nonce was
 * answered, 0 if not (or it has no row), -1 with a 503. */
int cx_store_link_answered(struct cx_store *st, const char *nonce, int64_t *answered_at,
			   struct cx_error *err);

/* --- the response funnel (src/store_funnel.c; schema 013; any thread, read connection) */
struct cx_funnel_query {
	const char *survey;
	int64_t from_s, to_s;            /* invitations minted in [from_s, to_s) */
	const char *stage, *touchpoint, *channel; /* NULL = any */
	unsigned dims;                   /* CX_DIM_STAGE | CX_DIM_TOUCHPOINT | CX_DIM_CHANNEL */
};
struct cx_funnel_row {
	const char *stage, *touchpoint, *channel;   /* NULL when not grouped on (or none) */
	int64_t minted, opened, answered, commented;
};
/* One call of fn per group, ordered by the grouping columns (one group without dims). */
int cx_store_funnel(struct cx_store *st, const struct cx_funnel_query *q,
		    int (*fn)(void *ctx, const struct cx_funnel_row *r), void *ctx,
		    struct cx_error *err);

#endif
