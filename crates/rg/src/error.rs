//! Typed errors of the RG crate.

/// What can be wrong with the arguments of a flow.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A value that must be finite was NaN or infinite.
    #[error("{name} = {value} is invalid: it must be a finite number")]
    NonFinite { name: String, value: f64 },
    /// A finite value outside the range the flow is defined on.
    #[error("{name} = {value} is invalid: {why}")]
    OutOfRange {
        name: &'static str,
        value: f64,
        why: &'static str,
    },
}

/// `Ok(v)` when `v` is finite, else [`Error::NonFinite`] naming it.
pub fn finite(name: &str, v: f64) -> Result<f64, Error> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::NonFinite {
            name: name.into(),
            value: v,
        })
    }
}
