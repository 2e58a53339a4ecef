//! The gateway's mail sending against real things: lettre's file transport writing into a
//! temporary directory, a real SMTP server (Python's standard `smtpd` module, started on a
//! free loopback port by the test), a listener that never answers (a stuck server), and a
//! plain-text listener spoken to over TLS.
//!
//! The SMTP server script accepts every mail, except that it answers `451` (try later) at
//! the end of DATA for recipients starting with `later-` and `550` (refused for good) for
//! those starting with `perm-`; it prints each accepted mail between `=== MESSAGE` and
//! `=== END` lines.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, Once};
use std::thread;
use std::time::{Duration, Instant};

use gate::mail::{
    code_mail, validity_text, CodePurpose, MailError, MailSettings, MailStats, MailTransportConfig,
    Mailer, OutgoingMail, QueueFull,
};

// ---------------------------------------------------------------------------------------
// Helpers

/// Log lines captured from the mailer (all tests of this binary share the logger: filter
/// by the test's own addresses).
static LOGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.target().starts_with("gate")
    }
    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format!("{} {}", record.level(), record.args());
        eprintln!("{line}");
        LOGS.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture;

fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if log::set_logger(&CAPTURE).is_ok() {
            log::set_max_level(log::LevelFilter::Trace);
        }
    });
}

/// Captured log lines that contain `needle`.
fn logs_with(needle: &str) -> Vec<String> {
    LOGS.lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|l| l.contains(needle))
        .cloned()
        .collect()
}

/// Every captured log line.
fn all_logs() -> Vec<String> {
    LOGS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Waits until `cond` holds, or panics after `limit` naming `what`.
fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the mailer's counters satisfy `cond`, and returns them.
fn wait_stats(
    mailer: &Mailer,
    what: &str,
    limit: Duration,
    cond: impl Fn(&MailStats) -> bool,
) -> MailStats {
    wait_until(what, limit, || cond(&mailer.stats()));
    mailer.stats()
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// Settings for tests: short time-outs.
fn settings(transport: MailTransportConfig) -> MailSettings {
    MailSettings {
        smtp_timeout: Duration::from_secs(5),
        drain: Duration::from_secs(5),
        ..MailSettings::new(transport)
    }
}

fn smtp_url(port: u16) -> MailTransportConfig {
    MailTransportConfig::Smtp(format!("smtp://127.0.0.1:{port}"))
}

/// Maximal runs of ASCII digits in `text`.
fn digit_runs(text: &str) -> Vec<&str> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|r| !r.is_empty())
        .collect()
}

/// An RFC 5322 message: unfolded headers and the body (CRLF turned to LF).
struct Eml {
    headers: Vec<(String, String)>,
    body: String,
}

impl Eml {
    fn parse(raw: &str) -> Eml {
        let (head, body) = raw
            .split_once("\r\n\r\n")
            .expect("a blank CRLF line after the headers");
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                let last = headers
                    .last_mut()
                    .expect("a continuation line after a header");
                last.1.push(' ');
                last.1.push_str(line.trim());
            } else {
                let (name, value) = line
                    .split_once(':')
                    .unwrap_or_else(|| panic!("not a header line: {line:?}"));
                headers.push((name.to_owned(), value.trim().to_owned()));
            }
        }
        Eml {
            headers,
            body: body.replace("\r\n", "\n"),
        }
    }

    /// The value of the one header called `name` (any case); panics if not exactly one.
    fn header(&self, name: &str) -> &str {
        let found: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(found.len(), 1, "header {name} in {:?}", self.headers);
        found[0]
    }
}

/// Checks a received code mail: headers, the code as the only run of 6 digits on a line
/// of its own, and the validity sentence.
fn check_code_mail(eml: &Eml, to: &str, code: &str, validity: &str) {
    assert_eq!(eml.header("To"), to);
    assert_eq!(eml.header("From"), "Chat <no-reply@localhost>");
    assert!(!eml.header("Subject").is_empty());
    assert!(!eml.header("Date").is_empty());
    let id = eml.header("Message-ID");
    assert!(
        id.starts_with('<') && id.ends_with('>') && id.contains('@'),
        "Message-ID {id}"
    );
    assert_eq!(
        eml.header("Content-Type").to_ascii_lowercase(),
        "text/plain; charset=utf-8"
    );
    assert_eq!(eml.header("Content-Transfer-Encoding"), "7bit");
    let six: Vec<&str> = digit_runs(&eml.body)
        .into_iter()
        .filter(|r| r.len() >= 6)
        .collect();
    assert_eq!(
        six,
        vec![code],
        "the code is the only run of 6+ digits: {}",
        eml.body
    );
    assert!(
        eml.body.lines().any(|l| l == code),
        "the code on a line of its own: {}",
        eml.body
    );
    let sentence = format!("valid for {validity}");
    assert!(eml.body.contains(&sentence), "{sentence:?} in {}", eml.body);
}

/// The `.eml` files directly in `dir`.
fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read the mail dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for f in &files {
        assert_eq!(
            f.extension().and_then(|e| e.to_str()),
            Some("eml"),
            "only .eml files: {f:?}"
        );
    }
    files
}

const SMTP_SERVER: &str = r#"
import asyncore, smtpd, sys

class Server(smtpd.SMTPServer):
    def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
        if any(r.startswith('perm-') for r in rcpttos):
            print('=== REFUSED', ' '.join(rcpttos), flush=True)
            return '550 5.1.1 no such user'
        if any(r.startswith('later-') for r in rcpttos):
            print('=== DEFERRED', ' '.join(rcpttos), flush=True)
            return '451 4.3.0 try again later'
        text = data.decode('utf-8') if isinstance(data, bytes) else data
        print('=== MESSAGE', mailfrom, ' '.join(rcpttos))
        print(text)
        print('=== END', flush=True)

Server(('127.0.0.1', int(sys.argv[1])), None)
print('=== READY', flush=True)
asyncore.loop()
"#;

/// A real SMTP server (Python's `smtpd`) on a loopback port; killed on drop.
struct SmtpServer {
    child: Child,
    out: tempfile::NamedTempFile,
}

/// One mail the server accepted.
struct Received {
    mail_from: String,
    rcpt_to: Vec<String>,
    eml: Eml,
}

impl SmtpServer {
    fn start(port: u16) -> SmtpServer {
        let out = tempfile::NamedTempFile::new().expect("temp file");
        let child = Command::new("python3")
            .args(["-u", "-W", "ignore", "-c", SMTP_SERVER, &port.to_string()])
            .stdin(Stdio::null())
            .stdout(out.reopen().expect("reopen temp file"))
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 (with the smtpd module of Python <= 3.11) runs the test SMTP server");
        let mut server = SmtpServer { child, out };
        wait_until("the SMTP server to listen", Duration::from_secs(20), || {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("the SMTP server exited: {status}");
            }
            server.output().contains("=== READY")
        });
        server
    }

    fn output(&self) -> String {
        fs::read_to_string(self.out.path()).unwrap_or_default()
    }

    /// The mails accepted so far.
    fn received(&self) -> Vec<Received> {
        let out = self.output();
        let mut mails = Vec::new();
        let mut rest = out.as_str();
        while let Some(start) = rest.find("=== MESSAGE ") {
            let after = &rest[start + "=== MESSAGE ".len()..];
            let Some(end) = after.find("\n=== END\n") else {
                break;
            };
            let (envelope, text) = after[..end].split_once('\n').expect("envelope line");
            let mut words = envelope.split(' ');
            let mail_from = words.next().unwrap_or("").to_owned();
            let rcpt_to = words.map(str::to_owned).collect();
            // smtpd hands the data over with LF line ends; put CRLF back for the parser.
            let raw = text.replace('\n', "\r\n");
            mails.push(Received {
                mail_from,
                rcpt_to,
                eml: Eml::parse(&raw),
            });
            rest = &after[end..];
        }
        mails
    }

    /// The mails accepted so far for `to`.
    fn received_for(&self, to: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|m| m.rcpt_to.iter().any(|r| r == to))
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// The text

#[test]
fn code_mail_states_the_real_validity() {
    let mail = code_mail(
        "alice@example.com",
        "042917",
        CodePurpose::Register,
        Duration::from_secs(600),
    );
    assert_eq!(mail.to, "alice@example.com");
    assert!(
        mail.body.contains("The code is valid for 10 minutes"),
        "{}",
        mail.body
    );
    assert!(
        !mail.body.contains("3 minutes"),
        "the original's defect: {}",
        mail.body
    );
    assert!(mail.body.lines().any(|l| l == "042917"), "{}", mail.body);
    assert_eq!(
        digit_runs(&mail.body)
            .into_iter()
            .filter(|r| r.len() >= 6)
            .collect::<Vec<_>>(),
        ["042917"]
    );
    assert!(mail.body.contains("create your account"), "{}", mail.body);

    let reset = code_mail(
        "alice@example.com",
        "042917",
        CodePurpose::ResetPassword,
        Duration::from_secs(600),
    );
    assert_ne!(reset.subject, mail.subject);
    assert!(reset.body.contains("new password"), "{}", reset.body);
    assert!(
        !reset.body.contains("create your account"),
        "{}",
        reset.body
    );

    for (secs, text) in [
        (600, "10 minutes"),
        (60, "1 minute"),
        (180, "3 minutes"),
        (90, "90 seconds"),
        (61, "61 seconds"),
        (1, "1 second"),
        (59, "59 seconds"),
        (3600, "1 hour"),
        (7200, "2 hours"),
        (5400, "90 minutes"),
        (0, "0 seconds"),
    ] {
        assert_eq!(validity_text(Duration::from_secs(secs)), text, "{secs} s");
        let m = code_mail(
            "a@b.c",
            "123456",
            CodePurpose::Register,
            Duration::from_secs(secs),
        );
        assert!(
            m.body.contains(&format!("valid for {text} ")),
            "{secs} s: {}",
            m.body
        );
    }
    // Never longer than the truth.
    assert_eq!(validity_text(Duration::from_millis(600_900)), "10 minutes");
    assert_eq!(validity_text(Duration::from_millis(59_999)), "59 seconds");
}

// ---------------------------------------------------------------------------------------
// Starting

#[test]
fn start_checks_the_settings_and_creates_the_mail_dir() {
    init_logs();
    for bad in [
        "http://127.0.0.1:25",
        "smtp://127.0.0.1:25?tls=none",
        "smtp://127.0.0.1:25?tls=bogus",
        "smtps://",
        "not a url",
    ] {
        match Mailer::start(settings(MailTransportConfig::Smtp(bad.into()))) {
            Err(MailError::SmtpUrl(_)) => {}
            other => panic!("{bad}: expected SmtpUrl, got {other:?}"),
        }
    }
    // The error does not repeat the URL (it may hold a password).
    let err = Mailer::start(settings(MailTransportConfig::Smtp(
        "smtp://u:hunter2@h?tls=x".into(),
    )))
    .expect_err("bad tls value");
    assert!(!err.to_string().contains("hunter2"), "{err}");

    // TLS URLs build (the rustls backend is there); no connection is made at start.
    for good in [
        "smtps://user:pa%40ss@mail.example.com:465",
        "smtp://mail.example.com:587?tls=required",
        "smtp://mail.example.com:587?tls=opportunistic",
        "smtp://127.0.0.1:2525",
    ] {
        let mailer = Mailer::start(settings(MailTransportConfig::Smtp(good.into())))
            .unwrap_or_else(|e| panic!("{good}: {e}"));
        assert_eq!(mailer.stop(), MailStats::default(), "{good}");
    }

    let dir = tempfile::tempdir().expect("temp dir");
    let bad_from = MailSettings {
        from: "not an address".into(),
        ..settings(MailTransportConfig::Dir(dir.path().join("m")))
    };
    assert!(matches!(
        Mailer::start(bad_from),
        Err(MailError::From { .. })
    ));

    let nested = dir.path().join("data").join("mail");
    let mailer = Mailer::start(settings(MailTransportConfig::Dir(nested.clone()))).expect("start");
    assert!(nested.is_dir(), "the mail dir is created");
    assert!(eml_files(&nested).is_empty());
    mailer.stop();

    // A file where the directory should be.
    let file = dir.path().join("file");
    fs::write(&file, "x").expect("write");
    assert!(matches!(
        Mailer::start(settings(MailTransportConfig::Dir(file))),
        Err(MailError::MailDir { .. })
    ));
}

// ---------------------------------------------------------------------------------------
// The file transport

#[test]
fn file_transport_writes_one_eml_per_mail() {
    init_logs();
    let dir = tempfile::tempdir().expect("temp dir");
    let mailer =
        Mailer::start(settings(MailTransportConfig::Dir(dir.path().to_owned()))).expect("start");
    let sent = [
        ("file-one@example.com", "000123", CodePurpose::Register),
        ("file-two@example.com", "987654", CodePurpose::ResetPassword),
        ("File-Three@Example.COM", "555000", CodePurpose::Register),
    ];
    for (to, code, purpose) in sent {
        mailer
            .send(code_mail(to, code, purpose, Duration::from_secs(600)))
            .expect("queued");
    }
    let stats = wait_stats(&mailer, "3 sent", Duration::from_secs(10), |s| s.sent == 3);
    assert_eq!(
        stats,
        MailStats {
            queued: 3,
            sent: 3,
            ..MailStats::default()
        }
    );

    let files = eml_files(dir.path());
    assert_eq!(files.len(), 3, "one file per mail: {files:?}");
    let mut seen = Vec::new();
    for f in &files {
        let raw = fs::read_to_string(f).expect("read .eml");
        let eml = Eml::parse(&raw);
        let to = eml.header("To").to_owned();
        let (_, code, purpose) = sent
            .iter()
            .find(|(addr, _, _)| *addr == to)
            .unwrap_or_else(|| panic!("unexpected To: {to}"));
        check_code_mail(&eml, &to, code, "10 minutes");
        let subject = eml.header("Subject");
        match purpose {
            CodePurpose::Register => assert_eq!(subject, "Your verification code"),
            CodePurpose::ResetPassword => assert_eq!(subject, "Your password reset code"),
        }
        seen.push(to);
    }
    seen.sort();
    let mut expected: Vec<String> = sent.iter().map(|(a, _, _)| a.to_string()).collect();
    expected.sort();
    assert_eq!(seen, expected);
    // Nothing left in the staging folder.
    assert_eq!(
        fs::read_dir(dir.path().join(".tmp"))
            .expect("staging")
            .count(),
        0
    );
    mailer.stop();

    // Codes never reach the log.
    for (_, code, _) in sent {
        assert!(logs_with(code).is_empty(), "code {code} logged");
    }
}

#[test]
fn stop_delivers_what_is_queued() {
    init_logs();
    let dir = tempfile::tempdir().expect("temp dir");
    let mailer =
        Mailer::start(settings(MailTransportConfig::Dir(dir.path().to_owned()))).expect("start");
    for i in 0..50 {
        let mail = OutgoingMail {
            to: format!("drain-{i}@example.com"),
            subject: "drain".into(),
            body: format!("mail {i}\n"),
        };
        mailer.send(mail).expect("queued");
    }
    let stats = mailer.stop();
    assert_eq!(
        (stats.queued, stats.sent, stats.failed, stats.pending),
        (50, 50, 0, 0)
    );
    assert_eq!(eml_files(dir.path()).len(), 50);
}

#[test]
fn a_mail_that_cannot_be_composed_fails_and_the_queue_goes_on() {
    init_logs();
    let dir = tempfile::tempdir().expect("temp dir");
    let mailer =
        Mailer::start(settings(MailTransportConfig::Dir(dir.path().to_owned()))).expect("start");
    let bad = OutgoingMail {
        to: "no-at-sign".into(),
        subject: "x".into(),
        body: "x\n".into(),
    };
    mailer.send(bad).expect("queued");
    mailer
        .send(code_mail(
            "compose-ok@example.com",
            "314159",
            CodePurpose::Register,
            Duration::from_secs(90),
        ))
        .expect("queued");
    let stats = mailer.stop();
    assert_eq!((stats.sent, stats.failed, stats.retried), (1, 1, 0));
    assert!(!logs_with("no-at-sign").is_empty(), "the failure is logged");
    let files = eml_files(dir.path());
    assert_eq!(files.len(), 1);
    let eml = Eml::parse(&fs::read_to_string(&files[0]).expect("read"));
    check_code_mail(&eml, "compose-ok@example.com", "314159", "90 seconds");
}

// ---------------------------------------------------------------------------------------
// The bound

#[test]
fn queue_full_is_refused_at_once() {
    init_logs();
    // A server that accepts connections (the kernel's backlog) and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let mailer = Mailer::start(MailSettings {
        queue: 2,
        attempts: 1,
        smtp_timeout: Duration::from_secs(3),
        drain: Duration::from_millis(500),
        ..MailSettings::new(smtp_url(port))
    })
    .expect("start");
    let mail = |i: u32| {
        code_mail(
            &format!("full-{i}@example.com"),
            "111222",
            CodePurpose::Register,
            Duration::from_secs(600),
        )
    };
    mailer.send(mail(1)).expect("first queued");
    mailer.send(mail(2)).expect("second queued");
    for i in 3..6 {
        let start = Instant::now();
        assert_eq!(mailer.send(mail(i)), Err(QueueFull));
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "refused at once: {:?}",
            start.elapsed()
        );
    }
    let stats = mailer.stats();
    assert_eq!(
        (stats.queued, stats.rejected, stats.pending, stats.sent),
        (2, 3, 2, 0)
    );

    // Stopping is bounded although the server hangs: what is left counts as failed.
    let start = Instant::now();
    let stats = mailer.stop();
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "stop took {:?}",
        start.elapsed()
    );
    assert_eq!((stats.sent, stats.failed, stats.pending), (0, 2, 0));
    drop(silent);
}

// ---------------------------------------------------------------------------------------
// SMTP

#[test]
fn smtp_delivers_a_code_mail_to_a_real_server() {
    init_logs();
    let port = free_port();
    let server = SmtpServer::start(port);
    let mailer = Mailer::start(settings(smtp_url(port))).expect("start");
    mailer
        .send(code_mail(
            "smtp-alice@example.com",
            "246810",
            CodePurpose::Register,
            Duration::from_secs(600),
        ))
        .expect("queued");
    mailer
        .send(code_mail(
            "smtp-bob@example.org",
            "135790",
            CodePurpose::ResetPassword,
            Duration::from_secs(300),
        ))
        .expect("queued");
    wait_stats(&mailer, "2 sent", Duration::from_secs(20), |s| s.sent == 2);
    let stats = mailer.stop();
    assert_eq!((stats.sent, stats.failed, stats.retried), (2, 0, 0));

    let alice = server.received_for("smtp-alice@example.com");
    assert_eq!(alice.len(), 1, "one mail for alice");
    assert_eq!(alice[0].mail_from, "no-reply@localhost");
    assert_eq!(alice[0].rcpt_to, ["smtp-alice@example.com"]);
    check_code_mail(
        &alice[0].eml,
        "smtp-alice@example.com",
        "246810",
        "10 minutes",
    );
    let bob = server.received_for("smtp-bob@example.org");
    assert_eq!(bob.len(), 1, "one mail for bob");
    check_code_mail(&bob[0].eml, "smtp-bob@example.org", "135790", "5 minutes");
    assert_eq!(bob[0].eml.header("Subject"), "Your password reset code");
}

#[test]
fn smtp_retries_until_the_server_comes_up() {
    init_logs();
    let port = free_port();
    let mailer = Mailer::start(MailSettings {
        attempts: 8,
        backoff: Duration::from_millis(200),
        ..settings(smtp_url(port))
    })
    .expect("start");
    let to = "retry-carol@example.com";
    mailer
        .send(code_mail(
            to,
            "864200",
            CodePurpose::Register,
            Duration::from_secs(600),
        ))
        .expect("queued");
    // The first attempt finds nobody listening.
    let stats = wait_stats(
        &mailer,
        "a failed first attempt",
        Duration::from_secs(10),
        |s| s.retried >= 1,
    );
    assert_eq!((stats.sent, stats.failed), (0, 0));
    assert!(!logs_with(to).is_empty(), "the failed attempt is logged");

    let server = SmtpServer::start(port);
    let stats = wait_stats(
        &mailer,
        "sent after retries",
        Duration::from_secs(30),
        |s| s.sent == 1,
    );
    assert_eq!(stats.failed, 0);
    assert!(stats.retried >= 1);
    let got = server.received_for(to);
    assert_eq!(got.len(), 1, "delivered once");
    check_code_mail(&got[0].eml, to, "864200", "10 minutes");
    mailer.stop();
}

#[test]
fn a_mail_failing_every_attempt_is_counted_and_logged_and_the_queue_goes_on() {
    init_logs();
    let port = free_port();
    let server = SmtpServer::start(port);
    let mailer = Mailer::start(MailSettings {
        attempts: 3,
        backoff: Duration::from_millis(700),
        ..settings(smtp_url(port))
    })
    .expect("start");
    let bad = "later-dave@example.com";
    let good = "queue-erin@example.com";
    mailer
        .send(code_mail(
            bad,
            "777001",
            CodePurpose::Register,
            Duration::from_secs(600),
        ))
        .expect("queued");
    mailer
        .send(code_mail(
            good,
            "777002",
            CodePurpose::Register,
            Duration::from_secs(600),
        ))
        .expect("queued");

    // The good mail does not wait behind the one being retried (0.7 s, then 1.4 s).
    let stats = wait_stats(&mailer, "the good mail", Duration::from_secs(20), |s| {
        s.sent == 1
    });
    assert_eq!(
        stats.failed, 0,
        "sent while the other still waits for its retry"
    );
    let got = server.received_for(good);
    assert_eq!(got.len(), 1);
    check_code_mail(&got[0].eml, good, "777002", "10 minutes");

    let stats = wait_stats(
        &mailer,
        "the bad mail to fail",
        Duration::from_secs(20),
        |s| s.failed == 1,
    );
    assert_eq!(
        (stats.sent, stats.failed, stats.retried, stats.pending),
        (1, 1, 2, 0)
    );
    assert!(server.received_for(bad).is_empty());
    assert_eq!(
        server
            .output()
            .matches(&format!("=== DEFERRED {bad}"))
            .count(),
        3,
        "tried 3 times"
    );
    let lines = logs_with(bad);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("ERROR") && l.contains("every attempt failed")),
        "the failure is logged: {lines:?}"
    );
    assert!(
        lines.iter().filter(|l| l.starts_with("WARN")).count() == 2,
        "each retry logged: {lines:?}"
    );

    // And the queue keeps going.
    mailer
        .send(code_mail(
            "queue-frank@example.com",
            "777003",
            CodePurpose::ResetPassword,
            Duration::from_secs(600),
        ))
        .expect("queued");
    wait_stats(&mailer, "the next mail", Duration::from_secs(20), |s| {
        s.sent == 2
    });
    assert_eq!(server.received_for("queue-frank@example.com").len(), 1);
    mailer.stop();

    for code in ["777001", "777002", "777003"] {
        assert!(
            all_logs().iter().all(|l| !l.contains(code)),
            "code {code} logged"
        );
    }
}

#[test]
fn a_permanent_refusal_is_not_retried() {
    init_logs();
    let port = free_port();
    let server = SmtpServer::start(port);
    let mailer = Mailer::start(MailSettings {
        attempts: 5,
        backoff: Duration::from_millis(100),
        ..settings(smtp_url(port))
    })
    .expect("start");
    let to = "perm-gina@example.com";
    mailer
        .send(code_mail(
            to,
            "909090",
            CodePurpose::Register,
            Duration::from_secs(600),
        ))
        .expect("queued");
    let stats = wait_stats(&mailer, "the refusal", Duration::from_secs(20), |s| {
        s.failed == 1
    });
    assert_eq!((stats.sent, stats.retried), (0, 0));
    // Give a retry, if there were one, the time to happen.
    thread::sleep(Duration::from_millis(400));
    assert_eq!(server.output().matches("=== REFUSED").count(), 1);
    assert!(logs_with(to)
        .iter()
        .any(|l| l.starts_with("ERROR") && l.contains("refused for good")));
    mailer.stop();
}

#[test]
fn smtps_to_a_plain_text_server_fails_cleanly() {
    init_logs();
    // A server that speaks plain SMTP where TLS is expected.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = thread::spawn(move || {
        let mut served = 0;
        while served < 2 {
            let Ok((mut conn, _)) = listener.accept() else {
                break;
            };
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = conn.write_all(b"220 plain ESMTP\r\n");
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            served += 1;
        }
    });
    let mailer = Mailer::start(MailSettings {
        attempts: 2,
        backoff: Duration::from_millis(100),
        ..settings(MailTransportConfig::Smtp(format!(
            "smtps://user:secret-pw@127.0.0.1:{port}"
        )))
    })
    .expect("start");
    let to = "tls-hank@example.com";
    mailer
        .send(code_mail(
            to,
            "565656",
            CodePurpose::Register,
            Duration::from_secs(600),
        ))
        .expect("queued");
    let stats = wait_stats(&mailer, "the TLS failure", Duration::from_secs(20), |s| {
        s.failed == 1
    });
    assert_eq!((stats.sent, stats.retried), (0, 1));
    assert!(!logs_with(to).is_empty());
    assert!(
        logs_with("secret-pw").is_empty(),
        "the password is not logged"
    );
    mailer.stop();
    let _ = TcpStream::connect(("127.0.0.1", port));
    let _ = server.join();
}
