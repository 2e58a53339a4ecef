-- Chat server schema for MySQL / MariaDB (InnoDB, utf8mb4), schema version 3.
--
-- Applied by `MysqlStore::open` (server/src/store/mysql/schema.rs, embedded with
-- include_str!) when its tables are missing; every statement is `CREATE TABLE IF NOT
-- EXISTS`, so applying it twice is harmless. To apply it by hand:
--     mysql -u root chat < sql/schema.sql
-- The `schema_version` row (id 1, version 3) is inserted by the store on open.
-- The SQLite twin of this file is server/src/store/schema_sqlite.sql: keep them in step.
--
-- Version 2 added the per-user timelines (`timeline`, `timeline_heads`, and each
-- message's positions `from_pos` and `to_pos`) and the `tokens_expires` index, dropped
-- the indexes `messages_to` and `messages_from` and put to_id first in `messages_pair`.
-- Version 3 dropped the table `timeline` (two rows per message, each with its own undo
-- record and row lock) for two indexes on the positions of `messages`, which hold the
-- same entries for less: a message's row is its timeline entries. It added the table
-- `user_emails` (addresses verified by the gateway). A version-1 or
-- version-2 database is migrated at start-up by server/src/store/mysql/migrate.rs
-- (from version 1 it needs MariaDB >= 10.2 or MySQL >= 8.0: it numbers the timelines
-- with a window function).
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

-- Verified e-mail addresses: an address the gateway proved (with a code it mailed there)
-- when the user registered through it; at most one user per address and one address
-- per user. Login and password reset by e-mail read this table only: the `email` of
-- `users` is profile data anyone may type in at `register` over TCP, never proof.
-- email_key: the address in ASCII lowercase (the uniqueness and lookup key).
CREATE TABLE IF NOT EXISTS user_emails (
    email_key VARBINARY(320) NOT NULL,
    user_id BIGINT NOT NULL,
    PRIMARY KEY (email_key),
    UNIQUE KEY user_emails_user (user_id),
    CONSTRAINT user_emails_user_fk FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE
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

-- A user's timeline is every message they sent or received, at positions 1, 2, 3, ...
-- in commit order, no gap, no repeat: from_pos and to_pos are the message's position in
-- its sender's and in its recipient's timeline (equal for a message to oneself).
-- messages_to_pos and messages_from_pos: sync reads a user's timeline after a position
-- as two ranges, the messages they received and those they sent, merged by position.
-- messages_pair: history and unread counts (both query it with to_id and from_id equal
-- to given values). messages_client: idempotent send, and the index of the foreign key
-- on from_id; messages_to_pos serves the one on to_id.
-- Within a conversation msg_id increases in commit order: insert_messages locks the
-- timeline heads of every user of its batch before it inserts the messages.
-- Designed for group messages too: a group message will be one `messages` row and, in
-- a table of its own, one (user_id, pos) entry per member, at that member's next
-- position; sync then reads a third range, and gapless pushes and last_pos are
-- unchanged.
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
    KEY messages_to_pos (to_id, to_pos),
    KEY messages_from_pos (from_id, from_pos),
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

-- The last position of each user's timeline (0 when empty): created with the user (and
-- by the version-1 migration). insert_messages locks and advances the rows of its
-- batch's users first thing in its transaction, in one multi-row upsert in user_id order
-- (last_pos = last_pos + the number of positions the user takes) that returns them
-- (MariaDB, or read back after it on MySQL): two transactions that share a user commit
-- one after the other and cannot deadlock on these rows. No foreign key, on purpose:
-- it is written for every user of every batch, and a foreign key check costs a parent
-- lookup and lock per row. A user is never deleted while they have messages (messages
-- reference users), and a head without messages is harmless.
CREATE TABLE IF NOT EXISTS timeline_heads (
    user_id BIGINT NOT NULL,
    last_pos BIGINT NOT NULL,
    PRIMARY KEY (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
