//! The server's modules form layers: `lib.rs` declares them bottom-up, and each may import
//! (`crate::NAME`) only modules declared before it. An import of a later module is an arrow
//! pointing up, the first step towards an import circle; this test names it.

use std::path::{Path, PathBuf};

/// The top-level modules in declaration order.
fn declared(src: &Path) -> Vec<String> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    lib.lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .filter_map(|l| l.strip_suffix(';'))
        .map(str::to_owned)
        .collect()
}

/// Every source file of module `name`: `name.rs` and everything under `name/`.
fn files(src: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let file = src.join(format!("{name}.rs"));
    if file.exists() {
        out.push(file);
    }
    let mut dirs = vec![src.join(name)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

/// The modules `text` names as `crate::NAME`, outside comments and test code.
fn imports(text: &str, modules: &[String]) -> Vec<String> {
    // Test code may reach anywhere: stop at the first `#[cfg(test)]`.
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut found = Vec::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or("");
        for (i, _) in line.match_indices("crate::") {
            let rest = &line[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `realtime_core::` and the like end in `crate::` only by accident of spelling.
            let before = line[..i].chars().last();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            if modules.contains(&name) && !found.contains(&name) {
                found.push(name);
            }
        }
    }
    found
}

#[test]
fn modules_import_only_modules_declared_before_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = declared(&src);
    assert!(modules.len() > 10, "lib.rs lists the modules: {modules:?}");
    let mut upward = Vec::new();
    for (at, name) in modules.iter().enumerate() {
        let sources = files(&src, name);
        assert!(!sources.is_empty(), "no source for module {name}");
        for file in sources {
            if file.file_name().is_some_and(|f| f == "tests.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&file).expect("source");
            for import in imports(&text, &modules) {
                let target = modules.iter().position(|m| *m == import).unwrap_or(0);
                if target > at {
                    upward.push(format!("{} imports {import}", file.display()));
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports of modules declared later in lib.rs:\n{}",
        upward.join("\n")
    );
}

#[test]
fn an_import_of_a_later_module_is_found() {
    let modules = vec!["queue".to_owned(), "session".to_owned()];
    let text = "use crate::session::Session; // crate::queue\nuse realtime_core::x;\n\
                #[cfg(test)]\nuse crate::queue;";
    assert_eq!(imports(text, &modules), ["session"]);
}
