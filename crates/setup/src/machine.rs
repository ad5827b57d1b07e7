//! What this machine has to train with: cores, memory, GPUs.

use std::path::Path;

/// The hardware a training run can use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Machine {
    /// Logical CPU cores (`std::thread::available_parallelism`; 1 when unknown).
    pub cores: usize,
    /// Total memory in bytes (`MemTotal` of `/proc/meminfo`; 0 when unknown, as off Linux).
    pub memory_bytes: u64,
    /// One description per GPU found (empty when none was found).
    pub gpus: Vec<String>,
}

impl Machine {
    /// One line: `16 cores, 125.8 GiB memory, GPU: NVIDIA H100 80GB HBM3`.
    pub fn summary(&self) -> String {
        let memory = if self.memory_bytes == 0 {
            "memory unknown".to_string()
        } else {
            format!("{:.1} GiB memory", gib(self.memory_bytes))
        };
        let gpus = if self.gpus.is_empty() {
            "no GPU found".to_string()
        } else {
            format!("GPU: {}", self.gpus.join(", "))
        };
        format!("{} cores, {memory}, {gpus}", self.cores)
    }
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

/// This machine, read from `/` ([`detect_at`]) with the cores of
/// `std::thread::available_parallelism`.
pub fn detect() -> Machine {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    detect_at(Path::new("/"), cores)
}

/// The machine whose file system root is `root` (a test passes a folder laid out like `/`):
/// memory from the `MemTotal` line of `proc/meminfo`; GPUs from the NVIDIA driver's
/// `proc/driver/nvidia/gpus/*/information` (their `Model:` line), else from the PCI vendor of
/// each `sys/class/drm/cardN/device/vendor` (NVIDIA `0x10de`, AMD `0x1002`, Intel `0x8086`;
/// other vendors are skipped). Anything missing or unreadable counts as absent.
pub fn detect_at(root: &Path, cores: usize) -> Machine {
    let memory_bytes = std::fs::read_to_string(root.join("proc/meminfo"))
        .ok()
        .and_then(|t| mem_total(&t))
        .unwrap_or(0);
    let mut gpus = nvidia_gpus(&root.join("proc/driver/nvidia/gpus"));
    if gpus.is_empty() {
        gpus = drm_gpus(&root.join("sys/class/drm"));
    }
    Machine {
        cores: cores.max(1),
        memory_bytes,
        gpus,
    }
}

/// `MemTotal:  131891204 kB` in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Sorted entries of a folder (empty when it cannot be read).
fn sorted_entries(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.sort();
    paths
}

fn nvidia_gpus(dir: &Path) -> Vec<String> {
    sorted_entries(dir)
        .iter()
        .filter_map(|gpu| {
            let info = std::fs::read_to_string(gpu.join("information")).ok()?;
            let model = info
                .lines()
                .find_map(|l| l.strip_prefix("Model:"))
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .unwrap_or("NVIDIA GPU");
            Some(model.to_string())
        })
        .collect()
}

fn drm_gpus(dir: &Path) -> Vec<String> {
    sorted_entries(dir)
        .iter()
        .filter_map(|card| {
            let name = card.file_name()?.to_str()?;
            let n = name.strip_prefix("card")?;
            if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit()) {
                return None; // card0-HDMI-A-1 and the like are connectors
            }
            let vendor = std::fs::read_to_string(card.join("device/vendor")).ok()?;
            let vendor = match vendor.trim() {
                "0x10de" => "NVIDIA",
                "0x1002" => "AMD",
                "0x8086" => "Intel",
                _ => return None,
            };
            Some(format!("{vendor} GPU ({name})"))
        })
        .collect()
}

/// The batch size to suggest for a preset whose own batch size is `preset_batch`: on a GPU
/// (`on_gpu`) the preset's (the GPU presets are sized for GPUs); on the CPU at most 32 under
/// 4 GiB of memory, 64 under 8 GiB or with 2 cores or fewer, 128 under 16 GiB, else the
/// preset's. Unknown memory (0) is not a limit.
pub fn recommended_batch_size(machine: &Machine, preset_batch: usize, on_gpu: bool) -> usize {
    if on_gpu {
        return preset_batch;
    }
    let gib = gib(machine.memory_bytes);
    let known = machine.memory_bytes > 0;
    let cap = if known && gib < 4.0 {
        32
    } else if (known && gib < 8.0) || machine.cores <= 2 {
        64
    } else if known && gib < 16.0 {
        128
    } else {
        usize::MAX
    };
    preset_batch.min(cap).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn reads_memory_and_nvidia_gpus_from_a_fake_root() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("proc/driver/nvidia/gpus/0000:01:00.0")).unwrap();
        fs::write(
            r.join("proc/meminfo"),
            "MemTotal:       16384000 kB\nMemFree: 1 kB\n",
        )
        .unwrap();
        fs::write(
            r.join("proc/driver/nvidia/gpus/0000:01:00.0/information"),
            "Model: \t\t NVIDIA H100 80GB HBM3\nIRQ:   42\n",
        )
        .unwrap();
        let m = detect_at(r, 16);
        assert_eq!(m.memory_bytes, 16384000 * 1024);
        assert_eq!(m.gpus, vec!["NVIDIA H100 80GB HBM3".to_string()]);
        assert_eq!(m.cores, 16);
        assert!(m.summary().contains("NVIDIA H100"), "{}", m.summary());
    }

    #[test]
    fn falls_back_to_drm_vendors_and_skips_connectors() {
        let root = tempfile::tempdir().unwrap();
        let drm = root.path().join("sys/class/drm");
        for (card, vendor) in [
            ("card0", "0x8086\n"),
            ("card1", "0x1002\n"),
            ("card2", "0x1af4\n"),
        ] {
            fs::create_dir_all(drm.join(card).join("device")).unwrap();
            fs::write(drm.join(card).join("device/vendor"), vendor).unwrap();
        }
        fs::create_dir_all(drm.join("card0-HDMI-A-1/device")).unwrap();
        fs::write(drm.join("card0-HDMI-A-1/device/vendor"), "0x8086").unwrap();
        let m = detect_at(root.path(), 0);
        assert_eq!(m.gpus, vec!["Intel GPU (card0)", "AMD GPU (card1)"]);
        assert_eq!((m.cores, m.memory_bytes), (1, 0));
        assert!(m.summary().contains("memory unknown"));
    }

    #[test]
    fn nothing_found_is_no_gpu() {
        let root = tempfile::tempdir().unwrap();
        assert!(detect_at(root.path(), 4).gpus.is_empty());
        let here = detect();
        assert!(here.cores >= 1);
    }

    #[test]
    fn batch_size_shrinks_with_memory_on_the_cpu_only() {
        let m = |gib: u64, cores| Machine {
            cores,
            memory_bytes: gib << 30,
            gpus: vec![],
        };
        assert_eq!(recommended_batch_size(&m(2, 8), 512, true), 512);
        assert_eq!(recommended_batch_size(&m(2, 8), 512, false), 32);
        assert_eq!(recommended_batch_size(&m(6, 8), 512, false), 64);
        assert_eq!(recommended_batch_size(&m(64, 2), 128, false), 64);
        assert_eq!(recommended_batch_size(&m(12, 8), 512, false), 128);
        assert_eq!(recommended_batch_size(&m(64, 16), 512, false), 512);
        assert_eq!(recommended_batch_size(&m(0, 16), 64, false), 64);
    }
}
