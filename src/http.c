/*-------------------------------------------------------------------------
 * http.c
 *		Concurrent HTTP calls with libcurl's multi interface.
 *
 * The caller starts requests and collects them one by one as they finish.
 * Waiting happens in short slices with CHECK_FOR_INTERRUPTS() between them,
 * so a query cancel or a worker's SIGTERM ends a stuck transfer; a caller
 * that is thrown out of hs_http_wait() must call hs_http_abort_all() (from
 * PG_CATCH) so that no easy handle outlives the error.
 *
 * The access token only ever goes into the Authorization header, which
 * libcurl neither logs nor puts into its error text.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/memutils.h"

#include "http.h"

#define HS_MAX_IN_FLIGHT		1024
#define HS_MAX_RESPONSE			(1024L * 1024 * 1024)
#define HS_POLL_SLICE_MS		50

typedef struct HsActive
{
	HsHttpRequest *req;
	MemoryContext cxt;			/* where the response buffer lives */
	instr_time	start;
} HsActive;

static CURLM *multi = NULL;
static HsActive active[HS_MAX_IN_FLIGHT];
static int	n_active = 0;

static void
ensure_multi(void)
{
	if (multi != NULL)
		return;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
		(multi = curl_multi_init()) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not initialize libcurl")));
	/* keep enough idle connections for every server's concurrency */
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, 64L);
}

const char *
hs_http_version(void)
{
	return curl_version();
}

static HsActive *
find_active(CURL *easy)
{
	int			i;

	for (i = 0; i < n_active; i++)
		if (active[i].req->easy == easy)
			return &active[i];
	return NULL;
}

static void
forget_active(HsActive *a)
{
	HsHttpRequest *req = a->req;

	curl_multi_remove_handle(multi, req->easy);
	curl_easy_cleanup(req->easy);
	curl_slist_free_all(req->headers);
	req->easy = NULL;
	req->headers = NULL;
	*a = active[--n_active];
}

/*
 * Runs inside libcurl: must not ereport.  Allocation failure or an absurd
 * answer ends the transfer (returning a short count makes libcurl fail it).
 */
static size_t
write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	HsActive   *a = find_active((CURL *) userp);
	HsHttpRequest *req;
	size_t		n = size * nmemb;

	if (a == NULL)
		return 0;
	req = a->req;
	if (req->response_len + n + 1 > req->response_cap)
	{
		size_t		cap = Max(req->response_cap * 2, 8192);
		char	   *buf;

		while (cap < req->response_len + n + 1)
			cap *= 2;
		cap = Min(cap, req->max_response + 1);
		if (req->response_len + n > req->max_response)
		{
			req->overflow = true;
			return 0;
		}
		buf = MemoryContextAllocExtended(a->cxt, cap,
										 MCXT_ALLOC_NO_OOM | MCXT_ALLOC_HUGE);
		if (buf == NULL)
			return 0;
		if (req->response_len > 0)
			memcpy(buf, req->response, req->response_len);
		if (req->response)
			pfree(req->response);
		req->response = buf;
		req->response_cap = cap;
	}
	memcpy(req->response + req->response_len, data, n);
	req->response_len += n;
	req->response[req->response_len] = '\0';
	return n;
}

static bool
header_is(const char *line, size_t len, const char *name, const char **value)
{
	size_t		nl = strlen(name);

	if (len <= nl || pg_strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return false;
	*value = line + nl + 1;
	return true;
}

/*
 * A header's number, or -1 when it is missing, not a number, or outside
 * [lo, hi]: one absurd answer must not freeze a server (a window of
 * 2147483647 ms, a negative wait), so nonsense is ignored and flagged.
 */
static long
header_number(const char *v, long lo, long hi, HsRateHeaders *rate)
{
	char	   *end;
	long		n;

	while (*v == ' ' || *v == '\t')
		v++;
	errno = 0;
	n = strtol(v, &end, 10);
	while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
		end++;
	if (errno != 0 || end == v || *end != '\0' || n < lo || n > hi)
	{
		rate->nonsense = true;
		return -1;
	}
	return n;
}

/* Retry-After: delay-seconds or an HTTP-date (RFC 9110). */
static long
retry_after_ms(const char *v, HsRateHeaders *rate)
{
	char		buf[128];
	size_t		len;
	time_t		when;
	long		s;

	while (*v == ' ' || *v == '\t')
		v++;
	strlcpy(buf, v, sizeof(buf));
	len = strlen(buf);
	while (len > 0 && (buf[len - 1] == '\r' || buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	if (len > 0 && buf[0] >= '0' && buf[0] <= '9')
	{
		s = header_number(buf, 0, HS_MAX_RETRY_AFTER_S, rate);
		return s < 0 ? -1 : s * 1000L;
	}
	when = curl_getdate(buf, NULL);
	if (when == -1)
	{
		rate->nonsense = true;
		return -1;
	}
	s = (long) (when - time(NULL));
	return Min(Max(s, 0), HS_MAX_RETRY_AFTER_S) * 1000L;
}

static size_t
header_cb(char *line, size_t size, size_t nmemb, void *userp)
{
	HsHttpRequest *req = (HsHttpRequest *) userp;
	size_t		len = size * nmemb;
	char		buf[256];
	const char *v;
	HsRateHeaders *r = &req->rate;

	/* a new header block (after a 100) starts afresh */
	if (len > 5 && strncmp(line, "HTTP/", 5) == 0)
	{
		memset(r, -1, sizeof(*r));
		r->nonsense = false;
		return len;
	}
	/* header lines are not NUL-terminated; long ones are none of ours */
	if (len >= sizeof(buf))
		return len;
	memcpy(buf, line, len);
	buf[len] = '\0';
	/* HubSpot grants apps 100 to a few hundred calls a window; fewer than 10 is no real figure */
	if (header_is(buf, len, "X-HubSpot-RateLimit-Max", &v))
		r->max = (int) header_number(v, 10, 100000, r);
	else if (header_is(buf, len, "X-HubSpot-RateLimit-Remaining", &v))
		r->remaining = (int) header_number(v, 0, 100000, r);
	else if (header_is(buf, len, "X-HubSpot-RateLimit-Interval-Milliseconds", &v))
		r->interval_ms = (int) header_number(v, 100, 60000, r);
	else if (header_is(buf, len, "X-HubSpot-RateLimit-Daily", &v))
		r->daily = header_number(v, 1, 1000000000L, r);
	else if (header_is(buf, len, "X-HubSpot-RateLimit-Daily-Remaining", &v))
		r->daily_remaining = header_number(v, 0, 1000000000L, r);
	else if (header_is(buf, len, "Retry-After", &v))
		r->retry_after_ms = retry_after_ms(v, r);
	return len;
}

static struct curl_slist *
build_headers(HsHttpRequest *req)
{
	struct curl_slist *h = NULL;
	char	   *auth;

	if (req->body)
		h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Accept: application/json");
	h = curl_slist_append(h, "Expect:");
	auth = psprintf("Authorization: Bearer %s", req->token ? req->token : "");
	h = curl_slist_append(h, auth);
	/* do not leave the token lying around in freed memory longer than needed */
	memset(auth, 0, strlen(auth));
	pfree(auth);
	if (h == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	return h;
}

void
hs_http_start(HsHttpRequest *req)
{
	CURL	   *easy;
	HsActive   *a;

	ensure_multi();
	if (n_active >= HS_MAX_IN_FLIGHT)
		elog(ERROR, "too many HTTP calls in flight");
	easy = curl_easy_init();
	if (easy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));

	req->status = 0;
	req->transport_error = 0;
	req->error[0] = '\0';
	req->response = NULL;
	req->response_len = 0;
	req->response_cap = 0;
	req->overflow = false;
	req->maybe_sent = false;
	if (req->max_response == 0 || req->max_response > HS_MAX_RESPONSE)
		req->max_response = HS_MAX_RESPONSE;
	memset(&req->rate, -1, sizeof(req->rate));
	req->rate.nonsense = false;
	req->easy = easy;
	req->headers = NULL;

	a = &active[n_active++];
	a->req = req;
	a->cxt = CurrentMemoryContext;
	INSTR_TIME_SET_CURRENT(a->start);

	req->headers = build_headers(req);
	curl_easy_setopt(easy, CURLOPT_URL, req->url);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (req->ca_file)
		curl_easy_setopt(easy, CURLOPT_CAINFO, req->ca_file);
	/* an answer is HubSpot's or nobody's: a redirect is never followed */
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);

	/*
	 * libcurl sends a request again by itself when a reused connection dies
	 * before an answer: harmless for idempotent calls, a duplicate record for
	 * a create.  A call that must go at most once takes a fresh connection,
	 * where libcurl never retries.
	 */
	if (req->at_most_once)
		curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, req->timeout_ms);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, Min(req->timeout_ms, 10000L));
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "hubspot_fdw/0.2");
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, (struct curl_slist *) req->headers);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, (void *) easy);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, (void *) req);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, req->error);
	if (req->body)
	{
		curl_easy_setopt(easy, CURLOPT_POST, 1L);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
	}
	else if (strcmp(req->method, "GET") != 0)
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req->method);

	if (curl_multi_add_handle(multi, easy) != CURLM_OK)
	{
		forget_active(&active[n_active - 1]);
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not start an HTTP call")));
	}
}

/*
 * Whether the server may have received the request: only a call that
 * failed before a byte of it went out is known not to have happened.
 * A create must never be re-sent when it may have been applied.
 */
static bool
request_maybe_sent(CURL *easy, CURLcode result)
{
	long		sent = 0;

	switch (result)
	{
		case CURLE_COULDNT_RESOLVE_PROXY:
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_CONNECT:
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
			return false;
		default:
			break;
	}
	if (curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &sent) == CURLE_OK && sent == 0)
		return false;
	return true;
}

static HsHttpRequest *
collect_done(void)
{
	CURLMsg    *msg;
	int			left;

	while ((msg = curl_multi_info_read(multi, &left)) != NULL)
	{
		HsActive   *a;
		HsHttpRequest *req;
		instr_time	now;

		if (msg->msg != CURLMSG_DONE)
			continue;
		a = find_active(msg->easy_handle);
		if (a == NULL)
			continue;
		req = a->req;
		INSTR_TIME_SET_CURRENT(now);
		INSTR_TIME_SUBTRACT(now, a->start);
		req->elapsed_ms = INSTR_TIME_GET_MILLISEC(now);
		if (msg->data.result == CURLE_OK)
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &req->status);
		else
		{
			req->status = 0;
			req->transport_error = (int) msg->data.result;
			if (req->overflow)
				snprintf(req->error, sizeof(req->error),
						 "HubSpot's answer is larger than %zu bytes (max_answer_bytes)",
						 req->max_response);
			else if (req->error[0] == '\0')
				strlcpy(req->error, curl_easy_strerror(msg->data.result),
						sizeof(req->error));
		}
		req->maybe_sent = request_maybe_sent(msg->easy_handle, msg->data.result);
		forget_active(a);
		return req;
	}
	return NULL;
}

/*
 * Wait up to timeout_ms for one call to finish and return it; NULL when
 * nothing finished in time or nothing is in flight.
 */
HsHttpRequest *
hs_http_wait(long timeout_ms)
{
	instr_time	start,
				now;
	int			running;

	if (multi == NULL)
		return NULL;
	INSTR_TIME_SET_CURRENT(start);
	for (;;)
	{
		HsHttpRequest *req;
		long		waited;

		curl_multi_perform(multi, &running);
		if ((req = collect_done()) != NULL)
			return req;
		if (n_active == 0)
			return NULL;
		INSTR_TIME_SET_CURRENT(now);
		INSTR_TIME_SUBTRACT(now, start);
		waited = (long) INSTR_TIME_GET_MILLISEC(now);
		if (waited >= timeout_ms)
			return NULL;
		curl_multi_poll(multi, NULL, 0,
						(int) Min(timeout_ms - waited, HS_POLL_SLICE_MS), NULL);
		CHECK_FOR_INTERRUPTS();
	}
}

int
hs_http_in_flight(void)
{
	return n_active;
}

void
hs_http_abort_all(void)
{
	while (n_active > 0)
		forget_active(&active[n_active - 1]);
}
