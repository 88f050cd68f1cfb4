//! What the fuzzing connections sent and got back.

use super::oracle::error_name;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The first mismatches are kept whole, for the report; the rest are counted.
const EXAMPLES: usize = 20;

#[derive(Default)]
pub struct Tally {
    /// LIFESIGN requests as the server cut the stream.
    pub requests: u64,
    pub bytes: u64,
    /// X errors received, by code.
    pub errors: BTreeMap<u8, u64>,
    /// QueryVersion and ListClients replies that were right.
    pub versions: u64,
    pub lists: u64,
    /// Requests that rightly got no answer (Watch and Unwatch that succeeded).
    pub silent: u64,
    /// Connections the server closed because of a request that must close them.
    pub reconnects: u64,
    /// Connections the module closed because they were watched (between a Watch that
    /// succeeded and our Unwatch) and missed a deadline: correct, and counted.
    pub lost_while_watched: u64,
    /// Answers that were not what the oracle said, and answers missing.
    pub mismatches: u64,
    pub examples: Vec<String>,
}

impl Tally {
    pub fn mismatch(&mut self, what: String) {
        self.mismatches += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push(what);
        }
    }

    pub fn errors_json(&self) -> Value {
        let map: serde_json::Map<String, Value> = self
            .errors
            .iter()
            .map(|(code, n)| (error_name(*code), json!(n)))
            .collect();
        Value::Object(map)
    }

    /// `Length 81234, Request 1200, ...`
    pub fn errors_line(&self) -> String {
        self.errors
            .iter()
            .map(|(code, n)| format!("{} {n}", error_name(*code)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
