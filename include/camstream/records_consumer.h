/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file records_consumer.h
 * @brief Reading record streams (Kinesis Data Streams API, PROTOCOL.md §6) with several workers:
 * camstream's equivalent of the Kinesis Client Library, in C (docs/record-streams.md).
 *
 * A consumer reads every shard of one stream, parents before children across resharding, and
 * hands the records of each shard, in order, to a process callback. With an application name,
 * the shards are shared by every consumer (worker) of that application through leases and
 * checkpoints kept by the server (camstream's `Camstream_20261206.*` operations): each shard is
 * read by one worker at a time, a worker that stops renewing loses its leases when they expire,
 * and after each batch the callback accepted the consumer checkpoints the batch's last sequence
 * number, so a worker that takes a shard over starts after the last checkpoint: at-least-once
 * delivery (a batch processed but not checkpointed is delivered again, nothing is skipped).
 * Without an application name the consumer reads every shard itself and remembers its position
 * only in memory.
 *
 * Threads: a consumer is used by one thread at a time; its callbacks run on that thread inside
 * cs_records_consumer_poll(), between the renewals: a callback that takes longer than a third of
 * the lease duration delays them and may cost the lease (the batch is then delivered again to
 * the next holder); raise `lease_ms` for slow processing. Memory: one GetRecords answer at a time
 * (the server caps one at 10 MiB of data, about 14 MB of JSON; `max_records` lowers it) with its
 * decoded records, plus a fixed state of about 1 KiB per shard of the stream.
 *
 * @code
 * static cs_status process(void *user, const char *shard, const cs_record *recs, size_t n)
 * {
 *     for (size_t i = 0; i < n; i++) {
 *         fwrite(recs[i].data, 1, recs[i].len, stdout);
 *     }
 *     return CS_OK; // checkpoint this batch
 * }
 * cs_records_consumer_config cfg;
 * cs_records_consumer *c = NULL;
 * cs_records_consumer_config_init(&cfg);
 * cfg.endpoint = "http://127.0.0.1:8080";
 * cfg.stream_name = "events";
 * cfg.app_name = "indexer";
 * cfg.process = process;
 * if (cs_records_consumer_create(&cfg, &c) == CS_OK) {
 *     cs_records_consumer_run(c, &stop_flag); // until stop_flag is set
 *     cs_records_consumer_destroy(&c);        // checkpointed; releases the leases
 * }
 * @endcode
 */
#ifndef CAMSTREAM_RECORDS_CONSUMER_H
#define CAMSTREAM_RECORDS_CONSUMER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "camstream/consumer.h"
#include "camstream/platform.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief One record handed to the process callback; valid during the callback only. */
typedef struct cs_record {
    const char *sequence_number; /**< 56 decimal digits on camstream */
    const char *partition_key;
    const uint8_t *data;
    size_t len;
    uint64_t arrival_ms; /**< ApproximateArrivalTimestamp, epoch milliseconds */
} cs_record;

/**
 * @brief Processes one batch of a shard (records in shard order, `count` >= 1).
 * @return CS_OK: processed; the consumer checkpoints after the last of them. Anything else: not
 *         processed; nothing is checkpointed, the shard is read again from its last checkpoint,
 *         and cs_records_consumer_poll() returns that status.
 */
typedef cs_status (*cs_records_process_fn)(void *user, const char *shard_id,
                                           const cs_record *records, size_t count);

/** @brief What happened to a shard (for logs and tests). */
typedef enum cs_records_event {
    CS_RECORDS_LEASE_TAKEN = 0,    /**< this worker now reads the shard */
    CS_RECORDS_LEASE_LOST = 1,     /**< taken by another worker (expired), or refused: stopped */
    CS_RECORDS_LEASE_RELEASED = 2, /**< handed over on request (balancing) or at destroy */
    CS_RECORDS_SHARD_END = 3,      /**< a closed shard read to its end (checkpointed SHARD_END) */
} cs_records_event;

/** @brief Told of each event of a shard. */
typedef void (*cs_records_event_fn)(void *user, cs_records_event ev, const char *shard_id);

/** @brief Where a shard without a checkpoint starts. */
typedef enum cs_records_start {
    CS_RECORDS_TRIM_HORIZON = 0, /**< its oldest record */
    CS_RECORDS_LATEST = 1,       /**< records put after the shard is first read */
} cs_records_start;

/** @brief Settings; fill with cs_records_consumer_config_init(). Fields are only appended.
 * Strings are copied at create. */
typedef struct cs_records_consumer_config {
    const char *endpoint; /**< base URL, e.g. http://127.0.0.1:8080 (required) */
    const char *region;   /**< default "us-west-2" */
    /** Static credentials; NULL: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN
     * from the environment; none there: requests are not signed. */
    const char *access_key;
    const char *secret_key;
    const char *session_token;
    const char *stream_name; /**< (required) */
    /** Shares the shards with the other workers of this application through server-side leases
     * and checkpoints; NULL: no leases, no checkpoints, every shard read by this consumer. */
    const char *app_name;
    const char *worker_id;       /**< NULL: "<hostname>-<pid>-<random>" */
    cs_records_start start;      /**< shards without a checkpoint; default TRIM_HORIZON */
    uint32_t lease_ms;           /**< lease duration; renewed every third of it; default 10000 */
    uint32_t max_records;        /**< GetRecords Limit (1..10000); default 1000 */
    uint32_t idle_ms;            /**< cs_records_consumer_run(): sleep when no shard had records;
                                     default 200 */
    uint32_t max_leases;         /**< most shards this worker holds; 0 (default): its fair share */
    uint32_t connect_timeout_ms; /**< default 5000 */
    cs_records_process_fn process; /**< (required) */
    cs_records_event_fn on_event;  /**< may be NULL */
    void *user;                    /**< passed to the callbacks */
    const cs_logger *logger;
} cs_records_consumer_config;

typedef struct cs_records_consumer cs_records_consumer;

/** @brief Fills `cfg` with the defaults listed at each field. */
CS_API void cs_records_consumer_config_init(cs_records_consumer_config *cfg);

/**
 * @brief Creates a consumer (no request is sent yet).
 * @return CS_OK; CS_E_INVAL (missing endpoint, stream or process; a bad value);
 *         CS_E_NOMEM; CS_E_UNSUPPORTED (a build without libcurl or jansson)
 */
CS_API cs_status cs_records_consumer_create(const cs_records_consumer_config *cfg,
                                            cs_records_consumer **out);

/**
 * @brief One round: when due (every third of the lease duration) renews the leases, hands over
 * the ones other workers asked for and takes free or expired ones up to this worker's fair share
 * (shards whose parents are all checkpointed at SHARD_END only); then one GetRecords on each
 * shard it reads, the process callback for each non-empty batch and a checkpoint after it.
 * @param[out] idle  true when no shard returned records (may be NULL)
 * @return CS_OK; CS_E_NOTFOUND (no such stream); CS_E_AUTH (credentials refused); CS_E_NET (no
 *         answer from the server: call again to retry); what the process callback returned;
 *         cs_records_consumer_error() says more
 */
CS_API cs_status cs_records_consumer_poll(cs_records_consumer *c, bool *idle);

/**
 * @brief Calls cs_records_consumer_poll() until `*stop` becomes non-zero (set from a signal
 * handler, another thread) or a poll fails with anything but CS_E_NET, sleeping `idle_ms`
 * after idle rounds.
 * @return CS_OK when stopped; else the poll's failure
 */
CS_API cs_status cs_records_consumer_run(cs_records_consumer *c, const volatile sig_atomic_t *stop);

/** @brief How many shards this worker reads now. */
CS_API size_t cs_records_consumer_leases(const cs_records_consumer *c);

/** @brief The last error's message, "" if none. */
CS_API const char *cs_records_consumer_error(const cs_records_consumer *c);

/** @brief Releases the leases (every processed batch is checkpointed already) and frees the
 * consumer; sets `*c` to NULL; accepts NULL. */
CS_API void cs_records_consumer_destroy(cs_records_consumer **c);

/**
 * @brief One signed KDS JSON 1.1 call (`POST /`, `X-Amz-Target: <target>`, e.g.
 * "Kinesis_20131202.PutRecords"), with the endpoint, region and credentials of `cfg` (the other
 * fields are not used).
 * @param[out] out  the response body, NUL-terminated, to free with cs_records_free() (also for
 *                  error answers: the `{"__type","message"}` body)
 * @return CS_OK when an HTTP answer came (see res->http_status, res->error_type); CS_E_NET;
 *         CS_E_INVAL; CS_E_NOMEM; CS_E_LIMIT (answer over 64 MiB); CS_E_UNSUPPORTED
 */
CS_API cs_status cs_records_call(const cs_records_consumer_config *cfg, const char *target,
                                 const char *json, char **out, size_t *out_len, cs_kvs_result *res);

/** @brief Frees a body from cs_records_call(); accepts NULL. */
CS_API void cs_records_free(void *p);

/**
 * @brief Decodes standard base64 (the `Data` of a record), padding required, no whitespace.
 * @param[in] cap  bytes at `out` (3 * n / 4 is enough)
 * @return CS_OK; CS_E_MALFORMED; CS_E_NOSPACE
 */
CS_API cs_status cs_records_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap,
                                          size_t *out_len);

#ifdef __cplusplus
}
#endif

#endif /* CAMSTREAM_RECORDS_CONSUMER_H */
