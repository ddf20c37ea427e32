//! Multisets of point indices and Wick pairings (PHYSICS.md 3).
//!
//! Combinations are multisets (points may repeat), listed as sorted index vectors in lexicographic order:
//! C(P + n - 1, n) of them, i.e. 21 / 126 / 462 for n = 2 / 4 / 6 at P = 6.

use std::collections::HashMap;

/// All multisets of size `n` drawn from `0..p`, sorted, in lexicographic order.
pub fn multisets(p: usize, n: usize) -> Vec<Vec<u16>> {
    let mut out = Vec::new();
    let mut cur = Vec::with_capacity(n);
    fn rec(p: usize, n: usize, start: usize, cur: &mut Vec<u16>, out: &mut Vec<Vec<u16>>) {
        if cur.len() == n {
            out.push(cur.clone());
            return;
        }
        for i in start..p {
            cur.push(i as u16);
            rec(p, n, i, cur, out);
            cur.pop();
        }
    }
    if n > 0 && p > 0 {
        rec(p, n, 0, &mut cur, &mut out);
    }
    out
}

/// Binomial coefficient C(n, k) (exact for the sizes used here).
pub fn binomial(n: u64, k: u64) -> u64 {
    if k > n {
        return 0;
    }
    let k = k.min(n - k);
    (0..k).fold(1u64, |acc, i| acc * (n - i) / (i + 1))
}

/// Number of multisets of size `n` from `p` points: C(p + n - 1, n).
pub fn n_multisets(p: usize, n: usize) -> usize {
    binomial((p + n - 1) as u64, n as u64) as usize
}

/// Position of the sorted multiset `m` (points in `0..p`) in the lexicographic [`multisets`]`(p, m.len())` order,
/// computed without a table: before it come, at every position i, the multisets that agree up to i and have a
/// smaller value there, C(p - v + r - 1, r) of them for value v with r positions left.
pub fn rank(p: usize, m: &[u16]) -> usize {
    let n = m.len();
    let mut r = 0;
    let mut lo = 0usize;
    for (i, &c) in m.iter().enumerate() {
        let left = n - i - 1;
        for v in lo..c as usize {
            r += n_multisets(p - v, left);
        }
        lo = c as usize;
    }
    r
}

/// All perfect pairings of positions `0..n` (n even): 1, 3, 15 for n = 2, 4, 6; (n-1)!! in general.
pub fn pairings(n: usize) -> Vec<Vec<(usize, usize)>> {
    fn rec(rest: &[usize], cur: &mut Vec<(usize, usize)>, out: &mut Vec<Vec<(usize, usize)>>) {
        if rest.is_empty() {
            out.push(cur.clone());
            return;
        }
        let a = rest[0];
        for k in 1..rest.len() {
            let b = rest[k];
            let remaining: Vec<usize> = rest[1..].iter().copied().filter(|&x| x != b).collect();
            cur.push((a, b));
            rec(&remaining, cur, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    if n.is_multiple_of(2) {
        let all: Vec<usize> = (0..n).collect();
        rec(&all, &mut Vec::new(), &mut out);
    }
    out
}

/// Every set partition of the positions 0..n into blocks of even size (odd moments vanish): 1, 2, 4, 31, 379 for
/// n = 0, 2, 4, 6, 8 (the moment-cumulant formula of a symmetric field). Blocks are sorted position lists, the
/// block of the lowest remaining position first.
pub fn even_partitions(n: usize) -> Vec<Vec<Vec<usize>>> {
    fn rec(rest: &[usize], cur: &mut Vec<Vec<usize>>, out: &mut Vec<Vec<Vec<usize>>>) {
        let Some((&first, others)) = rest.split_first() else {
            out.push(cur.clone());
            return;
        };
        // The block of `first`: it and an odd number of the others.
        for mask in 0u32..(1 << others.len()) {
            if mask.count_ones() % 2 == 0 {
                continue;
            }
            let mut block = vec![first];
            let mut left = Vec::new();
            for (i, &o) in others.iter().enumerate() {
                if mask >> i & 1 == 1 {
                    block.push(o);
                } else {
                    left.push(o);
                }
            }
            cur.push(block);
            rec(&left, cur, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    if n.is_multiple_of(2) {
        let all: Vec<usize> = (0..n).collect();
        rec(&all, &mut Vec::new(), &mut out);
    }
    out
}

/// The 15 ways to split six positions into a pair (a, b) and the remaining four.
pub fn pair_and_rest6() -> Vec<((usize, usize), [usize; 4])> {
    let mut out = Vec::new();
    for a in 0..6 {
        for b in a + 1..6 {
            let rest: Vec<usize> = (0..6).filter(|&x| x != a && x != b).collect();
            out.push(((a, b), [rest[0], rest[1], rest[2], rest[3]]));
        }
    }
    out
}

/// The 10 unordered splits of six positions into two triples abc|def.
pub fn triple_splits6() -> Vec<([usize; 3], [usize; 3])> {
    let mut out = Vec::new();
    for b in 1..6 {
        for c in b + 1..6 {
            let rest: Vec<usize> = (1..6).filter(|&x| x != b && x != c).collect();
            out.push(([0, b, c], [rest[0], rest[1], rest[2]]));
        }
    }
    out
}

/// Lookup from a sorted multiset to its position in [`multisets`] order.
#[derive(Debug, Clone)]
pub struct Index {
    map: HashMap<Vec<u16>, usize>,
}

impl Index {
    pub fn new(combos: &[Vec<u16>]) -> Self {
        Index {
            map: combos.iter().enumerate().map(|(i, c)| (c.clone(), i)).collect(),
        }
    }
    /// Position of the multiset holding `idx` (in any order); `None` if absent.
    pub fn get(&self, idx: &[u16]) -> Option<usize> {
        let mut v = idx.to_vec();
        v.sort_unstable();
        self.map.get(&v).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiset_counts_match_binomials() {
        assert_eq!(multisets(6, 2).len(), 21);
        assert_eq!(multisets(6, 4).len(), 126);
        assert_eq!(multisets(6, 6).len(), 462);
        assert_eq!(multisets(12, 6).len(), 12376);
        for p in 1..8 {
            for n in 1..7 {
                assert_eq!(multisets(p, n).len(), n_multisets(p, n), "p={p} n={n}");
            }
        }
        let m = multisets(3, 2);
        assert_eq!(
            m,
            vec![
                vec![0, 0],
                vec![0, 1],
                vec![0, 2],
                vec![1, 1],
                vec![1, 2],
                vec![2, 2]
            ]
        );
    }

    #[test]
    fn pairing_counts_are_double_factorials() {
        assert_eq!(pairings(2).len(), 1);
        assert_eq!(pairings(4).len(), 3);
        assert_eq!(pairings(6).len(), 15);
        assert_eq!(pairings(8).len(), 105);
        // Every pairing covers every position exactly once, and pairings are distinct.
        let p6 = pairings(6);
        for p in &p6 {
            let mut seen = [false; 6];
            for &(a, b) in p {
                assert!(!seen[a] && !seen[b]);
                seen[a] = true;
                seen[b] = true;
            }
        }
        let mut sorted = p6.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 15);
        assert_eq!(pair_and_rest6().len(), 15);
        assert_eq!(triple_splits6().len(), 10);
        let counts: Vec<usize> = [2, 4, 6, 8].iter().map(|&n| even_partitions(n).len()).collect();
        assert_eq!(counts, vec![1, 4, 31, 379]);
        // Of eight positions: 28 splits 6|2, 35 splits 4|4, 210 of type 4|2|2, 105 pairings.
        let of_type = |t: &[usize]| {
            even_partitions(8)
                .iter()
                .filter(|pi| {
                    let mut s: Vec<usize> = pi.iter().map(|b| b.len()).collect();
                    s.sort_unstable_by(|a, b| b.cmp(a));
                    s == t
                })
                .count()
        };
        assert_eq!(
            [
                of_type(&[6, 2]),
                of_type(&[4, 4]),
                of_type(&[4, 2, 2]),
                of_type(&[2, 2, 2, 2])
            ],
            [28, 35, 210, 105]
        );
    }

    #[test]
    fn rank_is_the_position_in_lexicographic_order() {
        for p in 1..7 {
            for n in 1..6 {
                for (i, m) in multisets(p, n).iter().enumerate() {
                    assert_eq!(rank(p, m), i, "p={p} {m:?}");
                }
            }
        }
    }

    #[test]
    fn index_finds_unsorted_queries() {
        let m = multisets(4, 3);
        let ix = Index::new(&m);
        assert_eq!(
            ix.get(&[3, 0, 1]),
            Some(m.iter().position(|c| c == &vec![0, 1, 3]).unwrap())
        );
        assert_eq!(ix.get(&[9, 9, 9]), None);
    }
}
