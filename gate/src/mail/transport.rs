//! Delivery of one message: through an SMTP server, or as a file into the mail directory.
//!
//! What it may touch: the SMTP server named by the URL (one connection per delivery,
//! closed after it), or the mail directory and its hidden staging folder `.tmp`. It
//! keeps no state between deliveries.
//!
//! The file transport is lettre's: it writes `<uuid>.eml` into `DIR/.tmp`, and the file is
//! then renamed into `DIR`, so a reader watching `DIR/*.eml` never sees half a mail.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::{FileTransport, Message, SmtpTransport, Transport as _};

use super::{MailError, MailTransportConfig};

/// The staging folder inside the mail directory.
const STAGING: &str = ".tmp";

/// A ready transport.
pub(crate) enum Delivery {
    /// Through an SMTP server.
    Smtp {
        /// lettre's transport, built from the URL.
        transport: SmtpTransport,
        /// The URL with any password hidden, for logs.
        shown: String,
    },
    /// Into a directory.
    Dir {
        /// lettre's file transport, writing into `staging`.
        transport: FileTransport,
        /// `dir/.tmp`.
        staging: PathBuf,
        /// The mail directory.
        dir: PathBuf,
    },
}

/// Why one delivery failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DeliverError {
    /// The SMTP conversation failed (connection, TLS, time-out or a refusal).
    #[error("{0}")]
    Smtp(#[source] lettre::transport::smtp::Error),
    /// Writing the file failed.
    #[error("{0}")]
    File(#[source] lettre::transport::file::Error),
    /// Moving the written file into the mail directory failed.
    #[error("cannot move {from} into the mail directory: {source}")]
    Rename {
        /// The staged file.
        from: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl DeliverError {
    /// True when trying again cannot help: the server refused for good (a 5xx reply).
    pub(crate) fn is_permanent(&self) -> bool {
        match self {
            DeliverError::Smtp(e) => e.is_permanent(),
            DeliverError::File(_) | DeliverError::Rename { .. } => false,
        }
    }
}

impl Delivery {
    /// Builds the transport: checks the SMTP URL with lettre (no connection is made), or
    /// creates the mail directory and its staging folder.
    pub(crate) fn open(
        config: &MailTransportConfig,
        timeout: Duration,
    ) -> Result<Delivery, MailError> {
        match config {
            MailTransportConfig::Smtp(url) => {
                let transport = SmtpTransport::from_url(url)
                    .map_err(MailError::SmtpUrl)?
                    .timeout(Some(timeout))
                    .build();
                Ok(Delivery::Smtp {
                    transport,
                    shown: redact_url(url),
                })
            }
            MailTransportConfig::Dir(dir) => {
                let staging = dir.join(STAGING);
                create_private_dir(&staging).map_err(|source| MailError::MailDir {
                    path: staging.clone(),
                    source,
                })?;
                Ok(Delivery::Dir {
                    transport: FileTransport::new(&staging),
                    staging,
                    dir: dir.clone(),
                })
            }
        }
    }

    /// Delivers one message, blocking until done (at most about the SMTP time-out per
    /// step of the conversation).
    pub(crate) fn deliver(&self, message: &Message) -> Result<(), DeliverError> {
        match self {
            Delivery::Smtp { transport, .. } => transport
                .send(message)
                .map(drop)
                .map_err(DeliverError::Smtp),
            Delivery::Dir {
                transport,
                staging,
                dir,
            } => {
                let id = transport.send(message).map_err(DeliverError::File)?;
                let name = format!("{id}.eml");
                let from = staging.join(&name);
                fs::rename(&from, dir.join(&name)).map_err(|source| {
                    // Leave no stray file behind for a later retry to duplicate.
                    let _ = fs::remove_file(&from);
                    DeliverError::Rename { from, source }
                })
            }
        }
    }

    /// Where mail goes, for logs: the SMTP URL without its password, or the directory.
    pub(crate) fn describe(&self) -> String {
        match self {
            Delivery::Smtp { shown, .. } => shown.clone(),
            Delivery::Dir { dir, .. } => dir.display().to_string(),
        }
    }
}

/// Creates `path` and its missing parents, new folders readable by the owner only (the
/// mails hold codes).
fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

/// The URL with the password of its user part replaced by `***`.
fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    let user = rest[..at].split(':').next().unwrap_or("");
    format!("{}{user}:***{}", &url[..scheme_end], &rest[at..])
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_the_password_only() {
        assert_eq!(
            redact_url("smtps://bob:s3cr%40t@mx.example:465"),
            "smtps://bob:***@mx.example:465"
        );
        assert_eq!(
            redact_url("smtp://mx.example:587?tls=required"),
            "smtp://mx.example:587?tls=required"
        );
        assert_eq!(
            redact_url("smtp://u:p@h/ehlo?tls=required"),
            "smtp://u:***@h/ehlo?tls=required"
        );
    }
}
