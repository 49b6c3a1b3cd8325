/* store_hosted.c - a survey's hosted-page fields in table survey_hosted (schema 013); see
 * src/store_invite.h. */
#include <stdlib.h>
#include <string.h>

#include "store_invite.h"

static int fail(struct cx_error *err, sqlite3 *db, const char *what)
{
	return cx_error_set(err, 503, "storage_unavailable", NULL, "%s: %s", what,
			    sqlite3_errmsg(db));
}

int cx_hosted_load(sqlite3 *db, struct cx_survey *s, struct cx_error *err)
{
	sqlite3_stmt *q;
	int rc;

	cx_survey_hosted_release(s);
	s->question = CX_Q_NPS;
	memset(&s->fatigue, 0, sizeof(s->fatigue));
	if (sqlite3_prepare_v2(db, "SELECT question, texts, fatigue, email FROM survey_hosted "
			       "WHERE survey = ?1", -1, &q, NULL) != SQLITE_OK)
		return fail(err, db, "loading a survey's page");
	sqlite3_bind_text(q, 1, s->id, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		json_t *doc = json_object(), *v;
		struct cx_error ignored;

		/* the columns were validated when written; what cannot be read is left out */
		json_object_set_new(doc, "question",
				    json_string((const char *)sqlite3_column_text(q, 0)));
		for (int i = 1; i <= 3; i++) {
			static const char *const names[] = { NULL, "texts", "fatigue", "email" };

			if (sqlite3_column_type(q, i) != SQLITE_NULL &&
			    (v = json_loads((const char *)sqlite3_column_text(q, i), 0, NULL)))
				json_object_set_new(doc, names[i], v);
		}
		if (cx_survey_hosted_from_json(doc, s, &ignored)) {
			cx_survey_hosted_release(s);
			memset(&s->fatigue, 0, sizeof(s->fatigue));
		}
		json_decref(doc);
	}
	sqlite3_finalize(q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(err, db, "loading a survey's page");
}

static void bind_json(sqlite3_stmt *q, int i, json_t *v)
{
	char *text = v && !json_is_null(v) ? json_dumps(v, JSON_COMPACT) : NULL;

	if (text)
		sqlite3_bind_text(q, i, text, -1, free);
	else
		sqlite3_bind_null(q, i);
	json_decref(v);
}

int cx_hosted_save(sqlite3 *db, const struct cx_survey *s, struct cx_error *err)
{
	json_t *doc = json_object();
	sqlite3_stmt *q;
	int rc;

	cx_survey_hosted_to_json(s, doc);
	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO survey_hosted(survey, question, texts, "
			       "fatigue, email) VALUES (?1, ?2, ?3, ?4, ?5)", -1, &q, NULL)
	    != SQLITE_OK) {
		json_decref(doc);
		return fail(err, db, "saving a survey's page");
	}
	sqlite3_bind_text(q, 1, s->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, cx_question_name(s->question), -1, SQLITE_STATIC);
	bind_json(q, 3, json_incref(json_object_get(doc, "texts")));
	bind_json(q, 4, cx_fatigue_is_off(&s->fatigue) ? NULL :
			json_incref(json_object_get(doc, "fatigue")));
	bind_json(q, 5, json_incref(json_object_get(doc, "email")));
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	json_decref(doc);
	return rc == SQLITE_DONE ? 0 : fail(err, db, "saving a survey's page");
}
