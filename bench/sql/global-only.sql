SET @g = REPLACE(UUID(), '-', '');
START TRANSACTION;
INSERT INTO dtm.trans_global (gid, trans_type, status, query_prepared, protocol, create_time, update_time, options, custom_data, next_cron_interval, next_cron_time, owner, ext_data, result, rollback_reason) VALUES (@g, 'saga', 'submitted', '', 'grpc', NOW(), NOW(), '{"wait_result":true}', '', 10, DATE_ADD(NOW(), INTERVAL 12 SECOND), 'bench', '', '', '');
COMMIT;
START TRANSACTION;
UPDATE dtm.trans_global SET status = 'succeed', finish_time = NOW(), update_time = NOW(), next_cron_interval = 10 WHERE gid = @g AND status = 'submitted';
COMMIT;
