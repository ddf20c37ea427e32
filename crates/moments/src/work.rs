//! Work bounds of the moments stage: the memory and time that P points, B bags and R row groups take, estimated
//! from the inputs' metadata before anything large is allocated, and progress lines with a time estimate for
//! long runs.
//!
//! The cost grows like P^n (n = 6, or 8 with `--max-n 8`): every multiset of up to n points is a node of the
//! product tree (one multiplication per network) and every multiset of 2, 4, ..., n points an output slot (four
//! running sums per row group, then per bag). 6 points give 609 slots, 40 points 8.3 million. The conditional
//! estimator (nnqft_physics::conditional) adds, per network, a tree over the multisets of fewer than n/2 of the
//! P(P+1)/2 entries of S_h (plain sums: 252 nodes at P = 6 and n = 6, 2023 at n = 8; 3159 and 85319 at P = 12)
//! and the Wick recursion of every slot (at most n - 1 multiply-adds each, then the four running sums).

use anyhow::Result;
use nnqft_physics::conditional::{WICK_CHUNK, n_entries};
use nnqft_physics::exact::{self, Resolution};
use nnqft_physics::{Arch, Config};
use nnqft_store::cli::{bytes, check_memory, say};
use std::sync::Mutex;
use std::time::Instant;

/// Bytes per slot of one row group's partial sums (sum, sum |p|, sum p^2, max |p|: four f64); every row group's
/// partial sums are held until they are merged by bag.
const SLOT_ROW_GROUP_BYTES: f64 = 32.0;
/// Bytes per slot and bag while summarising: the bag's sums and their pooled copy (2 x 32), the per-bag mean,
/// the row's per-bag values and their Arrow column (3 x 8).
const SLOT_BAG_BYTES: f64 = 88.0;
/// Bytes per slot whatever the bags: tree node, combination list and index, the row and its Arrow columns.
/// With the two constants above, the estimate for 20 points (186165 slots) is 178 MB at 4 bags and 604 MB at
/// 30 bags; measured peak resident memory: 181 MB and 547 MB.
const SLOT_FIXED_BYTES: f64 = 600.0;
/// Time of one product (one network at one tree node) per thread, in nanoseconds. Measured on the release
/// build, this project's 2-core machine, 20 points: 0.49 ns (sampled networks), 0.53 ns (Erf quadrature nodes).
const PRODUCT_NS: f64 = 0.5;
/// Per network and thread, in nanoseconds: one node of the conditional estimator's entry tree (a product and a
/// sum), one term of its Wick recursion (a multiply-add), one Wick slot's four running sums. Fitted to the release
/// build (AVX-512 loops), one thread, P = 6: 0.71 s of CPU for 900000 networks at n <= 6 (252 nodes, at most 2709
/// terms and 609 slots per network; the whole stage, reading included) at load average 9.
const COND_TREE_NS: f64 = 0.5;
const WICK_TERM_NS: f64 = 0.15;
const WICK_SLOT_NS: f64 = 0.5;
/// Bytes per conditional slot (entry multiset or Wick slot) whatever the bags: tree node, multisets, row plan.
const COND_SLOT_FIXED_BYTES: f64 = 100.0;
/// Time of the summary per pairing of a conditional row and bag (its sub-multisets and set partitions), in
/// nanoseconds.
const PAIRING_BAG_NS: f64 = 20.0;
/// Time per slot of the summary (Wick values, connected parts, exact values, tail statistics; one thread), in
/// nanoseconds. Measured as above: 38 us (GaussNet), 44 us (ReLU) at 30 bags.
const SLOT_NS: f64 = 40_000.0;
/// Runs estimated to take longer than this (seconds) report progress with a time estimate on stderr.
pub const LONG_RUN_SECS: f64 = 10.0;

/// Number of multisets of size `n` from `p` points, C(p + n - 1, n), in floating point (it overflows integers
/// for a few thousand points, and only its size matters here).
fn multisets(p: usize, n: usize) -> f64 {
    (0..n).map(|i| (p + i) as f64 / (i + 1) as f64).product()
}

/// The size of one moments run.
#[derive(Debug, Clone, Copy)]
pub struct Work {
    pub points: usize,
    /// Output slots: multisets of the orders 2, 4, ..., max_n (one row per estimator each).
    pub slots: f64,
    /// Nodes of the product tree: multisets of every size up to the largest order (0 without the products
    /// estimator).
    pub nodes: f64,
    /// Nodes (all slots) of the conditional estimator's entry tree: multisets of 1..max_n/2 S entries (0 without
    /// it).
    pub cond_nodes: f64,
    /// Terms of the conditional estimator's Wick recursion (an upper bound: n - 1 per slot of order n; 0 without
    /// it), and the pairings its summary goes through per bag ((n - 1)!! per slot).
    pub wick_terms: f64,
    pub pairings: f64,
    /// Rows per slot: the number of estimators.
    pub estimators: usize,
    /// Threads, each with a chunk buffer of the Wick recursion.
    pub threads: usize,
    pub row_groups: usize,
    pub bags: u64,
    pub networks: u64,
    /// Quadrature nodes of the exact values, evaluated through the product tree like networks (Erf at d = 1).
    pub quadrature_nodes: f64,
}

impl Work {
    pub fn new(
        cfg: &Config,
        max_n: usize,
        products: bool,
        conditional: bool,
        row_groups: usize,
        bags: u64,
        networks: u64,
    ) -> Self {
        // Legs: one per (output, point).
        let points = cfg.n_points() * cfg.d_out();
        let max = max_n;
        let res = Resolution::default();
        let smooth = !matches!(cfg.arch(), Arch::GaussNet | Arch::Relu);
        let quadrature_nodes = if smooth && exact::supported(cfg) {
            let b = if cfg.sigma_b() == 0.0 {
                1
            } else {
                res.b_panels * res.nodes
            };
            (res.w_panels * res.nodes * b) as f64
        } else {
            0.0
        };
        let entries = n_entries(cfg.n_points());
        Work {
            points,
            slots: (1..=max / 2).map(|m| multisets(points, 2 * m)).sum(),
            nodes: if products {
                (1..=max).map(|n| multisets(points, n)).sum()
            } else {
                0.0
            },
            cond_nodes: if conditional {
                (1..max / 2).map(|m| multisets(entries, m)).sum()
            } else {
                0.0
            },
            wick_terms: if conditional {
                (1..=max / 2)
                    .map(|m| multisets(points, 2 * m) * (2 * m - 1) as f64)
                    .sum()
            } else {
                0.0
            },
            pairings: if conditional {
                (1..=max / 2)
                    .map(|m| multisets(points, 2 * m) * (1..m).map(|i| (2 * i + 1) as f64).product::<f64>())
                    .sum()
            } else {
                0.0
            },
            estimators: products as usize + conditional as usize,
            threads: rayon::current_num_threads(),
            row_groups,
            bags,
            networks,
            quadrature_nodes,
        }
    }

    /// Estimated peak memory in bytes: the larger of the accumulation phase (every row group's partial sums)
    /// and the summary phase (per-bag values of every slot).
    pub fn memory_bytes(&self) -> f64 {
        let accumulate = SLOT_ROW_GROUP_BYTES * self.row_groups as f64;
        let summarise = SLOT_BAG_BYTES * self.bags as f64;
        let rows = self.estimators as f64 * self.slots * (accumulate.max(summarise) + SLOT_FIXED_BYTES);
        // The conditional sums: every entry multiset and Wick slot, per row group and then per bag.
        let cond_slots = if self.wick_terms > 0.0 {
            self.cond_nodes + self.slots
        } else {
            0.0
        };
        let cond_bags = SLOT_ROW_GROUP_BYTES * self.bags as f64;
        let scratch = if self.wick_terms > 0.0 {
            self.slots * (8 * WICK_CHUNK * self.threads) as f64
        } else {
            0.0
        };
        rows + cond_slots * (accumulate.max(cond_bags) + COND_SLOT_FIXED_BYTES) + scratch
    }

    /// Estimated time in seconds of accumulating the networks on `threads` threads (networks x tree nodes
    /// products) and of the summary (the exact values' quadrature and the per-slot work, on one thread).
    pub fn seconds(&self, threads: usize) -> (f64, f64) {
        let wick_slots = if self.wick_terms > 0.0 { self.slots } else { 0.0 };
        let per_network = self.nodes * PRODUCT_NS
            + self.cond_nodes * COND_TREE_NS
            + self.wick_terms * WICK_TERM_NS
            + wick_slots * WICK_SLOT_NS;
        let accumulate = self.networks as f64 * per_network * 1e-9 / threads.max(1) as f64;
        // The exact values' quadrature runs through the six-point tree over the legs.
        let exact_nodes: f64 = (1..=6).map(|n| multisets(self.points, n)).sum();
        let summary = self.quadrature_nodes * exact_nodes * PRODUCT_NS * 1e-9
            + self.estimators as f64 * self.slots * SLOT_NS * 1e-9
            + self.pairings * self.bags as f64 * PAIRING_BAG_NS * 1e-9;
        (accumulate, summary)
    }

    fn describe(&self) -> String {
        let cond = if self.wick_terms > 0.0 {
            format!(
                ", conditional: {:.3e} entry multisets, {:.3e} Wick terms",
                self.cond_nodes, self.wick_terms
            )
        } else {
            String::new()
        };
        format!(
            "{} points ({:.3e} combinations, {:.3e} tree nodes{cond}), {} bags in {} row groups, {} networks",
            self.points, self.slots, self.nodes, self.bags, self.row_groups, self.networks
        )
    }

    /// Refuses a run whose [`Work::memory_bytes`] exceed the memory available.
    pub fn check_memory(&self) -> Result<()> {
        check_memory(
            &format!("moments of {}", self.describe()),
            self.memory_bytes(),
            "use fewer points per sample (the cost grows like P^n), a smaller --max-n, --estimator products, or \
             fewer bags per moments run",
        )
    }
}

/// Human duration: `45 s`, `12.5 min`, `2.1 h`.
pub fn duration(secs: f64) -> String {
    if secs < 90.0 {
        format!("{secs:.0} s")
    } else if secs < 5400.0 {
        format!("{:.1} min", secs / 60.0)
    } else {
        format!("{:.1} h", secs / 3600.0)
    }
}

/// Progress of the accumulation over row groups: silent for short runs; for runs estimated to take longer than
/// [`LONG_RUN_SECS`], an estimate up front and a line at every tenth of the row groups with the time left.
#[derive(Debug)]
pub struct Progress {
    total: usize,
    start: Instant,
    /// Row groups done and the last tenth reported; `None` when silent.
    state: Option<Mutex<(usize, usize)>>,
}

impl Progress {
    /// Starts the progress of the accumulation; for a long run, first a line with the estimates.
    pub fn start(work: &Work, threads: usize) -> Self {
        let (accumulate, summary) = work.seconds(threads);
        let show = accumulate + summary > LONG_RUN_SECS;
        if show {
            say(&format!(
                "moments: {}: about {} on {threads} threads ({} accumulating, {} summarising) and {} of memory \
                 (estimates)",
                work.describe(),
                duration(accumulate + summary),
                duration(accumulate),
                duration(summary),
                bytes(work.memory_bytes())
            ));
        }
        Progress {
            total: work.row_groups,
            start: Instant::now(),
            state: (accumulate > LONG_RUN_SECS).then(|| Mutex::new((0, 0))),
        }
    }

    /// One more row group is done.
    pub fn tick(&self) {
        let Some(state) = &self.state else { return };
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        s.0 += 1;
        let tenth = s.0 * 10 / self.total.max(1);
        if tenth > s.1 {
            s.1 = tenth;
            say(&line(s.0, self.total, self.start.elapsed().as_secs_f64()));
        }
    }
}

/// Announces the summary when it is estimated to take long (it runs on one thread and has no finer progress).
pub fn announce_summary(work: &Work) {
    let (_, summary) = work.seconds(1);
    if summary > LONG_RUN_SECS {
        say(&format!(
            "moments: summarising {:.3e} combinations (exact values, connected parts, tail statistics): about {}",
            work.slots,
            duration(summary)
        ));
    }
}

/// A progress line: done of total row groups after `elapsed` seconds, and the time left at that pace.
fn line(done: usize, total: usize, elapsed: f64) -> String {
    let left = elapsed * (total - done) as f64 / done.max(1) as f64;
    format!(
        "moments: accumulated {}% ({done} of {total} row groups) in {}, about {} left",
        done * 100 / total.max(1),
        duration(elapsed),
        duration(left)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnqft_physics::combos;
    use nnqft_physics::conditional::Conditional;
    use nnqft_physics::moments::Tree;

    fn line_of(p: usize, arch: Arch, sigma_b: f64) -> Config {
        let pts: Vec<Vec<f64>> = (0..p).map(|i| vec![0.1 * (i + 1) as f64]).collect();
        Config::new(arch, 1, 2, 1.0, sigma_b, &pts).unwrap()
    }

    #[test]
    fn counts_are_those_of_the_product_tree() {
        for p in 1..9 {
            let w = Work::new(&line_of(p, Arch::GaussNet, 1.0), 6, true, false, 1, 1, 1);
            assert_eq!(w.slots, Tree::new(p).combos().len() as f64, "P = {p}");
            let nodes: usize = (1..=6).map(|n| combos::multisets(p, n).len()).sum();
            assert_eq!(w.nodes, nodes as f64, "P = {p}");
            assert_eq!(w.cond_nodes, 0.0);
            assert_eq!(w.quadrature_nodes, 0.0, "GaussNet has closed forms");
            // Eight points and the conditional tree: the trees' own counts.
            let w8 = Work::new(&line_of(p, Arch::GaussNet, 1.0), 8, true, true, 1, 1, 1);
            let t8 = Tree::with_orders(p, &[2, 4, 6, 8]);
            assert_eq!(w8.slots, t8.combos().len() as f64, "P = {p}");
            assert_eq!(w8.nodes, t8.n_nodes() as f64, "P = {p}");
            let c = Conditional::new(p, 1, 8, &vec![1.0; p * p]);
            let (tree, terms, wick_slots) = c.work_per_network();
            assert_eq!(w8.cond_nodes, tree as f64, "P = {p}");
            assert_eq!(w8.slots, wick_slots as f64, "P = {p}");
            assert_eq!(c.n_slots() as f64, w8.cond_nodes + w8.slots);
            // Repeated legs share terms, so the bound holds with equality only for distinct ones.
            assert!(w8.wick_terms >= terms as f64, "P = {p}");
        }
        // The figures of the module docs.
        let six = |max_n| Work::new(&line_of(6, Arch::Erf, 1.0), max_n, true, true, 1, 1, 1);
        assert_eq!((six(6).cond_nodes, six(8).cond_nodes), (252.0, 2023.0));
        assert_eq!(six(6).pairings, 21.0 + 126.0 * 3.0 + 462.0 * 15.0);
        assert_eq!(six(8).slots, 609.0 + 1287.0);
        let twelve = |max_n| Work::new(&line_of(12, Arch::Erf, 1.0), max_n, true, true, 1, 1, 1);
        assert_eq!((twelve(6).cond_nodes, twelve(8).cond_nodes), (3159.0, 85319.0));
        // 6 points: 21 + 126 + 462 slots (combos module docs); 40 points: C(41,2) + C(43,4) + C(45,6).
        assert_eq!(
            Work::new(&line_of(6, Arch::Relu, 1.0), 6, true, false, 1, 1, 1).slots,
            609.0
        );
        let w = Work::new(&line_of(40, Arch::Erf, 1.0), 6, true, false, 1, 1, 1);
        assert_eq!(w.slots, 820.0 + 123_410.0 + 8_145_060.0);
        // Erf at d = 1: 192 x 10 nodes over W0 times 32 x 10 over b0 (Resolution::default), or 1920 at sigma_b = 0.
        assert_eq!(w.quadrature_nodes, 614_400.0);
        assert_eq!(
            Work::new(&line_of(4, Arch::Erf, 0.0), 6, true, false, 1, 1, 1).quadrature_nodes,
            1920.0
        );
    }

    #[test]
    fn memory_grows_with_row_groups_or_bags() {
        let cfg = line_of(40, Arch::GaussNet, 1.0);
        let w = Work::new(&cfg, 6, true, false, 30, 30, 1);
        let per_slot = SLOT_FIXED_BYTES + (30.0 * SLOT_BAG_BYTES).max(30.0 * SLOT_ROW_GROUP_BYTES);
        assert_eq!(w.memory_bytes(), w.slots * per_slot);
        let many_groups = Work::new(&cfg, 6, true, false, 3000, 30, 1);
        assert_eq!(
            many_groups.memory_bytes(),
            many_groups.slots * (SLOT_FIXED_BYTES + 3000.0 * SLOT_ROW_GROUP_BYTES)
        );
        // Both estimators: two rows per slot, and the conditional tree's sums per row group or bag.
        let both = Work::new(&cfg, 6, true, true, 30, 30, 1);
        let cond_slot = COND_SLOT_FIXED_BYTES + 30.0 * SLOT_ROW_GROUP_BYTES;
        assert_eq!(
            both.memory_bytes(),
            2.0 * both.slots * per_slot
                + (both.cond_nodes + both.slots) * cond_slot
                + both.slots * (8 * WICK_CHUNK * both.threads) as f64
        );
    }

    #[test]
    fn progress_lines_give_the_time_left_at_the_current_pace() {
        assert_eq!(
            line(3, 10, 60.0),
            "moments: accumulated 30% (3 of 10 row groups) in 60 s, about 2.3 min left"
        );
        assert_eq!(
            line(10, 10, 7200.0),
            "moments: accumulated 100% (10 of 10 row groups) in 2.0 h, about 0 s left"
        );
        assert_eq!(duration(5399.0), "90.0 min");
    }
}
