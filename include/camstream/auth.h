/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file auth.h
 * @brief Hashes (SHA-256, HMAC-SHA256, MD5), hex encoding and AWS Signature Version 4: signing
 * requests (producer, consumer, SDK users) and verifying them (the ingest server).
 *
 * This is the lowest module that both the device side and the server use, so SigV4 lives here
 * once (DESIGN.md). Crypto is mbedTLS (`libmbedcrypto`); no mbedTLS type appears in this header.
 * Nothing here allocates: canonical requests are streamed into SHA-256 (or into a caller buffer
 * when asked for), and every table is a bounded array on the stack (limits below; about 6 KiB of
 * stack at most). Every function may be called from any thread; a cs_sigv4_key_cache belongs to
 * one thread at a time. The invariants are in docs/internals/AUTH.md.
 */
#ifndef CAMSTREAM_AUTH_H
#define CAMSTREAM_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "camstream/platform.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------- */
/* Hashes and hex                                                                                 */
/* ---------------------------------------------------------------------------------------------- */

#define CS_SHA256_SIZE 32     /**< bytes in a SHA-256 digest */
#define CS_MD5_SIZE 16        /**< bytes in an MD5 digest */
#define CS_SHA256_HEX_SIZE 65 /**< 64 lowercase hex digits and a NUL */

/**
 * @brief SHA-256 of `len` bytes.
 * @param[in]  data  may be NULL when len is 0
 * @param[out] out   the digest
 * @return CS_OK, CS_E_INVAL (NULL out, or NULL data with len > 0), CS_E_INTERNAL (the crypto
 *         backend failed; only hardware-accelerated mbedTLS builds can)
 */
CS_API cs_status cs_sha256(const void *data, size_t len, uint8_t out[CS_SHA256_SIZE]);

/**
 * @brief HMAC-SHA256 (RFC 2104) of `len` bytes under a key of any length.
 * @return CS_OK, CS_E_INVAL, CS_E_INTERNAL
 */
CS_API cs_status cs_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                                uint8_t out[CS_SHA256_SIZE]);

/**
 * @brief MD5 of `len` bytes. For the record streams' partition keys (PROTOCOL §6), never for
 * security. @return CS_OK, CS_E_INVAL, CS_E_INTERNAL
 */
CS_API cs_status cs_md5(const void *data, size_t len, uint8_t out[CS_MD5_SIZE]);

/**
 * @brief Lowercase hex of `len` bytes, NUL-terminated: `2 * len + 1` bytes are written.
 * @param[out] dst  `cap` bytes; may be NULL to ask for the size only
 * @param[out] out_len  set to `2 * len` (without the NUL) whether or not dst was written; may be
 * NULL
 * @return CS_OK, CS_E_NOSPACE (cap < 2 * len + 1; nothing written), CS_E_OVERFLOW
 */
CS_API cs_status cs_hex_encode(const void *src, size_t len, char *dst, size_t cap, size_t *out_len);

/**
 * @brief Compares two byte strings in time that depends only on `len`, never on where they
 * differ. Use it for signatures and tokens. @return true when equal
 */
CS_API bool cs_timing_safe_equal(const void *a, const void *b, size_t len);

/* ---------------------------------------------------------------------------------------------- */
/* SigV4: shared types and limits                                                                */
/* ---------------------------------------------------------------------------------------------- */

/** Size of an X-Amz-Date value with its NUL: "YYYYMMDDTHHMMSSZ". */
#define CS_SIGV4_AMZ_DATE_SIZE 17
/** Header occurrences that take part in one signature (signed ones, counting duplicates). */
#define CS_SIGV4_MAX_HEADERS 64
/** Query parameters in one request. */
#define CS_SIGV4_MAX_QUERY_PARAMS 64
/** Segments in one URI path (normalisation keeps a stack of them). */
#define CS_SIGV4_MAX_PATH_SEGMENTS 128
/** Bytes of the SignedHeaders list ("content-type;host;x-amz-date"). */
#define CS_SIGV4_MAX_SIGNED_HEADERS_LEN 1024
/** Bytes of region and service names the key cache keeps (longer ones are derived every time). */
#define CS_SIGV4_SCOPE_PART_MAX 64
/** Size of cs_sigv4_verdict.message, NUL included. */
#define CS_SIGV4_MESSAGE_SIZE 256
/** Size of cs_sigv4_verdict.access_key, NUL included (longer keys are rejected as malformed). */
#define CS_SIGV4_ACCESS_KEY_SIZE 129

/** SHA-256 of the empty string, in hex: the payload hash of GETs and of streaming PutMedia. */
#define CS_SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/** The payload hash of a request whose body is not signed. */
#define CS_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

/** One HTTP header as sent or received: any case, value untrimmed; not NUL-terminated. */
typedef struct cs_sigv4_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} cs_sigv4_header;

/**
 * @brief An HTTP request as it goes on the wire (signing) or came off it (verifying).
 * Borrowed: nothing is copied or kept after the call that takes it returns.
 */
typedef struct cs_sigv4_request {
    const char *method; /**< "GET", "POST" */
    size_t method_len;
    /** The path as on the wire, without '?' and the query ("/listStreams"); "" means "/".
     * It is canonicalised, not decoded: each segment is URI-encoded again, as AWS does for
     * every service but S3. */
    const char *path;
    size_t path_len;
    /** The query as on the wire without the '?' ("b=2&a=1"); NULL or "" for none. */
    const char *query;
    size_t query_len;
    /** Every header of the request (signing: the ones to send; verifying: all received,
     * HTTP/2 pseudo-headers such as ":authority" included). */
    const cs_sigv4_header *headers;
    size_t header_count;
    /** Hex SHA-256 of the payload, or CS_SIGV4_UNSIGNED_PAYLOAD; NULL: computed from `body`.
     * Verifying: what the payload counts as when the request has no x-amz-content-sha256
     * (CS_SIGV4_EMPTY_SHA256 for streaming PutMedia, whose body is still arriving). */
    const char *payload_hash;
    const void *body; /**< the whole body when payload_hash is NULL; NULL if empty */
    size_t body_len;
} cs_sigv4_request;

/**
 * @brief A signing key derived for one (secret, date, region, service), kept between requests so
 * that a request costs one HMAC instead of five. Caller-owned; zero it (or call
 * cs_sigv4_key_cache_clear()) before first use. It holds key material: clear it when done.
 */
typedef struct cs_sigv4_key_cache {
    uint8_t key[CS_SHA256_SIZE];           /* kSigning */
    uint8_t secret_digest[CS_SHA256_SIZE]; /* SHA-256 of the secret it was derived from */
    char date[9];                          /* YYYYMMDD */
    char region[CS_SIGV4_SCOPE_PART_MAX];
    char service[CS_SIGV4_SCOPE_PART_MAX];
    bool valid;
} cs_sigv4_key_cache;

/** @brief Forgets (and wipes) a cached signing key. Accepts NULL. */
CS_API void cs_sigv4_key_cache_clear(cs_sigv4_key_cache *cache);

/**
 * @brief The X-Amz-Date value of a wall-clock time.
 * @param[in]  wall_ns  nanoseconds since 1970-01-01T00:00:00Z (cs_clock_wall_ns())
 * @param[out] out      "YYYYMMDDTHHMMSSZ" and a NUL
 * @return CS_OK, CS_E_INVAL (NULL out), CS_E_RANGE (after year 9999)
 */
CS_API cs_status cs_sigv4_amz_date(uint64_t wall_ns, char out[CS_SIGV4_AMZ_DATE_SIZE]);

/**
 * @brief Parses an X-Amz-Date value strictly (exactly "YYYYMMDDTHHMMSSZ", a real UTC date).
 * @param[out] epoch_s  seconds since 1970-01-01T00:00:00Z
 * @return CS_OK, CS_E_MALFORMED, CS_E_INVAL (NULL arguments)
 */
CS_API cs_status cs_sigv4_parse_amz_date(const char *s, size_t len, uint64_t *epoch_s);

/**
 * @brief Writes the canonical request (SigV4 task 1) of `req` for the given SignedHeaders list.
 * Signing and verifying hash exactly these bytes; this function is for tests and for logging
 * why a signature did not match.
 *
 * Canonical form: method as given; path normalised if asked (empty and "." segments dropped,
 * ".." removes the previous segment, a trailing '/' kept) and each segment URI-encoded
 * (RFC 3986 unreserved bytes kept, every other byte %XX, so '%' becomes %25); query parameters
 * percent-decoded, re-encoded the same way, sorted by name then value, "name=value" joined by '&';
 * for each name of `signed_headers` in its order, "name:" and the values of every header of that
 * name (case-insensitive) in request order, each trimmed with runs of whitespace collapsed to one
 * space, joined by ','; then the list itself and the payload hash.
 *
 * @param[in]  signed_headers  lowercase names separated by ';' as in SignedHeaders=
 * @param[out] dst      `cap` bytes; NULL to ask for the size only. Not NUL-terminated.
 * @param[out] out_len  the canonical request's length (also when dst is NULL or too small)
 * @return CS_OK, CS_E_NOSPACE (dst too small), CS_E_INVAL, CS_E_NOTFOUND (a signed header is not
 *         in the request), CS_E_MALFORMED (bad SignedHeaders list), CS_E_LIMIT (more than the
 *         CS_SIGV4_MAX_* limits)
 */
CS_API cs_status cs_sigv4_canonical_request(const cs_sigv4_request *req, const char *signed_headers,
                                            size_t signed_headers_len, bool normalize_path,
                                            char *dst, size_t cap, size_t *out_len);

/**
 * @brief The string to sign (SigV4 task 2) for a canonical request's hex SHA-256:
 * "AWS4-HMAC-SHA256\n<amz_date>\n<YYYYMMDD>/<region>/<service>/aws4_request\n<hash>".
 * @param[out] dst, out_len  as cs_sigv4_canonical_request()
 * @return CS_OK, CS_E_NOSPACE, CS_E_INVAL
 */
CS_API cs_status cs_sigv4_string_to_sign(const char *amz_date, const char *region,
                                         const char *service, const char *creq_sha256_hex,
                                         char *dst, size_t cap, size_t *out_len);

/* ---------------------------------------------------------------------------------------------- */
/* SigV4: signing                                                                                 */
/* ---------------------------------------------------------------------------------------------- */

/** How to sign; fill with cs_sigv4_sign_config_init(), then set the credentials and scope. */
typedef struct cs_sigv4_sign_config {
    const char *region;        /**< e.g. "us-west-2" (required) */
    const char *service;       /**< "kinesisvideo" or "kinesis" (required) */
    const char *access_key;    /**< (required) */
    const char *secret_key;    /**< (required) */
    const char *session_token; /**< NULL: none; else signed as x-amz-security-token */
    /** NULL: sign every header of the request; else a ';'-separated list of names (any case):
     * only request headers named there are signed. x-amz-date (and x-amz-security-token,
     * x-amz-content-sha256 when the signer adds them) are always signed. */
    const char *signed_headers;
    /** Also sign x-amz-content-sha256 with the payload hash (send it: see cs_sigv4_signature). */
    bool add_content_sha256;
    bool normalize_path;       /**< default true: what every AWS SDK does for non-S3 services */
    const cs_clock *clock;     /**< where "now" comes from; NULL = system */
    cs_sigv4_key_cache *cache; /**< NULL: derive the signing key on every call */
} cs_sigv4_sign_config;

/** @brief Defaults: no credentials, normalize_path true, system clock, no cache. */
CS_API void cs_sigv4_sign_config_init(cs_sigv4_sign_config *cfg);

/** What the caller adds to the request besides Authorization. */
typedef struct cs_sigv4_signature {
    char amz_date[CS_SIGV4_AMZ_DATE_SIZE]; /**< send as X-Amz-Date */
    /** The payload hash that was signed; send as x-amz-content-sha256 when add_content_sha256. */
    char payload_hash[CS_SHA256_HEX_SIZE];
} cs_sigv4_signature;

/**
 * @brief Signs a request: the Authorization header value and the headers to send with it.
 *
 * The request's own x-amz-date and authorization headers are ignored (the signer supplies the
 * date), and so are x-amz-security-token when a session token is configured and
 * x-amz-content-sha256 when add_content_sha256 is set. The caller sends, besides its headers,
 * `Authorization`, `X-Amz-Date: sig->amz_date`, `X-Amz-Security-Token` (if a session token is
 * configured) and `x-amz-content-sha256: sig->payload_hash` (if add_content_sha256).
 *
 * @param[in]  cfg  credentials, scope, clock and cache; the cache is updated
 * @param[in]  req  the request; host (or :authority) should be among its headers
 * @param[out] authorization  `cap` bytes for the value and a NUL; NULL to ask for the length
 * @param[out] auth_len  the value's length without the NUL (set also when too small); may be NULL
 * @param[out] sig  the date and payload hash that were signed; may be NULL
 * @return CS_OK, CS_E_INVAL (missing credentials or scope, bad request fields),
 *         CS_E_NOSPACE (authorization too small), CS_E_LIMIT (CS_SIGV4_MAX_* exceeded),
 *         CS_E_RANGE (the clock is past year 9999), CS_E_INTERNAL (crypto backend failure)
 *
 * @code
 * cs_sigv4_sign_config cfg;
 * cs_sigv4_signature sig;
 * char auth[512];
 * cs_sigv4_header hdrs[] = {{"Host", 4, "127.0.0.1:8080", 14},
 *                           {"Content-Type", 12, "application/json", 16}};
 * cs_sigv4_request req = {.method = "POST", .method_len = 4, .path = "/listStreams",
 *                         .path_len = 12, .headers = hdrs, .header_count = 2,
 *                         .body = "{}", .body_len = 2};
 * cs_sigv4_sign_config_init(&cfg);
 * cfg.region = "us-west-2";
 * cfg.service = "kinesisvideo";
 * cfg.access_key = ak;
 * cfg.secret_key = sk;
 * if (cs_sigv4_sign(&cfg, &req, auth, sizeof(auth), NULL, &sig) == CS_OK) {
 *     // send "Authorization: <auth>" and "X-Amz-Date: <sig.amz_date>" with hdrs
 * }
 * @endcode
 */
CS_API cs_status cs_sigv4_sign(const cs_sigv4_sign_config *cfg, const cs_sigv4_request *req,
                               char *authorization, size_t cap, size_t *auth_len,
                               cs_sigv4_signature *sig);

/* ---------------------------------------------------------------------------------------------- */
/* SigV4: verifying                                                                               */
/* ---------------------------------------------------------------------------------------------- */

/** An Authorization header taken apart; the pointers point into the parsed value. */
typedef struct cs_sigv4_authorization {
    const char *access_key; /**< 1..128 bytes */
    size_t access_key_len;
    const char *date; /**< 8 digits, YYYYMMDD */
    const char *region;
    size_t region_len;
    const char *service;
    size_t service_len;
    const char *signed_headers; /**< lowercase names joined by ';' */
    size_t signed_headers_len;
    uint8_t signature[CS_SHA256_SIZE];
} cs_sigv4_authorization;

/**
 * @brief Parses `AWS4-HMAC-SHA256 Credential=AK/YYYYMMDD/REGION/SERVICE/aws4_request,
 * SignedHeaders=a;b;c, Signature=<64 hex>` strictly. The three parameters may come in any order,
 * each exactly once, separated by ',' and optional spaces; nothing else is accepted. Reads
 * exactly `len` bytes (no NUL needed).
 * @param[out] out  filled on CS_OK
 * @param[out] why  on CS_E_MALFORMED, a static message naming what is wrong; may be NULL
 * @return CS_OK, CS_E_MALFORMED, CS_E_UNSUPPORTED (another algorithm), CS_E_INVAL
 */
CS_API cs_status cs_sigv4_parse_authorization(const char *value, size_t len,
                                              cs_sigv4_authorization *out, const char **why);

/**
 * @brief Finds the secret key of an access key (server side).
 * @param[in]  access_key      as in the request's credential (not NUL-terminated)
 * @param[in]  session_token   the x-amz-security-token header's value, or NULL when absent; the
 *                             callback decides whether it is acceptable
 * @param[out] secret          `cap` bytes for the secret (not NUL-terminated)
 * @param[out] secret_len      its length
 * @return CS_OK; CS_E_NOTFOUND for an unknown key or a refused token (the request is rejected as
 *         unknown key); any other status aborts the verification with that status
 */
typedef cs_status (*cs_sigv4_secret_fn)(void *ctx, const char *access_key, size_t access_key_len,
                                        const char *session_token, size_t session_token_len,
                                        char *secret, size_t cap, size_t *secret_len);

/** How to verify; fill with cs_sigv4_verify_config_init(). */
typedef struct cs_sigv4_verify_config {
    const char *service;       /**< the service the request must be scoped to (required) */
    const char *region;        /**< NULL: any region; else the request must name this one */
    cs_sigv4_secret_fn lookup; /**< (required) */
    void *lookup_ctx;
    uint64_t max_skew_ns;      /**< X-Amz-Date may differ from now by this much; default 15 min */
    bool normalize_path;       /**< default true */
    const cs_clock *clock;     /**< NULL = system */
    cs_sigv4_key_cache *cache; /**< NULL: derive the signing key on every call */
} cs_sigv4_verify_config;

/** @brief Defaults: 15 minutes of skew, normalize_path true, system clock, any region. */
CS_API void cs_sigv4_verify_config_init(cs_sigv4_verify_config *cfg);

/** Why a request was refused. Values are explicit and only appended. */
typedef enum cs_sigv4_error {
    CS_SIGV4_ERR_NONE = 0,        /**< accepted */
    CS_SIGV4_ERR_MISSING = 1,     /**< no Authorization header */
    CS_SIGV4_ERR_MALFORMED = 2,   /**< Authorization, X-Amz-Date or the scope does not parse */
    CS_SIGV4_ERR_UNKNOWN_KEY = 3, /**< the lookup does not know the access key (or token) */
    CS_SIGV4_ERR_SIGNATURE = 4,   /**< the signature does not match the request */
    CS_SIGV4_ERR_SKEW = 5,        /**< X-Amz-Date is too far from now (expired or future) */
    CS_SIGV4_ERR_SERVICE = 6,     /**< the credential is scoped to another service */
    CS_SIGV4_ERR_REGION = 7,      /**< the credential is scoped to another region */
    CS_SIGV4_ERR_PAYLOAD = 8,     /**< x-amz-content-sha256 is not the body's hash */
    CS_SIGV4_ERR_LIMIT = 9,       /**< more headers/parameters/segments than the limits */
} cs_sigv4_error;

/** @brief The name of an error, e.g. "CS_SIGV4_ERR_SKEW". */
CS_API const char *cs_sigv4_error_str(cs_sigv4_error error);

/** The outcome of cs_sigv4_verify(), ready for an error response. */
typedef struct cs_sigv4_verdict {
    cs_sigv4_error error;
    /** The AWS exception name for the error ("InvalidSignatureException",
     * "UnrecognizedClientException", "IncompleteSignatureException",
     * "MissingAuthenticationTokenException"); "" when accepted. Static storage. */
    const char *error_type;
    /** Human-readable reason; printable ASCII without '"' or '\\', so it can be put in a JSON
     * string as it is. "" when accepted. */
    char message[CS_SIGV4_MESSAGE_SIZE];
    /** The access key of the credential once parsed (the caller's identity when accepted). */
    char access_key[CS_SIGV4_ACCESS_KEY_SIZE];
} cs_sigv4_verdict;

/**
 * @brief Verifies a SigV4-signed request (Authorization header form) as received.
 *
 * Steps: find exactly one Authorization header and parse it strictly; require X-Amz-Date and that
 * the credential's date is its date; check service, region and that host (or :authority) is
 * signed; check X-Amz-Date against now (± max_skew_ns); look the secret up; take the payload hash
 * from x-amz-content-sha256 when present (and, when the body is given, require it to be the body's
 * hash unless it is UNSIGNED-PAYLOAD or STREAMING-*), else from req->payload_hash, else hash the
 * body; rebuild the canonical request from the signed headers as received (a signed "host" with no
 * Host header uses ":authority" and the reverse, as HTTP/2 gateways convert them); compare the
 * signatures in constant time.
 *
 * @param[out] verdict  why the request was refused (or CS_SIGV4_ERR_NONE)
 * @return CS_OK (signature valid), CS_E_AUTH (refused: see verdict), CS_E_INVAL (bad config or
 *         arguments), or a status the lookup returned other than CS_OK/CS_E_NOTFOUND
 *
 * @code
 * cs_sigv4_verify_config vc;
 * cs_sigv4_verdict v;
 * cs_sigv4_verify_config_init(&vc);
 * vc.service = "kinesis";
 * vc.lookup = my_secret_lookup;
 * if (cs_sigv4_verify(&vc, &req, &v) == CS_E_AUTH) {
 *     // 400 {"__type": v.error_type, "message": v.message}
 * }
 * @endcode
 */
CS_API cs_status cs_sigv4_verify(const cs_sigv4_verify_config *cfg, const cs_sigv4_request *req,
                                 cs_sigv4_verdict *verdict);

#ifdef __cplusplus
}
#endif

#endif /* CAMSTREAM_AUTH_H */
