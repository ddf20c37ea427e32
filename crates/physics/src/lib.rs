//! Physics core of nnqft: the neural-network field theory of one-hidden-layer networks.
//!
//! Formulas follow `shared/PHYSICS.md` (Halverson-Maiti-Stoner arXiv:2008.08601, Erbin-Lahoche-Samary
//! arXiv:2108.01403). This crate does no I/O and never panics on user input: every constructor validates its
//! arguments and returns a typed [`Error`].

pub mod combos;
pub mod couplings;
pub mod error;
pub mod exact;
pub mod fastexp;
pub mod flow;
pub mod kernel;
pub mod moments;
pub mod normal;
pub mod params;
pub mod quad;
pub mod sampler;
pub mod simd;
pub mod stats;
pub mod tol;

pub use error::Error;
pub use params::{Arch, Config};
