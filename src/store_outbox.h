/* store_outbox.h - shared by src/store_outbox.c and src/store_endpoints.c only (the
 * webhook side of the store; see include/cx/store.h and src/store_loop.h). */
#ifndef CX_STORE_OUTBOX_H
#define CX_STORE_OUTBOX_H

#include "cx/store.h"

/* A paused or disabled endpoint's pending deliveries are "parked": next_at is PARKED_MS, so
 * the worker's scan of the due index never walks them (a paused endpoint may hold a large
 * backlog); resuming makes them due now. Every write of next_at goes through DUE(x):
 * x if the delivery's endpoint is active, else PARKED_MS. */
#define PARKED_MS "9000000000000000"
#define DUE(x) "CASE WHEN (SELECT state FROM endpoints WHERE id = deliveries.endpoint) = " \
	       "'active' THEN " x " ELSE " PARKED_MS " END"

/* After the commit of any change to the endpoints table (any thread): the subscriber
 * lookup of cx_outbox_insert reads the table again before its next use. */
void cx_outbox_endpoints_changed(struct cx_store *st);

/* The body of ev's deliveries (malloc'd; NULL when out of memory):
 *   {"type":...,"timestamp":"2026-11-26T16:00:00.123Z","data":...}
 * as json_dumps prints it (JSON_COMPACT | JSON_REAL_PRECISION(12)); ev->data_text, when
 * set, is spliced in as `data`, byte for byte what printing ev->data gives. */
char *cx_outbox_body(const struct cx_event *ev);

#endif
