//! The queue's overhead per job: one producer adds a job and waits for its result while one
//! consumer thread takes it and completes it with an empty result, one job at a time.
//!
//! `cargo run -p cycleqd-queue --example roundtrip -- REDIS_URL [JOBS]`

use std::time::{Duration, Instant};

use cycleqd_queue::{Consumer, ConsumerOptions, JobMessage, Producer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: roundtrip REDIS_URL [JOBS]")?;
    let jobs: usize = args.next().map_or(Ok(1000), |n| n.parse())?;
    let run = format!("{}", std::process::id());
    let worker_url = url.clone();
    let worker = std::thread::spawn(move || -> Result<(), cycleqd_queue::QueueError> {
        let mut queue = Consumer::connect(&worker_url, "bench", ConsumerOptions::default())?;
        let mut done = 0;
        while done < jobs {
            if let Some(d) = queue.next(&mut |m| eprintln!("{m}"))? {
                queue.complete(&d, serde_json::Value::Null)?;
                done += 1;
            }
        }
        Ok(())
    });
    let mut producer = Producer::connect(&url)?;
    let started = Instant::now();
    let mut worst = Duration::ZERO;
    for i in 0..jobs {
        let t = Instant::now();
        let key = format!("bench-{run}-{i}");
        producer.submit(&JobMessage::new(key.clone(), serde_json::json!({ "i": i })))?;
        while producer
            .wait(std::slice::from_ref(&key), Duration::from_secs(5))?
            .results
            .is_empty()
        {}
        worst = worst.max(t.elapsed());
    }
    let total = started.elapsed();
    worker
        .join()
        .map_err(|_| "the consumer thread panicked")??;
    println!(
        "{jobs} jobs, one at a time: {:.3} ms per job (submit, take, complete, read back); slowest {:.3} ms",
        total.as_secs_f64() * 1e3 / jobs as f64,
        worst.as_secs_f64() * 1e3
    );
    Ok(())
}
