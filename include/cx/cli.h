/* cli.h - subcommands that work on the database without serving. */
#ifndef CX_CLI_H
#define CX_CLI_H

/* `cxd keys create --role ingest|read|admin [--surveys a,b] [--label text] [--db PATH]`:
 * creates a key and prints its secret (once) on stdout. Returns the exit status. */
int cx_cli_keys(int argc, char **argv);

/* `cxd check [--db PATH]`: recompute the rollups from the rows and report differences;
 * exit 0 when consistent, 1 when not (or on error). */
int cx_cli_check(int argc, char **argv);
/* `cxd backup DEST [--db PATH]`: an online backup, safe while cxd serves. */
int cx_cli_backup(int argc, char **argv);

#endif
