//! Noticing from the client side that the server is gone: a round trip that does not come
//! back in time.

use crossbeam_channel::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::ConnectionExt as _;

/// Why the server is taken for lost.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Lost {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the connection broke: {0}")]
    Broken(String),
}

/// Round trips (GetInputFocus) made by a thread of its own, so that a server that does not
/// answer cannot hold the caller past its timeout. After a [`Lost`], the prober is spent.
pub struct Prober {
    ask: Sender<()>,
    answers: Receiver<Result<(), String>>,
    spent: bool,
}

impl Prober {
    pub fn start<C>(conn: Arc<C>) -> Self
    where
        C: Connection + Send + Sync + 'static,
    {
        let (ask, asked) = crossbeam_channel::bounded::<()>(1);
        let (answer, answers) = crossbeam_channel::bounded(1);
        std::thread::Builder::new()
            .name("lifesign-probe".into())
            .spawn(move || {
                for () in asked {
                    let result = conn
                        .get_input_focus()
                        .map_err(|e| e.to_string())
                        .and_then(|c| c.reply().map(drop).map_err(|e| e.to_string()));
                    if answer.send(result).is_err() {
                        return;
                    }
                }
            })
            .expect("spawn the probe thread");
        Self {
            ask,
            answers,
            spent: false,
        }
    }

    /// One round trip, within `timeout`: how long it took, or why the server is lost.
    pub fn round_trip(&mut self, timeout: Duration) -> Result<Duration, Lost> {
        if self.spent {
            return Err(Lost::Broken("an earlier round trip was lost".into()));
        }
        let start = Instant::now();
        let result = self
            .ask
            .send(())
            .map_err(|_| Lost::Broken("the probe thread ended".into()))
            .and_then(|()| match self.answers.recv_timeout(timeout) {
                Ok(Ok(())) => Ok(start.elapsed()),
                Ok(Err(e)) => Err(Lost::Broken(e)),
                Err(_) => Err(Lost::Timeout(timeout)),
            });
        self.spent = result.is_err();
        result
    }
}
