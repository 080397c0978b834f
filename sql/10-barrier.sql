-- 10-barrier.sql: DTM's sub-transaction barrier table, exactly as DTM defines
-- it (sqls/dtmcli.barrier.mysql.sql). It lives in its own schema on the same
-- server as the business databases, so that the barrier INSERTs and the
-- business SQL can share one local transaction (README, "The barrier").
create database if not exists dtm_barrier
  /*!40100 DEFAULT CHARACTER SET utf8mb4 */;

create table if not exists dtm_barrier.barrier(
  id bigint(22) PRIMARY KEY AUTO_INCREMENT,
  trans_type varchar(45) default '',
  gid varchar(128) default '',
  branch_id varchar(128) default '',
  op varchar(45) default '',
  barrier_id varchar(45) default '',
  reason varchar(45) default '' comment 'the branch type who insert this record',
  create_time datetime DEFAULT now(),
  update_time datetime DEFAULT now(),
  key(create_time),
  key(update_time),
  UNIQUE key(gid, branch_id, op, barrier_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
