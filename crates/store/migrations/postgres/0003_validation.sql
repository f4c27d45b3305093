-- Why a quarantined event failed its source's JSON Schema (a JSON array of messages).
ALTER TABLE events ADD COLUMN validation_errors TEXT;
