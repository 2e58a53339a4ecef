//! The worker pool's run queue: a FIFO that parks idle workers without spinning.
//!
//! A `crossbeam` channel spins and yields (`sched_yield`) for a while before a receiver
//! parks. With more workers than cores (workers may block in callbacks, so there are
//! usually several per core) every idle worker did that after every job, taking CPU from
//! the reactors and the busy workers. Here an idle worker parks at once on a condition
//! variable, and a push wakes one only when the workers already woken are fewer than the
//! queued jobs: a job never waits while a parked worker could take it, and no two
//! workers are woken for one job.
//!
//! Unbounded by itself: the pool bounds what it pushes (each connection's mailbox is in
//! the queue at most once, plus one stop marker per worker).
//! May touch: nothing but its own state.

use std::collections::VecDeque;

use parking_lot::{Condvar, Mutex};

pub(crate) struct RunQueue<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

struct State<T> {
    items: VecDeque<T>,
    /// Workers parked in [`RunQueue::pop`].
    parked: usize,
    /// Parked workers notified and not yet running again.
    waking: usize,
}

impl<T> RunQueue<T> {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(State {
                items: VecDeque::new(),
                parked: 0,
                waking: 0,
            }),
            ready: Condvar::new(),
        }
    }

    /// Appends `item`, waking a parked worker if the ones already woken will not take it.
    pub(crate) fn push(&self, item: T) {
        let mut state = self.state.lock();
        state.items.push_back(item);
        let wake = state.parked > state.waking && state.items.len() > state.waking;
        if wake {
            state.waking += 1;
        }
        drop(state);
        if wake {
            self.ready.notify_one();
        }
    }

    /// The oldest item, parking until there is one.
    pub(crate) fn pop(&self) -> T {
        let mut state = self.state.lock();
        loop {
            if let Some(item) = state.items.pop_front() {
                return item;
            }
            state.parked += 1;
            self.ready.wait(&mut state);
            state.parked -= 1;
            state.waking = state.waking.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn fifo_and_every_item_reaches_a_parked_worker() {
        let queue = Arc::new(RunQueue::new());
        let (tx, rx) = crossbeam_channel::unbounded();
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let (queue, tx) = (Arc::clone(&queue), tx.clone());
                std::thread::spawn(move || loop {
                    match queue.pop() {
                        Some(n) => tx.send(n).unwrap(),
                        None => return,
                    }
                })
            })
            .collect();
        // Let the workers park, then push in bursts and singly.
        std::thread::sleep(Duration::from_millis(50));
        for round in 0..200u32 {
            for i in 0..(round % 7) {
                queue.push(Some(round * 10 + i));
            }
            if round % 10 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let expected: u32 = (0..200u32).map(|r| r % 7).sum();
        let mut got = Vec::new();
        for _ in 0..expected {
            got.push(
                rx.recv_timeout(Duration::from_secs(5))
                    .expect("an item was stranded"),
            );
        }
        for _ in 0..4 {
            queue.push(None);
        }
        for w in workers {
            w.join().unwrap();
        }
        got.sort_unstable();
        let mut want: Vec<u32> = (0..200u32)
            .flat_map(|r| (0..r % 7).map(move |i| r * 10 + i))
            .collect();
        want.sort_unstable();
        assert_eq!(got, want);
        // Single-threaded order is FIFO.
        let q = RunQueue::new();
        for i in 0..5 {
            q.push(i);
        }
        assert_eq!((0..5).map(|_| q.pop()).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    }
}
