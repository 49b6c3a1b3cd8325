/* link.c - signed personal links; see include/cx/link.h. HMAC-SHA256, base64url and the
 * constant-time comparison are nettle's; randomness is GnuTLS's. */
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <inttypes.h>
#include <nettle/base64.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/link.h"

#define MAC_B64_LEN 43   /* base64url of 32 bytes, unpadded */

/* base64url of data, unpadded, into out (room for BASE64_ENCODE_RAW_LENGTH + 3 + 1). */
static size_t b64url(char *out, const void *data, size_t n)
{
	struct base64_encode_ctx ctx;
	size_t len;

	base64url_encode_init(&ctx);
	len = base64_encode_update(&ctx, out, n, data);
	len += base64_encode_final(&ctx, out + len);
	while (len && out[len - 1] == '=')
		len--;
	out[len] = '\0';
	return len;
}

/* Decode n chars of unpadded base64url into a malloc'd buffer (NUL-terminated); NULL if
 * it is not base64url. */
static unsigned char *unb64url(const char *s, size_t n, size_t *outlen)
{
	struct base64_decode_ctx ctx;
	char *padded;
	unsigned char *out;
	size_t pad = (4 - n % 4) % 4, len;

	if (n == 0 || pad == 3 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					   "0123456789-_") < n)
		return NULL;
	if (!(padded = malloc(n + pad + 1)) || !(out = malloc(BASE64_DECODE_LENGTH(n + pad) + 1))) {
		free(padded);
		return NULL;
	}
	memcpy(padded, s, n);
	memset(padded + n, '=', pad);
	base64url_decode_init(&ctx);
	len = BASE64_DECODE_LENGTH(n + pad);
	if (!base64_decode_update(&ctx, &len, out, n + pad, padded) || !base64_decode_final(&ctx)) {
		free(padded);
		free(out);
		return NULL;
	}
	free(padded);
	out[len] = '\0';
	*outlen = len;
	return out;
}

/* MAC_B64_LEN + 1 chars of base64url(HMAC-SHA256(secret, a "." b)) into mac. */
static void sign(char *mac, const unsigned char *secret, const char *a, size_t alen,
		 const char *b, size_t blen)
{
	struct hmac_sha256_ctx ctx;
	unsigned char digest[SHA256_DIGEST_SIZE];

	hmac_sha256_set_key(&ctx, CX_LINK_SECRET_LEN, secret);
	hmac_sha256_update(&ctx, alen, (const uint8_t *)a);
	hmac_sha256_update(&ctx, 1, (const uint8_t *)".");
	hmac_sha256_update(&ctx, blen, (const uint8_t *)b);
	hmac_sha256_digest(&ctx, sizeof(digest), digest);
	b64url(mac, digest, sizeof(digest));
}

int cx_link_nonce(char *out)
{
	unsigned char raw[16];
	char b64[BASE64_ENCODE_RAW_LENGTH(16) + 4];   /* (b64url writes the padding first) */

	if (gnutls_rnd(GNUTLS_RND_NONCE, raw, sizeof(raw)) < 0)
		return -1;
	b64url(b64, raw, sizeof(raw));
	memcpy(out, b64, CX_LINK_NONCE_LEN + 1);
	return 0;
}

int cx_link_new_key(char *kid, unsigned char *secret)
{
	unsigned char raw[6];
	char id[12];

	if (gnutls_rnd(GNUTLS_RND_KEY, secret, CX_LINK_SECRET_LEN) < 0 ||
	    gnutls_rnd(GNUTLS_RND_NONCE, raw, sizeof(raw)) < 0)
		return -1;
	b64url(id, raw, sizeof(raw));   /* 8 chars of base64url: '-' and '_' become letters */
	for (char *p = id; *p; p++)
		if (*p == '-' || *p == '_')
			*p = *p == '-' ? 'x' : 'y';
	kid[0] = 'k';
	memcpy(kid + 1, id, 9);   /* 8 chars and the NUL: "k" + 8 < CX_LINK_KID_MAX */
	return 0;
}

static int valid_kid(const char *kid, size_t n)
{
	return n >= 2 && n < CX_LINK_KID_MAX && kid[0] == 'k' &&
	       strspn(kid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") >= n;
}

char *cx_link_sign(const struct cx_link_claims *c, const char *kid,
		   const unsigned char *secret)
{
	json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "v", 1, "s", c->survey,
			      "st", c->stage, "tp", c->touchpoint, "c", c->customer, "n", c->nonce,
			      "iat", (json_int_t)c->issued_at, "exp", (json_int_t)c->expires_at);
	char *payload, *token = NULL, mac[MAC_B64_LEN + 4];
	size_t plen, klen = strlen(kid);

	if (!o)
		return NULL;
	if (c->channel[0])
		json_object_set_new(o, "ch", json_string(c->channel));
	if (c->segment[0])
		json_object_set_new(o, "sg", json_string(c->segment));
	if (c->lang[0])
		json_object_set_new(o, "l", json_string(c->lang));
	if (c->attributes)
		json_object_set_new(o, "a", json_loads(c->attributes, 0, NULL));
	payload = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (!payload)
		return NULL;
	plen = strlen(payload);
	if ((token = malloc(klen + 1 + BASE64_ENCODE_RAW_LENGTH(plen) + 4 + 1 + MAC_B64_LEN + 1))) {
		size_t n;

		memcpy(token, kid, klen);
		token[klen] = '.';
		n = klen + 1 + b64url(token + klen + 1, payload, plen);
		sign(mac, secret, kid, klen, token + klen + 1, n - klen - 1);
		token[n] = '.';
		memcpy(token + n + 1, mac, MAC_B64_LEN + 1);
	}
	free(payload);
	return token;
}

/* A string claim of 1..max-1 bytes (0..max-1 when optional) into out. */
static int claim_text(const json_t *o, const char *key, char *out, size_t max, int optional)
{
	const json_t *v = json_object_get(o, key);
	size_t n;

	out[0] = '\0';
	if (!v)
		return optional ? 0 : -1;
	if (!json_is_string(v))
		return -1;
	n = json_string_length(v);
	if (n == 0 || n >= max || strlen(json_string_value(v)) != n)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)json_string_value(v)[i] < 0x20)
			return -1;
	memcpy(out, json_string_value(v), n + 1);
	return 0;
}

static int claims_from(const json_t *o, struct cx_link_claims *c)
{
	const json_t *a = json_object_get(o, "a"), *iat = json_object_get(o, "iat"),
		     *exp = json_object_get(o, "exp"), *v = json_object_get(o, "v");

	if (!json_is_object(o) || !json_is_integer(v) || json_integer_value(v) != 1 ||
	    claim_text(o, "s", c->survey, sizeof(c->survey), 0) ||
	    claim_text(o, "st", c->stage, sizeof(c->stage), 0) ||
	    claim_text(o, "tp", c->touchpoint, sizeof(c->touchpoint), 0) ||
	    claim_text(o, "ch", c->channel, sizeof(c->channel), 1) ||
	    claim_text(o, "sg", c->segment, sizeof(c->segment), 1) ||
	    claim_text(o, "c", c->customer, sizeof(c->customer), 0) ||
	    claim_text(o, "l", c->lang, sizeof(c->lang), 1) ||
	    claim_text(o, "n", c->nonce, sizeof(c->nonce), 0) ||
	    strlen(c->nonce) != CX_LINK_NONCE_LEN ||
	    !json_is_integer(iat) || !json_is_integer(exp))
		return -1;
	c->issued_at = json_integer_value(iat);
	c->expires_at = json_integer_value(exp);
	if (a) {
		if (!json_is_object(a) ||
		    !(c->attributes = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS)) ||
		    strlen(c->attributes) > CX_LINK_ATTRS_MAX)
			return -1;
	}
	return 0;
}

enum cx_link_status cx_link_verify(const char *token, int64_t now, cx_link_key_fn key,
				   void *key_ctx, struct cx_link_claims *c)
{
	const char *dot1, *dot2;
	char kid[CX_LINK_KID_MAX], mac[MAC_B64_LEN + 4];
	unsigned char secret[CX_LINK_SECRET_LEN], *payload;
	size_t n = token ? strnlen(token, CX_LINK_TOKEN_MAX + 1) : 0, plen;
	json_t *o;
	int bad;

	memset(c, 0, sizeof(*c));
	if (n == 0 || n > CX_LINK_TOKEN_MAX || !(dot1 = strchr(token, '.')) ||
	    !(dot2 = strchr(dot1 + 1, '.')) || strchr(dot2 + 1, '.') ||
	    !valid_kid(token, (size_t)(dot1 - token)) || strlen(dot2 + 1) != MAC_B64_LEN)
		return CX_LINK_MALFORMED;
	memcpy(kid, token, (size_t)(dot1 - token));
	kid[dot1 - token] = '\0';
	if (key(key_ctx, kid, secret) != 0)
		return CX_LINK_UNKNOWN_KEY;
	sign(mac, secret, kid, strlen(kid), dot1 + 1, (size_t)(dot2 - dot1 - 1));
	memset(secret, 0, sizeof(secret));
	if (!memeql_sec(mac, dot2 + 1, MAC_B64_LEN))
		return CX_LINK_BAD_SIGNATURE;
	/* signed by us: now the payload may be parsed */
	if (!(payload = unb64url(dot1 + 1, (size_t)(dot2 - dot1 - 1), &plen)))
		return CX_LINK_MALFORMED;
	o = strlen((char *)payload) == plen ? json_loadb((char *)payload, plen, 0, NULL) : NULL;
	free(payload);
	bad = !o || claims_from(o, c);
	json_decref(o);
	if (bad) {
		cx_link_claims_release(c);
		return CX_LINK_MALFORMED;
	}
	if (c->expires_at <= now) {
		cx_link_claims_release(c);
		return CX_LINK_EXPIRED;
	}
	return CX_LINK_OK;
}

const char *cx_link_status_code(enum cx_link_status s)
{
	switch (s) {
	case CX_LINK_OK: return "ok";
	case CX_LINK_MALFORMED: return "link_malformed";
	case CX_LINK_UNKNOWN_KEY: return "link_unknown_key";
	case CX_LINK_BAD_SIGNATURE: return "link_bad_signature";
	case CX_LINK_EXPIRED: return "link_expired";
	}
	return "link_malformed";
}

void cx_link_claims_release(struct cx_link_claims *c)
{
	free(c->attributes);
	c->attributes = NULL;
}

/* "kid.value.expires.mac" with mac over "purpose|value|expires" (the purpose keeps a seal
 * made for one form field from being replayed into another). */
char *cx_link_seal(const char *purpose, const char *value, int64_t expires_at,
		   const char *kid, const unsigned char *secret)
{
	char body[512], mac[MAC_B64_LEN + 4], *out;
	int n = snprintf(body, sizeof(body), "%s|%s|%" PRId64, purpose, value, expires_at);
	size_t len;

	if (n < 0 || (size_t)n >= sizeof(body) || strchr(value, '.') || strchr(value, '|'))
		return NULL;
	sign(mac, secret, kid, strlen(kid), body, (size_t)n);
	len = strlen(kid) + strlen(value) + 24 + MAC_B64_LEN + 4;
	if ((out = malloc(len)))
		snprintf(out, len, "%s.%s.%" PRId64 ".%s", kid, value, expires_at, mac);
	return out;
}

enum cx_link_status cx_link_unseal(const char *purpose, const char *sealed, int64_t now,
				   cx_link_key_fn key, void *key_ctx, char *out, size_t len)
{
	char kid[CX_LINK_KID_MAX], value[256], body[512], mac[MAC_B64_LEN + 4];
	unsigned char secret[CX_LINK_SECRET_LEN];
	const char *p[3];
	long long expires;
	char *end;
	int n;

	if (!sealed || strnlen(sealed, 400) >= 400 || !(p[0] = strchr(sealed, '.')) ||
	    !(p[1] = strchr(p[0] + 1, '.')) || !(p[2] = strchr(p[1] + 1, '.')) ||
	    !valid_kid(sealed, (size_t)(p[0] - sealed)) ||
	    (size_t)(p[1] - p[0] - 1) >= sizeof(value) || p[1] == p[0] + 1 ||
	    strlen(p[2] + 1) != MAC_B64_LEN)
		return CX_LINK_MALFORMED;
	memcpy(kid, sealed, (size_t)(p[0] - sealed));
	kid[p[0] - sealed] = '\0';
	memcpy(value, p[0] + 1, (size_t)(p[1] - p[0] - 1));
	value[p[1] - p[0] - 1] = '\0';
	expires = strtoll(p[1] + 1, &end, 10);
	if (end != p[2] || end == p[1] + 1)
		return CX_LINK_MALFORMED;
	if (key(key_ctx, kid, secret) != 0)
		return CX_LINK_UNKNOWN_KEY;
	n = snprintf(body, sizeof(body), "%s|%s|%lld", purpose, value, expires);
	if (n < 0 || (size_t)n >= sizeof(body))
		return CX_LINK_MALFORMED;
	sign(mac, secret, kid, strlen(kid), body, (size_t)n);
	memset(secret, 0, sizeof(secret));
	if (!memeql_sec(mac, p[2] + 1, MAC_B64_LEN))
		return CX_LINK_BAD_SIGNATURE;
	if (expires <= now)
		return CX_LINK_EXPIRED;
	if (strlen(value) >= len)
		return CX_LINK_MALFORMED;
	memcpy(out, value, strlen(value) + 1);
	return CX_LINK_OK;
}
