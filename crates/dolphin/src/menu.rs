//! Menus: the menu block Dolphin sends between games (`menu_event`, command 0x3E, written by a
//! menu-info Gecko code), and a navigator that drives one port's pad through the main menu,
//! the character select screen (character, CPU level), the stage select screen and the
//! direct-connect name entry. The navigator decides from what the block says each frame
//! (cursor positions, selections), never from timing, so a dropped frame only delays it.

use crate::pipe::Pad;
use exphil_replay::{ExternalCharacter, ExternalStage};

/// Which screen the game is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scene {
    /// The title screen.
    PressStart,
    /// The main menu tree.
    MainMenu,
    /// The offline character select screen.
    CharacterSelect,
    /// The stage select screen.
    StageSelect,
    /// A game.
    InGame,
    /// The Slippi Online character select screen.
    OnlineCss,
    /// Anything else (results screen, …), by its raw scene value.
    Other(u16),
}

impl Scene {
    fn of(raw: u16) -> Scene {
        match raw {
            0x0000 => Scene::PressStart,
            0x0001 => Scene::MainMenu,
            0x0002 => Scene::CharacterSelect,
            0x0102 | 0x0108 => Scene::StageSelect,
            0x0202 | 0x0208 => Scene::InGame,
            0x0008 => Scene::OnlineCss,
            r => Scene::Other(r),
        }
    }
}

/// Controller status of a port on the character select screen.
pub const STATUS_HUMAN: u8 = 0;
/// A CPU player.
pub const STATUS_CPU: u8 = 1;
/// No player.
pub const STATUS_NONE: u8 = 3;

/// Main-menu submenus the navigator uses.
mod submenu {
    pub const TOP: u8 = 0;
    pub const ONE_PLAYER: u8 = 1;
    pub const VS_MODE: u8 = 2;
    pub const ONLINE_PLAY: u8 = 8;
    pub const NAME_ENTRY: u8 = 18;
}

/// One menu block, decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct MenuState {
    /// The screen.
    pub scene: Scene,
    /// Character-select cursor of each port (x, y).
    pub cursor: [(f32, f32); 4],
    /// The "ready to fight" banner byte.
    pub ready_to_start: u8,
    /// The stage under the stage-select cursor (menu numbering).
    pub stage: u8,
    /// Each port's controller status ([`STATUS_HUMAN`], [`STATUS_CPU`], [`STATUS_NONE`]).
    pub status: [u8; 4],
    /// Each port's selected character, in character-select-screen order ([`css_index`]).
    pub character: [u8; 4],
    /// Whether each port's coin is down (character chosen).
    pub coin_down: [bool; 4],
    /// Stage-select cursor (x, y).
    pub stage_cursor: (f32, f32),
    /// The game's frame counter.
    pub frame: i32,
    /// The main-menu submenu.
    pub submenu: u8,
    /// The highlighted entry (in name entry: the key under the cursor).
    pub selection: u8,
    /// Each port's CPU level (0 for humans).
    pub cpu_level: [u8; 4],
    /// Whether each port is holding the CPU-level slider.
    pub holding_slider: [bool; 4],
}

/// Bytes of a full menu block.
pub const MENU_BYTES: usize = 0x49;

impl MenuState {
    /// Decodes a menu block (big-endian, FORMATS §2); `Err` says why it is not one.
    pub fn parse(b: &[u8]) -> Result<MenuState, String> {
        if b.first() != Some(&0x3E) {
            return Err(format!(
                "a menu block starts with 0x3E, this one with {:#04x}",
                b.first().copied().unwrap_or(0)
            ));
        }
        if b.len() < MENU_BYTES {
            return Err(format!(
                "a menu block is {MENU_BYTES} bytes, this one {}",
                b.len()
            ));
        }
        let f32_at = |o: usize| f32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let four = |o: usize| [b[o], b[o + 1], b[o + 2], b[o + 3]];
        let mut cpu_level = four(0x41);
        let status = four(0x25);
        for (l, s) in cpu_level.iter_mut().zip(status) {
            if s != STATUS_CPU {
                *l = 0;
            }
        }
        Ok(MenuState {
            scene: Scene::of(u16::from_be_bytes([b[1], b[2]])),
            cursor: [0, 1, 2, 3].map(|i| (f32_at(3 + 8 * i), f32_at(7 + 8 * i))),
            ready_to_start: b[0x23],
            stage: b[0x24],
            status,
            character: four(0x29),
            coin_down: four(0x2D).map(|v| v == 2),
            stage_cursor: (f32_at(0x31), f32_at(0x35)),
            frame: i32::from_be_bytes(four(0x39)),
            submenu: b[0x3D],
            selection: b[0x3E],
            cpu_level,
            holding_slider: four(0x45).map(|v| v != 0),
        })
    }

    /// Encodes the block (for tests and tools that simulate the menus).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0u8; MENU_BYTES];
        b[0] = 0x3E;
        let raw = match self.scene {
            Scene::PressStart => 0x0000,
            Scene::MainMenu => 0x0001,
            Scene::CharacterSelect => 0x0002,
            Scene::StageSelect => 0x0102,
            Scene::InGame => 0x0202,
            Scene::OnlineCss => 0x0008,
            Scene::Other(r) => r,
        };
        b[1..3].copy_from_slice(&u16::to_be_bytes(raw));
        for i in 0..4 {
            b[3 + 8 * i..7 + 8 * i].copy_from_slice(&self.cursor[i].0.to_be_bytes());
            b[7 + 8 * i..11 + 8 * i].copy_from_slice(&self.cursor[i].1.to_be_bytes());
            b[0x25 + i] = self.status[i];
            b[0x29 + i] = self.character[i];
            b[0x2D + i] = if self.coin_down[i] { 2 } else { 0 };
            b[0x41 + i] = self.cpu_level[i];
            b[0x45 + i] = self.holding_slider[i] as u8;
        }
        b[0x23] = self.ready_to_start;
        b[0x24] = self.stage;
        b[0x31..0x35].copy_from_slice(&self.stage_cursor.0.to_be_bytes());
        b[0x35..0x39].copy_from_slice(&self.stage_cursor.1.to_be_bytes());
        b[0x39..0x3D].copy_from_slice(&self.frame.to_be_bytes());
        b[0x3D] = self.submenu;
        b[0x3E] = self.selection;
        b
    }
}

/// The characters in character-select-screen order (top row, middle row, bottom row).
const CSS_ORDER: [u8; 25] = [
    22, 8, 7, 5, 12, 17, 1, 0, 25, // Doc Mario Luigi Bowser Peach Yoshi DK Falcon Ganon
    20, 2, 11, 14, 4, 16, 18, 6, 21, // Falco Fox Ness ICs Kirby Samus Zelda Link YLink
    24, 13, 15, 10, 3, 9, 23, // Pichu Pikachu Puff Mewtwo G&W Marth Roy
];

/// A character's index on the character select screen (Sheik is chosen as Zelda).
pub fn css_index(c: ExternalCharacter) -> Option<u8> {
    let c = if c.0 == 19 { 18 } else { c.0 };
    CSS_ORDER.iter().position(|&x| x == c).map(|i| i as u8)
}

/// The character at a character-select-screen index.
pub fn css_character(index: u8) -> Option<ExternalCharacter> {
    CSS_ORDER.get(index as usize).map(|&c| ExternalCharacter(c))
}

/// Where a character's portrait is on the character select screen (cursor units).
pub fn portrait(index: u8) -> (f32, f32) {
    let (mut row, mut col) = (index / 9, index % 9);
    if row == 2 {
        col += 1; // the bottom row is shifted one slot right
    }
    row = 2 - row;
    (-29.0 + 7.0 * col as f32, 4.5 + 7.0 * row as f32)
}

/// Where a stage's icon is on the stage select screen (the six legal stages).
pub fn stage_icon(stage: ExternalStage) -> Option<(f32, f32)> {
    Some(match stage.0 {
        31 => (1.0, -9.0),  // Battlefield
        32 => (6.7, -9.0),  // Final Destination
        28 => (12.5, -9.0), // Dream Land
        3 => (15.0, 3.5),   // Pokémon Stadium
        8 => (3.5, 15.5),   // Yoshi's Story
        2 => (10.0, 15.5),  // Fountain of Dreams
        _ => return None,
    })
}

/// The HMN/CPU toggle of a port (0-based) on the character select screen.
fn status_toggle(port: usize) -> (f32, f32) {
    (-31.5 + 15.0 * port as f32, -2.2)
}

/// The CPU-level slider of a port (0-based).
fn level_slider(port: usize) -> (f32, f32) {
    (-30.9 + 15.4 * port as f32, -15.12)
}

/// How close the cursor must be to a target.
const NEAR: f32 = 1.5;

/// The name-entry key of a character of a connect code (letters, digits, `#`).
pub fn name_key(c: char) -> Option<u8> {
    const ROWS: [&str; 4] = ["ABCDEFGHIJ", "KLMNOPQRST", "UVWXYZ   #", "0123456789"];
    let c = c.to_ascii_uppercase();
    if c == ' ' {
        return None;
    }
    ROWS.iter().enumerate().find_map(|(row, keys)| {
        keys.chars()
            .position(|k| k == c)
            .map(|col| 45 + row as u8 - 5 * col as u8)
    })
}

/// What one port should do in the menus.
#[derive(Clone, Debug, PartialEq)]
pub struct MenuGoal {
    /// The character to pick.
    pub character: ExternalCharacter,
    /// 0: a human-controlled (pipe) player; 1..=9: a CPU of this level.
    pub cpu_level: u8,
    /// The stage to pick, when this port picks it.
    pub stage: Option<ExternalStage>,
    /// Whether this port presses START when everyone is ready (one port should).
    pub start: bool,
    /// A direct-connect code to enter (Slippi Online), instead of offline VS mode.
    pub connect_code: Option<String>,
}

/// Drives one port's pad through the menus toward a [`MenuGoal`].
#[derive(Clone, Debug)]
pub struct Navigator {
    /// 0-based port.
    port: usize,
    goal: MenuGoal,
    css: Option<u8>,
    code: Vec<u8>,
    typed: usize,
    last: Pad,
    others_ready: bool,
}

/// The stick toward `target` from `at` (y first, then x), or `None` when within `near`.
fn toward(at: (f32, f32), target: (f32, f32), near: f32, full: f32) -> Option<(f32, f32)> {
    let (dx, dy) = (target.0 - at.0, target.1 - at.1);
    if dy.abs() >= near {
        return Some((0.5, if dy > 0.0 { 0.5 + full } else { 0.5 - full }));
    }
    if dx.abs() >= near {
        return Some((if dx > 0.0 { 0.5 + full } else { 0.5 - full }, 0.5));
    }
    None
}

impl Navigator {
    /// A navigator for 1-based `port`. `Err` when the goal cannot be met (a character with no
    /// portrait, a stage with no icon, a code with a character the keyboard lacks).
    pub fn new(port: u8, goal: MenuGoal) -> Result<Navigator, String> {
        if !(1..=4).contains(&port) {
            return Err(format!("port {port}: ports are 1 to 4"));
        }
        let css = css_index(goal.character);
        if css.is_none() {
            return Err(format!(
                "{} cannot be picked on the character select screen",
                goal.character.name().unwrap_or("this character")
            ));
        }
        if let Some(s) = goal.stage {
            if stage_icon(s).is_none() {
                return Err(format!(
                    "{} is not one of the six legal stages the navigator picks",
                    s.name().unwrap_or("this stage")
                ));
            }
        }
        if goal.cpu_level > 9 {
            return Err(format!("CPU level {}: levels are 1 to 9", goal.cpu_level));
        }
        let code = match &goal.connect_code {
            Some(c) => c
                .chars()
                .map(|ch| {
                    name_key(ch).ok_or_else(|| {
                        format!("connect code {c:?}: {ch:?} cannot be typed (letters, digits, #)")
                    })
                })
                .collect::<Result<Vec<u8>, String>>()?,
            None => Vec::new(),
        };
        Ok(Navigator {
            port: port as usize - 1,
            goal,
            css,
            code,
            typed: 0,
            last: Pad::NEUTRAL,
            others_ready: true,
        })
    }

    /// Whether every key of the connect code has been typed.
    pub fn code_typed(&self) -> bool {
        self.typed >= self.code.len()
    }

    /// Whether the other ports' navigators are done (a starting navigator waits for them).
    pub fn set_others_ready(&mut self, ready: bool) {
        self.others_ready = ready;
    }

    /// Whether this port's character select is done: its kind (human or CPU), its CPU level
    /// and its character are as the goal says.
    pub fn done(&self, m: &MenuState) -> bool {
        let online = m.scene == Scene::OnlineCss;
        let me = if online { 0 } else { self.port };
        let chosen = Some(m.character[me]) == self.css && (m.coin_down[me] || online);
        if online {
            return chosen;
        }
        let cpu_ok = (m.status[self.port] == STATUS_CPU) == (self.goal.cpu_level > 0)
            && (self.goal.cpu_level == 0 || m.cpu_level[self.port] == self.goal.cpu_level)
            && !m.holding_slider[self.port];
        chosen && cpu_ok
    }

    /// This frame's pad for the menu state `m`.
    pub fn step(&mut self, m: &MenuState) -> Pad {
        let pad = match m.scene {
            Scene::PressStart => self.alternate(m, Pad::NEUTRAL.press("START")),
            Scene::MainMenu => self.main_menu(m),
            Scene::CharacterSelect | Scene::OnlineCss if m.submenu == submenu::NAME_ENTRY => {
                self.name_entry(m)
            }
            Scene::CharacterSelect | Scene::OnlineCss => self.character_select(m),
            Scene::StageSelect => self.stage_select(m),
            Scene::InGame => Pad::NEUTRAL,
            // Results and other screens: START every second moves on.
            Scene::Other(_) => {
                if m.frame.rem_euclid(60) == 0 {
                    Pad::NEUTRAL.press("START")
                } else {
                    Pad::NEUTRAL
                }
            }
        };
        self.last = pad;
        pad
    }

    /// `pad` on even frames and nothing on odd ones, so each press is a fresh press.
    fn alternate(&self, m: &MenuState, pad: Pad) -> Pad {
        if m.frame % 2 == 0 {
            pad
        } else {
            Pad::NEUTRAL
        }
    }

    /// Press `name` if it was not held last frame (a fresh press every second frame).
    fn tap(&self, name: &str, mut pad: Pad) -> Pad {
        if !self.last.pressed(name) {
            pad = pad.press(name);
        }
        pad
    }

    fn main_menu(&self, m: &MenuState) -> Pad {
        let down = Pad {
            main: (0.5, 0.0),
            ..Pad::NEUTRAL
        };
        let a = Pad::NEUTRAL.press("A");
        let pad = if self.goal.connect_code.is_some() {
            match m.submenu {
                submenu::TOP => a,
                submenu::ONE_PLAYER if m.selection == 2 => a,
                submenu::ONE_PLAYER => down,
                submenu::ONLINE_PLAY if m.selection == 2 || m.selection == 3 => a,
                submenu::ONLINE_PLAY => down,
                submenu::NAME_ENTRY => Pad::NEUTRAL,
                _ => Pad::NEUTRAL.press("B"),
            }
        } else {
            match m.submenu {
                submenu::TOP if m.selection == 1 => a,
                submenu::TOP => down,
                submenu::VS_MODE if m.selection == 0 => a,
                submenu::VS_MODE => down,
                _ => Pad::NEUTRAL.press("B"),
            }
        };
        self.alternate(m, pad)
    }

    fn character_select(&mut self, m: &MenuState) -> Pad {
        let p = self.port;
        let online = m.scene == Scene::OnlineCss;
        // Online, the local player is always the first block.
        let me = if online { 0 } else { p };
        let at = m.cursor[me];
        let want = self.css.expect("checked in new");
        let chosen = m.character[me] == want && (m.coin_down[me] || online);
        let stick = |s: (f32, f32)| Pad {
            main: s,
            ..Pad::NEUTRAL
        };
        if !online {
            let is_cpu = m.status[p] == STATUS_CPU;
            let want_cpu = self.goal.cpu_level > 0;
            // First the player kind: click the HMN/CPU toggle until it is right.
            if is_cpu != want_cpu {
                return match toward(at, status_toggle(p), NEAR, 0.5) {
                    Some(s) => stick(s),
                    None => self.alternate(m, Pad::NEUTRAL.press("A")),
                };
            }
            // A CPU's level: grab the slider and move it.
            if want_cpu && m.holding_slider[p] {
                let level = m.cpu_level[p];
                return if level > self.goal.cpu_level {
                    stick((0.35, 0.5))
                } else if level < self.goal.cpu_level {
                    stick((0.65, 0.5))
                } else {
                    self.alternate(m, Pad::NEUTRAL.press("A"))
                };
            }
            if want_cpu && chosen && m.cpu_level[p] != self.goal.cpu_level {
                return match toward(at, level_slider(p), 1.0, 0.3) {
                    Some(s) => stick(s),
                    None => self.alternate(m, Pad::NEUTRAL.press("A")),
                };
            }
        }
        if chosen {
            if online {
                // Online: START locks the character in.
                return self.alternate(m, Pad::NEUTRAL.press("START"));
            }
            if self.goal.start && self.others_ready && m.ready_to_start != 0 {
                return self.alternate(m, Pad::NEUTRAL.press("START"));
            }
            return Pad::NEUTRAL;
        }
        match toward(at, portrait(want), NEAR, 0.5) {
            Some(s) => stick(s),
            None if m.coin_down[me] => Pad::NEUTRAL.press("B"), // the wrong coin: pick it up
            None => self.tap("A", Pad::NEUTRAL),
        }
    }

    fn stage_select(&self, m: &MenuState) -> Pad {
        let Some(stage) = self.goal.stage else {
            return Pad::NEUTRAL;
        };
        if m.frame < 20 {
            return Pad::NEUTRAL;
        }
        let target = stage_icon(stage).expect("checked in new");
        match toward(m.stage_cursor, target, NEAR, 0.5) {
            Some(s) => Pad {
                main: s,
                ..Pad::NEUTRAL
            },
            None => Pad::NEUTRAL.press("A"),
        }
    }

    /// Types the connect code on the name-entry keyboard: keys go down by +1 and right by −5.
    fn name_entry(&mut self, m: &MenuState) -> Pad {
        if m.frame % 2 != 0 {
            return Pad::NEUTRAL;
        }
        let Some(&target) = self.code.get(self.typed) else {
            return Pad::NEUTRAL.press("START");
        };
        let sel = m.selection;
        if sel > 49 {
            // Off the letter grid (the confirm row): back up into it.
            return Pad {
                main: (0.5, 1.0),
                ..Pad::NEUTRAL
            };
        }
        let (row, col) = (sel % 5, (49 - sel) / 5);
        let (trow, tcol) = (target % 5, (49 - target) / 5);
        let stick = if row < trow {
            (0.5, 0.0)
        } else if row > trow {
            (0.5, 1.0)
        } else if col < tcol {
            (1.0, 0.5)
        } else if col > tcol {
            (0.0, 0.5)
        } else {
            self.typed += 1;
            return Pad::NEUTRAL.press("A");
        };
        Pad {
            main: stick,
            ..Pad::NEUTRAL
        }
    }
}
