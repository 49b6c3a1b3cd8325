/* fatigue.h - how often a customer may be asked (src/fatigue.c; H1 owns the code).
 *
 * Two rules, each set service-wide (PUT /v1/settings/fatigue: counts every survey and
 * channel) and per survey (the survey's "fatigue": counts that survey only); every rule set
 * applies, the strictest wins:
 *   max_invitations N per per_days D  at most N invitations minted in any D days
 *   after_answer_days A               none within A days after the customer answered
 *                                     (any response naming the customer, link or not)
 * 0 turns a rule off. Applied when a link is minted (a skipped invitation names the rule
 * and the time the customer becomes eligible again) and again when it is answered (only
 * after_answer_days: an answer to another survey since the mint; the link's own earlier
 * answer never counts).
 */
#ifndef CX_FATIGUE_H
#define CX_FATIGUE_H

#include <stdint.h>
#include <jansson.h>

#include "cx/error.h"

#define CX_FATIGUE_DAYS_MAX 3650
#define CX_FATIGUE_COUNT_MAX 1000

struct cx_fatigue {
	unsigned max_invitations, per_days;   /* both 0, or both > 0 */
	unsigned after_answer_days;
};

/* Parse {"max_invitations", "per_days", "after_answer_days"} (absent = 0; null = all off)
 * into *out; 422 naming `field`.<member> otherwise. */
int cx_fatigue_from_json(const json_t *j, const char *field, struct cx_fatigue *out,
			 struct cx_error *err);
json_t *cx_fatigue_to_json(const struct cx_fatigue *f);
int cx_fatigue_is_off(const struct cx_fatigue *f);

/* A customer's history as the store reads it, for one rule set. */
struct cx_fatigue_history {
	const int64_t *minted;   /* mint times (unix s) within the rule's window, newest first */
	size_t nminted;
	int64_t last_answer;     /* unix s of the latest answer, 0 = none */
};
/* The verdict for a customer at now under f: eligible (reason NULL, eligible_at 0) or the
 * rule that refuses ("max_invitations", "answered_recently") and when it stops refusing. */
struct cx_fatigue_verdict {
	const char *reason;
	int64_t eligible_at;
};
void cx_fatigue_decide(const struct cx_fatigue *f, const struct cx_fatigue_history *h,
		       int64_t now, struct cx_fatigue_verdict *v);

#endif
