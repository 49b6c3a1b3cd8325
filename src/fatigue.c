/* fatigue.c - how often a customer may be asked; see include/cx/fatigue.h. */
#include <string.h>

#include "cx/fatigue.h"

static int member(const json_t *j, const char *field, const char *name, unsigned max,
		  unsigned *out, struct cx_error *err)
{
	const json_t *v = json_object_get(j, name);

	*out = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
		return cx_error_set(err, 422, "invalid_fatigue", field, "%s.%s must be a whole "
				    "number from 0 (off) to %u", field, name, max);
	*out = (unsigned)json_integer_value(v);
	return 0;
}

int cx_fatigue_from_json(const json_t *j, const char *field, struct cx_fatigue *out,
			 struct cx_error *err)
{
	const char *key;
	json_t *v;

	memset(out, 0, sizeof(*out));
	if (!j || json_is_null(j))
		return 0;
	if (!json_is_object(j))
		return cx_error_set(err, 422, "invalid_fatigue", field, "%s must be an object "
				    "{\"max_invitations\", \"per_days\", \"after_answer_days\"}",
				    field);
	json_object_foreach((json_t *)j, key, v)
		if (strcmp(key, "max_invitations") && strcmp(key, "per_days") &&
		    strcmp(key, "after_answer_days"))
			return cx_error_set(err, 422, "invalid_fatigue", field, "%s.%.40s is "
					    "unknown; the rules are max_invitations with per_days, "
					    "and after_answer_days", field, key);
	if (member(j, field, "max_invitations", CX_FATIGUE_COUNT_MAX, &out->max_invitations,
		   err) ||
	    member(j, field, "per_days", CX_FATIGUE_DAYS_MAX, &out->per_days, err) ||
	    member(j, field, "after_answer_days", CX_FATIGUE_DAYS_MAX, &out->after_answer_days,
		   err))
		return -1;
	if (!out->max_invitations != !out->per_days)
		return cx_error_set(err, 422, "invalid_fatigue", field, "%s.max_invitations and "
				    "%s.per_days go together (\"at most N invitations in D "
				    "days\")", field, field);
	return 0;
}

json_t *cx_fatigue_to_json(const struct cx_fatigue *f)
{
	return json_pack("{s:i, s:i, s:i}", "max_invitations", (int)f->max_invitations,
			 "per_days", (int)f->per_days, "after_answer_days",
			 (int)f->after_answer_days);
}

int cx_fatigue_is_off(const struct cx_fatigue *f)
{
	return !f->max_invitations && !f->after_answer_days;
}

/* max_invitations N per D days: the customer has N or more mints in (now - D days, now]
 * (h->minted, newest first; a mint after now counts too: clocks step back); they are
 * eligible again when the N-th newest leaves the window, at its time + D days.
 * after_answer_days A: the last answer is less than A days ago; eligible at it + A days.
 * Both refusing: the later time, since only then are both satisfied. */
void cx_fatigue_decide(const struct cx_fatigue *f, const struct cx_fatigue_history *h,
		       int64_t now, struct cx_fatigue_verdict *v)
{
	v->reason = NULL;
	v->eligible_at = 0;
	if (f->max_invitations && f->per_days) {
		int64_t window = (int64_t)f->per_days * 86400;
		size_t counted = 0;

		for (size_t i = 0; i < h->nminted; i++)
			if (h->minted[i] > now - window &&
			    ++counted == f->max_invitations) {
				v->reason = "max_invitations";
				v->eligible_at = h->minted[i] + window;
				break;
			}
	}
	if (f->after_answer_days && h->last_answer > 0) {
		int64_t until = h->last_answer + (int64_t)f->after_answer_days * 86400;

		if (now < until && (!v->reason || until > v->eligible_at)) {
			v->reason = "answered_recently";
			v->eligible_at = until;
		}
	}
}
