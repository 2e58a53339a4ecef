//! [`Request`]: one variant per operation, with typed fields, parsed from an
//! [`Envelope`](crate::Envelope)'s fields by the contract's rules — or built by a client
//! and encoded with [`Request::encode`].
//!
//! Parsing checks fields in a fixed order per operation and reports the first bad one
//! as `bad_request` naming it. The server checks who may ask *before* parsing (an
//! unauthenticated request is answered `unauthenticated`, whatever its fields).
//! May touch: nothing; plain values.

use serde_json::{json, Map, Value};

use crate::error::ChatError;
use crate::fields::Fields;
use crate::op::Op;
use crate::types::{MsgId, Pos, UserId};

/// How a `login` proves who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Username (1–64 characters) and password (1–1024 bytes).
    Password {
        /// The username, as typed (compared without regard to ASCII case).
        username: String,
        /// The password.
        password: String,
    },
    /// A token from an earlier password login (1–128 characters).
    Token(String),
}

/// A request, typed. Field limits are the contract's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `ping`
    Ping,
    /// `register`
    Register {
        /// 3–32 characters of `A-Z a-z 0-9 _ . -`.
        username: String,
        /// 8–128 bytes.
        password: String,
        /// At most 64 characters; the username when absent.
        nickname: Option<String>,
        /// At most 254 characters, `name@host`.
        email: Option<String>,
    },
    /// `login`
    Login {
        /// Password or token.
        credentials: Credentials,
        /// Whether the connection takes pushes (default true).
        push: bool,
    },
    /// `logout`
    Logout,
    /// `search_user`
    SearchUser {
        /// A username prefix, 1–32 characters.
        query: String,
    },
    /// `get_profile`
    GetProfile {
        /// Whose.
        user_id: UserId,
    },
    /// `update_profile`
    UpdateProfile {
        /// At most 64 characters.
        nickname: Option<String>,
        /// At most 256 characters.
        avatar: Option<String>,
    },
    /// `add_friend`
    AddFriend {
        /// Whom to ask.
        user_id: UserId,
        /// A note, at most 256 characters (empty when absent).
        message: String,
    },
    /// `friend_requests`
    FriendRequests,
    /// `accept_friend`
    AcceptFriend {
        /// The pending request.
        request_id: i64,
    },
    /// `reject_friend`
    RejectFriend {
        /// The pending request.
        request_id: i64,
    },
    /// `delete_friend`
    DeleteFriend {
        /// The friend.
        user_id: UserId,
    },
    /// `friends`
    Friends,
    /// `send_message`
    SendMessage {
        /// The recipient (a friend).
        to: UserId,
        /// 1–4096 characters.
        text: String,
        /// The idempotency key, 1–64 characters.
        client_msg_id: String,
    },
    /// `sync`
    Sync {
        /// Positions of my timeline after this one (0 for all).
        after: Pos,
        /// 1–500, default 200.
        limit: usize,
    },
    /// `history`
    History {
        /// The other user.
        peer: UserId,
        /// Messages before this one (newest when absent).
        before: Option<MsgId>,
        /// 1–100, default 50.
        limit: usize,
    },
    /// `conversations`
    Conversations,
    /// `read`
    Read {
        /// The friend whose messages were read.
        peer: UserId,
        /// Up to (and including) this message.
        up_to: MsgId,
    },
}

impl Request {
    /// The request's operation.
    pub fn op(&self) -> Op {
        match self {
            Request::Ping => Op::Ping,
            Request::Register { .. } => Op::Register,
            Request::Login { .. } => Op::Login,
            Request::Logout => Op::Logout,
            Request::SearchUser { .. } => Op::SearchUser,
            Request::GetProfile { .. } => Op::GetProfile,
            Request::UpdateProfile { .. } => Op::UpdateProfile,
            Request::AddFriend { .. } => Op::AddFriend,
            Request::FriendRequests => Op::FriendRequests,
            Request::AcceptFriend { .. } => Op::AcceptFriend,
            Request::RejectFriend { .. } => Op::RejectFriend,
            Request::DeleteFriend { .. } => Op::DeleteFriend,
            Request::Friends => Op::Friends,
            Request::SendMessage { .. } => Op::SendMessage,
            Request::Sync { .. } => Op::Sync,
            Request::History { .. } => Op::History,
            Request::Conversations => Op::Conversations,
            Request::Read { .. } => Op::Read,
        }
    }

    /// Reads `op`'s fields by the contract's rules.
    pub fn parse(op: Op, f: &Fields) -> Result<Request, ChatError> {
        Ok(match op {
            Op::Ping => Request::Ping,
            Op::Register => {
                let username = f.str_chars("username", 3, 32)?;
                if !valid_username(&username) {
                    return Err(ChatError::field(
                        "username",
                        "may contain only A-Z a-z 0-9 _ . -",
                    ));
                }
                let password = f.str_bytes("password", 8, 128)?;
                let nickname = f.opt_str("nickname", 64)?;
                let email = f.opt_str("email", 254)?;
                if email.as_deref().is_some_and(|e| !valid_email(e)) {
                    return Err(ChatError::field("email", "must look like name@host"));
                }
                Request::Register {
                    username,
                    password,
                    nickname,
                    email,
                }
            }
            Op::Login => {
                let push = f.bool_or("push", true)?;
                let credentials = if f.has("username") || !f.has("token") {
                    Credentials::Password {
                        username: f.str_chars("username", 1, 64)?,
                        password: f.str_bytes("password", 1, 1024)?,
                    }
                } else {
                    Credentials::Token(f.str_chars("token", 1, 128)?)
                };
                Request::Login { credentials, push }
            }
            Op::Logout => Request::Logout,
            Op::SearchUser => Request::SearchUser {
                query: f.str_chars("query", 1, 32)?,
            },
            Op::GetProfile => Request::GetProfile {
                user_id: f.id("user_id")?,
            },
            Op::UpdateProfile => Request::UpdateProfile {
                nickname: f.opt_str("nickname", 64)?,
                avatar: f.opt_str("avatar", 256)?,
            },
            Op::AddFriend => Request::AddFriend {
                user_id: f.id("user_id")?,
                message: f.opt_str("message", 256)?.unwrap_or_default(),
            },
            Op::FriendRequests => Request::FriendRequests,
            Op::AcceptFriend => Request::AcceptFriend {
                request_id: f.id("request_id")?,
            },
            Op::RejectFriend => Request::RejectFriend {
                request_id: f.id("request_id")?,
            },
            Op::DeleteFriend => Request::DeleteFriend {
                user_id: f.id("user_id")?,
            },
            Op::Friends => Request::Friends,
            Op::SendMessage => Request::SendMessage {
                to: f.id("to")?,
                text: f.str_chars("text", 1, 4096)?,
                client_msg_id: f.str_chars("client_msg_id", 1, 64)?,
            },
            Op::Sync => Request::Sync {
                after: f.id("after")?,
                limit: f.limit("limit", 200, 500)?,
            },
            Op::History => Request::History {
                peer: f.id("peer")?,
                before: f.opt_id("before")?,
                limit: f.limit("limit", 50, 100)?,
            },
            Op::Conversations => Request::Conversations,
            Op::Read => Request::Read {
                peer: f.id("peer")?,
                up_to: f.id("up_to")?,
            },
        })
    }

    /// The request's fields as JSON (absent optional fields left out).
    pub fn fields(&self) -> Map<String, Value> {
        let mut v = match self {
            Request::Ping
            | Request::Logout
            | Request::FriendRequests
            | Request::Friends
            | Request::Conversations => json!({}),
            Request::Register {
                username,
                password,
                nickname,
                email,
            } => {
                json!({"username": username, "password": password, "nickname": nickname, "email": email})
            }
            Request::Login { credentials, push } => match credentials {
                Credentials::Password { username, password } => {
                    json!({"username": username, "password": password, "push": push})
                }
                Credentials::Token(token) => json!({"token": token, "push": push}),
            },
            Request::SearchUser { query } => json!({ "query": query }),
            Request::GetProfile { user_id } | Request::DeleteFriend { user_id } => {
                json!({ "user_id": user_id })
            }
            Request::UpdateProfile { nickname, avatar } => {
                json!({"nickname": nickname, "avatar": avatar})
            }
            Request::AddFriend { user_id, message } => {
                json!({"user_id": user_id, "message": message})
            }
            Request::AcceptFriend { request_id } | Request::RejectFriend { request_id } => {
                json!({ "request_id": request_id })
            }
            Request::SendMessage {
                to,
                text,
                client_msg_id,
            } => json!({"to": to, "text": text, "client_msg_id": client_msg_id}),
            Request::Sync { after, limit } => json!({"after": after, "limit": limit}),
            Request::History {
                peer,
                before,
                limit,
            } => json!({"peer": peer, "before": before, "limit": limit}),
            Request::Read { peer, up_to } => json!({"peer": peer, "up_to": up_to}),
        };
        let mut map = match v.take() {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        map.retain(|_, v| !v.is_null());
        map
    }

    /// The request as a frame body: `{"type": op, "seq": seq, ...fields}`.
    pub fn encode(&self, seq: Option<u64>) -> Vec<u8> {
        let mut map = self.fields();
        map.insert("type".into(), Value::from(self.op().name()));
        if let Some(seq) = seq {
            map.insert("seq".into(), Value::from(seq));
        }
        crate::to_bytes(&Value::Object(map))
    }
}

/// 3–32 characters of `A-Z a-z 0-9 _ . -` (the length is checked apart).
pub fn valid_username(name: &str) -> bool {
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Whether `email` looks like an address: `name@host`, no white space.
pub fn valid_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, host)) => {
            !local.is_empty() && !host.is_empty() && !email.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Envelope;

    fn parse(text: &str) -> Result<Request, ChatError> {
        let env = Envelope::parse(text.as_bytes()).unwrap();
        Request::parse(Op::from_name(&env.op).unwrap(), &env.fields)
    }

    #[test]
    fn encode_then_parse_gives_the_request_back() {
        let requests = [
            Request::Ping,
            Request::Register {
                username: "al.ice-9".into(),
                password: "long enough".into(),
                nickname: None,
                email: Some("a@b".into()),
            },
            Request::Login {
                credentials: Credentials::Token("t".into()),
                push: false,
            },
            Request::SendMessage {
                to: 7,
                text: "hé 😀".into(),
                client_msg_id: "c-1".into(),
            },
            Request::History {
                peer: 3,
                before: None,
                limit: 50,
            },
        ];
        for r in requests {
            let body = String::from_utf8(r.encode(Some(5))).unwrap();
            assert_eq!(parse(&body).unwrap(), r, "{body}");
        }
    }

    #[test]
    fn the_first_bad_field_is_named() {
        let e = parse(r#"{"type":"register","username":"a b c","password":"x"}"#).unwrap_err();
        assert!(e.message.contains("`username`"), "{e}");
        let e = parse(r#"{"type":"send_message","to":1,"text":""}"#).unwrap_err();
        assert!(e.message.contains("`text`"), "{e}");
        let e = parse(r#"{"type":"register","username":"abc","password":"12345678","email":"x"}"#)
            .unwrap_err();
        assert!(e.message.contains("`email`"), "{e}");
    }

    #[test]
    fn usernames() {
        assert!(valid_username("Al_i.ce-9"));
        assert!(!valid_username("al ice"));
        assert!(!valid_username("alïce"));
        assert!(valid_email("a@b"));
        assert!(!valid_email("a@"));
        assert!(!valid_email("a b@c"));
    }
}
