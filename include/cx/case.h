/* case.h - follow-up cases (issue 12): the rules a case's changes follow, the API's JSON
 * checks, and the journey's follow-up figures. No storage here (that is store.h's
 * "follow-up cases" block, src/store_cases.c); this module is pure and unit-tested.
 *
 * Statuses: open -> contacted -> resolved -> closed, any change allowed (the store refuses
 * reopening a closed case while the customer has another case of the rule that is not
 * closed: 409 `case_conflict`). first_contact_at is set the first time the status leaves
 * `open`, resolved_at the first time it becomes `resolved`, closed_at whenever it becomes
 * `closed` (cleared when the case is reopened).
 */
#ifndef CX_CASE_H
#define CX_CASE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "cx/error.h"

enum cx_case_status { CX_CASE_OPEN = 0, CX_CASE_CONTACTED, CX_CASE_RESOLVED, CX_CASE_CLOSED,
		      CX_CASE_NSTATUS };

#define CX_CASE_NOTE_MAX 4000     /* characters (UTF-8 code points) of a note */
#define CX_CASE_NOTES_MAX 1000    /* notes per case */
#define CX_CASE_LIST_MAX 500      /* cases per page of GET /v1/cases */
#define CX_CASE_LIST_DEFAULT 100

const char *cx_case_status_name(enum cx_case_status s);
/* -1 if s is not a status name. */
int cx_case_status_parse(const char *s);

/* A PATCH body, checked: only status, assignee, root_cause; assignee a label (1-64) or
 * null, root_cause a label or null (whether the survey lists it is the store's check).
 * Strings point into the JSON body, which must outlive the change. */
struct cx_case_change {
	int status;                  /* -1 = unchanged */
	int set_assignee;            /* assignee given (NULL = clear it) */
	const char *assignee;
	int set_root_cause;
	const char *root_cause;
};
/* 0, or -1 with a 422 in err: `invalid_case_change` (not an object), `unknown_field`,
 * `invalid_status`, `invalid_assignee`, `invalid_root_cause`. */
int cx_case_change_from_json(const json_t *body, struct cx_case_change *out,
			     struct cx_error *err);
/* A note body {"text": 1..CX_CASE_NOTE_MAX characters}; *text points into body. 422
 * `invalid_note` / `unknown_field` otherwise. */
int cx_case_note_from_json(const json_t *body, const char **text, struct cx_error *err);

/* The value at nearest rank of p (0 < p <= 100) in sorted[0..n): sorted[ceil(p/100*n)-1].
 * n must be > 0. */
int64_t cx_case_nearest_rank(const int64_t *sorted, size_t n, double p);

/* --- the journey's follow-up figures --- */
/* One case opened in the journey's period, as the store reads it. */
struct cx_case_fact {
	const char *stage, *touchpoint, *customer;   /* customer may be NULL */
	int status;                                  /* enum cx_case_status */
	int64_t opened_at, first_contact_at, closed_at;   /* 0 = not (yet) */
	int later_nps;   /* the first NPS answer the customer gave to the case's survey after
			    closed_at (-1: none, or the case is not closed) */
};

/* The figures of one cell (a touchpoint, or a whole stage: merge its touchpoints). */
struct cx_case_stats {
	int64_t opened, contacted, closed;
	int64_t *to_contact, *to_close;          /* seconds */
	size_t nto_contact, nto_close, cap_contact, cap_close;
	struct cx_case_recovery *rec;            /* closed cases with a customer */
	size_t nrec, cap_rec;
};
/* Count f into st; 0, or -1 when out of memory. */
int cx_case_stats_add(struct cx_case_stats *st, const struct cx_case_fact *f);
/* Add everything of src to dst (for a stage from its touchpoints); 0 or -1. */
int cx_case_stats_merge(struct cx_case_stats *dst, const struct cx_case_stats *src);
/* {"opened", "contacted", "closed", "time_to_first_contact_s": {"n", "median", "p90"},
 *  "time_to_close_s": {...}, "recovery": {"n", "recovered", "share", "ci95": [lo, hi]}}
 * medians and p90 by nearest rank (null when n = 0); recovery per customer from the most
 * recently closed case of the cell: n = those who answered NPS again after closed_at,
 * recovered = those whose answer was 7-10, share in % with its 95% Wilson interval (null
 * when n = 0). Sorts st's arrays. New reference. */
json_t *cx_case_stats_json(struct cx_case_stats *st);
void cx_case_stats_release(struct cx_case_stats *st);

#endif
