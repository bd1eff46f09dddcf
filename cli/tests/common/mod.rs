//! What the tests of the `kessler` binary share: running it, and reading what `kessler detect --json` says.

use std::path::Path;
use std::process::Command;

/// Run `kessler args...`, which must succeed; its standard output.
pub fn kessler(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kessler"))
        .args(args)
        .output()
        .expect("the kessler binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kessler {args:?} failed: {stderr}");
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The lines of `kessler detect --json --cpu` on a file or folder, each without its file name (the frame id stays:
/// it is the same for `x.fits`, `x.fits.fz` and `x.png`).
pub fn detections(path: &Path) -> Vec<serde_json::Value> {
    kessler(&["detect", "--json", "--cpu", path.to_str().unwrap()])
        .lines()
        .map(|line| {
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            v.as_object_mut().unwrap().remove("file");
            v
        })
        .collect()
}
