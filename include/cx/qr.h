/* qr.h - QR codes of a public survey's hosted page (src/qr.c), for offline touchpoints:
 * a poster at the till, a receipt, a parcel slip.
 *
 * The code holds the page's URL, <base>/s/<survey>?stage=..&touchpoint=..&channel=..
 * [&segment=..][&lang=..], every value percent-encoded. The symbol comes from libqrencode
 * (8-bit mode, case-sensitive); the PNG from libpng, written to memory; the SVG is text: one
 * <path> of the dark modules. Nothing here knows HTTP (src/api_qr.c answers the route).
 *
 * Bounds: the URL is at most CX_QR_URL_MAX bytes (a bounded survey id, stage and three
 * labels fit with room to spare); a code is at most version 40 (177 modules) plus its
 * quiet zone; the caller bounds scale and margin (api_qr.c: the PNG at most
 * CX_QR_PNG_MAX_PX pixels wide).
 */
#ifndef CX_QR_H
#define CX_QR_H

#include <stddef.h>

#include "cx/config.h"
#include "cx/public_url.h"
#include "cx/error.h"

#define CX_QR_URL_MAX 2048
#define CX_QR_MARGIN_MAX 16     /* quiet-zone modules (the standard asks for 4) */
#define CX_QR_SCALE_MAX 32      /* pixels per module */
#define CX_QR_PNG_MAX_PX 4096   /* a PNG's width and height */


/* Append s percent-encoded (RFC 3986: only unreserved A-Z a-z 0-9 - . _ ~ kept, every other
 * byte as %XX) at buf + *pos, advancing *pos; 0, or -1 if buf (len bytes) is too small. */
int cx_url_escape(const char *s, char *buf, size_t len, size_t *pos);

/* What a code's page is asked for; survey, stage, touchpoint and channel required. */
struct cx_qr_target {
	const char *survey, *stage, *touchpoint, *channel;
	const char *segment, *lang;   /* NULL = left out of the URL */
};

/* The hosted page's URL for t under cfg's base; its length, or -1 if it would not fit
 * (buf of len bytes, at most CX_QR_URL_MAX used). */
int cx_qr_page_url(const struct cx_config *cfg, const struct cx_qr_target *t, char *buf,
		   size_t len);

/* A QR symbol: width x width modules, dark[y * width + x] is 1 for a dark module. */
struct cx_qr {
	int width, version;
	unsigned char *dark;
};

/* Encode text with error correction level ecc ('L', 'M', 'Q' or 'H'); 0, or -1 with err
 * (422 `invalid_ecc`, 422 `too_long`, 503 `out_of_memory`). Release *out after. */
int cx_qr_encode(const char *text, char ecc, struct cx_qr *out, struct cx_error *err);
void cx_qr_release(struct cx_qr *q);

/* An SVG of q with `margin` light modules around it, `scale` px per module as its width and
 * height (viewBox in modules), and `title` (XML-escaped here) as its accessible name.
 * malloc'd, NUL-terminated, length in *len; NULL when out of memory. */
char *cx_qr_svg(const struct cx_qr *q, unsigned scale, unsigned margin, const char *title,
		size_t *len);
/* A 1-bit grayscale PNG of q, `scale` px per module, `margin` modules of quiet zone;
 * malloc'd, length in *len; NULL when out of memory or libpng fails. */
unsigned char *cx_qr_png(const struct cx_qr *q, unsigned scale, unsigned margin, size_t *len);

#endif
