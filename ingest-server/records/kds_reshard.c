/* SPDX-License-Identifier: Apache-2.0 */
/* The UpdateShardCount plan (kds_reshard.h): split every open shard at the target ranges' ends
 * it straddles, then merge the pieces of each target range left to right. Pure. Invariants:
 * docs/internals/RECORDS.md. */
#define _POSIX_C_SOURCE 200809L
#include "kds_reshard.h"

#include <stdlib.h>
#include <string.h>

struct piece {
    uint32_t index;
    csi_u128 start, end;
};

static int by_start(const void *a, const void *b)
{
    const struct piece *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start ? 1 : 0;
}

static cs_status emit(csi_kds_reshard_op *ops, size_t cap, size_t *n, csi_kds_reshard_op op)
{
    if (*n == cap) {
        return CS_E_NOSPACE;
    }
    ops[(*n)++] = op;
    return CS_OK;
}

cs_status csi_kds_reshard_plan(const csi_kds_shard *sh, size_t n, uint32_t target,
                               csi_kds_reshard_op *ops, size_t cap, size_t *n_ops, size_t *n_new)
{
    struct piece *open = NULL, *pieces = NULL;
    size_t n_open = 0, n_pieces = 0, next = n, j = 0;
    cs_status st = CS_OK;
    if (sh == NULL || n_ops == NULL || n_new == NULL || (ops == NULL && cap > 0) || target == 0) {
        return CS_E_INVAL;
    }
    *n_ops = 0;
    *n_new = 0;
    open = calloc(n ? n : 1, sizeof(*open));
    /* Splitting at target - 1 boundaries adds at most target - 1 pieces. */
    pieces = calloc(n + target, sizeof(*pieces));
    if (open == NULL || pieces == NULL) {
        st = CS_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!sh[i].closed) {
            open[n_open++] = (struct piece){sh[i].index, sh[i].start, sh[i].end};
        }
    }
    if (n_open == 0) {
        st = CS_E_INVAL;
        goto out;
    }
    qsort(open, n_open, sizeof(*open), by_start);
    /* The open shards must tile the space: first at 0, each next right after, last at the top. */
    for (size_t i = 0; i < n_open; i++) {
        if ((i == 0 && open[i].start != 0) || (i > 0 && open[i].start != open[i - 1].end + 1) ||
            (i == n_open - 1 && open[i].end != ~(csi_u128)0)) {
            st = CS_E_INTERNAL;
            goto out;
        }
    }
    /* Splits: walk the open shards and the target ends together. */
    for (size_t i = 0; i < n_open && st == CS_OK; i++) {
        struct piece cur = open[i];
        for (;;) {
            csi_u128 ts, te;
            st = csi_kds_split_range(0, ~(csi_u128)0, target, (uint32_t)j, &ts, &te);
            if (st != CS_OK) {
                goto out;
            }
            (void)ts;
            if (te >= cur.end) {
                if (te == cur.end) {
                    j++; /* this piece ends the range exactly */
                }
                pieces[n_pieces++] = cur;
                break;
            }
            if (te < cur.start) {
                j++; /* cannot happen on a tiling; keeps the loop finite */
                continue;
            }
            /* te in [start, end): split at te + 1 (the left child ends the range) */
            st = emit(ops, cap, n_ops, (csi_kds_reshard_op){false, cur.index, 0, te + 1});
            if (st != CS_OK) {
                goto out;
            }
            pieces[n_pieces++] = (struct piece){(uint32_t)next, cur.start, te};
            cur = (struct piece){(uint32_t)(next + 1), te + 1, cur.end};
            next += 2;
            j++;
        }
    }
    /* Merges: the pieces of each target range, left to right. */
    j = 0;
    for (size_t i = 0; i < n_pieces && st == CS_OK; j++) {
        csi_u128 ts, te;
        uint32_t cur;
        st = csi_kds_split_range(0, ~(csi_u128)0, target, (uint32_t)j, &ts, &te);
        if (st != CS_OK || pieces[i].start != ts) {
            st = st != CS_OK ? st : CS_E_INTERNAL;
            goto out;
        }
        cur = pieces[i].index;
        i++;
        while (i < n_pieces && pieces[i].end <= te && pieces[i].start > ts) {
            st = emit(ops, cap, n_ops, (csi_kds_reshard_op){true, cur, pieces[i].index, 0});
            if (st != CS_OK) {
                goto out;
            }
            cur = (uint32_t)next++;
            i++;
        }
    }
    *n_new = next - n;
out:
    free(open);
    free(pieces);
    return st;
}
