/* survey.c - see include/cx/survey.h */
#include <stdlib.h>
#include <string.h>

#include "cx/survey.h"
#include "cx/validate.h"

const char *const cx_default_stages[] = {
	"awareness", "interest", "consideration", "purchase", "retention", "advocacy",
};
const size_t cx_default_stages_count = sizeof(cx_default_stages) / sizeof(cx_default_stages[0]);

int cx_survey_valid_id(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return n >= 1 && n <= CX_ID_MAX;
}

static int valid_url(const char *u)
{
	size_t n = strlen(u);

	if (n > CX_URL_MAX || (strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0))
		return 0;
	for (size_t i = 0; i < n; i++)   /* printable ASCII only: no header injection */
		if ((unsigned char)u[i] <= 0x20 || (unsigned char)u[i] >= 0x7f)
			return 0;
	return strlen(strstr(u, "//") + 2) > 0;
}

static const char *const survey_fields[] = {
	"id", "title", "stages", "thank_you_url", "public", "allowed_origins",
	"touchpoints", "channels", "segments", "open_touchpoints", "root_causes",
	"question", "texts", "fatigue", "email",
	"created_at", "updated_at",   /* read-only: accepted and ignored, so a GET can be PUT back */
};

static int check_fields(const json_t *body, struct cx_error *err)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)body, key, v) {
		size_t i;

		for (i = 0; i < sizeof(survey_fields) / sizeof(survey_fields[0]); i++)
			if (strcmp(key, survey_fields[i]) == 0)
				break;
		if (i == sizeof(survey_fields) / sizeof(survey_fields[0]))
			return cx_error_set(err, 422, "unknown_field", key,
					    "unknown field '%.60s'; a survey has id, title, stages, "
					    "touchpoints, channels, segments, open_touchpoints, "
					    "root_causes, thank_you_url, public, allowed_origins, "
					    "question, texts, fatigue and email",
					    key);
	}
	return 0;
}

/* "https://host[:port]" or "http://...": scheme and authority only, as browsers send it. */
static int valid_origin(const char *o)
{
	const char *host = !strncmp(o, "https://", 8) ? o + 8 : !strncmp(o, "http://", 7) ? o + 7 : NULL;

	if (!host || !*host || strlen(o) > 255)
		return 0;
	for (const char *p = host; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '-' || *p == ':' || *p == '[' || *p == ']'))
			return 0;
	return 1;
}

static int read_public(const json_t *body, struct cx_survey *out, struct cx_error *err)
{
	const json_t *pub = json_object_get(body, "public"), *orig = json_object_get(body, "allowed_origins");
	size_t i;
	json_t *v;

	if (pub && !json_is_boolean(pub))
		return cx_error_set(err, 422, "invalid_public", "public", "public must be true or false");
	out->is_public = json_is_true(pub);
	if (!orig || json_is_null(orig))
		return 0;
	if (!json_is_array(orig) || json_array_size(orig) > CX_ORIGINS_MAX)
		return cx_error_set(err, 422, "invalid_origins", "allowed_origins",
				    "allowed_origins is a list of at most %d origins", CX_ORIGINS_MAX);
	json_array_foreach(orig, i, v) {
		if (!json_is_string(v) || !valid_origin(json_string_value(v)))
			return cx_error_set(err, 422, "invalid_origins", "allowed_origins",
					    "an origin is https://host[:port] (no path)");
		out->origins[out->norigins++] = strdup(json_string_value(v));
	}
	return 0;
}

int cx_survey_origin_allowed(const struct cx_survey *s, const char *origin)
{
	for (size_t i = 0; i < s->norigins; i++)
		if (strcmp(s->origins[i], origin) == 0)
			return 1;
	return 0;
}

static int read_stages(const json_t *stages, struct cx_survey *out, struct cx_error *err)
{
	size_t i;
	json_t *v;

	if (!stages || json_is_null(stages)) {
		for (i = 0; i < cx_default_stages_count; i++)
			out->stages[out->nstages++] = strdup(cx_default_stages[i]);
		return 0;
	}
	if (!json_is_array(stages) || json_array_size(stages) < 1 ||
	    json_array_size(stages) > CX_STAGES_MAX)
		return cx_error_set(err, 422, "invalid_stages", "stages",
				    "stages must be an array of 1 to %d stage names", CX_STAGES_MAX);
	json_array_foreach(stages, i, v) {
		const char *name = json_string_value(v);

		if (!name || !cx_survey_valid_id(name))
			return cx_error_set(err, 422, "invalid_stages", "stages",
					    "stage %zu must be 1-%d characters of A-Z a-z 0-9 _ . -",
					    i, CX_ID_MAX);
		if (cx_survey_stage_index(out, name) >= 0)
			return cx_error_set(err, 422, "invalid_stages", "stages",
					    "stage '%s' is listed twice", name);
		out->stages[out->nstages++] = strdup(name);
	}
	return 0;
}

int cx_survey_has_touchpoint(const struct cx_survey *s, const char *stage, const char *name)
{
	for (size_t i = 0; i < s->ntouchpoints; i++)
		if (strcmp(s->touchpoints[i].name, name) == 0 &&
		    strcmp(s->touchpoints[i].stage, stage) == 0)
			return 1;
	return 0;
}

int cx_survey_add_touchpoint(struct cx_survey *s, const char *stage, const char *name,
			     int declared)
{
	struct cx_touchpoint *p = realloc(s->touchpoints,
					  (s->ntouchpoints + 1) * sizeof(*p));

	if (!p)
		return -1;
	s->touchpoints = p;
	p += s->ntouchpoints;
	p->stage = strdup(stage);
	p->name = strdup(name);
	p->declared = declared;
	if (!p->stage || !p->name) {
		free(p->stage);
		free(p->name);
		return -1;
	}
	s->ntouchpoints++;
	return 0;
}

int cx_survey_label_listed(char *const *list, size_t n, const char *label)
{
	if (!list)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], label) == 0)
			return 1;
	return 0;
}

/* "touchpoints": {"stage": ["name", ...], ...}; every stage must be one of the survey's. */
static int read_touchpoints(const json_t *tps, struct cx_survey *out, struct cx_error *err)
{
	const char *stage;
	json_t *list, *v;
	size_t i;

	if (!tps || json_is_null(tps))
		return 0;
	if (!json_is_object(tps))
		return cx_error_set(err, 422, "invalid_touchpoints", "touchpoints",
				    "touchpoints is an object: {\"stage\": [\"touchpoint\", ...]}");
	json_object_foreach((json_t *)tps, stage, list) {
		if (cx_survey_stage_index(out, stage) < 0)
			return cx_error_set(err, 422, "invalid_touchpoints", "touchpoints",
					    "touchpoints lists '%.64s', which is not one of the "
					    "survey's stages", stage);
		if (!json_is_array(list))
			return cx_error_set(err, 422, "invalid_touchpoints", "touchpoints",
					    "the touchpoints of stage '%s' must be a list of names",
					    stage);
		json_array_foreach(list, i, v) {
			const char *name = json_string_value(v);

			if (!name || !cx_valid_label(name, json_string_length(v), CX_LABEL_MAX))
				return cx_error_set(err, 422, "invalid_touchpoints", "touchpoints",
						    "touchpoint %zu of stage '%s' must be 1-%d "
						    "characters of A-Z a-z 0-9 and space _ . : / @ + -",
						    i, stage, CX_LABEL_MAX);
			if (cx_survey_has_touchpoint(out, stage, name))
				return cx_error_set(err, 422, "invalid_touchpoints", "touchpoints",
						    "touchpoint '%s' is listed twice in stage '%s'",
						    name, stage);
			if (out->ntouchpoints >= CX_TOUCHPOINTS_MAX)
				return cx_error_set(err, 422, "too_many_touchpoints", "touchpoints",
						    "a survey has at most %d touchpoints",
						    CX_TOUCHPOINTS_MAX);
			if (cx_survey_add_touchpoint(out, stage, name, 1))
				return cx_error_set(err, 503, "out_of_memory", NULL, "out of memory");
		}
	}
	return 0;
}

/* "channels" / "segments": a list of labels (only those are accepted) or absent/null (any). */
static int read_labels(const json_t *list, const char *field, char ***out, size_t *n,
		       struct cx_error *err)
{
	json_t *v;
	size_t i;

	if (!list || json_is_null(list))
		return 0;
	if (!json_is_array(list) || json_array_size(list) > CX_LABELS_MAX)
		return cx_error_set(err, 422, "invalid_labels", field, "%s is a list of at most "
				    "%d names, or null for any", field, CX_LABELS_MAX);
	if (!(*out = calloc(json_array_size(list) + 1, sizeof(**out))))
		return cx_error_set(err, 503, "out_of_memory", NULL, "out of memory");
	json_array_foreach(list, i, v) {
		const char *name = json_string_value(v);

		if (!name || !cx_valid_label(name, json_string_length(v), CX_LABEL_MAX))
			return cx_error_set(err, 422, "invalid_labels", field, "%s entry %zu must "
					    "be 1-%d characters of A-Z a-z 0-9 and space _ . : / @ + -",
					    field, i, CX_LABEL_MAX);
		if (cx_survey_label_listed(*out, *n, name))
			return cx_error_set(err, 422, "invalid_labels", field,
					    "'%s' is listed twice in %s", name, field);
		if (!((*out)[*n] = strdup(name)))
			return cx_error_set(err, 503, "out_of_memory", NULL, "out of memory");
		(*n)++;
	}
	return 0;
}

/* "root_causes": a list of at most CX_ROOT_CAUSES_MAX distinct labels, or absent/null. */
static int read_root_causes(const json_t *list, struct cx_survey *out, struct cx_error *err)
{
	json_t *v;
	size_t i;

	if (!list || json_is_null(list))
		return 0;
	if (!json_is_array(list) || json_array_size(list) > CX_ROOT_CAUSES_MAX)
		return cx_error_set(err, 422, "invalid_root_causes", "root_causes", "root_causes "
				    "is a list of at most %d labels", CX_ROOT_CAUSES_MAX);
	json_array_foreach(list, i, v) {
		const char *name = json_string_value(v);

		if (!name || !cx_valid_label(name, json_string_length(v), CX_LABEL_MAX))
			return cx_error_set(err, 422, "invalid_root_causes", "root_causes",
					    "root cause %zu must be 1-%d characters of A-Z a-z 0-9 "
					    "and space _ . : / @ + -", i, CX_LABEL_MAX);
		if (cx_survey_has_root_cause(out, name))
			return cx_error_set(err, 422, "invalid_root_causes", "root_causes",
					    "'%s' is listed twice in root_causes", name);
		if (!(out->root_causes[out->nroot_causes] = strdup(name)))
			return cx_error_set(err, 503, "out_of_memory", NULL, "out of memory");
		out->nroot_causes++;
	}
	return 0;
}

int cx_survey_has_root_cause(const struct cx_survey *s, const char *cause)
{
	for (size_t i = 0; i < s->nroot_causes; i++)
		if (strcmp(s->root_causes[i], cause) == 0)
			return 1;
	return 0;
}

/* The map: touchpoints, channels, segments, open_touchpoints (default: open when the
 * definition declares no touchpoint, so a plain list of stages keeps working for keyed
 * clients; closed as soon as touchpoints are declared). */
static int read_map(const json_t *body, struct cx_survey *out, struct cx_error *err)
{
	const json_t *open = json_object_get(body, "open_touchpoints");

	if (read_touchpoints(json_object_get(body, "touchpoints"), out, err) ||
	    read_labels(json_object_get(body, "channels"), "channels", &out->channels,
			&out->nchannels, err) ||
	    read_labels(json_object_get(body, "segments"), "segments", &out->segments,
			&out->nsegments, err))
		return -1;
	if (open && !json_is_null(open) && !json_is_boolean(open))
		return cx_error_set(err, 422, "invalid_open_touchpoints", "open_touchpoints",
				    "open_touchpoints must be true or false");
	out->open_touchpoints = (!open || json_is_null(open)) ? out->ntouchpoints == 0
							      : json_is_true(open);
	return 0;
}

int cx_survey_from_json(const json_t *body, const char *path_id, struct cx_survey *out,
			struct cx_error *err)
{
	const json_t *id, *title, *url;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(body))
		return cx_error_set(err, 422, "invalid_survey", NULL,
				    "a survey definition is a JSON object");
	if (check_fields(body, err))
		goto fail;
	id = json_object_get(body, "id");
	if (id && !json_is_string(id))
		goto bad_id;
	if (!id && !path_id)
		return cx_error_set(err, 422, "missing_field", "id", "id is required");
	if (id && path_id && strcmp(json_string_value(id), path_id) != 0) {
		cx_error_set(err, 422, "id_mismatch", "id",
			     "the body's id does not match the id in the path");
		goto fail;
	}
	if (!cx_survey_valid_id(id ? json_string_value(id) : path_id))
		goto bad_id;
	strcpy(out->id, id ? json_string_value(id) : path_id); /* length checked above */

	title = json_object_get(body, "title");
	if (!title) {
		cx_error_set(err, 422, "missing_field", "title", "title is required");
		goto fail;
	}
	if (!json_is_string(title) || json_string_length(title) < 1 ||
	    json_string_length(title) > CX_TITLE_MAX ||
	    strlen(json_string_value(title)) != json_string_length(title)) {
		cx_error_set(err, 422, "invalid_title", "title",
			     "title must be a string of 1 to %d bytes", CX_TITLE_MAX);
		goto fail;
	}
	out->title = strdup(json_string_value(title));
	if (read_stages(json_object_get(body, "stages"), out, err))
		goto fail;
	url = json_object_get(body, "thank_you_url");
	if (url && !json_is_null(url)) {
		if (!json_is_string(url) || !valid_url(json_string_value(url))) {
			cx_error_set(err, 422, "invalid_url", "thank_you_url",
				     "thank_you_url must be an http(s) URL of at most %d "
				     "printable characters", CX_URL_MAX);
			goto fail;
		}
		out->thank_you_url = strdup(json_string_value(url));
	}
	if (read_public(body, out, err) || read_map(body, out, err) ||
	    read_root_causes(json_object_get(body, "root_causes"), out, err) ||
	    cx_survey_hosted_from_json(body, out, err))
		goto fail;
	return 0;
bad_id:
	cx_error_set(err, 422, "invalid_id", "id",
		     "id must be 1-%d characters of A-Z a-z 0-9 _ . -", CX_ID_MAX);
fail:
	cx_survey_release(out);
	return -1;
}

static json_t *labels_json(char *const *list, size_t n)
{
	json_t *a;

	if (!list)
		return json_null();
	a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(list[i]));
	return a;
}

/* {"stage": [touchpoints in map order], ...} for every stage the survey lists. */
json_t *cx_survey_touchpoints_json(const struct cx_survey *s)
{
	json_t *o = json_object();

	for (size_t i = 0; i < s->nstages; i++)
		json_object_set_new(o, s->stages[i], json_array());
	for (size_t i = 0; i < s->ntouchpoints; i++) {
		json_t *a = json_object_get(o, s->touchpoints[i].stage);

		if (a)
			json_array_append_new(a, json_string(s->touchpoints[i].name));
	}
	return o;
}

json_t *cx_survey_to_json(const struct cx_survey *s)
{
	json_t *stages = json_array(), *origins = json_array(), *out;

	for (size_t i = 0; i < s->nstages; i++)
		json_array_append_new(stages, json_string(s->stages[i]));
	for (size_t i = 0; i < s->norigins; i++)
		json_array_append_new(origins, json_string(s->origins[i]));
	out = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:b, s:s?, s:b, s:o, s:I, s:I}",
			 "id", s->id, "title", s->title, "stages", stages,
			 "touchpoints", cx_survey_touchpoints_json(s),
			 "channels", labels_json(s->channels, s->nchannels),
			 "segments", labels_json(s->segments, s->nsegments),
			 "open_touchpoints", s->open_touchpoints,
			 "thank_you_url", s->thank_you_url,
			 "public", s->is_public, "allowed_origins", origins,
			 "created_at", (json_int_t)s->created_at, "updated_at",
			 (json_int_t)s->updated_at);
	if (out) {
		json_object_set_new(out, "root_causes", labels_json(s->root_causes,
								     s->nroot_causes));
		cx_survey_hosted_to_json(s, out);
	}
	return out;
}

int cx_survey_stage_index(const struct cx_survey *s, const char *stage)
{
	for (size_t i = 0; i < s->nstages; i++)
		if (strcmp(s->stages[i], stage) == 0)
			return (int)i;
	return -1;
}

/* A copy of a label list into *out (NULL stays NULL: any label); -1 when out of memory,
 * *out then holding what was copied (NULL-terminated) for the caller to release. */
static int copy_labels(char *const *list, size_t n, char ***out)
{
	*out = NULL;
	if (!list)
		return 0;
	if (!(*out = calloc(n + 1, sizeof(**out))))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!((*out)[i] = strdup(list[i])))
			return -1;
	return 0;
}

/* Every allocation is checked: a partial copy (a shorter map, a NULL label list that would
 * admit any label) is never returned. -1 with dst released when out of memory. */
int cx_survey_copy(struct cx_survey *dst, const struct cx_survey *src)
{
	int failed = 0;

	*dst = *src;
	dst->touchpoints = NULL;
	dst->ntouchpoints = 0;
	dst->title = NULL;
	dst->thank_you_url = NULL;
	memset(dst->stages, 0, sizeof(dst->stages));
	memset(dst->origins, 0, sizeof(dst->origins));
	memset(dst->root_causes, 0, sizeof(dst->root_causes));
	failed |= cx_survey_hosted_copy(dst, src) != 0;
	if (src->ntouchpoints &&
	    !(dst->touchpoints = calloc(src->ntouchpoints, sizeof(*dst->touchpoints))))
		failed = 1;
	for (size_t i = 0; !failed && i < src->ntouchpoints; i++) {
		struct cx_touchpoint *t = &dst->touchpoints[i];

		t->declared = src->touchpoints[i].declared;
		t->stage = strdup(src->touchpoints[i].stage);
		t->name = strdup(src->touchpoints[i].name);
		dst->ntouchpoints++;
		failed = !t->stage || !t->name;
	}
	failed |= copy_labels(src->channels, src->nchannels, &dst->channels) != 0;
	failed |= copy_labels(src->segments, src->nsegments, &dst->segments) != 0;
	failed |= !(dst->title = strdup(src->title));
	if (src->thank_you_url)
		failed |= !(dst->thank_you_url = strdup(src->thank_you_url));
	for (size_t i = 0; i < src->nstages; i++)
		failed |= !(dst->stages[i] = strdup(src->stages[i]));
	for (size_t i = 0; i < src->norigins; i++)
		failed |= !(dst->origins[i] = strdup(src->origins[i]));
	for (size_t i = 0; i < src->nroot_causes; i++)
		failed |= !(dst->root_causes[i] = strdup(src->root_causes[i]));
	if (failed) {
		cx_survey_release(dst);
		return -1;
	}
	return 0;
}

void cx_survey_clear_map(struct cx_survey *s)
{
	for (size_t i = 0; i < s->ntouchpoints; i++) {
		free(s->touchpoints[i].stage);
		free(s->touchpoints[i].name);
	}
	free(s->touchpoints);
	for (size_t i = 0; s->channels && i < s->nchannels; i++)
		free(s->channels[i]);
	for (size_t i = 0; s->segments && i < s->nsegments; i++)
		free(s->segments[i]);
	free(s->channels);
	free(s->segments);
	s->touchpoints = NULL;
	s->channels = s->segments = NULL;
	s->ntouchpoints = s->nchannels = s->nsegments = 0;
}

void cx_survey_release(struct cx_survey *s)
{
	free(s->title);
	free(s->thank_you_url);
	for (size_t i = 0; i < s->nstages; i++)
		free(s->stages[i]);
	for (size_t i = 0; i < s->norigins; i++)
		free(s->origins[i]);
	for (size_t i = 0; i < s->nroot_causes; i++)
		free(s->root_causes[i]);
	cx_survey_hosted_release(s);
	cx_survey_clear_map(s);
	memset(s, 0, sizeof(*s));
}
