//! Where a policy runs: the device of a `--device` string (`cpu`; `cuda:N` in a build with the
//! `cuda` feature; `vulkan` (the first adapter), `vulkan:N` (the N-th discrete GPU) or
//! `vulkan:cpu` (a software adapter such as Mesa's lavapipe) in a build with `vulkan`: burn's
//! wgpu backend pinned to Vulkan, kernels compiled from WGSL).

use burn::tensor::Device;

/// A device string that names no device of this build.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DeviceError(pub String);

/// The devices this build can run on, as `--device` takes them.
pub fn devices_here() -> &'static str {
    match (cfg!(feature = "cuda"), cfg!(feature = "vulkan")) {
        (true, true) => "cpu, gpu, cuda:N, vulkan, vulkan:N, vulkan:cpu",
        (true, false) => "cpu, gpu, cuda:N",
        (false, true) => "cpu, gpu, vulkan, vulkan:N, vulkan:cpu",
        (false, false) => "cpu",
    }
}

/// The device of a `--device` string: `cpu`; `gpu` (the build's first GPU); `cuda:N` in a
/// build with `cuda`; `vulkan`, `vulkan:N`, `vulkan:cpu` in a build with `vulkan`.
/// An unusable one is an error naming it and the devices this build has; it is cheap, so
/// commands check their device before any data work.
pub fn device_of(name: &str) -> Result<Device, DeviceError> {
    let name = name.trim();
    if name.is_empty() || name == "cpu" {
        return Ok(Device::flex());
    }
    // The GPU presets' device: the first GPU of whichever GPU backend this build has.
    if name == "gpu" {
        #[cfg(feature = "cuda")]
        {
            return Ok(Device::cuda(0));
        }
        #[cfg(all(feature = "vulkan", not(feature = "cuda")))]
        {
            return vulkan("vulkan:0", burn::tensor::DeviceKind::DiscreteGpu(0));
        }
        #[cfg(not(any(feature = "cuda", feature = "vulkan")))]
        {
            return Err(DeviceError(format!(
                "device \"gpu\" (the GPU presets' device, the first GPU of the build): this \
                 exphil was built without a GPU backend (its devices: {}); rebuild with \
                 `cargo build --release -p exphil --features vulkan` (or `cuda`) or use --device cpu",
                devices_here()
            )));
        }
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
            return vulkan(name, kind);
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
        "unknown device {name:?}: use cpu, gpu, cuda:N or vulkan[:N] (this build's devices: {})",
        devices_here()
    )))
}

/// The Vulkan device of `kind`, opened once per process (burn's runtime is set up on first
/// use and cannot be set up twice) and kept: wgpu pinned to Vulkan, with kernels compiled from
/// WGSL (burn's `wgpu` backend; its direct SPIR-V compiler crashes Mesa's lavapipe). An
/// adapter that is not there is an error naming it and what the loader found.
#[cfg(feature = "vulkan")]
fn vulkan(name: &str, kind: burn::tensor::DeviceKind) -> Result<Device, DeviceError> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static OPENED: OnceLock<Mutex<HashMap<String, Device>>> = OnceLock::new();
    let mut opened = OPENED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(d) = opened.get(name) {
        return Ok(d.clone());
    }
    let device = Device::wgpu_options()
        .device_kind(kind)
        .graphics_api(burn::tensor::wgpu::WgpuBackend::Vulkan)
        .init()
        .map_err(|e| {
            DeviceError(format!(
                "device {name:?}: no usable Vulkan adapter ({e}); vulkan takes the first \
                 adapter, vulkan:N the N-th discrete GPU, vulkan:cpu a software one (Mesa's \
                 lavapipe, Debian package mesa-vulkan-drivers); `vulkaninfo --summary` lists \
                 what this machine has, or use --device cpu"
            ))
        })?;
    opened.insert(name.to_string(), device.clone());
    Ok(device)
}

/// The memory a device has for this process, in bytes, and where the figure comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceMemory {
    /// Bytes.
    pub bytes: u64,
    /// `VK_EXT_memory_budget` (what the driver says this process may use now) or `heap size`
    /// (the device-local heap; other processes' use not subtracted).
    pub source: &'static str,
    /// The adapter's name.
    pub adapter: String,
}

/// The memory of the device a `--device` string names, where the build and the driver report
/// it: Vulkan devices (the largest device-local heap, or its budget with `VK_EXT_memory_budget`),
/// found the way burn picks them (`vulkan:N` the N-th discrete GPU, `vulkan:cpu` a software
/// one, `vulkan`/`gpu` the first discrete, else integrated, virtual or software adapter).
/// `None` for the CPU, CUDA, or where Vulkan cannot be loaded.
pub fn memory_capacity(name: &str) -> Option<DeviceMemory> {
    let name = name.trim();
    #[cfg(feature = "vulkan")]
    {
        let which = if name == "gpu" && !cfg!(feature = "cuda") {
            Some("0")
        } else {
            name.strip_prefix("vulkan:")
                .or(if name == "vulkan" { Some("") } else { None })
        };
        which.and_then(vulkan_memory)
    }
    #[cfg(not(feature = "vulkan"))]
    {
        let _ = name;
        None
    }
}

#[cfg(feature = "vulkan")]
fn vulkan_memory(which: &str) -> Option<DeviceMemory> {
    use ash::vk;
    // SAFETY: the loader is loaded and the instance created and destroyed here, used in between
    // only through ash's checked wrappers with the counts the driver returned.
    unsafe {
        let entry = ash::Entry::load().ok()?;
        let app = vk::ApplicationInfo::default().api_version(vk::API_VERSION_1_1);
        let info = vk::InstanceCreateInfo::default().application_info(&app);
        let instance = entry.create_instance(&info, None).ok()?;
        let found = (|| {
            let devices = instance.enumerate_physical_devices().ok()?;
            let instance = &instance;
            let typed = |t: vk::PhysicalDeviceType| -> Vec<vk::PhysicalDevice> {
                devices
                    .iter()
                    .copied()
                    .filter(|&d| instance.get_physical_device_properties(d).device_type == t)
                    .collect()
            };
            let device = match which {
                "cpu" => typed(vk::PhysicalDeviceType::CPU).first().copied(),
                "" => [
                    vk::PhysicalDeviceType::DISCRETE_GPU,
                    vk::PhysicalDeviceType::INTEGRATED_GPU,
                    vk::PhysicalDeviceType::VIRTUAL_GPU,
                    vk::PhysicalDeviceType::CPU,
                ]
                .into_iter()
                .find_map(|t| typed(t).first().copied()),
                n => typed(vk::PhysicalDeviceType::DISCRETE_GPU)
                    .get(n.parse::<usize>().ok()?)
                    .copied(),
            }?;
            let props = instance.get_physical_device_properties(device);
            let adapter = props
                .device_name_as_c_str()
                .map(|c| c.to_string_lossy().into_owned())
                .unwrap_or_default();
            let budget_ext = instance
                .enumerate_device_extension_properties(device)
                .unwrap_or_default()
                .iter()
                .any(|e| e.extension_name_as_c_str() == Ok(vk::EXT_MEMORY_BUDGET_NAME));
            let mut budget = vk::PhysicalDeviceMemoryBudgetPropertiesEXT::default();
            let mut props2 = vk::PhysicalDeviceMemoryProperties2::default();
            if budget_ext && props.api_version >= vk::API_VERSION_1_1 {
                props2 = props2.push_next(&mut budget);
            }
            instance.get_physical_device_memory_properties2(device, &mut props2);
            let mem = props2.memory_properties;
            let heaps =
                &mem.memory_heaps[..(mem.memory_heap_count as usize).min(vk::MAX_MEMORY_HEAPS)];
            let (i, heap) = heaps
                .iter()
                .enumerate()
                .filter(|(_, h)| h.flags.contains(vk::MemoryHeapFlags::DEVICE_LOCAL))
                .max_by_key(|(_, h)| h.size)?;
            let with_budget = budget_ext && props.api_version >= vk::API_VERSION_1_1;
            Some(if with_budget && budget.heap_budget[i] > 0 {
                DeviceMemory {
                    bytes: budget.heap_budget[i],
                    source: "VK_EXT_memory_budget",
                    adapter,
                }
            } else {
                DeviceMemory {
                    bytes: heap.size,
                    source: "heap size",
                    adapter,
                }
            })
        })();
        instance.destroy_instance(None);
        found
    }
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
            e.contains("tpu:0") && e.contains("cpu, gpu, cuda:N or vulkan"),
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
