/* Unit tests for mail_render.c: which addresses cxd sends to, the rendered texts, and the
 * RFC 5322 message built from them. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/cxtime.h"
#include "cx/mail.h"
#include "cx/survey.h"
#include "src/store_invite.h"
#include "src/store_loop.h"
#include "check_main.h"

static const char URL[] = "https://cx.example.com/i/kA1.eyJ2IjoxfQ.MAC_-x";

START_TEST(address_good)
{
	const char *good[] = { "ana@example.com", "a.b+tag@sub.example.co.uk", "x@localhost",
			       "o'neil@example.com", "UPPER@EXAMPLE.COM", "a_b-c@x-y.example",
			       "1@2.3" };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(cx_mail_address_valid(good[i]), "refused %s", good[i]);
}
END_TEST

START_TEST(address_hostile)
{
	char big[300];
	const char *bad[] = { NULL, "", "@", "a@", "@example.com", "ana", "ana@example",
			      "a@b@example.com", "a b@example.com", "ana@exa mple.com",
			      "ana@example.com\r\nRCPT TO:<x@y.example>",
			      "a@b>\r\nRCPT TO:<x@y>", "a@b.example>", "<a@b.example>",
			      "ana@example.com\n", "ana\r@example.com", "\"a\"@example.com",
			      "a,b@example.com", "a;b@example.com", "a(b)@example.com",
			      ".a@example.com", "a.@example.com", "a..b@example.com",
			      "a@-example.com", "a@example-.com", "a@example..com", "a@example.com.",
			      "a@.example.com", "a@[127.0.0.1]", "a@exa_mple.com", "ана@example.com",
			      "a@пример.рф", "a@example.com\t", "a\\b@example.com",
			      "a@example.com:25" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!cx_mail_address_valid(bad[i]), "accepted %s", bad[i] ? bad[i] : "NULL");
	/* 254 bytes is the limit; the local part 64 */
	memset(big, 'a', sizeof(big));
	memcpy(big, "x@", 2);
	for (int i = 2; i < 254; i += 10)
		big[i] = 'b';
	for (int i = 11; i < 254; i += 10)
		big[i] = '.';
	big[254] = '\0';
	big[253] = 'c';
	ck_assert(cx_mail_address_valid(big));
	big[254] = 'c';
	big[255] = '\0';
	ck_assert(!cx_mail_address_valid(big));
	memset(big, 'a', 65);
	strcpy(big + 65, "@example.com");
	ck_assert(!cx_mail_address_valid(big));
	big[64] = '\0';
	strcpy(big + 64, "@example.com");
	ck_assert(cx_mail_address_valid(big));
}
END_TEST

static void survey(struct cx_survey *s, enum cx_question q, const char *title)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->id, sizeof(s->id), "delivery");
	s->title = strdup(title);
	s->question = q;
}

static void claims(struct cx_link_claims *c, const char *lang, const char *customer)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->survey, sizeof(c->survey), "delivery");
	snprintf(c->lang, sizeof(c->lang), "%s", lang);
	snprintf(c->customer, sizeof(c->customer), "%s", customer);
	snprintf(c->nonce, sizeof(c->nonce), "AAAAAAAAAAAAAAAAAAAAAA");
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

START_TEST(render_builtin_languages)
{
	static const struct { const char *lang, *subject, *greeting; } want[] = {
		{ "", "Delivery: how did we do?", "Hello," },
		{ "en-GB", "Delivery: how did we do?", "Hello," },
		{ "ru", "Delivery: как мы справились?", "Здравствуйте!" },
		{ "ru-RU", "Delivery: как мы справились?", "Здравствуйте!" },
		{ "bg", "Delivery: как се справихме?", "Здравейте," },
		{ "de", "Delivery: how did we do?", "Hello," },   /* no German: English */
	};
	struct cx_survey s;

	survey(&s, CX_Q_NPS, "Delivery");
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct cx_link_claims c;
		char *subj, *text, *html;

		claims(&c, want[i].lang, "c-1");
		ck_assert_int_eq(cx_mail_render(&s, &c, URL, &subj, &text, &html), 0);
		ck_assert_str_eq(subj, want[i].subject);
		ck_assert_msg(strncmp(text, want[i].greeting, strlen(want[i].greeting)) == 0, "%s",
			      text);
		ck_assert_ptr_nonnull(strstr(text, URL));
		ck_assert_ptr_nonnull(strstr(html, want[i].greeting));
		free(subj), free(text), free(html);
	}
	cx_survey_release(&s);
}
END_TEST

START_TEST(render_template_placeholders)
{
	struct cx_survey s;
	struct cx_link_claims c;
	char *subj, *text, *html;

	survey(&s, CX_Q_NPS, "Shop");
	s.email_subject = strdup("{{customer}}, rate {{title}} {{unknown}}");
	s.email_body = strdup("Dear {{customer}},\r\n\r\n{{link}}\n{{link}}\n\n{{title}}");
	claims(&c, "ru", "c-9");
	ck_assert_int_eq(cx_mail_render(&s, &c, URL, &subj, &text, &html), 0);
	ck_assert_str_eq(subj, "c-9, rate Shop {{unknown}}");
	ck_assert_str_eq(text, "Dear c-9,\n\n"
			 "https://cx.example.com/i/kA1.eyJ2IjoxfQ.MAC_-x\n"
			 "https://cx.example.com/i/kA1.eyJ2IjoxfQ.MAC_-x\n\nShop");
	/* the link clickable, lines of a paragraph joined, paragraphs apart */
	ck_assert_int_eq(count(html, "<a href=\"https://cx.example.com/i/kA1.eyJ2IjoxfQ.MAC_-x\""),
			 2);
	ck_assert_ptr_nonnull(strstr(html, "MAC_-x</a><br>"));
	ck_assert_int_eq(count(html, "<p style=\"margin:16px 0\">"), 3);
	free(subj), free(text), free(html);
	cx_survey_release(&s);
}
END_TEST

START_TEST(render_escapes_html)
{
	struct cx_survey s;
	struct cx_link_claims c;
	char *subj, *text, *html;

	survey(&s, CX_Q_NPS, "<script>alert(1)</script> & \"Co\"");
	claims(&c, "en", "<img src=x onerror=alert(2)>");
	s.email_body = strdup("Hi {{customer}} <b>bold</b>\n\n{{link}} {{title}}");
	ck_assert_int_eq(cx_mail_render(&s, &c, "https://x.example/i/T?a=1&b=\"2\"", &subj, &text,
					&html), 0);
	/* the text is not HTML: nothing escaped */
	ck_assert_ptr_nonnull(strstr(text, "<script>alert(1)</script>"));
	ck_assert_ptr_nonnull(strstr(text, "<img src=x onerror=alert(2)>"));
	ck_assert_ptr_null(strstr(html, "<script"));
	ck_assert_ptr_null(strstr(html, "<img"));
	ck_assert_ptr_null(strstr(html, "<b>"));
	ck_assert_ptr_nonnull(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; "
				     "&quot;Co&quot;"));
	ck_assert_ptr_nonnull(strstr(html, "&lt;b&gt;bold&lt;/b&gt;"));
	ck_assert_ptr_nonnull(strstr(html, "href=\"https://x.example/i/T?a=1&amp;b=&quot;2&quot;\""));
	/* a link that already has a query: the score joins it */
	ck_assert_ptr_nonnull(strstr(html, "b=&quot;2&quot;&amp;score=10\""));
	ck_assert_ptr_null(strstr(html, "?score="));
	free(subj), free(text), free(html);
	cx_survey_release(&s);
}
END_TEST

START_TEST(render_score_links_per_question)
{
	static const struct { enum cx_question q; int lo, hi; } want[] = {
		{ CX_Q_NPS, 0, 10 }, { CX_Q_CSAT, 1, 5 }, { CX_Q_CES, 1, 7 } };

	for (size_t i = 0; i < 3; i++) {
		struct cx_survey s;
		struct cx_link_claims c;
		char *subj, *text, *html, needle[200];

		survey(&s, want[i].q, "T");
		claims(&c, "bg", "c");
		ck_assert_int_eq(cx_mail_render(&s, &c, URL, &subj, &text, &html), 0);
		ck_assert_int_eq(count(html, "?score="), want[i].hi - want[i].lo + 1);
		ck_assert_int_eq(count(html, "aria-label=\"Оценка "), want[i].hi - want[i].lo + 1);
		for (int n = want[i].lo; n <= want[i].hi; n++) {
			snprintf(needle, sizeof(needle), "href=\"%s?score=%d\" aria-label=\"Оценка %d от "
				 "%d\"", URL, n, n, want[i].hi);
			ck_assert_msg(strstr(html, needle), "no %s", needle);
		}
		snprintf(needle, sizeof(needle), "?score=%d\"", want[i].hi + 1);
		ck_assert_ptr_null(strstr(html, needle));
		snprintf(needle, sizeof(needle), "?score=%d\"", want[i].lo - 1);
		ck_assert_ptr_null(strstr(html, needle));
		ck_assert_ptr_null(strstr(text, "score="));   /* the text has the one link */
		ck_assert_ptr_nonnull(strstr(html, "lang=\"bg\" dir=\"ltr\""));
		free(subj), free(text), free(html);
		cx_survey_release(&s);
	}
}
END_TEST

START_TEST(render_survey_texts_and_rtl)
{
	struct cx_survey s;
	struct cx_link_claims c;
	char *subj, *text, *html;

	survey(&s, CX_Q_NPS, "Default title");
	s.texts = json_pack("{s:{s:s, s:s, s:s}}", "ar", "title", "عنوان", "question", "سؤال؟",
			    "low", "<low>");
	claims(&c, "ar-EG", "c");
	ck_assert_int_eq(cx_mail_render(&s, &c, URL, &subj, &text, &html), 0);
	ck_assert_ptr_nonnull(strstr(subj, "عنوان"));   /* the title in that language */
	ck_assert_ptr_nonnull(strstr(html, "dir=\"rtl\""));
	ck_assert_ptr_nonnull(strstr(html, "سؤال؟"));
	ck_assert_ptr_nonnull(strstr(html, "&lt;low&gt;"));
	ck_assert_ptr_nonnull(strstr(html, "Extremely likely"));   /* built-in for the rest */
	free(subj), free(text), free(html);
	/* a language tag that is not one is not written into the page */
	claims(&c, "x\"><script>", "c");
	ck_assert_int_eq(cx_mail_render(&s, &c, URL, &subj, &text, &html), 0);
	ck_assert_ptr_nonnull(strstr(html, "lang=\"en\""));
	ck_assert_ptr_null(strstr(html, "<script"));
	free(subj), free(text), free(html);
	cx_survey_release(&s);
}
END_TEST

START_TEST(render_subject_one_line_and_bounded)
{
	struct cx_survey s;
	struct cx_link_claims c;
	char *subj, *text, *html, *big;

	survey(&s, CX_Q_NPS, "T\r\nBcc: evil@example.com");
	s.email_subject = strdup("{{title}} {{customer}} {{link}}");
	claims(&c, "", "c\nX-Injected: 1");
	ck_assert_int_eq(cx_mail_render(&s, &c, URL, &subj, &text, &html), 0);
	ck_assert_ptr_null(strpbrk(subj, "\r\n"));
	ck_assert_ptr_nonnull(strstr(subj, "T  Bcc: evil@example.com c X-Injected: 1"));
	free(subj), free(text), free(html);
	/* very long: cut on a character boundary */
	free(s.email_subject);
	s.email_subject = strdup("{{title}}{{title}}{{title}}{{title}}{{title}}{{title}}");
	free(s.title);
	s.title = malloc(201);
	for (int i = 0; i < 200; i += 2)
		memcpy(s.title + i, "я", 2);
	s.title[200] = '\0';
	ck_assert_int_eq(cx_mail_render(&s, &c, URL, &subj, &text, &html), 0);
	ck_assert_uint_le(strlen(subj), CX_MAIL_SUBJECT_MAX);
	ck_assert_uint_ge(strlen(subj), CX_MAIL_SUBJECT_MAX - 1);
	ck_assert_int_eq(strlen(subj) % 2, 0);   /* whole two-byte characters */
	free(subj), free(text), free(html);
	/* a body repeating the link past the limit: refused, nothing allocated */
	free(s.email_body);
	big = malloc(CX_EMAIL_BODY_MAX + 1);
	big[0] = '\0';
	while (strlen(big) + 8 <= CX_EMAIL_BODY_MAX)
		strcat(big, "{{link}}");
	s.email_body = big;
	subj = text = html = (char *)1;
	ck_assert_int_eq(cx_mail_render(&s, &c, URL, &subj, &text, &html), -2);
	ck_assert_ptr_null(subj);
	ck_assert_ptr_null(text);
	ck_assert_ptr_null(html);
	cx_survey_release(&s);
}
END_TEST

static char *decode_b64_lines(const char *start, const char *end)
{
	/* enough for the test: decode with the shell-free table */
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = calloc(1, (size_t)(end - start));
	unsigned v = 0, bits = 0;
	size_t n = 0;

	for (const char *p = start; p < end; p++) {
		const char *k = strchr(tbl, *p);

		if (!*p || !k)
			continue;
		v = (v << 6) | (unsigned)(k - tbl);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (char)((v >> bits) & 0xff);
		}
	}
	return out;
}

START_TEST(message_shape)
{
	struct cx_mail_msg m = { .to = "ana@example.com", .subject = "Как дела? " "long long "
				 "long long long long long long long long long",
				 .text = "line1\nline2\n", .html = "<p>x</p>", .nonce = "N-_1",
				 .survey = "s", .customer = "c" };
	size_t len;
	char *msg = cx_mail_message(&m, "cx@mail.example.com", 1795000000, &len), *p, *dec;

	ck_assert_ptr_nonnull(msg);
	ck_assert_uint_eq(strlen(msg), len);
	ck_assert_ptr_nonnull(strstr(msg, "Date: "));
	ck_assert_ptr_nonnull(strstr(msg, "\r\nFrom: cx@mail.example.com\r\n"));
	ck_assert_ptr_nonnull(strstr(msg, "\r\nTo: ana@example.com\r\n"));
	ck_assert_ptr_nonnull(strstr(msg, "\r\nSubject: =?UTF-8?B?"));
	ck_assert_ptr_nonnull(strstr(msg, "?=\r\n =?UTF-8?B?"));   /* folded */
	ck_assert_ptr_nonnull(strstr(msg, "\r\nMessage-ID: <N-_1@mail.example.com>\r\n"));
	ck_assert_ptr_nonnull(strstr(msg, "\r\nMIME-Version: 1.0\r\n"));
	ck_assert_ptr_nonnull(strstr(msg, "multipart/alternative; boundary=\"=_cx_N-_1\""));
	ck_assert_int_eq(count(msg, "\r\n--=_cx_N-_1\r\n"), 2);
	ck_assert_int_eq(count(msg, "\r\n--=_cx_N-_1--\r\n"), 1);
	ck_assert_ptr_nonnull(strstr(msg, "Content-Type: text/plain; charset=UTF-8\r\n"
				     "Content-Transfer-Encoding: base64\r\n"));
	ck_assert_ptr_nonnull(strstr(msg, "Content-Type: text/html; charset=UTF-8\r\n"));
	/* CRLF only, short lines */
	for (p = msg; *p; p++)
		if (*p == '\n')
			ck_assert_msg(p > msg && p[-1] == '\r', "bare LF at %td", p - msg);
	for (p = msg; *p;) {
		size_t n = strcspn(p, "\r");

		ck_assert_uint_le(n, 78);
		p += n + (p[n] ? 2 : 0);
	}
	/* the text part is the text, in CRLF form */
	p = strstr(msg, "text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n");
	p += strlen("text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n");
	dec = decode_b64_lines(p, strstr(p, "--=_cx_"));
	ck_assert_str_eq(dec, "line1\r\nline2\r\n");
	free(dec);
	free(msg);
	/* a short ASCII subject as is; no HTML: one part */
	m.subject = "Your feedback";
	m.html = NULL;
	msg = cx_mail_message(&m, "cx@example.com", 0, &len);
	ck_assert_ptr_nonnull(strstr(msg, "Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"));
	ck_assert_ptr_nonnull(strstr(msg, "\r\nSubject: Your feedback\r\n"));
	ck_assert_ptr_null(strstr(msg, "multipart"));
	free(msg);
	/* a subject with CR/LF (a row cxd did not write) is encoded, never a header break */
	m.subject = "Hi\r\nBcc: x@y.example";
	msg = cx_mail_message(&m, "cx@example.com", 0, &len);
	ck_assert_ptr_null(strstr(msg, "\r\nBcc:"));
	free(msg);
}
END_TEST

static int64_t count_rows(sqlite3 *db, const char *where)
{
	char sql[200];
	sqlite3_stmt *q;
	int64_t n = -1;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM mail_outbox WHERE %s", where);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	if (sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return n;
}

/* The outbox: queue (checked again), due, record, purge, erase. */
START_TEST(store_outbox)
{
	char dir[] = "/tmp/cx-mail-test-XXXXXX", path[300], cmd[340];
	struct cx_mail_msg m = { .to = "ana@example.com", .subject = "S", .text = "T",
				 .html = "<p>H</p>", .nonce = "n1", .survey = "s",
				 .customer = "c-1" };
	struct cx_mail_due due[4];
	struct cx_store *st;
	struct cx_mailq *q;
	struct cx_error err;
	sqlite3 *db;
	char *big;
	size_t n;
	int64_t now = cx_time_now_ms(), deleted;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.db", dir);
	ck_assert_msg(cx_store_open(&st, path, 2, &err) == 0, "%s", err.message);
	ck_assert_ptr_nonnull(db = cx_store_connect(st, 0, &err));
	ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_msg(cx_mailstore_queue(st, db, &m, &err) == 0, "%s", err.message);
	m.to = "a@b.example>\r\nRCPT TO:<x@y.example>";
	ck_assert_int_eq(cx_mailstore_queue(st, db, &m, &err), -1);
	ck_assert_int_eq(err.status, 422);
	ck_assert_str_eq(err.code, "invalid_email");
	m.to = "bo@example.com";
	m.subject = "a\r\nBcc: x@y.example";
	ck_assert_int_eq(cx_mailstore_queue(st, db, &m, &err), -1);
	ck_assert_str_eq(err.code, "invalid_mail");
	m.subject = "S";
	big = malloc(CX_MAIL_TEXT_MAX + 2);
	memset(big, 'x', CX_MAIL_TEXT_MAX + 1);
	big[CX_MAIL_TEXT_MAX + 1] = '\0';
	m.text = big;
	ck_assert_int_eq(cx_mailstore_queue(st, db, &m, &err), -1);
	ck_assert_str_eq(err.code, "mail_too_large");
	big[CX_MAIL_TEXT_MAX] = '\0';   /* at the limit: taken */
	m.customer = "c-2";
	m.nonce = "n2";
	ck_assert_msg(cx_mailstore_queue(st, db, &m, &err) == 0, "%s", err.message);
	free(big);
	ck_assert_int_eq(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(count_rows(db, "state = 'pending'"), 2);

	ck_assert_int_eq(cx_mailq_open(st, &q, &err), 0);
	ck_assert_int_eq(cx_mailq_due(q, now + 1000, due, 4, &n, &err), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(due[0].to, "ana@example.com");
	ck_assert_str_eq(due[0].nonce, "n1");
	ck_assert_str_eq(due[0].html, "<p>H</p>");
	ck_assert_int_eq(due[0].attempts, 0);
	ck_assert_uint_eq(strlen(due[1].text), CX_MAIL_TEXT_MAX);
	/* sent: the bodies go; a retry is not due before its time */
	ck_assert_int_eq(cx_mailq_record(q, due[0].id, CX_MAIL_SENT, now, now, NULL, &err), 0);
	ck_assert_int_eq(cx_mailq_record(q, due[1].id, CX_MAIL_RETRY, now, now + 60000, "451",
					  &err), 0);
	ck_assert_int_eq(count_rows(db, "state = 'sent' AND text_body = '' AND html_body IS NULL "
				    "AND attempts = 1 AND sent_at IS NOT NULL"), 1);
	ck_assert_int_eq(count_rows(db, "state = 'pending' AND last_error = '451'"), 1);
	cx_mail_due_release(&due[0]);
	cx_mail_due_release(&due[1]);
	ck_assert_int_eq(cx_mailq_due(q, now + 1000, due, 4, &n, &err), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(cx_mailq_due(q, now + 61000, due, 4, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	cx_mail_due_release(&due[0]);
	/* purge takes sent and dead mail only */
	ck_assert_int_eq(cx_mailq_purge(q, now + 100000, 1000, &deleted, &err), 0);
	ck_assert_int_eq(deleted, 1);
	ck_assert_int_eq(count_rows(db, "1"), 1);
	/* erasure */
	ck_assert_int_eq(cx_mailstore_erase_customer(st, "c-1", &err), 0);
	ck_assert_int_eq(count_rows(db, "1"), 1);
	ck_assert_int_eq(cx_mailstore_erase_customer(st, "c-2", &err), 0);
	ck_assert_int_eq(count_rows(db, "1"), 0);
	cx_mailq_close(q);
	sqlite3_close(db);
	cx_store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

CX_CHECK_MAIN("mail", NULL, NULL, store_outbox, address_good, address_hostile, render_builtin_languages,
	      render_template_placeholders, render_escapes_html, render_score_links_per_question,
	      render_survey_texts_and_rtl, render_subject_one_line_and_bounded, message_shape)
