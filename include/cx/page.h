/* page.h - the hosted survey page's HTML (src/page.c) and its built-in texts
 * (src/page_text.c); the routes are in src/api_page.c.
 *
 * The page is server-rendered and needs no JavaScript: step 1 is one question (NPS 0-10,
 * CSAT 1-5 or CES 1-7 as a radio group of large buttons), step 2 "what is the main reason
 * for your score?", then thanks. Every page carries one inline <style> named by its hash in
 * a Content-Security-Policy that allows nothing else (no script at all), and everything that
 * came from a request or a survey is HTML-escaped (cx_page_escaped).
 */
#ifndef CX_PAGE_H
#define CX_PAGE_H

#include <stddef.h>

#include "cx/survey.h"

/* A growing string; on allocation failure it keeps what it has and sets failed. */
struct cx_page {
	char *s;
	size_t len, cap;
	int failed;
};
void cx_page_put(struct cx_page *p, const char *s, size_t n);
void cx_page_puts(struct cx_page *p, const char *s);
/* text as HTML text or an attribute value: &<>"' escaped, control characters dropped,
 * invalid UTF-8 shown as U+FFFD. */
void cx_page_escaped(struct cx_page *p, const char *text);
/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if it is not one. */
size_t cx_page_utf8_len(const unsigned char *s, size_t n);

/* --- languages and texts (src/page_text.c) --- */
#define CX_PAGE_LANG_MAX 16          /* a chosen language tag, NUL included */
#define CX_PAGE_ACCEPT_ENTRIES 20    /* Accept-Language entries looked at */

/* 1 if cxd has built-in texts for primary language tag lang ("en", "ru", ...). */
int cx_page_lang_builtin(const char *lang);
/* 1 if lang is written right to left. */
int cx_page_lang_rtl(const char *lang);
/* The built-in text `key` in lang (English when lang has none); never NULL ("" for an
 * unknown key). Keys: see page_text.c. */
const char *cx_page_text(const char *lang, const char *key);
/* The primary subtag of tag, lower-cased, into out ("pt-BR" -> "pt"); 0, or -1 when tag
 * is not 2-8 letters optionally followed by "-" and more. */
int cx_page_lang_primary(const char *tag, char *out, size_t len);
/* The best language of an Accept-Language header that ok(ctx, primary) accepts: by
 * q-value (ties: the header's order), q=0 never; at most CX_PAGE_ACCEPT_ENTRIES entries
 * are read and junk entries skipped. 0 with out set, -1 when none fits. */
int cx_page_accept_language(const char *header, int (*ok)(void *ctx, const char *lang),
			    void *ctx, char *out, size_t len);
/* The page's language for survey s: query (?lang=), then claims (a link's "l"), then
 * accept (Accept-Language), then "en"; each only if cxd or s has texts in it. */
void cx_page_choose_lang(const struct cx_survey *s, const char *query, const char *claims,
			 const char *accept, char out[CX_PAGE_LANG_MAX]);

/* --- pages --- */
/* A field a form carries hidden (NULL value = left out). */
struct cx_page_field {
	const char *name, *value;
};

struct cx_page_view {
	const struct cx_survey *s;   /* NULL on an error page with no survey */
	const char *lang;
	const char *action;          /* the form's target path (escaped here) */
	const struct cx_page_field *hidden;
	size_t nhidden;
	int score;                   /* chosen score, -1 = none */
	const char *notice;          /* a message above the form (a refused answer), or NULL */
	const char *skip_url;        /* step 2's "skip" link target */
};

/* Step 1: the survey's question; step 2: the reason. New malloc'd HTML, NULL when out of
 * memory. */
char *cx_page_question(const struct cx_page_view *v);
char *cx_page_reason(const struct cx_page_view *v);
/* A page of one heading and one paragraph: the built-in texts `kind`_title and
 * `kind`_body (kind = "thanks", "broken", "expired", "answered", "fatigued", "notfound",
 * "invalid", "retry"); detail, if not NULL, is shown (escaped) below. */
char *cx_page_message(const struct cx_page_view *v, const char *kind, const char *detail);
/* The score range of question q: [*lo, *hi]. */
void cx_page_score_range(enum cx_question q, int *lo, int *hi);
/* The Content-Security-Policy of a page (names the inline style by its hash; no script):
 * form-action 'self', plus the origin of form_target (an http(s) URL a form's answer may
 * be redirected to: the survey's thank-you URL) when given. The string lives as long as
 * the process (a bounded set is kept; beyond it, such pages allow 'self' https: http:). */
const char *cx_page_csp(const char *form_target);
/* The same as a struct cx_reply `headers` array ("Content-Security-Policy", value, NULL). */
const char *const *cx_page_headers(const char *form_target);

#endif
