/* api_dashboard.c - GET / and /dashboard: the dashboard page (web/dashboard.html), and GET
 * /favicon.ico: its icon (web/favicon.svg). Both are compiled into the binary, each also
 * gzipped at build time (tools/embed_file.py), and sent gzipped to a client whose
 * Accept-Encoding allows it. The page reads only the public API, and its headers forbid
 * everything else: a Content-Security-Policy naming its inline script and style by hash,
 * no framing, no referrer. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cx/routes.h"

/* tools/embed_file.py's output (dashboard_html.c) */
extern const unsigned char cx_dashboard_html[], cx_dashboard_html_gz[];
extern const size_t cx_dashboard_html_len, cx_dashboard_html_gz_len;
extern const char cx_dashboard_html_csp[];
extern const unsigned char cx_favicon_svg[], cx_favicon_svg_gz[];
extern const size_t cx_favicon_svg_len, cx_favicon_svg_gz_len;

/* X-Frame-Options, Referrer-Policy and nosniff come with every reply (http.c) */
#define PAGE_HEADERS \
	"Content-Security-Policy", cx_dashboard_html_csp, \
	"Vary", "Accept-Encoding"

static const char *const page_plain[] = { PAGE_HEADERS, NULL };
static const char *const page_gzip[] = { PAGE_HEADERS, "Content-Encoding", "gzip", NULL };
static const char *const icon_plain[] = { "Vary", "Accept-Encoding", NULL };
static const char *const icon_gzip[] = { "Vary", "Accept-Encoding", "Content-Encoding", "gzip",
					 NULL };

/* 1 if an Accept-Encoding value allows gzip: "gzip" or "*" listed without q=0 (RFC 9110
 * 12.5.3; an explicit "gzip;q=0" wins over "*"). */
static int accepts_gzip(const char *ae)
{
	int star = 0, gzip = -1;

	while (ae && *ae) {
		size_t len = strcspn(ae, ",");
		size_t name = strcspn(ae, ",;");
		const char *q = memchr(ae, ';', len);
		int zero = 0;

		while (name && (ae[name - 1] == ' ' || ae[name - 1] == '\t'))
			name--;
		if (q) {
			q++;
			while (*q == ' ' || *q == '\t')
				q++;
			if ((q[0] == 'q' || q[0] == 'Q') && q[1] == '=') {
				char *end;
				double v = strtod(q + 2, &end);

				zero = end != q + 2 && v <= 0.0;
			}
		}
		if (name == 4 && strncasecmp(ae, "gzip", 4) == 0)
			gzip = !zero;
		else if (name == 1 && ae[0] == '*')
			star = !zero;
		ae += len;
		while (*ae == ',' || *ae == ' ' || *ae == '\t')
			ae++;
	}
	return gzip >= 0 ? gzip : star;
}

enum cx_handled cx_api_dashboard(struct cx_req *req)
{
	int gz = accepts_gzip(cx_req_header(req, "Accept-Encoding"));

	if (strcmp(req->path, "/favicon.ico") == 0) {
		cx_reply_bytes(req, 200, "image/svg+xml", gz ? cx_favicon_svg_gz : cx_favicon_svg,
			       gz ? cx_favicon_svg_gz_len : cx_favicon_svg_len);
		req->reply.headers = gz ? icon_gzip : icon_plain;
		return CX_DONE;
	}
	cx_reply_bytes(req, 200, "text/html; charset=utf-8",
		       gz ? cx_dashboard_html_gz : cx_dashboard_html,
		       gz ? cx_dashboard_html_gz_len : cx_dashboard_html_len);
	req->reply.headers = gz ? page_gzip : page_plain;
	return CX_DONE;
}
