//! The text of a mail: what a verification-code mail says, and the lettre `Message` built
//! from an [`OutgoingMail`].
//!
//! What it may touch: nothing outside itself (pure functions over strings).
//!
//! A code mail states the real validity, computed from the same `Duration` the code store
//! uses as TTL, so the text can never disagree with it (the original said "3 minutes" of a
//! code that lived 600 s).

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::Message;

/// One mail to send: plain UTF-8 text to one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// The recipient's address, e.g. `alice@example.com`; it becomes the `To:` header and
    /// the envelope recipient.
    pub to: String,
    /// The `Subject:` header.
    pub subject: String,
    /// The body, plain text; lines end in `\n` (lettre sends CRLF).
    pub body: String,
}

/// What a verification code is for; it decides the subject and the wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodePurpose {
    /// Creating an account (`POST /api/v1/register`).
    Register,
    /// Setting a new password (`POST /api/v1/reset-password`).
    ResetPassword,
}

/// The mail that carries a verification code to `to`.
///
/// The body says what the code is for, holds `code` on a line of its own (the only run of
/// digits of that length in the mail), and says how long it is valid, from `valid_for`
/// (see [`validity_text`]): "The code is valid for 10 minutes." for 600 s.
///
/// `code` is expected to be the six digits the gateway generated; it is put in as given.
pub fn code_mail(to: &str, code: &str, purpose: CodePurpose, valid_for: Duration) -> OutgoingMail {
    debug_assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "a verification code is six digits"
    );
    let validity = validity_text(valid_for);
    let (subject, intro, ignore) = match purpose {
        CodePurpose::Register => (
            "Your verification code",
            "Use this code to verify your e-mail address and create your account:",
            "If you did not ask for an account, you can ignore this mail.",
        ),
        CodePurpose::ResetPassword => (
            "Your password reset code",
            "Use this code to set a new password for your account:",
            "If you did not ask to reset your password, you can ignore this mail;\n\
             your password stays as it is.",
        ),
    };
    let body = format!(
        "{intro}\n\n{code}\n\nThe code is valid for {validity} and can be used once.\n\
         Do not give it to anyone.\n\n{ignore}\n"
    );
    OutgoingMail {
        to: to.to_owned(),
        subject: subject.to_owned(),
        body,
    }
}

/// A duration as people read it, rounded down to whole seconds (never longer than the
/// truth): "10 minutes" for 600 s, "1 minute", "2 hours" for whole hours, and seconds
/// when it is not a whole number of minutes ("90 seconds", "1 second").
pub fn validity_text(valid_for: Duration) -> String {
    let secs = valid_for.as_secs();
    let (n, unit) = match (secs % 3600, secs % 60) {
        _ if secs == 0 => (0, "second"),
        (0, _) => (secs / 3600, "hour"),
        (_, 0) => (secs / 60, "minute"),
        _ => (secs, "second"),
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// Why a mail could not be turned into a message; retrying cannot help.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ComposeError {
    /// The recipient's address does not parse.
    #[error("invalid recipient address: {0}")]
    To(#[source] lettre::address::AddressError),
    /// lettre refused the message.
    #[error("cannot build the message: {0}")]
    Build(#[source] lettre::error::Error),
}

/// The RFC 5322 message for `mail` from `from`: From, To, Subject, Date, a new Message-ID,
/// `Content-Type: text/plain; charset=utf-8`, the body.
pub(crate) fn build_message(from: &Mailbox, mail: &OutgoingMail) -> Result<Message, ComposeError> {
    let to: Mailbox = mail.to.trim().parse().map_err(ComposeError::To)?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .message_id(None)
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.clone())
        .map_err(ComposeError::Build)
}
