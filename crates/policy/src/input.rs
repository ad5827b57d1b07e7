//! What the network reads: the embedding layout's continuous features and its integer ids,
//! grouped by kind so that e.g. both players' action states share one learned table.

use burn::tensor::{Device, Int, Tensor, TensorData};
use exphil_embed::{ComponentKind, Layout, NumClasses, NUM_BUTTONS};
use serde::{Deserialize, Serialize};

/// Integer-id columns of one kind, looked up in one learned table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdGroup {
    /// Kind: `action`, `character`, `stage`, `item_type`, `delay`, `player_name`, ...
    pub kind: String,
    /// Table rows (ids are below it; larger ones are clamped to the last row).
    pub vocab: usize,
    /// Columns of the layout's `ids` row.
    pub columns: Vec<usize>,
}

/// The shapes the policy is built for: input widths and head sizes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputSpec {
    /// Continuous features per frame.
    pub features: usize,
    /// Integer ids per frame.
    pub ids: usize,
    /// Id columns grouped by kind, in first-appearance order.
    pub id_groups: Vec<IdGroup>,
    /// Classes of main x, main y, C x, C y and shoulder.
    pub classes: [usize; 5],
}

/// The id kind of a layout component name (`self.action` -> `action`, `item3.type` ->
/// `item_type`, `stage` -> `stage`).
pub fn id_kind(name: &str) -> String {
    match name.rsplit_once('.') {
        Some((_, "type")) => "item_type".to_string(),
        Some((_, last)) => last.to_string(),
        None => name.to_string(),
    }
}

impl InputSpec {
    /// The spec of an embedding layout and target classes.
    pub fn new(layout: &Layout, classes: NumClasses) -> InputSpec {
        let mut id_groups: Vec<IdGroup> = Vec::new();
        for c in &layout.components {
            if let ComponentKind::Id { vocab } = c.kind {
                let kind = id_kind(&c.name);
                let columns = c.offset..c.offset + c.size;
                match id_groups.iter_mut().find(|g| g.kind == kind) {
                    Some(g) => {
                        g.vocab = g.vocab.max(vocab as usize);
                        g.columns.extend(columns);
                    }
                    None => id_groups.push(IdGroup {
                        kind,
                        vocab: vocab as usize,
                        columns: columns.collect(),
                    }),
                }
            }
        }
        InputSpec {
            features: layout.features,
            ids: layout.ids,
            id_groups,
            classes: [
                classes.main_x,
                classes.main_y,
                classes.c_x,
                classes.c_y,
                classes.shoulder,
            ],
        }
    }

    /// Logits of the controller head: 8 buttons plus every class.
    pub fn logits(&self) -> usize {
        NUM_BUTTONS + self.classes.iter().sum::<usize>()
    }
}

/// One batch of network input on a device.
#[derive(Clone, Debug)]
pub struct PolicyInput {
    /// `[n, features]`.
    pub features: Tensor<2>,
    /// One `[n, columns]` tensor per id group.
    pub ids: Vec<Tensor<2, Int>>,
    /// Rows (frames).
    pub rows: usize,
    /// Consecutive rows per example (1 for single frames; the window of temporal backbones).
    pub window: usize,
}

impl PolicyInput {
    /// The input of `rows` rows of row-major `features` (`rows * spec.features`) and `ids`
    /// (`rows * spec.ids`). Ids beyond a table are clamped to its last row.
    pub fn new(
        spec: &InputSpec,
        features: &[f32],
        ids: &[u32],
        rows: usize,
        device: &Device,
    ) -> PolicyInput {
        assert_eq!(features.len(), rows * spec.features, "feature buffer size");
        assert_eq!(ids.len(), rows * spec.ids, "id buffer size");
        let features = Tensor::from_data(
            TensorData::new(features.to_vec(), [rows, spec.features]),
            device,
        );
        let ids = spec
            .id_groups
            .iter()
            .map(|g| {
                let max = g.vocab.saturating_sub(1) as i64;
                let mut v = Vec::with_capacity(rows * g.columns.len());
                for r in 0..rows {
                    let row = &ids[r * spec.ids..(r + 1) * spec.ids];
                    v.extend(g.columns.iter().map(|&c| (row[c] as i64).min(max)));
                }
                Tensor::from_data(TensorData::new(v, [rows, g.columns.len()]), device)
            })
            .collect();
        PolicyInput {
            features,
            ids,
            rows,
            window: 1,
        }
    }

    /// The rows `idx` of this single-frame input (`window` 1), in that order.
    pub fn select(&self, idx: &[usize], device: &Device) -> PolicyInput {
        let idx = row_index(idx, device);
        PolicyInput {
            features: self.features.clone().select(0, idx.clone()),
            ids: self
                .ids
                .iter()
                .map(|t| t.clone().select(0, idx.clone()))
                .collect(),
            rows: idx.dims()[0],
            window: 1,
        }
    }

    /// This input read as examples of `window` consecutive rows each (oldest first).
    pub fn windows(mut self, window: usize) -> PolicyInput {
        assert!(
            window >= 1 && self.rows.is_multiple_of(window),
            "{} rows do not make windows of {window}",
            self.rows
        );
        self.window = window;
        self
    }

    /// Examples in the input (`rows / window`).
    pub fn examples(&self) -> usize {
        self.rows / self.window.max(1)
    }
}

/// Row numbers as an index tensor for `select`.
pub fn row_index(idx: &[usize], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
    Tensor::from_data(TensorData::new(v, [idx.len()]), device)
}
