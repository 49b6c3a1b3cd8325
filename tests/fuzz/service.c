/* service.c - see service.h */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cx/cxtime.h"
#include "cx/demo.h"
#include "cx/routes.h"
#include "service.h"

static struct fuzz_service g;
static int started;

static void admin_key(void)
{
	json_t *def = json_pack("{s:s}", "role", "admin");
	char secret[CX_KEY_SECRET_MAX + 1];
	struct cx_error err;
	struct cx_key k;

	if (cx_keys_create_from(g.app.store, def, &k, secret, sizeof(secret), &err))
		abort();
	json_decref(def);
	snprintf(g.bearer, sizeof(g.bearer), "Bearer %s", secret);
	snprintf(g.key_id, sizeof(g.key_id), "%s", k.id);
	cx_key_release(&k);
}

void fuzz_service_keep_admin_key(void)
{
	struct cx_key k;

	if (cx_store_key_get(g.app.store, g.key_id, &k) == 0)
		cx_key_release(&k);
	else
		admin_key();
}

static void stop(void)
{
	char path[128];

	cx_writer_stop(g.app.writer);
	cx_store_close(g.app.store);
	cx_ratelimit_free(g.app.per_ip);
	cx_ratelimit_free(g.app.per_key);
	for (const char *const *s = (const char *const[]){ "", "-wal", "-shm", "-journal", NULL };
	     *s; s++) {
		snprintf(path, sizeof(path), "%s%s", g.db, *s);
		unlink(path);
	}
	rmdir(g.dir);
}

struct fuzz_service *fuzz_service(void)
{
	const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	struct cx_error err;

	if (started)
		return &g;
	cx_config_defaults(&g.app.cfg);
	snprintf(g.dir, sizeof(g.dir), "%s/cxd-fuzz-XXXXXX", tmp);
	if (!mkdtemp(g.dir))
		abort();
	snprintf(g.db, sizeof(g.db), "%s/fuzz.db", g.dir);
	if (cx_store_open(&g.app.store, g.db, 4, &err) ||
	    cx_demo_fill(g.app.store, 2000, 30, 1, &err)) {
		fprintf(stderr, "fuzz: %s\n", err.message);
		abort();
	}
	admin_key();
	if (cx_writer_start(&g.app.writer, g.app.store, g.app.cfg.queue_limit))
		abort();
	g.app.per_ip = cx_ratelimit_new(0, 0, 1000);
	g.app.per_key = cx_ratelimit_new(0, 0, 1000);
	g.app.started_at = cx_time_now();
	started = 1;
	atexit(stop);
	return &g;
}
