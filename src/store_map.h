/* store_map.h - the journey map's persistence, for the store's own files only (like git's
 * refs-internal.h: nothing outside src/store*.c includes this). The public side of the
 * map is in include/cx/store.h ("journey map" block) and include/cx/survey.h.
 *
 * Every function works on the connection it is given, inside the caller's transaction;
 * errors come back as struct cx_error in the store's words (503 storage, 409/422 refusals).
 */
#ifndef CX_STORE_MAP_H
#define CX_STORE_MAP_H

#include <sqlite3.h>

#include "cx/error.h"
#include "cx/survey.h"
#include "cx/validate.h"

/* Read s's map (open_touchpoints, channels, segments and its touchpoints, declared first,
 * then learned, each in position order) into s, replacing what s held. */
int cx_store_map_load(sqlite3 *db, struct cx_survey *s, struct cx_error *err);

/* Before replacing survey s->id with s: refuse with 409 `stage_in_use` (a listed stage
 * would go that holds responses) or `touchpoint_in_use` (a declared touchpoint that holds
 * responses is no longer declared), the message naming them. 0 = fine. */
int cx_store_map_check(sqlite3 *db, const struct cx_survey *s, struct cx_error *err);

/* Write s's map after its survey row: the open flag, channels, segments and the declared
 * touchpoints. Learned touchpoints stay (they name stored responses). */
int cx_store_map_save(sqlite3 *db, const struct cx_survey *s, struct cx_error *err);

/* Writer, in the transaction that stores r: is r still valid under the definition in the
 * file (a PUT may have replaced the one r was validated against)? 1 = its stage and
 * touchpoint are in the map; 0 = its touchpoint is new, r->learn is set, the survey is
 * open and there is room (call cx_store_map_learn once the response is in); -1 with err:
 * 422 `invalid_stage` / `unknown_touchpoint` (the definition changed), `too_many_touchpoints`
 * at the cap, 503 on storage failure. *cached holds the prepared statement (the caller
 * finalizes it). */
int cx_store_map_admit(sqlite3 *db, sqlite3_stmt **cached, const struct cx_response *r,
		       struct cx_error *err);
int cx_store_map_learn(sqlite3 *db, const struct cx_response *r, struct cx_error *err);

#endif
