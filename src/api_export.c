/* api_export.c - GET /v1/surveys/{id}/responses: every response, in a stable order (id),
 * as JSON, NDJSON or CSV, streamed in chunks so memory stays constant however many there
 * are. CSV follows RFC 4180 and defuses spreadsheet formulas.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/app.h"
#include "cx/cxtime.h"
#include "cx/routes.h"

#define CHUNK_ROWS 500
/* A chunk also ends once this much is formatted, whatever the width of the rows (comments
 * of 4000 bytes, wide attributes): a slow reader holds at most this plus one row. */
#define CHUNK_BYTES (256 * 1024)
/* An NDJSON or CSV page (with `limit`) holds at most this many rows: its end is read
 * before the first byte (find_page_end), on an HTTP worker thread that serves other
 * connections too, so that work is kept short (measured on the release build: 100,000
 * rows 0.27-0.45 s before the headers, 1,000,000 rows 3.5 s in the debug build). */
#define STREAM_PAGE_MAX 10000

enum format { FMT_JSON, FMT_NDJSON, FMT_CSV };

static const char *const params[] = {
	"from", "to", "stage", "touchpoint", "channel", "segment", "cursor", "limit", "format",
};

struct export {
	struct cx_store *store;
	struct cx_export_query q;
	char survey[CX_ID_MAX + 1], *stage, *touchpoint, *channel, *segment; /* filters */
	enum format fmt;
	int64_t after_id;        /* the cursor: last id sent */
	uint64_t left;           /* rows still allowed by `limit` (UINT64_MAX = all) */
	int limited, started, finished, failed;
	int full;                /* the chunk being formatted reached CHUNK_BYTES */
	int64_t end_id;          /* a page ends at this id (INT64_MAX: no known end) */
	uint64_t rows;           /* rows written */
	char *buf;               /* formatted, not yet sent: buf[pos..len) */
	size_t len, pos, cap;
};

static int put(struct export *e, const char *s, size_t n)
{
	if (e->len + n > e->cap) {
		size_t cap = e->cap ? e->cap : 64 * 1024;
		char *p;

		while (cap < e->len + n)
			cap *= 2;
		if (!(p = realloc(e->buf, cap)))
			return -1;
		e->buf = p;
		e->cap = cap;
	}
	memcpy(e->buf + e->len, s, n);
	e->len += n;
	return 0;
}

static int puts_(struct export *e, const char *s)
{
	return put(e, s, strlen(s));
}

/* One CSV cell (RFC 4180): quoted when it holds a comma, quote or line break, quotes
 * doubled; a text starting with = + - @ or a tab/CR gets a leading ' so that no
 * spreadsheet runs it as a formula. */
static int csv_cell(struct export *e, const char *s, int last)
{
	int rc = 0;

	if (s && *s) {
		int quote = strpbrk(s, ",\"\r\n") != NULL;
		int defuse = strchr("=+-@\t\r", s[0]) != NULL;

		if (quote)
			rc |= put(e, "\"", 1);
		if (defuse)
			rc |= put(e, "'", 1);
		for (const char *p = s; *p; p++)
			rc |= (*p == '"') ? put(e, "\"\"", 2) : put(e, p, 1);
		if (quote)
			rc |= put(e, "\"", 1);
	}
	return rc | put(e, last ? "\r\n" : ",", last ? 2 : 1);
}

static int csv_int(struct export *e, int v)
{
	char n[16];

	if (v < 0)
		return put(e, ",", 1);
	snprintf(n, sizeof(n), "%d,", v);
	return puts_(e, n);
}

static int row_out(void *ctx, const struct cx_export_row *r)
{
	struct export *e = ctx;
	char sub[32], rec[32], id[24];

	if (r->id > e->end_id) {   /* past the page the headers announced */
		e->left = 0;
		return 1;
	}
	if (e->len >= CHUNK_BYTES) {
		e->full = 1;
		return 1;
	}
	cx_time_format_rfc3339(r->submitted_at, sub, sizeof(sub));
	cx_time_format_rfc3339(r->received_ms / 1000, rec, sizeof(rec));
	e->after_id = r->id;
	e->rows++;
	if (e->left != UINT64_MAX)
		e->left--;
	if (e->fmt == FMT_CSV) {
		snprintf(id, sizeof(id), "%" PRId64, r->id);
		return csv_cell(e, id, 0) | csv_cell(e, sub, 0) | csv_cell(e, rec, 0) |
		       csv_cell(e, r->stage, 0) | csv_cell(e, r->touchpoint, 0) |
		       csv_cell(e, r->channel, 0) | csv_cell(e, r->segment, 0) |
		       csv_cell(e, r->customer, 0) | csv_int(e, r->nps) | csv_int(e, r->csat) |
		       csv_int(e, r->ces) | csv_cell(e, r->comment, 0) | csv_cell(e, r->attributes, 1);
	}
	json_t *attrs = r->attributes ? json_loads(r->attributes, 0, NULL) : NULL;
	json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:o, s:o, s:o, s:s?, s:o}",
		"id", (json_int_t)r->id, "submitted_at", sub, "received_at", rec, "stage", r->stage,
		"touchpoint", r->touchpoint, "channel", r->channel, "segment", r->segment,
		"customer", r->customer,
		"nps", r->nps >= 0 ? json_integer(r->nps) : json_null(),
		"csat", r->csat >= 0 ? json_integer(r->csat) : json_null(),
		"ces", r->ces >= 0 ? json_integer(r->ces) : json_null(),
		"comment", r->comment, "attributes", attrs ? attrs : json_null());
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	int rc = !text;

	if (text) {
		if (e->fmt == FMT_JSON && e->rows > 1)
			rc |= put(e, ",", 1);
		rc |= puts_(e, text);
		if (e->fmt == FMT_NDJSON)
			rc |= put(e, "\n", 1);
	}
	free(text);
	json_decref(o);
	return rc;
}

/* Format the next chunk into e->buf. */
static int refill(struct export *e)
{
	struct cx_error err;
	unsigned want = CHUNK_ROWS;
	uint64_t before = e->rows;

	e->len = e->pos = 0;
	if (!e->started) {
		e->started = 1;
		if (e->fmt == FMT_CSV && puts_(e, "id,submitted_at,received_at,stage,touchpoint,channel,"
					      "segment,customer,nps,csat,ces,comment,attributes\r\n"))
			return -1;
		if (e->fmt == FMT_JSON) {
			char head[128];

			snprintf(head, sizeof(head), "{\"survey\":\"%s\",\"responses\":[", e->survey);
			if (puts_(e, head))
				return -1;
		}
	}
	if (e->left < want)
		want = (unsigned)e->left;
	e->full = 0;
	if (want && cx_store_export(e->store, &e->q, e->after_id, want, row_out, e, &err) &&
	    !e->full && e->left != 0)
		return -1;
	if ((!e->full && e->rows - before < want) || e->left == 0) {   /* the last chunk */
		e->finished = 1;
		if (e->fmt == FMT_JSON) {
			char tail[64];

			if (e->limited && e->left == 0)
				snprintf(tail, sizeof(tail), "],\"next_cursor\":\"%" PRId64 "\"}\n", e->after_id);
			else
				snprintf(tail, sizeof(tail), "],\"next_cursor\":null}\n");
			return puts_(e, tail);
		}
	}
	return 0;
}

static ssize_t produce(void *ctx, char *buf, size_t max)
{
	struct export *e = ctx;
	size_t n;

	while (e->pos == e->len) {
		if (e->finished || e->failed)
			return e->failed ? -1 : 0;
		if (refill(e)) {
			e->failed = 1;
			return -1;
		}
	}
	n = e->len - e->pos < max ? e->len - e->pos : max;
	memcpy(buf, e->buf + e->pos, n);
	e->pos += n;
	return (ssize_t)n;
}

static void export_free(void *ctx)
{
	struct export *e = ctx;

	free(e->stage);
	free(e->touchpoint);
	free(e->channel);
	free(e->segment);
	free(e->buf);
	free(e);
}

static int parse(struct cx_req *req, const struct cx_survey *s, struct export *e,
		 struct cx_error *err)
{
	const char *from = cx_req_query(req, "from"), *to = cx_req_query(req, "to");
	const char *fmt = cx_req_query(req, "format"), *cursor = cx_req_query(req, "cursor");
	const char *limit = cx_req_query(req, "limit"), *stage = cx_req_query(req, "stage");
	const char *tp, *channel, *segment;
	int64_t day;
	char *end;

	if (cx_api_known_params(req, params, sizeof(params) / sizeof(params[0]), err))
		return -1;
	e->q.from_s = INT64_MIN;
	e->q.to_s = INT64_MAX;
	if (from && (cx_time_parse_day(from, &day) || !(e->q.from_s = day * 86400, 1)))
		return cx_error_set(err, 422, "invalid_time", "from", "from must be a date");
	if (to && (cx_time_parse_day(to, &day) || !(e->q.to_s = day * 86400, 1)))
		return cx_error_set(err, 422, "invalid_time", "to", "to must be a date");
	if (stage && cx_survey_stage_index(s, stage) < 0)
		return cx_error_set(err, 422, "invalid_stage", "stage",
				    "'%.64s' is not a stage of survey '%s'", stage, s->id);
	if (cx_api_label_param(req, "touchpoint", &tp, err) ||
	    cx_api_label_param(req, "channel", &channel, err) ||
	    cx_api_label_param(req, "segment", &segment, err))
		return -1;
	if (!fmt || strcmp(fmt, "json") == 0)
		e->fmt = FMT_JSON;
	else if (strcmp(fmt, "ndjson") == 0)
		e->fmt = FMT_NDJSON;
	else if (strcmp(fmt, "csv") == 0)
		e->fmt = FMT_CSV;
	else
		return cx_error_set(err, 422, "invalid_format", "format",
				    "format must be json, ndjson or csv");
	e->left = UINT64_MAX;
	if (limit) {
		long long v = strtoll(limit, &end, 10);

		if (!*limit || *end || v < 1 || v > 10000000)
			return cx_error_set(err, 422, "invalid_limit", "limit",
					    "limit must be a whole number from 1 to 10000000");
		e->left = (uint64_t)v;
		e->limited = 1;
	}
	if (cursor) {
		long long v = strtoll(cursor, &end, 10);

		if (!*cursor || *end || v < 0)
			return cx_error_set(err, 422, "invalid_cursor", "cursor",
					    "cursor must be a next_cursor value from an earlier page");
		e->after_id = v;
	}
	/* copies: the stream outlives nothing of the request, but owns what it reads by */
	if ((stage && !(e->stage = strdup(stage))) || (tp && !(e->touchpoint = strdup(tp))) ||
	    (channel && !(e->channel = strdup(channel))) ||
	    (segment && !(e->segment = strdup(segment))))
		return cx_error_set(err, 503, "out_of_memory", NULL, "out of memory");
	return 0;
}

struct prescan {
	uint64_t seen, limit;
	int64_t last;            /* id of the page's last row so far */
	int more;                /* a row exists past the page */
};

static int count_row(void *ctx, const struct cx_export_row *r)
{
	struct prescan *p = ctx;

	if (p->seen == p->limit) {
		p->more = 1;
		return 1;
	}
	p->seen++;
	p->last = r->id;
	return 0;
}

/* NDJSON and CSV carry no cursor of their own, and headers go before the body: for a page
 * (`limit`), read its ids first (in chunks, each its own short read), so that the end of
 * the page is known, announced in the Link and X-Next-Cursor headers, and the stream stops
 * there even if rows arrive or go meanwhile. One row past the page says whether there is
 * a next one. Returns 1 if there is, 0 if not, -1 with err. Costs a second read of the
 * page's rows. */
static int find_page_end(struct export *e, struct cx_error *err)
{
	struct prescan p = { 0, e->left, e->after_id, 0 };

	for (;;) {
		uint64_t before = p.seen, room = p.limit - p.seen + 1;
		unsigned n = room < CHUNK_ROWS ? (unsigned)room : CHUNK_ROWS;

		if (cx_store_export(e->store, &e->q, p.last, n, count_row, &p, err) && !p.more)
			return -1;
		if (p.more || p.seen - before < n)
			break;
	}
	e->end_id = p.last;
	return p.more;
}

struct link {
	char buf[2048];
	size_t len;
	int overflow;
};

static void link_put(struct link *l, const char *s, int encode)
{
	for (; *s; s++) {
		int plain = !encode || strchr("-._~", *s) || (*s >= '0' && *s <= '9') ||
			    (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z');
		int n = plain ? snprintf(l->buf + l->len, sizeof(l->buf) - l->len, "%c", *s)
			      : snprintf(l->buf + l->len, sizeof(l->buf) - l->len, "%%%02X",
					 (unsigned char)*s);

		if (n < 0 || (size_t)n >= sizeof(l->buf) - l->len) {
			l->overflow = 1;
			return;
		}
		l->len += (size_t)n;
	}
}

static int link_param(void *ctx, const char *key, const char *value)
{
	struct link *l = ctx;

	if (strcmp(key, "cursor") != 0) {   /* every parameter but the cursor, as given */
		link_put(l, key, 1);
		link_put(l, "=", 0);
		link_put(l, value, 1);
		link_put(l, "&", 0);
	}
	return 0;
}

/* Link: <same path and query, cursor=NEXT>; rel="next", and X-Next-Cursor: NEXT. */
static void next_page_headers(struct cx_req *req, int64_t next)
{
	struct link l = { .len = 0 };
	char cursor[32];

	snprintf(cursor, sizeof(cursor), "%" PRId64, next);
	link_put(&l, "<", 0);
	link_put(&l, req->path, 0);   /* the path as sent: already percent-encoded */
	link_put(&l, "?", 0);
	cx_req_query_each(req, link_param, &l);
	link_put(&l, "cursor=", 0);
	link_put(&l, cursor, 0);
	link_put(&l, ">; rel=\"next\"", 0);
	snprintf(req->reply.next_cursor, sizeof(req->reply.next_cursor), "%s", cursor);
	if (!l.overflow)
		req->reply.link = strdup(l.buf);
}

enum cx_handled cx_api_export(struct cx_req *req)
{
	static const char *const types[] = {
		[FMT_JSON] = "application/json", [FMT_NDJSON] = "application/x-ndjson",
		[FMT_CSV] = "text/csv; charset=utf-8",
	};
	struct export *e;
	struct cx_survey s;
	struct cx_error err;
	int more;

	if (cx_api_path_survey(req, &s))
		return CX_DONE;
	if (!(e = calloc(1, sizeof(*e)))) {
		cx_survey_release(&s);
		cx_error_set(&err, 503, "out_of_memory", NULL, "out of memory");
		cx_reply_error(req, &err);
		return CX_DONE;
	}
	if (parse(req, &s, e, &err)) {
		cx_reply_error(req, &err);
		cx_survey_release(&s);
		export_free(e);
		return CX_DONE;
	}
	snprintf(e->survey, sizeof(e->survey), "%s", s.id);
	cx_survey_release(&s);
	e->store = req->app->store;
	e->q.survey = e->survey;
	e->q.stage = e->stage;
	e->q.touchpoint = e->touchpoint;
	e->q.channel = e->channel;
	e->q.segment = e->segment;
	e->end_id = INT64_MAX;
	if (e->limited && e->fmt != FMT_JSON && e->left > STREAM_PAGE_MAX)
		e->left = STREAM_PAGE_MAX;   /* a shorter page; its Link says how to go on */
	more = e->limited && e->fmt != FMT_JSON ? find_page_end(e, &err) : 0;
	if (more < 0) {
		cx_reply_error(req, &err);
		export_free(e);
		return CX_DONE;
	}
	cx_reply_stream(req, 200, types[e->fmt], produce, e, export_free);
	if (e->fmt == FMT_CSV)
		req->reply.disposition = "attachment; filename=\"responses.csv\"";
	if (more)
		next_page_headers(req, e->end_id);
	return CX_DONE;
}
