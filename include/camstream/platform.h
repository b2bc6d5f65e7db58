/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file platform.h
 * @brief The platform layer: the one status type, clocks (replaceable by tests), sleep, threads,
 * mutexes, condition variables with timeouts, atomic file writes, entropy, allocators and logging.
 *
 * Everything above this layer (mkv, producer, consumer, server) reaches the operating system only
 * through these functions. Each port lives in `platform/<port>/` and is chosen at configure time
 * by feature tests (`CS_HAVE_*` in `cs_build_config.h`); `platform/posix/` is the first.
 *
 * Thread safety: every function here may be called from any thread, except where a parameter is
 * documented as owned by one thread.
 */
#ifndef CAMSTREAM_PLATFORM_H
#define CAMSTREAM_PLATFORM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "camstream/cs_build_config.h"

#if CS_HAVE_PTHREAD
#include <pthread.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Marks a function as part of the library's exported API (the build hides everything else). */
#if defined(__GNUC__) || defined(__clang__)
#define CS_API __attribute__((visibility("default")))
#define CS_PRINTF(fmt_idx, args_idx) __attribute__((format(printf, fmt_idx, args_idx)))
#else
#define CS_API
#define CS_PRINTF(fmt_idx, args_idx)
#endif

/* ---------------------------------------------------------------------------------------------- */
/* Status                                                                                         */
/* ---------------------------------------------------------------------------------------------- */

/**
 * @brief The one status type of camstream. Values are explicit and only ever appended.
 *
 * There is one success value. "No data yet" and "end of stream" travel in out-parameters, not here.
 */
typedef enum cs_status {
    CS_OK = 0,             /**< success */
    CS_AGAIN = 1,          /**< try again later (would block; not an error) */
    CS_E_INVAL = 2,        /**< an argument is invalid */
    CS_E_NOMEM = 3,        /**< an allocation failed */
    CS_E_NOSPACE = 4,      /**< the destination buffer or store is too small */
    CS_E_IO = 5,           /**< an operating system I/O call failed */
    CS_E_TIMEOUT = 6,      /**< a wait ran out of time */
    CS_E_NOTFOUND = 7,     /**< the named thing does not exist */
    CS_E_EXISTS = 8,       /**< the named thing already exists */
    CS_E_RANGE = 9,        /**< a value is out of its allowed range */
    CS_E_MALFORMED = 10,   /**< input bytes do not follow their format */
    CS_E_UNSUPPORTED = 11, /**< valid input that this build does not handle */
    CS_E_LIMIT = 12,       /**< a configured limit was exceeded */
    CS_E_STATE = 13,       /**< the call is not allowed in the object's current state */
    CS_E_NET = 14,         /**< a network operation failed */
    CS_E_AUTH = 15,        /**< authentication or signature failure */
    CS_E_PERM = 16,        /**< permission denied */
    CS_E_INTERNAL = 17,    /**< a bug: an invariant did not hold */
    CS_E_CANCELLED = 18,   /**< the operation was cancelled */
    CS_E_OVERFLOW = 19,    /**< an arithmetic result would not fit its type */
} cs_status;

/** @brief The name of a status, e.g. "CS_E_NOSPACE"; "CS_E_UNKNOWN" for values not listed. */
CS_API const char *cs_status_str(cs_status status);

/** @brief The version of the library as "MAJOR.MINOR.PATCH". */
CS_API const char *cs_version(void);

/* ---------------------------------------------------------------------------------------------- */
/* Checked arithmetic                                                                             */
/* ---------------------------------------------------------------------------------------------- */

/**
 * @brief `*out = a * b`, unless that overflows size_t.
 * @return CS_OK, or CS_E_OVERFLOW (and `*out` is left unchanged).
 */
static inline cs_status cs_mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a) {
        return CS_E_OVERFLOW;
    }
    *out = a * b;
    return CS_OK;
}

/** @brief `*out = a + b`, unless that overflows size_t. @return CS_OK or CS_E_OVERFLOW. */
static inline cs_status cs_add_size(size_t a, size_t b, size_t *out)
{
    if (b > SIZE_MAX - a) {
        return CS_E_OVERFLOW;
    }
    *out = a + b;
    return CS_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* Allocator                                                                                      */
/* ---------------------------------------------------------------------------------------------- */

/**
 * @brief A per-instance allocator. Objects that allocate take one in their config; NULL there
 * means cs_allocator_default(). There is no global allocation hook.
 */
typedef struct cs_allocator {
    /** Returns `size` bytes aligned for any type, or NULL. Never called with size 0. */
    void *(*alloc)(void *ctx, size_t size);
    /** Releases a block from alloc(); never called with NULL. */
    void (*free)(void *ctx, void *ptr);
    void *ctx;
} cs_allocator;

/** @brief The allocator over malloc()/free(). */
CS_API const cs_allocator *cs_allocator_default(void);

/** @brief Allocates through `a` (NULL = default); returns NULL when size is 0 or on failure. */
CS_API void *cs_alloc(const cs_allocator *a, size_t size);

/** @brief Allocates `n * size` zeroed bytes through `a`; NULL on overflow or failure. */
CS_API void *cs_calloc(const cs_allocator *a, size_t n, size_t size);

/** @brief Frees `*p` through `a` (NULL = default) and sets `*p` to NULL. Accepts NULL `*p`. */
CS_API void cs_freep(const cs_allocator *a, void *p);

/* ---------------------------------------------------------------------------------------------- */
/* Clocks                                                                                         */
/* ---------------------------------------------------------------------------------------------- */

/**
 * @brief A source of time. Code that keeps time (timeouts, retention, backoff) takes a
 * `const cs_clock *` so tests can replace it; NULL always means cs_clock_system().
 */
typedef struct cs_clock {
    /** Monotonic time in nanoseconds from an arbitrary origin; never goes backwards. */
    uint64_t (*monotonic_ns)(void *ctx);
    /** Wall-clock time in nanoseconds since 1970-01-01T00:00:00Z. */
    uint64_t (*wall_ns)(void *ctx);
    /** Sleeps for `ns` nanoseconds of this clock's time. */
    void (*sleep_ns)(void *ctx, uint64_t ns);
    void *ctx;
} cs_clock;

/** @brief The operating system's clocks. */
CS_API const cs_clock *cs_clock_system(void);

/** @brief Monotonic nanoseconds of `clock` (NULL = system). */
CS_API uint64_t cs_clock_monotonic_ns(const cs_clock *clock);

/** @brief Wall-clock nanoseconds since the Unix epoch of `clock` (NULL = system). */
CS_API uint64_t cs_clock_wall_ns(const cs_clock *clock);

/** @brief Sleeps `ns` nanoseconds on `clock` (NULL = system). */
CS_API void cs_clock_sleep_ns(const cs_clock *clock, uint64_t ns);

/**
 * @brief A clock that moves only when told to, for tests. Its `sleep_ns` advances both times
 * instead of sleeping. Safe to read and advance from several threads.
 *
 * @code
 * cs_manual_clock mc;
 * cs_manual_clock_init(&mc, 0, 1700000000ull * 1000000000ull);
 * thing_config.clock = &mc.clock;
 * cs_manual_clock_advance(&mc, 5ull * 1000000000ull); // five seconds pass
 * @endcode
 */
typedef struct cs_manual_clock {
    cs_clock clock; /**< pass `&mc.clock` wherever a clock is taken */
    uint64_t mono_ns;
    uint64_t wall_ns;
} cs_manual_clock;

/** @brief Sets up a manual clock at the given monotonic and wall times. */
CS_API void cs_manual_clock_init(cs_manual_clock *mc, uint64_t mono_ns, uint64_t wall_ns);

/** @brief Moves both times of a manual clock forward by `ns`. */
CS_API void cs_manual_clock_advance(cs_manual_clock *mc, uint64_t ns);

/* ---------------------------------------------------------------------------------------------- */
/* Threads, mutexes, condition variables                                                          */
/* ---------------------------------------------------------------------------------------------- */

/* The structs below are defined by the port so they can live inside other objects without a heap
 * allocation; their members are private. */
#if CS_HAVE_PTHREAD
typedef struct cs_thread {
    pthread_t handle;
    bool started;
} cs_thread;
typedef struct cs_mutex {
    pthread_mutex_t m;
} cs_mutex;
typedef struct cs_cond {
    pthread_cond_t c;
    bool monotonic; /* timed waits measure CLOCK_MONOTONIC (else CLOCK_REALTIME) */
} cs_cond;
#endif

/** @brief A thread's body. */
typedef void (*cs_thread_fn)(void *arg);

/**
 * @brief Starts a thread running `fn(arg)`.
 * @param[out] thread  filled in; join it with cs_thread_join()
 * @param[in]  name    a short name for debuggers (may be NULL; truncated to 15 bytes)
 * @return CS_OK, CS_E_INVAL, CS_E_NOMEM (no resources for a thread)
 */
CS_API cs_status cs_thread_create(cs_thread *thread, cs_thread_fn fn, void *arg, const char *name);

/** @brief Waits for a thread started by cs_thread_create() to end. @return CS_OK, CS_E_STATE. */
CS_API cs_status cs_thread_join(cs_thread *thread);

/** @brief Initialises a (non-recursive) mutex. @return CS_OK or CS_E_NOMEM. */
CS_API cs_status cs_mutex_init(cs_mutex *mutex);
CS_API void cs_mutex_destroy(cs_mutex *mutex);
CS_API void cs_mutex_lock(cs_mutex *mutex);
CS_API void cs_mutex_unlock(cs_mutex *mutex);

/** @brief Initialises a condition variable whose timed waits use the monotonic clock. */
CS_API cs_status cs_cond_init(cs_cond *cond);
CS_API void cs_cond_destroy(cs_cond *cond);
/** @brief Waits on `cond`; `mutex` must be held, and is held again on return. */
CS_API void cs_cond_wait(cs_cond *cond, cs_mutex *mutex);
/**
 * @brief Waits on `cond` for at most `timeout_ns` of real (monotonic system) time.
 * Spurious wake-ups are possible, as with any condition variable: re-check the predicate.
 * @return CS_OK when woken, CS_E_TIMEOUT when the time ran out.
 */
CS_API cs_status cs_cond_timedwait(cs_cond *cond, cs_mutex *mutex, uint64_t timeout_ns);
CS_API void cs_cond_signal(cs_cond *cond);
CS_API void cs_cond_broadcast(cs_cond *cond);

/* ---------------------------------------------------------------------------------------------- */
/* Files                                                                                          */
/* ---------------------------------------------------------------------------------------------- */

/**
 * @brief A file being written so that it appears whole or not at all: data goes to a temporary
 * file beside `path`; commit fsyncs it, renames it over `path` and fsyncs the directory.
 * A crash at any moment leaves either the old file (or none) or the complete new one.
 */
typedef struct cs_atomic_file {
    int fd;
    char tmp_path[1024];
    char path[1024];
} cs_atomic_file;

/** @brief Creates the temporary file for `path`. @return CS_OK, CS_E_INVAL (path too long), CS_E_IO
 */
CS_API cs_status cs_atomic_file_open(cs_atomic_file *af, const char *path);
/** @brief Appends `len` bytes. @return CS_OK, CS_E_IO (the file is then best aborted) */
CS_API cs_status cs_atomic_file_write(cs_atomic_file *af, const void *data, size_t len);
/** @brief fsync, rename over the target, fsync the directory. @return CS_OK or CS_E_IO (nothing
 * was replaced; the temporary is removed). */
CS_API cs_status cs_atomic_file_commit(cs_atomic_file *af);
/** @brief Removes the temporary file; the target is untouched. Safe after a failed commit. */
CS_API void cs_atomic_file_abort(cs_atomic_file *af);

/** @brief Writes a whole file atomically (open, write, commit). @return as above. */
CS_API cs_status cs_file_write_atomic(const char *path, const void *data, size_t len);

/**
 * @brief Reads up to `cap` bytes of a file.
 * @param[out] len  bytes read
 * @return CS_OK, CS_E_NOTFOUND, CS_E_NOSPACE (the file is larger than cap; `*len` = cap bytes
 * read), CS_E_IO
 */
CS_API cs_status cs_file_read(const char *path, void *buf, size_t cap, size_t *len);

/* ---------------------------------------------------------------------------------------------- */
/* Entropy                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

/** @brief Fills `buf` with `len` bytes from the system's cryptographic random source. */
CS_API cs_status cs_entropy_fill(void *buf, size_t len);

/* ---------------------------------------------------------------------------------------------- */
/* Logging                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

/** Log levels; a message is emitted when its level <= the logger's level. */
typedef enum cs_log_level {
    CS_LOG_NONE = 0,
    CS_LOG_ERROR = 1,
    CS_LOG_WARN = 2,
    CS_LOG_INFO = 3,
    CS_LOG_DEBUG = 4,
    CS_LOG_TRACE = 5,
} cs_log_level;

/** @brief Receives one formatted message (no trailing newline); `msg` is valid during the call. */
typedef void (*cs_log_sink)(void *ctx, cs_log_level level, const char *module, const char *msg);

/**
 * @brief Where an object's messages go. Objects take a `const cs_logger *` in their config;
 * NULL means cs_logger_default() (stderr, level WARN, or CS_LOG_LEVEL from the environment).
 */
typedef struct cs_logger {
    cs_log_sink sink; /**< NULL: stderr */
    void *ctx;
    cs_log_level level; /**< runtime threshold */
} cs_logger;

/** @brief The process default logger (stderr; level from env CS_LOG_LEVEL=0..5, else WARN). */
CS_API const cs_logger *cs_logger_default(void);

/** @brief The name of a level ("error", "warn", ...). */
CS_API const char *cs_log_level_str(cs_log_level level);

/** @brief Formats and emits a message if `level` passes the logger's threshold. Use the macros. */
CS_API void cs_log_emit(const cs_logger *logger, cs_log_level level, const char *module,
                        const char *fmt, ...) CS_PRINTF(4, 5);
CS_API void cs_log_emitv(const cs_logger *logger, cs_log_level level, const char *module,
                         const char *fmt, va_list ap);

/* Statements above CS_LOG_LEVEL_MAX (a build option) compile to nothing, arguments included. */
#if CS_LOG_LEVEL_MAX >= 1
#define CS_LOG_ERROR(lg, mod, ...) cs_log_emit((lg), CS_LOG_ERROR, (mod), __VA_ARGS__)
#else
#define CS_LOG_ERROR(lg, mod, ...) ((void)0)
#endif
#if CS_LOG_LEVEL_MAX >= 2
#define CS_LOG_WARN(lg, mod, ...) cs_log_emit((lg), CS_LOG_WARN, (mod), __VA_ARGS__)
#else
#define CS_LOG_WARN(lg, mod, ...) ((void)0)
#endif
#if CS_LOG_LEVEL_MAX >= 3
#define CS_LOG_INFO(lg, mod, ...) cs_log_emit((lg), CS_LOG_INFO, (mod), __VA_ARGS__)
#else
#define CS_LOG_INFO(lg, mod, ...) ((void)0)
#endif
#if CS_LOG_LEVEL_MAX >= 4
#define CS_LOG_DEBUG(lg, mod, ...) cs_log_emit((lg), CS_LOG_DEBUG, (mod), __VA_ARGS__)
#else
#define CS_LOG_DEBUG(lg, mod, ...) ((void)0)
#endif
#if CS_LOG_LEVEL_MAX >= 5
#define CS_LOG_TRACE(lg, mod, ...) cs_log_emit((lg), CS_LOG_TRACE, (mod), __VA_ARGS__)
#else
#define CS_LOG_TRACE(lg, mod, ...) ((void)0)
#endif

#ifdef __cplusplus
}
#endif

#endif /* CAMSTREAM_PLATFORM_H */
