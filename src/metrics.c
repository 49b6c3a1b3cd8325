/* metrics.c - see include/cx/metrics.h */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/app.h"
#include "cx/cache.h"
#include "cx/cxtime.h"
#include "cx/deliver.h"
#include "cx/mail.h"
#include "cx/metrics.h"
#include "cx/routes.h"

#define MAX_ROUTES 64

static const double latency_bounds[] = {   /* seconds */
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
};
#define NLAT (sizeof(latency_bounds) / sizeof(latency_bounds[0]))
static const unsigned batch_bounds[] = { 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 10000 };
#define NBATCH (sizeof(batch_bounds) / sizeof(batch_bounds[0]))
static const char *const reasons[] = {
	"rate_limited", "queue_full", "storage_unavailable", "shutting_down", "body_too_large",
	"batch_too_large", "unauthorized", "forbidden", "cors_refused", "invalid_json",
	"unsupported_media_type", "not_found", "method_not_allowed", "idempotency_conflict",
};
#define NREASONS (sizeof(reasons) / sizeof(reasons[0]))

static atomic_ulong requests[MAX_ROUTES + 1][6];   /* route x status class (0 = other) */
static atomic_ulong latency[NLAT + 1];
static atomic_ulong latency_sum_us, latency_count;
static atomic_ulong rejected[NREASONS + 1];          /* last: any other 4xx/5xx code */
static atomic_ulong batch[NBATCH + 1];
static atomic_ulong batch_sum, commits, led, catch_ups, counted;
static const char *const alert_types[] = { "journey.score_dropped", "journey.pain_point_found" };
#define NALERTS (sizeof(alert_types) / sizeof(alert_types[0]))
static atomic_ulong alerts[NALERTS];
static atomic_ulong invitations_minted, invitations_skipped;

void cx_metrics_invitations(size_t minted, size_t skipped)
{
	atomic_fetch_add(&invitations_minted, minted);
	atomic_fetch_add(&invitations_skipped, skipped);
}

void cx_metrics_request(int route, unsigned status, uint64_t usec)
{
	int r = (route < 0 || route >= MAX_ROUTES) ? MAX_ROUTES : route;
	unsigned cls = (status >= 100 && status < 600) ? status / 100 : 0;
	size_t b = 0;

	atomic_fetch_add(&requests[r][cls], 1);
	while (b < NLAT && (double)usec / 1e6 > latency_bounds[b])
		b++;
	atomic_fetch_add(&latency[b], 1);
	atomic_fetch_add(&latency_sum_us, usec);
	atomic_fetch_add(&latency_count, 1);
}

void cx_metrics_rejected(const char *code)
{
	size_t i = 0;

	while (i < NREASONS && (!code || strcmp(code, reasons[i]) != 0))
		i++;
	atomic_fetch_add(&rejected[i], 1);
}

void cx_metrics_commit(size_t n, int leader)
{
	size_t b = 0;

	if (leader)
		atomic_fetch_add(&led, 1);

	while (b < NBATCH && n > batch_bounds[b])
		b++;
	atomic_fetch_add(&batch[b], 1);
	atomic_fetch_add(&batch_sum, n);
	atomic_fetch_add(&commits, 1);
}

void cx_metrics_counted(size_t n)
{
	atomic_fetch_add(&catch_ups, 1);
	atomic_fetch_add(&counted, n);
}

void cx_metrics_alert(const char *type)
{
	for (size_t i = 0; i < NALERTS; i++)
		if (strcmp(type, alert_types[i]) == 0)
			atomic_fetch_add(&alerts[i], 1);
}

struct out {
	char *buf;
	size_t len, cap;
};

static void emit(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf ? o->buf + o->len : NULL, o->buf ? o->cap - o->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (o->buf && o->len + (size_t)n < o->cap) {
			o->len += (size_t)n;
			return;
		}
		size_t cap = o->cap ? o->cap * 2 : 16384;
		while (cap < o->len + (size_t)n + 1)
			cap *= 2;
		char *p = realloc(o->buf, cap);
		if (!p)
			return;
		o->buf = p;
		o->cap = cap;
	}
}

/* Follow-up cases: those not closed by status, and the time to close (a summary: nearest-
 * rank quantiles over the cases closed in the last 30 days; sum and count over all). */
static void emit_cases(struct out *o, struct cx_app *app)
{
	static const char *const live[] = { "open", "contacted", "resolved" };
	struct cx_case_metrics m;
	struct cx_error err;

	if (cx_store_case_metrics(app->store, 30 * 86400, &m, &err))
		return;
	emit(o, "# HELP cxd_cases_open Follow-up cases not closed, by status.\n"
		"# TYPE cxd_cases_open gauge\n");
	for (int i = 0; i < 3; i++)
		emit(o, "cxd_cases_open{status=\"%s\"} %lld\n", live[i], (long long)m.not_closed[i]);
	emit(o, "# HELP cxd_case_time_to_close_seconds From opened to closed; quantiles over the "
		"cases closed in the last 30 days (nearest rank), sum and count over every closed "
		"case.\n# TYPE cxd_case_time_to_close_seconds summary\n");
	if (m.window_n)
		emit(o, "cxd_case_time_to_close_seconds{quantile=\"0.5\"} %lld\n"
			"cxd_case_time_to_close_seconds{quantile=\"0.9\"} %lld\n"
			"cxd_case_time_to_close_seconds{quantile=\"0.99\"} %lld\n",
		     (long long)m.q50, (long long)m.q90, (long long)m.q99);
	emit(o, "cxd_case_time_to_close_seconds_sum %lld\ncxd_case_time_to_close_seconds_count "
		"%lld\n", (long long)m.closed_sum_s, (long long)m.closed);
}

char *cx_metrics_render(struct cx_app *app)
{
	static const char *const classes[] = { "other", "1xx", "2xx", "3xx", "4xx", "5xx" };
	struct out o = { 0 };
	unsigned long cum = 0;
	int nroutes = cx_routes_count();

	emit(&o, "# HELP cxd_requests_total HTTP requests by route and status class.\n"
		 "# TYPE cxd_requests_total counter\n");
	for (int r = 0; r <= MAX_ROUTES; r++) {
		if (r >= nroutes && r != MAX_ROUTES)
			continue;
		for (int c = 0; c < 6; c++) {
			unsigned long v = atomic_load(&requests[r][c]);

			if (v)
				emit(&o, "cxd_requests_total{route=\"%s\",status=\"%s\"} %lu\n",
				     r == MAX_ROUTES ? "none" : cx_routes_label(r), classes[c], v);
		}
	}
	emit(&o, "# HELP cxd_request_duration_seconds Time from the first byte of a request to "
		 "its answer.\n# TYPE cxd_request_duration_seconds histogram\n");
	for (size_t b = 0; b <= NLAT; b++) {
		cum += atomic_load(&latency[b]);
		if (b < NLAT)
			emit(&o, "cxd_request_duration_seconds_bucket{le=\"%g\"} %lu\n", latency_bounds[b], cum);
		else
			emit(&o, "cxd_request_duration_seconds_bucket{le=\"+Inf\"} %lu\n", cum);
	}
	emit(&o, "cxd_request_duration_seconds_sum %.6f\ncxd_request_duration_seconds_count %lu\n",
	     (double)atomic_load(&latency_sum_us) / 1e6, atomic_load(&latency_count));
	emit(&o, "# HELP cxd_rejected_total Error answers by reason.\n# TYPE cxd_rejected_total counter\n");
	for (size_t i = 0; i <= NREASONS; i++)
		emit(&o, "cxd_rejected_total{reason=\"%s\"} %lu\n", i < NREASONS ? reasons[i] : "other",
		     atomic_load(&rejected[i]));
	emit(&o, "# HELP cxd_commit_batch_size Responses per group commit.\n"
		 "# TYPE cxd_commit_batch_size histogram\n");
	cum = 0;
	for (size_t b = 0; b <= NBATCH; b++) {
		cum += atomic_load(&batch[b]);
		if (b < NBATCH)
			emit(&o, "cxd_commit_batch_size_bucket{le=\"%u\"} %lu\n", batch_bounds[b], cum);
		else
			emit(&o, "cxd_commit_batch_size_bucket{le=\"+Inf\"} %lu\n", cum);
	}
	emit(&o, "cxd_commit_batch_size_sum %lu\ncxd_commit_batch_size_count %lu\n",
	     atomic_load(&batch_sum), atomic_load(&commits));
	emit(&o, "# HELP cxd_commits_total Group commits by who wrote them: a request's own thread "
		 "finding the writer idle (leader) or the writer thread.\n# TYPE cxd_commits_total "
		 "counter\ncxd_commits_total{by=\"leader\"} %lu\ncxd_commits_total{by=\"writer\"} %lu\n",
	     atomic_load(&led), atomic_load(&commits) - atomic_load(&led));
	emit(&o, "# HELP cxd_rollup_catch_ups_total Transactions counting committed responses into "
		 "the rollups (every 20 ms or 4,096 responses while any wait).\n"
		 "# TYPE cxd_rollup_catch_ups_total counter\ncxd_rollup_catch_ups_total %lu\n"
		 "# HELP cxd_rollup_counted_total Responses counted into the rollups after their "
		 "commit.\n# TYPE cxd_rollup_counted_total counter\ncxd_rollup_counted_total %lu\n",
	     atomic_load(&catch_ups), atomic_load(&counted));
	emit(&o, "# HELP cxd_write_queue_depth Responses waiting for the writer.\n"
		 "# TYPE cxd_write_queue_depth gauge\ncxd_write_queue_depth %zu\n",
	     cx_writer_depth(app->writer));
	emit(&o, "# HELP cxd_database_bytes Size of the database file and its WAL.\n"
		 "# TYPE cxd_database_bytes gauge\ncxd_database_bytes %lld\n",
	     (long long)cx_store_size(app->store));
	emit(&o, "# HELP cxd_alerts_emitted_total Alerts emitted (findings recorded with their "
		 "events), by type.\n# TYPE cxd_alerts_emitted_total counter\n");
	for (size_t i = 0; i < NALERTS; i++)
		emit(&o, "cxd_alerts_emitted_total{type=\"%s\"} %lu\n", alert_types[i],
		     atomic_load(&alerts[i]));
	emit(&o, "# HELP cxd_invitations_total Invitations asked to mint, by result (skipped: "
		 "a fatigue rule).\n# TYPE cxd_invitations_total counter\n"
		 "cxd_invitations_total{result=\"minted\"} %lu\n"
		 "cxd_invitations_total{result=\"skipped\"} %lu\n",
	     atomic_load(&invitations_minted), atomic_load(&invitations_skipped));
	emit_cases(&o, app);
	{
		int64_t pending, oldest, by_state[3];
		static const char *const states[3] = { "active", "paused", "disabled" };

		emit(&o, "# HELP cxd_webhook_deliveries_total Webhook delivery attempts by outcome.\n"
			 "# TYPE cxd_webhook_deliveries_total counter\n");
		for (int i = 0; i < CX_OUT_N; i++)
			emit(&o, "cxd_webhook_deliveries_total{outcome=\"%s\"} %lu\n",
			     cx_deliver_outcome_name(i), cx_deliver_count(i));
		if (cx_store_outbox_stats(app->store, &pending, &oldest, by_state) == 0) {
			int64_t now = cx_time_now_ms();

			emit(&o, "# HELP cxd_webhook_pending Webhook deliveries not yet delivered.\n"
				 "# TYPE cxd_webhook_pending gauge\ncxd_webhook_pending %lld\n",
			     (long long)pending);
			emit(&o, "# HELP cxd_webhook_oldest_pending_seconds Age of the oldest pending "
				 "delivery.\n# TYPE cxd_webhook_oldest_pending_seconds gauge\n"
				 "cxd_webhook_oldest_pending_seconds %.3f\n",
			     oldest && now > oldest ? (double)(now - oldest) / 1e3 : 0.0);
			emit(&o, "# HELP cxd_webhook_endpoints Webhook endpoints by state.\n"
				 "# TYPE cxd_webhook_endpoints gauge\n");
			for (int i = 0; i < 3; i++)
				emit(&o, "cxd_webhook_endpoints{state=\"%s\"} %lld\n", states[i],
				     (long long)by_state[i]);
		}
	}
	if (app->cfg.smtp_url[0]) {
		int64_t pending, dead;

		emit(&o, "# HELP cxd_mail_total Invitation mail attempts by outcome.\n"
			 "# TYPE cxd_mail_total counter\n");
		for (int i = 0; i < CX_MAIL_OUT_N; i++)
			emit(&o, "cxd_mail_total{outcome=\"%s\"} %lu\n", cx_mail_outcome_name(i),
			     cx_mail_count(i));
		if (cx_mail_stats(app->store, &pending, &dead) == 0)
			emit(&o, "# HELP cxd_mail_pending Invitation mail not yet sent.\n"
				 "# TYPE cxd_mail_pending gauge\ncxd_mail_pending %lld\n"
				 "# HELP cxd_mail_dead Invitation mail given up on (kept 30 days).\n"
				 "# TYPE cxd_mail_dead gauge\ncxd_mail_dead %lld\n",
			     (long long)pending, (long long)dead);
	}
	{
		struct cx_cache_stats cs;

		cx_cache_stats(app->cache, &cs);
		emit(&o, "# HELP cxd_read_cache_total Cached reads (scores, journey, funnel) answered "
			 "from the cache (hit) or by a query (miss).\n# TYPE cxd_read_cache_total counter\n"
			 "cxd_read_cache_total{result=\"hit\"} %llu\ncxd_read_cache_total{result=\"miss\"} "
			 "%llu\n# HELP cxd_read_cache_bytes Memory the read cache holds (of "
			 "--read-cache).\n# TYPE cxd_read_cache_bytes gauge\ncxd_read_cache_bytes %zu\n",
		     (unsigned long long)cs.hits, (unsigned long long)cs.misses, cs.bytes);
	}
	emit(&o, "# HELP cxd_uptime_seconds Seconds since start.\n# TYPE cxd_uptime_seconds gauge\n"
		 "cxd_uptime_seconds %lld\n", (long long)(cx_time_now() - app->started_at));
	return o.buf;
}
