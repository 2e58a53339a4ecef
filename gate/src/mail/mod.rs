//! Outgoing mail of the gateway: verification codes sent off the request path.
//!
//! What it is for: a request handler composes a mail ([`code_mail`]) and hands it to the
//! [`Mailer`] with [`Mailer::send`], which never blocks: the mail goes into a bounded
//! queue, or the call fails at once with [`QueueFull`] (which the gateway answers
//! `503 server_busy`). One sender thread takes mails from the queue and delivers them with
//! `lettre`, retrying failed attempts with a doubling back-off, and counts what happens
//! ([`MailStats`], for `/metrics`).
//!
//! Where mail goes ([`MailTransportConfig`]): `--smtp URL` sends through an SMTP server
//! (`smtps://user:pass@host:465` for TLS from the start, `smtp://host:587?tls=required`
//! for STARTTLS, plain `smtp://host:port` only for local test servers); `--mail-dir DIR`
//! (the default) writes every mail as one RFC 5322 file `*.eml` in DIR, so the gateway
//! runs with no mail server.
//!
//! What it may touch: the network connection to the configured SMTP server, or the mail
//! directory (and its hidden staging folder `.tmp`); the `log` facade; one thread of its
//! own. Nothing else of the gateway: it knows neither HTTP, Redis nor the code store.
//! It never logs a mail's body (which holds the code) nor the SMTP password.
//!
//! Files: `compose.rs` (the text of a mail and the lettre `Message`), `transport.rs` (the
//! delivery of one message by SMTP or into the directory), `queue.rs` (the queue, the
//! sender thread, retries and counters).

mod compose;
mod queue;
mod transport;

use std::path::PathBuf;
use std::time::Duration;

pub use compose::{code_mail, validity_text, CodePurpose, OutgoingMail};
pub use queue::{MailStats, Mailer};

/// Where the gateway's mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailTransportConfig {
    /// Write every mail as one RFC 5322 file `<uuid>.eml` into this directory (created
    /// when missing). The default, `<data_dir>/mail`.
    Dir(PathBuf),
    /// Send through the SMTP server of this URL, in lettre's form
    /// `scheme://user:pass@host:port/ehlo-name?tls=TLS`: `smtps://…` (TLS from the start,
    /// port 465 by default), `smtp://…?tls=required` (STARTTLS or fail, port 587),
    /// `smtp://…?tls=opportunistic`, or `smtp://…` with no `tls` (unencrypted, port 25:
    /// for local test servers only). User and password must be percent-encoded.
    Smtp(String),
}

/// How the [`Mailer`] is set up. [`MailSettings::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// Where mail goes.
    pub transport: MailTransportConfig,
    /// The `From:` mailbox, e.g. `Chat <no-reply@localhost>`.
    pub from: String,
    /// How many mails may wait at once, counting those being sent or waiting for a retry
    /// (default 1024). One more is refused with [`QueueFull`].
    pub queue: usize,
    /// How many times one mail is tried in all before it counts as failed (default 5; 0
    /// is taken as 1).
    pub attempts: u32,
    /// The delay before the first retry; each further retry waits twice as long as the
    /// one before (default 1 s).
    pub backoff: Duration,
    /// The SMTP time-out for connecting and for each read or write (default 10 s), so one
    /// silent server cannot hold the sender for long.
    pub smtp_timeout: Duration,
    /// How long [`Mailer::stop`] keeps delivering what is still queued (default 5 s);
    /// mails left after that count as failed.
    pub drain: Duration,
}

impl MailSettings {
    /// Settings with the given transport and every other field at its default: from
    /// `Chat <no-reply@localhost>`, queue 1024, 5 attempts, back-off 1 s, SMTP time-out
    /// 10 s, drain 5 s.
    pub fn new(transport: MailTransportConfig) -> MailSettings {
        MailSettings {
            transport,
            from: "Chat <no-reply@localhost>".to_owned(),
            queue: 1024,
            attempts: 5,
            backoff: Duration::from_secs(1),
            smtp_timeout: Duration::from_secs(10),
            drain: Duration::from_secs(5),
        }
    }
}

/// Why the [`Mailer`] could not start.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The `--smtp` URL is not one lettre can send through (unknown scheme or `tls`
    /// value, no host, bad percent-encoding). The URL itself is not repeated, since it
    /// may hold a password.
    #[error("invalid SMTP URL: {0}")]
    SmtpUrl(#[source] lettre::transport::smtp::Error),
    /// The `From:` mailbox does not parse.
    #[error("invalid From address {from:?}: {source}")]
    From {
        /// The text given.
        from: String,
        /// What the parser said.
        #[source]
        source: lettre::address::AddressError,
    },
    /// The mail directory (or its staging folder) could not be created.
    #[error("cannot create mail directory {path}: {source}")]
    MailDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The sender thread could not be started.
    #[error("cannot start the mail sender thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// [`Mailer::send`] refused a mail because the queue is full; the gateway answers
/// `503 server_busy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("mail queue full")]
pub struct QueueFull;
