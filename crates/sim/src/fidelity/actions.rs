//! Melee's common action-state ids (0–340, the same for every character) by their debug-menu
//! names, and the groups of ids the fidelity rules look for. Ids from 341 up are each
//! character's own (specials, Jigglypuff's and Kirby's numbered aerial jumps, …).

/// On the respawn platform (0–13 are deaths, sleep and respawn).
pub const REBIRTH_WAIT: u16 = 13;
/// Standing.
pub const WAIT: u16 = 14;
/// Dash (the initial dash).
pub const DASH: u16 = 20;
/// Run.
pub const RUN: u16 = 21;
/// Jump squat.
pub const KNEE_BEND: u16 = 24;
/// First jump, forward.
pub const JUMP_F: u16 = 25;
/// First jump, backward.
pub const JUMP_B: u16 = 26;
/// Plain fall.
pub const FALL: u16 = 29;
/// Helpless fall.
pub const FALL_SPECIAL: u16 = 35;
/// Helpless fall, backward drift.
pub const FALL_SPECIAL_B: u16 = 37;
/// Plain landing.
pub const LANDING: u16 = 42;
/// Landing from a helpless fall or an airdodge (a wavedash).
pub const LANDING_FALL_SPECIAL: u16 = 43;
/// Neutral air (the first of the five aerials, 65–69).
pub const ATTACK_AIR_N: u16 = 65;
/// Down air (the last aerial).
pub const ATTACK_AIR_LW: u16 = 69;
/// Neutral-air landing (the first of the five aerial landings, 70–74).
pub const LANDING_AIR_N: u16 = 70;
/// Airdodge.
pub const ESCAPE_AIR: u16 = 236;
/// First ledge action (CliffCatch); ledge actions run to 263.
pub const CLIFF_CATCH: u16 = 252;
/// Last ledge action.
pub const CLIFF_LAST: u16 = 263;
/// First character-specific id.
pub const FIRST_SPECIAL: u16 = 341;

/// Whether `a` is a plain airborne state: jumps and falls, not helpless (25–34).
pub fn is_plain_air(a: u16) -> bool {
    (JUMP_F..=34).contains(&a)
}

/// Whether `a` is one of the five aerial attacks (65–69).
pub fn is_aerial(a: u16) -> bool {
    (ATTACK_AIR_N..=ATTACK_AIR_LW).contains(&a)
}

/// Whether `a` is a helpless fall (35–37).
pub fn is_helpless(a: u16) -> bool {
    (FALL_SPECIAL..=FALL_SPECIAL_B).contains(&a)
}

/// Whether `a` is a ledge action (252–263).
pub fn is_ledge(a: u16) -> bool {
    (CLIFF_CATCH..=CLIFF_LAST).contains(&a)
}

/// Debug-menu names of the common action states 0–340.
const NAMES: [&str; 341] = [
    "DeadDown",
    "DeadLeft",
    "DeadRight",
    "DeadUp",
    "DeadUpStar",
    "DeadUpStarIce",
    "DeadUpFall",
    "DeadUpFallHitCamera",
    "DeadUpFallHitCameraFlat",
    "DeadUpFallIce",
    "DeadUpFallHitCameraIce",
    "Sleep",
    "Rebirth",
    "RebirthWait",
    "Wait",
    "WalkSlow",
    "WalkMiddle",
    "WalkFast",
    "Turn",
    "TurnRun",
    "Dash",
    "Run",
    "RunDirect",
    "RunBrake",
    "KneeBend",
    "JumpF",
    "JumpB",
    "JumpAerialF",
    "JumpAerialB",
    "Fall",
    "FallF",
    "FallB",
    "FallAerial",
    "FallAerialF",
    "FallAerialB",
    "FallSpecial",
    "FallSpecialF",
    "FallSpecialB",
    "DamageFall",
    "Squat",
    "SquatWait",
    "SquatRv",
    "Landing",
    "LandingFallSpecial",
    "Attack11",
    "Attack12",
    "Attack13",
    "Attack100Start",
    "Attack100Loop",
    "Attack100End",
    "AttackDash",
    "AttackS3Hi",
    "AttackS3HiS",
    "AttackS3S",
    "AttackS3LwS",
    "AttackS3Lw",
    "AttackHi3",
    "AttackLw3",
    "AttackS4Hi",
    "AttackS4HiS",
    "AttackS4S",
    "AttackS4LwS",
    "AttackS4Lw",
    "AttackHi4",
    "AttackLw4",
    "AttackAirN",
    "AttackAirF",
    "AttackAirB",
    "AttackAirHi",
    "AttackAirLw",
    "LandingAirN",
    "LandingAirF",
    "LandingAirB",
    "LandingAirHi",
    "LandingAirLw",
    "DamageHi1",
    "DamageHi2",
    "DamageHi3",
    "DamageN1",
    "DamageN2",
    "DamageN3",
    "DamageLw1",
    "DamageLw2",
    "DamageLw3",
    "DamageAir1",
    "DamageAir2",
    "DamageAir3",
    "DamageFlyHi",
    "DamageFlyN",
    "DamageFlyLw",
    "DamageFlyTop",
    "DamageFlyRoll",
    "LightGet",
    "HeavyGet",
    "LightThrowF",
    "LightThrowB",
    "LightThrowHi",
    "LightThrowLw",
    "LightThrowDash",
    "LightThrowDrop",
    "LightThrowAirF",
    "LightThrowAirB",
    "LightThrowAirHi",
    "LightThrowAirLw",
    "HeavyThrowF",
    "HeavyThrowB",
    "HeavyThrowHi",
    "HeavyThrowLw",
    "LightThrowF4",
    "LightThrowB4",
    "LightThrowHi4",
    "LightThrowLw4",
    "LightThrowAirF4",
    "LightThrowAirB4",
    "LightThrowAirHi4",
    "LightThrowAirLw4",
    "HeavyThrowF4",
    "HeavyThrowB4",
    "HeavyThrowHi4",
    "HeavyThrowLw4",
    "SwordSwing1",
    "SwordSwing3",
    "SwordSwing4",
    "SwordSwingDash",
    "BatSwing1",
    "BatSwing3",
    "BatSwing4",
    "BatSwingDash",
    "ParasolSwing1",
    "ParasolSwing3",
    "ParasolSwing4",
    "ParasolSwingDash",
    "HarisenSwing1",
    "HarisenSwing3",
    "HarisenSwing4",
    "HarisenSwingDash",
    "StarRodSwing1",
    "StarRodSwing3",
    "StarRodSwing4",
    "StarRodSwingDash",
    "LipStickSwing1",
    "LipStickSwing3",
    "LipStickSwing4",
    "LipStickSwingDash",
    "ItemParasolOpen",
    "ItemParasolFall",
    "ItemParasolFallSpecial",
    "ItemParasolDamageFall",
    "LGunShoot",
    "LGunShootAir",
    "LGunShootEmpty",
    "LGunShootAirEmpty",
    "FireFlowerShoot",
    "FireFlowerShootAir",
    "ItemScrew",
    "ItemScrewAir",
    "DamageScrew",
    "DamageScrewAir",
    "ItemScopeStart",
    "ItemScopeRapid",
    "ItemScopeFire",
    "ItemScopeEnd",
    "ItemScopeAirStart",
    "ItemScopeAirRapid",
    "ItemScopeAirFire",
    "ItemScopeAirEnd",
    "ItemScopeStartEmpty",
    "ItemScopeRapidEmpty",
    "ItemScopeFireEmpty",
    "ItemScopeEndEmpty",
    "ItemScopeAirStartEmpty",
    "ItemScopeAirRapidEmpty",
    "ItemScopeAirFireEmpty",
    "ItemScopeAirEndEmpty",
    "LiftWait",
    "LiftWalk1",
    "LiftWalk2",
    "LiftTurn",
    "GuardOn",
    "Guard",
    "GuardOff",
    "GuardSetOff",
    "GuardReflect",
    "DownBoundU",
    "DownWaitU",
    "DownDamageU",
    "DownStandU",
    "DownAttackU",
    "DownFowardU",
    "DownBackU",
    "DownSpotU",
    "DownBoundD",
    "DownWaitD",
    "DownDamageD",
    "DownStandD",
    "DownAttackD",
    "DownFowardD",
    "DownBackD",
    "DownSpotD",
    "Passive",
    "PassiveStandF",
    "PassiveStandB",
    "PassiveWall",
    "PassiveWallJump",
    "PassiveCeil",
    "ShieldBreakFly",
    "ShieldBreakFall",
    "ShieldBreakDownU",
    "ShieldBreakDownD",
    "ShieldBreakStandU",
    "ShieldBreakStandD",
    "FuraFura",
    "Catch",
    "CatchPull",
    "CatchDash",
    "CatchDashPull",
    "CatchWait",
    "CatchAttack",
    "CatchCut",
    "ThrowF",
    "ThrowB",
    "ThrowHi",
    "ThrowLw",
    "CapturePulledHi",
    "CaptureWaitHi",
    "CaptureDamageHi",
    "CapturePulledLw",
    "CaptureWaitLw",
    "CaptureDamageLw",
    "CaptureCut",
    "CaptureJump",
    "CaptureNeck",
    "CaptureFoot",
    "EscapeF",
    "EscapeB",
    "Escape",
    "EscapeAir",
    "ReboundStop",
    "Rebound",
    "ThrownF",
    "ThrownB",
    "ThrownHi",
    "ThrownLw",
    "ThrownLwWomen",
    "Pass",
    "Ottotto",
    "OttottoWait",
    "FlyReflectWall",
    "FlyReflectCeil",
    "StopWall",
    "StopCeil",
    "MissFoot",
    "CliffCatch",
    "CliffWait",
    "CliffClimbSlow",
    "CliffClimbQuick",
    "CliffAttackSlow",
    "CliffAttackQuick",
    "CliffEscapeSlow",
    "CliffEscapeQuick",
    "CliffJumpSlow1",
    "CliffJumpSlow2",
    "CliffJumpQuick1",
    "CliffJumpQuick2",
    "AppealR",
    "AppealL",
    "ShoulderedWait",
    "ShoulderedWalkSlow",
    "ShoulderedWalkMiddle",
    "ShoulderedWalkFast",
    "ShoulderedTurn",
    "ThrownFF",
    "ThrownFB",
    "ThrownFHi",
    "ThrownFLw",
    "CaptureCaptain",
    "CaptureYoshi",
    "YoshiEgg",
    "CaptureKoopa",
    "CaptureDamageKoopa",
    "CaptureWaitKoopa",
    "ThrownKoopaF",
    "ThrownKoopaB",
    "CaptureKoopaAir",
    "CaptureDamageKoopaAir",
    "CaptureWaitKoopaAir",
    "ThrownKoopaAirF",
    "ThrownKoopaAirB",
    "CaptureKirby",
    "CaptureWaitKirby",
    "ThrownKirbyStar",
    "ThrownCopyStar",
    "ThrownKirby",
    "BarrelWait",
    "Bury",
    "BuryWait",
    "BuryJump",
    "DamageSong",
    "DamageSongWait",
    "DamageSongRv",
    "DamageBind",
    "CaptureMewtwo",
    "CaptureMewtwoAir",
    "ThrownMewtwo",
    "ThrownMewtwoAir",
    "WarpStarJump",
    "WarpStarFall",
    "HammerWait",
    "HammerWalk",
    "HammerTurn",
    "HammerKneeBend",
    "HammerFall",
    "HammerJump",
    "HammerLanding",
    "KinokoGiantStart",
    "KinokoGiantStartAir",
    "KinokoGiantEnd",
    "KinokoGiantEndAir",
    "KinokoSmallStart",
    "KinokoSmallStartAir",
    "KinokoSmallEnd",
    "KinokoSmallEndAir",
    "Entry",
    "EntryStart",
    "EntryEnd",
    "DamageIce",
    "DamageIceJump",
    "CaptureMasterhand",
    "CapturedamageMasterhand",
    "CapturewaitMasterhand",
    "ThrownMasterhand",
    "CaptureKirbyYoshi",
    "KirbyYoshiEgg",
    "CaptureRedead",
    "CaptureLikelike",
    "DownReflect",
    "CaptureCrazyhand",
    "CapturedamageCrazyhand",
    "CapturewaitCrazyhand",
    "ThrownCrazyhand",
    "BarrelCannonWait",
];

/// The debug-menu name of a common action state (0–340); `None` for a character's own ids
/// (341 and up), whose names differ by character.
pub fn action_name(id: u16) -> Option<&'static str> {
    NAMES.get(id as usize).copied()
}

/// A readable label for any id: its name, or `special #N` for a character's own id.
pub fn action_label(id: u16) -> String {
    match action_name(id) {
        Some(n) => format!("{n} ({id})"),
        None => format!("special #{} ({id})", id - FIRST_SPECIAL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sit_at_their_ids() {
        for (id, name) in [
            (0, "DeadDown"),
            (14, "Wait"),
            (20, "Dash"),
            (24, "KneeBend"),
            (29, "Fall"),
            (35, "FallSpecial"),
            (42, "Landing"),
            (43, "LandingFallSpecial"),
            (65, "AttackAirN"),
            (70, "LandingAirN"),
            (88, "DamageFlyN"),
            (179, "Guard"),
            (212, "Catch"),
            (236, "EscapeAir"),
            (253, "CliffWait"),
            (322, "Entry"),
            (340, "BarrelCannonWait"),
        ] {
            assert_eq!(action_name(id), Some(name), "id {id}");
        }
        assert_eq!(action_name(341), None);
        assert_eq!(action_label(343), "special #2 (343)");
    }
}
