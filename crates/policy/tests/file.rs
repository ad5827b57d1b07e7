//! The weights file: what the writer's metadata records, the loader reads back (the network, its
//! input, embedding, targets and data config), and a file from a newer format is refused.

use burn::tensor::Device;
use exphil_embed::{EmbedConfig, Embedder, TargetCoder, TargetConfig, NUM_BUTTONS};
use exphil_policy::file::{load_policy, metadata, WeightsInfo, FORMAT_VERSION, META_FORMAT};
use exphil_policy::{params, InputSpec, Policy};
use exphil_runs::config::{BackboneConfig, DataConfig, MlpConfig, PolicyConfig};
use exphil_runs::tensors::encode_tensors;
use std::path::Path;

/// Writes a tiny MLP's weights file at `path` with the writer's metadata, `edit` applied to it.
fn write(
    path: &Path,
    edit: impl FnOnce(&mut std::collections::BTreeMap<String, String>),
) -> PolicyConfig {
    let embed = EmbedConfig::default();
    let targets = TargetConfig::default();
    let spec = InputSpec::new(
        Embedder::new(embed.clone()).unwrap().layout(),
        TargetCoder::new(targets.clone()).unwrap().num_classes(),
    );
    let config = PolicyConfig {
        backbone: BackboneConfig::Mlp(MlpConfig {
            hidden: vec![16],
            ..MlpConfig::default()
        }),
        ..PolicyConfig::default()
    };
    let data = DataConfig {
        frame_delay: 4,
        ..DataConfig::default()
    };
    let policy = Policy::new(&config, &spec, &Device::flex());
    let mut meta = metadata(&WeightsInfo {
        policy: &config,
        spec: &spec,
        embed: &embed,
        targets: &targets,
        button_pos_weight: &[2.0; NUM_BUTTONS],
        data: &data,
        pairing_version: exphil_dataset::PAIRING_VERSION,
    });
    edit(&mut meta);
    let bytes = encode_tensors(path, &params::export(&policy), &meta).unwrap();
    std::fs::write(path, bytes).unwrap();
    config
}

#[test]
fn what_the_writer_records_the_loader_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.safetensors");
    let config = write(&path, |m| {
        assert_eq!(m[META_FORMAT], FORMAT_VERSION.to_string());
    });
    let loaded = load_policy(&path, &Device::flex()).unwrap();
    assert_eq!(loaded.config, config);
    assert_eq!(loaded.frame_delay(), 4);
    assert_eq!(loaded.name(), "tiny");
    assert!(loaded.run_dir.is_none() && loaded.run_config.is_none());
    assert!(loaded.check_pairing().is_ok());
    assert!(loaded.params > 0);
}

#[test]
fn a_newer_format_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.safetensors");
    write(&path, |m| {
        m.insert(META_FORMAT.into(), (FORMAT_VERSION + 1).to_string());
    });
    let e = load_policy(&path, &Device::flex())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("future.safetensors"), "{e}");
    assert!(e.contains("newer exphil"), "{e}");
}
