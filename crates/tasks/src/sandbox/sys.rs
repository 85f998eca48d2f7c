//! Thin wrappers over the Linux system calls the sandbox makes. None of them allocates, so
//! they are safe to call in a child between `fork` and `exec`.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::time::Duration;

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn check_long(ret: libc::c_long) -> io::Result<()> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn opt_ptr(s: Option<&CStr>) -> *const libc::c_char {
    s.map_or(ptr::null(), CStr::as_ptr)
}

/// `mount(2)`.
pub(crate) fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    // SAFETY: every pointer is either null or a NUL-terminated string that outlives the call.
    check(unsafe {
        libc::mount(
            opt_ptr(source),
            target.as_ptr(),
            opt_ptr(fstype),
            flags,
            opt_ptr(data).cast(),
        )
    })
}

/// `umount2(target, MNT_DETACH)`.
pub(crate) fn umount_detach(target: &CStr) -> io::Result<()> {
    // SAFETY: target is a NUL-terminated string.
    check(unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) })
}

/// `mkdir(2)`; an existing directory is not an error.
pub(crate) fn mkdir(path: &CStr, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: path is a NUL-terminated string.
    match check(unsafe { libc::mkdir(path.as_ptr(), mode) }) {
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        other => other,
    }
}

/// `chmod(2)`, needed because `mkdir` honours the umask.
pub(crate) fn chmod(path: &CStr, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: path is a NUL-terminated string.
    check(unsafe { libc::chmod(path.as_ptr(), mode) })
}

/// `rmdir(2)`.
pub(crate) fn rmdir(path: &CStr) -> io::Result<()> {
    // SAFETY: path is a NUL-terminated string.
    check(unsafe { libc::rmdir(path.as_ptr()) })
}

/// `chown(2)`.
pub(crate) fn chown(path: &CStr, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: path is a NUL-terminated string.
    check(unsafe { libc::chown(path.as_ptr(), uid, gid) })
}

/// `chdir(2)`.
pub(crate) fn chdir(path: &CStr) -> io::Result<()> {
    // SAFETY: path is a NUL-terminated string.
    check(unsafe { libc::chdir(path.as_ptr()) })
}

/// `symlink(2)`: makes `link` point at `target`.
pub(crate) fn symlink(target: &CStr, link: &CStr) -> io::Result<()> {
    // SAFETY: both are NUL-terminated strings.
    check(unsafe { libc::symlink(target.as_ptr(), link.as_ptr()) })
}

/// Creates an empty file (a mount point for a bind-mounted device node).
pub(crate) fn create_empty_file(path: &CStr) -> io::Result<()> {
    // SAFETY: path is a NUL-terminated string; the descriptor is closed right away.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
            0o644,
        )
    };
    check(fd)?;
    // SAFETY: fd was just opened by us.
    check(unsafe { libc::close(fd) })
}

/// Writes `bytes` into a new file `name` in the current directory without following a
/// symbolic link planted there.
pub(crate) fn write_new_file(name: &CStr, bytes: &[u8]) -> io::Result<()> {
    // SAFETY: name is a NUL-terminated string.
    let fd = unsafe {
        libc::open(
            name.as_ptr(),
            libc::O_CREAT | libc::O_TRUNC | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o644,
        )
    };
    check(fd)?;
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: rest points at rest.len() readable bytes.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            // SAFETY: fd is ours.
            unsafe { libc::close(fd) };
            return Err(err);
        }
        rest = &rest[n as usize..];
    }
    // SAFETY: fd is ours.
    check(unsafe { libc::close(fd) })
}

/// `pivot_root(2)`.
pub(crate) fn pivot_root(new_root: &CStr, put_old: &CStr) -> io::Result<()> {
    // SAFETY: both are NUL-terminated strings.
    check_long(unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) })
}

/// `unshare(2)`.
pub(crate) fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: plain system call.
    check(unsafe { libc::unshare(flags) })
}

/// `setns(2)`.
pub(crate) fn setns(fd: RawFd, nstype: libc::c_int) -> io::Result<()> {
    // SAFETY: plain system call on a descriptor the caller keeps open.
    check(unsafe { libc::setns(fd, nstype) })
}

/// `setrlimit(2)`.
pub(crate) fn setrlimit(
    resource: libc::__rlimit_resource_t,
    soft: u64,
    hard: u64,
) -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: limit is a valid rlimit.
    check(unsafe { libc::setrlimit(resource, &limit) })
}

/// Drops every group and sets all user and group ids to `uid`/`gid`. Raw system calls:
/// glibc's wrappers synchronise all threads, which a forked child must not rely on.
pub(crate) fn become_user(uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: raw credential system calls with plain integer arguments.
    unsafe {
        check_long(libc::syscall(
            libc::SYS_setgroups,
            0 as libc::size_t,
            ptr::null::<libc::gid_t>(),
        ))?;
        check_long(libc::syscall(libc::SYS_setresgid, gid, gid, gid))?;
        check_long(libc::syscall(libc::SYS_setresuid, uid, uid, uid))
    }
}

/// `prctl(PR_SET_NO_NEW_PRIVS)`: set-uid binaries cannot raise privileges after this.
pub(crate) fn no_new_privs() -> io::Result<()> {
    // SAFETY: plain prctl with integer arguments.
    check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })
}

/// `prctl(PR_SET_PDEATHSIG, SIGKILL)`: the child dies with the thread that forked it.
pub(crate) fn die_with_parent() -> io::Result<()> {
    // SAFETY: plain prctl with integer arguments.
    check(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) })
}

/// `setsid(2)`.
pub(crate) fn setsid() -> io::Result<()> {
    // SAFETY: plain system call.
    check(unsafe { libc::setsid() })
}

/// `umask(2)`.
pub(crate) fn umask(mask: libc::mode_t) {
    // SAFETY: plain system call that cannot fail.
    unsafe { libc::umask(mask) };
}

/// `pidfd_open(2)`: a descriptor that becomes readable when the process exits.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> io::Result<RawFd> {
    // SAFETY: plain system call.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(fd as RawFd)
    }
}

/// Puts a descriptor in non-blocking mode.
pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor the caller owns.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    check(flags)?;
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) })
}

/// A pipe whose ends close on `exec`: `(read, write)`.
pub(crate) fn cloexec_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds has room for the two descriptors.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 returned two fresh descriptors that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `open(path, O_PATH)`: a descriptor naming a file or directory, for bind mounts.
pub(crate) fn open_path(path: &CStr) -> io::Result<RawFd> {
    // SAFETY: path is a NUL-terminated string.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    check(fd)?;
    Ok(fd)
}

/// `/dev/null`, for reading or for writing, closed on `exec`.
pub(crate) fn open_dev_null(write: bool) -> io::Result<OwnedFd> {
    let mode = if write {
        libc::O_WRONLY
    } else {
        libc::O_RDONLY
    };
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), mode | libc::O_CLOEXEC) };
    check(fd)?;
    // SAFETY: a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fd` itself if it is above 2, else a close-on-exec duplicate that is (and `fd` closed).
pub(crate) fn above_standard_streams(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: fcntl on a descriptor we own.
    let dup = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    check(dup)?;
    // SAFETY: a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(dup) })
}

/// `dup2(2)`: the result does not close on `exec`.
pub(crate) fn dup2(from: RawFd, to: RawFd) -> io::Result<()> {
    // SAFETY: plain system call on descriptors the caller keeps open.
    check(unsafe { libc::dup2(from, to) })
}

/// Every signal the process handles goes back to its default action, and so does SIGPIPE
/// (which the Rust runtime ignores and programs expect to end them).
pub(crate) fn default_signal_handlers() -> io::Result<()> {
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: sigaction is plain data the call fills in.
        let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: querying with a valid out-pointer; signals the C library reserves for
        // itself answer EINVAL and are left alone.
        if unsafe { libc::sigaction(sig, ptr::null(), &mut current) } != 0 {
            continue;
        }
        let handled =
            current.sa_sigaction != libc::SIG_DFL && current.sa_sigaction != libc::SIG_IGN;
        if handled || sig == libc::SIGPIPE {
            // SAFETY: as above.
            let mut default: libc::sigaction = unsafe { std::mem::zeroed() };
            default.sa_sigaction = libc::SIG_DFL;
            // SAFETY: a valid sigaction.
            check(unsafe { libc::sigaction(sig, &default, ptr::null_mut()) })?;
        }
    }
    Ok(())
}

/// Unblocks every signal of the calling thread.
pub(crate) fn unblock_all_signals() -> io::Result<()> {
    // SAFETY: sigset_t is plain data that sigemptyset fills in.
    let mut empty: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers.
    check(unsafe {
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, ptr::null_mut())
    })
}

/// Waits for child `pid` to end: its wait status and the CPU time (user + system) of it and
/// the children it waited for.
pub(crate) fn wait(pid: libc::pid_t) -> io::Result<(i32, Duration)> {
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waiting for our own child with valid out-pointers.
        if unsafe { libc::wait4(pid, &mut status, 0, &mut usage) } == pid {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Ok((status, tv(usage.ru_utime) + tv(usage.ru_stime)))
}
