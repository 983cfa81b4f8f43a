//! `--watch` (`reload`, `config set|patch|delete`, `rollback`): the manager's progress events of the change being
//! sent, live, from `GET /v1/events` (Server-Sent Events).
//!
//! The event stream is opened first, and the change is sent only once the manager has said `: subscribed`, so
//! no event of the change is missed. A reader thread shows the events of the first apply that starts after that
//! and comes from the change's source (`PUT /v1/config/workers`, a reload, a rollback to N: the manager applies
//! one change at a time, so its events never interleave with another's) until its `done`, while this thread waits
//! for the manager's answer. On a terminal the steps are shown with a progress display (`indicatif`, on stderr);
//! otherwise each is a plain line on stderr (`generation 7: canary-ready: worker 2`), so stdout keeps only the
//! command's usual output.

use std::io::{IsTerminal, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kres_datamodel::api::events::{Event, EventKind};
use kres_datamodel::api::history::{Outcome, Source};
use kres_datamodel::api::routes;

use crate::client::{Client, Piece, Streaming};

/// How long the manager may take to confirm the subscription.
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(10);
/// How long to wait for the change's `done` after the manager has answered (it is sent before the answer).
const DONE_WAIT: Duration = Duration::from_secs(5);

/// Opens the event stream, runs `send` (the change) and shows the events of the apply that came from `source`
/// until it is done; returns what `send` returned.
pub fn around<T>(client: &Client, source: Source, send: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    let stream = client.get_stream(routes::EVENTS)?;
    if !(200..300).contains(&stream.status) {
        let response = stream.into_response(SUBSCRIBE_WAIT);
        return Err(response.success().unwrap_err()).context("cannot watch the manager's events");
    }
    let mut reader = SseReader { stream, text: String::new() };
    reader.subscribed()?;
    let (answered_tx, answered_rx) = mpsc::channel::<()>();
    let shown = std::thread::spawn(move || follow(reader, &source, &answered_rx));
    let result = send();
    let _ = answered_tx.send(());
    // The reader ends at the change's `done`, or DONE_WAIT after the answer.
    let _ = shown.join();
    result
}

/// The SSE messages of a stream.
struct SseReader {
    stream: Streaming,
    text: String,
}

/// One SSE message, or what ended the stream.
enum Message {
    Event(Box<Event>),
    Comment(String),
    Idle,
    End(Option<String>),
}

impl SseReader {
    /// Waits for the manager's `: subscribed`.
    fn subscribed(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + SUBSCRIBE_WAIT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.next(left) {
                Message::Comment(c) if c == "subscribed" => return Ok(()),
                Message::End(why) => {
                    bail!("the manager closed its event stream{}", why.map(|w| format!(": {w}")).unwrap_or_default())
                }
                _ => {}
            }
        }
        bail!("the manager did not confirm the event subscription within {SUBSCRIBE_WAIT:?}")
    }

    /// The next message, waiting at most `wait` for more of the stream.
    fn next(&mut self, wait: Duration) -> Message {
        loop {
            if let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                if let Some(message) = parse(&block) {
                    return message;
                }
                continue;
            }
            match self.stream.next(wait) {
                Piece::Data(data) => self.text.push_str(&String::from_utf8_lossy(&data)),
                Piece::Idle => return Message::Idle,
                Piece::End => return Message::End(None),
                Piece::Failed(why) => return Message::End(Some(why)),
            }
        }
    }
}

/// One SSE block: the event's `data` (events of kinds this kresctl does not know are skipped), or a comment.
fn parse(block: &str) -> Option<Message> {
    let mut data = None;
    for line in block.lines() {
        if let Some(comment) = line.strip_prefix(':') {
            return Some(Message::Comment(comment.trim().to_owned()));
        }
        if let Some(value) = line.strip_prefix("data:") {
            data = Some(value.trim_start());
        }
    }
    serde_json::from_str::<Event>(data?).ok().map(|e| Message::Event(Box::new(e)))
}

/// Shows the events of the first apply from `source` until its `done`; stops waiting `DONE_WAIT` after
/// `answered`.
fn follow(mut reader: SseReader, source: &Source, answered: &mpsc::Receiver<()>) {
    let mut display = Display::new();
    let mut following: Option<Option<u64>> = None;
    let mut deadline: Option<Instant> = None;
    loop {
        if deadline.is_none() && answered.try_recv().is_ok() {
            deadline = Some(Instant::now() + DONE_WAIT);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        match reader.next(Duration::from_millis(100)) {
            Message::Event(event) => {
                let ours = match (&following, &event.kind) {
                    (None, EventKind::Started { source: started }) if started == source => {
                        following = Some(event.generation);
                        true
                    }
                    (Some(generation), _) => *generation == event.generation,
                    _ => false,
                };
                if ours {
                    display.show(&event);
                    if event.kind.is_done() {
                        break;
                    }
                }
            }
            Message::Comment(comment) if comment.starts_with("missed") => display.note(&comment),
            Message::Comment(_) | Message::Idle => {}
            Message::End(why) => {
                display.note(&format!("the event stream ended{}", why.map(|w| format!(": {w}")).unwrap_or_default()));
                break;
            }
        }
    }
    display.finish();
}

/// Where the steps go: a progress display on a terminal, plain lines otherwise (both on stderr).
enum Display {
    Terminal(indicatif::ProgressBar),
    Lines,
}

impl Display {
    fn new() -> Display {
        if !std::io::stderr().is_terminal() {
            return Display::Lines;
        }
        let bar = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        bar.set_message("waiting for the manager...");
        Display::Terminal(bar)
    }

    fn show(&mut self, event: &Event) {
        let line = describe(event);
        match self {
            Display::Terminal(bar) => {
                if let EventKind::WorkerReplaced { done, total, .. } = &event.kind {
                    bar.set_message(format!("workers replaced: {done}/{total}"));
                } else {
                    bar.set_message(line.clone());
                }
                bar.println(line);
            }
            Display::Lines => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
        }
    }

    fn note(&mut self, text: &str) {
        match self {
            Display::Terminal(bar) => bar.println(text),
            Display::Lines => {
                let _ = writeln!(std::io::stderr(), "{text}");
            }
        }
    }

    fn finish(self) {
        if let Display::Terminal(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// `generation N: <kind>[: details]`.
pub fn describe(event: &Event) -> String {
    let details = match &event.kind {
        EventKind::Started { source } => crate::commands::history::source_text(source),
        EventKind::Validated { impact } => impact.as_ref().map(|i| format!("impact {i}")).unwrap_or_default(),
        EventKind::CanaryReady { instance } => format!("worker {instance}"),
        EventKind::WorkerReplaced { old: Some(old), new, done, total } => {
            format!("worker {old} replaced by worker {new} ({done}/{total})")
        }
        EventKind::WorkerReplaced { old: None, new, done, total } => format!("worker {new} added ({done}/{total})"),
        EventKind::HealthHold { seconds } => format!("{seconds} s"),
        EventKind::HealthHoldFailed { reason } => reason.clone(),
        EventKind::RolledBack { reason, lost_queries } => format!("{reason} ({lost_queries} probe queries lost)"),
        EventKind::Done { result, etag, seconds } => {
            let what = match result {
                Outcome::Applied => "applied".to_owned(),
                Outcome::Refused { reason } => format!("refused ({reason})"),
                Outcome::RolledBack { reason } => format!("rolled back ({reason})"),
            };
            let etag = etag.as_ref().map(|e| format!(", ETag \"{e}\"")).unwrap_or_default();
            format!("{what} in {seconds:.3} s{etag}")
        }
        EventKind::ProcessExited { id, pid, status } => format!("{id} (PID {pid}) {status}"),
        EventKind::ProcessStarted { id, pid } => format!("{id} (PID {pid})"),
        EventKind::PolicyLoaderDone | EventKind::RulesReset | EventKind::HealthHoldPassed => String::new(),
    };
    let generation = event.generation.map(|g| format!("generation {g}: ")).unwrap_or_default();
    let name = event.kind.name();
    if details.is_empty() { format!("{generation}{name}") } else { format!("{generation}{name}: {details}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_blocks() {
        assert!(matches!(parse(": keep-alive\n\n"), Some(Message::Comment(c)) if c == "keep-alive"));
        let block =
            "event: canary-ready\ndata: {\"time\":\"t\",\"generation\":4,\"kind\":\"canary-ready\",\"instance\":2}\n\n";
        let Some(Message::Event(event)) = parse(block) else { panic!("an event") };
        assert_eq!(describe(&event), "generation 4: canary-ready: worker 2");
        assert!(parse("event: future\ndata: {\"time\":\"t\",\"kind\":\"future\"}\n\n").is_none());
        let done = Event {
            time: "t".into(),
            generation: Some(5),
            kind: EventKind::Done { result: Outcome::Applied, etag: Some("abc".into()), seconds: 0.5 },
        };
        assert_eq!(describe(&done), "generation 5: done: applied in 0.500 s, ETag \"abc\"");
    }
}
