//! Monte Carlo estimates shared by the physics integration tests.

use nnqft_physics::moments::{BagSums, Tree};
use nnqft_physics::sampler::BLOCK_NETS;

/// Draws n networks of (bag, block) into a column-major buffer (`cols` columns of n).
pub type Draw<'a> = &'a dyn Fn(u32, u32, usize, &mut [f64]);

/// One estimate: the columns of its legs (a multiset; their number is the order), the mean over bags and its
/// standard error (spread of the bag means / sqrt(bags)).
#[derive(Debug)]
pub struct Estimate {
    pub legs: Vec<usize>,
    pub mean: f64,
    pub stderr: f64,
}

/// Every multiset of `cols` columns of order 2, 4, 6, estimated from `bags` bags of `nets` networks.
pub fn estimate(cols: usize, bags: u32, nets: usize, draw: Draw) -> Vec<Estimate> {
    let tree = Tree::new(cols);
    let mut per_bag = Vec::new();
    for bag in 0..bags {
        let mut sums = BagSums::new(tree.combos().len());
        let (mut done, mut block) = (0, 0);
        while done < nets {
            let n = BLOCK_NETS.min(nets - done);
            let mut out = vec![0.0; cols * n];
            draw(bag, block, n, &mut out);
            let columns: Vec<&[f64]> = out.chunks(n).collect();
            tree.accumulate(&columns, &mut sums);
            done += n;
            block += 1;
        }
        per_bag.push(sums);
    }
    tree.combos()
        .iter()
        .enumerate()
        .map(|(slot, (_, combo))| {
            let means: Vec<f64> = per_bag.iter().map(|b| b.sum[slot] / b.count as f64).collect();
            let m = means.iter().sum::<f64>() / means.len() as f64;
            let var = means.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (means.len() - 1) as f64;
            Estimate {
                legs: combo.iter().map(|&a| a as usize).collect(),
                mean: m,
                stderr: (var / means.len() as f64).sqrt(),
            }
        })
        .collect()
}
