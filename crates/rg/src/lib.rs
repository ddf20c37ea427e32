//! The renormalisation group of nnqft (PHYSICS.md 6): a generic embedded Runge-Kutta solver ([`ode`]) and the
//! local-potential-approximation flow of (ubar_2, ubar_4, ubar_6) with the Litim regulator, its fixed points and
//! their stability exponents ([`lpa`]).
//!
//! Its own crate so that the stage identity (which hashes the sources of a stage and of every workspace crate it
//! depends on) of `sample`, `moments` and `fit` does not include it: editing the flow re-runs only `flow` and
//! `report`. Like `nnqft-physics` it does no I/O and never panics on user input.

pub mod error;
pub mod lpa;
pub mod ode;

pub use error::Error;
