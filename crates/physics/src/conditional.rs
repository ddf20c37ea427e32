//! The conditional-Gaussian (Rao-Blackwell) estimator of the n-point functions (PHYSICS.md 9).
//!
//! Given the last hidden layer, the outputs are Gaussian with covariance S_h (every output independently, with
//! the same S_h), so for legs (point p_a, output o_a)
//!
//!     G^(n)    = E_h[ sum over perfect pairings of prod S_h ]
//!     G_c^(2m) = sum over the (2m-1)!! pairings of kappa_m(the m matched S entries)
//!
//! where a pair of legs on different outputs contributes 0. Both are linear in quantities of multisets of S
//! entries, so one product tree over the P(P+1)/2 entries ([`Tree`], orders 1..=m) gives, per bag, the power
//! sums s_A = sum over networks of prod_{e in A} D_e of every multiset A of up to m entries, with D = S - K
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

/// Precomputed set partitions of 1..=4 positions, with the block-size types' coefficients evaluated per n.
#[derive(Debug, Clone)]
struct Partitions {
    /// For each m, (block masks, sorted sizes) of every set partition.
    of: Vec<Vec<(Vec<usize>, Vec<usize>)>>,
}

impl Partitions {
    fn new(max: usize) -> Self {
        let of = (0..=max)
            .map(|m| {
                if m == 0 {
                    return Vec::new();
                }
                set_partitions(m)
                    .into_iter()
                    .map(|pi| {
                        let mut sizes: Vec<usize> = pi.iter().map(|b| b.count_ones() as usize).collect();
                        sizes.sort_unstable_by(|a, b| b.cmp(a));
                        (pi, sizes)
                    })
                    .collect()
            })
            .collect();
        Partitions { of }
    }
}

/// The conditional estimator of one configuration: the tree over S entries and the per-row pairings.
#[derive(Debug, Clone)]
pub struct Conditional {
    p: usize,
    /// Largest number of S entries in a product: max order / 2.
    max_m: usize,
    tree: Tree,
    /// Centre of each entry (K(x_a, x_b)).
    centre: Vec<f64>,
    /// First slot of the multisets of each size (slots are ordered by size, then lexicographically).
    offset: Vec<usize>,
}

/// Per-bag values of every slot (multiset A of entries): E[prod_{e in A} S_e] and kappa(A), bag-major.
#[derive(Debug, Clone)]
pub struct SlotValues {
    bags: usize,
    /// mean[slot * bags + b]
    mean: Vec<f64>,
    kappa: Vec<f64>,
    /// Pooled tail statistics of the centred products of each slot.
    tail: Vec<TailStats>,
}

/// How one row (a multiset of legs) is assembled from slots: (slot, multiplicity) of every distinct multiset
/// of matched entries over the pairings whose pairs stay on one output.
#[derive(Debug, Clone, PartialEq)]
pub struct RowPlan {
    pub terms: Vec<(usize, f64)>,
}

impl Conditional {
    /// `p` points, orders up to `max_n` (even, 2..=8), `k` the P x P centre (row-major).
    pub fn new(p: usize, max_n: usize, k: &[f64]) -> Self {
        assert!(
            (2..=MAX_ORDER).contains(&max_n) && max_n.is_multiple_of(2),
            "max_n = {max_n}"
        );
        assert_eq!(k.len(), p * p, "a P x P centre");
        let max_m = max_n / 2;
        let e = n_entries(p);
        let orders: Vec<usize> = (1..=max_m).collect();
        let tree = Tree::with_orders(e, &orders);
        let centre = (0..e)
            .map(|i| {
                let (a, b) = entry_points(p, i);
                k[a * p + b]
            })
            .collect();
        let mut offset = vec![0; max_m + 2];
        for m in 1..=max_m {
            offset[m + 1] = offset[m] + n_multisets(e, m);
        }
        Conditional {
            p,
            max_m,
            tree,
            centre,
            offset,
        }
    }

    /// The product tree over the entries (its columns are the centred entries, [`Conditional::centred`]).
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    pub fn n_points(&self) -> usize {
        self.p
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

    /// Slot of a sorted multiset of entries.
    pub fn slot(&self, entries: &[u16]) -> usize {
        self.offset[entries.len()] + rank(n_entries(self.p), entries)
    }

    /// The slots and multiplicities of the legs (points, outputs); empty when every pairing crosses outputs
    /// (the function is exactly 0).
    pub fn plan(&self, points: &[usize], outs: &[usize]) -> RowPlan {
        let n = points.len();
        assert!(n.is_multiple_of(2) && n / 2 <= self.max_m, "{n} legs");
        let mut terms: std::collections::BTreeMap<usize, f64> = std::collections::BTreeMap::new();
        for pr in pairings(n) {
            if pr.iter().any(|&(a, b)| outs[a] != outs[b]) {
                continue;
            }
            let mut es: Vec<u16> = pr
                .iter()
                .map(|&(a, b)| entry(self.p, points[a], points[b]) as u16)
                .collect();
            es.sort_unstable();
            *terms.entry(self.slot(&es)).or_insert(0.0) += 1.0;
        }
        RowPlan {
            terms: terms.into_iter().collect(),
        }
    }

    /// E[prod S] and kappa of every slot in every bag (`bags` in order), and the pooled tail statistics.
    pub fn slot_values(&self, bags: &[&BagSums]) -> SlotValues {
        let parts = Partitions::new(self.max_m);
        let nb = bags.len();
        let slots = self.tree.combos().len();
        let mut mean = vec![0.0; slots * nb];
        let mut kappa = vec![0.0; slots * nb];
        let mut sub = Vec::with_capacity(16);
        let mut s = [0.0f64; 16];
        let tail = (0..slots)
            .map(|slot| TailStats::pooled_refs(bags, slot))
            .collect();
        for (slot, (m, es)) in self.tree.combos().iter().enumerate() {
            let m = *m;
            // Slot of every non-empty sub-multiset, by mask of positions.
            sub.clear();
            sub.push(usize::MAX);
            for mask in 1usize..(1 << m) {
                let part: Vec<u16> = (0..m).filter(|i| mask >> i & 1 == 1).map(|i| es[i]).collect();
                sub.push(self.slot(&part));
            }
            let k: Vec<f64> = es.iter().map(|&e| self.centre[e as usize]).collect();
            for (b, bag) in bags.iter().enumerate() {
                let n = bag.count as f64;
                for mask in 1usize..(1 << m) {
                    s[mask] = bag.sum[sub[mask]];
                }
                // E[prod (K + D)] over the sub-multisets of D.
                let mut e = 0.0;
                for mask in 0usize..(1 << m) {
                    let kk: f64 = (0..m).filter(|i| mask >> i & 1 == 0).map(|i| k[i]).product();
                    e += kk * if mask == 0 { 1.0 } else { s[mask] / n };
                }
                let kap = if m == 1 {
                    k[0] + s[1] / n
                } else {
                    parts.of[m]
                        .iter()
                        .map(|(pi, sizes)| {
                            k_coefficient(sizes, n) * pi.iter().map(|&x| s[x]).product::<f64>()
                        })
                        .sum()
                };
                mean[slot * nb + b] = e;
                kappa[slot * nb + b] = kap;
            }
        }
        SlotValues {
            bags: nb,
            mean,
            kappa,
            tail,
        }
    }
}

impl SlotValues {
    /// Per-bag G^(n) and G_c^(n) of a row.
    pub fn row(&self, plan: &RowPlan) -> (Vec<f64>, Vec<f64>) {
        let nb = self.bags;
        let mut g = vec![0.0; nb];
        let mut c = vec![0.0; nb];
        for &(slot, mult) in &plan.terms {
            for b in 0..nb {
                g[b] += mult * self.mean[slot * nb + b];
                c[b] += mult * self.kappa[slot * nb + b];
            }
        }
        (g, c)
    }

    /// Tail statistics of a row: the smallest effective sample size and the largest single share among its
    /// slots' centred products; `None` for a row that is exactly 0.
    pub fn tail(&self, plan: &RowPlan) -> Option<TailStats> {
        plan.terms
            .iter()
            .map(|&(slot, _)| self.tail[slot])
            .reduce(|a, b| TailStats {
                ess: a.ess.min(b.ess),
                max_share: a.max_share.max(b.max_share),
            })
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
        // Three points, 40 synthetic networks in two bags, two outputs; checks G (mean of Wick(S)) and G_c^(4)
        // (sum over the pairings of the unbiased covariance) against direct formulas.
        let p = 3;
        let kmat: Vec<f64> = (0..9).map(|i| 1.0 + 0.1 * (i / 3 + i % 3) as f64).collect();
        let cond = Conditional::new(p, 6, &kmat);
        let e = n_entries(p);
        let nets = 40;
        let value = |k: usize, i: usize| {
            kmat[entry_points(p, i).0 * p + entry_points(p, i).1] + ((k * 7 + i * 5) % 11) as f64 / 10.0 - 0.5
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
            let mut sums = BagSums::new(cond.tree().combos().len());
            cond.tree().accumulate(&refs, &mut sums);
            bags.push(sums);
        }
        let refs: Vec<&BagSums> = bags.iter().collect();
        let vals = cond.slot_values(&refs);
        let cases: [(&[usize], &[usize]); 4] = [
            (&[0, 1], &[0, 0]),
            (&[0, 1, 1, 2], &[0, 0, 0, 0]),
            (&[0, 2, 0, 2], &[0, 0, 1, 1]),
            (&[0, 1, 2, 2, 1, 0], &[0, 0, 0, 1, 1, 1]),
        ];
        for (points, outs) in cases {
            let plan = cond.plan(points, outs);
            let (g, c) = vals.row(&plan);
            for bag in 0..2 {
                let s_of = |k: usize| move |a: usize, b: usize| value(k + bag * nets, entry(p, a, b));
                let naive_g = (0..nets).map(|k| wick_legs(&s_of(k), points, outs)).sum::<f64>() / nets as f64;
                close(g[bag], naive_g, &format!("G {points:?} {outs:?}"));
                if points.len() == 4 {
                    // Sum over pairings of the unbiased covariance of the two matched entries.
                    let mut naive_c = 0.0;
                    for pr in pairings(4) {
                        let [(a, b), (c2, d)] = [pr[0], pr[1]];
                        if outs[a] != outs[b] || outs[c2] != outs[d] {
                            continue;
                        }
                        let x: Vec<f64> = (0..nets).map(|k| s_of(k)(points[a], points[b])).collect();
                        let y: Vec<f64> = (0..nets).map(|k| s_of(k)(points[c2], points[d])).collect();
                        let (mx, my) = (
                            x.iter().sum::<f64>() / nets as f64,
                            y.iter().sum::<f64>() / nets as f64,
                        );
                        naive_c += x.iter().zip(&y).map(|(u, v)| (u - mx) * (v - my)).sum::<f64>()
                            / (nets as f64 - 1.0);
                    }
                    close(c[bag], naive_c, &format!("G_c {points:?} {outs:?}"));
                }
                if points.len() == 2 {
                    close(c[bag], g[bag], "two-point: G_c = G");
                }
            }
        }
        // An odd number of legs on an output: exactly zero, no terms.
        assert!(cond.plan(&[0, 1, 2, 2], &[0, 0, 0, 1]).terms.is_empty());
        assert_eq!(
            cond.plan(&[0, 0, 0, 0], &[0, 0, 0, 0]).terms,
            vec![(cond.slot(&[0, 0]), 3.0)]
        );
    }
}
