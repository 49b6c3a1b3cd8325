/* public_url.c - see include/cx/public_url.h */
#include <stdio.h>
#include <string.h>

#include "cx/public_url.h"

int cx_public_base(const struct cx_config *cfg, char *buf, size_t len)
{
	int n;

	if (cfg->public_url[0])
		n = snprintf(buf, len, "%s", cfg->public_url);
	else
		n = snprintf(buf, len, strchr(cfg->listen_host, ':') ? "%s://[%s]:%u" : "%s://%s:%u",
			     cfg->tls_cert[0] ? "https" : "http", cfg->listen_host,
			     (unsigned)__atomic_load_n(&cfg->port, __ATOMIC_ACQUIRE));
	if (n < 0 || (size_t)n >= len)
		return -1;
	while (n > 0 && buf[n - 1] == '/')   /* config.c refuses one; a test stub may not */
		buf[--n] = '\0';
	return n;
}
