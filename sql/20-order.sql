-- 20-order.sql: order-srv's database. The demo's `order` table, plus a gid
-- column with a unique key: createRollback cancels the order of *this*
-- transaction, not "the user's latest order" (demo.md, decision (c)).
-- The name is hyphenated, as upstream, so it is always backquoted.
create database if not exists `dtm-gozero-order`
  /*!40100 DEFAULT CHARACTER SET utf8mb4 */;

create table if not exists `dtm-gozero-order`.`order` (
  `id` bigint NOT NULL AUTO_INCREMENT,
  `gid` varchar(128) NOT NULL,
  `user_id` bigint NOT NULL DEFAULT '0',
  `goods_id` bigint NOT NULL DEFAULT '0',
  `num` int NOT NULL DEFAULT '0' COMMENT 'quantity ordered',
  `row_state` tinyint(1) NOT NULL DEFAULT '0' COMMENT '-1: cancelled by rollback, 0: awaiting payment',
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_gid` (`gid`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
