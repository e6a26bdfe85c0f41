ALTER TABLE runs DROP COLUMN conversation_id;
--bun:split
DROP TABLE conversation_messages;
--bun:split
DROP TABLE conversations;
