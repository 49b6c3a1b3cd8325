/* service.h - the cxd a fuzz target talks to: a real store in a temporary directory (demo
 * data, an admin key) and the real writer thread, started on first use and torn down at
 * exit. Shared by tests/fuzz/fuzz_request.c and fuzz_http.c. */
#ifndef CX_FUZZ_SERVICE_H
#define CX_FUZZ_SERVICE_H

#include "cx/app.h"
#include "cx/auth.h"

struct fuzz_service {
	struct cx_app app;
	char dir[64], db[96];
	char bearer[CX_KEY_SECRET_MAX + 16];   /* "Bearer cxd_..." of the admin key */
	char key_id[CX_KEY_ID_LEN + 1];
};

/* The service, started on the first call. */
struct fuzz_service *fuzz_service(void);
/* An input may have deleted the admin key: make a new one, so later inputs are not all
 * 401s. */
void fuzz_service_keep_admin_key(void);

#endif
