//! The queue against a real redis-server (`CYCLEQD_REDIS_URL`, set by `scripts/test.sh`
//! through `scripts/redis_start.sh`): garbage is set aside, a job whose worker stopped
//! renewing its lease is re-delivered, failures end in a dead letter, a refused job goes
//! to another worker, a duplicate completion is harmless, a resubmitted job is not added
//! twice. Each test uses its own database of the server.

use std::time::Duration;

use cycleqd_queue::names::{DEAD, JOBS, RESULTS, RUNNING};
use cycleqd_queue::{Consumer, ConsumerOptions, Delivery, JobMessage, Outcome, Producer};
use redis::Commands;
use serde_json::json;

/// The server's URL on database `db`, emptied; `None` (the test is skipped, loudly) when
/// no server was started.
fn server(db: u32) -> Option<String> {
    let Ok(url) = std::env::var("CYCLEQD_REDIS_URL") else {
        eprintln!("SKIPPED: CYCLEQD_REDIS_URL is unset (start one: eval \"$(bash scripts/redis_start.sh)\")");
        return None;
    };
    let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
    let url = format!("{base}/{db}");
    let mut con = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    redis::cmd("FLUSHDB").query::<()>(&mut con).unwrap();
    Some(url)
}

fn raw(url: &str) -> redis::Connection {
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

fn quick() -> ConsumerOptions {
    ConsumerOptions {
        lease: Duration::from_millis(300),
        max_failures: 2,
        block: Duration::from_millis(100),
    }
}

fn dead_reasons(url: &str) -> Vec<String> {
    let reply: redis::streams::StreamRangeReply = raw(url).xrange_all(DEAD).unwrap();
    reply
        .ids
        .iter()
        .map(|e| e.get::<String>("reason").unwrap())
        .collect()
}

#[test]
fn a_job_goes_round_and_its_result_comes_back() {
    let Some(url) = server(1) else { return };
    let mut run = Producer::connect(&url).unwrap();
    let job = JobMessage::new("model-a:tasks-1", json!({"alpha": 0.5}));
    assert!(run.submit(&job).unwrap());
    assert!(
        !run.submit(&job).unwrap(),
        "a job still in the stream is not added twice"
    );
    let mut worker = Consumer::connect(&url, "w1", quick()).unwrap();
    let d = worker.next(&mut |m| panic!("{m}")).unwrap().expect("a job");
    assert_eq!(d.job, job);
    assert!(!d.reclaimed);
    worker.complete(&d, json!({"scores": [0.25]})).unwrap();
    let progress = run
        .wait(std::slice::from_ref(&job.key), Duration::from_secs(5))
        .unwrap();
    assert_eq!(progress.results.len(), 1);
    assert_eq!(
        progress.results[0].outcome,
        Outcome::Done(json!({"scores": [0.25]}))
    );
    assert!(
        !run.submit(&job).unwrap(),
        "an answered job is not added again"
    );
    let left: usize = raw(&url).xlen(JOBS).unwrap();
    assert_eq!(left, 0, "the acknowledged entry is deleted");
}

#[test]
fn garbage_on_the_stream_is_set_aside_with_its_reason() {
    let Some(url) = server(2) else { return };
    let mut con = raw(&url);
    let mut worker = Consumer::connect(&url, "w1", quick()).unwrap();
    let _: String = con.xadd(JOBS, "*", &[("job", "{\"schema\":1,")]).unwrap();
    let _: String = con
        .xadd(JOBS, "*", &[("task", "celery.ping"), ("args", "[]")])
        .unwrap();
    let foreign = r#"{"schema":1,"kind":"other.tool","key":"k","body":null}"#;
    let _: String = con.xadd(JOBS, "*", &[("job", foreign)]).unwrap();
    let good = JobMessage::new("k-good", json!(1));
    Producer::connect(&url).unwrap().submit(&good).unwrap();
    let mut logged = Vec::new();
    let mut taken = None;
    for _ in 0..10 {
        if let Some(d) = worker.next(&mut |m| logged.push(m)).unwrap() {
            taken = Some(d);
            break;
        }
    }
    assert_eq!(taken.expect("the good job").job, good);
    assert_eq!(logged.len(), 3, "{logged:?}");
    let reasons = dead_reasons(&url);
    assert_eq!(reasons.len(), 3);
    assert!(reasons[0].contains("is not JSON"), "{}", reasons[0]);
    assert!(
        reasons[1].contains("expected exactly one field `job`"),
        "{}",
        reasons[1]
    );
    assert!(
        reasons[2].contains("`kind` is `other.tool`"),
        "{}",
        reasons[2]
    );
}

#[test]
fn a_job_whose_worker_stopped_is_redelivered_after_the_lease() {
    let Some(url) = server(3) else { return };
    let job = JobMessage::new("k-lease", json!(2));
    Producer::connect(&url).unwrap().submit(&job).unwrap();
    let mut gone = Consumer::connect(&url, "gone", quick()).unwrap();
    let first = gone.next(&mut |m| panic!("{m}")).unwrap().expect("a job");
    // `gone` never completes nor renews: the other worker gets the job once the lease ran out.
    let mut alive = Consumer::connect(&url, "alive", quick()).unwrap();
    let mut again = None;
    for _ in 0..50 {
        if let Some(d) = alive.next(&mut |m| panic!("{m}")).unwrap() {
            again = Some(d);
            break;
        }
    }
    let again = again.expect("re-delivered");
    assert_eq!((again.id.as_str(), &again.job), (first.id.as_str(), &job));
    assert!(again.reclaimed);
    alive.complete(&again, json!("late")).unwrap();
    // The first worker coming back and finishing too changes nothing.
    assert!(gone.already_done(&first).unwrap());
    let stored: String = raw(&url).hget(RESULTS, &job.key).unwrap();
    assert!(stored.contains("\"alive\""), "{stored}");
}

#[test]
fn a_renewed_lease_keeps_the_job() {
    let Some(url) = server(4) else { return };
    let job = JobMessage::new("k-beat", json!(3));
    Producer::connect(&url).unwrap().submit(&job).unwrap();
    let options = ConsumerOptions {
        lease: Duration::from_millis(2100),
        ..quick()
    };
    let mut busy = Consumer::connect(&url, "busy", options).unwrap();
    let d = busy.next(&mut |m| panic!("{m}")).unwrap().expect("a job");
    let beat = busy.heartbeat(&d.id).unwrap();
    let mut other = Consumer::connect(&url, "other", options).unwrap();
    // Two leases long (without the heartbeat it would be taken after one): the other
    // worker's XAUTOCLAIM never finds it idle.
    for _ in 0..45 {
        assert!(other.next(&mut |m| panic!("{m}")).unwrap().is_none());
    }
    drop(beat);
    busy.complete(&d, json!(null)).unwrap();
}

#[test]
fn a_job_failing_too_often_is_reported_not_retried_forever() {
    let Some(url) = server(5) else { return };
    let mut run = Producer::connect(&url).unwrap();
    let job = JobMessage::new("k-fail", json!(4));
    run.submit(&job).unwrap();
    let mut worker = Consumer::connect(&url, "w", quick()).unwrap();
    let mut attempts = 0;
    loop {
        let Some(d) = worker.next(&mut |m| panic!("{m}")).unwrap() else {
            continue;
        };
        attempts += 1;
        if worker
            .fail(&d, &format!("out of memory #{attempts}"))
            .unwrap()
        {
            break;
        }
        assert!(attempts < 5, "not given up");
    }
    assert_eq!(attempts, 2);
    let result = run.result(&job.key).unwrap().expect("a failed result");
    assert_eq!(
        result.outcome,
        Outcome::Failed {
            error: "out of memory #2".into(),
            attempts: 2
        }
    );
    let reasons = dead_reasons(&url);
    assert_eq!(
        reasons,
        vec!["failed 2 times; last error: out of memory #2".to_string()]
    );
    assert!(worker.next(&mut |m| panic!("{m}")).unwrap().is_none());
}

#[test]
fn a_job_whose_workers_keep_dying_in_it_is_given_up() {
    let Some(url) = server(7) else { return };
    let mut run = Producer::connect(&url).unwrap();
    let job = JobMessage::new("k-dies", json!(5));
    run.submit(&job).unwrap();
    let take = |name: &str| -> (Consumer, Delivery) {
        let mut worker = Consumer::connect(&url, name, quick()).unwrap();
        for _ in 0..50 {
            if let Some(d) = worker.next(&mut |m| panic!("{m}")).unwrap() {
                return (worker, d);
            }
        }
        panic!("{name} got no job");
    };
    // Two workers start the job and die in it: they neither finish nor renew.
    let (mut first, d) = take("first");
    assert!(first.begin(&d).unwrap());
    let (mut second, d) = take("second");
    assert!(d.reclaimed);
    assert!(
        second.begin(&d).unwrap(),
        "one death is below max_failures = 2"
    );
    let (mut third, d) = take("third");
    assert!(!third.begin(&d).unwrap(), "given up at the second death");
    let result = run.result(&job.key).unwrap().expect("a failed result");
    match result.outcome {
        Outcome::Failed { error, attempts } => {
            assert_eq!(attempts, 2);
            assert!(
                error.contains("worker second stopped in the middle"),
                "{error}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(dead_reasons(&url).len(), 1);
    assert!(third.next(&mut |m| panic!("{m}")).unwrap().is_none());
    // A job finished normally leaves no running mark.
    let ok = JobMessage::new("k-ok", json!(6));
    run.submit(&ok).unwrap();
    let (mut worker, d) = take("fine");
    assert!(worker.begin(&d).unwrap());
    worker.complete(&d, json!(1)).unwrap();
    let marked: bool = raw(&url).hexists(RUNNING, &ok.key).unwrap();
    assert!(!marked);
}

#[test]
fn a_refused_job_waits_for_another_worker() {
    let Some(url) = server(6) else { return };
    let mut run = Producer::connect(&url).unwrap();
    let job = JobMessage::new("k-refuse", json!(5));
    run.submit(&job).unwrap();
    let mut odd = Consumer::connect(&url, "odd", quick()).unwrap();
    let d = odd.next(&mut |m| panic!("{m}")).unwrap().expect("a job");
    odd.refuse(&d, "my base differs").unwrap();
    for _ in 0..3 {
        assert!(
            odd.next(&mut |m| panic!("{m}")).unwrap().is_none(),
            "taken again"
        );
    }
    let progress = run
        .wait(std::slice::from_ref(&job.key), Duration::from_millis(10))
        .unwrap();
    assert!(progress.results.is_empty());
    assert_eq!(
        progress.refusals,
        vec![(job.key.clone(), "odd: my base differs".to_string())]
    );
    let mut good = Consumer::connect(&url, "good", quick()).unwrap();
    let d = good
        .next(&mut |m| panic!("{m}"))
        .unwrap()
        .expect("the refused job, at once");
    assert_eq!(d.job, job);
    good.complete(&d, json!(1)).unwrap();
}

#[test]
fn a_password_from_the_environment_is_used_when_the_url_has_none() {
    let Some(url) = server(9) else { return };
    let (scheme_user, rest) = url.split_once('@').expect("the test server has a password");
    let password = scheme_user.rsplit(':').next().unwrap().to_string();
    let bare = format!("redis://{rest}");
    // Other tests' URLs carry their password, so they never read the variable.
    std::env::set_var(cycleqd_queue::link::PASSWORD_ENV, &password);
    let mut run =
        Producer::connect(&bare).expect("connects with the password from the environment");
    assert!(run.submit(&JobMessage::new("k-env", json!(0))).unwrap());
    std::env::set_var(cycleqd_queue::link::PASSWORD_ENV, "wrong");
    let refused = Producer::connect(&bare)
        .err()
        .expect("a wrong password is refused");
    let message = refused.to_string();
    assert!(!message.contains(&password), "{message}");
    std::env::remove_var(cycleqd_queue::link::PASSWORD_ENV);
}

#[test]
fn a_server_that_lost_everything_gets_its_group_back_and_lost_jobs_are_sent_again() {
    let Some(url) = server(10) else { return };
    let mut run = Producer::connect(&url).unwrap();
    let job = JobMessage::new("k-lost", json!(6));
    assert!(run.submit(&job).unwrap());
    let mut worker = Consumer::connect(&url, "w", quick()).unwrap();
    // The data is gone (a server restarted without its append-only file), except what the
    // run remembers having sent.
    let mut con = raw(&url);
    let _: () = con.del(&[JOBS]).unwrap();
    assert!(worker.next(&mut |m| panic!("{m}")).unwrap().is_none());
    assert!(
        run.submit(&job).unwrap(),
        "a job gone without a result is sent again"
    );
    assert!(!run.submit(&job).unwrap());
    let d = worker
        .next(&mut |m| panic!("{m}"))
        .unwrap()
        .expect("the job sent again");
    worker.complete(&d, json!(7)).unwrap();
    assert_eq!(
        run.result(&job.key).unwrap().unwrap().outcome,
        Outcome::Done(json!(7))
    );
}

#[test]
fn a_job_goes_round_over_tls() {
    let (Ok(tls), Ok(ca)) = (
        std::env::var("CYCLEQD_REDIS_TLS_URL"),
        std::env::var("CYCLEQD_REDIS_CA"),
    ) else {
        eprintln!("SKIPPED: CYCLEQD_REDIS_TLS_URL or CYCLEQD_REDIS_CA is unset (scripts/redis_start.sh sets both)");
        return;
    };
    // The plain listener empties the database; the TLS one is the same server.
    let Some(_) = server(11) else { return };
    let url = format!("{}/11", tls.rsplit_once('/').unwrap().0);
    // The server's certificate is signed by the script's own CA: trust it alone.
    std::env::set_var("SSL_CERT_FILE", &ca);
    let mut run = Producer::connect(&url).expect("connects over TLS");
    let job = JobMessage::new("k-tls", json!({"over": "tls"}));
    assert!(run.submit(&job).unwrap());
    let mut worker = Consumer::connect(&url, "tls-worker", quick()).unwrap();
    let d = worker
        .next(&mut |m| panic!("{m}"))
        .unwrap()
        .expect("a job over TLS");
    worker.complete(&d, json!("ok")).unwrap();
    let progress = run
        .wait(std::slice::from_ref(&job.key), Duration::from_secs(5))
        .unwrap();
    assert_eq!(progress.results[0].outcome, Outcome::Done(json!("ok")));
}
