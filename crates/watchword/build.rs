//! Names the commit a binary was built from (`watchword --version`): `git rev-parse` when the
//! source is a Git checkout, else `BUILD_COMMIT` (a container build passes it), else "unknown".

fn main() {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("BUILD_COMMIT").ok())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=WW_BUILD_COMMIT={commit}");
    println!("cargo:rerun-if-env-changed=BUILD_COMMIT");
    // A new commit (or branch switch) changes these files.
    for f in [
        "../../.git/HEAD",
        "../../.git/refs/heads",
        "../../.git/packed-refs",
    ] {
        if std::path::Path::new(f).exists() {
            println!("cargo:rerun-if-changed={f}");
        }
    }
}
