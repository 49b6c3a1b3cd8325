/* store_fixture.h - the temporary database directory the store's Check suites share:
 *
 *     CX_STORE_FIXTURE("/tmp/cx-rollups-test")
 *
 * defines `dir` (made by setup, removed by teardown and its template restored, so the
 * next test gets a fresh one whether or not Check forks) and `path` (dir/t.db), and the
 * setup and teardown to give CX_CHECK_MAIN. */
#ifndef CX_STORE_FIXTURE_H
#define CX_STORE_FIXTURE_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CX_STORE_FIXTURE(prefix)                                                       \
	static char dir[] = prefix "-XXXXXX";                                          \
	static char path[256];                                                         \
	static void setup(void)                                                        \
	{                                                                              \
		ck_assert_ptr_nonnull(mkdtemp(dir));                                   \
		snprintf(path, sizeof(path), "%s/t.db", dir);                          \
	}                                                                              \
	static void teardown(void)                                                     \
	{                                                                              \
		char cmd[300];                                                         \
                                                                                       \
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);                        \
		ck_assert_int_eq(system(cmd), 0);                                      \
		memcpy(dir, prefix "-XXXXXX", sizeof(dir));                            \
	}

#endif
