/* store_rules.c - a survey's rules: the `rules` table and, per survey, an immutable
 * snapshot for the writer (see include/cx/store.h, "rules", and include/cx/rule.h).
 *
 * Changes run one at a time (crud_mu) on a connection of their own: inside one IMMEDIATE
 * transaction the survey's list is read, changed in memory, rewritten with positions
 * 1..n and committed; only then is the new list published as the survey's snapshot (a
 * pointer swap under mu). A snapshot is never modified: readers hold a reference, and the
 * last one to let go frees it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "cx/cxtime.h"
#include "cx/log.h"
#include "cx/rule.h"
#include "store_loop.h"

/* A published snapshot. `pub` is first: the const struct cx_ruleset * handed out points
 * at it. */
struct snap {
	struct cx_ruleset pub;
	char survey[CX_ID_MAX + 1];
	unsigned refs;          /* under rs->mu; the store's own reference counts as one */
};

struct cx_rulestore {
	struct cx_store *st;
	sqlite3 *db;              /* for changes; under crud_mu */
	pthread_mutex_t crud_mu;  /* one change at a time */
	pthread_mutex_t mu;       /* snaps and every snap's refs */
	struct snap **snaps;      /* sorted by survey; none empty */
	size_t nsnaps, cap;
};

static void free_rules(struct cx_rule *rules, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cx_rule_release(&rules[i]);
	free(rules);
}

static void snap_unref(struct snap *s)
{
	if (s && --s->refs == 0) {
		free_rules(s->pub.rules, s->pub.n);
		free(s);
	}
}

/* Index of survey in snaps, or where it would go (*found = 0). */
static size_t find(struct cx_rulestore *rs, const char *survey, int *found)
{
	size_t lo = 0, hi = rs->nsnaps;

	*found = 0;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(rs->snaps[mid]->survey, survey);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int reserve(struct cx_rulestore *rs)
{
	struct snap **p;
	size_t cap;

	if (rs->nsnaps < rs->cap)
		return 0;
	cap = rs->cap ? rs->cap * 2 : 16;
	pthread_mutex_lock(&rs->mu);
	p = realloc(rs->snaps, cap * sizeof(*p));
	if (p) {
		rs->snaps = p;
		rs->cap = cap;
	}
	pthread_mutex_unlock(&rs->mu);
	return p ? 0 : -1;
}

/* Make rules[0..n) (taken, whatever happens) survey's snapshot; the room for a new survey
 * was reserved (reserve()), so this cannot fail. n = 0 removes the survey. */
static void publish(struct cx_rulestore *rs, const char *survey, struct cx_rule *rules,
		    size_t n, struct snap *s)
{
	struct snap *old = NULL;
	size_t i;
	int found;

	if (s) {
		s->pub.n = n;
		s->pub.rules = rules;
		s->refs = 1;
		snprintf(s->survey, sizeof(s->survey), "%s", survey);
	} else {
		free_rules(rules, n);
	}
	pthread_mutex_lock(&rs->mu);
	i = find(rs, survey, &found);
	if (found)
		old = rs->snaps[i];
	if (found && s) {
		rs->snaps[i] = s;
	} else if (found) {
		memmove(&rs->snaps[i], &rs->snaps[i + 1], (rs->nsnaps - i - 1) * sizeof(*rs->snaps));
		rs->nsnaps--;
	} else if (s) {
		memmove(&rs->snaps[i + 1], &rs->snaps[i], (rs->nsnaps - i) * sizeof(*rs->snaps));
		rs->snaps[i] = s;
		rs->nsnaps++;
	}
	snap_unref(old);
	pthread_mutex_unlock(&rs->mu);
}

/* One stored row back into a rule (it was validated when written). */
static int rule_of_row(sqlite3_stmt *q, struct cx_rule *out, struct cx_error *err)
{
	const char *id = (const char *)sqlite3_column_text(q, 0);
	json_t *def = json_loads((const char *)sqlite3_column_text(q, 2), 0, NULL);
	int rc;

	if (!def)
		return cx_error_set(err, 503, "storage_unavailable", NULL, "rule '%.64s' is "
				    "stored as invalid JSON", id);
	rc = cx_rule_from_json(def, id, NULL, out, err);
	json_decref(def);
	if (rc) {
		err->status = 503;
		return -1;
	}
	out->position = sqlite3_column_int(q, 1);
	out->created_at = sqlite3_column_int64(q, 3);
	out->updated_at = sqlite3_column_int64(q, 4);
	return 0;
}

/* survey's rules from db in position order into *out (CX_RULES_MAX + 1 slots, so one can be
 * added), *n of them. */
static int load(struct cx_store *st, sqlite3 *db, const char *survey, struct cx_rule **out,
		size_t *n, struct cx_error *err)
{
	sqlite3_stmt *q = NULL;
	struct cx_rule *rules = calloc(CX_RULES_MAX + 1, sizeof(*rules));
	int step = SQLITE_DONE, rc = 0;

	*n = 0;
	*out = NULL;
	if (!rules)
		return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	if (sqlite3_prepare_v2(db, "SELECT id, position, definition, created_at, updated_at "
			       "FROM rules WHERE survey = ?1 ORDER BY position, id", -1, &q,
			       NULL) != SQLITE_OK) {
		rc = cx_store_db_fail(st, db, err, "reading rules");
		goto out;
	}
	sqlite3_bind_text(q, 1, survey, -1, SQLITE_STATIC);
	while (*n < CX_RULES_MAX && (step = sqlite3_step(q)) == SQLITE_ROW)
		if ((rc = rule_of_row(q, &rules[*n], err)) == 0)
			(*n)++;
		else
			goto out;
	if (step != SQLITE_DONE && step != SQLITE_ROW)
		rc = cx_store_db_fail(st, db, err, "reading rules");
out:
	sqlite3_finalize(q);
	if (rc) {
		free_rules(rules, *n);
		*n = 0;
		return -1;
	}
	*out = rules;
	return 0;
}

/* Every survey's snapshot, at open. A rule that cannot be read is logged and skipped, so
 * one bad row cannot keep cxd from starting. */
static int load_all(struct cx_rulestore *rs, struct cx_error *err)
{
	sqlite3_stmt *q;
	int step;

	if (sqlite3_prepare_v2(rs->db, "SELECT DISTINCT survey FROM rules ORDER BY survey", -1,
			       &q, NULL) != SQLITE_OK)
		return cx_store_db_fail(rs->st, rs->db, err, "reading rules");
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		const char *survey = (const char *)sqlite3_column_text(q, 0);
		struct cx_rule *rules;
		struct snap *s;
		size_t n;

		if (load(rs->st, rs->db, survey, &rules, &n, err)) {
			cx_log_error("rules of survey '%s' skipped: %s", survey, err->message);
			continue;
		}
		if (n == 0) {
			free_rules(rules, n);
			continue;
		}
		if (reserve(rs) || !(s = calloc(1, sizeof(*s)))) {
			free_rules(rules, n);
			sqlite3_finalize(q);
			return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
		}
		publish(rs, survey, rules, n, s);
	}
	sqlite3_finalize(q);
	return step == SQLITE_DONE ? 0 : cx_store_db_fail(rs->st, rs->db, err, "reading rules");
}

int cx_rulestore_open(struct cx_store *st, struct cx_rulestore **out, struct cx_error *err)
{
	struct cx_rulestore *rs = calloc(1, sizeof(*rs));

	*out = NULL;
	if (!rs)
		return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	rs->st = st;
	pthread_mutex_init(&rs->crud_mu, NULL);
	pthread_mutex_init(&rs->mu, NULL);
	if (!(rs->db = cx_store_connect(st, 0, err)) || load_all(rs, err)) {
		cx_rulestore_close(rs);
		return -1;
	}
	*out = rs;
	return 0;
}

void cx_rulestore_close(struct cx_rulestore *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->nsnaps; i++)
		snap_unref(rs->snaps[i]);
	free(rs->snaps);
	sqlite3_close(rs->db);
	pthread_mutex_destroy(&rs->crud_mu);
	pthread_mutex_destroy(&rs->mu);
	free(rs);
}

const struct cx_ruleset *cx_store_rules_acquire(struct cx_store *st, const char *survey)
{
	struct cx_rulestore *rs = cx_store_rulestore(st);
	struct snap *s = NULL;
	size_t i;
	int found;

	if (!rs)
		return NULL;
	pthread_mutex_lock(&rs->mu);
	i = find(rs, survey, &found);
	if (found) {
		s = rs->snaps[i];
		s->refs++;
	}
	pthread_mutex_unlock(&rs->mu);
	return s ? &s->pub : NULL;
}

void cx_store_rules_release(struct cx_store *st, const struct cx_ruleset *set)
{
	struct cx_rulestore *rs = cx_store_rulestore(st);

	if (!set)
		return;
	pthread_mutex_lock(&rs->mu);
	snap_unref((struct snap *)(void *)set);
	pthread_mutex_unlock(&rs->mu);
}

json_t *cx_store_rules_naming_endpoint(struct cx_store *st, const char *endpoint)
{
	struct cx_rulestore *rs = cx_store_rulestore(st);
	json_t *list = json_array();

	if (!list || !rs)
		return list;
	pthread_mutex_lock(&rs->mu);
	for (size_t i = 0; i < rs->nsnaps; i++)
		for (size_t k = 0; k < rs->snaps[i]->pub.n; k++) {
			const struct cx_rule *r = &rs->snaps[i]->pub.rules[k];

			for (size_t a = 0; a < r->nactions; a++)
				if (r->actions[a].endpoint &&
				    strcmp(r->actions[a].endpoint, endpoint) == 0) {
					json_array_append_new(list, json_pack("{s:s, s:s}", "survey",
						rs->snaps[i]->survey, "id", r->id));
					break;
				}
		}
	pthread_mutex_unlock(&rs->mu);
	return list;
}

static int exec(struct cx_rulestore *rs, const char *sql, struct cx_error *err)
{
	if (sqlite3_exec(rs->db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	return cx_store_db_fail(rs->st, rs->db, err, "changing rules");
}

/* 422 unknown_endpoint for the first webhook action of r naming no endpoint. */
static int check_endpoints(struct cx_rulestore *rs, const struct cx_rule *r,
			   struct cx_error *err)
{
	sqlite3_stmt *q;
	int rc = 0;

	if (sqlite3_prepare_v2(rs->db, "SELECT 1 FROM endpoints WHERE id = ?1", -1, &q, NULL) !=
	    SQLITE_OK)
		return cx_store_db_fail(rs->st, rs->db, err, "reading endpoints");
	for (size_t i = 0; i < r->nactions && rc == 0; i++) {
		char field[40];
		int step;

		if (r->actions[i].type != CX_ACTION_WEBHOOK)
			continue;
		sqlite3_reset(q);
		sqlite3_bind_text(q, 1, r->actions[i].endpoint, -1, SQLITE_STATIC);
		step = sqlite3_step(q);
		snprintf(field, sizeof(field), "actions[%zu].endpoint", i);
		if (step == SQLITE_DONE)
			rc = cx_error_set(err, 422, "unknown_endpoint", field, "no webhook endpoint "
					  "'%s' (create it with POST /v1/endpoints first)",
					  r->actions[i].endpoint);
		else if (step != SQLITE_ROW)
			rc = cx_store_db_fail(rs->st, rs->db, err, "reading endpoints");
	}
	sqlite3_finalize(q);
	return rc;
}

/* Replace survey's rows by rules[0..n), positions 1..n. */
static int rewrite(struct cx_rulestore *rs, const char *survey, struct cx_rule *rules,
		   size_t n, struct cx_error *err)
{
	sqlite3_stmt *del = NULL, *ins = NULL;
	int rc = 0;

	if (sqlite3_prepare_v2(rs->db, "DELETE FROM rules WHERE survey = ?1", -1, &del, NULL) !=
	    SQLITE_OK ||
	    sqlite3_prepare_v2(rs->db, "INSERT INTO rules(survey, id, position, definition, "
			       "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", -1, &ins,
			       NULL) != SQLITE_OK) {
		rc = cx_store_db_fail(rs->st, rs->db, err, "changing rules");
		goto out;
	}
	sqlite3_bind_text(del, 1, survey, -1, SQLITE_STATIC);
	if (sqlite3_step(del) != SQLITE_DONE) {
		rc = cx_store_db_fail(rs->st, rs->db, err, "changing rules");
		goto out;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		json_t *def = cx_rule_definition_json(&rules[i]);
		char *text = def ? json_dumps(def, JSON_COMPACT) : NULL;

		json_decref(def);
		rules[i].position = (int)i + 1;
		if (!text) {
			rc = cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
			break;
		}
		sqlite3_reset(ins);
		sqlite3_bind_text(ins, 1, survey, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 2, rules[i].id, -1, SQLITE_STATIC);
		sqlite3_bind_int(ins, 3, rules[i].position);
		sqlite3_bind_text(ins, 4, text, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(ins, 5, rules[i].created_at);
		sqlite3_bind_int64(ins, 6, rules[i].updated_at);
		if (sqlite3_step(ins) != SQLITE_DONE)
			rc = cx_store_db_fail(rs->st, rs->db, err, "changing rules");
		free(text);
	}
out:
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	return rc;
}

static ssize_t index_of(const struct cx_rule *rules, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(rules[i].id, id) == 0)
			return (ssize_t)i;
	return -1;
}

/* The change in memory: put a copy of r into rules[0..*n) (room for one more). */
static int change_put(struct cx_rule *rules, size_t *n, const struct cx_rule *r, int create,
		      int *created, struct cx_error *err)
{
	ssize_t at = index_of(rules, *n, r->id);
	struct cx_rule copy;
	size_t pos, m;
	int64_t now = cx_time_now(), born = now;

	if (at >= 0 && create)
		return cx_error_set(err, 409, "rule_exists", "id", "rule '%s' exists; change it "
				    "with PUT", r->id);
	if (at < 0 && *n >= CX_RULES_MAX)
		return cx_error_set(err, 422, "too_many_rules", NULL, "a survey has at most %d "
				    "rules", CX_RULES_MAX);
	m = *n - (at >= 0);   /* the others */
	pos = r->position ? (size_t)r->position : at >= 0 ? (size_t)at + 1 : m + 1;
	if (pos > m + 1)
		return cx_error_set(err, 422, "invalid_position", "position", "position must be "
				    "from 1 to %zu", m + 1);
	if (cx_rule_copy(&copy, r))
		return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	if (at >= 0) {
		born = rules[at].created_at;
		cx_rule_release(&rules[at]);
		memmove(&rules[at], &rules[at + 1], (*n - (size_t)at - 1) * sizeof(*rules));
	}
	memmove(&rules[pos], &rules[pos - 1], (m - (pos - 1)) * sizeof(*rules));
	copy.created_at = born;
	copy.updated_at = now;
	rules[pos - 1] = copy;
	*n = m + 1;
	if (created)
		*created = at < 0;
	return 0;
}

static int change_delete(struct cx_rule *rules, size_t *n, const char *id,
			 struct cx_error *err)
{
	ssize_t at = index_of(rules, *n, id);

	if (at < 0)
		return cx_error_set(err, 404, "unknown_rule", NULL, "no rule '%.64s'", id);
	cx_rule_release(&rules[at]);
	memmove(&rules[at], &rules[at + 1], (*n - (size_t)at - 1) * sizeof(*rules));
	(*n)--;
	return 0;
}

/* One change: read survey's list, apply r (put) or delete id, rewrite, commit, publish. */
static int change(struct cx_store *st, const char *survey, const struct cx_rule *r,
		  const char *del_id, int create, int *created, struct cx_rule *out,
		  struct cx_error *err)
{
	struct cx_rulestore *rs = cx_store_rulestore(st);
	struct cx_rule *rules = NULL;
	struct snap *s = NULL;
	size_t n = 0;
	int rc = -1, began = 0;

	pthread_mutex_lock(&rs->crud_mu);
	if (exec(rs, "BEGIN IMMEDIATE", err))
		goto out;
	began = 1;
	if (load(st, rs->db, survey, &rules, &n, err) ||
	    (r && check_endpoints(rs, r, err)) ||
	    (r ? change_put(rules, &n, r, create, created, err)
	       : change_delete(rules, &n, del_id, err)) ||
	    rewrite(rs, survey, rules, n, err))
		goto out;
	if (out && r && cx_rule_copy(out, &rules[index_of(rules, n, r->id)])) {
		cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
		goto out;
	}
	if (reserve(rs) || (n && !(s = calloc(1, sizeof(*s))))) {
		cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
		goto out_copy;
	}
	if (exec(rs, "COMMIT", err))
		goto out_copy;
	began = 0;
	publish(rs, survey, rules, n, s);   /* takes rules */
	rules = NULL;
	n = 0;
	s = NULL;
	rc = 0;
	goto out;
out_copy:
	if (out && r)
		cx_rule_release(out);
out:
	if (began)
		sqlite3_exec(rs->db, "ROLLBACK", NULL, NULL, NULL);
	free(s);
	free_rules(rules, n);
	pthread_mutex_unlock(&rs->crud_mu);
	return rc;
}

int cx_store_rule_put(struct cx_store *st, const char *survey, const struct cx_rule *r,
		      int create, int *created, struct cx_rule *out, struct cx_error *err)
{
	return change(st, survey, r, NULL, create, created, out, err);
}

int cx_store_rule_delete(struct cx_store *st, const char *survey, const char *id,
			 struct cx_error *err)
{
	return change(st, survey, NULL, id, 0, NULL, NULL, err);
}
