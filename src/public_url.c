/* public_url.c - see include/cx/public_url.h */
#include <stdio.h>
#include <string.h>

#include "cx/public_url.h"

void cx_public_base(const struct cx_config *cfg, char *buf, size_t len)
{
	int v6 = strchr(cfg->listen_host, ':') != NULL;

	if (cfg->public_url[0])
		snprintf(buf, len, "%s", cfg->public_url);
	else
		snprintf(buf, len, "http%s://%s%s%s:%u", cfg->tls_cert[0] ? "s" : "",
			 v6 ? "[" : "", cfg->listen_host, v6 ? "]" : "", (unsigned)cfg->port);
}
