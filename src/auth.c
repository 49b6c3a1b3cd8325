/* auth.c - see include/cx/auth.h. Hashing is GnuTLS's SHA-256; randomness getrandom(2). */
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cx/auth.h"
#include "cx/store.h"

static const char alphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";   /* 32, unambiguous */

const char *cx_role_name(enum cx_role r)
{
	switch (r) {
	case CX_ROLE_INGEST: return "ingest";
	case CX_ROLE_READ: return "read";
	case CX_ROLE_ADMIN: return "admin";
	case CX_ROLE_AGENT: return "agent";
	default: return "none";
	}
}

enum cx_role cx_role_parse(const char *s)
{
	static const enum cx_role roles[] = { CX_ROLE_INGEST, CX_ROLE_READ, CX_ROLE_AGENT,
					      CX_ROLE_ADMIN };

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (s && strcmp(s, cx_role_name(roles[i])) == 0)
			return roles[i];
	return CX_ROLE_NONE;
}

int cx_auth_role_allows(enum cx_role key_role, enum cx_role route_role)
{
	if (route_role == CX_ROLE_PUBLIC)
		return 1;
	if (key_role == CX_ROLE_NONE)
		return 0;
	if (key_role == CX_ROLE_ADMIN)
		return 1;
	switch (route_role) {
	case CX_ROLE_FORM:
	case CX_ROLE_INGEST: return key_role == CX_ROLE_INGEST;
	case CX_ROLE_READ: return key_role == CX_ROLE_READ || key_role == CX_ROLE_AGENT;
	case CX_ROLE_AGENT: return key_role == CX_ROLE_AGENT;
	case CX_ROLE_ANY_KEY: return key_role == CX_ROLE_INGEST || key_role == CX_ROLE_READ ||
				     key_role == CX_ROLE_AGENT;
	default: return 0;
	}
}

static int random_text(char *out, size_t n)
{
	unsigned char raw[64];

	if (n > sizeof(raw) || getrandom(raw, n, 0) != (ssize_t)n)
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = alphabet[raw[i] & 31];
	out[n] = '\0';
	return 0;
}

static int sha256(const char *s, unsigned char out[32])
{
	return gnutls_hash_fast(GNUTLS_DIG_SHA256, s, strlen(s), out) == 0 ? 0 : -1;
}

int cx_key_generate(struct cx_key *k, enum cx_role role, char *secret, size_t len)
{
	char rnd[33];

	memset(k, 0, sizeof(*k));
	if (len < 4 + CX_KEY_ID_LEN + 1 + 32 + 1 || random_text(k->id, CX_KEY_ID_LEN) ||
	    random_text(rnd, 32))
		return -1;
	snprintf(secret, len, "cxd_%s_%s", k->id, rnd);
	k->role = role;
	return sha256(secret, k->hash);
}

int cx_key_parse_id(const char *secret, char id[CX_KEY_ID_LEN + 1])
{
	if (!secret || strncmp(secret, "cxd_", 4) != 0 || strlen(secret) > CX_KEY_SECRET_MAX ||
	    strlen(secret) < 4 + CX_KEY_ID_LEN + 2 || secret[4 + CX_KEY_ID_LEN] != '_')
		return -1;
	memcpy(id, secret + 4, CX_KEY_ID_LEN);
	id[CX_KEY_ID_LEN] = '\0';
	for (int i = 0; i < CX_KEY_ID_LEN; i++)
		if (!strchr(alphabet, id[i]))
			return -1;
	return 0;
}

int cx_key_matches(const struct cx_key *k, const char *secret)
{
	unsigned char h[32];
	unsigned char diff = 0;

	if (sha256(secret, h))
		return 0;
	for (int i = 0; i < 32; i++)   /* no early exit: constant time */
		diff |= (unsigned char)(h[i] ^ k->hash[i]);
	return diff == 0;
}

int cx_key_allows_survey(const struct cx_key *k, const char *survey)
{
	json_t *list, *v;
	size_t i;
	int ok = 0;

	if (!k->surveys)
		return 1;
	list = json_loads(k->surveys, 0, NULL);
	json_array_foreach(list, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), survey) == 0)
			ok = 1;
	json_decref(list);
	return ok;
}

json_t *cx_key_json(const struct cx_key *k)
{
	json_t *surveys = k->surveys ? json_loads(k->surveys, 0, NULL) : NULL;

	return json_pack("{s:s, s:s, s:o, s:s?, s:I}", "id", k->id, "role", cx_role_name(k->role),
			 "surveys", surveys ? surveys : json_null(), "label", k->label,
			 "created_at", (json_int_t)k->created_at);
}

void cx_key_release(struct cx_key *k)
{
	free(k->surveys);
	free(k->label);
	k->surveys = k->label = NULL;
}

int cx_auth_key(struct cx_store *st, const char *presented, struct cx_key *out,
		struct cx_error *err)
{
	static const struct cx_key dummy = { .role = CX_ROLE_NONE };   /* hash: 32 zero bytes */
	char id[CX_KEY_ID_LEN + 1];
	int got = -1, ok;

	memset(out, 0, sizeof(*out));
	if (cx_key_parse_id(presented, id) == 0)
		got = cx_store_key_get(st, id, out);
	ok = cx_key_matches(got == 0 ? out : &dummy, presented ? presented : "");
	if (got == 0 && ok)
		return 0;
	if (got == 0)
		cx_key_release(out);
	memset(out, 0, sizeof(*out));
	if (got == -2)   /* says nothing about the key: the same for every id */
		return cx_error_set(err, 503, "storage_unavailable", NULL, "cannot check the API "
				    "key: the database cannot be read");
	return cx_error_set(err, 401, "unauthorized", NULL, "invalid API key (unknown, revoked or "
			    "mistyped)");
}
