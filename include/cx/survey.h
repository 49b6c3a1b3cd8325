/* survey.h - a survey definition: id, title, the journey stages in order, thank-you URL,
 * and its journey map: per stage the touchpoints responses may name, and optionally the
 * channels and segments they may name.
 *
 * Limits (documented in the README): id and stage names 1-64 chars of [A-Za-z0-9_.-];
 * title 1-200 bytes of UTF-8; 1-32 distinct stages; thank_you_url an http(s) URL of at
 * most 2048 bytes; at most CX_TOUCHPOINTS_MAX touchpoints per survey (declared plus those
 * keyed clients added), at most CX_LABELS_MAX channels and as many segments.
 *
 * The map bounds what anonymous clients can create: an anonymous response must name a
 * touchpoint of the map (and a listed channel/segment when the survey lists them). With
 * open_touchpoints, a keyed client's response may name a new touchpoint, which the store
 * adds to the map ("learned") in the response's own transaction, up to the cap.
 */
#ifndef CX_SURVEY_H
#define CX_SURVEY_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "cx/error.h"
#include "cx/fatigue.h"

#define CX_ID_MAX 64
#define CX_TITLE_MAX 200
#define CX_STAGES_MAX 32
#define CX_URL_MAX 2048
#define CX_ORIGINS_MAX 20
#define CX_TOUCHPOINTS_MAX 500   /* per survey, declared and learned together */
#define CX_LABELS_MAX 100        /* listed channels; listed segments */
#define CX_ROOT_CAUSES_MAX 32    /* labels a follow-up case's root_cause may take */
#define CX_TEXT_LANGS_MAX 32     /* languages a survey's page texts may be given in */
#define CX_TEXT_MAX 1000         /* bytes of one page text */
#define CX_EMAIL_SUBJECT_MAX 200
#define CX_EMAIL_BODY_MAX 16384

/* The hosted page's first question (the other two may still come from an API client). */
enum cx_question { CX_Q_NPS = 0, CX_Q_CSAT, CX_Q_CES };

/* One touchpoint of the map. `stage` may name a stage the survey no longer lists (data
 * from before migration 008); such entries are kept but never offered. */
struct cx_touchpoint {
	char *stage, *name;
	int declared;         /* 1 = in the definition; 0 = learned from a keyed response */
};

struct cx_survey {
	char id[CX_ID_MAX + 1];
	char *title;
	size_t nstages;
	char *stages[CX_STAGES_MAX];
	char *thank_you_url;  /* NULL if none */
	int is_public;        /* responses need no key */
	size_t norigins;      /* browser origins allowed to post (CORS), e.g. https://a.example */
	char *origins[CX_ORIGINS_MAX];
	/* the journey map */
	struct cx_touchpoint *touchpoints;   /* in map order: declared, then learned */
	size_t ntouchpoints;
	int open_touchpoints;  /* keyed clients may add touchpoints (up to the cap) */
	char **channels, **segments;         /* NULL = any label */
	size_t nchannels, nsegments;
	int64_t created_at;
	int64_t updated_at;
	/* follow-up cases: the root causes a case may be given (labels; none = no list) */
	size_t nroot_causes;
	char *root_causes[CX_ROOT_CAUSES_MAX];
	/* asking customers (schema 013; src/survey_hosted.c) */
	enum cx_question question;  /* "question": "nps" (default), "csat" or "ces" */
	json_t *texts;              /* "texts": {"lang": {"title", "question", "low", "high",
				       "reason", "submit", "thanks"}} (any subset; the page's
				       built-in texts fill the rest), or NULL */
	struct cx_fatigue fatigue;  /* "fatigue": this survey's own rules (all 0 = none) */
	char *email_subject;        /* "email": {"subject", "body"}: templates of invitation */
	char *email_body;           /* mail, with {{link}}, {{title}}, {{customer}}; NULL =
				       built-in */
};

extern const char *const cx_default_stages[];
extern const size_t cx_default_stages_count;

/* 1 if s is a valid id or stage name. */
int cx_survey_valid_id(const char *s);

/* Validate a JSON definition into *out (which the caller later releases). `path_id`, if not
 * NULL, is the id from the URL (PUT): the body's id may then be left out but must match. */
int cx_survey_from_json(const json_t *body, const char *path_id, struct cx_survey *out,
			struct cx_error *err);
json_t *cx_survey_to_json(const struct cx_survey *s);
/* {"stage": [touchpoint, ...]} for every listed stage, in map order; new reference. */
json_t *cx_survey_touchpoints_json(const struct cx_survey *s);
/* 1 if origin is one of s's allowed origins. */
int cx_survey_origin_allowed(const struct cx_survey *s, const char *origin);
/* 1 if (stage, name) is a touchpoint of s's map. */
int cx_survey_has_touchpoint(const struct cx_survey *s, const char *stage, const char *name);
/* Append (stage, name) to s's map; 0, or -1 when out of memory. */
int cx_survey_add_touchpoint(struct cx_survey *s, const char *stage, const char *name,
			     int declared);
/* Free s's journey map (touchpoints, channels, segments) and leave it empty. */
void cx_survey_clear_map(struct cx_survey *s);
/* 1 if cause is one of s's root_causes. */
int cx_survey_has_root_cause(const struct cx_survey *s, const char *cause);
/* 1 if label is allowed by list (n entries; list NULL = any). */
int cx_survey_label_listed(char *const *list, size_t n, const char *label);
/* Index of stage in s, or -1. */
int cx_survey_stage_index(const struct cx_survey *s, const char *stage);
/* Deep copy; 0 on success. */
int cx_survey_copy(struct cx_survey *dst, const struct cx_survey *src);
/* The hosted-page fields (src/survey_hosted.c): parse "question", "texts", "fatigue" and
 * "email" of body into out (422 naming the field), write them into a survey's JSON, copy
 * them (0, or -1 when out of memory), free them. */
int cx_survey_hosted_from_json(const json_t *body, struct cx_survey *out,
			       struct cx_error *err);
void cx_survey_hosted_to_json(const struct cx_survey *s, json_t *out);
int cx_survey_hosted_copy(struct cx_survey *dst, const struct cx_survey *src);
void cx_survey_hosted_release(struct cx_survey *s);
const char *cx_question_name(enum cx_question q);
/* 1 if tag is a language tag as the texts' keys are (en, bg, pt-BR: 2-3 lowercase letters,
 * then up to two -subtags of 2-8 letters or digits; at most 35 bytes). */
int cx_survey_lang_valid(const char *tag);
/* The survey's text `key` in lang (exact tag, then its primary language), or NULL. */
const char *cx_survey_text(const struct cx_survey *s, const char *lang, const char *key);
/* Free what s owns (not s itself) and zero it. */
void cx_survey_release(struct cx_survey *s);

#endif
