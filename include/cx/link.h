/* link.h - signed personal links (src/link.c): what a link carries and how it is checked.
 *
 * A link is  PUBLIC_URL/i/TOKEN  with  TOKEN = KID "." PAYLOAD "." MAC  where PAYLOAD is the
 * base64url (no padding) of a compact JSON object, the claims, and MAC the base64url of
 * HMAC-SHA256(secret of KID, KID "." PAYLOAD). Everything the response needs is in the
 * claims, so checking a link needs no database row: the secret is looked up by KID, the
 * MAC compared in constant time, the claims parsed and bounded, the expiry checked.
 * The claims are signed, not encrypted: whoever holds the link can read them (the
 * customer id, the attributes), so nothing secret belongs in them.
 *
 * Claims (short keys keep links short):
 *   "v":1, "s":survey, "st":stage, "tp":touchpoint, "ch":channel?, "sg":segment?,
 *   "c":customer, "a":{attributes}?, "l":lang?, "n":nonce (22 chars of base64url, 128
 *   random bits: the answer's idempotency key), "iat":minted (unix s), "exp":expires (unix s)
 */
#ifndef CX_LINK_H
#define CX_LINK_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "cx/error.h"

#define CX_LINK_KID_MAX 16        /* "k" + up to 15 chars of [A-Za-z0-9] */
#define CX_LINK_SECRET_LEN 32
#define CX_LINK_NONCE_LEN 22      /* base64url of 16 random bytes */
#define CX_LINK_TOKEN_MAX 2048    /* a longer token is malformed without further look */
#define CX_LINK_ATTRS_MAX 1024    /* bytes of the attributes' compact JSON */

struct cx_link_claims {
	char survey[65], stage[65];
	char touchpoint[129];
	char channel[65], segment[65];      /* "" = none */
	char customer[257];
	char lang[36];                      /* "" = the respondent's browser decides */
	char nonce[CX_LINK_NONCE_LEN + 1];
	char *attributes;                   /* compact JSON object or NULL; malloc'd */
	int64_t issued_at, expires_at;      /* unix seconds */
};

enum cx_link_status {
	CX_LINK_OK = 0,
	CX_LINK_MALFORMED,     /* not three parts, bad base64url, bad JSON, claims out of bounds */
	CX_LINK_UNKNOWN_KEY,   /* no secret for its kid (never made here, or deleted) */
	CX_LINK_BAD_SIGNATURE, /* the MAC does not match: changed or forged */
	CX_LINK_EXPIRED,       /* exp <= now */
};

/* The secret for kid into secret[CX_LINK_SECRET_LEN]: 0 if known, -1 if not. */
typedef int (*cx_link_key_fn)(void *ctx, const char *kid, unsigned char *secret);

/* A fresh nonce into out[CX_LINK_NONCE_LEN + 1]; 0, or -1 if no randomness. */
int cx_link_nonce(char *out);
/* The token for c (whose nonce, times and fields are set) signed by (kid, secret): a new
 * malloc'd string, or NULL when out of memory. */
char *cx_link_sign(const struct cx_link_claims *c, const char *kid,
		   const unsigned char *secret);
/* Check token at time now: CX_LINK_OK with *c filled (release it after), or why not
 * (*c then holds nothing to release). Bounded whatever the input. */
enum cx_link_status cx_link_verify(const char *token, int64_t now, cx_link_key_fn key,
				   void *key_ctx, struct cx_link_claims *c);
/* A stable code for a status ("link_malformed", "link_unknown_key", ...). */
const char *cx_link_status_code(enum cx_link_status s);
void cx_link_claims_release(struct cx_link_claims *c);
/* A new kid ("k" + 8 chars) and secret; 0, or -1 if no randomness. */
int cx_link_new_key(char *kid, unsigned char *secret);

/* A short signed value for a form field (the hosted page's second step): MAC over
 * (purpose, value, expires) with the secret, as "value.expires.mac". cx_link_seal returns a
 * malloc'd string; cx_link_unseal checks it and copies the value (at most len-1 bytes)
 * into out: CX_LINK_OK, CX_LINK_MALFORMED, CX_LINK_BAD_SIGNATURE or CX_LINK_EXPIRED. */
char *cx_link_seal(const char *purpose, const char *value, int64_t expires_at,
		   const char *kid, const unsigned char *secret);
enum cx_link_status cx_link_unseal(const char *purpose, const char *sealed, int64_t now,
				   cx_link_key_fn key, void *key_ctx, char *out, size_t len);

#endif
