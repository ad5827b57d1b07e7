//! The player-name registry: player identities mapped to the integer ids of the embedding's
//! `player_name` component (style conditioning).
//!
//! # File format (`players.json`)
//!
//! ```json
//! { "version": 1, "capacity": 64, "names": { "abcd#123": 1, "mango": 2 } }
//! ```
//!
//! `capacity` is the id vocabulary (the embedding's `player_names` must equal it); names map to
//! ids `1..capacity`, and id 0 is "unknown" (a player without an identity, or one not in the
//! registry).
//!
//! # Identities
//!
//! A player's registry key ([`player_key`]) is, in order of preference, the Slippi Online connect
//! code (stable across display-name changes), else the netplay display name, else the in-game
//! name tag; it is normalised ([`normalize`]): surrounding whitespace trimmed, inner runs of
//! whitespace collapsed to one space, and lowercased, so `"ABCD#123"` and `" abcd#123 "` are the
//! same player. Keys in a registry file are normalised when it is read.
//!
//! # Building a registry
//!
//! [`PlayerRegistry::from_keys`] counts the keys (one per player per game) and gives ids in
//! order of decreasing count, ties broken by key; the players beyond `capacity − 1` get no id
//! and map to 0 ("unknown"), like any player not in the registry.

use exphil_corpus::PlayerInfo;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Version of the registry file format.
pub const REGISTRY_VERSION: u32 = 1;

/// Name of the registry file in a dataset directory.
pub const REGISTRY_FILE: &str = "players.json";

/// A registry file that cannot be read, written or used.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a registry.
    #[error("{path}: not a player registry: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// The registry's contents are inconsistent.
    #[error("invalid player registry: {0}")]
    Invalid(String),
}

/// Identities mapped to player-name ids (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlayerRegistry {
    /// [`REGISTRY_VERSION`].
    pub version: u32,
    /// Id vocabulary: ids are `0..capacity`, 0 = unknown.
    pub capacity: u32,
    /// Normalised identity → id (`1..capacity`).
    pub names: BTreeMap<String, u32>,
}

/// `s` trimmed, inner whitespace collapsed to single spaces, lowercased.
pub fn normalize(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The registry key of a player: the normalised connect code, else netplay name, else name tag;
/// `None` when the player has none of them.
pub fn player_key(p: &PlayerInfo) -> Option<String> {
    [&p.connect_code, &p.netplay_name, &p.name_tag]
        .into_iter()
        .filter_map(|s| s.as_deref().map(normalize))
        .find(|s| !s.is_empty())
}

impl PlayerRegistry {
    /// A registry of `capacity` ids from `keys` (one per player per game; `None` is skipped):
    /// the most frequent keys get the lowest ids, ties by key; keys beyond `capacity − 1` are
    /// left out (they map to 0).
    pub fn from_keys(
        capacity: u32,
        keys: impl IntoIterator<Item = Option<String>>,
    ) -> Result<PlayerRegistry, RegistryError> {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for k in keys.into_iter().flatten() {
            let k = normalize(&k);
            if !k.is_empty() {
                *counts.entry(k).or_insert(0) += 1;
            }
        }
        let mut order: Vec<(String, u64)> = counts.into_iter().collect();
        order.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let names = order
            .into_iter()
            .take(capacity.saturating_sub(1) as usize)
            .zip(1u32..)
            .map(|((k, _), id)| (k, id))
            .collect();
        let r = PlayerRegistry {
            version: REGISTRY_VERSION,
            capacity,
            names,
        };
        r.validate()?;
        Ok(r)
    }

    /// Checks the version, the capacity (at least 2) and that ids are distinct and in
    /// `1..capacity`.
    pub fn validate(&self) -> Result<(), RegistryError> {
        let err = |m: String| Err(RegistryError::Invalid(m));
        if self.version != REGISTRY_VERSION {
            return err(format!(
                "version {} (this exphil reads {REGISTRY_VERSION})",
                self.version
            ));
        }
        if self.capacity < 2 {
            return err(format!(
                "capacity {} must be at least 2 (id 0 is \"unknown\")",
                self.capacity
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (name, &id) in &self.names {
            if id == 0 || id >= self.capacity {
                return err(format!(
                    "{name:?} has id {id}, outside 1..{}",
                    self.capacity
                ));
            }
            if !seen.insert(id) {
                return err(format!("id {id} is given to more than one name"));
            }
        }
        Ok(())
    }

    /// The id of a registry key (normalised here); 0 when unknown or `None`.
    pub fn id(&self, key: Option<&str>) -> u32 {
        key.and_then(|k| self.names.get(&normalize(k)).copied())
            .unwrap_or(0)
    }

    /// The id of a player ([`player_key`]); 0 when unknown.
    pub fn id_of(&self, p: &PlayerInfo) -> u32 {
        self.id(player_key(p).as_deref())
    }

    /// The registry as pretty JSON (what [`write`](Self::write) writes).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// xxh3 of [`to_json`](Self::to_json), as 16 hex digits.
    pub fn hash(&self) -> String {
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&self.to_json()))
    }

    /// Parses a registry, normalising its keys, and validates it.
    pub fn from_json(text: &str, path: &Path) -> Result<PlayerRegistry, RegistryError> {
        let raw: PlayerRegistry =
            serde_json::from_str(text).map_err(|source| RegistryError::Json {
                path: path.to_path_buf(),
                source,
            })?;
        let mut names = BTreeMap::new();
        for (k, id) in raw.names {
            let n = normalize(&k);
            if names.insert(n.clone(), id).is_some() {
                return Err(RegistryError::Invalid(format!(
                    "{n:?} appears more than once (after normalising)"
                )));
            }
        }
        let r = PlayerRegistry { names, ..raw };
        r.validate()?;
        Ok(r)
    }

    /// Reads and validates a registry file.
    pub fn read(path: &Path) -> Result<PlayerRegistry, RegistryError> {
        let text = std::fs::read_to_string(path).map_err(|source| RegistryError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text, path)
    }

    /// Writes the registry to `path`.
    pub fn write(&self, path: &Path) -> Result<(), RegistryError> {
        std::fs::write(path, self.to_json()).map_err(|source| RegistryError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_whitespace() {
        assert_eq!(normalize("  ABCD#123 "), "abcd#123");
        assert_eq!(normalize("Mango\t  Man"), "mango man");
    }

    #[test]
    fn built_by_frequency_then_name_and_capacity_bounded() {
        let keys = ["b", "a", "c", "b", "C", "d"]
            .iter()
            .map(|s| Some(s.to_string()))
            .chain([None]);
        let r = PlayerRegistry::from_keys(3, keys).unwrap();
        // b and c twice (c as "c" and "C"), a and d once: b, c get ids; a, d do not fit.
        assert_eq!(r.names.len(), 2);
        assert_eq!(r.id(Some("B")), 1);
        assert_eq!(r.id(Some(" c ")), 2);
        assert_eq!(r.id(Some("a")), 0);
        assert_eq!(r.id(None), 0);
    }

    #[test]
    fn round_trip_and_validation() {
        let r = PlayerRegistry::from_keys(8, ["x", "y", "y"].map(|s| Some(s.into()))).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(REGISTRY_FILE);
        r.write(&p).unwrap();
        let back = PlayerRegistry::read(&p).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.hash(), r.hash());
        let odd = r#"{"version":1,"capacity":4,"names":{" X ":1}}"#;
        assert_eq!(PlayerRegistry::from_json(odd, &p).unwrap().id(Some("x")), 1);
        for bad in [
            r#"{"version":2,"capacity":4,"names":{}}"#,
            r#"{"version":1,"capacity":1,"names":{}}"#,
            r#"{"version":1,"capacity":4,"names":{"a":4}}"#,
            r#"{"version":1,"capacity":4,"names":{"a":0}}"#,
            r#"{"version":1,"capacity":4,"names":{"a":1,"b":1}}"#,
            r#"{"version":1,"capacity":4,"names":{"a":1,"A":2}}"#,
        ] {
            assert!(PlayerRegistry::from_json(bad, &p).is_err(), "{bad}");
        }
    }
}
