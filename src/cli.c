/* cli.c - see include/cx/cli.h */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cx/cli.h"
#include "cx/config.h"
#include "cx/cxtime.h"
#include "cx/routes.h"
#include "cx/store.h"

static const char keys_usage[] =
	"usage: cxd keys create --role ingest|read|agent|admin [--surveys ID,ID] [--label TEXT] "
	"[--db PATH]\n"
	"       cxd keys list [--json] [--db PATH]\n"
	"       cxd keys revoke ID [--db PATH]\n";

/* Open the existing database at db for a command-line tool: never creates one. Prints
 * the reason and returns -1 when it cannot. */
static int open_existing(struct cx_store **st, const char *db)
{
	struct cx_error err;

	if (cx_store_open_flags(st, db, 1, CX_STORE_MUST_EXIST, &err) == 0)
		return 0;
	fprintf(stderr, "cxd: %s\n", err.message);
	return -1;
}

static int keys_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "role", required_argument, NULL, 'r' }, { "surveys", required_argument, NULL, 's' },
		{ "label", required_argument, NULL, 'l' }, { "db", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	const char *db = getenv("CXD_DB") ? getenv("CXD_DB") : CX_DEFAULT_DB;
	json_t *def = json_object();
	char secret[CX_KEY_SECRET_MAX + 1];
	struct cx_store *st;
	struct cx_error err;
	struct cx_key k;
	int c, rc = 2;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'r') {
			json_object_set_new(def, "role", json_string(optarg));
		} else if (c == 's') {
			json_t *list = json_array();
			char *copy = strdup(optarg), *save = NULL;

			for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
				json_array_append_new(list, json_string(t));
			free(copy);
			json_object_set_new(def, "surveys", list);
		} else if (c == 'l') {
			json_object_set_new(def, "label", json_string(optarg));
		} else if (c == 'd') {
			db = optarg;
		} else {
			fprintf(stderr, "cxd: bad option for keys create\n%s", keys_usage);
			goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cxd: unexpected argument '%s'\n%s", argv[optind], keys_usage);
		goto out;
	}
	if (open_existing(&st, db)) {
		rc = 1;
		goto out;
	}
	if (cx_keys_create_from(st, def, &k, secret, sizeof(secret), &err)) {
		fprintf(stderr, "cxd: %s\n", err.message);
		rc = err.status >= 500 ? 1 : 2;
	} else {
		printf("%s\n", secret);
		fprintf(stderr, "created %s key %s in %s; the secret above is shown only once\n",
			cx_role_name(k.role), k.id, db);
		cx_key_release(&k);
		rc = 0;
	}
	cx_store_close(st);
out:
	json_decref(def);
	return rc;
}

/* One key as a line of `cxd keys list`: id, role, surveys, created (UTC), label (its
 * control characters shown as '?', so a label cannot drive the terminal). */
static void print_key(json_t *k)
{
	json_t *surveys = json_object_get(k, "surveys");
	char *list = json_is_array(surveys) ? json_dumps(surveys, JSON_COMPACT) : NULL;
	const char *text = json_string_value(json_object_get(k, "label"));
	char created[32], label[256] = "";

	for (size_t i = 0; text && text[i] && i < sizeof(label) - 1; i++)
		label[i] = (unsigned char)text[i] < 0x20 || text[i] == 0x7f ? '?' : text[i];

	cx_time_format_rfc3339(json_integer_value(json_object_get(k, "created_at")), created,
			       sizeof(created));
	printf("%-12s  %-6s  %-20s  %-20s  %s\n", json_string_value(json_object_get(k, "id")),
	       json_string_value(json_object_get(k, "role")), list ? list : "(all)",
	       created, label);
	free(list);
}

/* `cxd keys list`: every key, never a secret (the database holds none). */
static int keys_list(int argc, char **argv, const char *db)
{
	int as_json = 0;
	struct cx_store *st;
	size_t i;
	json_t *keys, *k;

	for (int a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--json") != 0) {
			fprintf(stderr, "cxd: unexpected argument '%s'\n%s", argv[a], keys_usage);
			return 2;
		}
		as_json = 1;
	}
	if (open_existing(&st, db))
		return 1;
	keys = cx_store_key_list(st);
	cx_store_close(st);
	if (!keys) {
		fprintf(stderr, "cxd: cannot read the keys of %s\n", db);
		return 1;
	}
	if (as_json) {
		char *text = json_dumps(keys, JSON_INDENT(2));

		printf("%s\n", text ? text : "[]");
		free(text);
	} else {
		printf("%-12s  %-6s  %-20s  %-20s  %s\n", "ID", "ROLE", "SURVEYS", "CREATED",
		       "LABEL");
		json_array_foreach(keys, i, k)
			print_key(k);
	}
	json_decref(keys);
	return 0;
}

/* `cxd keys revoke ID`: delete the key from the file. It returns only once a running cxd
 * would refuse the key (store.h: CX_STORE_KEY_RECHECK_MS). */
static int keys_revoke(int argc, char **argv, const char *db)
{
	struct cx_store *st;
	struct cx_error err;
	int rc;

	if (argc != 2 || argv[1][0] == '-') {
		fputs(keys_usage, stderr);
		return 2;
	}
	if (open_existing(&st, db))
		return 1;
	rc = cx_store_key_delete(st, argv[1], &err);
	cx_store_close(st);
	if (rc == 1)   /* a running cxd re-reads the file within this: then it refuses the key */
		usleep((CX_STORE_KEY_RECHECK_MS + 10) * 1000);
	if (rc < 0) {
		fprintf(stderr, "cxd: %s\n", err.message);
		return 1;
	}
	if (rc == 0) {
		fprintf(stderr, "cxd: no key '%.40s' in %s (see cxd keys list)\n", argv[1], db);
		return 1;
	}
	fprintf(stderr, "cxd: revoked key %s in %s\n", argv[1], db);
	return 0;
}

/* Take --db PATH / --db=PATH out of argv (in place); the rest stays in order. */
static int take_db(int *argc, char **argv, const char **db)
{
	int out = 0;

	for (int i = 0; i < *argc; i++) {
		if (strcmp(argv[i], "--db") == 0) {
			if (i + 1 >= *argc)
				return -1;
			*db = argv[++i];
		} else if (strncmp(argv[i], "--db=", 5) == 0) {
			*db = argv[i] + 5;
		} else {
			argv[out++] = argv[i];
		}
	}
	*argc = out;
	return 0;
}

int cx_cli_keys(int argc, char **argv)
{
	const char *db = getenv("CXD_DB") ? getenv("CXD_DB") : CX_DEFAULT_DB;
	const char *verb = argc > 2 ? argv[2] : "";

	/* the verb is the argv[0] of what follows */
	argc -= 2;
	argv += 2;
	if (strcmp(verb, "create") == 0) {
		optind = 1;
		opterr = 0;
		return keys_create(argc, argv);
	}
	if (strcmp(verb, "list") != 0 && strcmp(verb, "revoke") != 0) {
		fputs(keys_usage, stderr);
		return 2;
	}
	if (take_db(&argc, argv, &db)) {
		fputs(keys_usage, stderr);
		return 2;
	}
	return verb[0] == 'l' ? keys_list(argc, argv, db) : keys_revoke(argc, argv, db);
}

/* --db PATH (or CXD_DB, or ./cxd.db) from argv[first..]; the one positional into *pos. */
static int db_args(int argc, char **argv, int first, const char **db, const char **pos)
{
	*db = getenv("CXD_DB") ? getenv("CXD_DB") : CX_DEFAULT_DB;
	for (int i = first; i < argc; i++) {
		if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
			*db = argv[++i];
		else if (strncmp(argv[i], "--db=", 5) == 0)
			*db = argv[i] + 5;
		else if (pos && !*pos && argv[i][0] != '-')
			*pos = argv[i];
		else
			return -1;
	}
	return 0;
}

int cx_cli_check(int argc, char **argv)
{
	const char *db;
	struct cx_store *st;
	struct cx_error err;
	json_t *report = NULL;
	long diff;
	char *text;

	if (db_args(argc, argv, 2, &db, NULL)) {
		fputs("usage: cxd check [--db PATH]\n", stderr);
		return 2;
	}
	if (open_existing(&st, db))
		return 1;
	diff = cx_store_check(st, &report, &err);
	text = json_dumps(report, JSON_INDENT(2) | JSON_SORT_KEYS);
	printf("%s\n", text ? text : "{}");
	free(text);
	json_decref(report);
	cx_store_close(st);
	if (diff < 0) {
		fprintf(stderr, "cxd: %s\n", err.message);
		return 1;
	}
	if (diff)
		fprintf(stderr, "cxd check: %ld rollup rows differ from the responses\n", diff);
	else
		fprintf(stderr, "cxd check: rollups agree with the responses\n");
	return diff ? 1 : 0;
}

int cx_cli_backup(int argc, char **argv)
{
	const char *db, *dest = NULL;
	struct cx_store *st;
	struct cx_error err;
	int rc;

	if (db_args(argc, argv, 2, &db, &dest) || !dest) {
		fputs("usage: cxd backup DEST [--db PATH]\n", stderr);
		return 2;
	}
	if (open_existing(&st, db))
		return 1;
	rc = cx_store_backup(st, dest, &err);
	cx_store_close(st);
	if (rc) {
		fprintf(stderr, "cxd: %s\n", err.message);
		return 1;
	}
	fprintf(stderr, "cxd: backed up %s to %s\n", db, dest);
	return 0;
}
