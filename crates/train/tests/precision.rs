//! Mixed precision on the CPU backend (burn's flex computes in f16 and bf16): for every
//! backbone, a step computing in f16 or bf16 on a half copy of the f32 weights gives the f32
//! logits within the half type's rounding and gradients on the f32 weights whose global norm is
//! within a few percent. Tolerances (worst logit difference, absolute or relative above 1;
//! gradient norm, relative): f16 5e-3 and 2e-3, bf16 5e-2 and 1e-2 (bf16 keeps 8 bits of
//! mantissa to f16's 11). Measured: f16 at most 1.8e-3 and 3.2e-4, bf16 2.3e-2 and 2.1e-3.

#[path = "../../policy/tests/common/frames.rs"]
mod frames;
mod common {
    pub mod parity;
}
use burn::tensor::Device;
use common::parity::precision_gaps;
use exphil_policy::precision::Precision;

#[test]
fn every_backbone_in_f16_and_bf16_follows_f32_on_the_cpu() {
    let cpu = Device::flex().autodiff();
    for (precision, logit_tol, grad_tol) in
        [(Precision::F16, 5e-3, 2e-3), (Precision::Bf16, 5e-2, 1e-2)]
    {
        for (name, dl, dg) in precision_gaps(&cpu, precision) {
            eprintln!(
                "{} {name}: logits differ by {dl:.2e}, gradient norm by {dg:.2e}",
                precision.name()
            );
            assert!(
                dl <= logit_tol,
                "{} {name}: logits differ by {dl}",
                precision.name()
            );
            assert!(
                dg <= grad_tol,
                "{} {name}: gradient norm differs by {dg}",
                precision.name()
            );
        }
    }
}
