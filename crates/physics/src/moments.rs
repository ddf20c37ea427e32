//! Per-bag sums of products f(x_{a_1}) ... f(x_{a_n}) over networks, for every multiset of sizes 2, 4, 6 (and 8,
//! [`Tree::with_orders`]); the same tree over the entries of the conditional covariance S_h gives the power sums of
//! the conditional-Gaussian estimator (crate::conditional).
//!
//! Products share prefixes: walking the multisets depth-first in lexicographic order, the product at a node is
//! its parent's product times one more factor, so every multiset costs one multiplication per network. Networks
//! are processed in column-major chunks so that the inner loops vectorise. Sums are per bag and accumulated in
//! a fixed order, so shards of bags merge exactly (DESIGN.md "Scale-out").
//!
//! Besides the sum, each node keeps the sum of |product|, of product^2 and the largest |product|: the tail
//! diagnostic (effective sample size, largest single share) of [`TailStats`].

use crate::combos::multisets;

/// Orders of the Green functions computed by default ([`Tree::new`]).
pub const ORDERS: [usize; 3] = [2, 4, 6];
/// The largest order any tree computes (eight-point functions, PHYSICS.md 11).
pub const MAX_ORDER: usize = 8;

/// One node of the depth-first product tree.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node {
    depth: usize,
    point: usize,
    /// Output slot when the node's multiset has a requested order.
    slot: Option<usize>,
}

/// The product tree for P points and a set of orders ([`ORDERS`] by default).
#[derive(Debug, Clone)]
pub struct Tree {
    p: usize,
    /// The largest order: the depth of the tree.
    max: usize,
    pub(crate) nodes: Vec<Node>,
    /// Output slots: (order, multiset), orders ascending (2 first, then 4, then 6), each lexicographic.
    combos: Vec<(usize, Vec<u16>)>,
}

impl Tree {
    /// The tree of the orders in [`ORDERS`] (2, 4, 6).
    pub fn new(p: usize) -> Self {
        Self::with_orders(p, &ORDERS)
    }

    /// The tree whose output slots are the multisets of the given orders (each in 1..=[`MAX_ORDER`]). The
    /// products of a slot do not depend on which other orders the tree has, so its sums are bit for bit the same
    /// in every tree that has its order.
    pub fn with_orders(p: usize, orders: &[usize]) -> Self {
        let mut orders = orders.to_vec();
        orders.sort_unstable();
        orders.dedup();
        assert!(
            orders.first().is_some_and(|&o| o >= 1) && orders.last().is_some_and(|&o| o <= MAX_ORDER),
            "orders {orders:?} must lie in 1..={MAX_ORDER}"
        );
        let max = *orders.last().expect("checked");
        let mut combos = Vec::new();
        let mut counters = [0usize; MAX_ORDER + 1];
        for &n in &orders {
            counters[n] = combos.len();
            combos.extend(multisets(p, n).into_iter().map(|c| (n, c)));
        }
        struct Walk<'a> {
            p: usize,
            max: usize,
            orders: &'a [usize],
            nodes: Vec<Node>,
            counters: [usize; MAX_ORDER + 1],
        }
        fn rec(w: &mut Walk<'_>, depth: usize, start: usize) {
            for a in start..w.p {
                let d = depth + 1;
                let slot = if w.orders.contains(&d) {
                    w.counters[d] += 1;
                    Some(w.counters[d] - 1)
                } else {
                    None
                };
                w.nodes.push(Node {
                    depth: d,
                    point: a,
                    slot,
                });
                if d < w.max {
                    rec(w, d, a);
                }
            }
        }
        let mut walk = Walk {
            p,
            max,
            orders: &orders,
            nodes: Vec::new(),
            counters,
        };
        rec(&mut walk, 0, 0);
        Tree {
            p,
            max,
            nodes: walk.nodes,
            combos,
        }
    }

    /// The largest order (the tree's depth).
    pub fn max_order(&self) -> usize {
        self.max
    }

    /// Nodes of the tree: one product per network each.
    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// (order, multiset) of every output slot.
    pub fn combos(&self) -> &[(usize, Vec<u16>)] {
        &self.combos
    }

    pub fn n_points(&self) -> usize {
        self.p
    }
}

/// Running sums of one bag.
#[derive(Debug, Clone, PartialEq)]
pub struct BagSums {
    pub count: u64,
    pub sum: Vec<f64>,
    pub abs: Vec<f64>,
    pub sq: Vec<f64>,
    pub max_abs: Vec<f64>,
}

impl BagSums {
    pub fn new(n_slots: usize) -> Self {
        BagSums {
            count: 0,
            sum: vec![0.0; n_slots],
            abs: vec![0.0; n_slots],
            sq: vec![0.0; n_slots],
            max_abs: vec![0.0; n_slots],
        }
    }

    /// Adds `other`, accumulated over later networks of the same bag.
    pub fn merge(&mut self, other: &BagSums) {
        self.count += other.count;
        for i in 0..self.sum.len() {
            self.sum[i] += other.sum[i];
            self.abs[i] += other.abs[i];
            self.sq[i] += other.sq[i];
            self.max_abs[i] = self.max_abs[i].max(other.max_abs[i]);
        }
    }
}

/// Networks per chunk of the vectorised inner loop.
pub const CHUNK: usize = 256;

impl Tree {
    /// Adds `n` networks given column-major (`cols[p][k]` = f_k(x_p), each column of length n).
    pub fn accumulate(&self, cols: &[&[f64]], sums: &mut BagSums) {
        self.accumulate_weighted(cols, None, sums)
    }

    /// As [`Tree::accumulate`], with every network's products multiplied by `weights[k]` (quadrature).
    pub fn accumulate_weighted(&self, cols: &[&[f64]], weights: Option<&[f64]>, sums: &mut BagSums) {
        assert_eq!(cols.len(), self.p, "one column per point");
        tree_sums(&self.nodes, self.max, cols, weights, sums);
        sums.count += cols.first().map_or(0, |c| c.len()) as u64;
    }
}

/// The body of [`Tree::accumulate_weighted`] (without the count), compiled for each vector level by
/// [`tree_sums`]: plain IEEE arithmetic in a fixed order, so every level gives the same bits as the baseline
/// build always did.
#[inline(always)]
fn tree_sums_body(nodes: &[Node], max: usize, cols: &[&[f64]], weights: Option<&[f64]>, sums: &mut BagSums) {
    let n = cols.first().map_or(0, |c| c.len());
    let max_depth = max;
    let mut stack = vec![[0.0f64; CHUNK]; max_depth + 1];
    let mut start = 0;
    while start < n {
        let len = CHUNK.min(n - start);
        match weights {
            Some(w) => stack[0][..len].copy_from_slice(&w[start..start + len]),
            None => stack[0][..len].fill(1.0),
        }
        for node in nodes {
            let (lower, upper) = stack.split_at_mut(node.depth);
            let parent = &lower[node.depth - 1][..len];
            let cur = &mut upper[0][..len];
            let col = &cols[node.point][start..start + len];
            for k in 0..len {
                cur[k] = parent[k] * col[k];
            }
            if let Some(slot) = node.slot {
                let (mut s, mut a, mut q, mut m) = ([0.0f64; 4], [0.0f64; 4], [0.0f64; 4], [0.0f64; 4]);
                let full = len / 4 * 4;
                for k in (0..full).step_by(4) {
                    for l in 0..4 {
                        let x = cur[k + l];
                        s[l] += x;
                        a[l] += x.abs();
                        q[l] += x * x;
                        // A plain select (one vmaxpd) rather than f64::max, whose NaN rule costs two more
                        // instructions per value (13% of the stage's instructions); both ignore a NaN x,
                        // and m never is one.
                        let ax = x.abs();
                        m[l] = if ax > m[l] { ax } else { m[l] };
                    }
                }
                for k in full..len {
                    let x = cur[k];
                    s[0] += x;
                    a[0] += x.abs();
                    q[0] += x * x;
                    m[0] = m[0].max(x.abs());
                }
                sums.sum[slot] += (s[0] + s[1]) + (s[2] + s[3]);
                sums.abs[slot] += (a[0] + a[1]) + (a[2] + a[3]);
                sums.sq[slot] += (q[0] + q[1]) + (q[2] + q[3]);
                sums.max_abs[slot] = sums.max_abs[slot].max(m[0].max(m[1]).max(m[2].max(m[3])));
            }
        }
        start += len;
    }
}

crate::multiversion! {
    /// [`tree_sums_body`] with the widest vectors the CPU has.
    pub(crate) fn tree_sums / tree_sums_at(nodes: &[Node], max: usize, cols: &[&[f64]], weights: Option<&[f64]>, sums: &mut BagSums) => tree_sums_body
}

impl Tree {
    /// As [`Tree::accumulate`] without the tail statistics: only `sums.sum` and `sums.count` change.
    pub fn accumulate_sums(&self, cols: &[&[f64]], sums: &mut BagSums) {
        assert_eq!(cols.len(), self.p, "one column per point");
        let n = cols.first().map_or(0, |c| c.len());
        let mut stack = vec![[0.0f64; CHUNK]; self.max + 1];
        let mut start = 0;
        while start < n {
            let len = CHUNK.min(n - start);
            stack[0][..len].fill(1.0);
            for node in &self.nodes {
                let (lower, upper) = stack.split_at_mut(node.depth);
                let parent = &lower[node.depth - 1][..len];
                let cur = &mut upper[0][..len];
                let col = &cols[node.point][start..start + len];
                for k in 0..len {
                    cur[k] = parent[k] * col[k];
                }
                if let Some(slot) = node.slot {
                    let mut s = [0.0f64; 4];
                    let full = len / 4 * 4;
                    for k in (0..full).step_by(4) {
                        for l in 0..4 {
                            s[l] += cur[k + l];
                        }
                    }
                    for &x in &cur[full..len] {
                        s[0] += x;
                    }
                    sums.sum[slot] += (s[0] + s[1]) + (s[2] + s[3]);
                }
            }
            start += len;
        }
        sums.count += n as u64;
    }
}

/// Adds the values of one slot over a chunk of networks to its running sums (sum, sum |x|, sum x^2, max |x|),
/// as [`Tree::accumulate`] does for its slots (inlined, so that it is compiled for its caller's vector level).
#[inline(always)]
pub fn add_stats(values: &[f64], sums: &mut BagSums, slot: usize) {
    // Eight lanes (one AVX-512 register each): with four, the lanes were scalarised.
    const L: usize = 8;
    let (mut s, mut a, mut q, mut m) = ([0.0f64; L], [0.0f64; L], [0.0f64; L], [0.0f64; L]);
    let mut blocks = values.chunks_exact(L);
    for c in &mut blocks {
        let c: &[f64; L] = c.try_into().expect("a block");
        // One statistic at a time: each loop is one vector operation.
        for l in 0..L {
            s[l] += c[l];
        }
        for l in 0..L {
            a[l] += c[l].abs();
        }
        for l in 0..L {
            q[l] += c[l] * c[l];
        }
        for l in 0..L {
            let ax = c[l].abs();
            m[l] = if ax > m[l] { ax } else { m[l] };
        }
    }
    for &x in blocks.remainder() {
        s[0] += x;
        a[0] += x.abs();
        q[0] += x * x;
        m[0] = m[0].max(x.abs());
    }
    let sum = |v: &[f64; L]| ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
    sums.sum[slot] += sum(&s);
    sums.abs[slot] += sum(&a);
    sums.sq[slot] += sum(&q);
    sums.max_abs[slot] = sums.max_abs[slot].max(m.iter().fold(0.0f64, |x, &y| x.max(y)));
}

/// Tail diagnostic of one estimator pooled over all networks (PHYSICS.md 8).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TailStats {
    /// Effective sample size (sum |p|)^2 / sum p^2 of the products p over networks.
    pub ess: f64,
    /// Share of sum |p| carried by the single largest |p|.
    pub max_share: f64,
}

/// Minimum effective sample size for an n-point estimate (n <= 4) to count as resolvable.
///
/// For Gaussian f the ratio ess / networks is (E|f^n|)^2 / E f^2n: 0.64 (n = 2), 0.09 (n = 4), 0.0216 (n = 6),
/// so light-tailed ensembles of the usual sizes have ess in the thousands. Measured on the ELS setting
/// (GaussNet, sigma_b = 1, 30000 networks): every n = 6 estimate that misses its exact value by more than five
/// standard errors has ess < 20 (N = 2, 10), while every estimate within errors has ess >= 400 or is n <= 4.
pub const ESS_MIN: f64 = 100.0;
/// Minimum effective sample size for six-point estimates. Measured on the HMS protocol (10 x 30000 nets): ReLU
/// and Erf six-point estimates at N = 2-5 (ess 200-900) have skewed sampling distributions whose 95% bootstrap
/// intervals miss the exact values; from ess ~1000 on (N >= 10) they agree.
pub const ESS_MIN_6: f64 = 1000.0;

/// Safety factor of the a-priori log-normal rule [`lognormal_budget`].
///
/// PHYSICS.md 8: a GaussNet n-point estimate is dominated by rare networks unless the number of hidden units
/// drawn, bags x nets x N, is much larger than exp(n^2 s / 2). Measured on the ELS protocol (30 x 30000 nets,
/// sigma_b = 1): every six-point estimate (ratio <= 14) misses its exact value, many by 5-12 standard errors,
/// although their effective sample sizes reach 1e4: the missing rare networks are simply absent from the
/// sample, which no sample statistic can reveal. Four-point estimates miss by about 4 standard errors at ratio
/// 1.2 (N = 4) and agree from ratio ~3000 on. Resolvable therefore needs ratio >= 3000.
pub const TAIL_SAFETY: f64 = 3000.0;

/// For GaussNet: (hidden units drawn) / exp(n^2 s_max / 2) for a combination, s_max the largest pre-activation
/// variance among its points; `None` for the light-tailed activations.
pub fn lognormal_budget(cfg: &crate::Config, combo: &[u16], hidden_units: f64) -> Option<f64> {
    if cfg.arch() != crate::Arch::GaussNet {
        return None;
    }
    let n = combo.len() as f64;
    let s_max = combo.iter().map(|&a| cfg.s(a as usize)).fold(0.0, f64::max);
    Some(hidden_units / (n * n * s_max / 2.0).exp())
}

impl TailStats {
    /// Pools the per-bag statistics of one slot.
    pub fn pooled(bags: &[BagSums], slot: usize) -> Self {
        let refs: Vec<&BagSums> = bags.iter().collect();
        Self::pooled_refs(&refs, slot)
    }

    /// [`TailStats::pooled`] of bags held elsewhere (the same sums in the same order).
    pub fn pooled_refs(bags: &[&BagSums], slot: usize) -> Self {
        let abs: f64 = bags.iter().map(|b| b.abs[slot]).sum();
        let sq: f64 = bags.iter().map(|b| b.sq[slot]).sum();
        let max = bags.iter().map(|b| b.max_abs[slot]).fold(0.0, f64::max);
        if abs == 0.0 {
            return TailStats {
                ess: 0.0,
                max_share: 1.0,
            };
        }
        TailStats {
            ess: abs * abs / sq,
            max_share: max / abs,
        }
    }

    /// The effective-sample-size part of the tail rule for an n-point estimate.
    pub fn resolvable(&self, n: usize) -> bool {
        self.ess >= if n >= 6 { ESS_MIN_6 } else { ESS_MIN }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_sums_equal_naive_products() {
        let p = 4;
        let tree = Tree::new(p);
        let n = 300; // more than one chunk, with a remainder
        let cols: Vec<Vec<f64>> = (0..p)
            .map(|q| {
                (0..n)
                    .map(|k| ((k * 7 + q * 13) % 17) as f64 / 8.0 - 1.0)
                    .collect()
            })
            .collect();
        let refs: Vec<&[f64]> = cols.iter().map(|c| c.as_slice()).collect();
        let mut sums = BagSums::new(tree.combos().len());
        tree.accumulate(&refs, &mut sums);
        assert_eq!(sums.count, n as u64);
        for (slot, (_, combo)) in tree.combos().iter().enumerate() {
            let naive: f64 = (0..n)
                .map(|k| combo.iter().map(|&a| cols[a as usize][k]).product::<f64>())
                .sum();
            let scale: f64 = (0..n)
                .map(|k| combo.iter().map(|&a| cols[a as usize][k]).product::<f64>().abs())
                .sum();
            assert!(
                (sums.sum[slot] - naive).abs() <= 1e-12 * scale.max(1.0),
                "{combo:?}"
            );
            assert!((sums.abs[slot] - scale).abs() <= 1e-12 * scale.max(1.0));
        }
        assert_eq!(tree.combos().len(), 10 + 35 + 84);
        // The eight-point tree gives the same sums, bit for bit, for the orders they share.
        let tree8 = Tree::with_orders(p, &[2, 4, 6, 8]);
        assert_eq!(tree8.combos().len(), 10 + 35 + 84 + 165);
        assert_eq!(tree8.combos()[..129], tree.combos()[..]);
        let mut sums8 = BagSums::new(tree8.combos().len());
        tree8.accumulate(&refs, &mut sums8);
        assert_eq!(sums8.sum[..129], sums.sum[..]);
        assert_eq!(sums8.sq[..129], sums.sq[..]);
        let (slot, combo) = (200, &tree8.combos()[200].1);
        let naive: f64 = (0..n)
            .map(|k| combo.iter().map(|&a| cols[a as usize][k]).product::<f64>())
            .sum();
        assert!((sums8.sum[slot] - naive).abs() <= 1e-12 * naive.abs().max(1.0));
    }
}
