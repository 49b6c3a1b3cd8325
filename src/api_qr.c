/* api_qr.c - GET /v1/surveys/{id}/qr: a QR code of a public survey's hosted page for one
 * (stage, touchpoint), as SVG, PNG or JSON (the URL alone); and GET /widget.js: the
 * embeddable widget (web/widget.js, compiled into the binary by tools/embed_file.py).
 *
 * The code is checked against what the page will accept before it is drawn: a code that
 * leads to a refusal would be printed on posters before anyone noticed. */
#include <nettle/sha2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/app.h"
#include "cx/qr.h"
#include "cx/routes.h"

/* tools/embed_file.py's output (widget_js.c) */
extern const unsigned char cx_widget_js[];
extern const size_t cx_widget_js_len;

#define SCALE_DEFAULT 8
#define MARGIN_DEFAULT 4
#define LANG_MAX 35   /* a BCP 47 tag as browsers send them, e.g. "en-US", "zh-Hant-TW" */

static const char *const params[] = {
	"stage", "touchpoint", "channel", "segment", "lang", "format", "size", "ecc", "margin",
};

enum format { FMT_SVG, FMT_PNG, FMT_JSON };

struct qr_query {
	struct cx_qr_target t;
	enum format fmt;
	unsigned scale, margin;
	char ecc;
};

/* An unsigned query parameter in [lo, hi], or def when absent. */
static int bounded(struct cx_req *req, const char *name, const char *code, unsigned lo,
		   unsigned hi, unsigned def, unsigned *out, struct cx_error *err)
{
	const char *v = cx_req_query(req, name);
	unsigned long n = 0;
	size_t i;

	*out = def;
	if (!v)
		return 0;
	for (i = 0; v[i] >= '0' && v[i] <= '9' && i < 4; i++)
		n = n * 10 + (unsigned long)(v[i] - '0');
	if (i == 0 || v[i] || n < lo || n > hi)
		return cx_error_set(err, 422, code, name, "%s must be a whole "
				    "number from %u to %u", name, lo, hi);
	*out = (unsigned)n;
	return 0;
}

static int valid_lang(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > LANG_MAX || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

static int parse_format(const char *fmt, enum format *out, struct cx_error *err)
{
	if (!fmt || strcmp(fmt, "svg") == 0)
		*out = FMT_SVG;
	else if (strcmp(fmt, "png") == 0)
		*out = FMT_PNG;
	else if (strcmp(fmt, "json") == 0)
		*out = FMT_JSON;
	else
		return cx_error_set(err, 422, "invalid_format", "format",
				    "format must be svg, png or json");
	return 0;
}

/* The query, checked against s: what the hosted page would refuse is refused here. */
static int parse(struct cx_req *req, const struct cx_survey *s, struct qr_query *q,
		 struct cx_error *err)
{
	const char *ecc = cx_req_query(req, "ecc");
	struct cx_qr_target *t = &q->t;

	if (cx_api_known_params(req, params, sizeof(params) / sizeof(params[0]), err))
		return -1;
	t->survey = s->id;
	t->stage = cx_req_query(req, "stage");
	if (!t->stage)
		return cx_error_set(err, 422, "missing_parameter", "stage", "stage is required: "
				    "the journey stage the code's answers count towards");
	if (cx_survey_stage_index(s, t->stage) < 0)
		return cx_error_set(err, 422, "invalid_stage", "stage",
				    "'%.64s' is not a stage of survey '%s'", t->stage, s->id);
	if (cx_api_label_param(req, "touchpoint", &t->touchpoint, err) ||
	    cx_api_label_param(req, "channel", &t->channel, err) ||
	    cx_api_label_param(req, "segment", &t->segment, err))
		return -1;
	if (!t->touchpoint)
		return cx_error_set(err, 422, "missing_parameter", "touchpoint", "touchpoint is "
				    "required: where the code is put up (a touchpoint of the "
				    "survey's journey map)");
	if (!cx_survey_has_touchpoint(s, t->stage, t->touchpoint))
		return cx_error_set(err, 422, "unknown_touchpoint", "touchpoint", "'%s' is not a "
				    "touchpoint of stage '%s' in survey '%s''s journey map: add it "
				    "to the survey's \"touchpoints\" first", t->touchpoint, t->stage,
				    s->id);
	/* the page takes from a browser (no key) only a channel or segment its survey lists:
	 * a survey that lists none gets a code naming none, else every answer is refused */
	if (!t->channel && s->channels)
		t->channel = "qr";
	if (t->channel && (!s->channels ||
			   !cx_survey_label_listed(s->channels, s->nchannels, t->channel)))
		return cx_error_set(err, 422, "unknown_channel", "channel", "channel '%s' is not "
				    "one of survey '%s''s channels%s", t->channel, s->id,
				    s->channels ? "" : " (it lists none: its page takes none)");
	if (t->segment && (!s->segments ||
			   !cx_survey_label_listed(s->segments, s->nsegments, t->segment)))
		return cx_error_set(err, 422, "unknown_segment", "segment", "segment '%s' is not "
				    "one of survey '%s''s segments%s", t->segment, s->id,
				    s->segments ? "" : " (it lists none: its page takes none)");
	t->lang = cx_req_query(req, "lang");
	if (t->lang && !valid_lang(t->lang))
		return cx_error_set(err, 422, "invalid_lang", "lang", "lang must be a language "
				    "tag such as en, ru or pt-BR (at most %d characters)", LANG_MAX);
	if (parse_format(cx_req_query(req, "format"), &q->fmt, err) ||
	    bounded(req, "size", "invalid_size", 1, CX_QR_SCALE_MAX, SCALE_DEFAULT, &q->scale,
		    err) ||
	    bounded(req, "margin", "invalid_margin", 0, CX_QR_MARGIN_MAX, MARGIN_DEFAULT,
		    &q->margin, err))
		return -1;
	if (ecc && (strlen(ecc) != 1 || !strchr("LMQH", ecc[0])))
		return cx_error_set(err, 422, "invalid_ecc", "ecc", "ecc must be L, M, Q or H");
	q->ecc = ecc ? ecc[0] : 'M';
	return 0;
}

/* `qr-<survey>-<stage>-<touchpoint>.<ext>` with every byte outside [A-Za-z0-9._-] as '_',
 * as an inline Content-Disposition in buf. */
static void disposition(const struct cx_qr_target *t, const char *ext, char *buf, size_t len)
{
	char name[200];
	int n = snprintf(name, sizeof(name), "qr-%s-%s-%s", t->survey, t->stage, t->touchpoint);

	if (n < 0)
		name[0] = '\0';
	for (char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-'))
			*c = '_';
	snprintf(buf, len, "inline; filename=\"%.180s.%s\"", name, ext);
}

static void reply_code(struct cx_req *req, const struct qr_query *q, const char *url)
{
	struct cx_qr code;
	struct cx_error err;
	unsigned char *img = NULL;
	size_t len = 0;

	if (cx_qr_encode(url, q->ecc, &code, &err)) {
		cx_reply_error(req, &err);
		return;
	}
	if (q->fmt == FMT_JSON) {
		char ecc[2] = { q->ecc, '\0' };

		cx_reply_json_take(req, 200, json_pack("{s:s, s:i, s:i, s:s}", "url", url,
						       "version", code.version, "modules",
						       code.width, "ecc", ecc));
		cx_qr_release(&code);
		return;
	}
	if (q->fmt == FMT_PNG &&
	    ((unsigned)code.width + 2 * q->margin) * q->scale > CX_QR_PNG_MAX_PX) {
		cx_error_set(&err, 422, "invalid_size", "size", "this code is %u modules "
			     "wide with its margin: at most size=%u keeps the PNG within %u px",
			     (unsigned)code.width + 2 * q->margin,
			     CX_QR_PNG_MAX_PX / ((unsigned)code.width + 2 * q->margin),
			     CX_QR_PNG_MAX_PX);
		cx_reply_error(req, &err);
		cx_qr_release(&code);
		return;
	}
	img = q->fmt == FMT_PNG ? cx_qr_png(&code, q->scale, q->margin, &len)
				: (unsigned char *)cx_qr_svg(&code, q->scale, q->margin, url, &len);
	cx_qr_release(&code);
	if (!img) {
		cx_error_set(&err, 503, "out_of_memory", NULL, "out of memory");
		cx_reply_error(req, &err);
		return;
	}
	cx_reply_bytes(req, 200, q->fmt == FMT_PNG ? "image/png" : "image/svg+xml", img, len);
	free(img);
	disposition(&q->t, q->fmt == FMT_PNG ? "png" : "svg", req->reply.disposition_buf,
		    sizeof(req->reply.disposition_buf));
	req->reply.disposition = req->reply.disposition_buf;
}

enum cx_handled cx_api_qr(struct cx_req *req)
{
	struct cx_survey s;
	struct qr_query q = { 0 };
	struct cx_error err = { 0 };
	char url[CX_QR_URL_MAX];

	if (cx_api_path_survey(req, &s))
		return CX_DONE;
	if (!s.is_public)
		cx_error_set(&err, 409, "survey_not_public", NULL, "survey '%s' is not public: its "
			     "page (/s/%s) answers only public surveys; set \"public\": true (and "
			     "its \"touchpoints\") in the survey first", s.id, s.id);
	else if (parse(req, &s, &q, &err) == 0 &&
		 cx_qr_page_url(&req->app->cfg, &q.t, url, sizeof(url)) < 0)
		cx_error_set(&err, 422, "too_long", NULL, "the page's URL would be longer than %d "
			     "bytes", CX_QR_URL_MAX);
	if (err.code)
		cx_reply_error(req, &err);
	else
		reply_code(req, &q, url);
	cx_survey_release(&s);
	return CX_DONE;
}

/* --- the widget --- */

static char widget_etag[24];   /* "<16 hex digits of SHA-256>", set once */
static pthread_once_t widget_once = PTHREAD_ONCE_INIT;
static const char *const widget_headers[] = {
	"Cache-Control", "public, max-age=3600",
	"ETag", widget_etag,
	/* any site may load it with <script src>; nothing else may read it as data */
	"Cross-Origin-Resource-Policy", "cross-origin",
	NULL,
};

static void widget_hash(void)
{
	struct sha256_ctx c;
	uint8_t d[SHA256_DIGEST_SIZE];
	char *p = widget_etag;

	sha256_init(&c);
	sha256_update(&c, cx_widget_js_len, cx_widget_js);
	sha256_digest(&c, sizeof(d), d);
	*p++ = '"';
	for (int i = 0; i < 8; i++, p += 2)
		snprintf(p, 3, "%02x", d[i]);
	*p++ = '"';
	*p = '\0';
}

enum cx_handled cx_api_widget(struct cx_req *req)
{
	const char *inm = cx_req_header(req, "If-None-Match");

	pthread_once(&widget_once, widget_hash);
	if (inm && strstr(inm, widget_etag))
		cx_reply_bytes(req, 304, NULL, "", 0);
	else
		cx_reply_bytes(req, 200, "text/javascript; charset=utf-8", cx_widget_js,
			       cx_widget_js_len);
	req->reply.headers = widget_headers;
	return CX_DONE;
}
