/* Unit tests for config.c: flags, environment, precedence and refusals. */
#include <check.h>
#include <string.h>

#include "cx/config.h"
#include "check_main.h"

static const char *env_none(const char *name)
{
	return NULL;
}

static const char *env_some(const char *name)
{
	if (strcmp(name, "CXD_THREADS") == 0)
		return "8";
	if (strcmp(name, "CXD_DB") == 0)
		return "/var/lib/cxd/env.db";
	if (strcmp(name, "CXD_BODY_LIMIT") == 0)
		return "1m";
	return NULL;
}

static const char *env_bad(const char *name)
{
	return strcmp(name, "CXD_TIMEOUT") == 0 ? "forever" : NULL;
}

#define PARSE(env, ...) \
	({ char *argv[] = { "cxd", __VA_ARGS__, NULL }; \
	   cx_config_parse(&cfg, (int)(sizeof(argv) / sizeof(argv[0])) - 1, argv, env, msg, \
			   sizeof(msg)); })

START_TEST(defaults)
{
	struct cx_config cfg;
	char msg[256];
	char *argv[] = { "cxd", NULL };

	ck_assert_int_eq(cx_config_parse(&cfg, 1, argv, env_none, msg, sizeof(msg)), CX_CONFIG_RUN);
	ck_assert_str_eq(cfg.listen_host, "127.0.0.1");
	ck_assert_int_eq(cfg.port, 8080);
	ck_assert_str_eq(cfg.db_path, "cxd.db");
	ck_assert_int_eq(cfg.body_limit, 65536);
	ck_assert_int_eq(cfg.threads, 2);
	ck_assert_int_eq(cfg.timeout_s, 15);
	ck_assert_int_eq(cfg.per_ip_connections, 64);   /* safe without a flag (issue 11) */
	ck_assert_int_eq(cfg.max_connections, 1024);
}
END_TEST

START_TEST(flags)
{
	struct cx_config cfg;
	char msg[256];

	ck_assert_int_eq(PARSE(env_none, "--listen", "[::1]:9000", "-d", "x.db", "--threads=4",
			       "--body-limit", "16k", "-c", "50", "-T", "5", "--no-access-log"),
			 CX_CONFIG_RUN);
	ck_assert_str_eq(cfg.listen_host, "::1");
	ck_assert_int_eq(cfg.port, 9000);
	ck_assert_str_eq(cfg.db_path, "x.db");
	ck_assert_int_eq(cfg.threads, 4);
	ck_assert_int_eq(cfg.body_limit, 16384);
	ck_assert_int_eq(cfg.max_connections, 50);
	ck_assert_int_eq(cfg.timeout_s, 5);
	ck_assert_int_eq(cfg.access_log, 0);
}
END_TEST

START_TEST(env_then_flags)
{
	struct cx_config cfg;
	char msg[256];

	ck_assert_int_eq(PARSE(env_some, "--threads", "3"), CX_CONFIG_RUN);
	ck_assert_int_eq(cfg.threads, 3);                  /* the flag wins */
	ck_assert_str_eq(cfg.db_path, "/var/lib/cxd/env.db");
	ck_assert_int_eq(cfg.body_limit, 1 << 20);
}
END_TEST

START_TEST(refusals)
{
	struct cx_config cfg;
	char msg[256];

	ck_assert_int_eq(PARSE(env_none, "--bogus"), CX_CONFIG_BAD);
	ck_assert_ptr_nonnull(strstr(msg, "--bogus"));
	ck_assert_int_eq(PARSE(env_none, "--threads", "0"), CX_CONFIG_BAD);
	ck_assert_ptr_nonnull(strstr(msg, "--threads"));
	ck_assert_int_eq(PARSE(env_none, "--threads", "2x"), CX_CONFIG_BAD);
	ck_assert_int_eq(PARSE(env_none, "--body-limit", "100"), CX_CONFIG_BAD);
	/* 2^44 + 1 MiB wraps to 1 MiB in 64 bits: a size that overflows is refused, not wrapped */
	ck_assert_int_eq(PARSE(env_none, "--body-limit", "17592186044417M"), CX_CONFIG_BAD);
	ck_assert_int_eq(PARSE(env_none, "--batch-limit", "18014398509481985k"), CX_CONFIG_BAD);
	ck_assert_int_eq(PARSE(env_none, "--listen", "nowhere:80"), CX_CONFIG_BAD);
	ck_assert_int_eq(PARSE(env_none, "--listen", "127.0.0.1:70000"), CX_CONFIG_BAD);
	ck_assert_int_eq(PARSE(env_none, "--db"), CX_CONFIG_BAD);
	ck_assert_ptr_nonnull(strstr(msg, "needs a value"));
	ck_assert_int_eq(PARSE(env_none, "stray"), CX_CONFIG_BAD);
	ck_assert_int_eq(PARSE(env_bad, "-t", "2"), CX_CONFIG_BAD);
	ck_assert_ptr_nonnull(strstr(msg, "CXD_TIMEOUT"));
	ck_assert_ptr_null(strchr(msg, '\n'));             /* one line */
}
END_TEST

static const char *env_alerts(const char *name)
{
	return strcmp(name, "CXD_ALERT_COOLDOWN") == 0 ? "600" : NULL;
}

START_TEST(alert_flags)
{
	struct cx_config cfg;
	char msg[256];

	/* defaults: hourly, a week against the week before, a cooldown of two windows */
	ck_assert_int_eq(PARSE(env_none, "-t", "2"), CX_CONFIG_RUN);
	ck_assert_int_eq(cfg.alert_interval_s, 3600);
	ck_assert_int_eq(cfg.alert_window_days, 7);
	ck_assert_int_eq(cfg.alert_cooldown_s, 14 * 86400);
	ck_assert_int_eq(cfg.alert_min_n, 30);
	/* the cooldown follows the window unless it is given */
	ck_assert_int_eq(PARSE(env_none, "--alert-window", "30", "--alert-interval", "0"),
			 CX_CONFIG_RUN);
	ck_assert_int_eq(cfg.alert_cooldown_s, 60 * 86400);
	ck_assert_int_eq(cfg.alert_interval_s, 0);
	ck_assert_int_eq(PARSE(env_none, "--alert-window", "30", "--alert-cooldown", "60",
			       "--alert-min-n", "5"), CX_CONFIG_RUN);
	ck_assert_int_eq(cfg.alert_cooldown_s, 60);
	ck_assert_int_eq(cfg.alert_min_n, 5);
	ck_assert_int_eq(PARSE(env_alerts, "--alert-window", "30"), CX_CONFIG_RUN);
	ck_assert_int_eq(cfg.alert_cooldown_s, 600);
	ck_assert_int_eq(PARSE(env_none, "--alert-window", "0"), CX_CONFIG_BAD);
	ck_assert_ptr_nonnull(strstr(msg, "--alert-window"));
	ck_assert_int_eq(PARSE(env_none, "--alert-cooldown", "0"), CX_CONFIG_BAD);
	ck_assert_int_eq(PARSE(env_none, "--alert-min-n", "0"), CX_CONFIG_BAD);
	ck_assert_int_eq(PARSE(env_none, "--alert-interval", "2592001"), CX_CONFIG_BAD);
}
END_TEST

CX_CHECK_MAIN("config", NULL, NULL, defaults, flags, env_then_flags, refusals, alert_flags)
