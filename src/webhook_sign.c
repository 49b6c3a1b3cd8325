/* webhook_sign.c - see include/cx/webhook_sign.h. HMAC, base64 and randomness are GnuTLS's;
 * this file only frames the Standard Webhooks strings around them. */
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cx/webhook_sign.h"

#define SIG_B64_LEN 44   /* base64 of a 32-byte HMAC-SHA256 */

static const char id_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";   /* 62 */

static int bad_secret(struct cx_error *err, struct cx_whsig_key *key, const char *why)
{
	cx_whsig_key_wipe(key);
	return cx_error_set(err, 422, "invalid_webhook_secret", "secret",
			    "a webhook secret is \"whsec_\" + base64 of %d to %d random bytes: %s",
			    CX_WHSIG_KEY_MIN, CX_WHSIG_KEY_MAX, why);
}

/* Standard base64 text shape: alphabet, length a multiple of 4, '=' only as 1-2 padding. */
static int b64_shape_ok(const char *s, size_t n)
{
	size_t pad = 0;

	if (n == 0 || n % 4)
		return 0;
	while (pad < 2 && s[n - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < n - pad; i++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
			    s[i]) || s[i] == '\0')
			return 0;
	return 1;
}

/* base64 of data into out (NUL-terminated); 0, or -1 if GnuTLS fails or out is short. */
static int b64_encode(const unsigned char *data, size_t n, char *out, size_t len)
{
	gnutls_datum_t in = { (unsigned char *)data, (unsigned)n }, enc = { NULL, 0 };
	int rc = -1;

	if (gnutls_base64_encode2(&in, &enc) < 0)
		return -1;
	if (enc.size < len) {
		memcpy(out, enc.data, enc.size);
		out[enc.size] = '\0';
		rc = 0;
	}
	gnutls_free(enc.data);
	return rc;
}

int cx_whsig_secret_parse(const char *secret, struct cx_whsig_key *key, struct cx_error *err)
{
	size_t plen = strlen(CX_WHSIG_PREFIX), n;
	const char *b64;
	gnutls_datum_t in, dec = { NULL, 0 };
	char again[CX_WHSIG_SECRET_SIZE];
	int rc;

	memset(key, 0, sizeof(*key));
	if (!secret || strncmp(secret, CX_WHSIG_PREFIX, plen) != 0)
		return bad_secret(err, key, "the \"whsec_\" prefix is missing");
	b64 = secret + plen;
	n = strlen(b64);
	if (n > CX_WHSIG_SECRET_SIZE - 1 - plen)
		return bad_secret(err, key, "too long");
	if (!b64_shape_ok(b64, n))
		return bad_secret(err, key, "not valid base64");
	in.data = (unsigned char *)b64;
	in.size = (unsigned)n;
	if (gnutls_base64_decode2(&in, &dec) < 0)
		return bad_secret(err, key, "not valid base64");
	if (dec.size < CX_WHSIG_KEY_MIN || dec.size > CX_WHSIG_KEY_MAX) {
		rc = bad_secret(err, key, dec.size < CX_WHSIG_KEY_MIN ? "too short" : "too long");
		goto out;
	}
	/* Canonical only: the unused low bits of the last character must be zero, so one
	 * key has exactly one text (re-encoding must give the input back). */
	if (b64_encode(dec.data, dec.size, again, sizeof(again)) || strcmp(again, b64) != 0) {
		rc = bad_secret(err, key, "not canonical base64");
		goto out;
	}
	memcpy(key->bytes, dec.data, dec.size);
	key->len = dec.size;
	rc = 0;
out:
	gnutls_memset(dec.data, 0, dec.size);
	gnutls_free(dec.data);
	return rc;
}

void cx_whsig_key_wipe(struct cx_whsig_key *key)
{
	if (key)
		gnutls_memset(key, 0, sizeof(*key));
}

int cx_whsig_secret_generate(char *out, size_t len, struct cx_error *err)
{
	unsigned char raw[CX_WHSIG_KEY_NEW];
	size_t plen = strlen(CX_WHSIG_PREFIX);
	int rc = -1;

	if (len < CX_WHSIG_SECRET_SIZE)
		return cx_error_set(err, 500, "internal", NULL, "secret buffer too small");
	if (gnutls_rnd(GNUTLS_RND_KEY, raw, sizeof(raw)) < 0) {
		cx_error_set(err, 500, "internal", NULL, "random generator failed");
		goto out;
	}
	memcpy(out, CX_WHSIG_PREFIX, plen);
	if (b64_encode(raw, sizeof(raw), out + plen, len - plen)) {
		cx_error_set(err, 500, "internal", NULL, "base64 encoding failed");
		goto out;
	}
	rc = 0;
out:
	gnutls_memset(raw, 0, sizeof(raw));
	return rc;
}

int cx_whsig_msg_id(char out[CX_WHSIG_MSG_ID_SIZE])
{
	unsigned char raw[32];
	size_t n = 4;

	memcpy(out, "msg_", 4);
	while (n < CX_WHSIG_MSG_ID_SIZE - 1) {
		if (gnutls_rnd(GNUTLS_RND_NONCE, raw, sizeof(raw)) < 0)
			return -1;
		/* Rejection sampling: bytes >= 248 (4 * 62) would bias the alphabet. */
		for (size_t i = 0; i < sizeof(raw) && n < CX_WHSIG_MSG_ID_SIZE - 1; i++)
			if (raw[i] < 248)
				out[n++] = id_alphabet[raw[i] % 62];
	}
	out[n] = '\0';
	return 0;
}

static int id_ok(const char *msg_id)
{
	return msg_id && *msg_id && !strchr(msg_id, '.');
}

/* out = "v1," + base64(HMAC-SHA256(key, id "." ts "." body)), ts as text exactly. */
static int sign_text(const struct cx_whsig_key *key, const char *msg_id, const char *ts,
		     const void *body, size_t body_len, char out[CX_WHSIG_SIG_SIZE])
{
	gnutls_hmac_hd_t h;
	unsigned char mac[32];
	int rc = -1;

	if (!key || key->len < CX_WHSIG_KEY_MIN || key->len > CX_WHSIG_KEY_MAX ||
	    !id_ok(msg_id) || (body_len && !body))
		return -1;
	/* Streamed into GnuTLS's HMAC, so the body is never copied into a joined buffer. */
	if (gnutls_hmac_init(&h, GNUTLS_MAC_SHA256, key->bytes, key->len) < 0)
		return -1;
	if (gnutls_hmac(h, msg_id, strlen(msg_id)) < 0 || gnutls_hmac(h, ".", 1) < 0 ||
	    gnutls_hmac(h, ts, strlen(ts)) < 0 || gnutls_hmac(h, ".", 1) < 0 ||
	    (body_len && gnutls_hmac(h, body, body_len) < 0)) {
		gnutls_hmac_deinit(h, NULL);
		goto out;
	}
	gnutls_hmac_deinit(h, mac);
	memcpy(out, "v1,", 3);
	rc = b64_encode(mac, sizeof(mac), out + 3, CX_WHSIG_SIG_SIZE - 3);
out:
	gnutls_memset(mac, 0, sizeof(mac));
	return rc;
}

int cx_whsig_sign(const struct cx_whsig_key *key, const char *msg_id, int64_t timestamp,
		  const void *body, size_t body_len, char out[CX_WHSIG_SIG_SIZE])
{
	char ts[24];

	if (timestamp < 0)
		return -1;
	snprintf(ts, sizeof(ts), "%" PRId64, timestamp);
	return sign_text(key, msg_id, ts, body, body_len, out);
}

int cx_whsig_header(const struct cx_whsig_key *keys, size_t nkeys, const char *msg_id,
		    int64_t timestamp, const void *body, size_t body_len, char *out,
		    size_t len)
{
	size_t at = 0;

	if (nkeys == 0 || !out || len / CX_WHSIG_SIG_SIZE < nkeys)
		return -1;
	for (size_t i = 0; i < nkeys; i++) {
		if (i)
			out[at++] = ' ';
		if (cx_whsig_sign(&keys[i], msg_id, timestamp, body, body_len, out + at))
			return -1;
		at += strlen(out + at);
	}
	return 0;
}

/* The webhook-timestamp text as seconds: 1 to 18 decimal digits, nothing else. */
static int parse_ts(const char *s, int64_t *out)
{
	int64_t v = 0;
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 18)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Does any space-separated "v1,<b64>" entry of header equal want ("v1,<b64>")? Each
 * candidate of the right length is compared with gnutls_memcmp (constant time). */
static int any_matches(const char *header, const char *want)
{
	const char *p = header;
	size_t wlen = strlen(want);
	int found = 0;

	while (p && *p) {
		size_t n = strcspn(p, " ");

		if (n == wlen && strncmp(p, "v1,", 3) == 0 && gnutls_memcmp(p, want, wlen) == 0)
			found = 1;
		p += n;
		p += strspn(p, " ");
	}
	return found;
}

int cx_whsig_verify(const struct cx_whsig_key *key, const char *msg_id, const char *timestamp,
		    const void *body, size_t body_len, const char *signatures, int64_t now,
		    int64_t tolerance, struct cx_error *err)
{
	char want[CX_WHSIG_SIG_SIZE];
	int64_t ts;

	if (!id_ok(msg_id))
		return cx_error_set(err, 401, "webhook_malformed", "webhook-id",
				    "webhook-id is missing, empty or contains '.'");
	if (parse_ts(timestamp, &ts))
		return cx_error_set(err, 401, "webhook_malformed", "webhook-timestamp",
				    "webhook-timestamp is not integer Unix seconds");
	if (tolerance <= 0)
		tolerance = CX_WHSIG_TOLERANCE;
	if (ts < now - tolerance || ts > now + tolerance)
		return cx_error_set(err, 401, "webhook_timestamp_expired", "webhook-timestamp",
				    "webhook-timestamp is more than %" PRId64 " s from now",
				    tolerance);
	if (!signatures || sign_text(key, msg_id, timestamp, body, body_len, want))
		return cx_error_set(err, 401, "webhook_signature_invalid", "webhook-signature",
				    "no signature matches");
	if (!any_matches(signatures, want)) {
		gnutls_memset(want, 0, sizeof(want));
		return cx_error_set(err, 401, "webhook_signature_invalid", "webhook-signature",
				    "no v1 signature matches");
	}
	gnutls_memset(want, 0, sizeof(want));
	return 0;
}
