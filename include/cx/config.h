/* config.h - the command line and its environment variables.
 *
 * Every limit the service enforces is a field here with a documented default; flags win
 * over environment variables, which win over defaults (see `cxd --help`).
 */
#ifndef CX_CONFIG_H
#define CX_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CX_DEFAULT_DB "cxd.db"

struct cx_config {
	char listen_host[64];   /* numeric IPv4 or IPv6 address */
	uint16_t port;          /* 0 = pick a free port (printed on start) */
	char db_path[1024];
	unsigned threads;       /* HTTP worker threads */
	size_t read_cache;      /* bytes for the read cache (cache.h), 0 = none */
	size_t body_limit;      /* bytes per request body (one response, a survey, a form) */
	size_t batch_limit;     /* bytes per batch body (JSON array or NDJSON) */
	unsigned max_connections;
	unsigned per_ip_connections; /* 0 = unlimited; not applied behind trusted proxies */
	unsigned timeout_s;     /* idle connection timeout */
	size_t conn_memory;     /* libmicrohttpd per-connection memory (headers) */
	unsigned queue_limit;   /* responses waiting for the writer */
	int access_log;         /* 1 = one line per request on stderr */
	int demo;               /* CX_DEMO_*: fill the database with demo data */
	double rate_ip, burst_ip;   /* requests/s and burst per client address; 0 = off */
	double rate_key, burst_key; /* the same per API key */
	char trusted_proxies[512];  /* comma-separated addresses whose X-Forwarded-For counts */
	char cors_origins[1024];    /* comma-separated origins allowed on every route (CORS) */
	char tls_cert[1024];    /* PEM files; both or neither ("" = plain HTTP) */
	char tls_key[1024];
	unsigned alert_interval_s;  /* the alerts check (alerts.h) runs this often; 0 = never */
	unsigned alert_window_days; /* compare the last this many days with the ones before */
	unsigned alert_cooldown_s;  /* a finding is emitted again at most this often (default:
				       two windows, the time a change takes to slide past both) */
	unsigned alert_min_n;       /* answers needed on each side of a comparison */
	int webhook_allow_http;     /* endpoints may be http:// */
	int webhook_allow_private;  /* endpoints may resolve to loopback/private addresses */
	unsigned webhook_timeout_s; /* connect and total time of one delivery attempt */
	unsigned webhook_concurrency; /* deliveries in flight at once */
	char webhook_schedule[256]; /* retry steps, e.g. "5s,30s,2m" (deliver.h) */
	int64_t webhook_retention_s; /* delivered and dead deliveries are kept this long */
	/* asking customers (issue 13) */
	char public_url[512];       /* how respondents reach cxd: links and QR codes start with
				       it ("" = http://LISTEN, for trying cxd on one machine) */
	int64_t link_ttl_s;         /* a personal link's lifetime when the invitation names none */
	int64_t edit_window_s;      /* an answered link may change its answer this long */
	char smtp_url[512];         /* smtp:// or smtps:// server cxd sends invitations through
				       ("" = cxd sends no mail) */
	char smtp_from[256];        /* the From address of invitation mail */
	char smtp_user[256];        /* SMTP login ("" = none); the password only from the */
	char smtp_password[256];    /* environment (CXD_SMTP_PASSWORD), never a flag */
	int smtp_allow_insecure;    /* plain smtp:// without STARTTLS is allowed (tests, LANs) */
	char mail_schedule[256];    /* invitation mail's retry steps, e.g. "1m,5m" (mail.h) */
};

enum { CX_DEMO_OFF = 0, CX_DEMO_SERVE = 1, CX_DEMO_ONLY = 2 };

enum cx_config_result {
	CX_CONFIG_RUN = 0,   /* start the service */
	CX_CONFIG_EXIT = 1,  /* --help or --version printed: exit 0 */
	CX_CONFIG_BAD = 2,   /* bad flag or value: message in errbuf, exit 2 */
};

void cx_config_defaults(struct cx_config *cfg);

/* Fill cfg from defaults, then getenv, then argv. `env` is getenv or a test stub. */
enum cx_config_result cx_config_parse(struct cx_config *cfg, int argc, char **argv,
				      const char *(*env)(const char *name), char *errbuf,
				      size_t errlen);

/* Parse "HOST:PORT", "[V6]:PORT" or ":PORT" into cfg; 0 on success. */
int cx_config_set_listen(struct cx_config *cfg, const char *spec);

/* The --help text. */
extern const char cx_config_help[];

#endif
