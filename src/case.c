/* case.c - see include/cx/case.h */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cx/case.h"
#include "cx/score.h"
#include "cx/validate.h"

static const char *const status_names[CX_CASE_NSTATUS] = {
	"open", "contacted", "resolved", "closed",
};

struct cx_case_recovery {
	char *customer;
	int64_t closed_at;
	int later_nps;
};

const char *cx_case_status_name(enum cx_case_status s)
{
	return (s >= 0 && s < CX_CASE_NSTATUS) ? status_names[s] : "unknown";
}

int cx_case_status_parse(const char *s)
{
	for (int i = 0; s && i < CX_CASE_NSTATUS; i++)
		if (strcmp(s, status_names[i]) == 0)
			return i;
	return -1;
}

/* A label (1-64 of the label charset) or null; *out NULL for null. */
static int label_or_null(const json_t *v, const char *field, const char **out,
			 struct cx_error *err)
{
	if (json_is_null(v)) {
		*out = NULL;
		return 0;
	}
	if (!json_is_string(v) || !cx_valid_label(json_string_value(v), json_string_length(v),
						   CX_LABEL_MAX))
		return cx_error_set(err, 422, strcmp(field, "assignee") == 0 ? "invalid_assignee"
				    : "invalid_root_cause", field, "%s must be null or 1-%d "
				    "characters of A-Z a-z 0-9 and space _ . : / @ + -", field,
				    CX_LABEL_MAX);
	*out = json_string_value(v);
	return 0;
}

int cx_case_change_from_json(const json_t *body, struct cx_case_change *out,
			     struct cx_error *err)
{
	const char *key;
	json_t *v;

	memset(out, 0, sizeof(*out));
	out->status = -1;
	if (!json_is_object(body))
		return cx_error_set(err, 422, "invalid_case_change", NULL, "a case change is a JSON "
				    "object with status, assignee and/or root_cause");
	json_object_foreach((json_t *)body, key, v) {
		if (strcmp(key, "status") == 0) {
			if ((out->status = cx_case_status_parse(json_string_value(v))) < 0)
				return cx_error_set(err, 422, "invalid_status", "status", "status must "
						    "be open, contacted, resolved or closed");
		} else if (strcmp(key, "assignee") == 0) {
			out->set_assignee = 1;
			if (label_or_null(v, key, &out->assignee, err))
				return -1;
		} else if (strcmp(key, "root_cause") == 0) {
			out->set_root_cause = 1;
			if (label_or_null(v, key, &out->root_cause, err))
				return -1;
		} else {
			return cx_error_set(err, 422, "unknown_field", key, "unknown field '%.60s'; a "
					    "case change has status, assignee and root_cause", key);
		}
	}
	return 0;
}

/* UTF-8 code points in s (jansson has checked it is valid UTF-8). */
static size_t code_points(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xC0) != 0x80;
	return n;
}

int cx_case_note_from_json(const json_t *body, const char **text, struct cx_error *err)
{
	const char *key;
	json_t *v, *t;
	size_t n;

	*text = NULL;
	if (!json_is_object(body))
		return cx_error_set(err, 422, "invalid_note", NULL, "a note is {\"text\": \"...\"}");
	json_object_foreach((json_t *)body, key, v)
		if (strcmp(key, "text") != 0)
			return cx_error_set(err, 422, "unknown_field", key, "unknown field '%.60s'; a "
					    "note has only text", key);
	t = json_object_get(body, "text");
	if (!json_is_string(t) || strlen(json_string_value(t)) != json_string_length(t) ||
	    (n = code_points(json_string_value(t), json_string_length(t))) < 1 ||
	    n > CX_CASE_NOTE_MAX)
		return cx_error_set(err, 422, "invalid_note", "text", "text must be 1-%d characters "
				    "(no NUL)", CX_CASE_NOTE_MAX);
	*text = json_string_value(t);
	return 0;
}

int64_t cx_case_nearest_rank(const int64_t *sorted, size_t n, double p)
{
	size_t rank = (size_t)ceil(p / 100.0 * (double)n);

	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

static int push(int64_t **v, size_t *n, size_t *cap, int64_t x)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		int64_t *p = realloc(*v, c * sizeof(*p));

		if (!p)
			return -1;
		*v = p;
		*cap = c;
	}
	(*v)[(*n)++] = x;
	return 0;
}

static int push_rec(struct cx_case_stats *st, const char *customer, int64_t closed_at,
		    int later_nps)
{
	struct cx_case_recovery *r;

	if (st->nrec == st->cap_rec) {
		size_t c = st->cap_rec ? st->cap_rec * 2 : 16;
		struct cx_case_recovery *p = realloc(st->rec, c * sizeof(*p));

		if (!p)
			return -1;
		st->rec = p;
		st->cap_rec = c;
	}
	r = &st->rec[st->nrec];
	if (!(r->customer = strdup(customer)))
		return -1;
	r->closed_at = closed_at;
	r->later_nps = later_nps;
	st->nrec++;
	return 0;
}

int cx_case_stats_add(struct cx_case_stats *st, const struct cx_case_fact *f)
{
	st->opened++;
	if (f->first_contact_at) {
		st->contacted++;
		if (push(&st->to_contact, &st->nto_contact, &st->cap_contact,
			 f->first_contact_at - f->opened_at))
			return -1;
	}
	if (f->status == CX_CASE_CLOSED && f->closed_at) {
		st->closed++;
		if (push(&st->to_close, &st->nto_close, &st->cap_close, f->closed_at - f->opened_at))
			return -1;
		if (f->customer && push_rec(st, f->customer, f->closed_at, f->later_nps))
			return -1;
	}
	return 0;
}

int cx_case_stats_merge(struct cx_case_stats *dst, const struct cx_case_stats *src)
{
	dst->opened += src->opened;
	dst->contacted += src->contacted;
	dst->closed += src->closed;
	for (size_t i = 0; i < src->nto_contact; i++)
		if (push(&dst->to_contact, &dst->nto_contact, &dst->cap_contact, src->to_contact[i]))
			return -1;
	for (size_t i = 0; i < src->nto_close; i++)
		if (push(&dst->to_close, &dst->nto_close, &dst->cap_close, src->to_close[i]))
			return -1;
	for (size_t i = 0; i < src->nrec; i++)
		if (push_rec(dst, src->rec[i].customer, src->rec[i].closed_at, src->rec[i].later_nps))
			return -1;
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* customer, then the most recently closed first */
static int cmp_rec(const void *a, const void *b)
{
	const struct cx_case_recovery *x = a, *y = b;
	int c = strcmp(x->customer, y->customer);

	if (c)
		return c;
	return (x->closed_at < y->closed_at) - (x->closed_at > y->closed_at);
}

static json_t *durations_json(int64_t *v, size_t n)
{
	if (n == 0)
		return json_pack("{s:i, s:n, s:n}", "n", 0, "median", "p90");
	qsort(v, n, sizeof(*v), cmp_i64);
	return json_pack("{s:I, s:I, s:I}", "n", (json_int_t)n,
			 "median", (json_int_t)cx_case_nearest_rank(v, n, 50),
			 "p90", (json_int_t)cx_case_nearest_rank(v, n, 90));
}

static json_t *recovery_json(struct cx_case_stats *st)
{
	int64_t n = 0, k = 0;
	double lo, hi;

	if (st->nrec)
		qsort(st->rec, st->nrec, sizeof(*st->rec), cmp_rec);
	for (size_t i = 0; i < st->nrec; i++) {
		if (i > 0 && strcmp(st->rec[i].customer, st->rec[i - 1].customer) == 0)
			continue;   /* an older case of the same customer */
		if (st->rec[i].later_nps < 0)
			continue;   /* did not answer again */
		n++;
		k += st->rec[i].later_nps >= 7;
	}
	if (n == 0)
		return json_pack("{s:i, s:i, s:n, s:n}", "n", 0, "recovered", 0, "share", "ci95");
	cx_score_wilson(k, n, CX_Z95, &lo, &hi);
	return json_pack("{s:I, s:I, s:f, s:[f, f]}", "n", (json_int_t)n, "recovered",
			 (json_int_t)k, "share", round(10000.0 * (double)k / (double)n) / 100,
			 "ci95", round(lo * 10000) / 100, round(hi * 10000) / 100);
}

json_t *cx_case_stats_json(struct cx_case_stats *st)
{
	return json_pack("{s:I, s:I, s:I, s:o, s:o, s:o}", "opened", (json_int_t)st->opened,
			 "contacted", (json_int_t)st->contacted, "closed", (json_int_t)st->closed,
			 "time_to_first_contact_s", durations_json(st->to_contact, st->nto_contact),
			 "time_to_close_s", durations_json(st->to_close, st->nto_close),
			 "recovery", recovery_json(st));
}

void cx_case_stats_release(struct cx_case_stats *st)
{
	for (size_t i = 0; i < st->nrec; i++)
		free(st->rec[i].customer);
	free(st->rec);
	free(st->to_contact);
	free(st->to_close);
	memset(st, 0, sizeof(*st));
}
