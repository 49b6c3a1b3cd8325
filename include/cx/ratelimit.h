/* ratelimit.h - token buckets keyed by a string (a client address, a key id).
 *
 * Each key gets `burst` tokens, refilled at `rate` per second; a request takes one. At
 * most `max_keys` buckets are tracked: when full, buckets that have refilled completely
 * (idle ones) are dropped; if none can be, the newcomer is let through untracked rather
 * than a stranger's traffic refusing everyone. Thread-safe.
 */
#ifndef CX_RATELIMIT_H
#define CX_RATELIMIT_H

#include <stddef.h>

struct cx_ratelimit;

/* rate <= 0: no limit (cx_ratelimit_take always allows). */
struct cx_ratelimit *cx_ratelimit_new(double rate, double burst, size_t max_keys);
void cx_ratelimit_free(struct cx_ratelimit *rl);
/* Take a token for `who` at time `now` (seconds, monotonic). 0 if allowed, else the
 * whole seconds (>= 1) until a token will be there, for Retry-After. */
unsigned cx_ratelimit_take(struct cx_ratelimit *rl, const char *who, double now);

/* The bucket name of a client address: an IPv6 address counts as its /64
 * ("2001:db8:1:2::/64"), since one host or subscriber is given a whole /64 and could
 * otherwise take a fresh bucket per address; an IPv4-mapped one as its IPv4 address;
 * anything else (IPv4, "unknown") as it is. out must hold at least 64 bytes. */
void cx_ratelimit_address_key(const char *client, char *out, size_t len);

#endif
