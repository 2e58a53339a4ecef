-- Chat server schema for SQLite, schema version 3: the twin of sql/schema.sql (MySQL).
--
-- Embedded in server/src/store/sqlite/schema.rs with include_str! and run by
-- `SqliteStore::open` (every statement is IF NOT EXISTS, so running it on an existing
-- database is harmless). The `schema_version` row (id 1, version 3) is inserted by the
-- store on open. A version-1 database (the first release: no timelines) or version-2
-- one (timelines in a table `timeline` of their own) is migrated by
-- server/src/store/sqlite/migrate.rs in one transaction.
--
-- Every query of the store is served by an index, with no table scans (the
-- `every_query_uses_an_index` unit test of server/src/store/sqlite/sql.rs checks each
-- statement's plan). Keep it true when adding a query or dropping an index.
--
-- Differences from the MySQL schema: ids are INTEGER PRIMARY KEY AUTOINCREMENT (never
-- reused, even after deletes), the length limits MySQL enforces through column types are
-- CHECK constraints here (length() counts characters), status is a TEXT with a CHECK, and
-- tables keyed by a pair of ids are WITHOUT ROWID. TEXT compares with the BINARY
-- collation (memcmp of UTF-8 = code-point order), like the VARBINARY keys of MySQL.
-- `messages_pair` is (from_id, to_id, msg_id) here and (to_id, from_id, msg_id) in MySQL,
-- where it also serves the foreign key on to_id (MySQL needs an index starting with the
-- key's column, SQLite does not). Both orders serve the same queries.

CREATE TABLE IF NOT EXISTS schema_version (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS users (
    user_id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL CHECK (length(username) <= 64),
    username_key TEXT NOT NULL CHECK (length(username_key) <= 64),
    password_hash TEXT NOT NULL CHECK (length(password_hash) <= 255),
    nickname TEXT NOT NULL DEFAULT '' CHECK (length(nickname) <= 64),
    avatar TEXT NOT NULL DEFAULT '' CHECK (length(avatar) <= 256),
    email TEXT NULL CHECK (email IS NULL OR length(email) <= 320),
    created_ms INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS users_username_key ON users (username_key);

-- Verified e-mail addresses (see sql/schema.sql): login and password reset by e-mail
-- read this table only. email_key: the address in ASCII lowercase.
CREATE TABLE IF NOT EXISTS user_emails (
    email_key TEXT NOT NULL PRIMARY KEY CHECK (length(email_key) <= 320),
    user_id INTEGER NOT NULL UNIQUE REFERENCES users (user_id) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT NOT NULL PRIMARY KEY CHECK (length(token_hash) = 64),
    user_id INTEGER NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tokens_user ON tokens (user_id);
-- Purging expired tokens, oldest first, a bounded number per call.
CREATE INDEX IF NOT EXISTS tokens_expires ON tokens (expires_ms);

CREATE TABLE IF NOT EXISTS friend_requests (
    request_id INTEGER PRIMARY KEY AUTOINCREMENT,
    from_id INTEGER NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    to_id INTEGER NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    message TEXT NOT NULL DEFAULT '' CHECK (length(message) <= 256),
    ts INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'rejected'))
);
CREATE INDEX IF NOT EXISTS friend_requests_to ON friend_requests (to_id, status, request_id);
CREATE INDEX IF NOT EXISTS friend_requests_pair ON friend_requests (from_id, to_id, status);

CREATE TABLE IF NOT EXISTS friendships (
    user_id INTEGER NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    friend_id INTEGER NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, friend_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS friendships_friend ON friendships (friend_id);

-- A user's timeline is every message they sent or received, at positions 1, 2, 3, ...
-- in commit order, no gap, no repeat: from_pos and to_pos are the message's position in
-- its sender's and in its recipient's timeline (equal for a message to oneself).
-- messages_to_pos and messages_from_pos: sync reads a user's timeline after a position
-- as two ranges, the messages they received and those they sent, merged by position.
-- messages_pair: history and unread counts. messages_client: idempotent send.
CREATE TABLE IF NOT EXISTS messages (
    msg_id INTEGER PRIMARY KEY AUTOINCREMENT,
    from_id INTEGER NOT NULL REFERENCES users (user_id),
    to_id INTEGER NOT NULL REFERENCES users (user_id),
    text TEXT NOT NULL,
    ts INTEGER NOT NULL,
    client_msg_id TEXT NOT NULL CHECK (length(client_msg_id) <= 64),
    from_pos INTEGER NOT NULL,
    to_pos INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_client ON messages (from_id, client_msg_id);
CREATE INDEX IF NOT EXISTS messages_pair ON messages (from_id, to_id, msg_id);
CREATE INDEX IF NOT EXISTS messages_to_pos ON messages (to_id, to_pos);
CREATE INDEX IF NOT EXISTS messages_from_pos ON messages (from_id, from_pos);

CREATE TABLE IF NOT EXISTS read_cursors (
    user_id INTEGER NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    peer_id INTEGER NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    up_to INTEGER NOT NULL,
    PRIMARY KEY (user_id, peer_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS read_cursors_peer ON read_cursors (peer_id);

CREATE TABLE IF NOT EXISTS conversations (
    user_id INTEGER NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    peer_id INTEGER NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    last_msg_id INTEGER NOT NULL,
    PRIMARY KEY (user_id, peer_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS conversations_peer ON conversations (peer_id);

-- The last position of each user's timeline (0 when empty), created with the user (and
-- by the version-1 migration), advanced by insert_messages in the batch's transaction.
-- No foreign key: it is written for every user of every batch, and each key check is a
-- lookup. A user is never deleted while they have messages (messages reference users).
CREATE TABLE IF NOT EXISTS timeline_heads (
    user_id INTEGER PRIMARY KEY,
    last_pos INTEGER NOT NULL
);
