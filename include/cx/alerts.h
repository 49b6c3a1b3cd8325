/* alerts.h - alerts on what changed (issue 12): on a schedule, or when an admin asks, each
 * survey's last window [today + 1 - W, today + 1) (W whole UTC days up to and including
 * today, the journey view's default period) is compared with the W days before it, per
 * stage and per (stage, touchpoint), with the journey's tests (journey.h):
 *  - `journey.score_dropped`: a metric (NPS, CSAT or CES; each with answers on both
 *    sides) fell significantly (z < -1.96) with at least min_n answers on both sides. For
 *    all three metrics lower is worse: CES is the mean of 1-7 with 7 the easiest.
 *  - `journey.pain_point_found`: a touchpoint that is a pain point (cx_journey_is_pain on
 *    the survey's headline metric) in the current window and was not one in the previous.
 * Each finding, keyed "<type>|<survey>|<stage>|<touchpoint>|<metric>", is emitted at most
 * once per cooldown (store.h, "alerts"), with its numbers and the reason in words.
 */
#ifndef CX_ALERTS_H
#define CX_ALERTS_H

#include <stdatomic.h>
#include <stdint.h>
#include <jansson.h>

#include "cx/config.h"
#include "cx/error.h"
#include "cx/journey.h"
#include "cx/store.h"

#define CX_ALERT_DROPPED "journey.score_dropped"
#define CX_ALERT_PAIN "journey.pain_point_found"

struct cx_alerts_params {
	int64_t now;              /* unix s: the check's clock (windows and cooldown) */
	int64_t window_days;      /* W, >= 1 */
	int64_t min_n;            /* answers needed on each side */
	int64_t cooldown_s;       /* a finding is not emitted again sooner */
	const atomic_int *cancel; /* NULL, or set to stop between surveys (the scheduler) */
};

/* The parameters cfg gives (--alert-window, --alert-min-n, --alert-cooldown), at now. */
struct cx_alerts_params cx_alerts_params_of(const struct cx_config *cfg, int64_t now);

/* Is then -> now a drop worth an alert: metric m answered on both sides, n >= min_n on
 * both, significant (|z| > 1.96) and down? 1 yes, 0 no; *out holds the comparison
 * (a = then, b = now) whenever both sides have answers. */
int cx_alerts_is_drop(const struct cx_hist *then, const struct cx_hist *now, enum cx_metric m,
		      int64_t min_n, struct cx_compare *out);

/* Is a touchpoint a new pain point: one now (tp_now against all_now, the whole survey in
 * the current window) and not one then (tp_then against all_then)? 1 yes, 0 no; *out
 * holds the current comparison (a = rest of the journey, b = touchpoint). */
int cx_alerts_is_new_pain(const struct cx_hist *tp_now, const struct cx_hist *all_now,
			  const struct cx_hist *tp_then, const struct cx_hist *all_then,
			  enum cx_metric m, int64_t min_n, struct cx_compare *out);

/* Run the check over every survey and emit what it finds (any thread; reads through
 * cx_store_scores, records through cx_store_alerts_record). *out (new reference) is
 * {"emitted": n, "findings": [finding...]}: every current finding, in survey, journey and
 * metric order, each {"key", "type", "emitted" (false: still cooling down), "deliveries",
 * "first_at", "last_at", "data"}. -1 with err (503) when the store fails; nothing of the
 * run is then recorded. */
int cx_alerts_run(struct cx_store *st, const struct cx_alerts_params *p, json_t **out,
		  struct cx_error *err);

/* The scheduler: a thread that runs the check interval_s after start, then every
 * interval_s, and logs what it emitted. interval_s = 0 starts nothing (*out = NULL).
 * cx_alerts_stop wakes and joins it (a run in progress stops at the next survey); NULL is
 * fine. */
struct cx_alerts_sched;
int cx_alerts_start(struct cx_alerts_sched **out, struct cx_store *st, int64_t interval_s,
		    const struct cx_alerts_params *p);
void cx_alerts_stop(struct cx_alerts_sched *s);

#endif
