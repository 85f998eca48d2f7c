//! Benchmark of what one sandboxed program costs beyond its own work: a fresh `Sandbox`
//! (namespaces, scratch file system), one run of `print(1)` in Python, one of `true` in
//! bash, and dropping the sandbox (which kills whatever its user left running), while this process holds 0, 1 and 2 GiB of touched memory (as the evaluator
//! holds a model's weights). Needs root, like the sandbox. Run with
//! `cargo bench -p cycleqd-tasks --bench sandbox_start`; `CYCLEQD_SANDBOX_BENCH_RUNS`
//! changes the 40 runs per size.

use std::time::Instant;

use cycleqd_tasks::sandbox::{Limits, Program, Sandbox};

fn main() {
    let runs: usize = std::env::var("CYCLEQD_SANDBOX_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let python = Program::python("print(1)");
    let shell = Program::shell("true");
    println!(
        "| resident memory held | new sandbox | python print(1) | bash true | drop | one graded \
         answer (new + python + drop) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for gib in [0usize, 1, 2] {
        // Touch every page so that it is resident, as loaded weights are.
        let ballast = vec![1u8; gib << 30];
        let (mut new, mut py, mut sh, mut end) = (0.0, 0.0, 0.0, 0.0);
        for _ in 0..runs {
            let start = Instant::now();
            let mut sandbox = Sandbox::new(Limits::default()).expect("sandbox (needs root)");
            new += start.elapsed().as_secs_f64();
            let start = Instant::now();
            let out = sandbox.run(&python).expect("python run");
            py += start.elapsed().as_secs_f64();
            assert_eq!(out.stdout_text(), "1\n", "python output");
            let start = Instant::now();
            assert!(
                sandbox.run(&shell).expect("bash run").success(),
                "bash true"
            );
            sh += start.elapsed().as_secs_f64();
            let start = Instant::now();
            drop(sandbox);
            end += start.elapsed().as_secs_f64();
        }
        let ms = |total: f64| 1000.0 * total / runs as f64;
        println!(
            "| {gib} GiB | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |",
            ms(new),
            ms(py),
            ms(sh),
            ms(end),
            ms(new + py + end)
        );
        drop(std::hint::black_box(ballast));
    }
}
