/* demo.h - realistic demo data so a new user sees a living dashboard at once.
 *
 * Survey "shop" (default journey stages) with several touchpoints per stage, channels and
 * segments, about `n` responses spread over the `days` days up to today: NPS, CSAT, CES
 * and comments. One clear pain point (purchase / payment) and a trend that moves (retention
 * / delivery gets better over the period). Deterministic for a given seed.
 */
#ifndef CX_DEMO_H
#define CX_DEMO_H

#include <stdint.h>

#include "cx/error.h"
#include "cx/store.h"

#define CX_DEMO_SURVEY "shop"

/* Fill st (from one thread, with no writer running). Fails with 409 when the demo survey
 * already holds responses. */
int cx_demo_fill(struct cx_store *st, unsigned n, unsigned days, uint64_t seed,
		 struct cx_error *err);

#endif
