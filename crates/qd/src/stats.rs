//! QD statistics per archive and generation, and their CSV form.

use std::io::{self, Write};

use serde::{Deserialize, Serialize};

use crate::archive::Archive;

/// The state of one archive after some generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchiveStats {
    /// The number of elites.
    pub elites: u64,
    /// Elites divided by the number of cells.
    pub coverage: f64,
    /// The sum of the elites' qualities.
    pub qd_score: f64,
    /// The highest elite quality; `None` for an empty archive.
    pub best_quality: Option<f64>,
    /// The mean elite quality; `None` for an empty archive.
    pub mean_quality: Option<f64>,
}

impl ArchiveStats {
    /// The statistics of an archive as it stands.
    pub fn of<G>(archive: &Archive<G>) -> Self {
        let (qd_score, best) = archive
            .qualities()
            .fold((0.0, None::<f64>), |(sum, best), q| {
                (sum + q, Some(best.map_or(q, |b| b.max(q))))
            });
        let elites = archive.len() as u64;
        ArchiveStats {
            elites,
            coverage: elites as f64 / archive.cell_count() as f64,
            qd_score,
            best_quality: best,
            mean_quality: (elites > 0).then(|| qd_score / elites as f64),
        }
    }
}

/// The statistics of every archive (in task order) after one generation was inserted;
/// generation 0 is the state after seeding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationStats {
    /// The last inserted generation.
    pub generation: u64,
    /// One entry per archive, in configured task order.
    pub archives: Vec<ArchiveStats>,
}

/// The CSV header written by [`write_csv`].
pub const CSV_HEADER: &str =
    "generation,archive,elites,coverage,qd_score,best_quality,mean_quality";

/// Writes one CSV row per archive and generation; `tasks` names the archives. Empty
/// archives leave best and mean quality blank.
pub fn write_csv(
    stats: &[GenerationStats],
    tasks: &[String],
    out: &mut impl Write,
) -> io::Result<()> {
    writeln!(out, "{CSV_HEADER}")?;
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    for row in stats {
        for (task, a) in tasks.iter().zip(&row.archives) {
            writeln!(
                out,
                "{},{},{},{},{},{},{}",
                row.generation,
                csv_field(task),
                a.elites,
                a.coverage,
                a.qd_score,
                opt(a.best_quality),
                opt(a.mean_quality)
            )?;
        }
    }
    Ok(())
}

/// Quotes a field when it holds a comma, quote or newline (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::axis::BcAxis;
    use crate::individual::{Individual, IndividualId};
    use std::sync::Arc;

    #[test]
    fn stats_of_an_archive() {
        let axes: Vec<BcAxis> = (0..2).map(|_| BcAxis::new(0.0, 1.0, 4).unwrap()).collect();
        let mut a = Archive::new(1, &axes);
        let empty = ArchiveStats::of(&a);
        assert_eq!(
            (empty.elites, empty.best_quality, empty.mean_quality),
            (0, None, None)
        );
        for (i, s) in [[0.1, 0.5], [0.9, 0.25], [0.12, 0.75]]
            .into_iter()
            .enumerate()
        {
            a.offer(&Arc::new(Individual {
                id: IndividualId(i as u64),
                generation: 0,
                parents: vec![],
                scores: s.to_vec(),
                genome: (),
            }));
        }
        let s = ArchiveStats::of(&a);
        assert_eq!(s.elites, 2);
        assert_eq!(s.coverage, 0.5);
        assert_eq!(s.qd_score, 0.75 + 0.25);
        assert_eq!(s.best_quality, Some(0.75));
        assert_eq!(s.mean_quality, Some(0.5));
    }

    #[test]
    fn csv_rows_per_archive_and_generation() {
        let a = ArchiveStats {
            elites: 3,
            coverage: 0.25,
            qd_score: 1.5,
            best_quality: Some(0.75),
            mean_quality: Some(0.5),
        };
        let empty = ArchiveStats {
            elites: 0,
            coverage: 0.0,
            qd_score: 0.0,
            best_quality: None,
            mean_quality: None,
        };
        let rows = vec![GenerationStats {
            generation: 4,
            archives: vec![a, empty],
        }];
        let mut out = Vec::new();
        write_csv(&rows, &["os".into(), "a,b".into()], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            format!("{CSV_HEADER}\n4,os,3,0.25,1.5,0.75,0.5\n4,\"a,b\",0,0,0,,\n")
        );
    }
}
