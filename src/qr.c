/* qr.c - the URL a QR code holds, the code (libqrencode), and its SVG and PNG (libpng). */
#include <png.h>
#include <qrencode.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/qr.h"

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

int cx_url_escape(const char *s, char *buf, size_t len, size_t *pos)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t p = *pos;

	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (p + 4 > len)
			return -1;
		if (unreserved(*c)) {
			buf[p++] = (char)*c;
		} else {
			buf[p++] = '%';
			buf[p++] = hex[*c >> 4];
			buf[p++] = hex[*c & 15];
		}
	}
	if (p >= len)
		return -1;
	buf[p] = '\0';
	*pos = p;
	return 0;
}

/* Append the literal text s (no escaping). */
static int append(const char *s, char *buf, size_t len, size_t *pos)
{
	size_t n = strlen(s);

	if (*pos + n >= len)
		return -1;
	memcpy(buf + *pos, s, n + 1);
	*pos += n;
	return 0;
}

static int param(const char *name, const char *value, char *buf, size_t len, size_t *pos)
{
	if (!value)
		return 0;
	return append(*pos && buf[*pos - 1] == '?' ? "" : "&", buf, len, pos) ||
	       append(name, buf, len, pos) || append("=", buf, len, pos) ||
	       cx_url_escape(value, buf, len, pos);
}

int cx_qr_page_url(const struct cx_config *cfg, const struct cx_qr_target *t, char *buf,
		   size_t len)
{
	int base;
	size_t pos;

	if (len > CX_QR_URL_MAX)
		len = CX_QR_URL_MAX;
	base = cx_public_base(cfg, buf, len);
	if (base < 0)
		return -1;
	pos = (size_t)base;
	if (append("/s/", buf, len, &pos) || cx_url_escape(t->survey, buf, len, &pos) ||
	    append("?", buf, len, &pos) ||
	    param("stage", t->stage, buf, len, &pos) ||
	    param("touchpoint", t->touchpoint, buf, len, &pos) ||
	    param("channel", t->channel, buf, len, &pos) ||
	    param("segment", t->segment, buf, len, &pos) ||
	    param("lang", t->lang, buf, len, &pos))
		return -1;
	return (int)pos;
}

int cx_qr_encode(const char *text, char ecc, struct cx_qr *out, struct cx_error *err)
{
	QRecLevel level;
	QRcode *code;
	size_t n;

	memset(out, 0, sizeof(*out));
	switch (ecc) {
	case 'L': level = QR_ECLEVEL_L; break;
	case 'M': level = QR_ECLEVEL_M; break;
	case 'Q': level = QR_ECLEVEL_Q; break;
	case 'H': level = QR_ECLEVEL_H; break;
	default:
		return cx_error_set(err, 422, "invalid_ecc", "ecc", "ecc must be L, M, Q or H");
	}
	code = QRcode_encodeString8bit(text, 0, level);
	if (!code)   /* ERANGE: longer than version 40 holds at this level; else ENOMEM */
		return cx_error_set(err, 422, "too_long", NULL, "the page's URL is too long for a "
				    "QR code at error correction level %c", ecc);
	n = (size_t)code->width * (size_t)code->width;
	out->dark = malloc(n);
	if (!out->dark) {
		QRcode_free(code);
		return cx_error_set(err, 503, "out_of_memory", NULL, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		out->dark[i] = code->data[i] & 1;   /* bit 0: dark; the others say why */
	out->width = code->width;
	out->version = code->version;
	QRcode_free(code);
	return 0;
}

void cx_qr_release(struct cx_qr *q)
{
	free(q->dark);
	memset(q, 0, sizeof(*q));
}

/* --- SVG --- */

struct text {
	char *buf;
	size_t len, cap;
	int failed;
};

static void put(struct text *t, const char *s, size_t n)
{
	if (t->failed)
		return;
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 4096;
		char *b;

		while (cap < t->len + n + 1)
			cap *= 2;
		if (!(b = realloc(t->buf, cap))) {
			t->failed = 1;
			return;
		}
		t->buf = b;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

static void putf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(struct text *t, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof(tmp))
		put(t, tmp, (size_t)n);
	else
		t->failed = 1;
}

static void put_xml(struct text *t, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': put(t, "&amp;", 5); break;
		case '<': put(t, "&lt;", 4); break;
		case '>': put(t, "&gt;", 4); break;
		case '"': put(t, "&quot;", 6); break;
		default: put(t, s, 1);
		}
	}
}

char *cx_qr_svg(const struct cx_qr *q, unsigned scale, unsigned margin, const char *title,
		size_t *len)
{
	struct text t = { 0 };
	unsigned w = (unsigned)q->width, size = w + 2 * margin;

	putf(&t, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/"
	     "svg\" version=\"1.1\" width=\"%u\" height=\"%u\" viewBox=\"0 0 %u %u\" "
	     "shape-rendering=\"crispEdges\" role=\"img\">\n<title>", size * scale, size * scale,
	     size, size);
	put_xml(&t, title);
	putf(&t, "</title>\n<rect width=\"%u\" height=\"%u\" fill=\"#fff\"/>\n<path fill=\"#000\" "
	     "d=\"", size, size);
	/* one subpath per horizontal run of dark modules: a 1-module-high rectangle */
	for (unsigned y = 0; y < w; y++) {
		for (unsigned x = 0; x < w;) {
			unsigned run = 0;

			while (x + run < w && q->dark[y * w + x + run])
				run++;
			if (run) {
				putf(&t, "M%u %uh%uv1h-%uz", x + margin, y + margin, run, run);
				x += run;
			} else {
				x++;
			}
		}
	}
	put(&t, "\"/>\n</svg>\n", 11);
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	*len = t.len;
	return t.buf;
}

/* --- PNG --- */

static void png_put(png_structp png, png_bytep data, png_size_t n)
{
	struct text *t = png_get_io_ptr(png);

	put(t, (const char *)data, n);
	if (t->failed)
		png_error(png, "out of memory");
}

static void png_flush(png_structp png)
{
	(void)png;
}

/* Row y (in pixels) of the image: 1 bits are light (grayscale white), 0 dark. */
static void png_row(const struct cx_qr *q, unsigned scale, unsigned margin, unsigned y,
		    unsigned char *row, size_t rowbytes)
{
	unsigned w = (unsigned)q->width, my = y / scale;
	unsigned px = (w + 2 * margin) * scale;

	memset(row, 0xff, rowbytes);
	if (my < margin || my >= margin + w)
		return;
	for (unsigned x = 0; x < px; x++) {
		unsigned mx = x / scale;

		if (mx >= margin && mx < margin + w && q->dark[(my - margin) * w + mx - margin])
			row[x >> 3] &= (unsigned char)~(0x80u >> (x & 7));
	}
}

unsigned char *cx_qr_png(const struct cx_qr *q, unsigned scale, unsigned margin, size_t *len)
{
	unsigned px = ((unsigned)q->width + 2 * margin) * scale;
	size_t rowbytes = (px + 7) / 8;
	/* on the heap: libpng longjmps out of png_put, after which a local it changed would be
	 * indeterminate (C17 7.13.2.1) */
	struct text *t = calloc(1, sizeof(*t));
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	unsigned char *row = malloc(rowbytes);
	unsigned char *volatile out = NULL;

	if (!t || !png || !info || !row)
		goto out;
	if (setjmp(png_jmpbuf(png)))
		goto out;
	png_set_write_fn(png, t, png_put, png_flush);
	png_set_IHDR(png, info, px, px, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (unsigned y = 0; y < px; y++) {
		png_row(q, scale, margin, y, row, rowbytes);
		png_write_row(png, row);
	}
	png_write_end(png, NULL);
	if (!t->failed) {
		out = (unsigned char *)t->buf;
		*len = t->len;
		t->buf = NULL;
	}
out:
	png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
	free(row);
	if (t)
		free(t->buf);
	free(t);
	return out;
}
