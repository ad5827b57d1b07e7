//! Where a policy runs: the device of a `--device` string (`cpu`; `cuda:N` in a build with the
//! `cuda` feature; `vulkan` (the first adapter), `vulkan:N` (the N-th discrete GPU) or
//! `vulkan:cpu` (a software adapter such as Mesa's lavapipe) in a build with `vulkan`).

use burn::tensor::Device;

/// A device string that names no device of this build.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DeviceError(pub String);

/// The devices this build can run on, as `--device` takes them.
pub fn devices_here() -> &'static str {
    match (cfg!(feature = "cuda"), cfg!(feature = "vulkan")) {
        (true, true) => "cpu, cuda:N, vulkan, vulkan:N, vulkan:cpu",
        (true, false) => "cpu, cuda:N",
        (false, true) => "cpu, vulkan, vulkan:N, vulkan:cpu",
        (false, false) => "cpu",
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
    if let Some(which) =
        name.strip_prefix("vulkan:")
            .or(if name == "vulkan" { Some("") } else { None })
    {
        #[cfg(feature = "vulkan")]
        {
            use burn::tensor::DeviceKind;
            let kind = match which {
                "" => DeviceKind::DefaultDevice,
                "cpu" => DeviceKind::Cpu,
                n => DeviceKind::DiscreteGpu(n.parse().map_err(|_| {
                    DeviceError(format!(
                        "device {name:?}: expected vulkan, vulkan:N or vulkan:cpu"
                    ))
                })?),
            };
            return Ok(Device::vulkan(kind));
        }
        #[cfg(not(feature = "vulkan"))]
        {
            let _ = which;
            return Err(DeviceError(format!(
                "device {name:?}: this exphil was built without Vulkan (its devices: {}); \
                 rebuild with `cargo build --release -p exphil --features vulkan` or use --device cpu",
                devices_here()
            )));
        }
    }
    Err(DeviceError(format!(
        "unknown device {name:?}: use cpu, cuda:N or vulkan[:N] (this build's devices: {})",
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
        assert!(
            e.contains("tpu:0") && e.contains("cpu, cuda:N or vulkan"),
            "{e}"
        );
        let e = device_of("cuda:x").unwrap_err().to_string();
        assert!(e.contains("expected cuda:N"), "{e}");
        if !cfg!(feature = "vulkan") {
            let e = device_of("vulkan:0").unwrap_err().to_string();
            assert!(
                e.contains("without Vulkan") && e.contains("--features vulkan"),
                "{e}"
            );
        }
    }
}
