//! The store's records as the wire shows them, and list pages cut to fit in a frame.
//!
//! May touch: nothing; plain values.

use proto::answer::fit;

use crate::model;

/// A user as the wire shows it, with the online flag.
pub fn user(u: &model::User, online: bool) -> proto::User {
    proto::User {
        user_id: u.user_id,
        username: u.username.clone(),
        nickname: u.nickname.clone(),
        avatar: u.avatar.clone(),
        online,
    }
}

/// A message as the wire shows it, at the position it was read with.
pub fn message(m: &model::Message) -> proto::Message {
    message_at(m, m.pos)
}

/// A message as the wire shows it to a user at whose position `pos` it stands (the
/// recipient's copy of a message read for its sender).
pub fn message_at(m: &model::Message, pos: model::Pos) -> proto::Message {
    proto::Message {
        msg_id: m.msg_id,
        from: m.from,
        to: m.to,
        text: m.text.clone(),
        ts: m.ts,
        client_msg_id: m.client_msg_id.clone(),
        pos,
    }
}

/// A page of a list result: `rows` were fetched with `limit + 1` so that one extra row
/// tells whether more exist. Keeps at most `limit`, cut further to fit the frame;
/// returns the wire items and `more`.
pub fn page<R, T: serde::Serialize>(
    mut rows: Vec<R>,
    limit: usize,
    to_wire: impl Fn(&R) -> T,
    max_frame: usize,
) -> (Vec<T>, bool) {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let (items, cut) = fit(rows.iter().map(to_wire), max_frame);
    (items, more || cut)
}
