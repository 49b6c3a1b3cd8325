/* cli.c - see include/cx/cli.h */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cx/cli.h"
#include "cx/config.h"
#include "cx/routes.h"
#include "cx/store.h"

static const char keys_usage[] =
	"usage: cxd keys create --role ingest|read|admin [--surveys ID,ID] [--label TEXT] "
	"[--db PATH]\n";

int cx_cli_keys(int argc, char **argv)
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

	if (argc < 3 || strcmp(argv[2], "create") != 0) {
		fputs(keys_usage, stderr);
		goto out;
	}
	optind = 3;
	opterr = 0;
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
	if (cx_store_open(&st, db, 1, &err)) {
		fprintf(stderr, "cxd: %s\n", err.message);
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
	if (cx_store_open(&st, db, 1, &err)) {
		fprintf(stderr, "cxd: %s\n", err.message);
		return 1;
	}
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
	if (cx_store_open(&st, db, 1, &err)) {
		fprintf(stderr, "cxd: %s\n", err.message);
		return 1;
	}
	rc = cx_store_backup(st, dest, &err);
	cx_store_close(st);
	if (rc) {
		fprintf(stderr, "cxd: %s\n", err.message);
		return 1;
	}
	fprintf(stderr, "cxd: backed up %s to %s\n", db, dest);
	return 0;
}
