//! Generated coding problems: a function `f` described step by step in words, with numbers
//! the code must carry over; graded by hidden asserts whose expected values are computed
//! here with Python's integer semantics.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{draw_distinct, pick, Difficulty, GenConfig};
use crate::coding::CodingProblem;
use crate::error::TaskError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Sub,
    Mul,
    FloorDiv,
    Mod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operand {
    Const(i64),
    Y,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Spec {
    /// Start with x and apply the steps left to right.
    Steps {
        uses_y: bool,
        steps: Vec<(Op, Operand)>,
    },
    /// `x op1 c1` when x exceeds the threshold, else `x op2 c2`.
    Branch {
        threshold: i64,
        above: (Op, i64),
        otherwise: (Op, i64),
    },
    /// How many list items compare to the bound.
    ListCount { greater: bool, bound: i64 },
    /// The sum of the list items that compare to the bound.
    ListSum { greater: bool, bound: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Args {
    X(i64),
    Xy(i64, i64),
    List(Vec<i64>),
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Add => "+",
            Op::Sub => "-",
            Op::Mul => "*",
            Op::FloorDiv => "//",
            Op::Mod => "%",
        }
    }

    fn binds_tightly(self) -> bool {
        matches!(self, Op::Mul | Op::FloorDiv | Op::Mod)
    }

    /// Python's semantics: `//` floors and `%` takes the divisor's sign (divisors here are
    /// positive constants).
    fn apply(self, a: i64, b: i64) -> i64 {
        match self {
            Op::Add => a + b,
            Op::Sub => a - b,
            Op::Mul => a * b,
            Op::FloorDiv => a.div_euclid(b),
            Op::Mod => a.rem_euclid(b),
        }
    }

    fn instruction(self, operand: &str) -> String {
        match self {
            Op::Add => format!("add {operand}"),
            Op::Sub => format!("subtract {operand}"),
            Op::Mul => format!("multiply by {operand}"),
            Op::FloorDiv => format!("divide by {operand} rounding down"),
            Op::Mod => format!("take the remainder after dividing by {operand}"),
        }
    }

    fn phrase(self) -> &'static str {
        match self {
            Op::Add => "plus",
            Op::Sub => "minus",
            Op::Mul => "times",
            Op::FloorDiv | Op::Mod => unreachable!("branches use plus, minus and times"),
        }
    }
}

impl Operand {
    fn text(self) -> String {
        match self {
            Operand::Const(c) => c.to_string(),
            Operand::Y => "y".to_string(),
        }
    }
}

fn draw_steps(rng: &mut ChaCha8Rng, n: usize, with_y: bool, division: bool) -> Vec<(Op, Operand)> {
    let mut steps = Vec::with_capacity(n);
    let mut ops = vec![Op::Add, Op::Sub, Op::Mul];
    if division {
        ops.extend([Op::FloorDiv, Op::Mod]);
    }
    // One step (not always the same one) takes y when the function has it.
    let y_at = with_y.then(|| rng.random_range(0..n));
    for i in 0..n {
        let op = *pick(rng, &ops);
        let operand = match op {
            Op::FloorDiv | Op::Mod => Operand::Const(rng.random_range(2..=9)),
            _ if y_at == Some(i) => Operand::Y,
            Op::Mul => Operand::Const(rng.random_range(2..=9)),
            _ => Operand::Const(rng.random_range(1..=20)),
        };
        steps.push((op, operand));
    }
    if with_y && !steps.iter().any(|(_, o)| *o == Operand::Y) {
        steps.push((*pick(rng, &[Op::Add, Op::Sub]), Operand::Y));
    }
    steps
}

fn draw_spec(rng: &mut ChaCha8Rng, difficulty: Difficulty) -> Spec {
    match difficulty {
        Difficulty::Easy => {
            let n = rng.random_range(1..=2);
            Spec::Steps {
                uses_y: false,
                steps: draw_steps(rng, n, false, false),
            }
        }
        Difficulty::Medium => {
            let uses_y = rng.random_bool(0.5);
            let n = rng.random_range(2..=3);
            Spec::Steps {
                uses_y,
                steps: draw_steps(rng, n, uses_y, true),
            }
        }
        _ => match rng.random_range(0..4) {
            0 => {
                let ops = [Op::Add, Op::Sub, Op::Mul];
                let branch = |rng: &mut ChaCha8Rng| {
                    let op = *pick(rng, &ops);
                    let c = if op == Op::Mul {
                        rng.random_range(2..=9)
                    } else {
                        rng.random_range(1..=20)
                    };
                    (op, c)
                };
                Spec::Branch {
                    threshold: rng.random_range(-10..=20),
                    above: branch(rng),
                    otherwise: branch(rng),
                }
            }
            1 => Spec::ListCount {
                greater: rng.random_bool(0.5),
                bound: rng.random_range(1..=11),
            },
            2 => Spec::ListSum {
                greater: rng.random_bool(0.5),
                bound: rng.random_range(1..=11),
            },
            _ => {
                let n = rng.random_range(3..=4);
                Spec::Steps {
                    uses_y: true,
                    steps: draw_steps(rng, n, true, true),
                }
            }
        },
    }
}

fn params(spec: &Spec) -> &'static str {
    match spec {
        Spec::Steps { uses_y: true, .. } => "x, y",
        Spec::Steps { .. } | Spec::Branch { .. } => "x",
        Spec::ListCount { .. } | Spec::ListSum { .. } => "xs",
    }
}

fn question(spec: &Spec) -> String {
    let head = format!("Write a Python function f({})", params(spec));
    let cmp = |greater: bool| if greater { "greater than" } else { "less than" };
    match spec {
        Spec::Steps { steps, .. } => {
            let said: Vec<String> = steps
                .iter()
                .map(|(op, operand)| op.instruction(&operand.text()))
                .collect();
            format!(
                "{head}: start with x, {}, and return the result.",
                said.join(", ")
            )
        }
        Spec::Branch {
            threshold,
            above,
            otherwise,
        } => format!(
            "{head}: if x is greater than {threshold}, return x {} {}; otherwise return x {} {}.",
            above.0.phrase(),
            above.1,
            otherwise.0.phrase(),
            otherwise.1
        ),
        Spec::ListCount { greater, bound } => format!(
            "{head}: return how many numbers in the list xs are {} {bound}.",
            cmp(*greater)
        ),
        Spec::ListSum { greater, bound } => format!(
            "{head}: return the sum of the numbers in the list xs that are {} {bound}.",
            cmp(*greater)
        ),
    }
}

fn reference(spec: &Spec) -> String {
    let head = format!("def f({}):\n", params(spec));
    let cmp = |greater: bool| if greater { ">" } else { "<" };
    match spec {
        Spec::Steps { steps, .. } => {
            let mut expr = "x".to_string();
            let mut loose = false;
            for (op, operand) in steps {
                if op.binds_tightly() && loose {
                    expr = format!("({expr})");
                }
                expr = format!("{expr} {} {}", op.symbol(), operand.text());
                loose = !op.binds_tightly();
            }
            format!("{head}    return {expr}\n")
        }
        Spec::Branch {
            threshold,
            above,
            otherwise,
        } => format!(
            "{head}    if x > {threshold}:\n        return x {} {}\n    return x {} {}\n",
            above.0.symbol(),
            above.1,
            otherwise.0.symbol(),
            otherwise.1
        ),
        Spec::ListCount { greater, bound } => format!(
            "{head}    return sum(1 for v in xs if v {} {bound})\n",
            cmp(*greater)
        ),
        Spec::ListSum { greater, bound } => format!(
            "{head}    return sum(v for v in xs if v {} {bound})\n",
            cmp(*greater)
        ),
    }
}

fn evaluate(spec: &Spec, args: &Args) -> i64 {
    let matches = |v: i64, greater: bool, bound: i64| if greater { v > bound } else { v < bound };
    match (spec, args) {
        (Spec::Steps { steps, .. }, Args::X(x) | Args::Xy(x, _)) => {
            let y = if let Args::Xy(_, y) = args { *y } else { 0 };
            steps.iter().fold(*x, |acc, (op, operand)| {
                let b = match operand {
                    Operand::Const(c) => *c,
                    Operand::Y => y,
                };
                op.apply(acc, b)
            })
        }
        (
            Spec::Branch {
                threshold,
                above,
                otherwise,
            },
            Args::X(x),
        ) => {
            let (op, c) = if x > threshold { above } else { otherwise };
            op.apply(*x, *c)
        }
        (Spec::ListCount { greater, bound }, Args::List(xs)) => {
            xs.iter().filter(|&&v| matches(v, *greater, *bound)).count() as i64
        }
        (Spec::ListSum { greater, bound }, Args::List(xs)) => {
            xs.iter().filter(|&&v| matches(v, *greater, *bound)).sum()
        }
        _ => unreachable!("arguments are drawn to fit their spec"),
    }
}

fn draw_args(rng: &mut ChaCha8Rng, spec: &Spec) -> Vec<Args> {
    let mut args = Vec::new();
    match spec {
        Spec::Steps { uses_y, .. } => {
            while args.len() < 5 {
                let x = rng.random_range(-30..=30);
                let a = if *uses_y {
                    Args::Xy(x, rng.random_range(-9..=9))
                } else {
                    Args::X(x)
                };
                if !args.contains(&a) {
                    args.push(a);
                }
            }
        }
        Spec::Branch { threshold, .. } => {
            args.extend([threshold - 1, *threshold, threshold + 1].map(Args::X));
            while args.len() < 5 {
                let a = Args::X(rng.random_range(-30..=30));
                if !args.contains(&a) {
                    args.push(a);
                }
            }
        }
        Spec::ListCount { .. } | Spec::ListSum { .. } => {
            args.push(Args::List(vec![]));
            while args.len() < 5 {
                let len = rng.random_range(1..=7);
                args.push(Args::List(
                    (0..len).map(|_| rng.random_range(0..=12)).collect(),
                ));
            }
        }
    }
    args
}

fn call(args: &Args) -> String {
    match args {
        Args::X(x) => format!("f({x})"),
        Args::Xy(x, y) => format!("f({x}, {y})"),
        Args::List(xs) => {
            let items: Vec<String> = xs.iter().map(i64::to_string).collect();
            format!("f([{}])", items.join(", "))
        }
    }
}

/// Generates coding problems. Each reference is a short function `f`; the hidden tests
/// are five asserts on drawn arguments.
pub fn generate(config: &GenConfig) -> Result<Vec<CodingProblem>, TaskError> {
    let drawn = draw_distinct(
        "coding",
        config,
        |rng, difficulty| {
            let spec = draw_spec(rng, difficulty);
            let tests: Vec<String> = draw_args(rng, &spec)
                .iter()
                .map(|a| format!("assert {} == {}", call(a), evaluate(&spec, a)))
                .collect();
            (question(&spec), reference(&spec), tests.join("\n"))
        },
        |(q, _, _)| q.as_str(),
    )?;
    Ok(drawn
        .into_iter()
        .enumerate()
        .map(|(i, (question, reference, tests))| CodingProblem {
            id: format!(
                "gen-coding/{}/{}/{i}",
                config.split.name(),
                config.difficulty.name()
            ),
            question,
            code_prompt: String::new(),
            entry_point: "f".to_string(),
            setup: String::new(),
            tests,
            reference: Some(reference),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_respect_python_precedence() {
        let spec = Spec::Steps {
            uses_y: true,
            steps: vec![
                (Op::Add, Operand::Const(3)),
                (Op::Mul, Operand::Const(7)),
                (Op::Sub, Operand::Y),
                (Op::Mod, Operand::Const(4)),
            ],
        };
        assert_eq!(
            reference(&spec),
            "def f(x, y):\n    return ((x + 3) * 7 - y) % 4\n"
        );
        assert_eq!(
            question(&spec),
            "Write a Python function f(x, y): start with x, add 3, multiply by 7, subtract y, \
             take the remainder after dividing by 4, and return the result."
        );
        // ((-5 + 3) * 7 - 2) % 4 == -16 % 4 == 0; ((1 + 3) * 7 - 1) % 4 == 27 % 4 == 3
        assert_eq!(evaluate(&spec, &Args::Xy(-5, 2)), 0);
        assert_eq!(evaluate(&spec, &Args::Xy(1, 1)), 3);
    }

    #[test]
    fn floor_division_and_remainder_follow_python_on_negatives() {
        assert_eq!(Op::FloorDiv.apply(-7, 2), -4);
        assert_eq!(Op::Mod.apply(-7, 3), 2);
    }

    #[test]
    fn every_difficulty_generates_distinct_problems_with_five_tests() {
        for difficulty in [
            Difficulty::Easy,
            Difficulty::Medium,
            Difficulty::Hard,
            Difficulty::Mixed,
        ] {
            let config = GenConfig {
                seed: 3,
                split: crate::generators::Split::Validation,
                difficulty,
                count: 40,
            };
            let problems = generate(&config).unwrap();
            assert_eq!(problems.len(), 40);
            for p in &problems {
                assert_eq!(p.tests.lines().count(), 5, "{}", p.tests);
                assert!(p.reference.as_ref().unwrap().starts_with("def f("));
            }
            assert_eq!(problems, generate(&config).unwrap(), "not deterministic");
        }
    }
}
