//! `lifesign status`.

use lifesign::Lifesign;

pub fn run(display: Option<&str>, json: bool) -> Result<(), String> {
    let conn = crate::connect(display)?;
    let ls = Lifesign::new(&conn).map_err(|e| e.to_string())?;
    let entries = ls.list_clients(&conn).map_err(|e| e.to_string())?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&entries).expect("entries serialize")
        );
    } else {
        print!("{}", crate::table::render(&entries));
    }
    Ok(())
}
