/*-------------------------------------------------------------------------
 *
 * request_signature.c
 *		  Signing requests to the pg_meminfo sidecar.
 *
 * The sidecar writes a random secret next to its socket, in a file only the
 * OS user of the cluster can read.  Each request carries an HMAC-SHA256 of
 * its method, target, role, backend pid, time and a fresh nonce, keyed by
 * that secret: a process that can reach the socket but cannot read the file
 * (an SQL role going through some other extension, say) cannot make a
 * request the sidecar accepts.  See docs/protocol.md, "Signature".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cryptohash.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"

#include "pg_meminfo.h"

/*
 * The sidecar writes 64 hex digits (see docs/protocol.md); a file of more
 * than MAX_SECRET_BYTES is not its secret, and one of fewer than
 * MIN_SECRET_BYTES (128 bits of hex) is too weak a key to be one.
 */
#define MAX_SECRET_BYTES 256
#define MIN_SECRET_BYTES 32

/* Random bytes of a nonce: 128 bits, sent as 32 hex digits. */
#define NONCE_BYTES 16

/*
 * errhint() for a secret file that cannot be used, for use inside
 * ereport(): the sidecar makes the file, so it is the sidecar to start.
 */
static int
errhint_start_sidecar(void)
{
	return errhint("The sidecar creates this file when it starts; start it as the operating system user that runs PostgreSQL: \"pg-meminfo sidecar\".");
}

/*
 * Read the secret at path into a palloc'd, NUL-terminated string and set
 * *len to its length, trailing newline removed.  A file that is not a
 * regular file owned by our OS user and closed to everyone else is refused:
 * a secret others can read proves nothing.  Every failure is an error; the
 * descriptor is closed before any is raised.
 */
static char *
read_secret(const char *path, int *len)
{
	int			fd;
	struct stat st;
	char	   *secret = palloc(MAX_SECRET_BYTES + 1);
	ssize_t		n;
	int			save_errno;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not open pg_meminfo sidecar secret \"%s\": %m", path),
				 errhint_start_sidecar()));
	if (fstat(fd, &st) < 0)
	{
		save_errno = errno;
		close(fd);
		errno = save_errno;
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not stat pg_meminfo sidecar secret \"%s\": %m", path),
				 errhint_start_sidecar()));
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0)
	{
		close(fd);
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("refusing pg_meminfo sidecar secret \"%s\"", path),
				 errdetail("It must be a regular file owned by the server's operating system user, with mode 0600."),
				 errhint_start_sidecar()));
	}
	/* One byte more than allowed, to tell a file that is too long. */
	n = read(fd, secret, MAX_SECRET_BYTES + 1);
	save_errno = errno;
	close(fd);
	errno = save_errno;
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not read pg_meminfo sidecar secret \"%s\": %m", path),
				 errhint_start_sidecar()));
	while (n > 0 && (secret[n - 1] == '\n' || secret[n - 1] == '\r'))
		n--;
	if (n < MIN_SECRET_BYTES || n > MAX_SECRET_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("pg_meminfo sidecar secret \"%s\" does not hold a secret", path),
				 errdetail("A secret is from %d to %d bytes long, not counting a final newline.",
						   MIN_SECRET_BYTES, MAX_SECRET_BYTES),
				 errhint_start_sidecar()));
	secret[n] = '\0';
	*len = (int) n;
	return secret;
}

/* Append len bytes to buf as lower-case hex digits, two per byte. */
static void
append_hex(StringInfo buf, const uint8 *bytes, int len)
{
	for (int i = 0; i < len; i++)
		appendStringInfo(buf, "%02x", bytes[i]);
}

/*
 * Append the signature headers for "GET target" by role to req.  The
 * signed text is the header values joined by newlines, in this order:
 * method, target, role, backend pid, cluster, time, nonce.
 */
void
sidecar_sign_request(StringInfo req, const char *secret_path,
					 const char *target, Oid role, const char *cluster)
{
	int			secret_len;
	char	   *secret = read_secret(secret_path, &secret_len);
	uint8		nonce[NONCE_BYTES];
	uint8		mac[PG_SHA256_DIGEST_LENGTH];
	StringInfoData nonce_hex;
	StringInfoData text;
	StringInfoData mac_hex;
	long		now = (long) time(NULL);
	pg_hmac_ctx *ctx;

	if (!pg_strong_random(nonce, sizeof(nonce)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random nonce for the pg_meminfo sidecar")));
	initStringInfo(&nonce_hex);
	append_hex(&nonce_hex, nonce, sizeof(nonce));

	initStringInfo(&text);
	appendStringInfo(&text, "GET\n%s\n%u\n%d\n%s\n%ld\n%s",
					 target, role, MyProcPid, cluster, now, nonce_hex.data);

	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed while signing the request to the pg_meminfo sidecar.")));
	if (pg_hmac_init(ctx, (uint8 *) secret, secret_len) < 0 ||
		pg_hmac_update(ctx, (uint8 *) text.data, text.len) < 0 ||
		pg_hmac_final(ctx, mac, sizeof(mac)) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not sign the request to the pg_meminfo sidecar: %s",
						pg_hmac_error(ctx))));
	pg_hmac_free(ctx);
	explicit_bzero(secret, secret_len);

	initStringInfo(&mac_hex);
	append_hex(&mac_hex, mac, sizeof(mac));
	appendStringInfo(req,
					 "X-Pg-Meminfo-Time: %ld\r\n"
					 "X-Pg-Meminfo-Nonce: %s\r\n"
					 "X-Pg-Meminfo-Signature: %s\r\n",
					 now, nonce_hex.data, mac_hex.data);
}
