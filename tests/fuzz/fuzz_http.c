/* libFuzzer target: raw bytes on a socket to the real HTTP server, in process: libmicrohttpd's
 * parser, http.c (body limits, chunked bodies, NDJSON line splitting, the form post
 * processor, suspend/resume around the writer), the route table and the handlers, against a
 * real database (tests/fuzz/service.c).
 *
 * Each input is sent on a new connection; the harness reads the replies (see
 * read_replies) and closes, perhaps mid-request. "@KEY@" in the input
 * becomes the admin key ("Bearer cxd_..."), so the seeds (tests/fuzz/corpus_http) reach
 * past authentication. A 500 whenever it comes, a reply that is not HTTP, a reply that
 * stops halfway for 5 s, or no reply within 5 s to a request the input holds whole
 * (complete_requests) while the server keeps the connection open, is a failure, as is
 * anything a sanitizer reports.
 *
 * Mutation tried: /healthz answering 500 after a 50 ms sleep. The old harness waited
 * 30 ms for a first byte and took silence for "the request is not complete", so all 40
 * seeds replayed clean; now the healthz seeds fail ("fuzz_http: 500").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cx/http.h"
#include "service.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TOKEN "@KEY@"
#define MAX_REPLY (4u << 20)

static struct cx_http *http;
static uint16_t port;

static void stop_http(void)
{
	cx_http_stop(http, 1000);
}

static void start(struct fuzz_service *svc)
{
	struct cx_config *cfg = &svc->app.cfg;
	struct cx_error err;

	snprintf(cfg->listen_host, sizeof(cfg->listen_host), "127.0.0.1");
	cfg->port = 0;
	cfg->timeout_s = 3;
	cfg->body_limit = 16 * 1024;
	cfg->batch_limit = 256 * 1024;
	if (cx_http_start(&http, &svc->app, cfg, &port, &err)) {
		fprintf(stderr, "fuzz_http: %s\n", err.message);
		abort();
	}
	atexit(stop_http);   /* runs before the service's own teardown (registered earlier) */
}

/* The input with each TOKEN replaced by the admin key's Authorization value. */
static char *with_key(const char *s, size_t n, const char *bearer, size_t *out_len)
{
	size_t tl = strlen(TOKEN), bl = strlen(bearer), count = 0, o = 0;
	char *out;

	for (size_t i = 0; i + tl <= n; i++)
		if (memcmp(s + i, TOKEN, tl) == 0)
			count++, i += tl - 1;
	if (!(out = malloc(n + count * bl + 1)))
		abort();
	for (size_t i = 0; i < n;) {
		if (i + tl <= n && memcmp(s + i, TOKEN, tl) == 0) {
			memcpy(out + o, bearer, bl);
			o += bl;
			i += tl;
		} else {
			out[o++] = s[i++];
		}
	}
	*out_len = o;
	return out;
}

/* Every status line ("HTTP/1.1 NNN " at the start or after a CRLF) in the NUL-terminated r
 * from byte `from` on, backed up to cover one that began just before it: a 500 is a bug.
 * (Bodies cannot fake one: JSON escapes CR and LF, and paths cannot hold them.) */
static void check_replies(const char *r, size_t from)
{
	static const char bad[] = "HTTP/1.1 500 ";
	const char *p;

	from = from > sizeof(bad) + 2 ? from - sizeof(bad) - 2 : 0;
	for (p = from ? strstr(r + from, "\r\nHTTP/1.") : r; p; p = strstr(p + 1, "\r\nHTTP/1.")) {
		const char *line = p == r ? p : p + 2;

		if (strncmp(line, bad, sizeof(bad) - 1) == 0) {
			fprintf(stderr, "fuzz_http: 500: %.300s\n", line);
			abort();
		}
	}
}

/* The value of header `name` (from its leading LF to its colon) in the header block
 * [h, end), or NULL. */
static const char *header(const char *h, const char *end, const char *name)
{
	size_t nl = strlen(name);

	for (const char *line = h; line && line < end;) {
		if ((size_t)(end - line) > nl && strncasecmp(line, name, nl) == 0)
			return line + nl;
		line = memchr(line + 1, '\n', (size_t)(end - line - 1));
	}
	return NULL;
}

/* How many requests the input s[0..n) holds whole: a request line and headers ending in
 * an empty line, then the body its Content-Length or chunked encoding declares. The
 * server owes each of them a reply (or a close) without waiting for more bytes. Leading
 * empty lines are skipped, as the server does; a body not all there ends the count. */
static size_t complete_requests(const char *s, size_t n)
{
	size_t count = 0, at = 0;

	for (;;) {
		const char *h, *end, *cl, *te;

		while (at < n && (s[at] == '\r' || s[at] == '\n'))
			at++;
		h = s + at;
		if (at >= n || !(end = memmem(h, n - at, "\r\n\r\n", 4)))
			return count;
		at = (size_t)(end + 4 - s);
		cl = header(h, end + 2, "\nContent-Length:");
		te = header(h, end + 2, "\nTransfer-Encoding:");
		if (te) {   /* chunks: hex size line, data, CRLF; size 0, then trailers */
			for (;;) {
				const char *eol;
				unsigned long len;

				if (at >= n || !(eol = memmem(s + at, n - at, "\r\n", 2)))
					return count;
				len = strtoul(s + at, NULL, 16);
				at = (size_t)(eol + 2 - s);
				if (len == 0)
					break;
				if (len > n - at || n - at - len < 2)
					return count;
				at += len + 2;
			}
			if (!(end = memmem(s + at - 2, n - at + 2, "\r\n\r\n", 4)))
				return count;   /* trailers not ended */
			at = (size_t)(end + 4 - s);
		} else if (cl) {
			unsigned long len = strtoul(cl, NULL, 10);

			if (len > n - at)
				return count;
			at += len;
		}
		count++;
	}
}

/* Bytes of complete responses at the start of r[0..n), or 0 when the last one is not
 * complete yet; how many final (not 1xx) replies they hold goes to *finals.
 * Content-Length and chunked bodies; HEAD and 1xx/204/304 have none. */
static size_t complete_replies(const char *r, size_t n, int head, size_t *finals)
{
	size_t done = 0, count = 0;

	*finals = 0;

	while (done < n) {
		const char *h = r + done, *end = strstr(h, "\r\n\r\n");
		const char *cl, *te;
		size_t body;
		int status;

		if (!end || sscanf(h, "HTTP/1.%*d %d", &status) != 1)
			return 0;
		body = (size_t)(end + 4 - r);
		cl = strcasestr(h, "\r\nContent-Length:");
		te = strcasestr(h, "\r\nTransfer-Encoding: chunked");
		if (head || status < 200 || status == 204 || status == 304) {
			done = body;
		} else if (cl && cl < end) {
			size_t len = strtoul(cl + 17, NULL, 10);

			if (body + len > n)
				return 0;
			done = body + len;
		} else if (te && te < end) {
			const char *last = strstr(end + 2, "\r\n0\r\n\r\n");

			if (!last)
				return 0;
			done = (size_t)(last + 7 - r);
		} else {
			return 0;   /* delimited by the close */
		}
		count += status >= 200;
		*finals = count;
	}
	return done;
}

/* Read the replies: until the server closes, or it has answered the `owed` requests the
 * input holds whole and no more bytes come within 2 ms (30 ms when nothing came at all:
 * the rest of the input is not a complete request and the server waits for it; waiting
 * for the close would cost its idle timeout on every input). A reply that is owed, or
 * begun, is waited for up to 5 s: a slow reply is still read and checked, and none by
 * then, with the connection open, is a hang. Returns the bytes. */
static size_t read_replies(int fd, char *buf, size_t cap, int head, size_t owed)
{
	size_t got = 0, total = 0, answered = 0;   /* answered: replies moved out of buf */

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		size_t finals, whole = complete_replies(buf, got, head, &finals);
		int waiting = answered + finals < owed || whole != got;
		int wait = waiting ? 5000 : total ? 2 : 30;
		ssize_t r;

		if (poll(&p, 1, wait) == 0) {
			if (wait == 5000) {
				fprintf(stderr, "fuzz_http: %s for 5 s: a hang\n", whole != got ?
					"a reply stopped halfway" : "no reply to a whole request");
				abort();
			}
			break;
		}
		r = recv(fd, buf + got, cap - 1 - got, 0);
		if (r <= 0)
			break;   /* closed, or reset by the server: it refused the bytes */
		got += (size_t)r;
		buf[got] = '\0';
		check_replies(buf, got - (size_t)r);
		if (total < 7 && total + (size_t)r >= 7 && memcmp(buf, "HTTP/1.", 7) != 0) {
			fprintf(stderr, "fuzz_http: not an HTTP reply: %.60s\n", buf);
			abort();
		}
		total += (size_t)r;
		if (got > cap / 2) {   /* a long export: keep what is left of the last reply */
			size_t keep = complete_replies(buf, got, head, &finals);

			answered += finals;
			if (keep == 0)
				keep = got - 64;
			memmove(buf, buf + keep, got - keep);
			got -= keep;
			buf[got] = '\0';
		}
	}
	return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_service *svc = fuzz_service();
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 5 };
	static char reply[MAX_REPLY];
	size_t len;
	char *req;
	int fd;

	if (!http)
		start(svc);
	req = with_key((const char *)data, size, svc->bearer, &len);
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		abort();
	for (size_t off = 0; off < len;) {   /* the server may stop reading (413): that is fine */
		ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);

		if (w <= 0)
			break;
		off += (size_t)w;
	}
	read_replies(fd, reply, sizeof(reply), len >= 5 && memcmp(req, "HEAD ", 5) == 0,
		     complete_requests(req, len));
	close(fd);   /* possibly mid-request: the server must cope with that too */
	free(req);
	fuzz_service_keep_admin_key();
	return 0;
}
