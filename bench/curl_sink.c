/*
 * curl_sink.c - the client-side floor for benchmark 1 (drain rate).
 *
 * Posts batch upserts of the same shape as the hubspot_fdw worker sends
 * (100 inputs a call, contacts keyed by email, objectWriteTraceId on every
 * input) to the simulator, with N requests in flight over kept-alive
 * connections (libcurl multi interface), and reports calls/s and rows/s.
 * Response bodies are read and discarded (the worker parses them; this
 * program does not), so this is an upper bound for any libcurl client.
 *
 *   gcc -O2 -o curl_sink bench/curl_sink.c -lcurl
 *   ./curl_sink URL ROWS [BATCH=100] [CONCURRENCY=4] [TOKEN=pat-test]
 *
 * URL is the full batch endpoint, e.g.
 *   http://127.0.0.1:8080/crm/v3/objects/contacts/batch/upsert
 *
 * Output (one line, key=value): calls rows seconds calls_per_s rows_per_s
 * non2xx errors.  Exit status 1 if any call failed.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct Slot
{
	CURL	   *easy;
	char	   *body;
	size_t		cap;
	long		first_row;
	int			nrows;
} Slot;

static size_t
discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
	(void) ptr;
	*(size_t *) ud += size * nmemb;
	return size * nmemb;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The body of one call: rows first_row .. first_row + n - 1. */
static void
build_body(Slot *s, long first_row, int n)
{
	size_t		need = 64 + (size_t) n * 200;
	size_t		len = 0;
	int			i;

	if (s->cap < need)
	{
		s->body = realloc(s->body, need);
		s->cap = need;
	}
	len += sprintf(s->body + len, "{\"inputs\":[");
	for (i = 0; i < n; i++)
	{
		long		r = first_row + i;

		len += sprintf(s->body + len,
					   "%s{\"id\":\"sink%ld@example.com\",\"idProperty\":\"email\","
					   "\"properties\":{\"email\":\"sink%ld@example.com\","
					   "\"firstname\":\"First%ld\",\"lastname\":\"Last%ld\"},"
					   "\"objectWriteTraceId\":\"%ld\"}",
					   i ? "," : "", r, r, r, r, r);
	}
	len += sprintf(s->body + len, "]}");
	s->first_row = first_row;
	s->nrows = n;
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
}

int
main(int argc, char **argv)
{
	const char *url;
	long		rows;
	int			batch = 100;
	int			conc = 4;
	const char *token = "pat-test";
	char		auth[256];
	struct curl_slist *hdrs = NULL;
	CURLM	   *multi;
	Slot	   *slots;
	size_t		bytes = 0;
	long		next_row = 1;
	long		calls = 0, done_rows = 0, non2xx = 0, errors = 0;
	int			running = 0, i;
	double		t0, t1;

	if (argc < 3)
	{
		fprintf(stderr, "usage: %s URL ROWS [BATCH] [CONCURRENCY] [TOKEN]\n", argv[0]);
		return 2;
	}
	url = argv[1];
	rows = atol(argv[2]);
	if (argc > 3)
		batch = atoi(argv[3]);
	if (argc > 4)
		conc = atoi(argv[4]);
	if (argc > 5)
		token = argv[5];
	if (rows < 1 || batch < 1 || batch > 100 || conc < 1 || conc > 256)
	{
		fprintf(stderr, "bad arguments\n");
		return 2;
	}

	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	/* the same request headers as src/http.c */
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	hdrs = curl_slist_append(hdrs, "Expect:");
	hdrs = curl_slist_append(hdrs, auth);

	multi = curl_multi_init();
	curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) conc);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long) conc);
	slots = calloc(conc, sizeof(Slot));

	t0 = now_s();
	for (i = 0; i < conc && next_row <= rows; i++)
	{
		Slot	   *s = &slots[i];
		int			n = (int) ((rows - next_row + 1) < batch ? (rows - next_row + 1) : batch);

		s->easy = curl_easy_init();
		curl_easy_setopt(s->easy, CURLOPT_URL, url);
		curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(s->easy, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(s->easy, CURLOPT_USERAGENT, "curl_sink/0.1");
		curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, (void *) &bytes);
		curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, 30000L);
		curl_easy_setopt(s->easy, CURLOPT_PRIVATE, (void *) s);
		curl_easy_setopt(s->easy, CURLOPT_POST, 1L);
		build_body(s, next_row, n);
		next_row += n;
		curl_multi_add_handle(multi, s->easy);
		running++;
	}

	while (running > 0)
	{
		CURLMsg    *msg;
		int			left;
		int			still;

		curl_multi_perform(multi, &still);
		while ((msg = curl_multi_info_read(multi, &left)) != NULL)
		{
			Slot	   *s;
			long		code = 0;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &s);
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
			curl_multi_remove_handle(multi, msg->easy_handle);
			running--;
			calls++;
			if (msg->data.result != CURLE_OK)
			{
				errors++;
				fprintf(stderr, "call failed: %s\n", curl_easy_strerror(msg->data.result));
			}
			else if (code < 200 || code > 299)
				non2xx++;
			else
				done_rows += s->nrows;
			if (next_row <= rows)
			{
				int			n = (int) ((rows - next_row + 1) < batch ? (rows - next_row + 1) : batch);

				build_body(s, next_row, n);
				next_row += n;
				curl_multi_add_handle(multi, s->easy);
				running++;
			}
		}
		if (running > 0)
			curl_multi_poll(multi, NULL, 0, 1000, NULL);
	}
	t1 = now_s();

	printf("calls=%ld rows=%ld seconds=%.3f calls_per_s=%.1f rows_per_s=%.0f non2xx=%ld errors=%ld\n",
		   calls, done_rows, t1 - t0, calls / (t1 - t0), done_rows / (t1 - t0), non2xx, errors);

	for (i = 0; i < conc; i++)
	{
		if (slots[i].easy)
			curl_easy_cleanup(slots[i].easy);
		free(slots[i].body);
	}
	free(slots);
	curl_multi_cleanup(multi);
	curl_slist_free_all(hdrs);
	curl_global_cleanup();
	return (non2xx || errors) ? 1 : 0;
}
