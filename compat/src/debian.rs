//! What Debian says is installed: the versions the table names.

use std::process::Command;

/// The installed version of `package` (dpkg-query), or `None` if it is not installed.
pub fn installed_version(package: &str) -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${Status} ${Version}", package])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.strip_prefix("install ok installed ")?;
    Some(version.trim().to_owned())
}

/// `package version`, or `package (not installed)`.
pub fn describe(package: &str) -> String {
    match installed_version(package) {
        Some(version) => format!("{package} {version}"),
        None => format!("{package} (not installed)"),
    }
}

/// The Debian release (`/etc/debian_version`), e.g. `12.11`.
pub fn release() -> String {
    std::fs::read_to_string("/etc/debian_version")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}
