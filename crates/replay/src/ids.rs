//! Character and stage identifiers, kept apart by numbering scheme.
//!
//! Melee numbers characters and stages twice. Game Start carries **external** ids (the character
//! select screen order, and the stage select order), Post-Frame updates and the UMI `Frame` carry
//! **internal** ids. The two collide (external stage 8 is Yoshi's Story, internal stage 8 is
//! Fountain of Dreams), so each numbering has its own type and conversions are explicit.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A character id in Game Start's (external, character-select) numbering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExternalCharacter(pub u8);

/// A character id in Post-Frame's (internal, in-game) numbering.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct InternalCharacter(pub u8);

/// A stage id in Game Start's (external, stage-select) numbering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExternalStage(pub u16);

/// A stage id in the game's internal numbering (used by UMI v1 frames).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InternalStage(pub u8);

/// (external id, internal id, full name, short aliases), for every playable or special character.
const CHARACTERS: &[(u8, u8, &str, &[&str])] = &[
    (0, 2, "Captain Falcon", &["falcon", "cf", "captainfalcon"]),
    (1, 3, "Donkey Kong", &["dk", "donkeykong"]),
    (2, 1, "Fox", &["fox"]),
    (
        3,
        24,
        "Mr. Game & Watch",
        &["gnw", "gw", "gameandwatch", "mrgameandwatch"],
    ),
    (4, 4, "Kirby", &["kirby"]),
    (5, 5, "Bowser", &["bowser"]),
    (6, 6, "Link", &["link"]),
    (7, 17, "Luigi", &["luigi"]),
    (8, 0, "Mario", &["mario"]),
    (9, 18, "Marth", &["marth"]),
    (10, 16, "Mewtwo", &["mewtwo", "m2"]),
    (11, 8, "Ness", &["ness"]),
    (12, 9, "Peach", &["peach"]),
    (13, 12, "Pikachu", &["pikachu", "pika"]),
    (
        14,
        10,
        "Ice Climbers",
        &["ics", "ic", "iceclimbers", "popo"],
    ),
    (15, 15, "Jigglypuff", &["puff", "jigglypuff", "jiggs"]),
    (16, 13, "Samus", &["samus"]),
    (17, 14, "Yoshi", &["yoshi"]),
    (18, 19, "Zelda", &["zelda"]),
    (19, 7, "Sheik", &["sheik"]),
    (20, 22, "Falco", &["falco"]),
    (21, 20, "Young Link", &["ylink", "yl", "younglink"]),
    (22, 21, "Dr. Mario", &["doc", "drmario", "dr.mario"]),
    (23, 26, "Roy", &["roy"]),
    (24, 23, "Pichu", &["pichu"]),
    (25, 25, "Ganondorf", &["ganon", "ganondorf"]),
    (26, 27, "Master Hand", &["masterhand"]),
    (27, 29, "Wireframe (male)", &["wireframemale"]),
    (28, 30, "Wireframe (female)", &["wireframefemale"]),
    (29, 31, "Giga Bowser", &["gigabowser"]),
    (30, 28, "Crazy Hand", &["crazyhand"]),
    (31, 32, "Sandbag", &["sandbag"]),
    (32, 10, "Popo", &[]),
];

/// Internal id of Nana, the Ice Climbers' follower (she has no external id).
pub const NANA_INTERNAL: InternalCharacter = InternalCharacter(11);

/// (external id, internal id if known, full name, short aliases).
const STAGES: &[(u16, Option<u8>, &str, &[&str])] = &[
    (
        2,
        Some(8),
        "Fountain of Dreams",
        &["fod", "fountain", "fountainofdreams"],
    ),
    (
        3,
        Some(18),
        "Pokemon Stadium",
        &["ps", "stadium", "pokemonstadium"],
    ),
    (
        4,
        None,
        "Princess Peach's Castle",
        &["castle", "peachscastle"],
    ),
    (5, None, "Kongo Jungle", &["kongo", "kongojungle"]),
    (6, None, "Brinstar", &["brinstar"]),
    (7, None, "Corneria", &["corneria"]),
    (
        8,
        Some(6),
        "Yoshi's Story",
        &["ys", "yoshis", "yoshisstory"],
    ),
    (9, None, "Onett", &["onett"]),
    (10, None, "Mute City", &["mutecity"]),
    (11, None, "Rainbow Cruise", &["rc", "rainbowcruise"]),
    (12, None, "Jungle Japes", &["japes", "junglejapes"]),
    (13, None, "Great Bay", &["greatbay"]),
    (
        14,
        None,
        "Hyrule Temple",
        &["hyrule", "temple", "hyruletemple"],
    ),
    (15, None, "Brinstar Depths", &["depths", "brinstardepths"]),
    (16, None, "Yoshi's Island", &["yoshisisland"]),
    (17, None, "Green Greens", &["greengreens"]),
    (18, None, "Fourside", &["fourside"]),
    (19, None, "Mushroom Kingdom I", &["mk1", "mushroomkingdom"]),
    (
        20,
        None,
        "Mushroom Kingdom II",
        &["mk2", "mushroomkingdom2"],
    ),
    (22, None, "Venom", &["venom"]),
    (23, None, "Poke Floats", &["pokefloats", "floats"]),
    (24, None, "Big Blue", &["bigblue"]),
    (25, None, "Icicle Mountain", &["icicle", "iciclemountain"]),
    (26, None, "Icetop", &["icetop"]),
    (27, None, "Flat Zone", &["flatzone"]),
    (
        28,
        Some(26),
        "Dream Land N64",
        &["dl", "dreamland", "dreamland64"],
    ),
    (29, None, "Yoshi's Island N64", &["yi64", "yoshisisland64"]),
    (30, None, "Kongo Jungle N64", &["kj64", "kongojungle64"]),
    (31, Some(24), "Battlefield", &["bf", "battlefield"]),
    (
        32,
        Some(25),
        "Final Destination",
        &["fd", "final", "finaldestination"],
    ),
];

/// The six tournament-legal stages (external ids): FoD, PS, YS, DL, BF, FD.
pub const LEGAL_STAGES: [ExternalStage; 6] = [
    ExternalStage(2),
    ExternalStage(3),
    ExternalStage(8),
    ExternalStage(28),
    ExternalStage(31),
    ExternalStage(32),
];

fn squash(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric() || *c == '.')
        .flat_map(char::to_lowercase)
        .collect()
}

impl ExternalCharacter {
    /// Ice Climbers (Popo leads, Nana follows).
    pub const ICE_CLIMBERS: ExternalCharacter = ExternalCharacter(14);

    /// Full English name, or `None` for an id outside the table.
    pub fn name(self) -> Option<&'static str> {
        CHARACTERS.iter().find(|c| c.0 == self.0).map(|c| c.2)
    }

    /// Short alias (`fox`, `ics`, `gnw`, …) or a lowercase name.
    pub fn short_name(self) -> Option<&'static str> {
        CHARACTERS
            .iter()
            .find(|c| c.0 == self.0)
            .map(|c| c.3.first().copied().unwrap_or(c.2))
    }

    /// The same character in the internal numbering.
    pub fn to_internal(self) -> Option<InternalCharacter> {
        CHARACTERS
            .iter()
            .find(|c| c.0 == self.0)
            .map(|c| InternalCharacter(c.1))
    }

    /// Parses a full name, an alias (`puff`, `ics`, `falcon`, …) or an external id number.
    pub fn parse(text: &str) -> Option<ExternalCharacter> {
        let key = squash(text);
        if let Ok(n) = key.parse::<u8>() {
            return (n <= 32).then_some(ExternalCharacter(n));
        }
        CHARACTERS
            .iter()
            .find(|c| squash(c.2) == key || c.3.contains(&key.as_str()))
            .map(|c| ExternalCharacter(c.0))
    }

    /// Every external id with a name, in id order.
    pub fn all() -> impl Iterator<Item = ExternalCharacter> {
        CHARACTERS.iter().map(|c| ExternalCharacter(c.0))
    }
}

impl InternalCharacter {
    /// Full English name (Nana and Popo named as such), or `None` for an unknown id.
    pub fn name(self) -> Option<&'static str> {
        match self.0 {
            10 => Some("Popo"),
            11 => Some("Nana"),
            id => CHARACTERS.iter().find(|c| c.1 == id).map(|c| c.2),
        }
    }

    /// The same character in the external numbering (Popo and Nana map to Ice Climbers).
    pub fn to_external(self) -> Option<ExternalCharacter> {
        match self.0 {
            10 | 11 => Some(ExternalCharacter::ICE_CLIMBERS),
            id => CHARACTERS
                .iter()
                .find(|c| c.1 == id)
                .map(|c| ExternalCharacter(c.0)),
        }
    }
}

impl ExternalStage {
    /// Full English name, or `None` for an id outside the table.
    pub fn name(self) -> Option<&'static str> {
        STAGES.iter().find(|s| s.0 == self.0).map(|s| s.2)
    }

    /// Short alias (`bf`, `fd`, `fod`, `ys`, `ps`, `dl`, …).
    pub fn short_name(self) -> Option<&'static str> {
        STAGES
            .iter()
            .find(|s| s.0 == self.0)
            .map(|s| s.3.first().copied().unwrap_or(s.2))
    }

    /// The internal id, known for the tournament stages.
    pub fn to_internal(self) -> Option<InternalStage> {
        STAGES
            .iter()
            .find(|s| s.0 == self.0)
            .and_then(|s| s.1.map(InternalStage))
    }

    /// Whether this is one of the six tournament-legal stages.
    pub fn is_legal(self) -> bool {
        LEGAL_STAGES.contains(&self)
    }

    /// Parses a full name, an alias (`bf`, `fd`, `fod`, `ys`, `ps`, `dl`) or an external id number.
    pub fn parse(text: &str) -> Option<ExternalStage> {
        let key = squash(text);
        if let Ok(n) = key.parse::<u16>() {
            return Some(ExternalStage(n));
        }
        STAGES
            .iter()
            .find(|s| squash(s.2) == key || s.3.contains(&key.as_str()))
            .map(|s| ExternalStage(s.0))
    }
}

impl InternalStage {
    /// The external id of a tournament stage given by internal id.
    pub fn to_external(self) -> Option<ExternalStage> {
        STAGES
            .iter()
            .find(|s| s.1 == Some(self.0))
            .map(|s| ExternalStage(s.0))
    }

    /// Full English name (known for the tournament stages).
    pub fn name(self) -> Option<&'static str> {
        self.to_external().and_then(ExternalStage::name)
    }
}

impl fmt::Display for ExternalCharacter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "character#{}", self.0),
        }
    }
}

impl fmt::Display for InternalCharacter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "internal-character#{}", self.0),
        }
    }
}

impl fmt::Display for ExternalStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "stage#{}", self.0),
        }
    }
}

impl fmt::Display for InternalStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "internal-stage#{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_resolve() {
        for (alias, id) in [
            ("bf", 31),
            ("fd", 32),
            ("fod", 2),
            ("ys", 8),
            ("ps", 3),
            ("dl", 28),
        ] {
            assert_eq!(
                ExternalStage::parse(alias),
                Some(ExternalStage(id)),
                "{alias}"
            );
        }
        for (alias, id) in [
            ("fox", 2),
            ("falco", 20),
            ("puff", 15),
            ("ics", 14),
            ("gnw", 3),
            ("ganon", 25),
            ("falcon", 0),
            ("doc", 22),
            ("Captain Falcon", 0),
            ("Mr. Game & Watch", 3),
        ] {
            assert_eq!(
                ExternalCharacter::parse(alias),
                Some(ExternalCharacter(id)),
                "{alias}"
            );
        }
        assert_eq!(ExternalCharacter::parse("nobody"), None);
    }

    #[test]
    fn numberings_do_not_collide() {
        // External YS (8) and internal FoD (8) share a number but not a meaning.
        assert_eq!(ExternalStage(8).name(), Some("Yoshi's Story"));
        assert_eq!(InternalStage(8).name(), Some("Fountain of Dreams"));
        for s in LEGAL_STAGES {
            let internal = s.to_internal().expect("legal stages have internal ids");
            assert_eq!(internal.to_external(), Some(s));
        }
        for c in ExternalCharacter::all().take(32) {
            let internal = c.to_internal().unwrap();
            assert_eq!(internal.to_external(), Some(c), "{c}");
        }
    }
}
