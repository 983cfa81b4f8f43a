//! Duplicate-key detection that stays linear in the size of a mapping, whatever the keys are.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

/// Mappings with more keys than this get a hash index for duplicate detection.
const INDEX_THRESHOLD: usize = 32;

/// The keys of one mapping being built, in document order, with an index once the mapping is large.
///
/// The index maps a key's hash to the position of the first key with that hash; keys are not copied. The hash is
/// seeded per process (`RandomState`), so a document cannot be crafted to make its keys collide and turn the
/// duplicate check quadratic; a true collision only costs a linear scan for that key.
#[derive(Default)]
pub(super) struct KeyIndex {
    index: Option<(RandomState, HashIndex)>,
}

/// A key's hash → the position of the first key with that hash.
type HashIndex = HashMap<u64, usize, BuildHasherDefault<IdentityHasher>>;

impl KeyIndex {
    /// The position of `key` among the entries of the mapping so far.
    pub(super) fn find<V>(&mut self, entries: &[(String, V)], key: &str) -> Option<usize> {
        if self.index.is_none() && entries.len() >= INDEX_THRESHOLD {
            let seed = RandomState::new();
            let mut map = HashMap::default();
            for (i, (k, _)) in entries.iter().enumerate() {
                map.entry(seed.hash_one(k.as_str())).or_insert(i);
            }
            self.index = Some((seed, map));
        }
        match &self.index {
            Some((seed, map)) => match map.get(&seed.hash_one(key)) {
                None => None,
                Some(&i) if entries[i].0 == key => Some(i),
                Some(_) => entries.iter().position(|(k, _)| k == key),
            },
            None => entries.iter().position(|(k, _)| k == key),
        }
    }

    /// Records a new key at `position` (if the mapping has an index).
    pub(super) fn insert(&mut self, key: &str, position: usize) {
        if let Some((seed, map)) = self.index.as_mut() {
            map.entry(seed.hash_one(key)).or_insert(position);
        }
    }
}

/// The keys' hashes are already well mixed (SipHash), so the index map uses them as they are.
#[derive(Default)]
pub(super) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 hashes are ever written; fold anything else so the hasher stays correct.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}
