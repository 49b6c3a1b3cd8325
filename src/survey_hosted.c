/* survey_hosted.c - a survey's hosted-page and invitation fields; see include/cx/survey.h
 * ("question", "texts", "fatigue", "email"). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cx/survey.h"

static const char *const text_keys[] = {
	"title", "question", "low", "high", "reason", "submit", "thanks",
};
#define NKEYS (sizeof(text_keys) / sizeof(text_keys[0]))

const char *cx_question_name(enum cx_question q)
{
	return q == CX_Q_CSAT ? "csat" : q == CX_Q_CES ? "ces" : "nps";
}

/* A language tag as browsers send them, lower-cased primary: "en", "pt-BR", "zh-Hant-TW". */
static int valid_lang(const char *t)
{
	size_t n = strspn(t, "abcdefghijklmnopqrstuvwxyz");

	if (n < 2 || n > 3)
		return 0;
	for (int parts = 0; t[n]; parts++) {
		size_t m;

		if (t[n] != '-' || parts == 2)
			return 0;
		m = strspn(t + n + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				      "0123456789");
		if (m < 2 || m > 8)
			return 0;
		n += 1 + m;
	}
	return 1;
}

int cx_survey_lang_valid(const char *tag)
{
	return tag && strlen(tag) < 36 && valid_lang(tag);
}

/* A text: a string of 1..max bytes without control characters other than newline. */
static int valid_text(const json_t *v, size_t max, int newlines)
{
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return 0;
	s = json_string_value(v);
	n = json_string_length(v);
	if (n < 1 || n > max || strlen(s) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 && !(newlines && (s[i] == '\n' || s[i] == '\r')))
			return 0;
	return 1;
}

static int read_texts(const json_t *texts, struct cx_survey *out, struct cx_error *err)
{
	const char *lang, *key;
	json_t *set, *v;

	if (!texts || json_is_null(texts))
		return 0;
	if (!json_is_object(texts) || json_object_size(texts) > CX_TEXT_LANGS_MAX)
		return cx_error_set(err, 422, "invalid_texts", "texts", "texts must be an object "
				    "of at most %d languages, e.g. {\"en\": {\"question\": "
				    "\"...\"}}", CX_TEXT_LANGS_MAX);
	json_object_foreach((json_t *)texts, lang, set) {
		if (!valid_lang(lang))
			return cx_error_set(err, 422, "invalid_texts", "texts", "'%.40s' is not a "
					    "language tag (e.g. en, bg, pt-BR)", lang);
		if (!json_is_object(set))
			return cx_error_set(err, 422, "invalid_texts", "texts", "texts.%s must be "
					    "an object of texts", lang);
		json_object_foreach(set, key, v) {
			size_t i;

			for (i = 0; i < NKEYS && strcmp(key, text_keys[i]) != 0; i++)
				;
			if (i == NKEYS)
				return cx_error_set(err, 422, "invalid_texts", "texts", "texts.%s."
						    "%.40s is not a page text; they are title, "
						    "question, low, high, reason, submit and "
						    "thanks", lang, key);
			if (!valid_text(v, CX_TEXT_MAX, 0))
				return cx_error_set(err, 422, "invalid_texts", "texts", "texts.%s."
						    "%s must be text of 1 to %d bytes on one line",
						    lang, key, CX_TEXT_MAX);
		}
	}
	out->texts = json_deep_copy(texts);
	return out->texts ? 0 : cx_error_set(err, 503, "storage_unavailable", NULL,
					     "out of memory");
}

static int read_email(const json_t *email, struct cx_survey *out, struct cx_error *err)
{
	const json_t *subject, *body;
	const char *key;
	json_t *v;

	if (!email || json_is_null(email))
		return 0;
	if (!json_is_object(email))
		return cx_error_set(err, 422, "invalid_email", "email", "email must be an object "
				    "{\"subject\": ..., \"body\": ...}");
	json_object_foreach((json_t *)email, key, v)
		if (strcmp(key, "subject") != 0 && strcmp(key, "body") != 0)
			return cx_error_set(err, 422, "invalid_email", "email", "email.%.40s is "
					    "unknown; email has subject and body", key);
	subject = json_object_get(email, "subject");
	body = json_object_get(email, "body");
	if (subject && !valid_text(subject, CX_EMAIL_SUBJECT_MAX, 0))
		return cx_error_set(err, 422, "invalid_email", "email.subject", "email.subject "
				    "must be text of 1 to %d bytes on one line",
				    CX_EMAIL_SUBJECT_MAX);
	if (body && (!valid_text(body, CX_EMAIL_BODY_MAX, 1) ||
		     !strstr(json_string_value(body), "{{link}}")))
		return cx_error_set(err, 422, "invalid_email", "email.body", "email.body must be "
				    "text of 1 to %d bytes holding {{link}} (also known: "
				    "{{title}}, {{customer}})", CX_EMAIL_BODY_MAX);
	if ((subject && !(out->email_subject = strdup(json_string_value(subject)))) ||
	    (body && !(out->email_body = strdup(json_string_value(body)))))
		return cx_error_set(err, 503, "storage_unavailable", NULL, "out of memory");
	return 0;
}

int cx_survey_hosted_from_json(const json_t *body, struct cx_survey *out,
			       struct cx_error *err)
{
	const json_t *q = json_object_get(body, "question");
	const json_t *f = json_object_get(body, "fatigue");

	out->question = CX_Q_NPS;
	if (q && !json_is_null(q)) {
		const char *name = json_is_string(q) ? json_string_value(q) : "";

		if (strcmp(name, "nps") == 0)
			out->question = CX_Q_NPS;
		else if (strcmp(name, "csat") == 0)
			out->question = CX_Q_CSAT;
		else if (strcmp(name, "ces") == 0)
			out->question = CX_Q_CES;
		else
			return cx_error_set(err, 422, "invalid_question", "question", "question "
					    "must be \"nps\", \"csat\" or \"ces\"");
	}
	if (f && !json_is_null(f) && cx_fatigue_from_json(f, "fatigue", &out->fatigue, err))
		return -1;
	return read_texts(json_object_get(body, "texts"), out, err) ||
	       read_email(json_object_get(body, "email"), out, err) ? -1 : 0;
}

void cx_survey_hosted_to_json(const struct cx_survey *s, json_t *out)
{
	json_t *email = json_object();

	json_object_set_new(out, "question", json_string(cx_question_name(s->question)));
	json_object_set_new(out, "texts", s->texts ? json_deep_copy(s->texts) : json_null());
	json_object_set_new(out, "fatigue", cx_fatigue_to_json(&s->fatigue));
	if (s->email_subject)
		json_object_set_new(email, "subject", json_string(s->email_subject));
	if (s->email_body)
		json_object_set_new(email, "body", json_string(s->email_body));
	json_object_set_new(out, "email", json_object_size(email) ? email : json_null());
	if (!json_object_size(email))
		json_decref(email);
}

int cx_survey_hosted_copy(struct cx_survey *dst, const struct cx_survey *src)
{
	dst->texts = src->texts ? json_deep_copy(src->texts) : NULL;
	dst->email_subject = src->email_subject ? strdup(src->email_subject) : NULL;
	dst->email_body = src->email_body ? strdup(src->email_body) : NULL;
	return (src->texts && !dst->texts) || (src->email_subject && !dst->email_subject) ||
	       (src->email_body && !dst->email_body) ? -1 : 0;
}

void cx_survey_hosted_release(struct cx_survey *s)
{
	json_decref(s->texts);
	free(s->email_subject);
	free(s->email_body);
	s->texts = NULL;
	s->email_subject = s->email_body = NULL;
}

const char *cx_survey_text(const struct cx_survey *s, const char *lang, const char *key)
{
	const json_t *set, *v;
	char primary[4];
	size_t n;

	if (!s->texts || !lang)
		return NULL;
	set = json_object_get(s->texts, lang);
	if ((v = json_object_get(set, key)))
		return json_string_value(v);
	n = strcspn(lang, "-");
	if (n < 2 || n > 3 || lang[n] == '\0')
		return NULL;
	memcpy(primary, lang, n);
	primary[n] = '\0';
	set = json_object_get(s->texts, primary);
	v = json_object_get(set, key);
	return v ? json_string_value(v) : NULL;
}
