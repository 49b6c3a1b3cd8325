/* Unit tests for qr.c: the base URL, percent-encoding, the page URL and the drawings.
 *
 * Expected URLs are written out by hand from RFC 3986 (not by calling the encoder), so a
 * wrongly kept reserved byte or a lower-case hex digit fails; the PNG is decoded in
 * tests/integration/test_qr.py (zbarimg), here only its size and signature. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/qr.h"
#include "check_main.h"

static struct cx_config cfg;

static void setup(void)
{
	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.listen_host, sizeof(cfg.listen_host), "127.0.0.1");
	cfg.port = 8080;
}

START_TEST(base_default_and_public)
{
	char buf[600];

	ck_assert_int_eq(cx_public_base(&cfg, buf, sizeof(buf)), 21);
	ck_assert_str_eq(buf, "http://127.0.0.1:8080");
	snprintf(cfg.listen_host, sizeof(cfg.listen_host), "::1");
	cx_public_base(&cfg, buf, sizeof(buf));
	ck_assert_str_eq(buf, "http://[::1]:8080");
	snprintf(cfg.tls_cert, sizeof(cfg.tls_cert), "/etc/cert.pem");
	cx_public_base(&cfg, buf, sizeof(buf));
	ck_assert_str_eq(buf, "https://[::1]:8080");
	snprintf(cfg.public_url, sizeof(cfg.public_url), "https://cx.example.com/base/");
	ck_assert_int_eq(cx_public_base(&cfg, buf, sizeof(buf)), 27);
	ck_assert_str_eq(buf, "https://cx.example.com/base");   /* no trailing '/' */
	ck_assert_int_eq(cx_public_base(&cfg, buf, 10), -1);
}
END_TEST

START_TEST(escape_rfc3986)
{
	char buf[128];
	size_t pos = 0;

	ck_assert_int_eq(cx_url_escape("aZ09-._~ /+@:?&=#%\xd0\xb6", buf, sizeof(buf), &pos), 0);
	ck_assert_str_eq(buf, "aZ09-._~%20%2F%2B%40%3A%3F%26%3D%23%25%D0%B6");
	ck_assert_uint_eq(pos, strlen(buf));
	pos = 0;
	ck_assert_int_eq(cx_url_escape("   ", buf, 9, &pos), -1);   /* 9 bytes hold 2 + NUL */
	pos = 0;
	ck_assert_int_eq(cx_url_escape("  ", buf, 7, &pos), 0);
	ck_assert_str_eq(buf, "%20%20");
}
END_TEST

START_TEST(page_url)
{
	char buf[CX_QR_URL_MAX];
	struct cx_qr_target t = { "shop", "purchase", "till 3/door", "qr", NULL, NULL };

	ck_assert_int_gt(cx_qr_page_url(&cfg, &t, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "http://127.0.0.1:8080/s/shop?stage=purchase&touchpoint=till%203"
			      "%2Fdoor&channel=qr");
	t.segment = "vip club";
	t.lang = "pt-BR";
	cx_qr_page_url(&cfg, &t, buf, sizeof(buf));
	ck_assert_str_eq(buf, "http://127.0.0.1:8080/s/shop?stage=purchase&touchpoint=till%203"
			      "%2Fdoor&channel=qr&segment=vip%20club&lang=pt-BR");
	ck_assert_int_eq(cx_qr_page_url(&cfg, &t, buf, 40), -1);
}
END_TEST

START_TEST(encode_and_draw)
{
	struct cx_qr q;
	struct cx_error err;
	size_t len = 0;
	char *svg;
	unsigned char *png;

	ck_assert_int_eq(cx_qr_encode("x", 'Z', &q, &err), -1);
	ck_assert_str_eq(err.code, "invalid_ecc");
	ck_assert_int_eq(cx_qr_encode("https://cx.example.com/s/a?b=c&d=e", 'M', &q, &err), 0);
	ck_assert_int_eq(q.width, 17 + 4 * q.version);
	ck_assert(q.dark[0] && !q.dark[7]);   /* a finder pattern's corner; its separator */
	svg = cx_qr_svg(&q, 2, 4, "a&b<c", &len);
	ck_assert_ptr_nonnull(svg);
	ck_assert_uint_eq(len, strlen(svg));
	ck_assert_ptr_nonnull(strstr(svg, "<title>a&amp;b&lt;c</title>"));
	ck_assert_ptr_nonnull(strstr(svg, "viewBox=\"0 0 37 37\""));   /* 29 + 2 * 4 */
	ck_assert_ptr_nonnull(strstr(svg, "M4 4h7v1h-7z"));            /* the top finder row */
	free(svg);
	png = cx_qr_png(&q, 3, 4, &len);
	ck_assert_ptr_nonnull(png);
	ck_assert_mem_eq(png, "\x89PNG\r\n\x1a\n", 8);
	/* IHDR width and height: 37 modules * 3 px */
	ck_assert_int_eq((png[16] << 24) | (png[17] << 16) | (png[18] << 8) | png[19], 111);
	ck_assert_int_eq((png[20] << 24) | (png[21] << 16) | (png[22] << 8) | png[23], 111);
	free(png);
	cx_qr_release(&q);
}
END_TEST

START_TEST(too_long)
{
	struct cx_qr q;
	struct cx_error err;
	char *big = malloc(3000);

	memset(big, 'a', 2999);
	big[2999] = '\0';
	ck_assert_int_eq(cx_qr_encode(big, 'H', &q, &err), -1);   /* version 40-H: 1273 bytes */
	ck_assert_str_eq(err.code, "too_long");
	free(big);
}
END_TEST

CX_CHECK_MAIN("qr", setup, NULL, base_default_and_public, escape_rfc3986, page_url,
	      encode_and_draw, too_long)
