//! [`Service`]: what the application implements, one request in, one response out.

use crate::request::Request;
use crate::response::Response;

/// An HTTP application. `call` runs on a reactor worker thread and may block (database
/// calls are fine), except for the requests [`Service::inline`] names, which run on the
/// reactor thread that read them; one connection's requests are called one at a time,
/// in order, and different connections' in parallel.
///
/// A closure `Fn(&Request) -> Response` is a service.
pub trait Service: Send + Sync + 'static {
    /// Answers one request. Return a response marked [`Response::closing`] to close the
    /// connection after it.
    fn call(&self, req: &Request) -> Response;

    /// Whether requests for `method` and `path` (the target before any `?`) are answered
    /// in microseconds without blocking, so that they may run on the reactor thread that
    /// read them (see `reactor::Handler::inline`): a health check, a file from memory.
    /// The default, false, hands every request to a worker.
    fn inline(&self, method: &str, path: &str) -> bool {
        let _ = (method, path);
        false
    }
}

impl<F> Service for F
where
    F: Fn(&Request) -> Response + Send + Sync + 'static,
{
    fn call(&self, req: &Request) -> Response {
        self(req)
    }
}
