//! The README's main job: the failover demo, run twice (no leftovers in between), and
//! interrupted with Ctrl-C (everything it started is gone). Each run's pictures are
//! decoded and looked at: the overlay's orange frame around host A's xclock in the first
//! screenshot, its dark placeholder where that xclock was in the second, no frame in the
//! third, the labels and a caption on each; a timeline picture next to them; and the
//! printed timeline's losses at their configured deadlines.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The overlay's colours (client/src/bin/lifesign/overlay/marks.rs, docs/cli.md).
const FRAME: [u8; 3] = [0xff, 0x8c, 0x00];
const PANEL: [u8; 3] = [0x20, 0x20, 0x20];
/// The demo's labels (demo/src/picture.rs).
const LABEL: [u8; 3] = [0x1f, 0x3f, 0x8f];
/// How far a loss may land from its configured deadline (the bound).
const WITHIN_MS: u64 = 100;

fn demo() -> PathBuf {
    lifesign_tests::server::built_binary("lifesign-demo", "LIFESIGN_DEMO")
}

fn netns() -> String {
    String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned()
}

/// A decoded PNG: RGB pixels and its text chunks.
struct Picture {
    width: i32,
    height: i32,
    rgb: Vec<u8>,
    text: HashMap<String, String>,
}

impl Picture {
    fn read(path: &Path) -> Self {
        let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut reader = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .unwrap_or_else(|e| panic!("{} is a PNG: {e}", path.display()));
        let mut rgb = vec![0; reader.output_buffer_size().expect("a size")];
        let info = reader.next_frame(&mut rgb).expect("its pixels");
        assert_eq!(info.color_type, png::ColorType::Rgb, "{}", path.display());
        rgb.truncate(info.buffer_size());
        let text = reader
            .info()
            .uncompressed_latin1_text
            .iter()
            .map(|t| (t.keyword.clone(), t.text.clone()))
            .collect();
        Self {
            width: info.width as i32,
            height: info.height as i32,
            rgb,
            text,
        }
    }

    /// The rectangle `x y w h` of text chunk `key`.
    fn rect(&self, key: &str) -> (i32, i32, i32, i32) {
        let v: Vec<i32> = self.text[key]
            .split(' ')
            .map(|n| n.parse().unwrap())
            .collect();
        (v[0], v[1], v[2], v[3])
    }

    fn pixel(&self, x: i32, y: i32) -> Option<[u8; 3]> {
        if x < 0 || y < 0 || x >= self.width || y >= self.height {
            return None;
        }
        let i = ((y * self.width + x) * 3) as usize;
        Some([self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]])
    }

    /// Pixels of the rectangle that `keep` picks, and how many of them are `rgb`.
    fn share(
        &self,
        (x, y, w, h): (i32, i32, i32, i32),
        keep: impl Fn(i32, i32) -> bool,
        rgb: [u8; 3],
    ) -> (usize, usize) {
        let mut all = 0;
        let mut hits = 0;
        for py in y..y + h {
            for px in x..x + w {
                if let Some(p) = self.pixel(px, py).filter(|_| keep(px, py)) {
                    all += 1;
                    hits += usize::from(p == rgb);
                }
            }
        }
        (hits, all)
    }

    fn count(&self, rect: (i32, i32, i32, i32), rgb: [u8; 3]) -> usize {
        self.share(rect, |_, _| true, rgb).0
    }
}

/// The `silent` of the printed `lost` line whose reason is `reason`.
fn silent_of_loss(timeline: &str, reason: &str) -> u64 {
    let needle = format!("({reason}, silent ");
    let line = timeline
        .lines()
        .find(|l| l.contains("lost 0x") && l.contains(&needle))
        .unwrap_or_else(|| panic!("a {reason} loss in\n{timeline}"));
    let rest = &line[line.find(&needle).unwrap() + needle.len()..];
    rest.split(' ').next().unwrap().parse().unwrap()
}

/// What the three screenshots and the timeline picture of a run must show.
fn check_pictures(dir: &Path, run: usize) {
    let shots: Vec<Picture> = ["1-suspect.png", "2-lost.png", "3-failover.png"]
        .iter()
        .map(|f| Picture::read(&dir.join(f)))
        .collect();
    for (i, p) in shots.iter().enumerate() {
        // The caption: dark text on its band, and in the PNG's own title.
        let (cx, cy, cw, ch) = p.rect("lifesign-demo-caption");
        assert!(cy + ch == p.height && ch > 40, "run {run}: a caption band");
        let ink = (cy + 2..cy + ch)
            .flat_map(|y| (cx..cx + cw).map(move |x| (x, y)))
            .filter(|&(x, y)| p.pixel(x, y).is_some_and(|c| c.iter().all(|&v| v < 100)))
            .count();
        assert!(ink > 500, "run {run}, shot {}: caption ink {ink}", i + 1);
        assert!(
            p.text["Title"].starts_with(&format!("{}. +", i + 1)),
            "run {run}: {:?}",
            p.text["Title"]
        );
        // Each application window's label.
        assert!(
            p.count(p.rect("lifesign-demo-screen"), LABEL) > 200,
            "run {run}, shot {}: labels",
            i + 1
        );
    }
    let (x, y, w, h) = shots[0].rect("lifesign-demo-subject");
    assert!(
        (300..=302).contains(&w) && (300..=302).contains(&h),
        "host A's xclock, 300x300 and its border: {w}x{h}"
    );
    // 1: the 6 px frame around host A's xclock is orange (a label may cover a little).
    let ring = |px: i32, py: i32| !(px >= x && px < x + w && py >= y && py < y + h);
    let (orange, all) = shots[0].share((x - 6, y - 6, w + 12, h + 12), ring, FRAME);
    assert!(
        orange * 10 >= all * 9,
        "run {run}: the frame around host A's xclock: {orange} of {all} pixels orange"
    );
    // 2: the placeholder's dark panel where it was.
    let (dark, all) = shots[1].share((x, y, w, h), |_, _| true, PANEL);
    assert!(
        dark * 2 >= all,
        "run {run}: the placeholder: {dark} of {all} pixels dark"
    );
    // 3: no frame anywhere, no placeholder left.
    let screen = shots[2].rect("lifesign-demo-screen");
    assert_eq!(
        shots[2].count(screen, FRAME),
        0,
        "run {run}: no frame colour"
    );
    assert!(
        shots[2].count((x, y, w, h), PANEL) < 100,
        "run {run}: no placeholder"
    );

    let chart = Picture::read(&dir.join("4-timeline.png"));
    assert!(
        chart.text["Title"].starts_with("Timeline"),
        "{:?}",
        chart.text
    );
    let drawn = chart
        .rgb
        .chunks(3)
        .filter(|p| p != &[255, 255, 255])
        .count();
    assert!(
        drawn > 5000,
        "run {run}: the timeline picture has {drawn} drawn pixels"
    );
}

#[test]
fn the_demo_tells_the_story_with_screenshots_and_runs_again() {
    for run in 0..2 {
        let out_dir = tempfile::tempdir().unwrap();
        let start = Instant::now();
        let out = Command::new(demo())
            .env("LIFESIGN_DEMO_OUT", out_dir.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "run {run}: {out:?}");
        assert!(start.elapsed() < Duration::from_secs(60), "under a minute");
        for line in [
            "host A's cable pulled",
            "lost 0x",
            "(idle-timeout",
            "configured IdleTimeout 3000 ms",
            "lifesign overlay frames xclock from host A",
            "launcher started xclock on host B",
            "backup window mapped: xclock from host B",
            "(wm-ping-timeout",
            "configured WmPingTimeout 1000 ms",
            "launcher started zenity on host A",
        ] {
            assert!(text.contains(line), "run {run}: {line:?} in\n{text}");
        }
        // Each fault comes after Grace: the losses land at the deadlines as configured.
        let idle = silent_of_loss(&text, "idle-timeout");
        assert!(
            idle.abs_diff(3000) <= WITHIN_MS,
            "run {run}: silent {idle} ms"
        );
        let ping = silent_of_loss(&text, "wm-ping-timeout");
        assert!(
            ping.abs_diff(1000) <= WITHIN_MS,
            "run {run}: silent {ping} ms"
        );
        for file in [
            "1-suspect.png",
            "2-lost.png",
            "3-failover.png",
            "4-timeline.png",
        ] {
            let path = out_dir.path().join(file);
            assert!(
                text.contains(&path.display().to_string()),
                "it says where {file} is"
            );
        }
        check_pictures(out_dir.path(), run);
    }
}

#[test]
fn ctrl_c_stops_the_demo_and_leaves_nothing_behind() {
    let out_dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(demo())
        .env("LIFESIGN_DEMO_OUT", out_dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let tag = format!("ls{}x", child.id());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !netns().contains(&tag) {
        assert!(Instant::now() < deadline, "the demo made its hosts");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2)); // in the middle of it
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "interrupted: {status}");
    assert!(
        !netns().contains(&tag),
        "its namespaces are gone: {}",
        netns()
    );
}
