//! The storage interface of the chat server, and its two implementations.
//!
//! * [`sqlite::SqliteStore`]: embedded, zero set-up, the default (`<data_dir>/chat.db`).
//! * [`mysql::MysqlStore`]: MySQL/MariaDB through a connection pool.
//!
//! Both run the same conformance suite (`server/tests/store_conformance.rs`). Every call
//! is synchronous and may block: only worker threads and the batched writer call it,
//! never a reactor. Every statement is parameterised. Every query is served by an index.
//!
//! The schema is at version 2 (per-user timelines); both stores migrate a version-1
//! database when they open it (`server/tests/store_upgrade.rs`) and refuse a newer one.

mod checkpointer;
pub mod mysql;
mod shared;

pub use shared::email_key;
pub mod sqlite;

use crate::model::{Conversation, FriendRequest, Message, MsgId, NewMessage, Pos, User, UserId};

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or the statement failed for a reason that may
    /// pass (connection lost, lock timeout, disk full). The caller answers
    /// `server_busy` or retries; nothing was half-done (transactions roll back).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule was broken (the username is taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Anything else: a bug or a corrupt database.
    #[error("store error: {0}")]
    Internal(String),
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// What `send_friend_request` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FriendRequestOutcome {
    /// A new pending request from `from` to `to`.
    Created(i64),
    /// A pending request from `from` to `to` already existed: its id (note updated).
    AlreadyPending(i64),
    /// The two are friends already.
    AlreadyFriends,
}

/// What `create_verified_user` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// The new user's id.
    Created(UserId),
    /// The username is taken (compared ASCII case-insensitively): nothing was stored.
    UsernameTaken,
    /// The e-mail address is another user's verified address: nothing was stored.
    EmailTaken,
}

/// The result of storing one message of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The stored message (for a duplicate `client_msg_id`: the original one), with the
    /// sender's position in `message.pos`.
    pub message: Message,
    /// The message's position in the recipient's timeline.
    pub recipient_pos: Pos,
    /// False when the message had been stored before (an idempotent retry).
    pub new: bool,
}

impl Stored {
    /// The same message again, as a repeat of its key later in a batch: not new.
    pub fn repeat(&self) -> Stored {
        Stored {
            message: self.message.clone(),
            recipient_pos: self.recipient_pos,
            new: false,
        }
    }
}

/// Everything the server persists.
pub trait Store: Send + Sync + 'static {
    /// Which implementation, for logs ("sqlite:/path/chat.db", "mysql://host/db").
    fn describe(&self) -> String;

    // ---- accounts ----------------------------------------------------------------
    /// Creates a user. `Conflict` if the username is taken (compared ASCII case-insensitively).
    fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        nickname: &str,
        email: Option<&str>,
    ) -> StoreResult<UserId>;
    /// Creates a user whose e-mail address was verified (the gateway's `register`): the
    /// user, their address as `users.email` and as their verified address
    /// (`user_emails`), in one transaction.
    fn create_verified_user(
        &self,
        username: &str,
        password_hash: &str,
        nickname: &str,
        email: &str,
    ) -> StoreResult<Registration>;
    /// The user and their password hash, by username (ASCII case-insensitive).
    fn credentials(&self, username: &str) -> StoreResult<Option<(User, String)>>;
    /// The user and their password hash, by verified e-mail address (ASCII
    /// case-insensitive). An address typed in at `register` over TCP is not verified and
    /// finds nobody.
    fn verified_credentials(&self, email: &str) -> StoreResult<Option<(User, String)>>;
    /// Sets the user's password hash and deletes every token of the user, in one
    /// transaction; returns how many tokens went (`None`: no such user).
    fn reset_password(&self, user_id: UserId, password_hash: &str) -> StoreResult<Option<usize>>;
    /// A user by id.
    fn user(&self, user_id: UserId) -> StoreResult<Option<User>>;
    /// Up to `limit` users whose username starts with `prefix` (ASCII case-insensitive;
    /// `%` and `_` in `prefix` are literal), ordered by username.
    fn search_users(&self, prefix: &str, limit: usize) -> StoreResult<Vec<User>>;
    /// Sets the given fields; returns the updated user (None if no such user).
    fn update_profile(
        &self,
        user_id: UserId,
        nickname: Option<&str>,
        avatar: Option<&str>,
    ) -> StoreResult<Option<User>>;

    // ---- sessions ----------------------------------------------------------------
    /// Stores a session token's hash (the token itself is never stored).
    fn insert_token(&self, token_hash: &str, user_id: UserId, expires_ms: i64) -> StoreResult<()>;
    /// The user of an unexpired token hash.
    fn token_user(&self, token_hash: &str, now_ms: i64) -> StoreResult<Option<User>>;
    /// Revokes one token. Revoking an unknown token is not an error.
    fn delete_token(&self, token_hash: &str) -> StoreResult<()>;
    /// Deletes tokens that have expired at `now_ms` (`expires_ms <= now_ms`: exactly the
    /// ones [`Store::token_user`] refuses then), oldest first, at most `limit` per call so
    /// that one call stays short; returns how many went.
    fn purge_expired_tokens(&self, now_ms: i64, limit: usize) -> StoreResult<usize>;

    // ---- friends -----------------------------------------------------------------
    /// Records a request from `from` to `to` (different users, both exist).
    fn send_friend_request(
        &self,
        from: UserId,
        to: UserId,
        message: &str,
        ts: i64,
    ) -> StoreResult<FriendRequestOutcome>;
    /// Pending requests sent to `to`, oldest first.
    fn pending_requests(&self, to: UserId) -> StoreResult<Vec<FriendRequest>>;
    /// Accepts request `request_id` if it is pending and addressed to `me`: in one
    /// transaction, marks it accepted and makes the two friends. Returns the requester.
    fn accept_request(&self, request_id: i64, me: UserId) -> StoreResult<Option<User>>;
    /// Rejects request `request_id` if pending and addressed to `me`; false otherwise.
    fn reject_request(&self, request_id: i64, me: UserId) -> StoreResult<bool>;
    /// Ends a friendship both ways; false if they were not friends.
    fn delete_friend(&self, me: UserId, other: UserId) -> StoreResult<bool>;
    /// Whether the two are friends.
    fn are_friends(&self, a: UserId, b: UserId) -> StoreResult<bool>;
    /// The user's friends, ordered by username.
    fn friends(&self, me: UserId) -> StoreResult<Vec<User>>;
    /// Ids of the user's friends (for presence fan-out).
    fn friend_ids(&self, me: UserId) -> StoreResult<Vec<UserId>>;

    // ---- messages and timelines ---------------------------------------------------
    /// Stores a batch in ONE transaction, in order, and returns one [`Stored`] per input,
    /// in input order. A `(from, client_msg_id)` stored before (or earlier in the same
    /// batch) is not stored again: its original message and positions are returned with
    /// `new: false`. Each new message takes the next position in its sender's and its
    /// recipient's timeline, assigned inside the transaction in batch order, so positions
    /// follow commit order with no gap even when several processes write at once (their
    /// transactions lock the users they touch in id order: no deadlock). New messages get
    /// increasing `msg_id`s in batch order, and within a conversation `msg_id`s increase
    /// in commit order. Also advances each participant's conversation list. On error
    /// nothing of the batch is stored.
    fn insert_messages(&self, batch: &[NewMessage]) -> StoreResult<Vec<Stored>>;
    /// The message `from` stored under `client_msg_id`, if any (with the sender's `pos`).
    fn message_by_client_id(
        &self,
        from: UserId,
        client_msg_id: &str,
    ) -> StoreResult<Option<Message>>;
    /// The last position of the user's timeline (0 when it is empty).
    fn last_pos(&self, user: UserId) -> StoreResult<Pos>;
    /// The messages of `me`'s timeline with `pos > after`, ascending `pos`, at most
    /// `limit`, each with `me`'s `pos`.
    fn sync(&self, me: UserId, after: Pos, limit: usize) -> StoreResult<Vec<Message>>;
    /// Messages between `me` and `peer` with `msg_id < before` (all if None), newest
    /// first, at most `limit`, each with `me`'s `pos`.
    fn history(
        &self,
        me: UserId,
        peer: UserId,
        before: Option<MsgId>,
        limit: usize,
    ) -> StoreResult<Vec<Message>>;
    /// The user's conversations, most recent first, with unread counts (`last` with
    /// `me`'s `pos`).
    fn conversations(&self, me: UserId) -> StoreResult<Vec<Conversation>>;
    /// Moves `me`'s read cursor for messages from `peer` up to `up_to` (never backwards).
    fn mark_read(&self, me: UserId, peer: UserId, up_to: MsgId) -> StoreResult<()>;
}
