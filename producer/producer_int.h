/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by the producer's files (private to the library): the producer object and its
 * one I/O thread (producer.c), the stream and its frame path (stream.c), the per-stream upload
 * state machine run on the I/O thread (session.c). Who owns what, which thread touches what and
 * the lock order: docs/internals/PRODUCER.md, sections "Stream", "Session" and "I/O thread". */
#ifndef CAMSTREAM_PRODUCER_INT_H
#define CAMSTREAM_PRODUCER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "camstream/mkv.h"
#include "camstream/producer.h"
#include "content_store.h"
#include "credentials.h"
#include "sign.h"

#define CSI_LOG_MOD "producer"

/** Longest stream name (PROTOCOL.md §2). */
#define CSI_STREAM_NAME_MAX 256
/** CodecPrivate built from a first key frame: room per track (an avcC/hvcC of real encoders is
 * well below 256 bytes). */
#define CSI_CP_EXTRACT_MAX 1024
/** Fragments the stream remembers (timestamps, frames, bytes, send times) for drop reports and
 * latency figures; older ones are reported from the store's own figures. */
#define CSI_FRAG_INFO 128
/** Control-plane response bytes kept (describeStream answers ~500 bytes). */
#define CSI_RESP_MAX 4096
/** Longest URL (endpoint + path). */
#define CSI_URL_MAX 1024
/** Request headers of one call, before signing. */
#define CSI_MAX_HEADERS 10
/** Callback events queued per stream (more are merged into the last drop). */
#define CSI_EVENTS 16
/** Non-retriable ERROR acks waiting for their fragment to become the oldest kept one. */
#define CSI_REJECTS 16

/** A fragment the writer started. Written by the writer, read by the I/O thread: under mlock. */
struct csi_frag_info {
    uint64_t key;      /* cluster timecode in ns: the store's key and the ack's FragmentTimecode */
    uint64_t first_ts; /* the first frame's timestamp (pts) */
    uint64_t last_ts;  /* largest frame timestamp */
    uint64_t put_ns;   /* monotonic time its first frame was put */
    uint64_t sent_ns;  /* monotonic time its last byte was handed to the transport (0: not yet) */
    size_t bytes;      /* MKV bytes */
    uint32_t frames;
};

/** A callback to run outside every lock. */
struct csi_event {
    bool is_drop;
    cs_drop drop;
    unsigned threshold;
    bool rising;
    size_t used, capacity;
};

struct csi_event_queue {
    struct csi_event ev[CSI_EVENTS];
    size_t n;
};

/** Which call a session has open. */
enum csi_call_kind {
    CSI_CALL_NONE = 0,
    CSI_CALL_DESCRIBE,
    CSI_CALL_CREATE,
    CSI_CALL_ENDPOINT,
    CSI_CALL_PUTMEDIA,
};

/** The upload state machine of one stream. Touched only by the I/O thread (its handlers run
 * inside cs_transport::run on that thread), except where noted. */
struct csi_session {
    cs_stream_state state; /* the I/O thread's copy; the published one is s->state (mlock) */
    enum csi_call_kind kind;
    cs_transport_call *call;
    bool done;              /* on_done fired for `call` */
    cs_status done_status;  /* ... with this status */
    int http_status;        /* status line of the call (0: none yet) */
    uint64_t call_start_ns; /* when `call` started */
    uint64_t next_ns;       /* BACKOFF: when to go on */
    cs_stream_state after_backoff;
    uint32_t attempt; /* failures since the last PERSISTED ack: the backoff exponent */
    bool have_endpoint;
    uint64_t endpoint_expiry_ns;
    char endpoint[CSI_URL_MAX];
    char url[CSI_URL_MAX];
    cs_transport_header hdrs[CSI_MAX_HEADERS];
    size_t hdr_count;
    char start_ts[32];        /* x-amzn-producer-start-timestamp value */
    cs_transport_request req; /* borrowed by the transport until on_done */
    cs_transport_handlers h;
    csi_signed_headers sh; /* what signing adds (Host, date, token, Authorization) */
    cs_transport_header all_hdrs[CSI_MAX_HEADERS + CSI_SIGN_MAX_OUT]; /* hdrs + sh.h */
    char resp[CSI_RESP_MAX];
    size_t resp_len;
    /* PutMedia */
    char line[CS_KVS_ACK_MAX_LINE];
    size_t line_len;
    bool line_overflow;
    bool rewound;      /* the connection's first ring byte was positioned (csi_cstore_rewind) */
    bool send_header;  /* hdr_buf goes out before the ring bytes */
    size_t header_pos; /* bytes of hdr_buf sent */
    bool body_paused;  /* read_body answered pause */
    bool body_ended;   /* read_body answered "complete" (a flush) */
    bool replace;      /* the connection must be replaced (stale, discontinuity, retriable ERROR) */
    bool redescribe;   /* ... and the next attempt starts from describeStream */
    uint64_t stale_since_ns;       /* last ack, or when data became outstanding */
    bool have_buffering;           /* this upload got a BUFFERING ack ... */
    uint64_t buffering_key;        /* ... for the fragment keyed so (ns): the latest */
    uint64_t conn_bytes;           /* bytes sent on this connection */
    uint64_t last_sent_count;      /* the store's fragments_sent counter at the last look */
    uint64_t sent_seq;             /* next fragment (writer sequence) expected to finish sending */
    uint64_t rejects[CSI_REJECTS]; /* keys (ns) of rejected fragments not yet freed */
    uint32_t reject_ids[CSI_REJECTS];
    size_t reject_count;
};

struct cs_stream {
    cs_producer *p;
    struct cs_stream *next; /* the producer's list (p->lock) */
    cs_stream_config cfg;   /* copied; strings point into `arena` */
    char *arena;            /* name, media type, track names, given CodecPrivate, stream tags */
    cs_tag *tags;           /* stream tags (in arena) */
    uint8_t *body;          /* control-plane request body buffer (its size fits createStream) */
    size_t body_cap;
    uint8_t *hdr_buf; /* the stream header (EBML..Tracks) for reconnects */
    size_t hdr_cap;
    size_t hdr_len; /* published under mlock once the fragmenter is ready */
    csi_cstore *store;
    uint64_t key_track; /* track number whose key frames cut fragments */

    /* Writer side: serialized by `lock` (put_frame, put_tag, the flush cut). */
    cs_mutex lock;
    cs_mkv_fragmenter frag;
    bool frag_ready;
    bool need_cp[CS_MKV_MAX_TRACKS];
    uint8_t cp_buf[CS_MKV_MAX_TRACKS][CSI_CP_EXTRACT_MAX];
    size_t cp_len[CS_MKV_MAX_TRACKS];
    uint64_t last_dts[CS_MKV_MAX_TRACKS];
    bool have_dts[CS_MKV_MAX_TRACKS];
    uint64_t frag_first_ts; /* pts of the frame that started the current fragment */
    bool wait_key;          /* the fragment being written was evicted: drop until a key frame */
    bool have_wait_drop;
    cs_drop wait_drop;         /* frames dropped while waiting, reported at the next key frame */
    struct csi_event_queue wq; /* events raised on a writer thread (mlock) */

    /* Shared: under `mlock`, which is taken after the store's mutex and never held while
     * calling into the store or a user callback. */
    cs_mutex mlock;
    cs_cond cond; /* flush waiters: fragments freed, stream stopped */
    cs_stream_metrics m;
    cs_stream_state state;
    bool fatal;       /* stopped for good */
    bool closing;     /* cs_stream_destroy() asked the I/O thread to let go (p->lock) */
    bool closed;      /* the I/O thread let go (p->lock) */
    bool wake_wanted; /* the upload is paused on an empty ring: put_frame wakes the I/O thread */
    uint64_t flush_target; /* uploads end their body when drained until this many fragments
                              are freed (persisted or dropped): the last flush's */
    uint64_t frags_put;    /* fragments started (the next one's sequence number) */
    bool have_origin;
    uint64_t origin_ns;                       /* RELATIVE: the first frame's timestamp */
    struct csi_frag_info info[CSI_FRAG_INFO]; /* by sequence % CSI_FRAG_INFO */
    uint64_t rejected_frames, rejected_frags, rejected_bytes;
    uint64_t other_drop_frames, other_drop_bytes; /* waiting for a key frame */
    struct csi_event_queue ioq;                   /* events raised on the I/O thread */

    struct csi_session sess; /* the I/O thread's */
};

struct cs_producer {
    cs_producer_config cfg; /* copied; strings point into `arena` */
    char *arena;
    const cs_allocator *alloc;
    const cs_logger *log;
    const cs_clock *clock;
    cs_transport *tr;
    bool own_tr;
    csi_creds creds; /* resolved at create; used on the I/O thread (credentials.h) */
    cs_mutex lock;   /* the stream list, stop, closing/closed flags */
    cs_cond cond;    /* stream closed by the I/O thread */
    bool stop;
    cs_thread thread;
    bool thread_started;
    cs_stream *streams;
    uint64_t rng; /* backoff jitter (I/O thread) */
};

/* ---- stream.c ---- */

/** Publishes a state change and runs on_state (I/O thread). */
void csi_stream_set_state(cs_stream *s, cs_stream_state to);

/** Runs queued callbacks of `q` (the writer's or the I/O thread's) outside every lock. */
void csi_stream_run_events(cs_stream *s, bool io_queue);

/** on_error, outside every lock; counts it. */
void csi_stream_report_error(cs_stream *s, cs_status st, int http_status, uint32_t error_id,
                             bool fatal, const char *msg);

/** The fragment info of the fragment keyed `key` (ns), or NULL (mlock held). */
struct csi_frag_info *csi_stream_find_info(cs_stream *s, uint64_t key, uint64_t *seq);

/** Wakes flush waiters (fragments freed or dropped, stream stopped). */
void csi_stream_notify(cs_stream *s);

/** Frees a stream's memory (the I/O thread has let go). */
void csi_stream_free(cs_stream *s);

/* ---- session.c (I/O thread) ---- */

/** Advances the stream's state machine; returns the monotonic time it wants to run again. */
uint64_t csi_session_step(cs_stream *s, uint64_t now_ns);

/** Ends any open call silently (destroy, producer stop). */
void csi_session_close(cs_stream *s);

/* ---- producer.c ---- */

/** The producer's monotonic clock. */
uint64_t csi_producer_now(const cs_producer *p);

/** A uniform random number in [0, bound] (I/O thread). */
uint64_t csi_producer_random(cs_producer *p, uint64_t bound);

/** Makes the I/O thread look at its streams soon (any thread). */
void csi_producer_wake(cs_producer *p);

/** Resolves the credentials the config asks for (cs_producer_create). */
cs_status csi_producer_credentials_init(cs_producer *p);

/** Frees what csi_producer_credentials_init() made; accepts a partly made producer. */
void csi_producer_credentials_free(cs_producer *p);

/** Signs the session's request (ss->req, ss->hdrs) and points ss->req.headers at the headers to
 * send (ss->all_hdrs). Anonymous producers send ss->hdrs as they are. I/O thread. */
cs_status csi_producer_sign(cs_producer *p, struct csi_session *ss);

#endif /* CAMSTREAM_PRODUCER_INT_H */
