//! Temporal backbones on a real replay: stepping frame by frame from a fresh state gives the
//! windowed forward pass over the same frames (1e-4 in f32) for every backbone and pooling;
//! attention's key/value cache slides; batched stepping with per-row resets equals stepping
//! each game alone; training windows learn; the analytic parameter count is exact.

#[path = "common/frames.rs"]
mod frames;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use exphil_dataset::GameExamples;
use exphil_policy::{BackboneState, InputSpec, Policy, PolicyInput};
use exphil_runs::config::{
    AttentionConfig, BackboneConfig, JambaConfig, MambaConfig, PolicyConfig, Pooling,
    RecurrentConfig,
};
use frames::real_frames;

const TOL: f32 = 1e-4;

/// Rows `start..start + len` of the examples (consecutive frames).
fn rows(spec: &InputSpec, ex: &GameExamples, start: usize, len: usize) -> (Vec<f32>, Vec<u32>) {
    assert!(
        ex.frame_ids[start..start + len]
            .windows(2)
            .all(|w| w[1] == w[0] + 1),
        "consecutive frames"
    );
    (
        ex.features[start * spec.features..(start + len) * spec.features].to_vec(),
        ex.ids[start * spec.ids..(start + len) * spec.ids].to_vec(),
    )
}

/// Every temporal backbone (and pooling) at a tiny size, window 6.
fn backbones() -> Vec<(&'static str, BackboneConfig)> {
    let w = 6;
    let rec = |pooling, residual_block| RecurrentConfig {
        window_size: w,
        num_layers: 2,
        hidden_size: 16,
        pooling,
        residual_block,
        truncate_bptt: Some(3),
        ..RecurrentConfig::default()
    };
    let att = |pooling, sliding_window, chunk_size| AttentionConfig {
        window_size: w,
        num_layers: 2,
        hidden_size: 16,
        num_heads: 2,
        pooling,
        sliding_window,
        chunk_size,
        ..AttentionConfig::default()
    };
    vec![
        ("lstm", BackboneConfig::Lstm(rec(Pooling::Last, false))),
        ("lstm mean", BackboneConfig::Lstm(rec(Pooling::Mean, false))),
        (
            "lstm residual weighted",
            BackboneConfig::Lstm(rec(Pooling::Weighted, true)),
        ),
        ("gru", BackboneConfig::Gru(rec(Pooling::Last, false))),
        (
            "gru residual mean",
            BackboneConfig::Gru(rec(Pooling::Mean, true)),
        ),
        (
            "attention",
            BackboneConfig::Attention(att(Pooling::Last, None, None)),
        ),
        (
            "attention sliding chunked weighted",
            BackboneConfig::Attention(att(Pooling::Weighted, Some(4), Some(4))),
        ),
        (
            "mamba",
            BackboneConfig::Mamba(MambaConfig {
                window_size: w,
                num_layers: 2,
                hidden_size: 16,
                state_size: 4,
                conv_size: 3,
                truncate_bptt: Some(4),
                ..MambaConfig::default()
            }),
        ),
        (
            "mamba kernel 1 mean",
            BackboneConfig::Mamba(MambaConfig {
                window_size: w,
                num_layers: 1,
                hidden_size: 16,
                state_size: 4,
                conv_size: 1,
                pooling: Pooling::Mean,
                ..MambaConfig::default()
            }),
        ),
        (
            "jamba",
            BackboneConfig::Jamba(JambaConfig {
                window_size: w,
                num_layers: 3,
                hidden_size: 16,
                state_size: 4,
                num_heads: 2,
                attention_every: 2,
                pooling: Pooling::Weighted,
                ..JambaConfig::default()
            }),
        ),
    ]
}

fn policy(backbone: BackboneConfig, spec: &InputSpec, device: &Device) -> Policy {
    device.seed(11);
    let cfg = PolicyConfig {
        backbone,
        ..PolicyConfig::default()
    };
    Policy::new(&cfg, spec, device)
}

fn values(t: Tensor<2>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn assert_close(what: &str, a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let worst = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(worst <= TOL, "{what}: differs by {worst}");
}

/// Steps `len` frames from `start` through a fresh one-row state, returning each step's trunk.
fn step_through(
    p: &Policy,
    spec: &InputSpec,
    ex: &GameExamples,
    start: usize,
    len: usize,
    device: &Device,
) -> Vec<Vec<f32>> {
    let mut state = p.initial_state(1, device);
    let mut out = Vec::new();
    for t in 0..len {
        let (f, i) = rows(spec, ex, start + t, 1);
        let input = PolicyInput::new(spec, &f, &i, 1, device);
        let (h, s) = p.step_trunk(&input, state);
        state = s;
        out.push(values(h));
    }
    out
}

fn windowed(
    p: &Policy,
    spec: &InputSpec,
    ex: &GameExamples,
    start: usize,
    len: usize,
    device: &Device,
) -> Vec<f32> {
    let (f, i) = rows(spec, ex, start, len);
    let input = PolicyInput::new(spec, &f, &i, len, device).windows(len);
    values(p.trunk(&input))
}

#[test]
fn stepping_a_real_replay_matches_the_windowed_forward_pass() {
    let (spec, ex) = real_frames();
    let device = Device::flex();
    let start = 900;
    for (name, b) in backbones() {
        let w = b.window().unwrap();
        let p = policy(b, &spec, &device);
        let steps = step_through(&p, &spec, &ex, start, w, &device);
        // Output t of the stepping = the windowed pass over frames start..=start + t.
        for (t, s) in steps.iter().enumerate() {
            let win = windowed(&p, &spec, &ex, start, t + 1, &device);
            assert_close(&format!("{name}, frame {t}"), s, &win);
        }
        // The head sees the same vector: identical controller distributions.
        let (f, i) = rows(&spec, &ex, start, w);
        let input = PolicyInput::new(&spec, &f, &i, w, &device).windows(w);
        let h = p.trunk(&input);
        let hs = Tensor::<2>::from_data(
            burn::tensor::TensorData::new(steps[w - 1].clone(), [1, h.dims()[1]]),
            &device,
        );
        assert_close(
            &format!("{name}: button logits"),
            &values(p.head.button_logits(&hs)),
            &values(p.head.button_logits(&h)),
        );
    }
}

#[test]
fn attention_cache_slides_past_the_window() {
    let (spec, ex) = real_frames();
    let device = Device::flex();
    let start = 2000;
    for (name, b) in backbones() {
        // One layer: with more, a cached frame's upper-layer keys saw frames before the
        // window (the receptive field grows with depth, as in Transformer-XL), so only the
        // first window is equal to the windowed pass, which the test above checks.
        let BackboneConfig::Attention(mut a) = b else {
            continue;
        };
        if a.pooling != Pooling::Last {
            continue;
        }
        a.num_layers = 1;
        let b = BackboneConfig::Attention(a);
        let w = b.window().unwrap();
        let p = policy(b, &spec, &device);
        let len = 3 * w;
        let steps = step_through(&p, &spec, &ex, start, len, &device);
        for (t, s) in steps.iter().enumerate().skip(w) {
            // The last w frames, whatever came before: positions are relative.
            let win = windowed(&p, &spec, &ex, start + t + 1 - w, w, &device);
            assert_close(&format!("{name}, frame {t}"), s, &win);
        }
    }
}

#[test]
fn batched_stepping_with_resets_equals_stepping_each_game_alone() {
    let (spec, ex) = real_frames();
    let device = Device::flex();
    let starts = [300usize, 1200, 2500];
    let len = 9;
    for (name, b) in backbones() {
        let p = policy(b, &spec, &device);
        let alone: Vec<Vec<Vec<f32>>> = starts
            .iter()
            .map(|&s| step_through(&p, &spec, &ex, s, len, &device))
            .collect();
        // Row 1 first plays 4 frames of another game, then is reset for its own.
        let fresh_after = 4;
        let mut state = p.initial_state(3, &device);
        for t in 0..fresh_after + len {
            if t == fresh_after {
                state.reset_rows(&[1]);
            }
            let mut f = Vec::new();
            let mut i = Vec::new();
            for (r, &s) in starts.iter().enumerate() {
                let row = match r {
                    1 if t < fresh_after => 3500 + t,
                    1 => s + t - fresh_after,
                    _ => s + t,
                };
                let (fr, ir) = rows(&spec, &ex, row, 1);
                f.extend(fr);
                i.extend(ir);
            }
            let input = PolicyInput::new(&spec, &f, &i, 3, &device);
            let (h, s) = p.step_trunk(&input, state);
            state = s;
            let v = values(h);
            let width = v.len() / 3;
            for r in [0usize, 2] {
                if t < len {
                    assert_close(
                        &format!("{name}: row {r}, frame {t}"),
                        &v[r * width..(r + 1) * width],
                        &alone[r][t],
                    );
                }
            }
            if t >= fresh_after {
                assert_close(
                    &format!("{name}: reset row, frame {}", t - fresh_after),
                    &v[width..2 * width],
                    &alone[1][t - fresh_after],
                );
            }
        }
        assert!(matches!(state, BackboneState::Temporal(_)));
    }
}

/// Serving keeps one state per game and steps the games of each observation together:
/// concatenating their states, stepping and splitting them back equals stepping each game
/// alone, whatever the order and subset.
#[test]
fn stepping_subsets_of_games_equals_stepping_each_game_alone() {
    let (spec, ex) = real_frames();
    let device = Device::flex();
    let starts = [300usize, 1200, 2500, 4000];
    let len = 8;
    for (name, b) in backbones() {
        let p = policy(b, &spec, &device);
        let alone: Vec<Vec<Vec<f32>>> = starts
            .iter()
            .map(|&s| step_through(&p, &spec, &ex, s, len, &device))
            .collect();
        let mut states: Vec<Option<BackboneState>> = starts
            .iter()
            .map(|_| Some(p.initial_state(1, &device)))
            .collect();
        let mut t = [0usize; 4];
        // Each round steps a different subset, in a different order.
        let rounds: [&[usize]; 6] = [
            &[2, 0],
            &[1, 3, 0],
            &[3],
            &[0, 1, 2, 3],
            &[2, 1],
            &[3, 2, 1, 0],
        ];
        for _ in 0..3 {
            for subset in rounds {
                let live: Vec<usize> = subset.iter().copied().filter(|&r| t[r] < len).collect();
                if live.is_empty() {
                    continue;
                }
                let mut f = Vec::new();
                let mut i = Vec::new();
                for &r in &live {
                    let (fr, ir) = rows(&spec, &ex, starts[r] + t[r], 1);
                    f.extend(fr);
                    i.extend(ir);
                }
                let input = PolicyInput::new(&spec, &f, &i, live.len(), &device);
                let part =
                    BackboneState::cat(live.iter().map(|&r| states[r].take().unwrap()).collect());
                let (h, part) = p.step_trunk(&input, part);
                for (&r, s) in live.iter().zip(part.split()) {
                    states[r] = Some(s);
                }
                let v = values(h);
                let width = v.len() / live.len();
                for (j, &r) in live.iter().enumerate() {
                    assert_close(
                        &format!("{name}: game {r}, frame {}", t[r]),
                        &v[j * width..(j + 1) * width],
                        &alone[r][t[r]],
                    );
                    t[r] += 1;
                }
            }
        }
        assert!(t.iter().all(|&x| x == len), "{name}: {t:?}");
    }
}

#[test]
fn analytic_parameter_counts_match_the_built_trunks() {
    let (spec, _) = real_frames();
    let device = Device::flex();
    for (name, b) in backbones() {
        let cfg = PolicyConfig {
            backbone: b,
            ..PolicyConfig::default()
        };
        let built = Policy::new(&cfg, &spec, &device).num_params();
        assert_eq!(
            exphil_policy::model::param_count(&cfg, &spec),
            built,
            "{name}"
        );
    }
}

/// Sequence training's forward pass: unrolls of consecutive frames through
/// [`Policy::trunk_sequence`], the state carried (detached) from one unroll to the next, give
/// what stepping the whole stretch frame by frame gives (1e-4), for every backbone, with and
/// without autodiff; and a row reset between unrolls starts that row afresh.
#[test]
fn sequence_unrolls_with_carried_state_equal_whole_game_stepping() {
    let (spec, ex) = real_frames();
    let (unroll, unrolls) = (16, 5);
    let starts = [400usize, 2000];
    for device in [Device::flex(), Device::flex().autodiff()] {
        for (name, b) in backbones() {
            let p = policy(b.clone(), &spec, &device);
            let alone: Vec<Vec<Vec<f32>>> = starts
                .iter()
                .map(|&s| step_through(&p, &spec, &ex, s, unroll * unrolls, &device))
                .collect();
            // Row 1 plays one unroll of other frames first, then is reset for its own.
            let mut state = p.initial_state(2, &device);
            for k in 0..=unrolls {
                let steps: Vec<PolicyInput> = (0..unroll)
                    .map(|t| {
                        let mut f = Vec::new();
                        let mut i = Vec::new();
                        for (r, &s) in starts.iter().enumerate() {
                            let row = match (r, k) {
                                (0, _) if k == unrolls => s,
                                (0, _) => s + k * unroll + t,
                                (_, 0) => 3500 + t,
                                _ => s + (k - 1) * unroll + t,
                            };
                            let (fr, ir) = rows(&spec, &ex, row, 1);
                            f.extend(fr);
                            i.extend(ir);
                        }
                        PolicyInput::new(&spec, &f, &i, 2, &device)
                    })
                    .collect();
                if k == 1 {
                    state.reset_rows(&[1]);
                }
                let (h, next) = p.trunk_sequence(&steps, state, &[], b.truncate_bptt());
                state = next.detach();
                let v = values(h);
                let width = v.len() / (2 * unroll);
                for t in 0..unroll {
                    let at = |r: usize| &v[(t * 2 + r) * width..(t * 2 + r + 1) * width];
                    if k < unrolls {
                        assert_close(
                            &format!("{name}: row 0, unroll {k}, frame {t}"),
                            at(0),
                            &alone[0][k * unroll + t],
                        );
                    }
                    if k >= 1 {
                        assert_close(
                            &format!("{name}: reset row, unroll {k}, frame {t}"),
                            at(1),
                            &alone[1][(k - 1) * unroll + t],
                        );
                    }
                }
            }
        }
    }
}
