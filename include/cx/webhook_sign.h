/* webhook_sign.h - Standard Webhooks signatures (https://www.standardwebhooks.com, the
 * symmetric scheme; issue 12).
 *
 * A webhook carries three headers:
 *   webhook-id         "msg_..." stable across retries (receivers de-duplicate on it)
 *   webhook-timestamp  integer Unix seconds of this attempt
 *   webhook-signature  space-separated "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>"
 * The key is the base64 part of a "whsec_<base64>" secret, decoded: 24 to 64 bytes.
 * During a secret rotation the sender signs with the current and the previous secret and
 * sends both signatures; a receiver accepts the message if any one of them verifies.
 *
 * Everything here works in caller-owned buffers of the sizes below: nothing allocates
 * memory the caller must free. All functions are thread-safe (GnuTLS's HMAC, base64 and
 * random generator; no shared state). Crypto and base64 are GnuTLS's, never hand-written.
 */
#ifndef CX_WEBHOOK_SIGN_H
#define CX_WEBHOOK_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "cx/error.h"

#define CX_WHSIG_PREFIX "whsec_"
#define CX_WHSIG_KEY_MIN 24        /* bytes of key, the spec's minimum (192 bits) */
#define CX_WHSIG_KEY_MAX 64        /* bytes of key, the spec's maximum (512 bits) */
#define CX_WHSIG_KEY_NEW 32        /* bytes of key in a generated secret */
/* A secret's text with its NUL: "whsec_" + base64 of at most 64 bytes (88) + 1. */
#define CX_WHSIG_SECRET_SIZE 96
/* One signature with its NUL: "v1," + base64 of 32 bytes (44) + 1. */
#define CX_WHSIG_SIG_SIZE 48
/* A message id with its NUL: "msg_" + 24 random [A-Za-z0-9] (~142 bits) + 1. */
#define CX_WHSIG_MSG_ID_SIZE 29
/* Default verification tolerance between webhook-timestamp and now, seconds. */
#define CX_WHSIG_TOLERANCE 300

/* A decoded signing key. Plain data: copy it freely; cx_whsig_key_wipe() when done if it
 * should not linger in memory. */
struct cx_whsig_key {
	size_t len;                          /* CX_WHSIG_KEY_MIN..CX_WHSIG_KEY_MAX */
	unsigned char bytes[CX_WHSIG_KEY_MAX];
};

/* A new secret "whsec_" + base64 of CX_WHSIG_KEY_NEW bytes from gnutls_rnd(GNUTLS_RND_KEY)
 * into out (len >= CX_WHSIG_SECRET_SIZE). 0, or -1 with err (500, only if GnuTLS fails or
 * out is too small). */
int cx_whsig_secret_generate(char *out, size_t len, struct cx_error *err);

/* Parse a "whsec_" secret into *key. The base64 must be canonical standard base64 (RFC
 * 4648 alphabet with padding, no whitespace) of CX_WHSIG_KEY_MIN..CX_WHSIG_KEY_MAX bytes.
 * 0, or -1 with err 422 "invalid_webhook_secret" (field "secret") and a message saying
 * what is wrong; *key is then zeroed. The secret text is never copied into the message. */
int cx_whsig_secret_parse(const char *secret, struct cx_whsig_key *key, struct cx_error *err);

void cx_whsig_key_wipe(struct cx_whsig_key *key);

/* A new message id "msg_" + 24 random alphanumerics into out (CX_WHSIG_MSG_ID_SIZE
 * bytes). 0, or -1 if GnuTLS's generator fails. */
int cx_whsig_msg_id(char out[CX_WHSIG_MSG_ID_SIZE]);

/* out = "v1," + base64(HMAC-SHA256(key, "{msg_id}.{timestamp}.{body}")), NUL-terminated
 * (CX_WHSIG_SIG_SIZE bytes). body is the exact bytes sent (body_len may be 0, body then
 * may be NULL). msg_id must be non-empty and contain no '.' (the spec's rule: the
 * separator must not be forgeable). 0, or -1 on a bad argument or a GnuTLS failure. */
int cx_whsig_sign(const struct cx_whsig_key *key, const char *msg_id, int64_t timestamp,
		  const void *body, size_t body_len, char out[CX_WHSIG_SIG_SIZE]);

/* The webhook-signature header value: one signature per key, in the order given, separated
 * by single spaces (keys[0] the current secret, keys[1] the previous one during a rotation
 * overlap). out needs nkeys * CX_WHSIG_SIG_SIZE bytes. 0, or -1 (nkeys == 0, out too small,
 * or as cx_whsig_sign). */
int cx_whsig_header(const struct cx_whsig_key *keys, size_t nkeys, const char *msg_id,
		    int64_t timestamp, const void *body, size_t body_len, char *out,
		    size_t len);

/* Verify a received message as a Standard Webhooks receiver does: `timestamp` is the
 * webhook-timestamp header's text (decimal digits only; it is signed as received), which
 * must be within `tolerance` seconds of `now` either way (tolerance <= 0: the default
 * CX_WHSIG_TOLERANCE); `signatures` is the webhook-signature header, space-separated; the
 * message is accepted if any "v1," entry matches (other versions such as "v1a," are
 * skipped), compared in constant time. 0 if authentic, else -1 with err (401):
 *   "webhook_malformed"          missing/empty id, id with '.', timestamp not digits
 *   "webhook_timestamp_expired"  timestamp outside the tolerance (too old or too new)
 *   "webhook_signature_invalid"  no v1 signature matches
 */
int cx_whsig_verify(const struct cx_whsig_key *key, const char *msg_id, const char *timestamp,
		    const void *body, size_t body_len, const char *signatures, int64_t now,
		    int64_t tolerance, struct cx_error *err);

#endif
