//! The sandbox's file system: a plan made in the parent (paths, descriptors, mount options)
//! and carried out in a child between `fork` and `exec`, inside a fresh mount namespace.
//!
//! The child sees a new root holding read-only views of the host's system directories
//! (`/usr`, `/etc`, `/bin`, `/lib*`, ...), a handful of device nodes, its own `/proc` that
//! hides other users' processes, and one writable size-limited tmpfs at `/tmp` with the
//! working directory `/tmp/work`. Nothing else of the host (home directories, `/work`,
//! other users' temporary files, sockets under `/run`) exists there.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use super::sys;

/// The working directory inside the sandbox.
pub const WORK_DIR: &str = "/tmp/work";

/// Where the new root is assembled: mounted over the host's `/tmp`, but only inside the new
/// mount namespace, so the host never sees it.
const STAGE: &str = "/tmp";

/// Top-level host directories the sandbox sees read-only (or as the same symbolic links).
const SYSTEM_DIRS: [&str; 8] = [
    "usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc",
];

/// Most host directories and devices one sandbox may bind.
const MAX_BINDS: usize = 32;

/// Device nodes the sandbox may use.
const DEVICES: [&str; 5] = ["null", "zero", "full", "random", "urandom"];

enum Step {
    Mkdir(CString, libc::mode_t),
    Symlink {
        target: CString,
        link: CString,
    },
    EmptyFile(CString),
    /// Bind host path `host` onto `target` and make the view read-only; device nodes keep
    /// device access.
    BindReadOnly {
        host: CString,
        target: CString,
        device: bool,
    },
    /// A fresh procfs that shows only the caller's own processes. Older kernels do not know
    /// the option; then `/proc` stays empty rather than showing every process.
    Proc(CString),
    /// The writable tmpfs and the working directory owned by the sandbox user.
    Scratch {
        mount_point: CString,
        options: CString,
        work: CString,
    },
}

/// Everything the child needs, prepared without running any code after `fork`.
pub(crate) struct RootfsPlan {
    steps: Vec<Step>,
    uid: u32,
    stage: CString,
    old_root: CString,
    old_root_inside: CString,
    root: CString,
    tmpfs: CString,
}

fn cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("path {} contains a NUL byte", path.display()),
        )
    })
}

fn cstr(s: &str) -> CString {
    CString::new(s).expect("static sandbox paths contain no NUL byte")
}

impl RootfsPlan {
    /// Plans the root for sandbox user `uid` with a scratch tmpfs of `disk_bytes` and at most
    /// `inodes` files. `extra` are further host directories to show read-only at the same
    /// path (for example a Python installation outside `/usr`).
    pub(crate) fn new(
        uid: u32,
        disk_bytes: u64,
        inodes: u64,
        extra: &[PathBuf],
    ) -> io::Result<Self> {
        let stage = Path::new(STAGE);
        let mut steps = Vec::new();
        let bind =
            |host: &Path, target: &Path, device: bool, steps: &mut Vec<Step>| -> io::Result<()> {
                steps.push(Step::BindReadOnly {
                    host: cstring(host)?,
                    target: cstring(target)?,
                    device,
                });
                Ok(())
            };
        for name in SYSTEM_DIRS {
            let host = Path::new("/").join(name);
            let Ok(meta) = std::fs::symlink_metadata(&host) else {
                continue;
            };
            let target = stage.join(name);
            if meta.file_type().is_symlink() {
                let points_to = std::fs::read_link(&host)?;
                steps.push(Step::Symlink {
                    target: cstring(&points_to)?,
                    link: cstring(&target)?,
                });
            } else if meta.is_dir() {
                steps.push(Step::Mkdir(cstring(&target)?, 0o755));
                bind(&host, &target, false, &mut steps)?;
            }
        }
        for dir in extra {
            if !dir.is_absolute() || covered_by_system_dirs(dir) {
                continue;
            }
            let mut target = stage.to_path_buf();
            for part in dir.components() {
                if let Component::Normal(p) = part {
                    target.push(p);
                    steps.push(Step::Mkdir(cstring(&target)?, 0o755));
                }
            }
            bind(dir, &target, false, &mut steps)?;
        }

        let dev = stage.join("dev");
        steps.push(Step::Mkdir(cstring(&dev)?, 0o755));
        for name in DEVICES {
            let host = Path::new("/dev").join(name);
            if !host.exists() {
                continue;
            }
            let target = dev.join(name);
            steps.push(Step::EmptyFile(cstring(&target)?));
            bind(&host, &target, true, &mut steps)?;
        }
        for (link, points_to) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ] {
            steps.push(Step::Symlink {
                target: cstr(points_to),
                link: cstring(&dev.join(link))?,
            });
        }

        let proc_dir = stage.join("proc");
        steps.push(Step::Mkdir(cstring(&proc_dir)?, 0o555));
        steps.push(Step::Proc(cstring(&proc_dir)?));

        let scratch = stage.join("tmp");
        steps.push(Step::Mkdir(cstring(&scratch)?, 0o755));
        steps.push(Step::Scratch {
            mount_point: cstring(&scratch)?,
            options: cstr(&format!(
                "size={disk_bytes},nr_inodes={inodes},mode=1777,uid=0,gid=0"
            )),
            work: cstring(&stage.join(WORK_DIR.trim_start_matches('/')))?,
        });

        let binds = steps
            .iter()
            .filter(|s| matches!(s, Step::BindReadOnly { .. }))
            .count();
        if binds > MAX_BINDS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the sandbox can bind at most {MAX_BINDS} host paths, not {binds}"),
            ));
        }
        Ok(RootfsPlan {
            steps,
            uid,
            stage: cstr(STAGE),
            old_root: cstring(&stage.join(".old-root"))?,
            old_root_inside: cstr("/.old-root"),
            root: cstr("/"),
            tmpfs: cstr("tmpfs"),
        })
    }

    /// Builds the new root and pivots into it. Runs in the child after `unshare(CLONE_NEWNS)`;
    /// allocates nothing. A failure names its step.
    pub(crate) fn apply(&self) -> Result<(), StepError> {
        let proc_type = c"proc";
        sys::mount(
            None,
            &self.root,
            None,
            libc::MS_REC | libc::MS_PRIVATE,
            None,
        )
        .map_err(at("making every mount private"))?;
        // Bind sources are opened now, inside the new namespace (a descriptor opened before
        // `unshare` points into the host's namespace, which the kernel refuses to bind from)
        // and before the staging tmpfs hides anything under /tmp.
        let mut sources = Sources {
            fds: [-1; MAX_BINDS],
            len: 0,
        };
        for step in &self.steps {
            if let Step::BindReadOnly { host, .. } = step {
                sources.fds[sources.len] =
                    sys::open_path(host).map_err(at("opening a host directory"))?;
                sources.len += 1;
            }
        }
        let mut next_source = 0;
        sys::mount(
            Some(&self.tmpfs),
            &self.stage,
            Some(&self.tmpfs),
            libc::MS_NOSUID | libc::MS_NODEV,
            Some(c"size=1m,mode=0755"),
        )
        .map_err(at("mounting the staging tmpfs"))?;
        sys::umask(0o022);
        for step in &self.steps {
            match step {
                Step::Mkdir(path, mode) => {
                    sys::mkdir(path, *mode).map_err(at("creating a directory"))?;
                    sys::chmod(path, *mode).map_err(at("setting a directory's mode"))?;
                }
                Step::Symlink { target, link } => {
                    sys::symlink(target, link).map_err(at("creating a symbolic link"))?
                }
                Step::EmptyFile(path) => {
                    sys::create_empty_file(path).map_err(at("creating a device mount point"))?
                }
                Step::BindReadOnly { target, device, .. } => {
                    let mut path = [0u8; 32];
                    let source = fd_path(sources.fds[next_source], &mut path);
                    next_source += 1;
                    sys::mount(
                        Some(source),
                        target,
                        None,
                        libc::MS_BIND | libc::MS_REC,
                        None,
                    )
                    .map_err(at("bind-mounting a host directory"))?;
                    let mut flags =
                        libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID;
                    if !device {
                        flags |= libc::MS_NODEV;
                    }
                    sys::mount(None, target, None, flags, None)
                        .map_err(at("making a bind mount read-only"))?;
                }
                Step::Proc(target) => {
                    // Failure leaves an empty /proc: better than one showing every process.
                    let _ = sys::mount(
                        Some(proc_type),
                        target,
                        Some(proc_type),
                        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                        Some(c"hidepid=invisible"),
                    );
                }
                Step::Scratch {
                    mount_point,
                    options,
                    work,
                } => {
                    sys::mount(
                        Some(&self.tmpfs),
                        mount_point,
                        Some(&self.tmpfs),
                        libc::MS_NOSUID | libc::MS_NODEV,
                        Some(options),
                    )
                    .map_err(at("mounting the scratch tmpfs"))?;
                    sys::mkdir(work, 0o700).map_err(at("creating the working directory"))?;
                    sys::chown(work, self.uid, self.uid)
                        .map_err(at("handing the working directory to the sandbox uid"))?;
                }
            }
        }
        sys::mkdir(&self.old_root, 0o700).map_err(at("creating the old-root mount point"))?;
        sys::chdir(&self.stage).map_err(at("entering the new root"))?;
        sys::pivot_root(c".", c".old-root").map_err(at("pivot_root"))?;
        sys::chdir(&self.root).map_err(at("entering the new root"))?;
        sys::umount_detach(&self.old_root_inside).map_err(at("detaching the old root"))?;
        sys::rmdir(&self.old_root_inside).map_err(at("removing the old-root mount point"))?;
        sys::mount(
            None,
            &self.root,
            None,
            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
            None,
        )
        .map_err(at("making the new root read-only"))
    }
}

/// A failed step of [`RootfsPlan::apply`]: what was being done, and the system's error.
pub(crate) type StepError = (&'static str, io::Error);

/// Descriptors of bind sources, closed when dropped; a fixed array because the child must
/// not allocate.
struct Sources {
    fds: [RawFd; MAX_BINDS],
    len: usize,
}

impl Drop for Sources {
    fn drop(&mut self) {
        for &fd in &self.fds[..self.len] {
            // SAFETY: each descriptor was opened by `apply` and is closed only here.
            unsafe { libc::close(fd) };
        }
    }
}

/// `/proc/self/fd/N` for `fd`, written into `buf` without allocating.
fn fd_path(fd: RawFd, buf: &mut [u8; 32]) -> &CStr {
    const PREFIX: &[u8] = b"/proc/self/fd/";
    buf[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut digits = [0u8; 12];
    let mut n = fd.unsigned_abs();
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        buf[PREFIX.len() + i] = digits[len - 1 - i];
    }
    buf[PREFIX.len() + len] = 0;
    CStr::from_bytes_until_nul(&buf[..]).expect("terminated above")
}

fn at(step: &'static str) -> impl FnOnce(io::Error) -> StepError {
    move |e| (step, e)
}

fn covered_by_system_dirs(dir: &Path) -> bool {
    SYSTEM_DIRS
        .iter()
        .any(|name| dir.starts_with(Path::new("/").join(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_paths_are_written_without_allocation() {
        let mut buf = [0u8; 32];
        assert_eq!(fd_path(0, &mut buf).to_str().unwrap(), "/proc/self/fd/0");
        assert_eq!(fd_path(7, &mut buf).to_str().unwrap(), "/proc/self/fd/7");
        assert_eq!(
            fd_path(1234, &mut buf).to_str().unwrap(),
            "/proc/self/fd/1234"
        );
        assert_eq!(
            fd_path(i32::MAX, &mut buf).to_str().unwrap(),
            "/proc/self/fd/2147483647"
        );
    }

    #[test]
    fn the_plan_shows_an_extra_directory_outside_the_system_ones_only() {
        let plan = RootfsPlan::new(
            1,
            1 << 20,
            100,
            &[PathBuf::from("/usr/lib"), PathBuf::from("/opt/py")],
        )
        .unwrap();
        let hosts: Vec<String> = plan
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::BindReadOnly { host, .. } => Some(host.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        assert!(hosts.contains(&"/opt/py".to_string()), "{hosts:?}");
        assert!(!hosts.contains(&"/usr/lib".to_string()), "{hosts:?}");
        assert!(hosts.contains(&"/dev/null".to_string()), "{hosts:?}");
    }
}
