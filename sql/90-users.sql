-- 90-users.sql: one MySQL account per process, each with rights only on what
-- it needs. A service must be able to write dtm_barrier as well as its own
-- database, because the barrier rows are written in the same local
-- transaction as the business rows (README, "The barrier's database rights").
-- These passwords are for local runs and tests only; containers override the
-- DSN through the environment.
create user if not exists 'order_srv'@'%' identified by 'order_srv';
grant select, insert, update, delete on `dtm-gozero-order`.* to 'order_srv'@'%';
grant select, insert, update, delete on dtm_barrier.* to 'order_srv'@'%';

create user if not exists 'stock_srv'@'%' identified by 'stock_srv';
grant select, insert, update, delete on `dtm-gozero-stock`.* to 'stock_srv'@'%';
grant select, insert, update, delete on dtm_barrier.* to 'stock_srv'@'%';

create user if not exists 'dtm'@'%' identified by 'dtm';
grant all privileges on dtm.* to 'dtm'@'%';
