/* store_keys.h - private to the store: the API-key part of the SQLite store
 * (src/store_keys.c), which keeps its own connections to the store's file. Callers use the
 * cx_store_key_* functions of include/cx/store.h, never this header.
 */
#ifndef CX_STORE_KEYS_H
#define CX_STORE_KEYS_H

#include "cx/error.h"

struct cx_store;
struct cx_keystore;

struct cx_busy;

/* Open the key connections on the (already created and migrated) database at path; the
 * writing one waits for the write lock on busy (src/store_busy.c; not NULL). */
int cx_keystore_open(struct cx_keystore **out, const char *path, struct cx_busy *busy,
		     struct cx_error *err);
/* Close them; no key call may be in flight. NULL is fine. */
void cx_keystore_close(struct cx_keystore *ks);
/* The key part of an open store (src/store.c). */
struct cx_keystore *cx_store_keystore(struct cx_store *st);

#endif
