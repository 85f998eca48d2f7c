//! Private user ids for sandboxes: each live sandbox owns one uid from a fixed range, so
//! the per-user process limit counts only its own processes and "kill everything this uid
//! runs" ends exactly its own process tree, however the processes daemonised or regrouped.
//!
//! Ownership is an abstract Unix socket named after the uid: binding it is atomic across
//! every process on the machine, and the kernel releases it when the owner dies, so a crash
//! never leaks a uid.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::{Duration, Instant};

use super::SandboxError;

/// First uid of the range; far above any uid a distribution hands out to people or services.
pub const UID_BASE: u32 = 1_600_000_000;
/// Number of sandboxes that can live at once on one machine.
pub const UID_SLOTS: u32 = 256;

/// How long ending a sandbox's processes may take before it is reported as a failure.
const KILL_DEADLINE: Duration = Duration::from_secs(10);

/// One claimed uid; released when dropped.
pub(crate) struct UidSlot {
    uid: u32,
    _claim: UnixDatagram,
}

impl UidSlot {
    /// Claims a free uid that runs no process at all (not even a zombie still counted by the
    /// kernel's process limit). Leftovers of a crashed owner are killed on the way.
    pub(crate) fn claim() -> Result<Self, SandboxError> {
        let start = std::process::id() % UID_SLOTS;
        for i in 0..UID_SLOTS {
            let uid = UID_BASE + (start + i) % UID_SLOTS;
            let name = format!("cycleqd-sandbox-uid-{uid}");
            let addr = SocketAddr::from_abstract_name(name.as_bytes()).map_err(|source| {
                SandboxError::Io {
                    what: "naming a sandbox uid claim",
                    source,
                }
            })?;
            let Ok(claim) = UnixDatagram::bind_addr(&addr) else {
                continue;
            };
            kill_all(uid)?;
            if processes_of(uid)?.total() == 0 {
                return Ok(UidSlot { uid, _claim: claim });
            }
        }
        Err(SandboxError::NoFreeUid {
            first: UID_BASE,
            count: UID_SLOTS,
        })
    }

    pub(crate) fn uid(&self) -> u32 {
        self.uid
    }
}

/// Counts of processes whose real or effective uid is the sandbox's.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ProcessCount {
    pub(crate) live: usize,
    pub(crate) zombies: usize,
}

impl ProcessCount {
    fn total(self) -> usize {
        self.live + self.zombies
    }
}

/// Scans `/proc` for processes of `uid`.
pub(crate) fn processes_of(uid: u32) -> Result<ProcessCount, SandboxError> {
    let entries = std::fs::read_dir("/proc").map_err(|source| SandboxError::Io {
        what: "listing /proc",
        source,
    })?;
    let mut count = ProcessCount::default();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        // A process may exit between listing and reading; then it is simply gone.
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let mut zombie = false;
        let mut ours = false;
        for line in status.lines() {
            if let Some(state) = line.strip_prefix("State:") {
                zombie = state.trim_start().starts_with('Z');
            } else if let Some(ids) = line.strip_prefix("Uid:") {
                ours = ids
                    .split_whitespace()
                    .take(2)
                    .any(|id| id.parse::<u32>() == Ok(uid));
            }
        }
        if ours {
            if zombie {
                count.zombies += 1;
            } else {
                count.live += 1;
            }
        }
    }
    Ok(count)
}

/// Kills every process of `uid` and waits until none is left alive. Zombies are left to
/// their new parent (init), which reaps them.
pub(crate) fn kill_all(uid: u32) -> Result<(), SandboxError> {
    let deadline = Instant::now() + KILL_DEADLINE;
    loop {
        signal_all_as(uid)?;
        if processes_of(uid)?.live == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(SandboxError::Survivors { uid });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Sends SIGKILL to every process of `uid` from a short-lived helper that runs as `uid`:
/// `kill(-1, SIGKILL)` then reaches exactly that user's processes, atomically with respect
/// to their forks, which a scan of `/proc` followed by per-pid kills could not do.
fn signal_all_as(uid: u32) -> Result<(), SandboxError> {
    let killer = || match super::sys::become_user(uid, uid) {
        // SAFETY: plain system call; ESRCH (nothing to kill) is fine.
        Ok(()) => unsafe {
            libc::kill(-1, libc::SIGKILL);
            0
        },
        Err(_) => 1,
    };
    let pid = super::spawn::clone_vfork(&killer).map_err(|source| SandboxError::Io {
        what: "starting the sandbox killer",
        source,
    })?;
    let (status, _) = super::sys::wait(pid).map_err(|source| SandboxError::Io {
        what: "waiting for the sandbox killer",
        source,
    })?;
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(())
    } else {
        Err(SandboxError::Io {
            what: "switching the sandbox killer to the sandbox uid",
            source: io::Error::other(format!("killer exited with status {status}")),
        })
    }
}
