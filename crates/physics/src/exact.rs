//! Exact finite-N moments (PHYSICS.md 4): C_n = E[g(x_1)...g(x_n)], the cumulants kappa_4 and kappa_6,
//! and the exact Green functions built from them. These are the project's test oracles.
//!
//! f - b1 is a sum of N i.i.d. terms W1_i g_i, so
//! kappa_4 = (sigma_W^4/N) [3 C_4 - sum_3 C_2 C_2] and
//! kappa_6 = (sigma_W^6/N^2) [15 C_6 - 3 sum_15 C_4 C_2 + 2 sum_15 C_2 C_2 C_2] hold exactly at every N.
//!
//! Eight legs (PHYSICS.md 11): kappa_8 = N kappa_8(h), the joint cumulant of h = W1 g from the moments
//! E[h(x_a1)..h(x_ak)] = E[W1^k] C_k (E[W1^8] = 105 sigma_W^8/N^4) over the 379 set partitions into even blocks,
//! and G^(8), DeltaG^(8) from the cumulants of f over the same partitions ([`crate::exact8`]). C_8 is tabulated
//! on the first eight-point query: GaussNet's closed form, ReLU's polar integral on one grid cut at every
//! point's kinks, the smooth activations' 2-D grid (halved by symmetry for odd activations). Cost on this
//! 2-core machine (example `exact8_cost`): at P = 6 (1287 multisets) at most 0.4-0.6 s for the table (Erf,
//! sigma_b > 0; the rest < 0.01 s) and 0.05 s for G, DeltaG and G_c of every multiset; at P = 12 (75582) 9-19 s
//! (Erf, sigma_b > 0; others < 0.1 s) and 1.2-1.9 s.

use crate::combos::Index;
use crate::combos::{multisets, pair_and_rest6, pairings};
use crate::exact8::{self, CTable, Functions};
use crate::kernel;
use crate::moments::{BagSums, Tree};
use crate::quad::{Rule, legendre};
use crate::{Arch, Config, Error};
use std::cmp::Ordering;
use std::f64::consts::PI;
use std::sync::OnceLock;

/// (2j - 1)!! for j = 0..4: E[W^(2j)] / Var(W)^j of a normal W.
const DOUBLE_FACTORIAL_ODD: [f64; 5] = [1.0, 1.0, 3.0, 15.0, 105.0];

/// Half-width (in standard deviations) of the W0 and b0 integration ranges for Erf; the normal density beyond
/// is below 1e-18, far under double precision relative to the integrals here. Composite Gauss-Legendre is used
/// rather than Gauss-Hermite because erf grows like exp(y^2) off the real axis, where Gauss-Hermite converges
/// slowly.
const ERF_RANGE: f64 = 9.0;

/// Quadrature resolution for the Erf grid; `refine` doubles it (used to check convergence).
#[derive(Debug, Clone, Copy)]
pub struct Resolution {
    /// Gauss-Legendre panels over W0 in [-ERF_RANGE, ERF_RANGE].
    pub w_panels: usize,
    /// Gauss-Legendre nodes per panel (Erf).
    pub nodes: usize,
    /// Gauss-Legendre nodes per kink segment (ReLU); a segment can span pi, where cos(6t) needs ~30 nodes.
    pub seg_nodes: usize,
    /// Gauss-Legendre panels over b0 (Erf with sigma_b > 0).
    pub b_panels: usize,
}

impl Default for Resolution {
    fn default() -> Self {
        Resolution {
            w_panels: 192,
            nodes: 10,
            seg_nodes: 40,
            b_panels: 32,
        }
    }
}

impl Resolution {
    pub fn refine(self) -> Self {
        Resolution {
            w_panels: self.w_panels * 2,
            nodes: self.nodes + 4,
            seg_nodes: self.seg_nodes * 2,
            b_panels: self.b_panels * 2,
        }
    }
}

/// Exact moments of one configuration: a table of C_n for every multiset of sizes 2, 4 and 6, and of size 8
/// on first use (built lazily: the quadrature of C_8 dominates the cost at many points).
pub struct Exact {
    cfg: Config,
    res: Resolution,
    index: Index,
    c: Vec<f64>,
    k: Vec<f64>,
    /// C_2 .. C_8 indexed by multiset rank, for the eight-point functions.
    table: OnceLock<CTable>,
}

impl std::fmt::Debug for Exact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exact").field("cfg", &self.cfg).finish()
    }
}

/// `true` when the configuration has the one-hidden-layer exact moments of [`Exact`] (any number of outputs).
pub fn supported(cfg: &Config) -> bool {
    cfg.depth() == 1 && (cfg.arch() == Arch::GaussNet || cfg.d() == 1)
}

/// Composite Gauss-Legendre nodes on [-ERF_RANGE, ERF_RANGE] with the standard normal density in the weights.
fn normal_panels(panels: usize, gl: &Rule) -> Vec<(f64, f64)> {
    let h = 2.0 * ERF_RANGE / panels as f64;
    let mut out = Vec::with_capacity(panels * gl.nodes.len());
    for k in 0..panels {
        let mid = -ERF_RANGE + (k as f64 + 0.5) * h;
        for (x, w) in gl.nodes.iter().zip(&gl.weights) {
            let t = mid + 0.5 * h * x;
            out.push((t, 0.5 * h * w * (-0.5 * t * t).exp() / (2.0 * PI).sqrt()));
        }
    }
    out
}

/// The 2-D quadrature grid of the smooth activations: weights of the nodes (W0, b0) and, per point, the
/// activation g(sigma_W x w + sigma_b b) at every node.
///
/// With `fold` (odd activations and even orders only) the grid keeps the half-plane w > 0 (and w = 0, b >= 0)
/// with doubled weights: the product of an even number of odd g is even under (w, b) -> (-w, -b), and the grid
/// is symmetric, so the sum is the same and costs half.
fn smooth_grid(cfg: &Config, res: Resolution, fold: bool) -> (Vec<f64>, Vec<Vec<f64>>) {
    let (sw, sb, p, arch) = (cfg.sigma_w(), cfg.sigma_b(), cfg.n_points(), cfg.arch());
    let gl = legendre(res.nodes);
    let wn = normal_panels(res.w_panels, &gl);
    let bn = if sb == 0.0 {
        vec![(0.0, 1.0)]
    } else {
        normal_panels(res.b_panels, &gl)
    };
    let mut weights = Vec::with_capacity(wn.len() * bn.len());
    let mut g = vec![Vec::with_capacity(wn.len() * bn.len()); p];
    for &(w, ww) in &wn {
        for &(b, wb) in &bn {
            let factor = match (fold, w.total_cmp(&0.0), b.total_cmp(&0.0)) {
                (false, _, _) => 1.0,
                (true, Ordering::Less, _) | (true, Ordering::Equal, Ordering::Less) => continue,
                (true, Ordering::Equal, Ordering::Equal) => 1.0,
                (true, _, _) => 2.0,
            };
            weights.push(factor * ww * wb);
            for (a, ga) in g.iter_mut().enumerate() {
                ga.push(crate::activation::apply(arch, sw * cfg.point(a)[0] * w + sb * b));
            }
        }
    }
    (weights, g)
}

/// The ReLU polar integral of PHYSICS.md 4 on one grid for all points: the kinks of every point cut [0, 2pi]
/// into segments on which each max(cos(t - phi_a), 0) is smooth (a trigonometric polynomial for the product),
/// each with `seg_nodes` Gauss-Legendre nodes. Returns weights (including 1/2pi) and the columns
/// rho_a max(cos(t - phi_a), 0); C_n is E[r^n] times the weighted sum of products.
fn relu_grid(cfg: &Config, res: Resolution) -> (Vec<f64>, Vec<Vec<f64>>) {
    let (sw, sb, p) = (cfg.sigma_w(), cfg.sigma_b(), cfg.n_points());
    let rho: Vec<f64> = (0..p)
        .map(|a| (sw * sw * cfg.point(a)[0].powi(2) + sb * sb).sqrt())
        .collect();
    let phi: Vec<f64> = (0..p).map(|a| sb.atan2(sw * cfg.point(a)[0])).collect();
    let mut cuts = vec![0.0, 2.0 * PI];
    for a in 0..p {
        for s in [-0.5 * PI, 0.5 * PI] {
            cuts.push((phi[a] + s).rem_euclid(2.0 * PI));
        }
    }
    cuts.sort_by(f64::total_cmp);
    let rule = legendre(res.seg_nodes);
    let mut weights = Vec::new();
    let mut cols = vec![Vec::new(); p];
    for seg in cuts.windows(2) {
        let (mid, half) = (0.5 * (seg[0] + seg[1]), 0.5 * (seg[1] - seg[0]));
        if half <= 0.0 {
            continue;
        }
        for (x, w) in rule.nodes.iter().zip(&rule.weights) {
            let t = mid + half * x;
            weights.push(half * w / (2.0 * PI));
            for (a, col) in cols.iter_mut().enumerate() {
                col.push(rho[a] * (t - phi[a]).cos().max(0.0));
            }
        }
    }
    (weights, cols)
}

/// C_8 for every multiset of eight points, in lexicographic order (PHYSICS.md 11): GaussNet's closed form, the
/// ReLU polar integral and the smooth activations' 2-D grid, the last two through [`exact8::tabulate`].
fn c8_table(cfg: &Config, res: Resolution) -> Vec<f64> {
    let p = cfg.n_points();
    match cfg.arch() {
        Arch::GaussNet => multisets(p, 8)
            .iter()
            .map(|m| c_gauss(cfg, &m.iter().map(|&a| a as usize).collect::<Vec<_>>()))
            .collect(),
        Arch::Relu => {
            let (weights, cols) = relu_grid(cfg, res);
            // E[r^8] = 2^4 Gamma(5).
            let r8 = 16.0 * 24.0;
            exact8::tabulate(&cols, &weights, 8)
                .into_iter()
                .map(|v| r8 * v)
                .collect()
        }
        arch @ (Arch::Erf | Arch::Tanh | Arch::Linear | Arch::Gelu | Arch::Swish) => {
            let odd = matches!(arch, Arch::Erf | Arch::Tanh | Arch::Linear);
            let (weights, cols) = smooth_grid(cfg, res, odd);
            exact8::tabulate(&cols, &weights, 8)
        }
    }
}

/// C_n for GaussNet: exp(sum_{a<b} c(x_a, x_b) - (1/2) sum_a s(x_a)) (log-normal algebra).
fn c_gauss(cfg: &Config, idx: &[usize]) -> f64 {
    let mut e = 0.0;
    for a in 0..idx.len() {
        e -= 0.5 * cfg.s(idx[a]);
        for b in a + 1..idx.len() {
            e += cfg.c(idx[a], idx[b]);
        }
    }
    e.exp()
}

/// C_n for ReLU at d = 1 by the polar form of PHYSICS.md 4, integrated piecewise between the kinks.
fn c_relu(rho: &[f64], phi: &[f64], rule: &Rule, idx: &[usize]) -> f64 {
    let n = idx.len();
    let rn = 2f64.powf(n as f64 / 2.0) * libm::tgamma(1.0 + n as f64 / 2.0);
    let scale: f64 = idx.iter().map(|&a| rho[a]).product();
    if scale == 0.0 {
        return 0.0;
    }
    let mut cuts = vec![0.0, 2.0 * PI];
    for &a in idx {
        for s in [-0.5 * PI, 0.5 * PI] {
            cuts.push((phi[a] + s).rem_euclid(2.0 * PI));
        }
    }
    cuts.sort_by(f64::total_cmp);
    let integrand = |t: f64| idx.iter().map(|&a| (t - phi[a]).cos().max(0.0)).product::<f64>();
    let mut total = 0.0;
    for seg in cuts.windows(2) {
        let (lo, hi) = (seg[0], seg[1]);
        let (mid, half) = (0.5 * (lo + hi), 0.5 * (hi - lo));
        // Between kinks the integrand is either zero throughout or smooth; the midpoint tells which.
        if half <= 0.0 || integrand(mid) == 0.0 {
            continue;
        }
        for (x, w) in rule.nodes.iter().zip(&rule.weights) {
            total += half * w * integrand(mid + half * x);
        }
    }
    rn * scale * total / (2.0 * PI)
}

impl Exact {
    /// Exact moments with the default quadrature resolution.
    pub fn new(cfg: &Config) -> Result<Self, Error> {
        Self::with_resolution(cfg, Resolution::default())
    }

    pub fn with_resolution(cfg: &Config, res: Resolution) -> Result<Self, Error> {
        if cfg.depth() > 1 {
            return Err(Error::Unsupported(format!(
                "exact finite-width moments for {} hidden layers: only one hidden layer has them (and ReLU \
                 without biases at inputs along one direction, crate::relu_exact)",
                cfg.depth()
            )));
        }
        if !supported(cfg) {
            return Err(Error::Unsupported(format!(
                "exact moments for {} at d = {} need a {}-dimensional integral; only d = 1 is implemented \
                 (GaussNet has a closed form for any d)",
                cfg.arch().name(),
                cfg.d(),
                cfg.d() + 1
            )));
        }
        let (sw, sb) = (cfg.sigma_w(), cfg.sigma_b());
        let p = cfg.n_points();
        let tree = Tree::new(p);
        let combos = tree.combos();
        let c = match cfg.arch() {
            Arch::GaussNet => combos
                .iter()
                .map(|(_, m)| c_gauss(cfg, &m.iter().map(|&a| a as usize).collect::<Vec<_>>()))
                .collect(),
            Arch::Relu => {
                let rho: Vec<f64> = (0..p)
                    .map(|a| (sw * sw * cfg.point(a)[0].powi(2) + sb * sb).sqrt())
                    .collect();
                let phi: Vec<f64> = (0..p).map(|a| sb.atan2(sw * cfg.point(a)[0])).collect();
                let rule = legendre(res.seg_nodes);
                combos
                    .iter()
                    .map(|(_, m)| {
                        c_relu(
                            &rho,
                            &phi,
                            &rule,
                            &m.iter().map(|&a| a as usize).collect::<Vec<_>>(),
                        )
                    })
                    .collect()
            }
            // Smooth activations: the 2-D Gaussian integral over (W0, b0) on a composite Gauss-Legendre grid.
            Arch::Erf | Arch::Tanh | Arch::Linear | Arch::Gelu | Arch::Swish => {
                let (weights, g) = smooth_grid(cfg, res, false);
                let cols: Vec<&[f64]> = g.iter().map(|v| v.as_slice()).collect();
                let mut sums = BagSums::new(combos.len());
                tree.accumulate_weighted(&cols, Some(&weights), &mut sums);
                sums.sum
            }
        };
        let index = Index::new(&combos.iter().map(|(_, m)| m.clone()).collect::<Vec<_>>());
        Ok(Exact {
            cfg: cfg.clone(),
            res,
            index,
            c,
            k: kernel::k_matrix(cfg),
            table: OnceLock::new(),
        })
    }

    /// The rank-indexed C_2 .. C_8 tables; C_8 is computed on the first call.
    fn table(&self) -> &CTable {
        self.table.get_or_init(|| {
            let p = self.cfg.n_points();
            let mut tables: Vec<Vec<f64>> = [2, 4, 6]
                .iter()
                .map(|&n| multisets(p, n).iter().map(|m| self.c[self.slot(m)]).collect())
                .collect();
            tables.push(c8_table(&self.cfg, self.res));
            CTable::new(p, tables)
        })
    }

    /// Slot of a multiset of order 2, 4 or 6 in `c`.
    fn slot(&self, key: &[u16]) -> usize {
        self.index
            .get(key)
            .unwrap_or_else(|| panic!("C_n of {key:?}: orders 2, 4, 6 are in the table, 8 in exact8"))
    }

    /// Builds the eight-point table now (it is otherwise built by the first eight-point query), so that its
    /// cost can be measured or paid up front.
    pub fn prepare8(&self) {
        self.table();
    }

    /// The exact G, G_0, DeltaG and G_c of the legs (x_(idx_a), output outs_a) at once, by the set-partition
    /// formula of [`exact8`]: E[h over a block] = prod_o (m_o - 1)!! (sigma_W^2/N)^(|B|/2) C_|B|. Any even number
    /// of legs from 2 to 8 (the public g, delta_g, connected use it for eight; the closed forms for 2, 4, 6 agree
    /// to 1e-14, tested); builds the C_8 table on first use.
    pub fn functions_legs(&self, idx: &[usize], outs: &[usize]) -> Functions {
        assert_eq!(idx.len(), outs.len(), "one output per leg");
        let table = self.table();
        let n = idx.len();
        let width = self.cfg.width() as f64;
        let v = self.cfg.sigma_w().powi(2) / width;
        let single = outs.iter().all(|&o| o == outs[0]);
        let moment_h = |mask: u8| {
            let mut pts = [0u16; exact8::MAX_LEGS];
            let mut os = [0usize; exact8::MAX_LEGS];
            let mut m = 0;
            for leg in 0..n {
                if mask >> leg & 1 == 1 {
                    pts[m] = idx[leg] as u16;
                    os[m] = outs[leg];
                    m += 1;
                }
            }
            // prod_o (m_o - 1)!! without allocating: (m - 1)!! for one output, else over runs of sorted outputs.
            let w = if single {
                DOUBLE_FACTORIAL_ODD[m / 2]
            } else {
                let os = &mut os[..m];
                os.sort_unstable();
                let mut w = 1.0;
                for run in os.chunk_by(|a, b| a == b) {
                    if run.len() % 2 == 1 {
                        return 0.0;
                    }
                    w *= DOUBLE_FACTORIAL_ODD[run.len() / 2];
                }
                w
            };
            w * v.powi(m as i32 / 2) * table.get(&pts[..m])
        };
        exact8::functions(n, width, moment_h, |a, b| {
            self.k_leg(idx[a], outs[a], idx[b], outs[b])
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Full kernel K(x_i, x_j) (analytic).
    pub fn k(&self, i: usize, j: usize) -> f64 {
        self.k[i * self.cfg.n_points() + j]
    }

    /// C_n(x_{idx_1}, ..., x_{idx_n}) = E[g ... g] for n in 2, 4, 6, 8 (any order of indices).
    pub fn c(&self, idx: &[usize]) -> f64 {
        let key: Vec<u16> = idx.iter().map(|&a| a as u16).collect();
        if idx.len() == 8 {
            return self.table().get(&key);
        }
        self.c[self.slot(&key)]
    }

    /// K between legs (point a, output o) and (point b, output o'): delta_(o o') K(x_a, x_b).
    fn k_leg(&self, a: usize, oa: usize, b: usize, ob: usize) -> f64 {
        if oa == ob { self.k(a, b) } else { 0.0 }
    }

    /// kappa_4 of the legs (x_(idx_a), output outs_a): with m_o legs on output o,
    /// (sigma_W^4/N) [prod_o (m_o - 1)!! C_4 - sum_3 delta delta C_2 C_2] (zero when some m_o is odd).
    pub fn kappa4_legs(&self, idx: &[usize], outs: &[usize]) -> f64 {
        if outs.iter().all(|&o| o == outs[0]) {
            return self.kappa4(idx);
        }
        let sw2 = self.cfg.sigma_w().powi(2);
        let mut sum = 0.0;
        for p in pairings(4) {
            let [(a, b), (c, d)] = [p[0], p[1]];
            if outs[a] == outs[b] && outs[c] == outs[d] {
                sum += self.c(&[idx[a], idx[b]]) * self.c(&[idx[c], idx[d]]);
            }
        }
        sw2 * sw2 / self.cfg.width() as f64 * (output_moment(outs) * self.c(idx) - sum)
    }

    /// kappa_6 of the legs (see [`Exact::kappa4_legs`]): (sigma_W^6/N^2) [M C_6 - sum_15 M(rest) delta C_4 C_2 +
    /// 2 sum_15 delta delta delta C_2 C_2 C_2], M = prod_o (m_o - 1)!!.
    pub fn kappa6_legs(&self, idx: &[usize], outs: &[usize]) -> f64 {
        if outs.iter().all(|&o| o == outs[0]) {
            return self.kappa6(idx);
        }
        let sw2 = self.cfg.sigma_w().powi(2);
        let c2 = |a: usize, b: usize| {
            if outs[a] == outs[b] {
                self.c(&[idx[a], idx[b]])
            } else {
                0.0
            }
        };
        let mut s42 = 0.0;
        for ((a, b), r) in pair_and_rest6() {
            let rest_outs = [outs[r[0]], outs[r[1]], outs[r[2]], outs[r[3]]];
            s42 +=
                output_moment(&rest_outs) * self.c(&[idx[r[0]], idx[r[1]], idx[r[2]], idx[r[3]]]) * c2(a, b);
        }
        let mut s222 = 0.0;
        for p in pairings(6) {
            s222 += p.iter().map(|&(a, b)| c2(a, b)).product::<f64>();
        }
        let n = self.cfg.width() as f64;
        sw2.powi(3) / (n * n) * (output_moment(outs) * self.c(idx) - s42 + 2.0 * s222)
    }

    /// Connected function of legs: delta K for n = 2, kappa_4, kappa_6.
    pub fn connected_legs(&self, idx: &[usize], outs: &[usize]) -> f64 {
        match idx.len() {
            2 => self.k_leg(idx[0], outs[0], idx[1], outs[1]),
            4 => self.kappa4_legs(idx, outs),
            6 => self.kappa6_legs(idx, outs),
            8 => self.functions_legs(idx, outs).connected,
            n => panic!("connected function of order {n} is not implemented (n in 2, 4, 6, 8)"),
        }
    }

    /// Free (Wick) function of legs with delta_(o o') K.
    pub fn g_free_legs(&self, idx: &[usize], outs: &[usize]) -> f64 {
        wick(idx.len(), |a, b| self.k_leg(idx[a], outs[a], idx[b], outs[b]))
    }

    /// Deviation from the free theory of legs: 0, kappa_4, sum_15 kappa_4 delta K + kappa_6.
    pub fn delta_g_legs(&self, idx: &[usize], outs: &[usize]) -> f64 {
        if outs.iter().all(|&o| o == outs[0]) {
            return self.delta_g(idx);
        }
        match idx.len() {
            2 => 0.0,
            4 => self.kappa4_legs(idx, outs),
            6 => {
                let mut s = 0.0;
                for ((a, b), r) in pair_and_rest6() {
                    let (ri, ro) = (r.map(|x| idx[x]), r.map(|x| outs[x]));
                    s += self.kappa4_legs(&ri, &ro) * self.k_leg(idx[a], outs[a], idx[b], outs[b]);
                }
                s + self.kappa6_legs(idx, outs)
            }
            8 => self.functions_legs(idx, outs).delta_g,
            n => panic!("deviation of order {n} is not implemented (n in 2, 4, 6, 8)"),
        }
    }

    /// Exact full function of legs.
    pub fn g_legs(&self, idx: &[usize], outs: &[usize]) -> f64 {
        self.g_free_legs(idx, outs) + self.delta_g_legs(idx, outs)
    }

    /// Connected four-point function kappa_4 = DeltaG^(4) (exactly 1/N).
    pub fn kappa4(&self, idx: &[usize]) -> f64 {
        let sw2 = self.cfg.sigma_w().powi(2);
        let c4 = self.c(idx);
        let mut sum = 0.0;
        for p in pairings(4) {
            sum += self.c(&[idx[p[0].0], idx[p[0].1]]) * self.c(&[idx[p[1].0], idx[p[1].1]]);
        }
        sw2 * sw2 / self.cfg.width() as f64 * (3.0 * c4 - sum)
    }

    /// Connected six-point function kappa_6 = G_c^(6) (exactly 1/N^2).
    pub fn kappa6(&self, idx: &[usize]) -> f64 {
        let sw2 = self.cfg.sigma_w().powi(2);
        let c2 = |a: usize, b: usize| self.c(&[idx[a], idx[b]]);
        let mut s42 = 0.0;
        for ((a, b), r) in pair_and_rest6() {
            s42 += self.c(&[idx[r[0]], idx[r[1]], idx[r[2]], idx[r[3]]]) * c2(a, b);
        }
        let mut s222 = 0.0;
        for p in pairings(6) {
            s222 += p.iter().map(|&(a, b)| c2(a, b)).product::<f64>();
        }
        let n = self.cfg.width() as f64;
        sw2.powi(3) / (n * n) * (15.0 * self.c(idx) - 3.0 * s42 + 2.0 * s222)
    }

    /// Connected eight-point function kappa_8 = G_c^(8) = N kappa_8(h) (exactly 1/N^3; PHYSICS.md 11).
    pub fn kappa8(&self, idx: &[usize]) -> f64 {
        self.functions_legs(idx, &[0; 8]).connected
    }

    /// Free (Wick) n-point function with the full K, for n = 2, 4, 6, 8.
    pub fn g_free(&self, idx: &[usize]) -> f64 {
        wick(idx.len(), |a, b| self.k(idx[a], idx[b]))
    }

    /// Exact connected function: K for n = 2, kappa_4, kappa_6.
    pub fn connected(&self, idx: &[usize]) -> f64 {
        match idx.len() {
            2 => self.k(idx[0], idx[1]),
            4 => self.kappa4(idx),
            6 => self.kappa6(idx),
            8 => self.kappa8(idx),
            n => panic!("connected function of order {n} is not implemented (n in 2, 4, 6, 8)"),
        }
    }

    /// Exact deviation from the free theory: 0, kappa_4, sum_15 kappa_4 K + kappa_6.
    pub fn delta_g(&self, idx: &[usize]) -> f64 {
        match idx.len() {
            2 => 0.0,
            4 => self.kappa4(idx),
            6 => {
                let mut s = 0.0;
                for ((a, b), r) in pair_and_rest6() {
                    s += self.kappa4(&[idx[r[0]], idx[r[1]], idx[r[2]], idx[r[3]]]) * self.k(idx[a], idx[b]);
                }
                s + self.kappa6(idx)
            }
            8 => self.functions_legs(idx, &[0; 8]).delta_g,
            n => panic!("deviation of order {n} is not implemented (n in 2, 4, 6, 8)"),
        }
    }

    /// Exact full n-point function G^(n) = G_0^(n) + DeltaG^(n).
    pub fn g(&self, idx: &[usize]) -> f64 {
        self.g_free(idx) + self.delta_g(idx)
    }
}

/// E[prod over legs of W1_(o_a)] / (sigma_W^2/N)^(n/2) = prod_o (m_o - 1)!! over the outputs o with m_o legs (0
/// when some m_o is odd): independent outputs share the hidden units but not their output weights.
pub fn output_moment(outs: &[usize]) -> f64 {
    let mut sorted = outs.to_vec();
    sorted.sort_unstable();
    let mut m = 1.0;
    for run in sorted.chunk_by(|a, b| a == b) {
        if run.len() % 2 == 1 {
            return 0.0;
        }
        m *= crate::activation::double_factorial(run.len() as i32 - 1);
    }
    m
}

/// Wick sum over the perfect pairings of n positions with two-point function `k(a, b)` (positions).
pub fn wick(n: usize, k: impl Fn(usize, usize) -> f64) -> f64 {
    match n {
        2 => k(0, 1),
        4 => k(0, 1) * k(2, 3) + k(0, 2) * k(1, 3) + k(0, 3) * k(1, 2),
        8 => {
            // The 105 pairings once, in the order of pairings(8) (same sum as the general arm).
            static P8: OnceLock<Vec<Vec<(usize, usize)>>> = OnceLock::new();
            P8.get_or_init(|| pairings(8))
                .iter()
                .map(|p| p.iter().map(|&(a, b)| k(a, b)).product::<f64>())
                .sum()
        }
        _ => pairings(n)
            .iter()
            .map(|p| p.iter().map(|&(a, b)| k(a, b)).product::<f64>())
            .sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quad::hermite_normal;
    use crate::tol::{ALGEBRA_REL, QUADRATURE_REL, close};

    fn cfg(arch: Arch, d: usize, sw: f64, sb: f64, pts: &[Vec<f64>]) -> Config {
        Config::new(arch, d, 7, sw, sb, pts).unwrap()
    }

    #[test]
    fn exact_two_point_moment_reproduces_analytic_kernel() {
        let pts = vec![vec![-1.0], vec![-0.3], vec![0.4], vec![1.2]];
        for arch in [Arch::GaussNet, Arch::Erf, Arch::Relu] {
            for (sw, sb) in [(1.0, 0.0), (1.3, 0.7), (2.5, 1.0)] {
                let c = cfg(arch, 1, sw, sb, &pts);
                let e = Exact::new(&c).unwrap();
                for i in 0..4 {
                    for j in 0..4 {
                        let lhs = sw * sw * e.c(&[i, j]);
                        let rhs = kernel::k_w(&c, i, j);
                        let floor = QUADRATURE_REL * (kernel::k_w(&c, i, i) * kernel::k_w(&c, j, j)).sqrt();
                        assert!(
                            close(lhs, rhs, QUADRATURE_REL) || (lhs - rhs).abs() <= floor,
                            "{arch:?} sw={sw} sb={sb} ({i},{j}) {lhs} {rhs}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn gaussnet_closed_form_matches_quadrature() {
        // C_n for d = 1 by tensor Gauss-Hermite over (w, b): g = exp(sw x w + sb b - s(x)).
        let pts = vec![vec![-0.4], vec![0.1], vec![0.5]];
        let (sw, sb) = (1.2, 0.6);
        let c = cfg(Arch::GaussNet, 1, sw, sb, &pts);
        let e = Exact::new(&c).unwrap();
        let r = hermite_normal(60);
        for idx in [
            vec![0, 1],
            vec![0, 1, 2, 2],
            vec![0, 0, 1, 1, 2, 2],
            vec![2, 2, 2, 2, 2, 2],
        ] {
            let mut q = 0.0;
            for (w, ww) in r.nodes.iter().zip(&r.weights) {
                for (b, wb) in r.nodes.iter().zip(&r.weights) {
                    let prod: f64 = idx
                        .iter()
                        .map(|&a| (sw * pts[a][0] * w + sb * b - c.s(a)).exp())
                        .product();
                    q += ww * wb * prod;
                }
            }
            assert!(close(q, e.c(&idx), QUADRATURE_REL), "{idx:?} {q} {}", e.c(&idx));
        }
    }

    #[test]
    fn quadrature_is_converged_under_refinement() {
        let pts = vec![vec![-1.0], vec![-0.2], vec![0.6], vec![1.0]];
        for arch in [Arch::Erf, Arch::Relu] {
            for (sw, sb) in [(1.0, 0.0), (3.0, 1.0), (20.0, 0.5)] {
                let c = cfg(arch, 1, sw, sb, &pts);
                let a = Exact::new(&c).unwrap();
                let b = Exact::with_resolution(&c, Resolution::default().refine()).unwrap();
                for idx in [vec![0, 1, 2, 3], vec![0, 0, 1, 2, 3, 3], vec![1, 1, 1, 1, 1, 1]] {
                    assert!(
                        close(a.c(&idx), b.c(&idx), QUADRATURE_REL),
                        "{arch:?} sw={sw} {idx:?} {} {}",
                        a.c(&idx),
                        b.c(&idx)
                    );
                }
            }
        }
    }

    #[test]
    fn relu_without_bias_has_exact_m4_and_m6() {
        // sigma_b = 0, x > 0: f = x Z, m_4 = 5/N and m_6 = 15/N + 44/N^2 for every combination.
        let pts: Vec<Vec<f64>> = (1..=6).map(|i| vec![0.2 * i as f64]).collect();
        for n in [1u64, 2, 7, 100] {
            let c = Config::new(Arch::Relu, 1, n, 1.3, 0.0, &pts).unwrap();
            let e = Exact::new(&c).unwrap();
            let nf = n as f64;
            for idx in [vec![0, 1, 2, 3], vec![5, 5, 5, 5], vec![0, 0, 2, 4]] {
                let m4 = e.delta_g(&idx) / e.g_free(&idx);
                assert!(close(m4, 5.0 / nf, QUADRATURE_REL), "N={n} {m4}");
            }
            for idx in [vec![0, 1, 2, 3, 4, 5], vec![1, 1, 3, 3, 5, 5]] {
                let m6 = e.delta_g(&idx) / e.g_free(&idx);
                assert!(
                    close(m6, 15.0 / nf + 44.0 / (nf * nf), QUADRATURE_REL),
                    "N={n} {m6}"
                );
            }
        }
    }

    #[test]
    fn erf_and_relu_beyond_one_dimension_are_unsupported() {
        let c = cfg(Arch::Erf, 2, 1.0, 0.0, &[vec![0.1, 0.2]]);
        let err = Exact::new(&c).unwrap_err();
        assert!(matches!(err, Error::Unsupported(_)));
        assert!(err.to_string().contains("d = 2"));
        assert!(Exact::new(&cfg(Arch::GaussNet, 3, 1.0, 0.0, &[vec![0.1, 0.2, 0.3]])).is_ok());
    }

    /// Two evaluations of one formula summing its terms in different orders agree to this, relative to the sum
    /// of the absolute values of the terms.
    const REORDERED_REL: f64 = 1e-14;
    /// kappa_8 under refinement of the quadrature. kappa_8(h) is a sum of 379 products of C's that cancel: for
    /// a sign-like activation (Erf at sigma_W = 20) h is nearly W1 times a sign, nearly Gaussian, and kappa_8 is
    /// about 1e-4 of its terms, so the C's 1e-12 quadrature error becomes 5e-8 (measured over all 165
    /// multisets of four points; 1e-12 to 1e-14 for Erf, ReLU and tanh at sigma_W <= 1.3).
    const KAPPA8_REFINED_REL: f64 = 1e-6;
    /// A one-dimensional composite Simpson rule (written here, independent of crate::quad) against the
    /// two-dimensional quadrature of the crate: both converged far below this.
    const ONE_D_REL: f64 = 1e-10;

    /// E[phi(Z)], Z ~ N(0, 1), by composite Simpson on [-12, 12] (independent of crate::quad).
    fn simpson_normal(phi: impl Fn(f64) -> f64) -> f64 {
        let (l, m) = (12.0, 48_000usize);
        let h = 2.0 * l / m as f64;
        let f = |z: f64| phi(z) * (-0.5 * z * z).exp() / (2.0 * PI).sqrt();
        let mut s = f(-l) + f(l);
        for i in 1..m {
            s += f(-l + i as f64 * h) * if !i.is_multiple_of(2) { 4.0 } else { 2.0 };
        }
        s * h / 3.0
    }

    /// Moments E[X^0..X^8] of one variable from its cumulants kappa[1..=8] (kappa[0] unused), by the
    /// univariate recursion m_n = sum_k C(n-1, k-1) kappa_k m_(n-k).
    fn moments_from_cumulants(kappa: &[f64; 9]) -> [f64; 9] {
        let mut m = [0.0; 9];
        m[0] = 1.0;
        for n in 1..=8 {
            m[n] = (1..=n)
                .map(|k| crate::combos::binomial(n as u64 - 1, k as u64 - 1) as f64 * kappa[k] * m[n - k])
                .sum();
        }
        m
    }

    /// Cumulants kappa[1..=8] of one variable from its moments m[0..=8] (the inverse recursion).
    fn cumulants_from_moments(m: &[f64; 9]) -> [f64; 9] {
        let mut k = [0.0; 9];
        for n in 1..=8 {
            k[n] = m[n]
                - (1..n)
                    .map(|j| crate::combos::binomial(n as u64 - 1, j as u64 - 1) as f64 * k[j] * m[n - j])
                    .sum::<f64>();
        }
        k
    }

    /// E[f^8] at one point for f = b1 + sum of N i.i.d. W1 g, from E[g^k] (k = 0..8): cumulants of one term
    /// W1 g, times N, plus sigma_b^2, back to moments.
    fn eighth_moment(n: u64, sw: f64, sb: f64, eg: &[f64; 9]) -> f64 {
        let v = sw * sw / n as f64;
        let mut mh = [0.0; 9];
        for k in 0..=8 {
            mh[k] = if k.is_multiple_of(2) {
                crate::activation::double_factorial(k as i32 - 1) * v.powi(k as i32 / 2) * eg[k]
            } else {
                0.0
            };
        }
        let mut kf = cumulants_from_moments(&mh).map(|x| n as f64 * x);
        kf[2] += sb * sb;
        moments_from_cumulants(&kf)[8]
    }

    #[test]
    fn partition_code_reproduces_the_closed_forms_of_four_and_six_legs() {
        let pts = vec![vec![-1.0], vec![-0.3], vec![0.4], vec![1.2]];
        let cases = [
            (Arch::GaussNet, 1.3, 0.7),
            (Arch::Erf, 1.5, 0.4),
            (Arch::Relu, 1.0, 0.0),
            (Arch::Relu, 1.3, 0.5),
        ];
        for (arch, sw, sb) in cases {
            for (n, d_out) in [(1u64, 1usize), (3, 1), (3, 2), (50, 3)] {
                let c = Config::deep(arch, 1, &[n], d_out, sw, sb, &pts).unwrap();
                let e = Exact::new(&c).unwrap();
                let v = sw * sw / n as f64;
                for idx in [
                    vec![0, 1, 2, 3],
                    vec![3, 3, 1, 0],
                    vec![2, 2, 2, 2],
                    vec![0, 1, 1, 2, 3, 3],
                ] {
                    let legs = idx.len();
                    // Scale: the sum of the absolute values of the closed form's terms (for kappa) and |G|.
                    let c2 = |a: usize, b: usize| e.c(&[idx[a], idx[b]]).abs();
                    let scale = if legs == 4 {
                        v * v * n as f64 * (3.0 * e.c(&idx).abs() + wick(4, c2))
                    } else {
                        let s42: f64 = pair_and_rest6()
                            .iter()
                            .map(|((a, b), r)| e.c(&r.map(|x| idx[x])).abs() * c2(*a, *b))
                            .sum();
                        v.powi(3) * n as f64 * (15.0 * e.c(&idx).abs() + 3.0 * s42 + 2.0 * wick(6, c2))
                    };
                    let outs_list: Vec<Vec<usize>> = match d_out {
                        1 => vec![vec![0; legs]],
                        2 => vec![vec![0; legs], [0, 1, 0, 1, 1, 1][..legs].to_vec(), {
                            let mut o = vec![1; legs];
                            o[0] = 0;
                            o
                        }],
                        _ => vec![[2, 0, 2, 0, 1, 1][..legs].to_vec()],
                    };
                    for outs in outs_list {
                        let f = e.functions_legs(&idx, &outs);
                        let what = format!("{arch:?} N={n} d_out={d_out} {idx:?} {outs:?}");
                        let want_k = if legs == 4 {
                            e.kappa4_legs(&idx, &outs)
                        } else {
                            e.kappa6_legs(&idx, &outs)
                        };
                        assert!(
                            (f.connected - want_k).abs() <= REORDERED_REL * scale,
                            "{what}: kappa {} vs {want_k}",
                            f.connected
                        );
                        let g = e.g_legs(&idx, &outs);
                        let gscale = e.g_free_legs(&idx, &outs).abs() + scale;
                        assert!(
                            (f.g - g).abs() <= REORDERED_REL * gscale,
                            "{what}: G {} vs {g}",
                            f.g
                        );
                        let dg = e.delta_g_legs(&idx, &outs);
                        assert!(
                            (f.delta_g - dg).abs() <= REORDERED_REL * gscale,
                            "{what}: dG {} {dg}",
                            f.delta_g
                        );
                        let g0 = e.g_free_legs(&idx, &outs);
                        assert!((f.g_free - g0).abs() <= REORDERED_REL * g0.abs(), "{what}: G0");
                        if d_out == 1 {
                            let k1 = if legs == 4 { e.kappa4(&idx) } else { e.kappa6(&idx) };
                            assert!((f.connected - k1).abs() <= REORDERED_REL * scale, "{what}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn eighth_moment_at_one_point_matches_one_dimensional_quadrature() {
        // At one point z = W0 x + b0 ~ N(0, s): E[g^k] is a 1-D integral (Simpson here), and E[f^8] follows
        // from the cumulants of the N i.i.d. terms. N = 1, sigma_b = 0 is E[W1^8] E[g^8] = 105 sigma_W^8
        // E[g^8]; N = 2 is checked by the binomial expansion of (h_1 + h_2)^8 as well.
        for arch in [Arch::Erf, Arch::Relu, Arch::GaussNet] {
            for (sw, sb, x) in [(1.5f64, 0.0f64, 0.7f64), (1.2, 0.6, -0.4), (3.0, 1.0, 1.1)] {
                let s = sb * sb + sw * sw * x * x;
                let mut eg = [0.0; 9];
                for k in 0..=8 {
                    eg[k] = match arch {
                        Arch::Erf => simpson_normal(|z| libm::erf(s.sqrt() * z).powi(k as i32)),
                        Arch::Relu => simpson_normal(|z| (s.sqrt() * z).max(0.0).powi(k as i32)),
                        // Log-normal: E[exp(k(z - s))] = exp(k^2 s/2 - k s).
                        _ => ((k * k) as f64 * s / 2.0 - k as f64 * s).exp(),
                    };
                }
                for n in [1u64, 2, 5] {
                    let c = Config::new(arch, 1, n, sw, sb, &[vec![x]]).unwrap();
                    let e = Exact::new(&c).unwrap();
                    let g = e.g(&[0; 8]);
                    let want = eighth_moment(n, sw, sb, &eg);
                    assert!(
                        close(g, want, ONE_D_REL),
                        "{arch:?} N={n} sw={sw} sb={sb}: {g} vs {want}"
                    );
                    if n == 1 && sb == 0.0 {
                        let direct = 105.0 * sw.powi(8) * eg[8];
                        assert!(close(g, direct, ONE_D_REL), "{arch:?} N=1: {g} vs {direct}");
                    }
                    if n == 2 && sb == 0.0 {
                        // E[(h_1 + h_2)^8] = sum_k C(8,k) E[h^k] E[h^(8-k)], E[h^k] = (k-1)!! (sw^2/2)^(k/2) E[g^k].
                        let mh = |k: usize| {
                            if !k.is_multiple_of(2) {
                                0.0
                            } else {
                                crate::activation::double_factorial(k as i32 - 1)
                                    * (sw * sw / 2.0).powi(k as i32 / 2)
                                    * eg[k]
                            }
                        };
                        let binom: f64 = (0..=8)
                            .map(|k| crate::combos::binomial(8, k as u64) as f64 * mh(k) * mh(8 - k))
                            .sum();
                        assert!(close(g, binom, ONE_D_REL), "{arch:?} N=2: {g} vs {binom}");
                    }
                    // kappa_8 = N kappa_8(h): N^3 kappa_8 does not depend on N.
                    let k8 = e.connected(&[0; 8]);
                    let c1 = Config::new(arch, 1, 1, sw, sb, &[vec![x]]).unwrap();
                    let k8_1 = Exact::new(&c1).unwrap().connected(&[0; 8]);
                    assert!(
                        close(k8 * (n * n * n) as f64, k8_1, ALGEBRA_REL),
                        "{arch:?} N={n}"
                    );
                    let dg = e.delta_g(&[0; 8]);
                    assert!(
                        (dg - (g - e.g_free(&[0; 8]))).abs() <= ALGEBRA_REL * g,
                        "{arch:?} N={n}: {dg}"
                    );
                }
            }
        }
    }

    #[test]
    fn gaussnet_eighth_moment_in_two_dimensions_matches_the_log_normal_moments() {
        // d = 2, one point: z ~ N(0, s), s = sigma_b^2 + sigma_W^2 |x|^2 / 2, E[g^k] = exp(k^2 s/2 - k s).
        let x = vec![0.3, -0.5];
        for (n, sw, sb) in [(1u64, 1.2, 0.0), (3, 0.8, 0.6)] {
            let c = Config::new(Arch::GaussNet, 2, n, sw, sb, std::slice::from_ref(&x)).unwrap();
            let s = sb * sb + sw * sw * (x[0] * x[0] + x[1] * x[1]) / 2.0;
            let eg = std::array::from_fn(|k| ((k * k) as f64 * s / 2.0 - k as f64 * s).exp());
            let (got, want) = (Exact::new(&c).unwrap().g(&[0; 8]), eighth_moment(n, sw, sb, &eg));
            assert!(close(got, want, ALGEBRA_REL), "N={n}: {got} vs {want}");
        }
    }

    #[test]
    fn relu_without_bias_has_the_same_m8_for_every_combination() {
        // sigma_b = 0, x > 0: f(x) = x F with F = sigma_W sum_i W1_i relu(w_i), so
        // m_8 = E[F^8] / (105 E[F^2]^4) - 1 for all 1287 combinations of six points.
        let pts: Vec<Vec<f64>> = (1..=6).map(|i| vec![0.2 * i as f64]).collect();
        for n in [1u64, 2, 7] {
            let c = Config::new(Arch::Relu, 1, n, 1.3, 0.0, &pts).unwrap();
            let e = Exact::new(&c).unwrap();
            // E[relu(w)^k] = (k-1)!!/2 for even k.
            let mut eg = [0.0; 9];
            for k in 0..=8 {
                eg[k] = if k == 0 {
                    1.0
                } else if k.is_multiple_of(2) {
                    crate::activation::double_factorial(k as i32 - 1) / 2.0
                } else {
                    0.0 // odd moments of relu(w) are not zero, but E[W1^odd] = 0 removes them
                };
            }
            let f8 = eighth_moment(n, 1.3, 0.0, &eg);
            let f2 = 1.3f64.powi(2) * 0.5;
            let m8 = f8 / (105.0 * f2.powi(4)) - 1.0;
            for m in multisets(6, 8) {
                let idx: Vec<usize> = m.iter().map(|&a| a as usize).collect();
                let got = e.delta_g(&idx) / e.g_free(&idx);
                assert!(close(got, m8, QUADRATURE_REL), "N={n} {idx:?}: {got} vs {m8}");
            }
        }
    }

    #[test]
    fn eight_legs_on_two_outputs_match_the_binomial_expansion() {
        // One point, sigma_b = 0, N = 2: f_o = W1_(1,o) g_1 + W1_(2,o) g_2 with the same g_i for both outputs.
        // E[f_0^a f_1^b] = sum_(j,k) C(a,j) C(b,k) E[W^j] E[W^k] E[g^(j+k)] E[W^(a-j)] E[W^(b-k)] E[g^(8-j-k)].
        let (sw, x) = (1.4, 0.8);
        for arch in [Arch::Erf, Arch::Relu, Arch::GaussNet] {
            let c = Config::deep(arch, 1, &[2], 2, sw, 0.0, &[vec![x]]).unwrap();
            let e = Exact::new(&c).unwrap();
            let s = sw * sw * x * x;
            let eg = |k: usize| match arch {
                Arch::Erf => simpson_normal(|z| libm::erf(s.sqrt() * z).powi(k as i32)),
                Arch::Relu => simpson_normal(|z| (s.sqrt() * z).max(0.0).powi(k as i32)),
                _ => ((k * k) as f64 * s / 2.0 - k as f64 * s).exp(),
            };
            let ew = |k: usize| {
                if !k.is_multiple_of(2) {
                    0.0
                } else {
                    crate::activation::double_factorial(k as i32 - 1) * (sw * sw / 2.0).powi(k as i32 / 2)
                }
            };
            let bin = |n: usize, k: usize| crate::combos::binomial(n as u64, k as u64) as f64;
            for a in [8usize, 6, 4, 2, 0, 5] {
                let b = 8 - a;
                let mut want = 0.0;
                for j in 0..=a {
                    for k in 0..=b {
                        want += bin(a, j)
                            * bin(b, k)
                            * ew(j)
                            * ew(k)
                            * eg(j + k)
                            * ew(a - j)
                            * ew(b - k)
                            * eg(8 - j - k);
                    }
                }
                let outs: Vec<usize> = (0..8).map(|l| usize::from(l >= a)).collect();
                let got = e.g_legs(&[0; 8], &outs);
                let scale = want.abs().max(e.g_free_legs(&[0; 8], &[0; 8]) * ALGEBRA_REL);
                assert!(
                    (got - want).abs() <= ONE_D_REL * scale,
                    "{arch:?} {a}+{b}: {got} vs {want}"
                );
                let sum = e.g_free_legs(&[0; 8], &outs) + e.delta_g_legs(&[0; 8], &outs);
                assert!((got - sum).abs() <= ALGEBRA_REL * scale);
            }
        }
    }

    #[test]
    fn relu_without_bias_eight_legs_on_several_outputs_match_the_chi_squared_law() {
        // sigma_b = 0, x_p > 0: given the hidden layer the outputs are i.i.d. N(0, x_p x_q S), S = sigma_W^2 T,
        // T = (sigma_W^2/N) sum_j relu(xi_j)^2 = (sigma_W^2/N) chi^2 with B ~ Binomial(N, 1/2) degrees of
        // freedom, so E[prod of 8 legs] = prod_a x_a prod_o (m_o - 1)!! sigma_W^8 (sigma_W^2/N)^4
        // E[B(B+2)(B+4)(B+6)] (crate::relu_exact), whatever the multiset and the outputs.
        let pts: Vec<Vec<f64>> = [0.3, 0.7, 1.1, 1.6].iter().map(|&x| vec![x]).collect();
        let sw = 1.3f64;
        let outs_list: [[usize; 8]; 5] = [
            [0; 8],
            [0, 0, 0, 0, 1, 1, 1, 1],
            [1, 0, 1, 0, 1, 1, 0, 0],
            [2, 2, 0, 0, 1, 1, 1, 1],
            [0, 0, 0, 1, 1, 1, 2, 2],
        ];
        for n in [1u64, 2, 7] {
            let c = Config::deep(Arch::Relu, 1, &[n], 3, sw, 0.0, &pts).unwrap();
            let e = Exact::new(&c).unwrap();
            let rising = crate::relu_exact::binomial_rising2(n, 4);
            for m in multisets(4, 8).iter().step_by(7) {
                let idx: Vec<usize> = m.iter().map(|&a| a as usize).collect();
                for outs in &outs_list {
                    let want = idx.iter().map(|&a| pts[a][0]).product::<f64>()
                        * output_moment(outs)
                        * sw.powi(8)
                        * (sw * sw / n as f64).powi(4)
                        * rising;
                    let got = e.g_legs(&idx, outs);
                    let what = format!("N={n} {idx:?} {outs:?}");
                    if want == 0.0 {
                        assert!(got == 0.0, "{what}: {got}");
                    } else {
                        assert!(close(got, want, QUADRATURE_REL), "{what}: {got} vs {want}");
                    }
                }
            }
        }
    }

    #[test]
    fn eight_point_quadrature_is_converged_and_matches_independent_rules() {
        // The default resolution `a` against the refined one `b`: C_8 and kappa_8 agree.
        let converged = |a: &Exact, b: &Exact, idx: &[usize], what: &str| {
            assert!(
                close(a.c(idx), b.c(idx), QUADRATURE_REL),
                "{what}: {} {}",
                a.c(idx),
                b.c(idx)
            );
            let (ka, kb) = (a.connected(idx), b.connected(idx));
            assert!(close(ka, kb, KAPPA8_REFINED_REL), "{what}: kappa_8 {ka} {kb}");
        };
        let pts = vec![vec![-1.0], vec![-0.2], vec![0.6], vec![1.0]];
        let idx8 = [
            vec![0, 1, 2, 3, 0, 1, 2, 3],
            vec![0, 0, 1, 1, 2, 2, 3, 3],
            vec![1; 8],
            vec![0, 3, 3, 3, 3, 3, 3, 3],
        ];
        for arch in [Arch::Erf, Arch::Relu] {
            for (sw, sb) in [(1.0, 0.0), (3.0, 1.0), (20.0, 0.5)] {
                let c = cfg(arch, 1, sw, sb, &pts);
                let a = Exact::new(&c).unwrap();
                let b = Exact::with_resolution(&c, Resolution::default().refine()).unwrap();
                let rule = legendre(Resolution::default().seg_nodes);
                let (rho, phi): (Vec<f64>, Vec<f64>) = pts
                    .iter()
                    .map(|x| ((sw * sw * x[0] * x[0] + sb * sb).sqrt(), sb.atan2(sw * x[0])))
                    .unzip();
                for idx in &idx8 {
                    let what = format!("{arch:?} sw={sw} sb={sb} {idx:?}");
                    converged(&a, &b, idx, &what);
                    if arch == Arch::Relu {
                        // The per-multiset kink partition of C_2..C_6 gives the same C_8.
                        let own = c_relu(&rho, &phi, &rule, idx);
                        assert!(close(a.c(idx), own, QUADRATURE_REL), "{what}: {} {own}", a.c(idx));
                    }
                }
                // The eight-point tabulation at order 6 reproduces the table of C_6.
                let (weights, cols) = if arch == Arch::Relu {
                    relu_grid(&c, Resolution::default())
                } else {
                    smooth_grid(&c, Resolution::default(), true)
                };
                let t6 = exact8::tabulate(&cols, &weights, 6);
                let r6 = if arch == Arch::Relu { 8.0 * 6.0 } else { 1.0 };
                for (slot, m) in multisets(4, 6).iter().enumerate() {
                    let idx: Vec<usize> = m.iter().map(|&x| x as usize).collect();
                    assert!(
                        close(r6 * t6[slot], a.c(&idx), QUADRATURE_REL),
                        "{arch:?} {idx:?}"
                    );
                }
            }
        }
        // The other smooth activations on the same grid: converged under refinement; the linear activation
        // against its closed form, C_8 = the Wick sum of c(x_a, x_b).
        for arch in [Arch::Tanh, Arch::Gelu, Arch::Swish, Arch::Linear] {
            for (sw, sb) in [(1.0, 0.0), (1.3, 0.6)] {
                let c = cfg(arch, 1, sw, sb, &pts);
                let a = Exact::new(&c).unwrap();
                let b = Exact::with_resolution(&c, Resolution::default().refine()).unwrap();
                for idx in &idx8 {
                    let what = format!("{arch:?} sw={sw} sb={sb} {idx:?}");
                    converged(&a, &b, idx, &what);
                    if arch == Arch::Linear {
                        let want = wick(8, |x, y| c.c(idx[x], idx[y]));
                        assert!(
                            close(a.c(idx), want, QUADRATURE_REL),
                            "{what}: {} {want}",
                            a.c(idx)
                        );
                    }
                }
            }
        }
        // GaussNet's closed form against tensor Gauss-Hermite.
        let (sw, sb) = (1.2, 0.6);
        let pts = vec![vec![-0.4], vec![0.1], vec![0.5]];
        let c = cfg(Arch::GaussNet, 1, sw, sb, &pts);
        let e = Exact::new(&c).unwrap();
        let r = hermite_normal(80);
        for idx in [
            vec![0, 1, 2, 0, 1, 2, 0, 1],
            vec![2; 8],
            vec![0, 0, 0, 0, 1, 1, 2, 2],
        ] {
            let mut q = 0.0;
            for (w, ww) in r.nodes.iter().zip(&r.weights) {
                for (b, wb) in r.nodes.iter().zip(&r.weights) {
                    let prod: f64 = idx
                        .iter()
                        .map(|&a| (sw * pts[a][0] * w + sb * b - c.s(a)).exp())
                        .product();
                    q += ww * wb * prod;
                }
            }
            assert!(close(q, e.c(&idx), QUADRATURE_REL), "{idx:?} {q} {}", e.c(&idx));
        }
    }

    #[test]
    fn wick_sums_on_hand_checkable_cases() {
        // All K = 1: G0^(4) = 3, G0^(6) = 15. Single point: G0^(4) = 3 K^2.
        assert_eq!(wick(4, |_, _| 1.0), 3.0);
        assert_eq!(wick(6, |_, _| 1.0), 15.0);
        assert_eq!(wick(4, |_, _| 2.0), 12.0);
        // Diagonal K (independent unit variables): <x0 x0 x1 x1> = 1, <x0 x1 x2 x3> = 0.
        let idx = [0usize, 0, 1, 1];
        assert_eq!(wick(4, |a, b| if idx[a] == idx[b] { 1.0 } else { 0.0 }), 1.0);
        let idx6 = [0usize, 0, 0, 0, 1, 1];
        // <x0^4 x1^2> = 3 for independent unit normals.
        assert_eq!(wick(6, |a, b| if idx6[a] == idx6[b] { 1.0 } else { 0.0 }), 3.0);
        assert_eq!(wick(6, |a, b| if a / 3 == b / 3 { 0.0 } else { 1.0 }), 6.0);
    }
}
