//! The backup being started, from the launcher's state file: the launcher writes, per
//! service, which client it is replacing and the candidate it started for it
//! (`{"services": {"<name>": {"replacing": {"client": "0x00a00000", "candidate": 1,
//! "command": [...], "since_ms": ...}}}}`). The overlay only reads it, tolerates its
//! absence, a file it cannot read or parse, and fields it does not know: a placeholder
//! then says it waits for a new client of the service.

use super::clients::parse_id;
use serde_json::Value;
use std::io::Read;
use std::path::Path;

/// The environment variable the launcher sets for the overlay it starts.
pub const ENV: &str = "LIFESIGN_LAUNCHER_STATE";

/// A state file larger than this is not read (the launcher's are a few KiB).
const MAX_BYTES: u64 = 4 << 20;

/// What a placeholder says of the backup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backup {
    /// The launcher's name of the service.
    pub service: String,
    /// The candidate started, as the launcher counts them (0 is the primary).
    pub candidate: Option<u64>,
    /// Its argv.
    pub command: Vec<String>,
}

/// The backup started for the lost client `lost`, from the file at `path`; `None` when
/// there is none, or the file is absent, unreadable, too large or not JSON.
pub fn read(path: &Path, lost: u32, declared: Option<&str>) -> Option<Backup> {
    let file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1).read_to_end(&mut bytes).ok()?;
    if bytes.len() as u64 > MAX_BYTES {
        return None;
    }
    lookup(&bytes, lost, declared)
}

/// The service whose `replacing.client` is `lost`; failing that, the service named as the
/// lost client declared itself, if it is replacing a client. A launcher started after the
/// loss does not know the lost client's id, only the service.
pub fn lookup(json: &[u8], lost: u32, declared: Option<&str>) -> Option<Backup> {
    let state: Value = serde_json::from_slice(json).ok()?;
    let services = state.get("services")?.as_object()?;
    let replacing = |name: &String, service: &Value| -> Option<(Backup, Option<u32>)> {
        let r = service.get("replacing")?.as_object()?;
        let backup = Backup {
            service: name.clone(),
            candidate: r.get("candidate").and_then(Value::as_u64),
            command: r
                .get("command")
                .and_then(Value::as_array)
                .map(|argv| {
                    argv.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        };
        let client = r.get("client").and_then(Value::as_str).and_then(parse_id);
        Some((backup, client))
    };
    let all: Vec<(Backup, Option<u32>)> = services
        .iter()
        .filter_map(|(name, service)| replacing(name, service))
        .collect();
    if let Some((b, _)) = all.iter().find(|(_, client)| *client == Some(lost)) {
        return Some(b.clone());
    }
    let declared = declared?;
    all.into_iter()
        .find(|(b, client)| b.service == declared && client.is_none())
        .map(|(b, _)| b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &str = r#"{
        "services": {
            "plant-view": {
                "active": 1,
                "failovers": [1796124660002],
                "replacing": {"client": "0x00a00000", "candidate": 1,
                              "command": ["ssh", "host-b", "xclock"], "since_ms": 1796124660002,
                              "something_new": true}
            },
            "alarms": {"active": 0},
            "trends": {"replacing": {"candidate": 0, "command": ["trend-view"]}}
        },
        "handled": {"server_started_ms": 1, "seqs": [1, 2]}
    }"#;

    #[test]
    fn the_backup_for_a_lost_client_is_found_by_its_id() {
        let b = lookup(STATE.as_bytes(), 0x00a0_0000, None).unwrap();
        assert_eq!(
            b,
            Backup {
                service: "plant-view".into(),
                candidate: Some(1),
                command: vec!["ssh".into(), "host-b".into(), "xclock".into()],
            }
        );
        assert_eq!(lookup(STATE.as_bytes(), 0x00c0_0000, None), None);
    }

    #[test]
    fn without_its_id_the_declared_service_names_the_backup() {
        let b = lookup(STATE.as_bytes(), 0x00c0_0000, Some("trends")).unwrap();
        assert_eq!(b.command, vec!["trend-view"]);
        // A service replacing another client is not this one's backup.
        assert_eq!(
            lookup(STATE.as_bytes(), 0x00c0_0000, Some("plant-view")),
            None
        );
        assert_eq!(lookup(STATE.as_bytes(), 0x00c0_0000, Some("alarms")), None);
    }

    #[test]
    fn anything_unexpected_is_no_backup() {
        for bad in [
            "",
            "not json",
            "[]",
            r#"{"services": 3}"#,
            r#"{"services": {"a": {"replacing": 7}}}"#,
        ] {
            assert_eq!(
                lookup(bad.as_bytes(), 0x00a0_0000, Some("a")),
                None,
                "{bad}"
            );
        }
        // Odd field types inside a replacement are left out, not fatal.
        let odd = r#"{"services": {"a": {"replacing": {"client": "0x00a00000", "candidate": "x", "command": [1, "b"]}}}}"#;
        assert_eq!(
            lookup(odd.as_bytes(), 0x00a0_0000, None),
            Some(Backup {
                service: "a".into(),
                candidate: None,
                command: vec!["b".into()]
            })
        );
    }

    #[test]
    fn an_absent_or_unreadable_file_is_no_backup() {
        let dir =
            std::env::temp_dir().join(format!("lifesign-overlay-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(read(&dir.join("absent.json"), 0x00a0_0000, None), None);
        assert_eq!(read(&dir, 0x00a0_0000, None), None, "a directory");
        let file = dir.join("state.json");
        std::fs::write(&file, STATE).unwrap();
        assert!(read(&file, 0x00a0_0000, None).is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
