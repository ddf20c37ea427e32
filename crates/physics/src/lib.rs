//! Physics core of nnqft: the neural-network field theory of random networks (one hidden layer as in the papers;
//! any depth, output dimension and activation, PHYSICS.md 10).
//!
//! Formulas follow `shared/PHYSICS.md` (Halverson-Maiti-Stoner arXiv:2008.08601, Erbin-Lahoche-Samary
//! arXiv:2108.01403). This crate does no I/O and never panics on user input: every constructor validates its
//! arguments and returns a typed [`Error`].

pub mod activation;
pub mod combos;
pub mod conditional;
pub mod couplings;
pub mod deep;
pub mod error;
pub mod exact;
pub mod exact8;
pub mod fastexp;
pub mod kernel;
pub mod moments;
pub mod nngp;
pub mod normal;
pub mod params;
pub mod quad;
pub mod relu_exact;
pub mod sampler;
pub mod simd;
pub mod tol;
pub mod vertex;

pub use error::Error;
pub use params::{Arch, Config};
