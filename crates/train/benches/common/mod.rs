//! What the benches share: running a PyTorch reference script and taking medians.

use std::path::Path;
use std::process::Command;

/// Runs `benches/<script>` with `args` under `EXPHIL_PYTHON` (else `python3`) and parses the
/// one JSON line it prints.
pub fn run_python(script: &str, args: &[String]) -> Result<serde_json::Value, String> {
    let python = std::env::var("EXPHIL_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches")
        .join(script);
    let out = Command::new(&python)
        .arg(&script)
        .args(args)
        .output()
        .map_err(|e| format!("{python}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim())
        .map_err(|e| format!("unreadable PyTorch result {text:?}: {e}"))
}

/// The median (NaN when empty); sorts the values.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}
