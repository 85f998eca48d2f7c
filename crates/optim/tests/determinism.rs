//! Determinism of both optimisers: equal seeds give equal runs, and a run resumed from a JSON
//! snapshot or rebuilt by replaying its journal of evaluations continues bit for bit.

use cycleqd_optim::problems::{rosenbrock, zdt1, zdt1_bounds};
use cycleqd_optim::{CmaEs, CmaEsConfig, Nsga2, Nsga2Config};

/// One generation's asked candidates and their scores, as a caller would journal them.
type Journal<S> = Vec<(Vec<Vec<f64>>, Vec<S>)>;

fn cmaes_config(seed: u64) -> CmaEsConfig {
    CmaEsConfig {
        mean: vec![0.3; 6],
        sigma: 0.4,
        population: None,
        seed,
    }
}

fn cmaes_step(es: &mut CmaEs, journal: &mut Journal<f64>) {
    let xs = es.ask();
    let fs: Vec<f64> = xs.iter().map(|x| rosenbrock(x)).collect();
    es.tell(&xs, &fs).unwrap();
    journal.push((xs, fs));
}

fn nsga2_config(seed: u64) -> Nsga2Config {
    Nsga2Config::pymoo_defaults(zdt1_bounds(12), 20, seed)
}

fn nsga2_step(nsga: &mut Nsga2, journal: &mut Journal<Vec<f64>>) {
    let xs = nsga.ask();
    let fs: Vec<Vec<f64>> = xs.iter().map(|x| zdt1(x).unwrap().to_vec()).collect();
    nsga.tell(&xs, &fs).unwrap();
    journal.push((xs, fs));
}

#[test]
fn cmaes_same_seed_same_run_and_resume_is_exact() {
    let (mut a, mut b) = (
        CmaEs::new(cmaes_config(9)).unwrap(),
        CmaEs::new(cmaes_config(9)).unwrap(),
    );
    let (mut journal, mut other) = (Vec::new(), Vec::new());
    for _ in 0..60 {
        cmaes_step(&mut a, &mut journal);
        cmaes_step(&mut b, &mut other);
    }
    assert_eq!(a, b);
    assert_eq!(journal, other);

    let snapshot = serde_json::to_string(&a).unwrap();
    let mut resumed: CmaEs = serde_json::from_str(&snapshot).unwrap();
    assert_eq!(resumed, a);
    let mut replayed = CmaEs::new(cmaes_config(9)).unwrap();
    for (xs, fs) in &journal {
        assert_eq!(
            &replayed.ask(),
            xs,
            "replay asks for the journaled candidates"
        );
        replayed.tell(xs, fs).unwrap();
    }
    assert_eq!(replayed, a);

    let (mut rest_a, mut rest_resumed, mut rest_replayed) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..60 {
        cmaes_step(&mut a, &mut rest_a);
        cmaes_step(&mut resumed, &mut rest_resumed);
        cmaes_step(&mut replayed, &mut rest_replayed);
    }
    assert_eq!(rest_a, rest_resumed);
    assert_eq!(rest_a, rest_replayed);
    assert_eq!(a, resumed);
    assert_eq!(a, replayed);
    assert!(
        a.best().unwrap().1 < rosenbrock(&[0.3; 6]),
        "the run made progress"
    );

    let c = CmaEs::new(cmaes_config(10)).unwrap();
    assert_ne!(c.ask(), CmaEs::new(cmaes_config(9)).unwrap().ask());
}

#[test]
fn nsga2_same_seed_same_run_and_resume_is_exact() {
    let (mut a, mut b) = (
        Nsga2::new(nsga2_config(4)).unwrap(),
        Nsga2::new(nsga2_config(4)).unwrap(),
    );
    let (mut journal, mut other) = (Vec::new(), Vec::new());
    for _ in 0..30 {
        nsga2_step(&mut a, &mut journal);
        nsga2_step(&mut b, &mut other);
    }
    assert_eq!(a, b);
    assert_eq!(journal, other);
    assert!(a.population().iter().any(|m| m.crowding.is_infinite()));

    let snapshot = serde_json::to_string(&a).unwrap();
    let mut resumed: Nsga2 = serde_json::from_str(&snapshot).unwrap();
    assert_eq!(resumed, a);
    let mut replayed = Nsga2::new(nsga2_config(4)).unwrap();
    for (xs, fs) in &journal {
        assert_eq!(
            &replayed.ask(),
            xs,
            "replay asks for the journaled candidates"
        );
        replayed.tell(xs, fs).unwrap();
    }
    assert_eq!(replayed, a);

    let (mut rest_a, mut rest_resumed, mut rest_replayed) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..30 {
        nsga2_step(&mut a, &mut rest_a);
        nsga2_step(&mut resumed, &mut rest_resumed);
        nsga2_step(&mut replayed, &mut rest_replayed);
    }
    assert_eq!(rest_a, rest_resumed);
    assert_eq!(rest_a, rest_replayed);
    assert_eq!(a, resumed);
    assert_eq!(a, replayed);
    assert_eq!(a.generation(), 60);

    let c = Nsga2::new(nsga2_config(5)).unwrap();
    assert_ne!(c.ask(), Nsga2::new(nsga2_config(4)).unwrap().ask());
}
