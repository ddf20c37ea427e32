//! The ensemble's parameters (PHYSICS.md 1), validated at construction.

use crate::Error;
use serde::{Deserialize, Serialize};

/// Hidden-layer activation, with its normalisation (PHYSICS.md 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// g = exp(z - s(x)), s(x) = sigma_b^2 + sigma_W^2 |x|^2 / d (current sigma_W, sigma_b and d).
    GaussNet,
    /// g = erf(z).
    Erf,
    /// g = max(z, 0).
    Relu,
    /// g = tanh(z).
    Tanh,
    /// g = z (a deep linear network).
    Linear,
    /// g = z Phi(z) = (z/2) (1 + erf(z / sqrt 2)) (exact GELU, not the tanh approximation).
    Gelu,
    /// g = z / (1 + exp(-z)) (swish with beta = 1, also called SiLU).
    Swish,
}

/// The activations, in the order listed in messages.
pub const ARCHS: [Arch; 7] = [
    Arch::GaussNet,
    Arch::Erf,
    Arch::Relu,
    Arch::Tanh,
    Arch::Linear,
    Arch::Gelu,
    Arch::Swish,
];

impl Arch {
    /// Lower-case name used on command lines and in artifacts.
    pub fn name(self) -> &'static str {
        match self {
            Arch::GaussNet => "gaussnet",
            Arch::Erf => "erf",
            Arch::Relu => "relu",
            Arch::Tanh => "tanh",
            Arch::Linear => "linear",
            Arch::Gelu => "gelu",
            Arch::Swish => "swish",
        }
    }

    /// Parses `gaussnet`, `erf` or `relu` (case-insensitive).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "gaussnet" | "gauss" => Ok(Arch::GaussNet),
            "erf" => Ok(Arch::Erf),
            "relu" => Ok(Arch::Relu),
            "tanh" => Ok(Arch::Tanh),
            "linear" => Ok(Arch::Linear),
            "gelu" => Ok(Arch::Gelu),
            "swish" | "silu" => Ok(Arch::Swish),
            other => Err(format!(
                "architecture '{other}' is unknown: expected gaussnet, erf, relu, tanh, linear, gelu or swish"
            )),
        }
    }
}

/// Largest number of hidden layers accepted (a guard against absurd input; deeper nets are not useful here).
pub const MAX_DEPTH: usize = 1000;
/// Largest number of outputs accepted (each output is a column per point of the sample table).
pub const MAX_D_OUT: usize = 4096;

/// One ensemble configuration: activation, input dimension, hidden widths, outputs, variances and input points.
///
/// Fields are private so that a `Config` always satisfies PHYSICS.md 1 and 10: every width >= 1, at least one
/// hidden layer (GaussNet: exactly one), d >= 1, d_out >= 1, sigma_W > 0, sigma_b >= 0, at least one point,
/// every coordinate finite and every point of dimension d.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    arch: Arch,
    d: usize,
    /// Hidden widths n_1 .. n_L (L >= 1).
    widths: Vec<u64>,
    /// Number of outputs.
    d_out: usize,
    sigma_w: f64,
    sigma_b: f64,
    /// Point-major, `points.len() == n_points * d`.
    points: Vec<f64>,
}

fn finite(name: &str, value: f64) -> Result<f64, Error> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(Error::NonFinite {
            name: name.to_string(),
            value,
        })
    }
}

impl Config {
    /// Validates and builds a one-hidden-layer, one-output configuration; `points` is one `Vec` of d
    /// coordinates per point.
    pub fn new(
        arch: Arch,
        d: usize,
        width: u64,
        sigma_w: f64,
        sigma_b: f64,
        points: &[Vec<f64>],
    ) -> Result<Self, Error> {
        Self::deep(arch, d, &[width], 1, sigma_w, sigma_b, points)
    }

    /// Validates and builds a configuration with hidden widths `widths` (n_1 .. n_L) and `d_out` outputs
    /// (PHYSICS.md 10).
    pub fn deep(
        arch: Arch,
        d: usize,
        widths: &[u64],
        d_out: usize,
        sigma_w: f64,
        sigma_b: f64,
        points: &[Vec<f64>],
    ) -> Result<Self, Error> {
        if d == 0 {
            return Err(Error::ZeroDim(d));
        }
        if widths.is_empty() {
            return Err(Error::NoLayers);
        }
        if widths.len() > MAX_DEPTH {
            return Err(Error::Count {
                name: "depth (number of widths)",
                value: widths.len() as u64,
                why: "at most 1000 hidden layers are accepted",
            });
        }
        if let Some(layer) = widths.iter().position(|&w| w == 0) {
            return Err(if widths.len() == 1 {
                Error::ZeroWidth(0)
            } else {
                Error::ZeroLayerWidth { layer: layer + 1 }
            });
        }
        if arch == Arch::GaussNet && widths.len() > 1 {
            return Err(Error::GaussNetDepth(widths.len()));
        }
        if d_out == 0 {
            return Err(Error::ZeroOutputs);
        }
        if d_out > MAX_D_OUT {
            return Err(Error::Count {
                name: "d_out",
                value: d_out as u64,
                why: "at most 4096 outputs are accepted",
            });
        }
        finite("sigma_W", sigma_w)?;
        if sigma_w <= 0.0 {
            return Err(Error::SigmaW(sigma_w));
        }
        finite("sigma_b", sigma_b)?;
        if sigma_b < 0.0 {
            return Err(Error::SigmaB(sigma_b));
        }
        if points.is_empty() {
            return Err(Error::EmptyPoints);
        }
        let mut flat = Vec::with_capacity(points.len() * d);
        for (index, p) in points.iter().enumerate() {
            if p.len() != d {
                return Err(Error::PointDim {
                    index,
                    got: p.len(),
                    expected: d,
                });
            }
            for (j, &v) in p.iter().enumerate() {
                finite(&format!("points[{index}][{j}]"), v)?;
                flat.push(v);
            }
        }
        Ok(Config {
            arch,
            d,
            widths: widths.to_vec(),
            d_out,
            sigma_w,
            sigma_b,
            points: flat,
        })
    }

    pub fn arch(&self) -> Arch {
        self.arch
    }
    pub fn d(&self) -> usize {
        self.d
    }
    /// Width of the last hidden layer (N for one hidden layer; the width of a net of equal widths).
    pub fn width(&self) -> u64 {
        *self.widths.last().expect("at least one layer")
    }
    /// Hidden widths n_1 .. n_L.
    pub fn widths(&self) -> &[u64] {
        &self.widths
    }
    /// Number of hidden layers L.
    pub fn depth(&self) -> usize {
        self.widths.len()
    }
    /// Number of outputs.
    pub fn d_out(&self) -> usize {
        self.d_out
    }
    /// One hidden layer and one output: the two papers' setting, with its exact finite-N theory and its own
    /// sampler.
    pub fn is_shallow_scalar(&self) -> bool {
        self.widths.len() == 1 && self.d_out == 1
    }
    pub fn sigma_w(&self) -> f64 {
        self.sigma_w
    }
    pub fn sigma_b(&self) -> f64 {
        self.sigma_b
    }
    /// Number of input points P.
    pub fn n_points(&self) -> usize {
        self.points.len() / self.d
    }
    /// Coordinates of point `i`.
    pub fn point(&self, i: usize) -> &[f64] {
        &self.points[i * self.d..(i + 1) * self.d]
    }
    /// All points as one `Vec` each.
    pub fn points(&self) -> Vec<Vec<f64>> {
        (0..self.n_points()).map(|i| self.point(i).to_vec()).collect()
    }
    /// Pre-activation covariance c(x_i, x_j) = sigma_b^2 + sigma_W^2 x_i . x_j / d.
    pub fn c(&self, i: usize, j: usize) -> f64 {
        let dot: f64 = self.point(i).iter().zip(self.point(j)).map(|(a, b)| a * b).sum();
        self.sigma_b * self.sigma_b + self.sigma_w * self.sigma_w * dot / self.d as f64
    }
    /// Pre-activation variance s(x_i) = c(x_i, x_i).
    pub fn s(&self, i: usize) -> f64 {
        self.c(i, i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts() -> Vec<Vec<f64>> {
        vec![vec![0.1], vec![0.2]]
    }

    #[test]
    fn rejects_each_invalid_parameter() {
        assert_eq!(
            Config::new(Arch::Erf, 1, 0, 1.0, 0.0, &pts()),
            Err(Error::ZeroWidth(0))
        );
        assert_eq!(
            Config::new(Arch::Erf, 0, 1, 1.0, 0.0, &pts()),
            Err(Error::ZeroDim(0))
        );
        assert_eq!(
            Config::new(Arch::Erf, 1, 1, 0.0, 0.0, &pts()),
            Err(Error::SigmaW(0.0))
        );
        assert_eq!(
            Config::new(Arch::Erf, 1, 1, -1.0, 0.0, &pts()),
            Err(Error::SigmaW(-1.0))
        );
        assert_eq!(
            Config::new(Arch::Erf, 1, 1, 1.0, -0.5, &pts()),
            Err(Error::SigmaB(-0.5))
        );
        assert!(matches!(
            Config::new(Arch::Erf, 1, 1, f64::NAN, 0.0, &pts()),
            Err(Error::NonFinite { .. })
        ));
        assert!(matches!(
            Config::new(Arch::Erf, 1, 1, 1.0, f64::INFINITY, &pts()),
            Err(Error::NonFinite { .. })
        ));
        assert_eq!(
            Config::new(Arch::Erf, 1, 1, 1.0, 0.0, &[]),
            Err(Error::EmptyPoints)
        );
        assert_eq!(
            Config::new(Arch::Erf, 2, 1, 1.0, 0.0, &pts()),
            Err(Error::PointDim {
                index: 0,
                got: 1,
                expected: 2
            })
        );
        let bad = vec![vec![0.1], vec![f64::NAN]];
        let e = Config::new(Arch::Erf, 1, 1, 1.0, 0.0, &bad).unwrap_err();
        assert!(e.to_string().contains("points[1][0]"), "{e}");
    }

    #[test]
    fn rejects_bad_depths_and_outputs() {
        let deep = |arch, widths: &[u64], d_out| Config::deep(arch, 1, widths, d_out, 1.0, 0.0, &pts());
        assert_eq!(deep(Arch::Relu, &[], 1), Err(Error::NoLayers));
        assert_eq!(
            deep(Arch::Relu, &[3, 0, 2], 1),
            Err(Error::ZeroLayerWidth { layer: 2 })
        );
        assert_eq!(deep(Arch::Relu, &[0], 1), Err(Error::ZeroWidth(0)));
        assert_eq!(deep(Arch::GaussNet, &[3, 3], 1), Err(Error::GaussNetDepth(2)));
        assert_eq!(deep(Arch::Relu, &[3], 0), Err(Error::ZeroOutputs));
        assert!(matches!(
            deep(Arch::Relu, &vec![2; MAX_DEPTH + 1], 1),
            Err(Error::Count { .. })
        ));
        assert!(matches!(
            deep(Arch::Relu, &[2], MAX_D_OUT + 1),
            Err(Error::Count { .. })
        ));
        let c = deep(Arch::GaussNet, &[3], 2).unwrap();
        assert_eq!(
            (c.depth(), c.d_out(), c.width(), c.is_shallow_scalar()),
            (1, 2, 3, false)
        );
        let c = deep(Arch::Tanh, &[4, 5, 6], 1).unwrap();
        assert_eq!((c.depth(), c.width(), c.widths()), (3, 6, &[4u64, 5, 6][..]));
        for arch in ARCHS {
            assert_eq!(Arch::parse(arch.name()), Ok(arch));
        }
        assert!(
            Arch::parse("softplus")
                .unwrap_err()
                .contains("'softplus' is unknown")
        );
    }

    #[test]
    fn covariance_matches_definition() {
        let c = Config::new(Arch::GaussNet, 2, 3, 2.0, 0.5, &[vec![1.0, 2.0], vec![-1.0, 0.5]]).unwrap();
        // sigma_b^2 + sigma_W^2 x.y / d = 0.25 + 4 * (-1 + 1) / 2
        assert_eq!(c.c(0, 1), 0.25);
        assert_eq!(c.s(0), 0.25 + 4.0 * 5.0 / 2.0);
        assert_eq!(c.n_points(), 2);
    }
}
