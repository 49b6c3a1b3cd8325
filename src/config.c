/* config.c - see include/cx/config.h */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/config.h"
#include "cx/deliver.h"
#include "cx/mail.h"
#include "cx_version.h"

const char cx_config_help[] =
	"usage: cxd [options]\n"
	"       cxd demo [options]    fill the database with demo data (100,000 responses\n"
	"                             over 90 days) and exit\n"
	"       cxd keys create --role ingest|read|agent|admin [--surveys A,B] [--label T] [--db P]\n"
	"       cxd keys list [--json] [--db PATH]   every key, without secrets\n"
	"       cxd keys revoke ID [--db PATH]       safe while cxd serves\n"
	"       cxd check [--db PATH] recompute the rollups from the rows; exit 1 if they differ\n"
	"       cxd backup DEST [--db PATH]   online backup, safe while cxd serves\n"
	"\n"
	"Customer-experience feedback service: collects survey responses by journey stage\n"
	"and serves NPS, CSAT and CES scores. Flags override the environment variable named.\n"
	"\n"
	"  -l, --listen HOST:PORT     address to listen on (CXD_LISTEN, default 127.0.0.1:8080;\n"
	"                             port 0 picks a free port, printed on start)\n"
	"  -d, --db PATH              SQLite database file, created if missing\n"
	"                             (CXD_DB, default ./cxd.db)\n"
	"  -t, --threads N            HTTP worker threads, 1-64 (CXD_THREADS, default 2)\n"
	"  -b, --body-limit BYTES     largest request body, 1 KiB-64 MiB; suffixes k, m\n"
	"                             (CXD_BODY_LIMIT, default 64k)\n"
	"      --batch-limit BYTES    largest batch body (JSON array or NDJSON), 1 KiB-1 GiB\n"
	"                             (CXD_BATCH_LIMIT, default 16m; at most 10000 items)\n"
	"  -c, --max-connections N    open connections at once, 1-100000\n"
	"                             (CXD_MAX_CONNECTIONS, default 1024)\n"
	"      --per-ip-connections N open connections per client address, 0 = no limit\n"
	"                             (CXD_PER_IP_CONNECTIONS, default 64; not applied with\n"
	"                             --trusted-proxies: limit clients in the proxy)\n"
	"  -T, --timeout SECONDS      close a connection idle this long, 1-3600\n"
	"                             (CXD_TIMEOUT, default 15)\n"
	"      --queue-limit N        responses waiting for the disk before 503, 1-1000000\n"
	"                             (CXD_QUEUE_LIMIT, default 20000)\n"
	"      --read-cache BYTES     memory for answers to repeated score, journey and funnel\n"
	"                             reads, kept until the next commit; 0 = off; suffixes k, m\n"
	"                             (CXD_READ_CACHE, default 16m, at most 1g)\n"
	"      --no-access-log        no per-request line on stderr (CXD_ACCESS_LOG=0)\n"
	"      --demo                 add the demo data first if it is not there yet\n"
	"      --rate-ip R[/B]        requests per second (and burst) per client address,\n"
	"                             0 = no limit (CXD_RATE_IP, default 100/200)\n"
	"      --rate-key R[/B]       the same per API key (CXD_RATE_KEY, default 500/1000)\n"
	"      --trusted-proxies A,B  addresses whose X-Forwarded-For names the client\n"
	"                             (CXD_TRUSTED_PROXIES, default none)\n"
	"      --cors-origins A,B     browser origins (https://host[:port]) allowed to call\n"
	"                             the API with a key, e.g. a dashboard elsewhere\n"
	"                             (CXD_CORS_ORIGINS; public surveys list their own)\n"
	"      --tls-cert PEM         serve HTTPS with this certificate (chain) ...\n"
	"      --tls-key PEM          ... and this private key (CXD_TLS_CERT, CXD_TLS_KEY)\n"
	"      --alert-interval SECONDS  run the alerts check this often, 0 = never\n"
	"                             (CXD_ALERT_INTERVAL, default 3600)\n"
	"      --alert-window DAYS    compare the last DAYS days (today included) with the\n"
	"                             DAYS before, 1-366 (CXD_ALERT_WINDOW, default 7)\n"
	"      --alert-cooldown SECONDS  emit one finding again at most this often\n"
	"                             (CXD_ALERT_COOLDOWN, default two windows: 1209600)\n"
	"      --alert-min-n N        answers needed on each side, 1-1000000\n"
	"                             (CXD_ALERT_MIN_N, default 30)\n"
	"      --webhook-allow-http   webhook endpoints may be http:// (default: https only)\n"
	"      --webhook-allow-private  endpoints may resolve to loopback, private, link-local\n"
	"                             addresses (default: refused)\n"
	"      --webhook-timeout S    seconds per delivery attempt, 1-300 (CXD_WEBHOOK_TIMEOUT,\n"
	"                             default 10)\n"
	"      --webhook-concurrency N  deliveries in flight at once, 1-1024\n"
	"                             (CXD_WEBHOOK_CONCURRENCY, default 16; 4 per endpoint)\n"
	"      --webhook-retry-schedule L  retry steps after failed attempts (ms, s, m, h)\n"
	"                             (CXD_WEBHOOK_RETRY_SCHEDULE, default\n"
	"                             5s,30s,2m,10m,30m,1h,2h,4h,8h,8h; then dead)\n"
	"      --webhook-retention T  keep delivered and dead deliveries this long, then delete\n"
	"                             them (N days, or Ns, Nm, Nh, Nd; CXD_WEBHOOK_RETENTION,\n"
	"                             default 30d; pending ones are never deleted)\n"
	"      --public-url URL       how respondents reach cxd (https://cx.example.com): personal\n"
	"                             links and QR codes start with it (CXD_PUBLIC_URL,\n"
	"                             default http://LISTEN, fine on one machine only)\n"
	"      --link-ttl T           a personal link's lifetime unless the invitation sets one\n"
	"                             (N days, or Ns, Nm, Nh, Nd; CXD_LINK_TTL, default 30d)\n"
	"      --edit-window T        an answered link (or a survey page's answer) may be\n"
	"                             changed this long, then it is refused politely\n"
	"                             (CXD_EDIT_WINDOW, default 1d)\n"
	"      --smtp-url URL         send invitation mail through this server\n"
	"                             (smtps://host:465 or smtp://host:587 with STARTTLS;\n"
	"                             CXD_SMTP_URL, default none: no mail is sent)\n"
	"      --smtp-from ADDRESS    From address of that mail (CXD_SMTP_FROM)\n"
	"      --smtp-user NAME       SMTP login (CXD_SMTP_USER; the password is read from\n"
	"                             CXD_SMTP_PASSWORD only, so it is not in `ps`)\n"
	"      --smtp-allow-insecure  allow smtp:// without TLS (a relay on this machine)\n"
	"      --mail-retry-schedule L  retry steps after failed mail (ms, s, m, h)\n"
	"                             (CXD_MAIL_RETRY_SCHEDULE, default 1m,5m,30m,2h,6h;\n"
	"                             then dead; a 5xx refusal is dead at once)\n"
	"  -h, --help                 this text\n"
	"  -V, --version              the version\n";

void cx_config_defaults(struct cx_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->listen_host, sizeof(cfg->listen_host), "127.0.0.1");
	cfg->port = 8080;
	snprintf(cfg->db_path, sizeof(cfg->db_path), "%s", CX_DEFAULT_DB);
	cfg->threads = 2;
	cfg->read_cache = 16u << 20;
	cfg->body_limit = 64 * 1024;
	cfg->batch_limit = 16 * 1024 * 1024;
	cfg->max_connections = 1024;
	cfg->per_ip_connections = 64;   /* one address cannot hold every connection */
	cfg->timeout_s = 15;
	cfg->conn_memory = 32 * 1024;
	cfg->queue_limit = 20000;
	cfg->access_log = 1;
	cfg->rate_ip = 100, cfg->burst_ip = 200;
	cfg->rate_key = 500, cfg->burst_key = 1000;
	cfg->alert_interval_s = 3600;
	cfg->alert_window_days = 7;
	cfg->alert_cooldown_s = 2 * 7 * 86400;
	cfg->alert_min_n = 30;
	cfg->webhook_timeout_s = 10;
	cfg->webhook_concurrency = 16;
	snprintf(cfg->webhook_schedule, sizeof(cfg->webhook_schedule), "%s", CX_DEFAULT_SCHEDULE);
	cfg->webhook_retention_s = 30 * 86400;
	cfg->link_ttl_s = 30 * 86400;
	cfg->edit_window_s = 86400;
	snprintf(cfg->mail_schedule, sizeof(cfg->mail_schedule), "%s", CX_MAIL_DEFAULT_SCHEDULE);
}

/* "N" days, or N with s, m, h, d: 1 s to 10 years, into *out; 0, or -1 if malformed. */
static int parse_duration(const char *val, int64_t *out)
{
	char *end;
	long long n = strtoll(val, &end, 10);
	int64_t unit = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600 : 86400;

	if (!isdigit((unsigned char)val[0]) || n <= 0 || n > 3650LL * 86400 ||
	    (*end && (strchr("smhd", *end) == NULL || end[1])) || n * unit > 3650LL * 86400)
		return -1;
	*out = n * unit;
	return 0;
}

/* Copy a string setting into dst (size n); -1 if it does not fit. */
static int set_text(char *dst, size_t n, const char *val)
{
	if (strlen(val) >= n)
		return -1;
	snprintf(dst, n, "%s", val);
	return 0;
}

/* "RATE" or "RATE/BURST" (burst defaults to twice the rate); "0" turns the limit off. */
static int parse_rate(const char *s, double *rate, double *burst)
{
	char *end;
	double r = strtod(s, &end), b = 2 * r;

	if (end == s || r < 0 || r > 1e7)
		return -1;
	if (*end == '/') {
		char *e2;

		b = strtod(end + 1, &e2);
		if (e2 == end + 1 || *e2 || b < 1 || b > 1e7)
			return -1;
	} else if (*end) {
		return -1;
	}
	*rate = r;
	*burst = r > 0 && b < 1 ? 1 : b;
	return 0;
}

int cx_config_set_listen(struct cx_config *cfg, const char *spec)
{
	const char *colon = strrchr(spec, ':');
	char host[64];
	size_t hlen;
	struct in6_addr a6;
	struct in_addr a4;
	char *end;
	unsigned long port;

	if (!colon)
		return -1;
	hlen = (size_t)(colon - spec);
	if (hlen >= 2 && spec[0] == '[' && spec[hlen - 1] == ']') {
		spec++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host))
		return -1;
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	if (hlen == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(AF_INET, host, &a4) != 1 && inet_pton(AF_INET6, host, &a6) != 1)
		return -1;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port > 65535)
		return -1;
	snprintf(cfg->listen_host, sizeof(cfg->listen_host), "%s", host);
	cfg->port = (uint16_t)port;
	return 0;
}

/* Unsigned integer in [lo, hi], with an optional k/m (KiB/MiB) suffix when `sized`. */
static int parse_uint(const char *s, unsigned long long lo, unsigned long long hi, int sized,
		      unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	if (sized && (*end == 'k' || *end == 'K') && end[1] == '\0') {
		if (v > hi / 1024ull)   /* refused, not wrapped into the range */
			return -1;
		v *= 1024ull;
		end++;
	} else if (sized && (*end == 'm' || *end == 'M') && end[1] == '\0') {
		if (v > hi / (1024ull * 1024ull))
			return -1;
		v *= 1024ull * 1024ull;
		end++;
	}
	if (*end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

enum opt_id {
	OPT_LISTEN = 'l', OPT_DB = 'd', OPT_THREADS = 't', OPT_BODY = 'b', OPT_CONNS = 'c',
	OPT_TIMEOUT = 'T', OPT_HELP = 'h', OPT_VERSION = 'V',
	OPT_PER_IP = 1000, OPT_QUEUE, OPT_NO_ACCESS_LOG, OPT_BATCH, OPT_DEMO, OPT_TLS_CERT,
	OPT_TLS_KEY, OPT_RATE_IP, OPT_RATE_KEY, OPT_PROXIES, OPT_CORS,
	OPT_ALERT_INTERVAL, OPT_ALERT_WINDOW, OPT_ALERT_COOLDOWN, OPT_ALERT_MIN_N,
	OPT_WH_HTTP, OPT_WH_PRIVATE, OPT_WH_TIMEOUT, OPT_WH_CONC, OPT_WH_SCHEDULE, OPT_WH_RETENTION,
	OPT_PUBLIC_URL, OPT_LINK_TTL, OPT_EDIT_WINDOW, OPT_SMTP_URL, OPT_SMTP_FROM, OPT_SMTP_USER,
	OPT_SMTP_PASSWORD, OPT_SMTP_INSECURE, OPT_MAIL_SCHEDULE, OPT_READ_CACHE,
};

/* Apply one setting by option id; `name` is how the user spelled it (for messages). */
static int apply(struct cx_config *cfg, int id, const char *val, const char *name,
		 char *errbuf, size_t errlen)
{
	unsigned long long v = 0;
	int bad = 0;

	switch (id) {
	case OPT_LISTEN:
		bad = cx_config_set_listen(cfg, val);
		break;
	case OPT_DB:
		bad = (!val[0] || strlen(val) >= sizeof(cfg->db_path));
		if (!bad)
			snprintf(cfg->db_path, sizeof(cfg->db_path), "%s", val);
		break;
	case OPT_THREADS:
		bad = parse_uint(val, 1, 64, 0, &v);
		cfg->threads = (unsigned)v;
		break;
	case OPT_BODY:
		bad = parse_uint(val, 1024, 64ull << 20, 1, &v);
		cfg->body_limit = (size_t)v;
		break;
	case OPT_BATCH:
		bad = parse_uint(val, 1024, 1ull << 30, 1, &v);
		cfg->batch_limit = (size_t)v;
		break;
	case OPT_CONNS:
		bad = parse_uint(val, 1, 100000, 0, &v);
		cfg->max_connections = (unsigned)v;
		break;
	case OPT_PER_IP:
		bad = parse_uint(val, 0, 100000, 0, &v);
		cfg->per_ip_connections = (unsigned)v;
		break;
	case OPT_TIMEOUT:
		bad = parse_uint(val, 1, 3600, 0, &v);
		cfg->timeout_s = (unsigned)v;
		break;
	case OPT_QUEUE:
		bad = parse_uint(val, 1, 1000000, 0, &v);
		cfg->queue_limit = (unsigned)v;
		break;
	case OPT_NO_ACCESS_LOG:
		cfg->access_log = 0;
		break;
	case OPT_READ_CACHE:
		bad = parse_uint(val, 0, 1ull << 30, 1, &v);
		cfg->read_cache = (size_t)v;
		break;
	case OPT_RATE_IP:
		bad = parse_rate(val, &cfg->rate_ip, &cfg->burst_ip);
		break;
	case OPT_RATE_KEY:
		bad = parse_rate(val, &cfg->rate_key, &cfg->burst_key);
		break;
	case OPT_CORS:
		bad = strlen(val) >= sizeof(cfg->cors_origins);
		if (!bad)
			snprintf(cfg->cors_origins, sizeof(cfg->cors_origins), "%s", val);
		break;
	case OPT_PROXIES:
		bad = strlen(val) >= sizeof(cfg->trusted_proxies);
		if (!bad)
			snprintf(cfg->trusted_proxies, sizeof(cfg->trusted_proxies), "%s", val);
		break;
	case OPT_TLS_CERT:
	case OPT_TLS_KEY: {
		char *dst = id == OPT_TLS_CERT ? cfg->tls_cert : cfg->tls_key;

		bad = (!val[0] || strlen(val) >= sizeof(cfg->tls_cert));
		if (!bad)
			snprintf(dst, sizeof(cfg->tls_cert), "%s", val);
		break;
	}
	case OPT_DEMO:
		cfg->demo = cfg->demo ? cfg->demo : CX_DEMO_SERVE;
		break;
	case OPT_ALERT_INTERVAL:
		bad = parse_uint(val, 0, 30 * 86400, 0, &v);
		cfg->alert_interval_s = (unsigned)v;
		break;
	case OPT_ALERT_WINDOW:
		bad = parse_uint(val, 1, 366, 0, &v);
		cfg->alert_window_days = (unsigned)v;
		break;
	case OPT_ALERT_COOLDOWN:
		bad = parse_uint(val, 1, 366 * 86400, 0, &v);
		cfg->alert_cooldown_s = (unsigned)v;
		break;
	case OPT_ALERT_MIN_N:
		bad = parse_uint(val, 1, 1000000, 0, &v);
		cfg->alert_min_n = (unsigned)v;
		break;
	case OPT_WH_HTTP:
		cfg->webhook_allow_http = 1;
		break;
	case OPT_WH_PRIVATE:
		cfg->webhook_allow_private = 1;
		break;
	case OPT_WH_TIMEOUT:
		bad = parse_uint(val, 1, 300, 0, &v);
		cfg->webhook_timeout_s = (unsigned)v;
		break;
	case OPT_WH_CONC:
		bad = parse_uint(val, 1, 1024, 0, &v);
		cfg->webhook_concurrency = (unsigned)v;
		break;
	case OPT_WH_SCHEDULE: {
		int64_t ms[CX_SCHEDULE_MAX];
		size_t n;

		bad = strlen(val) >= sizeof(cfg->webhook_schedule) ||
		      cx_deliver_parse_schedule(val, ms, CX_SCHEDULE_MAX, &n);
		if (!bad)
			snprintf(cfg->webhook_schedule, sizeof(cfg->webhook_schedule), "%s", val);
		break;
	}
	case OPT_WH_RETENTION:
		bad = parse_duration(val, &cfg->webhook_retention_s);
		break;
	case OPT_PUBLIC_URL: {   /* http(s)://host[:port][/prefix], no query, no trailing '/' */
		size_t n = strlen(val);

		bad = (strncmp(val, "https://", 8) != 0 && strncmp(val, "http://", 7) != 0) ||
		      n < 9 || strpbrk(val, "?#\"<> \t\r\n") != NULL || val[n - 1] == '/' ||
		      set_text(cfg->public_url, sizeof(cfg->public_url), val);
		break;
	}
	case OPT_LINK_TTL:
		bad = parse_duration(val, &cfg->link_ttl_s);
		break;
	case OPT_EDIT_WINDOW:
		bad = parse_duration(val, &cfg->edit_window_s);
		break;
	case OPT_SMTP_URL:
		bad = (strncmp(val, "smtp://", 7) != 0 && strncmp(val, "smtps://", 8) != 0) ||
		      strpbrk(val, " \t\r\n") != NULL ||
		      set_text(cfg->smtp_url, sizeof(cfg->smtp_url), val);
		break;
	case OPT_SMTP_FROM:
		bad = !strchr(val, '@') || strpbrk(val, "<>\r\n \t") != NULL ||
		      set_text(cfg->smtp_from, sizeof(cfg->smtp_from), val);
		break;
	case OPT_SMTP_USER:
		bad = strpbrk(val, "\r\n") != NULL ||
		      set_text(cfg->smtp_user, sizeof(cfg->smtp_user), val);
		break;
	case OPT_SMTP_PASSWORD:
		bad = set_text(cfg->smtp_password, sizeof(cfg->smtp_password), val);
		break;
	case OPT_SMTP_INSECURE:
		cfg->smtp_allow_insecure = 1;
		break;
	case OPT_MAIL_SCHEDULE: {
		int64_t ms[CX_SCHEDULE_MAX];
		size_t n;

		bad = strlen(val) >= sizeof(cfg->mail_schedule) ||
		      cx_deliver_parse_schedule(val, ms, CX_SCHEDULE_MAX, &n);
		if (!bad)
			snprintf(cfg->mail_schedule, sizeof(cfg->mail_schedule), "%s", val);
		break;
	}
	}
	if (bad)
		snprintf(errbuf, errlen, "cxd: invalid value '%s' for %s (see cxd --help)", val,
			 name);
	return bad ? -1 : 0;
}

static const struct {
	const char *var;
	int id;
} env_vars[] = {
	{ "CXD_LISTEN", OPT_LISTEN },       { "CXD_DB", OPT_DB },
	{ "CXD_THREADS", OPT_THREADS },     { "CXD_BODY_LIMIT", OPT_BODY },
	{ "CXD_BATCH_LIMIT", OPT_BATCH },
	{ "CXD_TLS_CERT", OPT_TLS_CERT },   { "CXD_TLS_KEY", OPT_TLS_KEY },
	{ "CXD_RATE_IP", OPT_RATE_IP },     { "CXD_RATE_KEY", OPT_RATE_KEY },
	{ "CXD_TRUSTED_PROXIES", OPT_PROXIES }, { "CXD_CORS_ORIGINS", OPT_CORS },
	{ "CXD_MAX_CONNECTIONS", OPT_CONNS }, { "CXD_PER_IP_CONNECTIONS", OPT_PER_IP },
	{ "CXD_TIMEOUT", OPT_TIMEOUT },     { "CXD_QUEUE_LIMIT", OPT_QUEUE },
	{ "CXD_READ_CACHE", OPT_READ_CACHE },
	{ "CXD_ALERT_INTERVAL", OPT_ALERT_INTERVAL }, { "CXD_ALERT_WINDOW", OPT_ALERT_WINDOW },
	{ "CXD_ALERT_COOLDOWN", OPT_ALERT_COOLDOWN }, { "CXD_ALERT_MIN_N", OPT_ALERT_MIN_N },
	{ "CXD_WEBHOOK_TIMEOUT", OPT_WH_TIMEOUT }, { "CXD_WEBHOOK_CONCURRENCY", OPT_WH_CONC },
	{ "CXD_WEBHOOK_RETRY_SCHEDULE", OPT_WH_SCHEDULE },
	{ "CXD_WEBHOOK_RETENTION", OPT_WH_RETENTION },
	{ "CXD_PUBLIC_URL", OPT_PUBLIC_URL }, { "CXD_LINK_TTL", OPT_LINK_TTL },
	{ "CXD_EDIT_WINDOW", OPT_EDIT_WINDOW }, { "CXD_SMTP_URL", OPT_SMTP_URL },
	{ "CXD_SMTP_FROM", OPT_SMTP_FROM }, { "CXD_SMTP_USER", OPT_SMTP_USER },
	{ "CXD_SMTP_PASSWORD", OPT_SMTP_PASSWORD },
	{ "CXD_MAIL_RETRY_SCHEDULE", OPT_MAIL_SCHEDULE },
};

static const char *option_name(const struct option *opts, int id)
{
	static __thread char name[40];

	for (; opts->name; opts++)
		if (opts->val == id) {
			snprintf(name, sizeof(name), "--%s", opts->name);
			return name;
		}
	return "option";
}

enum cx_config_result cx_config_parse(struct cx_config *cfg, int argc, char **argv,
				      const char *(*env)(const char *name), char *errbuf,
				      size_t errlen)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "db", required_argument, NULL, OPT_DB },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "body-limit", required_argument, NULL, OPT_BODY },
		{ "batch-limit", required_argument, NULL, OPT_BATCH },
		{ "max-connections", required_argument, NULL, OPT_CONNS },
		{ "per-ip-connections", required_argument, NULL, OPT_PER_IP },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "queue-limit", required_argument, NULL, OPT_QUEUE },
		{ "no-access-log", no_argument, NULL, OPT_NO_ACCESS_LOG },
		{ "read-cache", required_argument, NULL, OPT_READ_CACHE },
		{ "demo", no_argument, NULL, OPT_DEMO },
		{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
		{ "rate-ip", required_argument, NULL, OPT_RATE_IP },
		{ "rate-key", required_argument, NULL, OPT_RATE_KEY },
		{ "trusted-proxies", required_argument, NULL, OPT_PROXIES },
		{ "cors-origins", required_argument, NULL, OPT_CORS },
		{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
		{ "webhook-allow-http", no_argument, NULL, OPT_WH_HTTP },
		{ "webhook-allow-private", no_argument, NULL, OPT_WH_PRIVATE },
		{ "webhook-timeout", required_argument, NULL, OPT_WH_TIMEOUT },
		{ "webhook-concurrency", required_argument, NULL, OPT_WH_CONC },
		{ "webhook-retry-schedule", required_argument, NULL, OPT_WH_SCHEDULE },
		{ "webhook-retention", required_argument, NULL, OPT_WH_RETENTION },
		{ "public-url", required_argument, NULL, OPT_PUBLIC_URL },
		{ "link-ttl", required_argument, NULL, OPT_LINK_TTL },
		{ "edit-window", required_argument, NULL, OPT_EDIT_WINDOW },
		{ "smtp-url", required_argument, NULL, OPT_SMTP_URL },
		{ "smtp-from", required_argument, NULL, OPT_SMTP_FROM },
		{ "smtp-user", required_argument, NULL, OPT_SMTP_USER },
		{ "smtp-allow-insecure", no_argument, NULL, OPT_SMTP_INSECURE },
		{ "mail-retry-schedule", required_argument, NULL, OPT_MAIL_SCHEDULE },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "alert-interval", required_argument, NULL, OPT_ALERT_INTERVAL },
		{ "alert-window", required_argument, NULL, OPT_ALERT_WINDOW },
		{ "alert-cooldown", required_argument, NULL, OPT_ALERT_COOLDOWN },
		{ "alert-min-n", required_argument, NULL, OPT_ALERT_MIN_N },
		{ NULL, 0, NULL, 0 },
	};
	int c, cooldown_given = 0;

	cx_config_defaults(cfg);
	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++) {
		const char *v = env(env_vars[i].var);

		if (v && apply(cfg, env_vars[i].id, v, env_vars[i].var, errbuf, errlen))
			return CX_CONFIG_BAD;
		cooldown_given |= v && env_vars[i].id == OPT_ALERT_COOLDOWN;
	}
	{
		const char *v = env("CXD_ACCESS_LOG");

		if (v && strcmp(v, "0") == 0)
			cfg->access_log = 0;
	}

	if (argc > 1 && strcmp(argv[1], "demo") == 0) {   /* the demo subcommand */
		cfg->demo = CX_DEMO_ONLY;
		argv[1] = argv[0];
		argv++;
		argc--;
	}
	optind = 0;   /* reset getopt: tests parse several command lines */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":l:d:t:b:c:T:hV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_HELP:
			fputs(cx_config_help, stdout);
			return CX_CONFIG_EXIT;
		case OPT_VERSION:
			printf("cxd %s\n", CX_VERSION);
			return CX_CONFIG_EXIT;
		case '?':
			snprintf(errbuf, errlen, "cxd: unknown option '%s' (see cxd --help)",
				 argv[optind - 1]);
			return CX_CONFIG_BAD;
		case ':':
			snprintf(errbuf, errlen, "cxd: option '%s' needs a value (see cxd --help)",
				 argv[optind - 1]);
			return CX_CONFIG_BAD;
		default:
			if (apply(cfg, c, optarg, option_name(longopts, c), errbuf, errlen))
				return CX_CONFIG_BAD;
			cooldown_given |= c == OPT_ALERT_COOLDOWN;
		}
	}
	if (!cooldown_given)   /* a change stays a finding while it slides through both windows */
		cfg->alert_cooldown_s = 2 * 86400 * cfg->alert_window_days;
	if (!cfg->tls_cert[0] != !cfg->tls_key[0]) {
		snprintf(errbuf, errlen, "cxd: --tls-cert and --tls-key go together");
		return CX_CONFIG_BAD;
	}
	if (cfg->smtp_url[0] && !cfg->smtp_from[0]) {
		snprintf(errbuf, errlen, "cxd: --smtp-url needs --smtp-from");
		return CX_CONFIG_BAD;
	}
	if (optind < argc) {
		snprintf(errbuf, errlen, "cxd: unexpected argument '%s' (see cxd --help)",
			 argv[optind]);
		return CX_CONFIG_BAD;
	}
	return CX_CONFIG_RUN;
}
