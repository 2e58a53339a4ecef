//! One file per operation of the contract. Each exposes `run(&mut Ctx) -> CmdResult`.
//!
//! [`dispatch`] routes a parsed request to its command after the checks every request
//! shares: the op exists, and the session is logged in unless the op is public.

mod accept_friend;
mod add_friend;
mod conversations;
mod delete_friend;
mod friend_requests;
mod friends;
mod get_profile;
mod history;
mod login;
mod logout;
mod ping;
mod read;
mod register;
mod reject_friend;
mod search_user;
mod send_message;
mod store_error;
mod sync;
mod update_profile;

use reactor::ConnHandle;
use serde_json::{Map, Value};

use crate::app::App;
use crate::model::{User, UserId};
use crate::protocol::{ChatError, ErrorCode, Request};
use crate::session::Session;

/// What a command hands back.
pub enum Reply {
    /// The `ok: true` result fields, to send now (in order).
    Now(Map<String, Value>),
    /// Someone else answers later through the session's reply queue (send_message).
    Later,
}

/// A command's outcome; an error becomes an `ok: false` response.
pub type CmdResult = Result<Reply, ChatError>;

/// Everything a command may use.
pub struct Ctx<'a> {
    /// Shared application state.
    pub app: &'a App,
    /// The requesting connection.
    pub conn: &'a ConnHandle,
    /// Its session.
    pub session: &'a mut Session,
    /// The request.
    pub req: &'a Request,
}

impl Ctx<'_> {
    /// The logged-in user (dispatch guarantees one for non-public ops).
    pub fn me(&self) -> Result<&User, ChatError> {
        self.session
            .identity
            .as_ref()
            .map(|i| &i.user)
            .ok_or_else(unauthenticated)
    }

    /// The logged-in user's id.
    pub fn my_id(&self) -> Result<UserId, ChatError> {
        self.me().map(|u| u.user_id)
    }

    /// A user by id, or `no_such_user`.
    pub fn user(&self, user_id: UserId) -> Result<User, ChatError> {
        self.app
            .store
            .user(user_id)?
            .ok_or_else(|| ChatError::new(ErrorCode::NoSuchUser, format!("no user {user_id}")))
    }

    /// `Ok` when `peer` is a friend of mine; `no_such_user` when nobody has that id,
    /// else `not_friends`.
    pub fn require_friend(&self, peer: UserId) -> Result<(), ChatError> {
        let me = self.my_id()?;
        let app = self.app;
        if peer != me && app.friends.are_friends(&*app.store, me, peer)? {
            return Ok(());
        }
        self.user(peer)?;
        Err(ChatError::new(
            ErrorCode::NotFriends,
            format!("you and user {peer} are not friends"),
        ))
    }

    /// A user as the wire shows it, with the online flag.
    pub fn user_json(&self, user: &User) -> Value {
        crate::protocol::response::user(user, self.app.hub.is_online(user.user_id))
    }
}

fn unauthenticated() -> ChatError {
    ChatError::new(ErrorCode::Unauthenticated, "log in first")
}

type Command = fn(&mut Ctx) -> CmdResult;

/// Routes a request to its command.
pub fn dispatch(ctx: &mut Ctx) -> CmdResult {
    let (public, command): (bool, Command) = match ctx.req.op.as_str() {
        "ping" => (true, ping::run),
        "register" => (true, register::run),
        "login" => (true, login::run),
        "logout" => (false, logout::run),
        "search_user" => (false, search_user::run),
        "get_profile" => (false, get_profile::run),
        "update_profile" => (false, update_profile::run),
        "add_friend" => (false, add_friend::run),
        "friend_requests" => (false, friend_requests::run),
        "accept_friend" => (false, accept_friend::run),
        "reject_friend" => (false, reject_friend::run),
        "delete_friend" => (false, delete_friend::run),
        "friends" => (false, friends::run),
        "send_message" => (false, send_message::run),
        "sync" => (false, sync::run),
        "history" => (false, history::run),
        "conversations" => (false, conversations::run),
        "read" => (false, read::run),
        op => {
            let shown = crate::protocol::response::type_echo(op);
            let cut = if shown.len() < op.len() { "…" } else { "" };
            return Err(ChatError::new(
                ErrorCode::UnknownType,
                format!("unknown type `{shown}{cut}`"),
            ));
        }
    };
    if !public && ctx.session.identity.is_none() {
        return Err(unauthenticated());
    }
    command(ctx)
}
