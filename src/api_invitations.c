/* api_invitations.c - minting invitations (personal links), the link keys, the
 * service-wide fatigue rules (README "Asking customers"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/app.h"
#include "cx/cxtime.h"
#include "cx/mail.h"
#include "cx/metrics.h"
#include "cx/public_url.h"
#include "cx/routes.h"
#include "cx/validate.h"

#define CX_INVITE_BATCH_MAX 1000
#define EXPIRES_MIN_S 60
#define EXPIRES_MAX_S (365 * 86400)

static enum cx_handled reply_error(struct cx_req *req, const struct cx_error *err)
{
	cx_reply_error(req, err);
	return CX_DONE;
}

/* --- one item of the mint request --- */

static const char *const item_fields[] = {
	"customer", "stage", "touchpoint", "channel", "segment", "attributes", "lang",
	"expires_in", "expires_at", "email",
};
#define NITEM_FIELDS (sizeof(item_fields) / sizeof(item_fields[0]))

/* Format the field name "invitations[i].name" into err->field (cx_error_set copies it). */
static const char *fname(char *buf, size_t len, size_t i, const char *name)
{
	snprintf(buf, len, "invitations[%zu].%s", i, name);
	return buf;
}

/* A label member (stage, touchpoint, channel, segment, customer) of 1..max characters of
 * the label charset (the customer as responses have it, since the answer becomes one),
 * copied into out; "" when absent and not required. */
static int label(const json_t *item, size_t i, const char *name, int required, size_t max,
		 char *out, size_t outlen, struct cx_error *err)
{
	const json_t *v = json_object_get(item, name);
	char f[64];

	out[0] = '\0';
	if (!v || json_is_null(v))
		return required ? cx_error_set(err, 422, "missing_field", fname(f, sizeof(f), i,
					       name), "%s is required", f) : 0;
	if (!json_is_string(v) || !cx_valid_label(json_string_value(v), json_string_length(v),
						  max) || json_string_length(v) >= outlen)
		return cx_error_set(err, 422, "invalid_label", fname(f, sizeof(f), i, name),
				    "%s must be a string of 1-%zu characters of A-Z a-z 0-9 and "
				    "space _ . : / @ + -", f, max);
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

/* The attribute rules of responses (validate.c): at most CX_ATTRS_MAX names of the label
 * charset without spaces, string values of at most CX_ATTR_VALUE_MAX bytes without control
 * characters; and the compact JSON within CX_LINK_ATTRS_MAX, since the link carries it. */
static int attributes(const json_t *item, size_t i, char **out, struct cx_error *err)
{
	const json_t *v = json_object_get(item, "attributes");
	const char *key;
	json_t *val;
	char f[64];

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	fname(f, sizeof(f), i, "attributes");
	if (!json_is_object(v))
		return cx_error_set(err, 422, "invalid_attributes", f, "%s must be an object of "
				    "strings", f);
	if (json_object_size(v) > CX_ATTRS_MAX)
		return cx_error_set(err, 422, "invalid_attributes", f, "%s: at most %d attributes",
				    f, CX_ATTRS_MAX);
	json_object_foreach((json_t *)v, key, val) {
		size_t klen = strlen(key);
		const char *s = json_string_value(val);

		if (!cx_valid_label(key, klen, CX_ATTR_KEY_MAX) || strchr(key, ' '))
			return cx_error_set(err, 422, "invalid_attributes", f, "%s: attribute names "
					    "are 1-%d characters of A-Z a-z 0-9 _ . : / @ + -", f,
					    CX_ATTR_KEY_MAX);
		if (!s || json_string_length(val) > CX_ATTR_VALUE_MAX ||
		    strlen(s) != json_string_length(val))
			return cx_error_set(err, 422, "invalid_attributes", f, "%s: attribute "
					    "'%.64s' must be a string of at most %d bytes", f, key,
					    CX_ATTR_VALUE_MAX);
		for (const unsigned char *p = (const unsigned char *)s; *p; p++)
			if ((*p < 0x20 && *p != '\n' && *p != '\r' && *p != '\t') || *p == 0x7f)
				return cx_error_set(err, 422, "invalid_attributes", f, "%s: attribute "
						    "'%.64s' holds a control character", f, key);
	}
	if (json_object_size(v) == 0)
		return 0;
	if (!(*out = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS)))
		return cx_error_set(err, 503, "out_of_memory", NULL, "out of memory");
	if (strlen(*out) > CX_LINK_ATTRS_MAX) {
		size_t n = strlen(*out);

		free(*out);
		*out = NULL;
		return cx_error_set(err, 422, "invalid_attributes", f, "%s is %zu bytes as compact "
				    "JSON; a link carries at most %d", f, n, CX_LINK_ATTRS_MAX);
	}
	return 0;
}

/* expires_in (seconds from now) or expires_at (unix s), within [60 s, 365 days] of now;
 * neither: the service's --link-ttl. */
static int expiry(const json_t *item, size_t i, int64_t now, int64_t ttl, int64_t *out,
		  struct cx_error *err)
{
	const json_t *in = json_object_get(item, "expires_in");
	const json_t *at = json_object_get(item, "expires_at");
	const char *name = at ? "expires_at" : "expires_in";
	json_int_t x;
	char f[64];

	*out = now + ttl;
	if (!in && !at)
		return 0;
	fname(f, sizeof(f), i, name);
	if (in && at)
		return cx_error_set(err, 422, "invalid_expiry", f, "give expires_in or expires_at, "
				    "not both");
	x = json_is_integer(at ? at : in) ? json_integer_value(at ? at : in) : -1;
	if (at)
		x -= now;
	if (!json_is_integer(at ? at : in) || x < EXPIRES_MIN_S || x > EXPIRES_MAX_S)
		return cx_error_set(err, 422, "invalid_expiry", f, "%s must be %s from %d seconds "
				    "to %d days from now", f, at ? "a unix time" : "a number of "
				    "seconds", EXPIRES_MIN_S, EXPIRES_MAX_S / 86400);
	*out = now + x;
	return 0;
}

/* Validate item i against survey s into inv (claims filled but for nonce and issued_at). */
static int parse_item(struct cx_req *req, const struct cx_survey *s, const json_t *item,
		      size_t i, int64_t now, struct cx_invitation *inv, struct cx_error *err)
{
	struct cx_link_claims *c = &inv->claims;
	const char *key, *str;
	const json_t *v;
	char f[64];

	if (!json_is_object(item))
		return cx_error_set(err, 422, "invalid_invitation", fname(f, sizeof(f), i, ""),
				    "invitations[%zu] must be an object", i);
	json_object_foreach((json_t *)item, key, v) {
		size_t k = 0;

		while (k < NITEM_FIELDS && strcmp(key, item_fields[k]) != 0)
			k++;
		if (k == NITEM_FIELDS) {
			char uf[96];

			snprintf(uf, sizeof(uf), "invitations[%zu].%.50s", i, key);
			return cx_error_set(err, 422, "unknown_field", uf, "%s is an unknown field; "
					    "an invitation holds customer, stage, touchpoint, "
					    "channel, segment, attributes, lang, expires_in or "
					    "expires_at, email", uf);
		}
	}
	snprintf(c->survey, sizeof(c->survey), "%s", s->id);
	if (label(item, i, "customer", 1, CX_CUSTOMER_MAX, c->customer, sizeof(c->customer),
		  err) ||
	    label(item, i, "stage", 1, CX_ID_MAX, c->stage, sizeof(c->stage), err) ||
	    label(item, i, "touchpoint", 1, CX_LABEL_MAX, c->touchpoint, sizeof(c->touchpoint),
		  err) ||
	    label(item, i, "channel", 0, CX_LABEL_MAX, c->channel, sizeof(c->channel), err) ||
	    label(item, i, "segment", 0, CX_LABEL_MAX, c->segment, sizeof(c->segment), err))
		return -1;
	if (cx_survey_stage_index(s, c->stage) < 0)
		return cx_error_set(err, 422, "invalid_stage", fname(f, sizeof(f), i, "stage"),
				    "%s '%s' is not one of survey '%s' stages", f, c->stage, s->id);
	/* an invitation never adds a touchpoint: its answer may come from a browser without
	 * a key, which may only name the map's */
	if (!cx_survey_has_touchpoint(s, c->stage, c->touchpoint))
		return cx_error_set(err, 422, "unknown_touchpoint", fname(f, sizeof(f), i,
				    "touchpoint"), "%s '%s' is not in survey '%s' journey map "
				    "for stage '%s'", f, c->touchpoint, s->id, c->stage);
	if (c->channel[0] && !cx_survey_label_listed(s->channels, s->nchannels, c->channel))
		return cx_error_set(err, 422, "unknown_channel", fname(f, sizeof(f), i, "channel"),
				    "%s '%s' is not one of the channels survey '%s' lists", f,
				    c->channel, s->id);
	if (c->segment[0] && !cx_survey_label_listed(s->segments, s->nsegments, c->segment))
		return cx_error_set(err, 422, "unknown_segment", fname(f, sizeof(f), i, "segment"),
				    "%s '%s' is not one of the segments survey '%s' lists", f,
				    c->segment, s->id);
	if ((v = json_object_get(item, "lang")) && !json_is_null(v)) {
		str = json_string_value(v);
		if (!str || strlen(str) != json_string_length(v) || !cx_survey_lang_valid(str))
			return cx_error_set(err, 422, "invalid_lang", fname(f, sizeof(f), i, "lang"),
					    "%s '%.40s' is not a language tag (e.g. en, bg, pt-BR)",
					    f, str ? str : "");
		snprintf(c->lang, sizeof(c->lang), "%s", str);
	}
	if ((v = json_object_get(item, "email")) && !json_is_null(v)) {
		str = json_string_value(v);
		if (!str || strlen(str) != json_string_length(v) || !cx_mail_address_valid(str))
			return cx_error_set(err, 422, "invalid_email", fname(f, sizeof(f), i,
					    "email"), "%s '%.80s' is not an address cxd sends to",
					    f, str ? str : "");
		inv->email = str;   /* borrowed from the request body, which outlives the mint */
	}
	if (attributes(item, i, &c->attributes, err) ||
	    expiry(item, i, now, req->app->cfg.link_ttl_s, &c->expires_at, err))
		return -1;
	return 0;
}

static int flag(const json_t *body, const char *name, int dflt, int *out,
		struct cx_error *err)
{
	const json_t *v = json_object_get(body, name);

	*out = dflt;
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return cx_error_set(err, 422, "invalid_field", name, "%s must be true or false",
				    name);
	*out = json_is_true(v);
	return 0;
}

static json_t *outcome_json(const struct cx_invitation *inv, size_t i)
{
	if (inv->minted)
		return json_pack("{s:I, s:s, s:s, s:s, s:s, s:I}", "index", (json_int_t)i,
				 "customer", inv->claims.customer, "status", "minted", "id",
				 inv->claims.nonce, "url", inv->url, "expires_at",
				 (json_int_t)inv->claims.expires_at);
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:I}", "index", (json_int_t)i, "customer",
			 inv->claims.customer, "status", "skipped", "reason", inv->skip_reason,
			 "rule", inv->skip_scope, "eligible_at", (json_int_t)inv->eligible_at);
}

/* POST /v1/surveys/{id}/invitations */
enum cx_handled cx_api_invitations_create(struct cx_req *req)
{
	struct cx_app *app = req->app;
	struct cx_survey s;
	struct cx_invitation *inv = NULL;
	struct cx_error err = { 0 };
	json_t *body = NULL, *list, *out = NULL, *items;
	const char *key;
	json_t *v;
	int64_t now = cx_time_now();
	size_t n = 0, minted = 0;
	int webhook, send_email, rc = -1;
	char base[sizeof(app->cfg.public_url) + 80];

	/* who may do this first: a key limited to some surveys, as on .../responses */
	if (!cx_key_allows_survey(&req->key, req->params[0])) {
		cx_error_set(&err, 403, "forbidden", NULL, "this key may not post to that survey");
		return reply_error(req, &err);
	}
	if (cx_api_path_survey(req, &s))
		return CX_DONE;
	if (cx_api_json_body(req, &body)) {
		cx_survey_release(&s);
		return CX_DONE;
	}
	if (!json_is_object(body)) {
		cx_error_set(&err, 422, "invalid_body", NULL, "the body must be an object "
			     "{\"invitations\": [...], \"webhook\", \"send_email\"}");
		goto fail;
	}
	json_object_foreach(body, key, v)
		if (strcmp(key, "invitations") && strcmp(key, "webhook") &&
		    strcmp(key, "send_email")) {
			cx_error_set(&err, 422, "unknown_field", key, "unknown field '%.60s'; the "
				     "body holds invitations, webhook and send_email", key);
			goto fail;
		}
	list = json_object_get(body, "invitations");
	if (!json_is_array(list) || json_array_size(list) == 0) {
		cx_error_set(&err, 422, "invalid_invitations", "invitations", "invitations must "
			     "be a list of 1-%d invitations", CX_INVITE_BATCH_MAX);
		goto fail;
	}
	if (json_array_size(list) > CX_INVITE_BATCH_MAX) {
		cx_error_set(&err, 413, "too_many_invitations", "invitations", "a request may "
			     "mint at most %d invitations; this one has %zu", CX_INVITE_BATCH_MAX,
			     json_array_size(list));
		goto fail;
	}
	if (flag(body, "webhook", 1, &webhook, &err) ||
	    flag(body, "send_email", 0, &send_email, &err))
		goto fail;
	n = json_array_size(list);
	if (!(inv = calloc(n, sizeof(*inv)))) {
		cx_error_set(&err, 503, "out_of_memory", NULL, "out of memory");
		goto fail;
	}
	/* the whole request is checked before anything is written */
	for (size_t i = 0; i < n; i++) {
		if (parse_item(req, &s, json_array_get(list, i), i, now, &inv[i], &err))
			goto fail;
		inv[i].emit_webhook = webhook;
		inv[i].send_email = send_email;
		if (send_email && inv[i].email && !app->cfg.smtp_url[0]) {
			cx_error_set(&err, 422, "mail_not_configured", "send_email", "send_email "
				     "needs cxd started with --smtp-url; invitations[%zu] has an "
				     "email", i);
			goto fail;
		}
	}
	if (cx_public_base(&app->cfg, base, sizeof(base)) < 0) {
		cx_error_set(&err, 503, "out_of_memory", NULL, "the public URL is too long");
		goto fail;
	}
	if (cx_store_invitations_mint(app->store, &s, inv, n, base, now, &err))
		goto fail;
	if (!(out = json_object()) || !(items = json_array()) ||
	    json_object_set_new(out, "invitations", items)) {
		cx_error_set(&err, 503, "out_of_memory", NULL, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		minted += inv[i].minted != 0;
		json_array_append_new(items, outcome_json(&inv[i], i));
	}
	json_object_set_new(out, "minted", json_integer((json_int_t)minted));
	json_object_set_new(out, "skipped", json_integer((json_int_t)(n - minted)));
	cx_metrics_invitations(minted, n - minted);
	rc = 0;
fail:
	for (size_t i = 0; inv && i < n; i++)
		cx_invitation_release(&inv[i]);
	free(inv);
	json_decref(body);
	cx_survey_release(&s);
	if (rc) {
		json_decref(out);
		return reply_error(req, &err);
	}
	cx_reply_json_take(req, 200, out);
	return CX_DONE;
}

/* --- link keys --- */

enum cx_handled cx_api_link_keys_list(struct cx_req *req)
{
	struct cx_error err;
	json_t *keys = cx_store_link_keys_list(req->app->store, &err);

	if (!keys) {
		cx_error_set(&err, 503, "out_of_memory", NULL, "out of memory");
		return reply_error(req, &err);
	}
	cx_reply_json_take(req, 200, json_pack("{s:o}", "keys", keys));
	return CX_DONE;
}

enum cx_handled cx_api_link_keys_rotate(struct cx_req *req)
{
	struct cx_error err;
	json_t *key;

	if (cx_store_link_key_rotate(req->app->store, &key, &err))
		return reply_error(req, &err);
	cx_reply_json_take(req, 201, key);
	return CX_DONE;
}

enum cx_handled cx_api_link_keys_delete(struct cx_req *req)
{
	struct cx_error err;

	if (cx_store_link_key_delete(req->app->store, req->params[0], &err))
		return reply_error(req, &err);
	cx_reply_bytes(req, 204, "application/json", "", 0);
	return CX_DONE;
}

/* --- the service-wide fatigue rules --- */

enum cx_handled cx_api_fatigue_get(struct cx_req *req)
{
	struct cx_error err;
	struct cx_fatigue f;

	if (cx_store_fatigue_get(req->app->store, &f, &err))
		return reply_error(req, &err);
	cx_reply_json_take(req, 200, cx_fatigue_to_json(&f));
	return CX_DONE;
}

enum cx_handled cx_api_fatigue_put(struct cx_req *req)
{
	struct cx_error err;
	struct cx_fatigue f;
	json_t *body;
	int rc;

	if (cx_api_json_body(req, &body))
		return CX_DONE;
	rc = json_is_object(body) ? cx_fatigue_from_json(body, "fatigue", &f, &err)
				  : cx_error_set(&err, 422, "invalid_fatigue", NULL, "the body must "
						 "be an object {\"max_invitations\", \"per_days\", "
						 "\"after_answer_days\"}");
	json_decref(body);
	if (rc == 0)
		rc = cx_store_fatigue_put(req->app->store, &f, &err);
	if (rc)
		return reply_error(req, &err);
	cx_reply_json_take(req, 200, cx_fatigue_to_json(&f));
	return CX_DONE;
}
