//! Exact n-point functions of one hidden layer for any even n <= 8 by the moment-cumulant formula over set
//! partitions (PHYSICS.md 4 and 11); [`crate::exact::Exact`] uses it for the eight-point functions.
//!
//! f - b1 is a sum of N i.i.d. terms h_i = W1_i g_i (one output; with d_out outputs h_(i,o) = W1_(i,o) g_i), so
//! the joint cumulants of f are N times those of h, plus sigma_b^2 on pairs of legs of one output. The moments
//! of h over a block B of legs are E[prod_o W1^(m_o)] C_|B| = prod_o (m_o - 1)!! (sigma_W^2/N)^(|B|/2) C_|B|
//! (zero when some output carries an odd number m_o of legs), and
//!
//! ```text
//! kappa(B) = sum over set partitions pi of B into even blocks of (-1)^(|pi|-1) (|pi|-1)! prod_(b in pi) m(b)
//! G^(n)    = sum over set partitions pi of the n legs into even blocks of prod_(b in pi) kappa_f(b)
//! ```
//!
//! (odd blocks vanish: odd moments of W1 are zero). The all-pair partitions of G^(n) are the Wick sum G_0^(n)
//! with the full kernel K; the others are DeltaG^(n); kappa_f of all n legs is G_c^(n) = N kappa_n(h), exactly
//! O(1/N^(n/2 - 1)). For n = 8 there are 379 even partitions (1 + 28 + 35 + 210 + 105 by block sizes 8, 62, 44,
//! 422, 2222); for n = 4 and 6 the same code reproduces the closed forms of [`crate::exact`] (tested).
//!
//! C_n tables are indexed by the lexicographic rank of the sorted multiset ([`Ranker`]), so that the 128 even
//! sub-blocks of an eight-leg multiset cost no hashing.

use crate::combos::n_multisets;
use std::sync::OnceLock;

/// Largest number of legs of [`functions`] (blocks are `u8` bit masks).
pub const MAX_LEGS: usize = 8;

/// One set partition into at most four even blocks, as bit masks over the legs.
#[derive(Debug, Clone, Copy)]
struct Partition {
    blocks: [u8; 4],
    len: u8,
}

/// For every subset (bit mask) of the eight legs, its partitions into even blocks.
fn partitions() -> &'static [Vec<Partition>] {
    static TABLE: OnceLock<Vec<Vec<Partition>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        fn rec(mask: u8, cur: &mut Vec<u8>, out: &mut Vec<Partition>) {
            if mask == 0 {
                let mut blocks = [0u8; 4];
                blocks[..cur.len()].copy_from_slice(cur);
                out.push(Partition {
                    blocks,
                    len: cur.len() as u8,
                });
                return;
            }
            // The block holding the lowest leg, then the partitions of what is left: each partition once.
            let low = mask & mask.wrapping_neg();
            let rest = mask ^ low;
            let mut sub = rest;
            loop {
                let block = sub | low;
                if block.count_ones().is_multiple_of(2) {
                    cur.push(block);
                    rec(mask ^ block, cur, out);
                    cur.pop();
                }
                if sub == 0 {
                    break;
                }
                sub = (sub - 1) & rest;
            }
        }
        (0..=255u8)
            .map(|mask| {
                let mut out = Vec::new();
                if mask.count_ones().is_multiple_of(2) {
                    rec(mask, &mut Vec::new(), &mut out);
                }
                out
            })
            .collect()
    })
}

/// Number of partitions of `n` legs into even blocks: 1, 4, 31, 379 for n = 2, 4, 6, 8 (0 for odd n).
pub fn n_even_partitions(n: usize) -> usize {
    assert!(n <= MAX_LEGS, "at most {MAX_LEGS} legs");
    partitions()[((1u16 << n) - 1) as usize].len()
}

/// Moebius coefficient of the lattice of set partitions: (-1)^(k-1) (k-1)! for k blocks.
fn moebius(blocks: u8) -> f64 {
    [1.0, -1.0, 2.0, -6.0][blocks as usize - 1]
}

/// The exact functions of one set of legs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Functions {
    /// Full function G^(n).
    pub g: f64,
    /// Wick sum with the full kernel, G_0^(n).
    pub g_free: f64,
    /// G^(n) - G_0^(n): the partitions with at least one block of four or more legs.
    pub delta_g: f64,
    /// Joint cumulant of all legs, G_c^(n) (K for n = 2).
    pub connected: f64,
}

/// The functions of `n` legs (n even, 2 <= n <= 8) of f = b1 + sum of `width` i.i.d. terms h.
///
/// `moment_h(mask)` is E[prod over the legs in `mask` of h] for an even, non-empty mask; `k2(a, b)` is the
/// full two-point function of legs a and b (sigma_b^2 included). Odd n gives zeros.
pub fn functions(
    n: usize,
    width: f64,
    moment_h: impl Fn(u8) -> f64,
    k2: impl Fn(usize, usize) -> f64,
) -> Functions {
    assert!(
        (2..=MAX_LEGS).contains(&n),
        "{n} legs: 2 to {MAX_LEGS} are supported"
    );
    if !n.is_multiple_of(2) {
        return Functions {
            g: 0.0,
            g_free: 0.0,
            delta_g: 0.0,
            connected: 0.0,
        };
    }
    let parts = partitions();
    let full = ((1u16 << n) - 1) as u8;
    let mut mh = [0.0f64; 256];
    let mut kf = [0.0f64; 256];
    // Masks in increasing order; only even ones matter.
    for mask in 1..=full {
        let size = mask.count_ones();
        if !size.is_multiple_of(2) {
            continue;
        }
        if size == 2 {
            let a = mask.trailing_zeros() as usize;
            let b = 7 - mask.leading_zeros() as usize;
            kf[mask as usize] = k2(a, b);
            mh[mask as usize] = moment_h(mask);
            continue;
        }
        mh[mask as usize] = moment_h(mask);
        let mut kh = 0.0;
        for p in &parts[mask as usize] {
            let prod: f64 = p.blocks[..p.len as usize]
                .iter()
                .map(|&b| mh[b as usize])
                .product();
            kh += moebius(p.len) * prod;
        }
        kf[mask as usize] = width * kh;
    }
    let (mut g_free, mut delta_g) = (0.0, 0.0);
    for p in &parts[full as usize] {
        let blocks = &p.blocks[..p.len as usize];
        let prod: f64 = blocks.iter().map(|&b| kf[b as usize]).product();
        if blocks.iter().all(|b| b.count_ones() == 2) {
            g_free += prod;
        } else {
            delta_g += prod;
        }
    }
    Functions {
        g: g_free + delta_g,
        g_free,
        delta_g,
        connected: kf[full as usize],
    }
}

/// Lexicographic rank of a sorted multiset among all multisets of its size from `0..p` (the order of
/// [`crate::combos::multisets`]).
#[derive(Debug, Clone)]
pub struct Ranker {
    p: usize,
    /// below[k][v] = number of multisets of size k + 1 whose first element is below v, i.e.
    /// sum_(u < v) n_multisets(p - u, k).
    below: Vec<Vec<usize>>,
}

impl Ranker {
    pub fn new(p: usize) -> Self {
        let count = |q: usize, k: usize| if k == 0 { 1 } else { n_multisets(q, k) };
        let below = (0..MAX_LEGS)
            .map(|k| {
                let mut acc = vec![0usize; p + 1];
                for v in 0..p {
                    acc[v + 1] = acc[v] + count(p - v, k);
                }
                acc
            })
            .collect();
        Ranker { p, below }
    }

    /// Rank of `sorted` (non-decreasing, values below p, at most 8 of them).
    pub fn rank(&self, sorted: &[u16]) -> usize {
        let n = sorted.len();
        let mut r = 0;
        let mut start = 0;
        for (i, &v) in sorted.iter().enumerate() {
            let v = v as usize;
            debug_assert!(
                v < self.p && v >= start,
                "{sorted:?} is not a sorted multiset of 0..{}",
                self.p
            );
            let row = &self.below[n - i - 1];
            r += row[v] - row[start];
            start = v;
        }
        r
    }
}

/// C_n = E[g(x_1) ... g(x_n)] for every multiset of the even sizes 2..=8, indexed by rank.
#[derive(Debug, Clone)]
pub struct CTable {
    ranker: Ranker,
    /// `by_order[n / 2]` in lexicographic order of the multisets of size n; `by_order[0]` = [1].
    by_order: Vec<Vec<f64>>,
}

impl CTable {
    /// `tables[j]` holds C_(2j+2) for all multisets of size 2j + 2 from `0..p`, in lexicographic order.
    pub fn new(p: usize, tables: Vec<Vec<f64>>) -> Self {
        let mut by_order = vec![vec![1.0]];
        for (j, t) in tables.into_iter().enumerate() {
            assert_eq!(
                t.len(),
                n_multisets(p, 2 * j + 2),
                "C table of order {}",
                2 * j + 2
            );
            by_order.push(t);
        }
        CTable {
            ranker: Ranker::new(p),
            by_order,
        }
    }

    /// C of the points `idx` (any order, even size up to the largest tabulated).
    pub fn get(&self, idx: &[u16]) -> f64 {
        let mut buf = [0u16; MAX_LEGS];
        let key = &mut buf[..idx.len()];
        key.copy_from_slice(idx);
        key.sort_unstable();
        self.by_order[idx.len() / 2][self.ranker.rank(key)]
    }
}

/// Chunk of quadrature nodes kept in cache by [`tabulate`].
const CHUNK: usize = 256;

/// Fixed number of contiguous parts of the grid in [`tabulate`], each summed on its own and added in order, so
/// that the result does not depend on how many threads run them.
const PARTS: usize = 4;

/// `sum_k weights[k] prod_(a in m) cols[a][k]` for every multiset m of size n from the columns, in lexicographic
/// order: the quadrature of C_n over a grid, by a depth-first product tree (one multiplication per tree node
/// and grid node), chunked so that the partial products stay in cache. The grid is cut into `PARTS` (4) parts run
/// on up to that many threads; the parts' sums are added in a fixed order (same bits on any thread count).
pub fn tabulate(cols: &[Vec<f64>], weights: &[f64], n: usize) -> Vec<f64> {
    let slots = n_multisets(cols.len(), n);
    if n == 0 || cols.is_empty() {
        return vec![0.0; slots];
    }
    let chunks = weights.len().div_ceil(CHUNK);
    let bounds: Vec<(usize, usize)> = (0..PARTS)
        .map(|j| {
            let lo = (j * chunks / PARTS * CHUNK).min(weights.len());
            let hi = ((j + 1) * chunks / PARTS * CHUNK).min(weights.len());
            (lo, hi)
        })
        .collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .clamp(1, PARTS);
    let mut parts: Vec<(usize, Vec<f64>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let bounds = &bounds;
                scope.spawn(move || {
                    (t..PARTS)
                        .step_by(threads)
                        .map(|j| (j, tabulate_range(cols, weights, n, bounds[j].0, bounds[j].1)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("tabulate worker"))
            .collect()
    });
    parts.sort_by_key(|(j, _)| *j);
    let mut out = vec![0.0; slots];
    for (_, part) in parts {
        for (o, v) in out.iter_mut().zip(part) {
            *o += v;
        }
    }
    out
}

/// [`tabulate`] over the grid nodes `lo..hi`.
fn tabulate_range(cols: &[Vec<f64>], weights: &[f64], n: usize, lo: usize, hi: usize) -> Vec<f64> {
    let p = cols.len();
    let mut out = vec![0.0; n_multisets(p, n)];
    struct Walk<'a> {
        cols: &'a [Vec<f64>],
        n: usize,
        start: usize,
        len: usize,
        stack: Vec<[f64; CHUNK]>,
        out: &'a mut [f64],
        leaf: usize,
    }
    fn rec(w: &mut Walk, depth: usize, from: usize) {
        let p = w.cols.len();
        let (start, len) = (w.start, w.len);
        for a in from..p {
            let col = &w.cols[a][start..start + len];
            if depth + 1 == w.n {
                let parent = &w.stack[depth][..len];
                let mut s = [0.0f64; 4];
                let full = len / 4 * 4;
                for k in (0..full).step_by(4) {
                    for l in 0..4 {
                        s[l] += parent[k + l] * col[k + l];
                    }
                }
                for k in full..len {
                    s[0] += parent[k] * col[k];
                }
                w.out[w.leaf] += (s[0] + s[1]) + (s[2] + s[3]);
                w.leaf += 1;
            } else {
                let (lower, upper) = w.stack.split_at_mut(depth + 1);
                let (parent, cur) = (&lower[depth][..len], &mut upper[0][..len]);
                for k in 0..len {
                    cur[k] = parent[k] * col[k];
                }
                rec(w, depth + 1, a);
            }
        }
    }
    let mut walk = Walk {
        cols,
        n,
        start: lo,
        len: 0,
        stack: vec![[0.0; CHUNK]; n],
        out: &mut out,
        leaf: 0,
    };
    while walk.start < hi {
        walk.len = CHUNK.min(hi - walk.start);
        let (s, l) = (walk.start, walk.len);
        walk.stack[0][..l].copy_from_slice(&weights[s..s + l]);
        walk.leaf = 0;
        rec(&mut walk, 0, 0);
        walk.start += l;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::combos::{multisets, pairings};
    use crate::tol::{ALGEBRA_REL, close};

    #[test]
    fn even_partition_counts() {
        // OEIS A005046: 1, 4, 31, 379; odd sizes have none.
        assert_eq!(
            [2, 4, 6, 8].map(n_even_partitions),
            [1, 4, 31, 379],
            "partitions of 2, 4, 6, 8 legs into even blocks"
        );
        assert_eq!(n_even_partitions(3), 0);
        // Every partition of the eight legs covers each leg exactly once, and none repeats.
        let mut seen = std::collections::HashSet::new();
        let mut by_shape = std::collections::BTreeMap::new();
        for p in &partitions()[255] {
            let blocks = &p.blocks[..p.len as usize];
            assert_eq!(blocks.iter().fold(0u8, |acc, &b| acc | b), 255);
            assert_eq!(blocks.iter().map(|b| b.count_ones()).sum::<u32>(), 8);
            let mut sorted = blocks.to_vec();
            sorted.sort_unstable();
            assert!(seen.insert(sorted));
            let mut shape: Vec<u32> = blocks.iter().map(|b| b.count_ones()).collect();
            shape.sort_unstable();
            *by_shape.entry(shape).or_insert(0) += 1;
        }
        let shapes: Vec<(Vec<u32>, i32)> = by_shape.into_iter().collect();
        assert_eq!(
            shapes,
            vec![
                (vec![2, 2, 2, 2], 105),
                (vec![2, 2, 4], 210),
                (vec![2, 6], 28),
                (vec![4, 4], 35),
                (vec![8], 1)
            ]
        );
    }

    #[test]
    fn ranks_follow_the_lexicographic_multiset_order() {
        for p in 1..6 {
            let r = Ranker::new(p);
            for n in 1..=MAX_LEGS {
                for (i, m) in multisets(p, n).iter().enumerate() {
                    assert_eq!(r.rank(m), i, "p={p} {m:?}");
                }
            }
        }
    }

    #[test]
    fn gaussian_h_has_no_connected_part() {
        // If h is Gaussian (moments = Wick sums of a covariance), every cumulant above order 2 vanishes and
        // G^(n) is the Wick sum of K = sigma_b^2 + N cov; with f = sum of 3 such terms plus b1.
        let cov =
            |a: usize, b: usize| 0.3 + 0.1 * (a as f64 - b as f64).abs() + if a == b { 0.5 } else { 0.0 };
        let (width, sb2) = (3.0, 0.2);
        let moment = |mask: u8| {
            let legs: Vec<usize> = (0..8).filter(|&i| mask >> i & 1 == 1).collect();
            pairings(legs.len())
                .iter()
                .map(|p| p.iter().map(|&(a, b)| cov(legs[a], legs[b])).product::<f64>())
                .sum()
        };
        let k2 = |a: usize, b: usize| sb2 + width * cov(a, b);
        let f = functions(8, width, moment, k2);
        let wick: f64 = pairings(8)
            .iter()
            .map(|p| p.iter().map(|&(a, b)| k2(a, b)).product::<f64>())
            .sum();
        assert!(f.connected.abs() <= ALGEBRA_REL * f.g, "{}", f.connected);
        assert!(f.delta_g.abs() <= ALGEBRA_REL * f.g, "{}", f.delta_g);
        assert!(close(f.g_free, wick, ALGEBRA_REL));
    }

    #[test]
    fn tabulate_matches_naive_sums() {
        let p = 3;
        let k = 1500; // more chunks than parts, with a remainder
        let cols: Vec<Vec<f64>> = (0..p)
            .map(|q| {
                (0..k)
                    .map(|i| ((i * 7 + q * 13) % 17) as f64 / 8.0 - 1.0)
                    .collect()
            })
            .collect();
        let w: Vec<f64> = (0..k).map(|i| 1.0 + (i % 5) as f64 / 10.0).collect();
        for n in [2, 5, 8] {
            let t = tabulate(&cols, &w, n);
            for (slot, m) in multisets(p, n).iter().enumerate() {
                let naive: f64 = (0..k)
                    .map(|i| w[i] * m.iter().map(|&a| cols[a as usize][i]).product::<f64>())
                    .sum();
                let scale: f64 = (0..k)
                    .map(|i| (w[i] * m.iter().map(|&a| cols[a as usize][i]).product::<f64>()).abs())
                    .sum();
                assert!(
                    (t[slot] - naive).abs() <= ALGEBRA_REL * scale,
                    "{m:?} {} {naive}",
                    t[slot]
                );
            }
        }
    }
}
