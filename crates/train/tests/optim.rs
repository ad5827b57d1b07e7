//! The optimisers, gradient store and EMA against independent plain-`f64` references on a tiny
//! linear model with an explicit squared-error loss.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};
use exphil_policy::params::{export, import};
use exphil_runs::config::{OptimConfig, OptimizerKind};
use exphil_runs::tensors::NamedTensor;
use exphil_train::ema::Ema;
use exphil_train::grads::GradStore;
use exphil_train::optim::{radam_rectification, OptimError, Optimizer};
use std::collections::BTreeMap;

#[derive(Module, Debug)]
struct Net {
    l1: Linear,
}

/// Two layers where only `used` enters the loss.
#[derive(Module, Debug)]
struct TwoNet {
    used: Linear,
    unused: Linear,
}

const X: [[f64; 3]; 4] = [
    [0.5, -1.0, 2.0],
    [1.5, 0.25, -0.5],
    [-1.0, 0.75, 1.0],
    [0.2, -0.3, 0.4],
];
const Y: [[f64; 2]; 4] = [[1.0, -0.5], [0.0, 2.0], [-1.5, 0.5], [0.3, 0.3]];
const X2: [[f64; 3]; 4] = [
    [-0.5, 0.5, 0.25],
    [1.0, 1.0, -1.0],
    [0.0, -2.0, 0.5],
    [0.75, 0.1, -0.2],
];
const Y2: [[f64; 2]; 4] = [[0.5, 0.5], [-1.0, 1.0], [2.0, -0.25], [0.0, -1.0]];
const W0: [f32; 6] = [0.3, -0.2, 0.1, 0.4, -0.5, 0.25];
const B0: [f32; 2] = [0.05, -0.1];
const LRS: [f64; 8] = [0.01, 0.02, 0.015, 0.01, 0.005, 0.02, 0.01, 0.012];

fn device() -> Device {
    Device::flex().autodiff()
}

fn named(name: &str, shape: &[usize], data: &[f32]) -> NamedTensor {
    NamedTensor {
        name: name.to_string(),
        shape: shape.to_vec(),
        data: data.to_vec(),
    }
}

fn net_with(device: &Device, w: &[f32], b: &[f32]) -> Net {
    let net = Net {
        l1: LinearConfig::new(3, 2).init(device),
    };
    import(
        net,
        &[named("l1.weight", &[3, 2], w), named("l1.bias", &[2], b)],
    )
    .unwrap()
}

fn net(device: &Device) -> Net {
    net_with(device, &W0, &B0)
}

fn matrix<const N: usize, const C: usize>(rows: &[[f64; C]; N], device: &Device) -> Tensor<2> {
    let data: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(data, [N, C]), device)
}

/// Sum of squared errors of `linear` on `(x, y)`.
fn loss(linear: &Linear, x: &[[f64; 3]; 4], y: &[[f64; 2]; 4], device: &Device) -> Tensor<1> {
    (linear.forward(matrix(x, device)) - matrix(y, device))
        .square()
        .sum()
}

/// The parameters of `net` as `[weight (row-major 3x2), bias]` in f64.
fn params(net: &Net) -> Vec<Vec<f64>> {
    let by: BTreeMap<String, Vec<f64>> = export(net)
        .into_iter()
        .map(|t| (t.name, t.data.iter().map(|&v| v as f64).collect()))
        .collect();
    vec![by["l1.weight"].clone(), by["l1.bias"].clone()]
}

/// The analytic gradient of the summed squared error for `p = [W, b]`.
fn ref_grad(p: &[Vec<f64>], x: &[[f64; 3]; 4], y: &[[f64; 2]; 4]) -> Vec<Vec<f64>> {
    let mut gw = vec![0.0; 6];
    let mut gb = vec![0.0; 2];
    for n in 0..4 {
        for j in 0..2 {
            let mut pred = p[1][j];
            for i in 0..3 {
                pred += x[n][i] * p[0][i * 2 + j];
            }
            let r2 = 2.0 * (pred - y[n][j]);
            gb[j] += r2;
            for i in 0..3 {
                gw[i * 2 + j] += x[n][i] * r2;
            }
        }
    }
    vec![gw, gb]
}

/// The PyTorch update rules, written out element by element in f64.
struct RefOpt {
    cfg: OptimConfig,
    step: u64,
    m: Vec<Vec<f64>>,
    v: Vec<Vec<f64>>,
    buf: Vec<Option<Vec<f64>>>,
}

impl RefOpt {
    fn new(cfg: &OptimConfig, sizes: &[usize]) -> RefOpt {
        RefOpt {
            cfg: cfg.clone(),
            step: 0,
            m: sizes.iter().map(|&n| vec![0.0; n]).collect(),
            v: sizes.iter().map(|&n| vec![0.0; n]).collect(),
            buf: vec![None; sizes.len()],
        }
    }

    fn step(&mut self, p: &mut [Vec<f64>], grads: &[Vec<f64>], lr: f64) {
        self.step += 1;
        let c = &self.cfg;
        let t = self.step as i32;
        let (b1, b2, eps, wd) = (c.beta1, c.beta2, c.eps, c.weight_decay);
        let bc1 = 1.0 - b1.powi(t);
        let bc2 = 1.0 - b2.powi(t);
        for k in 0..p.len() {
            let w = &mut p[k];
            let mut g = grads[k].clone();
            match c.optimizer {
                OptimizerKind::Adam | OptimizerKind::Adamw => {
                    if c.optimizer == OptimizerKind::Adam {
                        for i in 0..g.len() {
                            g[i] += wd * w[i];
                        }
                    } else {
                        for wi in w.iter_mut() {
                            *wi *= 1.0 - lr * wd;
                        }
                    }
                    for i in 0..g.len() {
                        // exp_avg.lerp_(grad, 1 - beta1)
                        self.m[k][i] += (1.0 - b1) * (g[i] - self.m[k][i]);
                        self.v[k][i] = b2 * self.v[k][i] + (1.0 - b2) * g[i] * g[i];
                        let denom = self.v[k][i].sqrt() / bc2.sqrt() + eps;
                        w[i] -= lr / bc1 * self.m[k][i] / denom;
                    }
                }
                OptimizerKind::Lamb => {
                    let mut upd = vec![0.0; g.len()];
                    for i in 0..g.len() {
                        self.m[k][i] = b1 * self.m[k][i] + (1.0 - b1) * g[i];
                        self.v[k][i] = b2 * self.v[k][i] + (1.0 - b2) * g[i] * g[i];
                        upd[i] =
                            (self.m[k][i] / bc1) / ((self.v[k][i] / bc2).sqrt() + eps) + wd * w[i];
                    }
                    let wn = w.iter().map(|a| a * a).sum::<f64>().sqrt();
                    let un = upd.iter().map(|a| a * a).sum::<f64>().sqrt();
                    let ratio = if wn > 0.0 && un > 0.0 { wn / un } else { 1.0 };
                    for i in 0..g.len() {
                        w[i] -= lr * ratio * upd[i];
                    }
                }
                OptimizerKind::Radam => {
                    let rho_inf = 2.0 / (1.0 - b2) - 1.0;
                    let rho_t = rho_inf - 2.0 * (t as f64) * b2.powi(t) / bc2;
                    for i in 0..g.len() {
                        g[i] += wd * w[i];
                        self.m[k][i] = b1 * self.m[k][i] + (1.0 - b1) * g[i];
                        self.v[k][i] = b2 * self.v[k][i] + (1.0 - b2) * g[i] * g[i];
                        let m_hat = self.m[k][i] / bc1;
                        if rho_t > 5.0 {
                            let rect = ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                                / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
                                .sqrt();
                            let adaptive = bc2.sqrt() / (self.v[k][i].sqrt() + eps);
                            w[i] -= m_hat * lr * adaptive * rect;
                        } else {
                            w[i] -= m_hat * lr;
                        }
                    }
                }
                OptimizerKind::Sgd => {
                    for i in 0..g.len() {
                        g[i] += wd * w[i];
                    }
                    if c.momentum != 0.0 {
                        let buf = match self.buf[k].take() {
                            // torch.clone(d_p) on the first step
                            None => g.clone(),
                            Some(b) => b.iter().zip(&g).map(|(b, g)| c.momentum * b + g).collect(),
                        };
                        if c.nesterov {
                            for i in 0..g.len() {
                                g[i] += c.momentum * buf[i];
                            }
                        } else {
                            g = buf.clone();
                        }
                        self.buf[k] = Some(buf);
                    }
                    for i in 0..g.len() {
                        w[i] -= lr * g[i];
                    }
                }
            }
        }
    }
}

/// One optimiser step of `net` on the loss of `(X, Y)` through the real pipeline.
fn train_step(net: Net, opt: &mut Optimizer, lr: f64, device: &Device) -> Net {
    let grads = loss(&net.l1, &X, &Y, device).backward();
    let mut store = GradStore::new();
    store.accumulate(&net, &grads, 1.0);
    assert_eq!(store.len(), 2);
    opt.step(net, &store, lr)
}

fn assert_close(got: &[Vec<f64>], want: &[Vec<f64>], what: &str) {
    for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
        let tol = 1e-5 * w.abs().max(0.1);
        assert!(
            (g - w).abs() <= tol,
            "{what}: {g} vs reference {w}\n got {got:?}\nwant {want:?}"
        );
    }
}

/// Runs `steps` steps of `cfg` through burn and through the reference, comparing after each
/// step, and returns the final parameters.
fn check_against_reference(cfg: &OptimConfig, steps: usize, w: &[f32], b: &[f32]) -> Vec<Vec<f64>> {
    let device = device();
    let mut model = net_with(&device, w, b);
    let mut opt = Optimizer::new(cfg);
    let mut p = params(&model);
    let start = p.clone();
    let mut reference = RefOpt::new(cfg, &[6, 2]);
    for (s, &lr) in LRS.iter().cycle().take(steps).enumerate() {
        model = train_step(model, &mut opt, lr, &device);
        let g = ref_grad(&p, &X, &Y);
        reference.step(&mut p, &g, lr);
        assert_close(
            &params(&model),
            &p,
            &format!("{:?} step {}", cfg.optimizer, s + 1),
        );
    }
    assert_eq!(opt.steps(), steps as u64);
    // The weights really moved (a no-op optimiser fails the comparison above).
    let moved: f64 = p
        .iter()
        .flatten()
        .zip(start.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .sum();
    assert!(moved > 1e-3, "{:?} barely moved: {moved}", cfg.optimizer);
    p
}

fn cfg(kind: OptimizerKind) -> OptimConfig {
    OptimConfig {
        optimizer: kind,
        ..OptimConfig::default()
    }
}

#[test]
fn adam_with_l2_matches_reference() {
    let c = OptimConfig {
        weight_decay: 0.1,
        ..cfg(OptimizerKind::Adam)
    };
    check_against_reference(&c, 8, &W0, &B0);
}

#[test]
fn adamw_matches_reference() {
    let c = OptimConfig {
        weight_decay: 0.5,
        beta1: 0.8,
        beta2: 0.99,
        ..cfg(OptimizerKind::Adamw)
    };
    check_against_reference(&c, 8, &W0, &B0);
}

#[test]
fn adam_and_adamw_decay_differ_and_agree_without_decay() {
    let with = |kind, wd| {
        let c = OptimConfig {
            weight_decay: wd,
            ..cfg(kind)
        };
        check_against_reference(&c, 5, &W0, &B0)
    };
    let adam = with(OptimizerKind::Adam, 0.5);
    let adamw = with(OptimizerKind::Adamw, 0.5);
    let diff: f64 = adam
        .iter()
        .flatten()
        .zip(adamw.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .sum();
    assert!(diff > 1e-4, "L2 and decoupled decay gave the same weights");
    assert_eq!(
        with(OptimizerKind::Adam, 0.0),
        with(OptimizerKind::Adamw, 0.0)
    );
}

#[test]
fn lamb_matches_reference() {
    let c = OptimConfig {
        weight_decay: 0.01,
        ..cfg(OptimizerKind::Lamb)
    };
    check_against_reference(&c, 8, &W0, &B0);
}

#[test]
fn lamb_trust_ratio_scales_each_tensor_to_its_norm() {
    let device = device();
    let c = OptimConfig {
        weight_decay: 0.1,
        ..cfg(OptimizerKind::Lamb)
    };
    // A zero bias: its trust ratio is 1, so its first step is the plain Adam step lr * sign(g).
    let zero_bias = [0.0f32, 0.0];
    check_against_reference(&c, 6, &W0, &zero_bias);
    let mut opt = Optimizer::new(&c);
    let model = net_with(&device, &W0, &zero_bias);
    let before = params(&model);
    let lr = 0.01;
    let after = params(&train_step(model, &mut opt, lr, &device));
    // Weight: ||delta|| = lr * ratio * ||update|| = lr * ||w||.
    let delta_norm = before[0]
        .iter()
        .zip(&after[0])
        .map(|(a, b)| (a - b) * (a - b))
        .sum::<f64>()
        .sqrt();
    let w_norm = before[0].iter().map(|a| a * a).sum::<f64>().sqrt();
    assert!(
        (delta_norm - lr * w_norm).abs() < 1e-6,
        "{delta_norm} vs {}",
        lr * w_norm
    );
    // Bias: ratio 1, first Adam direction m_hat / (sqrt(v_hat) + eps) = sign(g).
    let g = ref_grad(&before, &X, &Y);
    for j in 0..2 {
        let want = -lr * g[1][j].signum();
        assert!(
            (after[1][j] - want).abs() < 1e-7,
            "{} vs {want}",
            after[1][j]
        );
    }
}

#[test]
fn radam_unrectified_then_rectified_matches_reference() {
    // beta2 = 0.9: rho_t <= 5 for steps 1..=5 (SGD-like with the corrected first moment),
    // rectified from step 6 on.
    assert!((1..=5).all(|t| radam_rectification(0.9, t).is_none()));
    assert!((6..=8).all(|t| radam_rectification(0.9, t).is_some()));
    // PyTorch's defaults: first rectified step is 6.
    assert!(radam_rectification(0.999, 5).is_none());
    let r6 = radam_rectification(0.999, 6).unwrap();
    assert!(r6 > 0.0 && r6 < 0.1, "{r6}");
    let c = OptimConfig {
        beta2: 0.9,
        weight_decay: 0.05,
        ..cfg(OptimizerKind::Radam)
    };
    check_against_reference(&c, 8, &W0, &B0);

    // Step 1 by hand: m_hat = g (+ decay), so w1 = w0 - lr * (g + wd * w0).
    let device = device();
    let model = net(&device);
    let p0 = params(&model);
    let g = ref_grad(&p0, &X, &Y);
    let mut opt = Optimizer::new(&c);
    let p1 = params(&train_step(model, &mut opt, 0.01, &device));
    for k in 0..2 {
        for i in 0..p0[k].len() {
            let want = p0[k][i] - 0.01 * (g[k][i] + 0.05 * p0[k][i]);
            assert!((p1[k][i] - want).abs() < 1e-6, "{} vs {want}", p1[k][i]);
        }
    }
}

#[test]
fn sgd_momentum_matches_reference() {
    let c = OptimConfig {
        momentum: 0.9,
        weight_decay: 0.01,
        ..cfg(OptimizerKind::Sgd)
    };
    check_against_reference(&c, 8, &W0, &B0);
}

#[test]
fn sgd_nesterov_matches_reference_and_differs_from_plain_momentum() {
    let c = OptimConfig {
        momentum: 0.8,
        nesterov: true,
        ..cfg(OptimizerKind::Sgd)
    };
    let nesterov = check_against_reference(&c, 6, &W0, &B0);
    let plain = check_against_reference(
        &OptimConfig {
            nesterov: false,
            ..c.clone()
        },
        6,
        &W0,
        &B0,
    );
    assert_ne!(nesterov, plain);
}

#[test]
fn sgd_without_momentum_keeps_no_state() {
    let c = OptimConfig {
        momentum: 0.0,
        ..cfg(OptimizerKind::Sgd)
    };
    check_against_reference(&c, 4, &W0, &B0);
    let device = device();
    let mut opt = Optimizer::new(&c);
    let _ = train_step(net(&device), &mut opt, 0.01, &device);
    assert!(opt.state_tensors().is_empty());
    assert!(opt.slot_names().is_empty());
    let err = opt
        .load_state(
            1,
            &[named("l1.bias.momentum_buffer", &[2], &[0.0, 0.0])],
            &net(&device),
            &device,
        )
        .unwrap_err();
    assert!(matches!(err, OptimError::UnknownSlot { .. }), "{err}");
}

#[test]
fn state_tensors_are_named_by_path_and_slot() {
    let device = device();
    let mut opt = Optimizer::new(&cfg(OptimizerKind::Adam));
    assert!(opt.state_tensors().is_empty());
    let _ = train_step(net(&device), &mut opt, 0.01, &device);
    let st = opt.state_tensors();
    let names: Vec<&str> = st.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "l1.bias.exp_avg",
            "l1.bias.exp_avg_sq",
            "l1.weight.exp_avg",
            "l1.weight.exp_avg_sq"
        ]
    );
    assert_eq!(st[2].shape, [3, 2]);
    assert_eq!(st[0].shape, [2]);
    // After one step: exp_avg = (1 - beta1) g, exp_avg_sq = (1 - beta2) g^2.
    let g = ref_grad(&params(&net(&device)), &X, &Y);
    for (i, &gi) in g[0].iter().enumerate() {
        assert!((st[2].data[i] as f64 - 0.1 * gi).abs() < 1e-5 * gi.abs().max(1.0));
        let want = 0.001 * gi * gi;
        assert!((st[3].data[i] as f64 - want).abs() < 1e-5 * want.max(1e-3));
    }
    let mut sgd = Optimizer::new(&cfg(OptimizerKind::Sgd));
    let _ = train_step(net(&device), &mut sgd, 0.01, &device);
    let names: Vec<String> = sgd.state_tensors().into_iter().map(|t| t.name).collect();
    assert_eq!(
        names,
        ["l1.bias.momentum_buffer", "l1.weight.momentum_buffer"]
    );
}

#[test]
fn save_load_then_continue_is_bit_identical() {
    let device = device();
    for kind in [
        OptimizerKind::Adam,
        OptimizerKind::Adamw,
        OptimizerKind::Lamb,
        OptimizerKind::Radam,
        OptimizerKind::Sgd,
    ] {
        let c = OptimConfig {
            weight_decay: 0.01,
            nesterov: kind == OptimizerKind::Sgd,
            beta2: 0.9,
            ..cfg(kind)
        };
        let mut opt = Optimizer::new(&c);
        let mut model = net(&device);
        for &lr in &LRS[..4] {
            model = train_step(model, &mut opt, lr, &device);
        }
        // Checkpoint: weights, moments and step count as plain named tensors.
        let weights = export(&model);
        let state = opt.state_tensors();
        let steps = opt.steps();

        for &lr in &LRS[4..] {
            model = train_step(model, &mut opt, lr, &device);
        }

        let mut resumed_opt = Optimizer::new(&c);
        resumed_opt
            .load_state(steps, &state, &net(&device), &device)
            .unwrap();
        assert_eq!(resumed_opt.steps(), 4);
        assert_eq!(resumed_opt.state_tensors(), state);
        let mut resumed = import(net(&device), &weights).unwrap();
        resumed_opt.validate(&resumed).unwrap();
        for &lr in &LRS[4..] {
            resumed = train_step(resumed, &mut resumed_opt, lr, &device);
        }
        assert_eq!(export(&resumed), export(&model), "{kind:?}");
        assert_eq!(resumed_opt.state_tensors(), opt.state_tensors(), "{kind:?}");
        assert_eq!(resumed_opt.steps(), 8);

        // A fresh optimiser (state lost) does not reproduce the run.
        let mut fresh_opt = Optimizer::new(&c);
        let mut fresh = import(net(&device), &weights).unwrap();
        for &lr in &LRS[4..] {
            fresh = train_step(fresh, &mut fresh_opt, lr, &device);
        }
        assert_ne!(export(&fresh), export(&model), "{kind:?}");
    }
}

#[test]
fn load_state_refuses_bad_state_and_keeps_the_old_one() {
    let device = device();
    let mut opt = Optimizer::new(&cfg(OptimizerKind::Adam));
    let _ = train_step(net(&device), &mut opt, 0.01, &device);
    let good = opt.state_tensors();

    let mut bad = good.clone();
    bad[3].data[4] = f32::NAN;
    let err = opt.load_state(7, &bad, &net(&device), &device).unwrap_err();
    assert_eq!(err, OptimError::NonFinite("l1.weight.exp_avg_sq".into()));
    assert!(err.to_string().contains("l1.weight.exp_avg_sq"), "{err}");
    bad[3].data[4] = f32::INFINITY;
    assert_eq!(
        opt.load_state(7, &bad, &net(&device), &device).unwrap_err(),
        OptimError::NonFinite("l1.weight.exp_avg_sq".into())
    );

    let mut bad = good.clone();
    bad[0].name = "l1.bias.momentum_buffer".into();
    let err = opt.load_state(7, &bad, &net(&device), &device).unwrap_err();
    assert!(
        matches!(&err, OptimError::UnknownSlot { name, .. } if name == "l1.bias.momentum_buffer")
    );
    let mut bad = good.clone();
    bad[0].name = "exp_avg".into();
    assert!(matches!(
        opt.load_state(7, &bad, &net(&device), &device).unwrap_err(),
        OptimError::UnknownSlot { .. }
    ));

    let mut bad = good.clone();
    bad[2].data.pop();
    assert!(matches!(
        opt.load_state(7, &bad, &net(&device), &device).unwrap_err(),
        OptimError::Size { name, expected: 6, found: 5, .. } if name == "l1.weight.exp_avg"
    ));

    let mut bad = good.clone();
    bad[3].shape = vec![6];
    assert!(matches!(
        opt.load_state(7, &bad, &net(&device), &device).unwrap_err(),
        OptimError::SlotShape { name, .. } if name == "l1.weight.exp_avg_sq"
    ));

    let bad: Vec<NamedTensor> = good.iter().take(3).cloned().collect();
    assert_eq!(
        opt.load_state(7, &bad, &net(&device), &device).unwrap_err(),
        OptimError::MissingSlot {
            param: "l1.weight".into(),
            slot: "exp_avg_sq".into()
        }
    );

    let mut bad = good.clone();
    bad.push(good[0].clone());
    assert_eq!(
        opt.load_state(7, &bad, &net(&device), &device).unwrap_err(),
        OptimError::Duplicate("l1.bias.exp_avg".into())
    );

    // Nothing changed by the refused loads.
    assert_eq!(opt.steps(), 1);
    assert_eq!(opt.state_tensors(), good);

    // Well-formed state that does not fit the module (a checkpoint of another architecture)
    // is refused on load, not left to panic in the next step; nothing changes.
    let mut other = good.clone();
    for t in &mut other[2..] {
        t.shape = vec![2, 3];
    }
    assert_eq!(
        opt.load_state(1, &other, &net(&device), &device)
            .unwrap_err(),
        OptimError::ParamShape {
            name: "l1.weight".into(),
            state: vec![2, 3],
            param: vec![3, 2]
        }
    );
    let mut renamed = good.clone();
    renamed[0].name = "l2.bias.exp_avg".into();
    renamed[1].name = "l2.bias.exp_avg_sq".into();
    assert_eq!(
        opt.load_state(1, &renamed, &net(&device), &device)
            .unwrap_err(),
        OptimError::UnknownParam("l2.bias".into())
    );
    assert_eq!(opt.state_tensors(), good);
    // The same state with the module it fits loads.
    opt.load_state(2, &good, &net(&device), &device).unwrap();
    opt.validate(&net(&device)).unwrap();
    assert_eq!(opt.steps(), 2);
}

#[test]
fn parameters_without_gradient_are_left_alone() {
    let device = device();
    let model = TwoNet {
        used: LinearConfig::new(3, 2).init(&device),
        unused: LinearConfig::new(3, 2).init(&device),
    };
    let before = export(&model);
    let grads = loss(&model.used, &X, &Y, &device).backward();
    let mut store = GradStore::new();
    store.accumulate(&model, &grads, 1.0);
    let paths: Vec<&str> = store.iter().map(|(p, _)| p).collect();
    assert_eq!(paths, ["used.bias", "used.weight"]);
    assert!(store.get("unused.weight").is_none());
    let mut opt = Optimizer::new(&cfg(OptimizerKind::Adam));
    let model = opt.step(model, &store, 0.1);
    let after = export(&model);
    for (b, a) in before.iter().zip(&after) {
        if b.name.starts_with("unused.") {
            assert_eq!(a, b);
        } else {
            assert_ne!(a, b);
        }
    }
    let names: Vec<String> = opt.state_tensors().into_iter().map(|t| t.name).collect();
    assert!(names.iter().all(|n| n.starts_with("used.")), "{names:?}");
    // The stepped parameters are still trainable leaves.
    assert!(model.used.weight.val().is_require_grad());
    assert!(model.unused.weight.val().is_require_grad());
    let grads = loss(&model.used, &X, &Y, &device).backward();
    assert!(model.used.weight.val().grad(&grads).is_some());
}

fn flat(store: &GradStore, path: &str) -> Vec<f64> {
    store
        .get(path)
        .unwrap()
        .to_data()
        .convert::<f64>()
        .try_to_vec::<f64>()
        .unwrap()
}

#[test]
fn accumulated_gradients_equal_the_gradient_of_the_summed_loss() {
    let device = device();
    let model = net(&device);
    let mut acc = GradStore::new();
    assert!(acc.is_empty());
    for (x, y) in [(&X, &Y), (&X2, &Y2)] {
        let grads = loss(&model.l1, x, y, &device).backward();
        acc.accumulate(&model, &grads, 0.5);
    }
    assert_eq!(acc.len(), 2);

    let total =
        (loss(&model.l1, &X, &Y, &device) + loss(&model.l1, &X2, &Y2, &device)).mul_scalar(0.5);
    let mut once = GradStore::new();
    once.accumulate(&model, &total.backward(), 1.0);

    let p = params(&model);
    let (g1, g2) = (ref_grad(&p, &X, &Y), ref_grad(&p, &X2, &Y2));
    for (k, path) in ["l1.weight", "l1.bias"].into_iter().enumerate() {
        let a = flat(&acc, path);
        let o = flat(&once, path);
        for i in 0..a.len() {
            let want = 0.5 * (g1[k][i] + g2[k][i]);
            assert!((a[i] - o[i]).abs() <= 1e-5 * o[i].abs().max(1.0), "{path}");
            assert!((a[i] - want).abs() <= 1e-5 * want.abs().max(1.0), "{path}");
        }
    }
    acc.clear();
    assert!(acc.is_empty());
    assert_eq!(acc.global_norm(), 0.0);
}

#[test]
fn global_norm_and_clipping() {
    let device = device();
    let model = net(&device);
    let grads = loss(&model.l1, &X, &Y, &device).backward();
    let mut store = GradStore::new();
    store.accumulate(&model, &grads, 1.0);
    let g = ref_grad(&params(&model), &X, &Y);
    let want = g.iter().flatten().map(|v| v * v).sum::<f64>().sqrt();
    let norm = store.global_norm();
    assert!((norm - want).abs() < 1e-5 * want, "{norm} vs {want}");
    assert!(want > 1.0);

    // Disabled and not needed: unchanged.
    let mut s = store.clone();
    assert_eq!(s.clip_global_norm(0.0), norm);
    assert_eq!(flat(&s, "l1.weight"), flat(&store, "l1.weight"));
    assert_eq!(s.clip_global_norm(-1.0), norm);
    assert_eq!(s.clip_global_norm(norm * 2.0), norm);
    assert_eq!(flat(&s, "l1.weight"), flat(&store, "l1.weight"));

    // Clipped: the new norm is the maximum, the direction is kept.
    let pre = s.clip_global_norm(1.0);
    assert_eq!(pre, norm);
    assert!((s.global_norm() - 1.0).abs() < 1e-6);
    for path in ["l1.weight", "l1.bias"] {
        for (a, b) in flat(&s, path).iter().zip(flat(&store, path)) {
            assert!((a - b / norm).abs() < 1e-6);
        }
    }

    let mut s = store.clone();
    s.scale(3.0);
    assert!((s.global_norm() - 3.0 * norm).abs() < 1e-5 * norm);
}

#[test]
fn non_finite_gradients_give_a_non_finite_norm_and_are_not_clipped() {
    let device = device();
    let model = net(&device);
    let grads = loss(&model.l1, &X, &Y, &device).backward();
    let mut store = GradStore::new();
    store.accumulate(&model, &grads, f64::NAN);
    let norm = store.clip_global_norm(1.0);
    assert!(norm.is_nan());
    assert!(flat(&store, "l1.bias").iter().all(|v| v.is_nan()));

    let mut store = GradStore::new();
    store.accumulate(&model, &grads, 1.0);
    store.accumulate(&model, &grads, f64::INFINITY);
    assert!(!store.global_norm().is_finite());

    // Finite but overflowing in the sum of squares still reads as non-finite.
    let mut store = GradStore::new();
    store.accumulate(&model, &grads, 1e30);
    assert!(!store.global_norm().is_finite());
}

#[test]
fn ema_follows_the_warmup_formula() {
    let device = device();
    let mut opt = Optimizer::new(&OptimConfig {
        momentum: 0.0,
        ..cfg(OptimizerKind::Sgd)
    });
    let decay = 0.25;
    let mut ema = Ema::new(decay);
    assert_eq!(ema.updates(), 0);
    let mut model = net(&device);
    let mut shadow: Option<Vec<Vec<f64>>> = None;
    for n in 0..6u64 {
        ema.update(&model);
        let p = params(&model);
        shadow = Some(match shadow {
            None => p,
            Some(s) => {
                let d = decay.min((1.0 + n as f64) / (10.0 + n as f64));
                s.iter()
                    .zip(&p)
                    .map(|(s, p)| {
                        s.iter()
                            .zip(p)
                            .map(|(s, p)| d * s + (1.0 - d) * p)
                            .collect()
                    })
                    .collect()
            }
        });
        model = train_step(model, &mut opt, 0.02, &device);
    }
    assert_eq!(ema.updates(), 6);
    // Decays used: copy, 2/11, 3/12 (= 0.25), then capped at 0.25.
    assert_eq!(ema.effective_decay(), 0.25);
    let want = shadow.unwrap();
    let averaged = ema.apply(model.clone());
    assert_close(&params(&averaged), &want, "ema");
    assert_ne!(params(&averaged), params(&model));
    assert!(averaged.l1.weight.val().is_require_grad());

    let st = ema.state_tensors();
    let names: Vec<&str> = st.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["l1.bias", "l1.weight"]);
    assert_eq!(st[1].shape, [3, 2]);

    // Round trip: the restored average continues exactly like the original.
    let mut restored = Ema::new(decay);
    restored
        .load_state(ema.updates(), &st, &model, &device)
        .unwrap();
    restored.validate(&model).unwrap();
    assert_eq!(restored.state_tensors(), st);
    ema.update(&model);
    restored.update(&model);
    assert_eq!(restored.state_tensors(), ema.state_tensors());
    assert_eq!(restored.updates(), 7);
}

#[test]
fn ema_leaves_parameters_it_does_not_average_and_refuses_bad_state() {
    let device = device();
    let mut ema = Ema::new(0.99);
    let model = net(&device);
    ema.load_state(3, &[named("l1.bias", &[2], &[7.0, 8.0])], &model, &device)
        .unwrap();
    let applied = ema.apply(model.clone());
    let p = params(&applied);
    assert_eq!(p[1], [7.0, 8.0]);
    assert_eq!(p[0], params(&model)[0]);

    let err = ema
        .load_state(
            3,
            &[named("l1.bias", &[2], &[7.0, f32::NAN])],
            &model,
            &device,
        )
        .unwrap_err();
    assert_eq!(err, OptimError::NonFinite("l1.bias".into()));
    assert!(err.to_string().contains("l1.bias"));
    assert!(matches!(
        ema.load_state(3, &[named("l1.bias", &[3], &[7.0, 8.0])], &model, &device)
            .unwrap_err(),
        OptimError::Size { .. }
    ));
    assert_eq!(
        ema.load_state(
            3,
            &[
                named("l1.bias", &[2], &[7.0, 8.0]),
                named("l1.bias", &[2], &[7.0, 8.0])
            ],
            &model,
            &device
        )
        .unwrap_err(),
        OptimError::Duplicate("l1.bias".into())
    );
    // Refused loads change nothing.
    assert_eq!(ema.updates(), 3);
    assert_eq!(ema.state_tensors(), [named("l1.bias", &[2], &[7.0, 8.0])]);
    assert!(matches!(
        ema.load_state(
            3,
            &[named("l1.bias", &[1, 2], &[7.0, 8.0])],
            &model,
            &device
        )
        .unwrap_err(),
        OptimError::ParamShape { .. }
    ));
    assert_eq!(ema.state_tensors(), [named("l1.bias", &[2], &[7.0, 8.0])]);

    // A parameter first seen after the first update is copied.
    let mut ema = Ema::new(0.9);
    ema.load_state(5, &[named("l1.bias", &[2], &[1.0, 1.0])], &model, &device)
        .unwrap();
    ema.update(&model);
    let st = ema.state_tensors();
    assert_eq!(st[1].data, W0);
    let d = 0.9f64.min(6.0 / 15.0);
    for (j, &b) in B0.iter().enumerate() {
        let want = d + (1.0 - d) * b as f64;
        assert!((st[0].data[j] as f64 - want).abs() < 1e-6);
    }
}
