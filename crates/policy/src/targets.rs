//! A batch of controller targets on a device, as the head's teacher forcing, the losses and
//! reinforcement learning's log-probabilities read them, and the button-weight offset they
//! share.

use burn::tensor::{Device, Int, Tensor, TensorData};
use exphil_embed::{NUM_BUTTONS, TARGET_COLUMNS};

/// Targets of a batch on a device.
#[derive(Clone, Debug)]
pub struct TargetBatch {
    /// `[n, 8]` 0/1 button bits.
    pub buttons: Tensor<2>,
    /// `[n]` class of main x, main y, C x, C y, shoulder.
    pub classes: [Tensor<1, Int>; 5],
    /// Rows.
    pub rows: usize,
    /// `[n]` 1 for rows that count, 0 for padding (`None`: every row counts).
    pub mask: Option<Tensor<1>>,
    /// Rows that count.
    pub counted: usize,
}

impl TargetBatch {
    /// From `rows` rows of the six stored target columns (buttons bitmask, then the classes).
    pub fn new(rows: usize, columns: &[u16], device: &Device) -> TargetBatch {
        assert_eq!(columns.len(), rows * TARGET_COLUMNS, "target buffer size");
        let mut bits = Vec::with_capacity(rows * NUM_BUTTONS);
        let mut classes: [Vec<i64>; 5] = Default::default();
        for r in columns.chunks_exact(TARGET_COLUMNS) {
            bits.extend((0..NUM_BUTTONS).map(|b| ((r[0] >> b) & 1) as f32));
            for k in 0..5 {
                classes[k].push(r[k + 1] as i64);
            }
        }
        let cls = |v: Vec<i64>| Tensor::<1, Int>::from_data(TensorData::new(v, [rows]), device);
        let [a, b, c, d, e] = classes;
        TargetBatch {
            buttons: Tensor::from_data(TensorData::new(bits, [rows, NUM_BUTTONS]), device),
            classes: [cls(a), cls(b), cls(c), cls(d), cls(e)],
            rows,
            mask: None,
            counted: rows,
        }
    }

    /// These targets with only the rows where `valid` is true counting (padding rows of
    /// sequence batches keep whatever targets they hold and weigh nothing).
    pub fn masked(mut self, valid: &[bool], device: &Device) -> TargetBatch {
        assert_eq!(valid.len(), self.rows, "one flag per row");
        let m: Vec<f32> = valid.iter().map(|&v| f32::from(u8::from(v))).collect();
        self.counted = valid.iter().filter(|&&v| v).count();
        self.mask = Some(Tensor::from_data(TensorData::new(m, [self.rows]), device));
        self
    }

    /// The mean over counted rows of per-row values `[n]`.
    pub(crate) fn mean(&self, per_row: Tensor<1>) -> Tensor<1> {
        match &self.mask {
            Some(m) => (per_row * m.clone())
                .sum()
                .div_scalar(self.counted.max(1) as f64),
            None => per_row.mean(),
        }
    }
}

/// `ln w` of each positive weight: what weighted cross-entropy adds to a button's logit.
pub fn button_log_weights(pos_weight: &[f32; NUM_BUTTONS]) -> [f32; NUM_BUTTONS] {
    pos_weight.map(|w| w.max(f32::MIN_POSITIVE).ln())
}
