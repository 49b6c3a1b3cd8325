/* page.c - the hosted survey page's HTML; see include/cx/page.h. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nettle/base64.h>
#include <nettle/sha2.h>

#include "cx/page.h"

void cx_page_put(struct cx_page *p, const char *s, size_t n)
{
	if (p->failed)
		return;
	if (p->len + n + 1 > p->cap) {
		size_t cap = p->cap ? p->cap : 4096;
		char *q;

		while (cap < p->len + n + 1)
			cap *= 2;
		if (!(q = realloc(p->s, cap))) {
			p->failed = 1;
			return;
		}
		p->s = q;
		p->cap = cap;
	}
	memcpy(p->s + p->len, s, n);
	p->len += n;
	p->s[p->len] = '\0';
}

void cx_page_puts(struct cx_page *p, const char *s)
{
	cx_page_put(p, s, strlen(s));
}

size_t cx_page_utf8_len(const unsigned char *s, size_t n)
{
	size_t len = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
		     : s[0] >= 0xe0 && s[0] <= 0xef ? 3 : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;

	if (len == 0 || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0;   /* overlong, surrogate or beyond U+10FFFF */
	return len;
}

void cx_page_escaped(struct cx_page *p, const char *text)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t n = strlen(text);

	for (size_t i = 0; i < n;) {
		size_t len = cx_page_utf8_len(s + i, n - i);

		if (len == 0) {
			cx_page_puts(p, "\xef\xbf\xbd");
			i++;
			continue;
		}
		switch (s[i]) {
		case '&': cx_page_puts(p, "&amp;"); break;
		case '<': cx_page_puts(p, "&lt;"); break;
		case '>': cx_page_puts(p, "&gt;"); break;
		case '"': cx_page_puts(p, "&quot;"); break;
		case '\'': cx_page_puts(p, "&#39;"); break;
		default:
			if (s[i] >= 0x20 && s[i] != 0x7f)
				cx_page_put(p, (const char *)s + i, len);
		}
		i += len;
	}
}

/* The one inline style of every page. Logical properties (inline/block, start/end) so a
 * right-to-left page mirrors itself; 44 px targets; contrast >= 4.5:1 everywhere; a focus
 * ring that shows on the hidden radio's label. */
static const char style[] =
	"*{box-sizing:border-box}"
	"body{margin:0;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
	"font-size:1.0625rem;line-height:1.5;color:#1f2937;background:#f3f4f6}"
	"main{max-inline-size:40rem;margin-inline:auto;margin-block:1.5rem;"
	"padding:1.25rem .75rem;background:#fff}"
	"@media (min-width:36rem){main{padding-inline:1.25rem;border-radius:.75rem}}"
	"h1{font-size:1.25rem;margin-block:0 1rem;overflow-wrap:anywhere}"
	"p{overflow-wrap:anywhere}"
	"fieldset{border:0;margin:0;padding:0;min-inline-size:0}"
	"legend{font-size:1.125rem;font-weight:600;margin-block-end:1rem;padding:0;"
	"overflow-wrap:anywhere}"
	/* 11 scores: two even rows on a phone (6 + 5), one row from 36rem; 7: 4 + 3 */
	".scale{display:grid;gap:.375rem;grid-template-columns:repeat(6,minmax(2.75rem,1fr))}"
	".n5{grid-template-columns:repeat(5,minmax(2.75rem,1fr))}"
	".n7{grid-template-columns:repeat(4,minmax(2.75rem,1fr))}"
	"@media (min-width:36rem){.n11{grid-template-columns:repeat(11,1fr)}"
	".n7{grid-template-columns:repeat(7,1fr)}}"
	".opt{position:relative}"
	".opt input{position:absolute;inset:0;inline-size:100%;block-size:100%;margin:0;"
	"opacity:0;cursor:pointer}"
	".opt label{display:flex;align-items:center;justify-content:center;min-block-size:3rem;"
	"border:2px solid #4b5563;border-radius:.5rem;font-weight:600;font-size:1.125rem;"
	"background:#fff;color:#111827;cursor:pointer}"
	".opt input:checked+label{background:#1d4ed8;border-color:#1d4ed8;color:#fff}"
	".opt input:focus-visible+label{outline:3px solid #b45309;outline-offset:2px}"
	".ends{display:flex;justify-content:space-between;gap:1rem;margin-block:.5rem 0;"
	"font-size:.9375rem;color:#374151}"
	".ends span:last-child{text-align:end}"
	"label.reason{display:block;font-weight:600;font-size:1.125rem;margin-block-end:.5rem}"
	"textarea{display:block;inline-size:100%;min-block-size:8rem;font:inherit;"
	"padding:.5rem;border:2px solid #4b5563;border-radius:.5rem;color:#111827}"
	"textarea:focus-visible,button:focus-visible,a:focus-visible{outline:3px solid #b45309;"
	"outline-offset:2px}"
	".actions{display:flex;flex-wrap:wrap;align-items:center;gap:1rem;margin-block-start:1.25rem}"
	"button{min-block-size:2.75rem;min-inline-size:8rem;padding:.5rem 1.5rem;font:inherit;"
	"font-weight:600;color:#fff;background:#1d4ed8;border:0;border-radius:.5rem;"
	"cursor:pointer}"
	"a{color:#1d4ed8}"
	".skip{display:inline-flex;align-items:center;min-block-size:2.75rem;padding-inline:.5rem}"
	".notice{border-inline-start:4px solid #b91c1c;padding-inline-start:.75rem;"
	"color:#991b1b}"
	".detail{color:#374151}";

static char csp_base[256];
static pthread_once_t csp_once = PTHREAD_ONCE_INIT;

/* 'sha256-...' of the style, as the browser hashes the element's text */
static void make_csp(void)
{
	struct sha256_ctx ctx;
	uint8_t digest[SHA256_DIGEST_SIZE];
	char b64[BASE64_ENCODE_RAW_LENGTH(SHA256_DIGEST_SIZE) + 1];

	sha256_init(&ctx);
	sha256_update(&ctx, sizeof(style) - 1, (const uint8_t *)style);
	sha256_digest(&ctx, sizeof(digest), digest);
	base64_encode_raw(b64, sizeof(digest), digest);
	b64[sizeof(b64) - 1] = '\0';
	snprintf(csp_base, sizeof(csp_base), "default-src 'none'; style-src 'sha256-%s'; "
		 "base-uri 'none'; frame-ancestors 'none'; form-action 'self'", b64);
}

#define CSP_ORIGINS_MAX 256

/* Header arrays (name, value, NULL) for struct cx_reply's headers, which must outlive the
 * reply: kept for the process, one per thank-you origin seen. */
struct csp_headers {
	const char *h[3];
	char *value;
};

static pthread_mutex_t csp_mu = PTHREAD_MUTEX_INITIALIZER;
static struct csp_headers csp_kept[CSP_ORIGINS_MAX];
static size_t ncsp;
static char csp_any[320];
static const char *base_headers[3] = { "Content-Security-Policy", csp_base, NULL };
static const char *any_headers[3] = { "Content-Security-Policy", csp_any, NULL };

/* The origin of an http(s) URL (scheme://host[:port]) into out; 0, or -1. */
static int origin_of(const char *url, char *out, size_t len)
{
	const char *host = strstr(url, "://");
	size_t n;

	if (!host || (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0))
		return -1;
	host += 3;
	n = (size_t)(host - url) + strcspn(host, "/?#");
	if (n >= len || n == (size_t)(host - url))
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)url[i] <= 0x20 || url[i] == ';' || url[i] == ',' ||
		    url[i] == '\'' || url[i] == 0x7f || url[i] == '@')
			return -1;
	memcpy(out, url, n);
	out[n] = '\0';
	return 0;
}

const char *const *cx_page_headers(const char *form_target)
{
	char origin[300], want[600];
	const char *const *found = NULL;

	pthread_once(&csp_once, make_csp);
	if (!form_target || origin_of(form_target, origin, sizeof(origin)))
		return base_headers;
	snprintf(want, sizeof(want), "%s %s", csp_base, origin);
	pthread_mutex_lock(&csp_mu);
	for (size_t i = 0; i < ncsp && !found; i++)
		if (strcmp(csp_kept[i].value, want) == 0)
			found = csp_kept[i].h;
	if (!found && ncsp < CSP_ORIGINS_MAX && (csp_kept[ncsp].value = strdup(want))) {
		struct csp_headers *k = &csp_kept[ncsp++];

		k->h[0] = "Content-Security-Policy";
		k->h[1] = k->value;
		k->h[2] = NULL;
		found = k->h;
	}
	if (!found) {   /* more thank-you origins than kept: any web origin */
		snprintf(csp_any, sizeof(csp_any), "%s https: http:", csp_base);
		found = any_headers;
	}
	pthread_mutex_unlock(&csp_mu);
	return found;
}

const char *cx_page_csp(const char *form_target)
{
	return cx_page_headers(form_target)[1];
}

void cx_page_score_range(enum cx_question q, int *lo, int *hi)
{
	*lo = q == CX_Q_NPS ? 0 : 1;
	*hi = q == CX_Q_NPS ? 10 : q == CX_Q_CSAT ? 5 : 7;
}

static const char *qname(const struct cx_survey *s)
{
	return s ? cx_question_name(s->question) : "nps";
}

/* The survey's text key in lang, else the built-in one (builtin key may differ). */
static const char *text_of(const struct cx_page_view *v, const char *key, const char *builtin)
{
	const char *t = v->s ? cx_survey_text(v->s, v->lang, key) : NULL;

	return t ? t : cx_page_text(v->lang, builtin);
}

static const char *title_of(const struct cx_page_view *v)
{
	const char *t = v->s ? cx_survey_text(v->s, v->lang, "title") : NULL;

	return t ? t : v->s ? v->s->title : "";
}

/* text with {title} replaced by the survey's title, escaped */
static void put_templated(struct cx_page *p, const struct cx_page_view *v, const char *text)
{
	const char *at;

	while ((at = strstr(text, "{title}"))) {
		char *part = strndup(text, (size_t)(at - text));

		if (!part) {
			p->failed = 1;
			return;
		}
		cx_page_escaped(p, part);
		free(part);
		cx_page_escaped(p, title_of(v));
		text = at + 7;
	}
	cx_page_escaped(p, text);
}

static void head(struct cx_page *p, const struct cx_page_view *v, const char *title)
{
	cx_page_puts(p, "<!doctype html>\n<html lang=\"");
	cx_page_escaped(p, v->lang);
	cx_page_puts(p, cx_page_lang_rtl(v->lang) ? "\" dir=\"rtl\">" : "\" dir=\"ltr\">");
	cx_page_puts(p, "<head><meta charset=\"utf-8\">"
		     "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
		     "<meta name=\"robots\" content=\"noindex\"><title>");
	cx_page_escaped(p, title);
	cx_page_puts(p, "</title><style>");
	cx_page_puts(p, style);
	cx_page_puts(p, "</style></head>\n<body><main>\n");
}

static void foot(struct cx_page *p)
{
	cx_page_puts(p, "</main></body></html>\n");
}

static void form_open(struct cx_page *p, const struct cx_page_view *v)
{
	cx_page_puts(p, "<form method=\"post\" action=\"");
	cx_page_escaped(p, v->action);
	cx_page_puts(p, "\">\n");
	for (size_t i = 0; i < v->nhidden; i++) {
		if (!v->hidden[i].value)
			continue;
		cx_page_puts(p, "<input type=\"hidden\" name=\"");
		cx_page_escaped(p, v->hidden[i].name);
		cx_page_puts(p, "\" value=\"");
		cx_page_escaped(p, v->hidden[i].value);
		cx_page_puts(p, "\">\n");
	}
}

static char *done(struct cx_page *p)
{
	if (p->failed) {
		free(p->s);
		return NULL;
	}
	return p->s;
}

static void notice(struct cx_page *p, const struct cx_page_view *v)
{
	if (!v->notice)
		return;
	cx_page_puts(p, "<p class=\"notice\" role=\"alert\">");
	cx_page_escaped(p, v->notice);
	cx_page_puts(p, "</p>\n");
}

char *cx_page_question(const struct cx_page_view *v)
{
	struct cx_page p = { 0 };
	char key[16], num[160];
	int lo, hi;

	cx_page_score_range(v->s->question, &lo, &hi);
	head(&p, v, title_of(v));
	cx_page_puts(&p, "<h1>");
	cx_page_escaped(&p, title_of(v));
	cx_page_puts(&p, "</h1>\n");
	notice(&p, v);
	form_open(&p, v);
	cx_page_puts(&p, "<fieldset>\n<legend id=\"q\">");
	snprintf(key, sizeof(key), "q_%s", qname(v->s));
	put_templated(&p, v, text_of(v, "question", key));
	snprintf(num, sizeof(num), "</legend>\n<div class=\"scale n%d\">\n", hi - lo + 1);
	cx_page_puts(&p, num);
	for (int i = lo; i <= hi; i++) {
		snprintf(num, sizeof(num), "<div class=\"opt\"><input type=\"radio\" name=\"score\" "
			 "id=\"s%d\" value=\"%d\"%s%s><label for=\"s%d\">%d</label></div>\n",
			 i, i, i == v->score ? " checked" : "", i == lo ? " required" : "", i, i);
		cx_page_puts(&p, num);
	}
	cx_page_puts(&p, "</div>\n<p class=\"ends\" aria-hidden=\"true\"><span>");
	snprintf(key, sizeof(key), "low_%s", qname(v->s));
	put_templated(&p, v, text_of(v, "low", key));
	snprintf(num, sizeof(num), " (%d)</span><span>", lo);
	cx_page_puts(&p, num);
	snprintf(key, sizeof(key), "high_%s", qname(v->s));
	put_templated(&p, v, text_of(v, "high", key));
	snprintf(num, sizeof(num), " (%d)</span></p>\n</fieldset>\n", hi);
	cx_page_puts(&p, num);
	cx_page_puts(&p, "<div class=\"actions\"><button type=\"submit\">");
	cx_page_escaped(&p, text_of(v, "submit", "submit"));
	cx_page_puts(&p, "</button></div>\n</form>\n");
	foot(&p);
	return done(&p);
}

char *cx_page_reason(const struct cx_page_view *v)
{
	struct cx_page p = { 0 };

	head(&p, v, title_of(v));
	cx_page_puts(&p, "<h1>");
	cx_page_escaped(&p, title_of(v));
	cx_page_puts(&p, "</h1>\n");
	notice(&p, v);
	form_open(&p, v);
	cx_page_puts(&p, "<label class=\"reason\" for=\"comment\">");
	put_templated(&p, v, text_of(v, "reason", "reason"));
	cx_page_puts(&p, "</label>\n<textarea id=\"comment\" name=\"comment\" rows=\"5\" "
		     "maxlength=\"4000\"></textarea>\n<div class=\"actions\">"
		     "<button type=\"submit\">");
	cx_page_escaped(&p, text_of(v, "submit", "send"));
	cx_page_puts(&p, "</button>");
	if (v->skip_url) {
		cx_page_puts(&p, "<a class=\"skip\" href=\"");
		cx_page_escaped(&p, v->skip_url);
		cx_page_puts(&p, "\">");
		cx_page_escaped(&p, cx_page_text(v->lang, "skip"));
		cx_page_puts(&p, "</a>");
	}
	cx_page_puts(&p, "</div>\n</form>\n");
	foot(&p);
	return done(&p);
}

char *cx_page_message(const struct cx_page_view *v, const char *kind, const char *detail)
{
	struct cx_page p = { 0 };
	char key[32];
	const char *title, *body;

	snprintf(key, sizeof(key), "%s_title", kind);
	title = strcmp(kind, "thanks") == 0 ? text_of(v, "thanks", key)
					    : cx_page_text(v->lang, key);
	snprintf(key, sizeof(key), "%s_body", kind);
	body = cx_page_text(v->lang, key);
	head(&p, v, title);
	cx_page_puts(&p, "<h1>");
	cx_page_escaped(&p, title);
	cx_page_puts(&p, "</h1>\n<p>");
	cx_page_escaped(&p, body);
	cx_page_puts(&p, "</p>\n");
	if (detail) {
		cx_page_puts(&p, "<p class=\"detail\">");
		cx_page_escaped(&p, detail);
		cx_page_puts(&p, "</p>\n");
	}
	foot(&p);
	return done(&p);
}
