//! A byte budget shared by concurrent tensor merges: a merge waits until its working set fits
//! beside those already running, so peak memory stays near the budget whatever the thread count.

use std::sync::{Condvar, Mutex};

/// Admits work while the bytes in use stay within a budget, first come first served: a large
/// request that does not fit yet holds back later ones, so it cannot be starved by a stream
/// of small ones. A single request larger than the budget is admitted alone.
pub struct MemoryGate {
    budget: u64,
    state: Mutex<State>,
    changed: Condvar,
}

struct State {
    in_use: u64,
    /// Tickets handed out and admitted so far: requests are admitted in ticket order.
    issued: u64,
    admitted: u64,
}

/// Bytes held until dropped.
pub struct Permit<'a> {
    gate: &'a MemoryGate,
    bytes: u64,
}

impl MemoryGate {
    /// A gate admitting `budget` bytes at a time.
    pub fn new(budget: u64) -> Self {
        Self {
            budget,
            state: Mutex::new(State {
                in_use: 0,
                issued: 0,
                admitted: 0,
            }),
            changed: Condvar::new(),
        }
    }

    /// Waits for its turn and until `bytes` fit, then holds them. Callers must not wait on
    /// other work while holding a permit (the gate would deadlock), so merges hold one permit
    /// and no locks.
    pub fn acquire(&self, bytes: u64) -> Permit<'_> {
        let bytes = bytes.min(self.budget);
        let mut state = self.state.lock().expect("gate lock poisoned");
        let ticket = state.issued;
        state.issued += 1;
        while state.admitted != ticket || (state.in_use > 0 && state.in_use + bytes > self.budget) {
            state = self.changed.wait(state).expect("gate lock poisoned");
        }
        state.admitted += 1;
        state.in_use += bytes;
        self.changed.notify_all();
        Permit { gate: self, bytes }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut state = self.gate.state.lock().expect("gate lock poisoned");
        state.in_use -= self.bytes;
        self.gate.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn concurrent_holders_never_exceed_the_budget() {
        let gate = MemoryGate::new(10);
        let held = AtomicU64::new(0);
        let peak = AtomicU64::new(0);
        std::thread::scope(|s| {
            for i in 0..8u64 {
                let (gate, held, peak) = (&gate, &held, &peak);
                s.spawn(move || {
                    for _ in 0..50 {
                        let bytes = 1 + (i % 4) * 3;
                        let _permit = gate.acquire(bytes);
                        let now = held.fetch_add(bytes, Ordering::SeqCst) + bytes;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::hint::black_box((0..100).sum::<u64>());
                        held.fetch_sub(bytes, Ordering::SeqCst);
                    }
                });
            }
        });
        assert!(peak.load(Ordering::SeqCst) <= 10);
    }

    #[test]
    fn a_large_request_is_not_overtaken() {
        let gate = MemoryGate::new(10);
        let order = Mutex::new(Vec::new());
        let small = gate.acquire(4);
        std::thread::scope(|s| {
            s.spawn(|| {
                let _big = gate.acquire(10);
                order.lock().unwrap().push("big");
            });
            // Wait until the big request holds its ticket.
            while gate.state.lock().unwrap().issued < 2 {
                std::thread::yield_now();
            }
            s.spawn(|| {
                let _later = gate.acquire(1);
                order.lock().unwrap().push("later");
            });
            while gate.state.lock().unwrap().issued < 3 {
                std::thread::yield_now();
            }
            drop(small);
        });
        assert_eq!(*order.lock().unwrap(), ["big", "later"]);
    }

    #[test]
    fn oversized_requests_run_alone() {
        let gate = MemoryGate::new(4);
        let permit = gate.acquire(100);
        drop(permit);
        let _a = gate.acquire(100);
    }
}
