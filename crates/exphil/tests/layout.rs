//! The workspace's crate arrows, read from `cargo metadata`: every crate depends only on crates
//! below it in the data flow (dev-dependencies aside), the crates along the data flow build
//! without the ML framework, and only the binary uses `anyhow`.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Each workspace crate's level: a crate may depend on crates of lower levels only.
const LEVELS: &[(&str, u32)] = &[
    ("exphil-io", 0),
    ("exphil-replay", 0),
    ("exphil-testdata", 0),
    ("exphil-onnx", 0),
    ("exphil-corpus", 1),
    ("exphil-state", 1),
    ("exphil-report", 1),
    ("exphil-embed", 2),
    ("exphil-umi", 2),
    ("exphil-dolphin", 2),
    ("exphil-sim", 2),
    ("exphil-dataset", 3),
    ("exphil-runs", 3),
    ("exphil-dashboard", 4),
    ("exphil-setup", 4),
    ("exphil-policy", 4),
    ("exphil-train", 5),
    ("exphil-python", 5),
    ("exphil-rl", 6),
    ("exphil-serve", 7),
    ("exphil", 8),
];

/// Crates that must not depend on burn, directly or through another workspace crate.
const FRAMEWORK_FREE: &[&str] = &[
    "exphil-io",
    "exphil-onnx",
    "exphil-replay",
    "exphil-corpus",
    "exphil-state",
    "exphil-embed",
    "exphil-umi",
    "exphil-dolphin",
    "exphil-sim",
    "exphil-dataset",
    "exphil-runs",
    "exphil-report",
    "exphil-dashboard",
    "exphil-setup",
];

#[test]
fn crates_depend_only_downwards_and_the_data_flow_is_framework_free() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let level: BTreeMap<&str, u32> = LEVELS.iter().copied().collect();
    // Each workspace crate's normal (and build) dependencies.
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in meta["packages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap().to_string();
        let normal = p["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].as_str() != Some("dev"))
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect();
        deps.insert(name, normal);
    }
    let mut wrong = Vec::new();
    for (name, ds) in &deps {
        let Some(&mine) = level.get(name.as_str()) else {
            wrong.push(format!(
                "{name} has no level in LEVELS: place it in the layout"
            ));
            continue;
        };
        for d in ds.iter().filter(|d| deps.contains_key(*d)) {
            let theirs = level.get(d.as_str()).copied().unwrap_or(u32::MAX);
            if theirs >= mine {
                wrong.push(format!(
                    "{name} (level {mine}) depends on {d} (level {theirs}), not below it"
                ));
            }
        }
    }
    // Typed errors in libraries: `anyhow` only in the binary.
    for (name, ds) in &deps {
        if name != "exphil" && ds.contains("anyhow") {
            wrong.push(format!(
                "{name} depends on anyhow: library crates return typed errors"
            ));
        }
    }
    // burn through any chain of workspace crates.
    let uses_burn = |start: &str| {
        let mut todo = vec![start.to_string()];
        let mut seen = BTreeSet::new();
        while let Some(c) = todo.pop() {
            if !seen.insert(c.clone()) {
                continue;
            }
            for d in deps.get(&c).into_iter().flatten() {
                if d == "burn" || d.starts_with("burn-") {
                    return Some(c);
                }
                if deps.contains_key(d) {
                    todo.push(d.clone());
                }
            }
        }
        None
    };
    for c in FRAMEWORK_FREE {
        assert!(deps.contains_key(*c), "{c} is not in the workspace");
        if let Some(via) = uses_burn(c) {
            wrong.push(format!("{c} depends on burn (through {via})"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The modules a source file's own code names as `crate::NAME` (tests and comments, doc links
/// included, aside).
fn crate_paths(text: &str) -> Vec<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut names = Vec::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for part in line.split("crate::").skip(1) {
            names.push(
                part.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect(),
            );
        }
    }
    names
}

/// The first cycle of `edges` (module → modules it names), if any.
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == n) {
            let mut c = path[at..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for d in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|n| visit(n, edges, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_of_a_crate_names_one_that_names_it_back() {
    // The detector itself: a three-module loop is found, a chain is not.
    let graph = |pairs: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in pairs {
            g.entry(a.to_string()).or_default().insert(b.to_string());
        }
        g
    };
    assert!(cycle(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])).is_some());
    assert!(cycle(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])).is_none());

    let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&crates).unwrap() {
        let src = entry.unwrap().path().join("src");
        let Ok(files) = std::fs::read_dir(&src) else {
            continue;
        };
        let modules: BTreeMap<String, std::path::PathBuf> = files
            .map(|f| f.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
            .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), p))
            .filter(|(m, _)| m != "lib" && m != "main")
            .collect();
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (m, path) in &modules {
            let text = std::fs::read_to_string(path).unwrap();
            let names = edges.entry(m.clone()).or_default();
            for name in crate_paths(&text) {
                if name != *m && modules.contains_key(&name) {
                    names.insert(name);
                }
            }
        }
        if let Some(c) = cycle(&edges) {
            found.push(format!("{}: {}", src.display(), c.join(" -> ")));
        }
    }
    assert!(found.is_empty(), "module cycles:\n{}", found.join("\n"));
}

/// The binary stays a shell (arguments, one library call, printing): at most 5,500 lines.
#[test]
fn the_binary_stays_within_its_line_budget() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lines: usize = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
        .sum();
    assert!(
        lines <= 5_500,
        "crates/exphil/src has {lines} lines: move what is not arguments, a call and printing \
         into its library crate"
    );
}

/// The binary's modules that are not commands: what the commands share.
const SHARED: &[&str] = &["main", "cli", "filters", "charts"];

/// Each source file of the binary, by module name.
fn binary_sources() -> BTreeMap<String, String> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// The functions of `code` longer than `max` lines (counted from the `fn` line to its closing
/// brace), as `name (lines)`. Braces in strings, character literals and line comments are
/// skipped.
fn long_functions(code: &str, max: usize) -> Vec<String> {
    let lines: Vec<&str> = code.lines().collect();
    let braces = |line: &str| -> i64 {
        let (mut depth, mut in_str, mut prev) = (0i64, false, ' ');
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' if prev != '\\' => in_str = !in_str,
                '/' if !in_str && chars.peek() == Some(&'/') => break,
                '\'' if !in_str => {
                    // A character literal ('{', '\'', 'x'); a lifetime has no closing quote.
                    let rest: String = chars.clone().take(3).collect();
                    if rest.starts_with('\\') {
                        chars.nth(2);
                    } else if rest.chars().nth(1) == Some('\'') {
                        chars.nth(1);
                    }
                }
                '{' if !in_str => depth += 1,
                '}' if !in_str => depth -= 1,
                _ => {}
            }
            prev = if prev == '\\' && c == '\\' { ' ' } else { c };
        }
        depth
    };
    let mut long = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let t = t
            .strip_prefix("pub(crate) ")
            .or(t.strip_prefix("pub "))
            .unwrap_or(t);
        let Some(rest) = t.strip_prefix("fn ") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let (mut depth, mut opened) = (0i64, false);
        for (j, l) in lines.iter().enumerate().skip(i) {
            let d = braces(l);
            opened |= d > 0 || l.contains('{');
            depth += d;
            if !opened && l.trim_end().ends_with(';') {
                break;
            }
            if opened && depth <= 0 {
                if j - i + 1 > max {
                    long.push(format!("{name} ({} lines)", j - i + 1));
                }
                break;
            }
        }
    }
    long
}

/// The binary is arguments, one library call and printing: no function over 150 lines, at most
/// 3 JSON values built by hand (`json!`; output types derive `Serialize`), and no command
/// module uses another (what they share lives in `cli`, `filters` and `charts`).
#[test]
fn the_binary_is_a_thin_shell() {
    // The function counter itself.
    let sample = "fn a() {\n    let s = \"{\";\n    let c = '}';\n}\nfn b() {\n    x();\n    y();\n    z();\n}\n";
    assert_eq!(long_functions(sample, 4), ["b (5 lines)"]);
    assert!(long_functions(sample, 5).is_empty());

    let sources = binary_sources();
    let mut wrong = Vec::new();
    let mut json = 0;
    for (module, text) in &sources {
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for f in long_functions(code, 150) {
            wrong.push(format!("{module}.rs: fn {f}: over 150 lines"));
        }
        json += code.matches("json!").count();
        if SHARED.contains(&module.as_str()) {
            continue;
        }
        for name in crate_paths(text) {
            if sources.contains_key(&name) && !SHARED.contains(&name.as_str()) {
                wrong.push(format!("{module}.rs uses the command module {name}"));
            }
        }
    }
    if json > 3 {
        wrong.push(format!(
            "{json} json! values built by hand (at most 3): derive Serialize on an output type"
        ));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
