//! Typed errors of the physics core.

/// Everything that can be wrong with parameters handed to the physics core.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The hidden-layer width N must be at least 1.
    #[error("width N = {0} is invalid: N must be >= 1")]
    ZeroWidth(u64),
    /// A network needs at least one hidden layer.
    #[error("widths: the list of hidden widths is empty; give at least one width (e.g. widths = [50, 50])")]
    NoLayers,
    /// Every hidden layer of a deep network needs width >= 1.
    #[error("widths: hidden layer {layer} has width 0; every width must be >= 1")]
    ZeroLayerWidth { layer: usize },
    /// GaussNet is defined (normalised) for one hidden layer only.
    #[error(
        "arch = gaussnet with {0} hidden layers is invalid: GaussNet's normalisation exp(z - s(x)) is defined for \
         one hidden layer only; give one width, or another activation (erf, relu, tanh, linear, gelu, swish)"
    )]
    GaussNetDepth(usize),
    /// The number of outputs must be at least 1.
    #[error("d_out = 0 is invalid: a network needs at least one output (d_out >= 1)")]
    ZeroOutputs,
    /// The input dimension d must be at least 1.
    #[error("input dimension d = {0} is invalid: d must be >= 1")]
    ZeroDim(usize),
    /// sigma_W must be strictly positive.
    #[error("sigma_W = {0} is invalid: sigma_W must be > 0")]
    SigmaW(f64),
    /// sigma_b must be non-negative.
    #[error("sigma_b = {0} is invalid: sigma_b must be >= 0")]
    SigmaB(f64),
    /// A parameter that must be finite was NaN or infinite.
    #[error("{name} = {value} is invalid: it must be a finite number")]
    NonFinite { name: String, value: f64 },
    /// The set of input points is empty.
    #[error("points: the point set is empty; give at least one input point")]
    EmptyPoints,
    /// A point has a different number of coordinates than the input dimension.
    #[error("points: point {index} has {got} coordinates but d = {expected}")]
    PointDim {
        index: usize,
        got: usize,
        expected: usize,
    },
    /// A count parameter (bags, nets, ...) is out of range.
    #[error("{name} = {value} is invalid: {why}")]
    Count {
        name: &'static str,
        value: u64,
        why: &'static str,
    },
    /// The requested quantity has no exact form or quadrature for this architecture and dimension.
    #[error("unsupported: {0}")]
    Unsupported(String),
}
