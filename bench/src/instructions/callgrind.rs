//! What one callgrind dump says: the server's instructions in the window, and how many of them
//! were the module's own. Within one window the two share every accident of timing (how many
//! times the main loop went round), so their ratio is steadier than one window against another.
//!
//! The format (valgrind's "Callgrind Format Specification"): `ob=`/`fn=` name the object and
//! function of the cost lines that follow; `cob=`/`cfn=` then `calls=` name a call, and the
//! cost line after `calls=` is that call's inclusive cost, not the caller's own. Names may be
//! compressed: `ob=(3) /path` defines id 3, a later `ob=(3)` refers to it.

use std::collections::HashMap;

/// The module's object, as the server loaded it.
const MODULE: &str = "liblifesign.so";
/// The server's binary: the request handlers the module's hook passes requests on to.
const SERVER: &str = "/Xorg";

#[derive(Debug, PartialEq, Default)]
pub struct Dump {
    pub total: u64,
    /// Instructions of the module's code, and of what it calls outside the server's binary
    /// (libc, the dynamic loader's thread-local lookups). Calls from the module into the server
    /// are left out: they are the handlers of the requests themselves, which stock runs too, and
    /// a few of the server's helpers (a slight undercount).
    pub module: u64,
}

/// Reads a complete dump; None while its `totals:` line is not written yet.
pub fn parse(text: &str) -> Option<Dump> {
    let mut names: HashMap<String, String> = HashMap::new();
    let mut ob = String::new();
    let mut fn_ob = String::new();
    let mut cob: Option<String> = None;
    // Some(callee's object) while the next cost line is a call's inclusive cost.
    let mut call: Option<String> = None;
    let mut dump = Dump::default();
    let mut total = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("ob=") {
            ob = resolve(v, &mut names);
        } else if line.starts_with("fn=") {
            fn_ob.clone_from(&ob);
        } else if let Some(v) = line.strip_prefix("cob=") {
            cob = Some(resolve(v, &mut names));
        } else if line.starts_with("calls=") {
            call = Some(cob.take().unwrap_or_else(|| fn_ob.clone()));
        } else if let Some(v) = line.strip_prefix("totals:") {
            total = v.trim().parse().ok();
        } else if let Some(cost) = cost(line) {
            let in_module = fn_ob.ends_with(MODULE);
            let counts = match call.take() {
                Some(callee) => in_module && !callee.ends_with(MODULE) && !callee.ends_with(SERVER),
                None => in_module,
            };
            if counts {
                dump.module += cost;
            }
        }
    }
    dump.total = total?;
    Some(dump)
}

/// `(id) name` defines a compressed name, `(id)` uses one, a bare name is itself.
fn resolve(value: &str, names: &mut HashMap<String, String>) -> String {
    let Some(rest) = value.strip_prefix('(') else {
        return value.to_owned();
    };
    let Some((id, name)) = rest.split_once(')') else {
        return value.to_owned();
    };
    let name = name.trim();
    if name.is_empty() {
        names.get(id).cloned().unwrap_or_default()
    } else {
        names.insert(id.to_owned(), name.to_owned());
        name.to_owned()
    }
}

/// The instruction count of a cost line (`positions: line`, `events: Ir`): a position (a
/// number, `+n`, `-n` or `*`), then the count; a missing count is 0.
fn cost(line: &str) -> Option<u64> {
    let first = line.chars().next()?;
    if !(first.is_ascii_digit() || matches!(first, '+' | '-' | '*')) {
        return None;
    }
    let mut fields = line.split_whitespace();
    fields.next()?;
    Some(fields.next().and_then(|c| c.parse().ok()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of a real dump of Xorg with the module: the server calls the module's block
    /// handler, which calls libc; the module's hook calls the server's request handler.
    const DUMP: &str = "# callgrind format
version: 1
positions: line
events: Ir
summary: 0

ob=(1) /usr/lib/xorg/Xorg
fl=(1) ???
fn=(1) BlockHandler
0 50
cob=(2) /tmp/x/modules/liblifesign.so
cfn=(2) lifesign::server::handlers::block
calls=1 0
0 130
fn=(3) ProcGetProperty
0 400
ob=(2)
fl=(2) ???
fn=(2)
0 100
cob=(3) /usr/lib/x86_64-linux-gnu/libc.so.6
cfn=(4) clock_gettime
calls=1 0
+3 30
fn=(5) lifesign::server::vector::any_request
0 20
cob=(1)
cfn=(3)
calls=1 0
0 400
cfn=(2)
calls=1 0
0 7
ob=(3)
fn=(4)
0 30
totals: 600
";

    #[test]
    fn the_modules_own_instructions_and_its_calls_outside_the_server() {
        // Own: 100 + 20 + the libc call's 30; the call into the server's handler (400) is the
        // server's work; the module's call to its own function (7) is counted where it is own.
        assert_eq!(
            parse(DUMP),
            Some(Dump {
                total: 600,
                module: 150
            })
        );
    }

    #[test]
    fn an_unfinished_dump_is_none() {
        assert_eq!(parse(&DUMP.replace("totals: 600", "")), None);
    }
}
