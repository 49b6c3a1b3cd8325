/* store_mail.c - the mail outbox (schema 014); see include/cx/mail.h and
 * src/store_invite.h. STUB: H5 writes it. */
#include "store_invite.h"

int cx_mailstore_queue(struct cx_store *st, sqlite3 *db, const struct cx_mail_msg *m,
		       struct cx_error *err)
{
	(void)st, (void)db, (void)m;
	return cx_error_set(err, 501, "not_implemented", NULL, "mail is not implemented yet");
}

int cx_mailstore_erase_customer(struct cx_store *st, const char *customer,
				struct cx_error *err)
{
	(void)st, (void)customer, (void)err;
	return 0;
}
