//! Menu navigation against a simulated menu: the cursor moves with the stick, A over a
//! portrait picks it, the HMN/CPU toggle and the CPU-level slider work as in the game, and the
//! name-entry keyboard moves one key per press. The navigator must reach its goal from any
//! start, deciding only from the menu block (parsed back from bytes each frame).

use exphil_dolphin::menu::{css_character, css_index, name_key, portrait, stage_icon, MENU_BYTES};
use exphil_dolphin::userdir::{pad_section, pipe_path, prepare, set_ini};
use exphil_dolphin::{MenuGoal, MenuState, Navigator, Pad, Scene, UserDirOptions};
use exphil_replay::{ExternalCharacter, ExternalStage};

const CURSOR_SPEED: f32 = 1.2;

fn blank(scene: Scene) -> MenuState {
    MenuState {
        scene,
        cursor: [(0.0, -10.0); 4],
        ready_to_start: 0,
        stage: 0,
        status: [0, 3, 3, 3],
        character: [0x21; 4],
        coin_down: [false; 4],
        stage_cursor: (-20.0, 0.0),
        frame: 0,
        submenu: 0,
        selection: 0,
        cpu_level: [0; 4],
        holding_slider: [false; 4],
    }
}

/// One frame of the simulated character select screen for port `p` (0-based).
fn css_frame(m: &mut MenuState, p: usize, pad: &Pad, last: &Pad) {
    let fresh = |b: &str| pad.pressed(b) && !last.pressed(b);
    if m.holding_slider[p] {
        if pad.main.0 > 0.6 && m.frame % 4 == 0 {
            m.cpu_level[p] = (m.cpu_level[p] + 1).min(9);
        } else if pad.main.0 < 0.4 && m.frame % 4 == 0 {
            m.cpu_level[p] = m.cpu_level[p].saturating_sub(1).max(1);
        }
        if fresh("A") {
            m.holding_slider[p] = false;
        }
        return;
    }
    let c = &mut m.cursor[p];
    c.0 += (pad.main.0 - 0.5) * 2.0 * CURSOR_SPEED;
    c.1 += (pad.main.1 - 0.5) * 2.0 * CURSOR_SPEED;
    let at = *c;
    if fresh("A") {
        // The toggle, the slider, or a portrait.
        let toggle = (-31.5 + 15.0 * p as f32, -2.2);
        let slider = (-30.9 + 15.4 * p as f32, -15.12);
        let near = |t: (f32, f32), r: f32| (at.0 - t.0).abs() < r && (at.1 - t.1).abs() < r;
        if near(toggle, 2.0) {
            m.status[p] = if m.status[p] == 1 { 0 } else { 1 };
            m.cpu_level[p] = if m.status[p] == 1 { 1 } else { 0 };
        } else if m.status[p] == 1 && near(slider, 1.5) {
            m.holding_slider[p] = true;
        } else if !m.coin_down[p] {
            if let Some(i) = (0..25u8).find(|&i| near(portrait(i), 3.5)) {
                m.character[p] = i;
                m.coin_down[p] = true;
            }
        }
    }
    if fresh("B") && m.coin_down[p] {
        m.coin_down[p] = false;
    }
}

#[test]
fn menu_blocks_round_trip_and_bad_blocks_are_refused() {
    let mut m = blank(Scene::CharacterSelect);
    m.cursor[2] = (3.25, -7.5);
    m.status = [0, 1, 3, 3];
    m.cpu_level = [0, 7, 0, 0];
    m.coin_down[1] = true;
    m.frame = -5;
    m.stage_cursor = (1.5, 2.5);
    let b = m.to_bytes();
    assert_eq!(b.len(), MENU_BYTES);
    assert_eq!(MenuState::parse(&b).unwrap(), m);
    // A CPU level byte on a human port reads as 0.
    let mut raw = b.clone();
    raw[0x41] = 4;
    assert_eq!(MenuState::parse(&raw).unwrap().cpu_level[0], 0);
    assert!(MenuState::parse(&b[..20]).unwrap_err().contains("bytes"));
    let mut wrong = b;
    wrong[0] = 0x36;
    assert!(MenuState::parse(&wrong).unwrap_err().contains("0x3E"));
    for raw in [0x0000, 0x0001, 0x0002, 0x0102, 0x0202, 0x0008, 0x0302] {
        let mut b = m.to_bytes();
        b[1..3].copy_from_slice(&u16::to_be_bytes(raw));
        let s = MenuState::parse(&b).unwrap().scene;
        assert_eq!(MenuState::parse(&blank(s).to_bytes()).unwrap().scene, s);
    }
}

#[test]
fn character_screen_tables() {
    for c in [0u8, 1, 2, 9, 13, 15, 20, 22, 25] {
        let i = css_index(ExternalCharacter(c)).unwrap();
        assert_eq!(css_character(i), Some(ExternalCharacter(c)));
    }
    // Sheik is picked as Zelda; Master Hand has no portrait.
    assert_eq!(
        css_index(ExternalCharacter(19)),
        css_index(ExternalCharacter(18))
    );
    assert_eq!(css_index(ExternalCharacter(26)), None);
    // Fox is second in the middle row; Roy last in the shifted bottom row.
    assert_eq!(
        portrait(css_index(ExternalCharacter(2)).unwrap()),
        (-22.0, 11.5)
    );
    assert_eq!(
        portrait(css_index(ExternalCharacter(23)).unwrap()),
        (20.0, 4.5)
    );
    assert!(stage_icon(ExternalStage(32)).is_some());
    assert!(stage_icon(ExternalStage(5)).is_none());
    let e = Navigator::new(
        1,
        MenuGoal {
            character: ExternalCharacter(26),
            cpu_level: 0,
            stage: None,
            start: true,
            connect_code: None,
        },
    )
    .unwrap_err();
    assert!(e.contains("Master Hand"), "{e}");
}

fn goal(c: u8, cpu: u8, stage: Option<u16>, start: bool) -> MenuGoal {
    MenuGoal {
        character: ExternalCharacter(c),
        cpu_level: cpu,
        stage: stage.map(ExternalStage),
        start,
        connect_code: None,
    }
}

#[test]
fn two_navigators_pick_a_character_a_cpu_opponent_and_a_stage_then_start() {
    for (start1, start2, me, them, level) in [
        ((0.0, -10.0), (20.0, 20.0), 2u8, 9u8, 9u8),
        ((25.0, 15.0), (-30.0, -15.0), 20, 15, 3),
        ((-5.0, 0.0), (5.0, 0.0), 18, 2, 1),
    ] {
        let mut m = blank(Scene::CharacterSelect);
        m.cursor[0] = start1;
        m.cursor[1] = start2;
        m.status = [0, 0, 3, 3];
        // The opponent starts holding a wrong coin.
        m.character[1] = 0;
        m.coin_down[1] = true;
        let mut bot = Navigator::new(1, goal(me, 0, Some(32), true)).unwrap();
        let mut cpu = Navigator::new(2, goal(them, level, None, false)).unwrap();
        let mut last = [Pad::NEUTRAL; 2];
        let mut started = None;
        for f in 0..3000 {
            m.frame = f;
            m.ready_to_start = (m.coin_down[0] && m.coin_down[1]) as u8;
            let seen = MenuState::parse(&m.to_bytes()).unwrap();
            bot.set_others_ready(cpu.done(&seen));
            let pads = [bot.step(&seen), cpu.step(&seen)];
            if pads[0].pressed("START") && m.ready_to_start != 0 {
                started = Some(f);
                break;
            }
            for p in 0..2 {
                css_frame(&mut m, p, &pads[p], &last[p]);
            }
            last = pads;
        }
        let f = started.expect("START pressed once everything was picked");
        assert!(f < 1500, "took {f} frames");
        assert_eq!(css_character(m.character[0]), Some(ExternalCharacter(me)));
        assert_eq!(css_character(m.character[1]), Some(ExternalCharacter(them)));
        assert_eq!(m.status, [0, 1, 3, 3]);
        assert_eq!(m.cpu_level[1], level, "CPU level");
        assert!(!m.holding_slider[1]);
        assert!(bot.done(&m) && cpu.done(&m));
        // The stage screen: the cursor goes to Final Destination and A is pressed there.
        let mut s = blank(Scene::StageSelect);
        s.stage_cursor = start2;
        let mut pressed = false;
        for f in 0..2000 {
            s.frame = f;
            let pad = bot.step(&MenuState::parse(&s.to_bytes()).unwrap());
            if pad.pressed("A") {
                pressed = true;
                break;
            }
            s.stage_cursor.0 += (pad.main.0 - 0.5) * 2.0 * CURSOR_SPEED;
            s.stage_cursor.1 += (pad.main.1 - 0.5) * 2.0 * CURSOR_SPEED;
        }
        assert!(pressed);
        let fd = stage_icon(ExternalStage(32)).unwrap();
        assert!((s.stage_cursor.0 - fd.0).abs() < 1.5 && (s.stage_cursor.1 - fd.1).abs() < 1.5);
    }
}

#[test]
fn the_connect_code_is_typed_key_by_key_then_confirmed() {
    let code = "NUT#356";
    let mut nav = Navigator::new(
        1,
        MenuGoal {
            connect_code: Some(code.into()),
            ..goal(2, 0, None, true)
        },
    )
    .unwrap();
    let keys: Vec<u8> = code.chars().map(|c| name_key(c).unwrap()).collect();
    assert_eq!(name_key('A'), Some(45));
    assert_eq!(name_key('J'), Some(0));
    assert_eq!(name_key('#'), Some(2));
    assert_eq!(name_key('0'), Some(48));
    assert_eq!(name_key('%'), None);
    let mut m = blank(Scene::OnlineCss);
    m.submenu = 18;
    m.selection = 57; // starts on the confirm row
    let mut typed = Vec::new();
    let mut confirmed = false;
    for f in 0..4000 {
        m.frame = f;
        let pad = nav.step(&MenuState::parse(&m.to_bytes()).unwrap());
        if pad.pressed("START") {
            confirmed = true;
            break;
        }
        if pad.pressed("A") {
            typed.push(m.selection);
        }
        let s = m.selection as i32;
        let next = if m.selection > 49 {
            if pad.main.1 > 0.9 {
                45
            } else {
                s
            }
        } else if pad.main.1 < 0.1 {
            if s % 5 < 4 {
                s + 1
            } else {
                s
            }
        } else if pad.main.1 > 0.9 {
            if s % 5 > 0 {
                s - 1
            } else {
                s
            }
        } else if pad.main.0 > 0.9 {
            if s >= 5 {
                s - 5
            } else {
                s
            }
        } else if pad.main.0 < 0.1 {
            if s + 5 <= 49 {
                s + 5
            } else {
                s
            }
        } else {
            s
        };
        m.selection = next as u8;
    }
    assert!(confirmed, "START after the code");
    assert_eq!(typed, keys);
    assert!(nav.code_typed());
    let e = Navigator::new(
        1,
        MenuGoal {
            connect_code: Some("AB%1".into()),
            ..goal(2, 0, None, true)
        },
    )
    .unwrap_err();
    assert!(e.contains('%'), "{e}");
}

#[test]
fn user_directory_sets_spectator_pipes_and_keeps_the_rest() {
    let t = set_ini(
        "[Core]\nFoo = 1\nblockingpipes = False\n\n[Other]\nX = 2\n",
        "Core",
        "BlockingPipes",
        "True",
    );
    assert_eq!(
        t,
        "[Core]\nFoo = 1\nBlockingPipes = True\n\n[Other]\nX = 2\n"
    );
    let t = set_ini(&t, "Input", "BackgroundInput", "True");
    assert!(t.ends_with("[Input]\nBackgroundInput = True\n"), "{t}");
    let t = set_ini(&t, "Core", "SIDevice0", "6");
    assert!(
        t.contains("BlockingPipes = True\nSIDevice0 = 6\n\n[Other]"),
        "{t}"
    );

    // Start from an existing user directory with a FIFO in it (not copied) and a GCPad2.
    let base = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(base.path().join("Config")).unwrap();
    std::fs::write(
        base.path().join("Config/GCPadNew.ini"),
        "[GCPad1]\nDevice = XInput2/0/x\n[GCPad2]\nDevice = evdev/0/pad\n",
    )
    .unwrap();
    std::fs::write(
        base.path().join("Config/Dolphin.ini"),
        "[Core]\nGFXBackend = Vulkan\n",
    )
    .unwrap();
    exphil_dolphin::pipe::make_fifo(&base.path().join("Pipes/old")).unwrap();
    let gecko = base.path().join("codes.ini");
    std::fs::write(&gecko, "[Gecko_Enabled]\n$Menu info\n").unwrap();
    let dir = prepare(&UserDirOptions {
        spectator_port: 51555,
        pipe_ports: vec![1, 3],
        blocking_pipes: true,
        online_delay: 2,
        gecko_ini: Some(gecko),
        copy_from: Some(base.path().to_path_buf()),
    })
    .unwrap();
    let ini = std::fs::read_to_string(dir.path.join("Config/Dolphin.ini")).unwrap();
    for want in [
        "GFXBackend = Vulkan",
        "SlippiEnableSpectator = True",
        "SlippiSpectatorLocalPort = 51555",
        "BlockingPipes = True",
        "SIDevice0 = 6",
        "SIDevice2 = 6",
        "[Input]\nBackgroundInput = True",
    ] {
        assert!(ini.contains(want), "{want} in\n{ini}");
    }
    let pads = std::fs::read_to_string(dir.path.join("Config/GCPadNew.ini")).unwrap();
    assert!(pads.contains("[GCPad2]\nDevice = evdev/0/pad"), "{pads}");
    assert!(!pads.contains("XInput2"), "{pads}");
    assert!(pads.contains(&pad_section(1)) && pads.contains(&pad_section(3)));
    assert!(pads.contains("Device = Pipe/0/slippibot3"));
    assert!(dir.path.join("GameSettings/GALE01r2.ini").is_file());
    use std::os::unix::fs::FileTypeExt;
    for p in [1, 3] {
        let m = std::fs::metadata(pipe_path(&dir.path, p)).unwrap();
        assert!(m.file_type().is_fifo());
    }
    assert!(!dir.path.join("Pipes/old").exists());
    let root = dir.path.clone();
    drop(dir);
    assert!(!root.exists(), "removed when dropped");
}
