/* store_map.c - the journey map in SQLite (table survey_touchpoints and the surveys
 * columns open_touchpoints, channels, segments; schema/008_journey_map.sql).
 * See src/store_map.h for the contracts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_map.h"

#define IN_USE_LISTED 10   /* names a 409 message lists before "and N more" */

static int fail(sqlite3 *db, struct cx_error *err, const char *what)
{
	return cx_error_set(err, 503, "storage_unavailable", NULL, "%s: %s", what,
			    sqlite3_errmsg(db));
}

static const char *text(sqlite3_stmt *q, int i)
{
	const unsigned char *t = sqlite3_column_text(q, i);

	return t ? (const char *)t : "";
}

/* A JSON array of labels into *out, a NULL-terminated malloc'd list (NULL for SQL NULL:
 * any label). -1 when out of memory: never a NULL list that would admit any label. */
static int labels_from(sqlite3_stmt *q, int col, char ***out, size_t *n)
{
	json_t *a, *v;
	char **list;
	size_t i;

	*out = NULL;
	*n = 0;
	if (sqlite3_column_type(q, col) == SQLITE_NULL)
		return 0;
	a = json_loads(text(q, col), 0, NULL);
	if (!(list = calloc(json_array_size(a) + 1, sizeof(*list)))) {
		json_decref(a);
		return -1;
	}
	*out = list;
	json_array_foreach(a, i, v)
		if (json_is_string(v) && *n < CX_LABELS_MAX) {
			if (!(list[*n] = strdup(json_string_value(v)))) {
				json_decref(a);
				return -1;
			}
			(*n)++;
		}
	json_decref(a);
	return 0;
}

static char *labels_to(char *const *list, size_t n)
{
	json_t *a;
	char *s;

	if (!list)
		return NULL;
	a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(list[i]));
	s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s;
}

int cx_store_map_load(sqlite3 *db, struct cx_survey *s, struct cx_error *err)
{
	sqlite3_stmt *q = NULL;
	int rc;

	cx_survey_clear_map(s);
	if (sqlite3_prepare_v2(db, "SELECT open_touchpoints, channels, segments FROM surveys "
			       "WHERE id = ?1", -1, &q, NULL) != SQLITE_OK)
		return fail(db, err, "loading a journey map");
	sqlite3_bind_text(q, 1, s->id, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		s->open_touchpoints = sqlite3_column_int(q, 0);
		if (labels_from(q, 1, &s->channels, &s->nchannels) ||
		    labels_from(q, 2, &s->segments, &s->nsegments)) {
			sqlite3_finalize(q);
			return cx_error_set(err, 503, "storage_unavailable", NULL,
					    "loading a journey map: out of memory");
		}
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(db, err, "loading a journey map");
	if (sqlite3_prepare_v2(db, "SELECT stage, touchpoint, declared FROM survey_touchpoints "
			       "WHERE survey = ?1 ORDER BY declared DESC, position", -1, &q,
			       NULL) != SQLITE_OK)
		return fail(db, err, "loading a journey map");
	sqlite3_bind_text(q, 1, s->id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		if (cx_survey_add_touchpoint(s, text(q, 0), text(q, 1), sqlite3_column_int(q, 2)))
			break;
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : fail(db, err, "loading a journey map");
}

/* Names a definition drops although they hold responses: the first IN_USE_LISTED are
 * listed, the rest counted. */
struct in_use {
	char list[400];
	size_t n, shown;
};

static void note(struct in_use *u, const char *name)
{
	size_t used = strlen(u->list);

	if (u->n++ < IN_USE_LISTED && used < sizeof(u->list)) {
		snprintf(u->list + used, sizeof(u->list) - used, "%s'%s'", u->shown ? ", " : "",
			 name);
		u->shown++;
	}
}

/* The 409 for u's names ("stage", "touchpoint"), or 0 when there are none. */
static int in_use_error(struct cx_error *err, const struct in_use *u, const char *code,
			const char *field, const char *what)
{
	if (!u->n)
		return 0;
	return cx_error_set(err, 409, code, field, "the definition drops %s%s %s%s, which "
			    "hold%s responses; keep %s (PUT replaces the whole definition)", what,
			    u->n > 1 ? "s" : "", u->list, u->n > u->shown ? " and more" : "",
			    u->n > 1 ? "" : "s", u->n > 1 ? "them" : "it");
}

int cx_store_map_check(sqlite3 *db, const struct cx_survey *s, struct cx_error *err)
{
	static const char sql[] =
		"SELECT r.stage, r.touchpoint, coalesce(m.declared, 0) FROM "
		"(SELECT stage, touchpoint FROM (SELECT stage, touchpoint, responses FROM "
		" rollups_month WHERE survey = ?1 UNION ALL SELECT stage, touchpoint, 1 FROM "
		" responses WHERE id > (SELECT upto FROM rollup_mark) AND +survey = ?1) "
		" GROUP BY stage, touchpoint HAVING sum(responses) > 0) AS r "
		"LEFT JOIN survey_touchpoints AS m ON m.survey = ?1 AND m.stage = r.stage "
		"AND m.touchpoint = r.touchpoint ORDER BY r.stage, r.touchpoint";
	struct in_use stages = { "", 0, 0 }, tps = { "", 0, 0 };
	char last[CX_ID_MAX + 1] = "";
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return fail(db, err, "checking a survey's stages");
	sqlite3_bind_text(q, 1, s->id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *stage = text(q, 0), *tp = text(q, 1);

		if (cx_survey_stage_index(s, stage) < 0) {
			if (strcmp(stage, last) != 0)
				note(&stages, stage);
			snprintf(last, sizeof(last), "%s", stage);
		} else if (sqlite3_column_int(q, 2) && !cx_survey_has_touchpoint(s, stage, tp)) {
			char both[2 * CX_ID_MAX + 8];

			snprintf(both, sizeof(both), "%s/%s", stage, tp);
			note(&tps, both);
		}
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return fail(db, err, "checking a survey's stages");
	if (in_use_error(err, &stages, "stage_in_use", "stages", "stage"))
		return -1;
	return in_use_error(err, &tps, "touchpoint_in_use", "touchpoints", "touchpoint");
}

static int exec_bound(sqlite3 *db, const char *sql, const char *a, const char *b,
		      const char *c, int64_t n)
{
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(q, 1, a, -1, SQLITE_STATIC);
	if (b)
		sqlite3_bind_text(q, 2, b, -1, SQLITE_STATIC);
	if (c)
		sqlite3_bind_text(q, 3, c, -1, SQLITE_STATIC);
	if (sqlite3_bind_parameter_count(q) >= 4)
		sqlite3_bind_int64(q, 4, n);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : -1;
}

int cx_store_map_save(sqlite3 *db, const struct cx_survey *s, struct cx_error *err)
{
	char *ch = labels_to(s->channels, s->nchannels), *sg = labels_to(s->segments, s->nsegments);
	sqlite3_stmt *q = NULL;
	int ok;

	ok = sqlite3_prepare_v2(db, "UPDATE surveys SET open_touchpoints = ?2, channels = ?3, "
				"segments = ?4 WHERE id = ?1", -1, &q, NULL) == SQLITE_OK;
	if (ok) {
		sqlite3_bind_text(q, 1, s->id, -1, SQLITE_STATIC);
		sqlite3_bind_int(q, 2, s->open_touchpoints);
		if (ch)
			sqlite3_bind_text(q, 3, ch, -1, SQLITE_STATIC);
		if (sg)
			sqlite3_bind_text(q, 4, sg, -1, SQLITE_STATIC);
		ok = sqlite3_step(q) == SQLITE_DONE;
	}
	sqlite3_finalize(q);
	free(ch);
	free(sg);
	/* declared rows are replaced; learned ones stay, and become declared if listed */
	ok = ok && exec_bound(db, "DELETE FROM survey_touchpoints WHERE survey = ?1 AND "
			      "declared = 1", s->id, NULL, NULL, 0) == 0;
	for (size_t i = 0; ok && i < s->ntouchpoints; i++)
		ok = exec_bound(db, "INSERT INTO survey_touchpoints(survey, stage, touchpoint, "
				"declared, position) VALUES (?1, ?2, ?3, 1, ?4) ON CONFLICT DO "
				"UPDATE SET declared = 1, position = ?4", s->id,
				s->touchpoints[i].stage, s->touchpoints[i].name, (int64_t)i) == 0;
	return ok ? 0 : fail(db, err, "saving a journey map");
}

int cx_store_map_admit(sqlite3 *db, sqlite3_stmt **cached, const struct cx_response *r,
		       struct cx_error *err)
{
	static const char sql[] =
		"SELECT EXISTS (SELECT 1 FROM json_each(s.stages) WHERE value = ?2), "
		"s.open_touchpoints, (SELECT count(*) FROM survey_touchpoints WHERE survey = ?1 "
		"AND stage = ?2 AND touchpoint = ?3), (SELECT count(*) FROM survey_touchpoints "
		"WHERE survey = ?1) FROM surveys AS s WHERE s.id = ?1";
	sqlite3_stmt *q;
	int64_t staged = 0, open = 0, have = 0, count = 0;
	int rc;

	if (!*cached && sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, cached,
					   NULL) != SQLITE_OK)
		return fail(db, err, "reading a journey map");
	q = *cached;
	sqlite3_bind_text(q, 1, r->survey, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, r->stage, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, r->touchpoint, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		staged = sqlite3_column_int64(q, 0);
		open = sqlite3_column_int64(q, 1);
		have = sqlite3_column_int64(q, 2);
		count = sqlite3_column_int64(q, 3);
	}
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(db, err, "reading a journey map");
	/* the request was validated against the cached definition; a PUT may have committed
	 * since (its in-use check could not see this response yet): the file decides */
	if (rc == SQLITE_DONE)
		return cx_error_set(err, 422, "unknown_survey", "survey", "no such survey");
	if (!staged)
		return cx_error_set(err, 422, "invalid_stage", "stage", "stage '%s' is not a "
				    "stage of survey '%s' (its definition was replaced while the "
				    "response was being stored)", r->stage, r->survey);
	if (have)
		return 1;
	if (!r->learn || !open)
		return cx_error_set(err, 422, "unknown_touchpoint", "touchpoint", "touchpoint "
				    "'%s' is not in survey '%s' journey map for stage '%s' (its "
				    "definition was replaced while the response was being stored)",
				    r->touchpoint, r->survey, r->stage);
	if (count >= CX_TOUCHPOINTS_MAX)
		return cx_error_set(err, 422, "too_many_touchpoints", "touchpoint", "survey '%s' "
				    "has %d touchpoints, the most a survey may have: use one of "
				    "them, or PUT a definition that lists the touchpoints you need",
				    r->survey, CX_TOUCHPOINTS_MAX);
	return 0;
}

int cx_store_map_learn(sqlite3 *db, const struct cx_response *r, struct cx_error *err)
{
	if (exec_bound(db, "INSERT INTO survey_touchpoints(survey, stage, touchpoint, declared, "
		       "position) VALUES (?1, ?2, ?3, 0, ?4 + (SELECT count(*) FROM "
		       "survey_touchpoints WHERE survey = ?1)) ON CONFLICT DO NOTHING",
		       r->survey, r->stage, r->touchpoint, 0))
		return fail(db, err, "adding a touchpoint");
	return 0;
}
