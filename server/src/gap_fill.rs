//! The gap-fill thread: reads from the store the positions a connection's pushes are
//! missing, and feeds them to its sequencer.
//!
//! A connection's [`Sequencer`](crate::sequencer::Sequencer) holds pushes that arrive
//! ahead of a gap. When the gap has stayed open for [`GAP_WAIT`](crate::hub::GAP_WAIT)
//! (a cross-node push was lost or is very late), the hub queues a [`FillRequest`]; this
//! thread then pages through the user's timeline after the connection's last position
//! and hands each page to the hub, which sends what is now in order and drops repeats.
//!
//! A *sweep* checks every connection, not only those with a gap: after Redis was away or
//! this node was frozen, pushes may have been lost with no later one to reveal the gap.
//! For each connection it compares the user's last position in the store with the
//! connection's and fills the difference.
//!
//! A connection's own sends that are committed but not yet acked must reach it as acks,
//! not as pushes: before handing a page to the hub, the fill waits for this node's
//! delivery to catch up with the writer (`delivery_mark.rs`).
//!
//! One thread, off every reactor and worker: a slow store delays fills, never a request.
//! Messages it reads to fill gaps, and store errors, are counted in the metrics.
//! May touch: the store (reads only), the hub, the delivery mark, the metrics.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::delivery_mark::DeliveryMark;
use crate::hub::{FillRequest, Hub};
use crate::metrics::Metrics;
use crate::model::{Pos, UserId};
use crate::store::{Store, StoreResult};
use crate::store_errors::count_store_error;
use reactor::ConnId;

/// Messages read per page.
const PAGE: usize = 200;
/// Pages per connection per fill at most, so one far-behind connection does not hold
/// the thread; a gap left is asked for again.
const MAX_PAGES: usize = 50;
/// How often the thread looks at the sweep flag when no request comes.
const SWEEP_POLL: Duration = Duration::from_millis(100);
/// After a store error, how long before a connection is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How long a fill waits for this node's delivery to catch up with what it read.
const CATCH_UP: Duration = Duration::from_secs(2);

/// What the gap-fill thread works with.
pub struct Filler {
    /// Where the missing messages are read.
    pub store: Arc<dyn Store>,
    /// The connections they go to.
    pub hub: Arc<Hub>,
    /// How far this node's delivery has caught up with its writer.
    pub mark: Arc<DeliveryMark>,
    /// Where fills and store errors are counted.
    pub metrics: Arc<Metrics>,
}

/// Runs until `stop` is set (or the hub is gone).
pub fn run(filler: Filler, requests: Receiver<FillRequest>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Acquire) {
        if filler.hub.take_sweep() {
            filler.sweep();
        }
        match requests.recv_timeout(SWEEP_POLL) {
            Ok(request) => {
                let wait = request.not_before.saturating_duration_since(Instant::now());
                if !wait.is_zero() {
                    std::thread::sleep(wait);
                }
                filler.fill(request.user, request.conn, false);
                filler.hub.fill_done(request.user, request.conn);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

impl Filler {
    /// Fills every started push connection that is behind the store.
    fn sweep(&self) {
        let conns = self.hub.push_connections();
        let started = Instant::now();
        let mut filled = 0usize;
        for (user, conn) in conns.iter().copied() {
            let Some(have) = self.hub.fill_point(user, conn, true) else {
                continue;
            };
            match self.store.last_pos(user) {
                Ok(last) if last > have => {
                    self.fill(user, conn, true);
                    filled += 1;
                }
                Ok(_) => {}
                Err(e) => {
                    count_store_error(&e);
                    log::warn!("gap fill: sweep stopped, store unavailable: {e}");
                    std::thread::sleep(RETRY_AFTER);
                    self.hub.request_sweep();
                    return;
                }
            }
        }
        log::info!(
            "gap fill: swept {} connections, {filled} were behind ({} ms)",
            conns.len(),
            started.elapsed().as_millis()
        );
    }

    /// Feeds `conn` its missing positions, page by page.
    fn fill(&self, user: UserId, conn: ConnId, always: bool) {
        for _ in 0..MAX_PAGES {
            let Some(after) = self.hub.fill_point(user, conn, always) else {
                return;
            };
            match self.page(user, after) {
                Ok((messages, more)) => {
                    // The connection's own sends among them are acked, not pushed: let
                    // delivery mark them covered first (see delivery_mark.rs).
                    if !self.mark.wait_caught_up(CATCH_UP) {
                        log::warn!("gap fill of user {user}: delivery is behind; later");
                        self.hub.request_sweep();
                        return;
                    }
                    self.hub.fill(user, conn, &messages);
                    self.metrics.gap_filled(messages.len());
                    if !more {
                        return;
                    }
                }
                Err(e) => {
                    count_store_error(&e);
                    log::warn!("gap fill of user {user}: store unavailable: {e}");
                    std::thread::sleep(RETRY_AFTER);
                    return;
                }
            }
        }
    }

    fn page(&self, user: UserId, after: Pos) -> StoreResult<(Vec<crate::model::Message>, bool)> {
        let messages = self.store.sync(user, after, PAGE)?;
        let more = messages.len() == PAGE;
        Ok((messages, more))
    }
}
