//! `lifesign status`.

use lifesign::{Lifesign, StatusEntry};

pub fn run(display: Option<&str>, json: bool) -> Result<(), String> {
    let conn = crate::connect(display)?;
    let ls = Lifesign::new(&conn).map_err(|e| e.to_string())?;
    let text = ls.list_clients_json(&conn).map_err(|e| e.to_string())?;
    let entries: Vec<StatusEntry> = serde_json::from_str(&text)
        .map_err(|e| format!("the server's ListClients reply is not the expected JSON: {e}"))?;
    if json {
        // The server's objects as they came (a newer server's fields stay), indented.
        let value: serde_json::Value = serde_json::from_str(&text).expect("parsed above");
        println!(
            "{}",
            serde_json::to_string_pretty(&value).expect("JSON values serialize")
        );
    } else {
        print!("{}", crate::table::render(&entries));
    }
    Ok(())
}
