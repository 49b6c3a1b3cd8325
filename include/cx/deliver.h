/* deliver.h - the webhook delivery worker (issue 12; src/deliver.c).
 *
 * One thread with a libcurl multi handle sends the outbox's pending deliveries of active
 * endpoints (store.h, "webhook endpoints and deliveries"): at most `concurrency` transfers
 * at once and CX_DELIVER_PER_ENDPOINT per endpoint, so that one slow receiver cannot hold
 * the others up. It looks for due deliveries about every CX_DELIVER_POLL_MS.
 *
 * Each attempt POSTs the stored payload with the Standard Webhooks headers (webhook-id,
 * the same on every attempt; webhook-timestamp, now; webhook-signature, by the current
 * secret and, during a rotation, the previous one too). Outcomes, recorded in one
 * transaction per batch of finished attempts:
 *   2xx                        delivered
 *   410                        the endpoint is disabled; the delivery stays pending
 *   429/503 with Retry-After   due again after it (capped at the schedule's longest step)
 *   anything else (3xx are not followed; no answer; timeout) due again after the schedule's
 *                              next step +-20%, or dead when the schedule is used up.
 * A delivery is marked delivered only after its 2xx has been received, so a crash at any
 * point loses nothing: what was in flight is simply due again, with the same webhook-id.
 * The address of every connection is checked again (endpoint.h): DNS answers change.
 */
#ifndef CX_DELIVER_H
#define CX_DELIVER_H

#include <stddef.h>
#include <stdint.h>

#include "cx/config.h"
#include "cx/error.h"

struct cx_store;
struct cx_deliver;

#define CX_DELIVER_PER_ENDPOINT 4
#define CX_DELIVER_POLL_MS 100
#define CX_DELIVER_BODY_MAX (64 * 1024)   /* bytes of a receiver's answer read, at most */
#define CX_SCHEDULE_MAX 32
#define CX_DEFAULT_SCHEDULE "5s,30s,2m,10m,30m,1h,2h,4h,8h,8h"

/* Start the worker on st with cfg's webhook settings. 0, or -1 with err. */
int cx_deliver_start(struct cx_deliver **out, struct cx_store *st,
		     const struct cx_config *cfg, struct cx_error *err);
/* Stop it: transfers in flight are abandoned (they stay pending); returns within about a
 * second. NULL is a no-op. */
void cx_deliver_stop(struct cx_deliver *d);

/* Parse a retry schedule "5s,30s,2m,1h" (units ms, s, m, h; each step 1 ms-24 h; 1 to
 * CX_SCHEDULE_MAX steps) into ms[]; 0, or -1 if malformed. */
int cx_deliver_parse_schedule(const char *s, int64_t *ms, size_t max, size_t *n);
/* A step with jitter: base_ms scaled by 0.8 + 0.4 * rnd / 2^32 (within +-20%). */
int64_t cx_deliver_jitter(int64_t base_ms, uint32_t rnd);
/* A Retry-After header's value in seconds from now_s: delta-seconds or an HTTP-date (a
 * date in the past gives 0); -1 if it is neither. */
int64_t cx_deliver_retry_after(const char *value, int64_t now_s);

/* Attempts by outcome since start, for /metrics. */
enum cx_deliver_outcome {
	CX_OUT_DELIVERED, CX_OUT_FAILED, CX_OUT_RETRY_AFTER, CX_OUT_GONE, CX_OUT_DEAD,
	CX_OUT_N,
};
unsigned long cx_deliver_count(enum cx_deliver_outcome o);
const char *cx_deliver_outcome_name(enum cx_deliver_outcome o);

#endif
