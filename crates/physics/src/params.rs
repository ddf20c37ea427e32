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
}

impl Arch {
    /// Lower-case name used on command lines and in artifacts.
    pub fn name(self) -> &'static str {
        match self {
            Arch::GaussNet => "gaussnet",
            Arch::Erf => "erf",
            Arch::Relu => "relu",
        }
    }

    /// Parses `gaussnet`, `erf` or `relu` (case-insensitive).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "gaussnet" | "gauss" => Ok(Arch::GaussNet),
            "erf" => Ok(Arch::Erf),
            "relu" => Ok(Arch::Relu),
            other => Err(format!(
                "architecture '{other}' is unknown: expected gaussnet, erf or relu"
            )),
        }
    }
}

/// One ensemble configuration: architecture, input dimension, width, variances and input points.
///
/// Fields are private so that a `Config` always satisfies PHYSICS.md 1: N >= 1, d >= 1, sigma_W > 0,
/// sigma_b >= 0, at least one point, every coordinate finite and every point of dimension d.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    arch: Arch,
    d: usize,
    width: u64,
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
    /// Validates and builds a configuration; `points` is one `Vec` of d coordinates per point.
    pub fn new(
        arch: Arch,
        d: usize,
        width: u64,
        sigma_w: f64,
        sigma_b: f64,
        points: &[Vec<f64>],
    ) -> Result<Self, Error> {
        if d == 0 {
            return Err(Error::ZeroDim(d));
        }
        if width == 0 {
            return Err(Error::ZeroWidth(width));
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
            width,
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
    pub fn width(&self) -> u64 {
        self.width
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
    /// Same configuration at another width (for exact curves across N).
    pub fn with_width(&self, width: u64) -> Result<Self, Error> {
        Config::new(
            self.arch,
            self.d,
            width,
            self.sigma_w,
            self.sigma_b,
            &self.points(),
        )
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
    fn covariance_matches_definition() {
        let c = Config::new(Arch::GaussNet, 2, 3, 2.0, 0.5, &[vec![1.0, 2.0], vec![-1.0, 0.5]]).unwrap();
        // sigma_b^2 + sigma_W^2 x.y / d = 0.25 + 4 * (-1 + 1) / 2
        assert_eq!(c.c(0, 1), 0.25);
        assert_eq!(c.s(0), 0.25 + 4.0 * 5.0 / 2.0);
        assert_eq!(c.n_points(), 2);
    }
}
