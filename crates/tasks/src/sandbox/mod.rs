//! A sandbox for untrusted, model-written programs (Python and shell).
//!
//! A [`Sandbox`] is one private world: a mount namespace whose root shows the host's system
//! directories read-only and one size-limited tmpfs at `/tmp` (working directory
//! `/tmp/work`), a network namespace with no usable interface, and a private user id. Every
//! [`Sandbox::run`] forks a child that enters those namespaces, drops to the private uid with
//! no capabilities and no way to regain any, sets resource limits (CPU time, address space,
//! processes, file size, open files) and executes the program; the parent enforces the wall
//! time and the output cap and, when the program ends, kills whatever it left running.
//! Files written by one run are seen by the next run in the same sandbox (an agent's shell
//! session); dropping the sandbox frees everything.
//!
//! It needs root on Linux (to create namespaces and switch uid). Where the kernel refuses a
//! network namespace the sandbox still runs, says so once on standard error, and reports it
//! in [`Sandbox::network_isolated`].

mod capture;
mod rootfs;
mod spawn;
mod sys;
mod uid;

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Once, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use capture::{RunOutcome, Termination};
pub use rootfs::WORK_DIR;
pub use uid::{UID_BASE, UID_SLOTS};

/// Resource limits of every program run in a sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// CPU seconds per process (`RLIMIT_CPU`; SIGXCPU at the limit, SIGKILL a second later).
    pub cpu_seconds: u64,
    /// Wall-clock time of one run, after which every process of the sandbox is killed.
    pub wall: Duration,
    /// Address space per process in bytes (`RLIMIT_AS`).
    pub memory_bytes: u64,
    /// Processes and threads the sandbox user may have at once (`RLIMIT_NPROC`).
    pub processes: u64,
    /// Largest file a process may write, in bytes (`RLIMIT_FSIZE`).
    pub file_bytes: u64,
    /// Size of the sandbox's writable tmpfs in bytes (all files together).
    pub disk_bytes: u64,
    /// Number of files and directories the tmpfs may hold.
    pub disk_inodes: u64,
    /// Bytes kept of standard output and of standard error each; a program that writes more
    /// is killed.
    pub output_bytes: usize,
    /// Open file descriptors per process (`RLIMIT_NOFILE`).
    pub open_files: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_seconds: 10,
            wall: Duration::from_secs(20),
            memory_bytes: 1 << 30,
            processes: 32,
            file_bytes: 16 << 20,
            disk_bytes: 64 << 20,
            disk_inodes: 16_384,
            output_bytes: 1 << 20,
            open_files: 256,
        }
    }
}

/// A program to run: an argument vector (`argv[0]` an absolute path inside the sandbox) and
/// files to create in the working directory first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The command line; `argv[0]` must be an absolute path.
    pub argv: Vec<String>,
    /// `(file name, contents)` written into the working directory, as the sandbox user,
    /// before the program starts. Names are single path components.
    pub files: Vec<(String, Vec<u8>)>,
}

impl Program {
    /// Python source run as `main.py` by the sandbox's interpreter ([`python_path`]).
    pub fn python(source: &str) -> Program {
        Program {
            argv: vec![
                python_path().to_string_lossy().into_owned(),
                "main.py".to_string(),
            ],
            files: vec![("main.py".to_string(), source.as_bytes().to_vec())],
        }
    }

    /// A bash script, run as `bash script.sh` so that its text is not limited by the size of
    /// one argument.
    pub fn shell(script: &str) -> Program {
        Program {
            argv: vec!["/bin/bash".to_string(), "script.sh".to_string()],
            files: vec![("script.sh".to_string(), script.as_bytes().to_vec())],
        }
    }

    /// A bash script followed by positional arguments (`$1`, `$2`, ...).
    pub fn shell_with_args(script: &str, args: &[String]) -> Program {
        let mut program = Program::shell(script);
        program.argv.extend(args.iter().cloned());
        program
    }
}

/// Errors of the sandbox itself (a program that fails is a [`RunOutcome`], not an error).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The process is not root.
    #[error(
        "the sandbox needs root: it creates mount and network namespaces and runs programs \
         under a private uid (run as root, for example in a container)"
    )]
    NotRoot,
    /// The kernel refused to build the sandbox's namespaces or file system.
    #[error(
        "could not build the sandbox's namespaces and root file system: {step}: {source} \
         (needs Linux with mount namespaces, tmpfs and pivot_root)"
    )]
    Namespace {
        /// The step that failed.
        step: String,
        /// The underlying error.
        source: io::Error,
    },
    /// Every uid of the range is taken.
    #[error("all {count} sandbox uids from {first} are in use; too many sandboxes at once")]
    NoFreeUid {
        /// First uid of the range.
        first: u32,
        /// Size of the range.
        count: u32,
    },
    /// Processes of the sandbox uid survived repeated SIGKILLs.
    #[error("processes of sandbox uid {uid} survived SIGKILL")]
    Survivors {
        /// The sandbox uid.
        uid: u32,
    },
    /// A file name given to [`Program::files`] is not a single path component.
    #[error("sandbox file name {0:?} must be one plain path component")]
    BadFileName(String),
    /// The program could not be started.
    #[error("could not start {program} in the sandbox ({step}): {source}")]
    Spawn {
        /// `argv[0]`.
        program: String,
        /// The step that failed (`exec` for the program itself).
        step: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// Any other system call failed.
    #[error("sandbox: {what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The underlying error.
        source: io::Error,
    },
}

/// The Python interpreter programs run with: `$CYCLEQD_SANDBOX_PYTHON` if set, else the
/// system's `/usr/bin/python3`, else the real interpreter behind `python3` on the `PATH`
/// (a pyenv shim resolves to its installation). An interpreter outside the system
/// directories is made visible in the sandbox together with its installation prefix.
pub fn python_path() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        if let Some(path) = std::env::var_os("CYCLEQD_SANDBOX_PYTHON") {
            return PathBuf::from(path);
        }
        let system = PathBuf::from("/usr/bin/python3");
        if system.exists() {
            return system;
        }
        Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
            .filter(|p| p.is_absolute())
            .unwrap_or(system)
    })
}

/// The installation prefix of [`python_path`] (`PREFIX/bin/python3`), if it lies outside
/// the directories every sandbox sees.
fn python_prefix() -> Vec<PathBuf> {
    let python = std::fs::canonicalize(python_path()).unwrap_or_else(|_| python_path().into());
    python
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .into_iter()
        .collect()
}

/// One sandbox: namespaces, a private uid and a scratch file system, alive until dropped.
pub struct Sandbox {
    limits: Limits,
    slot: uid::UidSlot,
    mount_ns: OwnedFd,
    net_ns: OwnedFd,
    network_isolated: bool,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("uid", &self.slot.uid())
            .field("network_isolated", &self.network_isolated)
            .field("limits", &self.limits)
            .finish()
    }
}

fn warn_no_network_namespace() {
    static WARNED: Once = Once::new();
    WARNED.call_once(|| {
        eprintln!(
            "WARNING: cycleqd sandbox: this kernel refused a network namespace; programs \
             written by models CAN reach the network from inside the sandbox"
        );
    });
}

impl Sandbox {
    /// Builds a fresh sandbox with `limits`.
    pub fn new(limits: Limits) -> Result<Sandbox, SandboxError> {
        // SAFETY: plain system call.
        if unsafe { libc::geteuid() } != 0 {
            return Err(SandboxError::NotRoot);
        }
        let slot = uid::UidSlot::claim()?;
        let plan = rootfs::RootfsPlan::new(
            slot.uid(),
            limits.disk_bytes,
            limits.disk_inodes,
            &python_prefix(),
        )
        .map_err(|source| SandboxError::Io {
            what: "planning the sandbox root",
            source,
        })?;

        // The namespaces are made by a short-lived child that then just waits on its
        // standard input; once their descriptors are open here it is let go, and the
        // namespaces live exactly as long as this struct holds them.
        let build = || {
            sys::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWNET)
                .or_else(|_| sys::unshare(libc::CLONE_NEWNS))
                .map_err(|e| ("unshare", e))?;
            plan.apply()
        };
        let holder = spawn::spawn(
            &[CString::from(c"/bin/cat")],
            &[],
            [
                spawn::Stream::Piped,
                spawn::Stream::Null,
                spawn::Stream::Null,
            ],
            &build,
        )
        .map_err(|e| SandboxError::Namespace {
            step: e.step.to_string(),
            source: e.source,
        })?;
        let open_ns = |kind: &str| -> Result<OwnedFd, SandboxError> {
            File::open(format!("/proc/{}/ns/{kind}", holder.pid))
                .map(OwnedFd::from)
                .map_err(|source| SandboxError::Io {
                    what: "opening the sandbox namespaces",
                    source,
                })
        };
        let namespaces = open_ns("mnt").and_then(|m| Ok((m, open_ns("net")?)));
        drop(holder.stdin);
        // SAFETY: signalling our own child, reaped right after.
        unsafe { libc::kill(holder.pid, libc::SIGKILL) };
        let _ = sys::wait(holder.pid);
        let (mount_ns, net_ns) = namespaces?;

        let own_net =
            std::fs::metadata("/proc/self/ns/net").map_err(|source| SandboxError::Io {
                what: "reading this process's network namespace",
                source,
            })?;
        let sandbox_net = File::from(net_ns.try_clone().map_err(|source| SandboxError::Io {
            what: "duplicating the sandbox namespace descriptor",
            source,
        })?)
        .metadata()
        .map_err(|source| SandboxError::Io {
            what: "reading the sandbox's network namespace",
            source,
        })?;
        let network_isolated = own_net.ino() != sandbox_net.ino();
        if !network_isolated {
            warn_no_network_namespace();
        }
        Ok(Sandbox {
            limits,
            slot,
            mount_ns,
            net_ns,
            network_isolated,
        })
    }

    /// The sandbox's private uid (also its gid).
    pub fn uid(&self) -> u32 {
        self.slot.uid()
    }

    /// Whether programs run without any network access.
    pub fn network_isolated(&self) -> bool {
        self.network_isolated
    }

    /// The limits every run gets.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Runs `program` to completion, timeout or output overflow. Whatever it started is
    /// dead when this returns; files it wrote stay for the next run.
    pub fn run(&mut self, program: &Program) -> Result<RunOutcome, SandboxError> {
        let files = program
            .files
            .iter()
            .map(|(name, bytes)| {
                let plain = !name.is_empty()
                    && name != "."
                    && name != ".."
                    && !name.contains('/')
                    && !name.contains('\0');
                if plain {
                    Ok((
                        CString::new(name.as_str()).expect("checked for NUL"),
                        bytes.clone(),
                    ))
                } else {
                    Err(SandboxError::BadFileName(name.clone()))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let Some(argv0) = program.argv.first() else {
            return Err(SandboxError::Spawn {
                program: String::new(),
                step: "exec",
                source: io::Error::new(io::ErrorKind::InvalidInput, "empty command line"),
            });
        };
        let argv = program
            .argv
            .iter()
            .map(|a| CString::new(a.as_str()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| SandboxError::Spawn {
                program: argv0.clone(),
                step: "exec",
                source: io::Error::new(io::ErrorKind::InvalidInput, "an argument holds a NUL byte"),
            })?;
        let envp = spawn::environment(&[
            ("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"),
            ("HOME", WORK_DIR),
            ("TMPDIR", "/tmp"),
            ("LANG", "C.UTF-8"),
            ("LC_ALL", "C.UTF-8"),
            ("PYTHONHASHSEED", "0"),
            ("PYTHONDONTWRITEBYTECODE", "1"),
            ("PYTHONIOENCODING", "utf-8"),
        ]);

        let uid = self.slot.uid();
        let mount_fd = self.mount_ns.as_raw_fd();
        let net_fd = self.net_ns.as_raw_fd();
        let work = CString::new(WORK_DIR).expect("no NUL");
        let limits = &self.limits;
        let enter = || {
            let at = |step| move |e| (step, e);
            sys::die_with_parent().map_err(at("tying the program to its parent"))?;
            sys::setns(mount_fd, libc::CLONE_NEWNS).map_err(at("entering the mount namespace"))?;
            sys::setns(net_fd, libc::CLONE_NEWNET).map_err(at("entering the network namespace"))?;
            sys::chdir(&work).map_err(at("entering the working directory"))?;
            sys::setsid().map_err(at("starting a session"))?;
            let cpu = limits.cpu_seconds;
            let rlimits = [
                (libc::RLIMIT_CPU, cpu, cpu + 1),
                (libc::RLIMIT_AS, limits.memory_bytes, limits.memory_bytes),
                (libc::RLIMIT_NPROC, limits.processes, limits.processes),
                (libc::RLIMIT_FSIZE, limits.file_bytes, limits.file_bytes),
                (libc::RLIMIT_NOFILE, limits.open_files, limits.open_files),
                (libc::RLIMIT_CORE, 0, 0),
                (libc::RLIMIT_MEMLOCK, 0, 0),
                (libc::RLIMIT_MSGQUEUE, 0, 0),
            ];
            for (resource, soft, hard) in rlimits {
                sys::setrlimit(resource, soft, hard).map_err(at("setting a resource limit"))?;
            }
            sys::become_user(uid, uid).map_err(at("switching to the sandbox user"))?;
            sys::no_new_privs().map_err(at("forbidding new privileges"))?;
            sys::umask(0o022);
            for (name, bytes) in &files {
                sys::write_new_file(name, bytes).map_err(at("writing the program's files"))?;
            }
            Ok(())
        };
        let child = spawn::spawn(
            &argv,
            &envp,
            [
                spawn::Stream::Null,
                spawn::Stream::Piped,
                spawn::Stream::Piped,
            ],
            &enter,
        )
        .map_err(|e| SandboxError::Spawn {
            program: argv0.clone(),
            step: e.step,
            source: e.source,
        })?;
        capture::supervise(child, uid, &self.limits)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Runs already end their processes; this catches a run that returned an error
        // midway. The namespaces and the tmpfs go with the descriptors.
        let _ = uid::kill_all(self.slot.uid());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_file_names_are_refused_before_anything_runs() {
        let mut sandbox = Sandbox::new(Limits::default()).unwrap();
        for name in ["", "..", "a/b", "/etc/passwd"] {
            let program = Program {
                argv: vec!["/bin/true".into()],
                files: vec![(name.to_string(), b"x".to_vec())],
            };
            assert!(matches!(
                sandbox.run(&program),
                Err(SandboxError::BadFileName(n)) if n == name
            ));
        }
    }
}
