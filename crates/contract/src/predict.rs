//! What the theory predicts of every fitted number (PHYSICS.md 4-6), and the claims the report checks: the one
//! place where a prediction lives. `fit` writes [`predicted`] into its `predicted` column, `flow` draws the
//! active-RG lines with [`sigma_w_exponent`], and `report` checks and draws the [`WIDTH_CLAIMS`],
//! [`SIGMA_W_FAMILIES`] and [`CUTOFF_CLAIMS`] against them. A new claim is one new entry here.

use crate::fit::{Coupling, FitId, Norm, Quantity, WidthSlope};

/// The exponent of a quantity's power law in sigma_W (the rescaling identity, PHYSICS.md 6): raw couplings
/// u_n ~ sigma_W^(d-n), canonical ones u_n^phi ~ sigma_W^(n - d(n/2 - 1)), dimensionless ones constant.
pub fn sigma_w_exponent(q: Quantity, d: f64) -> Option<f64> {
    use Quantity::*;
    let (coupling, norm) = match q {
        U4Mean | U4Abs => (Coupling::U4, Some(Norm::Raw)),
        U6Mean | U6Abs => (Coupling::U6, Some(Norm::Raw)),
        U4CanonAbs => (Coupling::U4, Some(Norm::Canonical)),
        U6CanonAbs => (Coupling::U6, Some(Norm::Canonical)),
        U4Dimless => (Coupling::U4, None),
        U6Dimless => (Coupling::U6, None),
        _ => return None,
    };
    let n = coupling.order();
    Some(match norm {
        Some(Norm::Raw) => d - n,
        Some(Norm::Canonical) => n - d * (n / 2.0 - 1.0),
        None => 0.0,
    })
}

/// The predicted value of a fit in input dimension `d` (a slope, or a mean), where the theory has one.
pub fn predicted(id: FitId, d: f64) -> Option<f64> {
    match id {
        // m_4 = kappa_4 / G_0 and G_c^(4) = kappa_4 are exactly 1/N, so is u_4; G_c^(6) = kappa_6 and u_6 are 1/N^2.
        FitId::VsWidth(WidthSlope::M4 | WidthSlope::Gc4 | WidthSlope::U4) => Some(-1.0),
        FitId::VsWidth(WidthSlope::Gc6 | WidthSlope::U6) => Some(-2.0),
        // G_c^(8) = kappa_8 is exactly 1/N^3 (PHYSICS.md 11).
        FitId::VsWidth(WidthSlope::Gc8) => Some(-3.0),
        // E[m_2] = 0 exactly (K is exact at every N); m_6 = a/N + b/N^2 is not a power law.
        FitId::M2Mean => Some(0.0),
        FitId::VsSigmaW { .. } => sigma_w_exponent(id.quantity(), d),
        // HMS: lambda ~ Lambda^-(d+4) for ReLU.
        FitId::LambdaVsCutoff => Some(-(d + 4.0)),
        // A generic sweep (sigma_b, d, depth, widths, d_out) has no prediction of its own.
        FitId::VsSweep { .. } => None,
        FitId::VsWidth(WidthSlope::M2 | WidthSlope::M6)
        | FitId::M6TwoTermA
        | FitId::M6TwoTermB
        | FitId::Sign(_)
        | FitId::U4Spread => None,
    }
}

/// How a claim is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Test {
    /// The fit's interval against [`predicted`] (the alternative is 0 for a non-zero prediction).
    Value,
    /// The whole interval is above 0.
    Positive,
    /// <m_6> = a/N + b/N^2 with the exact coefficients (the fits [`FitId::M6TwoTermA`] and `B`).
    TwoTerm,
    /// u_4 is negative and its relative spread over combinations is small ([`FitId::U4Spread`]).
    ConstantNegative,
}

/// One claim of a width sweep.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    /// Stem of the check id (the report appends the dataset tag).
    pub check: &'static str,
    /// The fit that decides it.
    pub fit: FitId,
    /// The claim, with `$...$` formulas.
    pub text: &'static str,
    /// What the measured number is, for the note.
    pub what: &'static str,
    pub test: Test,
    /// The check stem of the claim whose number this one re-expresses (its group), if another.
    pub group: Option<&'static str>,
    /// Only where a u_6 exists (GaussNet's closed-form tree integral, or a value).
    pub needs_u6: bool,
    /// Why the number is fixed by construction, for when the bootstrap does not move it (empty: no known reason).
    pub fixed_by: &'static str,
}

const fn claim(check: &'static str, fit: FitId, text: &'static str, what: &'static str, test: Test) -> Claim {
    Claim {
        check,
        fit,
        text,
        what,
        test,
        group: None,
        needs_u6: false,
        fixed_by: "",
    }
}

/// Check stem of the HMS cutoff claim (its figure says when the claim is fixed by construction).
pub const RELU_LAMBDA_CUTOFF: &str = "relu_lambda_cutoff";

/// The claims of a width sweep, in report order.
pub const WIDTH_CLAIMS: &[Claim] = &[
    claim(
        "m2_zero",
        FitId::M2Mean,
        "$m_2$ is consistent with 0 ($K$ is exact at every $N$)",
        "signed mean of m_2 over combinations and N",
        Test::Value,
    ),
    claim(
        "m4_inv_N",
        FitId::VsWidth(WidthSlope::M4),
        "$m_4 ~ 1/N$",
        "slope of log <|m_4|> vs log N",
        Test::Value,
    ),
    claim(
        "m6_two_term",
        FitId::M6TwoTermA,
        "$m_6 = a/N + b/N^2$ (exact two-term form)",
        "two-term fit of <m_6>",
        Test::TwoTerm,
    ),
    Claim {
        group: Some("m4_inv_N"),
        ..claim(
            "gc4_inv_N",
            FitId::VsWidth(WidthSlope::Gc4),
            "$G_c^(4) ~ 1/N$",
            "slope of log |mean G_c^(4)| vs log N",
            Test::Value,
        )
    },
    claim(
        "gc6_inv_N2",
        FitId::VsWidth(WidthSlope::Gc6),
        "$G_c^(6) ~ 1/N^2$",
        "slope of log |mean G_c^(6)| vs log N",
        Test::Value,
    ),
    claim(
        "u4_constant_negative",
        FitId::Sign(Coupling::U4),
        "$u_4$ is constant over combinations and negative",
        "u_4 averaged over combinations and N",
        Test::ConstantNegative,
    ),
    Claim {
        group: Some("m4_inv_N"),
        ..claim(
            "u4_inv_N",
            FitId::VsWidth(WidthSlope::U4),
            "$u_4 ~ 1/N$",
            "slope of log |mean u_4| vs log N (raw field)",
            Test::Value,
        )
    },
    Claim {
        group: Some("gc6_inv_N2"),
        needs_u6: true,
        ..claim(
            "u6_inv_N2",
            FitId::VsWidth(WidthSlope::U6),
            "$u_6 ~ 1/N^2$",
            "slope of log |mean u_6| vs log N (raw field)",
            Test::Value,
        )
    },
    Claim {
        needs_u6: true,
        ..claim(
            "u6_sign",
            FitId::Sign(Coupling::U6),
            "$u_6 > 0$ (the talk argues it is needed for a stable flow)",
            "u_6 averaged over combinations and N (raw field)",
            Test::Positive,
        )
    },
];

/// The eight-point claim of a width sweep (moments with `--max-n 8`; G_c^(8) is resolvable only with the
/// conditional estimator at the usual ensemble sizes). Apart from [`WIDTH_CLAIMS`] so that a report decides how
/// to show it (its fit is absent, `n_used` 0, where the moments stopped at six points).
pub const WIDTH_CLAIMS_8: &[Claim] = &[claim(
    "gc8_inv_N3",
    FitId::VsWidth(WidthSlope::Gc8),
    "$G_c^(8) ~ 1/N^3$",
    "slope of log |mean G_c^(8)| vs log N",
    Test::Value,
)];

/// The slope claims of a sigma_W sweep for one coupling, in both normalisations (fitted over every range).
#[derive(Debug, Clone, Copy)]
pub struct SigmaWFamily {
    pub coupling: Coupling,
    /// Claim and what is measured, raw and canonical.
    pub raw: (&'static str, &'static str),
    pub canonical: (&'static str, &'static str),
}

/// The sigma_W families in report order (all u_4 claims, then all u_6 ones).
pub const SIGMA_W_FAMILIES: &[SigmaWFamily] = &[
    SigmaWFamily {
        coupling: Coupling::U4,
        raw: (
            "raw $u_4 ~ sigma_W^(d-4)$",
            "slope of log |u_4| vs log sigma_W, raw field u_4 = -DeltaG^(4)/N_K; follows from the rescaling identity",
        ),
        canonical: (
            "canonical $u_4^phi ~ sigma_W^(4-d)$",
            "slope for the canonical field phi = f_W/a (the talk's sigma_W du_4/dsigma_W = (4-d) u_4)",
        ),
    },
    SigmaWFamily {
        coupling: Coupling::U6,
        raw: (
            "raw $u_6 ~ sigma_W^(d-6)$",
            "slope of log |u_6| vs log sigma_W, raw field",
        ),
        canonical: (
            "canonical $u_6^phi ~ sigma_W^(6-2d)$",
            "slope for the canonical field",
        ),
    },
];

/// The claims of a sigma_W sweep after the families.
pub const SIGMA_W_CLAIMS: &[Claim] = &[Claim {
    needs_u6: true,
    ..claim(
        "u6_sign",
        FitId::Sign(Coupling::U6),
        "$u_6 > 0$ (the talk argues it is needed)",
        "u_6 averaged over combinations and sigma_W (raw field)",
        Test::Positive,
    )
}];

/// The claims of a cutoff scan.
pub const CUTOFF_CLAIMS: &[Claim] = &[Claim {
    fixed_by: "lambda(Lambda) = DeltaG^(4)/(24 N_K(Lambda)), and only N_K depends on Lambda: for ReLU with sigma_b = 0 \
               every N_K grows as Lambda^(d+4)",
    ..claim(
        RELU_LAMBDA_CUTOFF,
        FitId::LambdaVsCutoff,
        "ReLU $lambda ~ Lambda^-(d+4)$ (HMS)",
        "slope of log |lambda_HMS| vs log Lambda",
        Test::Value,
    )
}];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::Range;

    #[test]
    fn sigma_w_exponents_are_the_rescaling_identity() {
        // PHYSICS.md 6 at d = 1 and d = 3: raw d-4, d-6; canonical 4-d, 6-2d; dimensionless 0.
        for (d, want) in [(1.0, [-3.0, -5.0, 3.0, 4.0]), (3.0, [-1.0, -3.0, 1.0, 0.0])] {
            let got = [
                Quantity::U4Abs,
                Quantity::U6Mean,
                Quantity::U4CanonAbs,
                Quantity::U6CanonAbs,
            ]
            .map(|q| sigma_w_exponent(q, d).unwrap());
            assert_eq!(got, want, "d = {d}");
            assert_eq!(sigma_w_exponent(Quantity::U6Dimless, d), Some(0.0));
        }
        assert_eq!(sigma_w_exponent(Quantity::M4Abs, 1.0), None);
        let id = FitId::VsSigmaW {
            coupling: Coupling::U6,
            norm: Norm::Canonical,
            range: Range::UpTo(10.0),
        };
        assert_eq!(predicted(id, 2.0), Some(2.0));
        assert_eq!(predicted(FitId::LambdaVsCutoff, 1.0), Some(-5.0));
    }

    #[test]
    fn every_value_claim_has_a_prediction_and_groups_name_earlier_claims() {
        for set in [WIDTH_CLAIMS, WIDTH_CLAIMS_8, SIGMA_W_CLAIMS, CUTOFF_CLAIMS] {
            for (i, c) in set.iter().enumerate() {
                assert_eq!(
                    c.test == Test::Value,
                    predicted(c.fit, 1.0).is_some(),
                    "{}",
                    c.check
                );
                if let Some(g) = c.group {
                    assert!(set[..i].iter().any(|e| e.check == g), "{}: group {g}", c.check);
                }
            }
        }
    }
}
