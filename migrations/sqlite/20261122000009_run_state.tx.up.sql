-- A run paused for approval keeps what it needs to continue.
ALTER TABLE runs ADD COLUMN state TEXT;
