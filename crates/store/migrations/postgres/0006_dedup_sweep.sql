-- Expired dedup keys are found by sweeping the key table in primary-key chunks (see
-- `purge_dedup_keys`), so intake no longer maintains a second B-tree per key.
DROP INDEX dedup_keys_by_expiry;
