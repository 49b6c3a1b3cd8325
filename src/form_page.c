/* form_page.c - the error page a browser's form post gets; see include/cx/form_page.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/app.h"
#include "cx/form_page.h"

/* A growing string; on allocation failure it keeps what it has and sets failed. */
struct page {
	char *s;
	size_t len, cap;
	int failed;
};

static void put(struct page *p, const char *s, size_t n)
{
	if (p->failed)
		return;
	if (p->len + n + 1 > p->cap) {
		size_t cap = p->cap ? p->cap : 2048;
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

static void puts_(struct page *p, const char *s)
{
	put(p, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
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

/* Text or an attribute value: HTML-escaped, control characters dropped, invalid UTF-8
 * shown as U+FFFD. */
static void put_escaped(struct page *p, const char *text)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t n = strlen(text);

	for (size_t i = 0; i < n;) {
		size_t len = utf8_len(s + i, n - i);

		if (len == 0) {
			puts_(p, "\xef\xbf\xbd");
			i++;
			continue;
		}
		switch (s[i]) {
		case '&': puts_(p, "&amp;"); break;
		case '<': puts_(p, "&lt;"); break;
		case '>': puts_(p, "&gt;"); break;
		case '"': puts_(p, "&quot;"); break;
		case '\'': puts_(p, "&#39;"); break;
		default:
			if (s[i] >= 0x20 && s[i] != 0x7f)
				put(p, (const char *)s + i, len);
		}
		i += len;
	}
}

static const char *heading_of(int status)
{
	switch (status) {
	case 400: case 422: return "Please check your answers";
	case 401: case 403: return "This form cannot take answers";
	case 409: return "These answers were already sent";
	case 413: return "Your answers are too long";
	case 429: return "Too many answers at once";
	case 503: return "Please try again in a moment";
	default: return "Your answers could not be sent";
	}
}

/* What a respondent calls a field. */
static const char *label_of(const char *field)
{
	static const struct { const char *field, *label; } t[] = {
		{ "nps", "How likely you are to recommend us (0 to 10)" },
		{ "csat", "Satisfaction (1 to 5)" },
		{ "ces", "Ease (1 to 7)" },
		{ "comment", "Comment" },
		{ "survey", "Survey" },
		{ "stage", "Stage" },
		{ "touchpoint", "Touchpoint" },
		{ "channel", "Channel" },
		{ "segment", "Segment" },
		{ "customer", "Customer" },
		{ "submitted_at", "Time" },
		{ "response_id", "Response id" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(field, t[i].field) == 0)
			return t[i].label;
	return field;
}

/* An http(s) URL a link may point to, or NULL. */
static const char *link_url(const char *u)
{
	if (!u || strlen(u) > 2048 || (strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0))
		return NULL;
	for (const char *c = u; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			return NULL;
	return u;
}

/* Where "back" goes: the page the form was on (Referer), else the public survey's site. */
static void put_back_link(struct page *p, struct cx_req *req)
{
	const char *ref = link_url(cx_req_header(req, "Referer"));
	const char *id = req->params[0] ? req->params[0]
			 : json_string_value(json_object_get(req->form, "survey"));
	struct cx_survey s;

	if (ref) {
		puts_(p, "<p><a href=\"");
		put_escaped(p, ref);
		puts_(p, "\">Go back to the form</a> (or use your browser's Back button: what you "
			 "typed is kept).</p>");
		return;
	}
	puts_(p, "<p>Use your browser's Back button to return to the form: what you typed is "
		 "kept.</p>");
	if (id && cx_store_survey_get(req->app->store, id, &s) == 0) {
		const char *site = s.is_public && s.norigins ? link_url(s.origins[0]) : NULL;

		if (site) {   /* only a public survey's site: a private one is not disclosed */
			puts_(p, "<p><a href=\"");
			put_escaped(p, site);
			puts_(p, "/\">Go to ");
			put_escaped(p, site);
			puts_(p, "</a></p>");
		}
		cx_survey_release(&s);
	}
}

void cx_form_error_page(struct cx_req *req, const struct cx_error *err)
{
	struct page p = { 0 };
	const char *h1 = heading_of(err->status);
	char num[64];

	puts_(&p, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		  "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
		  "<title>Error: ");
	puts_(&p, h1);
	puts_(&p, "</title></head>\n<body style=\"font-family:system-ui,sans-serif;max-width:"
		  "36rem;margin:3rem auto;padding:0 1rem;color:#1f2937;line-height:1.5\">"
		  "<main><h1>");
	puts_(&p, h1);
	puts_(&p, "</h1>\n<p>Your answers were not sent.</p>\n<ul>\n<li>");
	if (err->field[0]) {
		puts_(&p, "<strong>");
		put_escaped(&p, label_of(err->field));
		puts_(&p, ":</strong> ");
	}
	put_escaped(&p, err->message);
	puts_(&p, "</li>\n</ul>\n");
	if (err->retry_after) {
		snprintf(num, sizeof(num), "<p>Try again in %u seconds.</p>\n", err->retry_after);
		puts_(&p, num);
	}
	put_back_link(&p, req);
	puts_(&p, "\n</main></body></html>\n");
	if (p.failed) {   /* out of memory: the JSON error, which has its own fallback */
		free(p.s);
		cx_reply_json_take(req, (unsigned)err->status, cx_error_json(err));
		return;
	}
	cx_reply_html(req, (unsigned)err->status, p.s);
	free(p.s);
	req->reply.retry_after = err->retry_after;
}
