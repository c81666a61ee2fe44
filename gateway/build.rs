//! The git commit the binary was built from, for `--version` and the first
//! log line: "which build is this node running?" is the first question
//! when nodes disagree. Without git (a source tarball, a Docker build
//! without .git), `ENVOI_GIT_COMMIT` from the environment, else "unknown".

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = std::env::var("ENVOI_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ENVOI_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-env-changed=ENVOI_GIT_COMMIT");
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        for file in ["HEAD", "refs/heads", "packed-refs"] {
            println!("cargo:rerun-if-changed={dir}/{file}");
        }
    }
}
