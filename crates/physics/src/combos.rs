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
