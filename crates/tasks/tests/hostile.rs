//! Hostile programs in the sandbox: each one is stopped, ends as a failure, and leaves the
//! machine as it was (no process of the sandbox uid, no file or mount outside it touched).
//! Needs root, as CI has; fails with the sandbox's own message otherwise.

use std::io::{ErrorKind, Read};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use cycleqd_tasks::sandbox::{Limits, Program, Sandbox, Termination};
use cycleqd_tasks::WithSettings;

/// Small limits so that every hostile program is stopped within a few seconds. The wall
/// time is generous so that the CPU limit, not a loaded machine, decides CPU-bound cases.
fn tight() -> Limits {
    Limits {
        cpu_seconds: 1,
        wall: Duration::from_secs(10),
        memory_bytes: 256 << 20,
        processes: 16,
        file_bytes: 1 << 20,
        disk_bytes: 8 << 20,
        disk_inodes: 1024,
        output_bytes: 64 << 10,
        open_files: 64,
    }
}

/// Live (not zombie) processes whose real or effective uid is `uid`.
fn live_processes_of(uid: u32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(format!("/proc/{name}/status")) else {
            continue;
        };
        let zombie = status
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'));
        let ours = status.lines().any(|l| {
            l.strip_prefix("Uid:").is_some_and(|ids| {
                ids.split_whitespace()
                    .take(2)
                    .any(|id| id == uid.to_string())
            })
        });
        if ours && !zombie {
            found.push(name);
        }
    }
    found
}

fn mount_count() -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .count()
}

/// Runs `program` in a fresh sandbox with `limits`, checks that nothing of it survives the
/// run or the sandbox, and returns the outcome and the uid it ran as.
fn run_contained(limits: Limits, program: Program) -> cycleqd_tasks::sandbox::RunOutcome {
    let mounts_before = mount_count();
    let mut sandbox = Sandbox::new(limits).expect("sandbox");
    let uid = sandbox.uid();
    let outcome = sandbox.run(&program).expect("run");
    assert_eq!(live_processes_of(uid), Vec::<String>::new(), "{outcome:?}");
    drop(sandbox);
    assert_eq!(live_processes_of(uid), Vec::<String>::new());
    assert_eq!(
        mount_count(),
        mounts_before,
        "the host's mount table changed"
    );
    outcome
}

#[test]
fn a_well_behaved_program_runs_and_its_output_comes_back() {
    let outcome = run_contained(
        tight(),
        Program::python("import os\nprint(os.getcwd(), os.getuid() >= 1_600_000_000)\n"),
    );
    assert_eq!(outcome.termination, Termination::Exited(0), "{outcome:?}");
    assert_eq!(outcome.stdout_text(), "/tmp/work True\n");
}

#[test]
fn an_infinite_loop_is_stopped_by_the_cpu_limit() {
    let outcome = run_contained(tight(), Program::python("while True:\n    pass\n"));
    assert!(
        matches!(
            outcome.termination,
            Termination::Signaled(libc::SIGXCPU) | Termination::Signaled(libc::SIGKILL)
        ),
        "{outcome:?}"
    );
}

#[test]
fn a_sleeper_is_stopped_by_the_wall_limit() {
    let mut limits = tight();
    limits.wall = Duration::from_secs(2);
    let outcome = run_contained(limits, Program::python("import time\ntime.sleep(3600)\n"));
    assert_eq!(outcome.termination, Termination::TimedOut);
}

#[test]
fn background_and_daemonised_processes_do_not_outlive_the_run() {
    let outcome = run_contained(
        tight(),
        Program::shell("sleep 1000 &\nsetsid nohup sleep 1000 >/dev/null 2>&1 &\necho started\n"),
    );
    assert_eq!(outcome.termination, Termination::Exited(0));
    assert_eq!(outcome.stdout_text(), "started\n");
}

#[test]
fn a_shell_fork_bomb_is_contained() {
    let mut limits = tight();
    limits.wall = Duration::from_secs(2);
    // The bomb runs in the background; the script itself would outlive the wall time.
    let outcome = run_contained(limits, Program::shell(":(){ :|:& };:\nsleep 10\n"));
    assert!(!outcome.success(), "{outcome:?}");
    assert!(
        outcome
            .stderr_text()
            .contains("Resource temporarily unavailable"),
        "the process limit never bit: {outcome:?}"
    );
}

#[test]
fn a_python_fork_bomb_is_contained() {
    let outcome = run_contained(
        tight(),
        Program::python("import os\nwhile True:\n    os.fork()\n"),
    );
    assert!(!outcome.success(), "{outcome:?}");
}

#[test]
fn a_memory_hog_gets_no_memory() {
    let outcome = run_contained(
        tight(),
        Program::python("chunks = []\nwhile True:\n    chunks.append(bytearray(16 << 20))\n"),
    );
    assert_eq!(outcome.termination, Termination::Exited(1), "{outcome:?}");
    assert!(outcome.stderr_text().contains("MemoryError"), "{outcome:?}");
    let outcome = run_contained(tight(), Program::python("x = bytearray(10 << 30)\n"));
    assert!(outcome.stderr_text().contains("MemoryError"), "{outcome:?}");
}

#[test]
fn a_ten_gigabyte_file_stops_at_the_file_size_limit() {
    let mut sandbox = Sandbox::new(tight()).unwrap();
    let outcome = sandbox
        .run(&Program::shell(
            "dd if=/dev/zero of=big bs=1M count=10240 2>/dev/null\n",
        ))
        .unwrap();
    assert_eq!(
        outcome.termination,
        Termination::Exited(128 + libc::SIGXFSZ)
    );
    let size = sandbox.run(&Program::shell("stat -c %s big\n")).unwrap();
    assert_eq!(size.stdout_text().trim(), (1u64 << 20).to_string());
}

#[test]
fn ten_gigabytes_in_many_files_stop_at_the_disk_limit() {
    let mut sandbox = Sandbox::new(tight()).unwrap();
    let outcome = sandbox
        .run(&Program::shell(
            "for i in $(seq 10240); do head -c 1000000 /dev/zero > f$i || exit 3; done\n",
        ))
        .unwrap();
    assert_eq!(outcome.termination, Termination::Exited(3), "{outcome:?}");
    assert!(
        outcome.stderr_text().contains("No space left"),
        "{outcome:?}"
    );
    let used = sandbox
        .run(&Program::shell("du -sb /tmp | cut -f1\n"))
        .unwrap();
    let used: u64 = used.stdout_text().trim().parse().unwrap();
    assert!(
        used <= tight().disk_bytes,
        "{used} bytes on the scratch disk"
    );
}

#[test]
fn files_outside_the_sandbox_can_be_neither_read_nor_deleted() {
    let host = tempfile::tempdir().unwrap();
    std::fs::set_permissions(host.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let secret = host.path().join("secret");
    std::fs::write(&secret, "the host's secret").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let open = tempfile::tempdir().unwrap();
    std::fs::set_permissions(open.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let readable = open.path().join("readable");
    std::fs::write(&readable, "world-readable host data").unwrap();
    std::fs::set_permissions(&readable, std::fs::Permissions::from_mode(0o666)).unwrap();

    let script = format!(
        "cat {secret} {readable} /etc/shadow /proc/1/environ\n\
         ls /proc/1/root/ /root /work /home\n\
         rm -rf {dir} {open_dir}\n\
         rm -f /usr/bin/env /etc/hostname\n\
         echo planted > /etc/planted; echo planted > /usr/planted\n\
         rm -rf --no-preserve-root / 2>/dev/null\n\
         exit 0\n",
        secret = secret.display(),
        readable = readable.display(),
        dir = host.path().display(),
        open_dir = open.path().display(),
    );
    let outcome = run_contained(tight(), Program::shell(&script));
    let stdout = outcome.stdout_text();
    let stderr = outcome.stderr_text();
    for refusal in [
        "cat: /etc/shadow: Permission denied",
        "rm: cannot remove '/usr/bin/env': Read-only file system",
        "/etc/planted: Read-only file system",
        "ls: cannot access '/work': No such file or directory",
    ] {
        assert!(stderr.contains(refusal), "no {refusal:?} in {stderr}");
    }
    assert!(!stdout.contains("secret"), "{stdout}");
    assert!(!stdout.contains("world-readable"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        "the host's secret"
    );
    assert_eq!(
        std::fs::read_to_string(&readable).unwrap(),
        "world-readable host data"
    );
    assert!(Path::new("/usr/bin/env").exists());
    assert!(Path::new("/etc/hostname").exists());
    assert!(!Path::new("/etc/planted").exists());
    assert!(!Path::new("/usr/planted").exists());
}

#[test]
fn a_network_connection_never_arrives() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let program = Program::python(&format!(
        "import socket\n\
         for host in ['127.0.0.1', 'localhost', '1.1.1.1']:\n\
         \x20   try:\n\
         \x20       socket.create_connection((host, {port}), timeout=1).sendall(b'leak')\n\
         \x20       print('connected', host)\n\
         \x20   except OSError as e:\n\
         \x20       print('refused', host, e.errno)\n"
    ));
    let mut sandbox = Sandbox::new(tight()).unwrap();
    assert!(sandbox.network_isolated());
    let outcome = sandbox.run(&program).unwrap();
    assert_eq!(outcome.termination, Termination::Exited(0), "{outcome:?}");
    assert!(!outcome.stdout_text().contains("connected"), "{outcome:?}");
    // A completed TCP handshake would sit in the accept queue by now.
    listener.set_nonblocking(true).unwrap();
    match listener.accept() {
        Err(e) => assert_eq!(e.kind(), ErrorKind::WouldBlock),
        Ok((mut stream, from)) => {
            let mut got = String::new();
            let _ = stream.read_to_string(&mut got);
            panic!("a connection from {from} arrived: {got:?}");
        }
    }
}

#[test]
fn a_hundred_megabytes_on_stdout_are_cut_at_the_output_cap() {
    let outcome = run_contained(
        tight(),
        Program::python("import sys\nsys.stdout.write('x' * 100_000_000)\n"),
    );
    assert_eq!(outcome.termination, Termination::OutputLimit);
    assert_eq!(outcome.stdout.len(), tight().output_bytes);
    let outcome = run_contained(tight(), Program::shell("yes 'endless output' >&2\n"));
    assert_eq!(outcome.termination, Termination::OutputLimit);
    assert_eq!(outcome.stderr.len(), tight().output_bytes);
}

#[test]
fn killing_every_process_it_can_reach_spares_the_host() {
    let mut bystander = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .unwrap();
    let script = format!(
        "kill -9 -1 {pid}\nkill -9 1\necho still here\n",
        pid = bystander.id()
    );
    let outcome = run_contained(tight(), Program::shell(&script));
    let alive = bystander.try_wait().unwrap().is_none();
    bystander.kill().unwrap();
    bystander.wait().unwrap();
    assert!(alive, "the sandbox killed a host process: {outcome:?}");
    assert_eq!(outcome.stdout_text(), "still here\n");
}

#[test]
fn files_persist_between_runs_of_one_sandbox_and_vanish_with_it() {
    let mut sandbox = Sandbox::new(tight()).unwrap();
    let write = sandbox
        .run(&Program::shell("mkdir -p data && echo kept > data/note\n"))
        .unwrap();
    assert!(write.success(), "{write:?}");
    let read = sandbox.run(&Program::shell("cat data/note\n")).unwrap();
    assert_eq!(read.stdout_text(), "kept\n");
    drop(sandbox);
    let fresh = run_contained(tight(), Program::shell("cat data/note\n"));
    assert!(!fresh.success());
}

#[test]
fn hostile_solutions_are_graded_as_failures() {
    use cycleqd_tasks::coding::{CodingProblem, CodingTask};
    let problem = CodingProblem {
        id: "double".into(),
        question: "Write f(x) returning 2 * x.".into(),
        code_prompt: String::new(),
        entry_point: "f".into(),
        setup: String::new(),
        tests: "assert f(2) == 4".into(),
        reference: Some("def f(x):\n    return 2 * x\n".into()),
    };
    let task = CodingTask::new("hostile", vec![problem.clone()]).with_limits(tight());
    assert!(
        task.grade(&problem, "def f(x):\n    return 2 * x\n")
            .unwrap()
            .passed
    );
    let hostile = [
        "def f(x):\n    while True:\n        pass\n",
        "import os\ndef f(x):\n    while True:\n        os.fork()\n",
        "def f(x):\n    return bytearray(10 << 30)\n",
        "def f(x):\n    open('big', 'wb').write(b'0' * (10 << 30))\n",
        "def f(x):\n    print('x' * 100_000_000)\n",
        "import socket\ndef f(x):\n    socket.create_connection(('127.0.0.1', 22), timeout=1)\n    return 2 * x\n",
        "import shutil\ndef f(x):\n    shutil.rmtree('/usr')\n    return 2 * x\n",
        "import os, sys\nos._exit(0)\n",
        "import sys\ndef f(x):\n    sys.exit(0)\n",
    ];
    for code in hostile {
        let verdict = task.grade(&problem, code).unwrap();
        assert!(!verdict.passed, "{code:?} passed: {}", verdict.detail);
    }
}
