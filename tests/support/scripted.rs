//! A worker the test plays itself: the window's [`Backend`] hands out channels whose other ends
//! the test holds, to send updates and read the commands the window sends.

use std::cell::RefCell;
use std::rc::Rc;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use vestibule::app::Backend;
use vestibule::matrix::{Command, Update};

/// One started worker's ends, as the test holds them.
pub struct ScriptedWorker {
    /// What the window sent.
    pub commands: UnboundedReceiver<Command>,
    /// Where the test sends updates.
    pub updates: UnboundedSender<Update>,
}

/// Every worker the window started, oldest first (signing out starts another).
#[derive(Clone, Default)]
pub struct Scripted(pub Rc<RefCell<Vec<ScriptedWorker>>>);

impl Backend for Scripted {
    fn start(&mut self) -> (UnboundedSender<Command>, UnboundedReceiver<Update>) {
        let (cmd_tx, cmd_rx) = unbounded_channel();
        let (upd_tx, upd_rx) = unbounded_channel();
        self.0.borrow_mut().push(ScriptedWorker {
            commands: cmd_rx,
            updates: upd_tx,
        });
        (cmd_tx, upd_rx)
    }
}
