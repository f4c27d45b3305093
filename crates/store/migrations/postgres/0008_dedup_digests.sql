-- Dedup keys as 16-byte digests of (source id, NUL, key) (see `store/src/key_digest.rs`): the key
-- index holds a fraction of the bytes per key, so random keys touch (and, after a checkpoint,
-- log whole) far fewer pages. Existing keys are converted here with the same digest, computed by
-- PostgreSQL's sha256; `store/tests/dedup_contract.rs` checks that it matches the Rust one.
CREATE TABLE dedup_digests (
    digest      BYTEA PRIMARY KEY,
    event_id    TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
INSERT INTO dedup_digests (digest, event_id, expires_at)
SELECT substring(sha256(convert_to(source_id, 'UTF8') || '\x00'::bytea || convert_to(key, 'UTF8')) FROM 1 FOR 16),
       event_id, expires_at
FROM dedup_keys
ON CONFLICT (digest) DO NOTHING;
DROP TABLE dedup_keys;
