//! What answering the repaint probe costs a program, and whether it shows.
//!
//! A RECORD context on every client sees, in the server's own order, each request the program
//! sends, each probe the module writes to it (an Expose at (0, 0), 1x1, count 0, without the
//! send-event bit: the server's own exposures of a whole window are never 1x1 at the origin),
//! and each GetImage of the measurement's camera. So, without touching the program:
//!
//! - the requests (and bytes) it sends in the half second after each probe, by the server's
//!   clock (a probe goes only to a client quiet for the interval, and a repaint takes
//!   milliseconds), so that a program drawing by itself a second later is not counted;
//! - its windows' pixels, read every half second from the root window, before the first
//!   probe and after each: identical pixels, no visible change.

use lifesign_tests::Server;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;
use x11rb::connection::Connection as _;
use x11rb::protocol::record::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{self, ConnectionExt as _, ImageFormat, Window};
use x11rb::rust_connection::RustConnection;

/// One thing the server did, as RECORD saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Element {
    /// A request of the client whose resource-ID base is `client`, received at `at` (the
    /// server's milliseconds).
    Request {
        client: u32,
        opcode: u8,
        bytes: u32,
        at: u32,
    },
    /// A repaint probe written to `client` at `at`.
    Probe { client: u32, at: u32 },
}

/// What a probe's answer is: the program's requests this long after it.
pub const ANSWER_WITHIN: u32 = 500;

/// Each recorded element is preceded by the server's time (XRecordFromServerTime and
/// XRecordFromClientTime).
const TIMES: u8 = 0x01 | 0x02;

/// RECORD's categories (record.h).
const FROM_SERVER: u8 = 0;
const FROM_CLIENT: u8 = 1;
const START_OF_DATA: u8 = 4;
const END_OF_DATA: u8 = 5;

/// The elements of one block of recorded data, from the client whose base is `client`, each
/// after its time.
pub fn parse(category: u8, client: u32, data: &[u8]) -> Vec<Element> {
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
    };
    let half = |at: usize| -> Option<u16> {
        Some(u16::from_le_bytes(data.get(at..at + 2)?.try_into().ok()?))
    };
    let mut out = Vec::new();
    let mut at = 0;
    match category {
        FROM_CLIENT => {
            while let (Some(time), Some(length)) = (word(at), half(at + 6)) {
                at += 4;
                // 0: BIG-REQUESTS, the length in the next word.
                let words = if length == 0 {
                    word(at + 4).unwrap_or(0)
                } else {
                    u32::from(length)
                };
                if words == 0 {
                    break;
                }
                let bytes = words * 4;
                out.push(Element::Request {
                    client,
                    opcode: data[at],
                    bytes,
                    at: time,
                });
                at += bytes as usize;
            }
        }
        FROM_SERVER => {
            // Only Expose is recorded: 32-byte events.
            while let (Some(time), Some(event)) = (word(at), data.get(at + 4..at + 36)) {
                at += 4;
                let area = [half(at + 8), half(at + 10), half(at + 12), half(at + 14)];
                let count = half(at + 16);
                if event[0] == xproto::EXPOSE_EVENT
                    && area == [Some(0), Some(0), Some(1), Some(1)]
                    && count == Some(0)
                {
                    out.push(Element::Probe { client, at: time });
                }
                at += 32;
            }
        }
        _ => {}
    }
    out
}

/// A RECORD context on every client, read on a thread of its own until [`Recording::stop`].
pub struct Recording {
    control: RustConnection,
    context: record::Context,
    reader: JoinHandle<Vec<Element>>,
}

impl Recording {
    /// Starts recording every request and every Expose delivered, on `server`; returns once
    /// the server has said the recording runs. Its own two connections are unwatched.
    pub fn start(server: &Server) -> Result<Self, String> {
        let err = |e: &dyn std::fmt::Display| format!("RECORD: {e}");
        let control = server.connect();
        let data = server.connect();
        lifesign_tests::lifesign::unwatch(&control);
        lifesign_tests::lifesign::unwatch(&data);
        control
            .record_query_version(1, 13)
            .map_err(|e| err(&e))?
            .reply()
            .map_err(|e| err(&e))?;
        let context = control.generate_id().map_err(|e| err(&e))?;
        let none = record::Range8 { first: 0, last: 0 };
        let range = record::Range {
            core_requests: record::Range8 {
                first: 1,
                last: 127,
            },
            core_replies: none,
            ext_requests: record::ExtRange {
                major: record::Range8 {
                    first: 128,
                    last: 255,
                },
                minor: record::Range16 {
                    first: 0,
                    last: 0xffff,
                },
            },
            ext_replies: record::ExtRange {
                major: none,
                minor: record::Range16 { first: 0, last: 0 },
            },
            delivered_events: record::Range8 {
                first: xproto::EXPOSE_EVENT,
                last: xproto::EXPOSE_EVENT,
            },
            device_events: none,
            errors: none,
            client_started: false,
            client_died: false,
        };
        let all = [record::CS::ALL_CLIENTS.into()];
        control
            .record_create_context(context, TIMES, &all, &[range])
            .map_err(|e| err(&e))?
            .check()
            .map_err(|e| err(&e))?;
        let (started, running) = mpsc::channel();
        let reader = thread::spawn(move || {
            let mut seen = Vec::new();
            let Ok(replies) = data.record_enable_context(context) else {
                return seen;
            };
            for reply in replies {
                let Ok(reply) = reply else { break };
                match reply.category {
                    START_OF_DATA => {
                        let _ = started.send(());
                    }
                    END_OF_DATA => break,
                    // Every program here runs on this machine, in its byte order.
                    category if !reply.client_swapped => {
                        seen.extend(parse(category, reply.xid_base, &reply.data));
                    }
                    _ => {}
                }
            }
            seen
        });
        running
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| "RECORD: the context did not start".to_owned())?;
        Ok(Self {
            control,
            context,
            reader,
        })
    }

    /// Ends the recording; what it saw, in the server's order.
    pub fn stop(self) -> Vec<Element> {
        let _ = self.control.record_disable_context(self.context);
        let _ = self.control.flush();
        let seen = self.reader.join().unwrap_or_default();
        let _ = self.control.record_free_context(self.context);
        let _ = self.control.flush();
        seen
    }
}

/// A connection of the measurement's own that reads a program's windows' pixels.
pub struct Camera {
    conn: RustConnection,
    base: u32,
    /// The windows' rectangles on the root window, cut to the screen.
    areas: Vec<(i16, i16, u16, u16)>,
    /// What each GetImage sent so far saw (a hash of its pixels; `None` if it failed), in the
    /// order they were sent: the k-th is the k-th GetImage of ours the recording saw.
    pub shots: Vec<Option<u64>>,
}

impl Camera {
    /// A camera on `windows`, placed where they are now (no window manager moves them).
    pub fn new(server: &Server, windows: &[Window]) -> Result<Self, String> {
        let conn = server.connect();
        lifesign_tests::lifesign::unwatch(&conn);
        let screen = &conn.setup().roots[0];
        let (root, screen_w, screen_h) =
            (screen.root, screen.width_in_pixels, screen.height_in_pixels);
        let mut areas = Vec::new();
        for &window in windows {
            let geometry = conn
                .get_geometry(window)
                .map_err(|e| e.to_string())?
                .reply()
                .map_err(|e| e.to_string())?;
            let origin = conn
                .translate_coordinates(window, root, 0, 0)
                .map_err(|e| e.to_string())?
                .reply()
                .map_err(|e| e.to_string())?;
            let (x0, y0) = (i32::from(origin.dst_x), i32::from(origin.dst_y));
            let x1 = (x0 + i32::from(geometry.width)).min(i32::from(screen_w));
            let y1 = (y0 + i32::from(geometry.height)).min(i32::from(screen_h));
            let (x0, y0) = (x0.max(0), y0.max(0));
            if x1 > x0 && y1 > y0 {
                // Within the screen's u16 size, so each fits.
                areas.push((x0 as i16, y0 as i16, (x1 - x0) as u16, (y1 - y0) as u16));
            }
        }
        if areas.is_empty() {
            return Err("no window on the screen to read".into());
        }
        let base = conn.setup().resource_id_base;
        Ok(Self {
            conn,
            base,
            areas,
            shots: Vec::new(),
        })
    }

    /// Reads every window's pixels once.
    pub fn shoot(&mut self) {
        let root = self.conn.setup().roots[0].root;
        for &(x, y, w, h) in &self.areas {
            let image = self
                .conn
                .get_image(ImageFormat::Z_PIXMAP, root, x, y, w, h, !0)
                .ok()
                .and_then(|c| c.reply().ok())
                .map(|r| {
                    let mut hasher = DefaultHasher::new();
                    r.data.hash(&mut hasher);
                    hasher.finish()
                });
            self.shots.push(image);
        }
    }

    /// The readings each [`Camera::shoot`] makes: one per window.
    pub fn windows(&self) -> usize {
        self.areas.len()
    }

    /// The camera's resource-ID base, as the recording names its requests.
    pub fn base(&self) -> u32 {
        self.base
    }
}

/// Whether the probes changed what the program's windows show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visible {
    /// Every reading after the first probe has the pixels of the last one before it.
    None { readings: usize },
    /// This many readings after the first probe (of `of`) differ from the last one before.
    Changed { differ: usize, of: usize },
    /// No reading came between the program's last request and its first probe.
    NotSeen,
}

/// What the repaint probes cost one program over the idle period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cost {
    /// The probes the module wrote to it.
    pub probes: usize,
    /// In the [`ANSWER_WITHIN`] after each probe: the least, median and most requests it
    /// sent, and the median bytes; `None` without a probe.
    pub requests: Option<(u32, u32, u32)>,
    pub bytes: Option<u32>,
    /// Requests after the first probe that answered none: it draws by itself (a clock), so
    /// a change of its pixels may be its own.
    pub unasked: u32,
    pub visible: Visible,
}

/// Reads the recording: `clients` are the program's resource-ID bases, `camera` the camera's,
/// `shots` its readings in order and `per_shot` the GetImages each reading made.
pub fn assess(
    seen: &[Element],
    clients: &[u32],
    camera: u32,
    shots: &[Option<u64>],
    per_shot: usize,
) -> Cost {
    let ours = |c: &u32| clients.contains(c);
    let probes: Vec<usize> = seen
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, Element::Probe { client, .. } if ours(client)))
        .map(|(i, _)| i)
        .collect();
    let mut counts = Vec::new();
    let mut sizes = Vec::new();
    let mut unasked = 0;
    for (k, &p) in probes.iter().enumerate() {
        let Element::Probe { at: sent, .. } = seen[p] else {
            continue;
        };
        let end = probes.get(k + 1).copied().unwrap_or(seen.len());
        let (mut n, mut size) = (0u32, 0u32);
        for e in &seen[p + 1..end] {
            if let Element::Request {
                client, bytes, at, ..
            } = e
            {
                if !ours(client) {
                    continue;
                }
                if at.wrapping_sub(sent) <= ANSWER_WITHIN {
                    n += 1;
                    size += bytes;
                } else {
                    unasked += 1;
                }
            }
        }
        counts.push(n);
        sizes.push(size);
    }
    counts.sort_unstable();
    sizes.sort_unstable();
    let requests = (!counts.is_empty()).then(|| {
        (
            counts[0],
            counts[counts.len() / 2],
            counts[counts.len() - 1],
        )
    });
    let bytes = (!sizes.is_empty()).then(|| sizes[sizes.len() / 2]);
    Cost {
        probes: probes.len(),
        requests,
        bytes,
        unasked,
        visible: probes.first().map_or(Visible::NotSeen, |&first| {
            visible(seen, &ours, camera, first, shots, per_shot)
        }),
    }
}

/// Compares, window by window, the last reading before the probe at `first` (with no request
/// of the program after it) with every reading after.
fn visible(
    seen: &[Element],
    ours: &impl Fn(&u32) -> bool,
    camera: u32,
    first: usize,
    shots: &[Option<u64>],
    per_shot: usize,
) -> Visible {
    // Where in the recording each GetImage of ours came.
    let at: Vec<usize> = seen
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            matches!(e, Element::Request { client, opcode, .. }
                if *client == camera && *opcode == xproto::GET_IMAGE_REQUEST)
        })
        .map(|(i, _)| i)
        .collect();
    let last_request = seen[..first]
        .iter()
        .rposition(|e| matches!(e, Element::Request { client, .. } if ours(client)));
    let (mut differ, mut of) = (0, 0);
    for window in 0..per_shot.max(1) {
        let readings: Vec<(usize, Option<u64>)> = at
            .iter()
            .zip(shots)
            .skip(window)
            .step_by(per_shot.max(1))
            .map(|(&i, &s)| (i, s))
            .collect();
        let before = readings
            .iter()
            .rev()
            .find(|(i, _)| *i < first)
            .filter(|(i, _)| last_request.is_none_or(|r| r < *i));
        let Some(&(_, Some(before))) = before else {
            return Visible::NotSeen;
        };
        for &(_, pixels) in readings.iter().filter(|(i, _)| *i > first) {
            of += 1;
            if pixels != Some(before) {
                differ += 1;
            }
        }
    }
    if differ == 0 {
        Visible::None { readings: of }
    } else {
        Visible::Changed { differ, of }
    }
}

/// The period between two readings of the pixels.
pub const SHOT_EVERY: Duration = Duration::from_millis(500);

#[cfg(test)]
mod tests {
    use super::*;

    const APP: u32 = 0x0040_0000;
    const CAM: u32 = 0x0060_0000;

    fn request(client: u32, opcode: u8, bytes: u32, at: u32) -> Element {
        Element::Request {
            client,
            opcode,
            bytes,
            at,
        }
    }

    fn probe(at: u32) -> Element {
        Element::Probe { client: APP, at }
    }

    fn shot(at: u32) -> Element {
        request(CAM, xproto::GET_IMAGE_REQUEST, 20, at)
    }

    #[test]
    fn requests_and_probes_are_read_from_recorded_data() {
        // At 1000: a PolyFillRectangle (3 words); at 1001: a BIG-REQUESTS PutImage (length
        // 0, then 5 words).
        let mut data = vec![0xe8, 3, 0, 0, 70, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        data.extend([0xe9, 3, 0, 0, 72, 2, 0, 0, 5, 0, 0, 0]);
        data.extend([0; 12]);
        assert_eq!(
            parse(FROM_CLIENT, APP, &data),
            [request(APP, 70, 12, 1000), request(APP, 72, 20, 1001)]
        );
        let mut expose = [0u8; 36];
        expose[..4].copy_from_slice(&7u32.to_le_bytes());
        expose[4] = xproto::EXPOSE_EVENT;
        expose[16] = 1;
        expose[18] = 1;
        let mut whole = expose;
        whole[16] = 200;
        let events = [expose, whole].concat();
        assert_eq!(parse(FROM_SERVER, APP, &events), [probe(7)]);
        let mut sent = expose;
        sent[4] |= 0x80;
        assert_eq!(parse(FROM_SERVER, APP, &sent), []);
    }

    #[test]
    fn the_cost_is_what_the_program_sends_just_after_each_probe() {
        let other = request(0x0080_0000, 1, 40, 1001);
        let seen = [
            request(APP, 1, 100, 0),
            shot(500),
            probe(1000),
            request(APP, 70, 20, 1001),
            request(APP, 61, 16, 1002),
            other,
            shot(1500),
            probe(2100),
            request(APP, 70, 20, 2101),
            shot(2500),
            probe(3200),
            request(APP, 70, 20, 3201),
            request(APP, 61, 16, 3202),
            request(APP, 43, 4, 3203),
            probe(4300),
        ];
        let same = Some(7);
        let cost = assess(&seen, &[APP], CAM, &[same, same, same], 1);
        assert_eq!(cost.probes, 4);
        assert_eq!(cost.requests, Some((0, 2, 3)));
        assert_eq!(cost.bytes, Some(36));
        assert_eq!(cost.unasked, 0);
        assert_eq!(cost.visible, Visible::None { readings: 2 });
        let changed = assess(&seen, &[APP], CAM, &[same, Some(8), same], 1);
        assert_eq!(changed.visible, Visible::Changed { differ: 1, of: 2 });
    }

    #[test]
    fn drawing_of_its_own_long_after_a_probe_is_no_answer() {
        let seen = [
            shot(0),
            probe(1000),
            request(APP, 70, 20, 1010),
            request(APP, 70, 20, 1900),
            probe(3000),
        ];
        let cost = assess(&seen, &[APP], CAM, &[Some(1)], 1);
        assert_eq!(cost.requests, Some((0, 1, 1)));
        assert_eq!(cost.unasked, 1);
    }

    #[test]
    fn a_reading_taken_while_the_program_was_still_drawing_is_no_before() {
        let seen = [shot(0), request(APP, 70, 20, 10), probe(1010), shot(1100)];
        let cost = assess(&seen, &[APP], CAM, &[Some(1), Some(1)], 1);
        assert_eq!(cost.visible, Visible::NotSeen);
        assert_eq!(cost.requests, Some((0, 0, 0)));
        let never = assess(&[shot(0), shot(500)], &[APP], CAM, &[Some(1), Some(1)], 1);
        assert_eq!((never.probes, never.visible), (0, Visible::NotSeen));
        assert_eq!(never.requests, None);
    }

    #[test]
    fn each_window_is_compared_with_itself() {
        // Two windows per reading: readings alternate between them.
        let seen = [
            shot(0),
            shot(1),
            probe(1000),
            request(APP, 70, 20, 1001),
            shot(1500),
            shot(1501),
        ];
        let shots = [Some(1), Some(2), Some(1), Some(2)];
        let cost = assess(&seen, &[APP], CAM, &shots, 2);
        assert_eq!(cost.visible, Visible::None { readings: 2 });
    }
}
