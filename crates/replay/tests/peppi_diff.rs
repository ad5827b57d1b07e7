//! Differential test against the reference decoder `peppi` 2.1.2: every shared replay that peppi
//! reads is decoded by both, and every field both expose must agree (floats bit for bit).
//!
//! peppi keeps every re-sent (rollback) copy of a frame; exphil keeps one row per frame id. So
//! exphil's `RollbackMode::Last` is compared with the last occurrence of each id in peppi's frame
//! list, and `RollbackMode::First` with the first occurrence (for files that have re-sends).

use exphil_testdata as common;

use exphil_replay as ex;
use peppi::frame::{transpose as pt, Rollbacks};
use std::collections::HashMap;
use std::fmt::{self, Debug, Display};
use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Mismatches stored per file (more are counted only).
const MAX_REPORTED: usize = 20;

/// Equality for comparison: floats bit for bit, so NaN == NaN and -0.0 != 0.0.
trait Same {
    fn same(&self, other: &Self) -> bool;
}

macro_rules! same_by_eq {
    ($($t:ty),*) => {$(
        impl Same for $t {
            fn same(&self, other: &Self) -> bool {
                self == other
            }
        }
    )*};
}
same_by_eq!(
    u8,
    u16,
    u32,
    i8,
    i32,
    bool,
    String,
    [u8; 4],
    [u8; 5],
    Vec<(u8, u8)>
);

impl Same for f32 {
    fn same(&self, other: &Self) -> bool {
        self.to_bits() == other.to_bits()
    }
}

impl<T: Same> Same for Option<T> {
    fn same(&self, other: &Self) -> bool {
        match (self, other) {
            (Some(a), Some(b)) => a.same(b),
            (None, None) => true,
            _ => false,
        }
    }
}

/// Where a compared value lives: the file is named by the report.
#[derive(Clone, Copy)]
enum At {
    Start,
    Player(u8),
    End,
    Frame(i32),
    Char {
        frame: i32,
        port: u8,
        follower: bool,
    },
    Item {
        frame: i32,
        spawn_id: u32,
    },
}

impl Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            At::Start => write!(f, "Game Start"),
            At::Player(p) => write!(f, "Game Start P{p}"),
            At::End => write!(f, "Game End"),
            At::Frame(id) => write!(f, "frame {id}"),
            At::Char {
                frame,
                port,
                follower,
            } => {
                let who = if follower { "follower" } else { "leader" };
                write!(f, "frame {frame} P{port} {who}")
            }
            At::Item { frame, spawn_id } => write!(f, "frame {frame} item spawn id {spawn_id}"),
        }
    }
}

/// The mismatches of one file (under one rollback mode).
struct Diff {
    label: String,
    shown: Vec<String>,
    total: usize,
    /// Values compared.
    checked: u64,
}

impl Diff {
    fn new(label: String) -> Diff {
        Diff {
            label,
            shown: Vec::new(),
            total: 0,
            checked: 0,
        }
    }

    fn note(&mut self, msg: String) {
        self.total += 1;
        if self.shown.len() < MAX_REPORTED {
            self.shown.push(msg);
        }
    }

    /// Records a mismatch of `field` at `at` unless `ours` (exphil) and `theirs` (peppi) agree.
    fn check<T: Same + Debug>(&mut self, at: At, field: &str, ours: T, theirs: T) {
        self.checked += 1;
        if !ours.same(&theirs) {
            self.note(format!(
                "{at}: {field}: exphil {ours:?} != peppi {theirs:?}"
            ));
        }
    }
}

// ---------------------------------------------------------------- Game Start and Game End

fn peppi_port(p: peppi::game::Port) -> u8 {
    p as u8 + 1
}

fn check_start(d: &mut Diff, ours: &ex::GameStart, theirs: &peppi::game::Start) {
    let at = At::Start;
    let v = theirs.slippi.version;
    d.check(
        at,
        "version",
        [ours.version.0, ours.version.1, ours.version.2, 0],
        [v.0, v.1, v.2, 0],
    );
    d.check(at, "bitfield", ours.bitfield, theirs.bitfield);
    d.check(
        at,
        "is_raining_bombs",
        ours.is_raining_bombs,
        theirs.is_raining_bombs,
    );
    d.check(at, "is_teams", ours.is_teams, theirs.is_teams);
    d.check(
        at,
        "item_spawn_frequency",
        ours.item_spawn_frequency,
        theirs.item_spawn_frequency,
    );
    d.check(
        at,
        "self_destruct_score",
        ours.self_destruct_score,
        theirs.self_destruct_score,
    );
    d.check(at, "stage", ours.stage.0, theirs.stage);
    d.check(at, "timer", ours.timer_seconds, theirs.timer);
    d.check(
        at,
        "item_spawn_bitfield",
        ours.item_spawn_bitfield,
        theirs.item_spawn_bitfield,
    );
    d.check(at, "damage_ratio", ours.damage_ratio, theirs.damage_ratio);
    d.check(at, "random_seed", ours.random_seed, theirs.random_seed);
    d.check(at, "is_pal", ours.is_pal, theirs.is_pal);
    d.check(at, "is_frozen_ps", ours.is_frozen_ps, theirs.is_frozen_ps);
    d.check(
        at,
        "scene",
        ours.scene.map(|s| [s.minor, s.major, 0, 0]),
        theirs.scene.map(|s| [s.minor, s.major, 0, 0]),
    );
    d.check(
        at,
        "language",
        ours.language,
        theirs.language.map(|l| l as u8),
    );
    d.check(
        at,
        "match id",
        ours.match_info.as_ref().map(|m| m.id.clone()),
        theirs.r#match.as_ref().map(|m| m.id.clone()),
    );
    d.check(
        at,
        "match game",
        ours.match_info.as_ref().map(|m| m.game_number),
        theirs.r#match.as_ref().map(|m| m.game),
    );
    d.check(
        at,
        "match tiebreaker",
        ours.match_info.as_ref().map(|m| m.tiebreaker_number),
        theirs.r#match.as_ref().map(|m| m.tiebreaker),
    );

    let ports = |ps: Vec<u8>| ps.into_iter().map(|p| (p, 0)).collect::<Vec<(u8, u8)>>();
    d.check(
        at,
        "occupied ports",
        ports(ours.players.iter().map(|p| p.port.number()).collect()),
        ports(theirs.players.iter().map(|p| peppi_port(p.port)).collect()),
    );
    for t in &theirs.players {
        let port = peppi_port(t.port);
        let Some(o) = ours.players.iter().find(|p| p.port.number() == port) else {
            continue;
        };
        let at = At::Player(port);
        d.check(at, "character", o.character.0, t.character);
        let kind = match o.kind {
            ex::PlayerKind::Human => 0u8,
            ex::PlayerKind::Cpu => 1,
            ex::PlayerKind::Demo => 2,
        };
        d.check(at, "type", kind, t.r#type as u8);
        d.check(at, "stocks", o.stocks, t.stocks);
        d.check(at, "costume", o.costume, t.costume);
        d.check(
            at,
            "team",
            o.team.map(|t| [t.color, t.shade, 0, 0]),
            t.team.map(|t| [t.color, t.shade, 0, 0]),
        );
        d.check(at, "handicap", o.handicap, t.handicap);
        d.check(at, "bitfield", o.bitfield, t.bitfield);
        d.check(at, "cpu_level", o.cpu_level, t.cpu_level);
        d.check(at, "damage_start", o.damage_start, t.damage_start);
        d.check(at, "damage_spawn", o.damage_spawn, t.damage_spawn);
        d.check(at, "offense_ratio", o.offense_ratio, t.offense_ratio);
        d.check(at, "defense_ratio", o.defense_ratio, t.defense_ratio);
        d.check(at, "model_scale", o.model_scale, t.model_scale);
        d.check(
            at,
            "ucf dash_back",
            o.ucf.map(|u| u.dash_back),
            t.ucf.map(|u| u.dash_back.map_or(0, |x| x as u32)),
        );
        d.check(
            at,
            "ucf shield_drop",
            o.ucf.map(|u| u.shield_drop),
            t.ucf.map(|u| u.shield_drop.map_or(0, |x| x as u32)),
        );
        d.check(
            at,
            "name_tag",
            o.name_tag.clone(),
            t.name_tag.as_ref().map(|s| s.to_normalized()),
        );
        d.check(
            at,
            "netplay name",
            o.netplay.as_ref().map(|n| n.name.clone()),
            t.netplay.as_ref().map(|n| n.name.to_normalized()),
        );
        d.check(
            at,
            "netplay code",
            o.netplay.as_ref().map(|n| n.code.clone()),
            t.netplay.as_ref().map(|n| n.code.to_normalized()),
        );
        d.check(
            at,
            "netplay uid",
            o.netplay.as_ref().and_then(|n| n.uid.clone()),
            t.netplay.as_ref().and_then(|n| n.suid.clone()),
        );
    }
}

fn check_end(d: &mut Diff, ours: Option<&ex::GameEnd>, theirs: Option<&peppi::game::End>) {
    let at = At::End;
    d.check(at, "present", ours.is_some(), theirs.is_some());
    let (Some(o), Some(t)) = (ours, theirs) else {
        return;
    };
    d.check(at, "method", o.method.0, t.method as u8);
    d.check(
        at,
        "lras_initiator",
        o.lras_initiator.map(|p| p.map(|p| p.number())),
        t.lras_initiator.map(|p| p.map(peppi_port)),
    );
    // peppi lists (port, placement) for placements 0..=3, omitting −1.
    d.check(
        at,
        "placements",
        o.placements.map(|ps| {
            (0u8..4)
                .zip(ps)
                .filter(|&(_, p)| p >= 0)
                .map(|(i, p)| (i + 1, p as u8))
                .collect::<Vec<_>>()
        }),
        t.players.as_ref().map(|ps| {
            ps.iter()
                .map(|p| (peppi_port(p.port), p.placement))
                .collect()
        }),
    );
}

// ---------------------------------------------------------------- frames

fn check_pre(d: &mut Diff, at: At, o: &ex::PreFrame, t: &pt::Pre) {
    d.check(at, "pre random_seed", o.random_seed, t.random_seed);
    d.check(at, "pre action_state", o.action_state, t.state);
    d.check(at, "pre x", o.x, t.position.x);
    d.check(at, "pre y", o.y, t.position.y);
    d.check(at, "pre facing", o.facing, t.direction);
    d.check(at, "pre joystick x", o.joystick.x, t.joystick.x);
    d.check(at, "pre joystick y", o.joystick.y, t.joystick.y);
    d.check(at, "pre cstick x", o.cstick.x, t.cstick.x);
    d.check(at, "pre cstick y", o.cstick.y, t.cstick.y);
    d.check(at, "pre trigger", o.trigger, t.triggers);
    d.check(at, "pre buttons", o.buttons, t.buttons);
    d.check(
        at,
        "pre buttons_physical",
        o.buttons_physical,
        t.buttons_physical,
    );
    d.check(
        at,
        "pre trigger_physical_l",
        o.trigger_physical_l,
        t.triggers_physical.l,
    );
    d.check(
        at,
        "pre trigger_physical_r",
        o.trigger_physical_r,
        t.triggers_physical.r,
    );
    d.check(at, "pre raw_analog_x", o.raw_analog_x, t.raw_analog_x);
    d.check(at, "pre percent", o.percent, t.percent);
    d.check(at, "pre raw_analog_y", o.raw_analog_y, t.raw_analog_y);
    d.check(
        at,
        "pre raw_cstick_x",
        o.raw_cstick_x,
        t.raw_analog_cstick_x,
    );
    d.check(
        at,
        "pre raw_cstick_y",
        o.raw_cstick_y,
        t.raw_analog_cstick_y,
    );
}

fn check_post(d: &mut Diff, at: At, o: &ex::PostFrame, t: &pt::Post) {
    d.check(at, "post character", o.character.0, t.character);
    d.check(at, "post action_state", o.action_state, t.state);
    d.check(at, "post x", o.x, t.position.x);
    d.check(at, "post y", o.y, t.position.y);
    d.check(at, "post facing", o.facing, t.direction);
    d.check(at, "post percent", o.percent, t.percent);
    d.check(at, "post shield", o.shield, t.shield);
    d.check(
        at,
        "post last_attack_landed",
        o.last_attack_landed,
        t.last_attack_landed,
    );
    d.check(at, "post combo_count", o.combo_count, t.combo_count);
    d.check(at, "post last_hit_by", o.last_hit_by, t.last_hit_by);
    d.check(at, "post stocks", o.stocks, t.stocks);
    d.check(at, "post state_age", o.state_age, t.state_age);
    d.check(
        at,
        "post state_flags",
        o.state_flags,
        t.state_flags.map(|f| [f.0, f.1, f.2, f.3, f.4]),
    );
    d.check(at, "post misc_as", o.misc_as, t.misc_as);
    d.check(at, "post airborne", o.airborne, t.airborne);
    d.check(at, "post ground_id", o.ground_id, t.ground);
    d.check(at, "post jumps_remaining", o.jumps_remaining, t.jumps);
    d.check(at, "post l_cancel", o.l_cancel, t.l_cancel);
    d.check(at, "post hurtbox_state", o.hurtbox_state, t.hurtbox_state);
    let (ov, tv) = (o.velocities, t.velocities);
    d.check(at, "post velocities present", ov.is_some(), tv.is_some());
    if let (Some(ov), Some(tv)) = (ov, tv) {
        d.check(at, "post self_x_air", ov.self_x_air, tv.self_x_air);
        d.check(at, "post self_y", ov.self_y, tv.self_y);
        d.check(at, "post knockback_x", ov.knockback_x, tv.knockback_x);
        d.check(at, "post knockback_y", ov.knockback_y, tv.knockback_y);
        d.check(at, "post self_x_ground", ov.self_x_ground, tv.self_x_ground);
    }
    d.check(at, "post hitlag_remaining", o.hitlag_remaining, t.hitlag);
    d.check(
        at,
        "post animation_index",
        o.animation_index,
        t.animation_index,
    );
    d.check(
        at,
        "post last_hit_by_instance",
        o.last_hit_by_instance,
        t.last_hit_by_instance,
    );
    d.check(at, "post instance_id", o.instance_id, t.instance_id);
}

fn check_item(d: &mut Diff, at: At, o: &ex::Item, t: &pt::Item) {
    d.check(at, "type", o.kind, t.r#type);
    d.check(at, "state", o.state, t.state);
    d.check(at, "facing", o.facing, t.direction);
    d.check(at, "vx", o.vx, t.velocity.x);
    d.check(at, "vy", o.vy, t.velocity.y);
    d.check(at, "x", o.x, t.position.x);
    d.check(at, "y", o.y, t.position.y);
    d.check(at, "damage", o.damage, t.damage);
    d.check(at, "timer", o.timer, t.timer);
    d.check(at, "spawn_id", o.spawn_id, t.id);
    d.check(at, "misc", o.misc, t.misc.map(|m| [m.0, m.1, m.2, m.3]));
    d.check(at, "owner", o.owner, t.owner);
    d.check(at, "instance_id", o.instance_id, t.instance_id);
}

/// Items compared as multisets keyed by spawn id (exphil orders them by slot, peppi by stream).
fn check_items(d: &mut Diff, frame: i32, ours: &[ex::Item], theirs: &[pt::Item]) {
    let mut o: Vec<&ex::Item> = ours.iter().collect();
    let mut t: Vec<&pt::Item> = theirs.iter().collect();
    o.sort_by_key(|i| i.spawn_id);
    t.sort_by_key(|i| i.id);
    let ids_o: Vec<u32> = o.iter().map(|i| i.spawn_id).collect();
    let ids_t: Vec<u32> = t.iter().map(|i| i.id).collect();
    if ids_o != ids_t {
        d.note(format!(
            "frame {frame}: item spawn ids: exphil {ids_o:?} != peppi {ids_t:?}"
        ));
        return;
    }
    for (a, b) in o.iter().zip(&t) {
        let at = At::Item {
            frame,
            spawn_id: a.spawn_id,
        };
        check_item(d, at, a, b);
    }
}

fn check_stage_events(d: &mut Diff, frame: i32, ours: &[ex::StageEvent], theirs: &pt::Frame) {
    let at = At::Frame(frame);
    let fod: Vec<(u8, f32)> = ours
        .iter()
        .filter_map(|e| match *e {
            ex::StageEvent::FodPlatform { platform, height } => Some((platform, height)),
            _ => None,
        })
        .collect();
    let whispy: Vec<u8> = ours
        .iter()
        .filter_map(|e| match *e {
            ex::StageEvent::Whispy { direction } => Some(direction),
            _ => None,
        })
        .collect();
    let stadium: Vec<(u16, u16)> = ours
        .iter()
        .filter_map(|e| match *e {
            ex::StageEvent::StadiumTransformation { event, kind } => Some((event, kind)),
            _ => None,
        })
        .collect();
    // peppi has no stage-event lists before 3.18: then exphil must have none either.
    let t_fod: Vec<(u8, f32)> = theirs
        .fod_platforms
        .iter()
        .flatten()
        .map(|e| (e.platform, e.height))
        .collect();
    let t_whispy: Vec<u8> = theirs
        .dreamland_whispys
        .iter()
        .flatten()
        .map(|e| e.direction)
        .collect();
    let t_stadium: Vec<(u16, u16)> = theirs
        .stadium_transformations
        .iter()
        .flatten()
        .map(|e| (e.event, e.r#type))
        .collect();
    let bits = |v: &[(u8, f32)]| v.iter().map(|&(p, h)| (p, h.to_bits())).collect::<Vec<_>>();
    if bits(&fod) != bits(&t_fod) {
        d.note(format!(
            "{at}: FoD platforms: exphil {fod:?} != peppi {t_fod:?}"
        ));
    }
    if whispy != t_whispy {
        d.note(format!(
            "{at}: Whispy: exphil {whispy:?} != peppi {t_whispy:?}"
        ));
    }
    if stadium != t_stadium {
        d.note(format!(
            "{at}: Stadium transformations: exphil {stadium:?} != peppi {t_stadium:?}"
        ));
    }
}

/// Whether peppi holds real data for a character at frame index `i` (not a padding null).
fn peppi_valid(data: &peppi::frame::immutable::Data, i: usize) -> bool {
    match &data.validity {
        Some(v) => v.get_bit(i),
        None => true,
    }
}

/// Peppi frame indices kept for each frame id: the first or the last occurrence.
fn kept_indices(ids: &[i32], mode: ex::RollbackMode) -> HashMap<i32, usize> {
    let mut kept = HashMap::with_capacity(ids.len());
    for (i, &id) in ids.iter().enumerate() {
        match mode {
            ex::RollbackMode::Last => {
                kept.insert(id, i);
            }
            ex::RollbackMode::First => {
                kept.entry(id).or_insert(i);
            }
        }
    }
    kept
}

/// One character column (leader or follower) of one port, and how its rows map to peppi's.
struct CharColumn {
    /// exphil records compared so far (for sequential mapping).
    seen: usize,
}

/// Compares one character of one frame row. `index` is the peppi row holding the same
/// character record, or `None` when peppi has none.
fn check_char(
    d: &mut Diff,
    at: At,
    ours: Option<&ex::CharFrame>,
    theirs: Option<(&peppi::frame::immutable::Data, usize)>,
    version: peppi::io::slippi::Version,
) {
    let theirs = theirs.filter(|&(col, i)| i < col.pre.random_seed.len() && peppi_valid(col, i));
    match (ours, theirs) {
        (Some(o), Some((col, i))) => {
            let t = col.transpose_one(i, version);
            check_pre(d, at, &o.pre, &t.pre);
            check_post(d, at, &o.post, &t.post);
        }
        (None, None) => {}
        (o, t) => d.note(format!(
            "{at}: present: exphil {} != peppi {}",
            o.is_some(),
            t.is_some()
        )),
    }
}

fn check_frames(
    d: &mut Diff,
    ours: &ex::Game,
    theirs: &peppi::game::immutable::Game,
    mode: ex::RollbackMode,
) {
    let version = theirs.start.slippi.version;
    let pf = &theirs.frames;
    let kept = kept_indices(pf.id.values().as_slice(), mode);
    // Cross-check with peppi's own rollback filter (it indexes by `id + 123`, so it needs ids
    // from −123 on).
    if pf
        .id
        .values()
        .iter()
        .all(|&id| id >= peppi::frame::FIRST_INDEX)
    {
        let filter = match mode {
            ex::RollbackMode::Last => Rollbacks::ExceptLast,
            ex::RollbackMode::First => Rollbacks::ExceptFirst,
        };
        let theirs: Vec<usize> = (pf.rollbacks(filter).iter().enumerate())
            .filter(|&(_, &dropped)| !dropped)
            .map(|(i, _)| i)
            .collect();
        let mut mine: Vec<usize> = kept.values().copied().collect();
        mine.sort_unstable();
        assert_eq!(mine, theirs, "{}: kept frame indices", d.label);
    }
    d.check(
        At::Start,
        "distinct frame ids",
        ours.frames.len() as u32,
        kept.len() as u32,
    );
    // Before 2.2 (no Frame Start event) peppi 2.1.2 pads a port's column with nulls only at
    // the end of the game, so once a character misses a frame mid-game (a doubles player out
    // of stocks who later takes a teammate's stock), that port's later records sit at earlier
    // rows than their frames. There are no rollbacks before 2.2, so compare such columns by
    // record order instead: the n-th record exphil holds for a character against peppi's n-th.
    let sequential = version.lt(2, 2);
    let mut columns: Vec<[CharColumn; 2]> = pf
        .ports
        .iter()
        .map(|_| [CharColumn { seen: 0 }, CharColumn { seen: 0 }])
        .collect();
    for frame in ours.frames.iter() {
        let id = frame.id();
        let Some(&i) = kept.get(&id) else {
            d.note(format!("frame {id}: in exphil only"));
            continue;
        };
        let t = pf.transpose_one(i, version);
        let at = At::Frame(id);
        d.check(
            at,
            "frame start random_seed",
            frame.start().map(|s| s.random_seed),
            t.start.map(|s| s.random_seed),
        );
        d.check(
            at,
            "frame start scene_frame_counter",
            frame.start().and_then(|s| s.scene_frame_counter),
            t.start.and_then(|s| s.scene_frame_counter),
        );
        d.check(
            at,
            "bookend present",
            frame.bookend().is_some(),
            t.end.is_some(),
        );
        d.check(
            at,
            "bookend latest_finalized_frame",
            frame.bookend().and_then(|b| b.latest_finalized_frame),
            t.end.and_then(|e| e.latest_finalized_frame),
        );
        for (pp, cols) in pf.ports.iter().zip(columns.iter_mut()) {
            let port = peppi_port(pp.port);
            let op = ex::Port::from_number(port).and_then(|p| frame.port(p));
            // Peppi has a follower column for Ice Climbers ports only.
            let chars = [
                (op.map(|o| o.leader), Some(&pp.leader)),
                (op.and_then(|o| o.follower), pp.follower.as_ref()),
            ];
            for (j, (o, col)) in chars.into_iter().enumerate() {
                let at = At::Char {
                    frame: id,
                    port,
                    follower: j == 1,
                };
                let index = if sequential {
                    if o.is_none() {
                        continue;
                    }
                    cols[j].seen += 1;
                    cols[j].seen - 1
                } else {
                    i
                };
                check_char(d, at, o, col.map(|c| (c, index)), version);
            }
        }
        if let Some(items) = &t.items {
            check_items(d, id, frame.items(), items);
        } else if !frame.items().is_empty() {
            d.note(format!(
                "frame {id}: exphil has {} items, peppi none (version {version})",
                frame.items().len()
            ));
        }
        check_stage_events(d, id, frame.stage_events(), &t);
    }
    if sequential {
        // Every record peppi holds must have been matched by one of exphil's.
        for (pp, cols) in pf.ports.iter().zip(&columns) {
            for (j, col) in [Some(&pp.leader), pp.follower.as_ref()]
                .into_iter()
                .enumerate()
            {
                let Some(col) = col else { continue };
                let records = (0..col.pre.random_seed.len())
                    .filter(|&i| peppi_valid(col, i))
                    .count();
                let who = if j == 0 { "leader" } else { "follower" };
                d.check(
                    At::Start,
                    &format!("P{} {who} record count", peppi_port(pp.port)),
                    cols[j].seen as u32,
                    records as u32,
                );
            }
        }
    }
}

fn compare(
    d: &mut Diff,
    ours: &ex::Game,
    theirs: &peppi::game::immutable::Game,
    mode: ex::RollbackMode,
) {
    check_start(d, &ours.start, &theirs.start);
    check_end(d, ours.end.as_ref(), theirs.end.as_ref());
    check_frames(d, ours, theirs, mode);
}

// ---------------------------------------------------------------- driver

fn peppi_read(bytes: &[u8]) -> Result<peppi::game::immutable::Game, String> {
    // peppi panics on some files: keep its panic message out of the output (it is reported).
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = catch_unwind(AssertUnwindSafe(|| {
        peppi::io::slippi::read(Cursor::new(bytes), None)
    }));
    std::panic::set_hook(hook);
    match result {
        Ok(Ok(game)) => Ok(game),
        Ok(Err(e)) => Err(format!("error: {e}")),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("panic: {msg}"))
        }
    }
}

/// Edge files peppi 2.1.2 reads (the rest are skipped, each with its reason printed).
const EDGE_FILES_PEPPI_READS: usize = 20;

#[test]
fn exphil_agrees_with_peppi_on_every_field() {
    let entries = common::manifest();
    let mut compared = Vec::new();
    let mut skipped = Vec::new();
    let mut diffs = Vec::new();
    let mut frames_compared = 0usize;
    let mut values_compared = 0u64;
    let mut first_mode_files = 0usize;
    for e in &entries {
        let bytes = std::fs::read(&e.path).unwrap_or_else(|err| panic!("{}: {err}", e.file));
        let theirs = match peppi_read(&bytes) {
            Ok(g) => g,
            Err(reason) => {
                skipped.push(format!("{}: peppi {reason}", e.file));
                continue;
            }
        };
        let resends = theirs.frames.len()
            - kept_indices(theirs.frames.id.values(), ex::RollbackMode::Last).len();
        let modes: &[(ex::RollbackMode, &str)] = if resends > 0 {
            &[
                (ex::RollbackMode::Last, "last"),
                (ex::RollbackMode::First, "first"),
            ]
        } else {
            &[(ex::RollbackMode::Last, "last")]
        };
        first_mode_files += modes.len() - 1;
        for &(mode, name) in modes {
            let mut d = Diff::new(format!("{} ({name})", e.file));
            match ex::read(&bytes, ex::DecodeOptions { rollback: mode }) {
                Ok(ours) => {
                    frames_compared += ours.frames.len();
                    compare(&mut d, &ours, &theirs, mode);
                }
                Err(err) => d.note(format!("exphil fails where peppi reads: {err}")),
            }
            values_compared += d.checked;
            if d.total > 0 {
                diffs.push(d);
            }
        }
        compared.push(e.file.clone());
    }

    println!(
        "compared {} files ({frames_compared} frame rows, {values_compared} values; \
         {first_mode_files} files with rollbacks also in first-occurrence mode)",
        compared.len()
    );
    println!("skipped {} files:", skipped.len());
    for s in &skipped {
        println!("  {s}");
    }
    if !diffs.is_empty() {
        let mut report = String::new();
        for d in &diffs {
            report += &format!("\n{}: {} mismatches\n", d.label, d.total);
            for m in &d.shown {
                report += &format!("  {m}\n");
            }
        }
        panic!(
            "exphil and peppi disagree in {} decodes:{report}",
            diffs.len()
        );
    }
    for e in entries.iter().filter(|e| !e.peppi_failed()) {
        assert!(
            compared.contains(&e.file),
            "{}: the manifest says peppi reads it, but it was not compared",
            e.file
        );
    }
    let games = entries.iter().filter(|e| e.is_game()).count();
    let games_compared = compared.iter().filter(|f| f.starts_with("games/")).count();
    assert_eq!(
        games_compared, games,
        "every complete game must be compared"
    );
    assert!(
        compared.len() >= games + EDGE_FILES_PEPPI_READS,
        "compared only {} files, expected at least {}",
        compared.len(),
        games + EDGE_FILES_PEPPI_READS
    );
}
