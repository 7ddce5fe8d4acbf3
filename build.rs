//! Records the git commit the binary was built from, for `wadm --version` and the
//! `wadm_build_info` metric. `WADM_GIT_SHA` overrides it (Docker builds without `.git`).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=WADM_GIT_SHA");
    for path in [".git/HEAD", ".git/logs/HEAD"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let sha = std::env::var("WADM_GIT_SHA")
        .ok()
        .filter(|sha| !sha.trim().is_empty())
        .or_else(|| {
            Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()
                .filter(|output| output.status.success())
                .and_then(|output| String::from_utf8(output.stdout).ok())
        })
        .map(|sha| sha.trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=WADM_GIT_SHA={sha}");
}
