/* main.c - parse the command line, open the store, serve until SIGTERM or SIGINT. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/app.h"
#include "cx/cli.h"
#include "cx/cxtime.h"
#include "cx/demo.h"
#include "cx/http.h"
#include "cx/log.h"
#include "cx/routes.h"
#include "cx_version.h"

#define SHUTDOWN_GRACE_MS 10000

static const char *env(const char *name)
{
	return getenv(name);
}

/* A database without keys gets one admin key on first start, printed once, so that the
 * service is never open to anyone who can reach it. */
static int first_key(struct cx_store *st)
{
	json_t *def = json_pack("{s:s, s:s}", "role", "admin", "label", "first admin key");
	char secret[CX_KEY_SECRET_MAX + 1];
	struct cx_error err;
	struct cx_key k;
	int rc = cx_keys_create_from(st, def, &k, secret, sizeof(secret), &err);

	json_decref(def);
	if (rc) {
		fprintf(stderr, "cxd: %s\n", err.message);
		cx_store_close(st);
		return -1;
	}
	cx_log_info("no API keys yet: created admin key %s, secret (shown once): %s", k.id, secret);
	cx_key_release(&k);
	return 0;
}

int main(int argc, char **argv)
{
	struct cx_app app = { 0 };
	struct cx_http *http = NULL;
	struct cx_error err = { 0 };
	char msg[512];
	sigset_t stop;
	uint16_t port;
	int sig = 0;

	if (argc > 1 && strcmp(argv[1], "keys") == 0)
		return cx_cli_keys(argc, argv);
	if (argc > 1 && strcmp(argv[1], "check") == 0)
		return cx_cli_check(argc, argv);
	if (argc > 1 && strcmp(argv[1], "backup") == 0)
		return cx_cli_backup(argc, argv);
	switch (cx_config_parse(&app.cfg, argc, argv, env, msg, sizeof(msg))) {
	case CX_CONFIG_EXIT:
		return 0;
	case CX_CONFIG_BAD:
		fprintf(stderr, "%s\n", msg);
		return 2;
	case CX_CONFIG_RUN:
		break;
	}
	cx_log_set_access(app.cfg.access_log);

	/* Block the stop signals in every thread; main waits for them with sigwait. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);   /* a file-size limit is a full disk: EFBIG, answered 503 */

	app.started_at = cx_time_now();
	if (cx_store_open(&app.store, app.cfg.db_path, app.cfg.threads + 1, &err)) {
		fprintf(stderr, "cxd: %s\n", err.message);
		return 1;
	}
	if (app.cfg.demo) {
		struct cx_survey s;

		if (app.cfg.demo == CX_DEMO_ONLY || cx_store_survey_get(app.store, CX_DEMO_SURVEY, &s)) {
			cx_log_info("filling %s with demo data (100,000 responses over 90 days)",
				    app.cfg.db_path);
			if (cx_demo_fill(app.store, 100000, 90, 1, &err)) {
				fprintf(stderr, "cxd: %s\n", err.message);
				cx_store_close(app.store);
				return 1;
			}
			cx_log_info("demo survey '%s' ready", CX_DEMO_SURVEY);
		} else {
			cx_survey_release(&s);
		}
		if (app.cfg.demo == CX_DEMO_ONLY) {
			cx_store_close(app.store);
			return 0;
		}
	}
	if (cx_store_key_count(app.store) == 0 && first_key(app.store))
		return 1;
	if (cx_writer_start(&app.writer, app.store, app.cfg.queue_limit)) {
		fprintf(stderr, "cxd: cannot start the writer thread\n");
		cx_store_close(app.store);
		return 1;
	}
	app.per_ip = cx_ratelimit_new(app.cfg.rate_ip, app.cfg.burst_ip, 100000);
	app.per_key = cx_ratelimit_new(app.cfg.rate_key, app.cfg.burst_key, 100000);
	if (cx_http_start(&http, &app, &app.cfg, &port, &err)) {
		fprintf(stderr, "cxd: %s\n", err.message);
		cx_writer_stop(app.writer);
		cx_store_close(app.store);
		cx_ratelimit_free(app.per_ip);
		cx_ratelimit_free(app.per_key);
		return 1;
	}
	cx_log_info("cxd %s listening on http%s://%s:%u/ database %s (schema %d)", CX_VERSION,
		    app.cfg.tls_cert[0] ? "s" : "", app.cfg.listen_host, port, app.cfg.db_path,
		    cx_store_schema_version(app.store));

	sigwait(&stop, &sig);
	cx_log_info("signal %d: draining requests and closing", sig);
	cx_http_stop(http, SHUTDOWN_GRACE_MS);
	cx_writer_stop(app.writer);
	cx_store_close(app.store);
	cx_ratelimit_free(app.per_ip);
	cx_ratelimit_free(app.per_key);
	cx_log_info("stopped cleanly");
	return 0;
}
