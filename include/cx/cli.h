/* cli.h - subcommands that work on the database without serving. */
#ifndef CX_CLI_H
#define CX_CLI_H

/* `cxd keys create --role ingest|read|admin [--surveys a,b] [--label text] [--db PATH]`:
 * creates a key and prints its secret (once) on stdout. Returns the exit status. */
int cx_cli_keys(int argc, char **argv);

#endif
