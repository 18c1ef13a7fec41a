/*-------------------------------------------------------------------------
 * http.h
 *		Concurrent HTTP calls with libcurl's multi interface.
 *
 * Knows libcurl and nothing of HubSpot.  One multi handle lives for the
 * whole process so that keep-alive connections are reused from call to call.
 *-------------------------------------------------------------------------
 */
#ifndef HUBSPOT_HTTP_H
#define HUBSPOT_HTTP_H

/* HubSpot asks for at most a day (477 Migration in Progress). */
#define HS_MAX_RETRY_AFTER_S	86400L

/* Rate-limit figures a server sent back; -1 where a header was absent. */
typedef struct HsRateHeaders
{
	int			max;
	int			remaining;
	int			interval_ms;
	long		daily;
	long		daily_remaining;
	long		retry_after_ms;	/* -1: none */
	bool		nonsense;		/* a header held a value out of any sane range */
} HsRateHeaders;

typedef struct HsHttpRequest
{
	/* set by the caller */
	const char *method;			/* "GET" or "POST" */
	char	   *url;
	char	   *body;			/* NULL for GET */
	size_t		body_len;
	const char *token;			/* bearer token; never logged */
	const char *ca_file;		/* CA bundle, or NULL for the system's */
	long		timeout_ms;
	size_t		max_response;	/* a longer answer fails the call; 0: default */
	bool		at_most_once;	/* not idempotent: never sent twice by libcurl */
	void	   *arg;			/* caller's */

	/* filled in when the call completes */
	long		status;			/* HTTP status, 0 if no answer */
	int			transport_error;	/* libcurl code, 0 if an answer came */
	char		error[256];		/* transport error text */
	bool		maybe_sent;		/* the request may have reached the server */
	char	   *response;		/* NUL-terminated body */
	size_t		response_len;
	HsRateHeaders rate;
	double		elapsed_ms;

	/* private */
	size_t		response_cap;
	bool		overflow;
	void	   *easy;
	void	   *headers;
} HsHttpRequest;

extern void hs_http_start(HsHttpRequest *req);
extern HsHttpRequest *hs_http_wait(long timeout_ms);
extern int	hs_http_in_flight(void);
extern void hs_http_abort_all(void);
extern const char *hs_http_version(void);

#endif							/* HUBSPOT_HTTP_H */
