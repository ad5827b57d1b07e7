//! A dataset build's settings as people give them (names, files, numbers), from
//! `exphil dataset build`'s flags and from a training config's `data` section alike, and the one
//! place they become a validated [`BuildConfig`]; also the replay filter's, which every command
//! taking replays shares.

use crate::build::{BuildConfig, PlayerNames};
use crate::examples::{ExampleConfig, NoiseConfig, Perspective};
use crate::names::{PlayerRegistry, RegistryError};
use crate::shard::{Compression, Precision};
use exphil_corpus::Filter;
use exphil_embed::{EmbedConfig, StickDiscretization, TargetConfig};
use exphil_replay::{ExternalCharacter, ExternalStage};
use std::path::{Path, PathBuf};

/// Why settings are not a build: every message names the setting and the value.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A character name that is none of Melee's.
    #[error(
        "unknown character {0:?}; try a name or alias such as fox, falco, marth, sheik, puff, \
         ics, gnw, ganon, falcon, doc"
    )]
    Character(String),
    /// A stage name that is none of the legal stages.
    #[error("unknown stage {0:?}; try bf, fd, fod, ys, ps or dl")]
    Stage(String),
    /// The embedding config file cannot be read or is not one.
    #[error("{}: not an embedding config: {reason}", path.display())]
    EmbedFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An unknown or invalid embedding preset.
    #[error(transparent)]
    Embed(#[from] exphil_embed::EmbedConfigError),
    /// The k-means centres file cannot be used.
    #[error("{}: {source}", path.display())]
    Centers {
        /// The file.
        path: PathBuf,
        /// Why.
        source: exphil_embed::Error,
    },
    /// The player registry cannot be read.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A setting out of range or two that disagree.
    #[error("{0}")]
    Invalid(String),
}

/// The replay filter as given: character and stage names, bounds and switches.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FilterSettings {
    /// Keep games with one of these characters (names or aliases).
    pub characters: Vec<String>,
    /// Keep games on one of these stages (names or aliases).
    pub stages: Vec<String>,
    /// Keep games of at least this many frames.
    pub min_frames: Option<usize>,
    /// Only games where every player is human.
    pub human_only: bool,
    /// Only games with exactly two players.
    pub one_v_one: bool,
    /// Keep games with a quality score of at least this (0–100; higher is taken as 100).
    pub min_quality: Option<u32>,
    /// Skip a replay whose game content was already seen.
    pub dedupe: bool,
}

impl FilterSettings {
    /// The filter; an unknown character or stage name is an error naming it.
    pub fn resolve(&self) -> Result<Filter, SettingsError> {
        Ok(Filter {
            characters: characters(&self.characters)?,
            stages: self
                .stages
                .iter()
                .map(|n| ExternalStage::parse(n).ok_or_else(|| SettingsError::Stage(n.clone())))
                .collect::<Result<_, _>>()?,
            min_frames: self.min_frames,
            human_only: self.human_only,
            one_v_one: self.one_v_one,
            min_quality: self.min_quality.map(|q| q.min(100) as u8),
            dedupe: self.dedupe,
        })
    }
}

/// Characters by name; an unknown one is an error naming it.
fn characters(names: &[String]) -> Result<Vec<ExternalCharacter>, SettingsError> {
    names
        .iter()
        .map(|n| ExternalCharacter::parse(n).ok_or_else(|| SettingsError::Character(n.clone())))
        .collect()
}

/// Where the embedding comes from.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum EmbedSource {
    /// The default embedding.
    #[default]
    Default,
    /// A named preset (compact, minimal, one_hot, full).
    Preset(String),
    /// An embedding config file (JSON).
    File(PathBuf),
}

/// Where player-name ids come from.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum NamesSource {
    /// No ids (every player is 0).
    #[default]
    Off,
    /// A registry of this many ids built from the kept games.
    Build(u32),
    /// This registry file.
    Registry(PathBuf),
}

/// A dataset build as given.
#[derive(Clone, Debug, PartialEq)]
pub struct BuildSettings {
    /// The embedding.
    pub embed: EmbedSource,
    /// Player-name ids.
    pub player_names: NamesSource,
    /// Stick targets from these k-means centres (else uniform buckets).
    pub kmeans_centers: Option<PathBuf>,
    /// Learn the player on this port (1-4).
    pub player_port: Option<u8>,
    /// Learn the port(s) playing one of these characters (when no port is given).
    pub train_character: Vec<String>,
    /// Frames between the state seen and the action learned.
    pub frame_delay: u8,
    /// Draw each example's delay from this range.
    pub delay_augment: Option<(u8, u8)>,
    /// Add a mirrored copy of every example.
    pub mirror: bool,
    /// Add noisy copies of every example.
    pub noise: Option<NoiseConfig>,
    /// Seeds delay augmentation and noise.
    pub seed: u64,
    /// Which replays are used.
    pub filter: FilterSettings,
    /// Storage precision of the features.
    pub precision: Precision,
    /// How the shards' arrays are stored.
    pub compression: Compression,
    /// Fraction of games held out for validation.
    pub validation_fraction: f64,
    /// Seed of the split.
    pub split_seed: u64,
    /// Worker threads (`None`: all cores).
    pub threads: Option<usize>,
}

impl Default for BuildSettings {
    fn default() -> BuildSettings {
        BuildSettings {
            embed: EmbedSource::Default,
            player_names: NamesSource::Off,
            kmeans_centers: None,
            player_port: None,
            train_character: Vec::new(),
            frame_delay: 0,
            delay_augment: None,
            mirror: false,
            noise: None,
            seed: 0,
            filter: FilterSettings {
                dedupe: true,
                ..FilterSettings::default()
            },
            precision: Precision::F32,
            compression: Compression::Zstd,
            validation_fraction: 0.0,
            split_seed: 0,
            threads: None,
        }
    }
}

impl BuildSettings {
    /// The validated build: presets and files read, names parsed, ranges checked.
    pub fn resolve(&self) -> Result<BuildConfig, SettingsError> {
        let invalid = |m: String| Err(SettingsError::Invalid(m));
        let (mut embed, explicit_names) = self.embedding()?;
        let players = match &self.player_names {
            NamesSource::Off => PlayerNames::Off,
            NamesSource::Build(n) if *n < 2 => {
                return invalid(format!(
                    "player names: {n} ids is too few; give at least 2 (id 0 is \"unknown\") or 0 \
                     for none"
                ))
            }
            NamesSource::Build(n) => PlayerNames::Build(*n),
            NamesSource::Registry(path) => PlayerNames::Registry(PlayerRegistry::read(path)?),
        };
        let capacity = match &players {
            PlayerNames::Off => None,
            PlayerNames::Registry(r) => Some(r.capacity),
            PlayerNames::Build(n) => Some(*n),
        };
        if let Some(c) = capacity {
            if explicit_names && embed.player_names != c {
                return invalid(format!(
                    "the embedding config sets player_names {}, the player registry has \
                     capacity {c}",
                    embed.player_names
                ));
            }
            embed.player_names = c;
        }
        let mut targets = TargetConfig::default();
        if let Some(path) = &self.kmeans_centers {
            targets.stick = StickDiscretization::from_centers_file(path).map_err(|source| {
                SettingsError::Centers {
                    path: path.clone(),
                    source,
                }
            })?;
        }
        let perspective = match (self.player_port, self.train_character.is_empty()) {
            (Some(p), _) => Perspective::Port(p),
            (None, false) => Perspective::Character(characters(&self.train_character)?),
            (None, true) => Perspective::Dual,
        };
        if self.threads == Some(0) {
            return invalid("threads must be at least 1".into());
        }
        let examples = ExampleConfig {
            perspective,
            frame_delay: self.frame_delay,
            delay_augment: self.delay_augment,
            mirror: self.mirror,
            noise: self.noise,
            seed: self.seed,
        };
        examples
            .validate()
            .map_err(|e| SettingsError::Invalid(e.0))?;
        Ok(BuildConfig {
            embed,
            targets,
            examples,
            filter: self.filter.resolve()?,
            precision: self.precision,
            compression: self.compression,
            validation_fraction: self.validation_fraction,
            split_seed: self.split_seed,
            threads: self.threads,
            players,
        })
    }

    /// The embedding, and whether it sets the player-name capacity itself.
    fn embedding(&self) -> Result<(EmbedConfig, bool), SettingsError> {
        match &self.embed {
            EmbedSource::Default => Ok((EmbedConfig::default(), false)),
            EmbedSource::Preset(name) => Ok((EmbedConfig::preset(name)?, false)),
            EmbedSource::File(path) => embed_file(path),
        }
    }
}

/// An embedding config file, and whether it sets `player_names`.
fn embed_file(path: &Path) -> Result<(EmbedConfig, bool), SettingsError> {
    let bad = |reason: String| SettingsError::EmbedFile {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let explicit = value.get("player_names").is_some();
    let config = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
    Ok((config, explicit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_parsed_once_and_unknown_ones_are_named() {
        let mut s = BuildSettings {
            train_character: vec!["fox".into(), "puff".into()],
            ..BuildSettings::default()
        };
        s.filter.stages = vec!["bf".into()];
        let c = s.resolve().unwrap();
        assert_eq!(
            c.examples.perspective,
            Perspective::Character(characters(&["fox".into(), "jigglypuff".into()]).unwrap())
        );
        assert_eq!(
            c.filter.stages,
            vec![ExternalStage::parse("battlefield").unwrap()]
        );
        s.filter.characters = vec!["waluigi".into()];
        let e = s.resolve().unwrap_err().to_string();
        assert!(e.contains("unknown character \"waluigi\""), "{e}");
        s.filter.characters.clear();
        s.filter.stages = vec!["moon".into()];
        assert!(s
            .resolve()
            .unwrap_err()
            .to_string()
            .contains("unknown stage \"moon\""));
    }

    #[test]
    fn ranges_are_checked() {
        let bad = [
            BuildSettings {
                player_names: NamesSource::Build(1),
                ..BuildSettings::default()
            },
            BuildSettings {
                threads: Some(0),
                ..BuildSettings::default()
            },
            BuildSettings {
                player_port: Some(5),
                ..BuildSettings::default()
            },
            BuildSettings {
                delay_augment: Some((4, 2)),
                ..BuildSettings::default()
            },
        ];
        for (s, want) in bad.iter().zip(["at least 2", "threads", "port", "range"]) {
            let e = s.resolve().unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        let c = BuildSettings {
            player_names: NamesSource::Build(64),
            ..BuildSettings::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(c.embed.player_names, 64);
    }
}
