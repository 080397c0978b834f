-- 30-stock.sql: stock-srv's database, seeded with a few goods of known
-- quantity. INSERT IGNORE keeps a re-load from resetting live stock.
create database if not exists `dtm-gozero-stock`
  /*!40100 DEFAULT CHARACTER SET utf8mb4 */;

create table if not exists `dtm-gozero-stock`.`stock` (
  `id` bigint NOT NULL AUTO_INCREMENT,
  `goods_id` bigint NOT NULL DEFAULT '0',
  `num` int NOT NULL DEFAULT '0' COMMENT 'units in stock',
  PRIMARY KEY (`id`),
  UNIQUE KEY `idx_goodsId` (`goods_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

insert ignore into `dtm-gozero-stock`.`stock` (`id`, `goods_id`, `num`) values
  (1, 1, 100),   -- the demo's seed: goods 1 has 100 units
  (2, 2, 10),
  (3, 3, 1);
