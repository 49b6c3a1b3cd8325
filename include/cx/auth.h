/* auth.h - API keys and roles.
 *
 * Roles: `ingest` posts responses (optionally only to some surveys; safe to embed in a
 * public page), `read` reads scores, journey, comments and exports, `agent` reads what
 * `read` reads and works follow-up cases, `admin` does everything, keys included. Keys travel as `Authorization: Bearer cxd_<id>_<secret>`.
 * Only a SHA-256 of the secret is stored; it is compared in constant time. A missing or
 * wrong key is 401 `unauthorized`, a key without the role 403 `forbidden`.
 *
 * A presented key that is malformed, unknown, revoked or has the wrong secret gets one
 * and the same answer (401 `unauthorized`, one message) along one code path: a secret
 * whose id is unknown is still hashed and compared, against a dummy, so neither the
 * words nor the work tell an attacker which key ids exist.
 */
#ifndef CX_AUTH_H
#define CX_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "cx/error.h"

/* (values are never renumbered: new roles are appended) */
enum cx_role { CX_ROLE_NONE = 0, CX_ROLE_INGEST, CX_ROLE_READ, CX_ROLE_ADMIN,
	       CX_ROLE_AGENT,          /* read + follow-up cases (schema 010) */
	       CX_ROLE_PUBLIC = 100,   /* routes: no key needed */
	       CX_ROLE_FORM = 101, /* routes: an ingest key, or none for public surveys */
	       CX_ROLE_ANY_KEY = 102 /* routes: any valid key, whatever its role */ };

#define CX_KEY_ID_LEN 12
#define CX_KEY_SECRET_MAX 80
#define CX_KEY_SURVEYS_MAX 64

struct cx_key {
	char id[CX_KEY_ID_LEN + 1];
	enum cx_role role;
	char *surveys;            /* JSON array text, or NULL = every survey */
	char *label;
	unsigned char hash[32];
	int64_t created_at;
};

const char *cx_role_name(enum cx_role r);
enum cx_role cx_role_parse(const char *s);   /* CX_ROLE_NONE if unknown */
/* May a key of key_role use a route that needs route_role? The one place that says who
 * passes where: PUBLIC routes need no key; ANY_KEY routes need a key of any role; admin
 * passes everything; agent passes read and agent routes; read passes read routes; ingest
 * passes ingest and FORM routes. */
int cx_auth_role_allows(enum cx_role key_role, enum cx_role route_role);

/* A new key: random id and secret (written to secret, NUL-terminated), hash filled in. */
int cx_key_generate(struct cx_key *k, enum cx_role role, char *secret, size_t len);
/* The id part of a presented secret (into id), 0 if it has the cxd_<id>_<...> shape. */
int cx_key_parse_id(const char *secret, char id[CX_KEY_ID_LEN + 1]);
/* 1 if secret hashes to k->hash (constant time in the hash comparison). */
int cx_key_matches(const struct cx_key *k, const char *secret);
/* 1 if k may act on survey (ingest keys limited to a list). */
int cx_key_allows_survey(const struct cx_key *k, const char *survey);
json_t *cx_key_json(const struct cx_key *k);
void cx_key_release(struct cx_key *k);

struct cx_store;
/* Authenticate `presented` (the text after "Bearer "): on success *out is the key (release
 * it after) and 0 is returned; otherwise *out is empty, err is the 401 `unauthorized`
 * shared by every kind of bad key (or a 503 `storage_unavailable` when the database cannot
 * be read), and -1 is returned. */
int cx_auth_key(struct cx_store *st, const char *presented, struct cx_key *out,
		struct cx_error *err);

#endif
