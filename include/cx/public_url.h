/* public_url.h - how respondents reach cxd (src/public_url.c): the base that personal
 * links (/i/TOKEN) and public survey pages (/s/SURVEY) start with. */
#ifndef CX_PUBLIC_URL_H
#define CX_PUBLIC_URL_H

#include <stddef.h>

#include "cx/config.h"

/* cfg->public_url (--public-url, no trailing '/') or, when that is "", the address cxd
 * listens on: "http[s]://HOST:PORT" (an IPv6 host in brackets; https when cxd serves TLS
 * itself). cfg->port is the bound port once the server started (main.c sets it when
 * --listen named port 0). Written into buf (len bytes, truncated if too short). */
void cx_public_base(const struct cx_config *cfg, char *buf, size_t len);

#endif
