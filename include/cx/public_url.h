/* public_url.h - how respondents reach cxd (src/public_url.c): the base that personal
 * links (/i/TOKEN), public survey pages (/s/SURVEY) and their QR codes start with. */
#ifndef CX_PUBLIC_URL_H
#define CX_PUBLIC_URL_H

#include <stddef.h>

#include "cx/config.h"

/* How respondents reach cxd, without a trailing '/': cfg->public_url, or when that is ""
 * http(s)://LISTEN-HOST:PORT (an IPv6 host in brackets; https when cxd serves TLS).
 * cfg->port is the bound port once the server started (main.c sets it when --listen
 * asked for port 0). Writes a NUL-terminated string into buf; returns its length, or -1
 * if buf is too small. */
int cx_public_base(const struct cx_config *cfg, char *buf, size_t len);

#endif
