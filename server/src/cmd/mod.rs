//! One file per operation of the contract: each takes its typed request's fields and
//! returns its typed result (parse, then apply, as mini-redis's `cmd/` does).
//!
//! The handler parses a request once, before dispatch (`proto::Request::parse`), after
//! the checks every request shares: the op exists, and the session is logged in unless
//! the op is public. [`dispatch`] hands each variant to its command.

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

use std::collections::HashSet;
use std::sync::Arc;

use proto::{Answer, Request};
use reactor::ConnHandle;

use crate::app::App;
use crate::model::{User, UserId};
use crate::presence;
use crate::protocol::{wire, ChatError, ErrorCode};
use crate::session::Session;

/// What a command hands back.
pub enum Reply {
    /// The result, to send now (in order).
    Now(Answer),
    /// Answered through the session's reply queue by the command itself (login, so
    /// that its answer precedes the pushes it lets through) or later by someone else
    /// (send_message, after the commit).
    Later,
}

/// A command's outcome; an error becomes an `ok: false` response.
pub type CmdResult = Result<Reply, ChatError>;

/// Everything a command may use besides its request.
pub struct Ctx<'a> {
    /// Shared application state.
    pub app: &'a App,
    /// The requesting connection.
    pub conn: &'a ConnHandle,
    /// Its session.
    pub session: &'a mut Session,
    /// The request's `seq` (echoed by answers given later).
    pub seq: Option<u64>,
    /// My friends as read from the cache before the request was taken on the reactor
    /// thread (which must not wait for the store); `None`: ask the cache or the store.
    pub friends: Option<Arc<HashSet<UserId>>>,
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
        let friends = match &self.friends {
            Some(list) => list.contains(&peer),
            None => app.friends.are_friends(&*app.store, me, peer)?,
        };
        if peer != me && friends {
            return Ok(());
        }
        self.user(peer)?;
        Err(ChatError::new(
            ErrorCode::NotFriends,
            format!("you and user {peer} are not friends"),
        ))
    }

    /// A user as the wire shows it, with the online flag.
    pub fn wire_user(&self, user: &User) -> proto::User {
        let mut one = self.wire_users(std::slice::from_ref(user));
        one.pop().unwrap_or_else(|| wire::user(user, false))
    }

    /// Users as the wire shows them, with their online flags (one look-up for all).
    pub fn wire_users<'u>(&self, users: impl IntoIterator<Item = &'u User>) -> Vec<proto::User> {
        let users: Vec<&User> = users.into_iter().collect();
        let ids: Vec<UserId> = users.iter().map(|u| u.user_id).collect();
        let online = presence::online(self.app, &ids);
        users
            .iter()
            .zip(online)
            .map(|(u, online)| wire::user(u, online))
            .collect()
    }
}

/// `unauthenticated`: the op needs a logged-in session.
pub fn unauthenticated() -> ChatError {
    ChatError::new(ErrorCode::Unauthenticated, "log in first")
}

/// Runs a parsed request's command.
pub fn dispatch(ctx: &mut Ctx, request: Request) -> CmdResult {
    match request {
        Request::Ping => ping::run(),
        Request::Register {
            username,
            password,
            nickname,
            email,
        } => register::run(ctx, &username, &password, nickname, email),
        Request::Login { credentials, push } => login::run(ctx, credentials, push),
        Request::Logout => logout::run(ctx),
        Request::SearchUser { query } => search_user::run(ctx, &query),
        Request::GetProfile { user_id } => get_profile::run(ctx, user_id),
        Request::UpdateProfile { nickname, avatar } => {
            update_profile::run(ctx, nickname.as_deref(), avatar.as_deref())
        }
        Request::AddFriend { user_id, message } => add_friend::run(ctx, user_id, &message),
        Request::FriendRequests => friend_requests::run(ctx),
        Request::AcceptFriend { request_id } => accept_friend::run(ctx, request_id),
        Request::RejectFriend { request_id } => reject_friend::run(ctx, request_id),
        Request::DeleteFriend { user_id } => delete_friend::run(ctx, user_id),
        Request::Friends => friends::run(ctx),
        Request::SendMessage {
            to,
            text,
            client_msg_id,
        } => send_message::run(ctx, to, text, client_msg_id),
        Request::Sync { after, limit } => sync::run(ctx, after, limit),
        Request::History {
            peer,
            before,
            limit,
        } => history::run(ctx, peer, before, limit),
        Request::Conversations => conversations::run(ctx),
        Request::Read { peer, up_to } => read::run(ctx, peer, up_to),
    }
}
