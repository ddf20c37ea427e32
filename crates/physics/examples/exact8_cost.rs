//! Cost of the exact eight-point tables (PHYSICS.md 11): building `Exact` (orders 2-6), then the lazily built
//! C_8 table, then G, DeltaG and G_c of every eight-point multiset, at P = 6 and P = 12 points.
//!
//! `cargo run --release -p nnqft-physics --example exact8_cost [P ...]`; prints figures, asserts nothing.

use nnqft_physics::combos::multisets;
use nnqft_physics::exact::Exact;
use nnqft_physics::{Arch, Config};
use std::time::Instant;

fn main() {
    let ps: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let ps = if ps.is_empty() { vec![6, 12] } else { ps };
    println!("arch      sigma_b  P  multisets8  build_2-6_s  table8_s  functions8_s");
    for &p in &ps {
        let pts: Vec<Vec<f64>> = (0..p)
            .map(|i| vec![-1.0 + 2.0 * i as f64 / (p - 1) as f64])
            .collect();
        for (arch, sb) in [
            (Arch::GaussNet, 1.0),
            (Arch::Relu, 0.0),
            (Arch::Relu, 0.5),
            (Arch::Erf, 0.0),
            (Arch::Erf, 0.5),
        ] {
            let cfg = Config::new(arch, 1, 10, 1.0, sb, &pts).expect("config");
            let t0 = Instant::now();
            let e = Exact::new(&cfg).expect("exact");
            let t1 = Instant::now();
            e.prepare8();
            let t2 = Instant::now();
            let combos = multisets(p, 8);
            let mut sink = 0.0;
            for m in &combos {
                let idx: Vec<usize> = m.iter().map(|&a| a as usize).collect();
                sink += e.g(&idx) + e.delta_g(&idx) + e.connected(&idx);
            }
            let t3 = Instant::now();
            println!(
                "{:<9} {sb:<8} {p:<2} {:<11} {:<12.3} {:<9.3} {:.3}   ({sink:.3e})",
                arch.name(),
                combos.len(),
                (t1 - t0).as_secs_f64(),
                (t2 - t1).as_secs_f64(),
                (t3 - t2).as_secs_f64()
            );
        }
    }
}
