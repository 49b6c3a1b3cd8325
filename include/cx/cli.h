/* cli.h - subcommands that work on the database without serving.
 *
 * None of them creates a database: a --db (or CXD_DB) naming no file is refused with exit
 * status 1 and a message naming the path. Only the server (and `cxd demo`) creates one.
 * Exit status: 0 done, 1 failed (no database, no such key, storage error), 2 bad usage. */
#ifndef CX_CLI_H
#define CX_CLI_H

/* `cxd keys create --role ingest|read|admin [--surveys a,b] [--label text] [--db PATH]`:
 * creates a key and prints its secret (once) on stdout.
 * `cxd keys list [--json] [--db PATH]`: id, role, surveys, created, label of every key
 * (never a secret: only hashes are stored).
 * `cxd keys revoke ID [--db PATH]`: delete the key; exit 1 when there is no such key. Safe
 * while cxd serves: the server refuses the key from the next request on.
 * Returns the exit status. */
int cx_cli_keys(int argc, char **argv);

/* `cxd check [--db PATH]`: recompute the rollups from the rows and report differences;
 * exit 0 when consistent, 1 when not (or on error). */
int cx_cli_check(int argc, char **argv);
/* `cxd backup DEST [--db PATH]`: an online backup, safe while cxd serves. */
int cx_cli_backup(int argc, char **argv);

#endif
