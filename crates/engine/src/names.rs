//! Random container names in docker's `adjective_surname` style.

const LEFT: [&str; 24] = [
    "admiring", "brave", "busy", "calm", "clever", "eager", "elegant", "festive", "gentle",
    "happy", "jolly", "keen", "kind", "lucid", "modest", "nifty", "quirky", "serene", "sharp",
    "stoic", "tender", "vibrant", "wizardly", "zealous",
];
const RIGHT: [&str; 24] = [
    "archimedes",
    "babbage",
    "curie",
    "darwin",
    "euclid",
    "fermat",
    "galileo",
    "hopper",
    "hypatia",
    "kepler",
    "lovelace",
    "meitner",
    "newton",
    "noether",
    "pascal",
    "ritchie",
    "shannon",
    "tesla",
    "thompson",
    "torvalds",
    "turing",
    "wozniak",
    "yalow",
    "zuse",
];

/// A name from two random bytes plus a short random suffix, so that collisions are
/// rare even with many containers; the database's unique constraint catches the rest.
pub fn random_name(random: &[u8; 4]) -> String {
    let l = LEFT[random[0] as usize % LEFT.len()];
    let r = RIGHT[random[1] as usize % RIGHT.len()];
    format!(
        "{l}_{r}{}",
        u16::from_le_bytes([random[2], random[3]]) % 1000
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn looks_like_docker() {
        let n = super::random_name(&[0, 1, 2, 3]);
        assert!(n.starts_with("admiring_babbage"));
    }
}
