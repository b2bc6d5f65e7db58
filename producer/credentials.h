/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file credentials.h
 * @brief Where the producer's SigV4 credentials come from (private to the producer library):
 * resolved once at cs_producer_create() in the order producer.h gives, then handed out on the
 * I/O thread for each signed request. A rotating source (credentials_fn) is asked again when the
 * credentials it gave are within CSI_CREDS_REFRESH_NS of expiring. Invariants:
 * docs/internals/PRODUCER.md, section "Transport, credentials, signing".
 *
 * Memory: a csi_creds is a plain value (about 4.7 KiB: two cs_credentials) that lives inside its
 * owner; csi_creds_init() may allocate a temporary buffer for reading the credentials file (through
 * the config's allocator) and frees it before returning; nothing here allocates afterwards.
 *
 * Threads: csi_creds_init() runs on the creating thread; csi_creds_get() on one thread at a time
 * (the I/O thread). The user's callback runs inside csi_creds_get().
 */
#ifndef CAMSTREAM_PRODUCER_CREDENTIALS_H
#define CAMSTREAM_PRODUCER_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "camstream/producer.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A callback's credentials are fetched again when they expire within this many ns (5 min). */
#define CSI_CREDS_REFRESH_NS (300ull * 1000000000ull)
/** Largest credentials file read (bigger ones are refused as CS_E_MALFORMED). */
#define CSI_CREDS_FILE_MAX (1024u * 1024u)

/** Where the credentials come from (the first source of producer.h's order that applies). */
enum csi_creds_source {
    CSI_CREDS_ANONYMOUS = 0, /**< `anonymous`, or no source found: requests are not signed */
    CSI_CREDS_CALLBACK = 1,  /**< credentials_fn, asked on the I/O thread */
    CSI_CREDS_STATIC = 2,    /**< access_key + secret_key (+ session_token) of the config */
    CSI_CREDS_ENV = 3,       /**< AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN */
    CSI_CREDS_FILE = 4,      /**< a profile of the shared credentials file */
};

/** The resolved source and the credentials in use. Owned by the producer; I/O thread. */
typedef struct csi_creds {
    enum csi_creds_source source;
    cs_credentials_fn fn; /* CALLBACK */
    void *fn_ctx;
    bool have; /* `cur` holds usable credentials (always for STATIC, ENV, FILE) */
    cs_credentials cur;
    cs_credentials next; /* CALLBACK: what the callback fills, checked before it replaces cur */
} csi_creds;

/**
 * @brief Resolves the credentials source of a producer config, first that applies:
 * 1. `anonymous` set: ANONYMOUS;
 * 2. credentials_fn: CALLBACK (not called here: the first csi_creds_get() calls it);
 * 3. access_key and secret_key (and session_token when not NULL): STATIC; only one of the two
 *    given is CS_E_INVAL;
 * 4. use_environment and both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set and non-empty
 *    (AWS_SESSION_TOKEN when set and non-empty): ENV;
 * 5. the shared credentials file: `credentials_file`, else $AWS_SHARED_CREDENTIALS_FILE, else
 *    $HOME/.aws/credentials; section `profile`, else $AWS_PROFILE, else "default"; keys
 *    aws_access_key_id, aws_secret_access_key, aws_session_token (see csi_creds_parse_ini()):
 *    FILE. A file named by `credentials_file` that cannot be opened, or a profile missing from
 *    it, is CS_E_NOTFOUND; so is a profile named by `profile` or $AWS_PROFILE that is missing
 *    from the file found by default. A missing default file, or a missing "default" profile in
 *    it, just goes on to 6. A profile without both keys counts as missing.
 * 6. ANONYMOUS.
 * @param[out] c    overwritten; on failure left ANONYMOUS with nothing secret in it
 * @param[in]  cfg  the producer's config (strings are copied; nothing is kept)
 * @return CS_OK; CS_E_INVAL (NULL arguments, a key longer than CS_CREDENTIALS_KEY_MAX or a token
 *         longer than CS_CREDENTIALS_TOKEN_MAX, one static key without the other);
 *         CS_E_NOTFOUND (see 5); CS_E_MALFORMED (the file is not INI as csi_creds_parse_ini()
 *         reads it, is larger than CSI_CREDS_FILE_MAX, or cannot be read); CS_E_NOMEM
 */
cs_status csi_creds_init(csi_creds *c, const cs_producer_config *cfg);

/**
 * @brief The credentials to sign a request made at wall-clock time `wall_ns`.
 *
 * CALLBACK: the callback is called when none were fetched yet, or when the current ones expire
 * (expiration_wall_ns != 0) at or before wall_ns + CSI_CREDS_REFRESH_NS. What it fills must hold
 * a NUL-terminated, non-empty access_key and secret_key (and a NUL-terminated session_token);
 * then it replaces the current ones. If the callback fails (or fills nonsense) while the current
 * ones are still valid (not yet expired), those are used and the callback is asked again at the
 * next call; otherwise CS_E_AUTH.
 *
 * @param[out] out  the credentials, valid until the next csi_creds_get() or csi_creds_clear();
 *                  NULL when ANONYMOUS (the request goes unsigned)
 * @return CS_OK; CS_E_AUTH (the callback failed or filled invalid credentials and there are no
 *         valid current ones); CS_E_INVAL (NULL arguments)
 */
cs_status csi_creds_get(csi_creds *c, uint64_t wall_ns, const cs_credentials **out);

/** @brief Wipes the secrets and makes `c` ANONYMOUS. Accepts NULL. */
void csi_creds_clear(csi_creds *c);

/** @brief The name of a source ("anonymous", "callback", "static", "environment", "file"). */
const char *csi_creds_source_str(enum csi_creds_source source);

/**
 * @brief Reads one profile of an AWS shared credentials file (outside bytes: this is what the
 * fuzz target tests/fuzz/fuzz_credentials_file.c drives). Reads exactly `len` bytes, no NUL
 * needed; never allocates.
 *
 * The format (what botocore's RawConfigParser accepts, minus interpolation): lines end in "\n"
 * or "\r\n"; an optional UTF-8 BOM; blank lines and lines whose first non-blank byte is '#' or
 * ';' are ignored; "[name]" starts a section (blanks around the name and around the brackets are
 * ignored; the name is compared exactly); "key = value" or "key: value" sets a key of the current
 * section (key compared ignoring ASCII case, blanks around key and value removed, the value
 * taken as it is, no inline comments); a line starting with a blank after a key line continues
 * that key's value (ignored: nested settings such as s3 =); a key twice keeps the last value.
 * Malformed: a NUL byte, a key line before any section, a '[' line without its ']' or with
 * something after it, an empty section name, a line that is neither, an empty key.
 *
 * @param[in]  text, len  the file's bytes
 * @param[in]  profile    the section to read (NUL-terminated)
 * @param[out] out        zeroed, then filled from the section when found
 * @param[out] found      true when the section exists and has non-empty aws_access_key_id and
 *                        aws_secret_access_key (aws_session_token optional)
 * @return CS_OK (see found); CS_E_MALFORMED (the whole text is checked, not only the profile);
 *         CS_E_INVAL (NULL arguments; a key or token of the profile longer than the
 *         cs_credentials limits)
 */
cs_status csi_creds_parse_ini(const char *text, size_t len, const char *profile,
                              cs_credentials *out, bool *found);

#ifdef __cplusplus
}
#endif

#endif /* CAMSTREAM_PRODUCER_CREDENTIALS_H */
