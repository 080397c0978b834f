/* store_schema.c: the coordinator's tables (sql/40-dtm.sql, DTM's schema),
 * created by `dtm -r` through store_create_schema() (store.h). */
#include "errbuf.h"
#include "store_int.h"

/* sql/40-dtm.sql without the database prefix: the tables go into the
 * database of the store's pool. */
static const char *const schema_ddl[] = {
    "CREATE TABLE IF NOT EXISTS trans_global ("
    " id bigint(22) NOT NULL AUTO_INCREMENT,"
    " gid varchar(128) NOT NULL,"
    " trans_type varchar(45) NOT NULL,"
    " status varchar(12) NOT NULL,"
    " query_prepared varchar(1024) NOT NULL,"
    " protocol varchar(45) NOT NULL,"
    " create_time datetime DEFAULT NULL,"
    " update_time datetime DEFAULT NULL,"
    " finish_time datetime DEFAULT NULL,"
    " rollback_time datetime DEFAULT NULL,"
    " options varchar(1024) DEFAULT '',"
    " custom_data varchar(1024) DEFAULT '',"
    " next_cron_interval int(11) DEFAULT NULL,"
    " next_cron_time datetime DEFAULT NULL,"
    " owner varchar(128) NOT NULL DEFAULT '',"
    " ext_data TEXT,"
    " result varchar(1024) DEFAULT '',"
    " rollback_reason varchar(1024) DEFAULT '',"
    " PRIMARY KEY (id),"
    " UNIQUE KEY gid (gid),"
    " KEY owner (owner),"
    " KEY status_next_cron_time (status, next_cron_time)"
    ") ENGINE = InnoDB DEFAULT CHARSET = utf8mb4",
    "CREATE TABLE IF NOT EXISTS trans_branch_op ("
    " id bigint(22) NOT NULL AUTO_INCREMENT,"
    " gid varchar(128) NOT NULL,"
    " url varchar(1024) NOT NULL,"
    " data TEXT,"
    " bin_data BLOB,"
    " branch_id VARCHAR(128) NOT NULL,"
    " op varchar(45) NOT NULL,"
    " status varchar(45) NOT NULL,"
    " finish_time datetime DEFAULT NULL,"
    " rollback_time datetime DEFAULT NULL,"
    " create_time datetime DEFAULT NULL,"
    " update_time datetime DEFAULT NULL,"
    " PRIMARY KEY (id),"
    " UNIQUE KEY gid_uniq (gid, branch_id, op)"
    ") ENGINE = InnoDB DEFAULT CHARSET = utf8mb4",
    "CREATE TABLE IF NOT EXISTS kv ("
    " id bigint(22) NOT NULL AUTO_INCREMENT,"
    " cat varchar(45) NOT NULL,"
    " k varchar(128) NOT NULL,"
    " v TEXT,"
    " version bigint(22) DEFAULT 1,"
    " create_time datetime DEFAULT NULL,"
    " update_time datetime DEFAULT NULL,"
    " PRIMARY KEY (id),"
    " UNIQUE KEY uniq_k (cat, k)"
    ") ENGINE = InnoDB DEFAULT CHARSET = utf8mb4",
};

store_rc store_create_schema(store *s, char *err, size_t errlen) {
    db_rc rc;
    char e[512];
    db_conn *c = db_acquire(s->pool, s->timeout_ms, &rc, e, sizeof e);
    if (!c) {
        errbuf_set(err, errlen, "create schema: %s", e);
        return STORE_ERR;
    }
    for (size_t i = 0; i < sizeof schema_ddl / sizeof schema_ddl[0]; i++) {
        rc = db_exec(c, schema_ddl[i], NULL, 0, NULL, e, sizeof e);
        if (rc != DB_OK) {
            errbuf_set(err, errlen, "create schema: %s", e);
            db_release(s->pool, c);
            return STORE_ERR;
        }
    }
    db_release(s->pool, c);
    return STORE_OK;
}
