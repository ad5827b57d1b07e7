//! Backend parity on Vulkan, built with `--features vulkan` (CI runs it on Mesa's software
//! Vulkan driver, lavapipe): for every backbone, the same weights give the same logits on the
//! Vulkan device as on the CPU backend, and one Adam step from the same gradients leaves the
//! same weights. Tolerances: logits within 1e-4 (absolute, or relative above 1); the global
//! gradient norm within 1e-4 relative; weights after the step within 5e-5, 5% of the learning
//! rate (1e-3): Adam divides each gradient by its own magnitude, so for a parameter whose
//! gradient is near Adam's epsilon the last bits of the gradient move its step by a fraction of
//! the learning rate (measured: 3e-5 on Jamba, under 1e-6 on the others).
#![cfg(feature = "vulkan")]

#[path = "../../policy/tests/common/frames.rs"]
mod frames;
mod common {
    pub mod parity;
}
use burn::tensor::Device;
use common::parity::{backbones, forward_and_step, worst};
use exphil_policy::precision::Precision;
use exphil_policy::{params, Policy};
use exphil_runs::config::PolicyConfig;
use frames::real_frames;

const LOGIT_TOL: f32 = 1e-4;
const GRAD_TOL: f64 = 1e-4;
const STEP_TOL: f32 = 5e-5;

/// The Vulkan device under test (`$EXPHIL_TEST_VULKAN`, else `vulkan`: the first adapter).
fn vulkan() -> Device {
    let name = std::env::var("EXPHIL_TEST_VULKAN").unwrap_or_else(|_| "vulkan".into());
    exphil_policy::device::device_of(&name).unwrap_or_else(|e| {
        panic!("a --features vulkan build tests on Vulkan, and there is none here: {e}")
    })
}

#[test]
fn every_backbone_agrees_with_the_cpu_forward_and_after_one_adam_step() {
    let (spec, ex) = real_frames();
    let cpu = Device::flex().autodiff();
    let vk = vulkan().autodiff();
    for (name, mut backbone) in backbones() {
        // Dropout draws from each device's own generator: off, so both see the same network.
        backbone.set_dropout(0.0);
        let window = backbone.window().unwrap_or(1);
        let cfg = PolicyConfig {
            backbone,
            ..PolicyConfig::default()
        };
        cpu.seed(7);
        let on_cpu = Policy::new(&cfg, &spec, &cpu);
        let on_vk = params::import(Policy::new(&cfg, &spec, &vk), &params::export(&on_cpu))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (logits_cpu, norm_cpu, weights_cpu) =
            forward_and_step(on_cpu, Precision::F32, &spec, &ex, window, &cpu);
        let (logits_vk, norm_vk, weights_vk) =
            forward_and_step(on_vk, Precision::F32, &spec, &ex, window, &vk);
        let (dl, dw) = (
            worst(&logits_cpu, &logits_vk),
            worst(&weights_cpu, &weights_vk),
        );
        let dg = (norm_cpu - norm_vk).abs() / norm_cpu.max(1e-12);
        eprintln!(
            "{name}: logits differ by {dl:.2e}, gradient norm by {dg:.2e}, weights after a step \
             by {dw:.2e}"
        );
        assert!(dl <= LOGIT_TOL, "{name}: logits differ by {dl}");
        assert!(
            norm_cpu > 0.0 && dg <= GRAD_TOL,
            "{name}: gradient norms {norm_cpu} vs {norm_vk}"
        );
        assert!(
            dw <= STEP_TOL,
            "{name}: weights after one Adam step differ by {dw}"
        );
    }
}

/// Mixed precision on the Vulkan device, which must compute in f16 (Mesa's lavapipe does):
/// tolerances as `precision.rs`'s f16 ones on the CPU (logits 5e-3, gradient norm 2e-3;
/// measured on lavapipe: 2.3e-3 and 2.5e-4).
#[test]
fn every_backbone_in_f16_follows_f32_on_vulkan() {
    let vk = vulkan().autodiff();
    let f16 = burn::tensor::FloatDType::F16;
    assert!(
        vk.supports_dtype(f16),
        "the Vulkan device under test does not compute in f16"
    );
    for (name, dl, dg) in common::parity::precision_gaps(&vk, Precision::F16) {
        eprintln!("f16 on vulkan {name}: logits differ by {dl:.2e}, gradient norm by {dg:.2e}");
        assert!(dl <= 5e-3, "{name}: logits differ by {dl}");
        assert!(dg <= 2e-3, "{name}: gradient norm differs by {dg}");
    }
}
