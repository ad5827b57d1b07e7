//! Where a policy runs: the device of a `--device` string (`cpu`, or `cuda:N` in a build with
//! the `cuda` feature).

use burn::tensor::Device;

/// A device string that names no device of this build.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DeviceError(pub String);

/// The devices this build can run on, as `--device` takes them.
pub fn devices_here() -> &'static str {
    if cfg!(feature = "cuda") {
        "cpu, cuda:N"
    } else {
        "cpu"
    }
}

/// The device of a `--device` string: `cpu`, or `cuda:N` in a build with the `cuda` feature.
/// An unusable one is an error naming it and the devices this build has; it is cheap, so
/// commands check their device before any data work.
pub fn device_of(name: &str) -> Result<Device, DeviceError> {
    let name = name.trim();
    if name.is_empty() || name == "cpu" {
        return Ok(Device::flex());
    }
    if let Some(idx) = name
        .strip_prefix("cuda:")
        .or(if name == "cuda" { Some("0") } else { None })
    {
        let i: usize = idx
            .parse()
            .map_err(|_| DeviceError(format!("device {name:?}: expected cuda:N")))?;
        #[cfg(feature = "cuda")]
        {
            return Ok(Device::cuda(i));
        }
        #[cfg(not(feature = "cuda"))]
        {
            let _ = i;
            return Err(DeviceError(format!(
                "device {name:?}: this exphil was built without CUDA (its devices: {}); rebuild \
                 with `cargo build --release --features cuda` or use --device cpu",
                devices_here()
            )));
        }
    }
    Err(DeviceError(format!(
        "unknown device {name:?}: use cpu or cuda:N (this build's devices: {})",
        devices_here()
    )))
}

#[cfg(test)]
mod tests {
    use super::device_of;

    #[test]
    fn cpu_is_always_there_and_unknown_names_are_refused() {
        assert!(device_of("cpu").is_ok());
        assert!(device_of("").is_ok());
        let e = device_of("tpu:0").unwrap_err().to_string();
        assert!(e.contains("tpu:0") && e.contains("cpu or cuda:N"), "{e}");
        let e = device_of("cuda:x").unwrap_err().to_string();
        assert!(e.contains("expected cuda:N"), "{e}");
    }
}
