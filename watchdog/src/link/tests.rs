use super::backoff::{FIRST_MS, MAX_MS};
use super::framing::LINE_BOUND;
use super::output::OUTPUT_BOUND;
use super::*;

fn ack(seq: u64) -> String {
    format!("{{\"v\":1,\"type\":\"ack\",\"seq\":{seq}}}\n")
}

/// A link that failed to connect `failures` times, then connected.
fn connected_after(failures: usize) -> Link {
    let mut link = Link::default();
    for _ in 0..failures {
        link.connect_failed();
    }
    link.connected();
    link
}

/// What one turn of reads brings.
fn read(link: &mut Link, bytes: &[u8]) -> Read {
    link.received(bytes);
    link.reads_done()
}

/// Queues `len` bytes (a line and its newline).
fn queue_bytes(link: &mut Link, len: usize) {
    assert!(link.queue(&"x".repeat(len - 1)));
}

fn assert_forgotten(link: &Link) {
    assert!(!link.is_connected());
    assert!(link.unwritten().is_empty());
    assert_eq!(link.output.opening(), 0);
    assert_eq!(link.input.pending(), 0);
    assert!(!link.polling_write);
}

#[test]
fn a_new_link_attempts_in_the_first_backoff_and_queues_nothing() {
    let mut link = Link::default();
    assert!(!link.is_connected());
    assert_eq!(link.first_attempt_ms(), Some(FIRST_MS));
    assert!(
        !link.queue("an event"),
        "the outbox keeps it for the next connection"
    );
    assert!(link.unwritten().is_empty());
    assert_eq!(link.writes_done(), Written::Same);
}

#[test]
fn a_connected_link_plans_no_attempt_in_a_new_generation() {
    let mut link = connected_after(0);
    assert_eq!(link.first_attempt_ms(), None);
    link.dropped(Retry::Soon);
    assert_eq!(link.first_attempt_ms(), Some(FIRST_MS));
}

#[test]
fn failed_attempts_wait_twice_as_long_each_time_up_to_5_s_and_only_the_first_is_reported() {
    let mut link = Link::default();
    let failed: Vec<Failed> = (0..8).map(|_| link.connect_failed()).collect();
    let waits: Vec<u64> = failed.iter().map(|f| f.retry_in_ms).collect();
    assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    assert!(failed[0].first);
    assert!(failed[1..].iter().all(|f| !f.first));
}

#[test]
fn a_connection_reports_the_next_failure_again_but_keeps_the_backoff() {
    let mut link = connected_after(3);
    assert_eq!(link.backoff.next_ms(), 800, "not reset by connecting");
    link.dropped(Retry::Later);
    let failed = link.connect_failed();
    assert!(failed.first, "a new run of failures");
    assert_eq!(failed.retry_in_ms, 1600);
}

#[test]
fn a_connection_dropped_for_the_launchers_doing_waits_the_backoff_and_doubles_it() {
    let mut link = connected_after(0);
    let mut waits = Vec::new();
    for _ in 0..8 {
        waits.push(link.dropped(Retry::Later));
        link.connected();
    }
    assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    assert_eq!(link.backoff.next_ms(), MAX_MS);
}

#[test]
fn a_launcher_that_closed_or_failed_is_connected_to_again_at_once_and_the_backoff_starts_again() {
    let mut link = connected_after(5);
    assert_eq!(link.backoff.next_ms(), 3200);
    assert_eq!(link.dropped(Retry::Soon), FIRST_MS);
    assert_eq!(link.backoff.next_ms(), FIRST_MS);
    link.connected();
    assert_eq!(link.dropped(Retry::Later), FIRST_MS);
    link.connected();
    assert_eq!(link.dropped(Retry::Later), 2 * FIRST_MS);
}

#[test]
fn an_ack_starts_the_backoff_again() {
    let mut link = connected_after(4);
    assert_eq!(link.backoff.next_ms(), 1600);
    let got = read(&mut link, ack(7).as_bytes());
    assert_eq!(got.acks, [7]);
    assert_eq!(link.backoff.next_ms(), FIRST_MS);
    assert_eq!(link.dropped(Retry::Later), FIRST_MS);
}

#[test]
fn a_line_that_is_not_an_ack_leaves_the_backoff_as_it_is() {
    let mut link = connected_after(4);
    let got = read(&mut link, b"{\"v\":2,\"type\":\"ack\",\"seq\":7}\n");
    assert_eq!((got.acks.len(), got.ignored), (0, 1));
    assert_eq!(link.backoff.next_ms(), 1600);
}

#[test]
fn several_acks_in_one_read_come_in_order() {
    let mut link = connected_after(0);
    let bytes = [ack(3), ack(1), ack(2)].concat();
    let got = read(&mut link, bytes.as_bytes());
    assert_eq!(got.acks, [3, 1, 2]);
    assert_eq!(got.ignored, 0);
    assert_eq!(got.disconnect, None);
    assert!(link.is_connected());
}

#[test]
fn an_ack_split_across_reads_counts_once_complete() {
    let mut link = connected_after(2);
    let line = ack(42);
    let (head, tail) = line.as_bytes().split_at(10);
    assert_eq!(read(&mut link, head), Read::default());
    assert_eq!(link.backoff.next_ms(), 400, "not yet an ack");
    assert_eq!(read(&mut link, tail).acks, [42]);
    assert_eq!(link.backoff.next_ms(), FIRST_MS);
}

#[test]
fn bytes_are_cut_into_lines_only_when_the_reads_are_done() {
    let mut link = connected_after(0);
    link.received(ack(1).as_bytes());
    link.received(&vec![b'x'; LINE_BOUND]);
    link.received(b"\n");
    link.received(ack(2).as_bytes());
    let got = link.reads_done();
    assert_eq!(
        (got.acks, got.ignored, got.disconnect),
        (vec![1, 2], 1, None)
    );
}

#[test]
fn lines_other_than_acks_of_this_version_are_ignored() {
    let mut link = connected_after(0);
    let bytes = concat!(
        "{\"v\":2,\"type\":\"ack\",\"seq\":1}\n",
        "{\"v\":1,\"type\":\"nack\",\"seq\":2}\n",
        "{\"v\":1,\"type\":\"ack\"}\n",
        "ack 3\n",
        "\n",
        "\r\n",
        "{\"v\":1,\"type\":\"ack\",\"seq\":4}\n",
    );
    let got = read(&mut link, bytes.as_bytes());
    assert_eq!(got.acks, [4]);
    assert_eq!(got.ignored, 6);
    assert_eq!(got.disconnect, None);
    assert!(link.is_connected());
}

#[test]
fn an_ack_ending_in_a_carriage_return_is_an_ack() {
    // The line is parsed as sent, `\r` included, and JSON takes it as whitespace.
    let mut link = connected_after(0);
    let got = read(&mut link, b"{\"v\":1,\"type\":\"ack\",\"seq\":5}\r\n");
    assert_eq!(got.acks, [5]);
}

#[test]
fn a_line_of_4096_bytes_is_taken_and_one_of_4097_ends_the_link() {
    let mut link = connected_after(0);
    let mut line = vec![b' '; LINE_BOUND - ack(9).len() + 1];
    line.extend(ack(9).as_bytes());
    assert_eq!(line.len(), LINE_BOUND + 1, "4096 bytes and the newline");
    assert_eq!(
        read(&mut link, &line).acks,
        [9],
        "an ack padded to the bound"
    );
    assert!(link.is_connected());

    let mut line = vec![b' '; LINE_BOUND - ack(9).len() + 2];
    line.extend(ack(9).as_bytes());
    let got = read(&mut link, &line);
    assert!(got.acks.is_empty(), "the long line is not taken");
    assert_eq!(
        got.disconnect,
        Some(Disconnect {
            why: Breach::LongLine,
            reconnect_in_ms: FIRST_MS,
        })
    );
    assert_forgotten(&link);
}

#[test]
fn an_incomplete_line_over_the_bound_ends_the_link() {
    let mut link = connected_after(0);
    assert_eq!(read(&mut link, &vec![b'x'; LINE_BOUND]), Read::default());
    assert!(
        link.is_connected(),
        "exactly the bound may still end in time"
    );
    let got = read(&mut link, b"x");
    assert_eq!(got.disconnect.map(|d| d.why), Some(Breach::LongLine));
    assert_forgotten(&link);
}

#[test]
fn a_long_line_is_the_launchers_doing_and_waits_the_backoff() {
    let mut link = connected_after(3);
    let got = read(&mut link, &vec![b'x'; LINE_BOUND + 1]);
    assert_eq!(got.disconnect.map(|d| d.reconnect_in_ms), Some(800));
    assert_eq!(link.backoff.next_ms(), 1600);
}

#[test]
fn the_acks_before_a_long_line_are_taken_and_start_the_backoff_again() {
    let mut link = connected_after(4);
    let mut bytes = [ack(1), "not an ack\n".into(), ack(2)]
        .concat()
        .into_bytes();
    bytes.extend(vec![b'x'; LINE_BOUND + 1]);
    bytes.push(b'\n');
    bytes.extend(ack(3).as_bytes());
    let got = read(&mut link, &bytes);
    assert_eq!(got.acks, [1, 2], "not the one after the long line");
    assert_eq!(got.ignored, 1);
    // The acks started the backoff again before the long line ended the link.
    assert_eq!(
        got.disconnect,
        Some(Disconnect {
            why: Breach::LongLine,
            reconnect_in_ms: FIRST_MS,
        })
    );
    assert_forgotten(&link);
}

#[test]
fn write_polling_is_on_while_output_waits_and_off_once_written() {
    let mut link = connected_after(0);
    assert_eq!(
        link.writes_done(),
        Written::Same,
        "nothing waits, not polled"
    );
    assert!(link.queue("one"));
    assert_eq!(link.unwritten(), b"one\n");
    assert_eq!(link.writes_done(), Written::PollWrite(true));
    assert!(link.queue("two"));
    assert_eq!(link.writes_done(), Written::Same, "already polled");
    link.wrote(5);
    assert_eq!(link.unwritten(), b"wo\n");
    assert_eq!(link.writes_done(), Written::Same);
    link.wrote(3);
    assert_eq!(link.writes_done(), Written::PollWrite(false));
    assert_eq!(link.writes_done(), Written::Same);
}

#[test]
fn output_past_1_mib_ends_the_link_as_the_launchers_doing() {
    let mut link = connected_after(2);
    queue_bytes(&mut link, OUTPUT_BOUND);
    assert_eq!(
        link.writes_done(),
        Written::PollWrite(true),
        "exactly the bound waits"
    );
    queue_bytes(&mut link, 1);
    assert_eq!(
        link.writes_done(),
        Written::Disconnect(Disconnect {
            why: Breach::NotReading,
            reconnect_in_ms: 400,
        })
    );
    assert_eq!(link.backoff.next_ms(), 800);
    assert_forgotten(&link);
    assert!(!link.queue("after"), "not connected: nothing queued");
}

#[test]
fn the_opening_burst_does_not_count_against_the_bound_and_shrinks_as_it_is_written() {
    let mut link = connected_after(0);
    // 4096 long kept events: twice the bound, in the burst.
    for _ in 0..4096 {
        queue_bytes(&mut link, 512);
    }
    link.opening_queued();
    assert_eq!(link.writes_done(), Written::PollWrite(true));
    // A whole bound's worth of new events after the burst still waits.
    queue_bytes(&mut link, OUTPUT_BOUND);
    assert_eq!(link.writes_done(), Written::Same);
    // The burst's bytes written are no longer exempt: what follows it still has exactly
    // the bound, no more, and the next byte queued is past it.
    link.wrote(100);
    assert_eq!(link.output.opening(), 4096 * 512 - 100);
    assert_eq!(link.writes_done(), Written::Same);
    queue_bytes(&mut link, 1);
    assert_eq!(
        link.writes_done(),
        Written::Disconnect(Disconnect {
            why: Breach::NotReading,
            reconnect_in_ms: FIRST_MS,
        })
    );
}

#[test]
fn the_burst_once_written_leaves_the_bound_to_all_that_waits() {
    let mut link = connected_after(0);
    queue_bytes(&mut link, 3000);
    link.opening_queued();
    queue_bytes(&mut link, OUTPUT_BOUND);
    assert_eq!(link.writes_done(), Written::PollWrite(true));
    // The burst and 100 bytes after it written: none of the burst is left to exempt.
    link.wrote(3100);
    assert_eq!(link.output.opening(), 0);
    queue_bytes(&mut link, 100);
    assert_eq!(link.writes_done(), Written::Same, "exactly the bound");
    queue_bytes(&mut link, 1);
    assert_eq!(
        link.writes_done(),
        Written::Disconnect(Disconnect {
            why: Breach::NotReading,
            reconnect_in_ms: FIRST_MS,
        })
    );
}

#[test]
fn a_dropped_connection_forgets_its_output_input_burst_and_polling() {
    let mut link = connected_after(1);
    queue_bytes(&mut link, 2 * OUTPUT_BOUND);
    link.opening_queued();
    assert_eq!(link.writes_done(), Written::PollWrite(true));
    link.received(b"{\"v\":1,\"type\":\"ack\"");
    assert_eq!(link.dropped(Retry::Soon), FIRST_MS);
    assert_forgotten(&link);

    // The next connection starts from nothing: the half ack read before is gone, the burst
    // with it, and write polling is asked for again.
    link.connected();
    assert_eq!(read(&mut link, b",\"seq\":1}\n").acks, Vec::<u64>::new());
    assert!(link.queue("event"));
    assert_eq!(link.writes_done(), Written::PollWrite(true));
    queue_bytes(&mut link, OUTPUT_BOUND);
    assert!(
        matches!(link.writes_done(), Written::Disconnect(_)),
        "no burst left"
    );
}

#[test]
fn acks_read_in_the_turn_the_launcher_closed_are_taken_before_the_end() {
    // The launcher writes the acks due, then closes: one turn of reads brings both. Dropped
    // with the input, those events would be sent again and acted on again.
    let mut link = connected_after(3);
    link.received([ack(4), ack(5)].concat().as_bytes());
    link.received(b"{\"v\":1,\"type\":\"ack\"");
    let ended = link.ended();
    assert_eq!(ended.read.acks, [4, 5], "half a line is no ack");
    assert_eq!(ended.read.disconnect, None);
    assert_eq!(
        ended.reconnect_in_ms, FIRST_MS,
        "a launcher that closed is connected to again soon"
    );
    assert_forgotten(&link);
    // With nothing read before the end, it is a close like any other.
    link.connected();
    assert_eq!(link.ended().read, Read::default());
    assert_forgotten(&link);
}

#[test]
fn a_long_line_before_the_launchers_close_ends_it_as_the_launchers_doing() {
    let mut link = connected_after(2);
    link.received(ack(9).as_bytes());
    link.received(&vec![b'x'; LINE_BOUND + 1]);
    let ended = link.ended();
    assert_eq!(ended.read.acks, [9]);
    assert_eq!(ended.read.disconnect.map(|d| d.why), Some(Breach::LongLine));
    // The ack started the backoff again; the breach takes its first wait.
    assert_eq!(ended.reconnect_in_ms, FIRST_MS);
    assert_eq!(link.backoff.next_ms(), 2 * FIRST_MS);
    assert_forgotten(&link);
}

#[test]
fn a_new_connection_starts_with_nothing_of_the_last() {
    let mut link = connected_after(0);
    link.received(b"half a line");
    assert!(link.queue("unwritten"));
    link.dropped(Retry::Later);
    link.connected();
    assert!(link.unwritten().is_empty());
    assert_eq!(link.input.pending(), 0);
}

#[test]
fn breaches_say_why() {
    assert_eq!(
        Breach::NotReading.to_string(),
        "the launcher does not read (output bound reached)"
    );
    assert_eq!(
        Breach::LongLine.to_string(),
        "the launcher sent a line longer than 4096 bytes"
    );
}
