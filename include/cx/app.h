/* app.h - what every handler can reach: the configuration, the store and the writer. */
#ifndef CX_APP_H
#define CX_APP_H

#include "cx/config.h"
#include "cx/ratelimit.h"
#include "cx/store.h"
#include "cx/writer.h"

struct cx_app {
	struct cx_config cfg;
	struct cx_store *store;
	struct cx_writer *writer;
	struct cx_cache *cache;   /* answers to repeated reads, or NULL (cache.h) */
	struct cx_ratelimit *per_ip, *per_key;
	int64_t started_at;
};

#endif
