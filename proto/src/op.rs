//! [`Op`]: every operation of the contract and its wire name, in one place.
//!
//! May touch: nothing; plain values.

/// An operation a client may ask for (a request's `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `ping`
    Ping,
    /// `register`
    Register,
    /// `login`
    Login,
    /// `logout`
    Logout,
    /// `search_user`
    SearchUser,
    /// `get_profile`
    GetProfile,
    /// `update_profile`
    UpdateProfile,
    /// `add_friend`
    AddFriend,
    /// `friend_requests`
    FriendRequests,
    /// `accept_friend`
    AcceptFriend,
    /// `reject_friend`
    RejectFriend,
    /// `delete_friend`
    DeleteFriend,
    /// `friends`
    Friends,
    /// `send_message`
    SendMessage,
    /// `sync`
    Sync,
    /// `history`
    History,
    /// `conversations`
    Conversations,
    /// `read`
    Read,
}

impl Op {
    /// Every operation, in the contract's order.
    pub const ALL: [Op; 18] = [
        Op::Ping,
        Op::Register,
        Op::Login,
        Op::Logout,
        Op::SearchUser,
        Op::GetProfile,
        Op::UpdateProfile,
        Op::AddFriend,
        Op::FriendRequests,
        Op::AcceptFriend,
        Op::RejectFriend,
        Op::DeleteFriend,
        Op::Friends,
        Op::SendMessage,
        Op::Sync,
        Op::History,
        Op::Conversations,
        Op::Read,
    ];

    /// The wire name.
    pub const fn name(self) -> &'static str {
        match self {
            Op::Ping => "ping",
            Op::Register => "register",
            Op::Login => "login",
            Op::Logout => "logout",
            Op::SearchUser => "search_user",
            Op::GetProfile => "get_profile",
            Op::UpdateProfile => "update_profile",
            Op::AddFriend => "add_friend",
            Op::FriendRequests => "friend_requests",
            Op::AcceptFriend => "accept_friend",
            Op::RejectFriend => "reject_friend",
            Op::DeleteFriend => "delete_friend",
            Op::Friends => "friends",
            Op::SendMessage => "send_message",
            Op::Sync => "sync",
            Op::History => "history",
            Op::Conversations => "conversations",
            Op::Read => "read",
        }
    }

    /// The operation a wire name names, if any.
    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.name() == name)
    }

    /// Whether a connection that has not logged in may ask for it.
    pub const fn is_public(self) -> bool {
        matches!(self, Op::Ping | Op::Register | Op::Login)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for op in Op::ALL {
            assert_eq!(Op::from_name(op.name()), Some(op));
        }
        assert_eq!(Op::from_name("Ping"), None);
        assert_eq!(Op::ALL.iter().filter(|op| op.is_public()).count(), 3);
    }
}
