/* validate.c - see include/cx/validate.h */
#include <stdlib.h>
#include <string.h>

#include "cx/cxtime.h"
#include "cx/validate.h"

static const char *const response_fields[] = {
	"survey", "stage", "touchpoint", "channel", "segment", "customer",
	"nps", "csat", "ces", "comment", "attributes", "submitted_at", "response_id",
};
#define NFIELDS (sizeof(response_fields) / sizeof(response_fields[0]))
#define FORM_ATTR_PREFIX "attributes["

int cx_valid_label(const char *s, size_t len, size_t max)
{
	if (len < 1 || len > max)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(" _.:/@+-", c)) || c == '\0')
			return 0;
	}
	return 1;
}

int cx_valid_idem_key(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("_.:/@+=#-", c)))
			return 0;
	}
	return n >= 1 && n <= CX_IDEM_KEY_MAX;
}

static int known_field(const char *key, int from_form)
{
	/* the first two characters tell the fields apart but for survey/submitted_at: most
	 * names are never handed to strcmp (this loop runs for every key of every item) */
	for (size_t i = 0; i < NFIELDS; i++)
		if (key[0] == response_fields[i][0] && key[1] == response_fields[i][1] &&
		    strcmp(key, response_fields[i]) == 0)
			return !(from_form && strcmp(key, "attributes") == 0);
	return from_form && strncmp(key, FORM_ATTR_PREFIX, strlen(FORM_ATTR_PREFIX)) == 0;
}

/* The value of a field, NULL when absent; JSON null and, in forms, "" count as absent. */
static const json_t *field(const json_t *obj, const char *name, int from_form)
{
	const json_t *v = json_object_get(obj, name);

	if (!v || json_is_null(v))
		return NULL;
	if (from_form && json_is_string(v) && json_string_length(v) == 0)
		return NULL;
	return v;
}

static int response_id(const json_t *obj, int from_form, char **out, struct cx_error *err)
{
	const json_t *v = field(obj, "response_id", from_form);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v) || !cx_valid_idem_key(json_string_value(v)))
		return cx_error_set(err, 422, "invalid_response_id", "response_id",
				    "response_id must be 1-%d characters of A-Z a-z 0-9 _ . : / @ + = # -",
				    CX_IDEM_KEY_MAX);
	*out = strdup(json_string_value(v));
	return 0;
}

static uint64_t fnv_str(uint64_t h, const char *s)
{
	/* each field is hashed with its terminator, so "ab","c" differs from "a","bc" */
	const unsigned char *p = (const unsigned char *)(s ? s : "\001absent");

	do {
		h ^= *p;
		h *= 1099511628211ull;
	} while (*p++);
	return h;
}

/* n in decimal at p ("-1" for -1), as printf's %lld writes it; returns the end. */
static char *put_decimal(char *p, long long n)
{
	char digits[24];
	unsigned long long u = n < 0 ? 0ull - (unsigned long long)n : (unsigned long long)n;
	size_t k = 0;

	if (n < 0)
		*p++ = '-';
	do {
		digits[k++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	while (k)
		*p++ = digits[--k];
	return p;
}

/* A fingerprint of what the client said: a retry of the same response matches it, a
 * different response under the same key does not. A defaulted submitted_at is left out
 * (a retry arrives later). Stored with idempotency keys: its value may never change (the
 * numbers are hashed as the text "nps/csat/ces/submitted_at"; snprintf did that before and
 * cost a tenth of the validation). */
static uint64_t fingerprint(const struct cx_response *r, int time_given)
{
	char nums[96], *p = nums;
	uint64_t h = 14695981039346656037ull;
	const char *strs[] = { r->survey, r->stage, r->touchpoint, r->channel, r->segment,
			       r->customer, r->comment, r->attributes };

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		h = fnv_str(h, strs[i]);
	p = put_decimal(p, r->nps);
	*p++ = '/';
	p = put_decimal(p, r->csat);
	*p++ = '/';
	p = put_decimal(p, r->ces);
	*p++ = '/';
	p = put_decimal(p, time_given ? (long long)r->submitted_at : -1LL);
	*p = '\0';
	return fnv_str(h, nums);
}

/* A label (touchpoint, channel, segment, customer): *out is a malloc'd copy or NULL. */
static int label(const json_t *obj, const char *name, int required, size_t max,
		 int from_form, char **out, struct cx_error *err)
{
	const json_t *v = field(obj, name, from_form);

	*out = NULL;
	if (!v)
		return required ? cx_error_set(err, 422, "missing_field", name, "%s is required",
					       name)
				: 0;
	if (!json_is_string(v) || !cx_valid_label(json_string_value(v), json_string_length(v), max))
		return cx_error_set(err, 422, "invalid_label", name,
				    "%s must be a string of 1-%zu characters of A-Z a-z 0-9 and "
				    "space _ . : / @ + -", name, max);
	*out = strdup(json_string_value(v));
	return 0;
}

/* An integer answer in [lo, hi]; *out = -1 when not answered. */
static int answer(const json_t *obj, const char *name, int lo, int hi, int from_form,
		  int *out, struct cx_error *err)
{
	const json_t *v = field(obj, name, from_form);
	long long n = -1;

	*out = -1;
	if (!v)
		return 0;
	if (json_is_integer(v)) {
		n = json_integer_value(v);
	} else if (from_form && json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t len = json_string_length(v);

		n = (len >= 1 && len <= 2) ? 0 : -1;
		for (size_t i = 0; i < len && n >= 0; i++)
			n = (s[i] >= '0' && s[i] <= '9') ? n * 10 + (s[i] - '0') : -1;
	}
	if (n < lo || n > hi)
		return cx_error_set(err, 422, "invalid_score", name,
				    "%s must be a whole number from %d to %d", name, lo, hi);
	*out = (int)n;
	return 0;
}

static int valid_text(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

static int comment(const json_t *obj, int from_form, char **out, struct cx_error *err)
{
	const json_t *v = field(obj, "comment", from_form);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return cx_error_set(err, 422, "invalid_comment", "comment", "comment must be a string");
	if (json_string_length(v) == 0)
		return 0;   /* an empty comment is no comment */
	if (json_string_length(v) > CX_COMMENT_MAX)
		return cx_error_set(err, 422, "comment_too_long", "comment",
				    "comment is %zu bytes; the limit is %d bytes of UTF-8",
				    json_string_length(v), CX_COMMENT_MAX);
	if (!valid_text(json_string_value(v), json_string_length(v)))
		return cx_error_set(err, 422, "invalid_comment", "comment",
				    "comment may not hold control characters other than tab and "
				    "line breaks");
	*out = strdup(json_string_value(v));
	return 0;
}

static int attr_pair(json_t *dst, const char *key, const json_t *v, struct cx_error *err)
{
	size_t klen = strlen(key);

	if (klen < 1 || klen > CX_ATTR_KEY_MAX || !cx_valid_label(key, klen, CX_ATTR_KEY_MAX) ||
	    strchr(key, ' '))
		return cx_error_set(err, 422, "invalid_attributes", "attributes",
				    "attribute names are 1-%d characters of A-Z a-z 0-9 _ . : / @ + -",
				    CX_ATTR_KEY_MAX);
	if (!json_is_string(v) || json_string_length(v) > CX_ATTR_VALUE_MAX ||
	    !valid_text(json_string_value(v), json_string_length(v)))
		return cx_error_set(err, 422, "invalid_attributes", "attributes",
				    "attribute '%.64s' must be a string of at most %d bytes", key,
				    CX_ATTR_VALUE_MAX);
	if (json_object_size(dst) >= CX_ATTRS_MAX)
		return cx_error_set(err, 422, "invalid_attributes", "attributes",
				    "at most %d attributes", CX_ATTRS_MAX);
	json_object_set(dst, key, (json_t *)v);
	return 0;
}

/* attributes: a JSON object of strings, or form fields attributes[NAME]=value. */
static int attributes(const json_t *obj, int from_form, char **out, struct cx_error *err)
{
	json_t *attrs;
	const char *key;
	json_t *v;
	int rc = 0;

	*out = NULL;
	if (!from_form && !field(obj, "attributes", 0))
		return 0;   /* the usual case: no object to build */
	attrs = json_object();
	if (from_form) {
		json_object_foreach((json_t *)obj, key, v) {
			size_t plen = strlen(FORM_ATTR_PREFIX), klen = strlen(key);
			char name[CX_ATTR_KEY_MAX + 2];

			if (strncmp(key, FORM_ATTR_PREFIX, plen) != 0)
				continue;
			if (key[klen - 1] != ']' || klen - plen - 1 > CX_ATTR_KEY_MAX + 1) {
				rc = cx_error_set(err, 422, "invalid_attributes", "attributes",
						  "form attributes are named attributes[NAME]");
				break;
			}
			memcpy(name, key + plen, klen - plen - 1);
			name[klen - plen - 1] = '\0';
			if ((rc = attr_pair(attrs, name, v, err)))
				break;
		}
	} else if ((v = (json_t *)field(obj, "attributes", 0))) {
		if (!json_is_object(v))
			rc = cx_error_set(err, 422, "invalid_attributes", "attributes",
					  "attributes must be an object of strings");
		else if (json_object_size(v) > CX_ATTRS_MAX)
			rc = cx_error_set(err, 422, "invalid_attributes", "attributes",
					  "at most %d attributes", CX_ATTRS_MAX);
		else {
			json_t *val;

			json_object_foreach(v, key, val)
				if ((rc = attr_pair(attrs, key, val, err)))
					break;
		}
	}
	if (!rc && json_object_size(attrs) > 0)
		*out = json_dumps(attrs, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(attrs);
	return rc;
}

static int submitted_at(const json_t *obj, int from_form, int64_t now_s, int64_t *out,
			struct cx_error *err)
{
	const json_t *v = field(obj, "submitted_at", from_form);

	*out = now_s;
	if (!v)
		return 0;
	if (!json_is_string(v) || cx_time_parse_rfc3339(json_string_value(v), out))
		return cx_error_set(err, 422, "invalid_time", "submitted_at",
				    "submitted_at must be an RFC 3339 time such as "
				    "2026-11-23T10:00:00Z, from 1970 on");
	if (*out > now_s + CX_FUTURE_SKEW_S)
		return cx_error_set(err, 422, "invalid_time", "submitted_at",
				    "submitted_at is more than a day in the future");
	return 0;
}

static int survey_and_stage(const json_t *obj, int from_form, int keyed,
			    cx_survey_lookup_fn lookup, void *lookup_ctx, struct cx_response *out,
			    struct cx_error *err)
{
	const json_t *v = field(obj, "survey", from_form);
	const json_t *st;
	const struct cx_survey *s;
	int rc = 0;

	if (!v)
		return cx_error_set(err, 422, "missing_field", "survey", "survey is required");
	if (!json_is_string(v) || !cx_survey_valid_id(json_string_value(v)))
		return cx_error_set(err, 422, "invalid_id", "survey",
				    "survey must be a survey id (1-%d characters of A-Z a-z 0-9 _ . -)",
				    CX_ID_MAX);
	strcpy(out->survey, json_string_value(v));   /* length checked above */
	if (!(s = lookup(lookup_ctx, out->survey)))
		return cx_error_set(err, 422, "unknown_survey", "survey",
				    "no survey '%s'; define it with POST /v1/surveys", out->survey);
	st = field(obj, "stage", from_form);
	if (!st)
		rc = cx_error_set(err, 422, "missing_field", "stage", "stage is required");
	else if (!json_is_string(st) || cx_survey_stage_index(s, json_string_value(st)) < 0 ||
		 strlen(json_string_value(st)) != json_string_length(st)) {
		char list[512] = "";
		size_t used = 0;

		for (size_t i = 0; i < s->nstages && used < sizeof(list); i++)
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
						 i ? ", " : "", s->stages[i]);
		if (keyed || s->is_public)
			rc = cx_error_set(err, 422, "invalid_stage", "stage",
					  "stage must be one of survey '%s' stages: %s", s->id, list);
		else
			rc = cx_error_set(err, 422, "invalid_stage", "stage",
					  "stage is not one of the survey's stages");
	} else {
		out->stage = strdup(json_string_value(st));
	}
	return rc;
}

/* "a, b, c" of the touchpoints of stage in s, cut to fit buf. */
static void stage_touchpoints(const struct cx_survey *s, const char *stage, char *buf,
			      size_t len)
{
	size_t used = 0, n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < s->ntouchpoints && used < len; i++)
		if (strcmp(s->touchpoints[i].stage, stage) == 0)
			used += (size_t)snprintf(buf + used, len - used, "%s%s", n++ ? ", " : "",
						 s->touchpoints[i].name);
	if (n == 0)
		snprintf(buf, len, "(none declared)");
}

/* The journey map: touchpoint, channel and segment must be labels the survey allows. Only
 * a keyed client may name a new touchpoint, and only of an open survey (out->learn). What
 * the map holds is told only to clients allowed to know it (keyed, or a public survey). */
static int check_map(const struct cx_survey *s, int keyed, struct cx_response *out,
		     struct cx_error *err)
{
	int reveal = s && (keyed || s->is_public);
	char list[480];

	if (!s)
		return cx_error_set(err, 422, "unknown_survey", "survey", "no such survey");
	if (!keyed && !s->is_public)
		return 0;   /* refused as unauthorized before anything is stored: say nothing */
	if (!cx_survey_has_touchpoint(s, out->stage, out->touchpoint)) {
		if (keyed && s->open_touchpoints) {
			out->learn = 1;
		} else if (reveal) {
			stage_touchpoints(s, out->stage, list, sizeof(list));
			return cx_error_set(err, 422, "unknown_touchpoint", "touchpoint",
					    "touchpoint '%s' is not in survey '%s' journey map for "
					    "stage '%s'; its touchpoints there: %s", out->touchpoint,
					    s->id, out->stage, list);
		} else {
			return cx_error_set(err, 422, "unknown_touchpoint", "touchpoint",
					    "touchpoint is not in the survey's journey map");
		}
	}
	/* without a list a key may name any channel or segment, an anonymous client none:
	 * otherwise it could invent labels without end (10,001 pairs made the dashboard's
	 * by=channel,segment a 422) */
	if (out->channel && !keyed && !s->channels)
		return cx_error_set(err, 422, "unknown_channel", "channel", "survey '%s' lists no "
				    "channels: a post without a key may not name one", s->id);
	if (out->channel && !cx_survey_label_listed(s->channels, s->nchannels, out->channel))
		return cx_error_set(err, 422, "unknown_channel", "channel", "channel '%s' is not "
				    "one of the channels the survey lists", out->channel);
	if (out->segment && !keyed && !s->segments)
		return cx_error_set(err, 422, "unknown_segment", "segment", "survey '%s' lists no "
				    "segments: a post without a key may not name one", s->id);
	if (out->segment && !cx_survey_label_listed(s->segments, s->nsegments, out->segment))
		return cx_error_set(err, 422, "unknown_segment", "segment", "segment '%s' is not "
				    "one of the segments the survey lists", out->segment);
	return 0;
}

int cx_validate_response(const json_t *obj, int from_form, int keyed,
			 cx_survey_lookup_fn lookup, void *lookup_ctx, int64_t now_s,
			 struct cx_response *out, struct cx_error *err)
{
	const char *key;
	json_t *v;

	memset(out, 0, sizeof(*out));
	out->nps = out->csat = out->ces = -1;
	if (!json_is_object(obj))
		return cx_error_set(err, 422, "invalid_response", NULL,
				    "a response is a JSON object");
	json_object_foreach((json_t *)obj, key, v)
		if (!known_field(key, from_form))
			return cx_error_set(err, 422, "unknown_field", key,
					    "unknown field '%.60s'", key);
	if (survey_and_stage(obj, from_form, keyed, lookup, lookup_ctx, out, err) ||
	    label(obj, "touchpoint", 1, CX_LABEL_MAX, from_form, &out->touchpoint, err) ||
	    label(obj, "channel", 0, CX_LABEL_MAX, from_form, &out->channel, err) ||
	    label(obj, "segment", 0, CX_LABEL_MAX, from_form, &out->segment, err) ||
	    check_map(lookup(lookup_ctx, out->survey), keyed, out, err) ||
	    label(obj, "customer", 0, CX_CUSTOMER_MAX, from_form, &out->customer, err) ||
	    answer(obj, "nps", 0, 10, from_form, &out->nps, err) ||
	    answer(obj, "csat", 1, 5, from_form, &out->csat, err) ||
	    answer(obj, "ces", 1, 7, from_form, &out->ces, err) ||
	    comment(obj, from_form, &out->comment, err) ||
	    attributes(obj, from_form, &out->attributes, err) ||
	    submitted_at(obj, from_form, now_s, &out->submitted_at, err) ||
	    response_id(obj, from_form, &out->idem_key, err))
		goto fail;
	if (out->nps < 0 && out->csat < 0 && out->ces < 0 && !out->comment) {
		cx_error_set(err, 422, "empty_response", NULL,
			     "a response needs at least one of nps, csat, ces or comment");
		goto fail;
	}
	out->fingerprint = fingerprint(out, field(obj, "submitted_at", from_form) != NULL);
	return 0;
fail:
	cx_response_release(out);
	return -1;
}

void cx_response_release(struct cx_response *r)
{
	free(r->stage);
	free(r->touchpoint);
	free(r->channel);
	free(r->segment);
	free(r->customer);
	free(r->comment);
	free(r->attributes);
	free(r->idem_key);
	r->idem_key = NULL;
	r->stage = r->touchpoint = r->channel = r->segment = r->customer = NULL;
	r->comment = r->attributes = NULL;
}
