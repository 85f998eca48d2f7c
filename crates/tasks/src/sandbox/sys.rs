//! Thin wrappers over the Linux system calls the sandbox makes. None of them allocates, so
//! they are safe to call in a child between `fork` and `exec`.

use std::ffi::CStr;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::ptr;

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

/// Best-effort write of `bytes` to `fd` (reporting from a child that is about to fail).
pub(crate) fn write_all(fd: RawFd, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: bytes points at bytes.len() readable bytes.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// `open(path, O_PATH)`: a descriptor naming a file or directory, for bind mounts.
pub(crate) fn open_path(path: &CStr) -> io::Result<RawFd> {
    // SAFETY: path is a NUL-terminated string.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    check(fd)?;
    Ok(fd)
}
