//! The stage kinds: the one list of the pipeline's stage binaries and what the orchestrator must know of each
//! (its crate, the parameters it accepts, how it takes its inputs).

use serde::{Deserialize, Serialize};

/// One kind of stage binary (`nnqft-<kind>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageKind {
    Sample,
    Moments,
    Fit,
    Flow,
    Report,
}

impl StageKind {
    /// Every kind, in pipeline order.
    pub const ALL: [StageKind; 5] = [
        StageKind::Sample,
        StageKind::Moments,
        StageKind::Fit,
        StageKind::Flow,
        StageKind::Report,
    ];

    /// The name used in pipeline files, locks and binary names.
    pub fn name(self) -> &'static str {
        match self {
            StageKind::Sample => "sample",
            StageKind::Moments => "moments",
            StageKind::Fit => "fit",
            StageKind::Flow => "flow",
            StageKind::Report => "report",
        }
    }

    pub fn parse(s: &str) -> Option<StageKind> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The stage's crate (`crates/<kind>`, package `nnqft-<kind>`) and binary name.
    pub fn package(self) -> String {
        format!("nnqft-{}", self.name())
    }

    /// Parameters a pipeline may give this stage (each becomes `--name=value`, or a key of the sample stage's
    /// parameter file).
    pub fn params(self) -> &'static [&'static str] {
        match self {
            StageKind::Sample => &[
                "arch",
                "d",
                "width",
                "widths",
                "depth",
                "d_out",
                "sigma_w",
                "sigma_b",
                "points",
                "n_bags",
                "n_nets",
                "seed",
                "covariance",
            ],
            StageKind::Moments => &["estimator", "max_n"],
            StageKind::Fit => &["sweep", "cutoff", "cutoffs", "ranges", "bootstrap", "seed"],
            StageKind::Flow => &["at", "d", "sigma_w", "u4", "u6", "k_end_ratio", "rtol", "samples"],
            StageKind::Report => &["title", "strict"],
        }
    }

    /// Whether the stage reads upstream artifacts (every kind but sample).
    pub fn takes_inputs(self) -> bool {
        self != StageKind::Sample
    }

    /// Whether the stage may be split into bag shards.
    pub fn shardable(self) -> bool {
        self == StageKind::Sample
    }

    /// Whether the stage is handed the run summary (and its key covers it): the report.
    pub fn reads_run_summary(self) -> bool {
        self == StageKind::Report
    }

    /// Whether the parameters go in a JSON file (`--params FILE`) rather than flags.
    pub fn params_in_file(self) -> bool {
        self == StageKind::Sample
    }

    /// The flag that introduces an input of kind `upstream`, if the stage wants one (the report tells its
    /// fit, flow and moments inputs apart); else inputs are positional.
    pub fn input_flag(self, upstream: StageKind) -> Option<&'static str> {
        match (self, upstream) {
            (StageKind::Report, StageKind::Flow) => Some("--flow"),
            (StageKind::Report, StageKind::Moments) => Some("--moments"),
            (StageKind::Report, _) => Some("--fit"),
            _ => None,
        }
    }
}

impl std::fmt::Display for StageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_the_crates() {
        for k in StageKind::ALL {
            assert_eq!(StageKind::parse(k.name()), Some(k));
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{}\"", k.name()));
            let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../crates")
                .join(k.name())
                .join("Cargo.toml");
            let text = std::fs::read_to_string(&manifest).unwrap();
            assert!(
                text.contains(&format!("name = \"{}\"", k.package())),
                "{}",
                manifest.display()
            );
        }
        assert_eq!(StageKind::parse("momentz"), None);
    }
}
