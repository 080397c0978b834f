/* logic.h: order-api's business, in the terms of the place-order demo
 * (demo.md §5): check an order request, turn it into the two-step saga
 * "create the order, then deduct the stock", submit it to the coordinator,
 * and say how it ended; and describe an order's saga for GET /order/{gid}.
 * Nothing here knows HTTP: handler.c translates both ways. */
#ifndef ORDER_API_LOGIC_H
#define ORDER_API_LOGIC_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dtmclient.h"
#include "model.h"

/* What the logic needs from the process (go-zero's ServiceContext). */
typedef struct {
    const api_config *cfg;
    dtmc *dtm;       /* the coordinator */
    order_rows *orders; /* order-srv, for the order row of GET /order/{gid} */
} order_api_svc;

/* POST /order/quickCreate's body. */
typedef struct {
    int64_t user_id;
    int64_t goods_id;
    int64_t num;
} order_req;

/* Checks a quickCreate body: a JSON object whose userId, goodsId and num are
 * JSON integers in 1..INT64_MAX (no floats, strings, booleans, null, zero,
 * negatives or numbers too large for int64). Other keys are ignored, as
 * go-zero's httpx.Parse does. Returns 0, or -1 with `err` naming the field
 * ("num must be a positive integer, got -1") or saying why the JSON is
 * malformed. */
int order_parse_quick_create(const char *body, size_t len, order_req *out, char *err,
                             size_t errlen);

/* The saga of one order, ready for dtmc_submit(): step 1 creates the order
 * (pb.order create / createRollback, payload CreateReq), step 2 deducts the
 * stock (pb.stock deduct / deductRollback, payload DecuctReq). */
typedef struct {
    dtmc_saga saga;
    char urls[4][API_TARGET_MAX + 64];
    uint8_t *create_req; /* packed Pb__CreateReq */
    size_t create_len;
    uint8_t *deduct_req; /* packed Pb__DecuctReq */
    size_t deduct_len;
} order_saga;

/* Builds the saga of order `r` under `gid`; the branch URLs are the config's
 * targets + the method paths. Returns 0, or -1 with `err` filled (out of
 * memory). Free with order_saga_free(). */
int order_saga_build(const api_config *cfg, const char *gid, const order_req *r, int wait,
                     order_saga *out, char *err, size_t errlen);
void order_saga_free(order_saga *s);

/* How placing an order ended. */
typedef enum {
    ORDER_SUBMITTED = 0, /* accepted; the saga runs in the background */
    ORDER_SUCCEED,       /* (wait) the saga succeeded: order created, stock deducted */
    ORDER_FAILED,        /* (wait) the saga failed and was compensated; `reason` says why */
    ORDER_PENDING,       /* (wait) not final yet (retrying, or aborting); `status` says where */
    ORDER_UNAVAILABLE,   /* the coordinator cannot be reached; `reason` says why */
    ORDER_REJECTED,      /* the coordinator refused the request; `reason` says why */
} order_outcome_kind;

typedef struct {
    order_outcome_kind kind;
    char gid[DTMC_GID_MAX + 1]; /* "" when no gid was obtained */
    char status[16];            /* the saga's status: submitted, succeed, failed, aborting, unknown */
    char reason[1024];
} order_outcome;

/* Places order `r`: NewGid, then Submit of the saga, with WaitResult when
 * `wait`. When a waited Submit does not say succeed, the coordinator's query
 * decides between failed and still running. Never fails hard: every outcome,
 * including an unreachable coordinator, is described in *out. */
void order_logic_quick_create(order_api_svc *svc, const order_req *r, int wait,
                              order_outcome *out);

/* 1 when `gid` can be a gid: 1..128 bytes of [A-Za-z0-9_.:-]. */
int order_gid_valid(const char *gid);

/* What GET /order/{gid} shows. */
typedef struct {
    dtmc_trans saga;      /* the coordinator's view: status and branches */
    int looked_up_order;  /* order-srv answered (order_found says whether a row exists) */
    int order_found;
    order_row order;
    char order_error[256];/* the order row could not be read: why ("" otherwise) */
} order_view;

typedef enum {
    ORDER_VIEW_OK = 0,
    ORDER_VIEW_NOT_FOUND,   /* the coordinator has no saga with this gid */
    ORDER_VIEW_UNAVAILABLE, /* the coordinator cannot be reached */
    ORDER_VIEW_ERROR,       /* the coordinator answered something unexpected */
} order_view_rc;

/* Reads the saga of `gid` from the coordinator and its order row from
 * order-srv. On anything but ORDER_VIEW_OK `msg` says why. */
order_view_rc order_logic_view(order_api_svc *svc, const char *gid, order_view *out, char *msg,
                               size_t msglen);

#endif
