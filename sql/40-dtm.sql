-- 40-dtm.sql: the coordinator's store, with DTM's own MySQL schema
-- (sqls/dtmsvr.storage.mysql.sql), so that tools that read DTM's store read
-- cdtm's. `dtm -r` creates the same schema.
create database if not exists dtm
  /*!40100 DEFAULT CHARACTER SET utf8mb4 */;

create table if not exists dtm.trans_global (
  `id` bigint(22) NOT NULL AUTO_INCREMENT,
  `gid` varchar(128) NOT NULL,
  `trans_type` varchar(45) not null,
  `status` varchar(12) NOT NULL,
  `query_prepared` varchar(1024) NOT NULL,
  `protocol` varchar(45) not null,
  `create_time` datetime DEFAULT NULL,
  `update_time` datetime DEFAULT NULL,
  `finish_time` datetime DEFAULT NULL,
  `rollback_time` datetime DEFAULT NULL,
  `options` varchar(1024) DEFAULT '',
  `custom_data` varchar(1024) DEFAULT '',
  `next_cron_interval` int(11) default null,
  `next_cron_time` datetime default null,
  `owner` varchar(128) not null default '',
  `ext_data` TEXT,
  `result` varchar(1024) DEFAULT '',
  `rollback_reason` varchar(1024) DEFAULT '',
  PRIMARY KEY (`id`),
  UNIQUE KEY `gid` (`gid`),
  key `owner`(`owner`),
  key `status_next_cron_time` (`status`, `next_cron_time`)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

create table if not exists dtm.trans_branch_op (
  `id` bigint(22) NOT NULL AUTO_INCREMENT,
  `gid` varchar(128) NOT NULL,
  `url` varchar(1024) NOT NULL,
  `data` TEXT,
  `bin_data` BLOB,
  `branch_id` VARCHAR(128) NOT NULL,
  `op` varchar(45) NOT NULL,
  `status` varchar(45) NOT NULL,
  `finish_time` datetime DEFAULT NULL,
  `rollback_time` datetime DEFAULT NULL,
  `create_time` datetime DEFAULT NULL,
  `update_time` datetime DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `gid_uniq` (`gid`, `branch_id`, `op`)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

create table if not exists dtm.kv (
  `id` bigint(22) NOT NULL AUTO_INCREMENT,
  `cat` varchar(45) NOT NULL,
  `k` varchar(128) NOT NULL,
  `v` TEXT,
  `version` bigint(22) default 1,
  create_time datetime default NULL,
  update_time datetime DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE key `uniq_k`(`cat`, `k`)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
