//! Starting child processes without copying the parent's page tables.
//!
//! `fork` copies the page tables of the whole parent, and the parent here holds a model's
//! weights: on the 2-vCPU dev machine a fork costs about 40 ms more per GiB resident
//! (`cargo bench -p cycleqd-tasks --bench sandbox_start`), and a sandboxed program took
//! four of them. So, like `posix_spawn`, children are made with
//! `clone(CLONE_VM | CLONE_VFORK)`: a child runs on a stack of its own inside the
//! parent's memory while the calling thread waits for it to `exec` or exit. What it runs
//! before that must therefore allocate nothing and only make system calls (as a
//! `pre_exec` closure must); a failing step is recorded in memory the parent reads once
//! the child is gone.

use std::cell::Cell;
use std::ffi::{c_void, CString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::ptr;

use super::sys;

/// Where one of the child's standard streams goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    /// `/dev/null`.
    Null,
    /// A pipe whose other end the parent gets back.
    Piped,
}

/// A started process: its pid and the parent's ends of the piped streams.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub pid: libc::pid_t,
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// A step of the child that failed before `exec`, or the `exec` itself.
#[derive(Debug)]
pub(crate) struct SpawnError {
    /// What was being done (`"exec"` for the program itself).
    pub step: &'static str,
    pub source: io::Error,
}

/// The setup step: runs in the child before `exec`; must not allocate.
pub(crate) type Setup<'a> = &'a dyn Fn() -> Result<(), (&'static str, io::Error)>;

/// Bytes of the child's stack (the setup steps are shallow; the guard page below catches
/// a mistake as a SIGSEGV of the child, not as corrupted parent memory).
const STACK_BYTES: usize = 256 * 1024;

/// Starts `argv` (`argv[0]` an absolute path) with environment `envp` after `setup`.
pub(crate) fn spawn(
    argv: &[CString],
    envp: &[CString],
    streams: [Stream; 3],
    setup: Setup<'_>,
) -> Result<Spawned, SpawnError> {
    let fail = |step| move |source| SpawnError { step, source };
    let program = argv.first().ok_or_else(|| SpawnError {
        step: "exec",
        source: io::Error::new(io::ErrorKind::InvalidInput, "empty command line"),
    })?;
    let pointers = |strings: &[CString]| -> Vec<*const libc::c_char> {
        strings
            .iter()
            .map(|s| s.as_ptr())
            .chain(std::iter::once(ptr::null()))
            .collect()
    };
    let argv_ptrs = pointers(argv);
    let envp_ptrs = pointers(envp);

    // The child's ends are closed here once it has exec'd (they close on exec there); the
    // parent keeps the other ends of the pipes.
    let mut child_ends: Vec<OwnedFd> = Vec::new();
    let mut parent_ends: [Option<OwnedFd>; 3] = [None, None, None];
    let mut fds = [-1; 3];
    for (i, stream) in streams.iter().enumerate() {
        let child_end = match stream {
            Stream::Null => sys::open_dev_null(i != 0).map_err(fail("opening /dev/null"))?,
            Stream::Piped => {
                let (read, write) = sys::cloexec_pipe().map_err(fail("creating a pipe"))?;
                let (child_end, parent_end) = if i == 0 { (read, write) } else { (write, read) };
                parent_ends[i] = Some(parent_end);
                child_end
            }
        };
        // Above the standard streams, so that no redirection in the child overwrites
        // another's source (a parent started with a standard stream closed).
        let child_end =
            sys::above_standard_streams(child_end).map_err(fail("moving a descriptor"))?;
        fds[i] = child_end.as_raw_fd();
        child_ends.push(child_end);
    }

    let program = program.as_ptr();
    let (argv, envp) = (argv_ptrs.as_ptr(), envp_ptrs.as_ptr());
    // The child writes its failure into this thread's memory, which it shares; this thread
    // reads it only after the child is gone.
    let failure: Cell<Option<(&'static str, i32)>> = Cell::new(None);
    let child = || {
        let outcome = prepare(fds, setup).and_then(|()| -> Result<(), (&'static str, io::Error)> {
            // SAFETY: NUL-terminated arrays of NUL-terminated strings, alive while the
            // parent waits.
            unsafe { libc::execve(program, argv, envp) };
            Err(("exec", io::Error::last_os_error()))
        });
        if let Err((step, error)) = outcome {
            failure.set(Some((step, error.raw_os_error().unwrap_or(libc::EINVAL))));
        }
        127
    };
    let pid = clone_vfork(&child).map_err(fail("clone"))?;
    if let Some((step, errno)) = failure.get() {
        let _ = sys::wait(pid);
        return Err(SpawnError {
            step,
            source: io::Error::from_raw_os_error(errno),
        });
    }
    let [stdin, stdout, stderr] = parent_ends;
    Ok(Spawned {
        pid,
        stdin,
        stdout,
        stderr,
    })
}

/// Runs `body` in a child that shares this process's memory and returns its pid once the
/// child has exec'd or exited (with `body`'s value as its status). `body` must not
/// allocate; it starts with every signal blocked.
pub(crate) fn clone_vfork(body: &dyn Fn() -> libc::c_int) -> io::Result<libc::pid_t> {
    extern "C" fn trampoline(arg: *mut c_void) -> libc::c_int {
        // SAFETY: `arg` points at the parent's `body` reference, alive while it waits.
        let body = unsafe { &*arg.cast::<&dyn Fn() -> libc::c_int>() };
        let status = body();
        // SAFETY: ends the child at once, without running the parent's exit handlers.
        unsafe { libc::_exit(status) }
    }
    let stack = ChildStack::new()?;
    let mut body = body;
    // Signals stay blocked in the child until it has put every handler back to its
    // default: a handler of the parent must never run on the child's stack.
    let _blocked = BlockedSignals::all()?;
    // SAFETY: the child runs `trampoline` on its own stack and reads `body`, which lives
    // until clone returns (CLONE_VFORK: after the child's exec or exit).
    let pid = unsafe {
        libc::clone(
            trampoline,
            stack.top(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            ptr::addr_of_mut!(body).cast::<c_void>(),
        )
    };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pid)
}

/// In the child: default signal handlers and an empty mask, the standard streams, the
/// caller's setup.
fn prepare(streams: [RawFd; 3], setup: Setup<'_>) -> Result<(), (&'static str, io::Error)> {
    sys::default_signal_handlers().map_err(|e| ("resetting signal handlers", e))?;
    for (target, fd) in streams.into_iter().enumerate() {
        sys::dup2(fd, target as RawFd).map_err(|e| ("redirecting a standard stream", e))?;
    }
    setup()?;
    sys::unblock_all_signals().map_err(|e| ("unblocking signals", e))
}

/// All signals blocked in the calling thread until dropped.
struct BlockedSignals {
    previous: libc::sigset_t,
}

impl BlockedSignals {
    fn all() -> io::Result<Self> {
        // SAFETY: sigset_t is plain data, filled in by the calls below.
        let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
        let mut previous: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointers to sigset_t.
        let r = unsafe {
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous)
        };
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
        Ok(BlockedSignals { previous })
    }
}

impl Drop for BlockedSignals {
    fn drop(&mut self) {
        // SAFETY: restores the mask `all` saved.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, ptr::null_mut()) };
    }
}

/// The child's stack: an anonymous mapping with an inaccessible guard page at its low end.
struct ChildStack {
    base: *mut c_void,
    len: usize,
}

impl ChildStack {
    fn new() -> io::Result<Self> {
        // SAFETY: plain query.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
        let len = STACK_BYTES + page;
        // SAFETY: a fresh private anonymous mapping.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = ChildStack { base, len };
        // SAFETY: the first page of our own mapping.
        if unsafe { libc::mprotect(base, page, libc::PROT_NONE) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stack)
    }

    /// The highest address (stacks grow down on every Linux target Rust supports here).
    fn top(&self) -> *mut c_void {
        // SAFETY: one past the end of the mapping, 16-byte aligned as the mapping is.
        unsafe { self.base.cast::<u8>().add(self.len).cast() }
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: our own mapping, no longer used (the child has exec'd or exited).
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// `KEY=VALUE` strings for [`spawn`]'s environment.
pub(crate) fn environment(vars: &[(&str, &str)]) -> Vec<CString> {
    vars.iter()
        .map(|(k, v)| CString::new(format!("{k}={v}")).expect("environment without NUL"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::Read;

    fn cstrings(items: &[&str]) -> Vec<CString> {
        items.iter().map(|s| CString::new(*s).unwrap()).collect()
    }

    fn read_all(fd: OwnedFd) -> String {
        let mut text = String::new();
        File::from(fd).read_to_string(&mut text).unwrap();
        text
    }

    fn status_of(pid: libc::pid_t) -> i32 {
        let mut status = 0;
        // SAFETY: waiting for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        status
    }

    #[test]
    fn the_program_starts_with_its_streams_environment_and_default_signals() {
        let child = spawn(
            &cstrings(&[
                "/bin/sh",
                "-c",
                "echo $GREETING; grep -E '^Sig(Blk|Ign)' /proc/self/status",
            ]),
            &environment(&[("GREETING", "hello")]),
            [Stream::Null, Stream::Piped, Stream::Null],
            &|| Ok(()),
        )
        .unwrap();
        let out = read_all(child.stdout.unwrap());
        assert_eq!(status_of(child.pid), 0);
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some("hello"));
        let field = |name: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
                .unwrap()
        };
        assert_eq!(field("SigBlk:"), 0, "no signal stays blocked: {out}");
        let sigpipe = 1u64 << (libc::SIGPIPE - 1);
        assert_eq!(
            field("SigIgn:") & sigpipe,
            0,
            "SIGPIPE is back to its default: {out}"
        );
    }

    #[test]
    fn a_failing_setup_step_is_named_with_its_error() {
        let err = spawn(
            &cstrings(&["/bin/true"]),
            &[],
            [Stream::Null, Stream::Null, Stream::Null],
            &|| {
                Err((
                    "entering the mount namespace",
                    io::Error::from_raw_os_error(libc::EPERM),
                ))
            },
        )
        .unwrap_err();
        assert_eq!(err.step, "entering the mount namespace");
        assert_eq!(err.source.raw_os_error(), Some(libc::EPERM));
    }

    #[test]
    fn a_missing_program_is_an_exec_error() {
        let err = spawn(
            &cstrings(&["/nonexistent/program"]),
            &[],
            [Stream::Null, Stream::Null, Stream::Null],
            &|| Ok(()),
        )
        .unwrap_err();
        assert_eq!(err.step, "exec");
        assert_eq!(err.source.raw_os_error(), Some(libc::ENOENT));
    }

    #[test]
    fn a_body_runs_in_the_child_and_its_value_is_the_exit_status() {
        let pid = clone_vfork(&|| 7).unwrap();
        let status = status_of(pid);
        assert!(libc::WIFEXITED(status));
        assert_eq!(libc::WEXITSTATUS(status), 7);
    }
}
