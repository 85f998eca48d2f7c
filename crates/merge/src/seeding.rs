//! Random streams for randomized merges, derived from (seed, tensor name, model index) so that
//! results do not depend on which thread merges which tensor, or in what order.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The generator for one model's part of one tensor's merge.
pub fn tensor_rng(seed: u64, tensor: &str, model: usize) -> ChaCha8Rng {
    // FNV-1a over the name, then splitmix64 rounds: stable across platforms and releases,
    // which a std hasher is not.
    let name_hash = tensor.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let mixed = splitmix64(splitmix64(seed ^ splitmix64(name_hash)) ^ model as u64);
    ChaCha8Rng::seed_from_u64(mixed)
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let draw = |seed, name, model| tensor_rng(seed, name, model).random::<u64>();
        assert_eq!(draw(1, "a.weight", 0), draw(1, "a.weight", 0));
        assert_ne!(draw(1, "a.weight", 0), draw(2, "a.weight", 0));
        assert_ne!(draw(1, "a.weight", 0), draw(1, "b.weight", 0));
        assert_ne!(draw(1, "a.weight", 0), draw(1, "a.weight", 1));
    }
}
