-- What events show of a message (From, To, Subject, attachments), as JSON
-- written at accept time, so delivery does not parse the message again at
-- every attempt. NULL for messages accepted before this migration.
ALTER TABLE messages ADD COLUMN summary TEXT;
