/* endpoint.c - see include/cx/endpoint.h */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <curl/curl.h>

#include "cx/endpoint.h"
#include "cx/survey.h"
#include "cx/webhook_sign.h"

static const char *const known_events[] = {
	"response.created", "response.matched_rule", "case.opened", "case.closed",
	"journey.score_dropped", "journey.pain_point_found", "webhook.test",
	"invitation.created",
};

int cx_endpoint_event_known(const char *type)
{
	for (size_t i = 0; i < sizeof(known_events) / sizeof(known_events[0]); i++)
		if (type && strcmp(type, known_events[i]) == 0)
			return 1;
	return 0;
}

/* a (host order) inside net/bits? */
static int in4(uint32_t a, uint32_t net, int bits)
{
	uint32_t mask = bits ? ~0u << (32 - bits) : 0;

	return (a & mask) == (net & mask);
}

static int v4_forbidden(uint32_t a)
{
	return in4(a, 0x00000000, 8) ||    /* "this network", 0.0.0.0 */
	       in4(a, 0x0a000000, 8) ||    /* 10/8 */
	       in4(a, 0x64400000, 10) ||   /* 100.64/10 shared (CGNAT) */
	       in4(a, 0x7f000000, 8) ||    /* loopback */
	       in4(a, 0xa9fe0000, 16) ||   /* link-local */
	       in4(a, 0xac100000, 12) ||   /* 172.16/12 */
	       in4(a, 0xc0a80000, 16) ||   /* 192.168/16 */
	       in4(a, 0xe0000000, 4) ||    /* multicast */
	       in4(a, 0xf0000000, 4);      /* reserved, broadcast */
}

static uint32_t v4_at(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int v6_forbidden(const unsigned char *b)
{
	static const unsigned char zero[16];
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const unsigned char nat64[12] = { 0, 0x64, 0xff, 0x9b };
	static const unsigned char nat64_local[6] = { 0, 0x64, 0xff, 0x9b, 0, 1 };

	if (memcmp(b, zero, 16) == 0)
		return 1;                                   /* :: */
	if (memcmp(b, zero, 15) == 0 && b[15] == 1)
		return 1;                                   /* ::1 */
	if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0 ||
	    memcmp(b, zero, 12) == 0)                   /* ::ffff:v4, 64:ff9b::v4, ::v4 */
		return v4_forbidden(v4_at(b + 12));
	if (memcmp(b, nat64_local, 6) == 0)
		return 1;                                   /* 64:ff9b:1::/48, local-use NAT64 */
	if (b[0] == 0x20 && b[1] == 0x02)              /* 2002:v4::/48, 6to4 */
		return v4_forbidden(v4_at(b + 2));
	return (b[0] & 0xfe) == 0xfc ||                     /* fc00::/7 unique-local */
	       (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) ||  /* fe80::/10 link-local */
	       (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) ||  /* fec0::/10 site-local */
	       b[0] == 0xff;                                /* multicast */
}

int cx_endpoint_addr_forbidden(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return v4_forbidden(ntohl(((const struct sockaddr_in *)(const void *)sa)
					  ->sin_addr.s_addr));
	if (sa->sa_family == AF_INET6)
		return v6_forbidden(((const struct sockaddr_in6 *)(const void *)sa)
				    ->sin6_addr.s6_addr);
	return 1;
}

/* Every address host resolves to must be allowed. */
static int check_host(const char *host, int allow_private, struct cx_error *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res, *a;
	int rc = getaddrinfo(host, NULL, &hints, &res);

	if (rc != 0)
		return cx_error_set(err, 422, "endpoint_unresolvable", "url", "cannot resolve "
				    "'%.100s': %s", host, gai_strerror(rc));
	for (a = res; a && !allow_private; a = a->ai_next)
		if (cx_endpoint_addr_forbidden(a->ai_addr)) {
			char ip[INET6_ADDRSTRLEN] = "?";

			getnameinfo(a->ai_addr, a->ai_addrlen, ip, sizeof(ip), NULL, 0,
				    NI_NUMERICHOST);
			freeaddrinfo(res);
			return cx_error_set(err, 422, "endpoint_private", "url", "'%.100s' resolves "
					    "to %s, a loopback, private, link-local or multicast "
					    "address (allowed only with --webhook-allow-private)",
					    host, ip);
		}
	freeaddrinfo(res);
	return 0;
}

int cx_endpoint_check_url(const char *url, int allow_http, int allow_private,
			  struct cx_error *err)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *user = NULL, *pass = NULL, *host = NULL;
	int rc = -1;

	if (!u)
		return cx_error_set(err, 503, "internal", NULL, "out of memory");
	if (strlen(url) > CX_ENDPOINT_URL_MAX ||
	    curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0]) {
		cx_error_set(err, 422, "invalid_url", "url", "url must be an absolute https:// URL "
			     "of at most %d bytes", CX_ENDPOINT_URL_MAX);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK) {
		cx_error_set(err, 422, "invalid_url", "url", "url may not hold a user name or "
			     "password: receivers authenticate cxd by the signature");
		goto out;
	}
	if (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0) {
		cx_error_set(err, 422, "invalid_url", "url", "url must be https://");
		goto out;
	}
	if (strcmp(scheme, "http") == 0 && !allow_http) {
		cx_error_set(err, 422, "endpoint_insecure", "url", "url must be https:// (plain "
			     "http only with --webhook-allow-http)");
		goto out;
	}
	{
		/* "[::1]" -> "::1" (a zone id "%eth0" is dropped: link-local is refused anyway) */
		char *h = host;
		size_t n;

		if (h[0] == '[') {
			h++;
			n = strcspn(h, "]%");
			h[n] = '\0';
		}
		rc = check_host(h, allow_private, err);
	}
out:
	curl_free(scheme);
	curl_free(user);
	curl_free(pass);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

static int string_list(const json_t *v, const char *field, size_t max, int events,
		       struct cx_error *err)
{
	size_t i;
	json_t *x;

	if (!json_is_array(v) || json_array_size(v) > max)
		goto bad;
	json_array_foreach(v, i, x) {
		const char *s = json_string_value(x);

		if (!s || (events ? !cx_endpoint_event_known(s) : !cx_survey_valid_id(s)))
			goto bad;
		for (size_t j = 0; j < i; j++)   /* each at most once */
			if (strcmp(s, json_string_value(json_array_get(v, j))) == 0)
				goto bad;
	}
	return 0;
bad:
	if (events)
		return cx_error_set(err, 422, "invalid_events", field, "events must be a list of "
				    "distinct event types: response.created, response.matched_rule, "
				    "case.opened, case.closed, journey.score_dropped, "
				    "journey.pain_point_found, webhook.test");
	return cx_error_set(err, 422, "invalid_surveys", field, "surveys must be null (every "
			    "survey) or a list of at most %zu distinct survey ids", max);
}

static int has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

int cx_endpoint_from_json(const json_t *body, const char *path_id, int allow_http,
			  int allow_private, json_t **out, char *secret, struct cx_error *err)
{
	const char *key, *id, *url;
	json_t *v, *desc, *events, *surveys, *sec;

	*out = NULL;
	if (!json_is_object(body))
		return cx_error_set(err, 422, "invalid_endpoint", NULL, "an endpoint is a JSON "
				    "object");
	json_object_foreach((json_t *)body, key, v)
		if (strcmp(key, "id") && strcmp(key, "url") && strcmp(key, "description") &&
		    strcmp(key, "events") && strcmp(key, "surveys") &&
		    (path_id || strcmp(key, "secret")))
			return cx_error_set(err, 422, "unknown_field", key, "unknown field '%.60s'%s",
					    key, strcmp(key, "secret") ? "" : " (rotate the secret "
					    "with POST /v1/endpoints/ID/rotate)");
	v = json_object_get(body, "id");
	id = v ? json_string_value(v) : path_id;
	if (!id || !cx_survey_valid_id(id) || (path_id && strcmp(id, path_id)))
		return cx_error_set(err, 422, "invalid_id", "id", path_id ? "id must be the "
				    "endpoint's id in the path" : "id must be 1-64 of "
				    "[A-Za-z0-9._-]");
	url = json_string_value(json_object_get(body, "url"));
	if (!url)
		return cx_error_set(err, 422, "invalid_url", "url", "url is required: https://...");
	if (cx_endpoint_check_url(url, allow_http, allow_private, err))
		return -1;
	desc = json_object_get(body, "description");
	if (desc && !json_is_null(desc) &&
	    (!json_is_string(desc) || json_string_length(desc) > CX_ENDPOINT_DESC_MAX ||
	     has_control(json_string_value(desc))))
		return cx_error_set(err, 422, "invalid_description", "description", "description "
				    "must be a string of at most %d bytes without control characters",
				    CX_ENDPOINT_DESC_MAX);
	events = json_object_get(body, "events");
	if (events && string_list(events, "events", 16, 1, err))
		return -1;
	surveys = json_object_get(body, "surveys");
	if (surveys && json_is_null(surveys))
		surveys = NULL;
	if (surveys && string_list(surveys, "surveys", CX_ENDPOINT_SURVEYS_MAX, 0, err))
		return -1;
	if (!path_id) {
		sec = json_object_get(body, "secret");
		if (sec) {
			struct cx_whsig_key k;
			const char *s = json_string_value(sec);

			if (!s || strlen(s) >= CX_WHSIG_SECRET_SIZE)
				return cx_error_set(err, 422, "invalid_webhook_secret", "secret",
						    "secret must be whsec_ and the base64 of 24-64 "
						    "bytes");
			if (cx_whsig_secret_parse(s, &k, err))
				return -1;
			cx_whsig_key_wipe(&k);
			snprintf(secret, CX_WHSIG_SECRET_SIZE, "%s", s);
		} else if (cx_whsig_secret_generate(secret, CX_WHSIG_SECRET_SIZE, err)) {
			return -1;
		}
	}
	*out = json_pack("{s:s, s:s, s:O?, s:o, s:O?}", "id", id, "url", url, "description",
			 desc && !json_is_null(desc) ? desc : NULL, "events",
			 events ? json_incref(events) : json_array(), "surveys", surveys);
	if (!*out)
		return cx_error_set(err, 503, "internal", NULL, "out of memory");
	return 0;
}
