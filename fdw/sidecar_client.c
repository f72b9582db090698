/*-------------------------------------------------------------------------
 *
 * sidecar_client.c
 *		  The HTTP/1.1 client that asks the pg_meminfo sidecar for rows over
 *		  its Unix socket.
 *
 * One request per connection.  The socket is non-blocking and every wait
 * goes through WaitLatchOrSocket, so query cancel, statement_timeout and
 * postmaster death are honoured while the sidecar is slow or stopped.  The
 * descriptor is counted with AcquireExternalFD and closed by a reset
 * callback on the memory context it was opened in, so an error anywhere in
 * the scan cannot leak it.
 *
 * The body of a successful response is handed to COPY as it arrives (see
 * sidecar_read_body); it is complete only when the terminating chunk (or
 * the announced Content-Length) has been read, so a connection cut short
 * is always an error, never a smaller result.  See docs/protocol.md.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "access/xlog.h"
#include "common/jsonapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "pg_meminfo.h"

/*
 * Size of the receive buffer: the most read from the socket at once, and so
 * the longest line of the response head or of a chunk header that can be
 * held.  64kB is a few kernel socket buffers' worth: large enough that a
 * big response costs few recv() calls, small enough to allocate per scan.
 */
#define RECV_BUFFER_SIZE	65536

/*
 * The most bytes the status line and header fields of a response, or its
 * trailer, may take.  The sidecar sends a few hundred; 16kB is the limit
 * many HTTP servers apply, and leaves room in RECV_BUFFER_SIZE to find the
 * end of the head.
 */
#define MAX_HEADER_BYTES	16384

/*
 * The most of an error response's body that is read.  A report is a small
 * JSON object; a body this large is not one, and is reported as unreadable
 * rather than parsed.
 */
#define MAX_ERROR_BODY		65536

/*
 * The longest chunk-size line accepted, without its CRLF: up to 12 hex
 * digits (see MAX_CHUNK_SIZE_DIGITS) and any chunk extensions, which the
 * sidecar does not send and which are skipped.
 */
#define MAX_CHUNK_LINE		1024

/*
 * The most hex digits of a chunk size.  12 digits are up to 2^48 - 1 bytes,
 * far more than any max_response_size, and cannot overflow an int64.
 */
#define MAX_CHUNK_SIZE_DIGITS	12

/*
 * How long to sleep, in ms, before retrying a connect() that failed with
 * EAGAIN because the sidecar's listen backlog is full: long enough not to
 * spin, short enough to add nothing a user would notice.
 */
#define CONNECT_RETRY_MS	10

/* Bytes of an error response read at a time. */
#define ERROR_READ_CHUNK	8192

/* Where the body decoder is. */
typedef enum BodyState
{
	BODY_CHUNK_HEADER,			/* expecting "<hex size>[;ext]\r\n" */
	BODY_CHUNK_DATA,			/* inside a chunk, "remaining" bytes left */
	BODY_CHUNK_END,				/* expecting the CRLF after chunk data */
	BODY_TRAILER,				/* after the last chunk, until an empty line */
	BODY_LENGTH,				/* Content-Length body, "remaining" bytes left */
	BODY_DONE					/* the whole body has been read */
} BodyState;

struct SidecarConn
{
	pgsocket	fd;				/* the socket; PGINVALID_SOCKET once closed */
	const char *socket_path;	/* for messages */
	int			timeout_ms;		/* longest wait for the socket to be ready */
	char	   *buf;			/* bytes received, not yet consumed */
	int			buf_start;		/* first unconsumed byte in buf */
	int			buf_end;		/* end of the received bytes in buf */
	int			status;			/* HTTP status of the response */
	BodyState	body_state;		/* position of the body decoder */
	int64		remaining;		/* bytes left in a chunk or a sized body */
	int64		max_body;		/* most body bytes of a 200 response; 0: default */
	int64		body_bytes;		/* body bytes of a 200 response read so far */
	MemoryContextCallback close_cb; /* closes fd when the context goes */
};

#if PG_VERSION_NUM >= 170000
/* The id of wait event "PgMeminfoSidecar"; 0 until first needed. */
static uint32 sidecar_wait_event_id = 0;
#endif

static void sidecar_close(SidecarConn *conn);

/*
 * Wait event to report while waiting for the sidecar.  On PostgreSQL 17 and
 * later it is "PgMeminfoSidecar" in pg_stat_activity.wait_event, allocated
 * in shared memory on first use and cached for the life of the backend;
 * before 17 it is the generic "Extension".
 */
static uint32
sidecar_wait_event(void)
{
#if PG_VERSION_NUM >= 170000
	if (sidecar_wait_event_id == 0)
		sidecar_wait_event_id = WaitEventExtensionNew("PgMeminfoSidecar");
	return sidecar_wait_event_id;
#else
	return PG_WAIT_EXTENSION;
#endif
}

/*
 * Memory-context reset callback: closes the connection when the context it
 * was opened in goes away, whether the scan ended or failed.
 */
static void
sidecar_close_callback(void *arg)
{
	sidecar_close((SidecarConn *) arg);
}

/*
 * Close the socket and give back its external-FD slot.  Safe to call more
 * than once: a closed connection is left alone.
 */
static void
sidecar_close(SidecarConn *conn)
{
	if (conn->fd != PGINVALID_SOCKET)
	{
		close(conn->fd);
		conn->fd = PGINVALID_SOCKET;
		ReleaseExternalFD();
	}
}

/*
 * Wait until the socket is ready for "event" (WL_SOCKET_READABLE or
 * WL_SOCKET_WRITEABLE).  Returns once it is; raises an error once
 * timeout_ms have passed without it.  Query cancel and statement_timeout
 * are served while waiting (CHECK_FOR_INTERRUPTS may not return), and the
 * backend exits if the postmaster dies.
 */
static void
wait_for_socket(SidecarConn *conn, int event)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   conn->timeout_ms);

	for (;;)
	{
		long		timeout;
		int			rc;

		timeout = TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
												  deadline);
		if (timeout <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("pg_meminfo sidecar at \"%s\" did not answer within %d ms",
							conn->socket_path, conn->timeout_ms),
					 errhint("Check that the sidecar process is running and not stopped. "
							 "The server option \"timeout\" sets how long to wait, in seconds.")));

		rc = WaitLatchOrSocket(MyLatch,
							   WL_LATCH_SET | event | WL_TIMEOUT |
							   WL_EXIT_ON_PM_DEATH,
							   conn->fd, timeout, sidecar_wait_event());
		if (rc & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		if (rc & event)
			return;
	}
}

/* Raise the error for a failed connect(); errno must still be its. */
static void
report_connect_failure(const char *socket_path)
{
	ereport(ERROR,
			(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
			 errmsg("could not connect to pg_meminfo sidecar at \"%s\": %m",
					socket_path),
			 errhint("Start the sidecar as the operating system user that runs PostgreSQL: "
					 "\"pg-meminfo sidecar\". "
					 "If it listens elsewhere, set the server option \"socket\".")));
}

/*
 * Connect to the sidecar and make sure the process at the other end runs as
 * our own OS user: a socket planted by anyone else is refused before a byte
 * is sent.  The connection lives as long as CurrentMemoryContext.
 */
SidecarConn *
sidecar_open(const char *socket_path, int timeout_ms)
{
	SidecarConn *conn;
	struct sockaddr_un addr;
	struct ucred peer;
	socklen_t	peer_len = sizeof(peer);
	TimestampTz deadline;

	if (strlen(socket_path) >= sizeof(addr.sun_path))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("pg_meminfo sidecar socket path \"%s\" is too long",
						socket_path),
				 errdetail("Unix socket paths are limited to %d bytes.",
						   (int) sizeof(addr.sun_path) - 1)));

	conn = palloc0(sizeof(SidecarConn));
	conn->fd = PGINVALID_SOCKET;
	conn->socket_path = pstrdup(socket_path);
	conn->timeout_ms = timeout_ms;
	conn->buf = palloc(RECV_BUFFER_SIZE);

	if (!AcquireExternalFD())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not connect to pg_meminfo sidecar: too many open files"),
				 errhint("Raise max_files_per_process or close other connections.")));
	conn->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (conn->fd == PGINVALID_SOCKET)
	{
		ReleaseExternalFD();
		ereport(ERROR,
				(errcode_for_socket_access(),
				 errmsg("could not create socket for pg_meminfo sidecar: %m")));
	}
	conn->close_cb.func = sidecar_close_callback;
	conn->close_cb.arg = conn;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &conn->close_cb);

	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strlcpy(addr.sun_path, socket_path, sizeof(addr.sun_path));

	/*
	 * A Unix socket connects at once or fails with EAGAIN when the listener's
	 * backlog is full; retry that until the timeout, staying interruptible.
	 */
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	while (connect(conn->fd, (struct sockaddr *) &addr, sizeof(addr)) < 0)
	{
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || GetCurrentTimestamp() >= deadline)
			report_connect_failure(socket_path);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 CONNECT_RETRY_MS, sidecar_wait_event());
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}

	if (getsockopt(conn->fd, SOL_SOCKET, SO_PEERCRED, &peer, &peer_len) < 0)
		ereport(ERROR,
				(errcode_for_socket_access(),
				 errmsg("could not identify the process behind pg_meminfo sidecar socket \"%s\": %m",
						socket_path)));
	if (peer.uid != geteuid())
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("refusing pg_meminfo sidecar at \"%s\": it runs as another operating system user",
						socket_path),
				 errdetail("The process listening there runs as uid %u; PostgreSQL runs as uid %u.",
						   (unsigned) peer.uid, (unsigned) geteuid()),
				 errhint("Run the sidecar as the operating system user that runs PostgreSQL.")));

	return conn;
}

/*
 * Send all len bytes of data, waiting while the socket's buffer is full.
 * Returns when everything is sent; any failure is an error.
 */
static void
send_all(SidecarConn *conn, const char *data, size_t len)
{
	while (len > 0)
	{
		ssize_t		n = send(conn->fd, data, len, MSG_NOSIGNAL);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
			{
				wait_for_socket(conn, WL_SOCKET_WRITEABLE);
				continue;
			}
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not send request to pg_meminfo sidecar at \"%s\": %m",
							conn->socket_path)));
		}
		data += n;
		len -= n;
	}
}

/*
 * Read more bytes into the buffer, waiting for them.  It is only called
 * when more bytes are needed, so the peer closing the connection here always
 * means the response was cut short.
 */
static void
fill_buffer(SidecarConn *conn)
{
	ssize_t		n;

	if (conn->buf_start > 0)
	{
		memmove(conn->buf, conn->buf + conn->buf_start,
				conn->buf_end - conn->buf_start);
		conn->buf_end -= conn->buf_start;
		conn->buf_start = 0;
	}
	if (conn->buf_end >= RECV_BUFFER_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("malformed response from pg_meminfo sidecar: a line is longer than %d bytes",
						RECV_BUFFER_SIZE)));

	for (;;)
	{
		n = recv(conn->fd, conn->buf + conn->buf_end,
				 RECV_BUFFER_SIZE - conn->buf_end, 0);
		if (n > 0)
		{
			conn->buf_end += n;
			return;
		}
		if (n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("pg_meminfo sidecar closed the connection before the response was complete"),
					 errdetail("No rows are returned from an incomplete response."),
					 errhint("The sidecar's log says why it stopped.")));
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
		{
			wait_for_socket(conn, WL_SOCKET_READABLE);
			continue;
		}
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not receive data from pg_meminfo sidecar: %m")));
	}
}

/*
 * errhint() for a response that breaks the protocol, for use inside
 * ereport(): the likely cause is a sidecar of another release.
 */
static int
errhint_same_release(void)
{
	return errhint("Make sure the sidecar and the extension come from the same release.");
}

/*
 * Find the end of the line starting at the buffer's first unconsumed byte.
 * Returns its length without CRLF, or -1 when the line is not complete yet;
 * consumes nothing.  A line longer than max_len, or ended by a bare LF, is
 * an error.
 */
static int
buffered_line(SidecarConn *conn, int max_len)
{
	char	   *start = conn->buf + conn->buf_start;
	int			avail = conn->buf_end - conn->buf_start;
	char	   *nl = memchr(start, '\n', avail);

	if (nl != NULL && (nl == start || nl[-1] != '\r'))
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("malformed response from pg_meminfo sidecar: line not ended by CRLF"),
				 errhint_same_release()));
	/* An incomplete line already longer than max_len can only grow. */
	if ((nl != NULL ? nl - start - 1 : avail) > max_len)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("malformed response from pg_meminfo sidecar: line too long"),
				 errhint_same_release()));
	if (nl == NULL)
		return -1;
	return (int) (nl - start - 1);
}

/*
 * Read the response head: the status line "HTTP/1.x NNN reason" and the
 * header fields, up to the empty line.  Sets conn->status and the body
 * decoder (chunked, or Content-Length bytes); other fields are ignored.
 * Anything malformed, or a head over MAX_HEADER_BYTES, is an error.
 */
static void
read_response_head(SidecarConn *conn)
{
	char	   *head;
	char	   *line;
	char	   *next;
	char	   *end;
	bool		chunked = false;
	int64		content_length = -1;

	for (;;)
	{
		char	   *start = conn->buf + conn->buf_start;
		int			avail = conn->buf_end - conn->buf_start;

		end = avail >= 4 ? memmem(start, avail, "\r\n\r\n", 4) : NULL;
		if (end != NULL)
			break;
		if (avail > MAX_HEADER_BYTES)
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("malformed response from pg_meminfo sidecar: response header too large"),
					 errhint_same_release()));
		fill_buffer(conn);
	}
	head = pnstrdup(conn->buf + conn->buf_start, end - (conn->buf + conn->buf_start));
	conn->buf_start = end + 4 - conn->buf;

	line = head;
	next = strstr(line, "\r\n");
	if (next)
		*next = '\0';
	if (strncmp(line, "HTTP/1.", 7) != 0 || !isdigit((unsigned char) line[7]) ||
		line[8] != ' ' || !isdigit((unsigned char) line[9]) ||
		!isdigit((unsigned char) line[10]) || !isdigit((unsigned char) line[11]) ||
		(line[12] != ' ' && line[12] != '\0'))
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("malformed response from pg_meminfo sidecar: bad status line"),
				 errhint_same_release()));
	conn->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');

	while (next)
	{
		char	   *colon;
		char	   *value;

		line = next + 2;
		next = strstr(line, "\r\n");
		if (next)
			*next = '\0';
		colon = strchr(line, ':');
		if (colon == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("malformed response from pg_meminfo sidecar: bad header line"),
					 errhint_same_release()));
		*colon = '\0';
		value = colon + 1;
		while (*value == ' ' || *value == '\t')
			value++;
		if (pg_strcasecmp(line, "transfer-encoding") == 0)
		{
			if (pg_strcasecmp(value, "chunked") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("malformed response from pg_meminfo sidecar: unsupported transfer encoding"),
						 errhint_same_release()));
			chunked = true;
		}
		else if (pg_strcasecmp(line, "content-length") == 0)
		{
			char	   *endp;

			errno = 0;
			content_length = strtoi64(value, &endp, 10);
			if (errno != 0 || endp == value || *endp != '\0' || content_length < 0)
				ereport(ERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("malformed response from pg_meminfo sidecar: bad Content-Length"),
						 errhint_same_release()));
		}
	}
	pfree(head);

	if (chunked)
		conn->body_state = BODY_CHUNK_HEADER;
	else if (content_length >= 0)
	{
		conn->body_state = content_length > 0 ? BODY_LENGTH : BODY_DONE;
		conn->remaining = content_length;
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("malformed response from pg_meminfo sidecar: response has neither chunked encoding nor a length"),
				 errhint_same_release()));
}

/*
 * Parse a chunk-size line and consume it.  Returns false, consuming
 * nothing, when it has not fully arrived yet.  A size of 0 moves on to the
 * trailer.
 */
static bool
read_chunk_header(SidecarConn *conn)
{
	int			len = buffered_line(conn, MAX_CHUNK_LINE);
	char	   *p;
	int64		size = 0;
	int			digits = 0;

	if (len < 0)
		return false;
	p = conn->buf + conn->buf_start;
	for (; digits < len && isxdigit((unsigned char) p[digits]); digits++)
	{
		if (digits >= MAX_CHUNK_SIZE_DIGITS)
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("malformed response from pg_meminfo sidecar: chunk size too large"),
					 errhint_same_release()));
		{
			char		c = p[digits];

			size = size * 16 + (isdigit((unsigned char) c) ? c - '0' :
								pg_ascii_tolower((unsigned char) c) - 'a' + 10);
		}
	}
	if (digits == 0 || (digits < len && p[digits] != ';'))
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("malformed response from pg_meminfo sidecar: bad chunk size"),
				 errhint_same_release()));
	conn->buf_start += len + 2;
	conn->remaining = size;
	conn->body_state = size > 0 ? BODY_CHUNK_DATA : BODY_TRAILER;
	return true;
}

/*
 * Set the most body bytes a successful response may have (the server option
 * max_response_size); a larger one is an error, whatever its rows.
 */
void
sidecar_limit_body(SidecarConn *conn, int64 max_bytes)
{
	conn->max_body = max_bytes;
}

/*
 * Count n more body bytes of a successful response against its limit;
 * raises an error once they exceed it.  Error responses are not counted:
 * MAX_ERROR_BODY bounds what is read of them.
 */
static void
count_body_bytes(SidecarConn *conn, int n)
{
	int64		limit = conn->max_body > 0 ? conn->max_body :
		MEMINFO_DEFAULT_MAX_RESPONSE_SIZE;

	if (conn->status != 200)
		return;
	conn->body_bytes += n;
	if (conn->body_bytes > limit)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("response from pg_meminfo sidecar at \"%s\" is larger than %lld bytes",
						conn->socket_path, (long long) limit),
				 errdetail("No rows are returned from a response that is cut short."),
				 errhint("Read fewer processes (WHERE pid = ...) or columns, or raise the server option \"max_response_size\".")));
}

/*
 * Copy up to maxread bytes of the response body to buf, waiting until at
 * least minread are there or the body is complete.  Returns 0 only at the
 * true end of the body.  This is COPY's data source.
 */
int
sidecar_read_body(SidecarConn *conn, char *buf, int minread, int maxread)
{
	int			total = 0;

	while (total < maxread && conn->body_state != BODY_DONE)
	{
		int			avail = conn->buf_end - conn->buf_start;
		int			len;

		switch (conn->body_state)
		{
			case BODY_CHUNK_HEADER:
				if (read_chunk_header(conn))
					continue;
				break;
			case BODY_CHUNK_END:
				if (avail >= 2)
				{
					if (memcmp(conn->buf + conn->buf_start, "\r\n", 2) != 0)
						ereport(ERROR,
								(errcode(ERRCODE_PROTOCOL_VIOLATION),
								 errmsg("malformed response from pg_meminfo sidecar: chunk not followed by CRLF"),
								 errhint_same_release()));
					conn->buf_start += 2;
					conn->body_state = BODY_CHUNK_HEADER;
					continue;
				}
				break;
			case BODY_TRAILER:
				len = buffered_line(conn, MAX_HEADER_BYTES);
				if (len >= 0)
				{
					conn->buf_start += len + 2;
					if (len == 0)
						conn->body_state = BODY_DONE;
					continue;
				}
				break;
			case BODY_CHUNK_DATA:
			case BODY_LENGTH:
				if (avail > 0)
				{
					int			n = Min(avail, maxread - total);

					if (n > conn->remaining)
						n = (int) conn->remaining;
					count_body_bytes(conn, n);
					memcpy(buf + total, conn->buf + conn->buf_start, n);
					conn->buf_start += n;
					conn->remaining -= n;
					total += n;
					if (conn->remaining == 0)
						conn->body_state = conn->body_state == BODY_LENGTH ?
							BODY_DONE : BODY_CHUNK_END;
					continue;
				}
				break;
			case BODY_DONE:
				break;
		}

		/* No progress possible with what is buffered. */
		if (total >= minread && total > 0)
			break;
		fill_buffer(conn);
	}

	if (conn->body_state == BODY_DONE)
		sidecar_close(conn);
	return total;
}

/*
 * The string field "key" of an error report, palloc'd, or NULL when the
 * report has no such field or it is not a string.
 */
static char *
json_field(Jsonb *report, const char *key)
{
	JsonbValue	value;

	if (getKeyJsonValueFromContainer(&report->root, key, strlen(key), &value) == NULL ||
		value.type != jbvString)
		return NULL;
	return pnstrdup(value.val.string.val, value.val.string.len);
}

/*
 * The SQLSTATE the sidecar sent, encoded as for errcode().  Returns fallback
 * when there is none, it is not five digits or upper-case letters, or it is
 * of class 00 (success), 01 (warning) or 02 (no data): what the sidecar
 * reports is always an error.
 */
static int
parse_sqlstate(const char *s, int fallback)
{
	if (s == NULL || strlen(s) != 5 || strspn(s, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 5 ||
		strncmp(s, "00", 2) == 0 || strncmp(s, "01", 2) == 0 || strncmp(s, "02", 2) == 0)
		return fallback;
	return MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4]);
}

/*
 * Turn an error response into an ERROR carrying the sidecar's SQLSTATE,
 * message, detail and hint; never returns.  The texts are the sidecar's,
 * not ours to translate, so they go out as errmsg_internal and
 * errdetail_internal, as postgres_fdw does with a remote server's error.
 * A body that is not a well-formed report still gives an error that names
 * the HTTP status, with a SQLSTATE chosen from it.
 */
static void
report_error_response(SidecarConn *conn)
{
	StringInfoData body;
	char		chunk[ERROR_READ_CHUNK];
	int			n;
	int			fallback;
	char	   *text;
	JsonLexContext *lex;
	Jsonb	   *report;
	char	   *message;
	char	   *detail;
	char	   *hint;

	/* 403 Forbidden and 503 Service Unavailable have a fitting SQLSTATE. */
	fallback = conn->status == 403 ? ERRCODE_INSUFFICIENT_PRIVILEGE :
		conn->status == 503 ? ERRCODE_CONNECTION_FAILURE : ERRCODE_FDW_ERROR;

	initStringInfo(&body);
	while (body.len < MAX_ERROR_BODY &&
		   (n = sidecar_read_body(conn, chunk, 1, sizeof(chunk))) > 0)
		appendBinaryStringInfo(&body, chunk, n);

	text = body.len < MAX_ERROR_BODY && memchr(body.data, '\0', body.len) == NULL &&
		pg_verify_mbstr(PG_UTF8, body.data, body.len, true) ?
		pg_any_to_server(body.data, body.len, PG_UTF8) : NULL;
	if (text != NULL)
	{
#if PG_VERSION_NUM >= 170000
		lex = makeJsonLexContextCstringLen(NULL, text, strlen(text), GetDatabaseEncoding(), true);
#else
		lex = makeJsonLexContextCstringLen(text, strlen(text), GetDatabaseEncoding(), true);
#endif
		if (pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
			text = NULL;
	}
	report = text ? DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text))) : NULL;
	message = report && JB_ROOT_IS_OBJECT(report) ? json_field(report, "message") : NULL;

	if (message == NULL)
		ereport(ERROR,
				(errcode(fallback),
				 errmsg("pg_meminfo sidecar answered HTTP %d without a readable error report",
						conn->status),
				 errhint("The sidecar's log says what went wrong.")));

	detail = json_field(report, "detail");
	hint = json_field(report, "hint");
	ereport(ERROR,
			(errcode(parse_sqlstate(json_field(report, "sqlstate"), fallback)),
			 errmsg_internal("%s", message),
			 detail ? errdetail_internal("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0));
}

/*
 * Send "GET target" on behalf of role, signed, and read the response head.
 * The request names this cluster (system identifier and postmaster pid), so
 * the sidecar of another cluster refuses it.  Returns on a 200 response,
 * leaving its body for sidecar_read_body; an error response is raised here.
 */
void
sidecar_request(SidecarConn *conn, const char *target, Oid role)
{
	StringInfoData req;
	char	   *cluster = psprintf(UINT64_FORMAT "/%d", GetSystemIdentifier(), PostmasterPid);

	initStringInfo(&req);
	appendStringInfo(&req,
					 "GET %s HTTP/1.1\r\n"
					 "Host: pg_meminfo\r\n"
					 "X-Pg-Meminfo-Role: %u\r\n"
					 "X-Pg-Meminfo-Backend-Pid: %d\r\n"
					 "X-Pg-Meminfo-Cluster: %s\r\n"
					 "Connection: close\r\n",
					 target, role, MyProcPid, cluster);
	sidecar_sign_request(&req, psprintf("%s.secret", conn->socket_path), target, role, cluster);
	appendStringInfoString(&req, "\r\n");
	send_all(conn, req.data, req.len);
	pfree(req.data);

	read_response_head(conn);
	if (conn->status != 200)
		report_error_response(conn);
}
