/* form_page.h - what a browser's form post sees when it fails (src/form_page.c).
 *
 * A respondent who submits an HTML form (application/x-www-form-urlencoded, without
 * Accept: application/json) gets a small accessible page instead of a JSON error: the
 * same status, lang and title, a heading that says what went wrong, each problem in words
 * with its field, and a link back to the form (the Referer, or the public survey's site).
 * Everything that came from the request is HTML-escaped. API clients keep JSON.
 */
#ifndef CX_FORM_PAGE_H
#define CX_FORM_PAGE_H

#include "cx/error.h"
#include "cx/http.h"

/* Set req's reply to the error page for err (the struct cx_req error_page hook). */
void cx_form_error_page(struct cx_req *req, const struct cx_error *err);

#endif
