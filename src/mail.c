/* mail.c - invitation mail through SMTP with libcurl; see include/cx/mail.h. STUB: H5. */
#include <stdlib.h>
#include <string.h>

#include "cx/mail.h"
#include "cx/survey.h"

int cx_mail_address_valid(const char *s)
{
	return s && strchr(s, '@') && strlen(s) <= CX_MAIL_ADDRESS_MAX;
}

int cx_mail_render(const struct cx_survey *s, const struct cx_link_claims *c,
		   const char *url, char **subject, char **text, char **html)
{
	(void)s, (void)c;
	*subject = strdup("Your feedback");
	*text = strdup(url);
	*html = NULL;
	return *subject && *text ? 0 : -1;
}

int cx_mail_start(struct cx_mail **out, struct cx_store *st, const struct cx_config *cfg,
		  struct cx_error *err)
{
	(void)st, (void)cfg, (void)err;
	*out = NULL;
	return 0;
}

void cx_mail_stop(struct cx_mail *m)
{
	(void)m;
}
