/* check_main.h - the main() every Check suite shares:
 *
 *     CX_CHECK_MAIN("score", NULL, NULL, nps_basic, csat_basic, ...)
 *
 * runs the named tests in one case (around a checked fixture when setup or teardown is
 * given; the timeout is CK_DEFAULT_TIMEOUT from tests/meson.build) and exits 1 if any
 * failed. */
#ifndef CX_CHECK_MAIN_H
#define CX_CHECK_MAIN_H

#include <check.h>
#include <stddef.h>

static inline int cx_check_run(const char *name, SFun setup, SFun teardown,
			       const TTest *const *tests, size_t n)
{
	Suite *s = suite_create(name);
	TCase *tc = tcase_create(name);
	SRunner *sr;
	int failed;

	if (setup || teardown)
		tcase_add_checked_fixture(tc, setup, teardown);
	for (size_t i = 0; i < n; i++)
		tcase_add_test(tc, tests[i]);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

#define CX_CHECK_MAIN(name, setup, teardown, ...)                                         \
	int main(void)                                                                     \
	{                                                                                  \
		const TTest *tests[] = { __VA_ARGS__ };                                    \
		return cx_check_run(name, setup, teardown, tests,                          \
				    sizeof(tests) / sizeof(tests[0]));                     \
	}

#endif
