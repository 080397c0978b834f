/* store_json.c: a stored transaction and its branches as the JSON that DTM's
 * query and all endpoints print (the store's column names, Go's time and
 * []byte encodings; dtm-protocol.md §6). Pure functions, no database. */
#include "store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

/* "YYYY-MM-DD hh:mm:ss" (UTC) -> Go's time JSON "YYYY-MM-DDThh:mm:ssZ";
 * "" (NULL) -> null. */
static json_t *time_json(const char *t) {
    if (!t || !t[0]) return json_null();
    char buf[40];
    snprintf(buf, sizeof buf, "%.10sT%.8sZ", t, strlen(t) > 11 ? t + 11 : "00:00:00");
    return json_string(buf);
}

json_t *store_trans_json(const trans_global *t) {
    json_t *j = json_object();
    char *options = trans_options_json(&t->opts);
    if (!j || !options) {
        json_decref(j);
        free(options);
        return NULL;
    }
    json_object_set_new(j, "id", json_integer(t->id));
    json_object_set_new(j, "create_time", time_json(t->create_time));
    json_object_set_new(j, "update_time", time_json(t->update_time));
    json_object_set_new(j, "gid", json_string(t->gid));
    json_object_set_new(j, "trans_type", json_string(t->trans_type));
    json_object_set_new(j, "status", json_string(t->status));
    json_object_set_new(j, "query_prepared", json_string(t->query_prepared));
    json_object_set_new(j, "protocol", json_string(t->protocol));
    json_object_set_new(j, "finish_time", time_json(t->finish_time));
    json_object_set_new(j, "rollback_time", time_json(t->rollback_time));
    json_object_set_new(j, "options", json_string(options));
    json_object_set_new(j, "custom_data", json_string(t->custom_data));
    json_object_set_new(j, "next_cron_interval", json_integer(t->next_cron_interval));
    json_object_set_new(j, "next_cron_time", time_json(t->next_cron_time));
    json_object_set_new(j, "owner", json_string(t->owner));
    json_object_set_new(j, "ext_data", json_string(t->req_extra));
    json_object_set_new(j, "result", json_string(t->result));
    json_object_set_new(j, "rollback_reason", json_string(t->rollback_reason));
    free(options);
    /* DTM embeds TransOptions in the same object: the option keys follow,
     * with the options column's rules (zero values left out but concurrent). */
    const trans_options *o = &t->opts;
    if (o->wait_result) json_object_set_new(j, "wait_result", json_true());
    if (o->timeout_to_fail) json_object_set_new(j, "timeout_to_fail", json_integer(o->timeout_to_fail));
    if (o->request_timeout) json_object_set_new(j, "request_timeout", json_integer(o->request_timeout));
    if (o->retry_interval) json_object_set_new(j, "retry_interval", json_integer(o->retry_interval));
    if (o->n_headers) {
        json_t *h = json_object();
        for (size_t i = 0; h && i < o->n_headers; i++)
            json_object_set_new(h, o->headers[i].key, json_string(o->headers[i].value));
        if (h) json_object_set_new(j, "branch_headers", h);
    }
    json_object_set_new(j, "concurrent", json_boolean(o->concurrent));
    if (o->retry_limit) json_object_set_new(j, "retry_limit", json_integer(o->retry_limit));
    return j;
}

json_t *store_branch_json(const trans_global *t, const trans_branch *b) {
    json_t *j = json_object();
    char *b64 = base64_encode(b->data, b->data ? b->data_len : 0);
    if (!j || !b64) {
        json_decref(j);
        free(b64);
        return NULL;
    }
    json_object_set_new(j, "id", json_integer(b->id));
    json_object_set_new(j, "create_time", time_json(b->create_time));
    json_object_set_new(j, "update_time", time_json(b->update_time));
    json_object_set_new(j, "gid", json_string(t->gid));
    json_object_set_new(j, "url", json_string(b->url ? b->url : ""));
    json_object_set_new(j, "data", json_string(""));
    json_object_set_new(j, "bin_data", json_string(b64));
    json_object_set_new(j, "branch_id", json_string(b->branch_id));
    json_object_set_new(j, "op", json_string(b->op));
    json_object_set_new(j, "status", json_string(b->status));
    json_object_set_new(j, "finish_time", time_json(b->finish_time));
    json_object_set_new(j, "rollback_time", time_json(b->rollback_time));
    free(b64);
    return j;
}
