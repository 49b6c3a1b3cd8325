/* main.c - parse the command line, open the store, serve until SIGTERM or SIGINT. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cx/alerts.h"
#include "cx/app.h"
#include "cx/cache.h"
#include "cx/cli.h"
#include "cx/cxtime.h"
#include "cx/deliver.h"
#include "cx/demo.h"
#include "cx/http.h"
#include "cx/log.h"
#include "cx/mail.h"
#include "cx/routes.h"
#include "cx_version.h"

#define SHUTDOWN_GRACE_MS 10000

static const char *env(const char *name)
{
	return getenv(name);
}

/* The word a shell reads back as s: s itself when it is plain, else single-quoted. */
static const char *shell_word(const char *s, char *buf, size_t len)
{
	size_t n = 0;

	if (s[0] && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			   "0123456789_-./:=+,@%") == strlen(s))
		return s;
	buf[n++] = '\'';
	for (; *s && n + 6 < len; s++) {
		if (*s == '\'') {
			memcpy(buf + n, "'\\''", 4);
			n += 4;
		} else {
			buf[n++] = *s;
		}
	}
	buf[n++] = '\'';
	buf[n] = '\0';
	return buf;
}

/* Make a rename in path's directory durable (best effort: the key is in the database
 * either way, and a start without the file says how to make another). */
static void sync_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path + (slash == path)), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		if (fsync(fd) != 0) {
			/* nothing more to do */
		}
		close(fd);
	}
}

/* Write secret to `path` (DB.admin-key), readable by this user only: it is made as a new
 * file (O_EXCL, mode 0600, not through a symlink) beside it and renamed into place, so an
 * old file of that name is replaced, never written through. */
static int write_secret_file(const char *path, const char *secret, char *why, size_t len)
{
	char tmp[PATH_MAX];
	size_t n = strlen(secret);
	int fd, ok;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		snprintf(why, len, "path too long");
		return -1;
	}
	unlink(tmp);   /* left by a crash: never reused */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(why, len, "%s", strerror(errno));
		return -1;
	}
	ok = write(fd, secret, n) == (ssize_t)n && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
	if (!ok)
		snprintf(why, len, "%s", strerror(errno));
	if (close(fd) != 0 && ok) {
		snprintf(why, len, "%s", strerror(errno));
		ok = 0;
	}
	if (ok && rename(tmp, path) != 0) {
		snprintf(why, len, "%s", strerror(errno));
		ok = 0;
	}
	if (!ok) {
		unlink(tmp);
		return -1;
	}
	sync_dir(path);
	return 0;
}

/* A database without keys gets one admin key on first start, so that the service is never
 * open to anyone who can reach it. Its secret is shown once: on stderr when that is a
 * terminal, else (a journal, a log file: places others read) only in DB.admin-key, mode
 * 0600, whose path is logged. */
static int first_key(struct cx_store *st, const char *db)
{
	json_t *def = json_pack("{s:s, s:s}", "role", "admin", "label", "first admin key");
	char secret[CX_KEY_SECRET_MAX + 1], path[PATH_MAX], why[128];
	struct cx_error err;
	struct cx_key k;
	int rc = cx_keys_create_from(st, def, &k, secret, sizeof(secret), &err);

	json_decref(def);
	if (rc) {
		fprintf(stderr, "cxd: %s\n", err.message);
		return -1;
	}
	if (isatty(STDERR_FILENO)) {
		cx_log_info("no API keys yet: created admin key %s, secret (shown once): %s", k.id,
			    secret);
	} else if (snprintf(path, sizeof(path), "%s.admin-key", db) >= (int)sizeof(path)) {
		fprintf(stderr, "cxd: the database path is too long for %s.admin-key\n", db);
		rc = -1;
	} else if (write_secret_file(path, secret, why, sizeof(why)) == 0) {
		cx_log_info("no API keys yet: created admin key %s; its secret is in %s (mode 0600, "
			    "shown nowhere else)", k.id, path);
	} else {
		fprintf(stderr, "cxd: cannot write the first admin key to %s: %s (stderr is not a "
			"terminal, so the secret is not printed); start cxd once on a terminal, or "
			"make a key with: cxd keys create --role admin --db %s\n", path, why, db);
		rc = -1;
	}
	if (rc)
		cx_store_key_delete(st, k.id, &err);   /* a key no one can know */
	explicit_bzero(secret, sizeof(secret));
	cx_key_release(&k);
	return rc;
}

/* How to get a key into a database that has some: a start prints it, since the secrets
 * of the keys already there are not shown again. */
static void key_hint(const char *argv0, const char *db, int n)
{
	char path[PATH_MAX], q0[PATH_MAX + 64], q1[PATH_MAX + 64];

	cx_log_info("%d API key%s in %s; make one with: %s keys create --role admin --db %s", n,
		    n == 1 ? "" : "s", db, shell_word(argv0, q0, sizeof(q0)),
		    shell_word(db, q1, sizeof(q1)));
	if (snprintf(path, sizeof(path), "%s.admin-key", db) < (int)sizeof(path) &&
	    access(path, F_OK) == 0)
		cx_log_info("the first admin key's secret is in %s (if it was not revoked)", path);
}

int main(int argc, char **argv)
{
	struct cx_app app = { 0 };
	struct cx_http *http = NULL;
	struct cx_alerts_sched *alerts = NULL;
	struct cx_deliver *deliver = NULL;
	struct cx_mail *mail = NULL;
	struct cx_error err = { 0 };
	char msg[512];
	sigset_t stop;
	uint16_t port;
	int sig = 0, nkeys;

	/* Every file cxd makes (the database, its WAL, backups, the admin key) holds answers or
	 * secrets: owner-only, whatever umask it was started with. */
	umask(077);
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

		if (cx_store_survey_get(app.store, CX_DEMO_SURVEY, &s) == 0) {
			/* there already: `cxd --demo` serves it, `cxd demo` refuses (exit 1)
			 * without first announcing a fill it will not do */
			cx_survey_release(&s);
			if (app.cfg.demo == CX_DEMO_ONLY) {
				fprintf(stderr, "cxd: the demo survey '%s' is already in %s; nothing "
					"was added\n", CX_DEMO_SURVEY, app.cfg.db_path);
				cx_store_close(app.store);
				return 1;
			}
		} else {
			cx_log_info("filling %s with demo data (100,000 responses over 90 days)",
				    app.cfg.db_path);
			if (cx_demo_fill(app.store, 100000, 90, 1, &err)) {
				fprintf(stderr, "cxd: %s\n", err.message);
				cx_store_close(app.store);
				return 1;
			}
			cx_log_info("demo survey '%s' ready", CX_DEMO_SURVEY);
		}
		if (app.cfg.demo == CX_DEMO_ONLY) {
			cx_store_close(app.store);
			return 0;
		}
	}
	nkeys = cx_store_key_count(app.store);
	if (nkeys < 0) {
		fprintf(stderr, "cxd: cannot count the API keys in %s\n", app.cfg.db_path);
		cx_store_close(app.store);
		return 1;
	}
	if (nkeys == 0 && first_key(app.store, app.cfg.db_path)) {
		cx_store_close(app.store);
		return 1;
	}
	if (nkeys > 0)
		key_hint(argv[0], app.cfg.db_path, nkeys);
	if (cx_writer_start(&app.writer, app.store, app.cfg.queue_limit)) {
		fprintf(stderr, "cxd: cannot start the writer thread\n");
		cx_store_close(app.store);
		return 1;
	}
	if (cx_deliver_start(&deliver, app.store, &app.cfg, &err)) {
		fprintf(stderr, "cxd: %s\n", err.message);
		cx_writer_stop(app.writer);
		cx_store_close(app.store);
		return 1;
	}
	if (cx_mail_start(&mail, app.store, &app.cfg, &err)) {
		fprintf(stderr, "cxd: %s\n", err.message);
		cx_deliver_stop(deliver);
		cx_writer_stop(app.writer);
		cx_store_close(app.store);
		return 1;
	}
	app.per_ip = cx_ratelimit_new(app.cfg.rate_ip, app.cfg.burst_ip, 100000);
	app.per_key = cx_ratelimit_new(app.cfg.rate_key, app.cfg.burst_key, 100000);
	app.cache = cx_cache_new(app.cfg.read_cache);
	cx_writer_lead_if(app.writer, cx_http_alone);
	if (cx_http_start(&http, &app, &app.cfg, &port, &err)) {
		fprintf(stderr, "cxd: %s\n", err.message);
		cx_mail_stop(mail);
		cx_deliver_stop(deliver);
		cx_writer_stop(app.writer);
		cx_store_close(app.store);
		cx_ratelimit_free(app.per_ip);
		cx_ratelimit_free(app.per_key);
		cx_cache_free(app.cache);
		return 1;
	}
	/* the port bound (when --listen asked for 0): cx_public_base's links name it. Before
	 * it is printed, no client knows the port, so no handler reads it meanwhile. */
	__atomic_store_n(&app.cfg.port, port, __ATOMIC_RELEASE);   /* workers run already */
	{
		struct cx_alerts_params ap = cx_alerts_params_of(&app.cfg, 0);

		if (cx_alerts_start(&alerts, app.store, app.cfg.alert_interval_s, &ap))
			cx_log_error("cannot start the alerts scheduler: alerts run only on "
				     "POST /v1/alerts/run");
	}
	cx_log_info("cxd %s listening on http%s://%s:%u/ database %s (schema %d)", CX_VERSION,
		    app.cfg.tls_cert[0] ? "s" : "", app.cfg.listen_host, port, app.cfg.db_path,
		    cx_store_schema_version(app.store));

	sigwait(&stop, &sig);
	cx_log_info("signal %d: draining requests and closing", sig);
	cx_alerts_stop(alerts);
	cx_http_stop(http, SHUTDOWN_GRACE_MS);
	cx_mail_stop(mail);
	cx_deliver_stop(deliver);
	cx_writer_stop(app.writer);
	cx_store_close(app.store);
	cx_ratelimit_free(app.per_ip);
	cx_ratelimit_free(app.per_key);
	cx_cache_free(app.cache);
	cx_log_info("stopped cleanly");
	return 0;
}
