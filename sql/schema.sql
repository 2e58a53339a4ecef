-- Chat server schema for MySQL / MariaDB (InnoDB, utf8mb4), schema version 2.
--
-- Applied by `MysqlStore::open` (server/src/store/mysql/schema.rs, embedded with
-- include_str!) when its tables are missing; every statement is `CREATE TABLE IF NOT
-- EXISTS`, so applying it twice is harmless. To apply it by hand:
--     mysql -u root chat < sql/schema.sql
-- The `schema_version` row (id 1, version 2) is inserted by the store on open.
-- The SQLite twin of this file is server/src/store/schema_sqlite.sql: keep them in step.
--
-- Version 2 added the per-user timelines (`timeline`, `timeline_heads`, and each
-- message's positions `from_pos` and `to_pos`) and the `tokens_expires` index, dropped
-- the indexes `messages_to` and `messages_from` (sync reads the timeline now) and put
-- to_id first in `messages_pair`. A version-1 database is migrated at start-up by
-- server/src/store/mysql/migrate.rs (MariaDB >= 10.2 or MySQL >= 8.0: it numbers the
-- timelines with a window function).
--
-- Format rules (the store splits this file itself): statements end with ';' at the end
-- of a line, comments are whole lines starting with '--', and no ';' appears anywhere
-- else (not in comments, not in strings).
--
-- Text that must round-trip byte for byte uses utf8mb4_bin. Keys compared for equality
-- or prefix (username_key, client_msg_id) are VARBINARY instead: utf8mb4_bin is a PAD
-- SPACE collation in MariaDB and MySQL 5.7, under which 'a' = 'a ' and a UNIQUE key
-- would treat two different client_msg_ids as one. VARBINARY compares bytes, which for
-- UTF-8 is code-point order (the order SQLite's BINARY collation uses too).
--
-- Every query of the stores is served by one of the indexes below, with no table scans
-- (the `every_query_uses_an_index` test of server/src/store/mysql/sql.rs checks it with
-- EXPLAIN). Keep it true when adding a query or dropping an index.

CREATE TABLE IF NOT EXISTS schema_version (
    id TINYINT UNSIGNED NOT NULL,
    version INT NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT schema_version_single_row CHECK (id = 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- username: as registered. username_key: its ASCII lowercase (the uniqueness and search
-- key, so 'Bob' and 'bob' are the same user).
CREATE TABLE IF NOT EXISTS users (
    user_id BIGINT NOT NULL AUTO_INCREMENT,
    username VARCHAR(64) NOT NULL,
    username_key VARBINARY(256) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    nickname VARCHAR(64) NOT NULL DEFAULT '',
    avatar VARCHAR(256) NOT NULL DEFAULT '',
    email VARCHAR(320) NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (user_id),
    UNIQUE KEY users_username_key (username_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Session tokens: only the SHA-256 (hex) of a token is stored.
-- tokens_expires: purging expired tokens, oldest first, a bounded number per call.
CREATE TABLE IF NOT EXISTS tokens (
    token_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    user_id BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    PRIMARY KEY (token_hash),
    KEY tokens_user (user_id),
    KEY tokens_expires (expires_ms),
    CONSTRAINT tokens_user_fk FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- friend_requests_to: "pending requests sent to me, oldest first".
-- friend_requests_pair: "the pending request from A to B".
CREATE TABLE IF NOT EXISTS friend_requests (
    request_id BIGINT NOT NULL AUTO_INCREMENT,
    from_id BIGINT NOT NULL,
    to_id BIGINT NOT NULL,
    message VARCHAR(256) NOT NULL DEFAULT '',
    ts BIGINT NOT NULL,
    status ENUM('pending', 'accepted', 'rejected') NOT NULL DEFAULT 'pending',
    PRIMARY KEY (request_id),
    KEY friend_requests_to (to_id, status, request_id),
    KEY friend_requests_pair (from_id, to_id, status),
    CONSTRAINT friend_requests_from_fk FOREIGN KEY (from_id) REFERENCES users (user_id) ON DELETE CASCADE,
    CONSTRAINT friend_requests_to_fk FOREIGN KEY (to_id) REFERENCES users (user_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- A friendship is stored as two rows, (a, b) and (b, a).
CREATE TABLE IF NOT EXISTS friendships (
    user_id BIGINT NOT NULL,
    friend_id BIGINT NOT NULL,
    PRIMARY KEY (user_id, friend_id),
    KEY friendships_friend (friend_id),
    CONSTRAINT friendships_user_fk FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE,
    CONSTRAINT friendships_friend_fk FOREIGN KEY (friend_id) REFERENCES users (user_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- messages_pair: history and unread counts (both query it with to_id and from_id equal
-- to given values, so the column order is free). It starts with to_id because it also
-- serves the foreign key on to_id, which needs an index starting with to_id: version 1
-- kept a separate index (to_id, msg_id) for that. messages_client: idempotent send, and
-- the index of the foreign key on from_id. Sync reads the timeline (version 1's indexes
-- messages_to and messages_from are gone: one index less to write per message).
-- from_pos, to_pos: the message's position in its sender's and in its recipient's
-- timeline (equal for a message to oneself), the same as its two `timeline` rows, so
-- that history, conversations and a retried send read the asking user's position from
-- the message row itself, with no look-up in `timeline`.
-- Within a conversation msg_id increases in commit order: insert_messages locks the
-- timeline heads of every user of its batch before it inserts the messages.
CREATE TABLE IF NOT EXISTS messages (
    msg_id BIGINT NOT NULL AUTO_INCREMENT,
    from_id BIGINT NOT NULL,
    to_id BIGINT NOT NULL,
    text TEXT NOT NULL,
    ts BIGINT NOT NULL,
    client_msg_id VARBINARY(256) NOT NULL,
    from_pos BIGINT NOT NULL,
    to_pos BIGINT NOT NULL,
    PRIMARY KEY (msg_id),
    UNIQUE KEY messages_client (from_id, client_msg_id),
    KEY messages_pair (to_id, from_id, msg_id),
    CONSTRAINT messages_from_fk FOREIGN KEY (from_id) REFERENCES users (user_id),
    CONSTRAINT messages_to_fk FOREIGN KEY (to_id) REFERENCES users (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- How far user_id has read the messages peer_id sent them (never moves backwards).
CREATE TABLE IF NOT EXISTS read_cursors (
    user_id BIGINT NOT NULL,
    peer_id BIGINT NOT NULL,
    up_to BIGINT NOT NULL,
    PRIMARY KEY (user_id, peer_id),
    KEY read_cursors_peer (peer_id),
    CONSTRAINT read_cursors_user_fk FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE,
    CONSTRAINT read_cursors_peer_fk FOREIGN KEY (peer_id) REFERENCES users (user_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per (user, peer) who exchanged messages: the newest message's id. Maintained by
-- insert_messages in the same transaction as the messages: every message updates two
-- rows. "My conversations, most recent first" reads the user's rows by primary key and
-- sorts them; an index on (user_id, last_msg_id) would serve the order but cost every
-- message two more index updates (12% of MariaDB's CPU under load, measured).
CREATE TABLE IF NOT EXISTS conversations (
    user_id BIGINT NOT NULL,
    peer_id BIGINT NOT NULL,
    last_msg_id BIGINT NOT NULL,
    PRIMARY KEY (user_id, peer_id),
    KEY conversations_peer (peer_id),
    CONSTRAINT conversations_user_fk FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE,
    CONSTRAINT conversations_peer_fk FOREIGN KEY (peer_id) REFERENCES users (user_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Each user's timeline: every message they sent or received, at positions 1, 2, 3, ...
-- in commit order, no gap, no repeat. A one-to-one message has two rows (sender's and
-- recipient's, one for a message to oneself). Sync reads a user's range by primary key
-- and joins messages by msg_id: that is the only read of this table, so the primary key
-- is its only index. Rows are written by insert_messages in the same transaction as
-- their message, after it has advanced the users' timeline_heads rows.
-- Designed for group messages too: a group message is one `messages` row and one row
-- here per member (up to 500), each at that member's next position, and nothing in this
-- table is one-to-one specific, so sync, gapless pushes and last_pos work unchanged.
-- One-to-one reads other than sync (history, conversations, a retried send) take the
-- asking user's position from the message row (from_pos, to_pos) and need no index on
-- msg_id here. A group message's row cannot hold its members' positions: reading those
-- by message (a group's history) will come from this table and will need an index on
-- (user_id, msg_id) then.
-- No foreign keys, on purpose: this is the most written table (two rows per message),
-- and a foreign key check costs a parent lookup and lock per row. The references hold
-- anyway: msg_id is a message inserted in the same transaction (messages are never
-- deleted), and a user is never deleted while they have messages, since messages
-- reference users.
CREATE TABLE IF NOT EXISTS timeline (
    user_id BIGINT NOT NULL,
    pos BIGINT NOT NULL,
    msg_id BIGINT NOT NULL,
    PRIMARY KEY (user_id, pos)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The last position of each user's timeline (0 when empty): created with the user (and
-- by the version-1 migration). insert_messages locks and advances the rows of its
-- batch's users first thing in its transaction, in one multi-row upsert in user_id order
-- (last_pos = last_pos + the number of positions the user takes) that returns them
-- (MariaDB, or read back after it on MySQL): two transactions that share a user commit
-- one after the other and cannot deadlock on these rows. No foreign key, for the same
-- reason as `timeline` (it is written for every user of every batch).
CREATE TABLE IF NOT EXISTS timeline_heads (
    user_id BIGINT NOT NULL,
    last_pos BIGINT NOT NULL,
    PRIMARY KEY (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
