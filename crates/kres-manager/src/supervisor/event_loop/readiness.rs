//! Readiness: `READY=1` on `supervisor-notify.sock`, attributed to a child by the PID the kernel attaches
//! (`SCM_CREDENTIALS`). It answers the spawn waiting for it, or becomes a `ready` event.

use super::EventLoop;
use super::children::{WaitKind, take_waiters};
use crate::protocol::{Event, ProcStatus, Reply};
use crate::supervisor::notify::Datagram;

impl EventLoop {
    pub(super) fn on_notify(&mut self, datagram: Datagram) {
        let Some(pid) = datagram.pid else {
            tracing::debug!("ignoring a notification without credentials: {:?}", datagram.text);
            return;
        };
        let Some(id) = self.children.iter().find(|(_, c)| c.pid() == Some(pid)).map(|(id, _)| id.clone()) else {
            tracing::debug!("ignoring a notification from PID {pid}, not a supervised process: {:?}", datagram.text);
            return;
        };
        for line in datagram.text.lines() {
            if line == "READY=1" {
                self.on_ready(&id);
            } else {
                tracing::debug!("{id} (PID {pid}) notified {line}");
            }
        }
    }

    /// Handles the notifications that are already queued (a `READY=1` sent right before an exit).
    pub(super) fn drain_notify(&mut self) {
        while let Ok(Some(datagram)) = self.notify.try_recv() {
            self.on_notify(datagram);
        }
    }

    fn on_ready(&mut self, id: &str) {
        let Some(child) = self.children.get_mut(id) else { return };
        let Some(instance) = child.instance.as_mut() else { return };
        if instance.ready || instance.kill_reason.is_some() || child.stopping.is_some() {
            return;
        }
        instance.ready = true;
        tracing::info!("success: {id} entered RUNNING state, process sent notification via $NOTIFY_SOCKET");
        if child.status == ProcStatus::Starting {
            child.status = ProcStatus::Running;
        }
        let info = child.info();
        let waiting = take_waiters(&mut child.waiters, |k| k == WaitKind::Ready);
        let others = !child.waiters.is_empty();
        if waiting.is_empty() && !others {
            self.event(Event::Ready { info });
        } else {
            for w in waiting {
                self.reply(w.conn, w.seq, Reply::Proc { info: info.clone() });
            }
        }
    }
}
