//! The conditional-Gaussian (Rao-Blackwell) estimator of the n-point functions (PHYSICS.md 9).
//!
//! Given the last hidden layer, the outputs are Gaussian with covariance S_h (every output independently, with
//! the same S_h), so for legs (point p_a, output o_a)
//!
//! ```text
//! G^(n)    = E_h[ sum over perfect pairings of prod S_h ]
//! G_c^(2m) = sum over the (2m-1)!! pairings of kappa_m(the m matched S entries)
//! ```
//!
//! where a pair of legs on different outputs contributes 0. Both are linear in quantities of multisets of S
//! entries: per bag, the power sums s_A = sum over networks of prod_{e in A} D_e of the multisets A of up to m
//! entries (those of m entries only summed over a row's pairings, [`Conditional`]), with D = S - K
//! centred on a fixed matrix (the infinite-width kernel): cumulants of order >= 2 do not move under a constant
//! shift, the centred sums lose no digits to the mean, and since the centre is a function of the configuration
//! alone the sums stay additive, so bags and shards merge exactly. From the power sums of one bag:
//!
//! - E[prod S] = sum over sub-multisets B of A of prod_{A \ B} K * s_B / n;
//! - kappa_m by the unbiased joint k-statistics (Kendall and Stuart, "The Advanced Theory of Statistics",
//!   vol. 1, ch. 12; Fisher 1929): k_m = sum over set partitions pi of the m positions of c_type(pi)(n)
//!   prod_{B in pi} s_B, with the coefficients of [`k_statistic`].
//!
//! The per-bag values are unbiased at every bag size (n >= m networks), so the mean over bags is too and a
//! bootstrap over bags recomputes the whole chain.

use crate::combos::{n_multisets, pairings, rank};
use crate::moments::{BagSums, MAX_ORDER, TailStats, Tree};

/// Number of entries S(p, q), p <= q, of P points.
pub fn n_entries(p: usize) -> usize {
    p * (p + 1) / 2
}

/// Index of the entry S(a, b) (either order) among the [`n_entries`], row by row of the upper triangle:
/// (0,0), (0,1), ..., (0,P-1), (1,1), ...
pub fn entry(p: usize, a: usize, b: usize) -> usize {
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    // Row a starts after rows 0..a of lengths P, P - 1, ...: a P - a (a - 1) / 2.
    a * p - a * a.saturating_sub(1) / 2 + (b - a)
}

/// The points (a, b), a <= b, of entry `e`.
pub fn entry_points(p: usize, e: usize) -> (usize, usize) {
    let mut start = 0;
    for a in 0..p {
        let len = p - a;
        if e < start + len {
            return (a, a + e - start);
        }
        start += len;
    }
    panic!("entry {e} of {p} points does not exist")
}

/// Coefficient of prod_{B in pi} s_B in the joint k-statistic of order m = sum of `sizes`, for a set partition
/// pi with block sizes `sizes` (sorted descending), at n observations.
fn k_coefficient(sizes: &[usize], n: f64) -> f64 {
    match sizes {
        [1] => 1.0 / n,
        [2] => 1.0 / (n - 1.0),
        [1, 1] => -1.0 / (n * (n - 1.0)),
        _ => {
            let d3 = n * (n - 1.0) * (n - 2.0);
            let d4 = d3 * (n - 3.0);
            match sizes {
                [3] => n * n / d3,
                [2, 1] => -n / d3,
                [1, 1, 1] => 2.0 / d3,
                [4] => n * n * (n + 1.0) / d4,
                [3, 1] => -n * (n + 1.0) / d4,
                [2, 2] => -n * (n - 1.0) / d4,
                [2, 1, 1] => 2.0 * n / d4,
                [1, 1, 1, 1] => -6.0 / d4,
                _ => unreachable!("k-statistics of order <= 4"),
            }
        }
    }
}

/// Set partitions of the positions 0..m as lists of block masks.
fn set_partitions(m: usize) -> Vec<Vec<usize>> {
    fn rec(rest: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if rest == 0 {
            out.push(cur.clone());
            return;
        }
        // The block of the lowest remaining position: it plus any subset of the others.
        let low = rest & rest.wrapping_neg();
        let others = rest & !low;
        let mut sub = others;
        loop {
            cur.push(low | sub);
            rec(others & !sub, cur, out);
            cur.pop();
            if sub == 0 {
                break;
            }
            sub = (sub - 1) & others;
        }
    }
    let mut out = Vec::new();
    rec((1 << m) - 1, &mut Vec::new(), &mut out);
    out
}

/// The joint k-statistic of the m variables from their power sums: `s[mask]` = sum over observations of the
/// product of the variables in `mask` (s[0] unused), `n` observations (n >= m).
pub fn k_statistic(m: usize, s: &[f64], n: f64) -> f64 {
    assert!((1..=4).contains(&m), "k-statistics of order 1 to 4");
    set_partitions(m)
        .iter()
        .map(|pi| {
            let mut sizes: Vec<usize> = pi.iter().map(|b| b.count_ones() as usize).collect();
            sizes.sort_unstable_by(|a, b| b.cmp(a));
            k_coefficient(&sizes, n) * pi.iter().map(|&b| s[b]).product::<f64>()
        })
        .sum()
}

/// Set partitions of 1..=4 positions other than the single block, with their block-size types sorted descending.
fn proper_partitions(m: usize) -> Vec<(Vec<usize>, Vec<usize>)> {
    set_partitions(m)
        .into_iter()
        .filter(|pi| pi.len() > 1)
        .map(|pi| {
            let mut sizes: Vec<usize> = pi.iter().map(|b| b.count_ones() as usize).collect();
            sizes.sort_unstable_by(|a, b| b.cmp(a));
            (pi, sizes)
        })
        .collect()
}

/// One term of a Wick slot's recursion W(L) = sum_j [o_0 = o_j] D(p_0, p_j) W(L without legs 0 and j):
/// multiplicity, entry, and the slot of the remaining legs (none for two legs).
#[derive(Debug, Clone, Copy)]
struct WickTerm {
    mult: f64,
    entry: u32,
    child: Option<u32>,
}

/// Networks per chunk of the Wick recursion: its buffer holds every slot of a chunk (8 bytes per slot and network,
/// per thread). 64, 128 and 256 measured alike (single thread, P = 6: 0.75, 0.71, 0.69 s of CPU at n <= 6).
pub const WICK_CHUNK: usize = 128;
/// The Wick recursion of every slot over the networks of `d` (column-major centred entries), with the slots'
/// running sums added at `base + slot`; `w` holds one chunk of every slot.
#[inline(always)]
fn wick_sums_body(wick: &[Vec<WickTerm>], d: &[&[f64]], w: &mut [f64], sums: &mut BagSums, base: usize) {
    let n = d.first().map_or(0, |c| c.len());
    let mut start = 0;
    while start < n {
        let len = WICK_CHUNK.min(n - start);
        for (slot, terms) in wick.iter().enumerate() {
            let (done, rest) = w.split_at_mut(slot * WICK_CHUNK);
            let cur = &mut rest[..len];
            cur.fill(0.0);
            for t in terms {
                let de = &d[t.entry as usize][start..start + len];
                match t.child {
                    None => {
                        for k in 0..len {
                            cur[k] += t.mult * de[k];
                        }
                    }
                    Some(c) => {
                        let wc = &done[c as usize * WICK_CHUNK..c as usize * WICK_CHUNK + len];
                        for k in 0..len {
                            cur[k] += t.mult * de[k] * wc[k];
                        }
                    }
                }
            }
            crate::moments::add_stats(cur, sums, base + slot);
        }
        start += len;
    }
}

crate::multiversion! {
    /// [`wick_sums_body`] with the widest vectors the CPU has (the same bits at every level: plain IEEE arithmetic
    /// in a fixed order).
    fn wick_sums / wick_sums_at(wick: &[Vec<WickTerm>], d: &[&[f64]], w: &mut [f64], sums: &mut BagSums, base: usize) => wick_sums_body
}

/// The conditional estimator of one configuration.
///
/// Per network it accumulates two kinds of power sums of the centred entries D = S - K, in one [`BagSums`]:
/// the sums of products of every multiset of fewer than m = max_n/2 entries (a product tree, plain sums), and,
/// for every multiset of legs L (the rows), the sum of W_D(L) = sum over the pairings of L that stay on one
/// output of prod D: the full multiset of a row's k-statistic enters only through this sum over its pairings, so
/// the multisets of m entries (1.7 million at P = 12, m = 4) are never formed. W_D is built by its recursion
/// over the first leg, one multiply-add per term and network, and carries the tail statistics of the row.
#[derive(Debug, Clone)]
pub struct Conditional {
    p: usize,
    /// Entry multisets of sizes 1..max_n/2.
    tree: Tree,
    centre: Vec<f64>,
    /// First slot of the entry multisets of each size.
    offset: Vec<usize>,
    /// Leg multisets (order, legs c = o * P + p), as the products tree over legs lists them.
    legs: Vec<(usize, Vec<u16>)>,
    wick: Vec<Vec<WickTerm>>,
    /// Proper set partitions of m positions, for m = 0..=max_m.
    partitions: Vec<Vec<(Vec<usize>, Vec<usize>)>>,
}

/// How one row (a multiset of legs) is assembled: its Wick slot, and (multiplicity, entries, slot of every proper
/// sub-multiset by mask of positions) of every distinct multiset of matched entries over the pairings whose pairs
/// stay on one output.
#[derive(Debug, Clone, PartialEq)]
pub struct RowPlan {
    pub wick_slot: usize,
    pub m: usize,
    pub terms: Vec<(f64, Vec<u16>, Vec<usize>)>,
}

impl Conditional {
    /// `p` points, `d_out` outputs, orders up to `max_n` (even, 4..=8), `k` the P x P centre (row-major).
    pub fn new(p: usize, d_out: usize, max_n: usize, k: &[f64]) -> Self {
        assert!(
            (4..=MAX_ORDER).contains(&max_n) && max_n.is_multiple_of(2),
            "max_n = {max_n}"
        );
        assert_eq!(k.len(), p * p, "a P x P centre");
        let max_m = max_n / 2;
        let e = n_entries(p);
        let orders: Vec<usize> = (1..max_m).collect();
        let tree = Tree::with_orders(e, &orders);
        let centre = (0..e)
            .map(|i| {
                let (a, b) = entry_points(p, i);
                k[a * p + b]
            })
            .collect();
        let mut offset = vec![0; max_m + 1];
        for m in 1..max_m {
            offset[m + 1] = offset[m] + n_multisets(e, m);
        }
        let cols = p * d_out;
        let evens: Vec<usize> = (1..=max_m).map(|m| 2 * m).collect();
        let legs = Tree::with_orders(cols, &evens).combos().to_vec();
        let mut leg_offset = vec![0usize; max_n + 1];
        for &n in &evens[1..] {
            leg_offset[n] = leg_offset[n - 2] + n_multisets(cols, n - 2);
        }
        let wick = legs
            .iter()
            .map(|(n, l)| {
                let mut terms: Vec<WickTerm> = Vec::new();
                for j in 1..*n {
                    let (a, b) = (l[0] as usize, l[j] as usize);
                    if a / p != b / p {
                        continue;
                    }
                    let entry = entry(p, a % p, b % p) as u32;
                    let child = (*n > 2).then(|| {
                        let rest: Vec<u16> = (1..*n).filter(|&i| i != j).map(|i| l[i]).collect();
                        (leg_offset[n - 2] + rank(cols, &rest)) as u32
                    });
                    match terms.iter_mut().find(|t| t.entry == entry && t.child == child) {
                        Some(t) => t.mult += 1.0,
                        None => terms.push(WickTerm {
                            mult: 1.0,
                            entry,
                            child,
                        }),
                    }
                }
                terms
            })
            .collect();
        Conditional {
            p,
            tree,
            centre,
            offset,
            legs,
            wick,
            partitions: (0..=max_m).map(proper_partitions).collect(),
        }
    }

    pub fn n_points(&self) -> usize {
        self.p
    }

    /// The rows' leg multisets (order, legs c = o * P + p): the slots of the products tree over the legs.
    pub fn legs(&self) -> &[(usize, Vec<u16>)] {
        &self.legs
    }

    /// Slots of the sums one bag accumulates: entry multisets, then Wick slots.
    pub fn n_slots(&self) -> usize {
        self.tree.combos().len() + self.legs.len()
    }

    /// Nodes per network: of the entry tree (one product each) and terms of the Wick recursion (one multiply-add
    /// each) over its slots (four running sums each).
    pub fn work_per_network(&self) -> (usize, usize, usize) {
        (
            self.tree.n_nodes(),
            self.wick.iter().map(|t| t.len()).sum(),
            self.legs.len(),
        )
    }

    /// Centre of entry `e`.
    pub fn centre(&self, e: usize) -> f64 {
        self.centre[e]
    }

    /// Replaces S entry `e`'s values by the centred D = S - K.
    pub fn centred(&self, e: usize, values: &mut [f64]) {
        let c = self.centre[e];
        for v in values {
            *v -= c;
        }
    }

    /// Slot of a sorted multiset of fewer than max_n/2 entries.
    fn slot(&self, entries: &[u16]) -> usize {
        self.offset[entries.len()] + rank(n_entries(self.p), entries)
    }

    /// Adds networks given as centred entries, column-major (`d[e][k]` = D_e of network k).
    pub fn accumulate(&self, d: &[&[f64]], sums: &mut BagSums) {
        let n = d.first().map_or(0, |c| c.len());
        let base = self.tree.combos().len();
        // The entry tree's plain sums (its tail statistics are not used).
        let mut tree_sums = BagSums {
            count: 0,
            sum: vec![0.0; base],
            abs: Vec::new(),
            sq: Vec::new(),
            max_abs: Vec::new(),
        };
        self.tree.accumulate_sums(d, &mut tree_sums);
        for i in 0..base {
            sums.sum[i] += tree_sums.sum[i];
        }
        let mut w = vec![0.0f64; self.legs.len() * WICK_CHUNK];
        wick_sums(&self.wick, d, &mut w, sums, base);
        sums.count += n as u64;
    }

    /// The plan of the row with leg slot `row` (in the order of the products tree over the legs).
    pub fn plan(&self, row: usize) -> RowPlan {
        let (n, l) = &self.legs[row];
        let p = self.p;
        let m = n / 2;
        let mut terms: Vec<(f64, Vec<u16>, Vec<usize>)> = Vec::new();
        for pr in pairings(*n) {
            if pr.iter().any(|&(a, b)| l[a] as usize / p != l[b] as usize / p) {
                continue;
            }
            let mut es: Vec<u16> = pr
                .iter()
                .map(|&(a, b)| entry(p, l[a] as usize % p, l[b] as usize % p) as u16)
                .collect();
            es.sort_unstable();
            match terms.iter_mut().find(|t| t.1 == es) {
                Some(t) => t.0 += 1.0,
                None => {
                    // Slots of the proper non-empty sub-multisets, by mask (0 and the full mask unused).
                    let full = (1usize << m) - 1;
                    let subs = (0..=full)
                        .map(|mask| {
                            if mask == 0 || mask == full {
                                return usize::MAX;
                            }
                            let part: Vec<u16> =
                                (0..m).filter(|i| mask >> i & 1 == 1).map(|i| es[i]).collect();
                            self.slot(&part)
                        })
                        .collect();
                    terms.push((1.0, es, subs));
                }
            }
        }
        RowPlan {
            wick_slot: self.tree.combos().len() + row,
            m,
            terms,
        }
    }

    /// Per-bag G^(n) and G_c^(n) of a row from the bags' sums (in bag order).
    pub fn row(&self, plan: &RowPlan, bags: &[&BagSums]) -> (Vec<f64>, Vec<f64>) {
        let m = plan.m;
        let full = (1usize << m) - 1;
        let parts = &self.partitions[m];
        let mut g = Vec::with_capacity(bags.len());
        let mut c = Vec::with_capacity(bags.len());
        let mut s = [0.0f64; 16];
        for bag in bags {
            let n = bag.count as f64;
            let sw = bag.sum[plan.wick_slot];
            let (mut gb, mut cb) = (sw / n, 0.0);
            if m == 1 {
                // G^(2) = G_c^(2) = E[S] = K + mean D.
                let k: f64 = plan
                    .terms
                    .iter()
                    .map(|t| t.0 * self.centre[t.1[0] as usize])
                    .sum();
                g.push(k + gb);
                c.push(k + gb);
                continue;
            }
            for (mult, es, subs) in &plan.terms {
                for mask in 1..full {
                    s[mask] = bag.sum[subs[mask]];
                }
                // E[prod (K + D)] without the full product of D (in sw).
                let mut e = 0.0;
                for mask in 0..full {
                    let kk: f64 = (0..m)
                        .filter(|i| mask >> i & 1 == 0)
                        .map(|i| self.centre[es[i] as usize])
                        .product();
                    e += kk * if mask == 0 { 1.0 } else { s[mask] / n };
                }
                // The k-statistic without its single-block term (in sw).
                let kap: f64 = parts
                    .iter()
                    .map(|(pi, sizes)| k_coefficient(sizes, n) * pi.iter().map(|&x| s[x]).product::<f64>())
                    .sum();
                gb += mult * e;
                cb += mult * kap;
            }
            let single = k_coefficient(&[m], n);
            g.push(gb);
            c.push(cb + single * sw);
        }
        (g, c)
    }

    /// Tail statistics of a row: those of W_D over its networks; `None` for a row that is exactly 0 (every pairing
    /// crosses outputs).
    pub fn tail(&self, plan: &RowPlan, bags: &[&BagSums]) -> Option<TailStats> {
        (!plan.terms.is_empty()).then(|| TailStats::pooled_refs(bags, plan.wick_slot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tol::ALGEBRA_REL;

    #[test]
    fn entries_are_the_upper_triangle_row_by_row() {
        for p in 1..9 {
            let mut e = 0;
            for a in 0..p {
                for b in a..p {
                    assert_eq!(entry(p, a, b), e, "p={p} ({a},{b})");
                    assert_eq!(entry(p, b, a), e);
                    assert_eq!(entry_points(p, e), (a, b));
                    e += 1;
                }
            }
            assert_eq!(e, n_entries(p));
        }
    }

    #[test]
    fn set_partitions_are_counted_by_bell_numbers() {
        let counts: Vec<usize> = (1..=4).map(|m| set_partitions(m).len()).collect();
        assert_eq!(counts, vec![1, 2, 5, 15]);
        for pi in set_partitions(4) {
            assert_eq!(pi.iter().fold(0, |a, &b| a | b), 0b1111);
            assert_eq!(pi.iter().map(|b| b.count_ones()).sum::<u32>(), 4);
        }
    }

    fn close(a: f64, b: f64, what: &str) {
        assert!(
            (a - b).abs() <= ALGEBRA_REL * b.abs().max(1.0),
            "{what}: {a} vs {b}"
        );
    }

    #[test]
    fn univariate_k_statistics_match_the_central_moment_formulas() {
        let x = [0.3, -1.2, 2.5, 0.7, 0.1, -0.4, 1.9];
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let cm = |r: i32| x.iter().map(|v| (v - mean).powi(r)).sum::<f64>() / n;
        let mut s = [0.0; 16];
        for mask in 1..16usize {
            s[mask] = x.iter().map(|v| v.powi(mask.count_ones() as i32)).sum();
        }
        close(k_statistic(1, &s, n), mean, "k1");
        close(k_statistic(2, &s, n), n / (n - 1.0) * cm(2), "k2");
        close(
            k_statistic(3, &s, n),
            n * n * cm(3) / ((n - 1.0) * (n - 2.0)),
            "k3",
        );
        let k4 = n * n * ((n + 1.0) * cm(4) - 3.0 * (n - 1.0) * cm(2) * cm(2))
            / ((n - 1.0) * (n - 2.0) * (n - 3.0));
        close(k_statistic(4, &s, n), k4, "k4");
    }

    /// Joint cumulant of the columns of a discrete distribution (equal weights on `rows`) from its moments:
    /// sum over set partitions of (-1)^(|pi|-1) (|pi|-1)! prod of moments.
    fn population_cumulant(rows: &[[f64; 4]], m: usize) -> f64 {
        let mu = |mask: usize| {
            rows.iter()
                .map(|r| {
                    (0..m)
                        .filter(|i| mask >> i & 1 == 1)
                        .map(|i| r[i])
                        .product::<f64>()
                })
                .sum::<f64>()
                / rows.len() as f64
        };
        set_partitions(m)
            .iter()
            .map(|pi| {
                let k = pi.len() as i32;
                let fact: f64 = (1..k).map(|i| i as f64).product();
                (-1f64).powi(k - 1) * fact * pi.iter().map(|&b| mu(b)).product::<f64>()
            })
            .sum()
    }

    #[test]
    fn joint_k_statistics_are_unbiased_exactly() {
        // Every ordered sample of n draws (with replacement) from three 4-vectors, each equally likely: the
        // average k-statistic is the population's joint cumulant.
        let pop = [
            [0.5, -1.0, 2.0, 0.3],
            [1.5, 0.2, -0.7, 1.1],
            [-0.8, 0.9, 0.4, -1.6],
        ];
        for m in 1..=4 {
            let n = 4;
            let mut total = 0.0;
            let mut count = 0.0;
            for code in 0..3usize.pow(n as u32) {
                let draw: Vec<&[f64; 4]> = (0..n).map(|i| &pop[code / 3usize.pow(i as u32) % 3]).collect();
                let mut s = [0.0; 16];
                for mask in 1..(1usize << m) {
                    s[mask] = draw
                        .iter()
                        .map(|r| {
                            (0..m)
                                .filter(|i| mask >> i & 1 == 1)
                                .map(|i| r[i])
                                .product::<f64>()
                        })
                        .sum();
                }
                total += k_statistic(m, &s, n as f64);
                count += 1.0;
            }
            close(total / count, population_cumulant(&pop, m), &format!("m = {m}"));
        }
    }

    /// Wick sum of S over the pairings of legs that stay on one output.
    fn wick_legs(s: &dyn Fn(usize, usize) -> f64, points: &[usize], outs: &[usize]) -> f64 {
        pairings(points.len())
            .iter()
            .filter(|pr| pr.iter().all(|&(a, b)| outs[a] == outs[b]))
            .map(|pr| pr.iter().map(|&(a, b)| s(points[a], points[b])).product::<f64>())
            .sum()
    }

    #[test]
    fn rows_are_wick_sums_of_s_and_sums_of_covariances() {
        // Three points, two outputs, 40 synthetic networks in two bags; checks G (mean of Wick(S) over the pairings
        // that stay on one output), G_c^(4) (sum over those pairings of the unbiased covariance) and G_c^(6) (of
        // the unbiased third joint cumulant, k_3) against direct formulas.
        let p = 3;
        let kmat: Vec<f64> = (0..9).map(|i| 1.0 + 0.1 * (i / 3 + i % 3) as f64).collect();
        let cond = Conditional::new(p, 2, 6, &kmat);
        let e = n_entries(p);
        let nets = 40;
        let value = |k: usize, i: usize| {
            let (a, b) = entry_points(p, i);
            kmat[a * p + b] + ((k * 7 + i * 5) % 11) as f64 / 10.0 - 0.5 + 0.01 * ((k * k + 3 * i) % 5) as f64
        };
        let mut bags = Vec::new();
        for bag in 0..2 {
            let mut cols: Vec<Vec<f64>> = (0..e)
                .map(|i| (0..nets).map(|k| value(k + bag * nets, i)).collect())
                .collect();
            for (i, c) in cols.iter_mut().enumerate() {
                cond.centred(i, c);
            }
            let refs: Vec<&[f64]> = cols.iter().map(|c| c.as_slice()).collect();
            let mut sums = BagSums::new(cond.n_slots());
            // In two calls: the sums are additive.
            let (a, b): (Vec<&[f64]>, Vec<&[f64]>) = refs.iter().map(|c| c.split_at(15)).unzip();
            cond.accumulate(&a, &mut sums);
            cond.accumulate(&b, &mut sums);
            bags.push(sums);
        }
        let refs: Vec<&BagSums> = bags.iter().collect();
        let mut checked = [0; 4];
        for (row, (n, legs)) in cond.legs().iter().enumerate() {
            let points: Vec<usize> = legs.iter().map(|&c| c as usize % p).collect();
            let outs: Vec<usize> = legs.iter().map(|&c| c as usize / p).collect();
            let plan = cond.plan(row);
            let (g, c) = cond.row(&plan, &refs);
            for bag in 0..2 {
                let s_of = |k: usize| move |a: usize, b: usize| value(k + bag * nets, entry(p, a, b));
                let naive_g = (0..nets)
                    .map(|k| wick_legs(&s_of(k), &points, &outs))
                    .sum::<f64>()
                    / nets as f64;
                close(g[bag], naive_g, &format!("G {points:?} {outs:?}"));
                // Sum over the pairings of the k-statistic of the matched entries, from the raw values.
                let mut naive_c = 0.0;
                for pr in pairings(*n) {
                    if pr.iter().any(|&(a, b)| outs[a] != outs[b]) {
                        continue;
                    }
                    let m = pr.len();
                    let mut ps = [0.0; 16];
                    for (mask, v) in ps.iter_mut().enumerate().skip(1).take((1 << m) - 1) {
                        *v = (0..nets)
                            .map(|k| {
                                (0..m)
                                    .filter(|i| mask >> i & 1 == 1)
                                    .map(|i| s_of(k)(points[pr[i].0], points[pr[i].1]))
                                    .product::<f64>()
                            })
                            .sum();
                    }
                    naive_c += k_statistic(m, &ps, nets as f64);
                }
                close(c[bag], naive_c, &format!("G_c {points:?} {outs:?}"));
            }
            checked[n / 2] += 1;
            if outs.iter().filter(|&&o| o == 1).count() % 2 == 1 {
                assert!(plan.terms.is_empty() && g == vec![0.0; 2] && c == vec![0.0; 2]);
            }
        }
        // 6 legs: C(7, 2) + C(9, 4) + C(11, 6) rows.
        assert_eq!(checked, [0, 21, 126, 462]);
    }

    #[test]
    fn every_vector_level_gives_the_same_bits() {
        // The Wick recursion and the product tree over 4 points, 2 outputs, n <= 8, at each level the CPU has.
        let p = 4;
        let kmat: Vec<f64> = (0..p * p).map(|i| 0.5 + 0.01 * i as f64).collect();
        let cond = Conditional::new(p, 2, 8, &kmat);
        let nets = 203; // several chunks and a remainder
        let cols: Vec<Vec<f64>> = (0..n_entries(p))
            .map(|e| {
                (0..nets)
                    .map(|k| (((k * 31 + e * 17) % 23) as f64 / 7.0 - 1.5) * 0.3)
                    .collect()
            })
            .collect();
        let refs: Vec<&[f64]> = cols.iter().map(|c| c.as_slice()).collect();
        let mut results = Vec::new();
        for level in crate::simd::Level::supported() {
            let mut sums = BagSums::new(cond.n_slots());
            let mut w = vec![0.0; cond.legs().len() * WICK_CHUNK];
            wick_sums_at(
                level,
                &cond.wick,
                &refs,
                &mut w,
                &mut sums,
                cond.tree.combos().len(),
            );
            let tree = Tree::with_orders(n_entries(p), &[1, 2, 3, 4]);
            let mut t = BagSums::new(tree.combos().len());
            crate::moments::tree_sums_at(level, &tree.nodes, 4, &refs, None, &mut t);
            results.push((level, sums, t));
        }
        for (level, sums, t) in &results[1..] {
            assert_eq!(sums, &results[0].1, "{level:?}");
            assert_eq!(t, &results[0].2, "{level:?}");
        }
        assert!(results[0].1.sum.iter().any(|&v| v != 0.0));
    }
}
