/* mail_render.c - invitation mail's addresses, texts and RFC 5322 message; see
 * include/cx/mail.h. Nothing here talks to a server (src/mail.c does, with libcurl). */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <nettle/base64.h>

#include "cx/mail.h"
#include "cx/survey.h"

/* ---- addresses ---- */

static int atext(int c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+/=?^_`{|}~-", c));
}

/* letters, digits, inner hyphens; 1-63 bytes */
static int label_ok(const char *s, size_t n)
{
	if (n < 1 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return 0;
	return 1;
}

int cx_mail_address_valid(const char *s)
{
	const char *at, *d, *dot;
	size_t len, local;
	int dots = 0;

	if (!s || (len = strnlen(s, CX_MAIL_ADDRESS_MAX + 1)) > CX_MAIL_ADDRESS_MAX)
		return 0;
	if (!(at = strchr(s, '@')) || strchr(at + 1, '@'))
		return 0;
	local = (size_t)(at - s);
	if (local < 1 || local > 64 || s[0] == '.' || at[-1] == '.')
		return 0;
	for (size_t i = 0; i < local; i++)
		if (!(atext((unsigned char)s[i]) || (s[i] == '.' && s[i + 1] != '.')))
			return 0;
	for (d = at + 1; (dot = strchr(d, '.')); d = dot + 1, dots++)
		if (!label_ok(d, (size_t)(dot - d)))
			return 0;
	if (!label_ok(d, strlen(d)))
		return 0;
	return dots > 0 || strcasecmp(at + 1, "localhost") == 0;
}

/* ---- a bounded growing buffer ---- */

struct buf {
	char *p;
	size_t n, cap, max;
	int over, oom;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->over || b->oom)
		return;
	if (b->n + n > b->max) {
		b->over = 1;
		return;
	}
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *p;

		while (cap < b->n + n + 1)
			cap *= 2;
		if (!(p = realloc(b->p, cap))) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void putf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct buf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n >= 0)
		put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* A value (title, customer) in text: control characters become spaces. */
static void put_plain(struct buf *b, const char *s)
{
	for (; *s; s++) {
		char c = (unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s;

		put(b, &c, 1);
	}
}

static void put_html(struct buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '&': puts_(b, "&amp;"); break;
		case '<': puts_(b, "&lt;"); break;
		case '>': puts_(b, "&gt;"); break;
		case '"': puts_(b, "&quot;"); break;
		case '\'': puts_(b, "&#39;"); break;
		default:
			if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
				put(b, " ", 1);
			else
				put(b, s + i, 1);
		}
	}
}

/* ---- built-in texts ---- */

struct texts {
	const char *lang, *subject, *body, *score, *of;   /* a score's label: "score N of MAX" */
	const char *question[3], *low[3], *high[3];   /* by enum cx_question */
};

static const struct texts builtin[] = {
	{ "en", "{{title}}: how did we do?",
	  "Hello,\n\nWe would like to hear about your experience. It takes a minute:\n\n"
	  "{{link}}\n\nThank you!\n{{title}}",
	  "Score ", " of ",
	  { "How likely are you to recommend us to a friend or colleague?",
	    "How satisfied are you?", "How easy was it to get what you needed?" },
	  { "Not at all likely", "Very dissatisfied", "Very difficult" },
	  { "Extremely likely", "Very satisfied", "Very easy" } },
	{ "ru", "{{title}}: как мы справились?",
	  "Здравствуйте!\n\nНам важно ваше мнение. Это займёт минуту:\n\n"
	  "{{link}}\n\nСпасибо!\n{{title}}",
	  "Оценка ", " из ",
	  { "Насколько вероятно, что вы порекомендуете нас другу или коллеге?",
	    "Насколько вы довольны?", "Насколько легко было получить то, что вам нужно?" },
	  { "Совсем маловероятно", "Совсем недоволен", "Очень сложно" },
	  { "Очень вероятно", "Очень доволен", "Очень легко" } },
	{ "bg", "{{title}}: как се справихме?",
	  "Здравейте,\n\nБихме искали да чуем за вашето преживяване. Отнема минута:\n\n"
	  "{{link}}\n\nБлагодарим ви!\n{{title}}",
	  "Оценка ", " от ",
	  { "Колко вероятно е да ни препоръчате на приятел или колега?",
	    "Колко сте доволни?", "Колко лесно беше да получите това, от което се нуждаехте?" },
	  { "Изобщо не е вероятно", "Много недоволен", "Много трудно" },
	  { "Много вероятно", "Много доволен", "Много лесно" } },
};

/* The built-in texts for a language tag (its primary subtag), English when none. */
static const struct texts *texts_for(const char *lang)
{
	size_t n = strcspn(lang, "-_");

	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (n == 2 && strncasecmp(lang, builtin[i].lang, 2) == 0)
			return &builtin[i];
	return &builtin[0];
}

static int rtl(const char *lang)
{
	static const char *const langs[] = { "ar", "he", "fa", "ur", "yi", "ps", "sd", "ug",
					     "dv", "ckb" };
	size_t n = strcspn(lang, "-_");

	for (size_t i = 0; i < sizeof(langs) / sizeof(langs[0]); i++)
		if (n == strlen(langs[i]) && strncasecmp(lang, langs[i], n) == 0)
			return 1;
	return 0;
}

/* ---- rendering ---- */

struct ctx {
	const char *url, *title, *customer;
	const char *lang;           /* a safe tag for the HTML (claims' or "en") */
	const struct texts *t;
	const struct cx_survey *s;
};

/* The placeholder at p, its value and length; NULL when p starts none. */
static const char *placeholder(const struct ctx *x, const char *p, size_t *len,
			       int *is_link)
{
	*is_link = 0;
	if (strncmp(p, "{{link}}", 8) == 0) {
		*len = 8;
		*is_link = 1;
		return x->url;
	}
	if (strncmp(p, "{{title}}", 9) == 0) {
		*len = 9;
		return x->title;
	}
	if (strncmp(p, "{{customer}}", 12) == 0) {
		*len = 12;
		return x->customer;
	}
	return NULL;
}

/* Template tpl (n bytes) as text: placeholders replaced, CRs dropped. */
static void render_text(struct buf *b, const struct ctx *x, const char *tpl, size_t n)
{
	const char *end = tpl + n;

	while (tpl < end) {
		size_t len;
		int link;
		const char *v = *tpl == '{' ? placeholder(x, tpl, &len, &link) : NULL;

		if (v && tpl + len <= end) {
			put_plain(b, v);
			tpl += len;
		} else {
			if (*tpl != '\r')
				put(b, tpl, 1);
			tpl++;
		}
	}
}

/* One paragraph of the template as HTML: escaped, lines joined by <br>, the link an
 * anchor. */
static void render_html_para(struct buf *b, const struct ctx *x, const char *tpl, size_t n)
{
	const char *end = tpl + n;

	while (tpl < end) {
		size_t len;
		int link;
		const char *v = *tpl == '{' ? placeholder(x, tpl, &len, &link) : NULL;

		if (v && tpl + len <= end) {
			if (link) {
				puts_(b, "<a href=\"");
				put_html(b, v, strlen(v));
				puts_(b, "\" style=\"color:#1a4a9a;word-break:break-all\">");
				put_html(b, v, strlen(v));
				puts_(b, "</a>");
			} else {
				put_html(b, v, strlen(v));
			}
			tpl += len;
		} else if (*tpl == '\n') {
			puts_(b, "<br>\n");
			tpl++;
		} else {
			if (*tpl != '\r')
				put_html(b, tpl, 1);
			tpl++;
		}
	}
}

static const char *text_of(const struct ctx *x, const char *key, const char *builtin_text)
{
	const char *v = cx_survey_text(x->s, x->lang, key);

	return v && *v ? v : builtin_text;
}

/* The row of one-click score links: each opens the page with that score chosen. */
static void render_scores(struct buf *b, const struct ctx *x)
{
	int q = x->s->question, lo = q == CX_Q_NPS ? 0 : 1;
	int hi = q == CX_Q_NPS ? 10 : q == CX_Q_CSAT ? 5 : 7;
	const char *sep = strchr(x->url, '?') ? "&amp;" : "?";   /* in an attribute */

	puts_(b, "<p style=\"margin:24px 0 8px;font-weight:bold\">");
	put_html(b, text_of(x, "question", x->t->question[q]),
		 strlen(text_of(x, "question", x->t->question[q])));
	puts_(b, "</p>\n<table role=\"presentation\" width=\"100%\" cellspacing=\"0\" "
	      "cellpadding=\"0\" style=\"border-collapse:separate;border-spacing:3px 0;"
	      "table-layout:fixed\"><tr>\n");
	for (int i = lo; i <= hi; i++) {
		char label[128];

		snprintf(label, sizeof(label), "%s%d%s%d", x->t->score, i, x->t->of, hi);
		puts_(b, "<td align=\"center\"><a href=\"");
		put_html(b, x->url, strlen(x->url));
		putf(b, "%sscore=%d\" aria-label=\"", sep, i);
		put_html(b, label, strlen(label));
		putf(b, "\" style=\"display:block;padding:14px 0;border:2px solid #1a4a9a;"
		     "border-radius:6px;color:#1a4a9a;background:#ffffff;font-size:18px;"
		     "font-weight:bold;text-align:center;text-decoration:none\">%d</a></td>\n", i);
	}
	puts_(b, "</tr></table>\n<table role=\"presentation\" width=\"100%\" cellspacing=\"0\" "
	      "cellpadding=\"0\" style=\"margin-top:6px;font-size:13px;color:#4a4a4a\"><tr>"
	      "<td style=\"text-align:start\">");
	put_html(b, text_of(x, "low", x->t->low[q]), strlen(text_of(x, "low", x->t->low[q])));
	puts_(b, "</td><td style=\"text-align:end\">");
	put_html(b, text_of(x, "high", x->t->high[q]), strlen(text_of(x, "high", x->t->high[q])));
	puts_(b, "</td></tr></table>\n");
}

/* Is [p, p+n) only blanks? */
static int blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return 0;
	return 1;
}

static void render_html(struct buf *b, const struct ctx *x, const char *tpl,
			const char *subject)
{
	const char *p = tpl;
	int scores = 0;

	puts_(b, "<!DOCTYPE html>\n<html lang=\"");
	puts_(b, x->lang);
	putf(b, "\" dir=\"%s\"><head><meta charset=\"utf-8\">\n<meta name=\"viewport\" "
	     "content=\"width=device-width, initial-scale=1\">\n<title>", rtl(x->lang) ? "rtl" : "ltr");
	put_html(b, subject, strlen(subject));
	puts_(b, "</title></head>\n<body style=\"margin:0;padding:16px;background:#ffffff;"
	      "color:#1a1a1a;font-family:Arial,Helvetica,sans-serif;font-size:16px;"
	      "line-height:1.5\">\n<div style=\"max-width:600px;margin:0 auto\">\n");
	/* paragraphs: runs of lines between blank lines */
	while (*p) {
		const char *start, *end;

		while (*p) {   /* skip blank lines */
			size_t n = strcspn(p, "\n");

			if (!blank(p, n))
				break;
			p += n + (p[n] == '\n');
		}
		if (!*p)
			break;
		start = end = p;
		while (*p) {
			size_t n = strcspn(p, "\n");

			if (blank(p, n))
				break;
			end = p + n;
			p += n + (p[n] == '\n');
		}
		if (!scores && memmem(start, (size_t)(end - start), "{{link}}", 8)) {
			render_scores(b, x);
			scores = 1;
		}
		puts_(b, "<p style=\"margin:16px 0\">");
		render_html_para(b, x, start, (size_t)(end - start));
		puts_(b, "</p>\n");
	}
	if (!scores) {   /* a template without {{link}}: the link last, as in the text */
		render_scores(b, x);
		puts_(b, "<p style=\"margin:16px 0\">");
		render_html_para(b, x, "{{link}}", 8);
		puts_(b, "</p>\n");
	}
	puts_(b, "</div>\n</body>\n</html>\n");
}

/* A language tag safe to write into an attribute, else "en". */
static const char *safe_lang(const char *lang)
{
	size_t n = strlen(lang);

	if (n < 2 || n > 35 || strspn(lang, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					 "0123456789-") != n)
		return "en";
	return lang;
}

/* Cut s to at most max bytes on a UTF-8 character boundary, trimming blanks. */
static void cut_utf8(char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
		s[n] = '\0';
	}
	while (n > 0 && s[n - 1] == ' ')
		s[--n] = '\0';
}

int cx_mail_render(const struct cx_survey *s, const struct cx_link_claims *c,
		   const char *url, char **subject, char **text, char **html)
{
	struct buf sb = { .max = 4 * CX_MAIL_TEXT_MAX }, tb = { .max = CX_MAIL_TEXT_MAX },
		   hb = { .max = CX_MAIL_HTML_MAX };
	struct ctx x = { .url = url, .customer = c->customer, .s = s };
	const char *subj_tpl, *body_tpl, *title;
	int rc;

	*subject = *text = *html = NULL;
	x.lang = safe_lang(c->lang);
	x.t = texts_for(x.lang);
	title = cx_survey_text(s, x.lang, "title");
	x.title = title && *title ? title : s->title ? s->title : "";
	subj_tpl = s->email_subject ? s->email_subject : x.t->subject;
	body_tpl = s->email_body ? s->email_body : x.t->body;

	render_text(&sb, &x, subj_tpl, strlen(subj_tpl));
	if (sb.p) {   /* one line: any control character is a space */
		for (char *p = sb.p; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = ' ';
		cut_utf8(sb.p, CX_MAIL_SUBJECT_MAX);
	}
	render_text(&tb, &x, body_tpl, strlen(body_tpl));
	if (!strstr(body_tpl, "{{link}}")) {   /* the mail carries its link, whatever */
		puts_(&tb, "\n\n");
		puts_(&tb, url);
	}
	render_html(&hb, &x, body_tpl, sb.p ? sb.p : "");
	rc = sb.oom || tb.oom || hb.oom ? -1 : sb.over || tb.over || hb.over ? -2 : 0;
	if (rc || !sb.p || !tb.p || !hb.p) {
		free(sb.p);
		free(tb.p);
		free(hb.p);
		return rc ? rc : -1;
	}
	*subject = sb.p;
	*text = tb.p;
	*html = hb.p;
	return 0;
}

/* ---- the message ---- */

/* base64 of s (n bytes) in lines of 76, each ending CRLF */
static void put_base64(struct buf *b, const char *s, size_t n)
{
	char line[80];

	for (size_t i = 0; i < n; i += 57) {
		size_t k = n - i < 57 ? n - i : 57;

		base64_encode_raw(line, k, (const uint8_t *)s + i);
		put(b, line, BASE64_ENCODE_RAW_LENGTH(k));
		put(b, "\r\n", 2);
	}
}

/* s with every line break as CRLF (a text part's canonical form, before encoding) */
static char *crlf(const char *s, size_t *len)
{
	struct buf b = { .max = SIZE_MAX / 4 };

	put(&b, "", 0);
	for (; *s; s++) {
		if (*s == '\r')
			continue;
		if (*s == '\n')
			put(&b, "\r", 1);
		put(&b, s, 1);
	}
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	*len = b.n;
	return b.p;
}

static void put_part(struct buf *b, const char *type, const char *body)
{
	size_t n;
	char *c = crlf(body, &n);

	if (!c) {
		b->oom = 1;
		return;
	}
	putf(b, "Content-Type: %s; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n",
	     type);
	put_base64(b, c, n);
	free(c);
}

/* Subject as is when it is short printable ASCII, else RFC 2047 encoded words of at most
 * 39 bytes each (whole UTF-8 characters), folded one per line. */
static void put_subject(struct buf *b, const char *s)
{
	size_t n = strlen(s);
	int plain = n <= 68 && !strstr(s, "=?");

	for (size_t i = 0; plain && i < n; i++)
		plain = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f;
	puts_(b, "Subject: ");
	if (plain) {
		put(b, s, n);
		put(b, "\r\n", 2);
		return;
	}
	for (size_t i = 0; i < n;) {
		size_t k = n - i < 39 ? n - i : 39;
		char word[60];

		/* whole characters (a byte that is no UTF-8 is taken as it is) */
		while (i + k < n && k > 1 && ((unsigned char)s[i + k] & 0xC0) == 0x80)
			k--;
		base64_encode_raw(word, k, (const uint8_t *)s + i);
		if (i)
			puts_(b, "\r\n ");
		puts_(b, "=?UTF-8?B?");
		put(b, word, BASE64_ENCODE_RAW_LENGTH(k));
		puts_(b, "?=");
		i += k;
	}
	put(b, "\r\n", 2);
}

static void put_date(struct buf *b, int64_t now)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
					      "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)now;
	struct tm tm;

	gmtime_r(&t, &tm);
	putf(b, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday], tm.tm_mday,
	     months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

char *cx_mail_message(const struct cx_mail_msg *m, const char *from, int64_t now,
		      size_t *len)
{
	struct buf b = { .max = 4 * (CX_MAIL_TEXT_MAX + CX_MAIL_HTML_MAX) };
	const char *domain = strchr(from, '@');
	char id[48];
	size_t n = 0;

	/* the nonce is base64url; anything else is left out of Message-ID and boundary */
	for (const char *p = m->nonce ? m->nonce : ""; *p && n < sizeof(id) - 1; p++)
		if (isalnum((unsigned char)*p) || *p == '-' || *p == '_')
			id[n++] = *p;
	id[n] = '\0';
	if (!n)
		snprintf(id, sizeof(id), "mail%lld", (long long)now);
	put_date(&b, now);
	putf(&b, "From: %.254s\r\nTo: %.254s\r\n", from, m->to);
	put_subject(&b, m->subject);
	putf(&b, "Message-ID: <%s@%.253s>\r\nMIME-Version: 1.0\r\n"
	     "Auto-Submitted: auto-generated\r\n", id, domain ? domain + 1 : "localhost");
	if (m->html) {
		putf(&b, "Content-Type: multipart/alternative; boundary=\"=_cx_%s\"\r\n\r\n"
		     "--=_cx_%s\r\n", id, id);
		put_part(&b, "text/plain", m->text);
		putf(&b, "--=_cx_%s\r\n", id);
		put_part(&b, "text/html", m->html);
		putf(&b, "--=_cx_%s--\r\n", id);
	} else {
		put_part(&b, "text/plain", m->text);
	}
	if (b.oom || b.over) {
		free(b.p);
		return NULL;
	}
	*len = b.n;
	return b.p;
}
