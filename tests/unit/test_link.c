/* Unit tests for link.c: personal links and sealed form values.
 *
 * The MAC is checked against Python's standard library, not only against our own verifier
 * (a round trip would pass with the wrong key, delimiter or alphabet):
 *   python3 -c 'import hmac,hashlib,base64; print(base64.urlsafe_b64encode(hmac.new(
 *     bytes(range(32)), b"kTEST.PAYLOAD", hashlib.sha256).digest()).decode().rstrip("="))'
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/link.h"
#include "check_main.h"

static unsigned char secret_a[CX_LINK_SECRET_LEN], secret_b[CX_LINK_SECRET_LEN];
static int known_b = 1;

static int keys(void *ctx, const char *kid, unsigned char *secret)
{
	(void)ctx;
	if (strcmp(kid, "ka") == 0) {
		memcpy(secret, secret_a, sizeof(secret_a));
		return 0;
	}
	if (strcmp(kid, "kb") == 0 && known_b) {
		memcpy(secret, secret_b, sizeof(secret_b));
		return 0;
	}
	return -1;
}

static int keys_test(void *ctx, const char *kid, unsigned char *secret)
{
	(void)ctx;
	if (strcmp(kid, "kTEST") != 0)
		return -1;
	for (int i = 0; i < CX_LINK_SECRET_LEN; i++)
		secret[i] = (unsigned char)i;
	return 0;
}

static void claims(struct cx_link_claims *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->survey, "delivery");
	strcpy(c->stage, "purchase");
	strcpy(c->touchpoint, "parcel");
	strcpy(c->channel, "email");
	strcpy(c->customer, "cust-42 \xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd");   /* UTF-8 survives */
	strcpy(c->lang, "bg");
	ck_assert_int_eq(cx_link_nonce(c->nonce), 0);
	c->issued_at = 1000;
	c->expires_at = 2000;
	c->attributes = strdup("{\"order\":\"A-1\"}");
}

static void setup(void)
{
	for (int i = 0; i < CX_LINK_SECRET_LEN; i++) {
		secret_a[i] = (unsigned char)i;
		secret_b[i] = (unsigned char)(255 - i);
	}
	known_b = 1;
}

START_TEST(round_trip)
{
	struct cx_link_claims c, back;
	char *token;

	claims(&c);
	token = cx_link_sign(&c, "ka", secret_a);
	ck_assert_ptr_nonnull(token);
	ck_assert_int_eq(strlen(c.nonce), CX_LINK_NONCE_LEN);
	ck_assert_int_eq(cx_link_verify(token, 1500, keys, NULL, &back), CX_LINK_OK);
	ck_assert_str_eq(back.survey, "delivery");
	ck_assert_str_eq(back.stage, "purchase");
	ck_assert_str_eq(back.touchpoint, "parcel");
	ck_assert_str_eq(back.channel, "email");
	ck_assert_str_eq(back.segment, "");
	ck_assert_str_eq(back.customer, c.customer);
	ck_assert_str_eq(back.lang, "bg");
	ck_assert_str_eq(back.nonce, c.nonce);
	ck_assert_str_eq(back.attributes, "{\"order\":\"A-1\"}");
	ck_assert_int_eq(back.issued_at, 1000);
	ck_assert_int_eq(back.expires_at, 2000);
	ck_assert(strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
		  == strlen(token));   /* nothing to escape in a URL */
	cx_link_claims_release(&back);
	cx_link_claims_release(&c);
	free(token);
}
END_TEST

START_TEST(mac_matches_python)
{
	/* the MAC of "kTEST" "." "PAYLOAD" under bytes 0..31, computed by the Python line in
	 * this file's comment: a token whose MAC we did not make verifies only if it is right */
	const char *tok = "kTEST.PAYLOAD.";
	char token[128];
	struct cx_link_claims back;
	FILE *p = popen("python3 -c 'import hmac,hashlib,base64; print(base64.urlsafe_b64encode("
			"hmac.new(bytes(range(32)), b\"kTEST.PAYLOAD\", hashlib.sha256).digest())"
			".decode().rstrip(\"=\"))'", "r");
	char mac[64] = "";

	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(fgets(mac, sizeof(mac), p));
	pclose(p);
	mac[strcspn(mac, "\n")] = '\0';
	ck_assert_int_eq(strlen(mac), 43);
	snprintf(token, sizeof(token), "%s%s", tok, mac);
	/* right MAC, but "PAYLOAD" is not base64 JSON: malformed, not a bad signature */
	ck_assert_int_eq(cx_link_verify(token, 0, keys_test, NULL, &back), CX_LINK_MALFORMED);
	token[strlen(token) - 1] ^= 1;
	ck_assert_int_eq(cx_link_verify(token, 0, keys_test, NULL, &back), CX_LINK_BAD_SIGNATURE);
}
END_TEST

START_TEST(tampered)
{
	struct cx_link_claims c, back;
	char *token, *dot, was;

	claims(&c);
	token = cx_link_sign(&c, "ka", secret_a);
	dot = strchr(token, '.') + 5;
	was = *dot;
	*dot = was == 'A' ? 'B' : 'A';   /* one payload character */
	ck_assert_int_eq(cx_link_verify(token, 1500, keys, NULL, &back), CX_LINK_BAD_SIGNATURE);
	*dot = was;
	ck_assert_int_eq(cx_link_verify(token, 1500, keys, NULL, &back), CX_LINK_OK);
	cx_link_claims_release(&back);
	token[1] = 'b';                   /* another key's name: "kb" signs differently */
	token[2] = '.';
	ck_assert_int_ne(cx_link_verify(token, 1500, keys, NULL, &back), CX_LINK_OK);
	free(token);
	cx_link_claims_release(&c);
}
END_TEST

START_TEST(expired_and_unknown_key)
{
	struct cx_link_claims c, back;
	char *token;

	claims(&c);
	token = cx_link_sign(&c, "kb", secret_b);
	ck_assert_int_eq(cx_link_verify(token, 1999, keys, NULL, &back), CX_LINK_OK);
	cx_link_claims_release(&back);
	ck_assert_int_eq(cx_link_verify(token, 2000, keys, NULL, &back), CX_LINK_EXPIRED);
	known_b = 0;   /* the key was deleted: its links stop working */
	ck_assert_int_eq(cx_link_verify(token, 1500, keys, NULL, &back), CX_LINK_UNKNOWN_KEY);
	free(token);
	cx_link_claims_release(&c);
}
END_TEST

START_TEST(malformed)
{
	static const char *const bad[] = {
		"", ".", "..", "ka..", "ka.e30.", "nokid.e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"ka.e30.AAAA.AAAA", "k.e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"ka.e 30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	};
	struct cx_link_claims back;
	char *huge = malloc(CX_LINK_TOKEN_MAX + 100);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_int_ne(cx_link_verify(bad[i], 0, keys, NULL, &back), CX_LINK_OK);
	memset(huge, 'A', CX_LINK_TOKEN_MAX + 99);
	huge[CX_LINK_TOKEN_MAX + 99] = '\0';
	memcpy(huge, "ka.", 3);
	ck_assert_int_eq(cx_link_verify(huge, 0, keys, NULL, &back), CX_LINK_MALFORMED);
	ck_assert_int_eq(cx_link_verify(NULL, 0, keys, NULL, &back), CX_LINK_MALFORMED);
	free(huge);
}
END_TEST

START_TEST(sealed_values)
{
	char out[64];
	char *s = cx_link_seal("amend", "12345", 2000, "ka", secret_a);

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(cx_link_unseal("amend", s, 1999, keys, NULL, out, sizeof(out)), CX_LINK_OK);
	ck_assert_str_eq(out, "12345");
	ck_assert_int_eq(cx_link_unseal("amend", s, 2000, keys, NULL, out, sizeof(out)),
			 CX_LINK_EXPIRED);
	ck_assert_int_eq(cx_link_unseal("other", s, 1999, keys, NULL, out, sizeof(out)),
			 CX_LINK_BAD_SIGNATURE);   /* a seal is for one purpose */
	s[3] = '9';                        /* another response id */
	ck_assert_int_eq(cx_link_unseal("amend", s, 1999, keys, NULL, out, sizeof(out)),
			 CX_LINK_BAD_SIGNATURE);
	free(s);
	ck_assert_ptr_null(cx_link_seal("amend", "1.2", 2000, "ka", secret_a));
	ck_assert_int_eq(cx_link_unseal("amend", "ka.1.2", 0, keys, NULL, out, sizeof(out)),
			 CX_LINK_MALFORMED);
}
END_TEST

CX_CHECK_MAIN("link", setup, NULL, round_trip, mac_matches_python, tampered,
	      expired_and_unknown_key, malformed, sealed_values)
