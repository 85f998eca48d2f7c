//! Supervising one sandboxed run: reading its output up to a cap, enforcing the wall time,
//! and killing everything the program left behind when it ends.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::spawn::Spawned;
use super::{sys, uid, Limits, SandboxError};

/// How long the pipes may stay open after every process was killed before reading stops.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Termination {
    /// The program exited with this status.
    Exited(i32),
    /// The program was ended by this signal (SIGXCPU or SIGKILL at the CPU limit, SIGXFSZ
    /// past the file size limit, SIGSEGV, ...).
    Signaled(i32),
    /// The wall-time limit passed; everything was killed.
    TimedOut,
    /// Standard output or standard error passed the output cap; everything was killed.
    OutputLimit,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    /// How it ended.
    pub termination: Termination,
    /// Standard output, at most the output cap.
    pub stdout: Vec<u8>,
    /// Standard error, at most the output cap.
    pub stderr: Vec<u8>,
    /// Wall-clock time from start to the end of the main process.
    pub wall: Duration,
    /// CPU time (user + system) of the main process and the children it waited for.
    pub cpu: Duration,
}

impl RunOutcome {
    /// Exit status 0.
    pub fn success(&self) -> bool {
        self.termination == Termination::Exited(0)
    }

    /// Standard output as text (invalid UTF-8 replaced).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Standard error as text (invalid UTF-8 replaced).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// A one-line account of how the run ended, for verdicts.
    pub fn describe(&self) -> String {
        match self.termination {
            Termination::Exited(code) => format!("exited with status {code}"),
            Termination::Signaled(sig) => format!("killed by signal {sig} ({})", signal_name(sig)),
            Termination::TimedOut => "timed out (wall-time limit)".to_string(),
            Termination::OutputLimit => "killed for writing too much output".to_string(),
        }
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => "SIGKILL: CPU-time limit or killed",
        libc::SIGXCPU => "SIGXCPU: CPU-time limit",
        libc::SIGXFSZ => "SIGXFSZ: file-size limit",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGPIPE => "SIGPIPE",
        _ => "other",
    }
}

struct Stream<R> {
    reader: Option<R>,
    bytes: Vec<u8>,
}

impl<R: Read + AsRawFd> Stream<R> {
    fn new(reader: Option<R>) -> io::Result<Self> {
        if let Some(r) = &reader {
            sys::set_nonblocking(r.as_raw_fd())?;
        }
        Ok(Stream {
            reader,
            bytes: Vec::new(),
        })
    }

    fn fd(&self) -> RawFd {
        self.reader.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }

    /// Reads what is available; returns true when the cap was passed.
    fn pump(&mut self, cap: usize) -> bool {
        let Some(reader) = self.reader.as_mut() else {
            return false;
        };
        let mut buf = [0u8; 64 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => {
                    self.reader = None;
                    return false;
                }
                Ok(n) => {
                    let room = cap.saturating_sub(self.bytes.len());
                    self.bytes.extend_from_slice(&buf[..n.min(room)]);
                    if n > room {
                        return true;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.reader = None;
                    return false;
                }
            }
        }
    }
}

fn poll(fds: &mut [libc::pollfd], timeout: Duration) -> Result<(), SandboxError> {
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: fds is a valid slice of pollfd.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if r < 0 {
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(SandboxError::Io {
                what: "waiting for the sandboxed program",
                source: err,
            });
        }
    }
    Ok(())
}

/// Reaps the main process, returning its wait status and CPU time.
fn reap(pid: libc::pid_t) -> Result<(i32, Duration), SandboxError> {
    sys::wait(pid).map_err(|source| SandboxError::Io {
        what: "reaping the sandboxed program",
        source,
    })
}

/// Watches `child` until it ends, the wall time passes or the output overflows; then kills
/// every process of `uid` and collects the result.
pub(crate) fn supervise(
    child: Spawned,
    uid: u32,
    limits: &Limits,
) -> Result<RunOutcome, SandboxError> {
    let start = Instant::now();
    let pid = child.pid;
    let io_err = |what| move |source| SandboxError::Io { what, source };
    let mut out: Stream<File> =
        Stream::new(child.stdout.map(File::from)).map_err(io_err("preparing the output pipe"))?;
    let mut err: Stream<File> =
        Stream::new(child.stderr.map(File::from)).map_err(io_err("preparing the error pipe"))?;
    // SAFETY: pidfd_open returned a fresh descriptor that nothing else owns.
    let pidfd =
        unsafe { OwnedFd::from_raw_fd(sys::pidfd_open(pid).map_err(io_err("opening a pidfd"))?) };

    let deadline = start + limits.wall;
    let mut forced: Option<Termination> = None;
    let mut exited: Option<(i32, Duration)> = None;
    let mut wall = Duration::ZERO;
    while exited.is_none() {
        let now = Instant::now();
        if now >= deadline {
            forced = Some(Termination::TimedOut);
            break;
        }
        let mut fds = [
            libc::pollfd {
                fd: out.fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: err.fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        poll(&mut fds, deadline - now)?;
        if out.pump(limits.output_bytes) | err.pump(limits.output_bytes) {
            forced = Some(Termination::OutputLimit);
            break;
        }
        if fds[2].revents != 0 {
            wall = start.elapsed();
            exited = Some(reap(pid)?);
        }
    }
    // Stragglers (background jobs, daemons) and the main process itself when it was cut
    // short: all of them run as the sandbox uid.
    uid::kill_all(uid)?;
    let (status, cpu) = match exited {
        Some(done) => done,
        None => {
            wall = start.elapsed();
            reap(pid)?
        }
    };
    let drain_deadline = Instant::now() + DRAIN_GRACE;
    while out.reader.is_some() || err.reader.is_some() {
        let now = Instant::now();
        if now >= drain_deadline {
            break;
        }
        let mut fds = [
            libc::pollfd {
                fd: out.fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: err.fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        poll(&mut fds, drain_deadline - now)?;
        if out.pump(limits.output_bytes) | err.pump(limits.output_bytes) && forced.is_none() {
            forced = Some(Termination::OutputLimit);
        }
    }
    let termination = forced.unwrap_or(if libc::WIFEXITED(status) {
        Termination::Exited(libc::WEXITSTATUS(status))
    } else {
        Termination::Signaled(libc::WTERMSIG(status))
    });
    Ok(RunOutcome {
        termination,
        stdout: out.bytes,
        stderr: err.bytes,
        wall,
        cpu,
    })
}
