/* SPDX-License-Identifier: Apache-2.0 */
/* A loopback TCP proxy for fault tests: listens on a free 127.0.0.1 port and forwards every
 * connection to a target port, from one background thread. On command it drops every open
 * connection (RST), stalls (stops reading from clients, stops accepting, stops forwarding the
 * server's bytes) for a while, or cuts every connection once it has forwarded K bytes upstream.
 * Everything it needs is allocated by cs_proxy_start(): no allocation while it runs, so it can
 * live in a process whose allocations are being counted. Plain POSIX (poll, pthreads). */
#ifndef CS_PROXY_H
#define CS_PROXY_H

#include <stdbool.h>
#include <stdint.h>

typedef struct cs_proxy cs_proxy;

/** Counters since start. */
typedef struct cs_proxy_stats {
    uint64_t accepted;   /**< client connections accepted */
    uint64_t refused;    /**< of those, closed because the target refused the connect */
    uint64_t dropped;    /**< connections reset by cs_proxy_drop_all() */
    uint64_t cut;        /**< connections closed by the cut-after-K-bytes rule */
    uint64_t bytes_up;   /**< client -> target bytes forwarded */
    uint64_t bytes_down; /**< target -> client bytes forwarded */
    unsigned open;       /**< connections open now */
    bool stalled;        /**< a stall is in progress */
} cs_proxy_stats;

/** Starts a proxy to 127.0.0.1:`target_port`; returns 0 and sets `*out`, or -1 (errno). */
int cs_proxy_start(uint16_t target_port, cs_proxy **out);

/** The port the proxy listens on (127.0.0.1). */
uint16_t cs_proxy_port(const cs_proxy *p);

/** Changes the target for connections accepted from now on. */
void cs_proxy_set_target(cs_proxy *p, uint16_t target_port);

/** Resets every open connection (both sides, SO_LINGER 0); new connections are accepted. */
void cs_proxy_drop_all(cs_proxy *p);

/** Stalls for `ms` from now (0 ends a stall at once): open connections keep their sockets but no
 * byte moves either way and no new connection is accepted (it waits in the backlog). */
void cs_proxy_stall(cs_proxy *p, uint32_t ms);

/** From now on, closes every connection (reset, both sides) once it has forwarded `bytes` bytes
 * upstream (a connection already past that is cut at its next byte); 0 turns it off. */
void cs_proxy_cut_after(cs_proxy *p, uint64_t bytes);

/** A snapshot of the counters. */
void cs_proxy_get_stats(cs_proxy *p, cs_proxy_stats *st);

/** Stops the thread, closes everything, frees; sets `*p` to NULL; accepts NULL. */
void cs_proxy_stop(cs_proxy **p);

#endif
