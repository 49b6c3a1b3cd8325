/* form_page.c - the error page a browser's form post gets; see include/cx/form_page.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/app.h"
#include "cx/form_page.h"
#include "cx/page.h"   /* the growing string and the escaper */

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
static void put_back_link(struct cx_page *p, struct cx_req *req)
{
	const char *ref = link_url(cx_req_header(req, "Referer"));
	const char *id = req->params[0] ? req->params[0]
			 : json_string_value(json_object_get(req->form, "survey"));
	struct cx_survey s;

	if (ref) {
		cx_page_puts(p, "<p><a href=\"");
		cx_page_escaped(p, ref);
		cx_page_puts(p, "\">Go back to the form</a> (or use your browser's Back button: what you "
			 "typed is kept).</p>");
		return;
	}
	cx_page_puts(p, "<p>Use your browser's Back button to return to the form: what you typed is "
		 "kept.</p>");
	if (id && cx_store_survey_get(req->app->store, id, &s) == 0) {
		const char *site = s.is_public && s.norigins ? link_url(s.origins[0]) : NULL;

		if (site) {   /* only a public survey's site: a private one is not disclosed */
			cx_page_puts(p, "<p><a href=\"");
			cx_page_escaped(p, site);
			cx_page_puts(p, "/\">Go to ");
			cx_page_escaped(p, site);
			cx_page_puts(p, "</a></p>");
		}
		cx_survey_release(&s);
	}
}

void cx_form_error_page(struct cx_req *req, const struct cx_error *err)
{
	struct cx_page p = { 0 };
	const char *h1 = heading_of(err->status);
	char num[64];

	cx_page_puts(&p, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		  "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
		  "<title>Error: ");
	cx_page_puts(&p, h1);
	cx_page_puts(&p, "</title></head>\n<body style=\"font-family:system-ui,sans-serif;max-width:"
		  "36rem;margin:3rem auto;padding:0 1rem;color:#1f2937;line-height:1.5\">"
		  "<main><h1>");
	cx_page_puts(&p, h1);
	cx_page_puts(&p, "</h1>\n<p>Your answers were not sent.</p>\n<ul>\n<li>");
	if (err->field[0]) {
		cx_page_puts(&p, "<strong>");
		cx_page_escaped(&p, label_of(err->field));
		cx_page_puts(&p, ":</strong> ");
	}
	cx_page_escaped(&p, err->message);
	cx_page_puts(&p, "</li>\n</ul>\n");
	if (err->retry_after) {
		snprintf(num, sizeof(num), "<p>Try again in %u seconds.</p>\n", err->retry_after);
		cx_page_puts(&p, num);
	}
	put_back_link(&p, req);
	cx_page_puts(&p, "\n</main></body></html>\n");
	if (p.failed) {   /* out of memory: the JSON error, which has its own fallback */
		free(p.s);
		cx_reply_json_take(req, (unsigned)err->status, cx_error_json(err));
		return;
	}
	cx_reply_html(req, (unsigned)err->status, p.s);
	free(p.s);
	req->reply.retry_after = err->retry_after;
}
