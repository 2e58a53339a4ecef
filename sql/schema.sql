-- Chat server schema for MySQL / MariaDB (InnoDB, utf8mb4), schema version 1.
--
-- Applied by `MysqlStore::open` (server/src/store/mysql.rs, embedded with include_str!)
-- when its tables are missing; every statement is `CREATE TABLE IF NOT EXISTS`, so
-- applying it twice is harmless. To apply it by hand:
--     mysql -u root chat < sql/schema.sql
-- The `schema_version` row (id 1, version 1) is inserted by the store on open.
-- The SQLite twin of this file is server/src/store/schema_sqlite.sql: keep them in step.
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
-- Every query of the stores is served by one of the indexes below (no table scans).

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
CREATE TABLE IF NOT EXISTS tokens (
    token_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    user_id BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    PRIMARY KEY (token_hash),
    KEY tokens_user (user_id),
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

-- messages_to: sync's "sent to me" branch. messages_from: sync's "sent by me" branch.
-- messages_pair: history and unread counts. messages_client: idempotent send.
CREATE TABLE IF NOT EXISTS messages (
    msg_id BIGINT NOT NULL AUTO_INCREMENT,
    from_id BIGINT NOT NULL,
    to_id BIGINT NOT NULL,
    text TEXT NOT NULL,
    ts BIGINT NOT NULL,
    client_msg_id VARBINARY(256) NOT NULL,
    PRIMARY KEY (msg_id),
    UNIQUE KEY messages_client (from_id, client_msg_id),
    KEY messages_to (to_id, msg_id),
    KEY messages_from (from_id, msg_id),
    KEY messages_pair (from_id, to_id, msg_id),
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
