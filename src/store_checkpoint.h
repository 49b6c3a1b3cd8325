/* store_checkpoint.h - WAL checkpoints on a thread of their own (private to the store).
 *
 * SQLite checkpoints from inside a commit once the WAL passes 1000 frames: the request
 * whose commit crossed the line waits for a few hundred page copies and an fsync of the
 * database file (the p99 of a single client). The store's WAL hook kicks this thread
 * instead; it runs a PASSIVE checkpoint on its own connection, beside the writer. Should
 * it fall far behind (CX_CKPT_INLINE_FRAMES), the hook checkpoints inline again, so the
 * WAL stays bounded. cx_ckpt_lock() keeps it out while the erasure scrub truncates the WAL.
 */
#ifndef CX_STORE_CHECKPOINT_H
#define CX_STORE_CHECKPOINT_H

#include "cx/error.h"

struct cx_store;
struct cx_ckpt;

#define CX_CKPT_FRAMES 1000          /* SQLite's own threshold */
#define CX_CKPT_INLINE_FRAMES 20000  /* about 80 MB of WAL: the committer does it itself */

int cx_ckpt_start(struct cx_ckpt **out, struct cx_store *st, struct cx_error *err);
/* From the WAL hook (any writing connection), the WAL holding `frames` frames. */
void cx_ckpt_kick(struct cx_ckpt *c);
void cx_ckpt_lock(struct cx_ckpt *c);
void cx_ckpt_unlock(struct cx_ckpt *c);
/* Stop the thread and close its connection (closing the writer's connection last
 * checkpoints what is left); NULL is fine. */
void cx_ckpt_stop(struct cx_ckpt *c);

#endif
