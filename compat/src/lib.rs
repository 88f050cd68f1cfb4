//! The application compatibility table (docs/compatibility.md): for each toolkit, a real
//! application from Debian, or the smallest program written for it with Debian's bindings,
//! measured against a real server with the module.
//!
//! - [`toolkits`]: the table's rows: which program stands for which toolkit.
//! - [`mode`]: the detection modes measured, each a server configuration and the reason it
//!   convicts with; a new mode (a column pair) is one more entry there.
//! - [`debian`]: installed package versions, from dpkg.
//! - [`app`]: one running instance of a program: its X clients, its windows, SIGSTOP.
//! - [`window`]: what a top-level window says (`WM_PROTOCOLS`) and whether it answers a ping.
//! - [`cost`]: what answering a repaint probe costs a program (RECORD), and whether its
//!   pixels change.
//! - [`measure`]: one toolkit under one mode: healthy and idle, and hung.
//! - [`report`]: the Markdown table.

#![forbid(unsafe_code)]

pub mod app;
pub mod cost;
pub mod debian;
pub mod measure;
pub mod mode;
pub mod report;
pub mod toolkits;
pub mod window;
